//! Simulated streams and CUDA graphs.
//!
//! A stream that is not capturing runs work synchronously, at the moment it is queued. A
//! capturing stream records work as [`Operation`]s holding the addresses and shapes fixed at
//! the moment of recording; a [`SimGraph`] replays them in order.

use std::any::Any;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use super::context::RecordedEnqueue;
use super::device::DeviceMemory;
use super::SimCounters;
use crate::backend::{DevicePtr, GraphBackend, StreamBackend};
use crate::error::{Error, Result};

/// One unit of recorded work.
pub(crate) enum Operation {
    /// A device-to-device copy.
    CopyDeviceToDevice {
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
    },
    /// An `enqueueV3` with its bindings and shapes as they were at recording.
    Enqueue(Box<RecordedEnqueue>),
    /// A graph launched into a capturing stream (a child graph).
    Graph(Arc<[Operation]>),
}

impl Operation {
    fn execute(&self, memory: &DeviceMemory) -> Result<()> {
        match self {
            Operation::CopyDeviceToDevice { dst, src, bytes } => memory.copy(*dst, *src, *bytes),
            Operation::Enqueue(enqueue) => enqueue.execute(memory),
            Operation::Graph(operations) => operations
                .iter()
                .try_for_each(|operation| operation.execute(memory)),
        }
    }
}

/// The state of an ongoing capture.
#[derive(Default)]
struct Capture {
    operations: Vec<Operation>,
    /// Set by the first non-capturable operation; the capture can then only fail.
    invalidated: Option<String>,
}

/// A simulated stream (`cudaStream_t`).
///
/// Capture follows CUDA: the call that queues non-capturable work fails with
/// [`Error::CaptureFailed`] and invalidates the capture; later work on the stream fails the
/// same way, and [`StreamBackend::end_capture`] reports the first reason and ends the capture.
pub struct SimStream {
    handle: u64,
    memory: Arc<DeviceMemory>,
    counters: Arc<SimCounters>,
    capture: Mutex<Option<Capture>>,
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("handle", &self.handle)
            .field("capturing", &self.is_capturing())
            .finish()
    }
}

impl SimStream {
    pub(crate) fn new(
        handle: u64,
        memory: Arc<DeviceMemory>,
        counters: Arc<SimCounters>,
    ) -> SimStream {
        SimStream {
            handle,
            memory,
            counters,
            capture: Mutex::new(None),
        }
    }

    /// Recognises a simulated stream of the device owning `memory`.
    pub(crate) fn of_device<'a>(
        stream: &'a dyn StreamBackend,
        memory: &Arc<DeviceMemory>,
    ) -> Result<&'a SimStream> {
        let stream = stream.as_any().downcast_ref::<SimStream>().ok_or_else(|| {
            Error::InvalidConfig(
                "the host simulation can only queue work on its own streams".to_owned(),
            )
        })?;
        if !Arc::ptr_eq(&stream.memory, memory) {
            return Err(Error::InvalidConfig(format!(
                "stream {} belongs to another simulated device than {}",
                stream.handle,
                memory.device()
            )));
        }
        Ok(stream)
    }

    /// Runs `operation` now, or records it while capturing.
    pub(crate) fn submit(&self, operation: Operation) -> Result<()> {
        {
            let mut capture = self.capture.lock();
            if let Some(capture) = capture.as_mut() {
                return match &capture.invalidated {
                    Some(reason) => Err(already_invalidated(reason)),
                    None => {
                        capture.operations.push(operation);
                        Ok(())
                    }
                };
            }
        }
        operation.execute(&self.memory)
    }

    /// Invalidates the ongoing capture (if any) because of non-capturable work, and returns
    /// the error the offending call reports.
    pub(crate) fn invalidate_capture(&self, reason: String) -> Error {
        let mut capture = self.capture.lock();
        match capture.as_mut() {
            Some(Capture {
                invalidated: Some(first),
                ..
            }) => already_invalidated(first),
            Some(capture) => {
                capture.invalidated = Some(reason.clone());
                capture.operations.clear();
                Error::CaptureFailed { reason }
            }
            None => Error::CaptureFailed { reason },
        }
    }

    /// Fails the call (and the capture) when the stream is capturing: host copies and
    /// synchronization are not capturable.
    fn refuse_while_capturing(&self, what: &str) -> Result<()> {
        if self.is_capturing() {
            return Err(self.invalidate_capture(format!(
                "{what} is not permitted while the stream is capturing"
            )));
        }
        Ok(())
    }
}

fn already_invalidated(reason: &str) -> Error {
    Error::CaptureFailed {
        reason: format!("the capture was already invalidated: {reason}"),
    }
}

impl StreamBackend for SimStream {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn raw_handle(&self) -> u64 {
        self.handle
    }

    /// Work already ran when it was queued, so there is nothing to wait for. Synchronizing a
    /// capturing stream is illegal in CUDA: it invalidates the capture.
    fn synchronize(&self) -> Result<()> {
        self.refuse_while_capturing("synchronizing the stream")
    }

    unsafe fn copy_to_device(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        self.refuse_while_capturing("a host-to-device copy from pageable memory")?;
        self.memory.write(dst, src)?;
        self.counters
            .host_to_device_copies
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    unsafe fn copy_to_host(&self, dst: &mut [u8], src: DevicePtr) -> Result<()> {
        self.refuse_while_capturing("a device-to-host copy to pageable memory")?;
        self.memory.read_to_slice(dst, src)?;
        self.counters
            .device_to_host_copies
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Runs or records the copy; counted in the stats when queued (replays are not counted).
    unsafe fn copy_device_to_device(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
    ) -> Result<()> {
        self.submit(Operation::CopyDeviceToDevice { dst, src, bytes })?;
        self.counters
            .device_to_device_copies
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn begin_capture(&self) -> Result<()> {
        let mut capture = self.capture.lock();
        if capture.is_some() {
            return Err(Error::Cuda {
                call: "cuStreamBeginCapture",
                message: format!(
                    "CUDA_ERROR_ILLEGAL_STATE: stream {} is already capturing",
                    self.handle
                ),
            });
        }
        *capture = Some(Capture::default());
        self.counters.captures_begun.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn end_capture(&self) -> Result<Box<dyn GraphBackend>> {
        let capture = self.capture.lock().take().ok_or_else(|| Error::Cuda {
            call: "cuStreamEndCapture",
            message: format!(
                "CUDA_ERROR_ILLEGAL_STATE: stream {} is not capturing",
                self.handle
            ),
        })?;
        if let Some(reason) = capture.invalidated {
            self.counters
                .captures_failed
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::CaptureFailed { reason });
        }
        self.counters
            .graphs_instantiated
            .fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(SimGraph {
            operations: capture.operations.into(),
            memory: Arc::clone(&self.memory),
            counters: Arc::clone(&self.counters),
        }))
    }

    fn is_capturing(&self) -> bool {
        self.capture.lock().is_some()
    }
}

/// An instantiated simulated graph: the operations recorded during one capture.
///
/// Launching it on a stream that is itself capturing records the whole graph as one child
/// operation of that capture (CUDA allows launching a graph into a capturing stream).
pub struct SimGraph {
    operations: Arc<[Operation]>,
    memory: Arc<DeviceMemory>,
    counters: Arc<SimCounters>,
}

impl SimGraph {
    /// Number of recorded operations (a child graph counts as one).
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }
}

impl fmt::Debug for SimGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimGraph")
            .field("operations", &self.operations.len())
            .finish()
    }
}

impl GraphBackend for SimGraph {
    /// Replays the recorded operations in order at their recorded addresses. Memory freed
    /// since the capture makes the launch fail with [`Error::InvalidDeviceAddress`]; the
    /// operations before the failing one have run.
    unsafe fn launch(&self, stream: &dyn StreamBackend) -> Result<()> {
        let stream = SimStream::of_device(stream, &self.memory)?;
        stream.submit(Operation::Graph(Arc::clone(&self.operations)))?;
        self.counters.graph_launches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn upload(&self, stream: &dyn StreamBackend) -> Result<()> {
        SimStream::of_device(stream, &self.memory).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{SimConfig, SimPlatform};
    use crate::backend::PlatformBackend;

    fn new_platform() -> Arc<SimPlatform> {
        SimPlatform::new(SimConfig {
            memory_bytes: 1 << 20,
            ..SimConfig::default()
        })
    }

    #[test]
    fn captured_copies_replay_at_recorded_addresses() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let platform = new_platform();
            let device = platform.device();
            let stream = device.create_stream().unwrap();
            let src = device.allocate(4).unwrap();
            let dst = device.allocate(4).unwrap();
            stream.copy_to_device(src, &[1, 2, 3, 4]).unwrap();

            stream.begin_capture().unwrap();
            assert!(stream.is_capturing());
            stream.copy_device_to_device(dst, src, 4).unwrap();
            let mut out = [0u8; 4];
            device.copy_to_host_sync(&mut out, dst).unwrap();
            assert_eq!(out, [0; 4], "captured work must not run");
            let graph = stream.end_capture().unwrap();
            assert!(!stream.is_capturing());

            graph.launch(stream.as_ref()).unwrap();
            stream.copy_to_host(&mut out, dst).unwrap();
            assert_eq!(out, [1, 2, 3, 4]);
            stream.copy_to_device(src, &[9, 9, 9, 9]).unwrap();
            graph.launch(stream.as_ref()).unwrap();
            stream.copy_to_host(&mut out, dst).unwrap();
            assert_eq!(out, [9; 4]);

            device.free(src);
            assert!(matches!(
                graph.launch(stream.as_ref()),
                Err(Error::InvalidDeviceAddress { .. })
            ));
            let stats = platform.stats();
            assert_eq!(stats.captures_begun, 1);
            assert_eq!(stats.graphs_instantiated, 1);
            assert_eq!(stats.graph_launches, 2);
            assert_eq!(stats.device_to_device_copies, 1);
            device.free(dst);
        }
    }

    #[test]
    fn host_copies_during_capture_fail_the_capture() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let platform = new_platform();
            let device = platform.device();
            let stream = device.create_stream().unwrap();
            let buffer = device.allocate(4).unwrap();
            stream.begin_capture().unwrap();
            assert!(matches!(
                stream.copy_to_device(buffer, &[1; 4]),
                Err(Error::CaptureFailed { .. })
            ));
            // Later work reports the invalidated capture too.
            assert!(matches!(
                stream.copy_device_to_device(buffer, buffer, 4),
                Err(Error::CaptureFailed { .. })
            ));
            assert!(stream.is_capturing());
            match stream.end_capture() {
                Err(Error::CaptureFailed { reason }) => {
                    assert!(reason.contains("host-to-device"), "{reason}")
                }
                Err(other) => panic!("expected a failed capture, got {other}"),
                Ok(_) => panic!("expected a failed capture"),
            }
            assert!(!stream.is_capturing());
            assert_eq!(platform.stats().captures_failed, 1);

            stream.begin_capture().unwrap();
            let mut out = [0u8; 4];
            assert!(stream.copy_to_host(&mut out, buffer).is_err());
            assert!(stream.end_capture().is_err());
            stream.begin_capture().unwrap();
            assert!(stream.synchronize().is_err());
            assert!(stream.end_capture().is_err());
            stream.synchronize().unwrap();
            device.free(buffer);
        }
    }

    #[test]
    fn capture_state_errors_are_typed() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let platform = new_platform();
            let stream = platform.device().create_stream().unwrap();
            assert!(matches!(stream.end_capture(), Err(Error::Cuda { .. })));
            stream.begin_capture().unwrap();
            assert!(matches!(stream.begin_capture(), Err(Error::Cuda { .. })));
            let graph = stream.end_capture().unwrap();
            graph.launch(stream.as_ref()).unwrap();
            graph.upload(stream.as_ref()).unwrap();

            let other = new_platform().device().create_stream().unwrap();
            assert!(matches!(
                graph.launch(other.as_ref()),
                Err(Error::InvalidConfig(_))
            ));
            assert_ne!(stream.raw_handle(), 0);
        }
    }

    #[test]
    fn graphs_launched_into_a_capture_become_child_graphs() {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let platform = new_platform();
            let device = platform.device();
            let stream = device.create_stream().unwrap();
            let a = device.allocate(2).unwrap();
            let b = device.allocate(2).unwrap();
            let c = device.allocate(2).unwrap();
            stream.begin_capture().unwrap();
            stream.copy_device_to_device(b, a, 2).unwrap();
            let inner = stream.end_capture().unwrap();
            stream.begin_capture().unwrap();
            inner.launch(stream.as_ref()).unwrap();
            stream.copy_device_to_device(c, b, 2).unwrap();
            let outer = stream.end_capture().unwrap();

            device.copy_to_device_sync(a, &[5, 6]).unwrap();
            outer.launch(stream.as_ref()).unwrap();
            let mut out = [0u8; 2];
            device.copy_to_host_sync(&mut out, c).unwrap();
            assert_eq!(out, [5, 6]);
            for ptr in [a, b, c] {
                device.free(ptr);
            }
        }
    }
}
