//! Runtime core of the `trt` crate.
//!
//! Layers, bottom up: `backend` (the machine boundary: host simulation, later TensorRT FFI
//! and CUDA), `engine`, `session` (typestate modes), `cache` (CUDA-graph LRU cache).
#![warn(missing_docs)]

pub mod backend;
pub mod error;
pub mod ffi;
pub mod types;

pub use backend::{AllocationStrategy, BackendKind, DevicePtr, MemoryInfo};
pub use error::{Error, Result};
pub use types::{DataType, DeviceId, EngineInfo, Flavor, ProfileShapes, Shape, TensorInfo, TensorIoMode};
