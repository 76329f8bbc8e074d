//! `IOutputAllocator` implemented in Rust, for outputs whose size is known only during
//! `enqueueV3` (data-dependent shapes).
//!
//! TensorRT calls `reallocateOutputAsync(name, current, size, alignment, stream)` to get memory
//! for the output and `notifyShape(name, dims)` with its final shape, both before `enqueueV3`
//! returns. The object handed to TensorRT is a `#[repr(C)]` struct whose first word points at a
//! static vtable in the library's layout ([`OutputAllocatorLayout`]); it forwards to an
//! [`OutputAllocatorHandler`]. Callbacks never unwind: a panicking handler makes the allocation
//! fail (null), which fails the enqueue with a typed error.

use super::abi::StaticVtable;
use std::borrow::Cow;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;

use super::abi::{Dims64, InterfaceInfo};
use super::slots::OutputAllocatorLayout;
use crate::backend::{DeviceBackend, DevicePtr};
use crate::types::Shape;

/// What an output allocator does; called from inside TensorRT, so implementations must not
/// block for long and should not panic (a panic is caught and fails the enqueue).
pub trait OutputAllocatorHandler: Send + Sync {
    /// Memory of at least `bytes` with `alignment` for `tensor` (the current memory when large
    /// enough), or `None` to fail the enqueue.
    fn reallocate(
        &self,
        tensor: &str,
        current: DevicePtr,
        bytes: u64,
        alignment: u64,
        stream: u64,
    ) -> Option<DevicePtr>;
    /// The final shape of `tensor`.
    fn notify_shape(&self, tensor: &str, shape: &Shape);
}

/// The object TensorRT holds (`IOutputAllocator*`).
#[repr(C)]
pub(crate) struct OutputAllocatorObject {
    /// Must stay the first field: TensorRT reads the vptr at offset 0.
    vptr: *const c_void,
    tensor: String,
    handler: Arc<dyn OutputAllocatorHandler>,
}

impl OutputAllocatorObject {
    pub(crate) fn new(
        layout: OutputAllocatorLayout,
        tensor: &CStr,
        handler: Arc<dyn OutputAllocatorHandler>,
    ) -> Box<Self> {
        let vptr = match layout {
            OutputAllocatorLayout::Standard => {
                (&raw const STANDARD_VTABLE.0.get_api_language).cast::<c_void>()
            }
            OutputAllocatorLayout::Rtx => {
                (&raw const RTX_VTABLE.0.get_api_language).cast::<c_void>()
            }
        };
        Box::new(OutputAllocatorObject {
            vptr,
            tensor: tensor.to_string_lossy().into_owned(),
            handler,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut c_void {
        (self as *const OutputAllocatorObject).cast_mut().cast()
    }
}

/// The name TensorRT passed, or the one the allocator was attached to. Borrowed (no
/// allocation inside the callback) unless the name is not UTF-8.
fn tensor_name<'a>(this: &'a OutputAllocatorObject, name: *const c_char) -> Cow<'a, str> {
    if name.is_null() {
        return Cow::Borrowed(&this.tensor);
    }
    // SAFETY: TensorRT passes a NUL-terminated tensor name valid for the duration of the call,
    // which is as long as the returned value is used.
    unsafe { CStr::from_ptr(name) }.to_string_lossy()
}

unsafe extern "C" fn reallocate_output_async(
    this: *mut OutputAllocatorObject,
    name: *const c_char,
    current: *mut c_void,
    size: u64,
    alignment: u64,
    stream: *mut c_void,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `this` is the boxed object the context keeps alive while it is attached.
        let this = unsafe { &*this };
        let tensor = tensor_name(this, name);
        this.handler
            .reallocate(
                &tensor,
                DevicePtr(current as u64),
                size,
                alignment,
                stream as u64,
            )
            .map_or(std::ptr::null_mut(), |ptr| ptr.0 as *mut c_void)
    }))
    .unwrap_or(std::ptr::null_mut())
}

/// The deprecated synchronous variant standard TensorRT still has a slot for.
unsafe extern "C" fn reallocate_output(
    this: *mut OutputAllocatorObject,
    name: *const c_char,
    current: *mut c_void,
    size: u64,
    alignment: u64,
) -> *mut c_void {
    // SAFETY: same contract as `reallocate_output_async`, with the default stream.
    unsafe { reallocate_output_async(this, name, current, size, alignment, std::ptr::null_mut()) }
}

unsafe extern "C" fn notify_shape(
    this: *mut OutputAllocatorObject,
    name: *const c_char,
    dims: *const Dims64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if dims.is_null() {
            return;
        }
        // SAFETY: `this` is the boxed object the context keeps alive; `dims` points at a
        // `Dims64` valid for the call (`Dims const&`).
        let (this, dims) = unsafe { (&*this, *dims) };
        let tensor = tensor_name(this, name);
        match dims.to_shape("IOutputAllocator::notifyShape") {
            Ok(shape) => this.handler.notify_shape(&tensor, &shape),
            Err(error) => log::error!("output allocator for `{tensor}`: {error}"),
        }
    }));
}

unsafe extern "C" fn get_api_language(_this: *const OutputAllocatorObject) -> i32 {
    0 // APILanguage::kCPP
}

unsafe extern "C" fn get_interface_info(_this: *const OutputAllocatorObject) -> InterfaceInfo {
    InterfaceInfo {
        kind: c"IOutputAllocator".as_ptr(),
        major: 1,
        minor: 0,
    }
}

/// TensorRT never deletes an output allocator; the context wrapper owns it.
unsafe extern "C" fn destructor(_this: *mut OutputAllocatorObject) {}

type Reallocate = unsafe extern "C" fn(
    *mut OutputAllocatorObject,
    *const c_char,
    *mut c_void,
    u64,
    u64,
) -> *mut c_void;
type ReallocateAsync = unsafe extern "C" fn(
    *mut OutputAllocatorObject,
    *const c_char,
    *mut c_void,
    u64,
    u64,
    *mut c_void,
) -> *mut c_void;
type NotifyShape = unsafe extern "C" fn(*mut OutputAllocatorObject, *const c_char, *const Dims64);

/// Standard TensorRT 10.0-11.4 layout.
#[repr(C)]
struct StandardVtable {
    offset_to_top: isize,
    type_info: *const c_void,
    get_api_language: unsafe extern "C" fn(*const OutputAllocatorObject) -> i32,
    get_interface_info: unsafe extern "C" fn(*const OutputAllocatorObject) -> InterfaceInfo,
    destructor_complete: unsafe extern "C" fn(*mut OutputAllocatorObject),
    destructor_deleting: unsafe extern "C" fn(*mut OutputAllocatorObject),
    reallocate_output: Reallocate,
    reallocate_output_async: ReallocateAsync,
    notify_shape: NotifyShape,
}

/// TensorRT-RTX layout (no deprecated `reallocateOutput`).
#[repr(C)]
struct RtxVtable {
    offset_to_top: isize,
    type_info: *const c_void,
    get_api_language: unsafe extern "C" fn(*const OutputAllocatorObject) -> i32,
    get_interface_info: unsafe extern "C" fn(*const OutputAllocatorObject) -> InterfaceInfo,
    destructor_complete: unsafe extern "C" fn(*mut OutputAllocatorObject),
    destructor_deleting: unsafe extern "C" fn(*mut OutputAllocatorObject),
    reallocate_output_async: ReallocateAsync,
    notify_shape: NotifyShape,
}

static STANDARD_VTABLE: StaticVtable<StandardVtable> = StaticVtable(StandardVtable {
    offset_to_top: 0,
    type_info: std::ptr::null(),
    get_api_language,
    get_interface_info,
    destructor_complete: destructor,
    destructor_deleting: destructor,
    reallocate_output,
    reallocate_output_async,
    notify_shape,
});

static RTX_VTABLE: StaticVtable<RtxVtable> = StaticVtable(RtxVtable {
    offset_to_top: 0,
    type_info: std::ptr::null(),
    get_api_language,
    get_interface_info,
    destructor_complete: destructor,
    destructor_deleting: destructor,
    reallocate_output_async,
    notify_shape,
});

/// An output allocator over a [`DeviceBackend`]: grows its buffer when TensorRT asks for more,
/// reuses it when large enough, and records the notified shape.
#[derive(Debug)]
pub struct GrowingOutputAllocator {
    device: Arc<dyn DeviceBackend>,
    state: Mutex<GrowingState>,
}

#[derive(Debug, Default)]
struct GrowingState {
    buffer: Option<(DevicePtr, usize)>,
    shape: Option<Shape>,
    allocations: usize,
}

impl GrowingOutputAllocator {
    /// An allocator with no buffer yet.
    pub fn new(device: Arc<dyn DeviceBackend>) -> GrowingOutputAllocator {
        GrowingOutputAllocator {
            device,
            state: Mutex::new(GrowingState::default()),
        }
    }

    /// The current buffer and its size.
    pub fn buffer(&self) -> Option<(DevicePtr, usize)> {
        self.state.lock().buffer
    }

    /// The last notified shape.
    pub fn shape(&self) -> Option<Shape> {
        self.state.lock().shape
    }

    /// How many allocations were made (reuse does not count).
    pub fn allocations(&self) -> usize {
        self.state.lock().allocations
    }
}

impl OutputAllocatorHandler for GrowingOutputAllocator {
    fn reallocate(
        &self,
        tensor: &str,
        _current: DevicePtr,
        bytes: u64,
        alignment: u64,
        _stream: u64,
    ) -> Option<DevicePtr> {
        let bytes = usize::try_from(bytes).ok()?;
        let mut state = self.state.lock();
        if let Some((ptr, size)) = state.buffer {
            if size >= bytes && (alignment <= 1 || ptr.0 % alignment == 0) {
                return Some(ptr);
            }
        }
        let ptr = match self.device.allocate(bytes) {
            Ok(ptr) => ptr,
            Err(error) => {
                log::error!("output allocator for `{tensor}`: {error}");
                return None;
            }
        };
        if alignment > 1 && ptr.0 % alignment != 0 {
            log::error!("output allocator for `{tensor}`: {ptr} is not aligned to {alignment}");
            // SAFETY: just allocated here, never handed out.
            unsafe { self.device.free(ptr) };
            return None;
        }
        if let Some((old, _)) = state.buffer.replace((ptr, bytes)) {
            // SAFETY: `old` was allocated by this allocator and TensorRT asks for new memory
            // before writing the output, after the previous enqueue was synchronized.
            unsafe { self.device.free(old) };
        }
        state.allocations += 1;
        Some(ptr)
    }

    fn notify_shape(&self, _tensor: &str, shape: &Shape) {
        self.state.lock().shape = Some(*shape);
    }
}

impl Drop for GrowingOutputAllocator {
    fn drop(&mut self) {
        if let Some((ptr, _)) = self.state.get_mut().buffer.take() {
            // SAFETY: allocated by this allocator, freed once; its user synchronized.
            unsafe { self.device.free(ptr) };
        }
    }
}
