#!/usr/bin/env bash
# What a run of the tests did to the repository's files.
#
#   scripts/tree-state.sh save FILE      record the tree's state in FILE
#   scripts/tree-state.sh compare FILE   fail, naming each path, if the tree
#                                        is not in the state FILE recorded
#
# The state is every path git reports (tracked files changed, untracked
# files not ignored) and a hash of the content of every change, so a run
# that edits an already edited file is caught too. scripts/test.sh saves it
# first and compares last: a run of the tests leaves the tree as it found it.
set -euo pipefail

state() {
    git status --porcelain=v1 --untracked-files=all
    # The content of the changes to tracked files, and of untracked files.
    {
        git diff HEAD --binary --no-ext-diff
        git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
    } | sha256sum | sed 's/^/content /'
}

cmd=${1:-}
file=${2:-}
[ -n "$file" ] || {
    echo "usage: $0 save|compare FILE" >&2
    exit 2
}
case $cmd in
save) state >"$file" ;;
compare)
    now=$(state)
    if [ "$now" != "$(cat "$file")" ]; then
        echo "tree-state: the run changed the repository's files:" >&2
        diff <(grep -v '^content ' "$file") <(grep -v '^content ' <<<"$now") | sed -n 's/^[<>] /  /p' >&2 || true
        if [ "$(grep '^content ' "$file")" != "$(grep '^content ' <<<"$now")" ] &&
            [ "$(grep -v '^content ' "$file")" = "$(grep -v '^content ' <<<"$now")" ]; then
            echo "  (files changed before the run were changed again:)" >&2
            grep -v '^content ' <<<"$now" | sed 's/^/  /' >&2
        fi
        exit 1
    fi
    ;;
*)
    echo "usage: $0 save|compare FILE" >&2
    exit 2
    ;;
esac
