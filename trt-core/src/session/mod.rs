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

    /// Runtime settings for this session (default: the engine's).
    pub fn with_runtime_settings(mut self, settings: RuntimeSettings) -> Self {
        self.settings = Some(settings);
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

    /// Changes the session's runtime settings. Its execution contexts are recreated on the
    /// next run (one context creation each), and cached graphs are dropped, since they bake
    /// in the old contexts. Takes `&mut self`: no scope may be alive.
    pub fn set_runtime_settings(&mut self, settings: RuntimeSettings) {
        self.core.set_settings(settings);
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
