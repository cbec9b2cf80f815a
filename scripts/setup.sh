#!/usr/bin/env bash
# Makes this machine able to build and test nethook, and proves it by
# command: every command in scripts/requirements.txt (for the groups asked,
# all by default) must be found on PATH when this ends, or it fails naming
# each missing one.
#
#   scripts/setup.sh [GROUP...]          install what is missing, then check
#   scripts/setup.sh --check [GROUP...]  check only; install nothing
#
# A package column `pip:NAME==VERSION` is a command from PyPI, installed
# with `python3 -m pip install` at that exact version (also when another
# version is there) and checked by command like every other row.
#
# Packages are installed by what is missing, never judged by dpkg: on this
# machine kind qemu-utils 10 (a backport) is installed, and installing
# qemu-system-x86 from Debian removes it. So after one install every command
# is looked up again, the packages of commands that went missing are
# installed once more (apt then takes the version that fits), and only then
# is the list judged.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
list=${NETHOOK_REQUIREMENTS:-$repo/scripts/requirements.txt}

check_only=0
groups=()
for arg in "$@"; do
    case $arg in
    --check) check_only=1 ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "setup: unknown option $arg" >&2
        exit 2
        ;;
    *) groups+=("$arg") ;;
    esac
done

say() { printf "[setup] %s\n" "$*" >&2; }

# The rows for the groups asked: "command package" per line.
rows() {
    local want=" ${groups[*]:-} "
    awk -v want="$want" '
        /^[[:space:]]*(#|$)/ { next }
        NF != 3 { printf "setup: %s:%d: expected 3 columns, got %d\n", FILENAME, FNR, NF > "/dev/stderr"; bad = 1; next }
        want == "  " || index(want, " " $3 " ") { print $1, $2 }
        END { exit bad }
    ' "$list"
}

table=$(rows)
[ -n "$table" ] || {
    echo "setup: no requirement in $list for group(s): ${groups[*]}" >&2
    exit 2
}

# Commands of the table not found on PATH, one "command package" per line.
missing() {
    local cmd pkg
    while read -r cmd pkg; do
        command -v "$cmd" >/dev/null 2>&1 || echo "$cmd $pkg"
    done <<<"$table"
}

apt_install() {
    [ $# -eq 0 ] && return 0
    say "installing: $*"
    if [ -z "${setup_updated:-}" ]; then
        apt-get update -qq
        setup_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The packages of the missing commands that apt can install.
installable() {
    awk '$2 != "-" && $2 !~ /^pip:/ { print $2 }' | sort -u
}

# The pip rows of the table whose pinned version is not the installed one
# (or that are not installed): "command pip:NAME==VERSION" per line.
pip_unpinned() {
    local cmd pkg spec shown
    while read -r cmd pkg; do
        [[ $pkg == pip:* ]] || continue
        spec=${pkg#pip:}
        # Read whole first: `grep -q` in a pipe would fail it (pipefail).
        shown=$(python3 -m pip show "${spec%%==*}" 2>/dev/null || true)
        grep -qx "Version: ${spec#*==}" <<<"$shown" || echo "$cmd $pkg"
    done <<<"$table"
}

pip_install() {
    local cmd pkg
    while read -r cmd pkg; do
        say "installing ${pkg#pip:} from PyPI (for $cmd)"
        python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "${pkg#pip:}"
    done
    # pyenv (when Python comes from it) puts the new commands on PATH.
    if command -v pyenv >/dev/null; then pyenv rehash; fi
}

if [ "$check_only" = 0 ]; then
    unpinned=$(pip_unpinned)
    [ -z "$unpinned" ] || pip_install <<<"$unpinned"
    for pass in 1 2; do
        gone=$(missing)
        [ -z "$gone" ] && break
        # shellcheck disable=SC2046
        apt_install $(installable <<<"$gone") || [ "$pass" = 1 ]
    done
fi

gone=$(missing)
if [ -n "$gone" ]; then
    while read -r cmd pkg; do
        if [ "$pkg" = "-" ]; then
            echo "setup: command not found: $cmd (it comes with the machine's toolchain: see README, Setting up)" >&2
        elif [[ $pkg == pip:* ]]; then
            echo "setup: command not found: $cmd (PyPI package ${pkg#pip:})" >&2
        else
            echo "setup: command not found: $cmd (Debian package $pkg)" >&2
        fi
    done <<<"$gone"
    exit 1
fi
# A command from PyPI is there, but at another version than pinned.
wrong=$(pip_unpinned)
if [ -n "$wrong" ]; then
    while read -r cmd pkg; do
        echo "setup: $cmd is not the pinned version (PyPI package ${pkg#pip:}; scripts/setup.sh without --check installs it)" >&2
    done <<<"$wrong"
    exit 1
fi

# Tools outside apt: the pinned hook builders for Python and JavaScript.
if [ ${#groups[@]} -eq 0 ] || [[ " ${groups[*]} " == *" test "* ]]; then
    # shellcheck source=wasm-toolchain.sh
    source "$repo/scripts/wasm-toolchain.sh"
    if [ "$check_only" = 0 ]; then
        hook_tools
    else
        COMPONENTIZE_PY=$(command -v componentize-py || true)
        COMPONENTIZE_JS=$NETHOOK_CACHE/componentize-js/node_modules/.bin/componentize-js
    fi
    for tool in "$COMPONENTIZE_PY" "$COMPONENTIZE_JS"; do
        if [ -z "$tool" ] || ! "$tool" --version >/dev/null 2>&1; then
            echo "setup: command not found: ${tool:-componentize-py} (scripts/wasm-toolchain.sh hook_tools installs it)" >&2
            exit 1
        fi
    done
fi
say "all $(wc -l <<<"$table") commands found${groups:+ for ${groups[*]}}"
