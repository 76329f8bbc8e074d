//! Typestate sessions: which runtime features a session combines is part of its type, so
//! illegal combinations do not compile.
//!
//! | mode | what a run does |
//! |---|---|
//! | [`Session<Standard>`] | eager `enqueueV3` |
//! | [`Session<CudaGraphs>`] | replays a CUDA graph per input-shape key from an LRU cache |
//! | [`Session<OutputAllocator>`] | eager, data-dependent output shapes through an output allocator |
//! | [`Session<WeightStreaming>`] | eager, with the engine's weights partly streamed from host |
//!
//! A second type parameter chooses the outputs: [`Owned`] (a run returns [`Outputs`] that own
//! fresh device buffers) or [`PreAllocated`] (a run returns [`BorrowedOutputs`] that borrow the
//! session's buffers until the next run — holding them across it does not compile).
//!
//! Rules the compiler enforces:
//! - CUDA graphs and an output allocator never meet (data-dependent shapes are not capturable);
//! - CUDA graphs and weight streaming never meet (streaming makes `enqueueV3` synchronous);
//! - the engine's runtime settings and weight-streaming budget change only while no session
//!   borrows the engine, and a session's settings only while no scope borrows the session;
//! - a [`GraphCache`] is moved into one session and cannot be attached to a second.

use std::marker::PhantomData;

use crate::cache::{GraphCache, GraphCacheHandle};
use crate::engine::{Engine, RuntimeSettings, WeightStreamingBudget, WeightStreamingInfo};
use crate::error::Result;
use crate::tensor::Input;
use crate::types::Shape;

mod core;
mod output_allocator;
mod outputs;

pub(crate) use self::core::SessionCore;
pub use self::core::StagedRun;
pub use self::outputs::{BorrowedOutputs, Outputs};

mod sealed {
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be used here: this trait is sealed",
        note = "session modes are Standard, CudaGraphs, OutputAllocator and WeightStreaming; output policies are Owned and PreAllocated"
    )]
    pub trait Sealed {}
}

/// A session mode. Sealed: the modes are [`Standard`], [`CudaGraphs`], [`OutputAllocator`]
/// and [`WeightStreaming`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session mode",
    note = "session modes are Standard, CudaGraphs, OutputAllocator and WeightStreaming"
)]
pub trait SessionMode: sealed::Sealed + 'static {
    /// The mode's name, for messages.
    const NAME: &'static str;
}

/// Eager execution: every run calls `enqueueV3`.
#[derive(Debug)]
pub enum Standard {}
/// CUDA-graph replay through an LRU cache of captured graphs.
#[derive(Debug)]
pub enum CudaGraphs {}
/// Data-dependent output shapes through an output allocator.
#[derive(Debug)]
pub enum OutputAllocator {}
/// Weight streaming: part of the weights stay in host memory.
#[derive(Debug)]
pub enum WeightStreaming {}

macro_rules! modes {
    ($($mode:ident),*) => {$(
        impl sealed::Sealed for $mode {}
        impl SessionMode for $mode {
            const NAME: &'static str = stringify!($mode);
        }
    )*};
}
modes!(Standard, CudaGraphs, OutputAllocator, WeightStreaming);

/// Modes to which CUDA graphs can be added.
#[diagnostic::on_unimplemented(
    message = "CUDA graphs cannot be enabled on a session in mode `{Self}`",
    label = "this session mode cannot be captured into a CUDA graph",
    note = "OutputAllocator: data-dependent output shapes make enqueueV3 wait for the GPU; WeightStreaming: streaming makes enqueueV3 synchronous; neither can be captured",
    note = "CUDA graphs can only be added to a `Standard` session"
)]
pub trait AcceptsCudaGraphs: SessionMode {}
impl AcceptsCudaGraphs for Standard {}

/// Modes to which an output allocator can be added.
#[diagnostic::on_unimplemented(
    message = "an output allocator cannot be used with a session in mode `{Self}`",
    label = "output allocator not allowed here",
    note = "data-dependent output shapes make enqueueV3 wait for the GPU, so they can never be replayed from a CUDA graph",
    note = "an output allocator can only be added to a `Standard` session"
)]
pub trait AcceptsOutputAllocator: SessionMode {}
impl AcceptsOutputAllocator for Standard {}

/// Modes to which weight streaming can be added.
#[diagnostic::on_unimplemented(
    message = "weight streaming cannot be used with a session in mode `{Self}`",
    label = "weight streaming not allowed here",
    note = "weight streaming makes enqueueV3 synchronous, so it cannot be captured into a CUDA graph",
    note = "weight streaming can only be added to a `Standard` session"
)]
pub trait AcceptsWeightStreaming: SessionMode {}
impl AcceptsWeightStreaming for Standard {}

/// Modes that can switch to per-run activation memory.
#[diagnostic::on_unimplemented(
    message = "dynamic resource allocation cannot be used with a session in mode `{Self}`",
    label = "per-run activation memory not allowed here",
    note = "a captured CUDA graph bakes in the address of its activation memory; memory allocated per run would move under it",
    note = "dynamic resource allocation works with Standard, OutputAllocator and WeightStreaming sessions"
)]
pub trait AcceptsDynamicAllocation: SessionMode {}
impl AcceptsDynamicAllocation for Standard {}
impl AcceptsDynamicAllocation for OutputAllocator {}
impl AcceptsDynamicAllocation for WeightStreaming {}

/// How a run hands out its outputs: [`Owned`] or [`PreAllocated`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an output policy",
    note = "output policies are Owned and PreAllocated"
)]
pub trait OutputPolicy: sealed::Sealed + 'static {
    /// What `run` returns; `'s` is the borrow of the session.
    type Outputs<'s>;
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn collect<'s>(core: &'s mut SessionCore<'_>) -> Result<Self::Outputs<'s>>;
}

/// Each run returns [`Outputs`] owning fresh device buffers (graph outputs are cloned).
#[derive(Debug)]
pub enum Owned {}
/// Each run returns [`BorrowedOutputs`] pointing into buffers the session reuses: no
/// allocation and no copy per run, and the borrow checker stops you from holding them across
/// the next run.
#[derive(Debug)]
pub enum PreAllocated {}
impl sealed::Sealed for Owned {}
impl sealed::Sealed for PreAllocated {}

impl OutputPolicy for Owned {
    type Outputs<'s> = Outputs;
    #[allow(private_interfaces)]
    fn collect(core: &mut SessionCore<'_>) -> Result<Outputs> {
        core.collect_owned()
    }
}

impl OutputPolicy for PreAllocated {
    type Outputs<'s> = BorrowedOutputs<'s>;
    #[allow(private_interfaces)]
    fn collect<'s>(core: &'s mut SessionCore<'_>) -> Result<BorrowedOutputs<'s>> {
        Ok(core.borrow_outputs())
    }
}

/// Per-call options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run eagerly even though the session has CUDA graphs (the cache is not touched).
    pub bypass_graphs: bool,
}

/// Collects a session's configuration; `build` creates its stream and execution context.
///
/// ```
/// use trt_core::{GraphCache, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let session = engine
///     .session()
///     .with_cudagraphs(GraphCache::new(4))
///     .with_pre_allocated_outputs()
///     .build()
///     .unwrap();
/// # drop(session);
/// ```
#[must_use = "a builder does nothing until `.build()`"]
pub struct SessionBuilder<'e, M: SessionMode, O: OutputPolicy> {
    pub(crate) engine: &'e Engine,
    pub(crate) cache: Option<GraphCache>,
    pub(crate) weight_streaming: Option<WeightStreamingBudget>,
    pub(crate) profile: usize,
    pub(crate) settings: Option<RuntimeSettings>,
    pub(crate) safe_mode: bool,
    _state: PhantomData<fn() -> (M, O)>,
}

impl<'e> SessionBuilder<'e, Standard, Owned> {
    pub(crate) fn new(engine: &'e Engine) -> Self {
        SessionBuilder {
            engine,
            cache: None,
            weight_streaming: None,
            profile: 0,
            settings: None,
            safe_mode: false,
            _state: PhantomData,
        }
    }
}

impl<'e, M: SessionMode, O: OutputPolicy> SessionBuilder<'e, M, O> {
    fn into_state<M2: SessionMode, O2: OutputPolicy>(self) -> SessionBuilder<'e, M2, O2> {
        SessionBuilder {
            engine: self.engine,
            cache: self.cache,
            weight_streaming: self.weight_streaming,
            profile: self.profile,
            settings: self.settings,
            safe_mode: self.safe_mode,
            _state: PhantomData,
        }
    }

    /// Replay CUDA graphs from `cache` (moved in: a cache serves exactly one session).
    pub fn with_cudagraphs(mut self, cache: GraphCache) -> SessionBuilder<'e, CudaGraphs, O>
    where
        M: AcceptsCudaGraphs,
    {
        self.cache = Some(cache);
        self.into_state()
    }

    /// Let TensorRT size data-dependent outputs through an output allocator.
    pub fn with_output_allocator(self) -> SessionBuilder<'e, OutputAllocator, O>
    where
        M: AcceptsOutputAllocator,
    {
        self.into_state()
    }

    /// Apply a weight-streaming budget when the session is built. The engine must have been
    /// built with weight streaming, and no other session of it may be alive then.
    pub fn with_weight_streaming(
        mut self,
        budget: WeightStreamingBudget,
    ) -> SessionBuilder<'e, WeightStreaming, O>
    where
        M: AcceptsWeightStreaming,
    {
        self.weight_streaming = Some(budget);
        self.into_state()
    }

    /// Return outputs borrowed from buffers the session reuses (see [`PreAllocated`]).
    pub fn with_pre_allocated_outputs(self) -> SessionBuilder<'e, M, PreAllocated> {
        self.into_state()
    }

    /// Use optimization profile `profile` (default 0).
    pub fn with_optimization_profile(mut self, profile: usize) -> Self {
        self.profile = profile;
        self
    }

    /// Runtime settings for this session (default: the engine's). Checked against the
    /// library when the session is built (see [`Engine::check_runtime_settings`]).
    pub fn with_runtime_settings(mut self, settings: RuntimeSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Safe mode for several GPUs or threads: before each run the session makes its device's
    /// CUDA context current on the calling thread. (Inputs on another device are refused
    /// with [`crate::Error::WrongDevice`] in every mode.)
    pub fn with_safe_mode(mut self) -> Self {
        self.safe_mode = true;
        self
    }

    /// Creates the session: its stream, its execution context and, with CUDA graphs, its
    /// shared activation arena.
    pub fn build(self) -> Result<Session<'e, M, O>> {
        let output_allocator =
            std::any::TypeId::of::<M>() == std::any::TypeId::of::<OutputAllocator>();
        Ok(Session {
            core: SessionCore::new(self, output_allocator)?,
            _state: PhantomData,
        })
    }
}

/// A session: one stream and one execution context (plus one per cached graph) over an
/// engine it borrows. See the [module docs](self) for the modes.
///
/// ```
/// use trt_core::{inputs, HostTensor, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let mut session = engine.session().build().unwrap();
/// let x = HostTensor::from_vec(&[2, 16], vec![0.5f32; 32]).unwrap();
/// let outputs = session.run(&inputs!["x" => &x]).unwrap();
/// assert_eq!(outputs.get("y").unwrap().shape().dims(), &[2, 8]);
/// ```
pub struct Session<'e, M: SessionMode = Standard, O: OutputPolicy = Owned> {
    core: SessionCore<'e>,
    _state: PhantomData<fn() -> (M, O)>,
}

impl<'e, M: SessionMode, O: OutputPolicy> Session<'e, M, O> {
    /// Runs the engine on `inputs` (every engine input, by name). Bad input is a typed error
    /// that names the tensor; the session stays usable.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.run_with(inputs, RunOptions::default())
    }

    /// [`Session::run`] with per-call options.
    pub fn run_with(
        &mut self,
        inputs: &[Input<'_>],
        options: RunOptions,
    ) -> Result<O::Outputs<'_>> {
        self.core.execute(inputs, options)?;
        O::collect(&mut self.core)
    }

    /// The engine.
    pub fn engine(&self) -> &'e Engine {
        self.core.engine()
    }

    /// The session's runtime settings.
    pub fn runtime_settings(&self) -> RuntimeSettings {
        self.core.settings()
    }

    /// Changes the session's runtime settings. Before the first run this costs nothing (the
    /// context is created by the first run); after it, the execution context is recreated on
    /// the next run (one context creation), and cached graphs are dropped, since they bake in
    /// the old context. Takes `&mut self`: no scope may be alive. On standard TensorRT an RTX
    /// CUDA-graph strategy is a typed error and other settings are ignored with a warning.
    pub fn set_runtime_settings(&mut self, settings: RuntimeSettings) -> Result<()> {
        self.core.set_settings(settings)
    }

    /// Current shape of tensor `name` in the session's eager context.
    pub fn tensor_shape(&self, name: &str) -> Result<Shape> {
        self.core.tensor_shape(name)
    }
}

impl<'e, O: OutputPolicy> Session<'e, CudaGraphs, O> {
    /// A handle to manage this session's graph cache from any thread.
    pub fn graph_cache(&self) -> GraphCacheHandle {
        self.core.graph_cache_handle()
    }

    /// Runs eagerly, bypassing the graph cache for this call.
    pub fn run_eager(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.run_with(
            inputs,
            RunOptions {
                bypass_graphs: true,
            },
        )
    }

    /// Zero-copy: finds (or captures) the graph for these input shapes and returns its input
    /// buffers to write into directly; [`StagedRun::run`] then replays with no input copy.
    pub fn stage(&mut self, shapes: &[(&str, Shape)]) -> Result<StagedRun<'_, 'e, O>> {
        self.core.stage(shapes)
    }
}

impl<O: OutputPolicy> Session<'_, OutputAllocator, O> {
    /// `getMaxOutputSize`: upper bound in bytes of output `name` for the current shapes.
    pub fn max_output_size(&self, name: &str) -> Result<usize> {
        self.core.max_output_size(name)
    }
}

impl<O: OutputPolicy> Session<'_, WeightStreaming, O> {
    /// The engine's weight-streaming figures (budget, automatic budget, scratch).
    pub fn weight_streaming(&self) -> Result<WeightStreamingInfo> {
        self.core.engine().weight_streaming()
    }
}

impl<M: SessionMode, O: OutputPolicy> std::fmt::Debug for Session<'_, M, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("mode", &M::NAME)
            .field("engine", &self.core.engine().name())
            .finish()
    }
}

/// Turns CUDA graphs on for the scope's lifetime: the returned guard runs through `cache`,
/// and dropping it frees the cached graphs and returns the session to eager runs.
///
/// ```
/// use trt_core::{enable_cudagraphs, inputs, GraphCache, HostTensor, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let mut session = engine.session().build().unwrap();
/// let x = HostTensor::from_vec(&[1, 16], vec![1.0f32; 16]).unwrap();
/// {
///     let mut graphs = enable_cudagraphs(&mut session, GraphCache::new(2)).unwrap();
///     graphs.run(&inputs!["x" => &x]).unwrap();
///     assert_eq!(graphs.graph_cache().len(), 1);
/// }
/// session.run(&inputs!["x" => &x]).unwrap(); // eager again
/// ```
pub fn enable_cudagraphs<'s, 'e, M: AcceptsCudaGraphs, O: OutputPolicy>(
    session: &'s mut Session<'e, M, O>,
    cache: GraphCache,
) -> Result<CudaGraphsScope<'s, 'e, M, O>> {
    session.core.attach_graphs(cache)?;
    Ok(CudaGraphsScope { session })
}

/// Guard returned by [`enable_cudagraphs`]; restores eager runs on drop.
pub struct CudaGraphsScope<'s, 'e, M: SessionMode, O: OutputPolicy> {
    session: &'s mut Session<'e, M, O>,
}

impl<M: SessionMode, O: OutputPolicy> CudaGraphsScope<'_, '_, M, O> {
    /// Runs through the graph cache.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.session.run(inputs)
    }

    /// Runs eagerly, bypassing the cache for this call.
    pub fn run_eager(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.session.run_with(
            inputs,
            RunOptions {
                bypass_graphs: true,
            },
        )
    }

    /// A handle to the scope's graph cache.
    pub fn graph_cache(&self) -> GraphCacheHandle {
        self.session.core.graph_cache_handle()
    }
}

impl<M: SessionMode, O: OutputPolicy> Drop for CudaGraphsScope<'_, '_, M, O> {
    fn drop(&mut self) {
        self.session.core.detach_graphs();
    }
}

/// Turns the output allocator on for the scope's lifetime; dropping the guard detaches it.
///
/// ```
/// use trt_core::{enable_output_allocator, inputs, HostTensor, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/nonzero.simplan")).unwrap();
/// let mut session = engine.session().build().unwrap();
/// let x = HostTensor::from_vec(&[1, 8], vec![0.0f32, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]).unwrap();
/// let mut scope = enable_output_allocator(&mut session).unwrap();
/// let outputs = scope.run(&inputs!["x" => &x]).unwrap();
/// assert_eq!(outputs.get("y").unwrap().shape().dims(), &[3, 2]);
/// ```
pub fn enable_output_allocator<'s, 'e, M: AcceptsOutputAllocator, O: OutputPolicy>(
    session: &'s mut Session<'e, M, O>,
) -> Result<OutputAllocatorScope<'s, 'e, M, O>> {
    session.core.attach_output_allocator()?;
    Ok(OutputAllocatorScope { session })
}

/// Guard returned by [`enable_output_allocator`]; detaches the allocator on drop.
pub struct OutputAllocatorScope<'s, 'e, M: SessionMode, O: OutputPolicy> {
    session: &'s mut Session<'e, M, O>,
}

impl<M: SessionMode, O: OutputPolicy> OutputAllocatorScope<'_, '_, M, O> {
    /// Runs with the output allocator.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.session.run(inputs)
    }

    /// `getMaxOutputSize` for output `name`.
    pub fn max_output_size(&self, name: &str) -> Result<usize> {
        self.session.core.max_output_size(name)
    }
}

impl<M: SessionMode, O: OutputPolicy> Drop for OutputAllocatorScope<'_, '_, M, O> {
    fn drop(&mut self) {
        self.session.core.detach_output_allocator();
    }
}

/// Turns per-run activation memory on for the scope's lifetime (TensorRT's
/// `kUSER_MANAGED` strategy with memory sized by `updateDeviceMemorySizeForShapes`, allocated
/// before each run and released after it); dropping the guard returns to static allocation.
/// Not available with CUDA graphs, which bake in their activation memory's address.
///
/// ```
/// use trt_core::{enable_dynamic_allocation, inputs, HostTensor, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let mut session = engine.session().build().unwrap();
/// let x = HostTensor::from_vec(&[2, 16], vec![1.0f32; 32]).unwrap();
/// let mut scope = enable_dynamic_allocation(&mut session);
/// scope.run(&inputs!["x" => &x]).unwrap();
/// ```
pub fn enable_dynamic_allocation<'s, 'e, M: AcceptsDynamicAllocation, O: OutputPolicy>(
    session: &'s mut Session<'e, M, O>,
) -> DynamicAllocationScope<'s, 'e, M, O> {
    session.core.set_dynamic_allocation(true);
    DynamicAllocationScope { session }
}

/// Guard returned by [`enable_dynamic_allocation`]; restores static allocation on drop.
pub struct DynamicAllocationScope<'s, 'e, M: SessionMode, O: OutputPolicy> {
    session: &'s mut Session<'e, M, O>,
}

impl<M: SessionMode, O: OutputPolicy> DynamicAllocationScope<'_, '_, M, O> {
    /// Runs with activation memory allocated for this run only.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<O::Outputs<'_>> {
        self.session.run(inputs)
    }
}

impl<M: SessionMode, O: OutputPolicy> Drop for DynamicAllocationScope<'_, '_, M, O> {
    fn drop(&mut self) {
        self.session.core.set_dynamic_allocation(false);
    }
}

/// A session whose runtime settings a [`RuntimeSettingsScope`] can override. Sealed:
/// implemented by every [`Session`].
pub trait SettingsTarget: sealed::Sealed {
    #[doc(hidden)]
    fn current_settings(&self) -> RuntimeSettings;
    #[doc(hidden)]
    fn apply_settings(&mut self, settings: RuntimeSettings) -> Result<()>;
}

impl<M: SessionMode, O: OutputPolicy> sealed::Sealed for Session<'_, M, O> {}

impl<M: SessionMode, O: OutputPolicy> SettingsTarget for Session<'_, M, O> {
    fn current_settings(&self) -> RuntimeSettings {
        self.core.settings()
    }

    fn apply_settings(&mut self, settings: RuntimeSettings) -> Result<()> {
        self.core.set_settings(settings)
    }
}

/// Overrides runtime settings on one or several sessions while it lives, and restores each
/// session's previous settings when dropped.
///
/// ```
/// use trt_core::{KernelSpecialization, RuntimeSettingsScope, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let (mut a, mut b) = (engine.session().build().unwrap(), engine.session().build().unwrap());
/// {
///     let scope = RuntimeSettingsScope::kernel_specialization(KernelSpecialization::Eager)
///         .over(&mut a).unwrap()
///         .over(&mut b).unwrap();
///     assert_eq!(scope.len(), 2);
/// }
/// assert_eq!(a.runtime_settings().kernel_specialization(), KernelSpecialization::Lazy);
/// ```
pub struct RuntimeSettingsScope<'s> {
    change: Box<dyn Fn(RuntimeSettings) -> RuntimeSettings + 's>,
    previous: Vec<(&'s mut dyn SettingsTarget, RuntimeSettings)>,
}

impl<'s> RuntimeSettingsScope<'s> {
    /// A scope that applies `change` to the settings of every session added with
    /// [`RuntimeSettingsScope::over`].
    pub fn new(change: impl Fn(RuntimeSettings) -> RuntimeSettings + 's) -> Self {
        RuntimeSettingsScope {
            change: Box::new(change),
            previous: Vec::new(),
        }
    }

    /// Sugar: override the dynamic-shape kernel specialization alone.
    pub fn kernel_specialization(strategy: crate::backend::KernelSpecialization) -> Self {
        RuntimeSettingsScope::new(move |settings| settings.with_kernel_specialization(strategy))
    }

    /// Applies the override to `session` (its context is recreated on its next run). A
    /// setting the library refuses is an error and leaves that session unchanged.
    pub fn over(mut self, session: &'s mut dyn SettingsTarget) -> Result<Self> {
        let previous = session.current_settings();
        session.apply_settings((self.change)(previous.clone()))?;
        self.previous.push((session, previous));
        Ok(self)
    }

    /// Number of sessions under the override.
    pub fn len(&self) -> usize {
        self.previous.len()
    }

    /// True when no session was added.
    pub fn is_empty(&self) -> bool {
        self.previous.is_empty()
    }
}

impl Drop for RuntimeSettingsScope<'_> {
    fn drop(&mut self) {
        for (session, previous) in self.previous.drain(..) {
            if let Err(error) = session.apply_settings(previous) {
                log::error!("restoring runtime settings: {error}");
            }
        }
    }
}

/// Turns TensorRT-RTX's own whole-graph CUDA capture on for the scope's lifetime
/// (`CudaGraphStrategy::WholeGraphCapture`: RTX skips the first run, captures the second and
/// replays from the third), restoring the previous strategy on drop. This is the RTX
/// alternative to [`enable_cudagraphs`]; on standard TensorRT it is a typed error.
pub fn enable_rtx_cudagraphs<'s, M: AcceptsCudaGraphs, O: OutputPolicy>(
    session: &'s mut Session<'_, M, O>,
) -> Result<RuntimeSettingsScope<'s>> {
    RuntimeSettingsScope::new(|settings| {
        settings.with_cuda_graph_strategy(crate::backend::CudaGraphStrategy::WholeGraphCapture)
    })
    .over(session)
}
