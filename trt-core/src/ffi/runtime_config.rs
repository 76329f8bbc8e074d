//! `IRuntimeConfig` (TensorRT >= 10.11, TensorRT-RTX) and `IRuntimeCache` (TensorRT-RTX).

use std::ffi::c_void;
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::{vcall, ApiObject};
use super::engine::EngineInner;
use super::host_memory::HostMemory;
use super::loader::TensorRtLibrary;
use super::runtime::RuntimeInner;
use super::slots::Method;
use crate::backend::{AllocationStrategy, CudaGraphStrategy, KernelSpecialization};
use crate::error::{Error, Result};

/// Settings a context is created with (`IRuntimeConfig`). Shared (`Arc`) by the contexts
/// created from it; it keeps the runtime cache it was given alive.
pub struct RuntimeConfig {
    pub(crate) object: ApiObject,
    /// Serialises calls on the config (it is not documented as thread-safe).
    pub(crate) calls: Mutex<()>,
    /// The cache TensorRT holds a reference to (kept alive while the config lives).
    cache: Mutex<Option<RuntimeCache>>,
    /// The engine that created the config outlives it.
    engine: Arc<EngineInner>,
}

// SAFETY: every call on the config object is made under `calls`.
unsafe impl Send for RuntimeConfig {}
// SAFETY: as above.
unsafe impl Sync for RuntimeConfig {}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl Drop for RuntimeConfig {
    fn drop(&mut self) {
        // SAFETY: last owner (contexts created with it hold an `Arc` and are gone); the engine
        // that created it is still alive (field dropped after this).
        unsafe { self.object.delete() };
    }
}

/// Decodes an `int32_t` enum TensorRT returned.
fn decode<T>(enum_name: &'static str, value: i32, known: &[T]) -> Result<T>
where
    T: Copy + Into<i32>,
{
    known
        .iter()
        .copied()
        .find(|candidate| (*candidate).into() == value)
        .ok_or(Error::UnknownEnumValue { enum_name, value })
}

impl From<AllocationStrategy> for i32 {
    fn from(value: AllocationStrategy) -> i32 {
        value as i32
    }
}
impl From<KernelSpecialization> for i32 {
    fn from(value: KernelSpecialization) -> i32 {
        value as i32
    }
}
impl From<CudaGraphStrategy> for i32 {
    fn from(value: CudaGraphStrategy) -> i32 {
        value as i32
    }
}

impl RuntimeConfig {
    pub(crate) fn from_object(object: ApiObject, engine: Arc<EngineInner>) -> RuntimeConfig {
        RuntimeConfig {
            object,
            calls: Mutex::new(()),
            cache: Mutex::new(None),
            engine,
        }
    }

    fn library(&self) -> &Arc<TensorRtLibrary> {
        self.engine.library()
    }

    /// `setExecutionContextAllocationStrategy`.
    pub fn set_allocation_strategy(&self, strategy: AllocationStrategy) -> Result<()> {
        self.set_enum(Method::ConfigSetAllocationStrategy, strategy as i32)
    }

    /// `getExecutionContextAllocationStrategy`.
    pub fn allocation_strategy(&self) -> Result<AllocationStrategy> {
        let raw = self.get_enum(Method::ConfigGetAllocationStrategy)?;
        decode(
            "ExecutionContextAllocationStrategy",
            raw,
            &[
                AllocationStrategy::Static,
                AllocationStrategy::OnProfileChange,
                AllocationStrategy::UserManaged,
            ],
        )
    }

    /// `setDynamicShapesKernelSpecializationStrategy` (RTX).
    pub fn set_kernel_specialization(&self, strategy: KernelSpecialization) -> Result<()> {
        self.set_enum(Method::ConfigSetKernelSpecialization, strategy as i32)
    }

    /// `getDynamicShapesKernelSpecializationStrategy` (RTX).
    pub fn kernel_specialization(&self) -> Result<KernelSpecialization> {
        let raw = self.get_enum(Method::ConfigGetKernelSpecialization)?;
        decode(
            "DynamicShapesKernelSpecializationStrategy",
            raw,
            &[
                KernelSpecialization::Lazy,
                KernelSpecialization::Eager,
                KernelSpecialization::None,
            ],
        )
    }

    /// `setCudaGraphStrategy` (RTX); false from TensorRT is an error.
    pub fn set_cuda_graph_strategy(&self, strategy: CudaGraphStrategy) -> Result<()> {
        let method = Method::ConfigSetCudaGraphStrategy;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live config, calls serialised; slot is `bool setCudaGraphStrategy(
        // CudaGraphStrategy) noexcept` (an `int32_t` enum).
        let accepted = unsafe { vcall!(self.object, slot, fn(i32) -> u8, strategy as i32) };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || format!("refused {strategy:?}")))
        }
    }

    /// `getCudaGraphStrategy` (RTX).
    pub fn cuda_graph_strategy(&self) -> Result<CudaGraphStrategy> {
        let raw = self.get_enum(Method::ConfigGetCudaGraphStrategy)?;
        decode(
            "CudaGraphStrategy",
            raw,
            &[
                CudaGraphStrategy::Disabled,
                CudaGraphStrategy::WholeGraphCapture,
            ],
        )
    }

    /// `createRuntimeCache` (RTX): a new, empty cache.
    pub fn create_runtime_cache(&self) -> Result<RuntimeCache> {
        let method = Method::ConfigCreateRuntimeCache;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live config, calls serialised; slot is `IRuntimeCache* createRuntimeCache()
        // const noexcept`; the caller owns the result.
        let raw = unsafe { vcall!(self.object, slot, fn() -> *mut c_void) };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        Ok(RuntimeCache {
            inner: Arc::new(RuntimeCacheInner {
                object,
                calls: Mutex::new(()),
                runtime: self.engine.runtime.clone(),
            }),
        })
    }

    /// `setRuntimeCache(cache)` (RTX). The config keeps the cache alive.
    pub fn set_runtime_cache(&self, cache: &RuntimeCache) -> Result<()> {
        let method = Method::ConfigSetRuntimeCache;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live config and live cache; slot is `bool setRuntimeCache(IRuntimeCache
        // const&) noexcept`: a reference is the wrapper's address. The config keeps the cache
        // alive (below) as long as TensorRT may use it.
        let accepted = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*mut c_void) -> u8,
                cache.inner.object.as_ptr()
            )
        };
        if accepted == 0 {
            return Err(library.call_failed(mark, method, || "returned false".into()));
        }
        *self.cache.lock() = Some(cache.clone());
        Ok(())
    }

    /// `getRuntimeCache` (RTX): whether the config currently holds `cache`.
    pub fn holds_runtime_cache(&self, cache: &RuntimeCache) -> Result<bool> {
        let slot = self.library().slot(Method::ConfigGetRuntimeCache)?;
        let _calls = self.calls.lock();
        // SAFETY: live config; slot is `IRuntimeCache* getRuntimeCache() const noexcept`; the
        // pointer is only compared.
        let raw = unsafe { vcall!(self.object, slot, fn() -> *mut c_void) };
        Ok(raw == cache.inner.object.as_ptr())
    }

    fn set_enum(&self, method: Method, value: i32) -> Result<()> {
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live config, calls serialised; every setter passed here is `void name(Enum)
        // noexcept` with an `int32_t` enum.
        unsafe { vcall!(self.object, slot, fn(i32) -> (), value) };
        library.check_logged(mark, method)
    }

    fn get_enum(&self, method: Method) -> Result<i32> {
        let slot = self.library().slot(method)?;
        let _calls = self.calls.lock();
        // SAFETY: live config; every getter passed here is `Enum name() const noexcept` with an
        // `int32_t` enum.
        Ok(unsafe { vcall!(self.object, slot, fn() -> i32) })
    }
}

pub(crate) struct RuntimeCacheInner {
    object: ApiObject,
    calls: Mutex<()>,
    /// The runtime (and library) outlive the cache.
    runtime: Arc<RuntimeInner>,
}

// SAFETY: every call we make on the cache object is made under `calls`, and the object is
// deleted once, by the last owner. TensorRT-RTX itself shares one cache between the contexts
// (and engines) whose configs hold it, as NVIDIA's own runtimes do; its use of the cache inside
// their enqueues is TensorRT's internal concern. Whether `serialize` may run while another
// thread's enqueue compiles kernels into the cache is not documented: `RuntimeCache::save`
// says so, and the automatic save runs when the last handle, held by every session using the
// cache, is dropped, so after those sessions are gone.
unsafe impl Send for RuntimeCacheInner {}
// SAFETY: as above.
unsafe impl Sync for RuntimeCacheInner {}

impl Drop for RuntimeCacheInner {
    fn drop(&mut self) {
        // SAFETY: last owner: every config that was given the cache holds a clone and is gone.
        unsafe { self.object.delete() };
    }
}

/// A TensorRT-RTX runtime cache (`IRuntimeCache`): compiled kernels, shareable between
/// contexts and engines, serializable. Cheap to clone (shared ownership).
#[derive(Clone)]
pub struct RuntimeCache {
    inner: Arc<RuntimeCacheInner>,
}

impl std::fmt::Debug for RuntimeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeCache")
            .field("object", &self.inner.object)
            .finish()
    }
}

impl RuntimeCache {
    fn library(&self) -> &Arc<TensorRtLibrary> {
        &self.inner.runtime.library
    }

    /// `serialize`: the cache's bytes (copied out of the `IHostMemory`, which is deleted).
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let method = Method::CacheSerialize;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.inner.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live cache, calls serialised; slot is `IHostMemory* serialize() const
        // noexcept`; the caller owns the result.
        let raw = unsafe { vcall!(self.inner.object, slot, fn() -> *mut c_void) };
        let object = ApiObject::from_returned(raw)
            .ok_or_else(|| library.call_failed(mark, method, || "returned null".into()))?;
        HostMemory::from_object(object, library.clone()).into_vec()
    }

    /// `deserialize(blob, size)`: loads kernels serialized earlier (a blob from another GPU or
    /// version is silently ignored by TensorRT-RTX).
    pub fn deserialize(&self, blob: &[u8]) -> Result<()> {
        let method = Method::CacheDeserialize;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.inner.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live cache, calls serialised; slot is `bool deserialize(void const*, size_t)
        // noexcept`; the blob is valid for the call.
        let accepted = unsafe {
            vcall!(
                self.inner.object,
                slot,
                fn(*const c_void, usize) -> u8,
                blob.as_ptr().cast(),
                blob.len()
            )
        };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || format!("refused {} bytes", blob.len())))
        }
    }

    /// `reset`: empties the cache.
    pub fn reset(&self) -> Result<()> {
        let method = Method::CacheReset;
        let library = self.library();
        let slot = library.slot(method)?;
        let _calls = self.inner.calls.lock();
        let mark = library.logger().mark();
        // SAFETY: live cache, calls serialised; slot is `bool reset() noexcept`.
        let accepted = unsafe { vcall!(self.inner.object, slot, fn() -> u8) };
        if accepted != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || "returned false".into()))
        }
    }
}
