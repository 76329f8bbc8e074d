//! Runtime core of the `trt` crate.
//!
//! Layers, bottom up: `backend` (the machine boundary: host simulation, later TensorRT FFI
//! and CUDA), `engine`, `session` (typestate modes), `cache` (CUDA-graph LRU cache).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod backend;
pub mod cache;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod runtime_cache;
pub mod session;
pub mod tensor;
pub mod typed;
pub mod types;

pub use backend::{AllocationStrategy, BackendKind, DevicePtr, MemoryInfo};
pub use backend::{CudaGraphStrategy, KernelSpecialization};
pub use cache::{CacheMetrics, CaptureFailurePolicy, GraphCache, GraphCacheHandle, GraphKey};
pub use engine::{
    Engine, Runtime, RuntimeCacheSetting, RuntimeSettings, WeightStreamingBudget,
    WeightStreamingInfo, WeightStreamingScope,
};
pub use error::{Error, Result};
pub use runtime_cache::RuntimeCache;
pub use session::{
    enable_cudagraphs, enable_dynamic_allocation, enable_output_allocator, enable_rtx_cudagraphs,
    AcceptsCudaGraphs, AcceptsDynamicAllocation, AcceptsOutputAllocator, AcceptsWeightStreaming,
    BorrowedOutputs, CudaGraphs, CudaGraphsScope, DynamicAllocationScope, OutputAllocator,
    OutputAllocatorScope, OutputPolicy, Outputs, Owned, PreAllocated, RunOptions,
    RuntimeSettingsScope, Session, SessionBuilder, SessionMode, SettingsTarget, StagedRun,
    Standard, WeightStreaming,
};
pub use tensor::{
    DeviceBuffer, DeviceTensor, DeviceTensorView, Element, HostTensor, Input, TensorRef,
};
pub use types::{
    DataType, DeviceId, EngineInfo, Flavor, ProfileShapes, Shape, TensorInfo, TensorIoMode,
};
