//! `IGpuAllocator` implemented in Rust: the device memory TensorRT takes for a runtime's
//! engines (weights, and scratch it allocates itself) comes from a [`GpuAllocatorHandler`].
//!
//! The object handed to `IRuntime::setGpuAllocator` is a `#[repr(C)]` struct whose first word
//! points at a static vtable. `IGpuAllocator` derives `IVersionedInterface` in every supported
//! header family (TensorRT 10.x and 11.x, TensorRT-RTX 1.3+) and its slots are the same in all
//! of them: `0 getAPILanguage, 1 getInterfaceInfo, 2-3 destructors, 4 allocate` (deprecated),
//! `5 reallocate, 6 deallocate` (deprecated), `7 allocateAsync, 8 deallocateAsync` (checked by
//! the slot oracle through `Method::GpuAllocator*`). Callbacks never unwind: a panicking handler
//! makes an allocation fail (null) and a deallocation report failure (false).
//!
//! Lifetime: TensorRT keeps the raw pointer and calls it until the runtime and every engine
//! created from it are deleted (engines free their memory through it when they are destroyed).
//! The [`super::Runtime`] wrapper therefore owns every allocator ever set on it and drops them
//! only after the runtime object is deleted, which happens after the last engine is gone.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::abi::{InterfaceInfo, StaticVtable};
use crate::backend::DevicePtr;

/// A device memory allocator TensorRT calls (from any thread, possibly concurrently):
/// implementations must be thread-safe and should not panic (a panic is caught and reported to
/// TensorRT as a failed call).
pub trait GpuAllocatorHandler: Send + Sync {
    /// Device memory of at least `size` bytes aligned to `alignment` (a power of two), or `None`
    /// when it cannot be had. `flags` is TensorRT's `AllocatorFlags` bit set (bit 0:
    /// `kRESIZABLE`, the memory may later be passed to [`GpuAllocatorHandler::reallocate`]).
    fn allocate(&self, size: u64, alignment: u64, flags: u32) -> Option<DevicePtr>;

    /// Releases memory returned by this allocator; false when `ptr` is not one of its blocks.
    fn deallocate(&self, ptr: DevicePtr) -> bool;

    /// Grows a resizable block to `new_size` bytes, keeping its contents, returning the same or a
    /// new address (the old block is then released by the allocator), or `None` when resizing is
    /// not supported (the default, as in NVIDIA's default implementation) or fails.
    fn reallocate(&self, _ptr: DevicePtr, _alignment: u64, _new_size: u64) -> Option<DevicePtr> {
        None
    }

    /// Stream-ordered [`GpuAllocatorHandler::allocate`] on `stream` (a `cudaStream_t`, 0 for the
    /// default stream). Defaults to the synchronous call.
    fn allocate_async(
        &self,
        size: u64,
        alignment: u64,
        flags: u32,
        _stream: u64,
    ) -> Option<DevicePtr> {
        self.allocate(size, alignment, flags)
    }

    /// Stream-ordered [`GpuAllocatorHandler::deallocate`]. Defaults to the synchronous call.
    fn deallocate_async(&self, ptr: DevicePtr, _stream: u64) -> bool {
        self.deallocate(ptr)
    }
}

/// The object TensorRT holds (`IGpuAllocator*`).
#[repr(C)]
pub(crate) struct GpuAllocatorObject {
    /// Must stay the first field: TensorRT reads the vptr at offset 0.
    vptr: *const c_void,
    handler: Arc<dyn GpuAllocatorHandler>,
}

impl GpuAllocatorObject {
    pub(crate) fn new(handler: Arc<dyn GpuAllocatorHandler>) -> Box<Self> {
        Box::new(GpuAllocatorObject {
            vptr: (&raw const VTABLE.0.get_api_language).cast::<c_void>(),
            handler,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut c_void {
        (self as *const GpuAllocatorObject).cast_mut().cast()
    }
}

fn to_raw(ptr: Option<DevicePtr>) -> *mut c_void {
    ptr.map_or(std::ptr::null_mut(), |ptr| ptr.0 as *mut c_void)
}

unsafe extern "C" fn allocate(
    this: *const GpuAllocatorObject,
    size: u64,
    alignment: u64,
    flags: u32,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `this` is the boxed object the runtime wrapper keeps alive while TensorRT
        // may call it.
        let this = unsafe { &*this };
        to_raw(this.handler.allocate(size, alignment, flags))
    }))
    .unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn reallocate(
    this: *const GpuAllocatorObject,
    base: *mut c_void,
    alignment: u64,
    new_size: u64,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `allocate`.
        let this = unsafe { &*this };
        to_raw(
            this.handler
                .reallocate(DevicePtr(base as u64), alignment, new_size),
        )
    }))
    .unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn deallocate(this: *const GpuAllocatorObject, memory: *mut c_void) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `allocate`.
        let this = unsafe { &*this };
        this.handler.deallocate(DevicePtr(memory as u64))
    }))
    .unwrap_or(false)
}

unsafe extern "C" fn allocate_async(
    this: *const GpuAllocatorObject,
    size: u64,
    alignment: u64,
    flags: u32,
    stream: *mut c_void,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `allocate`.
        let this = unsafe { &*this };
        to_raw(
            this.handler
                .allocate_async(size, alignment, flags, stream as u64),
        )
    }))
    .unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn deallocate_async(
    this: *const GpuAllocatorObject,
    memory: *mut c_void,
    stream: *mut c_void,
) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `allocate`.
        let this = unsafe { &*this };
        this.handler
            .deallocate_async(DevicePtr(memory as u64), stream as u64)
    }))
    .unwrap_or(false)
}

unsafe extern "C" fn get_api_language(_this: *const GpuAllocatorObject) -> i32 {
    0 // APILanguage::kCPP
}

unsafe extern "C" fn get_interface_info(_this: *const GpuAllocatorObject) -> InterfaceInfo {
    InterfaceInfo {
        kind: c"IGpuAllocator".as_ptr(),
        major: 1,
        minor: 0,
    }
}

/// TensorRT never deletes a GPU allocator; the runtime wrapper owns it.
unsafe extern "C" fn destructor(_this: *mut GpuAllocatorObject) {}

/// The layout of every supported header family.
#[repr(C)]
struct Vtable {
    offset_to_top: isize,
    type_info: *const c_void,
    get_api_language: unsafe extern "C" fn(*const GpuAllocatorObject) -> i32,
    get_interface_info: unsafe extern "C" fn(*const GpuAllocatorObject) -> InterfaceInfo,
    destructor_complete: unsafe extern "C" fn(*mut GpuAllocatorObject),
    destructor_deleting: unsafe extern "C" fn(*mut GpuAllocatorObject),
    allocate: unsafe extern "C" fn(*const GpuAllocatorObject, u64, u64, u32) -> *mut c_void,
    reallocate:
        unsafe extern "C" fn(*const GpuAllocatorObject, *mut c_void, u64, u64) -> *mut c_void,
    deallocate: unsafe extern "C" fn(*const GpuAllocatorObject, *mut c_void) -> bool,
    allocate_async:
        unsafe extern "C" fn(*const GpuAllocatorObject, u64, u64, u32, *mut c_void) -> *mut c_void,
    deallocate_async:
        unsafe extern "C" fn(*const GpuAllocatorObject, *mut c_void, *mut c_void) -> bool,
}

static VTABLE: StaticVtable<Vtable> = StaticVtable(Vtable {
    offset_to_top: 0,
    type_info: std::ptr::null(),
    get_api_language,
    get_interface_info,
    destructor_complete: destructor,
    destructor_deleting: destructor,
    allocate,
    reallocate,
    deallocate,
    allocate_async,
    deallocate_async,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::slots::{HeaderFamily, Method, SlotTable};

    /// The Rust vtable's slot of each method (0 = the first word after the two header words)
    /// equals the slot table's in every family.
    #[test]
    fn vtable_positions_match_the_slot_tables() {
        let word = std::mem::size_of::<usize>();
        let slot = |offset: usize| u16::try_from((offset - 2 * word) / word).unwrap();
        let positions = [
            (
                Method::GpuAllocatorGetApiLanguage,
                slot(std::mem::offset_of!(Vtable, get_api_language)),
            ),
            (
                Method::GpuAllocatorGetInterfaceInfo,
                slot(std::mem::offset_of!(Vtable, get_interface_info)),
            ),
            (
                Method::GpuAllocatorAllocate,
                slot(std::mem::offset_of!(Vtable, allocate)),
            ),
            (
                Method::GpuAllocatorReallocate,
                slot(std::mem::offset_of!(Vtable, reallocate)),
            ),
            (
                Method::GpuAllocatorDeallocate,
                slot(std::mem::offset_of!(Vtable, deallocate)),
            ),
            (
                Method::GpuAllocatorAllocateAsync,
                slot(std::mem::offset_of!(Vtable, allocate_async)),
            ),
            (
                Method::GpuAllocatorDeallocateAsync,
                slot(std::mem::offset_of!(Vtable, deallocate_async)),
            ),
        ];
        for family in [
            HeaderFamily::Trt10 { minor: 0 },
            HeaderFamily::Trt10 { minor: 16 },
            HeaderFamily::Trt11 { minor: 4 },
            HeaderFamily::Rtx13,
            HeaderFamily::Rtx15,
        ] {
            let table = SlotTable::for_family(family);
            for (method, position) in positions {
                assert_eq!(table.slot(method), Some(position), "{family:?} {method:?}");
            }
        }
    }

    struct Panicking;
    impl GpuAllocatorHandler for Panicking {
        fn allocate(&self, _: u64, _: u64, _: u32) -> Option<DevicePtr> {
            panic!("allocate")
        }
        fn deallocate(&self, _: DevicePtr) -> bool {
            panic!("deallocate")
        }
    }

    #[test]
    fn a_panicking_handler_fails_the_call_instead_of_unwinding() {
        let object = GpuAllocatorObject::new(Arc::new(Panicking));
        let this: *const GpuAllocatorObject = &*object;
        // SAFETY: `this` points at a live object; the functions are the vtable's entries.
        unsafe {
            assert!(allocate(this, 16, 256, 0).is_null());
            assert!(allocate_async(this, 16, 256, 0, std::ptr::null_mut()).is_null());
            assert!(!deallocate(this, 0x1000 as *mut c_void));
            assert!(!deallocate_async(
                this,
                0x1000 as *mut c_void,
                std::ptr::null_mut()
            ));
            assert!(reallocate(this, 0x1000 as *mut c_void, 256, 32).is_null());
        }
    }
}
