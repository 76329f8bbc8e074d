#!/usr/bin/env bash
# Builds the GPU test and bench binaries here (release), gathers them with the fixtures into
# .gpu-bundle/ (git-ignored, under 64 MiB) and prints the one command to run on the GPU
# machine, which has CUDA and nvcc but no cargo.
# Usage: scripts/gpu-bundle.sh [--with-lean] [TEST...]   (default: every tests/gpu_*.rs and the
# bench binary). --with-lean adds the TensorRT lean wheel (43 MB) to create the real lean
# runtime on the GPU; files stay on the GPU machine while it is warm, so once is enough.
# tests/gpu_rtx.rs needs the TensorRT-RTX wheel (95 MB), over one call's 64 MiB: split it
# (`split -b 48M`) into two carried folders, copy both halves to /tmp in two calls, `cat` them
# together, unzip, and run bin/gpu_rtx with TRT_RTX_LIBRARY and TRT_RTX_PLAN
# (target/trt-fixtures/rtx-tiny.plan, built by tests/ffi_builder.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.gpu-bundle
rm -rf "$bundle" && mkdir -p "$bundle/bin"

with_lean=0
if [ "${1:-}" = "--with-lean" ]; then with_lean=1; shift; fi
scripts/fetch-trt-fixtures.sh
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for file in tests/gpu_*.rs; do tests+=("$(basename "$file" .rs)"); done
fi
args=()
for test in "${tests[@]}"; do args+=(--test "$test"); done

cargo build --release --message-format=json-render-diagnostics "${args[@]}" >"$bundle/build.json"
cargo build --release --message-format=json-render-diagnostics --benches >>"$bundle/build.json"
python3 - "$bundle" <<'PY'
import json, shutil, sys, os
bundle = sys.argv[1]
for line in open(os.path.join(bundle, "build.json")):
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and (
        message["profile"]["test"] or "bench" in message["target"]["kind"]
    ):
        name = message["target"]["name"]
        shutil.copy(message["executable"], os.path.join(bundle, "bin", name))
PY
rm "$bundle/build.json"
strip "$bundle"/bin/* 2>/dev/null || true
cp -r models "$bundle/"
mkdir -p "$bundle/headers"
cp -r target/trt-fixtures/headers/TRT-Enterprise-11.4 "$bundle/headers/"
cp scripts/bench_torch_reference.py "$bundle/"
if [ $with_lean = 1 ]; then
  mkdir -p "$bundle/wheels" && cp target/trt-fixtures/wheels/tensorrt_lean_cu13_libs-*.whl "$bundle/wheels/"
fi
mkdir -p "$bundle/stand-in" && cp -r stand-in/src stand-in/build-cuda.sh "$bundle/stand-in/"
cp scripts/gpu-run.sh "$bundle/run.sh"
du -sh "$bundle"
echo "On the GPU machine (from the repository root): bash $bundle/run.sh"
