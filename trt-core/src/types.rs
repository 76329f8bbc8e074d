//! Core value types shared by every layer: data types, shapes, tensor and engine metadata.
//!
//! These types carry no behaviour tied to a backend, so the host simulation and the real
//! TensorRT backend describe engines with exactly the same vocabulary.

use std::fmt;

use crate::error::{Error, Result};

/// Element type of a tensor, numbered exactly as TensorRT's `nvinfer1::DataType`.
///
/// ```
/// use trt_core::DataType;
/// assert_eq!(DataType::F16.size_in_bits(), 16);
/// assert_eq!(DataType::Int4.bytes_for(3), 2); // 4-bit types pack two elements a byte
/// assert_eq!(DataType::try_from(7).unwrap(), DataType::BF16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum DataType {
    /// 32-bit IEEE float (`kFLOAT`).
    F32 = 0,
    /// 16-bit IEEE float (`kHALF`).
    F16 = 1,
    /// Signed 8-bit integer, usually a quantized float (`kINT8`).
    Int8 = 2,
    /// Signed 32-bit integer (`kINT32`).
    Int32 = 3,
    /// 8-bit boolean (`kBOOL`).
    Bool = 4,
    /// Unsigned 8-bit integer (`kUINT8`).
    UInt8 = 5,
    /// 8-bit float, E4M3 (`kFP8`).
    Fp8 = 6,
    /// Brain float 16 (`kBF16`).
    BF16 = 7,
    /// Signed 64-bit integer (`kINT64`).
    Int64 = 8,
    /// Signed 4-bit integer, packed two a byte (`kINT4`).
    Int4 = 9,
    /// 4-bit float, E2M1, packed two a byte (`kFP4`).
    Fp4 = 10,
    /// Exponent-only 8-bit float used for quantization scales (`kE8M0`).
    E8M0 = 11,
}

impl DataType {
    /// Every data type, in TensorRT's numbering order.
    pub const ALL: [DataType; 12] = [
        DataType::F32,
        DataType::F16,
        DataType::Int8,
        DataType::Int32,
        DataType::Bool,
        DataType::UInt8,
        DataType::Fp8,
        DataType::BF16,
        DataType::Int64,
        DataType::Int4,
        DataType::Fp4,
        DataType::E8M0,
    ];

    /// Size of one element in bits (4 for the packed 4-bit types).
    pub const fn size_in_bits(self) -> usize {
        match self {
            DataType::F32 | DataType::Int32 => 32,
            DataType::F16 | DataType::BF16 => 16,
            DataType::Int8 | DataType::Bool | DataType::UInt8 | DataType::Fp8 | DataType::E8M0 => 8,
            DataType::Int64 => 64,
            DataType::Int4 | DataType::Fp4 => 4,
        }
    }

    /// Bytes needed to hold `elements` elements (rounded up for the 4-bit types), or `None`
    /// when that does not fit in `usize`.
    pub const fn checked_bytes_for(self, elements: usize) -> Option<usize> {
        match elements.checked_mul(self.size_in_bits()) {
            Some(bits) => Some(bits.div_ceil(8)),
            None => None,
        }
    }

    /// Bytes needed to hold `elements` elements (rounded up for the 4-bit types); saturates at
    /// `usize::MAX` instead of overflowing (an allocation of that size then fails cleanly).
    pub const fn bytes_for(self, elements: usize) -> usize {
        match self.checked_bytes_for(elements) {
            Some(bytes) => bytes,
            None => usize::MAX,
        }
    }

    /// The short name used in plan descriptions, manifests and error messages (`f32`, `bf16`...).
    pub const fn name(self) -> &'static str {
        match self {
            DataType::F32 => "f32",
            DataType::F16 => "f16",
            DataType::Int8 => "i8",
            DataType::Int32 => "i32",
            DataType::Bool => "bool",
            DataType::UInt8 => "u8",
            DataType::Fp8 => "fp8",
            DataType::BF16 => "bf16",
            DataType::Int64 => "i64",
            DataType::Int4 => "i4",
            DataType::Fp4 => "fp4",
            DataType::E8M0 => "e8m0",
        }
    }

    /// Parses the short name produced by [`DataType::name`].
    pub fn from_name(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|dtype| dtype.name() == name)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl TryFrom<i32> for DataType {
    type Error = Error;

    /// Checked conversion from TensorRT's wire value: enums cross the FFI boundary as `i32`.
    fn try_from(value: i32) -> Result<Self> {
        usize::try_from(value)
            .ok()
            .and_then(|index| DataType::ALL.get(index).copied())
            .ok_or(Error::UnknownEnumValue {
                enum_name: "DataType",
                value,
            })
    }
}

/// Whether a tensor is read or written by the engine (`nvinfer1::TensorIOMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum TensorIoMode {
    /// Neither input nor output (`kNONE`); TensorRT reports it for non-I/O tensors.
    None = 0,
    /// Engine input (`kINPUT`).
    Input = 1,
    /// Engine output (`kOUTPUT`).
    Output = 2,
}

impl TryFrom<i32> for TensorIoMode {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self> {
        match value {
            0 => Ok(TensorIoMode::None),
            1 => Ok(TensorIoMode::Input),
            2 => Ok(TensorIoMode::Output),
            _ => Err(Error::UnknownEnumValue {
                enum_name: "TensorIOMode",
                value,
            }),
        }
    }
}

impl fmt::Display for TensorIoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            TensorIoMode::None => "none",
            TensorIoMode::Input => "input",
            TensorIoMode::Output => "output",
        })
    }
}

/// A tensor shape of up to [`Shape::MAX_RANK`] dimensions; `-1` marks a dynamic dimension.
///
/// It is `Copy` and lives inline (like TensorRT's `Dims64`), so building one on the hot path
/// allocates nothing.
///
/// ```
/// use trt_core::Shape;
/// let dynamic = Shape::new(&[-1, 3, 224, 224]).unwrap();
/// assert!(dynamic.is_dynamic());
/// let concrete = dynamic.with_dim(0, 8);
/// assert_eq!(concrete.volume(), Some(8 * 3 * 224 * 224));
/// assert_eq!(concrete.to_string(), "[8, 3, 224, 224]");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    rank: u8,
    dims: [i64; Shape::MAX_RANK],
}

impl Shape {
    /// The largest rank TensorRT supports (`Dims64::MAX_DIMS`).
    pub const MAX_RANK: usize = 8;

    /// A rank-0 (scalar) shape.
    pub const SCALAR: Shape = Shape {
        rank: 0,
        dims: [0; Shape::MAX_RANK],
    };

    /// Builds a shape; fails when the rank exceeds 8 or a dimension is below -1.
    pub fn new(dims: &[i64]) -> Result<Shape> {
        if dims.len() > Shape::MAX_RANK {
            return Err(Error::InvalidShape {
                shape: format!("{dims:?}"),
                reason: "rank above 8",
            });
        }
        if dims.iter().any(|&dim| dim < -1) {
            return Err(Error::InvalidShape {
                shape: format!("{dims:?}"),
                reason: "dimensions must be -1 (dynamic) or non-negative",
            });
        }
        let mut shape = Shape::SCALAR;
        shape.rank = dims.len() as u8;
        shape.dims[..dims.len()].copy_from_slice(dims);
        Ok(shape)
    }

    /// Builds a concrete shape from unsigned extents (rank above 8 is an error).
    pub fn from_extents(extents: &[usize]) -> Result<Shape> {
        let invalid = |reason| Error::InvalidShape {
            shape: format!("{extents:?}"),
            reason,
        };
        if extents.len() > Shape::MAX_RANK {
            return Err(invalid("rank above 8"));
        }
        let mut shape = Shape::SCALAR;
        shape.rank = extents.len() as u8;
        for (slot, &extent) in shape.dims.iter_mut().zip(extents) {
            *slot = i64::try_from(extent).map_err(|_| invalid("extent does not fit in i64"))?;
        }
        Ok(shape)
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        usize::from(self.rank)
    }

    /// The dimensions as a slice.
    pub fn dims(&self) -> &[i64] {
        &self.dims[..self.rank()]
    }

    /// True when any dimension is dynamic (-1).
    pub fn is_dynamic(&self) -> bool {
        self.dims().contains(&-1)
    }

    /// Number of elements, or `None` while a dimension is dynamic or the product overflows.
    pub fn volume(&self) -> Option<usize> {
        self.dims().iter().try_fold(1usize, |acc, &dim| {
            usize::try_from(dim)
                .ok()
                .and_then(|dim| acc.checked_mul(dim))
        })
    }

    /// A copy with dimension `axis` replaced.
    ///
    /// # Panics
    /// When `axis` is not below the rank (a programming error, like an out-of-range index).
    pub fn with_dim(mut self, axis: usize, value: i64) -> Shape {
        assert!(axis < self.rank(), "axis {axis} out of range for {self}");
        self.dims[axis] = value;
        self
    }

    /// True when `concrete` fits this (possibly dynamic) pattern: same rank, equal static dims.
    pub fn matches(&self, concrete: &Shape) -> bool {
        self.rank == concrete.rank
            && self
                .dims()
                .iter()
                .zip(concrete.dims())
                .all(|(&pattern, &dim)| pattern == -1 || pattern == dim)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, dim) in self.dims().iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dim}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shape{self}")
    }
}

/// The shape range one optimization profile accepts for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProfileShapes {
    /// Smallest accepted shape (`kMIN`).
    pub min: Shape,
    /// The shape kernels were tuned for (`kOPT`).
    pub opt: Shape,
    /// Largest accepted shape (`kMAX`).
    pub max: Shape,
}

impl ProfileShapes {
    /// True when every dimension of `shape` lies within `[min, max]` and the ranks agree.
    pub fn contains(&self, shape: &Shape) -> bool {
        shape.rank() == self.min.rank()
            && shape
                .dims()
                .iter()
                .zip(self.min.dims().iter().zip(self.max.dims()))
                .all(|(dim, (lo, hi))| lo <= dim && dim <= hi)
    }
}

/// Everything an engine says about one of its I/O tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name in the engine.
    pub name: String,
    /// Input or output.
    pub mode: TensorIoMode,
    /// Element type.
    pub dtype: DataType,
    /// Shape with `-1` for dynamic dimensions (and for data-dependent output dimensions).
    pub shape: Shape,
    /// Per optimization profile, the accepted shape range (inputs only; empty for outputs).
    pub profiles: Vec<ProfileShapes>,
}

impl TensorInfo {
    /// True for engine inputs.
    pub fn is_input(&self) -> bool {
        self.mode == TensorIoMode::Input
    }

    /// Checks that an input of `dtype` and `shape` fits this tensor: data type, rank, static
    /// dimensions and the range of optimization profile `profile`. The errors name the tensor
    /// and give the expected and the found value.
    ///
    /// ```
    /// use trt_core::{DataType, Error, ProfileShapes, Shape, TensorInfo, TensorIoMode};
    /// let shape = |dims: &[i64]| Shape::new(dims).unwrap();
    /// let x = TensorInfo {
    ///     name: "x".into(),
    ///     mode: TensorIoMode::Input,
    ///     dtype: DataType::F32,
    ///     shape: shape(&[-1, 4]),
    ///     profiles: vec![ProfileShapes { min: shape(&[1, 4]), opt: shape(&[2, 4]), max: shape(&[8, 4]) }],
    /// };
    /// assert!(x.check_input(0, DataType::F32, &shape(&[3, 4])).is_ok());
    /// assert!(matches!(x.check_input(0, DataType::F32, &shape(&[9, 4])), Err(Error::ShapeOutOfProfile { .. })));
    /// ```
    pub fn check_input(&self, profile: usize, dtype: DataType, shape: &Shape) -> Result<()> {
        if dtype != self.dtype {
            return Err(Error::DataTypeMismatch {
                tensor: self.name.clone(),
                expected: self.dtype,
                found: dtype,
            });
        }
        if shape.rank() != self.shape.rank() {
            return Err(Error::RankMismatch {
                tensor: self.name.clone(),
                expected: self.shape.rank(),
                found: shape.rank(),
                pattern: self.shape,
                shape: *shape,
            });
        }
        for (axis, (&expected, &found)) in self.shape.dims().iter().zip(shape.dims()).enumerate() {
            if expected != -1 && expected != found {
                return Err(Error::StaticDimMismatch {
                    tensor: self.name.clone(),
                    axis,
                    expected,
                    found,
                    pattern: self.shape,
                    shape: *shape,
                });
            }
        }
        if let Some(range) = self.profiles.get(profile) {
            if !range.contains(shape) {
                return Err(Error::ShapeOutOfProfile {
                    tensor: self.name.clone(),
                    profile,
                    min: range.min,
                    max: range.max,
                    found: *shape,
                });
            }
        }
        Ok(())
    }
}

/// Which TensorRT build produced (or can run) an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Standard TensorRT (`libnvinfer`).
    Standard,
    /// The lean runtime (`libnvinfer_lean`): runs version-compatible plans only.
    Lean,
    /// The dispatch runtime (`libnvinfer_dispatch`).
    Dispatch,
    /// TensorRT for RTX (`libtensorrt_rtx`).
    Rtx,
    /// The built-in host simulation.
    Simulation,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Flavor::Standard => "TensorRT",
            Flavor::Lean => "TensorRT lean",
            Flavor::Dispatch => "TensorRT dispatch",
            Flavor::Rtx => "TensorRT-RTX",
            Flavor::Simulation => "host simulation",
        })
    }
}

/// Engine-level metadata: I/O tensors, profiles and memory needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// A display name (the plan's file stem, or the name recorded in a simulated plan).
    pub name: String,
    /// All I/O tensors in the engine's own order.
    pub tensors: Vec<TensorInfo>,
    /// Number of optimization profiles.
    pub num_profiles: usize,
    /// Activation memory a context needs for the largest shapes of any profile.
    pub device_memory_size: usize,
    /// Bytes of weights TensorRT may stream from host memory (0: not built for streaming).
    pub streamable_weights_size: usize,
    /// Total weight bytes.
    pub weights_size: usize,
}

impl EngineInfo {
    /// Index of the tensor called `name`.
    pub fn tensor_index(&self, name: &str) -> Option<usize> {
        self.tensors.iter().position(|tensor| tensor.name == name)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|tensor| tensor.name == name)
    }

    /// Inputs, in engine order.
    pub fn inputs(&self) -> impl Iterator<Item = &TensorInfo> {
        self.tensors.iter().filter(|tensor| tensor.is_input())
    }

    /// Outputs, in engine order.
    pub fn outputs(&self) -> impl Iterator<Item = &TensorInfo> {
        self.tensors
            .iter()
            .filter(|tensor| tensor.mode == TensorIoMode::Output)
    }

    /// The names of every I/O tensor, comma separated (for error messages).
    pub fn tensor_names(&self) -> String {
        self.tensors
            .iter()
            .map(|tensor| format!("`{}`", tensor.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A CUDA device ordinal. Part of every graph-cache key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u32);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_type_round_trips_through_wire_value_and_name() {
        for dtype in DataType::ALL {
            assert_eq!(DataType::try_from(dtype as i32).unwrap(), dtype);
            assert_eq!(DataType::from_name(dtype.name()), Some(dtype));
        }
        assert!(matches!(
            DataType::try_from(12),
            Err(Error::UnknownEnumValue { value: 12, .. })
        ));
        assert!(DataType::try_from(-1).is_err());
    }

    #[test]
    fn element_sizes_match_tensorrt() {
        let bits: Vec<usize> = DataType::ALL.iter().map(|d| d.size_in_bits()).collect();
        assert_eq!(bits, [32, 16, 8, 32, 8, 8, 8, 16, 64, 4, 4, 8]);
        assert_eq!(DataType::Fp4.bytes_for(5), 3);
        assert_eq!(DataType::Int64.bytes_for(5), 40);
        assert_eq!(DataType::F32.checked_bytes_for(usize::MAX / 2), None);
        assert_eq!(DataType::F32.bytes_for(usize::MAX / 2), usize::MAX);
    }

    #[test]
    fn shapes_validate_and_match() {
        assert!(Shape::new(&[1; 9]).is_err());
        assert!(Shape::new(&[-2]).is_err());
        let pattern = Shape::new(&[-1, 4]).unwrap();
        assert!(pattern.matches(&Shape::new(&[7, 4]).unwrap()));
        assert!(!pattern.matches(&Shape::new(&[7, 5]).unwrap()));
        assert!(!pattern.matches(&Shape::new(&[7]).unwrap()));
        assert_eq!(pattern.volume(), None);
        assert_eq!(Shape::SCALAR.volume(), Some(1));
        assert_eq!(
            Shape::from_extents(&[2, 3]).unwrap(),
            Shape::new(&[2, 3]).unwrap()
        );
        assert!(Shape::from_extents(&[1; 9]).is_err());
    }

    #[test]
    fn profile_contains_checks_every_dimension() {
        let profile = ProfileShapes {
            min: Shape::new(&[1, 4]).unwrap(),
            opt: Shape::new(&[4, 4]).unwrap(),
            max: Shape::new(&[8, 4]).unwrap(),
        };
        assert!(profile.contains(&Shape::new(&[8, 4]).unwrap()));
        assert!(!profile.contains(&Shape::new(&[9, 4]).unwrap()));
        assert!(!profile.contains(&Shape::new(&[0, 4]).unwrap()));
        assert!(!profile.contains(&Shape::new(&[4]).unwrap()));
    }
}
