//! The real backend: TensorRT through [`crate::ffi`] behind the backend traits.
//!
//! [`TensorRtPlatform`] pairs a loaded TensorRT library (and its `IRuntime`) with any
//! [`DeviceBackend`] the caller gives: on a GPU that is a CUDA device; in tests it is the host
//! simulation's device, whose addresses are real host addresses, which the ABI-exact stand-in
//! library computes on. Engines describe themselves once at load ([`EngineInfo`]); contexts
//! address tensors by index, so the hot path compares no strings.
//!
//! x86-64 Linux only (see [`crate::ffi`]).

use std::any::Any;
use std::ffi::CString;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{
    BackendKind, ContextBackend, ContextOptions, CudaGraphStrategy, DeviceBackend, DevicePtr,
    EngineBackend, KernelSpecialization, OutputAllocatorCallbacks, PlatformBackend,
    RuntimeCacheBackend, StreamBackend,
};
use crate::error::{Error, Result};
use crate::ffi::{
    Engine, ExecutionContext, OutputAllocatorHandler, Runtime, RuntimeCache, RuntimeConfig,
    TensorRtLibrary,
};
use crate::types::{EngineInfo, Flavor, Shape, TensorInfo, TensorIoMode};

/// `TensorFormat::kLINEAR`, the only I/O layout the session layer handles.
const LINEAR_FORMAT: i32 = 0;

/// TensorRT (any flavor) on one device.
pub struct TensorRtPlatform {
    library: Arc<TensorRtLibrary>,
    runtime: Runtime,
    device: Arc<dyn DeviceBackend>,
}

impl std::fmt::Debug for TensorRtPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorRtPlatform")
            .field("library", &self.library)
            .field("device", &self.device)
            .finish()
    }
}

impl TensorRtPlatform {
    /// Creates the runtime of `library` for `device`.
    pub fn new(
        library: Arc<TensorRtLibrary>,
        device: Arc<dyn DeviceBackend>,
    ) -> Result<Arc<TensorRtPlatform>> {
        let runtime = Runtime::new(&library)?;
        Ok(Arc::new(TensorRtPlatform {
            library,
            runtime,
            device,
        }))
    }

    /// Finds TensorRT the default way ([`TensorRtLibrary::discover`]) and creates its runtime.
    pub fn discover(device: Arc<dyn DeviceBackend>) -> Result<Arc<TensorRtPlatform>> {
        TensorRtPlatform::new(TensorRtLibrary::discover()?, device)
    }

    /// The loaded library.
    pub fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.library
    }

    /// The TensorRT runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

impl PlatformBackend for TensorRtPlatform {
    fn device(&self) -> &Arc<dyn DeviceBackend> {
        &self.device
    }

    fn flavor(&self) -> Flavor {
        self.library.flavor()
    }

    fn library_version(&self) -> u32 {
        self.library.version()
    }

    fn deserialize_engine(&self, plan: &[u8]) -> Result<Arc<dyn EngineBackend>> {
        let engine = self.runtime.deserialize_engine(plan)?;
        let (info, names) = describe(&engine)?;
        Ok(Arc::new(TensorRtEngine {
            shared: Arc::new(EngineShared {
                engine,
                info,
                names,
                device: self.device.clone(),
            }),
        }))
    }

    fn create_runtime_cache(&self) -> Result<Arc<dyn RuntimeCacheBackend>> {
        if self.library.flavor() != Flavor::Rtx {
            return Err(Error::NotInLibraryVersion {
                call: "IRuntimeConfig::createRuntimeCache",
                library: format!(
                    "{} {}",
                    self.library.flavor(),
                    self.library.version_string()
                ),
            });
        }
        // TensorRT-RTX creates caches from a runtime config, which needs an engine: the native
        // cache is made when the first context uses it (see `TensorRtRuntimeCache`).
        Ok(Arc::new(TensorRtRuntimeCache {
            state: Mutex::new(CacheState::Pending { blob: None }),
        }))
    }
}

/// Reads everything the session layer needs from the engine once, at load.
fn describe(engine: &Engine) -> Result<(EngineInfo, Vec<CString>)> {
    let count = engine.num_io_tensors()?;
    let num_profiles = engine.num_optimization_profiles()?;
    let mut tensors = Vec::with_capacity(count);
    let mut names = Vec::with_capacity(count);
    for index in 0..count {
        let name = engine.io_tensor_name(index)?;
        let text = name.to_string_lossy().into_owned();
        let mode = engine.tensor_io_mode(&name)?;
        let format = engine.tensor_format(&name)?;
        if format != LINEAR_FORMAT {
            return Err(Error::InvalidPlan {
                source_name: None,
                reason: format!(
                    "tensor `{text}` uses TensorFormat {format}; only the linear layout (kLINEAR) is supported"
                ),
            });
        }
        let profiles = if mode == TensorIoMode::Input {
            (0..num_profiles)
                .map(|profile| engine.profile_shapes(&name, profile))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        tensors.push(TensorInfo {
            name: text,
            mode,
            dtype: engine.tensor_data_type(&name)?,
            shape: engine.tensor_shape(&name)?,
            profiles,
        });
        names.push(name);
    }
    let name = engine.name()?;
    let info = EngineInfo {
        name: if name.is_empty() {
            "engine".to_owned()
        } else {
            name
        },
        tensors,
        num_profiles,
        device_memory_size: engine.device_memory_size()?,
        streamable_weights_size: engine.streamable_weights_size()?,
        weights_size: engine.total_weights_size()?.unwrap_or(0),
    };
    Ok((info, names))
}

/// What an engine and its contexts share.
struct EngineShared {
    engine: Engine,
    info: EngineInfo,
    /// Tensor names as C strings, by index in `info.tensors`.
    names: Vec<CString>,
    device: Arc<dyn DeviceBackend>,
}

impl EngineShared {
    fn name_of(&self, tensor: usize) -> Result<&CString> {
        self.names.get(tensor).ok_or_else(|| Error::UnknownTensor {
            tensor: format!("#{tensor}"),
            known: self.info.tensor_names(),
        })
    }
}

/// A deserialized engine (`ICudaEngine`).
pub struct TensorRtEngine {
    shared: Arc<EngineShared>,
}

impl TensorRtEngine {
    /// The FFI engine.
    pub fn ffi_engine(&self) -> &Engine {
        &self.shared.engine
    }
}

impl EngineBackend for TensorRtEngine {
    fn info(&self) -> &EngineInfo {
        &self.shared.info
    }

    fn create_context(&self, options: &ContextOptions) -> Result<Box<dyn ContextBackend>> {
        let engine = &self.shared.engine;
        let is_rtx = engine.library().flavor() == Flavor::Rtx;
        let rtx_settings = options.cuda_graph_strategy != CudaGraphStrategy::Disabled
            || options.kernel_specialization != KernelSpecialization::Lazy
            || options.runtime_cache.is_some();
        let context = if is_rtx && rtx_settings {
            let config = Arc::new(engine.create_runtime_config()?);
            config.set_allocation_strategy(options.allocation)?;
            config.set_kernel_specialization(options.kernel_specialization)?;
            config.set_cuda_graph_strategy(options.cuda_graph_strategy)?;
            if let Some(cache) = &options.runtime_cache {
                let cache = cache
                    .as_any()
                    .downcast_ref::<TensorRtRuntimeCache>()
                    .ok_or_else(|| {
                        Error::InvalidConfig(
                            "the runtime cache belongs to another backend than TensorRT".into(),
                        )
                    })?;
                config.set_runtime_cache(&cache.native_for(&config)?)?;
            }
            engine.create_execution_context_with_config(&config)?
        } else {
            if rtx_settings {
                log::warn!(
                    "engine `{}`: CUDA-graph strategy, kernel specialization and runtime caches are TensorRT-RTX \
                     settings; {} ignores them",
                    self.shared.info.name,
                    engine.library().flavor()
                );
            }
            engine.create_execution_context(options.allocation)?
        };
        Ok(Box::new(TensorRtContext {
            context: Mutex::new(context),
            shared: self.shared.clone(),
        }))
    }

    fn set_weight_streaming_budget(&self, bytes: usize) -> Result<()> {
        if self.shared.info.streamable_weights_size == 0 {
            return Err(Error::WeightStreamingUnsupported {
                engine: self.shared.info.name.clone(),
            });
        }
        self.shared.engine.set_weight_streaming_budget(bytes)
    }

    fn weight_streaming_budget(&self) -> Result<usize> {
        self.shared.engine.weight_streaming_budget()
    }

    fn weight_streaming_automatic_budget(&self) -> Result<usize> {
        self.shared.engine.weight_streaming_automatic_budget()
    }

    fn weight_streaming_scratch_memory_size(&self) -> Result<usize> {
        self.shared.engine.weight_streaming_scratch_memory_size()
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        self.shared.engine.serialize()
    }
}

/// An execution context. The FFI context is used by one thread at a time (the mutex); the
/// session layer holds it exclusively anyway, so the lock is never contended.
pub struct TensorRtContext {
    context: Mutex<ExecutionContext>,
    shared: Arc<EngineShared>,
}

impl ContextBackend for TensorRtContext {
    fn set_optimization_profile(
        &mut self,
        profile: usize,
        stream: &dyn StreamBackend,
    ) -> Result<()> {
        self.context
            .get_mut()
            .set_optimization_profile_async(profile, stream.raw_handle())
    }

    fn set_input_shape(&mut self, tensor: usize, shape: &Shape) -> Result<()> {
        let name = self.shared.name_of(tensor)?;
        self.context.get_mut().set_input_shape(name, shape)
    }

    fn tensor_shape(&self, tensor: usize) -> Result<Shape> {
        let name = self.shared.name_of(tensor)?;
        self.context.lock().tensor_shape(name)
    }

    fn max_output_size(&self, tensor: usize) -> Result<usize> {
        let name = self.shared.name_of(tensor)?;
        self.context.lock().max_output_size(name)
    }

    unsafe fn set_tensor_address(&mut self, tensor: usize, address: DevicePtr) -> Result<()> {
        let name = self.shared.name_of(tensor)?;
        self.context.get_mut().set_tensor_address(name, address.0)
    }

    fn set_output_allocator(
        &mut self,
        tensor: usize,
        allocator: Option<Arc<dyn OutputAllocatorCallbacks>>,
    ) -> Result<()> {
        let name = self.shared.name_of(tensor)?;
        let handler = allocator.map(|callbacks| {
            Arc::new(CallbacksAdapter { tensor, callbacks }) as Arc<dyn OutputAllocatorHandler>
        });
        self.context.get_mut().set_output_allocator(name, handler)
    }

    fn device_memory_size_for_shapes(&mut self) -> Result<usize> {
        self.context
            .get_mut()
            .update_device_memory_size_for_shapes()
    }

    unsafe fn set_device_memory(&mut self, address: DevicePtr, bytes: usize) -> Result<()> {
        self.context
            .get_mut()
            .set_device_memory_v2(address.0, bytes)
    }

    unsafe fn enqueue(&mut self, stream: &dyn StreamBackend) -> Result<()> {
        // On the host simulation a library computes at `enqueueV3` time on host memory; that
        // work cannot be recorded into a simulated graph, so capturing it would replay nothing.
        if self.shared.device.kind() == BackendKind::Simulation && stream.is_capturing() {
            return Err(Error::CaptureFailed {
                reason:
                    "TensorRT work on the host simulation cannot be captured into a simulated graph"
                        .into(),
            });
        }
        self.context.get_mut().enqueue_v3(stream.raw_handle())
    }
}

/// Forwards TensorRT's output-allocator callbacks to the session layer's callbacks, naming the
/// tensor by index.
struct CallbacksAdapter {
    tensor: usize,
    callbacks: Arc<dyn OutputAllocatorCallbacks>,
}

impl OutputAllocatorHandler for CallbacksAdapter {
    fn reallocate(
        &self,
        _tensor: &str,
        current: DevicePtr,
        bytes: u64,
        alignment: u64,
        _stream: u64,
    ) -> Option<DevicePtr> {
        let bytes = usize::try_from(bytes).ok()?;
        let alignment = usize::try_from(alignment).ok()?;
        self.callbacks
            .reallocate(self.tensor, current, bytes, alignment)
    }

    fn notify_shape(&self, _tensor: &str, shape: &Shape) {
        self.callbacks.notify_shape(self.tensor, shape);
    }
}

/// A TensorRT-RTX runtime cache. RTX makes caches from a runtime config, which only an engine
/// can create, while the session layer creates caches before any engine: until the first
/// context uses it, the cache keeps the blob it was given and serializes to that blob.
#[derive(Debug)]
pub struct TensorRtRuntimeCache {
    state: Mutex<CacheState>,
}

enum CacheState {
    /// No native cache yet: the blob to load into it when it is made.
    Pending { blob: Option<Vec<u8>> },
    /// The native `IRuntimeCache`.
    Native(RuntimeCache),
}

impl std::fmt::Debug for CacheState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheState::Pending { blob } => {
                write!(f, "Pending({} bytes)", blob.as_ref().map_or(0, Vec::len))
            }
            CacheState::Native(cache) => write!(f, "Native({cache:?})"),
        }
    }
}

impl TensorRtRuntimeCache {
    /// The native cache, made from `config` (and loaded with the pending blob) on first use.
    fn native_for(&self, config: &RuntimeConfig) -> Result<RuntimeCache> {
        let mut state = self.state.lock();
        let cache = match &*state {
            CacheState::Native(cache) => return Ok(cache.clone()),
            CacheState::Pending { blob } => {
                let cache = config.create_runtime_cache()?;
                if let Some(blob) = blob {
                    cache.deserialize(blob)?;
                }
                cache
            }
        };
        *state = CacheState::Native(cache.clone());
        Ok(cache)
    }
}

impl RuntimeCacheBackend for TensorRtRuntimeCache {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        match &*self.state.lock() {
            CacheState::Native(cache) => cache.serialize(),
            CacheState::Pending { blob } => Ok(blob.clone().unwrap_or_default()),
        }
    }

    fn deserialize(&self, blob: &[u8]) -> Result<()> {
        match &mut *self.state.lock() {
            CacheState::Native(cache) => cache.deserialize(blob),
            CacheState::Pending { blob: pending } => {
                *pending = Some(blob.to_vec());
                Ok(())
            }
        }
    }

    fn reset(&self) -> Result<()> {
        match &mut *self.state.lock() {
            CacheState::Native(cache) => cache.reset(),
            CacheState::Pending { blob } => {
                *blob = None;
                Ok(())
            }
        }
    }
}
