//! Raw TensorRT FFI: library loading, per-version vtable slot tables, Rust-side interfaces. All `unsafe` of the crate lives here.
