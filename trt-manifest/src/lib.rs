//! The I/O manifest of a TensorRT plan, and the check of a typed model declaration against it.
//!
//! `trt inspect --manifest PLAN` writes `PLAN.manifest.toml` next to the plan: the engine's
//! I/O table (names, modes, data types, shapes, optimization profiles) and a fingerprint of
//! the plan bytes. `#[trt_model]` reads it at compile time; `trt_core::typed` runs the same
//! [`check_model`] on the engine itself at load time. One check, two moments: what compiles
//! against a manifest also loads against its plan.
//!
//! ```
//! use trt_manifest::{check_model, Dim, FieldDecl, Mode, TensorEntry};
//! let engine = [TensorEntry::new("x", Mode::Input, "f32", &[-1, 16])];
//! let declared = [FieldDecl {
//!     field: "x",
//!     tensor: "x",
//!     mode: Mode::Input,
//!     dtype: "f16",
//!     dims: &[Dim::Named("Batch"), Dim::Static(16)],
//! }];
//! let mismatches = check_model(&declared, &engine);
//! assert_eq!(
//!     mismatches[0].to_string(),
//!     "field `x`: the engine's tensor holds f32 elements, the struct declares f16"
//! );
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod rust;

pub use rust::render_model_struct;

/// The manifest format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What `trt inspect --manifest` appends to the plan's file name.
pub const MANIFEST_SUFFIX: &str = ".manifest.toml";

/// The manifest that belongs next to `plan`: `detector.plan` -> `detector.plan.manifest.toml`.
///
/// ```
/// use std::path::Path;
/// let path = trt_manifest::manifest_path_for(Path::new("models/detector.plan"));
/// assert_eq!(path, Path::new("models/detector.plan.manifest.toml"));
/// ```
pub fn manifest_path_for(plan: &Path) -> PathBuf {
    let mut name = plan.file_name().unwrap_or_default().to_os_string();
    name.push(MANIFEST_SUFFIX);
    plan.with_file_name(name)
}

/// Whether the engine reads or writes a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// An engine input.
    Input,
    /// An engine output.
    Output,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Mode::Input => "input",
            Mode::Output => "output",
        })
    }
}

/// A plan's I/O manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// The engine's name.
    pub engine: String,
    /// The TensorRT build that deserialized the plan ("TensorRT 10.13.0", "host simulation").
    pub flavor: String,
    /// Which plan this describes.
    pub plan: PlanFingerprint,
    /// Activation memory of one execution context, in bytes.
    pub device_memory_bytes: u64,
    /// Total weight bytes.
    pub weights_bytes: u64,
    /// Weight bytes that can be streamed from host memory (0: not built for streaming).
    pub streamable_weights_bytes: u64,
    /// Number of optimization profiles.
    pub num_profiles: usize,
    /// The I/O tensors in engine order.
    #[serde(rename = "tensor", default)]
    pub tensors: Vec<TensorEntry>,
}

/// Identifies the plan bytes a manifest was written from, so a stale manifest is noticed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFingerprint {
    /// The plan's file name.
    pub file: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// FNV-1a 64 of its bytes, 16 lowercase hex digits.
    pub fnv1a64: String,
}

impl PlanFingerprint {
    /// The fingerprint of `plan`, a file called `file`.
    ///
    /// ```
    /// let a = trt_manifest::PlanFingerprint::of("a.plan", b"plan bytes");
    /// assert!(a.matches(b"plan bytes"));
    /// assert!(!a.matches(b"plan bytez"));
    /// ```
    pub fn of(file: &str, plan: &[u8]) -> PlanFingerprint {
        PlanFingerprint {
            file: file.to_owned(),
            bytes: plan.len() as u64,
            fnv1a64: format!("{:016x}", fnv1a64(plan)),
        }
    }

    /// True when `plan` has the fingerprinted length and hash.
    pub fn matches(&self, plan: &[u8]) -> bool {
        self.bytes == plan.len() as u64 && self.fnv1a64 == format!("{:016x}", fnv1a64(plan))
    }
}

/// FNV-1a, 64 bits: no dependency, and a changed plan is what it must notice, not an attacker.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One I/O tensor of the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorEntry {
    /// The tensor's name.
    pub name: String,
    /// Input or output.
    pub mode: Mode,
    /// Element type, by its short name (`f32`, `f16`, `bf16`, `i8`, `u8`, `i32`, `i64`...).
    pub dtype: String,
    /// Shape, `-1` for dynamic (or data-dependent) dimensions.
    pub shape: Vec<i64>,
    /// Per optimization profile, the accepted shape range (inputs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileEntry>,
}

impl TensorEntry {
    /// A tensor without profiles.
    pub fn new(name: &str, mode: Mode, dtype: &str, shape: &[i64]) -> TensorEntry {
        TensorEntry {
            name: name.to_owned(),
            mode,
            dtype: dtype.to_owned(),
            shape: shape.to_vec(),
            profiles: Vec::new(),
        }
    }

    /// This tensor with one more optimization profile.
    pub fn with_profile(mut self, min: &[i64], opt: &[i64], max: &[i64]) -> TensorEntry {
        self.profiles.push(ProfileEntry {
            min: min.to_vec(),
            opt: opt.to_vec(),
            max: max.to_vec(),
        });
        self
    }
}

/// The shape range one optimization profile accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// Smallest accepted shape.
    pub min: Vec<i64>,
    /// The shape kernels were tuned for.
    pub opt: Vec<i64>,
    /// Largest accepted shape.
    pub max: Vec<i64>,
}

/// Why a manifest could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError(String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Parses a manifest and checks its format version and shapes.
    ///
    /// ```
    /// let text = trt_manifest::Manifest::example().to_toml();
    /// let manifest = trt_manifest::Manifest::parse(&text).unwrap();
    /// assert_eq!(manifest, trt_manifest::Manifest::example());
    /// assert!(trt_manifest::Manifest::parse("format = 2").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        // Read the version first, so a newer format says so instead of "unknown field".
        #[derive(Deserialize)]
        struct Version {
            format: Option<u32>,
        }
        let version: Version = toml::from_str(text)
            .map_err(|error| ManifestError(format!("not a valid manifest: {error}")))?;
        match version.format {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(ManifestError(format!(
                    "manifest format {other} is not supported (this build reads format {FORMAT_VERSION}); \
                     regenerate it with `trt inspect --manifest`"
                )))
            }
            None => return Err(ManifestError("not a manifest: no `format` key".to_owned())),
        }
        let manifest: Manifest = toml::from_str(text)
            .map_err(|error| ManifestError(format!("not a valid manifest: {error}")))?;
        for tensor in &manifest.tensors {
            let rank = tensor.shape.len();
            let bad_profile = tensor.profiles.iter().any(|profile| {
                [&profile.min, &profile.opt, &profile.max]
                    .iter()
                    .any(|shape| shape.len() != rank)
            });
            if bad_profile || tensor.shape.iter().any(|&dim| dim < -1) {
                return Err(ManifestError(format!(
                    "tensor `{}`: shapes must have rank {rank} and dimensions >= -1",
                    tensor.name
                )));
            }
        }
        Ok(manifest)
    }

    /// The manifest as TOML, with a header saying what wrote it and what reads it.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_else(|error| {
            // Every field is a string, an integer or a table of those: serialization cannot fail.
            format!("# serialization failed: {error}\n")
        });
        format!(
            "# I/O manifest written by `trt inspect --manifest`; `#[trt_model]` checks its struct\n\
             # against it at compile time. Regenerate it whenever the plan changes.\n{body}"
        )
    }

    /// A small manifest (one dynamic-batch input, one output) for examples and tests.
    pub fn example() -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            engine: "mlp".to_owned(),
            flavor: "host simulation".to_owned(),
            plan: PlanFingerprint::of("mlp.simplan", b"plan"),
            device_memory_bytes: 65536,
            weights_bytes: 1 << 20,
            streamable_weights_bytes: 0,
            num_profiles: 1,
            tensors: vec![
                TensorEntry::new("x", Mode::Input, "f32", &[-1, 16]).with_profile(
                    &[1, 16],
                    &[4, 16],
                    &[64, 16],
                ),
                TensorEntry::new("y", Mode::Output, "f32", &[-1, 8]),
            ],
        }
    }
}

/// One dimension of a declared tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim<'a> {
    /// A fixed extent: the engine must have it, or accept it (dynamic dimension in range).
    Static(i64),
    /// A named dynamic extent (`Batch`, `H`): every dimension with the same name has the same
    /// extent in one run.
    Named(&'a str),
    /// An anonymous dynamic extent (`_`).
    Any,
}

impl fmt::Display for Dim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Static(extent) => write!(f, "{extent}"),
            Dim::Named(name) => f.write_str(name),
            Dim::Any => f.write_str("_"),
        }
    }
}

/// One field of a typed model declaration: which engine tensor it binds and what it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDecl<'a> {
    /// The Rust field name.
    pub field: &'a str,
    /// The engine tensor it binds (the field name unless renamed).
    pub tensor: &'a str,
    /// `#[input]` or `#[output]`.
    pub mode: Mode,
    /// Element type short name (`f16`).
    pub dtype: &'a str,
    /// One entry per dimension.
    pub dims: &'a [Dim<'a>],
}

/// One way a declaration differs from the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The field concerned; `None` for an engine input that no field declares.
    pub field: Option<String>,
    /// The engine tensor concerned.
    pub tensor: String,
    /// What differs.
    pub kind: MismatchKind,
}

/// What differs between a declared field and the engine tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MismatchKind {
    /// The engine has no tensor of that name.
    MissingTensor {
        /// The engine's tensor names.
        known: Vec<String>,
    },
    /// Declared `#[input]` for an engine output, or the other way round.
    WrongMode {
        /// The field's direction.
        declared: Mode,
        /// The tensor's mode in the engine.
        engine: Mode,
    },
    /// Another element type.
    DataType {
        /// The struct's element type.
        declared: String,
        /// The engine's.
        engine: String,
    },
    /// Another number of dimensions.
    Rank {
        /// The struct's rank.
        declared: usize,
        /// The engine's rank.
        engine: usize,
        /// The engine's shape.
        engine_shape: Vec<i64>,
    },
    /// A fixed extent that differs from the engine's fixed extent.
    StaticDim {
        /// The axis.
        axis: usize,
        /// The struct's extent.
        declared: i64,
        /// The engine's extent.
        engine: i64,
    },
    /// A fixed extent for a dynamic input dimension that no optimization profile accepts.
    OutsideProfiles {
        /// The axis.
        axis: usize,
        /// The struct's extent.
        declared: i64,
        /// Per profile, the accepted `(min, max)` at that axis.
        ranges: Vec<(i64, i64)>,
    },
    /// A named dimension that the engine fixes to two different extents.
    NamedDim {
        /// The axis of this field.
        axis: usize,
        /// The dimension's name.
        name: String,
        /// The engine's extent here.
        engine: i64,
        /// The field where the name was first bound.
        other_field: String,
        /// The axis there.
        other_axis: usize,
        /// The engine's extent there.
        other_engine: i64,
    },
    /// An engine input that no field declares: the model could not run.
    UndeclaredInput,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tensor = &self.tensor;
        let Some(field) = &self.field else {
            return write!(
                f,
                "engine input `{tensor}` has no #[input] field: a run needs every input"
            );
        };
        if field == tensor {
            write!(f, "field `{field}`: ")?;
        } else {
            write!(f, "field `{field}` (tensor `{tensor}`): ")?;
        }
        match &self.kind {
            MismatchKind::MissingTensor { known } => {
                let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
                write!(
                    f,
                    "the engine has no tensor `{tensor}`; its tensors are {}",
                    known.join(", ")
                )
            }
            MismatchKind::WrongMode { declared, engine } => write!(
                f,
                "declared #[{declared}], but the engine's tensor is an {engine}"
            ),
            MismatchKind::DataType { declared, engine } => write!(
                f,
                "the engine's tensor holds {engine} elements, the struct declares {declared}"
            ),
            MismatchKind::Rank {
                declared,
                engine,
                engine_shape,
            } => write!(
                f,
                "the engine's tensor has rank {engine} (shape {}), the struct declares rank {declared}",
                shape_text(engine_shape)
            ),
            MismatchKind::StaticDim {
                axis,
                declared,
                engine,
            } => write!(
                f,
                "dimension {axis} is {engine} in the engine, the struct declares {declared}"
            ),
            MismatchKind::OutsideProfiles {
                axis,
                declared,
                ranges,
            } => {
                let ranges: Vec<String> = ranges
                    .iter()
                    .enumerate()
                    .map(|(profile, (min, max))| format!("profile {profile}: {min}..={max}"))
                    .collect();
                write!(
                    f,
                    "dimension {axis} is dynamic in the engine, and no optimization profile accepts \
                     the struct's {declared} ({})",
                    ranges.join(", ")
                )
            }
            MismatchKind::NamedDim {
                axis,
                name,
                engine,
                other_field,
                other_axis,
                other_engine,
            } => write!(
                f,
                "dimension {axis} is `{name}`, which the engine fixes to {engine} here but to \
                 {other_engine} at dimension {other_axis} of field `{other_field}`"
            ),
            MismatchKind::UndeclaredInput => write!(f, "undeclared input"),
        }
    }
}

fn shape_text(dims: &[i64]) -> String {
    let dims: Vec<String> = dims.iter().map(i64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Every way `fields` differs from the engine's I/O table `tensors`, in field order, then
/// the engine inputs no field declares. Empty when the declaration matches.
///
/// Checked: tensor names, input/output mode, element type, rank, fixed extents (equal to a
/// fixed engine extent, or inside some optimization profile for a dynamic input dimension),
/// named extents the engine fixes (one extent per name), and that every engine input is
/// declared. Engine outputs without a field are allowed: they are computed and ignored.
pub fn check_model(fields: &[FieldDecl<'_>], tensors: &[TensorEntry]) -> Vec<Mismatch> {
    let mut found = Vec::new();
    // name -> (engine extent, field, axis) for named dimensions the engine fixes.
    let mut bound: Vec<(&str, i64, &str, usize)> = Vec::new();
    for field in fields {
        let mismatch = |kind| Mismatch {
            field: Some(field.field.to_owned()),
            tensor: field.tensor.to_owned(),
            kind,
        };
        let Some(tensor) = tensors.iter().find(|tensor| tensor.name == field.tensor) else {
            found.push(mismatch(MismatchKind::MissingTensor {
                known: tensors.iter().map(|tensor| tensor.name.clone()).collect(),
            }));
            continue;
        };
        if tensor.mode != field.mode {
            found.push(mismatch(MismatchKind::WrongMode {
                declared: field.mode,
                engine: tensor.mode,
            }));
            continue;
        }
        if tensor.dtype != field.dtype {
            found.push(mismatch(MismatchKind::DataType {
                declared: field.dtype.to_owned(),
                engine: tensor.dtype.clone(),
            }));
        }
        if tensor.shape.len() != field.dims.len() {
            found.push(mismatch(MismatchKind::Rank {
                declared: field.dims.len(),
                engine: tensor.shape.len(),
                engine_shape: tensor.shape.clone(),
            }));
            continue;
        }
        for (axis, (dim, &engine)) in field.dims.iter().zip(&tensor.shape).enumerate() {
            match *dim {
                Dim::Static(declared) if engine >= 0 => {
                    if declared != engine {
                        found.push(mismatch(MismatchKind::StaticDim {
                            axis,
                            declared,
                            engine,
                        }));
                    }
                }
                Dim::Static(declared) => {
                    let ranges: Vec<(i64, i64)> = tensor
                        .profiles
                        .iter()
                        .filter_map(|profile| {
                            Some((*profile.min.get(axis)?, *profile.max.get(axis)?))
                        })
                        .collect();
                    let accepted = ranges
                        .iter()
                        .any(|&(min, max)| (min..=max).contains(&declared));
                    // Outputs have no profiles: their dynamic extents are checked per run.
                    if field.mode == Mode::Input && !ranges.is_empty() && !accepted {
                        found.push(mismatch(MismatchKind::OutsideProfiles {
                            axis,
                            declared,
                            ranges,
                        }));
                    }
                }
                Dim::Named(name) if engine >= 0 => {
                    match bound.iter().find(|(bound_name, ..)| *bound_name == name) {
                        Some(&(_, other_engine, other_field, other_axis))
                            if other_engine != engine =>
                        {
                            found.push(mismatch(MismatchKind::NamedDim {
                                axis,
                                name: name.to_owned(),
                                engine,
                                other_field: other_field.to_owned(),
                                other_axis,
                                other_engine,
                            }));
                        }
                        Some(_) => {}
                        None => bound.push((name, engine, field.field, axis)),
                    }
                }
                Dim::Named(_) | Dim::Any => {}
            }
        }
    }
    for tensor in tensors.iter().filter(|tensor| tensor.mode == Mode::Input) {
        if !fields.iter().any(|field| field.tensor == tensor.name) {
            found.push(Mismatch {
                field: None,
                tensor: tensor.name.clone(),
                kind: MismatchKind::UndeclaredInput,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests;
