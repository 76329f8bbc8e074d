//! Rung S: a steady-state run allocates nothing on the heap. Measured over a backend that does
//! nothing (no memory, no compute), so every allocation counted is the session layer's own.
//! One test in its own process: the counting allocator sees every thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use trt::backend::{
    BackendKind, ContextBackend, ContextOptions, DeviceBackend, DevicePtr, EngineBackend,
    GraphBackend, MemoryInfo, OutputAllocatorCallbacks, PlatformBackend, RuntimeCacheBackend,
    StreamBackend,
};
use trt::{
    inputs, DataType, DeviceId, DeviceTensor, EngineInfo, Flavor, GraphCache, HostTensor,
    ProfileShapes, Runtime, Shape, TensorInfo, TensorIoMode,
};

struct CountingAllocator;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Hands out fake, 256-aligned addresses and does no work.
#[derive(Debug, Default)]
struct NullDevice {
    next: AtomicU64,
}

impl DeviceBackend for NullDevice {
    fn id(&self) -> DeviceId {
        DeviceId(0)
    }
    fn name(&self) -> String {
        "null".into()
    }
    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }
    fn allocate(&self, bytes: usize) -> trt::Result<DevicePtr> {
        let size = (bytes as u64).max(1).div_ceil(256) * 256;
        Ok(DevicePtr(
            0x1000 + self.next.fetch_add(size, Ordering::Relaxed),
        ))
    }
    unsafe fn free(&self, _ptr: DevicePtr) {}
    fn memory_info(&self) -> trt::Result<MemoryInfo> {
        Ok(MemoryInfo {
            free: 1 << 40,
            total: 1 << 40,
        })
    }
    fn create_stream(&self) -> trt::Result<Box<dyn StreamBackend>> {
        Ok(Box::new(NullStream))
    }
    unsafe fn copy_to_device_sync(&self, _dst: DevicePtr, _src: &[u8]) -> trt::Result<()> {
        Ok(())
    }
    unsafe fn copy_to_host_sync(&self, _dst: &mut [u8], _src: DevicePtr) -> trt::Result<()> {
        Ok(())
    }
}

struct NullStream;

impl StreamBackend for NullStream {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn raw_handle(&self) -> u64 {
        1
    }
    fn synchronize(&self) -> trt::Result<()> {
        Ok(())
    }
    unsafe fn copy_to_device(&self, _dst: DevicePtr, _src: &[u8]) -> trt::Result<()> {
        Ok(())
    }
    unsafe fn copy_to_host(&self, _dst: &mut [u8], _src: DevicePtr) -> trt::Result<()> {
        Ok(())
    }
    unsafe fn copy_device_to_device(
        &self,
        _: DevicePtr,
        _: DevicePtr,
        _: usize,
    ) -> trt::Result<()> {
        Ok(())
    }
    fn begin_capture(&self) -> trt::Result<()> {
        Ok(())
    }
    fn end_capture(&self) -> trt::Result<Box<dyn GraphBackend>> {
        Ok(Box::new(NullGraph))
    }
    fn is_capturing(&self) -> bool {
        false
    }
}

struct NullGraph;

impl GraphBackend for NullGraph {
    unsafe fn launch(&self, _stream: &dyn StreamBackend) -> trt::Result<()> {
        Ok(())
    }
}

/// An engine with input `x` f32 [-1, 16] (batch 1..64) and output `y` f32 [-1, 8].
struct NullEngine {
    info: EngineInfo,
}

impl EngineBackend for NullEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }
    fn create_context(&self, _options: &ContextOptions) -> trt::Result<Box<dyn ContextBackend>> {
        Ok(Box::new(NullContext {
            batch: Mutex::new(0),
        }))
    }
    fn set_weight_streaming_budget(&self, _bytes: usize) -> trt::Result<()> {
        Ok(())
    }
    fn weight_streaming_budget(&self) -> trt::Result<usize> {
        Ok(0)
    }
    fn weight_streaming_automatic_budget(&self) -> trt::Result<usize> {
        Ok(0)
    }
    fn weight_streaming_scratch_memory_size(&self) -> trt::Result<usize> {
        Ok(0)
    }
    fn serialize(&self) -> trt::Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

struct NullContext {
    batch: Mutex<i64>,
}

impl ContextBackend for NullContext {
    fn set_optimization_profile(&mut self, _: usize, _: &dyn StreamBackend) -> trt::Result<()> {
        Ok(())
    }
    fn set_input_shape(&mut self, _tensor: usize, shape: &Shape) -> trt::Result<()> {
        *self.batch.lock() = shape.dims()[0];
        Ok(())
    }
    fn tensor_shape(&self, tensor: usize) -> trt::Result<Shape> {
        let width = if tensor == 0 { 16 } else { 8 };
        Shape::new(&[*self.batch.lock(), width])
    }
    fn max_output_size(&self, _tensor: usize) -> trt::Result<usize> {
        Ok(0)
    }
    unsafe fn set_tensor_address(&mut self, _: usize, _: DevicePtr) -> trt::Result<()> {
        Ok(())
    }
    fn set_output_allocator(
        &mut self,
        _: usize,
        _: Option<Arc<dyn OutputAllocatorCallbacks>>,
    ) -> trt::Result<()> {
        Ok(())
    }
    fn device_memory_size_for_shapes(&mut self) -> trt::Result<usize> {
        Ok(1 << 20)
    }
    unsafe fn set_device_memory(&mut self, _: DevicePtr, _: usize) -> trt::Result<()> {
        Ok(())
    }
    unsafe fn enqueue(&mut self, _: &dyn StreamBackend) -> trt::Result<()> {
        Ok(())
    }
}

struct NullPlatform {
    device: Arc<dyn DeviceBackend>,
}

impl PlatformBackend for NullPlatform {
    fn device(&self) -> &Arc<dyn DeviceBackend> {
        &self.device
    }
    fn flavor(&self) -> Flavor {
        Flavor::Standard
    }
    fn library_version(&self) -> u32 {
        110400
    }
    fn deserialize_engine(&self, _plan: &[u8]) -> trt::Result<Arc<dyn EngineBackend>> {
        let shape = |dims: &[i64]| Shape::new(dims).unwrap();
        Ok(Arc::new(NullEngine {
            info: EngineInfo {
                name: "null".into(),
                tensors: vec![
                    TensorInfo {
                        name: "x".into(),
                        mode: TensorIoMode::Input,
                        dtype: DataType::F32,
                        shape: shape(&[-1, 16]),
                        profiles: vec![ProfileShapes {
                            min: shape(&[1, 16]),
                            opt: shape(&[8, 16]),
                            max: shape(&[64, 16]),
                        }],
                    },
                    TensorInfo {
                        name: "y".into(),
                        mode: TensorIoMode::Output,
                        dtype: DataType::F32,
                        shape: shape(&[-1, 8]),
                        profiles: Vec::new(),
                    },
                ],
                num_profiles: 1,
                device_memory_size: 1 << 20,
                streamable_weights_size: 0,
                weights_size: 0,
            },
        }))
    }
    fn create_runtime_cache(&self) -> trt::Result<Arc<dyn RuntimeCacheBackend>> {
        Err(trt::Error::BackendUnavailable("no runtime cache".into()))
    }
}

/// Heap allocations made by `calls` runs of `run` (after it warmed up).
fn allocations_per_call(mut run: impl FnMut(), calls: u64) -> f64 {
    for _ in 0..10 {
        run();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..calls {
        run();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / calls as f64
}

#[test]
fn steady_state_runs_allocate_nothing_on_the_heap() {
    let runtime = Runtime::with_platform(Arc::new(NullPlatform {
        device: Arc::new(NullDevice::default()),
    }));
    let engine = runtime.engine_from_bytes(b"null").unwrap();
    let host = HostTensor::from_vec(&[4, 16], vec![0.5f32; 64]).unwrap();
    let x = DeviceTensor::from_host(runtime.device(), &host).unwrap();
    let shape = Shape::new(&[4, 16]).unwrap();

    let mut eager = engine
        .session()
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let eager_allocations = allocations_per_call(
        || {
            eager.run(&inputs!["x" => &x]).unwrap();
        },
        1000,
    );
    let mut graphs = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let replay_allocations = allocations_per_call(
        || {
            graphs.run(&inputs!["x" => &x]).unwrap();
        },
        1000,
    );
    let zero_copy_allocations = allocations_per_call(
        || {
            graphs.stage(&[("x", shape)]).unwrap().run().unwrap();
        },
        1000,
    );
    let host_input_allocations = allocations_per_call(
        || {
            eager.run(&inputs!["x" => &host]).unwrap();
        },
        1000,
    );
    assert_eq!(
        (
            eager_allocations,
            replay_allocations,
            zero_copy_allocations,
            host_input_allocations
        ),
        (0.0, 0.0, 0.0, 0.0),
        "heap allocations per call: eager, replay, zero-copy, eager with a host input"
    );
}
