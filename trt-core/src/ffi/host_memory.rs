//! `IHostMemory`: bytes TensorRT hands out (serialized plans, runtime caches).

use std::ffi::c_void;
use std::sync::Arc;

use super::abi::{vcall, ApiObject};
use super::loader::TensorRtLibrary;
use super::slots::Method;
use crate::error::{Error, Result};

/// An owned `IHostMemory`, deleted (through its deleting destructor) on drop.
pub struct HostMemory {
    object: ApiObject,
    library: Arc<TensorRtLibrary>,
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: this wrapper owns the object; no borrow of its bytes outlives `&self`.
        unsafe { self.object.delete() };
    }
}

impl HostMemory {
    pub(crate) fn from_object(object: ApiObject, library: Arc<TensorRtLibrary>) -> HostMemory {
        HostMemory { object, library }
    }

    /// `data` and `size`, borrowed for as long as the object lives.
    pub fn bytes(&self) -> Result<&[u8]> {
        let data_slot = self.library.slot(Method::HostMemoryData)?;
        let size_slot = self.library.slot(Method::HostMemorySize)?;
        // SAFETY: live object; slots are `void* data() const noexcept` and
        // `std::size_t size() const noexcept`.
        let (data, size) = unsafe {
            (
                vcall!(self.object, data_slot, fn() -> *mut c_void),
                vcall!(self.object, size_slot, fn() -> usize),
            )
        };
        if size == 0 {
            return Ok(&[]);
        }
        if data.is_null() {
            return Err(Error::TensorRt {
                call: Method::HostMemoryData.call_name(),
                message: format!("returned null for {size} bytes"),
            });
        }
        // SAFETY: TensorRT guarantees `size` readable bytes at `data` while the object lives;
        // the slice borrows `self`, so it cannot outlive the object.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) })
    }

    /// Copies the bytes out, then deletes the object.
    pub fn into_vec(self) -> Result<Vec<u8>> {
        self.bytes().map(<[u8]>::to_vec)
    }
}
