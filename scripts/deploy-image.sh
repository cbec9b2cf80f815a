#!/usr/bin/env bash
# Builds deploy/Containerfile with podman the way a platform engineer does,
# and runs nethook inside the image it made. Run as root, once (not part of
# scripts/test.sh: its release build takes longer than the suites can spare).
#
#   scripts/deploy-image.sh
#
# What cannot be had here is stood in for, and only that:
#
# - The dataplane's image (docker.io/calicovpp/vpp) cannot be pulled from
#   this machine. It is Ubuntu 22.04 (projectcalico/vpp-dataplane,
#   vpp-manager/images/ubuntu/Dockerfile: `FROM ubuntu:22.04`), so glibc
#   2.35. The stand-in base is a Debian bookworm minbase tree (debootstrap,
#   glibc 2.36; Ubuntu's archive is not reachable either), made into an image
#   with `podman import`: localhost/nethook-standin/calicovpp-vpp:bookworm-N.
#   Because its glibc is newer than the dataplane's, running in it is not
#   enough: the script also reads the newest glibc symbol version the binary
#   needs (objdump -T) and fails if it is above 2.35.
# - The Containerfile's builder image (rust:1-bullseye) cannot be pulled
#   either. The artifacts its `build` stage makes (out/nethook,
#   out/hooks/*.wasm) are built here instead with the same commands
#   (a release build of nethook; eks, openshift and inventory for
#   wasm32-wasip1, componentized by that nethook) and passed with
#   `--build-context build=DIR`, which replaces the stage of that name:
#   the builder stage is not run. The rest of the Containerfile is what
#   users build.
# - `podman run` does not work on this machine kind (crun and the hybrid
#   cgroups). nethook is run in the image by the RUN steps of a second,
#   throwaway Containerfile FROM the built image (`podman build --isolation
#   chroot` runs them), in the environment the pod gives the vpp container
#   (the overlay's five hook variables, an uplink in CALICOVPP_INTERFACES,
#   this machine's / at /host, read-only, its state and cache directories
#   on directories of the run): `nethook --version`, `nethook
#   pull` and `nethook check` with the shipped config (what the init
#   containers run), `nethook
#   check` with the config's EKS example uncommented (the shipped hook in
#   the image loads, links and compiles), the glibc it runs on and the
#   sha256 of every file put in the image.
#
# The image is left as localhost/nethook-deploy-check/vpp:nethook; logs and
# the build contexts under target/deploy-image/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=wasm-toolchain.sh
source scripts/wasm-toolchain.sh

# The dataplane image's glibc (Ubuntu 22.04), the newest the binary may need.
DATAPLANE_GLIBC=2.35
# Bump when the stand-in's recipe changes: a new tag is built.
STANDIN=localhost/nethook-standin/calicovpp-vpp:bookworm-1
IMAGE=localhost/nethook-deploy-check/vpp:nethook
CHECK_IMAGE=localhost/nethook-deploy-check/check:latest
HOOKS=(eks openshift inventory)

target=${CARGO_TARGET_DIR:-$repo/target}
work=$repo/target/deploy-image
started=$SECONDS
say() { printf '[deploy-image] %s (%ds)\n' "$*" "$((SECONDS - started))" >&2; }

scripts/setup.sh demo image
rm -rf "$work"
mkdir -p "$work/artifacts/out/hooks" "$work/check"

# 1. The stand-in base image, made once and kept in podman's storage.
if podman image exists "$STANDIN"; then
    say "stand-in base $STANDIN is there"
else
    say "making the stand-in base $STANDIN (debootstrap bookworm minbase, podman import)"
    root=$NETHOOK_CACHE/deploy/standin-root
    rm -rf "$root"
    mkdir -p "$NETHOOK_CACHE/deploy"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian \
        >"$NETHOOK_CACHE/deploy/debootstrap.log" 2>&1 ||
        { tail -n 30 "$NETHOOK_CACHE/deploy/debootstrap.log" >&2; exit 1; }
    # What the tree says it is, kept in the image's history.
    tar -C "$root" --numeric-owner -c . |
        podman import --quiet --message "stand-in for docker.io/calicovpp/vpp: Debian bookworm minbase (debootstrap)" \
            - "$STANDIN" >/dev/null
    rm -rf "$root"
fi

# 2. The artifacts of the Containerfile's build stage, made here with its
# commands: nethook in release, the three hooks componentized by it.
say "cargo build --release -p nethook"
cargo build --release --locked -p nethook
cp "$target/release/nethook" "$work/artifacts/out/nethook"
say "building the hooks ${HOOKS[*]} for wasm32-wasip1"
pkgs=()
for h in "${HOOKS[@]}"; do pkgs+=(-p "$h"); done
guest_cargo "$repo/guest-hooks" build --release --locked --target wasm32-wasip1 \
    --target-dir "$repo/target/guest-build" "${pkgs[@]}"
for h in "${HOOKS[@]}"; do
    "$work/artifacts/out/nethook" componentize "$repo/target/guest-build/wasm32-wasip1/release/$h.wasm" \
        -o "$work/artifacts/out/hooks/$h.wasm"
done

# 3. The glibc the binary needs: no newer than the dataplane's.
needs=$(objdump -T "$work/artifacts/out/nethook" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
say "nethook needs glibc $needs at most; the dataplane's image has $DATAPLANE_GLIBC"
if [ "$(printf '%s\n%s\n' "$needs" "$DATAPLANE_GLIBC" | sort -V | tail -n 1)" != "$DATAPLANE_GLIBC" ]; then
    echo "deploy-image: nethook needs glibc $needs, newer than the dataplane image's $DATAPLANE_GLIBC" >&2
    exit 1
fi

# 4. The Containerfile, as users build it, on the stand-in and the artifacts.
say "podman build -f deploy/Containerfile"
podman build --isolation chroot \
    -f deploy/Containerfile --ignorefile deploy/Containerfile.dockerignore \
    --build-arg VPP_IMAGE="$STANDIN" \
    --build-context build="$work/artifacts" \
    -t "$IMAGE" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
grep -v '^Copying \|^Getting image source\|^Writing manifest\|^Storing signatures' "$work/build.log" >&2

# 5. nethook inside the image, by RUN steps of a throwaway image FROM it.
# The EKS example of the shipped config, uncommented: a config that makes
# nethook load the hook the image ships.
cp deploy/calico-vpp/nethook.toml "$work/check/eks.toml"
sed -n '/^# \[points\.vpp-running\]/,/^# daemon_reload/s/^# //p' deploy/calico-vpp/nethook.toml >>"$work/check/eks.toml"
grep -q '^component = "/usr/local/share/nethook/hooks/eks.wasm"$' "$work/check/eks.toml" ||
    { echo "deploy-image: no EKS example found in deploy/calico-vpp/nethook.toml" >&2; exit 1; }
# The environment the pod gives the vpp container: the hook variables of
# the overlay's hooks.yaml (a YAML single-quoted value is a shell one too)
# and the stand-in manifest's uplink (tests/deploy/calico-vpp.yaml).
sed -n "s/^  \(CALICOVPP_HOOK_[A-Z_]*\): \('.*'\)$/\1=\2/p" deploy/calico-vpp/hooks.yaml >"$work/check/pod.env"
[ "$(grep -c '^CALICOVPP_HOOK_' "$work/check/pod.env")" = 5 ] ||
    { echo "deploy-image: deploy/calico-vpp/hooks.yaml does not set the five CALICOVPP_HOOK_*" >&2; exit 1; }
echo "CALICOVPP_INTERFACES='{\"uplinkInterfaces\": [{\"interfaceName\": \"ens5\"}]}'" >>"$work/check/pod.env"
cat >"$work/check/Containerfile" <<EOF
FROM $IMAGE
COPY eks.toml /etc/nethook/eks.toml
COPY pod.env /tmp/pod.env
RUN set -e; set -a; . /tmp/pod.env; set +a; \\
    echo "== glibc: \$(getconf GNU_LIBC_VERSION)"; \\
    echo "== nethook --version"; nethook --version; \\
    echo "== nethook pull --config /etc/nethook/nethook.toml"; nethook pull --config /etc/nethook/nethook.toml; \\
    echo "== nethook check --config /etc/nethook/nethook.toml"; nethook check --config /etc/nethook/nethook.toml; \\
    echo "== nethook check --config /etc/nethook/eks.toml"; nethook check --config /etc/nethook/eks.toml; \\
    echo "== sha256"; sha256sum /usr/local/bin/nethook /usr/local/share/nethook/hooks/*.wasm /etc/nethook/nethook.toml
EOF
say "running nethook in the image (podman build of $work/check/Containerfile)"
# The DaemonSet's hostPaths: the node's root at /host, but read-only
# (`check` only reads it: what the built-in module detects), and nethook's
# state and cache directories, here directories of this run.
mkdir -p "$work/host/var/lib/nethook" "$work/host/var/cache/nethook"
podman build --isolation chroot --no-cache --layers=false -v /:/host:ro \
    -v "$work/host/var/lib/nethook:/var/lib/nethook" -v "$work/host/var/cache/nethook:/var/cache/nethook" \
    -t "$CHECK_IMAGE" "$work/check" >"$work/check.log" 2>&1 ||
    { cat "$work/check.log" >&2; exit 1; }
podman rmi "$CHECK_IMAGE" >/dev/null
cat "$work/check.log" >&2

# What ran is what was built: the same bytes in the image as here.
(cd "$work/artifacts/out" && sha256sum nethook hooks/*.wasm) |
    sed 's|  nethook$|  /usr/local/bin/nethook|; s|  hooks/|  /usr/local/share/nethook/hooks/|' >"$work/want.sha256"
(cd "$repo" && sha256sum deploy/calico-vpp/nethook.toml) | sed 's|  deploy/calico-vpp/|  /etc/nethook/|' >>"$work/want.sha256"
grep -E '^[0-9a-f]{64}  /' "$work/check.log" | sort -k2 >"$work/got.sha256"
if ! diff <(sort -k2 "$work/want.sha256") "$work/got.sha256" >&2; then
    echo "deploy-image: the files in the image are not the ones built" >&2
    exit 1
fi
# `check` compiled the EKS hook into the cache the pod's containers share.
eks=$(sha256sum "$work/artifacts/out/hooks/eks.wasm" | cut -d' ' -f1)
compiled=$(find "$work/host/var/cache/nethook" -name "$eks-*.cwasm" | wc -l)
[ "$compiled" = 1 ] || {
    echo "deploy-image: $compiled compiled eks.wasm in the cache directory, not 1" >&2
    exit 1
}
version=$(grep -A1 '^== nethook --version$' "$work/check.log" | tail -n 1)
want="nethook $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ "$version" = "$want" ] || {
    echo "deploy-image: nethook --version in the image said '$version', not '$want'" >&2
    exit 1
}
say "ok: $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes), nethook ran in it"
