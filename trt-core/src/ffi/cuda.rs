//! Raw CUDA driver calls through cudarc's `result` layer (dynamically loaded `libcuda`).
//!
//! Every `unsafe` of the CUDA backend is here; [`crate::backend::cuda`] builds the safe
//! device, stream and graph types on top. Memory is plain `cuMemAlloc` memory addressed by
//! `CUdeviceptr` (no cudarc `CudaSlice`, so cudarc's per-slice event tracking, which breaks
//! stream capture, is never involved).

use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, CudaStream, DriverError};

use crate::error::{Error, Result};

/// Converts a driver error into the crate's error, naming the call.
fn cuda_error(call: &'static str) -> impl FnOnce(DriverError) -> Error {
    move |error| Error::Cuda {
        call,
        message: error.to_string(),
    }
}

/// True when `libcuda` can be loaded. cudarc panics on first use when it cannot, so every
/// entry point checks this first.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its standard names; it runs no
    // library code beyond the loader's.
    unsafe { sys::is_culib_present() }
}

/// Number of CUDA devices, or a typed error when there is no driver.
pub fn device_count() -> Result<usize> {
    if !driver_present() {
        return Err(Error::BackendUnavailable(
            "the CUDA driver (libcuda.so) is not installed".into(),
        ));
    }
    result::init().map_err(cuda_error("cuInit"))?;
    let count = result::device::get_count().map_err(cuda_error("cuDeviceGetCount"))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// A device's primary context (the one TensorRT uses), retained for as long as this lives.
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<CudaContext>,
}

impl Context {
    /// Retains the primary context of device `ordinal`.
    pub fn new(ordinal: usize) -> Result<Context> {
        let count = device_count()?;
        if ordinal >= count {
            return Err(Error::BackendUnavailable(format!(
                "CUDA device {ordinal} does not exist ({count} found)"
            )));
        }
        let inner = CudaContext::new(ordinal).map_err(cuda_error("cuDevicePrimaryCtxRetain"))?;
        Ok(Context { inner })
    }

    /// Makes this context current on the calling thread (a no-op when it already is).
    pub fn bind(&self) -> Result<()> {
        self.inner
            .bind_to_thread()
            .map_err(cuda_error("cuCtxSetCurrent"))
    }

    /// Device ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal()
    }

    /// Device name.
    pub fn name(&self) -> String {
        self.inner
            .name()
            .unwrap_or_else(|_| "unknown CUDA device".into())
    }

    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> Result<(i32, i32)> {
        self.inner
            .compute_capability()
            .map_err(cuda_error("cuDeviceGetAttribute"))
    }

    /// Free and total bytes of device memory.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.bind()?;
        self.inner
            .mem_get_info()
            .map_err(cuda_error("cuMemGetInfo"))
    }

    /// `cuMemAlloc`: `bytes` of device memory (at least 256-byte aligned).
    pub fn allocate(&self, bytes: usize) -> Result<u64> {
        self.bind()?;
        // SAFETY: the context is current; a zero-byte request is raised to one byte because
        // cuMemAlloc refuses zero, and the caller frees the pointer with `free` exactly once.
        unsafe { result::malloc_sync(bytes.max(1)) }.map_err(cuda_error("cuMemAlloc"))
    }

    /// `cuMemFree` of a pointer from [`Context::allocate`].
    ///
    /// # Safety
    /// `ptr` came from [`Context::allocate`] on this context, is freed once, and no queued
    /// work uses it.
    pub unsafe fn free(&self, ptr: u64) -> Result<()> {
        self.bind()?;
        // SAFETY: `ptr` came from `allocate` on this context and the caller guarantees no
        // queued work still uses it and that it is freed once.
        unsafe { result::free_sync(ptr) }.map_err(cuda_error("cuMemFree"))
    }

    /// Blocking host-to-device copy.
    ///
    /// # Safety
    /// `dst` is live device memory of at least `src.len()` bytes.
    pub unsafe fn copy_to_device_sync(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.bind()?;
        // SAFETY: `dst` is device memory of at least `src.len()` bytes (the caller's
        // contract); the copy completes before returning, so `src` outlives it.
        unsafe { result::memcpy_htod_sync(dst, src) }.map_err(cuda_error("cuMemcpyHtoD"))
    }

    /// Blocking device-to-host copy.
    ///
    /// # Safety
    /// `src` is live device memory of at least `dst.len()` bytes.
    pub unsafe fn copy_to_host_sync(&self, dst: &mut [u8], src: u64) -> Result<()> {
        self.bind()?;
        // SAFETY: `src` is device memory of at least `dst.len()` bytes (the caller's
        // contract); the copy completes before returning.
        unsafe { result::memcpy_dtoh_sync(dst, src) }.map_err(cuda_error("cuMemcpyDtoH"))
    }

    /// A new non-blocking stream (never the legacy default stream, which cannot be captured).
    pub fn new_stream(&self) -> Result<Stream> {
        self.bind()?;
        let inner = self
            .inner
            .new_stream()
            .map_err(cuda_error("cuStreamCreate"))?;
        Ok(Stream {
            inner,
            context: self.clone(),
        })
    }
}

/// A CUDA stream.
#[derive(Debug)]
pub struct Stream {
    inner: Arc<CudaStream>,
    context: Context,
}

impl Stream {
    /// The raw `CUstream`, as `enqueueV3` takes it.
    pub fn raw(&self) -> u64 {
        self.inner.cu_stream() as u64
    }

    /// Blocks until the stream's work is done.
    pub fn synchronize(&self) -> Result<()> {
        self.context.bind()?;
        // SAFETY: the stream is alive (owned by `self`).
        unsafe { result::stream::synchronize(self.inner.cu_stream()) }
            .map_err(cuda_error("cuStreamSynchronize"))
    }

    /// Queues a host-to-device copy; from pageable memory the driver stages `src` before
    /// returning, so the caller may reuse it at once.
    ///
    /// # Safety
    /// `dst` is live device memory of at least `src.len()` bytes until the copy has run.
    pub unsafe fn copy_to_device(&self, dst: u64, src: &[u8]) -> Result<()> {
        self.context.bind()?;
        // SAFETY: `dst` holds at least `src.len()` bytes (caller's contract); `src` is
        // pageable, which the driver copies to staging memory before returning.
        unsafe { result::memcpy_htod_async(dst, src, self.inner.cu_stream()) }
            .map_err(cuda_error("cuMemcpyHtoDAsync"))
    }

    /// Device-to-host copy on this stream, waited for.
    ///
    /// # Safety
    /// `src` is live device memory of at least `dst.len()` bytes.
    pub unsafe fn copy_to_host(&self, dst: &mut [u8], src: u64) -> Result<()> {
        self.context.bind()?;
        // SAFETY: `src` holds at least `dst.len()` bytes (caller's contract); the stream is
        // synchronized before `dst` is released to the caller.
        unsafe { result::memcpy_dtoh_async(dst, src, self.inner.cu_stream()) }
            .map_err(cuda_error("cuMemcpyDtoHAsync"))?;
        self.synchronize()
    }

    /// Queues a device-to-device copy (capturable).
    ///
    /// # Safety
    /// Both ranges are live device memory of at least `bytes` until the copy has run.
    pub unsafe fn copy_device_to_device(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        self.context.bind()?;
        // SAFETY: both ranges are device memory of at least `bytes` (caller's contract).
        unsafe { result::memcpy_dtod_async(dst, src, bytes, self.inner.cu_stream()) }
            .map_err(cuda_error("cuMemcpyDtoDAsync"))
    }

    /// Starts capturing in thread-local mode (what trtexec uses: other threads' unsafe calls
    /// do not invalidate this capture).
    pub fn begin_capture(&self) -> Result<()> {
        self.context.bind()?;
        // SAFETY: the stream is alive and not the legacy default stream.
        unsafe {
            result::stream::begin_capture(
                self.inner.cu_stream(),
                sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
            )
        }
        .map_err(cuda_error("cuStreamBeginCapture"))
    }

    /// Ends the capture and instantiates the graph. Always leaves the stream not capturing.
    pub fn end_capture(&self) -> Result<Graph> {
        self.context.bind()?;
        // SAFETY: the stream is alive; ending a capture that was invalidated returns an error
        // and still ends it.
        let graph =
            unsafe { result::stream::end_capture(self.inner.cu_stream()) }.map_err(|error| {
                Error::CaptureFailed {
                    reason: format!("cuStreamEndCapture: {error}"),
                }
            })?;
        if graph.is_null() {
            return Err(Error::CaptureFailed {
                reason: "cuStreamEndCapture returned no graph".into(),
            });
        }
        // SAFETY: `graph` is the valid graph just captured.
        let instantiated =
            unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) };
        // SAFETY: the executable graph, if any, does not depend on the template graph.
        let destroyed = unsafe { result::graph::destroy(graph) };
        let exec = instantiated.map_err(|error| Error::CaptureFailed {
            reason: format!("cuGraphInstantiate: {error}"),
        })?;
        destroyed.map_err(cuda_error("cuGraphDestroy"))?;
        Ok(Graph {
            exec,
            context: self.context.clone(),
        })
    }

    /// True while the stream is capturing.
    pub fn is_capturing(&self) -> bool {
        // SAFETY: the stream is alive.
        let status = unsafe { result::stream::is_capturing(self.inner.cu_stream()) };
        matches!(
            status,
            Ok(sys::CUstreamCaptureStatus::CU_STREAM_CAPTURE_STATUS_ACTIVE)
        )
    }
}

/// An instantiated graph (`CUgraphExec`), destroyed on drop.
#[derive(Debug)]
pub struct Graph {
    exec: sys::CUgraphExec,
    context: Context,
}

// SAFETY: a CUgraphExec is a driver handle, and the driver API is thread-safe: any thread may
// use it once the owning context is current, which every method here ensures. `cuGraphLaunch`
// documents that "each launch is ordered behind both any previous work in hStream and any
// previous launches of hGraphExec", so even launches of one exec from two threads are
// serialized by the driver; destruction happens once, in `Drop`, with `&mut self`.
unsafe impl Send for Graph {}
// SAFETY: `&Graph` only launches or uploads, which the driver serializes as said above.
unsafe impl Sync for Graph {}

impl Graph {
    /// `cuGraphLaunch` on `stream`.
    ///
    /// # Safety
    /// Every address the graph recorded is live until the replay has run.
    pub unsafe fn launch(&self, stream: &Stream) -> Result<()> {
        self.context.bind()?;
        // SAFETY: exec and stream are alive and belong to the same context.
        unsafe { result::graph::launch(self.exec, stream.inner.cu_stream()) }
            .map_err(cuda_error("cuGraphLaunch"))
    }

    /// `cuGraphUpload` on `stream`.
    pub fn upload(&self, stream: &Stream) -> Result<()> {
        self.context.bind()?;
        // SAFETY: exec and stream are alive and belong to the same context.
        unsafe { result::graph::upload(self.exec, stream.inner.cu_stream()) }
            .map_err(cuda_error("cuGraphUpload"))
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        if self.context.bind().is_ok() {
            // SAFETY: `exec` is alive and destroyed exactly once, here; the session layer
            // synchronizes its stream before dropping graphs.
            let _ = unsafe { result::graph::exec_destroy(self.exec) };
        }
    }
}
