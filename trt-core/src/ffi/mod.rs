//! Raw TensorRT FFI: library loading, per-version vtable slot tables, Rust-side interfaces.
//! All `unsafe` of the crate lives here.
//!
//! TensorRT is called with no C++ shim, no headers and no compiler: the library is opened
//! with `dlopen` ([`loader`]), its two C entry points (`getInferLibVersion`,
//! `createInferRuntime_INTERNAL`) are resolved by name, and every method is a virtual call
//! through a slot number chosen at run time from the library version ([`slots`]). The
//! interfaces TensorRT calls back into ([`logger::Logger`], the output allocator) are Rust
//! objects whose first word points at a vtable built here.
//!
//! The safe wrappers ([`Runtime`], [`Engine`], [`ExecutionContext`], [`RuntimeConfig`],
//! [`RuntimeCache`], [`HostMemory`]) own their objects and delete them through the wrapper's
//! deleting destructor, in dependency order: contexts hold their engine, engines their runtime,
//! so a runtime is deleted last.
//!
//! Only the x86-64 Linux (Itanium C++ ABI) layout is implemented. Windows/MSVC lays out
//! vtables, destructors and by-value returns differently and is out of scope.

mod abi;
pub mod builder;
pub mod context;
pub mod engine;
pub mod gpu_allocator;
pub mod host_memory;
pub mod loader;
pub mod logger;
pub mod output_allocator;
pub mod runtime;
pub mod runtime_config;
pub mod slots;
#[doc(hidden)]
pub mod stand_in;

pub use abi::{Dims64, InterfaceInfo};
pub use context::ExecutionContext;
pub use engine::{Engine, ProfileSelector};
pub use host_memory::HostMemory;
pub use loader::{Candidate, LibrarySearch, TensorRtLibrary};
pub use logger::{LogMark, LogMessage, Logger, Severity};
pub use output_allocator::{GrowingOutputAllocator, OutputAllocatorHandler};
pub use runtime::Runtime;
pub use runtime_config::{RuntimeCache, RuntimeConfig};
pub mod cuda;
