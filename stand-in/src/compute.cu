// CUDA implementation of compute.h, for the GPU build of the stand-in (built with nvcc on the
// GPU machine): every function launches its kernels on the enqueue stream, so a CUDA graph
// captured around enqueueV3 records them, exactly as it records TensorRT's own kernels.
// The summation order differs from compute.cpp (a warp reduction), so results are compared
// with a float64 reference by relative error, never bit for bit with the host build.
#include "compute.h"

#include <cuda_runtime_api.h>

namespace
{
constexpr int kThreads = 256;

// One warp per output element: the lanes split the dot product, then a fixed-order shuffle
// reduction sums it (deterministic, so a replay equals the eager run bit for bit).
__global__ void denseRelu(float const* x, float const* w, float const* b, float* y, int64_t batch, int32_t in,
    int32_t out)
{
    int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    int lane = static_cast<int>(threadIdx.x % 32);
    if (warp >= batch * out)
    {
        return; // uniform per warp: blockDim is a multiple of 32
    }
    int64_t row = warp / out;
    int32_t column = static_cast<int32_t>(warp % out);
    float sum = 0.0f;
    for (int32_t k = lane; k < in; k += 32)
    {
        sum += x[row * in + k] * w[static_cast<int64_t>(k) * out + column];
    }
    for (int offset = 16; offset > 0; offset /= 2)
    {
        sum += __shfl_down_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0)
    {
        sum += b[column];
        y[warp] = sum > 0.0f ? sum : 0.0f;
    }
}

__global__ void countPositive(float const* values, int64_t n, unsigned long long* count)
{
    int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index < n && values[index] > 0.0f)
    {
        atomicAdd(count, 1ull);
    }
}

// One thread: a row-major scan keeps the order of the host implementation.
__global__ void writeNonZero(float const* values, int64_t rows, int64_t cols, int64_t* indices, int64_t count)
{
    int64_t written = 0;
    for (int64_t row = 0; row < rows; ++row)
    {
        for (int64_t column = 0; column < cols; ++column)
        {
            if (values[row * cols + column] > 0.0f && written < count)
            {
                indices[written] = row;
                indices[count + written] = column;
                ++written;
            }
        }
    }
}

unsigned blocksFor(int64_t n)
{
    return static_cast<unsigned>((n + kThreads - 1) / kThreads);
}
} // namespace

void* standin_device_alloc(size_t bytes)
{
    void* memory = nullptr;
    if (cudaMalloc(&memory, bytes == 0 ? 1 : bytes) != cudaSuccess)
    {
        return nullptr;
    }
    cudaMemset(memory, 0, bytes == 0 ? 1 : bytes);
    return memory;
}

void standin_device_free(void* memory)
{
    cudaFree(memory);
}

void* standin_weights_alloc(void const* host, size_t bytes)
{
    void* memory = nullptr;
    if (cudaMalloc(&memory, bytes == 0 ? 1 : bytes) != cudaSuccess)
    {
        return nullptr;
    }
    if (bytes != 0 && cudaMemcpy(memory, host, bytes, cudaMemcpyHostToDevice) != cudaSuccess)
    {
        cudaFree(memory);
        return nullptr;
    }
    return memory;
}

void standin_weights_free(void* memory)
{
    cudaFree(memory);
}

int standin_mlp_forward(StandInLayer const* layers, int32_t num_layers, int64_t batch, int32_t max_width,
    float const* input, float* output, float* scratch, void* stream)
{
    auto cudaStream = static_cast<cudaStream_t>(stream);
    // Discard an error left by an earlier failed call (a refused capture, say): only the
    // launches below decide this call's result.
    (void)cudaGetLastError();
    float* ping = scratch;
    float* pong = scratch + batch * max_width;
    float const* x = input;
    for (int32_t index = 0; index < num_layers; ++index)
    {
        StandInLayer const& layer = layers[index];
        float* y = (index + 1 == num_layers) ? output : (index % 2 == 0 ? ping : pong);
        int64_t n = batch * layer.out;
        if (n > 0)
        {
            denseRelu<<<blocksFor(n * 32), kThreads, 0, cudaStream>>>(x, layer.weights, layer.bias, y, batch,
                layer.in, layer.out);
        }
        x = y;
    }
    return cudaGetLastError() == cudaSuccess ? 0 : 1;
}

// Data-dependent: the count must come back to the host, which needs a synchronization.
// That is exactly why such an enqueue cannot be captured into a CUDA graph (the copy to
// pageable memory and the synchronize invalidate a capture); -1 reports the failure.
int64_t standin_count_positive(float const* values, int64_t rows, int64_t cols, void* stream)
{
    auto cudaStream = static_cast<cudaStream_t>(stream);
    int64_t n = rows * cols;
    unsigned long long* deviceCount = nullptr;
    if (cudaMallocAsync(reinterpret_cast<void**>(&deviceCount), sizeof(unsigned long long), cudaStream) != cudaSuccess)
    {
        return -1;
    }
    unsigned long long hostCount = 0;
    bool ok = cudaMemsetAsync(deviceCount, 0, sizeof(unsigned long long), cudaStream) == cudaSuccess;
    if (ok && n > 0)
    {
        countPositive<<<blocksFor(n), kThreads, 0, cudaStream>>>(values, n, deviceCount);
        ok = cudaGetLastError() == cudaSuccess;
    }
    ok = ok
        && cudaMemcpyAsync(&hostCount, deviceCount, sizeof(unsigned long long), cudaMemcpyDeviceToHost, cudaStream)
            == cudaSuccess;
    ok = ok && cudaStreamSynchronize(cudaStream) == cudaSuccess;
    cudaFreeAsync(deviceCount, cudaStream);
    if (!ok)
    {
        (void)cudaGetLastError(); // reported through -1; do not leave it for the next call
        return -1;
    }
    return static_cast<int64_t>(hostCount);
}

void standin_write_nonzero(float const* values, int64_t rows, int64_t cols, int64_t* indices, int64_t count,
    void* stream)
{
    if (count > 0)
    {
        writeNonZero<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(values, rows, cols, indices, count);
    }
}
