//! The entry points: [`Runtime`] (which machine) and [`Engine`] (a deserialized plan).

use std::path::Path;
use std::sync::Arc;

use crate::backend::cuda::CudaDevice;
use crate::backend::sim::{SimConfig, SimPlatform};
use crate::backend::tensorrt::TensorRtPlatform;
use crate::backend::{
    BackendKind, ContextOptions, CudaGraphStrategy, DeviceBackend, EngineBackend,
    KernelSpecialization, PlatformBackend,
};
use crate::error::{Error, Result};
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
        match native_platform() {
            Ok(platform) => Runtime::with_platform(platform),
            Err(error) => Runtime {
                platform: SimPlatform::new(SimConfig::default()),
                fallback_reason: Some(error.to_string()),
            },
        }
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

/// The real TensorRT + CUDA platform on device 0, when this machine has both. The CUDA
/// driver is probed first (a machine without it is answered, not crashed), then TensorRT is
/// discovered (explicit path variable, loader path, pip installs).
fn native_platform() -> Result<Arc<dyn PlatformBackend>> {
    let device = CudaDevice::new(0)?;
    let platform = TensorRtPlatform::discover(device)?;
    Ok(platform)
}

/// Runtime settings applied to execution contexts (TensorRT-RTX's `IRuntimeConfig`).
///
/// Immutable: change settings by building a new value and applying it with
/// [`Engine::set_runtime_settings`] or [`crate::Session::set_runtime_settings`].
///
/// ```
/// use trt_core::{KernelSpecialization, RuntimeSettings};
/// let settings = RuntimeSettings::default().with_kernel_specialization(KernelSpecialization::Eager);
/// assert_eq!(settings.kernel_specialization(), KernelSpecialization::Eager);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuntimeSettings {
    cuda_graph_strategy: CudaGraphStrategy,
    kernel_specialization: KernelSpecialization,
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

    /// The RTX CUDA-graph strategy.
    pub fn cuda_graph_strategy(&self) -> CudaGraphStrategy {
        self.cuda_graph_strategy
    }

    /// The dynamic-shape kernel specialization.
    pub fn kernel_specialization(&self) -> KernelSpecialization {
        self.kernel_specialization
    }

    pub(crate) fn context_options(
        &self,
        allocation: crate::backend::AllocationStrategy,
    ) -> ContextOptions {
        ContextOptions {
            allocation,
            cuda_graph_strategy: self.cuda_graph_strategy,
            kernel_specialization: self.kernel_specialization,
            runtime_cache: None,
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
        self.settings
    }

    /// Changes the default runtime settings. Takes `&mut self`: no session may be alive.
    pub fn set_runtime_settings(&mut self, settings: RuntimeSettings) {
        self.settings = settings;
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
            budget: self.backend.weight_streaming_budget(),
            automatic_budget: self.backend.weight_streaming_automatic_budget(),
            scratch_bytes: self.backend.weight_streaming_scratch_memory_size(),
        })
    }

    /// Sets the weight-streaming budget. Takes `&mut self`, so no session (and so no
    /// execution context) can be alive: TensorRT forbids the change otherwise.
    pub fn set_weight_streaming_budget(&mut self, budget: WeightStreamingBudget) -> Result<()> {
        self.apply_weight_streaming_budget(budget)
    }

    pub(crate) fn apply_weight_streaming_budget(
        &self,
        budget: WeightStreamingBudget,
    ) -> Result<()> {
        let info = self.weight_streaming()?;
        let bytes = match budget {
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

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("name", &self.info.name)
            .field("flavor", &self.platform.flavor())
            .field("device", &self.platform.device().id())
            .finish()
    }
}
