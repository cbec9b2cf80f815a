#!/usr/bin/env bash
# Regenerates README.md's Performance table: builds the guests and a release
# nethook, then runs the report bench (benches/report.rs), which prints the
# table and writes target/bench-report.md. Run as root (the bench creates a
# network namespace). Then the warm path's figures
# (docs/performance-warm-path.md), also written to target/bench-warm.md.
#
#   scripts/bench.sh               the report, then the warm path
#   scripts/bench.sh --criterion   also the per-call criterion bench
#   scripts/bench.sh --warm-path   only the warm path (guests built already)
#
# The warm path's rows are ratios within one run: whole processes timed by
# one hyperfine run (warm: compiled store filled; cold: emptied before each
# run), peak RSS from wait4, a callgrind instruction count (the same on a
# loaded machine, where wall-clock time is not), and the in-process cost of
# one more run of a loaded hook (`nethook watch`'s per-event cost).
# NETHOOK_BENCH_PROFILE=dev measures a debug build instead (to try the
# script; its figures are not the release build's).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=wasm-toolchain.sh
source scripts/wasm-toolchain.sh

mode=${1:-}
case $mode in
"" | --criterion | --warm-path) ;;
*)
    echo "bench: unknown option $mode" >&2
    exit 2
    ;;
esac

if [ "$mode" != --warm-path ]; then
    require demo bench
    scripts/build-guests.sh
    cargo bench -p nethook --bench report
    if [ "$mode" = --criterion ]; then
        cargo bench -p nethook --bench calls
    fi
else
    require bench
fi

# --- the warm path -------------------------------------------------------
guests=$repo/target/guests
for g in eks openshift eks-js openshift-py; do
    [ -f "$guests/$g.wasm" ] || {
        echo "bench: $guests/$g.wasm missing: run scripts/build-guests.sh" >&2
        exit 1
    }
done
profile=${NETHOOK_BENCH_PROFILE:-release}
cargo build -q --profile "$profile" -p nethook --bin nethook
bin=$repo/target/$([ "$profile" = dev ] && echo debug || echo "$profile")/nethook
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/host"

# config NAME CACHE [GUEST]: a config running GUEST at before-if-read (where
# each of these hooks returns at once), or the built-in handler.
config() {
    {
        printf 'state_dir = "%s/state-%s"\ncache_dir = "%s/%s"\n' "$work" "$1" "$work" "$2"
        printf 'host_root = "%s/host"\nuplinks = ["uplink0"]\n' "$work"
        if [ -n "${3:-}" ]; then
            printf '[points.before-if-read]\nhandler = "wasm"\nhook = "h"\n'
            printf '[hooks.h]\ncomponent = "%s/%s.wasm"\n' "$guests" "$3"
        fi
    } >"$work/$1.toml"
    echo "$work/$1.toml"
}
# The built-in no-op: vpp-errored with nothing to undo.
builtin="$bin run vpp-errored --config $(config builtin cache)"
declare -A warm cold
for g in eks openshift eks-js openshift-py; do
    warm[$g]="$bin run before-if-read --config $(config "$g" cache "$g")"
    cold[$g]="$bin run before-if-read --config $(config "$g-cold" cold "$g")"
    ${warm[$g]} 2>/dev/null # fills the compiled store
done

echo "[bench] warm runs, one hyperfine run" >&2
hyperfine -N --style basic --warmup 3 --runs "${BENCH_RUNS:-30}" --export-json "$work/warm.json" \
    -n builtin "$builtin" \
    -n eks "${warm[eks]}" -n openshift "${warm[openshift]}" \
    -n eks-js "${warm[eks-js]}" -n openshift-py "${warm[openshift-py]}" >&2
# BENCH_COLD_RUNS=0 leaves the cold runs out (a debug build compiles a
# Python or JavaScript hook for minutes).
echo '{"results": []}' >"$work/cold.json"
if [ "${BENCH_COLD_RUNS:-3}" -gt 0 ]; then
    echo "[bench] cold first runs (compiled store emptied before each)" >&2
    hyperfine -N --style basic --runs "${BENCH_COLD_RUNS:-3}" --prepare "rm -rf $work/cold" \
        --export-json "$work/cold.json" \
        -n eks "${cold[eks]}" -n openshift "${cold[openshift]}" \
        -n eks-js "${cold[eks-js]}" -n openshift-py "${cold[openshift-py]}" >&2
fi

echo "[bench] peak RSS" >&2
python3 - "$work/rss.tsv" "$builtin" "${warm[eks]}" "${warm[openshift]}" "${warm[eks-js]}" "${warm[openshift-py]}" <<'EOF'
import os, subprocess, sys
out, cmds = sys.argv[1], sys.argv[2:]
names = ["builtin", "eks", "openshift", "eks-js", "openshift-py"]
with open(out, "w") as f:
    for name, cmd in zip(names, cmds):
        peak = 0
        for _ in range(5):
            p = subprocess.Popen(cmd.split(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, cmd
            peak = max(peak, usage.ru_maxrss)
        f.write(f"{name}\t{peak}\n")
EOF

echo "[bench] instruction counts (callgrind)" >&2
# valgrind's CPU has other features than the host's: its engine compiles
# into a store of its own, filled by a first run.
cg_cfg=$(config cg-openshift cg-cache openshift)
valgrind -q --tool=callgrind --callgrind-out-file=/dev/null "$bin" run before-if-read --config "$cg_cfg" 2>/dev/null
instructions() {
    valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" 2>/dev/null
    awk '/^(summary|totals):/ { print $2; exit }' "$work/cg.out"
}
ir_builtin=$(instructions "$bin" run vpp-errored --config "$work/builtin.toml")
ir_rust=$(instructions "$bin" run before-if-read --config "$cg_cfg")

echo "[bench] one more run of a loaded hook, in process (watch's per event)" >&2
bench_profile=bench
[ "$profile" = dev ] && bench_profile=dev
cargo bench -q -p nethook --profile "$bench_profile" --bench warm -- "$guests" eks openshift eks-js openshift-py >"$work/event.tsv"

python3 - "$work" "$ir_builtin" "$ir_rust" <<'EOF' | tee "$repo/target/bench-warm.md"
import json, sys
work, ir_builtin, ir_rust = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def medians(path):
    return {r["command"]: r["median"] for r in json.load(open(f"{work}/{path}"))["results"]}
warm, cold = medians("warm.json"), medians("cold.json")
rss = {l.split()[0]: int(l.split()[1]) for l in open(f"{work}/rss.tsv")}
event = {l.split()[0]: int(l.split()[1]) for l in open(f"{work}/event.tsv")}
ms = lambda s: f"{s * 1e3:.2f} ms"
mb = lambda kib: f"{kib / 1024:.1f} MB"
def verdict(ok, goal):
    return f"{goal}: {'met' if ok else 'MISSED'}"
rows = []
for rust in ["eks", "openshift"]:
    r = warm[rust] / warm["builtin"]
    rows.append((f"warm run, Rust hook ({rust})", ms(warm[rust]), f"built-in no-op {ms(warm['builtin'])}", f"{r:.2f}x", verdict(r <= 1.3, "≤ 1.3x")))
r = ir_rust / ir_builtin
rows.append(("warm run, Rust hook (openshift), instructions (callgrind)", f"{ir_rust / 1e6:.2f} M", f"built-in no-op {ir_builtin / 1e6:.2f} M", f"{r:.2f}x", verdict(r <= 1.3, "≤ 1.3x")))
for other, rust, lang in [("openshift-py", "openshift", "Python"), ("eks-js", "eks", "JavaScript")]:
    r = warm[other] / warm[rust]
    rows.append((f"warm run, {lang} hook ({other})", ms(warm[other]), f"Rust twin ({rust}) {ms(warm[rust])}", f"{r:.2f}x", verdict(r <= 3, "≤ 3x")))
    rows.append((f"peak RSS, {lang} hook ({other}), warm", mb(rss[other]), f"Rust twin {mb(rss[rust])}", f"{rss[other] / rss[rust]:.2f}x", verdict(rss[other] <= 40 * 1024, "≤ 40 MB")))
for g, twin in [("eks", None), ("openshift", None), ("eks-js", "eks"), ("openshift-py", "openshift")]:
    if g not in cold:
        continue
    peer = f"Rust twin {ms(cold[twin])}" if twin else f"its warm run {ms(warm[g])}"
    ratio = cold[g] / (cold[twin] if twin else warm[g])
    rows.append((f"cold first run (compiling), {g}", ms(cold[g]), peer, f"{ratio:.1f}x", "-"))
for other, rust in [("openshift-py", "openshift"), ("eks-js", "eks")]:
    rows.append((f"watch: one more run of a loaded hook, {other} (per event)", f"{event[other] / 1e6:.2f} ms", f"Rust twin {event[rust] / 1e6:.2f} ms", f"{event[other] / event[rust]:.2f}x", "-"))
print("| figure | median | peer (same run) | ratio | goal |\n|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")
EOF
