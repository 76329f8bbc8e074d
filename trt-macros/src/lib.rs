//! `#[trt_model]`: typed I/O bindings for a TensorRT engine. This crate is the thin
//! procedural-macro entry point; parsing, checks and code generation live in
//! `trt-macros-impl`, where they are unit-tested. Use it through `trt::trt_model`.

use proc_macro::TokenStream;

/// Declares a typed model: one field per engine tensor, checked against the engine.
///
/// ```
/// use trt::trt_model;
///
/// #[trt_model(engine = "../models/mlp.simplan")]
/// pub struct Mlp {
///     /// Features, one row per item.
///     #[input]
///     x: Tensor<f32, Batch, 16>,
///     #[output]
///     y: Tensor<f32, Batch, 8>,
/// }
///
/// # fn main() -> Result<(), trt::typed::ModelError> {
/// let model = Mlp::load_with(&trt::Runtime::simulated())?; // the engine is checked here
/// let mut session = model.session().build()?;
/// let features = vec![0.25f32; 2 * 16];
/// let outputs = session.run(&MlpInputs {
///     x: trt::typed::TypedInput::host(&features, [2, 16])?,
/// })?;
/// let y = outputs.y(); // TypedOutputView<'_, f32, 2>
/// assert_eq!(y.dims(), [2, 8]);
/// assert_eq!(y.to_vec()?.len(), 16);
/// # Ok(())
/// # }
/// ```
///
/// **Fields.** `#[input]` or `#[output]`, with `(name = "input.1")` when the engine tensor is
/// not called like the field. The type is `Tensor<element, dimensions...>`: the element is
/// `f32`, `f16`, `bf16`, `i8`, `u8`, `i32` or `i64`; a dimension is an extent (`640`), a name
/// (`Batch`: dynamic, the same extent wherever the name appears in one run) or `_`.
///
/// **Options.** `engine = "path"` (required): the plan, relative to the crate root (a
/// leading `$VAR` or `${VAR}` is read from the environment at compile time); it must exist
/// when compiling. `embed`: compile the plan bytes in. `manifest = "path"`: the I/O manifest
/// to check against (default: `PLAN.manifest.toml` when it exists); `manifest = false`: none.
///
/// **Generated.** For `struct Detector`: `Detector` (owns the engine; `load`, `load_with`,
/// `load_from`, `from_plan_bytes`, `from_engine`, `session`), `DetectorInputs<'a>` (one
/// public `TypedInput` per input) and `DetectorOutputs<'s>` (one accessor per output,
/// returning a `TypedOutputView`), and an implementation of `trt::typed::TypedModel`.
///
/// **Checks.** At compile time, when a manifest written by `trt inspect --manifest` sits
/// next to the plan, every field is checked against it (names, input/output, element type,
/// rank, fixed extents, profile ranges) and a mismatch is an error at the offending field;
/// the plan and manifest are included so that editing either rebuilds the crate. At load
/// time the same checks run against the engine itself and fail with
/// `trt::typed::ModelError::Mismatch`, naming the field. Each run checks the fixed and named
/// extents of the actual shapes.
#[proc_macro_attribute]
pub fn trt_model(args: TokenStream, item: TokenStream) -> TokenStream {
    let environment = trt_macros_impl::Environment::from_process();
    trt_macros_impl::trt_model(args.into(), item.into(), &environment).into()
}
