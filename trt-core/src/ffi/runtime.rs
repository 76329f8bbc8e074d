//! `IRuntime`: the owning wrapper, and engine deserialization.

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::{vcall, ApiObject};
use super::engine::Engine;
use super::gpu_allocator::{GpuAllocatorHandler, GpuAllocatorObject};
use super::loader::TensorRtLibrary;
use super::slots::Method;
use crate::error::{Error, Result};

/// The runtime object and what keeps it valid. Engines hold an `Arc` of it, so the runtime is
/// deleted only after every engine created from it.
pub(crate) struct RuntimeInner {
    pub(crate) object: ApiObject,
    pub(crate) library: Arc<TensorRtLibrary>,
    /// `IRuntime` is not documented as thread-safe: calls on it are serialised.
    calls: Mutex<()>,
    /// Every GPU allocator set on the runtime, in order. TensorRT keeps raw pointers to them
    /// (engines free their memory through the allocator that was current when they were
    /// created), so they are kept until this struct is dropped: `Drop::drop` deletes the runtime
    /// object before the fields (and so these objects) are dropped, after every engine.
    /// Boxed so each keeps its address when the vector grows.
    #[allow(clippy::vec_box)]
    gpu_allocators: Mutex<Vec<Box<GpuAllocatorObject>>>,
}

// SAFETY: the runtime object is only used under `calls` (or, for deletion, by the last owner),
// and TensorRT objects are not tied to the thread that created them.
unsafe impl Send for RuntimeInner {}
// SAFETY: as above; shared access goes through the `calls` mutex.
unsafe impl Sync for RuntimeInner {}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        // SAFETY: this is the only owner of the runtime object; every engine (which holds an
        // `Arc<RuntimeInner>`) is gone, so nothing refers to it any more.
        unsafe { self.object.delete() };
    }
}

/// A TensorRT runtime (`IRuntime`). Cheap to clone (shared ownership).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.inner.library)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// `createInferRuntime(logger)` with the library's Rust logger. Fails with
    /// [`Error::TensorRt`] quoting the logged message (for example "CUDA initialization
    /// failure" on a machine without a GPU).
    pub fn new(library: &Arc<TensorRtLibrary>) -> Result<Runtime> {
        let object = library.create_runtime_object()?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                object,
                library: library.clone(),
                calls: Mutex::new(()),
                gpu_allocators: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The library this runtime belongs to.
    pub fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.inner.library
    }

    /// `deserializeCudaEngine(blob, size)`. A plan TensorRT refuses (corrupt, truncated, of
    /// another flavor or version, for another GPU) is [`Error::InvalidPlan`] quoting the logger.
    pub fn deserialize_engine(&self, plan: &[u8]) -> Result<Engine> {
        self.deserialize_engine_named(plan, None)
    }

    /// Reads the plan file at `path` and deserializes it; errors name the file.
    pub fn deserialize_engine_file(&self, path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        let plan = fs_err::read(path)?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.deserialize_engine_named(&plan, Some(name))
    }

    fn deserialize_engine_named(&self, plan: &[u8], source_name: Option<String>) -> Result<Engine> {
        let library = &self.inner.library;
        let slot = library.slot(Method::RuntimeDeserializeCudaEngine)?;
        let _calls = self.inner.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live runtime; the slot is `ICudaEngine* deserializeCudaEngine(void const*,
        // std::size_t) noexcept` of this library's version; `plan` is valid for the call
        // (TensorRT copies what it keeps).
        let raw = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_void, usize) -> *mut c_void,
                plan.as_ptr().cast(),
                plan.len()
            )
        };
        match ApiObject::from_returned(raw) {
            Some(object) => Ok(Engine::from_object(object, self.inner.clone())),
            None => Err(Error::InvalidPlan {
                source_name,
                reason: library.logger().failure_message(mark, || {
                    format!(
                        "{} returned null for {} bytes and logged no error",
                        Method::RuntimeDeserializeCudaEngine.call_name(),
                        plan.len()
                    )
                }),
            }),
        }
    }

    /// `setMaxThreads`: the most threads TensorRT may use (false from TensorRT is an error).
    pub fn set_max_threads(&self, threads: i32) -> Result<()> {
        let library = &self.inner.library;
        let slot = library.slot(Method::RuntimeSetMaxThreads)?;
        let _calls = self.inner.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live runtime; slot is `bool setMaxThreads(int32_t) noexcept`.
        let accepted = unsafe { vcall!(self.inner.object, slot, fn(i32) -> u8, threads) };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, Method::RuntimeSetMaxThreads, || {
                format!("refused {threads} threads")
            }))
        }
    }

    /// `setGpuAllocator`: TensorRT takes the device memory of engines deserialized from now on
    /// (and frees it when they are deleted) through `handler`, called from TensorRT's threads.
    ///
    /// The Rust `IGpuAllocator` object is owned by this runtime (shared by its clones and
    /// engines) and lives until the runtime object is deleted; a later call replaces the
    /// allocator for new engines but keeps the earlier ones alive for the engines that use them.
    pub fn set_gpu_allocator(&self, handler: Arc<dyn GpuAllocatorHandler>) -> Result<()> {
        let slot = self.inner.library.slot(Method::RuntimeSetGpuAllocator)?;
        let object = GpuAllocatorObject::new(handler);
        let _calls = self.inner.calls.lock();
        let mut allocators = self.inner.gpu_allocators.lock();
        // SAFETY: live runtime; slot is `void setGpuAllocator(IGpuAllocator*) noexcept`; the
        // object is boxed (stable address) and kept in `gpu_allocators` until after the runtime
        // object is deleted, so TensorRT's pointer stays valid for as long as it can use it.
        unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*mut c_void) -> (),
                object.as_ptr()
            )
        };
        allocators.push(object);
        Ok(())
    }

    /// `getMaxThreads`.
    pub fn max_threads(&self) -> Result<i32> {
        let slot = self.inner.library.slot(Method::RuntimeGetMaxThreads)?;
        let _calls = self.inner.calls.lock();
        // SAFETY: live runtime; slot is `int32_t getMaxThreads() const noexcept`.
        Ok(unsafe { vcall!(self.inner.object, slot, fn() -> i32) })
    }
}
