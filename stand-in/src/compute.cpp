// Host implementation of compute.h: plain loops on host memory (the host simulation's device
// addresses are real host addresses).
#include "compute.h"

#include <cstdlib>
#include <cstring>

void* standin_device_alloc(size_t bytes)
{
    return std::calloc(bytes == 0 ? 1 : bytes, 1);
}

void standin_device_free(void* memory)
{
    std::free(memory);
}

void* standin_weights_alloc(void const* host, size_t bytes)
{
    void* memory = std::malloc(bytes == 0 ? 1 : bytes);
    if (memory != nullptr && bytes != 0)
    {
        std::memcpy(memory, host, bytes);
    }
    return memory;
}

void standin_weights_free(void* memory)
{
    std::free(memory);
}

int standin_mlp_forward(StandInLayer const* layers, int32_t num_layers, int64_t batch, int32_t max_width,
    float const* input, float* output, float* scratch, void* /*stream*/)
{
    float* ping = scratch;
    float* pong = scratch + batch * max_width;
    float const* x = input;
    for (int32_t index = 0; index < num_layers; ++index)
    {
        StandInLayer const& layer = layers[index];
        float* y = (index + 1 == num_layers) ? output : (index % 2 == 0 ? ping : pong);
        for (int64_t row = 0; row < batch; ++row)
        {
            for (int32_t column = 0; column < layer.out; ++column)
            {
                float sum = layer.bias[column];
                for (int32_t k = 0; k < layer.in; ++k)
                {
                    sum += x[row * layer.in + k] * layer.weights[static_cast<int64_t>(k) * layer.out + column];
                }
                y[row * layer.out + column] = sum > 0.0f ? sum : 0.0f;
            }
        }
        x = y;
    }
    return 0;
}

int64_t standin_count_positive(float const* values, int64_t rows, int64_t cols, void* /*stream*/)
{
    int64_t count = 0;
    for (int64_t index = 0; index < rows * cols; ++index)
    {
        count += values[index] > 0.0f ? 1 : 0;
    }
    return count;
}

void standin_write_nonzero(float const* values, int64_t rows, int64_t cols, int64_t* indices, int64_t count,
    void* /*stream*/)
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
