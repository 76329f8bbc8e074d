//! The real machine's memory, streams and graphs: CUDA through cudarc (dynamically loaded).
//!
//! Paired with the TensorRT backend to form the native platform. A machine without the CUDA
//! driver gets [`crate::Error::BackendUnavailable`] from [`CudaDevice::new`], never a panic.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::backend::{
    BackendKind, DeviceBackend, DevicePtr, GraphBackend, MemoryInfo, StreamBackend,
};
use crate::error::{Error, Result};
use crate::ffi::cuda::{self, Context, Graph, Stream};
use crate::types::DeviceId;

/// A CUDA device: its primary context, `cuMemAlloc` memory and non-blocking streams.
///
/// ```no_run
/// use trt_core::backend::cuda::CudaDevice;
/// use trt_core::backend::DeviceBackend;
/// let device = CudaDevice::new(0)?;
/// println!("{} has {} bytes free", device.name(), device.memory_info()?.free);
/// # Ok::<(), trt_core::Error>(())
/// ```
pub struct CudaDevice {
    context: Context,
    id: DeviceId,
}

impl CudaDevice {
    /// Opens device `ordinal` (its primary context).
    pub fn new(ordinal: usize) -> Result<Arc<CudaDevice>> {
        let context = Context::new(ordinal)?;
        Ok(Arc::new(CudaDevice {
            id: DeviceId(u32::try_from(ordinal).unwrap_or(u32::MAX)),
            context,
        }))
    }

    /// Number of CUDA devices (a typed error without a driver).
    pub fn count() -> Result<usize> {
        cuda::device_count()
    }

    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> Result<(i32, i32)> {
        self.context.compute_capability()
    }

    /// Makes this device's context current on the calling thread.
    pub fn bind(&self) -> Result<()> {
        self.context.bind()
    }
}

impl fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CudaDevice({}, {})", self.id, self.context.name())
    }
}

impl DeviceBackend for CudaDevice {
    fn id(&self) -> DeviceId {
        self.id
    }

    fn name(&self) -> String {
        self.context.name()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }

    fn allocate(&self, bytes: usize) -> Result<DevicePtr> {
        self.context
            .allocate(bytes)
            .map(DevicePtr)
            .map_err(|error| match self.context.memory_info() {
                Ok((free, total)) if bytes > free => Error::OutOfDeviceMemory {
                    device: self.id,
                    requested: bytes,
                    free,
                    total,
                },
                _ => error,
            })
    }

    unsafe fn free(&self, ptr: DevicePtr) {
        // SAFETY: forwarded: the caller upholds `DeviceBackend::free`'s contract.
        if let Err(error) = unsafe { self.context.free(ptr.0) } {
            log::error!("freeing {ptr} on {}: {error}", self.id);
        }
    }

    fn make_current(&self) -> Result<()> {
        self.context.bind()
    }

    fn memory_info(&self) -> Result<MemoryInfo> {
        let (free, total) = self.context.memory_info()?;
        Ok(MemoryInfo { free, total })
    }

    fn create_stream(&self) -> Result<Box<dyn StreamBackend>> {
        Ok(Box::new(CudaStreamBackend {
            stream: self.context.new_stream()?,
        }))
    }

    unsafe fn copy_to_device_sync(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe { self.context.copy_to_device_sync(dst.0, src) }
    }

    unsafe fn copy_to_host_sync(&self, dst: &mut [u8], src: DevicePtr) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe { self.context.copy_to_host_sync(dst, src.0) }
    }
}

/// A non-default CUDA stream.
pub struct CudaStreamBackend {
    stream: Stream,
}

impl CudaStreamBackend {
    fn from_dyn(stream: &dyn StreamBackend) -> Result<&CudaStreamBackend> {
        stream
            .as_any()
            .downcast_ref::<CudaStreamBackend>()
            .ok_or_else(|| {
                Error::InvalidConfig("a CUDA graph can only launch on a CUDA stream".into())
            })
    }
}

impl StreamBackend for CudaStreamBackend {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn raw_handle(&self) -> u64 {
        self.stream.raw()
    }

    fn synchronize(&self) -> Result<()> {
        self.stream.synchronize()
    }

    unsafe fn copy_to_device(&self, dst: DevicePtr, src: &[u8]) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe { self.stream.copy_to_device(dst.0, src) }
    }

    unsafe fn copy_to_host(&self, dst: &mut [u8], src: DevicePtr) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe { self.stream.copy_to_host(dst, src.0) }
    }

    unsafe fn copy_device_to_device(
        &self,
        dst: DevicePtr,
        src: DevicePtr,
        bytes: usize,
    ) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe { self.stream.copy_device_to_device(dst.0, src.0, bytes) }
    }

    fn begin_capture(&self) -> Result<()> {
        self.stream.begin_capture()
    }

    fn end_capture(&self) -> Result<Box<dyn GraphBackend>> {
        Ok(Box::new(CudaGraphBackend {
            graph: self.stream.end_capture()?,
        }))
    }

    fn is_capturing(&self) -> bool {
        self.stream.is_capturing()
    }
}

/// An instantiated CUDA graph.
pub struct CudaGraphBackend {
    graph: Graph,
}

impl GraphBackend for CudaGraphBackend {
    unsafe fn launch(&self, stream: &dyn StreamBackend) -> Result<()> {
        // SAFETY: forwarded: this method's caller upholds the trait's contract.
        unsafe {
            self.graph
                .launch(&CudaStreamBackend::from_dyn(stream)?.stream)
        }
    }

    fn upload(&self, stream: &dyn StreamBackend) -> Result<()> {
        self.graph
            .upload(&CudaStreamBackend::from_dyn(stream)?.stream)
    }
}
