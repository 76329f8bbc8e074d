//! The one error type of the crate.
//!
//! Every variant that concerns a tensor names it and gives the expected and the found value;
//! errors raised by TensorRT quote the message TensorRT logged for the failed call.

use std::path::PathBuf;

use crate::types::{DataType, DeviceId, Shape};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as one enum ([`thiserror`]-derived).
///
/// ```
/// use trt_core::{DataType, Error};
/// let error = Error::DataTypeMismatch {
///     tensor: "images".into(),
///     expected: DataType::F16,
///     found: DataType::F32,
/// };
/// assert_eq!(error.to_string(), "tensor `images`: expected data type f16, found f32");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- bad input to a run -------------------------------------------------------------
    /// A name that is not one of the engine's I/O tensors.
    #[error("unknown tensor `{tensor}`; the engine's tensors are {known}")]
    UnknownTensor {
        /// The name that was given.
        tensor: String,
        /// The engine's tensor names.
        known: String,
    },
    /// An output tensor was passed as an input (or the other way round).
    #[error("tensor `{tensor}` is an engine {actual}, not an {wanted}")]
    WrongTensorMode {
        /// The tensor.
        tensor: String,
        /// What the caller used it as.
        wanted: &'static str,
        /// What it is.
        actual: &'static str,
    },
    /// An input the engine needs was not given.
    #[error("missing input tensor `{tensor}`")]
    MissingInput {
        /// The missing input.
        tensor: String,
    },
    /// The same input was given twice.
    #[error("input tensor `{tensor}` was given more than once")]
    DuplicateInput {
        /// The repeated input.
        tensor: String,
    },
    /// Element type differs from the engine's.
    #[error("tensor `{tensor}`: expected data type {expected}, found {found}")]
    DataTypeMismatch {
        /// The tensor.
        tensor: String,
        /// What the engine wants.
        expected: DataType,
        /// What was given.
        found: DataType,
    },
    /// Rank differs from the engine's.
    #[error("tensor `{tensor}`: expected rank {expected} (shape {pattern}), found rank {found} (shape {shape})")]
    RankMismatch {
        /// The tensor.
        tensor: String,
        /// The engine's rank.
        expected: usize,
        /// The given rank.
        found: usize,
        /// The engine's shape pattern.
        pattern: Shape,
        /// The given shape.
        shape: Shape,
    },
    /// A static dimension differs from the engine's.
    #[error("tensor `{tensor}`: dimension {axis} must be {expected}, found {found} (engine shape {pattern}, given {shape})")]
    StaticDimMismatch {
        /// The tensor.
        tensor: String,
        /// The axis.
        axis: usize,
        /// The engine's extent.
        expected: i64,
        /// The given extent.
        found: i64,
        /// The engine's shape pattern.
        pattern: Shape,
        /// The given shape.
        shape: Shape,
    },
    /// A shape outside the optimization profile's range.
    #[error("tensor `{tensor}`: shape {found} is outside optimization profile {profile} (min {min}, max {max})")]
    ShapeOutOfProfile {
        /// The tensor.
        tensor: String,
        /// Profile index.
        profile: usize,
        /// Smallest accepted shape.
        min: Shape,
        /// Largest accepted shape.
        max: Shape,
        /// The given shape.
        found: Shape,
    },
    /// Data length does not match dtype × shape.
    #[error("tensor `{tensor}`: expected {expected} bytes for {dtype} {shape}, found {found}")]
    ByteSizeMismatch {
        /// The tensor.
        tensor: String,
        /// Element type.
        dtype: DataType,
        /// Shape.
        shape: Shape,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// A device tensor that lives on another GPU than the engine.
    #[error("tensor `{tensor}` lives on {found}, but the engine runs on {expected}")]
    WrongDevice {
        /// The tensor.
        tensor: String,
        /// The engine's device.
        expected: DeviceId,
        /// The tensor's device.
        found: DeviceId,
    },
    /// A typed view asked for another element type than the tensor holds.
    #[error("tensor `{tensor}` holds {actual} elements, not {requested}")]
    ElementTypeMismatch {
        /// The tensor.
        tensor: String,
        /// The tensor's element type.
        actual: DataType,
        /// The element type asked for.
        requested: DataType,
    },
    /// A shape that cannot exist.
    #[error("invalid shape {shape}: {reason}")]
    InvalidShape {
        /// The offending dims.
        shape: String,
        /// Why.
        reason: &'static str,
    },
    /// A tensor name the requested output set does not contain.
    #[error("no output called `{tensor}` in this result; outputs are {known}")]
    NoSuchOutput {
        /// The name asked for.
        tensor: String,
        /// The outputs present.
        known: String,
    },

    // ---- engine and session configuration -----------------------------------------------
    /// The plan could not be read as an engine.
    #[error("invalid engine plan{}: {reason}", source_name.as_deref().map(|n| format!(" `{n}`")).unwrap_or_default())]
    InvalidPlan {
        /// File name, when the plan came from a file.
        source_name: Option<String>,
        /// Why it was refused (TensorRT's own log message where it gave one).
        reason: String,
    },
    /// Weight streaming asked of an engine that was not built for it.
    #[error(
        "engine `{engine}` was not built with weight streaming (it has no streamable weights)"
    )]
    WeightStreamingUnsupported {
        /// The engine.
        engine: String,
    },
    /// A setting that needs no live execution contexts was changed while some exist.
    #[error("engine `{engine}` has {live} live execution context(s); {action} needs none")]
    EngineInUse {
        /// The engine.
        engine: String,
        /// Live contexts.
        live: usize,
        /// What was attempted.
        action: &'static str,
    },
    /// A runtime setting the loaded TensorRT flavor does not have.
    #[error("{flavor} has no {setting}; it exists in TensorRT-RTX only")]
    UnsupportedSetting {
        /// The setting.
        setting: &'static str,
        /// The library flavor.
        flavor: crate::types::Flavor,
    },
    /// An invalid value in an environment variable.
    #[error("environment variable {variable}={value:?} is invalid: expected {expected}")]
    InvalidEnvironment {
        /// Variable name.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A configuration value that cannot work.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An integer from the native library that is not a known enum value.
    #[error("TensorRT returned {value}, which is not a known {enum_name} value")]
    UnknownEnumValue {
        /// The enum.
        enum_name: &'static str,
        /// The raw value.
        value: i32,
    },

    // ---- the machine -------------------------------------------------------------------
    /// A device allocation failed.
    #[error(
        "out of device memory on {device}: requested {requested} bytes, {free} of {total} free"
    )]
    OutOfDeviceMemory {
        /// The device.
        device: DeviceId,
        /// Bytes requested.
        requested: usize,
        /// Bytes free.
        free: usize,
        /// Device capacity.
        total: usize,
    },
    /// A device address that is not (or no longer) inside a live allocation.
    #[error("invalid device address {address:#x} ({bytes} bytes): {reason}")]
    InvalidDeviceAddress {
        /// Address.
        address: u64,
        /// Length of the access.
        bytes: usize,
        /// Why.
        reason: &'static str,
    },
    /// Stream capture failed; the capture has been ended.
    #[error("CUDA graph capture failed: {reason}")]
    CaptureFailed {
        /// Why (for example the operation that is not capturable).
        reason: String,
    },
    /// A TensorRT call failed.
    #[error("TensorRT call {call} failed: {message}")]
    TensorRt {
        /// The C++ method.
        call: &'static str,
        /// TensorRT's log message for it, or a description when it logged none.
        message: String,
    },
    /// A CUDA call failed.
    #[error("CUDA call {call} failed: {message}")]
    Cuda {
        /// The driver call.
        call: &'static str,
        /// The driver's error.
        message: String,
    },
    /// No usable backend (library missing, no GPU...).
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// No TensorRT library was found in any searched place.
    #[error("no TensorRT library found; searched: {searched}")]
    LibraryNotFound {
        /// Every place looked at, in order.
        searched: String,
    },
    /// A TensorRT library exists but could not be loaded.
    #[error("cannot load {path}: {message}")]
    LibraryLoad {
        /// The library file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// A symbol the library must export is missing.
    #[error("{library} does not export `{symbol}`")]
    MissingSymbol {
        /// The library file.
        library: PathBuf,
        /// The symbol.
        symbol: &'static str,
    },
    /// A library version this crate has no slot table for.
    #[error("{flavor} version {version} is not supported; supported: {supported}")]
    UnsupportedVersion {
        /// The library's flavor.
        flavor: crate::types::Flavor,
        /// Its version, dotted.
        version: String,
        /// The supported versions.
        supported: &'static str,
    },
    /// A file could not be read or written (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file that exists but has the wrong content.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A TensorRT method that the loaded library version does not have.
    #[error("{call} is not available in {library}")]
    NotInLibraryVersion {
        /// The C++ method.
        call: &'static str,
        /// The library's flavor and version.
        library: String,
    },
}

impl Error {
    /// True for errors caused by the inputs of one run: the session is unchanged by them.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::UnknownTensor { .. }
                | Error::WrongTensorMode { .. }
                | Error::MissingInput { .. }
                | Error::DuplicateInput { .. }
                | Error::DataTypeMismatch { .. }
                | Error::RankMismatch { .. }
                | Error::StaticDimMismatch { .. }
                | Error::ShapeOutOfProfile { .. }
                | Error::ByteSizeMismatch { .. }
                | Error::WrongDevice { .. }
        )
    }
}
