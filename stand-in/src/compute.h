// The stand-in's arithmetic, kept apart from the TensorRT ABI code so that a CUDA build can
// replace compute.cpp with kernels launched on the enqueue stream (the addresses it receives
// are then device addresses; in the host build they are host addresses).
#pragma once

#include <cstddef>
#include <cstdint>

// One dense layer: y = relu(x W + b), W row-major [in][out].
struct StandInLayer
{
    int32_t in;
    int32_t out;
    float const* weights; // in * out values, in the memory compute runs on
    float const* bias;    // out values
};

// Zero-filled memory compute runs on (host build: host memory; CUDA build: device memory),
// for a context's own activation memory. Null when it cannot be had.
void* standin_device_alloc(size_t bytes);
void standin_device_free(void* memory);

// Memory the layers' weights live in while an engine exists (host build: a host copy).
void* standin_weights_alloc(void const* host, size_t bytes);
void standin_weights_free(void* memory);

// Runs every layer on `batch` rows of `input` into `output`. `scratch` holds
// 2 * batch * max_width floats (the context's activation memory). Returns 0 on success.
int standin_mlp_forward(StandInLayer const* layers, int32_t num_layers, int64_t batch, int32_t max_width,
    float const* input, float* output, float* scratch, void* stream);

// Number of positive values among rows * cols values (the data-dependent output's size).
int64_t standin_count_positive(float const* values, int64_t rows, int64_t cols, void* stream);

// Writes the [2, count] int64 (row, column) indices of the positive values, row-major scan.
void standin_write_nonzero(float const* values, int64_t rows, int64_t cols, int64_t* indices, int64_t count,
    void* stream);
