//! The simulated plan format: the line [`SIM_PLAN_MAGIC`] followed by a TOML description of
//! the engine's tensors, profiles, memory needs and the operations computing each output.
//!
//! ```toml
//! name = "mlp"
//! activation_bytes = 65536          # context activation memory
//! weights_bytes = 1048576           # total weights, allocated on the device at deserialize
//! streamable_weights_bytes = 0      # > 0: built for weight streaming
//! weight_streaming_scratch_bytes = 0
//!
//! [[inputs]]
//! name = "x"
//! dtype = "f32"
//! shape = [-1, 16]
//! profiles = [ { min = [1, 16], opt = [4, 16], max = [64, 16] } ]
//!
//! [[outputs]]
//! name = "y"
//! dtype = "f32"
//! from = ["x"]
//! ops = [ { op = "linear", out = 8, seed = 1 }, { op = "relu" } ]
//! ```
//!
//! Operations: `scale { mul, add }`, `relu`, `sigmoid`, `linear { out, seed }` (see
//! [`super::linear_weight`]), `add` (first op of an output with several sources of equal
//! shape), `sum_last` (reduces the last axis), `reshape { shape }` (same elements, new shape:
//! `0` copies the operand's extent, one `-1` is inferred) and `nonzero` (data-dependent, last
//! op, `i64` output of shape `[count, rank]`). A static input may omit `profiles`; a dynamic one needs
//! one entry per optimization profile, and all inputs have the same number of profiles.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::types::{DataType, EngineInfo, ProfileShapes, Shape, TensorInfo, TensorIoMode};

/// The first line of every simulated plan.
pub const SIM_PLAN_MAGIC: &str = "#trt-sim-plan v1\n";

/// The largest `linear.out` a plan may ask for, so that no plan can make the simulation
/// allocate absurd intermediate tensors.
pub(crate) const MAX_LINEAR_OUT: usize = 1 << 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    name: String,
    #[serde(default)]
    activation_bytes: usize,
    #[serde(default)]
    weights_bytes: usize,
    #[serde(default)]
    streamable_weights_bytes: usize,
    #[serde(default)]
    weight_streaming_scratch_bytes: usize,
    #[serde(default)]
    inputs: Vec<InputEntry>,
    #[serde(default)]
    outputs: Vec<OutputEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputEntry {
    name: String,
    dtype: String,
    shape: Vec<i64>,
    #[serde(default)]
    profiles: Vec<ProfileEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    min: Vec<i64>,
    opt: Vec<i64>,
    max: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputEntry {
    name: String,
    dtype: String,
    from: Vec<String>,
    #[serde(default)]
    ops: Vec<Op>,
}

/// One operation of an output's program; values are computed in `f64`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Op {
    /// `x * mul + add`, elementwise.
    Scale {
        #[serde(default = "one")]
        mul: f64,
        #[serde(default)]
        add: f64,
    },
    /// `max(x, 0)`, elementwise.
    Relu {},
    /// `1 / (1 + e^-x)`, elementwise.
    Sigmoid {},
    /// Last axis `K -> out`: `y = x·W + b` with the deterministic weights of
    /// [`super::linear_weight`] and [`super::linear_bias`].
    Linear {
        out: usize,
        #[serde(default)]
        seed: u64,
    },
    /// Elementwise sum of all sources (only as the first op).
    Add {},
    /// Sum over the last axis (the rank drops by one).
    SumLast {},
    /// Row-major indices of the nonzero elements: `i64 [count, rank]` (data-dependent).
    Nonzero {},
    /// The same elements in row-major order with a new shape, like TensorRT's shuffle
    /// reshape: `0` copies the operand's extent at that axis, one `-1` is inferred.
    Reshape { shape: Vec<i64> },
}

fn one() -> f64 {
    1.0
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Scale { .. } => "scale",
            Op::Relu {} => "relu",
            Op::Sigmoid {} => "sigmoid",
            Op::Linear { .. } => "linear",
            Op::Add {} => "add",
            Op::SumLast {} => "sum_last",
            Op::Nonzero {} => "nonzero",
            Op::Reshape { .. } => "reshape",
        }
    }

    /// The dims after this op, given the dims of its (single) operand. `-1` (dynamic or
    /// data-dependent) propagates. Used both on engine patterns and on concrete shapes.
    fn output_dims(&self, dims: &[i64]) -> std::result::Result<Vec<i64>, String> {
        match *self {
            Op::Scale { .. } | Op::Relu {} | Op::Sigmoid {} => Ok(dims.to_vec()),
            Op::Reshape { ref shape } => reshape_dims(dims, shape),
            Op::Linear { out, .. } => {
                let (_, leading) = dims
                    .split_last()
                    .ok_or("linear needs an operand of rank 1 or more, found a scalar")?;
                let mut result = leading.to_vec();
                result.push(i64::try_from(out).map_err(|_| "linear.out too large")?);
                Ok(result)
            }
            Op::SumLast {} => dims
                .split_last()
                .map(|(_, leading)| leading.to_vec())
                .ok_or_else(|| {
                    "sum_last needs an operand of rank 1 or more, found a scalar".to_owned()
                }),
            Op::Nonzero {} => Ok(vec![-1, dims.len() as i64]),
            Op::Add {} => Ok(dims.to_vec()),
        }
    }
}

/// The dims of `reshape { shape }` applied to an operand of `dims` (`-1` where unknown).
///
/// Axes copied with `0` keep their extent, known or not; the other operand extents must all
/// be known to check the element count and infer a `-1`, otherwise the result stays `-1`
/// there and the check happens on concrete shapes.
pub(crate) fn reshape_dims(dims: &[i64], shape: &[i64]) -> std::result::Result<Vec<i64>, String> {
    let mut result = Vec::with_capacity(shape.len());
    let mut inferred = None;
    let mut copied = Vec::new();
    for (axis, &extent) in shape.iter().enumerate() {
        match extent {
            0 => {
                let &operand = dims.get(axis).ok_or_else(|| {
                    format!(
                        "reshape: 0 at axis {axis} copies an extent the operand (rank {}) does not have",
                        dims.len()
                    )
                })?;
                copied.push(axis);
                result.push(operand);
            }
            -1 if inferred.is_none() => {
                inferred = Some(axis);
                result.push(-1);
            }
            -1 => return Err("reshape: at most one extent may be -1 (inferred)".to_owned()),
            extent if extent > 0 => result.push(extent),
            _ => {
                return Err(format!(
                    "reshape: extents are positive, 0 (copy) or -1 (inferred), found {extent}"
                ))
            }
        }
    }
    fn product(mut values: impl Iterator<Item = i64>) -> Option<i64> {
        values.try_fold(1i64, |acc, value| acc.checked_mul(value))
    }
    let rest_in: Vec<i64> = dims
        .iter()
        .enumerate()
        .filter(|(axis, _)| !copied.contains(axis))
        .map(|(_, &extent)| extent)
        .collect();
    if rest_in.contains(&-1) {
        return Ok(result);
    }
    let volume_in = product(rest_in.into_iter()).ok_or("reshape: the operand is too large")?;
    let volume_out = product(
        result
            .iter()
            .enumerate()
            .filter(|(axis, _)| !copied.contains(axis) && Some(*axis) != inferred)
            .map(|(_, &extent)| extent),
    )
    .ok_or("reshape: the new shape is too large")?;
    let mismatch = || {
        format!("reshape: an operand of shape {dims:?} has no element-preserving shape {shape:?}")
    };
    match inferred {
        Some(axis) => {
            // `volume_out` is a product of positive extents: never zero.
            if volume_in % volume_out != 0 {
                return Err(mismatch());
            }
            result[axis] = volume_in / volume_out;
        }
        None if volume_in != volume_out => return Err(mismatch()),
        None => {}
    }
    Ok(result)
}

/// How one output is computed from the inputs.
#[derive(Clone, Debug)]
pub(crate) struct OutputProgram {
    /// Indices of the source inputs.
    pub(crate) sources: Vec<usize>,
    /// Operations applied in order (an `add` first combines the sources).
    pub(crate) ops: Vec<Op>,
    /// True when the output's size depends on the data (it ends in `nonzero`).
    pub(crate) data_dependent: bool,
}

impl OutputProgram {
    /// The dims of the operand of every op, followed by the output's dims. `source_dims`
    /// are the dims of this program's sources, in order.
    pub(crate) fn trace_dims(
        &self,
        source_dims: &[&[i64]],
    ) -> std::result::Result<Vec<Vec<i64>>, String> {
        let (first, rest) = source_dims
            .split_first()
            .ok_or("an output needs a source")?;
        let mut current = first.to_vec();
        let mut ops = self.ops.as_slice();
        if let Some((Op::Add {}, after)) = ops.split_first() {
            for other in rest {
                current = merge_equal_dims(&current, other)?;
            }
            ops = after;
        }
        let mut trace = Vec::with_capacity(ops.len() + 1);
        for op in ops {
            let next = op.output_dims(&current)?;
            trace.push(std::mem::replace(&mut current, next));
        }
        trace.push(current);
        Ok(trace)
    }

    /// The output's dims for the given source dims.
    pub(crate) fn output_dims(
        &self,
        source_dims: &[&[i64]],
    ) -> std::result::Result<Vec<i64>, String> {
        let mut trace = self.trace_dims(source_dims)?;
        Ok(trace.pop().unwrap_or_default())
    }

    /// The ops after the leading `add` (which [`OutputProgram::trace_dims`] handles apart).
    pub(crate) fn unary_ops(&self) -> &[Op] {
        match self.ops.split_first() {
            Some((Op::Add {}, rest)) => rest,
            _ => &self.ops,
        }
    }
}

/// The dims of an elementwise combination: equal ranks, and equal extents where both are
/// known.
fn merge_equal_dims(a: &[i64], b: &[i64]) -> std::result::Result<Vec<i64>, String> {
    let mismatch = || format!("add needs operands of equal shape, found {a:?} and {b:?}");
    if a.len() != b.len() {
        return Err(mismatch());
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| match (x, y) {
            (-1, known) | (known, -1) => Ok(known),
            _ if x == y => Ok(x),
            _ => Err(mismatch()),
        })
        .collect()
}

/// A parsed, validated simulated plan.
#[derive(Debug)]
pub(crate) struct SimPlan {
    /// Engine metadata: inputs first, then outputs, in file order.
    pub(crate) info: EngineInfo,
    /// One program per output, in output order.
    pub(crate) programs: Vec<OutputProgram>,
    /// Context activation memory.
    pub(crate) activation_bytes: usize,
    /// Scratch memory while weights stream.
    pub(crate) weight_streaming_scratch_bytes: usize,
    /// The plan bytes as given (what `serialize` returns).
    pub(crate) bytes: Vec<u8>,
}

impl SimPlan {
    /// Number of inputs (they come first in [`EngineInfo::tensors`]).
    pub(crate) fn num_inputs(&self) -> usize {
        self.info.tensors.len() - self.programs.len()
    }

    /// Parses and validates a plan. Never panics, whatever the bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<SimPlan> {
        let Some(body) = bytes.strip_prefix(SIM_PLAN_MAGIC.as_bytes()) else {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(24)]).into_owned();
            return Err(invalid(format!(
                "not a simulated plan: it should start with {SIM_PLAN_MAGIC:?}, but starts with {head:?}"
            )));
        };
        let text = std::str::from_utf8(body)
            .map_err(|error| invalid(format!("the simulated plan is not UTF-8 text: {error}")))?;
        let file: PlanFile = toml::from_str(text)
            .map_err(|error| invalid(format!("simulated plan TOML: {error}")))?;
        build(file, bytes.to_vec())
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidPlan {
        source_name: None,
        reason,
    }
}

/// Names end up in error messages and in runtime-cache lines, one per line.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} name {name:?} must be non-empty without control characters"
        )));
    }
    Ok(())
}

fn parse_dtype(tensor: &str, name: &str) -> Result<DataType> {
    let dtype = DataType::from_name(name)
        .ok_or_else(|| invalid(format!("tensor `{tensor}`: unknown dtype {name:?}")))?;
    match dtype {
        DataType::Fp8 | DataType::Int4 | DataType::Fp4 | DataType::E8M0 => Err(invalid(format!(
            "tensor `{tensor}`: the simulation cannot compute on {dtype} tensors"
        ))),
        _ => Ok(dtype),
    }
}

fn parse_shape(tensor: &str, dims: &[i64]) -> Result<Shape> {
    Shape::new(dims).map_err(|error| invalid(format!("tensor `{tensor}`: {error}")))
}

fn build_profile(
    tensor: &str,
    pattern: &Shape,
    index: usize,
    entry: &ProfileEntry,
) -> Result<ProfileShapes> {
    let profile = ProfileShapes {
        min: parse_shape(tensor, &entry.min)?,
        opt: parse_shape(tensor, &entry.opt)?,
        max: parse_shape(tensor, &entry.max)?,
    };
    for (label, shape) in [
        ("min", profile.min),
        ("opt", profile.opt),
        ("max", profile.max),
    ] {
        if shape.is_dynamic() || !pattern.matches(&shape) {
            return Err(invalid(format!(
                "tensor `{tensor}` profile {index}: {label} {shape} does not fit the tensor's shape {pattern}"
            )));
        }
    }
    let ordered = profile
        .min
        .dims()
        .iter()
        .zip(profile.opt.dims())
        .zip(profile.max.dims())
        .all(|((min, opt), max)| min <= opt && opt <= max);
    if !ordered {
        return Err(invalid(format!(
            "tensor `{tensor}` profile {index}: needs min <= opt <= max, found min {}, opt {}, max {}",
            profile.min, profile.opt, profile.max
        )));
    }
    Ok(profile)
}

fn build(file: PlanFile, bytes: Vec<u8>) -> Result<SimPlan> {
    check_name("engine", &file.name)?;
    if file.inputs.is_empty() || file.outputs.is_empty() {
        return Err(invalid(
            "a simulated plan needs at least one input and one output".to_owned(),
        ));
    }
    if file.streamable_weights_bytes > file.weights_bytes {
        return Err(invalid(format!(
            "streamable_weights_bytes ({}) exceeds weights_bytes ({})",
            file.streamable_weights_bytes, file.weights_bytes
        )));
    }
    if file.streamable_weights_bytes == 0 && file.weight_streaming_scratch_bytes > 0 {
        return Err(invalid(
            "weight_streaming_scratch_bytes needs an engine with streamable weights".to_owned(),
        ));
    }
    let num_profiles = file
        .inputs
        .iter()
        .map(|input| input.profiles.len())
        .max()
        .unwrap_or(0)
        .max(1);

    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(file.inputs.len() + file.outputs.len());
    let check_unique = |tensors: &[TensorInfo], name: &str| {
        if tensors.iter().any(|tensor| tensor.name == name) {
            return Err(invalid(format!("tensor name `{name}` is used twice")));
        }
        Ok(())
    };
    for input in &file.inputs {
        check_name("tensor", &input.name)?;
        check_unique(&tensors, &input.name)?;
        let dtype = parse_dtype(&input.name, &input.dtype)?;
        let shape = parse_shape(&input.name, &input.shape)?;
        let profiles = if input.profiles.is_empty() && !shape.is_dynamic() {
            vec![
                ProfileShapes {
                    min: shape,
                    opt: shape,
                    max: shape
                };
                num_profiles
            ]
        } else if input.profiles.len() != num_profiles {
            return Err(invalid(format!(
                "input `{}` has {} profile(s), but the plan has {num_profiles}: every input needs one \
                 entry per optimization profile (a static input may omit them)",
                input.name,
                input.profiles.len()
            )));
        } else {
            input
                .profiles
                .iter()
                .enumerate()
                .map(|(index, entry)| build_profile(&input.name, &shape, index, entry))
                .collect::<Result<Vec<_>>>()?
        };
        tensors.push(TensorInfo {
            name: input.name.clone(),
            mode: TensorIoMode::Input,
            dtype,
            shape,
            profiles,
        });
    }

    let num_inputs = tensors.len();
    let mut programs = Vec::with_capacity(file.outputs.len());
    for output in &file.outputs {
        check_name("tensor", &output.name)?;
        check_unique(&tensors, &output.name)?;
        let dtype = parse_dtype(&output.name, &output.dtype)?;
        let program = build_program(output, &tensors[..num_inputs])?;
        let failed = |reason: String| invalid(format!("output `{}`: {reason}", output.name));
        if program.data_dependent && dtype != DataType::Int64 {
            return Err(failed(format!(
                "nonzero produces i64 indices, but the dtype is {dtype}"
            )));
        }
        let source_dims: Vec<&[i64]> = program
            .sources
            .iter()
            .map(|&index| tensors[index].shape.dims())
            .collect();
        let dims = program.output_dims(&source_dims).map_err(failed)?;
        let shape = Shape::new(&dims).map_err(|error| failed(error.to_string()))?;
        tensors.push(TensorInfo {
            name: output.name.clone(),
            mode: TensorIoMode::Output,
            dtype,
            shape,
            profiles: Vec::new(),
        });
        programs.push(program);
    }

    Ok(SimPlan {
        info: EngineInfo {
            name: file.name,
            tensors,
            num_profiles,
            device_memory_size: file.activation_bytes,
            streamable_weights_size: file.streamable_weights_bytes,
            weights_size: file.weights_bytes,
        },
        programs,
        activation_bytes: file.activation_bytes,
        weight_streaming_scratch_bytes: file.weight_streaming_scratch_bytes,
        bytes,
    })
}

fn build_program(output: &OutputEntry, inputs: &[TensorInfo]) -> Result<OutputProgram> {
    let failed = |reason: String| invalid(format!("output `{}`: {reason}", output.name));
    if output.from.is_empty() {
        return Err(failed("`from` must name at least one input".to_owned()));
    }
    let sources = output
        .from
        .iter()
        .map(|name| {
            inputs
                .iter()
                .position(|input| &input.name == name)
                .ok_or_else(|| {
                    failed(format!(
                        "`from` names `{name}`, which is not an input; inputs are {}",
                        inputs
                            .iter()
                            .map(|input| format!("`{}`", input.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let starts_with_add = matches!(output.ops.first(), Some(Op::Add {}));
    if sources.len() > 1 && !starts_with_add {
        return Err(failed(
            "several sources need `add` as the first op".to_owned(),
        ));
    }
    if starts_with_add && sources.len() < 2 {
        return Err(failed(
            "`add` needs at least two sources in `from`".to_owned(),
        ));
    }
    for (position, op) in output.ops.iter().enumerate() {
        match *op {
            Op::Add {} if position > 0 => {
                return Err(failed("`add` may only be the first op".to_owned()))
            }
            Op::Nonzero {} if position + 1 != output.ops.len() => {
                return Err(failed("`nonzero` must be the last op".to_owned()))
            }
            Op::Linear { out, .. } if out == 0 || out > MAX_LINEAR_OUT => {
                return Err(failed(format!(
                    "linear.out must be within 1..={MAX_LINEAR_OUT}, found {out}"
                )))
            }
            Op::Scale { mul, add } if !mul.is_finite() || !add.is_finite() => {
                return Err(failed(format!(
                    "scale needs finite mul and add, found {mul} and {add}"
                )))
            }
            _ => {}
        }
        log::trace!("output `{}` op {position}: {}", output.name, op.name());
    }
    Ok(OutputProgram {
        data_dependent: matches!(output.ops.last(), Some(Op::Nonzero {})),
        sources,
        ops: output.ops.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MLP: &str = r#"
name = "mlp"
activation_bytes = 4096
weights_bytes = 1024

[[inputs]]
name = "x"
dtype = "f32"
shape = [-1, 16]
profiles = [ { min = [1, 16], opt = [4, 16], max = [64, 16] } ]

[[outputs]]
name = "y"
dtype = "f32"
from = ["x"]
ops = [ { op = "linear", out = 8, seed = 1 }, { op = "relu" }, { op = "scale", mul = 2.0, add = 1.0 } ]
"#;

    fn plan_bytes(body: &str) -> Vec<u8> {
        format!("{SIM_PLAN_MAGIC}{body}").into_bytes()
    }

    fn parse(body: &str) -> Result<SimPlan> {
        SimPlan::parse(&plan_bytes(body))
    }

    fn reason(body: &str) -> String {
        match parse(body) {
            Err(Error::InvalidPlan {
                source_name: None,
                reason,
            }) => reason,
            Err(other) => panic!("expected InvalidPlan, got {other}"),
            Ok(_) => panic!("expected InvalidPlan for:\n{body}"),
        }
    }

    #[test]
    fn parses_tensors_profiles_and_derived_output_shapes() {
        let plan = parse(MLP).unwrap();
        let info = &plan.info;
        assert_eq!(info.name, "mlp");
        assert_eq!(info.num_profiles, 1);
        assert_eq!(info.device_memory_size, 4096);
        assert_eq!(info.weights_size, 1024);
        assert_eq!(info.streamable_weights_size, 0);
        assert_eq!(info.tensors.len(), 2);
        assert_eq!(info.tensors[0].shape, Shape::new(&[-1, 16]).unwrap());
        assert_eq!(
            info.tensors[0].profiles[0].max,
            Shape::new(&[64, 16]).unwrap()
        );
        assert_eq!(info.tensors[1].mode, TensorIoMode::Output);
        assert_eq!(info.tensors[1].shape, Shape::new(&[-1, 8]).unwrap());
        assert!(info.tensors[1].profiles.is_empty());
        assert_eq!(plan.num_inputs(), 1);
        assert_eq!(plan.bytes, plan_bytes(MLP));
    }

    #[test]
    fn static_inputs_may_omit_profiles_and_shapes_propagate_through_ops() {
        let plan = parse(
            r#"
name = "mixed"
[[inputs]]
name = "a"
dtype = "i32"
shape = [-1, 3, 5]
profiles = [ { min = [1, 3, 5], opt = [1, 3, 5], max = [2, 3, 5] }, { min = [3, 3, 5], opt = [3, 3, 5], max = [9, 3, 5] } ]
[[inputs]]
name = "b"
dtype = "u8"
shape = [3, 5]
[[outputs]]
name = "s"
dtype = "f16"
from = ["a"]
ops = [ { op = "sum_last" }, { op = "scale", mul = 2 }, { op = "linear", out = 2 } ]
[[outputs]]
name = "n"
dtype = "i64"
from = ["b"]
ops = [ { op = "nonzero" } ]
"#,
        )
        .unwrap();
        assert_eq!(plan.info.num_profiles, 2);
        assert_eq!(plan.info.tensors[1].profiles.len(), 2);
        assert_eq!(plan.info.tensors[2].shape, Shape::new(&[-1, 2]).unwrap());
        assert_eq!(plan.info.tensors[3].shape, Shape::new(&[-1, 2]).unwrap());
        assert!(plan.programs[1].data_dependent);
        assert!(!plan.programs[0].data_dependent);
    }

    #[test]
    fn reshape_keeps_copied_dynamic_extents_and_infers_the_rest() {
        assert_eq!(
            reshape_dims(&[-1, 3, 32, 32], &[0, 64, 48]).unwrap(),
            [-1, 64, 48]
        );
        assert_eq!(
            reshape_dims(&[-1, 3, 32, 32], &[0, -1, 48]).unwrap(),
            [-1, 64, 48]
        );
        assert_eq!(reshape_dims(&[2, 3, 4], &[-1, 4]).unwrap(), [6, 4]);
        // The batch is not copied: nothing can be checked before the shapes are concrete.
        assert_eq!(reshape_dims(&[-1, 3], &[-1]).unwrap(), [-1]);
        let error = reshape_dims(&[-1, 3, 32, 32], &[0, 64, 47]).unwrap_err();
        assert!(error.contains("no element-preserving shape"), "{error}");
        assert!(reshape_dims(&[2, 3], &[0, 0, 0])
            .unwrap_err()
            .contains("rank 2"));
        assert!(reshape_dims(&[2, 3], &[-1, -1]).is_err());
        assert!(reshape_dims(&[2, 3], &[0, -3]).is_err());
        // Empty tensors keep their copied zero extent; the rest is still inferred.
        assert_eq!(reshape_dims(&[0, 3], &[0, -1]).unwrap(), [0, 3]);
        assert!(reshape_dims(&[i64::MAX, 4], &[-1]).is_err());
    }

    #[test]
    fn plans_derive_shapes_through_reshape_and_sigmoid() {
        let plan = parse(
            r#"
name = "heads"
[[inputs]]
name = "images"
dtype = "f16"
shape = [-1, 3, 32, 32]
profiles = [ { min = [1, 3, 32, 32], opt = [2, 3, 32, 32], max = [8, 3, 32, 32] } ]
[[outputs]]
name = "scores"
dtype = "f32"
from = ["images"]
ops = [ { op = "reshape", shape = [0, 64, 48] }, { op = "sum_last" }, { op = "sigmoid" } ]
"#,
        )
        .unwrap();
        assert_eq!(plan.info.tensors[1].shape, Shape::new(&[-1, 64]).unwrap());
        let bad = MLP.replacen(
            r#"{ op = "relu" }"#,
            r#"{ op = "reshape", shape = [0, 7] }"#,
            1,
        );
        assert!(reason(&bad).contains("reshape"), "{}", reason(&bad));
    }

    #[test]
    fn rejects_invalid_descriptions_with_reasons() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{ op = "linear", out = 8, seed = 1 }, { op = "relu" }, { op = "scale", mul = 2.0, add = 1.0 }"#,
                r#"{ op = "transpose" }"#,
            ),
            (r#"from = ["x"]"#, r#"from = ["nope"]"#),
            (r#"from = ["x"]"#, r#"from = []"#),
            (r#"shape = [-1, 16]"#, r#"shape = [-1, 16, 1]"#),
            (r#"min = [1, 16]"#, r#"min = [65, 16]"#),
            (r#"min = [1, 16]"#, r#"min = [1, 15]"#),
            (r#"min = [1, 16]"#, r#"min = [1]"#),
            (
                r#"dtype = "f32"
shape"#,
                r#"dtype = "f33"
shape"#,
            ),
            (
                r#"dtype = "f32"
shape"#,
                r#"dtype = "fp8"
shape"#,
            ),
            (
                r#"dtype = "f32"
shape"#,
                r#"dtype = "i4"
shape"#,
            ),
            ("activation_bytes", "activation_byte"),
            (r#"{ op = "relu" }"#, r#"{ op = "relu", gain = 2 }"#),
            (r#"out = 8"#, r#"out = 0"#),
            (r#"out = 8"#, r#"out = -8"#),
            (
                r#"weights_bytes = 1024"#,
                "weights_bytes = 1024\nstreamable_weights_bytes = 2048",
            ),
            (
                r#"weights_bytes = 1024"#,
                "weights_bytes = 1024\nweight_streaming_scratch_bytes = 1",
            ),
            (r#"name = "mlp""#, r#"name = """#),
            (r#"name = "y""#, r#"name = "x""#),
            (r#"{ op = "relu" }, "#, r#"{ op = "nonzero" }, "#),
            (r#"{ op = "relu" }, "#, r#"{ op = "add" }, "#),
            (r#"from = ["x"]"#, r#"from = ["x", "x"]"#),
            (
                r#"{ op = "linear", out = 8, seed = 1 }"#,
                r#"{ op = "sum_last" }, { op = "sum_last" }, { op = "linear", out = 8 }"#,
            ),
            (
                r#"profiles = [ { min = [1, 16], opt = [4, 16], max = [64, 16] } ]"#,
                "",
            ),
        ];
        for (from, to) in cases {
            assert!(MLP.contains(from), "test case does not apply: {from}");
            let body = MLP.replacen(from, to, 1);
            let reason = reason(&body);
            assert!(!reason.is_empty());
        }
        assert!(reason(&MLP.replace(r#"name = "mlp""#, "name = mlp")).contains("TOML"));
        let unknown_op = reason(&MLP.replacen(r#"{ op = "relu" }"#, r#"{ op = "transpose" }"#, 1));
        assert!(unknown_op.contains("transpose"), "{unknown_op}");
        let linear_on_scalar = reason(&MLP.replacen(
            r#"{ op = "linear", out = 8, seed = 1 }"#,
            r#"{ op = "sum_last" }, { op = "sum_last" }, { op = "linear", out = 8 }"#,
            1,
        ));
        assert!(linear_on_scalar.contains("scalar"), "{linear_on_scalar}");
        let out_of_order = reason(&MLP.replacen("min = [1, 16]", "min = [65, 16]", 1));
        assert!(out_of_order.contains("min <= opt <= max"), "{out_of_order}");
    }

    #[test]
    fn refuses_bytes_that_are_not_a_simulated_plan() {
        let reason = match SimPlan::parse(b"\x7fELF\x02\x01 real TensorRT engine") {
            Err(Error::InvalidPlan { reason, .. }) => reason,
            _ => panic!("expected InvalidPlan"),
        };
        assert!(reason.contains("not a simulated plan"), "{reason}");
        assert!(reason.contains("ELF"), "{reason}");
        assert!(SimPlan::parse(b"").is_err());
        let mut not_utf8 = SIM_PLAN_MAGIC.as_bytes().to_vec();
        not_utf8.extend_from_slice(&[0xff, 0xfe, b'=']);
        assert!(SimPlan::parse(&not_utf8).is_err());
    }

    #[test]
    fn truncations_and_garbage_never_panic() {
        let valid = plan_bytes(MLP);
        for end in 0..valid.len() {
            // Only prefixes long enough to end after the last op may parse.
            let _ = SimPlan::parse(&valid[..end]);
        }
        assert!(SimPlan::parse(&valid[..valid.len() - 30]).is_err());
        // A small deterministic generator: xorshift.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"[]{}=,\"'-0123456789.abcdefghijklmnopqrstuvwxyz_ \n#\xff";
        for _ in 0..2000 {
            let length = (next() % 200) as usize;
            let mut bytes = SIM_PLAN_MAGIC.as_bytes().to_vec();
            bytes.extend((0..length).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
            let _ = SimPlan::parse(&bytes);
            // Mutate a valid plan too, so parsing gets past the TOML syntax sometimes.
            let mut mutated = valid.clone();
            let position =
                SIM_PLAN_MAGIC.len() + (next() as usize % (valid.len() - SIM_PLAN_MAGIC.len()));
            mutated[position] = alphabet[(next() % alphabet.len() as u64) as usize];
            let _ = SimPlan::parse(&mutated);
        }
        let deep = format!("{SIM_PLAN_MAGIC}a = {}", "[".repeat(100_000));
        assert!(SimPlan::parse(deep.as_bytes()).is_err());
    }
}
