//! The one boundary between the session layer and the machine.
//!
//! Sessions, caches and guards only ever talk to these traits. Two implementations exist:
//! the host simulation ([`sim`]), and the real one (TensorRT through FFI, CUDA through
//! cudarc). Both are chosen at run time, so a binary falls back to the simulation when no
//! GPU or TensorRT is found, and core logic has no `cfg(test)` forks.
//!
//! Handles are plain numbers ([`DevicePtr`], [`StreamBackend::raw_handle`]) because that is
//! what TensorRT itself takes: `setTensorAddress(name, void*)`, `enqueueV3(cudaStream_t)`.
//! Ownership lives one level up, in RAII types such as [`crate::DeviceBuffer`].

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::error::Result;
use crate::types::{DeviceId, EngineInfo, Flavor, Shape};

pub mod cuda;
pub mod sim;
pub mod tensorrt;

/// An address in device memory (`CUdeviceptr`). In the simulation it is the real host address
/// of the simulated allocation, so an FFI stand-in library can compute on it directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevicePtr(pub u64);

impl DevicePtr {
    /// The null address.
    pub const NULL: DevicePtr = DevicePtr(0);

    /// This address plus `bytes` (saturating: never wraps around).
    pub fn offset(self, bytes: usize) -> DevicePtr {
        DevicePtr(self.0.saturating_add(bytes as u64))
    }
}

impl fmt::Display for DevicePtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Free and total device memory, as `cuMemGetInfo` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    /// Bytes free.
    pub free: usize,
    /// Device capacity in bytes.
    pub total: usize,
}

/// Which kind of machine a backend drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The built-in host simulation: no GPU, no TensorRT.
    Simulation,
    /// Real TensorRT and CUDA.
    Native,
}

/// A GPU (or the simulated one): memory, streams and synchronous copies.
pub trait DeviceBackend: Send + Sync + fmt::Debug {
    /// Device ordinal.
    fn id(&self) -> DeviceId;
    /// Human-readable device name ("NVIDIA H100 80GB HBM3", "host simulation").
    fn name(&self) -> String;
    /// Simulation or native.
    fn kind(&self) -> BackendKind;
    /// Allocates `bytes` of device memory, 256-byte aligned. Zero bytes yields a valid,
    /// unique, non-null address that must still be freed.
    fn allocate(&self, bytes: usize) -> Result<DevicePtr>;
    /// Frees an allocation made by [`DeviceBackend::allocate`] on this device.
    ///
    /// # Safety
    /// `ptr` came from `allocate` on this device, is freed exactly once, and no queued work
    /// still uses it. ([`crate::DeviceBuffer`] upholds this for you.)
    unsafe fn free(&self, ptr: DevicePtr);
    /// Free and total memory.
    fn memory_info(&self) -> Result<MemoryInfo>;
    /// Returns cached, unused memory to the driver (the equivalent of `empty_cache`).
    fn trim(&self) {}
    /// Makes this device's context current on the calling thread (safe mode calls it before
    /// each run; the simulation has nothing to bind).
    fn make_current(&self) -> Result<()> {
        Ok(())
    }
    /// Creates a non-default stream (the legacy default stream cannot be captured).
    fn create_stream(&self) -> Result<Box<dyn StreamBackend>>;
    /// Copies host bytes to device memory and returns when the copy is complete.
    ///
    /// # Safety
    /// `dst` is live device memory of this device holding at least `src.len()` bytes, not in
    /// use by queued work.
    unsafe fn copy_to_device_sync(&self, dst: DevicePtr, src: &[u8]) -> Result<()>;
    /// Copies device memory to host bytes and returns when the copy is complete.
    ///
    /// # Safety
    /// `src` is live device memory of this device holding at least `dst.len()` bytes.
    unsafe fn copy_to_host_sync(&self, dst: &mut [u8], src: DevicePtr) -> Result<()>;
}

/// A stream: ordered asynchronous work, and CUDA-graph capture.
pub trait StreamBackend: Send + Sync {
    /// For backends to recognise their own streams (the simulation's contexts record work on
    /// the simulated stream).
    fn as_any(&self) -> &dyn Any;
    /// The raw `cudaStream_t` handed to `enqueueV3` (an id in the simulation).
    fn raw_handle(&self) -> u64;
    /// Blocks until all queued work is done; reports an asynchronous failure of that work.
    fn synchronize(&self) -> Result<()>;
    /// Queues a host-to-device copy. `src` is fully read before this returns (staging), so it
    /// may be reused at once. Never called while capturing.
    ///
    /// # Safety
    /// `dst` is live device memory holding at least `src.len()` bytes and stays alive until
    /// the stream has done the copy.
    unsafe fn copy_to_device(&self, dst: DevicePtr, src: &[u8]) -> Result<()>;
    /// Queues a device-to-host copy and waits for it.
    ///
    /// # Safety
    /// `src` is live device memory holding at least `dst.len()` bytes.
    unsafe fn copy_to_host(&self, dst: &mut [u8], src: DevicePtr) -> Result<()>;
    /// Queues a device-to-device copy.
    ///
    /// # Safety
    /// Both ranges are live device memory of at least `bytes` and stay alive until the
    /// stream has done the copy.
    unsafe fn copy_device_to_device(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
    ) -> Result<()>;
    /// Starts capturing: work queued from now on is recorded, not run.
    fn begin_capture(&self) -> Result<()>;
    /// Ends the capture. Returns the instantiated graph, or [`crate::Error::CaptureFailed`]
    /// when something queued during the capture was not capturable. Either way the stream is
    /// no longer capturing afterwards.
    fn end_capture(&self) -> Result<Box<dyn GraphBackend>>;
    /// True while capturing.
    fn is_capturing(&self) -> bool;
}

/// An instantiated CUDA graph (`CUgraphExec`).
pub trait GraphBackend: Send + Sync {
    /// Queues a replay on `stream`: the recorded work at the recorded addresses and shapes.
    ///
    /// # Safety
    /// Every address the graph recorded (inputs, outputs, activation memory) is still live
    /// and stays alive until the replay has run.
    unsafe fn launch(&self, stream: &dyn StreamBackend) -> Result<()>;
    /// Uploads the graph to the device ahead of its first launch (optional optimisation).
    fn upload(&self, _stream: &dyn StreamBackend) -> Result<()> {
        Ok(())
    }
}

/// How an execution context gets its activation memory
/// (`nvinfer1::ExecutionContextAllocationStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum AllocationStrategy {
    /// TensorRT allocates the maximum for all profiles at creation (`kSTATIC`).
    #[default]
    Static = 0,
    /// TensorRT reallocates when the profile changes (`kON_PROFILE_CHANGE`).
    OnProfileChange = 1,
    /// The caller supplies memory with `setDeviceMemoryV2` (`kUSER_MANAGED`).
    UserManaged = 2,
}

/// TensorRT-RTX CUDA-graph strategy (`nvinfer1::CudaGraphStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum CudaGraphStrategy {
    /// No built-in graphs (`kDISABLED`).
    #[default]
    Disabled = 0,
    /// TensorRT-RTX captures the whole enqueue itself (`kWHOLE_GRAPH_CAPTURE`).
    WholeGraphCapture = 1,
}

/// TensorRT-RTX kernel specialization for dynamic shapes
/// (`nvinfer1::DynamicShapesKernelSpecializationStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum KernelSpecialization {
    /// Fallback kernel while the specialized one compiles (`kLAZY`).
    #[default]
    Lazy = 0,
    /// Compile the specialized kernel before use (`kEAGER`).
    Eager = 1,
    /// Never specialize (`kNONE`).
    None = 2,
}

/// What a new execution context is created with.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Activation-memory strategy.
    pub allocation: AllocationStrategy,
    /// RTX graph strategy (ignored, with a warning, on standard TensorRT).
    pub cuda_graph_strategy: CudaGraphStrategy,
    /// RTX dynamic-shape kernel specialization.
    pub kernel_specialization: KernelSpecialization,
    /// RTX runtime cache shared by the contexts that name it.
    pub runtime_cache: Option<Arc<dyn RuntimeCacheBackend>>,
}

/// Loads engines for one device: the TensorRT runtime (`IRuntime`) paired with a device.
pub trait PlatformBackend: Send + Sync {
    /// The device engines run on.
    fn device(&self) -> &Arc<dyn DeviceBackend>;
    /// Which TensorRT build this is.
    fn flavor(&self) -> Flavor;
    /// Library version as `getInferLibVersion()` reports it.
    fn library_version(&self) -> u32;
    /// Deserializes a plan (`IRuntime::deserializeCudaEngine`).
    fn deserialize_engine(&self, plan: &[u8]) -> Result<Arc<dyn EngineBackend>>;
    /// Creates an empty runtime cache (TensorRT-RTX; the simulation has one too).
    fn create_runtime_cache(&self) -> Result<Arc<dyn RuntimeCacheBackend>>;
}

/// A deserialized engine (`ICudaEngine`). Implementations keep whatever they need alive for
/// as long as any context created from them lives (contexts must be destroyed first).
pub trait EngineBackend: Send + Sync {
    /// I/O tensors, profiles and memory needs.
    fn info(&self) -> &EngineInfo;
    /// Creates an execution context (`createExecutionContext` or, with runtime settings,
    /// `createExecutionContextWithRuntimeConfig`).
    fn create_context(&self, options: &ContextOptions) -> Result<Box<dyn ContextBackend>>;
    /// `setWeightStreamingBudgetV2`: 0 streams everything; >= the streamable size disables it.
    /// TensorRT forbids this while any context of the engine is alive.
    fn set_weight_streaming_budget(&self, bytes: usize) -> Result<()>;
    /// `getWeightStreamingBudgetV2`.
    fn weight_streaming_budget(&self) -> Result<usize>;
    /// `getWeightStreamingAutomaticBudget`.
    fn weight_streaming_automatic_budget(&self) -> Result<usize>;
    /// `getWeightStreamingScratchMemorySize`.
    fn weight_streaming_scratch_memory_size(&self) -> Result<usize>;
    /// `serialize`: the plan bytes.
    fn serialize(&self) -> Result<Vec<u8>>;
}

/// An execution context (`IExecutionContext`). Tensors are named by their index in
/// [`EngineInfo::tensors`], so backends never look names up (the session matches a run's
/// input names against the engine's once per run, a handful of short string comparisons).
pub trait ContextBackend: Send + Sync {
    /// `setOptimizationProfileAsync`.
    fn set_optimization_profile(
        &mut self,
        profile: usize,
        stream: &dyn StreamBackend,
    ) -> Result<()>;
    /// `setInputShape`.
    fn set_input_shape(&mut self, tensor: usize, shape: &Shape) -> Result<()>;
    /// `getTensorShape`: for outputs, the shape implied by the current input shapes, with
    /// `-1` in data-dependent dimensions (after an enqueue: the actual shape).
    fn tensor_shape(&self, tensor: usize) -> Result<Shape>;
    /// `getMaxOutputSize`: upper bound in bytes of a data-dependent output.
    fn max_output_size(&self, tensor: usize) -> Result<usize>;
    /// `setTensorAddress`.
    ///
    /// # Safety
    /// Until the next enqueue has run, `address` is live device memory of the context's device
    /// large enough for the tensor (for a data-dependent output: `max_output_size` bytes).
    unsafe fn set_tensor_address(&mut self, tensor: usize, address: DevicePtr) -> Result<()>;
    /// `setOutputAllocator` for one output (`None` detaches).
    fn set_output_allocator(
        &mut self,
        tensor: usize,
        allocator: Option<Arc<dyn OutputAllocatorCallbacks>>,
    ) -> Result<()>;
    /// `updateDeviceMemorySizeForShapes`: activation bytes the current shapes need.
    fn device_memory_size_for_shapes(&mut self) -> Result<usize>;
    /// `setDeviceMemoryV2` (contexts created with [`AllocationStrategy::UserManaged`]).
    ///
    /// # Safety
    /// `address` is live device memory of at least `bytes`, alive for every later enqueue
    /// (and graph replay) of this context until other memory is set.
    unsafe fn set_device_memory(&mut self, address: DevicePtr, bytes: usize) -> Result<()>;
    /// `enqueueV3` on `stream`.
    ///
    /// # Safety
    /// Every address set on the context is live and large enough (see
    /// [`ContextBackend::set_tensor_address`]) and stays alive until the work has run.
    unsafe fn enqueue(&mut self, stream: &dyn StreamBackend) -> Result<()>;
}

/// Callbacks TensorRT makes into an output allocator (`IOutputAllocator`) during `enqueueV3`.
/// Implementations never panic: they run inside the native library.
pub trait OutputAllocatorCallbacks: Send + Sync {
    /// `reallocateOutputAsync`: return memory of at least `bytes` (the current memory when
    /// large enough), or `None` to fail the enqueue.
    fn reallocate(
        &self,
        tensor: usize,
        current: DevicePtr,
        bytes: usize,
        alignment: usize,
    ) -> Option<DevicePtr>;
    /// `notifyShape`: the final shape of the output.
    fn notify_shape(&self, tensor: usize, shape: &Shape);
}

/// A TensorRT-RTX runtime cache (`IRuntimeCache`): compiled kernels, serializable.
pub trait RuntimeCacheBackend: Send + Sync + fmt::Debug {
    /// For backends to recognise their own caches.
    fn as_any(&self) -> &dyn Any;
    /// `serialize`.
    fn serialize(&self) -> Result<Vec<u8>>;
    /// `deserialize`: loads a blob produced by [`RuntimeCacheBackend::serialize`].
    fn deserialize(&self, blob: &[u8]) -> Result<()>;
    /// `reset`: empties the cache.
    fn reset(&self) -> Result<()>;
}
