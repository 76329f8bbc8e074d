#!/usr/bin/env bash
# Fetches and builds everything the FFI tests need, under target/trt-fixtures/ (git-ignored):
#   headers/        NVIDIA's TensorRT headers shipped by the trtx-sys 0.9.1 crate (RTX 1.3-1.7, TRT 11.4)
#   wheels/         the pip wheels of TensorRT-RTX 1.7.1, TensorRT lean 11.4 and dispatch 11.4
#   site-packages/  those wheels unzipped, laid out like a python3 site-packages folder
#   stand-in/       the ABI-exact stand-in libnvinfer, one build per header family
#   oracle/         the slot oracle, one program and one printed table per header family
# Idempotent: every step is skipped when its output is present and its inputs are unchanged,
# so a second run takes well under a second.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="${TRT_FIXTURES_DIR:-$repo_root/target/trt-fixtures}"
mkdir -p "$fixtures"
# Parallel test processes run this script at once: the first does the work, the others wait.
exec 9>"$fixtures/.lock"
flock 9
log() { printf '[fetch-trt-fixtures] %s\n' "$*" >&2; }

# ---- 1. headers: `cargo fetch` unpacks the crate's sources without building it -------------
headers="$fixtures/headers"
if [[ ! -f "$headers/.done" ]]; then
    probe="$fixtures/trtx-sys-probe"
    mkdir -p "$probe/src"
    cat >"$probe/Cargo.toml" <<'TOML'
[package]
name = "trtx-headers-probe"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
trtx-sys = "=0.9.1"

[workspace]
TOML
    : >"$probe/src/lib.rs"
    log "cargo fetch trtx-sys 0.9.1 (headers only, nothing is built)"
    cargo fetch --manifest-path "$probe/Cargo.toml" >&2
    crate_manifest="$(cargo metadata --format-version 1 --manifest-path "$probe/Cargo.toml" |
        python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="trtx-sys"))')"
    crate_dir="$(dirname "$crate_manifest")"
    rm -rf "$headers"
    mkdir -p "$headers"
    cp -r "$crate_dir/TensorRT-Headers/." "$headers/"
    touch "$headers/.done"
fi

# ---- 2. wheels: pip download (cached in wheels/), unzipped into site-packages/ --------------
wheels="$fixtures/wheels"
site="$fixtures/site-packages"
mkdir -p "$wheels" "$site"
fetch_wheel() { # name==version, folder the wheel unpacks to
    local spec="$1" folder="$2"
    if [[ -f "$site/$folder/.done" ]]; then return; fi
    local name="${spec%%==*}" version="${spec##*==}"
    local pattern="${name//-/_}-${version}-*.whl"
    if ! compgen -G "$wheels/$pattern" >/dev/null; then
        log "pip download $spec"
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_28_x86_64 --python-version 3.12 -d "$wheels" "$spec" >&2
    fi
    local wheel
    wheel="$(compgen -G "$wheels/$pattern" | head -n1)"
    log "unzip $(basename "$wheel")"
    rm -rf "$site/$folder"
    python3 -m zipfile -e "$wheel" "$site" >&2
    touch "$site/$folder/.done"
}
fetch_wheel tensorrt-rtx-cu13-libs==1.7.1.116 tensorrt_rtx_libs
fetch_wheel tensorrt-lean-cu13-libs==11.4.0.106 tensorrt_lean_libs
fetch_wheel tensorrt-dispatch-cu13-libs==11.4.0.106 tensorrt_dispatch_libs

# ---- 3. stand-in library and slot oracle, built with g++ against every header family -------
if [[ -x "$repo_root/stand-in/build.sh" ]]; then
    "$repo_root/stand-in/build.sh" "$headers" "$fixtures"
fi
log "fixtures ready in $fixtures"
