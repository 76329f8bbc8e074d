// The stand-in's plan format: an L-layer MLP (matmul + bias + relu per layer, weights in the
// file) and an optional data-dependent output (the indices of the positive outputs, like
// TensorRT's INonZeroLayer). All integers little-endian; floats IEEE binary32.
//
//   offset  field
//   0       char[8]  magic "TRTSTND1"
//   8       u32      target: 0 any runtime, 1 standard TensorRT only, 2 TensorRT-RTX only
//   12      u32      flags: bit 0 data-dependent output "nonzero", bit 1 weights streamable
//   16      u32      number of layers L (>= 1)
//   20      u32      min batch, u32 opt batch, u32 max batch (profile 0 of input "input")
//   32      u32      name length N, then N bytes of engine name
//   ...     L times: u32 in, u32 out, f32 weights[in * out] (row-major [in][out]), f32 bias[out]
//   ...     char[4]  end tag "END!" (catches truncation)
//
// Tensors: "input" f32 [-1, in_0] (input), "output" f32 [-1, out_{L-1}] (output), and with
// flag bit 0 "nonzero" i64 [2, -1] (output, data-dependent: row and column of each positive
// value of "output").
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

constexpr uint32_t kStandInTargetAny = 0;
constexpr uint32_t kStandInTargetStandard = 1;
constexpr uint32_t kStandInTargetRtx = 2;

struct StandInPlanLayer
{
    int32_t in;
    int32_t out;
    std::vector<float> weights;
    std::vector<float> bias;
};

struct StandInPlan
{
    uint32_t target{0};
    uint32_t flags{0};
    int64_t minBatch{0};
    int64_t optBatch{0};
    int64_t maxBatch{0};
    std::string name;
    std::vector<StandInPlanLayer> layers;

    bool hasNonZero() const
    {
        return (flags & 1u) != 0;
    }
    bool streamsWeights() const
    {
        return (flags & 2u) != 0;
    }
    int32_t maxWidth() const
    {
        int32_t width = 0;
        for (StandInPlanLayer const& layer : layers)
        {
            width = layer.in > width ? layer.in : width;
            width = layer.out > width ? layer.out : width;
        }
        return width;
    }
    int64_t weightBytes() const
    {
        int64_t bytes = 0;
        for (StandInPlanLayer const& layer : layers)
        {
            bytes += static_cast<int64_t>(layer.weights.size() + layer.bias.size()) * 4;
        }
        return bytes;
    }
};

class StandInPlanReader
{
public:
    StandInPlanReader(uint8_t const* data, size_t size)
        : mData(data)
        , mSize(size)
    {
    }
    bool bytes(void* out, size_t count)
    {
        if (mSize - mOffset < count)
        {
            return false;
        }
        std::memcpy(out, mData + mOffset, count);
        mOffset += count;
        return true;
    }
    bool u32(uint32_t& value)
    {
        uint8_t raw[4];
        if (!bytes(raw, 4))
        {
            return false;
        }
        value = raw[0] | (raw[1] << 8) | (raw[2] << 16) | (static_cast<uint32_t>(raw[3]) << 24);
        return true;
    }
    bool floats(std::vector<float>& out, size_t count)
    {
        if ((mSize - mOffset) / 4 < count)
        {
            return false;
        }
        out.resize(count);
        for (size_t index = 0; index < count; ++index)
        {
            uint32_t bits = 0;
            u32(bits);
            std::memcpy(&out[index], &bits, 4);
        }
        return true;
    }
    size_t offset() const
    {
        return mOffset;
    }

private:
    uint8_t const* mData;
    size_t mSize;
    size_t mOffset{0};
};

// Parses a plan; on failure returns false with a message in the style of TensorRT's errors.
inline bool standin_parse_plan(uint8_t const* data, size_t size, StandInPlan& plan, std::string& problem)
{
    StandInPlanReader reader(data, size);
    char magic[8];
    if (!reader.bytes(magic, 8) || std::memcmp(magic, "TRTSTND1", 8) != 0)
    {
        problem = "Serialization assertion failed: magic tag does not match (not a stand-in plan, or corrupt)";
        return false;
    }
    uint32_t layers = 0, minBatch = 0, optBatch = 0, maxBatch = 0, nameLength = 0;
    auto truncated = [&]() {
        problem = "plan truncated at byte " + std::to_string(reader.offset()) + " of " + std::to_string(size);
        return false;
    };
    if (!reader.u32(plan.target) || !reader.u32(plan.flags) || !reader.u32(layers) || !reader.u32(minBatch)
        || !reader.u32(optBatch) || !reader.u32(maxBatch) || !reader.u32(nameLength))
    {
        return truncated();
    }
    if (layers == 0 || layers > 1024 || minBatch > optBatch || optBatch > maxBatch || maxBatch == 0
        || maxBatch > (1u << 20) || plan.target > kStandInTargetRtx || nameLength > 4096)
    {
        problem = "plan header is invalid (layers, batch range, target or name length)";
        return false;
    }
    plan.minBatch = minBatch;
    plan.optBatch = optBatch;
    plan.maxBatch = maxBatch;
    plan.name.resize(nameLength);
    if (!reader.bytes(plan.name.data(), nameLength))
    {
        return truncated();
    }
    for (uint32_t index = 0; index < layers; ++index)
    {
        StandInPlanLayer layer{};
        uint32_t in = 0, out = 0;
        if (!reader.u32(in) || !reader.u32(out))
        {
            return truncated();
        }
        if (in == 0 || out == 0 || in > 65536 || out > 65536
            || (index > 0 && static_cast<int32_t>(in) != plan.layers.back().out))
        {
            problem = "layer " + std::to_string(index) + " has invalid widths";
            return false;
        }
        layer.in = static_cast<int32_t>(in);
        layer.out = static_cast<int32_t>(out);
        if (!reader.floats(layer.weights, static_cast<size_t>(in) * out) || !reader.floats(layer.bias, out))
        {
            return truncated();
        }
        plan.layers.push_back(std::move(layer));
    }
    char end[4];
    if (!reader.bytes(end, 4))
    {
        return truncated();
    }
    if (std::memcmp(end, "END!", 4) != 0 || reader.offset() != size)
    {
        problem = "plan has trailing or corrupt bytes after the last layer";
        return false;
    }
    return true;
}
