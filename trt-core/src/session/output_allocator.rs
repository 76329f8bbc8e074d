//! The session's output allocator: TensorRT asks it for memory for data-dependent outputs
//! during `enqueueV3`, then tells it their final shapes.

use std::sync::Arc;

use parking_lot::Mutex;

use super::core::OutputSource;
use super::outputs::OutputView;
use crate::backend::{DeviceBackend, DevicePtr, OutputAllocatorCallbacks};
use crate::error::Error;
use crate::tensor::DeviceBuffer;
use crate::types::{DataType, Shape};

#[derive(Default)]
struct Slot {
    buffer: Option<DeviceBuffer>,
    shape: Option<Shape>,
}

/// Grows one buffer per output, reuses it while large enough, records notified shapes.
/// Runs inside the native library's callbacks, so nothing in it may panic.
pub(crate) struct SessionOutputAllocator {
    device: Arc<dyn DeviceBackend>,
    slots: Mutex<Vec<Slot>>,
    failure: Mutex<Option<Error>>,
}

impl SessionOutputAllocator {
    pub(crate) fn new(device: Arc<dyn DeviceBackend>, tensors: usize) -> SessionOutputAllocator {
        SessionOutputAllocator {
            device,
            slots: Mutex::new((0..tensors).map(|_| Slot::default()).collect()),
            failure: Mutex::new(None),
        }
    }

    /// Forgets the previous run's shapes and failure.
    pub(crate) fn begin_run(&self) {
        for slot in self.slots.lock().iter_mut() {
            slot.shape = None;
        }
        *self.failure.lock() = None;
    }

    /// The error that made a callback refuse memory, if any.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        self.failure.lock().take()
    }

    /// Where output `tensor` is after a run, with its notified shape.
    pub(crate) fn view(&self, tensor: usize, dtype: DataType) -> Option<OutputView> {
        let slots = self.slots.lock();
        let slot = slots.get(tensor)?;
        Some(OutputView {
            tensor,
            ptr: slot.buffer.as_ref()?.ptr(),
            shape: slot.shape?,
            dtype,
            source: OutputSource::Allocator,
        })
    }
}

impl OutputAllocatorCallbacks for SessionOutputAllocator {
    fn reallocate(
        &self,
        tensor: usize,
        _current: DevicePtr,
        bytes: usize,
        alignment: usize,
    ) -> Option<DevicePtr> {
        let mut slots = self.slots.lock();
        let slot = slots.get_mut(tensor)?;
        if let Some(buffer) = &slot.buffer {
            if buffer.len() >= bytes && buffer.ptr().0 % alignment.max(1) as u64 == 0 {
                return Some(buffer.ptr());
            }
        }
        // Grow by half again, so a slowly growing output does not reallocate every run.
        let grown = bytes.max(
            slot.buffer
                .as_ref()
                .map_or(0, |buffer| buffer.len() / 2 * 3),
        );
        slot.buffer = None;
        match DeviceBuffer::new(&self.device, grown) {
            Ok(buffer) => {
                let ptr = buffer.ptr();
                slot.buffer = Some(buffer);
                Some(ptr)
            }
            Err(error) => {
                *self.failure.lock() = Some(error);
                None
            }
        }
    }

    fn notify_shape(&self, tensor: usize, shape: &Shape) {
        if let Some(slot) = self.slots.lock().get_mut(tensor) {
            slot.shape = Some(*shape);
        }
    }
}
