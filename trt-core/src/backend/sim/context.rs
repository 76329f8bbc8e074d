//! Simulated execution contexts: shapes, bindings, activation memory and `enqueueV3`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::compute::{decode, encode, run_program, HostTensor};
use super::device::{DeviceMemory, ALLOCATION_ALIGNMENT};
use super::engine::EngineShared;
use super::plan::SimPlan;
use super::runtime_cache::SimRuntimeCache;
use super::stream::{Operation, SimStream};
use crate::backend::{
    AllocationStrategy, ContextBackend, ContextOptions, DevicePtr, KernelSpecialization,
    OutputAllocatorCallbacks, RuntimeCacheBackend, StreamBackend,
};
use crate::error::{Error, Result};
use crate::types::{DataType, Shape, TensorInfo};

/// Bytes written at the start of the activation arena on every enqueue, so that an arena
/// freed behind the context's back is detected.
const ACTIVATION_TOUCH: [u8; 16] = [0x5a; 16];

fn tensorrt(call: &'static str, message: String) -> Error {
    Error::TensorRt { call, message }
}

/// An API-usage error worded like TensorRT's log line for `method`.
fn usage_error(call: &'static str, method: &str, detail: String) -> Error {
    tensorrt(
        call,
        format!("IExecutionContext::{method}: Error Code 3: API Usage Error ({detail})"),
    )
}

/// Where the context's activation memory comes from.
enum Activation {
    /// Allocated at creation (`kSTATIC`, `kON_PROFILE_CHANGE`), freed on drop.
    Owned(DevicePtr),
    /// Supplied with `setDeviceMemoryV2` (`kUSER_MANAGED`); null until then.
    UserManaged { address: DevicePtr, bytes: usize },
}

/// A bound tensor as an enqueue uses it: fixed address, type and concrete dims.
#[derive(Clone, Debug)]
struct BoundTensor {
    address: DevicePtr,
    dtype: DataType,
    dims: Vec<usize>,
    bytes: usize,
}

/// The activation arena an enqueue runs with.
#[derive(Clone, Copy, Debug)]
struct Arena {
    address: DevicePtr,
    bytes: usize,
}

/// An output of a recorded enqueue: where it is written and how many bytes.
#[derive(Clone, Debug)]
struct RecordedOutput {
    address: DevicePtr,
    dtype: DataType,
    bytes: usize,
}

/// An `enqueueV3` recorded during a capture: the plan, the activation arena, and every
/// binding with the address and shape it had at recording.
pub(crate) struct RecordedEnqueue {
    plan: Arc<SimPlan>,
    activation: Option<Arena>,
    inputs: Vec<BoundTensor>,
    outputs: Vec<RecordedOutput>,
}

impl RecordedEnqueue {
    /// Replays the enqueue: reads the inputs at their recorded addresses and writes every
    /// output at its recorded address.
    pub(crate) fn execute(&self, memory: &DeviceMemory) -> Result<()> {
        touch_activation(memory, self.activation)?;
        let sources = read_inputs(memory, &self.inputs)?;
        for (index, output) in self.outputs.iter().enumerate() {
            let tensor = compute_output(&self.plan, index, &sources, memory)?;
            let bytes = encode(&tensor.values, output.dtype)
                .map_err(|message| tensorrt("enqueueV3", message))?;
            if bytes.len() != output.bytes {
                return Err(tensorrt(
                    "enqueueV3",
                    format!(
                        "replayed output {index} has {} bytes, {} were recorded",
                        bytes.len(),
                        output.bytes
                    ),
                ));
            }
            memory.write(output.address, &bytes)?;
        }
        Ok(())
    }
}

fn touch_activation(memory: &DeviceMemory, activation: Option<Arena>) -> Result<()> {
    match activation {
        Some(arena) => {
            memory.check_range(arena.address, arena.bytes)?;
            let length = arena.bytes.min(ACTIVATION_TOUCH.len());
            memory.write(arena.address, &ACTIVATION_TOUCH[..length])
        }
        None => Ok(()),
    }
}

fn read_inputs(memory: &DeviceMemory, inputs: &[BoundTensor]) -> Result<Vec<HostTensor>> {
    inputs
        .iter()
        .map(|input| {
            let bytes = memory.read(input.address, input.bytes)?;
            let values =
                decode(&bytes, input.dtype).map_err(|message| tensorrt("enqueueV3", message))?;
            Ok(HostTensor {
                dims: input.dims.clone(),
                values,
            })
        })
        .collect()
}

/// The simulation refuses intermediate tensors with more elements than a quarter of the
/// device's bytes (no real engine could hold them), so no shape exhausts host memory.
fn element_limit(memory: &DeviceMemory) -> usize {
    (memory.capacity() / 4).max(1 << 16)
}

fn compute_output(
    plan: &SimPlan,
    output: usize,
    inputs: &[HostTensor],
    memory: &DeviceMemory,
) -> Result<HostTensor> {
    let program = plan
        .programs
        .get(output)
        .ok_or_else(|| tensorrt("enqueueV3", format!("no output {output}")))?;
    let sources = program
        .sources
        .iter()
        .map(|&index| inputs.get(index))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            tensorrt(
                "enqueueV3",
                format!("output {output} names a missing input"),
            )
        })?;
    run_program(program, &sources, element_limit(memory)).map_err(|message| {
        let name = &plan.info.tensors[plan.num_inputs() + output].name;
        tensorrt(
            "enqueueV3",
            format!("IExecutionContext::enqueueV3: Error Code 7: Internal Error (output `{name}`: {message})"),
        )
    })
}

fn dims_of(shape: &Shape) -> Vec<usize> {
    shape
        .dims()
        .iter()
        .map(|&dim| usize::try_from(dim).unwrap_or(0))
        .collect()
}

/// A simulated execution context (`IExecutionContext`).
///
/// Activation memory: `kSTATIC` and `kON_PROFILE_CHANGE` contexts allocate the plan's
/// `activation_bytes` at creation (the need does not vary with profile or shapes), free it on
/// drop; `kUSER_MANAGED` contexts need `setDeviceMemoryV2` before their first enqueue. Every
/// enqueue writes a few bytes at the start of the arena, so a freed arena is detected.
///
/// Kernel specialization: with a [`SimRuntimeCache`] and any strategy but
/// [`KernelSpecialization::None`], every enqueue records the kernel id
/// `"<engine>/<input>=<shape>;..."` of its input shapes in the cache. The CUDA-graph strategy
/// is accepted and ignored.
pub struct SimContext {
    engine: Arc<EngineShared>,
    strategy: AllocationStrategy,
    kernel_cache: Option<Arc<dyn RuntimeCacheBackend>>,
    profile: usize,
    /// Per input: the shape set with `setInputShape`.
    input_shapes: Vec<Option<Shape>>,
    /// Per tensor: the address set with `setTensorAddress` (null when unset).
    addresses: Vec<DevicePtr>,
    /// Per output: the output allocator.
    allocators: Vec<Option<Arc<dyn OutputAllocatorCallbacks>>>,
    /// Per output: the memory the allocator last returned.
    allocator_memory: Vec<DevicePtr>,
    /// Per output: the shape the last enqueue produced (data-dependent outputs).
    produced_shapes: Vec<Option<Shape>>,
    activation: Activation,
}

impl SimContext {
    pub(crate) fn new(engine: Arc<EngineShared>, options: &ContextOptions) -> Result<SimContext> {
        let kernel_cache = match &options.runtime_cache {
            Some(cache) if cache.as_any().downcast_ref::<SimRuntimeCache>().is_none() => {
                return Err(Error::InvalidConfig(
                    "the host simulation only accepts runtime caches it created".to_owned(),
                ))
            }
            Some(cache) if options.kernel_specialization != KernelSpecialization::None => {
                Some(Arc::clone(cache))
            }
            _ => None,
        };
        let activation = match options.allocation {
            AllocationStrategy::Static | AllocationStrategy::OnProfileChange => {
                Activation::Owned(engine.memory.allocate(engine.plan.activation_bytes)?)
            }
            AllocationStrategy::UserManaged => Activation::UserManaged {
                address: DevicePtr::NULL,
                bytes: 0,
            },
        };
        let info = &engine.plan.info;
        let num_inputs = engine.plan.num_inputs();
        let num_outputs = engine.plan.programs.len();
        engine
            .counters
            .contexts_created
            .fetch_add(1, Ordering::Relaxed);
        if options.cuda_graph_strategy == crate::backend::CudaGraphStrategy::WholeGraphCapture {
            engine
                .counters
                .whole_graph_capture_contexts
                .fetch_add(1, Ordering::Relaxed);
        }
        engine
            .counters
            .contexts_live
            .fetch_add(1, Ordering::Relaxed);
        Ok(SimContext {
            strategy: options.allocation,
            kernel_cache,
            profile: 0,
            input_shapes: vec![None; num_inputs],
            addresses: vec![DevicePtr::NULL; info.tensors.len()],
            allocators: vec![None; num_outputs],
            allocator_memory: vec![DevicePtr::NULL; num_outputs],
            produced_shapes: vec![None; num_outputs],
            activation,
            engine,
        })
    }

    fn plan(&self) -> &SimPlan {
        &self.engine.plan
    }

    fn tensor(&self, call: &'static str, tensor: usize) -> Result<&TensorInfo> {
        let info = &self.engine.plan.info;
        info.tensors.get(tensor).ok_or_else(|| {
            tensorrt(
                call,
                format!(
                    "tensor index {tensor} is out of range: engine `{}` has {} I/O tensors",
                    info.name,
                    info.tensors.len()
                ),
            )
        })
    }

    /// The output number of tensor `tensor`, or an error naming the call.
    fn output_index(&self, call: &'static str, tensor: usize) -> Result<usize> {
        let info = self.tensor(call, tensor)?;
        if info.is_input() {
            return Err(tensorrt(
                call,
                format!("tensor `{}` is an input, not an output", info.name),
            ));
        }
        Ok(tensor - self.plan().num_inputs())
    }

    /// The shape an input runs with: the one set, or the engine's when it is static.
    fn effective_input_shape(&self, input: usize) -> Option<Shape> {
        let pattern = self.plan().info.tensors[input].shape;
        self.input_shapes[input].or((!pattern.is_dynamic()).then_some(pattern))
    }

    /// Output dims from the current input shapes (`-1` where unknown or data-dependent):
    /// the operand dims of every op, then the output dims.
    fn output_trace(&self, call: &'static str, output: usize) -> Result<Vec<Vec<i64>>> {
        let plan = self.plan();
        let program = &plan.programs[output];
        let shapes: Vec<Shape> = program
            .sources
            .iter()
            .map(|&input| {
                self.effective_input_shape(input)
                    .unwrap_or(plan.info.tensors[input].shape)
            })
            .collect();
        let dims: Vec<&[i64]> = shapes.iter().map(Shape::dims).collect();
        program.trace_dims(&dims).map_err(|message| {
            tensorrt(
                call,
                format!(
                    "output `{}`: {message}",
                    plan.info.tensors[plan.num_inputs() + output].name
                ),
            )
        })
    }

    fn output_shape(&self, call: &'static str, output: usize) -> Result<Shape> {
        if let Some(shape) = self.produced_shapes[output] {
            return Ok(shape);
        }
        let dims = self.output_trace(call, output)?.pop().unwrap_or_default();
        Shape::new(&dims).map_err(|error| tensorrt(call, error.to_string()))
    }

    /// The activation arena to use, after checking it is set, large enough and live.
    fn activation_for_enqueue(&self) -> Result<Option<Arena>> {
        let need = self.plan().activation_bytes;
        let address = match self.activation {
            Activation::Owned(address) => address,
            Activation::UserManaged { address, bytes } => {
                if need == 0 && address == DevicePtr::NULL {
                    return Ok(None);
                }
                if address == DevicePtr::NULL || bytes < need {
                    return Err(usage_error(
                        "enqueueV3",
                        "enqueueV3",
                        format!(
                            "Parameter check failed, condition: mContextMemory != nullptr. The context was \
                             created with kUSER_MANAGED and needs {need} bytes of device memory set with \
                             setDeviceMemoryV2; {bytes} bytes at {address} were set."
                        ),
                    ));
                }
                address
            }
        };
        self.engine.memory.check_range(address, need)?;
        Ok(Some(Arena {
            address,
            bytes: need,
        }))
    }

    /// Validates every input binding and returns it.
    fn bound_inputs(&self) -> Result<Vec<BoundTensor>> {
        let plan = self.plan();
        (0..plan.num_inputs())
            .map(|input| {
                let info = &plan.info.tensors[input];
                let shape = self.effective_input_shape(input).ok_or_else(|| {
                    usage_error(
                        "enqueueV3",
                        "enqueueV3",
                        format!(
                            "Parameter check failed, condition: allInputDimensionsSpecified(). Input tensor `{}` \
                             has dynamic shape {} and no shape was set with setInputShape.",
                            info.name, info.shape
                        ),
                    )
                })?;
                let address = self.addresses[input];
                if address == DevicePtr::NULL {
                    return Err(usage_error(
                        "enqueueV3",
                        "enqueueV3",
                        format!(
                            "Parameter check failed, condition: allInputsBound(). Input tensor `{}` has no address \
                             set with setTensorAddress.",
                            info.name
                        ),
                    ));
                }
                let volume = shape
                    .volume()
                    .ok_or_else(|| tensorrt("enqueueV3", format!("input `{}`: volume of {shape} overflows", info.name)))?;
                let bytes = info.dtype.bytes_for(volume);
                self.engine.memory.check_range(address, bytes)?;
                Ok(BoundTensor {
                    address,
                    dtype: info.dtype,
                    dims: dims_of(&shape),
                    bytes,
                })
            })
            .collect()
    }

    /// The kernel id the current input shapes select.
    fn kernel_id(&self, inputs: &[BoundTensor]) -> String {
        let plan = self.plan();
        let shapes = inputs
            .iter()
            .zip(&plan.info.tensors)
            .map(|(input, info)| {
                let dims: Vec<String> = input.dims.iter().map(usize::to_string).collect();
                format!("{}=[{}]", info.name, dims.join(", "))
            })
            .collect::<Vec<_>>()
            .join(";");
        format!("{}/{shapes}", plan.info.name)
    }

    /// Why this enqueue cannot be captured, if it cannot.
    fn not_capturable_reason(&self) -> Option<String> {
        let plan = self.plan();
        if let Some(output) = plan
            .programs
            .iter()
            .position(|program| program.data_dependent)
        {
            return Some(format!(
                "output `{}` of engine `{}` has a data-dependent shape: enqueueV3 with an output allocator is not \
                 capturable",
                plan.info.tensors[plan.num_inputs() + output].name,
                plan.info.name
            ));
        }
        if self.engine.weight_streaming_active() {
            let (budget, streamable) = self.engine.weight_streaming_state();
            return Some(format!(
                "weight streaming is active on engine `{}` (budget {budget} of {streamable} streamable bytes): \
                 enqueueV3 synchronizes and is not capturable",
                plan.info.name
            ));
        }
        None
    }

    /// Gives output `output` memory of `bytes`: the output allocator's, or the bound address
    /// after checking it has room.
    fn output_memory(&mut self, output: usize, bytes: usize) -> Result<DevicePtr> {
        let tensor = self.plan().num_inputs() + output;
        let address = match &self.allocators[output] {
            Some(allocator) => {
                let current = match self.allocator_memory[output] {
                    DevicePtr::NULL => self.addresses[tensor],
                    memory => memory,
                };
                let memory = allocator
                    .reallocate(tensor, current, bytes, ALLOCATION_ALIGNMENT)
                    .ok_or_else(|| {
                        tensorrt(
                            "enqueueV3",
                            format!(
                                "IExecutionContext::enqueueV3: Error Code 2: Internal Error (output allocator of \
                                 tensor `{}` returned no memory for {bytes} bytes)",
                                self.plan().info.tensors[tensor].name
                            ),
                        )
                    })?;
                self.allocator_memory[output] = memory;
                memory
            }
            None => self.addresses[tensor],
        };
        self.engine.memory.check_range(address, bytes)?;
        Ok(address)
    }

    fn notify_shape(&self, output: usize, shape: &Shape) {
        if let Some(allocator) = &self.allocators[output] {
            allocator.notify_shape(self.plan().num_inputs() + output, shape);
        }
    }

    /// Records the enqueue on a capturing stream. Output allocators are asked for memory
    /// now, since every output shape is known (data-dependent ones are not capturable).
    fn record(
        &mut self,
        stream: &SimStream,
        activation: Option<Arena>,
        inputs: Vec<BoundTensor>,
    ) -> Result<()> {
        let num_outputs = self.plan().programs.len();
        let mut outputs = Vec::with_capacity(num_outputs);
        for output in 0..num_outputs {
            let shape = self.output_shape("enqueueV3", output)?;
            let dtype = self.plan().info.tensors[self.plan().num_inputs() + output].dtype;
            let volume = shape.volume().ok_or_else(|| {
                tensorrt("enqueueV3", format!("output shape {shape} is not concrete"))
            })?;
            let bytes = dtype.bytes_for(volume);
            let address = self.output_memory(output, bytes)?;
            self.notify_shape(output, &shape);
            outputs.push(RecordedOutput {
                address,
                dtype,
                bytes,
            });
        }
        stream.submit(Operation::Enqueue(Box::new(RecordedEnqueue {
            plan: Arc::clone(&self.engine.plan),
            activation,
            inputs,
            outputs,
        })))
    }

    /// Runs the enqueue now: compute, then place every output and notify its allocator.
    fn execute(&mut self, activation: Option<Arena>, inputs: &[BoundTensor]) -> Result<()> {
        let memory = Arc::clone(&self.engine.memory);
        touch_activation(&memory, activation)?;
        let sources = read_inputs(&memory, inputs)?;
        let plan = Arc::clone(&self.engine.plan);
        let results = (0..plan.programs.len())
            .map(|output| compute_output(&plan, output, &sources, &memory))
            .collect::<Result<Vec<_>>>()?;
        let mut shapes = Vec::with_capacity(results.len());
        for (output, result) in results.iter().enumerate() {
            let info = &plan.info.tensors[plan.num_inputs() + output];
            let bytes = encode(&result.values, info.dtype)
                .map_err(|message| tensorrt("enqueueV3", message))?;
            let address = self.output_memory(output, bytes.len())?;
            memory.write(address, &bytes)?;
            let shape = Shape::from_extents(&result.dims)
                .map_err(|error| tensorrt("enqueueV3", error.to_string()))?;
            shapes.push(shape);
        }
        for (output, shape) in shapes.iter().enumerate() {
            if plan.programs[output].data_dependent {
                self.produced_shapes[output] = Some(*shape);
            }
            self.notify_shape(output, shape);
        }
        Ok(())
    }
}

impl std::fmt::Debug for SimContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimContext")
            .field("engine", &self.plan().info.name)
            .field("strategy", &self.strategy)
            .field("profile", &self.profile)
            .field("input_shapes", &self.input_shapes)
            .finish()
    }
}

impl Drop for SimContext {
    fn drop(&mut self) {
        if let Activation::Owned(address) = self.activation {
            self.engine.memory.free(address);
        }
        self.engine
            .counters
            .contexts_live
            .fetch_sub(1, Ordering::Relaxed);
        self.engine.context_dropped();
    }
}

impl ContextBackend for SimContext {
    /// Selects a profile and forgets the input shapes set so far (TensorRT does the same).
    fn set_optimization_profile(
        &mut self,
        profile: usize,
        _stream: &dyn StreamBackend,
    ) -> Result<()> {
        let num_profiles = self.plan().info.num_profiles;
        if profile >= num_profiles {
            return Err(usage_error(
                "setOptimizationProfileAsync",
                "setOptimizationProfileAsync",
                format!(
                    "Parameter check failed, condition: profileIndex >= 0 && profileIndex < \
                     mEngine.getNbOptimizationProfiles(). Profile {profile} requested; engine `{}` has \
                     {num_profiles} profile(s).",
                    self.plan().info.name
                ),
            ));
        }
        self.profile = profile;
        self.input_shapes.iter_mut().for_each(|shape| *shape = None);
        self.produced_shapes
            .iter_mut()
            .for_each(|shape| *shape = None);
        Ok(())
    }

    fn set_input_shape(&mut self, tensor: usize, shape: &Shape) -> Result<()> {
        const CALL: &str = "setInputShape";
        let info = self.tensor(CALL, tensor)?;
        let failed = |detail: String| {
            usage_error(
                CALL,
                CALL,
                format!("Parameter check failed, condition: {detail}"),
            )
        };
        if !info.is_input() {
            return Err(failed(format!(
                "mEngine.isInput(name). Tensor `{}` is an output; only input shapes can be set.",
                info.name
            )));
        }
        let pattern = info.shape;
        if shape.rank() != pattern.rank() {
            return Err(failed(format!(
                "engineDims.nbDims == dims.nbDims. Wrong number of dimensions for tensor `{}`: set {shape} \
                 (rank {}), expected rank {} like {pattern}.",
                info.name,
                shape.rank(),
                pattern.rank()
            )));
        }
        if let Some(axis) = (0..shape.rank())
            .find(|&axis| pattern.dims()[axis] != -1 && pattern.dims()[axis] != shape.dims()[axis])
        {
            return Err(failed(format!(
                "engineDims.d[i] == dims.d[i]. Static dimension mismatch while setting input shape for `{}`: \
                 dimension {axis} must be {}. Set dimensions are {shape}. Expected dimensions are {pattern}.",
                info.name,
                pattern.dims()[axis]
            )));
        }
        if shape.is_dynamic() {
            return Err(failed(format!(
                "dims.d[i] >= 0. Set dimensions {shape} for tensor `{}` contain -1; set concrete dimensions.",
                info.name
            )));
        }
        let profile = &info.profiles[self.profile];
        if !profile.contains(shape) {
            return Err(failed(format!(
                "inRange(dims, profileMinDims, profileMaxDims). Set dimensions {shape} for tensor `{}` are \
                 outside optimization profile {}: min {}, max {}.",
                info.name, self.profile, profile.min, profile.max
            )));
        }
        if self.input_shapes[tensor] != Some(*shape) {
            self.input_shapes[tensor] = Some(*shape);
            self.produced_shapes
                .iter_mut()
                .for_each(|produced| *produced = None);
        }
        Ok(())
    }

    fn tensor_shape(&self, tensor: usize) -> Result<Shape> {
        const CALL: &str = "getTensorShape";
        let info = self.tensor(CALL, tensor)?;
        if info.is_input() {
            return Ok(self.input_shapes[tensor].unwrap_or(info.shape));
        }
        self.output_shape(CALL, tensor - self.plan().num_inputs())
    }

    /// Data-dependent outputs: operand volume × operand rank × 8 bytes (every element nonzero).
    /// Other outputs: the bytes of their current shape.
    fn max_output_size(&self, tensor: usize) -> Result<usize> {
        const CALL: &str = "getMaxOutputSize";
        let output = self.output_index(CALL, tensor)?;
        let info = &self.plan().info.tensors[tensor];
        let trace = self.output_trace(CALL, output)?;
        let unknown = || {
            tensorrt(
                CALL,
                format!(
                    "output `{}`: the input shapes it depends on are not all set",
                    info.name
                ),
            )
        };
        let overflow = || tensorrt(CALL, format!("output `{}`: size overflows", info.name));
        let volume_of = |dims: &[i64]| -> Result<usize> {
            dims.iter().try_fold(1usize, |acc, &dim| {
                let dim = usize::try_from(dim).map_err(|_| unknown())?;
                acc.checked_mul(dim).ok_or_else(overflow)
            })
        };
        if self.plan().programs[output].data_dependent {
            let operand = trace
                .len()
                .checked_sub(2)
                .and_then(|index| trace.get(index))
                .ok_or_else(unknown)?;
            volume_of(operand)?
                .checked_mul(operand.len())
                .and_then(|elements| elements.checked_mul(8))
                .ok_or_else(overflow)
        } else {
            let dims = trace.last().ok_or_else(unknown)?;
            Ok(info.dtype.bytes_for(volume_of(dims)?))
        }
    }

    /// A null address unbinds the tensor. Addresses must be aligned to the element size.
    unsafe fn set_tensor_address(&mut self, tensor: usize, address: DevicePtr) -> Result<()> {
        const CALL: &str = "setTensorAddress";
        let info = self.tensor(CALL, tensor)?;
        let alignment = (info.dtype.size_in_bits() / 8).max(1) as u64;
        if !address.0.is_multiple_of(alignment) {
            return Err(usage_error(
                CALL,
                CALL,
                format!(
                    "Parameter check failed, condition: isAligned(data, {alignment}). Address {address} of tensor \
                     `{}` ({}) is not aligned to {alignment} bytes.",
                    info.name, info.dtype
                ),
            ));
        }
        self.addresses[tensor] = address;
        Ok(())
    }

    fn set_output_allocator(
        &mut self,
        tensor: usize,
        allocator: Option<Arc<dyn OutputAllocatorCallbacks>>,
    ) -> Result<()> {
        let output = self.output_index("setOutputAllocator", tensor)?;
        self.allocators[output] = allocator;
        self.allocator_memory[output] = DevicePtr::NULL;
        Ok(())
    }

    /// The simulation's activation need does not depend on shapes: always `activation_bytes`.
    fn device_memory_size_for_shapes(&mut self) -> Result<usize> {
        Ok(self.plan().activation_bytes)
    }

    /// Only for [`AllocationStrategy::UserManaged`] contexts; the address must be 256-byte
    /// aligned. Size and liveness are checked at enqueue.
    unsafe fn set_device_memory(&mut self, address: DevicePtr, bytes: usize) -> Result<()> {
        const CALL: &str = "setDeviceMemoryV2";
        if self.strategy != AllocationStrategy::UserManaged {
            return Err(usage_error(
                CALL,
                CALL,
                format!(
                    "Parameter check failed, condition: mAllocationStrategy == kUSER_MANAGED. The context was created \
                     with {:?}; device memory can only be set on kUSER_MANAGED contexts.",
                    self.strategy
                ),
            ));
        }
        if !address.0.is_multiple_of(ALLOCATION_ALIGNMENT as u64) {
            return Err(usage_error(
                CALL,
                CALL,
                format!(
                    "Parameter check failed, condition: isAligned(memory, 256). Device memory at {address} is not \
                     aligned to 256 bytes."
                ),
            ));
        }
        self.activation = Activation::UserManaged { address, bytes };
        Ok(())
    }

    unsafe fn enqueue(&mut self, stream: &dyn StreamBackend) -> Result<()> {
        let stream = SimStream::of_device(stream, &self.engine.memory)?;
        let inputs = self.bound_inputs()?;
        let plan = Arc::clone(&self.engine.plan);
        for output in 0..plan.programs.len() {
            let tensor = plan.num_inputs() + output;
            if self.addresses[tensor] == DevicePtr::NULL && self.allocators[output].is_none() {
                return Err(usage_error(
                    "enqueueV3",
                    "enqueueV3",
                    format!(
                        "Parameter check failed, condition: allOutputsBound(). Output tensor `{}` has neither an \
                         address (setTensorAddress) nor an output allocator (setOutputAllocator).",
                        plan.info.tensors[tensor].name
                    ),
                ));
            }
            // Fails early on inconsistent input shapes (an `add` of unequal shapes).
            self.output_trace("enqueueV3", output)?;
        }
        let activation = self.activation_for_enqueue()?;
        if let Some(cache) = &self.kernel_cache {
            if let Some(cache) = cache.as_any().downcast_ref::<SimRuntimeCache>() {
                cache.record_kernel(self.kernel_id(&inputs));
            }
        }
        if stream.is_capturing() {
            if let Some(reason) = self.not_capturable_reason() {
                return Err(stream.invalidate_capture(reason));
            }
            self.record(stream, activation, inputs)?;
        } else {
            self.execute(activation, &inputs)?;
        }
        self.engine
            .counters
            .enqueues
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
