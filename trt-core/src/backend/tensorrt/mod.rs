//! The real backend: TensorRT through [`crate::ffi`] behind the backend traits.
