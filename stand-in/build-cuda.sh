#!/usr/bin/env bash
# Builds the stand-in with nvcc on the GPU machine: compute.cu launches real kernels on the
# stream enqueueV3 receives, so CUDA-graph capture records them like TensorRT's own.
# Usage: stand-in/build-cuda.sh TRT_HEADERS_DIR OUT_FILE   (e.g. .../TRT-Enterprise-11.4 libnvinfer.so.11)
set -euo pipefail
headers="$1"
out="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cuda="${CUDA_HOME:-/usr/local/cuda}"
mkdir -p "$(dirname "$out")"
# --fmad=false: no fused multiply-add (results stay close to the float64 reference).
"$cuda/bin/nvcc" -std=c++17 -O2 --fmad=false -shared -Xcompiler -fPIC,-fvisibility=hidden \
    -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
    -Wno-deprecated-declarations -I "$cuda/include" -I "$headers" \
    -o "$out" "$here/src/standin.cpp" "$here/src/compute.cu"
echo "[stand-in] built $out with nvcc" >&2
