//! ABI building blocks: the by-value types that cross the boundary and the virtual-call helper.
//!
//! Object layout (x86-64 Itanium ABI, measured): every TensorRT API object (`IRuntime`,
//! `ICudaEngine`, ...) is a 16-byte wrapper `{ vptr, mImpl }`. The wrapper's own vtable has two
//! slots, 0 the complete and 1 the deleting destructor, so `delete obj` is "call slot 1".
//! Methods are virtual calls on `mImpl` (an `apiv::V*` object) at the slot of the
//! [`SlotTable`](super::slots::SlotTable).

use std::ffi::{c_char, c_void};
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::types::Shape;

/// TensorRT's `Dims64`: 72 bytes, `nbDims` at 0, `d[8]` at 8. Returned by value through a
/// hidden pointer in RDI before `this` in RSI, which is exactly what a Rust
/// `extern "C" fn(this, ..) -> Dims64` does.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims64 {
    /// Number of dimensions; `-1` marks an invalid result.
    pub nb_dims: i32,
    /// The extents; `-1` marks a dynamic dimension.
    pub d: [i64; 8],
}

impl Dims64 {
    /// The dims of `shape`.
    pub fn from_shape(shape: &Shape) -> Dims64 {
        let mut dims = Dims64 {
            nb_dims: shape.rank() as i32,
            d: [0; 8],
        };
        dims.d[..shape.rank()].copy_from_slice(shape.dims());
        dims
    }

    /// Converts TensorRT's answer to a [`Shape`]; `call` names the method for the error
    /// (TensorRT returns `nbDims == -1` when it cannot answer, for example for an unknown name).
    pub fn to_shape(&self, call: &'static str) -> Result<Shape> {
        let rank = usize::try_from(self.nb_dims)
            .ok()
            .filter(|&rank| rank <= Shape::MAX_RANK)
            .ok_or_else(|| Error::TensorRt {
                call,
                message: format!("returned invalid dimensions (nbDims = {})", self.nb_dims),
            })?;
        Shape::new(&self.d[..rank]).map_err(|error| Error::TensorRt {
            call,
            message: format!("returned invalid dimensions: {error}"),
        })
    }
}

/// TensorRT's `InterfaceInfo {char const* kind; int32_t major; int32_t minor;}`: 16 bytes,
/// returned in RAX:RDX.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InterfaceInfo {
    /// The interface's name (`"ILogger"`).
    pub kind: *const c_char,
    /// Interface major version.
    pub major: i32,
    /// Interface minor version.
    pub minor: i32,
}

/// Pointers below this are never valid objects: the lean runtime returns `0x228` on failure.
pub(crate) const MIN_VALID_POINTER: usize = 4096;

/// A TensorRT API object (the 16-byte wrapper). Plain pointer: ownership is the business of
/// the safe wrappers that hold one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ApiObject(NonNull<c_void>);

impl ApiObject {
    /// Accepts a pointer returned by TensorRT; `None` for null and for the small non-null
    /// values some libraries return on failure.
    pub(crate) fn from_returned(pointer: *mut c_void) -> Option<ApiObject> {
        if (pointer as usize) < MIN_VALID_POINTER {
            return None;
        }
        NonNull::new(pointer).map(ApiObject)
    }

    /// The wrapper's address (what `T&` and `T*` parameters of other methods take).
    pub(crate) fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }

    /// Looks up the function in `slot` of `mImpl`'s vtable and returns it with the `this`
    /// pointer to pass.
    ///
    /// # Safety
    /// `self` must be a live TensorRT API object whose implementation's vtable has `slot`, and
    /// `F` must be the `unsafe extern "C" fn` type matching the C++ declaration of that slot
    /// (with `this` as its first parameter, after the hidden return pointer handled by Rust).
    pub(crate) unsafe fn method<F: Copy>(self, slot: u16) -> (F, *mut c_void) {
        const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*const c_void>()) };
        // SAFETY: the caller guarantees a live wrapper: word 1 is `mImpl`, whose first word is
        // its vptr, and `slot` is within that vtable; `F` is a function-pointer type of the
        // same size as the entry read.
        unsafe {
            let implementation = *(self.0.as_ptr() as *const *mut c_void).add(1);
            let vtable = *(implementation as *const *const *const c_void);
            let entry = *vtable.add(usize::from(slot));
            (
                std::mem::transmute_copy::<*const c_void, F>(&entry),
                implementation,
            )
        }
    }

    /// `delete object`: calls the deleting destructor, slot 1 of the wrapper's own vtable.
    ///
    /// # Safety
    /// `self` must be a live TensorRT API object owned by the caller; it is dangling afterwards.
    pub(crate) unsafe fn delete(self) {
        // SAFETY: the caller owns a live wrapper; slot 1 of its vtable is the deleting
        // destructor `void (T* this)`, which frees it with the library's own allocator.
        unsafe {
            let vtable = *(self.0.as_ptr() as *const *const *const c_void);
            let deleting_destructor: unsafe extern "C" fn(*mut c_void) =
                std::mem::transmute::<*const c_void, unsafe extern "C" fn(*mut c_void)>(
                    *vtable.add(1),
                );
            deleting_destructor(self.0.as_ptr());
        }
    }
}

/// Calls a virtual method: `vcall!(object, slot, fn(ArgTypes..) -> Ret, args..)`.
/// Must be used inside an `unsafe` block whose SAFETY comment covers [`ApiObject::method`].
macro_rules! vcall {
    ($object:expr, $slot:expr, fn($($ty:ty),*) -> $ret:ty $(, $arg:expr)* $(,)?) => {{
        let (function, this) = $object
            .method::<unsafe extern "C" fn(*mut ::std::ffi::c_void $(, $ty)*) -> $ret>($slot);
        function(this $(, $arg)*)
    }};
}
pub(crate) use vcall;

/// A vtable in a `static`: raw pointers (the RTTI slot) are not `Sync` by default.
pub(crate) struct StaticVtable<T>(pub(crate) T);

// SAFETY: vtables are immutable tables of function pointers and a null RTTI pointer; sharing
// them between threads reads only.
unsafe impl<T> Sync for StaticVtable<T> {}
