//! The machinery behind every session mode: input validation, eager runs, graph capture and
//! replay. Modes only decide which of these a session may use; the logic is written once.

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use super::output_allocator::SessionOutputAllocator;
use super::outputs::{BorrowedOutputs, OutputView, Outputs};
use super::{OutputPolicy, RunOptions, SessionBuilder, SessionMode};
use crate::backend::{AllocationStrategy, ContextBackend, DeviceBackend, DevicePtr, StreamBackend};
use crate::cache::{
    CacheConfig, CacheShared, CaptureFailurePolicy, GraphCache, GraphCacheHandle, GraphEntry,
    GraphKey,
};
use crate::engine::{Engine, RuntimeSettings};
use crate::error::{Error, Result};
use crate::runtime_cache::RuntimeCache;
use crate::tensor::{byte_size, DeviceBuffer, DeviceTensor, Element, Input, TensorRef};
use crate::types::{DataType, Shape, TensorInfo, TensorIoMode};

/// Inline capacity for per-tensor lists: no heap allocation for up to four inputs/outputs.
type PerTensor<T> = SmallVec<[T; 4]>;

/// The eager execution context and what was last set on it (to skip redundant calls).
struct EagerContext {
    context: Box<dyn ContextBackend>,
    shapes: PerTensor<Option<Shape>>,
    /// The shared arena this context computes in, held so that it outlives the context even
    /// when the arena is replaced by a larger one.
    arena: Option<Arc<DeviceBuffer>>,
}

/// The CUDA-graph state of a session (or of a graph scope).
struct GraphState {
    shared: Arc<CacheShared>,
    /// The cache's configuration, copied when it was attached (it cannot change afterwards).
    config: CacheConfig,
    /// Activation memory shared by every cached graph and the eager context: they all run
    /// one after another on the session's one stream.
    arena: Option<Arc<DeviceBuffer>>,
}

pub(crate) struct SessionCore<'e> {
    // Field order is drop order after `Drop::drop` has synchronized and detached the cache.
    pinned: Option<Arc<GraphEntry>>,
    eager: Option<EagerContext>,
    graphs: Option<GraphState>,
    allocator: Option<Arc<SessionOutputAllocator>>,
    /// Per engine input: staging buffer for host data of eager runs.
    staging: PerTensor<Option<DeviceBuffer>>,
    /// Per engine output: buffer the eager context writes to.
    eager_outputs: PerTensor<Option<DeviceBuffer>>,
    /// Per engine output: where the last run's result is.
    views: PerTensor<OutputView>,
    stream: Box<dyn StreamBackend>,
    device: Arc<dyn DeviceBackend>,
    engine: &'e Engine,
    profile: usize,
    settings: RuntimeSettings,
    /// Per-run activation memory (dynamic resource allocation scope) instead of the
    /// context's own.
    dynamic_allocation: bool,
    /// Bind the device's CUDA context on the calling thread before each run.
    safe_mode: bool,
    /// The runtime cache `settings` name, opened once (saved when its last user goes).
    runtime_cache: Option<RuntimeCache>,
    /// Last: the engine counts the session until everything else is gone.
    _registration: SessionRegistration<'e>,
}

/// Counts a session on its engine for as long as it lives.
struct SessionRegistration<'e>(&'e Engine);

impl<'e> SessionRegistration<'e> {
    fn new(engine: &'e Engine) -> Self {
        engine.session_started();
        SessionRegistration(engine)
    }
}

impl Drop for SessionRegistration<'_> {
    fn drop(&mut self) {
        self.0.session_ended();
    }
}

impl<'e> SessionCore<'e> {
    pub(crate) fn new<M: SessionMode, O: OutputPolicy>(
        builder: SessionBuilder<'e, M, O>,
        output_allocator: bool,
    ) -> Result<SessionCore<'e>> {
        let engine = builder.engine;
        let info = engine.info();
        if builder.profile >= info.num_profiles.max(1) {
            return Err(Error::InvalidConfig(format!(
                "optimization profile {} does not exist; engine `{}` has {}",
                builder.profile, info.name, info.num_profiles
            )));
        }
        // Counted first, so that a budget change below can see whether another session exists;
        // the guard uncounts it whatever happens next.
        let registration = SessionRegistration::new(engine);
        if let Some(budget) = builder.weight_streaming {
            engine.apply_weight_streaming_budget(budget, 1)?;
        }
        let settings = builder
            .settings
            .unwrap_or_else(|| engine.runtime_settings());
        engine.check_runtime_settings(&settings)?;
        let runtime_cache = engine.resolve_runtime_cache(&settings)?;
        let device = Arc::clone(engine.device());
        let mut core = SessionCore {
            pinned: None,
            graphs: None,
            eager: None,
            allocator: None,
            staging: (0..engine.input_indices().len()).map(|_| None).collect(),
            eager_outputs: (0..engine.output_indices().len()).map(|_| None).collect(),
            views: PerTensor::new(),
            stream: device.create_stream()?,
            device,
            engine,
            profile: builder.profile,
            settings,
            dynamic_allocation: false,
            safe_mode: builder.safe_mode,
            runtime_cache,
            _registration: registration,
        };
        if let Some(cache) = builder.cache {
            core.attach_graphs(cache)?;
        }
        if output_allocator {
            core.attach_output_allocator()?;
        }
        // The execution context is created by the first run, so settings changed before it
        // cost no extra context.
        Ok(core)
    }

    pub(crate) fn engine(&self) -> &'e Engine {
        self.engine
    }

    pub(crate) fn settings(&self) -> RuntimeSettings {
        self.settings.clone()
    }

    pub(crate) fn set_settings(&mut self, settings: RuntimeSettings) -> Result<()> {
        self.engine.check_runtime_settings(&settings)?;
        if settings == self.settings {
            return Ok(());
        }
        self.runtime_cache = self.engine.resolve_runtime_cache(&settings)?;
        self.settings = settings;
        // Queued work (a staged input copy, say) may still use what is about to be freed.
        let _ = self.stream.synchronize();
        self.pinned = None;
        self.eager = None;
        if let Some(graphs) = &self.graphs {
            graphs.shared.state.lock().clear_entries();
        }
        Ok(())
    }

    /// Context options for this session. Sessions that capture graphs themselves switch
    /// TensorRT-RTX's own whole-graph capture off: captures cannot nest.
    fn context_options(&self, allocation: AllocationStrategy) -> crate::backend::ContextOptions {
        let mut options =
            self.engine
                .context_options(&self.settings, allocation, self.runtime_cache.as_ref());
        if self.graphs.is_some() {
            options.cuda_graph_strategy = crate::backend::CudaGraphStrategy::Disabled;
        }
        options
    }

    /// Switches per-run activation memory on or off; the context is recreated on the next run
    /// with the matching allocation strategy.
    pub(crate) fn set_dynamic_allocation(&mut self, enabled: bool) {
        if self.dynamic_allocation != enabled {
            let _ = self.stream.synchronize();
            self.dynamic_allocation = enabled;
            self.eager = None;
        }
    }

    // ---- attaching and detaching features (builder and scopes) ---------------------------

    /// The compile-time rules keep graphs and an output allocator apart; this catches the one
    /// way around them (`mem::forget` of a scope guard, which skips its `Drop`).
    fn refuse_if_attached(&self, wanted: &'static str) -> Result<()> {
        let attached = match (self.graphs.is_some(), self.allocator.is_some()) {
            (true, _) => "CUDA graphs",
            (_, true) => "an output allocator",
            _ if self.dynamic_allocation && wanted == "CUDA graphs" => "per-run activation memory",
            _ => return Ok(()),
        };
        Err(Error::InvalidConfig(format!(
            "cannot attach {wanted}: the session already has {attached} (was a scope guard forgotten?)"
        )))
    }

    pub(crate) fn attach_graphs(&mut self, cache: GraphCache) -> Result<()> {
        self.refuse_if_attached("CUDA graphs")?;
        let shared = cache.into_shared();
        let config = shared.state.lock().config;
        if config.capacity == 0 {
            return Err(Error::InvalidConfig(
                "a graph cache needs a capacity of at least 1".into(),
            ));
        }
        shared.state.lock().attach(&self.device);
        self.graphs = Some(GraphState {
            shared,
            config,
            arena: None,
        });
        Ok(())
    }

    pub(crate) fn detach_graphs(&mut self) {
        self.pinned = None;
        if let Some(graphs) = self.graphs.take() {
            // Nothing of the cache may replay once the scope is gone; wait for queued work.
            let _ = self.stream.synchronize();
            graphs.shared.state.lock().detach();
            if let Some(eager) = &mut self.eager {
                if eager.arena.is_some() {
                    // Its activation memory was the arena, which is going away.
                    self.eager = None;
                }
            }
        }
    }

    pub(crate) fn attach_output_allocator(&mut self) -> Result<()> {
        self.refuse_if_attached("an output allocator")?;
        let allocator = Arc::new(SessionOutputAllocator::new(
            Arc::clone(&self.device),
            self.engine.info().tensors.len(),
        ));
        // The context gets the allocator when it is (re)created by the next run: attaching it
        // here output by output could fail half-way and leave a context half attached.
        let _ = self.stream.synchronize();
        self.eager = None;
        self.allocator = Some(allocator);
        Ok(())
    }

    pub(crate) fn detach_output_allocator(&mut self) {
        if self.allocator.take().is_some() {
            let _ = self.stream.synchronize();
            if let Some(eager) = &mut self.eager {
                for &tensor in self.engine.output_indices() {
                    if eager.context.set_output_allocator(tensor, None).is_err() {
                        // A context that cannot detach is not reused.
                        self.eager = None;
                        break;
                    }
                }
            }
        }
    }

    pub(crate) fn graph_cache_handle(&self) -> GraphCacheHandle {
        match &self.graphs {
            Some(graphs) => GraphCacheHandle::from_shared(Arc::clone(&graphs.shared)),
            None => GraphCache::new(1).with_enabled(false).handle(),
        }
    }

    // ---- validation ------------------------------------------------------------------

    /// Checks one input's identity, dtype and shape against the engine and the profile.
    fn check_input(&self, name: &str, dtype: DataType, shape: &Shape) -> Result<usize> {
        let info = self.engine.info();
        let tensor_index = info
            .tensor_index(name)
            .ok_or_else(|| Error::UnknownTensor {
                tensor: name.to_owned(),
                known: info.tensor_names(),
            })?;
        let tensor = &info.tensors[tensor_index];
        if tensor.mode != TensorIoMode::Input {
            return Err(Error::WrongTensorMode {
                tensor: name.to_owned(),
                wanted: "input",
                actual: "output",
            });
        }
        let position = self
            .engine
            .input_indices()
            .iter()
            .position(|&index| index == tensor_index)
            .unwrap_or(0);
        tensor.check_input(self.profile, dtype, shape)?;
        Ok(position)
    }

    /// Validates `inputs` and returns them in engine input order.
    fn resolve<'a>(&self, inputs: &[Input<'a>]) -> Result<PerTensor<TensorRef<'a>>> {
        let mut resolved: PerTensor<Option<TensorRef<'a>>> = (0..self.engine.input_indices().len())
            .map(|_| None)
            .collect();
        for input in inputs {
            let tensor = input.tensor();
            let position = self.check_input(input.name(), tensor.dtype(), &tensor.shape())?;
            if resolved[position].is_some() {
                return Err(Error::DuplicateInput {
                    tensor: input.name().to_owned(),
                });
            }
            let expected = byte_size(tensor.dtype(), &tensor.shape()).unwrap_or(0);
            if tensor.byte_len() != expected {
                return Err(Error::ByteSizeMismatch {
                    tensor: input.name().to_owned(),
                    dtype: tensor.dtype(),
                    shape: tensor.shape(),
                    expected,
                    found: tensor.byte_len(),
                });
            }
            if let TensorRef::Device(region) = tensor {
                if region.device() != self.device.id() {
                    return Err(Error::WrongDevice {
                        tensor: input.name().to_owned(),
                        expected: self.device.id(),
                        found: region.device(),
                    });
                }
            }
            resolved[position] = Some(*tensor);
        }
        resolved
            .into_iter()
            .zip(self.engine.input_indices())
            .map(|(tensor, &index)| {
                tensor.ok_or_else(|| Error::MissingInput {
                    tensor: self.engine.info().tensors[index].name.clone(),
                })
            })
            .collect()
    }

    // ---- running -----------------------------------------------------------------------

    /// Runs once; the results are described by `self.views` (and pinned, for graphs).
    pub(crate) fn execute(&mut self, inputs: &[Input<'_>], options: RunOptions) -> Result<()> {
        self.pinned = None;
        if self.safe_mode {
            self.device.make_current()?;
        }
        let resolved = self.resolve(inputs)?;
        let use_graphs = match &self.graphs {
            Some(graphs) if graphs.config.enabled && !options.bypass_graphs => true,
            Some(graphs) => {
                graphs.shared.state.lock().metrics.bypasses += 1;
                false
            }
            None => false,
        };
        if use_graphs {
            self.run_graph(&resolved)
        } else {
            self.run_eager(&resolved)
        }
    }

    fn ensure_eager_context(&mut self) -> Result<()> {
        if self.eager.is_some() {
            return Ok(());
        }
        let arena = match &self.graphs {
            Some(graphs) if graphs.config.enabled && graphs.config.shared_arena => {
                Some(self.ensure_arena(self.engine.info().device_memory_size)?)
            }
            _ => None,
        };
        let strategy = if arena.is_some() || self.dynamic_allocation {
            AllocationStrategy::UserManaged
        } else {
            AllocationStrategy::Static
        };
        let mut context = self
            .engine
            .backend()
            .create_context(&self.context_options(strategy))?;
        if self.profile != 0 {
            context.set_optimization_profile(self.profile, &*self.stream)?;
        }
        if let Some(arena) = &arena {
            // SAFETY: the arena is live device memory of `len()` bytes, and the eager context
            // holds an `Arc` of it for as long as the context exists.
            unsafe { context.set_device_memory(arena.ptr(), arena.len())? };
        }
        if let Some(allocator) = &self.allocator {
            for &tensor in self.engine.output_indices() {
                let callbacks: Arc<dyn crate::backend::OutputAllocatorCallbacks> =
                    allocator.clone();
                context.set_output_allocator(tensor, Some(callbacks))?;
            }
        }
        self.eager = Some(EagerContext {
            context,
            shapes: (0..self.engine.input_indices().len())
                .map(|_| None)
                .collect(),
            arena,
        });
        Ok(())
    }

    /// The shared activation arena, grown to at least `bytes`. Entries captured against an
    /// older, smaller arena keep it alive through their own reference.
    fn ensure_arena(&mut self, bytes: usize) -> Result<Arc<DeviceBuffer>> {
        let graphs = self.graphs.as_mut().ok_or_else(|| {
            Error::InvalidConfig("the activation arena exists only with CUDA graphs".into())
        })?;
        match &graphs.arena {
            Some(arena) if arena.len() >= bytes => Ok(Arc::clone(arena)),
            _ => {
                let arena = Arc::new(DeviceBuffer::new(&self.device, bytes)?);
                graphs.arena = Some(Arc::clone(&arena));
                Ok(arena)
            }
        }
    }

    fn run_eager(&mut self, resolved: &[TensorRef<'_>]) -> Result<()> {
        self.ensure_eager_context()?;
        let engine = self.engine;
        let info = engine.info();
        let Some(eager) = self.eager.as_mut() else {
            return Err(Error::InvalidConfig("no execution context".into()));
        };
        for (position, (tensor, &index)) in resolved.iter().zip(engine.input_indices()).enumerate()
        {
            let shape = tensor.shape();
            if eager.shapes[position] != Some(shape) {
                eager.shapes[position] = None;
                eager.context.set_input_shape(index, &shape)?;
                eager.shapes[position] = Some(shape);
            }
            let address = match *tensor {
                TensorRef::Device(region) => region.ptr(),
                TensorRef::Host { bytes, .. } => {
                    let staging = grow(&mut self.staging[position], &self.device, bytes.len())?;
                    // SAFETY: the staging buffer holds at least `bytes.len()` bytes and is kept
                    // by the session; every run synchronizes before it returns.
                    unsafe { self.stream.copy_to_device(staging, bytes)? };
                    staging
                }
            };
            // SAFETY: a device input's region is live for this call (a `TensorRef` is either
            // borrowed from a live tensor or vouched for by `from_raw_device`'s caller) and was
            // checked to hold the input's bytes; staging is ours. The run synchronizes before
            // it returns, and every run sets all addresses again before enqueueing.
            unsafe { eager.context.set_tensor_address(index, address)? };
        }
        // Outputs whose shape the input shapes fix get a bound buffer. With an output
        // allocator, the data-dependent ones are left to it (TensorRT calls it for those; an
        // implementation may call it for the others too, and then its buffer is used).
        let mut bound: PerTensor<bool> = PerTensor::new();
        for (position, &index) in engine.output_indices().iter().enumerate() {
            let tensor = &info.tensors[index];
            let shape = eager.context.tensor_shape(index)?;
            let bytes = match byte_size(tensor.dtype, &shape) {
                Some(bytes) => bytes,
                None if self.allocator.is_some() => {
                    bound.push(false);
                    continue;
                }
                None => eager.context.max_output_size(index)?,
            };
            let address = grow(&mut self.eager_outputs[position], &self.device, bytes)?;
            // SAFETY: the session's output buffer holds the output's exact or maximum size and
            // lives until it is handed over or replaced, after a synchronized run.
            unsafe { eager.context.set_tensor_address(index, address)? };
            bound.push(true);
        }
        if let Some(allocator) = &self.allocator {
            allocator.begin_run();
        }
        // Dynamic resource allocation: activation memory for exactly these shapes, allocated
        // before the run and released after it (the stream is synchronized first).
        let activation = if self.dynamic_allocation {
            let bytes = eager.context.device_memory_size_for_shapes()?;
            let memory = DeviceBuffer::new(&self.device, bytes)?;
            // SAFETY: `memory` holds what the context asked for these shapes and is dropped
            // only after the stream has been synchronized below.
            unsafe {
                eager
                    .context
                    .set_device_memory(memory.ptr(), memory.len())?
            };
            Some(memory)
        } else {
            None
        };
        // SAFETY: every input and output address was set above from live memory that outlives
        // the synchronize below; activation memory is the context's own, the arena it holds,
        // or `activation`, dropped after the synchronize.
        let enqueued = unsafe { eager.context.enqueue(&*self.stream) };
        let finished = enqueued.and_then(|()| self.stream.synchronize());
        if finished.is_err() {
            // Whatever failed, nothing may still be using the memory about to be freed.
            let _ = self.stream.synchronize();
        }
        drop(activation);
        if let Err(error) = finished {
            // A failure inside an allocator callback explains the enqueue failure best.
            let cause = self
                .allocator
                .as_ref()
                .and_then(|allocator| allocator.take_failure());
            return Err(cause.unwrap_or(error));
        }
        self.views.clear();
        for (position, &index) in engine.output_indices().iter().enumerate() {
            let tensor = &info.tensors[index];
            let allocated = self
                .allocator
                .as_ref()
                .and_then(|allocator| allocator.view(index, tensor.dtype));
            let view = match allocated {
                Some(view) => view,
                None => OutputView {
                    tensor: index,
                    ptr: match &self.eager_outputs[position] {
                        Some(buffer) if bound[position] => buffer.ptr(),
                        _ => {
                            return Err(Error::TensorRt {
                                call: "enqueueV3",
                                message: format!(
                                    "output `{}` was neither bound nor given memory by the output allocator",
                                    tensor.name
                                ),
                            })
                        }
                    },
                    shape: eager.context.tensor_shape(index)?,
                    dtype: tensor.dtype,
                    source: OutputSource::Eager(position),
                },
            };
            self.views.push(view);
        }
        Ok(())
    }

    fn run_graph(&mut self, resolved: &[TensorRef<'_>]) -> Result<()> {
        let key = GraphKey::from_parts(
            self.device.id(),
            resolved
                .iter()
                .map(|tensor| (tensor.shape(), tensor.dtype())),
        );
        match self.lookup_or_capture(key, Some(resolved))? {
            Lookup::Hit(entry) => {
                self.copy_inputs_into(&entry, resolved)?;
                self.replay(entry)
            }
            // The inputs were copied in before the capture's warm-up run.
            Lookup::Captured(entry) => self.replay(entry),
            Lookup::Uncapturable => self.run_eager(resolved),
        }
    }

    /// Finds the graph for `key`, or captures and inserts it, under the cache lock: lookup,
    /// capture and insert are one atomic step, and no other thread can free a graph meanwhile.
    /// `data`, when given, is copied into a new entry's inputs before its warm-up run.
    fn lookup_or_capture(
        &mut self,
        key: GraphKey,
        data: Option<&[TensorRef<'_>]>,
    ) -> Result<Lookup> {
        let Some(graphs) = &self.graphs else {
            return Err(Error::InvalidConfig("CUDA graphs are not enabled".into()));
        };
        let shared = Arc::clone(&graphs.shared);
        let policy = graphs.config.failure_policy;
        let mut state = shared.state.lock();
        if let Some(entry) = state.get(&key) {
            state.metrics.hits += 1;
            return Ok(Lookup::Hit(entry));
        }
        state.metrics.misses += 1;
        if state.uncapturable.contains(&key) {
            state.metrics.bypasses += 1;
            return Ok(Lookup::Uncapturable);
        }
        let started = Instant::now();
        let captured = self.capture(&key, data);
        state.metrics.capture_time += started.elapsed();
        match captured {
            Ok(entry) => {
                state.metrics.captures += 1;
                let entry = Arc::new(entry);
                let evicted = state.insert(key, Arc::clone(&entry));
                state.release(evicted);
                Ok(Lookup::Captured(entry))
            }
            Err(error @ Error::CaptureFailed { .. }) => {
                state.metrics.capture_failures += 1;
                match policy {
                    CaptureFailurePolicy::Error => Err(error),
                    CaptureFailurePolicy::FallbackToEager => {
                        log::warn!("{error}; running {key} eagerly from now on");
                        state.uncapturable.insert(key);
                        state.metrics.bypasses += 1;
                        Ok(Lookup::Uncapturable)
                    }
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Captures a new graph for `key`: its own context on the shared arena, its own I/O
    /// buffers, shapes and addresses set, one eager warm-up run (TensorRT's shape-update
    /// phase is not capturable), then the capture of one enqueue.
    fn capture(&mut self, key: &GraphKey, data: Option<&[TensorRef<'_>]>) -> Result<GraphEntry> {
        let engine = self.engine;
        let info = engine.info();
        let Some(graphs) = &self.graphs else {
            return Err(Error::InvalidConfig("CUDA graphs are not enabled".into()));
        };
        let shared_arena = graphs.config.shared_arena;
        let strategy = if shared_arena {
            AllocationStrategy::UserManaged
        } else {
            AllocationStrategy::Static
        };
        let mut context = engine
            .backend()
            .create_context(&self.context_options(strategy))?;
        if self.profile != 0 {
            context.set_optimization_profile(self.profile, &*self.stream)?;
        }
        for ((shape, _), &index) in key.inputs().iter().zip(engine.input_indices()) {
            context.set_input_shape(index, shape)?;
        }
        let mut device_bytes = 0;
        let arena = if shared_arena {
            let needed = info
                .device_memory_size
                .max(context.device_memory_size_for_shapes()?);
            let arena = self.ensure_arena(needed)?;
            // SAFETY: the entry keeps an `Arc` of the arena for as long as its context and
            // graph exist.
            unsafe { context.set_device_memory(arena.ptr(), arena.len())? };
            Some(arena)
        } else {
            device_bytes += info.device_memory_size;
            None
        };
        let mut inputs = PerTensor::new();
        for (position, ((shape, dtype), &index)) in
            key.inputs().iter().zip(engine.input_indices()).enumerate()
        {
            let buffer = DeviceBuffer::new(&self.device, byte_size(*dtype, shape).unwrap_or(0))?;
            // SAFETY: the buffer holds this input's exact bytes and moves into the entry, which
            // owns it for as long as the context and graph exist.
            unsafe { context.set_tensor_address(index, buffer.ptr())? };
            if let Some(data) = data {
                copy_into(&*self.stream, &buffer, &data[position])?;
            }
            device_bytes += buffer.len();
            inputs.push(buffer);
        }
        let mut output_buffers = PerTensor::new();
        for &index in engine.output_indices() {
            let bytes = output_capacity(&*context, &info.tensors[index], index)?;
            let buffer = DeviceBuffer::new(&self.device, bytes)?;
            // SAFETY: as for the inputs: sized for the output, owned by the entry.
            unsafe { context.set_tensor_address(index, buffer.ptr())? };
            device_bytes += buffer.len();
            output_buffers.push(buffer);
        }
        // SAFETY: all addresses were set above to memory this function owns until the entry
        // is built (or dropped after a synchronize on failure).
        unsafe { context.enqueue(&*self.stream)? };
        self.stream.synchronize()?;

        self.stream.begin_capture()?;
        // SAFETY: as for the warm-up run just above; while capturing, nothing runs.
        let enqueued = unsafe { context.enqueue(&*self.stream) };
        let ended = self.stream.end_capture();
        let graph = match (enqueued, ended) {
            (Ok(()), Ok(graph)) => graph,
            (Err(error), _) => {
                return Err(Error::CaptureFailed {
                    reason: format!("enqueueV3 failed while capturing: {error}"),
                })
            }
            (Ok(()), Err(error)) => return Err(error),
        };
        graph.upload(&*self.stream)?;
        let mut outputs = PerTensor::new();
        for (buffer, &index) in output_buffers.into_iter().zip(engine.output_indices()) {
            outputs.push((buffer, context.tensor_shape(index)?));
        }
        Ok(GraphEntry {
            graph,
            _context: context,
            inputs,
            outputs,
            _arena: arena,
            device_bytes,
        })
    }

    /// Copies the run's inputs into the entry's captured buffers (skipped for zero-copy
    /// inputs that already are those buffers).
    fn copy_inputs_into(&self, entry: &GraphEntry, resolved: &[TensorRef<'_>]) -> Result<()> {
        for (buffer, tensor) in entry.inputs.iter().zip(resolved) {
            copy_into(&*self.stream, buffer, tensor)?;
        }
        Ok(())
    }

    fn replay(&mut self, entry: Arc<GraphEntry>) -> Result<()> {
        // SAFETY: the graph recorded the entry's own buffers and arena, which the entry keeps
        // alive; the `Arc` held here keeps the entry alive until the synchronize below.
        unsafe { entry.graph.launch(&*self.stream)? };
        self.stream.synchronize()?;
        self.views.clear();
        for (position, ((buffer, shape), &index)) in entry
            .outputs
            .iter()
            .zip(self.engine.output_indices())
            .enumerate()
        {
            self.views.push(OutputView {
                tensor: index,
                ptr: buffer.ptr(),
                shape: *shape,
                dtype: self.engine.info().tensors[index].dtype,
                source: OutputSource::Graph(position),
            });
        }
        self.pinned = Some(entry);
        Ok(())
    }

    // ---- zero-copy staging ------------------------------------------------------------

    pub(crate) fn stage<'s, O: OutputPolicy>(
        &'s mut self,
        shapes: &[(&str, Shape)],
    ) -> Result<StagedRun<'s, 'e, O>> {
        let mut ordered: PerTensor<Option<(Shape, DataType)>> =
            (0..self.engine.input_indices().len())
                .map(|_| None)
                .collect();
        for (name, shape) in shapes {
            let info = self.engine.info();
            let dtype = info
                .tensor(name)
                .map_or(DataType::F32, |tensor| tensor.dtype);
            let position = self.check_input(name, dtype, shape)?;
            if ordered[position].replace((*shape, dtype)).is_some() {
                return Err(Error::DuplicateInput {
                    tensor: (*name).to_owned(),
                });
            }
        }
        let mut pairs = PerTensor::new();
        for (slot, &index) in ordered.iter().zip(self.engine.input_indices()) {
            pairs.push(slot.ok_or_else(|| Error::MissingInput {
                tensor: self.engine.info().tensors[index].name.clone(),
            })?);
        }
        let key = GraphKey::from_parts(self.device.id(), pairs.into_iter());
        if self.safe_mode {
            self.device.make_current()?;
        }
        if self
            .graphs
            .as_ref()
            .is_some_and(|graphs| !graphs.config.enabled)
        {
            return Err(Error::InvalidConfig(
                "zero-copy staging needs an enabled graph cache".into(),
            ));
        }
        let entry = match self.lookup_or_capture(key.clone(), None)? {
            Lookup::Hit(entry) | Lookup::Captured(entry) => entry,
            Lookup::Uncapturable => {
                return Err(Error::CaptureFailed {
                    reason: format!(
                        "{key} could not be captured earlier; zero-copy staging needs a graph \
                         (run it with `run`, which falls back to eager)"
                    ),
                })
            }
        };
        self.pinned = Some(Arc::clone(&entry));
        Ok(StagedRun {
            core: self,
            entry,
            key,
            _policy: std::marker::PhantomData,
        })
    }

    // ---- outputs -----------------------------------------------------------------------

    pub(crate) fn collect_owned(&mut self) -> Result<Outputs> {
        let mut tensors = PerTensor::new();
        let mut copied = false;
        for view in &self.views {
            let bytes = byte_size(view.dtype, &view.shape).unwrap_or(0);
            let buffer = match view.source {
                // Eager outputs were written into buffers made for this run: hand them over.
                OutputSource::Eager(position) => match self.eager_outputs[position].take() {
                    Some(buffer) => buffer,
                    None => return Err(Error::InvalidConfig("eager output buffer missing".into())),
                },
                // Graph and allocator buffers are reused by the next run: clone them.
                OutputSource::Graph(_) | OutputSource::Allocator => {
                    let buffer = DeviceBuffer::new(&self.device, bytes)?;
                    // SAFETY: `view` points into a buffer the pinned entry or the allocator
                    // still owns, holding `bytes`; the stream is synchronized below.
                    unsafe {
                        self.stream
                            .copy_device_to_device(buffer.ptr(), view.ptr, bytes)?
                    };
                    copied = true;
                    buffer
                }
            };
            tensors.push((
                view.tensor,
                DeviceTensor::from_buffer(buffer, view.dtype, view.shape)?,
            ));
        }
        if copied {
            self.stream.synchronize()?;
        }
        self.pinned = None;
        Ok(Outputs::new(Arc::clone(self.engine.shared_info()), tensors))
    }

    pub(crate) fn borrow_outputs(&mut self) -> BorrowedOutputs<'_> {
        BorrowedOutputs::new(
            self.engine.info(),
            &self.views,
            &self.device,
            &mut self.pinned,
        )
    }

    // ---- queries -----------------------------------------------------------------------

    fn tensor_index(&self, name: &str) -> Result<usize> {
        let info = self.engine.info();
        info.tensor_index(name).ok_or_else(|| Error::UnknownTensor {
            tensor: name.to_owned(),
            known: info.tensor_names(),
        })
    }

    pub(crate) fn tensor_shape(&self, name: &str) -> Result<Shape> {
        let index = self.tensor_index(name)?;
        match &self.eager {
            Some(eager) => eager.context.tensor_shape(index),
            None => Ok(self.engine.info().tensors[index].shape),
        }
    }

    pub(crate) fn max_output_size(&self, name: &str) -> Result<usize> {
        let index = self.tensor_index(name)?;
        let eager = self.eager.as_ref().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the maximum size of `{name}` depends on the input shapes: run the session once first"
            ))
        })?;
        eager.context.max_output_size(index)
    }
}

impl Drop for SessionCore<'_> {
    fn drop(&mut self) {
        // Queued work may still use the buffers about to be freed.
        let _ = self.stream.synchronize();
        self.pinned = None;
        if let Some(graphs) = &self.graphs {
            graphs.shared.state.lock().detach();
        }
    }
}

/// What a graph-cache lookup found.
enum Lookup {
    /// A cached graph.
    Hit(Arc<GraphEntry>),
    /// A graph captured just now (its inputs hold the run's data when data was given).
    Captured(Arc<GraphEntry>),
    /// A key that cannot be captured; run it eagerly.
    Uncapturable,
}

/// Which buffer holds an output after a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputSource {
    Eager(usize),
    Graph(usize),
    Allocator,
}

/// A zero-copy run in preparation: write inputs straight into the captured graph's buffers,
/// then [`StagedRun::run`] replays it.
///
/// ```
/// use trt_core::{GraphCache, Runtime, Shape};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let mut session = engine.session().with_cudagraphs(GraphCache::new(4)).build().unwrap();
/// let mut staged = session.stage(&[("x", Shape::new(&[1, 16]).unwrap())]).unwrap();
/// staged.write_input("x", &[0.25f32; 16]).unwrap();
/// let outputs = staged.run().unwrap();
/// assert_eq!(outputs.get("y").unwrap().shape().dims(), &[1, 8]);
/// ```
pub struct StagedRun<'s, 'e, O: OutputPolicy> {
    core: &'s mut SessionCore<'e>,
    entry: Arc<GraphEntry>,
    key: GraphKey,
    _policy: std::marker::PhantomData<fn() -> O>,
}

impl<'s, O: OutputPolicy> StagedRun<'s, '_, O> {
    fn position(&self, name: &str) -> Result<usize> {
        let info = self.core.engine.info();
        let index = self.core.tensor_index(name)?;
        self.core
            .engine
            .input_indices()
            .iter()
            .position(|&input| input == index)
            .ok_or_else(|| Error::WrongTensorMode {
                tensor: info.tensors[index].name.clone(),
                wanted: "input",
                actual: "output",
            })
    }

    /// The captured input buffer of `name`: write into it with your own kernels or copies.
    pub fn input_ptr(&self, name: &str) -> Result<crate::backend::DevicePtr> {
        Ok(self.entry.inputs[self.position(name)?].ptr())
    }

    /// Copies host data straight into the captured input buffer of `name`.
    pub fn write_input<T: Element>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let position = self.position(name)?;
        let buffer = &self.entry.inputs[position];
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let tensor = &self.core.engine.info().tensors[self.core.engine.input_indices()[position]];
        if T::DTYPE != tensor.dtype {
            return Err(Error::DataTypeMismatch {
                tensor: name.to_owned(),
                expected: tensor.dtype,
                found: T::DTYPE,
            });
        }
        if bytes.len() != buffer.len() {
            let (shape, dtype) = self.key.inputs()[position];
            return Err(Error::ByteSizeMismatch {
                tensor: name.to_owned(),
                dtype,
                shape,
                expected: buffer.len(),
                found: bytes.len(),
            });
        }
        // SAFETY: the buffer holds exactly `bytes.len()` bytes (checked above) and belongs to
        // the entry this staged run pins until it has replayed.
        unsafe { self.core.stream.copy_to_device(buffer.ptr(), bytes) }
    }

    /// Replays the graph on the staged inputs.
    pub fn run(self) -> Result<O::Outputs<'s>> {
        let StagedRun { core, entry, .. } = self;
        // Counted in `stage`. The replay needs no cache lock: the entry is pinned, and only
        // this session, which `self` borrows exclusively, launches its graphs.
        core.replay(entry)?;
        O::collect(core)
    }
}

/// Grows `slot` to hold at least `bytes` and returns its address.
fn grow(
    slot: &mut Option<DeviceBuffer>,
    device: &Arc<dyn DeviceBackend>,
    bytes: usize,
) -> Result<DevicePtr> {
    match slot {
        Some(buffer) if buffer.len() >= bytes => Ok(buffer.ptr()),
        _ => {
            *slot = None;
            let buffer = DeviceBuffer::new(device, bytes)?;
            let ptr = buffer.ptr();
            *slot = Some(buffer);
            Ok(ptr)
        }
    }
}

/// Copies one input into a device buffer (host-to-device or device-to-device; nothing when the
/// input already is that buffer).
fn copy_into(
    stream: &dyn StreamBackend,
    buffer: &DeviceBuffer,
    tensor: &TensorRef<'_>,
) -> Result<()> {
    match *tensor {
        // SAFETY: the caller made `buffer` exactly the input's size, which the input was
        // checked to have; the stream is synchronized before the buffer can be freed.
        TensorRef::Host { bytes, .. } => unsafe { stream.copy_to_device(buffer.ptr(), bytes) },
        TensorRef::Device(region) if region.ptr() == buffer.ptr() => Ok(()),
        // SAFETY: as above for `buffer`; the region is live for the run (see `TensorRef`).
        TensorRef::Device(region) => unsafe {
            stream.copy_device_to_device(buffer.ptr(), region.ptr(), region.byte_len())
        },
    }
}

/// Bytes to reserve for an output: its exact size, or TensorRT's upper bound when the shape
/// depends on the data.
fn output_capacity(
    context: &dyn ContextBackend,
    tensor: &TensorInfo,
    index: usize,
) -> Result<usize> {
    let shape = context.tensor_shape(index)?;
    match byte_size(tensor.dtype, &shape) {
        Some(bytes) => Ok(bytes),
        None => context.max_output_size(index),
    }
}
