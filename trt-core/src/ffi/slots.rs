//! Per-version vtable slot tables.
//!
//! TensorRT's public classes forward every method to a virtual call on an `apiv::V*`
//! implementation object. The slot of each method depends on the header family the library
//! was built from:
//!
//! * TensorRT 10.0-10.16 only append methods, so one table with "added in 10.x" gates serves
//!   the whole major version;
//! * TensorRT 11.0 removed deprecated methods, moving nearly every slot; 11.0-11.4 then append
//!   (none of the appended methods is used here);
//! * TensorRT-RTX 1.3/1.4 follow the 10.x layout, RTX 1.5+ the 11.x layout, with a few
//!   differences (`isStreamCapturable`, the runtime cache and the RTX strategies exist only in
//!   RTX; the output allocator has no deprecated `reallocateOutput` slot).
//!
//! The builder subset (`IBuilder`, `INetworkDefinition`, `IBuilderConfig`, `ITensor`, `ILayer`,
//! `IOptimizationProfile`; used by [`super::builder`]) follows the same split: the `VBuilder`
//! slots moved in 11.0 / RTX 1.5, the others did not, and `VBuilderConfig::addOptimizationProfile`
//! is 25 in TensorRT 10 but 23 in every RTX version and in TensorRT 11.
//!
//! `IGpuAllocator` (implemented in Rust by [`super::gpu_allocator`]) has one layout in every
//! family: `0 getAPILanguage, 1 getInterfaceInfo, 2-3 destructors, 4 allocate` (deprecated),
//! `5 reallocate, 6 deallocate` (deprecated), `7 allocateAsync, 8 deallocateAsync`.
//!
//! Every slot here is checked by the slot oracle (`tests/ffi_slot_oracle.rs`): a C++ program
//! generated from [`Method::ALL`] and compiled with g++ against NVIDIA's headers prints the
//! slot of each method through the Itanium pointer-to-member encoding, and the test fails on
//! any difference. The metadata ([`Method::cpp_class`], [`Method::cpp_return`]...) exists for
//! that generator: it states the exact C++ declaration each slot belongs to.
//!
//! Itanium C++ ABI (x86-64 Linux) only; Windows/MSVC lays vtables out differently and is out
//! of scope.

use crate::error::{Error, Result};
use crate::types::Flavor;

/// The header family a library was built from: it decides every slot number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderFamily {
    /// Standard TensorRT 10.x (the minor version gates methods added later).
    Trt10 {
        /// Minor version.
        minor: u32,
    },
    /// Standard TensorRT 11.x (lean and dispatch libraries included).
    Trt11 {
        /// Minor version.
        minor: u32,
    },
    /// TensorRT-RTX 1.3 and 1.4 (10.x-style layout, old `ILogger`).
    Rtx13,
    /// TensorRT-RTX 1.5 and later (11.x-style layout, versioned `ILogger`).
    Rtx15,
}

/// The supported library versions, as listed in [`Error::UnsupportedVersion`].
pub const SUPPORTED_VERSIONS: &str =
    "TensorRT 10.x and 11.x (standard, lean, dispatch), TensorRT-RTX 1.3 and later 1.x";

/// Newest minor versions whose headers were checked; later minors of a known major are
/// accepted (NVIDIA only appends within a major version) with a warning.
const NEWEST_CHECKED: [(HeaderFamilyKind, u32); 3] = [
    (HeaderFamilyKind::Trt10, 16),
    (HeaderFamilyKind::Trt11, 4),
    (HeaderFamilyKind::Rtx, 7),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderFamilyKind {
    Trt10,
    Trt11,
    Rtx,
}

impl HeaderFamily {
    /// Picks the family from `getInferLibVersion()`. RTX reports `major*10000+minor*100+patch`
    /// with major 1, so every RTX value is below 100000; standard TensorRT uses the same formula
    /// with major 10 or 11.
    pub fn from_version(version: u32) -> Result<HeaderFamily> {
        let (major, minor) = (version / 10000, (version / 100) % 100);
        let is_rtx = version < 100_000;
        let family = match (is_rtx, major, minor) {
            (true, 1, 3..=4) => HeaderFamily::Rtx13,
            (true, 1, 5..) => HeaderFamily::Rtx15,
            (false, 10, _) => HeaderFamily::Trt10 { minor },
            (false, 11, _) => HeaderFamily::Trt11 { minor },
            _ => {
                return Err(Error::UnsupportedVersion {
                    flavor: if is_rtx {
                        Flavor::Rtx
                    } else {
                        Flavor::Standard
                    },
                    version: format!("{major}.{minor}.{}", version % 100),
                    supported: SUPPORTED_VERSIONS,
                })
            }
        };
        let (kind, minor) = match family {
            HeaderFamily::Trt10 { minor } => (HeaderFamilyKind::Trt10, minor),
            HeaderFamily::Trt11 { minor } => (HeaderFamilyKind::Trt11, minor),
            HeaderFamily::Rtx13 | HeaderFamily::Rtx15 => (HeaderFamilyKind::Rtx, minor),
        };
        if let Some((_, newest)) = NEWEST_CHECKED.iter().find(|(k, _)| *k == kind) {
            if minor > *newest {
                log::warn!(
                    "TensorRT library version {major}.{minor} is newer than the newest checked \
                     headers ({major}.{newest}); assuming NVIDIA only appended methods"
                );
            }
        }
        Ok(family)
    }

    /// True for TensorRT-RTX.
    pub fn is_rtx(self) -> bool {
        matches!(self, HeaderFamily::Rtx13 | HeaderFamily::Rtx15)
    }

    /// Which `ILogger` vtable layout the library expects.
    pub fn logger_layout(self) -> LoggerLayout {
        match self {
            HeaderFamily::Trt10 { .. } | HeaderFamily::Rtx13 => LoggerLayout::Unversioned,
            HeaderFamily::Trt11 { .. } | HeaderFamily::Rtx15 => LoggerLayout::Versioned,
        }
    }

    /// Which `IOutputAllocator` vtable layout the library expects.
    pub fn output_allocator_layout(self) -> OutputAllocatorLayout {
        if self.is_rtx() {
            OutputAllocatorLayout::Rtx
        } else {
            OutputAllocatorLayout::Standard
        }
    }
}

/// The two `ILogger` layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoggerLayout {
    /// TensorRT 10 and RTX 1.3/1.4: `0 log, 1-2 destructors`.
    Unversioned,
    /// TensorRT 11 and RTX 1.5+ (derives `IVersionedInterface`): `0 getAPILanguage,
    /// 1 getInterfaceInfo, 2-3 destructors, 4 log`.
    Versioned,
}

/// The two `IOutputAllocator` layouts (both derive `IVersionedInterface`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputAllocatorLayout {
    /// Standard TensorRT 10.0-11.4: `4 reallocateOutput` (deprecated), `5 reallocateOutputAsync`,
    /// `6 notifyShape`.
    Standard,
    /// TensorRT-RTX: `4 reallocateOutputAsync`, `5 notifyShape`.
    Rtx,
}

macro_rules! methods {
    ($( $variant:ident => $public:literal $class:literal :: $name:literal, $ret:literal, $args:literal, $quals:literal; )*) => {
        /// A C++ virtual method called (or, for the callback interfaces, implemented) through a
        /// vtable slot.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)] // each variant is named after its C++ class and method
        pub enum Method {
            $( $variant, )*
        }

        impl Method {
            /// Every method, in declaration order.
            pub const ALL: &'static [Method] = &[ $( Method::$variant, )* ];

            /// The C++ class that declares the slot, namespace-qualified.
            pub const fn cpp_class(self) -> &'static str {
                match self { $( Method::$variant => $class, )* }
            }

            /// `Class::method` as the public API names it (`IExecutionContext::enqueueV3`), for
            /// error messages.
            pub const fn call_name(self) -> &'static str {
                match self { $( Method::$variant => concat!($public, "::", $name), )* }
            }

            /// The C++ method name.
            pub const fn cpp_name(self) -> &'static str {
                match self { $( Method::$variant => $name, )* }
            }

            /// The C++ return type.
            pub const fn cpp_return(self) -> &'static str {
                match self { $( Method::$variant => $ret, )* }
            }

            /// The C++ parameter list, parenthesised.
            pub const fn cpp_parameters(self) -> &'static str {
                match self { $( Method::$variant => $args, )* }
            }

            /// The C++ qualifiers (`const`, `noexcept`).
            pub const fn cpp_qualifiers(self) -> &'static str {
                match self { $( Method::$variant => $quals, )* }
            }
        }
    };
}

methods! {
    RuntimeDeserializeCudaEngine => "IRuntime" "nvinfer1::apiv::VRuntime"::"deserializeCudaEngine", "nvinfer1::ICudaEngine*", "(void const*, std::size_t)", "noexcept";
    RuntimeSetGpuAllocator => "IRuntime" "nvinfer1::apiv::VRuntime"::"setGpuAllocator", "void", "(nvinfer1::IGpuAllocator*)", "noexcept";
    RuntimeSetMaxThreads => "IRuntime" "nvinfer1::apiv::VRuntime"::"setMaxThreads", "bool", "(int32_t)", "noexcept";
    RuntimeGetMaxThreads => "IRuntime" "nvinfer1::apiv::VRuntime"::"getMaxThreads", "int32_t", "()", "const noexcept";

    EngineSerialize => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"serialize", "nvinfer1::IHostMemory*", "()", "const noexcept";
    EngineCreateExecutionContext => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"createExecutionContext", "nvinfer1::IExecutionContext*", "(nvinfer1::ExecutionContextAllocationStrategy)", "noexcept";
    EngineGetName => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getName", "char const*", "()", "const noexcept";
    EngineGetNbOptimizationProfiles => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getNbOptimizationProfiles", "int32_t", "()", "const noexcept";
    EngineGetTensorShape => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getTensorShape", "nvinfer1::Dims", "(char const*)", "const noexcept";
    EngineGetTensorDataType => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getTensorDataType", "nvinfer1::DataType", "(char const*)", "const noexcept";
    EngineGetTensorIoMode => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getTensorIOMode", "nvinfer1::TensorIOMode", "(char const*)", "const noexcept";
    EngineGetTensorFormat => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getTensorFormat", "nvinfer1::TensorFormat", "(char const*)", "const noexcept";
    EngineGetProfileShape => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getProfileShape", "nvinfer1::Dims", "(char const*, int32_t, nvinfer1::OptProfileSelector)", "const noexcept";
    EngineGetNbIoTensors => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getNbIOTensors", "int32_t", "()", "const noexcept";
    EngineGetIoTensorName => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getIOTensorName", "char const*", "(int32_t)", "const noexcept";
    EngineGetStreamableWeightsSize => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getStreamableWeightsSize", "int64_t", "()", "const noexcept";
    EngineSetWeightStreamingBudgetV2 => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"setWeightStreamingBudgetV2", "bool", "(int64_t)", "noexcept";
    EngineGetWeightStreamingBudgetV2 => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getWeightStreamingBudgetV2", "int64_t", "()", "const noexcept";
    EngineGetWeightStreamingAutomaticBudget => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getWeightStreamingAutomaticBudget", "int64_t", "()", "const noexcept";
    EngineGetWeightStreamingScratchMemorySize => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getWeightStreamingScratchMemorySize", "int64_t", "()", "const noexcept";
    EngineGetDeviceMemorySizeV2 => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getDeviceMemorySizeV2", "int64_t", "()", "const noexcept";
    EngineGetDeviceMemorySizeForProfileV2 => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getDeviceMemorySizeForProfileV2", "int64_t", "(int32_t)", "const noexcept";
    EngineCreateExecutionContextWithRuntimeConfig => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"createExecutionContextWithRuntimeConfig", "nvinfer1::IExecutionContext*", "(nvinfer1::IRuntimeConfig*)", "noexcept";
    EngineCreateRuntimeConfig => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"createRuntimeConfig", "nvinfer1::IRuntimeConfig*", "()", "noexcept";
    EngineGetEngineStat => "ICudaEngine" "nvinfer1::apiv::VCudaEngine"::"getEngineStat", "int64_t", "(nvinfer1::EngineStat)", "const noexcept";

    ContextSetOptimizationProfileAsync => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setOptimizationProfileAsync", "bool", "(int32_t, cudaStream_t)", "noexcept";
    ContextGetOptimizationProfile => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"getOptimizationProfile", "int32_t", "()", "const noexcept";
    ContextSetInputShape => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setInputShape", "bool", "(char const*, nvinfer1::Dims const&)", "noexcept";
    ContextGetTensorShape => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"getTensorShape", "nvinfer1::Dims", "(char const*)", "const noexcept";
    ContextSetTensorAddress => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setTensorAddress", "bool", "(char const*, void*)", "noexcept";
    ContextSetOutputAllocator => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setOutputAllocator", "bool", "(char const*, nvinfer1::IOutputAllocator*)", "noexcept";
    ContextGetMaxOutputSize => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"getMaxOutputSize", "int64_t", "(char const*)", "const noexcept";
    ContextEnqueueV3 => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"enqueueV3", "bool", "(cudaStream_t)", "noexcept";
    ContextSetPersistentCacheLimit => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setPersistentCacheLimit", "void", "(size_t)", "noexcept";
    ContextGetPersistentCacheLimit => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"getPersistentCacheLimit", "size_t", "()", "const noexcept";
    ContextUpdateDeviceMemorySizeForShapes => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"updateDeviceMemorySizeForShapes", "size_t", "()", "noexcept";
    ContextSetDeviceMemoryV2 => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"setDeviceMemoryV2", "void", "(void*, int64_t)", "noexcept";
    ContextIsStreamCapturable => "IExecutionContext" "nvinfer1::apiv::VExecutionContext"::"isStreamCapturable", "bool", "(cudaStream_t)", "const noexcept";

    ConfigSetAllocationStrategy => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"setExecutionContextAllocationStrategy", "void", "(nvinfer1::ExecutionContextAllocationStrategy)", "noexcept";
    ConfigGetAllocationStrategy => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"getExecutionContextAllocationStrategy", "nvinfer1::ExecutionContextAllocationStrategy", "()", "const noexcept";
    ConfigCreateRuntimeCache => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"createRuntimeCache", "nvinfer1::IRuntimeCache*", "()", "const noexcept";
    ConfigSetRuntimeCache => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"setRuntimeCache", "bool", "(nvinfer1::IRuntimeCache const&)", "noexcept";
    ConfigGetRuntimeCache => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"getRuntimeCache", "nvinfer1::IRuntimeCache*", "()", "const noexcept";
    ConfigSetKernelSpecialization => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"setDynamicShapesKernelSpecializationStrategy", "void", "(nvinfer1::DynamicShapesKernelSpecializationStrategy)", "noexcept";
    ConfigGetKernelSpecialization => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"getDynamicShapesKernelSpecializationStrategy", "nvinfer1::DynamicShapesKernelSpecializationStrategy", "()", "const noexcept";
    ConfigSetCudaGraphStrategy => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"setCudaGraphStrategy", "bool", "(nvinfer1::CudaGraphStrategy)", "noexcept";
    ConfigGetCudaGraphStrategy => "IRuntimeConfig" "nvinfer1::apiv::VRuntimeConfig"::"getCudaGraphStrategy", "nvinfer1::CudaGraphStrategy", "()", "const noexcept";

    CacheSerialize => "IRuntimeCache" "nvinfer1::apiv::VRuntimeCache"::"serialize", "nvinfer1::IHostMemory*", "()", "const noexcept";
    CacheDeserialize => "IRuntimeCache" "nvinfer1::apiv::VRuntimeCache"::"deserialize", "bool", "(void const*, size_t)", "noexcept";
    CacheReset => "IRuntimeCache" "nvinfer1::apiv::VRuntimeCache"::"reset", "bool", "()", "noexcept";

    HostMemoryData => "IHostMemory" "nvinfer1::apiv::VHostMemory"::"data", "void*", "()", "const noexcept";
    HostMemorySize => "IHostMemory" "nvinfer1::apiv::VHostMemory"::"size", "std::size_t", "()", "const noexcept";
    HostMemoryType => "IHostMemory" "nvinfer1::apiv::VHostMemory"::"type", "nvinfer1::DataType", "()", "const noexcept";

    BuilderCreateBuilderConfig => "IBuilder" "nvinfer1::apiv::VBuilder"::"createBuilderConfig", "nvinfer1::IBuilderConfig*", "()", "noexcept";
    BuilderCreateNetworkV2 => "IBuilder" "nvinfer1::apiv::VBuilder"::"createNetworkV2", "nvinfer1::INetworkDefinition*", "(nvinfer1::NetworkDefinitionCreationFlags)", "noexcept";
    BuilderCreateOptimizationProfile => "IBuilder" "nvinfer1::apiv::VBuilder"::"createOptimizationProfile", "nvinfer1::IOptimizationProfile*", "()", "noexcept";
    BuilderBuildSerializedNetwork => "IBuilder" "nvinfer1::apiv::VBuilder"::"buildSerializedNetwork", "nvinfer1::IHostMemory*", "(nvinfer1::INetworkDefinition&, nvinfer1::IBuilderConfig&)", "noexcept";

    NetworkAddInput => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"addInput", "nvinfer1::ITensor*", "(char const*, nvinfer1::DataType, nvinfer1::Dims const&)", "noexcept";
    NetworkMarkOutput => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"markOutput", "void", "(nvinfer1::ITensor&)", "noexcept";
    NetworkAddActivation => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"addActivation", "nvinfer1::IActivationLayer*", "(nvinfer1::ITensor&, nvinfer1::ActivationType)", "noexcept";
    NetworkGetNbLayers => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"getNbLayers", "int32_t", "()", "const noexcept";
    NetworkGetNbInputs => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"getNbInputs", "int32_t", "()", "const noexcept";
    NetworkGetNbOutputs => "INetworkDefinition" "nvinfer1::apiv::VNetworkDefinition"::"getNbOutputs", "int32_t", "()", "const noexcept";

    LayerGetOutput => "ILayer" "nvinfer1::apiv::VLayer"::"getOutput", "nvinfer1::ITensor*", "(int32_t)", "const noexcept";

    TensorSetName => "ITensor" "nvinfer1::apiv::VTensor"::"setName", "void", "(char const*)", "noexcept";
    TensorGetName => "ITensor" "nvinfer1::apiv::VTensor"::"getName", "char const*", "()", "const noexcept";
    TensorGetDimensions => "ITensor" "nvinfer1::apiv::VTensor"::"getDimensions", "nvinfer1::Dims", "()", "const noexcept";

    BuilderConfigAddOptimizationProfile => "IBuilderConfig" "nvinfer1::apiv::VBuilderConfig"::"addOptimizationProfile", "int32_t", "(nvinfer1::IOptimizationProfile const*)", "noexcept";

    ProfileSetDimensions => "IOptimizationProfile" "nvinfer1::apiv::VOptimizationProfile"::"setDimensions", "bool", "(char const*, nvinfer1::OptProfileSelector, nvinfer1::Dims const&)", "noexcept";
    ProfileGetDimensions => "IOptimizationProfile" "nvinfer1::apiv::VOptimizationProfile"::"getDimensions", "nvinfer1::Dims", "(char const*, nvinfer1::OptProfileSelector)", "const noexcept";

    LoggerGetApiLanguage => "ILogger" "nvinfer1::ILogger"::"getAPILanguage", "nvinfer1::APILanguage", "()", "const noexcept";
    LoggerGetInterfaceInfo => "ILogger" "nvinfer1::ILogger"::"getInterfaceInfo", "nvinfer1::InterfaceInfo", "()", "const noexcept";
    LoggerLog => "ILogger" "nvinfer1::ILogger"::"log", "void", "(nvinfer1::ILogger::Severity, char const*)", "noexcept";

    OutputAllocatorGetApiLanguage => "IOutputAllocator" "nvinfer1::IOutputAllocator"::"getAPILanguage", "nvinfer1::APILanguage", "()", "const noexcept";
    OutputAllocatorGetInterfaceInfo => "IOutputAllocator" "nvinfer1::IOutputAllocator"::"getInterfaceInfo", "nvinfer1::InterfaceInfo", "()", "const noexcept";
    OutputAllocatorReallocateOutput => "IOutputAllocator" "nvinfer1::IOutputAllocator"::"reallocateOutput", "void*", "(char const*, void*, uint64_t, uint64_t)", "noexcept";
    OutputAllocatorReallocateOutputAsync => "IOutputAllocator" "nvinfer1::IOutputAllocator"::"reallocateOutputAsync", "void*", "(char const*, void*, uint64_t, uint64_t, cudaStream_t)", "";
    OutputAllocatorNotifyShape => "IOutputAllocator" "nvinfer1::IOutputAllocator"::"notifyShape", "void", "(char const*, nvinfer1::Dims const&)", "noexcept";

    GpuAllocatorGetApiLanguage => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"getAPILanguage", "nvinfer1::APILanguage", "()", "const noexcept";
    GpuAllocatorGetInterfaceInfo => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"getInterfaceInfo", "nvinfer1::InterfaceInfo", "()", "const noexcept";
    GpuAllocatorAllocate => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"allocate", "void*", "(uint64_t, uint64_t, nvinfer1::AllocatorFlags)", "noexcept";
    GpuAllocatorReallocate => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"reallocate", "void*", "(void*, uint64_t, uint64_t)", "noexcept";
    GpuAllocatorDeallocate => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"deallocate", "bool", "(void*)", "noexcept";
    GpuAllocatorAllocateAsync => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"allocateAsync", "void*", "(uint64_t, uint64_t, nvinfer1::AllocatorFlags, cudaStream_t)", "noexcept";
    GpuAllocatorDeallocateAsync => "IGpuAllocator" "nvinfer1::IGpuAllocator"::"deallocateAsync", "bool", "(void*, cudaStream_t)", "noexcept";
}

/// The slot numbers of one library, chosen at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotTable {
    family: HeaderFamily,
}

impl SlotTable {
    /// The table for a library that reported `version` from `getInferLibVersion()`.
    pub fn for_version(version: u32) -> Result<SlotTable> {
        Ok(SlotTable {
            family: HeaderFamily::from_version(version)?,
        })
    }

    /// The table of a header family.
    pub fn for_family(family: HeaderFamily) -> SlotTable {
        SlotTable { family }
    }

    /// The header family.
    pub fn family(&self) -> HeaderFamily {
        self.family
    }

    /// The vtable slot of `method`, or `None` when this library version lacks it.
    pub fn slot(&self, method: Method) -> Option<u16> {
        match self.family {
            HeaderFamily::Trt10 { minor } => trt10_slot(minor, method),
            HeaderFamily::Trt11 { .. } => trt11_slot(method),
            HeaderFamily::Rtx13 => rtx13_slot(method),
            HeaderFamily::Rtx15 => rtx15_slot(method),
        }
    }
}

/// TensorRT 10.x: `(slot, added in minor)`.
fn trt10_slot(minor: u32, method: Method) -> Option<u16> {
    use Method::*;
    let (slot, since) = match method {
        RuntimeDeserializeCudaEngine => (3, 0),
        RuntimeSetGpuAllocator => (8, 0),
        RuntimeSetMaxThreads => (12, 0),
        RuntimeGetMaxThreads => (13, 0),
        EngineSerialize => (4, 0),
        EngineCreateExecutionContext => (5, 0),
        EngineGetName => (9, 0),
        EngineGetNbOptimizationProfiles => (10, 0),
        EngineGetTensorShape => (19, 0),
        EngineGetTensorDataType => (20, 0),
        EngineGetTensorIoMode => (23, 0),
        EngineGetTensorFormat => (26, 0),
        EngineGetProfileShape => (29, 0),
        EngineGetNbIoTensors => (30, 0),
        EngineGetIoTensorName => (31, 0),
        EngineGetStreamableWeightsSize => (46, 0),
        EngineSetWeightStreamingBudgetV2 => (48, 1),
        EngineGetWeightStreamingBudgetV2 => (49, 1),
        EngineGetWeightStreamingAutomaticBudget => (50, 1),
        EngineGetWeightStreamingScratchMemorySize => (51, 1),
        EngineGetDeviceMemorySizeV2 => (52, 1),
        EngineGetDeviceMemorySizeForProfileV2 => (53, 1),
        EngineCreateExecutionContextWithRuntimeConfig => (55, 11),
        EngineCreateRuntimeConfig => (56, 11),
        EngineGetEngineStat => (57, 14),
        ContextSetOptimizationProfileAsync => (17, 0),
        ContextGetOptimizationProfile => (11, 0),
        ContextSetInputShape => (21, 0),
        ContextGetTensorShape => (22, 0),
        ContextSetTensorAddress => (24, 0),
        ContextSetOutputAllocator => (32, 0),
        ContextGetMaxOutputSize => (34, 0),
        ContextEnqueueV3 => (37, 0),
        ContextSetPersistentCacheLimit => (38, 0),
        ContextGetPersistentCacheLimit => (39, 0),
        ContextUpdateDeviceMemorySizeForShapes => (48, 0),
        ContextSetDeviceMemoryV2 => (49, 1),
        ContextIsStreamCapturable => return None,
        ConfigSetAllocationStrategy => (3, 11),
        ConfigGetAllocationStrategy => (4, 11),
        ConfigCreateRuntimeCache
        | ConfigSetRuntimeCache
        | ConfigGetRuntimeCache
        | ConfigSetKernelSpecialization
        | ConfigGetKernelSpecialization
        | ConfigSetCudaGraphStrategy
        | ConfigGetCudaGraphStrategy
        | CacheSerialize
        | CacheDeserialize
        | CacheReset => return None,
        HostMemoryData => (2, 0),
        HostMemorySize => (3, 0),
        HostMemoryType => (4, 0),
        LoggerGetApiLanguage | LoggerGetInterfaceInfo => return None,
        LoggerLog => (0, 0),
        OutputAllocatorGetApiLanguage => (0, 0),
        OutputAllocatorGetInterfaceInfo => (1, 0),
        OutputAllocatorReallocateOutput => (4, 0),
        OutputAllocatorReallocateOutputAsync => (5, 0),
        OutputAllocatorNotifyShape => (6, 0),
        GpuAllocatorGetApiLanguage => (0, 0),
        GpuAllocatorGetInterfaceInfo => (1, 0),
        GpuAllocatorAllocate => (4, 0),
        GpuAllocatorReallocate => (5, 0),
        GpuAllocatorDeallocate => (6, 0),
        GpuAllocatorAllocateAsync => (7, 0),
        GpuAllocatorDeallocateAsync => (8, 0),
        BuilderCreateBuilderConfig => (7, 0),
        BuilderCreateNetworkV2 => (8, 0),
        BuilderCreateOptimizationProfile => (9, 0),
        BuilderBuildSerializedNetwork => (14, 0),
        NetworkAddInput => (2, 0),
        NetworkMarkOutput => (3, 0),
        NetworkAddActivation => (4, 0),
        NetworkGetNbLayers => (12, 0),
        NetworkGetNbInputs => (14, 0),
        NetworkGetNbOutputs => (16, 0),
        LayerGetOutput => (8, 0),
        TensorSetName => (2, 0),
        TensorGetName => (3, 0),
        TensorGetDimensions => (5, 0),
        ProfileSetDimensions => (2, 0),
        ProfileGetDimensions => (3, 0),
        BuilderConfigAddOptimizationProfile => (25, 0),
    };
    (minor >= since).then_some(slot)
}

/// TensorRT 11.0-11.4 (and lean/dispatch 11.x).
fn trt11_slot(method: Method) -> Option<u16> {
    use Method::*;
    Some(match method {
        RuntimeDeserializeCudaEngine => 3,
        RuntimeSetGpuAllocator => 7,
        RuntimeSetMaxThreads => 11,
        RuntimeGetMaxThreads => 12,
        EngineSerialize => 4,
        EngineCreateExecutionContext => 5,
        EngineGetName => 7,
        EngineGetNbOptimizationProfiles => 8,
        EngineGetTensorShape => 15,
        EngineGetTensorDataType => 16,
        EngineGetTensorIoMode => 19,
        EngineGetTensorFormat => 22,
        EngineGetProfileShape => 25,
        EngineGetNbIoTensors => 26,
        EngineGetIoTensorName => 27,
        EngineGetStreamableWeightsSize => 38,
        EngineSetWeightStreamingBudgetV2 => 40,
        EngineGetWeightStreamingBudgetV2 => 41,
        EngineGetWeightStreamingAutomaticBudget => 42,
        EngineGetWeightStreamingScratchMemorySize => 43,
        EngineGetDeviceMemorySizeV2 => 44,
        EngineGetDeviceMemorySizeForProfileV2 => 45,
        EngineCreateExecutionContextWithRuntimeConfig => 47,
        EngineCreateRuntimeConfig => 48,
        EngineGetEngineStat => 49,
        ContextSetOptimizationProfileAsync => 16,
        ContextGetOptimizationProfile => 11,
        ContextSetInputShape => 20,
        ContextGetTensorShape => 21,
        ContextSetTensorAddress => 23,
        ContextSetOutputAllocator => 31,
        ContextGetMaxOutputSize => 33,
        ContextEnqueueV3 => 36,
        ContextSetPersistentCacheLimit => 37,
        ContextGetPersistentCacheLimit => 38,
        ContextUpdateDeviceMemorySizeForShapes => 47,
        ContextSetDeviceMemoryV2 => 48,
        ContextIsStreamCapturable => return None,
        ConfigSetAllocationStrategy => 3,
        ConfigGetAllocationStrategy => 4,
        ConfigCreateRuntimeCache
        | ConfigSetRuntimeCache
        | ConfigGetRuntimeCache
        | ConfigSetKernelSpecialization
        | ConfigGetKernelSpecialization
        | ConfigSetCudaGraphStrategy
        | ConfigGetCudaGraphStrategy
        | CacheSerialize
        | CacheDeserialize
        | CacheReset => return None,
        HostMemoryData => 2,
        HostMemorySize => 3,
        HostMemoryType => 4,
        LoggerGetApiLanguage => 0,
        LoggerGetInterfaceInfo => 1,
        LoggerLog => 4,
        OutputAllocatorGetApiLanguage => 0,
        OutputAllocatorGetInterfaceInfo => 1,
        OutputAllocatorReallocateOutput => 4,
        OutputAllocatorReallocateOutputAsync => 5,
        OutputAllocatorNotifyShape => 6,
        GpuAllocatorGetApiLanguage => 0,
        GpuAllocatorGetInterfaceInfo => 1,
        GpuAllocatorAllocate => 4,
        GpuAllocatorReallocate => 5,
        GpuAllocatorDeallocate => 6,
        GpuAllocatorAllocateAsync => 7,
        GpuAllocatorDeallocateAsync => 8,
        BuilderCreateBuilderConfig => 5,
        BuilderCreateNetworkV2 => 6,
        BuilderCreateOptimizationProfile => 7,
        BuilderBuildSerializedNetwork => 11,
        NetworkAddInput => 2,
        NetworkMarkOutput => 3,
        NetworkAddActivation => 4,
        NetworkGetNbLayers => 12,
        NetworkGetNbInputs => 14,
        NetworkGetNbOutputs => 16,
        LayerGetOutput => 8,
        TensorSetName => 2,
        TensorGetName => 3,
        TensorGetDimensions => 5,
        ProfileSetDimensions => 2,
        ProfileGetDimensions => 3,
        BuilderConfigAddOptimizationProfile => 23,
    })
}

/// TensorRT-RTX 1.3 and 1.4 (TensorRT 10.x-style layout).
fn rtx13_slot(method: Method) -> Option<u16> {
    use Method::*;
    Some(match method {
        RuntimeDeserializeCudaEngine => 3,
        RuntimeSetGpuAllocator => 8,
        RuntimeSetMaxThreads => 12,
        RuntimeGetMaxThreads => 13,
        EngineSerialize => 4,
        EngineCreateExecutionContext => 5,
        EngineGetName => 7,
        EngineGetNbOptimizationProfiles => 8,
        EngineGetTensorShape => 17,
        EngineGetTensorDataType => 18,
        EngineGetTensorIoMode => 21,
        EngineGetTensorFormat => 24,
        EngineGetProfileShape => 27,
        EngineGetNbIoTensors => 28,
        EngineGetIoTensorName => 29,
        EngineGetStreamableWeightsSize => 44,
        EngineSetWeightStreamingBudgetV2 => 46,
        EngineGetWeightStreamingBudgetV2 => 47,
        EngineGetWeightStreamingAutomaticBudget => 48,
        EngineGetWeightStreamingScratchMemorySize => 49,
        EngineGetDeviceMemorySizeV2 => 50,
        EngineGetDeviceMemorySizeForProfileV2 => 51,
        EngineCreateExecutionContextWithRuntimeConfig => 53,
        EngineCreateRuntimeConfig => 54,
        EngineGetEngineStat => 55,
        ContextSetOptimizationProfileAsync => 17,
        ContextGetOptimizationProfile => 11,
        ContextSetInputShape => 21,
        ContextGetTensorShape => 22,
        ContextSetTensorAddress => 24,
        ContextSetOutputAllocator => 32,
        ContextGetMaxOutputSize => 34,
        ContextEnqueueV3 => 37,
        ContextSetPersistentCacheLimit => 38,
        ContextGetPersistentCacheLimit => 39,
        ContextUpdateDeviceMemorySizeForShapes => 48,
        ContextSetDeviceMemoryV2 => 49,
        ContextIsStreamCapturable => return None,
        ConfigSetAllocationStrategy => 3,
        ConfigGetAllocationStrategy => 4,
        ConfigCreateRuntimeCache => 5,
        ConfigSetRuntimeCache => 6,
        ConfigGetRuntimeCache => 7,
        ConfigSetKernelSpecialization => 8,
        ConfigGetKernelSpecialization => 9,
        ConfigSetCudaGraphStrategy => 10,
        ConfigGetCudaGraphStrategy => 11,
        CacheSerialize => 2,
        CacheDeserialize => 3,
        CacheReset => 4,
        HostMemoryData => 2,
        HostMemorySize => 3,
        HostMemoryType => 4,
        LoggerGetApiLanguage | LoggerGetInterfaceInfo => return None,
        LoggerLog => 0,
        OutputAllocatorGetApiLanguage => 0,
        OutputAllocatorGetInterfaceInfo => 1,
        OutputAllocatorReallocateOutput => return None,
        OutputAllocatorReallocateOutputAsync => 4,
        OutputAllocatorNotifyShape => 5,
        GpuAllocatorGetApiLanguage => 0,
        GpuAllocatorGetInterfaceInfo => 1,
        GpuAllocatorAllocate => 4,
        GpuAllocatorReallocate => 5,
        GpuAllocatorDeallocate => 6,
        GpuAllocatorAllocateAsync => 7,
        GpuAllocatorDeallocateAsync => 8,
        BuilderCreateBuilderConfig => 7,
        BuilderCreateNetworkV2 => 8,
        BuilderCreateOptimizationProfile => 9,
        BuilderBuildSerializedNetwork => 14,
        NetworkAddInput => 2,
        NetworkMarkOutput => 3,
        NetworkAddActivation => 4,
        NetworkGetNbLayers => 12,
        NetworkGetNbInputs => 14,
        NetworkGetNbOutputs => 16,
        LayerGetOutput => 8,
        TensorSetName => 2,
        TensorGetName => 3,
        TensorGetDimensions => 5,
        ProfileSetDimensions => 2,
        ProfileGetDimensions => 3,
        BuilderConfigAddOptimizationProfile => 23,
    })
}

/// TensorRT-RTX 1.5 and later (TensorRT 11.x-style layout).
fn rtx15_slot(method: Method) -> Option<u16> {
    use Method::*;
    Some(match method {
        ContextIsStreamCapturable => 52,
        ConfigCreateRuntimeCache => 5,
        ConfigSetRuntimeCache => 6,
        ConfigGetRuntimeCache => 7,
        ConfigSetKernelSpecialization => 8,
        ConfigGetKernelSpecialization => 9,
        ConfigSetCudaGraphStrategy => 10,
        ConfigGetCudaGraphStrategy => 11,
        CacheSerialize => 2,
        CacheDeserialize => 3,
        CacheReset => 4,
        OutputAllocatorReallocateOutput => return None,
        OutputAllocatorReallocateOutputAsync => 4,
        OutputAllocatorNotifyShape => 5,
        // Everything else sits where TensorRT 11 has it.
        other => return trt11_slot(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pick_families_and_unknown_majors_are_refused() {
        assert_eq!(
            HeaderFamily::from_version(10701).unwrap(),
            HeaderFamily::Rtx15
        );
        assert_eq!(
            HeaderFamily::from_version(10400).unwrap(),
            HeaderFamily::Rtx13
        );
        assert_eq!(
            HeaderFamily::from_version(110400).unwrap(),
            HeaderFamily::Trt11 { minor: 4 }
        );
        assert_eq!(
            HeaderFamily::from_version(101601).unwrap(),
            HeaderFamily::Trt10 { minor: 16 }
        );
        for unknown in [90000, 120000, 80601, 10200, 20000] {
            let error = HeaderFamily::from_version(unknown).unwrap_err();
            let text = error.to_string();
            assert!(text.contains(SUPPORTED_VERSIONS), "{text}");
        }
    }

    #[test]
    fn layouts_follow_the_family() {
        assert_eq!(
            HeaderFamily::Rtx13.logger_layout(),
            LoggerLayout::Unversioned
        );
        assert_eq!(HeaderFamily::Rtx15.logger_layout(), LoggerLayout::Versioned);
        assert_eq!(
            HeaderFamily::Trt10 { minor: 8 }.logger_layout(),
            LoggerLayout::Unversioned
        );
        assert_eq!(
            HeaderFamily::Trt11 { minor: 0 }.output_allocator_layout(),
            OutputAllocatorLayout::Standard
        );
        assert_eq!(
            HeaderFamily::Rtx15.output_allocator_layout(),
            OutputAllocatorLayout::Rtx
        );
    }
}
