//! The arithmetic of simulated engines: element conversion and the plan operations.
//!
//! Every value is computed in `f64`. Inputs are converted from their dtype; outputs are
//! converted to theirs: floats round to nearest, integer types truncate toward zero and
//! saturate (like a C++ `static_cast` that cannot overflow), `bool` is `value != 0`.

use half::{bf16, f16};

use super::plan::{reshape_dims, Op, OutputProgram};
use crate::types::DataType;

/// Weight `W[k][n]` of a `linear` op with the given `seed`:
/// `(((k*7 + n*13 + seed*31) % 17) - 8) / 16`, a value in `[-0.5, 0.5]`.
///
/// ```
/// use trt_core::backend::sim::linear_weight;
/// assert_eq!(linear_weight(0, 0, 0), -0.5);
/// assert_eq!(linear_weight(1, 0, 0), (7.0 - 8.0) / 16.0);
/// ```
pub fn linear_weight(k: usize, n: usize, seed: u64) -> f64 {
    // Reducing every term modulo 17 first gives the same residue without overflow.
    let residue = ((k % 17) * 7 + (n % 17) * 13 + (seed % 17) as usize * 31) % 17;
    (residue as f64 - 8.0) / 16.0
}

/// Bias `b[n]` of a `linear` op with the given `seed`: `(((n*5 + seed) % 7) - 3) / 8`.
///
/// ```
/// use trt_core::backend::sim::linear_bias;
/// assert_eq!(linear_bias(0, 1), (1.0 - 3.0) / 8.0);
/// ```
pub fn linear_bias(n: usize, seed: u64) -> f64 {
    let residue = ((n % 7) * 5 + (seed % 7) as usize) % 7;
    (residue as f64 - 3.0) / 8.0
}

/// A tensor on the host while an enqueue computes: row-major values and concrete dims.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HostTensor {
    pub(crate) dims: Vec<usize>,
    pub(crate) values: Vec<f64>,
}

/// Decodes little-endian elements of `dtype` into `f64`.
pub(crate) fn decode(bytes: &[u8], dtype: DataType) -> Result<Vec<f64>, String> {
    fn chunks<const N: usize>(bytes: &[u8], convert: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        bytes
            .chunks_exact(N)
            .map(|chunk| {
                let mut array = [0u8; N];
                array.copy_from_slice(chunk);
                convert(array)
            })
            .collect()
    }
    Ok(match dtype {
        DataType::F32 => chunks(bytes, |b| f64::from(f32::from_le_bytes(b))),
        DataType::F16 => chunks(bytes, |b| f16::from_le_bytes(b).to_f64()),
        DataType::BF16 => chunks(bytes, |b| bf16::from_le_bytes(b).to_f64()),
        DataType::Int8 => chunks(bytes, |b| f64::from(i8::from_le_bytes(b))),
        DataType::UInt8 => chunks(bytes, |b: [u8; 1]| f64::from(b[0])),
        DataType::Bool => chunks(bytes, |b: [u8; 1]| if b[0] != 0 { 1.0 } else { 0.0 }),
        DataType::Int32 => chunks(bytes, |b| f64::from(i32::from_le_bytes(b))),
        DataType::Int64 => chunks(bytes, |b| i64::from_le_bytes(b) as f64),
        DataType::Fp8 | DataType::Int4 | DataType::Fp4 | DataType::E8M0 => {
            return Err(format!("the simulation cannot compute on {dtype} tensors"))
        }
    })
}

/// Encodes `f64` values as little-endian elements of `dtype`.
pub(crate) fn encode(values: &[f64], dtype: DataType) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.try_reserve_exact(dtype.bytes_for(values.len()))
        .map_err(|_| format!("{} output elements do not fit in host memory", values.len()))?;
    for &value in values {
        // `as` casts from f64 saturate and map NaN to 0: exactly the documented conversion.
        match dtype {
            DataType::F32 => out.extend_from_slice(&(value as f32).to_le_bytes()),
            DataType::F16 => out.extend_from_slice(&f16::from_f64(value).to_le_bytes()),
            DataType::BF16 => out.extend_from_slice(&bf16::from_f64(value).to_le_bytes()),
            DataType::Int8 => out.extend_from_slice(&(value as i8).to_le_bytes()),
            DataType::UInt8 => out.push(value as u8),
            DataType::Bool => out.push(u8::from(value != 0.0)),
            DataType::Int32 => out.extend_from_slice(&(value as i32).to_le_bytes()),
            DataType::Int64 => out.extend_from_slice(&(value as i64).to_le_bytes()),
            DataType::Fp8 | DataType::Int4 | DataType::Fp4 | DataType::E8M0 => {
                return Err(format!("the simulation cannot compute on {dtype} tensors"))
            }
        }
    }
    Ok(out)
}

fn product(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &dim| acc.checked_mul(dim))
}

/// Fails when a tensor of `dims` would exceed `element_limit` elements.
fn check_size(dims: &[usize], element_limit: usize) -> Result<usize, String> {
    match product(dims) {
        Some(volume) if volume <= element_limit => Ok(volume),
        _ => Err(format!(
            "an intermediate tensor of shape {dims:?} exceeds the simulation's limit of {element_limit} elements"
        )),
    }
}

/// Computes one output from its source tensors. `element_limit` bounds every tensor created,
/// so no input can make the simulation exhaust host memory.
pub(crate) fn run_program(
    program: &OutputProgram,
    sources: &[&HostTensor],
    element_limit: usize,
) -> Result<HostTensor, String> {
    let (first, rest) = sources.split_first().ok_or("an output needs a source")?;
    let mut current = (*first).clone();
    if matches!(program.ops.first(), Some(Op::Add {})) {
        for other in rest {
            if other.dims != current.dims {
                return Err(format!(
                    "add needs operands of equal shape, found {:?} and {:?}",
                    current.dims, other.dims
                ));
            }
            current
                .values
                .iter_mut()
                .zip(&other.values)
                .for_each(|(sum, value)| *sum += value);
        }
    }
    for op in program.unary_ops() {
        current = apply(op, current, element_limit)?;
    }
    Ok(current)
}

fn apply(op: &Op, mut tensor: HostTensor, element_limit: usize) -> Result<HostTensor, String> {
    match *op {
        Op::Scale { mul, add } => {
            tensor
                .values
                .iter_mut()
                .for_each(|value| *value = *value * mul + add);
            Ok(tensor)
        }
        Op::Relu {} => {
            tensor
                .values
                .iter_mut()
                .for_each(|value| *value = value.max(0.0));
            Ok(tensor)
        }
        Op::Sigmoid {} => {
            tensor
                .values
                .iter_mut()
                .for_each(|value| *value = 1.0 / (1.0 + (-*value).exp()));
            Ok(tensor)
        }
        Op::Reshape { ref shape } => {
            let dims: Vec<i64> = tensor.dims.iter().map(|&extent| extent as i64).collect();
            let reshaped = reshape_dims(&dims, shape)?
                .into_iter()
                .map(|extent| usize::try_from(extent).map_err(|_| "reshape: unknown extent"))
                .collect::<Result<Vec<usize>, _>>()?;
            if product(&reshaped) != Some(tensor.values.len()) {
                return Err(format!(
                    "reshape: {} elements cannot take the shape {reshaped:?}",
                    tensor.values.len()
                ));
            }
            tensor.dims = reshaped;
            Ok(tensor)
        }
        Op::Add {} => Ok(tensor),
        Op::Linear { out, seed } => linear(&tensor, out, seed, element_limit),
        Op::SumLast {} => {
            let (&depth, leading) = tensor.dims.split_last().ok_or("sum_last on a scalar")?;
            let values = if depth == 0 {
                vec![0.0; check_size(leading, element_limit)?]
            } else {
                tensor
                    .values
                    .chunks_exact(depth)
                    .map(|row| row.iter().sum())
                    .collect()
            };
            Ok(HostTensor {
                dims: leading.to_vec(),
                values,
            })
        }
        Op::Nonzero {} => nonzero(&tensor, element_limit),
    }
}

fn linear(
    tensor: &HostTensor,
    out: usize,
    seed: u64,
    element_limit: usize,
) -> Result<HostTensor, String> {
    let (&depth, leading) = tensor.dims.split_last().ok_or("linear on a scalar")?;
    let mut dims = leading.to_vec();
    dims.push(out);
    check_size(&dims, element_limit)?;
    let rows = product(leading).ok_or("linear: too many rows")?;
    // Weights are formula-defined; tabulate them once per call (K·out values, bounded by the
    // element limit like any tensor).
    let weights: Vec<f64> = {
        check_size(&[depth, out], element_limit)?;
        (0..depth)
            .flat_map(|k| (0..out).map(move |n| linear_weight(k, n, seed)))
            .collect()
    };
    let mut values = Vec::with_capacity(rows * out);
    for row in 0..rows {
        let x = tensor
            .values
            .get(row * depth..(row + 1) * depth)
            .ok_or("linear: the operand holds fewer values than its shape")?;
        for n in 0..out {
            let dot: f64 = x
                .iter()
                .enumerate()
                .map(|(k, &value)| value * weights[k * out + n])
                .sum();
            values.push(dot + linear_bias(n, seed));
        }
    }
    Ok(HostTensor { dims, values })
}

fn nonzero(tensor: &HostTensor, element_limit: usize) -> Result<HostTensor, String> {
    let rank = tensor.dims.len();
    let count = tensor.values.iter().filter(|&&value| value != 0.0).count();
    check_size(&[count, rank], element_limit)?;
    let mut values = Vec::with_capacity(count * rank);
    let mut index = vec![0usize; rank];
    for (flat, &value) in tensor.values.iter().enumerate() {
        if value != 0.0 {
            // Unravel the row-major flat index, last axis fastest.
            let mut remainder = flat;
            for (slot, &extent) in index.iter_mut().zip(&tensor.dims).rev() {
                *slot = remainder % extent;
                remainder /= extent;
            }
            values.extend(index.iter().map(|&coordinate| coordinate as f64));
        }
    }
    Ok(HostTensor {
        dims: vec![count, rank],
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: &[usize], values: &[f64]) -> HostTensor {
        HostTensor {
            dims: dims.to_vec(),
            values: values.to_vec(),
        }
    }

    fn program(sources: usize, ops: &[Op]) -> OutputProgram {
        OutputProgram {
            sources: (0..sources).collect(),
            ops: ops.to_vec(),
            data_dependent: matches!(ops.last(), Some(Op::Nonzero {})),
        }
    }

    fn run(ops: &[Op], input: &HostTensor) -> HostTensor {
        run_program(&program(1, ops), &[input], 1 << 20).unwrap()
    }

    #[test]
    fn weight_formulas_match_their_documentation() {
        for (k, n, seed) in [
            (0usize, 0usize, 0u64),
            (3, 5, 1),
            (16, 7, 2),
            (100, 200, 12345),
        ] {
            let expected = (((k * 7 + n * 13 + seed as usize * 31) % 17) as f64 - 8.0) / 16.0;
            assert_eq!(linear_weight(k, n, seed), expected);
            let bias = (((n * 5 + seed as usize) % 7) as f64 - 3.0) / 8.0;
            assert_eq!(linear_bias(n, seed), bias);
        }
        // Huge arguments must not overflow.
        let _ = linear_weight(usize::MAX, usize::MAX, u64::MAX);
        let _ = linear_bias(usize::MAX, u64::MAX);
    }

    #[test]
    fn elementwise_ops() {
        let x = tensor(&[2, 2], &[-1.0, 0.5, 2.0, -3.0]);
        assert_eq!(
            run(&[Op::Scale { mul: 2.0, add: 1.0 }], &x).values,
            [-1.0, 2.0, 5.0, -5.0]
        );
        assert_eq!(run(&[Op::Relu {}], &x).values, [0.0, 0.5, 2.0, 0.0]);
        assert_eq!(run(&[Op::SumLast {}], &x), tensor(&[2], &[-0.5, -1.0]));
        let y = tensor(&[2, 2], &[1.0, 1.0, 1.0, 1.0]);
        let sum = run_program(&program(2, &[Op::Add {}]), &[&x, &y], 100).unwrap();
        assert_eq!(sum.values, [0.0, 1.5, 3.0, -2.0]);
        let mismatched = tensor(&[4], &[1.0; 4]);
        assert!(run_program(&program(2, &[Op::Add {}]), &[&x, &mismatched], 100).is_err());
    }

    #[test]
    fn linear_by_hand() {
        // K = 2, out = 2, seed = 0:
        // W[0][0] = (0 - 8)/16 = -0.5, W[0][1] = (13 - 8)/16 = 0.3125,
        // W[1][0] = (7 - 8)/16 = -0.0625, W[1][1] = (20 % 17 - 8)/16 = -0.3125,
        // b[0] = (0 - 3)/8 = -0.375, b[1] = (5 - 3)/8 = 0.25.
        let x = tensor(&[1, 2], &[1.0, 2.0]);
        let y = run(&[Op::Linear { out: 2, seed: 0 }], &x);
        assert_eq!(y.dims, [1, 2]);
        assert_eq!(y.values, [-0.5 - 0.125 - 0.375, 0.3125 - 0.625 + 0.25]);
        let empty = run(&[Op::Linear { out: 3, seed: 0 }], &tensor(&[0, 2], &[]));
        assert_eq!(empty.dims, [0, 3]);
        assert!(empty.values.is_empty());
        let zero_depth = run(&[Op::Linear { out: 2, seed: 4 }], &tensor(&[1, 0], &[]));
        assert_eq!(zero_depth.values, [linear_bias(0, 4), linear_bias(1, 4)]);
    }

    #[test]
    fn nonzero_lists_row_major_indices() {
        let x = tensor(&[2, 3], &[0.0, 1.0, 0.0, 2.0, 0.0, -1.0]);
        let y = run(&[Op::Nonzero {}], &x);
        assert_eq!(y.dims, [3, 2]);
        assert_eq!(y.values, [0.0, 1.0, 1.0, 0.0, 1.0, 2.0]);
        let none = run(&[Op::Nonzero {}], &tensor(&[4], &[0.0; 4]));
        assert_eq!(none.dims, [0, 1]);
    }

    #[test]
    fn sigmoid_and_reshape() {
        let x = tensor(&[2, 3], &[0.0, 1.0, -1.0, 2.0, 3.0, 4.0]);
        let squashed = run(&[Op::Sigmoid {}], &x);
        assert_eq!(squashed.dims, [2, 3]);
        assert_eq!(squashed.values[0], 0.5);
        assert_eq!(squashed.values[1], 1.0 / (1.0 + (-1.0f64).exp()));
        assert_eq!(squashed.values[1] + squashed.values[2], 1.0);

        for (shape, dims) in [
            (vec![0, -1, 1], vec![2, 3, 1]),
            (vec![3, 2], vec![3, 2]),
            (vec![-1], vec![6]),
            (vec![0, 0], vec![2, 3]),
        ] {
            let reshaped = run(&[Op::Reshape { shape }], &x);
            assert_eq!(reshaped.dims, dims);
            assert_eq!(
                reshaped.values, x.values,
                "reshape keeps the row-major order"
            );
        }
        for shape in [
            vec![4, 2],
            vec![-1, -1],
            vec![0, 0, 0],
            vec![-1, 4],
            vec![-2, 3],
        ] {
            let result = run_program(
                &program(
                    1,
                    &[Op::Reshape {
                        shape: shape.clone(),
                    }],
                ),
                &[&x],
                100,
            );
            assert!(result.is_err(), "{shape:?}");
        }
    }

    #[test]
    fn element_limit_is_enforced() {
        let x = tensor(&[4, 2], &[1.0; 8]);
        assert!(run_program(&program(1, &[Op::Linear { out: 100, seed: 0 }]), &[&x], 100).is_err());
    }

    #[test]
    fn conversions_round_trip_every_compute_dtype() {
        let values = [-2.0, 0.0, 1.0, 3.0];
        for dtype in [
            DataType::F32,
            DataType::F16,
            DataType::BF16,
            DataType::Int8,
            DataType::Int32,
            DataType::Int64,
        ] {
            let bytes = encode(&values, dtype).unwrap();
            assert_eq!(bytes.len(), dtype.bytes_for(4));
            assert_eq!(decode(&bytes, dtype).unwrap(), values, "{dtype}");
        }
        assert_eq!(
            encode(&[-2.0, 300.0, 7.9], DataType::UInt8).unwrap(),
            [0, 255, 7]
        );
        assert_eq!(
            encode(&[-2.0, 0.0, 0.25], DataType::Bool).unwrap(),
            [1, 0, 1]
        );
        assert_eq!(decode(&[0, 5], DataType::Bool).unwrap(), [0.0, 1.0]);
        assert_eq!(
            decode(&encode(&[0.1], DataType::F16).unwrap(), DataType::F16).unwrap(),
            [f16::from_f64(0.1).to_f64()]
        );
        assert!(encode(&[1.0], DataType::Fp8).is_err());
        assert!(decode(&[0], DataType::Int4).is_err());
    }
}
