//! Run NVIDIA TensorRT engines from Rust. This facade re-exports the workspace's public API.
pub use trt_core::*;
