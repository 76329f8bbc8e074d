// ABI-exact stand-in for libnvinfer / libtensorrt_rtx.
//
// Compiled with g++ against one family of NVIDIA's headers, it implements the apiv::V* classes
// of that family (so every vtable slot is where the real library has it) behind the real
// 16-byte wrapper classes, exports createInferRuntime_INTERNAL and getInferLibVersion, reads its
// own small plan format (see plan.h), records every call with its arguments (per thread, read
// with standin_take_calls), and drives the callbacks: messages through the ILogger,
// reallocateOutputAsync and notifyShape during enqueueV3. The arithmetic lives in compute.cpp.
//
// Header families: TensorRT 11.x, TensorRT-RTX 1.3-1.4 (10.x-style layout) and 1.5+.

#include <NvInferRuntime.h>

#include "compute.h"
#include "plan.h"

#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace nvinfer1;

#if defined(TRT_MAJOR_RTX)
#define STANDIN_RTX 1
#define STANDIN_RTX_MINOR TRT_MINOR_RTX
#else
#define STANDIN_RTX 0
#define STANDIN_RTX_MINOR 0
#endif
#define STANDIN_RTX_OLD (STANDIN_RTX && STANDIN_RTX_MINOR <= 4)
#define STANDIN_RTX_AT_LEAST(minor) (STANDIN_RTX && STANDIN_RTX_MINOR >= (minor))
#define STANDIN_TRT_AT_LEAST(minor) (!STANDIN_RTX && NV_TENSORRT_MINOR >= (minor))

#ifndef STANDIN_LIB_VERSION
#define STANDIN_LIB_VERSION (NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH)
#endif

#define STANDIN_EXPORT extern "C" __attribute__((visibility("default")))

namespace
{

// ---- the call record ---------------------------------------------------------------------

thread_local std::string tCalls;
std::atomic<int> gNextId{1};

__attribute__((format(printf, 1, 2))) void record(char const* format, ...)
{
    char buffer[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    tCalls += buffer;
    tCalls += '\n';
}

std::string text(char const* value)
{
    return value == nullptr ? std::string("(null)") : std::string(value);
}

std::string dimsText(Dims const& dims)
{
    if (dims.nbDims < 0 || dims.nbDims > Dims::MAX_DIMS)
    {
        return "invalid";
    }
    std::string out = "[";
    for (int32_t index = 0; index < dims.nbDims; ++index)
    {
        out += (index == 0 ? "" : ",") + std::to_string(dims.d[index]);
    }
    return out + "]";
}

Dims makeDims(std::initializer_list<int64_t> values)
{
    Dims dims{};
    dims.nbDims = static_cast<int32_t>(values.size());
    int32_t index = 0;
    for (int64_t value : values)
    {
        dims.d[index++] = value;
    }
    return dims;
}

Dims invalidDims()
{
    Dims dims{};
    dims.nbDims = -1;
    return dims;
}

__attribute__((format(printf, 3, 4))) void say(ILogger* logger, ILogger::Severity severity, char const* format, ...)
{
    char buffer[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    if (logger != nullptr)
    {
        logger->log(severity, buffer);
    }
}

// Methods the Rust side never calls: recorded as unexpected, with a harmless result.
#define STANDIN_UNUSED(name) record("UNEXPECTED %s", name)

// ---- wrappers: the real public classes with our implementation in mImpl -------------------

template <class Public, class Impl>
class Wrapper final : public Public
{
public:
    Wrapper(Impl* impl, char const* kind, int id)
        : mKind(kind)
        , mId(id)
    {
        this->mImpl = impl;
    }
    ~Wrapper() noexcept override
    {
        record("delete %s#%d", mKind, mId);
        delete this->mImpl;
    }
    Impl* impl() const
    {
        return static_cast<Impl*>(this->mImpl);
    }
    int id() const
    {
        return mId;
    }

private:
    char const* mKind;
    int mId;
};

class StandInHostMemory;
class StandInRuntime;
class StandInEngine;
class StandInContext;
class StandInRuntimeConfig;
#if STANDIN_RTX
class StandInRuntimeCache;
#endif

// ---- IHostMemory ---------------------------------------------------------------------------

class StandInHostMemory final : public apiv::VHostMemory
{
public:
    explicit StandInHostMemory(std::vector<uint8_t> bytes)
        : mBytes(std::move(bytes))
    {
    }
    void* data() const noexcept override
    {
        record("IHostMemory::data");
        return const_cast<uint8_t*>(mBytes.data());
    }
    std::size_t size() const noexcept override
    {
        record("IHostMemory::size");
        return mBytes.size();
    }
    DataType type() const noexcept override
    {
        record("IHostMemory::type");
        return DataType::kUINT8;
    }

private:
    std::vector<uint8_t> mBytes;
};

IHostMemory* newHostMemory(std::vector<uint8_t> bytes)
{
    int id = gNextId++;
    record("new IHostMemory#%d size=%zu", id, bytes.size());
    return new Wrapper<IHostMemory, StandInHostMemory>(new StandInHostMemory(std::move(bytes)), "IHostMemory", id);
}

// ---- IRuntimeCache (RTX) -------------------------------------------------------------------

#if STANDIN_RTX
char const kCacheMagic[8] = {'S', 'I', 'C', 'A', 'C', 'H', 'E', '1'};

class StandInRuntimeCache final : public apiv::VRuntimeCache
{
public:
    explicit StandInRuntimeCache(ILogger* logger)
        : mLogger(logger)
    {
    }
    IHostMemory* serialize() const noexcept override
    {
        record("IRuntimeCache::serialize entries=%zu", mEntries.size());
        std::vector<uint8_t> bytes(kCacheMagic, kCacheMagic + 8);
        for (std::string const& entry : mEntries)
        {
            bytes.insert(bytes.end(), entry.begin(), entry.end());
            bytes.push_back('\n');
        }
        return newHostMemory(std::move(bytes));
    }
    bool deserialize(void const* blob, size_t size) noexcept override
    {
        record("IRuntimeCache::deserialize size=%zu", size);
        auto bytes = static_cast<char const*>(blob);
        if (blob == nullptr || size < 8 || std::memcmp(bytes, kCacheMagic, 8) != 0)
        {
            say(mLogger, ILogger::Severity::kERROR, "IRuntimeCache::deserialize: not a runtime cache (bad magic)");
            return false;
        }
        mEntries.clear();
        std::string current;
        for (size_t index = 8; index < size; ++index)
        {
            if (bytes[index] == '\n')
            {
                mEntries.push_back(current);
                current.clear();
            }
            else
            {
                current += bytes[index];
            }
        }
        return true;
    }
    bool reset() noexcept override
    {
        record("IRuntimeCache::reset");
        mEntries.clear();
        return true;
    }
    // A "compiled kernel" for a shape, as a real cache would gain during enqueue.
    void remember(std::string const& entry)
    {
        for (std::string const& existing : mEntries)
        {
            if (existing == entry)
            {
                return;
            }
        }
        mEntries.push_back(entry);
    }

private:
    ILogger* mLogger;
    std::vector<std::string> mEntries;
};
using RuntimeCacheWrapper = Wrapper<IRuntimeCache, StandInRuntimeCache>;
#endif

// ---- IRuntimeConfig ------------------------------------------------------------------------

class StandInRuntimeConfig final : public apiv::VRuntimeConfig
{
public:
    explicit StandInRuntimeConfig(ILogger* logger)
        : mLogger(logger)
    {
    }
    IRuntimeConfig* getPImpl() noexcept override
    {
        return mWrapper;
    }
    void setExecutionContextAllocationStrategy(ExecutionContextAllocationStrategy strategy) noexcept override
    {
        record("IRuntimeConfig::setExecutionContextAllocationStrategy strategy=%d", static_cast<int>(strategy));
        mStrategy = strategy;
    }
    ExecutionContextAllocationStrategy getExecutionContextAllocationStrategy() const noexcept override
    {
        record("IRuntimeConfig::getExecutionContextAllocationStrategy");
        return mStrategy;
    }
#if STANDIN_RTX
    IRuntimeCache* createRuntimeCache() const noexcept override
    {
        int id = gNextId++;
        record("IRuntimeConfig::createRuntimeCache -> IRuntimeCache#%d", id);
        return new RuntimeCacheWrapper(new StandInRuntimeCache(mLogger), "IRuntimeCache", id);
    }
    bool setRuntimeCache(IRuntimeCache const& cache) noexcept override
    {
        auto wrapper = static_cast<RuntimeCacheWrapper const*>(&cache);
        record("IRuntimeConfig::setRuntimeCache cache=IRuntimeCache#%d", wrapper->id());
        mCache = const_cast<RuntimeCacheWrapper*>(wrapper);
        return true;
    }
    IRuntimeCache* getRuntimeCache() const noexcept override
    {
        record("IRuntimeConfig::getRuntimeCache");
        return mCache;
    }
    void setDynamicShapesKernelSpecializationStrategy(DynamicShapesKernelSpecializationStrategy strategy) noexcept override
    {
        record("IRuntimeConfig::setDynamicShapesKernelSpecializationStrategy strategy=%d", static_cast<int>(strategy));
        mSpecialization = strategy;
    }
    DynamicShapesKernelSpecializationStrategy getDynamicShapesKernelSpecializationStrategy() const noexcept override
    {
        record("IRuntimeConfig::getDynamicShapesKernelSpecializationStrategy");
        return mSpecialization;
    }
    bool setCudaGraphStrategy(CudaGraphStrategy strategy) noexcept override
    {
        record("IRuntimeConfig::setCudaGraphStrategy strategy=%d", static_cast<int>(strategy));
        if (static_cast<int>(strategy) < 0 || static_cast<int>(strategy) > 1)
        {
            say(mLogger, ILogger::Severity::kERROR, "IRuntimeConfig::setCudaGraphStrategy: unknown strategy %d",
                static_cast<int>(strategy));
            return false;
        }
        mGraphStrategy = strategy;
        return true;
    }
    CudaGraphStrategy getCudaGraphStrategy() const noexcept override
    {
        record("IRuntimeConfig::getCudaGraphStrategy");
        return mGraphStrategy;
    }
    StandInRuntimeCache* cache() const
    {
        return mCache == nullptr ? nullptr : mCache->impl();
    }
    RuntimeCacheWrapper* mCache{nullptr};
    DynamicShapesKernelSpecializationStrategy mSpecialization{static_cast<DynamicShapesKernelSpecializationStrategy>(0)};
    CudaGraphStrategy mGraphStrategy{static_cast<CudaGraphStrategy>(0)};
#endif
    IRuntimeConfig* mWrapper{nullptr};
    ExecutionContextAllocationStrategy mStrategy{ExecutionContextAllocationStrategy::kSTATIC};

private:
    ILogger* mLogger;
};
using RuntimeConfigWrapper = Wrapper<IRuntimeConfig, StandInRuntimeConfig>;

// ---- ICudaEngine ---------------------------------------------------------------------------

enum TensorIndex : int32_t
{
    kInput = 0,
    kOutput = 1,
    kNonZero = 2,
};
char const* const kTensorNames[] = {"input", "output", "nonzero"};

class StandInEngine final : public apiv::VCudaEngine
{
public:
    StandInEngine(ILogger* logger, StandInPlan plan, std::vector<uint8_t> bytes)
        : mLogger(logger)
        , mPlan(std::move(plan))
        , mBytes(std::move(bytes))
    {
        for (StandInPlanLayer const& layer : mPlan.layers)
        {
            StandInLayer device{};
            device.in = layer.in;
            device.out = layer.out;
            device.weights = static_cast<float const*>(
                standin_weights_alloc(layer.weights.data(), layer.weights.size() * sizeof(float)));
            device.bias
                = static_cast<float const*>(standin_weights_alloc(layer.bias.data(), layer.bias.size() * sizeof(float)));
            mLayers.push_back(device);
        }
        mBudget = streamableBytes();
    }
    ~StandInEngine() noexcept override
    {
        if (mLiveContexts != 0)
        {
            record("ERROR engine deleted while %d execution context(s) are alive", mLiveContexts.load());
        }
        if (mGpuAllocator != nullptr && mGpuMemory != nullptr)
        {
            bool freed = mGpuAllocator->deallocateAsync(mGpuMemory, nullptr);
            record("IGpuAllocator::deallocateAsync memory=%p -> %s", mGpuMemory, freed ? "true" : "false");
        }
        for (StandInLayer const& layer : mLayers)
        {
            standin_weights_free(const_cast<float*>(layer.weights));
            standin_weights_free(const_cast<float*>(layer.bias));
        }
    }

    int32_t tensorIndex(char const* name) const
    {
        if (name != nullptr)
        {
            for (int32_t index = 0; index < numTensors(); ++index)
            {
                if (std::strcmp(name, kTensorNames[index]) == 0)
                {
                    return index;
                }
            }
        }
        return -1;
    }
    int32_t numTensors() const
    {
        return mPlan.hasNonZero() ? 3 : 2;
    }
    int32_t inputWidth() const
    {
        return mPlan.layers.front().in;
    }
    int32_t outputWidth() const
    {
        return mPlan.layers.back().out;
    }
    int64_t streamableBytes() const
    {
        return mPlan.streamsWeights() ? mPlan.weightBytes() : 0;
    }
    int64_t activationBytes(int64_t batch) const
    {
        return 2 * batch * mPlan.maxWidth() * static_cast<int64_t>(sizeof(float));
    }
    int32_t unknownTensor(char const* method, char const* name) const
    {
        say(mLogger, ILogger::Severity::kERROR, "%s: no tensor called `%s`", method, text(name).c_str());
        return -1;
    }

    ICudaEngine* getPImpl() noexcept override
    {
        return mWrapper;
    }
    int32_t getNbLayers() const noexcept override
    {
        record("ICudaEngine::getNbLayers");
        return static_cast<int32_t>(mPlan.layers.size());
    }
    IHostMemory* serialize() const noexcept override
    {
        record("ICudaEngine::serialize");
        return newHostMemory(mBytes);
    }
    IExecutionContext* createExecutionContext(ExecutionContextAllocationStrategy strategy) noexcept override;
    bool isRefittable() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::isRefittable");
        return false;
    }
    char const* getName() const noexcept override
    {
        record("ICudaEngine::getName");
        return mPlan.name.c_str();
    }
    int32_t getNbOptimizationProfiles() const noexcept override
    {
        record("ICudaEngine::getNbOptimizationProfiles");
        return 1;
    }
#if STANDIN_RTX_OLD
    int32_t const* getProfileTensorValues(char const*, int32_t, OptProfileSelector) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getProfileTensorValues");
        return nullptr;
    }
#endif
    EngineCapability getEngineCapability() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getEngineCapability");
        return EngineCapability::kSTANDARD;
    }
    void setErrorRecorder(IErrorRecorder*) noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::setErrorRecorder");
    }
    IErrorRecorder* getErrorRecorder() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getErrorRecorder");
        return nullptr;
    }
#if STANDIN_RTX_OLD
    bool hasImplicitBatchDimension() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::hasImplicitBatchDimension");
        return false;
    }
#endif
    TacticSources getTacticSources() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTacticSources");
        return 0;
    }
    ProfilingVerbosity getProfilingVerbosity() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getProfilingVerbosity");
        return ProfilingVerbosity::kLAYER_NAMES_ONLY;
    }
    IEngineInspector* createEngineInspector() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::createEngineInspector");
        return nullptr;
    }
    Dims getTensorShape(char const* name) const noexcept override
    {
        record("ICudaEngine::getTensorShape name=%s", text(name).c_str());
        switch (tensorIndex(name))
        {
        case kInput: return makeDims({-1, inputWidth()});
        case kOutput: return makeDims({-1, outputWidth()});
        case kNonZero: return makeDims({2, -1});
        default: unknownTensor("ICudaEngine::getTensorShape", name); return invalidDims();
        }
    }
    DataType getTensorDataType(char const* name) const noexcept override
    {
        record("ICudaEngine::getTensorDataType name=%s", text(name).c_str());
        switch (tensorIndex(name))
        {
        case kInput:
        case kOutput: return DataType::kFLOAT;
        case kNonZero: return DataType::kINT64;
        default: unknownTensor("ICudaEngine::getTensorDataType", name); return DataType::kFLOAT;
        }
    }
    TensorLocation getTensorLocation(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorLocation");
        return TensorLocation::kDEVICE;
    }
    bool isShapeInferenceIO(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::isShapeInferenceIO");
        return false;
    }
    TensorIOMode getTensorIOMode(char const* name) const noexcept override
    {
        record("ICudaEngine::getTensorIOMode name=%s", text(name).c_str());
        switch (tensorIndex(name))
        {
        case kInput: return TensorIOMode::kINPUT;
        case kOutput:
        case kNonZero: return TensorIOMode::kOUTPUT;
        default: return TensorIOMode::kNONE;
        }
    }
    int32_t getTensorBytesPerComponent(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorBytesPerComponent");
        return -1;
    }
    int32_t getTensorComponentsPerElement(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorComponentsPerElement");
        return -1;
    }
    TensorFormat getTensorFormat(char const* name) const noexcept override
    {
        record("ICudaEngine::getTensorFormat name=%s", text(name).c_str());
        return TensorFormat::kLINEAR;
    }
    char const* getTensorFormatDesc(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorFormatDesc");
        return nullptr;
    }
    int32_t getTensorVectorizedDim(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorVectorizedDim");
        return -1;
    }
    Dims getProfileShape(char const* name, int32_t profile, OptProfileSelector select) const noexcept override
    {
        record("ICudaEngine::getProfileShape name=%s profile=%d select=%d", text(name).c_str(), profile,
            static_cast<int>(select));
        if (tensorIndex(name) != kInput || profile != 0)
        {
            say(mLogger, ILogger::Severity::kERROR, "ICudaEngine::getProfileShape: no profile %d for `%s`", profile,
                text(name).c_str());
            return invalidDims();
        }
        int64_t batch = select == OptProfileSelector::kMIN ? mPlan.minBatch
            : select == OptProfileSelector::kOPT           ? mPlan.optBatch
                                                           : mPlan.maxBatch;
        return makeDims({batch, inputWidth()});
    }
    int32_t getNbIOTensors() const noexcept override
    {
        record("ICudaEngine::getNbIOTensors");
        return numTensors();
    }
    char const* getIOTensorName(int32_t index) const noexcept override
    {
        record("ICudaEngine::getIOTensorName index=%d", index);
        return index >= 0 && index < numTensors() ? kTensorNames[index] : nullptr;
    }
    HardwareCompatibilityLevel getHardwareCompatibilityLevel() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getHardwareCompatibilityLevel");
        return static_cast<HardwareCompatibilityLevel>(0);
    }
    int32_t getNbAuxStreams() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getNbAuxStreams");
        return 0;
    }
    int32_t getTensorBytesPerComponentV2(char const*, int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorBytesPerComponentV2");
        return -1;
    }
    int32_t getTensorComponentsPerElementV2(char const*, int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorComponentsPerElementV2");
        return -1;
    }
    TensorFormat getTensorFormatV2(char const*, int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorFormatV2");
        return TensorFormat::kLINEAR;
    }
    char const* getTensorFormatDescV2(char const*, int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorFormatDescV2");
        return nullptr;
    }
    int32_t getTensorVectorizedDimV2(char const*, int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getTensorVectorizedDimV2");
        return -1;
    }
    ISerializationConfig* createSerializationConfig() noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::createSerializationConfig");
        return nullptr;
    }
    IHostMemory* serializeWithConfig(ISerializationConfig&) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::serializeWithConfig");
        return nullptr;
    }
#if STANDIN_RTX_OLD
    size_t getDeviceMemorySizeForProfile(int32_t) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getDeviceMemorySizeForProfile");
        return 0;
    }
#endif
    IRefitter* createRefitter(ILogger&) noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::createRefitter");
        return nullptr;
    }
#if STANDIN_RTX_OLD
    bool setWeightStreamingBudget(int64_t) noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::setWeightStreamingBudget");
        return false;
    }
    int64_t getWeightStreamingBudget() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getWeightStreamingBudget");
        return -1;
    }
    int64_t getMinimumWeightStreamingBudget() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getMinimumWeightStreamingBudget");
        return -1;
    }
#endif
    int64_t getStreamableWeightsSize() const noexcept override
    {
        record("ICudaEngine::getStreamableWeightsSize");
        return streamableBytes();
    }
    bool isDebugTensor(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::isDebugTensor");
        return false;
    }
    bool setWeightStreamingBudgetV2(int64_t budget) noexcept override
    {
        record("ICudaEngine::setWeightStreamingBudgetV2 budget=%" PRId64, budget);
        if (mLiveContexts != 0)
        {
            say(mLogger, ILogger::Severity::kERROR,
                "ICudaEngine::setWeightStreamingBudgetV2: cannot change the budget while %d execution context(s) exist",
                mLiveContexts.load());
            return false;
        }
        if (streamableBytes() == 0 || budget < 0)
        {
            say(mLogger, ILogger::Severity::kERROR,
                "ICudaEngine::setWeightStreamingBudgetV2: engine was not built with weight streaming or budget %" PRId64
                " is negative",
                budget);
            return false;
        }
        mBudget = budget;
        return true;
    }
    int64_t getWeightStreamingBudgetV2() const noexcept override
    {
        record("ICudaEngine::getWeightStreamingBudgetV2");
        return mBudget;
    }
    int64_t getWeightStreamingAutomaticBudget() const noexcept override
    {
        record("ICudaEngine::getWeightStreamingAutomaticBudget");
        return streamableBytes() / 2;
    }
    int64_t getWeightStreamingScratchMemorySize() const noexcept override
    {
        record("ICudaEngine::getWeightStreamingScratchMemorySize");
        return mBudget < streamableBytes() ? 4096 : 0;
    }
    int64_t getDeviceMemorySizeV2() const noexcept override
    {
        record("ICudaEngine::getDeviceMemorySizeV2");
        return activationBytes(mPlan.maxBatch);
    }
    int64_t getDeviceMemorySizeForProfileV2(int32_t profile) const noexcept override
    {
        record("ICudaEngine::getDeviceMemorySizeForProfileV2 profile=%d", profile);
        if (profile != 0)
        {
            say(mLogger, ILogger::Severity::kERROR, "ICudaEngine::getDeviceMemorySizeForProfileV2: no profile %d",
                profile);
            return -1;
        }
        return activationBytes(mPlan.maxBatch);
    }
    int64_t const* getProfileTensorValuesV2(char const*, int32_t, OptProfileSelector) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getProfileTensorValuesV2");
        return nullptr;
    }
    IExecutionContext* createExecutionContextWithRuntimeConfig(IRuntimeConfig* config) noexcept override;
    IRuntimeConfig* createRuntimeConfig() noexcept override
    {
        int id = gNextId++;
        record("ICudaEngine::createRuntimeConfig -> IRuntimeConfig#%d", id);
        auto impl = new StandInRuntimeConfig(mLogger);
        auto wrapper = new RuntimeConfigWrapper(impl, "IRuntimeConfig", id);
        impl->mWrapper = wrapper;
        return wrapper;
    }
    int64_t getEngineStat(EngineStat stat) const noexcept override
    {
        record("ICudaEngine::getEngineStat stat=%d", static_cast<int>(stat));
        return static_cast<int>(stat) == 0 ? mPlan.weightBytes() : -1;
    }
    char const* getAliasedInputTensor(char const*) const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::getAliasedInputTensor");
        return nullptr;
    }
#if STANDIN_RTX_AT_LEAST(6)
    bool areWeightsLoaded() const noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::areWeightsLoaded");
        return true;
    }
    bool loadWeights(void const*, int64_t) noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::loadWeights");
        return false;
    }
    bool loadWeightsAsync(IStreamReaderV2&, cudaStream_t) noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::loadWeightsAsync");
        return false;
    }
#endif
#if STANDIN_RTX_AT_LEAST(7)
    bool unloadWeights() noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::unloadWeights");
        return false;
    }
    IWeightsManager* createWeightsManager() noexcept override
    {
        STANDIN_UNUSED("ICudaEngine::createWeightsManager");
        return nullptr;
    }
#endif

    IExecutionContext* newContext(ExecutionContextAllocationStrategy strategy, StandInRuntimeConfig* config,
        IRuntimeConfig* configWrapper);

    ICudaEngine* mWrapper{nullptr};
    ILogger* mLogger;
    StandInPlan mPlan;
    std::vector<uint8_t> mBytes;
    std::vector<StandInLayer> mLayers;
    int64_t mBudget{0};
    std::atomic<int> mLiveContexts{0};
    // The runtime's GPU allocator (when one was set) and the engine memory it returned, released
    // through it when the engine is deleted.
    IGpuAllocator* mGpuAllocator{nullptr};
    void* mGpuMemory{nullptr};
};
using EngineWrapper = Wrapper<ICudaEngine, StandInEngine>;

// ---- IExecutionContext ---------------------------------------------------------------------

class StandInContext final : public apiv::VExecutionContext
{
public:
    StandInContext(StandInEngine& engine, ExecutionContextAllocationStrategy strategy, StandInRuntimeConfig* config,
        IRuntimeConfig* configWrapper)
        : mEngine(engine)
        , mStrategy(strategy)
        , mConfig(config)
        , mConfigWrapper(configWrapper)
    {
        ++mEngine.mLiveContexts;
        if (strategy != ExecutionContextAllocationStrategy::kUSER_MANAGED)
        {
            mOwnScratch = static_cast<float*>(
                standin_device_alloc(static_cast<size_t>(mEngine.activationBytes(mEngine.mPlan.maxBatch))));
        }
    }
    ~StandInContext() noexcept override
    {
        standin_device_free(mOwnScratch);
        --mEngine.mLiveContexts;
    }
    void error(char const* format, ...) const __attribute__((format(printf, 2, 3)))
    {
        char buffer[1024];
        va_list args;
        va_start(args, format);
        std::vsnprintf(buffer, sizeof buffer, format, args);
        va_end(args);
        say(mEngine.mLogger, ILogger::Severity::kERROR, "%s", buffer);
    }

    IExecutionContext* getPImpl() noexcept override
    {
        return mWrapper;
    }
    void setDebugSync(bool) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setDebugSync");
    }
    bool getDebugSync() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getDebugSync");
        return false;
    }
    void setProfiler(IProfiler*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setProfiler");
    }
    IProfiler* getProfiler() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getProfiler");
        return nullptr;
    }
    ICudaEngine const& getEngine() const noexcept override
    {
        record("IExecutionContext::getEngine");
        return *mEngine.mWrapper;
    }
    void setName(char const*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setName");
    }
    char const* getName() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getName");
        return "";
    }
    void setDeviceMemory(void*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setDeviceMemory");
    }
    int32_t getOptimizationProfile() const noexcept override
    {
        record("IExecutionContext::getOptimizationProfile");
        return mProfile;
    }
    bool allInputDimensionsSpecified() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::allInputDimensionsSpecified");
        return mBatch >= 0;
    }
#if STANDIN_RTX_OLD
    bool allInputShapesSpecified() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::allInputShapesSpecified");
        return mBatch >= 0;
    }
#endif
    void setErrorRecorder(IErrorRecorder*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setErrorRecorder");
    }
    IErrorRecorder* getErrorRecorder() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getErrorRecorder");
        return nullptr;
    }
    bool executeV2(void* const*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::executeV2");
        return false;
    }
    bool setOptimizationProfileAsync(int32_t profile, cudaStream_t stream) noexcept override
    {
        record("IExecutionContext::setOptimizationProfileAsync profile=%d stream=%p", profile,
            static_cast<void*>(stream));
        if (profile != 0)
        {
            error("IExecutionContext::setOptimizationProfileAsync: profile %d does not exist (1 profile)", profile);
            return false;
        }
        mProfile = profile;
        return true;
    }
    void setEnqueueEmitsProfile(bool) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setEnqueueEmitsProfile");
    }
    bool getEnqueueEmitsProfile() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getEnqueueEmitsProfile");
        return false;
    }
    bool reportToProfiler() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::reportToProfiler");
        return false;
    }
    bool setInputShape(char const* name, Dims const& dims) noexcept override
    {
        record("IExecutionContext::setInputShape name=%s dims=%s", text(name).c_str(), dimsText(dims).c_str());
        if (mEngine.tensorIndex(name) != kInput)
        {
            error("IExecutionContext::setInputShape: `%s` is not an input", text(name).c_str());
            return false;
        }
        StandInPlan const& plan = mEngine.mPlan;
        if (dims.nbDims != 2 || dims.d[1] != mEngine.inputWidth() || dims.d[0] < plan.minBatch
            || dims.d[0] > plan.maxBatch)
        {
            error("IExecutionContext::setInputShape: %s is outside profile 0 ([%" PRId64 ",%d]..[%" PRId64 ",%d])",
                dimsText(dims).c_str(), plan.minBatch, mEngine.inputWidth(), plan.maxBatch, mEngine.inputWidth());
            return false;
        }
        mBatch = dims.d[0];
        return true;
    }
    Dims getTensorShape(char const* name) const noexcept override
    {
        record("IExecutionContext::getTensorShape name=%s", text(name).c_str());
        switch (mEngine.tensorIndex(name))
        {
        case kInput: return makeDims({mBatch, mEngine.inputWidth()});
        case kOutput: return makeDims({mBatch, mEngine.outputWidth()});
        case kNonZero: return makeDims({2, mNonZeroCount});
        default: error("IExecutionContext::getTensorShape: no tensor called `%s`", text(name).c_str()); return invalidDims();
        }
    }
    Dims getTensorStrides(char const*) const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getTensorStrides");
        return invalidDims();
    }
    bool setTensorAddress(char const* name, void* data) noexcept override
    {
        record("IExecutionContext::setTensorAddress name=%s address=%p", text(name).c_str(), data);
        int32_t index = mEngine.tensorIndex(name);
        if (index < 0)
        {
            error("IExecutionContext::setTensorAddress: no tensor called `%s`", text(name).c_str());
            return false;
        }
        mAddresses[index] = data;
        return true;
    }
    void const* getTensorAddress(char const*) const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getTensorAddress");
        return nullptr;
    }
    bool setInputTensorAddress(char const*, void const*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setInputTensorAddress");
        return false;
    }
    bool setOutputTensorAddress(char const*, void*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setOutputTensorAddress");
        return false;
    }
    int32_t inferShapes(int32_t, char const**) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::inferShapes");
        return -1;
    }
    bool setInputConsumedEvent(cudaEvent_t) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setInputConsumedEvent");
        return false;
    }
    cudaEvent_t getInputConsumedEvent() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getInputConsumedEvent");
        return nullptr;
    }
    void* getOutputTensorAddress(char const*) const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getOutputTensorAddress");
        return nullptr;
    }
    bool setOutputAllocator(char const* name, IOutputAllocator* allocator) noexcept override
    {
        record("IExecutionContext::setOutputAllocator name=%s allocator=%s", text(name).c_str(),
            allocator == nullptr ? "null" : "set");
        int32_t index = mEngine.tensorIndex(name);
        if (index != kOutput && index != kNonZero)
        {
            error("IExecutionContext::setOutputAllocator: `%s` is not an output", text(name).c_str());
            return false;
        }
        if (allocator != nullptr)
        {
            InterfaceInfo info = allocator->getInterfaceInfo();
            record("IOutputAllocator::getInterfaceInfo -> %s %d.%d language=%d", text(info.kind).c_str(), info.major,
                info.minor, static_cast<int>(allocator->getAPILanguage()));
        }
        mAllocators[index] = allocator;
        return true;
    }
    IOutputAllocator* getOutputAllocator(char const*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getOutputAllocator");
        return nullptr;
    }
    int64_t getMaxOutputSize(char const* name) const noexcept override
    {
        record("IExecutionContext::getMaxOutputSize name=%s", text(name).c_str());
        if (mEngine.tensorIndex(name) != kNonZero || mBatch < 0)
        {
            error("IExecutionContext::getMaxOutputSize: `%s` is not a data-dependent output or the input shape is "
                  "not set",
                text(name).c_str());
            return -1;
        }
        return 2 * mBatch * mEngine.outputWidth() * static_cast<int64_t>(sizeof(int64_t));
    }
    bool setTemporaryStorageAllocator(IGpuAllocator*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setTemporaryStorageAllocator");
        return false;
    }
    IGpuAllocator* getTemporaryStorageAllocator() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getTemporaryStorageAllocator");
        return nullptr;
    }
    bool enqueueV3(cudaStream_t stream) noexcept override;
    void setPersistentCacheLimit(size_t size) noexcept override
    {
        record("IExecutionContext::setPersistentCacheLimit size=%zu", size);
        mPersistentCacheLimit = size;
    }
    size_t getPersistentCacheLimit() const noexcept override
    {
        record("IExecutionContext::getPersistentCacheLimit");
        return mPersistentCacheLimit;
    }
    bool setNvtxVerbosity(ProfilingVerbosity) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setNvtxVerbosity");
        return false;
    }
    ProfilingVerbosity getNvtxVerbosity() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getNvtxVerbosity");
        return ProfilingVerbosity::kLAYER_NAMES_ONLY;
    }
    void setAuxStreams(cudaStream_t*, int32_t) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setAuxStreams");
    }
    bool setDebugListener(IDebugListener*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setDebugListener");
        return false;
    }
    IDebugListener* getDebugListener() noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getDebugListener");
        return nullptr;
    }
    bool setTensorDebugState(char const*, bool) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setTensorDebugState");
        return false;
    }
    bool getDebugState(char const*) const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getDebugState");
        return false;
    }
    bool setAllTensorsDebugState(bool) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setAllTensorsDebugState");
        return false;
    }
    size_t updateDeviceMemorySizeForShapes() noexcept override
    {
        record("IExecutionContext::updateDeviceMemorySizeForShapes");
        if (mBatch < 0)
        {
            error("IExecutionContext::updateDeviceMemorySizeForShapes: input shapes are not set");
            return 0;
        }
        return static_cast<size_t>(mEngine.activationBytes(mBatch));
    }
    void setDeviceMemoryV2(void* memory, int64_t size) noexcept override
    {
        record("IExecutionContext::setDeviceMemoryV2 memory=%p size=%" PRId64, memory, size);
        if (mStrategy != ExecutionContextAllocationStrategy::kUSER_MANAGED)
        {
            error("IExecutionContext::setDeviceMemoryV2: the context was not created with kUSER_MANAGED");
            return;
        }
        mUserMemory = memory;
        mUserMemorySize = size;
    }
    IRuntimeConfig* getRuntimeConfig() const noexcept override
    {
        record("IExecutionContext::getRuntimeConfig");
        return mConfigWrapper;
    }
    bool setUnfusedTensorsDebugState(bool) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setUnfusedTensorsDebugState");
        return false;
    }
    bool getUnfusedTensorsDebugState() const noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::getUnfusedTensorsDebugState");
        return false;
    }
#if STANDIN_RTX_AT_LEAST(5)
    bool isStreamCapturable(cudaStream_t stream) const noexcept override
    {
        record("IExecutionContext::isStreamCapturable stream=%p", static_cast<void*>(stream));
        // Data-dependent shapes need the output allocator during enqueue: not capturable.
        return !mEngine.mPlan.hasNonZero();
    }
#endif
#if STANDIN_RTX_AT_LEAST(4) || !STANDIN_RTX
    bool setCommunicator(void*) noexcept override
    {
        STANDIN_UNUSED("IExecutionContext::setCommunicator");
        return false;
    }
#endif

    IExecutionContext* mWrapper{nullptr};

private:
    StandInEngine& mEngine;
    ExecutionContextAllocationStrategy mStrategy;
    StandInRuntimeConfig* mConfig;
    IRuntimeConfig* mConfigWrapper;
    int64_t mBatch{-1};
    int64_t mNonZeroCount{-1};
    void* mAllocatedNonZero{nullptr}; // memory the output allocator last returned
    int32_t mProfile{0};
    size_t mPersistentCacheLimit{0};
    void* mAddresses[3]{nullptr, nullptr, nullptr};
    IOutputAllocator* mAllocators[3]{nullptr, nullptr, nullptr};
    void* mUserMemory{nullptr};
    int64_t mUserMemorySize{0};
    float* mOwnScratch{nullptr}; // activation memory of non-user-managed contexts
};
using ContextWrapper = Wrapper<IExecutionContext, StandInContext>;

bool StandInContext::enqueueV3(cudaStream_t stream) noexcept
{
    record("IExecutionContext::enqueueV3 stream=%p", static_cast<void*>(stream));
    if (mBatch < 0)
    {
        error("IExecutionContext::enqueueV3: the shape of input `input` is not set");
        return false;
    }
    if (mAddresses[kInput] == nullptr || mAddresses[kOutput] == nullptr)
    {
        error("IExecutionContext::enqueueV3: the address of tensor `%s` is not set",
            mAddresses[kInput] == nullptr ? "input" : "output");
        return false;
    }
    float* scratch = mOwnScratch;
    int64_t needed = mEngine.activationBytes(mBatch);
    if (mStrategy == ExecutionContextAllocationStrategy::kUSER_MANAGED)
    {
        if (mUserMemory == nullptr || mUserMemorySize < needed)
        {
            error("IExecutionContext::enqueueV3: user-managed device memory of %" PRId64
                  " bytes is missing or too small (%" PRId64 " needed); call setDeviceMemoryV2",
                mUserMemorySize, needed);
            return false;
        }
        scratch = static_cast<float*>(mUserMemory);
    }
    StandInPlan const& plan = mEngine.mPlan;
    // Everything is validated before any memory is touched, as TensorRT does.
    // Like TensorRT, a data-dependent output takes either an output allocator or an address
    // bound with setTensorAddress holding at least getMaxOutputSize() bytes.
    if (plan.hasNonZero() && mAllocators[kNonZero] == nullptr && mAddresses[kNonZero] == nullptr)
    {
        error("IExecutionContext::enqueueV3: data-dependent output `nonzero` needs an output allocator or an "
              "address of getMaxOutputSize() bytes");
        return false;
    }
    auto output = static_cast<float*>(mAddresses[kOutput]);
    if (scratch == nullptr)
    {
        error("IExecutionContext::enqueueV3: the context has no activation memory");
        return false;
    }
    if (standin_mlp_forward(mEngine.mLayers.data(), static_cast<int32_t>(mEngine.mLayers.size()), mBatch,
            plan.maxWidth(), static_cast<float const*>(mAddresses[kInput]), output, scratch, stream)
        != 0)
    {
        error("IExecutionContext::enqueueV3: launching the MLP kernels failed");
        return false;
    }
#if STANDIN_RTX
    if (mConfig != nullptr && mConfig->cache() != nullptr)
    {
        mConfig->cache()->remember("mlp batch=" + std::to_string(mBatch));
    }
#endif
    if (plan.hasNonZero())
    {
        IOutputAllocator* allocator = mAllocators[kNonZero];
        int64_t count = standin_count_positive(output, mBatch, mEngine.outputWidth(), stream);
        if (count < 0)
        {
            // The count needs a device-to-host copy and a synchronize: illegal while capturing.
            error("IExecutionContext::enqueueV3: could not read the size of data-dependent output `nonzero` "
                  "(not capturable)");
            return false;
        }
        uint64_t bytes = static_cast<uint64_t>(2 * count) * sizeof(int64_t);
        if (allocator == nullptr)
        {
            // The bound buffer holds getMaxOutputSize() bytes: the actual output always fits.
            standin_write_nonzero(
                output, mBatch, mEngine.outputWidth(), static_cast<int64_t*>(mAddresses[kNonZero]), count, stream);
            mNonZeroCount = count;
            return true;
        }
        void* memory = allocator->reallocateOutputAsync(
            "nonzero", mAllocatedNonZero, bytes == 0 ? 1 : bytes, 256, stream);
        record("IOutputAllocator::reallocateOutputAsync name=nonzero size=%" PRIu64 " alignment=256 -> %s", bytes == 0 ? 1 : bytes,
            memory == nullptr ? "null" : "memory");
        if (memory == nullptr)
        {
            error("IExecutionContext::enqueueV3: the output allocator of `nonzero` returned null for %" PRIu64 " bytes",
                bytes);
            return false;
        }
        mAllocatedNonZero = memory; // kept apart: the bound address stays what the user set
        standin_write_nonzero(output, mBatch, mEngine.outputWidth(), static_cast<int64_t*>(memory), count, stream);
        mNonZeroCount = count;
        Dims shape = makeDims({2, count});
        allocator->notifyShape("nonzero", shape);
        record("IOutputAllocator::notifyShape name=nonzero dims=%s", dimsText(shape).c_str());
    }
    return true;
}

IExecutionContext* StandInEngine::newContext(
    ExecutionContextAllocationStrategy strategy, StandInRuntimeConfig* config, IRuntimeConfig* configWrapper)
{
    int id = gNextId++;
    auto impl = new StandInContext(*this, strategy, config, configWrapper);
    auto wrapper = new ContextWrapper(impl, "IExecutionContext", id);
    impl->mWrapper = wrapper;
    record("new IExecutionContext#%d", id);
    return wrapper;
}

IExecutionContext* StandInEngine::createExecutionContext(ExecutionContextAllocationStrategy strategy) noexcept
{
    record("ICudaEngine::createExecutionContext strategy=%d", static_cast<int>(strategy));
    int raw = static_cast<int>(strategy);
    if (raw < 0 || raw > 2)
    {
        say(mLogger, ILogger::Severity::kERROR, "ICudaEngine::createExecutionContext: unknown allocation strategy %d",
            raw);
        return nullptr;
    }
    return newContext(strategy, nullptr, nullptr);
}

IExecutionContext* StandInEngine::createExecutionContextWithRuntimeConfig(IRuntimeConfig* config) noexcept
{
    if (config == nullptr)
    {
        record("ICudaEngine::createExecutionContextWithRuntimeConfig config=null");
        say(mLogger, ILogger::Severity::kERROR, "ICudaEngine::createExecutionContext: null runtime config");
        return nullptr;
    }
    auto wrapper = static_cast<RuntimeConfigWrapper*>(config);
    StandInRuntimeConfig* impl = wrapper->impl();
#if STANDIN_RTX
    record("ICudaEngine::createExecutionContextWithRuntimeConfig config=IRuntimeConfig#%d strategy=%d cache=%s "
           "specialization=%d graphs=%d",
        wrapper->id(), static_cast<int>(impl->mStrategy), impl->mCache == nullptr ? "none" : "set",
        static_cast<int>(impl->mSpecialization), static_cast<int>(impl->mGraphStrategy));
#else
    record("ICudaEngine::createExecutionContextWithRuntimeConfig config=IRuntimeConfig#%d strategy=%d", wrapper->id(),
        static_cast<int>(impl->mStrategy));
#endif
    return newContext(impl->mStrategy, impl, config);
}

// ---- IRuntime ------------------------------------------------------------------------------

class StandInRuntime final : public apiv::VRuntime
{
public:
    explicit StandInRuntime(ILogger* logger)
        : mLogger(logger)
    {
    }
    IRuntime* getPImpl() noexcept override
    {
        return mWrapper;
    }
    ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept override
    {
        record("IRuntime::deserializeCudaEngine size=%zu", size);
        StandInPlan plan;
        std::string problem;
        if (blob == nullptr || !standin_parse_plan(static_cast<uint8_t const*>(blob), size, plan, problem))
        {
            say(mLogger, ILogger::Severity::kERROR, "IRuntime::deserializeCudaEngine: %s",
                blob == nullptr ? "null blob" : problem.c_str());
            return nullptr;
        }
        bool rtx = STANDIN_RTX != 0;
        if ((plan.target == kStandInTargetStandard && rtx) || (plan.target == kStandInTargetRtx && !rtx))
        {
            say(mLogger, ILogger::Severity::kERROR,
                "IRuntime::deserializeCudaEngine: the plan was built for %s and cannot run on %s",
                plan.target == kStandInTargetRtx ? "TensorRT-RTX" : "standard TensorRT",
                rtx ? "TensorRT-RTX" : "standard TensorRT");
            return nullptr;
        }
        void* engineMemory = nullptr;
        if (mGpuAllocator != nullptr)
        {
            // Exercise every slot of the user's allocator: a scratch block through the deprecated
            // synchronous calls (and an attempt to grow it), then the engine's weight memory.
            void* scratch = mGpuAllocator->allocate(64, 256, 0);
            record("IGpuAllocator::allocate size=64 alignment=256 flags=0 -> %s", scratch == nullptr ? "null" : "set");
            if (scratch != nullptr)
            {
                void* grown = mGpuAllocator->reallocate(scratch, 256, 128);
                record("IGpuAllocator::reallocate size=128 alignment=256 -> %s",
                    grown == nullptr ? "null" : (grown == scratch ? "same" : "moved"));
                void* current = grown == nullptr ? scratch : grown;
                bool freed = mGpuAllocator->deallocate(current);
                record("IGpuAllocator::deallocate -> %s", freed ? "true" : "false");
            }
            uint64_t weights = static_cast<uint64_t>(plan.weightBytes());
            engineMemory = mGpuAllocator->allocateAsync(weights, 256, 0, nullptr);
            record("IGpuAllocator::allocateAsync size=%" PRIu64 " alignment=256 flags=0 -> %p", weights, engineMemory);
            if (engineMemory == nullptr)
            {
                say(mLogger, ILogger::Severity::kERROR,
                    "IRuntime::deserializeCudaEngine: the GPU allocator refused %" PRIu64 " bytes of weights", weights);
                return nullptr;
            }
        }
        std::vector<uint8_t> bytes(static_cast<uint8_t const*>(blob), static_cast<uint8_t const*>(blob) + size);
        int id = gNextId++;
        auto impl = new StandInEngine(mLogger, std::move(plan), std::move(bytes));
        impl->mGpuAllocator = mGpuAllocator;
        impl->mGpuMemory = engineMemory;
        auto wrapper = new EngineWrapper(impl, "ICudaEngine", id);
        impl->mWrapper = wrapper;
        record("new ICudaEngine#%d", id);
        return wrapper;
    }
#if STANDIN_RTX_OLD
    ICudaEngine* deserializeCudaEngine(IStreamReader&) noexcept override
    {
        STANDIN_UNUSED("IRuntime::deserializeCudaEngine(IStreamReader&)");
        return nullptr;
    }
#endif
    void setDLACore(int32_t) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setDLACore");
    }
    int32_t getDLACore() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getDLACore");
        return -1;
    }
    int32_t getNbDLACores() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getNbDLACores");
        return 0;
    }
    void setGpuAllocator(IGpuAllocator* allocator) noexcept override
    {
        record("IRuntime::setGpuAllocator allocator=%s", allocator == nullptr ? "null" : "set");
        if (allocator != nullptr)
        {
            InterfaceInfo info = allocator->getInterfaceInfo();
            record("IGpuAllocator::getInterfaceInfo -> %s %d.%d language=%d", text(info.kind).c_str(), info.major,
                info.minor, static_cast<int>(allocator->getAPILanguage()));
        }
        mGpuAllocator = allocator;
    }
    void setErrorRecorder(IErrorRecorder*) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setErrorRecorder");
    }
    IErrorRecorder* getErrorRecorder() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getErrorRecorder");
        return nullptr;
    }
    ILogger* getLogger() const noexcept override
    {
        record("IRuntime::getLogger");
        return mLogger;
    }
    bool setMaxThreads(int32_t maxThreads) noexcept override
    {
        record("IRuntime::setMaxThreads maxThreads=%d", maxThreads);
        if (maxThreads < 1)
        {
            say(mLogger, ILogger::Severity::kERROR, "IRuntime::setMaxThreads: %d is not a thread count", maxThreads);
            return false;
        }
        mMaxThreads = maxThreads;
        return true;
    }
    int32_t getMaxThreads() const noexcept override
    {
        record("IRuntime::getMaxThreads");
        return mMaxThreads;
    }
    void setTemporaryDirectory(char const*) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setTemporaryDirectory");
    }
    char const* getTemporaryDirectory() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getTemporaryDirectory");
        return nullptr;
    }
    void setTempfileControlFlags(TempfileControlFlags) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setTempfileControlFlags");
    }
    TempfileControlFlags getTempfileControlFlags() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getTempfileControlFlags");
        return 0;
    }
    IPluginRegistry& getPluginRegistry() noexcept override
    {
        STANDIN_UNUSED("IRuntime::getPluginRegistry");
        std::abort();
    }
    void setPluginRegistryParent(IPluginRegistry*) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setPluginRegistryParent");
    }
    IRuntime* loadRuntime(char const*) noexcept override
    {
        STANDIN_UNUSED("IRuntime::loadRuntime");
        return nullptr;
    }
    void setEngineHostCodeAllowed(bool) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setEngineHostCodeAllowed");
    }
    bool getEngineHostCodeAllowed() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getEngineHostCodeAllowed");
        return false;
    }
    ICudaEngine* deserializeCudaEngineV2(IStreamReaderV2&) noexcept override
    {
        STANDIN_UNUSED("IRuntime::deserializeCudaEngineV2");
        return nullptr;
    }
#if STANDIN_RTX
    int64_t getEngineHeaderSize() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getEngineHeaderSize");
        return 0;
    }
    EngineValidity getEngineValidity(void const*, int64_t, uint64_t*) const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getEngineValidity");
        return static_cast<EngineValidity>(0);
    }
#endif
#if STANDIN_RTX_AT_LEAST(6)
    void setDeferredWeightsLoading(bool) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setDeferredWeightsLoading");
    }
    bool getDeferredWeightsLoading() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getDeferredWeightsLoading");
        return false;
    }
#endif
#if STANDIN_RTX_AT_LEAST(7) || STANDIN_TRT_AT_LEAST(3)
    bool setDLAWorkspaceAllocationStrategy(DLAWorkspaceAllocationStrategy) noexcept override
    {
        STANDIN_UNUSED("IRuntime::setDLAWorkspaceAllocationStrategy");
        return false;
    }
    DLAWorkspaceAllocationStrategy getDLAWorkspaceAllocationStrategy() const noexcept override
    {
        STANDIN_UNUSED("IRuntime::getDLAWorkspaceAllocationStrategy");
        return static_cast<DLAWorkspaceAllocationStrategy>(0);
    }
#endif

    IRuntime* mWrapper{nullptr};

private:
    ILogger* mLogger;
    int32_t mMaxThreads{1};
    IGpuAllocator* mGpuAllocator{nullptr};
};
using RuntimeWrapper = Wrapper<IRuntime, StandInRuntime>;

int32_t libraryVersion()
{
    char const* override = std::getenv("STANDIN_INFER_LIB_VERSION");
    return override != nullptr && *override != '\0' ? std::atoi(override) : STANDIN_LIB_VERSION;
}

} // namespace

// ---- exported entry points -----------------------------------------------------------------

STANDIN_EXPORT int32_t getInferLibVersion() noexcept
{
    return libraryVersion();
}

STANDIN_EXPORT void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept
{
    int id = gNextId++;
    record("createInferRuntime_INTERNAL version=%d -> IRuntime#%d", version, id);
    auto typedLogger = static_cast<ILogger*>(logger);
    if (std::getenv("STANDIN_FAIL_RUNTIME") != nullptr)
    {
        // What the lean runtime does without a GPU: log, then return a small non-null pointer.
        say(typedLogger, ILogger::Severity::kERROR, "CUDA initialization failure with error: 35 (stand-in)");
        return reinterpret_cast<void*>(0x228);
    }
#if !STANDIN_RTX_OLD
    // Versioned interfaces: TensorRT asks the logger who it is (16-byte struct in RAX:RDX).
    if (typedLogger != nullptr)
    {
        InterfaceInfo info = typedLogger->getInterfaceInfo();
        record("ILogger::getInterfaceInfo -> %s %d.%d language=%d", text(info.kind).c_str(), info.major, info.minor,
            static_cast<int>(typedLogger->getAPILanguage()));
    }
#endif
    say(typedLogger, ILogger::Severity::kINFO, "stand-in runtime created (headers %d.%d.%d%s)", NV_TENSORRT_MAJOR,
        NV_TENSORRT_MINOR, NV_TENSORRT_PATCH, STANDIN_RTX ? " RTX" : "");
    auto impl = new StandInRuntime(typedLogger);
    auto wrapper = new RuntimeWrapper(impl, "IRuntime", id);
    impl->mWrapper = wrapper;
    return static_cast<IRuntime*>(wrapper);
}

// The calls this thread made since the last take, one per line (malloc'd; free with
// standin_free_calls).
STANDIN_EXPORT char* standin_take_calls()
{
    char* copy = strdup(tCalls.c_str());
    tCalls.clear();
    return copy;
}

STANDIN_EXPORT void standin_free_calls(char* calls)
{
    std::free(calls);
}
