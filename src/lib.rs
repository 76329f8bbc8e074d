//! Run NVIDIA TensorRT engines from Rust. This facade re-exports the workspace's public API.
pub use trt_core::*;

/// Declares a typed model over an engine; see `trt_macros::trt_model` for the syntax.
pub use trt_macros::trt_model;
