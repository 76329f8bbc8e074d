#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (copied there as .gpu-bundle/run.sh):
# builds the CUDA stand-in with nvcc, unpacks the lean wheel when bundled, then runs every
# GPU test binary with its GPU-only (ignored) tests and the benchmark, logging under $OUT.
# Usage: bash .gpu-bundle/run.sh [tests|bench|all] (default all)
set -uo pipefail
what=${1:-all}
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
lib="$bundle/build/trt-11.4/libnvinfer.so.11"
if [ ! -f "$lib" ] || [ "$bundle/stand-in/src/compute.cu" -nt "$lib" ] || [ "$bundle/stand-in/src/standin.cpp" -nt "$lib" ]; then
  bash "$bundle/stand-in/build-cuda.sh" "$bundle/headers/TRT-Enterprise-11.4" "$lib" 2>&1 | tail -20 || exit 1
fi
export TRT_STANDIN_CUDA="$lib"
if compgen -G "$bundle/wheels/tensorrt_lean_cu13_libs-*.whl" >/dev/null && [ ! -d "$bundle/site-packages/tensorrt_lean_libs" ]; then
  python3 -m zipfile -e "$bundle"/wheels/tensorrt_lean_cu13_libs-*.whl "$bundle/site-packages"
fi
[ -d "$bundle/site-packages/tensorrt_lean_libs" ] && export TRT_LEAN_LIBRARY="$(ls "$bundle"/site-packages/tensorrt_lean_libs/libnvinfer_lean.so.* | head -1)"
status=0
cd "$bundle"
for binary in bin/*; do
  name=$(basename "$binary")
  case "$name" in
    gpu_bench*) [ "$what" = tests ] && continue
      echo "=== $name"; "./$binary" 2>&1 | tee "$out/$name.log" || status=1 ;;
    *) [ "$what" = bench ] && continue
      echo "=== $name"; "./$binary" --include-ignored --test-threads=1 --nocapture 2>&1 | tee "$out/$name.log" || status=1 ;;
  esac
done
exit $status
