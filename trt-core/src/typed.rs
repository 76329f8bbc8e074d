//! Typed models: the runtime side of `#[trt_model]`.
//!
//! The macro turns a struct declaring one field per engine tensor into a [`TypedModel`]:
//! a [`ModelSpec`] (the declaration as data), an inputs struct of [`TypedInput`]s, and an
//! outputs struct whose accessors return [`TypedOutputView`]s. Everything else is generic
//! code here:
//!
//! - loading ([`load`], [`load_from`], [`from_plan_bytes`], [`from_engine`]) checks the engine
//!   against the declaration with [`trt_manifest::check_model`], the same check the macro
//!   runs at compile time against a manifest, and fails with [`ModelError::Mismatch`] naming
//!   every offending field;
//! - [`TypedSessionBuilder`] and [`TypedSession`] wrap the typestate session API, so every
//!   mode and rule carries over, and a run takes typed inputs and returns typed outputs
//!   (owned, or borrowed until the next run with pre-allocated outputs);
//! - each run checks the declared fixed extents and that a named extent (`Batch`) is the same
//!   wherever it appears ([`ModelError::Shape`]).
//!
//! What the macro generates, written by hand for `models/mlp.simplan`:
//!
//! ```
//! use trt_core::typed::{self, Dim, FieldDecl, Mode, ModelSpec, OutputSet, TypedInput, TypedModel};
//! use trt_core::{Engine, Input, Runtime};
//!
//! struct Mlp { engine: Engine }
//! struct MlpInputs<'a> { x: TypedInput<'a, f32, 2> }
//! struct MlpOutputs<'s> { outputs: OutputSet<'s> }
//! impl MlpOutputs<'_> {
//!     fn y(&self) -> typed::TypedOutputView<'_, f32, 2> { self.outputs.view(0) }
//! }
//!
//! impl TypedModel for Mlp {
//!     const SPEC: ModelSpec = ModelSpec {
//!         model: "Mlp",
//!         engine_path: concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan"),
//!         embedded_plan: None,
//!         fields: &[
//!             FieldDecl { field: "x", tensor: "x", mode: Mode::Input, dtype: "f32",
//!                         dims: &[Dim::Named("Batch"), Dim::Static(16)] },
//!             FieldDecl { field: "y", tensor: "y", mode: Mode::Output, dtype: "f32",
//!                         dims: &[Dim::Named("Batch"), Dim::Static(8)] },
//!         ],
//!     };
//!     type Inputs<'a> = MlpInputs<'a>;
//!     type Outputs<'s> = MlpOutputs<'s>;
//!     type InputList<'a> = [Input<'a>; 1];
//!     fn input_list<'a>(inputs: &Self::Inputs<'a>) -> Self::InputList<'a> {
//!         [Input::new("x", inputs.x.tensor_ref())]
//!     }
//!     fn outputs(outputs: OutputSet<'_>) -> MlpOutputs<'_> { MlpOutputs { outputs } }
//!     fn engine(&self) -> &Engine { &self.engine }
//!     fn engine_mut(&mut self) -> &mut Engine { &mut self.engine }
//!     fn into_engine(self) -> Engine { self.engine }
//!     fn from_validated_engine(engine: Engine) -> Self { Mlp { engine } }
//! }
//!
//! # fn main() -> Result<(), typed::ModelError> {
//! let model: Mlp = typed::load(&Runtime::simulated())?;
//! let mut session = typed::TypedSessionBuilder::new(&model).build()?;
//! let features = vec![0.5f32; 3 * 16];
//! let outputs = session.run(&MlpInputs { x: TypedInput::host(&features, [3, 16])? })?;
//! assert_eq!(outputs.y().dims(), [3, 8]);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use smallvec::SmallVec;

pub use half::{bf16, f16};
pub use trt_manifest::{
    check_model, Dim, FieldDecl, Manifest, Mismatch, MismatchKind, Mode, PlanFingerprint,
    ProfileEntry, TensorEntry,
};

use crate::backend::{DeviceBackend, DevicePtr};
use crate::cache::{GraphCache, GraphCacheHandle};
use crate::engine::{Engine, Runtime, RuntimeSettings, WeightStreamingBudget, WeightStreamingInfo};
use crate::error::{Error, Result};
use crate::session::{
    AcceptsCudaGraphs, AcceptsOutputAllocator, AcceptsWeightStreaming, BorrowedOutputs, CudaGraphs,
    OutputAllocator, OutputPolicy, Outputs, Owned, PreAllocated, RunOptions, Session,
    SessionBuilder, SessionMode, Standard, WeightStreaming,
};
use crate::tensor::{DeviceTensor, DeviceTensorView, Element, HostTensor, Input, TensorRef};
use crate::types::{DataType, EngineInfo, Shape, TensorIoMode};

/// A typed model declaration as data: what `#[trt_model]` generates from the struct.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    /// The struct's name.
    pub model: &'static str,
    /// The plan the model loads by default (absolute: resolved at compile time).
    pub engine_path: &'static str,
    /// The plan bytes, when compiled in with `embed`.
    pub embedded_plan: Option<&'static [u8]>,
    /// The fields: inputs first, then outputs, each in declaration order.
    pub fields: &'static [FieldDecl<'static>],
}

impl ModelSpec {
    /// The `#[input]` fields, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &FieldDecl<'static>> {
        self.fields.iter().filter(|field| field.mode == Mode::Input)
    }

    /// The `#[output]` fields, in order (the slots of [`OutputSet::view`]).
    pub fn outputs(&self) -> impl Iterator<Item = &FieldDecl<'static>> {
        self.fields
            .iter()
            .filter(|field| field.mode == Mode::Output)
    }
}

/// A model type generated by `#[trt_model]`: its declaration, its input and output types,
/// and how they map to the untyped session API.
pub trait TypedModel: Sized {
    /// The declaration.
    const SPEC: ModelSpec;
    /// One typed input per `#[input]` field.
    type Inputs<'a>;
    /// One accessor per `#[output]` field, over an [`OutputSet`].
    type Outputs<'s>;
    /// The untyped inputs of a run (an array: no allocation).
    type InputList<'a>: AsRef<[Input<'a>]>;
    /// The untyped inputs, in [`ModelSpec::inputs`] order.
    fn input_list<'a>(inputs: &Self::Inputs<'a>) -> Self::InputList<'a>;
    /// Wraps a run's outputs.
    fn outputs(outputs: OutputSet<'_>) -> Self::Outputs<'_>;
    /// The engine.
    fn engine(&self) -> &Engine;
    /// The engine, exclusively (settings; the I/O cannot change).
    fn engine_mut(&mut self) -> &mut Engine;
    /// Gives the engine back.
    fn into_engine(self) -> Engine;
    /// Wraps an engine that [`from_engine`] has checked; use [`from_engine`] instead.
    #[doc(hidden)]
    fn from_validated_engine(engine: Engine) -> Self;
}

/// A typed model failed to load or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The engine could not be loaded, or the run failed (bad input, device errors...).
    #[error(transparent)]
    Engine(#[from] Error),
    /// The engine does not match the declaration.
    #[error(
        "model `{model}` does not match engine `{engine}`: {}",
        join_mismatches(mismatches)
    )]
    Mismatch {
        /// The struct.
        model: &'static str,
        /// The engine's name.
        engine: String,
        /// Every difference, in field order.
        mismatches: Vec<Mismatch>,
    },
    /// A run's shapes break a declared fixed extent or a named extent.
    #[error("model `{model}`, field `{field}`: dimension {axis} is {found}, but {rule}")]
    Shape {
        /// The struct.
        model: &'static str,
        /// The field.
        field: &'static str,
        /// The axis.
        axis: usize,
        /// The extent found.
        found: i64,
        /// What it should have been.
        rule: ShapeRule,
    },
}

fn join_mismatches(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The rule a run's extent broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeRule {
    /// The struct declares this fixed extent.
    Fixed(i64),
    /// A named extent, already bound in this run by another dimension.
    Named {
        /// The name.
        name: &'static str,
        /// Its extent in this run.
        extent: i64,
        /// The field that bound it.
        field: &'static str,
        /// The axis there.
        axis: usize,
    },
}

impl fmt::Display for ShapeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeRule::Fixed(extent) => write!(f, "the struct declares {extent}"),
            ShapeRule::Named {
                name,
                extent,
                field,
                axis,
            } => write!(
                f,
                "`{name}` is {extent} in this run (dimension {axis} of field `{field}`)"
            ),
        }
    }
}

impl ModelError {
    /// The differences of a [`ModelError::Mismatch`]; empty for other errors.
    pub fn mismatches(&self) -> &[Mismatch] {
        match self {
            ModelError::Mismatch { mismatches, .. } => mismatches,
            _ => &[],
        }
    }

    /// True for errors caused by the inputs of one run: the session is unchanged by them.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ModelError::Engine(error) => error.is_bad_input(),
            ModelError::Shape { .. } => true,
            ModelError::Mismatch { .. } => false,
        }
    }
}

/// The engine's I/O table in manifest form (tensors that are neither input nor output are
/// left out).
///
/// ```
/// use trt_core::{typed, Runtime};
/// let runtime = Runtime::simulated();
/// let engine = runtime.load_engine(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mlp.simplan")).unwrap();
/// let table = typed::io_table(engine.info());
/// assert_eq!(table[0].name, "x");
/// assert_eq!(table[0].profiles[0].max, [64, 16]);
/// ```
pub fn io_table(info: &EngineInfo) -> Vec<TensorEntry> {
    info.tensors
        .iter()
        .filter_map(|tensor| {
            let mode = match tensor.mode {
                TensorIoMode::Input => Mode::Input,
                TensorIoMode::Output => Mode::Output,
                TensorIoMode::None => return None,
            };
            Some(TensorEntry {
                name: tensor.name.clone(),
                mode,
                dtype: tensor.dtype.name().to_owned(),
                shape: tensor.shape.dims().to_vec(),
                profiles: tensor
                    .profiles
                    .iter()
                    .map(|profile| ProfileEntry {
                        min: profile.min.dims().to_vec(),
                        opt: profile.opt.dims().to_vec(),
                        max: profile.max.dims().to_vec(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The manifest of an engine deserialized from `plan` (a file called `plan_file`), by the
/// TensorRT build `flavor` (for example `"TensorRT 10.13.0"` or `"host simulation"`).
pub fn manifest(info: &EngineInfo, flavor: &str, plan_file: &str, plan: &[u8]) -> Manifest {
    Manifest {
        format: trt_manifest::FORMAT_VERSION,
        engine: info.name.clone(),
        flavor: flavor.to_owned(),
        plan: PlanFingerprint::of(plan_file, plan),
        device_memory_bytes: info.device_memory_size as u64,
        weights_bytes: info.weights_size as u64,
        streamable_weights_bytes: info.streamable_weights_size as u64,
        num_profiles: info.num_profiles,
        tensors: io_table(info),
    }
}

/// Checks an engine against a declaration: every difference, naming the fields.
pub fn check(spec: &ModelSpec, info: &EngineInfo) -> Result<(), ModelError> {
    let mismatches = check_model(spec.fields, &io_table(info));
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Mismatch {
            model: spec.model,
            engine: info.name.clone(),
            mismatches,
        })
    }
}

/// Loads the model's plan (embedded, or from [`ModelSpec::engine_path`]) on `runtime`.
pub fn load<M: TypedModel>(runtime: &Runtime) -> Result<M, ModelError> {
    match M::SPEC.embedded_plan {
        Some(plan) => from_plan_bytes(runtime, plan),
        None => load_from(runtime, Path::new(M::SPEC.engine_path)),
    }
}

/// Loads the plan at `path` on `runtime` and checks it against the declaration.
pub fn load_from<M: TypedModel>(runtime: &Runtime, path: &Path) -> Result<M, ModelError> {
    from_engine(runtime.load_engine(path)?)
}

/// Deserializes `plan` on `runtime` and checks it against the declaration.
pub fn from_plan_bytes<M: TypedModel>(runtime: &Runtime, plan: &[u8]) -> Result<M, ModelError> {
    from_engine(runtime.engine_from_bytes(plan)?)
}

/// Checks `engine` against the declaration.
pub fn from_engine<M: TypedModel>(engine: Engine) -> Result<M, ModelError> {
    check(&M::SPEC, engine.info())?;
    Ok(M::from_validated_engine(engine))
}

fn dims_array<const RANK: usize>(shape: &Shape) -> [usize; RANK] {
    std::array::from_fn(|axis| {
        shape
            .dims()
            .get(axis)
            .map_or(0, |&extent| usize::try_from(extent).unwrap_or(0))
    })
}

/// One input of a typed run: element type `T` and rank `RANK` are part of the type.
///
/// ```
/// use trt_core::typed::TypedInput;
/// let pixels = vec![0u8; 2 * 4 * 4 * 3];
/// let frame = TypedInput::<u8, 4>::host(&pixels, [2, 4, 4, 3]).unwrap();
/// assert_eq!(frame.dims(), [2, 4, 4, 3]);
/// assert!(TypedInput::<u8, 2>::host(&pixels, [5, 5]).is_err()); // 25 elements wanted
/// ```
pub struct TypedInput<'a, T: Element, const RANK: usize> {
    tensor: TensorRef<'a>,
    _element: PhantomData<&'a [T]>,
}

impl<T: Element, const RANK: usize> Clone for TypedInput<'_, T, RANK> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Element, const RANK: usize> Copy for TypedInput<'_, T, RANK> {}

impl<'a, T: Element, const RANK: usize> TypedInput<'a, T, RANK> {
    /// Host data viewed with extents `dims` (their product must be `data.len()`).
    pub fn host(data: &'a [T], dims: [usize; RANK]) -> Result<Self> {
        let shape = Shape::from_extents(&dims)?;
        let expected = shape.volume().ok_or_else(|| Error::InvalidShape {
            shape: shape.to_string(),
            reason: "the number of elements overflows",
        })?;
        if expected != data.len() {
            return Err(Error::ByteSizeMismatch {
                tensor: "<typed input>".into(),
                dtype: T::DTYPE,
                shape,
                expected: T::DTYPE.bytes_for(expected),
                found: std::mem::size_of_val(data),
            });
        }
        Ok(TypedInput {
            tensor: TensorRef::Host {
                bytes: bytemuck::cast_slice(data),
                dtype: T::DTYPE,
                shape,
            },
            _element: PhantomData,
        })
    }

    /// A host tensor; fails when its element type or rank differ.
    pub fn from_host(tensor: &'a HostTensor) -> Result<Self> {
        Self::checked(tensor.into())
    }

    /// A device tensor; fails when its element type or rank differ.
    pub fn from_device(tensor: &'a DeviceTensor) -> Result<Self> {
        Self::checked(tensor.into())
    }

    /// A device tensor view (another session's output, for example).
    pub fn from_view(view: DeviceTensorView<'a>) -> Result<Self> {
        Self::checked(view.into())
    }

    /// A typed output of another model, of the same element type and rank: chains models
    /// on the device without a copy through the host.
    pub fn from_output(output: TypedOutputView<'a, T, RANK>) -> Self {
        TypedInput {
            tensor: output.view.into(),
            _element: PhantomData,
        }
    }

    fn checked(tensor: TensorRef<'a>) -> Result<Self> {
        if tensor.dtype() != T::DTYPE {
            return Err(Error::ElementTypeMismatch {
                tensor: "<typed input>".into(),
                actual: tensor.dtype(),
                requested: T::DTYPE,
            });
        }
        if tensor.shape().rank() != RANK {
            return Err(Error::InvalidShape {
                shape: tensor.shape().to_string(),
                reason: "the rank differs from the typed input's",
            });
        }
        Ok(TypedInput {
            tensor,
            _element: PhantomData,
        })
    }

    /// The extents.
    pub fn dims(&self) -> [usize; RANK] {
        dims_array(&self.tensor.shape())
    }

    /// The untyped tensor, as a run takes it.
    pub fn tensor_ref(&self) -> TensorRef<'a> {
        self.tensor
    }
}

impl<T: Element, const RANK: usize> fmt::Debug for TypedInput<'_, T, RANK> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedInput({} {})", T::DTYPE, self.tensor.shape())
    }
}

/// One output of a typed run, in device memory: element type `T` and rank `RANK` are part
/// of the type. It borrows the outputs it came from.
pub struct TypedOutputView<'s, T: Element, const RANK: usize> {
    view: DeviceTensorView<'s>,
    _element: PhantomData<T>,
}

impl<T: Element, const RANK: usize> Clone for TypedOutputView<'_, T, RANK> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Element, const RANK: usize> Copy for TypedOutputView<'_, T, RANK> {}

impl<'s, T: Element, const RANK: usize> TypedOutputView<'s, T, RANK> {
    /// The extents.
    pub fn dims(&self) -> [usize; RANK] {
        dims_array(&self.view.shape())
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.view.shape()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.view.shape().volume().unwrap_or(0)
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Downloads the elements (synchronous).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.view.to_vec()
    }

    /// Downloads to a host tensor (synchronous).
    pub fn to_host(&self) -> Result<HostTensor> {
        self.view.to_host()
    }

    /// The untyped view.
    pub fn view(&self) -> DeviceTensorView<'s> {
        self.view
    }
}

impl<T: Element, const RANK: usize> fmt::Debug for TypedOutputView<'_, T, RANK> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedOutputView({} {})", T::DTYPE, self.view.shape())
    }
}

/// Where one declared output of a run is.
#[derive(Clone, Copy, Debug)]
struct OutputSlot {
    ptr: DevicePtr,
    dtype: DataType,
    shape: Shape,
}

/// What keeps the outputs' memory valid.
// `Outputs` keeps up to four tensors inline; it is moved once per run, and boxing it would
// add an allocation to every owned run.
#[allow(clippy::large_enum_variant)]
enum Holder<'s> {
    Owned(Outputs),
    Borrowed(BorrowedOutputs<'s>),
}

/// The outputs of a typed run: owned (`'static`), or borrowed from the session's
/// pre-allocated buffers until its next run. Generated output types wrap one.
pub struct OutputSet<'s> {
    slots: SmallVec<[OutputSlot; 4]>,
    device: Arc<dyn DeviceBackend>,
    holder: Holder<'s>,
}

impl<'s> OutputSet<'s> {
    /// Declared output number `slot` (in [`ModelSpec::outputs`] order) as a typed view.
    ///
    /// # Panics
    ///
    /// When `slot`, `T` or `RANK` do not match the declaration: generated accessors always
    /// pass the declaration's own values, which the load and the run have checked.
    #[doc(hidden)]
    pub fn view<T: Element, const RANK: usize>(&self, slot: usize) -> TypedOutputView<'_, T, RANK> {
        let found = self.slots[slot];
        assert!(
            found.dtype == T::DTYPE && found.shape.rank() == RANK,
            "output slot {slot} holds {} {}, not {} of rank {RANK}",
            found.dtype,
            found.shape,
            T::DTYPE
        );
        TypedOutputView {
            view: DeviceTensorView::new(found.ptr, found.dtype, found.shape, &self.device),
            _element: PhantomData,
        }
    }

    /// Any engine output by name, untyped (also the ones no field declares).
    pub fn get(&self, name: &str) -> Result<DeviceTensorView<'_>> {
        match &self.holder {
            Holder::Owned(outputs) => outputs.get(name).map(DeviceTensor::view),
            Holder::Borrowed(outputs) => outputs.get(name),
        }
    }

    /// Downloads engine output `name` to host memory.
    pub fn to_host(&self, name: &str) -> Result<HostTensor> {
        self.get(name)?.to_host()
    }
}

impl fmt::Debug for OutputSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map(|slot| (slot.dtype, slot.shape)))
            .finish()
    }
}

/// The named extents bound so far in one run.
#[derive(Default)]
struct Bindings {
    /// (name, extent, field, axis)
    bound: SmallVec<[(&'static str, i64, &'static str, usize); 4]>,
}

impl Bindings {
    /// Checks `shape` against the field's fixed and named extents, binding new names.
    fn check(
        &mut self,
        model: &'static str,
        field: &FieldDecl<'static>,
        shape: &Shape,
    ) -> Result<(), ModelError> {
        for (axis, (dim, &found)) in field.dims.iter().zip(shape.dims()).enumerate() {
            let broken = |rule| ModelError::Shape {
                model,
                field: field.field,
                axis,
                found,
                rule,
            };
            match *dim {
                Dim::Static(extent) if extent != found => {
                    return Err(broken(ShapeRule::Fixed(extent)))
                }
                Dim::Named(name) => match self.bound.iter().find(|bound| bound.0 == name) {
                    Some(&(_, extent, by, by_axis)) if extent != found => {
                        return Err(broken(ShapeRule::Named {
                            name,
                            extent,
                            field: by,
                            axis: by_axis,
                        }))
                    }
                    Some(_) => {}
                    None => self.bound.push((name, found, field.field, axis)),
                },
                Dim::Static(_) | Dim::Any => {}
            }
        }
        Ok(())
    }
}

/// Output policies of typed sessions: [`Owned`] runs return `M::Outputs<'static>`,
/// [`PreAllocated`] runs `M::Outputs<'s>` borrowing the session until its next run.
pub trait TypedOutputPolicy: OutputPolicy {
    /// What a typed run returns.
    type Typed<'s, M: TypedModel>;
    /// Wraps a run's untyped outputs, checking the declared outputs' extents.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn typed<'s, M: TypedModel>(
        outputs: Self::Outputs<'s>,
        device: Arc<dyn DeviceBackend>,
        bindings: &mut Bindings,
    ) -> Result<Self::Typed<'s, M>, ModelError>;
}

/// The declared outputs' slots, read through `lookup`, checked against the declaration.
fn output_slots<M: TypedModel>(
    bindings: &mut Bindings,
    mut lookup: impl FnMut(&str) -> Result<OutputSlot>,
) -> Result<SmallVec<[OutputSlot; 4]>, ModelError> {
    M::SPEC
        .outputs()
        .map(|field| {
            let slot = lookup(field.tensor)?;
            bindings.check(M::SPEC.model, field, &slot.shape)?;
            Ok(slot)
        })
        .collect()
}

impl TypedOutputPolicy for Owned {
    type Typed<'s, M: TypedModel> = M::Outputs<'static>;

    #[allow(private_interfaces)]
    fn typed<'s, M: TypedModel>(
        outputs: Self::Outputs<'s>,
        device: Arc<dyn DeviceBackend>,
        bindings: &mut Bindings,
    ) -> Result<Self::Typed<'s, M>, ModelError> {
        let slots = output_slots::<M>(bindings, |name| {
            let tensor = outputs.get(name)?;
            Ok(OutputSlot {
                ptr: tensor.buffer().ptr(),
                dtype: tensor.dtype(),
                shape: tensor.shape(),
            })
        })?;
        Ok(M::outputs(OutputSet {
            slots,
            device,
            holder: Holder::Owned(outputs),
        }))
    }
}

impl TypedOutputPolicy for PreAllocated {
    type Typed<'s, M: TypedModel> = M::Outputs<'s>;

    #[allow(private_interfaces)]
    fn typed<'s, M: TypedModel>(
        outputs: Self::Outputs<'s>,
        device: Arc<dyn DeviceBackend>,
        bindings: &mut Bindings,
    ) -> Result<Self::Typed<'s, M>, ModelError> {
        let slots = output_slots::<M>(bindings, |name| {
            let view = outputs.get(name)?;
            Ok(OutputSlot {
                ptr: view.ptr(),
                dtype: view.dtype(),
                shape: view.shape(),
            })
        })?;
        Ok(M::outputs(OutputSet {
            slots,
            device,
            holder: Holder::Borrowed(outputs),
        }))
    }
}

/// Builds a [`TypedSession`]: the same chain and the same compile-time rules as
/// [`SessionBuilder`] (`with_cudagraphs` only on a standard session...).
#[must_use = "a builder does nothing until `.build()`"]
pub struct TypedSessionBuilder<'e, Mo: TypedModel, M: SessionMode, O: OutputPolicy> {
    builder: SessionBuilder<'e, M, O>,
    _model: PhantomData<fn() -> Mo>,
}

impl<'e, Mo: TypedModel> TypedSessionBuilder<'e, Mo, Standard, Owned> {
    /// A builder over the model's engine.
    pub fn new(model: &'e Mo) -> Self {
        TypedSessionBuilder {
            builder: model.engine().session(),
            _model: PhantomData,
        }
    }
}

impl<'e, Mo: TypedModel, M: SessionMode, O: OutputPolicy> TypedSessionBuilder<'e, Mo, M, O> {
    fn map<M2: SessionMode, O2: OutputPolicy>(
        self,
        change: impl FnOnce(SessionBuilder<'e, M, O>) -> SessionBuilder<'e, M2, O2>,
    ) -> TypedSessionBuilder<'e, Mo, M2, O2> {
        TypedSessionBuilder {
            builder: change(self.builder),
            _model: PhantomData,
        }
    }

    /// See [`SessionBuilder::with_cudagraphs`].
    pub fn with_cudagraphs(self, cache: GraphCache) -> TypedSessionBuilder<'e, Mo, CudaGraphs, O>
    where
        M: AcceptsCudaGraphs,
    {
        self.map(|builder| builder.with_cudagraphs(cache))
    }

    /// See [`SessionBuilder::with_output_allocator`].
    pub fn with_output_allocator(self) -> TypedSessionBuilder<'e, Mo, OutputAllocator, O>
    where
        M: AcceptsOutputAllocator,
    {
        self.map(SessionBuilder::with_output_allocator)
    }

    /// See [`SessionBuilder::with_weight_streaming`].
    pub fn with_weight_streaming(
        self,
        budget: WeightStreamingBudget,
    ) -> TypedSessionBuilder<'e, Mo, WeightStreaming, O>
    where
        M: AcceptsWeightStreaming,
    {
        self.map(|builder| builder.with_weight_streaming(budget))
    }

    /// See [`SessionBuilder::with_pre_allocated_outputs`].
    pub fn with_pre_allocated_outputs(self) -> TypedSessionBuilder<'e, Mo, M, PreAllocated> {
        self.map(SessionBuilder::with_pre_allocated_outputs)
    }

    /// See [`SessionBuilder::with_optimization_profile`].
    pub fn with_optimization_profile(self, profile: usize) -> Self {
        self.map(|builder| builder.with_optimization_profile(profile))
    }

    /// See [`SessionBuilder::with_runtime_settings`].
    pub fn with_runtime_settings(self, settings: RuntimeSettings) -> Self {
        self.map(|builder| builder.with_runtime_settings(settings))
    }

    /// See [`SessionBuilder::with_safe_mode`].
    pub fn with_safe_mode(self) -> Self {
        self.map(SessionBuilder::with_safe_mode)
    }

    /// Creates the session.
    pub fn build(self) -> Result<TypedSession<'e, Mo, M, O>> {
        Ok(TypedSession {
            session: self.builder.build()?,
            _model: PhantomData,
        })
    }
}

/// A session of a typed model: runs take `Mo::Inputs` and return `Mo::Outputs`.
pub struct TypedSession<'e, Mo: TypedModel, M: SessionMode = Standard, O: OutputPolicy = Owned> {
    session: Session<'e, M, O>,
    _model: PhantomData<fn() -> Mo>,
}

impl<'e, Mo: TypedModel, M: SessionMode, O: TypedOutputPolicy> TypedSession<'e, Mo, M, O> {
    /// Runs the model. The declared extents are checked first (inputs) and last (outputs);
    /// bad input leaves the session usable.
    pub fn run(&mut self, inputs: &Mo::Inputs<'_>) -> Result<O::Typed<'_, Mo>, ModelError> {
        self.run_with(inputs, RunOptions::default())
    }

    /// [`TypedSession::run`] with per-call options.
    pub fn run_with(
        &mut self,
        inputs: &Mo::Inputs<'_>,
        options: RunOptions,
    ) -> Result<O::Typed<'_, Mo>, ModelError> {
        let list = Mo::input_list(inputs);
        let mut bindings = Bindings::default();
        for (field, input) in Mo::SPEC.inputs().zip(list.as_ref()) {
            bindings.check(Mo::SPEC.model, field, &input.tensor().shape())?;
        }
        let device = Arc::clone(self.session.engine().device());
        let outputs = self.session.run_with(list.as_ref(), options)?;
        O::typed::<Mo>(outputs, device, &mut bindings)
    }

    /// The untyped session (shapes, settings...).
    pub fn session(&self) -> &Session<'e, M, O> {
        &self.session
    }

    /// The untyped session, exclusively (scoped modes, staging, untyped runs).
    pub fn session_mut(&mut self) -> &mut Session<'e, M, O> {
        &mut self.session
    }

    /// Gives the untyped session back.
    pub fn into_session(self) -> Session<'e, M, O> {
        self.session
    }
}

impl<Mo: TypedModel, O: TypedOutputPolicy> TypedSession<'_, Mo, CudaGraphs, O> {
    /// A handle to manage the session's graph cache from any thread.
    pub fn graph_cache(&self) -> GraphCacheHandle {
        self.session.graph_cache()
    }

    /// Runs eagerly, bypassing the graph cache for this call.
    pub fn run_eager(&mut self, inputs: &Mo::Inputs<'_>) -> Result<O::Typed<'_, Mo>, ModelError> {
        self.run_with(
            inputs,
            RunOptions {
                bypass_graphs: true,
            },
        )
    }
}

impl<Mo: TypedModel, O: TypedOutputPolicy> TypedSession<'_, Mo, OutputAllocator, O> {
    /// `getMaxOutputSize`: upper bound in bytes of output `name` for the current shapes.
    pub fn max_output_size(&self, name: &str) -> Result<usize> {
        self.session.max_output_size(name)
    }
}

impl<Mo: TypedModel, O: TypedOutputPolicy> TypedSession<'_, Mo, WeightStreaming, O> {
    /// The engine's weight-streaming figures.
    pub fn weight_streaming(&self) -> Result<WeightStreamingInfo> {
        self.session.weight_streaming()
    }
}

impl<Mo: TypedModel, M: SessionMode, O: OutputPolicy> fmt::Debug for TypedSession<'_, Mo, M, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedSession")
            .field("model", &Mo::SPEC.model)
            .field("session", &self.session)
            .finish()
    }
}

#[cfg(test)]
mod tests;
