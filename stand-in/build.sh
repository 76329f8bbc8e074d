#!/usr/bin/env bash
# Builds the ABI-exact stand-in library against several header families, with g++.
# Usage: stand-in/build.sh HEADERS_DIR FIXTURES_DIR
#   HEADERS_DIR   folders TRT-RTX-1.x/ and TRT-Enterprise-11.4/ plus the cuda_runtime_api.h stub
#   FIXTURES_DIR  outputs go to FIXTURES_DIR/stand-in/<build>/<library file name>
# A build is skipped when its sources, headers and flags are unchanged (hash stamp).
set -euo pipefail

headers="$1"
out="$2/stand-in"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sources=("$here/src/standin.cpp" "$here/src/compute.cpp")
mkdir -p "$out"

# build name | header folder | library file name | extra flags
builds=(
    "rtx-1.7|TRT-RTX-1.7|libtensorrt_rtx.so.1|"
    "rtx-1.5|TRT-RTX-1.5|libtensorrt_rtx.so.1|"
    "rtx-1.3|TRT-RTX-1.3|libtensorrt_rtx.so.1|"
    "trt-11.4|TRT-Enterprise-11.4|libnvinfer.so.11|"
    # Reports a version no table exists for (12.0.0), to test the refusal.
    "trt-12.0-unsupported|TRT-Enterprise-11.4|libnvinfer.so.11|-DSTANDIN_LIB_VERSION=120000"
)

pids=()
for build in "${builds[@]}"; do
    IFS='|' read -r name folder file flags <<<"$build"
    stamp="$(cat "${sources[@]}" "$here/src/compute.h" "$here/src/plan.h" "$headers/$folder/NvInferImpl.h" \
        "$headers/$folder/NvInferRuntime.h" | sha256sum | cut -c1-16)-$flags"
    target="$out/$name/$file"
    if [[ -f "$target" && "$(cat "$out/$name/.stamp" 2>/dev/null)" == "$stamp" ]]; then
        continue
    fi
    mkdir -p "$out/$name"
    echo "[stand-in] building $name against $folder" >&2
    (
        # shellcheck disable=SC2086
        g++ -std=c++17 -O1 -g -shared -fPIC -fvisibility=hidden -Wall -Wno-deprecated-declarations \
            -I "$headers/$folder" -I "$headers" $flags -o "$target.tmp" "${sources[@]}" &&
            mv "$target.tmp" "$target" && echo "$stamp" >"$out/$name/.stamp"
    ) &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
