//! `IExecutionContext`: shapes, addresses, output allocators, activation memory, `enqueueV3`.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use super::abi::{vcall, ApiObject, Dims64};
use super::engine::EngineInner;
use super::loader::TensorRtLibrary;
use super::output_allocator::{OutputAllocatorHandler, OutputAllocatorObject};
use super::runtime_config::RuntimeConfig;
use super::slots::Method;
use crate::error::{Error, Result};
use crate::types::Shape;

/// An execution context (`IExecutionContext`). Not `Sync`: TensorRT contexts are used by one
/// thread at a time (the backend puts it behind a mutex).
pub struct ExecutionContext {
    object: ApiObject,
    /// Output allocators handed to TensorRT, kept alive until the context is deleted (fields
    /// drop after `Drop::drop`, which deletes the context first).
    allocators: HashMap<CString, Box<OutputAllocatorObject>>,
    /// The runtime config the context was created with (holds the runtime cache).
    runtime_config: Option<Arc<RuntimeConfig>>,
    /// Declared last: the engine outlives everything above.
    engine: Arc<EngineInner>,
}

// SAFETY: a TensorRT context may move between threads; `&mut self` methods give exclusive use.
unsafe impl Send for ExecutionContext {}

impl std::fmt::Debug for ExecutionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionContext")
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl Drop for ExecutionContext {
    fn drop(&mut self) {
        // SAFETY: this wrapper owns the context; deleting it first means TensorRT no longer
        // refers to the output allocators and the runtime config dropped afterwards.
        unsafe { self.object.delete() };
    }
}

impl ExecutionContext {
    pub(crate) fn from_object(
        object: ApiObject,
        engine: Arc<EngineInner>,
        runtime_config: Option<Arc<RuntimeConfig>>,
    ) -> ExecutionContext {
        ExecutionContext {
            object,
            allocators: HashMap::new(),
            runtime_config,
            engine,
        }
    }

    fn library(&self) -> &Arc<TensorRtLibrary> {
        self.engine.library()
    }

    /// The runtime config the context was created with.
    pub fn runtime_config(&self) -> Option<&Arc<RuntimeConfig>> {
        self.runtime_config.as_ref()
    }

    /// Runs a `bool method(...)` call and turns `false` into a typed error quoting the log.
    fn checked(
        &self,
        method: Method,
        detail: impl FnOnce() -> String,
        call: impl FnOnce(u16) -> u8,
    ) -> Result<()> {
        let library = self.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        if call(slot) != 0 {
            Ok(())
        } else {
            Err(library.call_failed(mark, method, || format!("returned false ({})", detail())))
        }
    }

    /// `setOptimizationProfileAsync(profile, stream)`.
    pub fn set_optimization_profile_async(&mut self, profile: usize, stream: u64) -> Result<()> {
        let method = Method::ContextSetOptimizationProfileAsync;
        let index = i32::try_from(profile).map_err(|_| Error::TensorRt {
            call: method.call_name(),
            message: format!("profile {profile} is out of range"),
        })?;
        let object = self.object;
        self.checked(
            method,
            || format!("profile {profile}"),
            |slot| {
                // SAFETY: live context used exclusively; slot is `bool setOptimizationProfileAsync(
                // int32_t, cudaStream_t) noexcept`; the stream handle is passed through as a pointer.
                unsafe {
                    vcall!(
                        object,
                        slot,
                        fn(i32, *mut c_void) -> u8,
                        index,
                        stream as *mut c_void
                    )
                }
            },
        )
    }

    /// `getOptimizationProfile`.
    pub fn optimization_profile(&self) -> Result<i32> {
        let slot = self.library().slot(Method::ContextGetOptimizationProfile)?;
        // SAFETY: live context; slot is `int32_t getOptimizationProfile() const noexcept`.
        Ok(unsafe { vcall!(self.object, slot, fn() -> i32) })
    }

    /// `setInputShape(name, dims)`.
    pub fn set_input_shape(&mut self, name: &CStr, shape: &Shape) -> Result<()> {
        let dims = Dims64::from_shape(shape);
        let object = self.object;
        self.checked(
            Method::ContextSetInputShape,
            || format!("tensor {name:?}, shape {shape}"),
            |slot| {
                // SAFETY: live context used exclusively; slot is `bool setInputShape(char const*,
                // Dims const&) noexcept`; both pointers are valid for the call.
                unsafe {
                    vcall!(
                        object,
                        slot,
                        fn(*const c_char, *const Dims64) -> u8,
                        name.as_ptr(),
                        &dims
                    )
                }
            },
        )
    }

    /// `getTensorShape(name)`: for outputs the shape implied by the input shapes (`-1` in
    /// data-dependent dimensions until an enqueue).
    pub fn tensor_shape(&self, name: &CStr) -> Result<Shape> {
        let method = Method::ContextGetTensorShape;
        let slot = self.library().slot(method)?;
        // SAFETY: live context; slot is `Dims getTensorShape(char const*) const noexcept`, a
        // 72-byte return through the hidden pointer (RDI, before `this` in RSI).
        let dims = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*const c_char) -> Dims64,
                name.as_ptr()
            )
        };
        dims.to_shape(method.call_name())
    }

    /// `setTensorAddress(name, address)`.
    pub fn set_tensor_address(&mut self, name: &CStr, address: u64) -> Result<()> {
        let object = self.object;
        self.checked(
            Method::ContextSetTensorAddress,
            || format!("tensor {name:?}, address {address:#x}"),
            |slot| {
                // SAFETY: live context used exclusively; slot is `bool setTensorAddress(char
                // const*, void*) noexcept`; TensorRT only stores the address.
                unsafe {
                    vcall!(
                        object,
                        slot,
                        fn(*const c_char, *mut c_void) -> u8,
                        name.as_ptr(),
                        address as *mut c_void
                    )
                }
            },
        )
    }

    /// `setOutputAllocator(name, allocator)`; `None` detaches. The allocator object lives until
    /// it is replaced or the context is deleted.
    pub fn set_output_allocator(
        &mut self,
        name: &CStr,
        handler: Option<Arc<dyn OutputAllocatorHandler>>,
    ) -> Result<()> {
        let layout = self.library().slots().family().output_allocator_layout();
        let object = handler.map(|handler| OutputAllocatorObject::new(layout, name, handler));
        let pointer = object
            .as_ref()
            .map_or(std::ptr::null_mut(), |object| object.as_ptr());
        let context = self.object;
        self.checked(
            Method::ContextSetOutputAllocator,
            || format!("tensor {name:?}"),
            |slot| {
                // SAFETY: live context used exclusively; slot is `bool setOutputAllocator(char
                // const*, IOutputAllocator*) noexcept`; the allocator object is boxed (stable
                // address) and kept in `self.allocators` while TensorRT may call it.
                unsafe {
                    vcall!(
                        context,
                        slot,
                        fn(*const c_char, *mut c_void) -> u8,
                        name.as_ptr(),
                        pointer
                    )
                }
            },
        )?;
        match object {
            Some(object) => {
                self.allocators.insert(name.to_owned(), object);
            }
            None => {
                self.allocators.remove(name);
            }
        }
        Ok(())
    }

    /// `getMaxOutputSize(name)`: upper bound in bytes of a data-dependent output.
    pub fn max_output_size(&self, name: &CStr) -> Result<usize> {
        let method = Method::ContextGetMaxOutputSize;
        let library = self.library();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live context; slot is `int64_t getMaxOutputSize(char const*) const noexcept`.
        let bytes = unsafe { vcall!(self.object, slot, fn(*const c_char) -> i64, name.as_ptr()) };
        usize::try_from(bytes).map_err(|_| {
            library.call_failed(mark, method, || {
                format!("returned {bytes} for tensor {name:?}")
            })
        })
    }

    /// `enqueueV3(stream)`: queues inference on the stream.
    pub fn enqueue_v3(&mut self, stream: u64) -> Result<()> {
        let object = self.object;
        self.checked(
            Method::ContextEnqueueV3,
            || format!("stream {stream:#x}"),
            |slot| {
                // SAFETY: live context used exclusively; slot is `bool enqueueV3(cudaStream_t)
                // noexcept`. Tensor addresses were set by the caller, who keeps the memory alive
                // until the stream is synchronised; callbacks may run during the call.
                unsafe { vcall!(object, slot, fn(*mut c_void) -> u8, stream as *mut c_void) }
            },
        )
    }

    /// `setPersistentCacheLimit(bytes)`.
    pub fn set_persistent_cache_limit(&mut self, bytes: usize) -> Result<()> {
        let method = Method::ContextSetPersistentCacheLimit;
        let library = self.library().clone();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live context used exclusively; slot is `void setPersistentCacheLimit(size_t)
        // noexcept`.
        unsafe { vcall!(self.object, slot, fn(usize) -> (), bytes) };
        library.check_logged(mark, method)
    }

    /// `getPersistentCacheLimit`.
    pub fn persistent_cache_limit(&self) -> Result<usize> {
        let slot = self
            .library()
            .slot(Method::ContextGetPersistentCacheLimit)?;
        // SAFETY: live context; slot is `size_t getPersistentCacheLimit() const noexcept`.
        Ok(unsafe { vcall!(self.object, slot, fn() -> usize) })
    }

    /// `updateDeviceMemorySizeForShapes`: activation bytes the current input shapes need.
    pub fn update_device_memory_size_for_shapes(&mut self) -> Result<usize> {
        let method = Method::ContextUpdateDeviceMemorySizeForShapes;
        let library = self.library().clone();
        let slot = library.slot(method)?;
        let mark = library.logger().mark();
        // SAFETY: live context used exclusively; slot is `size_t updateDeviceMemorySizeForShapes()
        // noexcept`.
        let bytes = unsafe { vcall!(self.object, slot, fn() -> usize) };
        library.check_logged(mark, method)?;
        Ok(bytes)
    }

    /// `setDeviceMemoryV2(address, bytes)` for contexts created with the user-managed strategy.
    /// The caller keeps the memory alive and unused by others while the context may run.
    pub fn set_device_memory_v2(&mut self, address: u64, bytes: usize) -> Result<()> {
        let method = Method::ContextSetDeviceMemoryV2;
        let library = self.library().clone();
        let slot = library.slot(method)?;
        let size = i64::try_from(bytes).map_err(|_| Error::TensorRt {
            call: method.call_name(),
            message: format!("{bytes} bytes is out of range"),
        })?;
        let mark = library.logger().mark();
        // SAFETY: live context used exclusively; slot is `void setDeviceMemoryV2(void*, int64_t)
        // noexcept`; TensorRT only stores the address.
        unsafe {
            vcall!(
                self.object,
                slot,
                fn(*mut c_void, i64) -> (),
                address as *mut c_void,
                size
            )
        };
        library.check_logged(mark, method)
    }

    /// `isStreamCapturable(stream)` (TensorRT-RTX only).
    pub fn is_stream_capturable(&self, stream: u64) -> Result<bool> {
        let slot = self.library().slot(Method::ContextIsStreamCapturable)?;
        // SAFETY: live context; slot is `bool isStreamCapturable(cudaStream_t) const noexcept`.
        let capturable = unsafe {
            vcall!(
                self.object,
                slot,
                fn(*mut c_void) -> u8,
                stream as *mut c_void
            )
        };
        Ok(capturable != 0)
    }
}
