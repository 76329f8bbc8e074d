//! The entry points: [`Runtime`] (which machine) and [`Engine`] (a deserialized plan).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::backend::cuda::CudaDevice;
use crate::backend::sim::{SimConfig, SimPlatform};
use crate::backend::tensorrt::TensorRtPlatform;
use crate::backend::{
    AllocationStrategy, BackendKind, ContextOptions, CudaGraphStrategy, DeviceBackend,
    EngineBackend, KernelSpecialization, PlatformBackend,
};
use crate::error::{Error, Result};
use crate::runtime_cache::RuntimeCache;
use crate::session::{Owned, SessionBuilder, Standard};
use crate::types::{EngineInfo, Flavor};

/// Loads engines onto one device: real TensorRT and CUDA, or the built-in host simulation.
///
/// ```
/// use trt_core::Runtime;
/// let runtime = Runtime::auto();
/// if let Some(reason) = runtime.fallback_reason() {
///     println!("running on the host simulation: {reason}");
/// }
/// ```
#[derive(Clone)]
pub struct Runtime {
    platform: Arc<dyn PlatformBackend>,
    fallback_reason: Option<String>,
}

impl Runtime {
    /// Real TensorRT and CUDA when both are found; otherwise the host simulation, with
    /// [`Runtime::fallback_reason`] saying why.
    pub fn auto() -> Runtime {
        match native_platform(0) {
            Ok(platform) => Runtime::with_platform(platform),
            Err(error) => Runtime {
                platform: SimPlatform::new(SimConfig::default()),
                fallback_reason: Some(error.to_string()),
            },
        }
    }

    /// Real TensorRT and CUDA on device `ordinal` (one runtime per GPU: sessions of engines
    /// loaded through it run there). A typed error when the driver, the device or TensorRT is
    /// missing.
    ///
    /// ```no_run
    /// use trt_core::Runtime;
    /// let (gpu0, gpu1) = (Runtime::native(0)?, Runtime::native(1)?);
    /// # Ok::<(), trt_core::Error>(())
    /// ```
    pub fn native(ordinal: usize) -> Result<Runtime> {
        native_platform(ordinal).map(Runtime::with_platform)
    }

    /// The host simulation with default settings (4 GiB of simulated device memory).
    pub fn simulated() -> Runtime {
        Runtime::with_platform(SimPlatform::new(SimConfig::default()))
    }

    /// A runtime over any backend platform.
    pub fn with_platform(platform: Arc<dyn PlatformBackend>) -> Runtime {
        Runtime {
            platform,
            fallback_reason: None,
        }
    }

    /// Why [`Runtime::auto`] fell back to the simulation, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// True on the host simulation.
    pub fn is_simulated(&self) -> bool {
        self.platform.device().kind() == BackendKind::Simulation
    }

    /// The device engines run on.
    pub fn device(&self) -> &Arc<dyn DeviceBackend> {
        self.platform.device()
    }

    /// Which TensorRT build this is.
    pub fn flavor(&self) -> Flavor {
        self.platform.flavor()
    }

    /// The backend platform.
    pub fn platform(&self) -> &Arc<dyn PlatformBackend> {
        &self.platform
    }

    /// Reads and deserializes a plan file.
    pub fn load_engine(&self, path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let plan = fs_err::read(path)?;
        self.engine_from_bytes(&plan).map_err(|error| match error {
            Error::InvalidPlan { reason, .. } => Error::InvalidPlan {
                source_name: Some(path.display().to_string()),
                reason,
            },
            other => other,
        })
    }

    /// Deserializes a plan held in memory.
    pub fn engine_from_bytes(&self, plan: &[u8]) -> Result<Engine> {
        let backend = self.platform.deserialize_engine(plan)?;
        Ok(Engine::new(Arc::clone(&self.platform), backend))
    }
}

/// The real TensorRT + CUDA platform on device `ordinal`, when this machine has both. The CUDA
/// driver is probed first (a machine without it is answered, not crashed), then TensorRT is
/// discovered (explicit path variable, loader path, pip installs).
fn native_platform(ordinal: usize) -> Result<Arc<dyn PlatformBackend>> {
    let device = CudaDevice::new(ordinal)?;
    let platform = TensorRtPlatform::discover(device)?;
    Ok(platform)
}

/// Where the execution contexts of a session keep TensorRT-RTX's compiled kernels.
#[derive(Clone, Debug, Default)]
pub enum RuntimeCacheSetting {
    /// No runtime cache.
    #[default]
    None,
    /// The cache file at this path, opened (shared with every other user of the same path in
    /// this process) when the session needs it and saved when its last user is dropped.
    Path(PathBuf),
    /// The cache file at [`RuntimeCache::default_path`] (`{temp dir}/trt_{user}/runtime_cache.bin`).
    DefaultPath,
    /// A cache handle the caller owns and may share between sessions.
    Shared(RuntimeCache),
}

impl PartialEq for RuntimeCacheSetting {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RuntimeCacheSetting::None, RuntimeCacheSetting::None)
            | (RuntimeCacheSetting::DefaultPath, RuntimeCacheSetting::DefaultPath) => true,
            (RuntimeCacheSetting::Path(a), RuntimeCacheSetting::Path(b)) => a == b,
            (RuntimeCacheSetting::Shared(a), RuntimeCacheSetting::Shared(b)) => {
                Arc::ptr_eq(a.backend(), b.backend())
            }
            _ => false,
        }
    }
}

/// Runtime settings applied to execution contexts (TensorRT-RTX's `IRuntimeConfig`).
///
/// Immutable: change settings by building a new value and applying it with
/// [`Engine::set_runtime_settings`], [`crate::Session::set_runtime_settings`] or a
/// [`crate::RuntimeSettingsScope`].
///
/// ```
/// use trt_core::{KernelSpecialization, RuntimeCacheSetting, RuntimeSettings};
/// let settings = RuntimeSettings::default()
///     .with_kernel_specialization(KernelSpecialization::Eager)
///     .with_runtime_cache(RuntimeCacheSetting::DefaultPath);
/// assert_eq!(settings.kernel_specialization(), KernelSpecialization::Eager);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimeSettings {
    cuda_graph_strategy: CudaGraphStrategy,
    kernel_specialization: KernelSpecialization,
    runtime_cache: RuntimeCacheSetting,
}

impl RuntimeSettings {
    /// These settings with another RTX CUDA-graph strategy.
    pub fn with_cuda_graph_strategy(mut self, strategy: CudaGraphStrategy) -> RuntimeSettings {
        self.cuda_graph_strategy = strategy;
        self
    }

    /// These settings with another dynamic-shape kernel specialization.
    pub fn with_kernel_specialization(mut self, strategy: KernelSpecialization) -> RuntimeSettings {
        self.kernel_specialization = strategy;
        self
    }

    /// These settings with another runtime cache.
    pub fn with_runtime_cache(mut self, cache: RuntimeCacheSetting) -> RuntimeSettings {
        self.runtime_cache = cache;
        self
    }

    /// The RTX CUDA-graph strategy.
    pub fn cuda_graph_strategy(&self) -> CudaGraphStrategy {
        self.cuda_graph_strategy
    }

    /// The dynamic-shape kernel specialization.
    pub fn kernel_specialization(&self) -> KernelSpecialization {
        self.kernel_specialization
    }

    /// The runtime cache setting.
    pub fn runtime_cache(&self) -> &RuntimeCacheSetting {
        &self.runtime_cache
    }

    fn context_options(
        &self,
        allocation: AllocationStrategy,
        runtime_cache: Option<&RuntimeCache>,
    ) -> ContextOptions {
        ContextOptions {
            allocation,
            cuda_graph_strategy: self.cuda_graph_strategy,
            kernel_specialization: self.kernel_specialization,
            runtime_cache: runtime_cache.map(|cache| Arc::clone(cache.backend())),
        }
    }
}

/// A weight-streaming budget (`setWeightStreamingBudgetV2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightStreamingBudget {
    /// Keep at most this many streamable bytes resident on the device.
    Bytes(usize),
    /// TensorRT's automatic budget (`getWeightStreamingAutomaticBudget`).
    Automatic,
    /// Stream every streamable weight (budget 0).
    StreamAll,
    /// Keep every weight resident (streaming off).
    Disabled,
}

/// Weight-streaming figures of an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightStreamingInfo {
    /// Bytes of weights that can be streamed.
    pub streamable_bytes: usize,
    /// Current budget: streamable bytes kept resident.
    pub budget: usize,
    /// TensorRT's automatic budget.
    pub automatic_budget: usize,
    /// Scratch memory streaming needs.
    pub scratch_bytes: usize,
}

impl WeightStreamingInfo {
    /// True when some weights are streamed from host memory (budget below the streamable size).
    pub fn is_streaming(&self) -> bool {
        self.budget < self.streamable_bytes
    }
}

/// A deserialized engine. Sessions borrow it, so settings that need exclusive access to the
/// engine (weight-streaming budget, default runtime settings) take `&mut self` and cannot be
/// changed while any session lives.
///
/// ```
/// use trt_core::Runtime;
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// assert_eq!(engine.info().inputs().next().unwrap().name, "x");
/// ```
pub struct Engine {
    platform: Arc<dyn PlatformBackend>,
    backend: Arc<dyn EngineBackend>,
    info: Arc<EngineInfo>,
    input_indices: Arc<[usize]>,
    output_indices: Arc<[usize]>,
    settings: RuntimeSettings,
    /// Sessions alive now: a builder may change the weight-streaming budget only when none is.
    live_sessions: AtomicUsize,
    /// Standard TensorRT ignores RTX settings; say so once per engine, not once per context.
    warned_ignored_settings: AtomicBool,
}

impl Engine {
    fn new(platform: Arc<dyn PlatformBackend>, backend: Arc<dyn EngineBackend>) -> Engine {
        let info = Arc::new(backend.info().clone());
        let input_indices = (0..info.tensors.len())
            .filter(|&index| info.tensors[index].is_input())
            .collect();
        let output_indices = (0..info.tensors.len())
            .filter(|&index| info.tensors[index].mode == crate::TensorIoMode::Output)
            .collect();
        Engine {
            platform,
            backend,
            info,
            input_indices,
            output_indices,
            settings: RuntimeSettings::default(),
            live_sessions: AtomicUsize::new(0),
            warned_ignored_settings: AtomicBool::new(false),
        }
    }

    /// I/O tensors, profiles and memory needs.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The engine's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The device the engine runs on.
    pub fn device(&self) -> &Arc<dyn DeviceBackend> {
        self.platform.device()
    }

    /// Starts a session builder: `engine.session().with_cudagraphs(cache).build()`.
    pub fn session(&self) -> SessionBuilder<'_, Standard, Owned> {
        SessionBuilder::new(self)
    }

    /// Default runtime settings for sessions created from now on.
    pub fn runtime_settings(&self) -> RuntimeSettings {
        self.settings.clone()
    }

    /// Changes the default runtime settings. Takes `&mut self`: no session may be alive.
    /// On standard TensorRT an RTX CUDA-graph strategy is a typed error (see
    /// [`Engine::check_runtime_settings`]).
    pub fn set_runtime_settings(&mut self, settings: RuntimeSettings) -> Result<()> {
        self.check_runtime_settings(&settings)?;
        self.settings = settings;
        Ok(())
    }

    /// Checks settings against the library flavor. TensorRT-RTX (and the simulation) honour
    /// them all. Standard, lean and dispatch TensorRT have no runtime cache, kernel
    /// specialization or graph strategy: an RTX CUDA-graph strategy there is an error, since
    /// the caller relies on graphs that would silently not happen; other non-default settings
    /// are ignored with one warning per engine.
    pub fn check_runtime_settings(&self, settings: &RuntimeSettings) -> Result<()> {
        if !self.honours_rtx_settings() {
            if settings.cuda_graph_strategy() != CudaGraphStrategy::Disabled {
                return Err(Error::UnsupportedSetting {
                    setting: "CUDA graph strategy (IRuntimeConfig::setCudaGraphStrategy)",
                    flavor: self.platform.flavor(),
                });
            }
            if *settings != RuntimeSettings::default()
                && !self.warned_ignored_settings.swap(true, Ordering::Relaxed)
            {
                log::warn!(
                    "engine `{}` runs on {}, which has no runtime cache or dynamic-shape kernel \
                     specialization: these runtime settings are ignored",
                    self.info.name,
                    self.platform.flavor()
                );
            }
        }
        Ok(())
    }

    /// True when the library applies TensorRT-RTX runtime settings.
    fn honours_rtx_settings(&self) -> bool {
        matches!(self.platform.flavor(), Flavor::Rtx | Flavor::Simulation)
    }

    /// The context options `settings` amount to on this engine's library, with the runtime
    /// cache the session resolved ([`Engine::resolve_runtime_cache`]).
    pub(crate) fn context_options(
        &self,
        settings: &RuntimeSettings,
        allocation: AllocationStrategy,
        runtime_cache: Option<&RuntimeCache>,
    ) -> ContextOptions {
        if self.honours_rtx_settings() {
            settings.context_options(allocation, runtime_cache)
        } else {
            RuntimeSettings::default().context_options(allocation, None)
        }
    }

    /// Opens the runtime cache `settings` name (none on libraries without one).
    pub(crate) fn resolve_runtime_cache(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<Option<RuntimeCache>> {
        if !self.honours_rtx_settings() {
            return Ok(None);
        }
        let runtime = Runtime::with_platform(Arc::clone(&self.platform));
        match &settings.runtime_cache {
            RuntimeCacheSetting::None => Ok(None),
            RuntimeCacheSetting::Path(path) => RuntimeCache::open(&runtime, path).map(Some),
            RuntimeCacheSetting::DefaultPath => RuntimeCache::open_default(&runtime).map(Some),
            RuntimeCacheSetting::Shared(cache) => Ok(Some(cache.clone())),
        }
    }

    pub(crate) fn session_started(&self) {
        self.live_sessions.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn session_ended(&self) {
        self.live_sessions.fetch_sub(1, Ordering::AcqRel);
    }

    /// Weight-streaming figures; an engine built without streaming is a typed error.
    pub fn weight_streaming(&self) -> Result<WeightStreamingInfo> {
        let streamable_bytes = self.info.streamable_weights_size;
        if streamable_bytes == 0 {
            return Err(Error::WeightStreamingUnsupported {
                engine: self.info.name.clone(),
            });
        }
        Ok(WeightStreamingInfo {
            streamable_bytes,
            budget: self.backend.weight_streaming_budget()?,
            automatic_budget: self.backend.weight_streaming_automatic_budget()?,
            scratch_bytes: self.backend.weight_streaming_scratch_memory_size()?,
        })
    }

    /// Sets the weight-streaming budget. Takes `&mut self`, so no session (and so no
    /// execution context) can be alive: TensorRT forbids the change otherwise. A budget above
    /// the streamable size is clamped to it, with a warning.
    pub fn set_weight_streaming_budget(&mut self, budget: WeightStreamingBudget) -> Result<()> {
        self.apply_weight_streaming_budget(budget, 0)
    }

    /// Sets a budget for the scope's lifetime and restores the previous one when the scope is
    /// dropped. Sessions created from the scope borrow it, so they are gone by then.
    ///
    /// ```
    /// use trt_core::{Runtime, WeightStreamingBudget};
    /// let runtime = Runtime::simulated();
    /// let mut engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/streaming.simplan")).unwrap();
    /// let full = engine.weight_streaming().unwrap().budget;
    /// {
    ///     let scope = engine.weight_streaming_scope(WeightStreamingBudget::StreamAll).unwrap();
    ///     assert_eq!(scope.weight_streaming().unwrap().budget, 0);
    ///     let _session = scope.session().build().unwrap();
    /// }
    /// assert_eq!(engine.weight_streaming().unwrap().budget, full);
    /// ```
    pub fn weight_streaming_scope(
        &mut self,
        budget: WeightStreamingBudget,
    ) -> Result<WeightStreamingScope<'_>> {
        let previous = self.weight_streaming()?.budget;
        self.apply_weight_streaming_budget(budget, 0)?;
        Ok(WeightStreamingScope {
            engine: self,
            previous,
        })
    }

    /// Applies `budget` when no more than `counted` sessions (the caller's own) are alive.
    pub(crate) fn apply_weight_streaming_budget(
        &self,
        budget: WeightStreamingBudget,
        counted: usize,
    ) -> Result<()> {
        let info = self.weight_streaming()?;
        let live = self.live_sessions.load(Ordering::Acquire);
        if live > counted {
            return Err(Error::EngineInUse {
                engine: self.info.name.clone(),
                live: live - counted,
                action: "changing the weight-streaming budget",
            });
        }
        let bytes = match budget {
            WeightStreamingBudget::Bytes(bytes) if bytes > info.streamable_bytes => {
                log::warn!(
                    "weight-streaming budget {bytes} of engine `{}` is above its {} streamable \
                     bytes; using {}",
                    self.info.name,
                    info.streamable_bytes,
                    info.streamable_bytes
                );
                info.streamable_bytes
            }
            WeightStreamingBudget::Bytes(bytes) => bytes,
            WeightStreamingBudget::Automatic => info.automatic_budget,
            WeightStreamingBudget::StreamAll => 0,
            WeightStreamingBudget::Disabled => info.streamable_bytes,
        };
        self.backend.set_weight_streaming_budget(bytes)
    }

    /// The serialized plan.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        self.backend.serialize()
    }

    /// The backend object behind this engine: an escape hatch for measuring or driving the
    /// backend directly (benchmarks use it to time a bare graph launch of the same engine).
    pub fn backend(&self) -> &Arc<dyn EngineBackend> {
        &self.backend
    }

    pub(crate) fn shared_info(&self) -> &Arc<EngineInfo> {
        &self.info
    }

    pub(crate) fn input_indices(&self) -> &[usize] {
        &self.input_indices
    }

    pub(crate) fn output_indices(&self) -> &[usize] {
        &self.output_indices
    }
}

/// A weight-streaming budget in force while this scope lives; see
/// [`Engine::weight_streaming_scope`]. Dereferences to the engine, to create sessions.
pub struct WeightStreamingScope<'e> {
    engine: &'e mut Engine,
    previous: usize,
}

impl std::ops::Deref for WeightStreamingScope<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        self.engine
    }
}

impl Drop for WeightStreamingScope<'_> {
    fn drop(&mut self) {
        let previous = WeightStreamingBudget::Bytes(self.previous);
        if let Err(error) = self.engine.apply_weight_streaming_budget(previous, 0) {
            log::error!(
                "restoring the weight-streaming budget of `{}`: {error}",
                self.engine.name()
            );
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("name", &self.info.name)
            .field("flavor", &self.platform.flavor())
            .field("device", &self.platform.device().id())
            .finish()
    }
}
