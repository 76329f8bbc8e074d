//! End-to-end tests of the simulation through the backend traits, on the plans in `models/`.

use std::path::PathBuf;
use std::sync::Arc;

use half::{bf16, f16};
use parking_lot::Mutex;

use super::*;
use crate::backend::{
    AllocationStrategy, ContextBackend, ContextOptions, DevicePtr, KernelSpecialization,
    OutputAllocatorCallbacks, StreamBackend,
};
use crate::error::Error;
use crate::types::{DataType, Shape, TensorIoMode};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn model(name: &str) -> Vec<u8> {
    let path = models_dir().join(format!("{name}.simplan"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

struct Fixture {
    platform: Arc<SimPlatform>,
    engine: Arc<dyn EngineBackend>,
    stream: Box<dyn StreamBackend>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let platform = SimPlatform::new(SimConfig {
            memory_bytes: 64 << 20,
            ..SimConfig::default()
        });
        let engine = platform.deserialize_engine(&model(name)).unwrap();
        let stream = platform.device().create_stream().unwrap();
        Fixture {
            platform,
            engine,
            stream,
        }
    }

    fn device(&self) -> &Arc<dyn DeviceBackend> {
        self.platform.device()
    }

    fn context(&self) -> Box<dyn ContextBackend> {
        self.engine
            .create_context(&ContextOptions::default())
            .unwrap()
    }

    fn upload(&self, bytes: &[u8]) -> DevicePtr {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let ptr = self.device().allocate(bytes.len()).unwrap();
            self.device().copy_to_device_sync(ptr, bytes).unwrap();
            ptr
        }
    }

    fn upload_f32(&self, values: &[f32]) -> DevicePtr {
        self.upload(bytemuck::cast_slice(values))
    }

    fn download_f32(&self, ptr: DevicePtr, count: usize) -> Vec<f32> {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            let mut bytes = vec![0u8; count * 4];
            self.device().copy_to_host_sync(&mut bytes, ptr).unwrap();
            bytes
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap()))
                .collect()
        }
    }
}

fn shape(dims: &[i64]) -> Shape {
    Shape::new(dims).unwrap()
}

fn tensorrt_message(error: Error, call: &str) -> String {
    match error {
        Error::TensorRt {
            call: actual,
            message,
        } => {
            assert_eq!(actual, call, "{message}");
            message
        }
        other => panic!("expected a TensorRT error from {call}, got {other}"),
    }
}

/// The `mlp` plan's `y`, computed by hand from the documented formulas.
fn mlp_reference(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(16)
        .flat_map(|row| {
            (0..8).map(move |n| {
                let dot: f64 = row
                    .iter()
                    .enumerate()
                    .map(|(k, &value)| f64::from(value) * linear_weight(k, n, 1))
                    .sum();
                ((dot + linear_bias(n, 1)).max(0.0) * 2.0 + 1.0) as f32
            })
        })
        .collect()
}

fn mlp_input(batch: usize, offset: f32) -> Vec<f32> {
    (0..batch * 16)
        .map(|i| (i as f32 * 0.37 + offset).sin())
        .collect()
}

/// Binds x, y and z of the `mlp` plan for `batch` rows.
fn bind_mlp(
    fixture: &Fixture,
    context: &mut dyn ContextBackend,
    x: &[f32],
) -> (DevicePtr, DevicePtr, DevicePtr) {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let batch = x.len() / 16;
        let x_ptr = fixture.upload_f32(x);
        let y_ptr = fixture.device().allocate(batch * 8 * 4).unwrap();
        let z_ptr = fixture.device().allocate(batch * 16 * 4).unwrap();
        context
            .set_input_shape(0, &shape(&[batch as i64, 16]))
            .unwrap();
        context.set_tensor_address(0, x_ptr).unwrap();
        context.set_tensor_address(1, y_ptr).unwrap();
        context.set_tensor_address(2, z_ptr).unwrap();
        (x_ptr, y_ptr, z_ptr)
    }
}

#[derive(Default)]
struct RecordingAllocator {
    device: Option<Arc<dyn DeviceBackend>>,
    /// (tensor, current, bytes, alignment) of every reallocate call.
    reallocations: Mutex<Vec<(usize, DevicePtr, usize, usize)>>,
    shapes: Mutex<Vec<(usize, Shape)>>,
    buffer: Mutex<Option<(DevicePtr, usize)>>,
    refuse: bool,
}

impl RecordingAllocator {
    fn new(device: &Arc<dyn DeviceBackend>) -> RecordingAllocator {
        RecordingAllocator {
            device: Some(Arc::clone(device)),
            ..RecordingAllocator::default()
        }
    }
}

impl OutputAllocatorCallbacks for RecordingAllocator {
    fn reallocate(
        &self,
        tensor: usize,
        current: DevicePtr,
        bytes: usize,
        alignment: usize,
    ) -> Option<DevicePtr> {
        // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
        unsafe {
            self.reallocations
                .lock()
                .push((tensor, current, bytes, alignment));
            if self.refuse {
                return None;
            }
            let mut buffer = self.buffer.lock();
            match *buffer {
                Some((ptr, capacity)) if capacity >= bytes => Some(ptr),
                _ => {
                    let device = self.device.as_ref()?;
                    if let Some((old, _)) = buffer.take() {
                        device.free(old);
                    }
                    let ptr = device.allocate(bytes).ok()?;
                    *buffer = Some((ptr, bytes));
                    Some(ptr)
                }
            }
        }
    }

    fn notify_shape(&self, tensor: usize, shape: &Shape) {
        self.shapes.lock().push((tensor, *shape));
    }
}

#[test]
fn every_model_plan_parses_and_serializes_to_itself() {
    let platform = SimPlatform::new(SimConfig::default());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "simplan")
        {
            let bytes = std::fs::read(&path).unwrap();
            let engine = platform
                .deserialize_engine(&bytes)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert_eq!(engine.serialize().unwrap(), bytes);
            assert!(engine.info().inputs().count() >= 1);
            names.push(engine.info().name.clone());
        }
    }
    names.sort();
    for expected in ["half", "mlp", "nonzero", "streaming", "two_inputs"] {
        assert!(
            names.iter().any(|name| name == expected),
            "models/{expected}.simplan missing"
        );
    }
    assert_eq!(platform.flavor(), crate::types::Flavor::Simulation);
    assert_eq!(platform.library_version(), 0);
}

#[test]
fn engine_info_lists_inputs_then_outputs() {
    let fixture = Fixture::new("mlp");
    let info = fixture.engine.info();
    assert_eq!(info.name, "mlp");
    let names: Vec<_> = info
        .tensors
        .iter()
        .map(|tensor| tensor.name.as_str())
        .collect();
    assert_eq!(names, ["x", "y", "z"]);
    assert_eq!(info.tensors[0].mode, TensorIoMode::Input);
    assert_eq!(info.tensors[1].shape, shape(&[-1, 8]));
    assert_eq!(info.tensors[2].shape, shape(&[-1, 16]));
    assert_eq!(info.num_profiles, 2);
    assert_eq!(info.device_memory_size, 65536);
    assert_eq!(info.weights_size, 1 << 20);
    // Weights are resident from deserialization on.
    assert_eq!(
        fixture.platform.sim_device().stats().allocated_bytes,
        1 << 20
    );
    let nonzero = Fixture::new("nonzero");
    assert_eq!(nonzero.engine.info().tensors[1].shape, shape(&[-1, 2]));
    assert_eq!(nonzero.engine.info().tensors[1].dtype, DataType::Int64);
}

#[test]
fn mlp_computes_the_documented_function() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        let x = mlp_input(3, 0.0);
        let (_, y_ptr, z_ptr) = bind_mlp(&fixture, context.as_mut(), &x);
        assert_eq!(context.tensor_shape(1).unwrap(), shape(&[3, 8]));
        assert_eq!(context.max_output_size(1).unwrap(), 3 * 8 * 4);
        context.enqueue(fixture.stream.as_ref()).unwrap();
        fixture.stream.synchronize().unwrap();
        let y = fixture.download_f32(y_ptr, 24);
        for (got, want) in y.iter().zip(mlp_reference(&x)) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert!(
            y.iter().all(|&value| value >= 1.0),
            "relu then 2x+1 is at least 1"
        );
        let z = fixture.download_f32(z_ptr, 48);
        for (got, &value) in z.iter().zip(&x) {
            assert_eq!(*got, (f64::from(value) * 0.5 - 1.0) as f32);
        }
        let stats = fixture.platform.stats();
        assert_eq!(stats.enqueues, 1);
        assert_eq!(stats.contexts_live, 1);
        drop(context);
        assert_eq!(fixture.platform.stats().contexts_live, 0);
        assert_eq!(fixture.platform.stats().contexts_created, 1);
    }
}

#[test]
fn two_inputs_add_and_half_precision_outputs() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("two_inputs");
        let mut context = fixture.context();
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let b = [0.5f32, -2.0, 10.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let a_ptr = fixture.upload_f32(&a);
        let b_ptr = fixture.upload_f32(&b);
        let out = fixture.device().allocate(32).unwrap();
        context.set_input_shape(0, &shape(&[2, 4])).unwrap();
        context.set_input_shape(1, &shape(&[2, 4])).unwrap();
        context.set_tensor_address(0, a_ptr).unwrap();
        context.set_tensor_address(1, b_ptr).unwrap();
        context.set_tensor_address(2, out).unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert_eq!(
            fixture.download_f32(out, 8),
            [1.5, 0.0, 13.0, 4.0, 6.0, 7.0, 8.0, 9.0]
        );
        // Unequal shapes cannot be added.
        context.set_input_shape(1, &shape(&[1, 4])).unwrap();
        assert!(context.tensor_shape(2).is_err());
        let message = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(message.contains("sum"), "{message}");

        let fixture = Fixture::new("half");
        let mut context = fixture.context();
        let x: Vec<f16> = [1.5f32, -2.0, 0.25, 3.0]
            .iter()
            .map(|&v| f16::from_f32(v))
            .collect();
        let x_ptr = fixture.upload(bytemuck::cast_slice(&x));
        let y_ptr = fixture.device().allocate(8).unwrap();
        let w_ptr = fixture.device().allocate(8).unwrap();
        context.set_input_shape(0, &shape(&[1, 4])).unwrap();
        context.set_tensor_address(0, x_ptr).unwrap();
        context.set_tensor_address(1, y_ptr).unwrap();
        context.set_tensor_address(2, w_ptr).unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        let mut bytes = [0u8; 8];
        fixture
            .device()
            .copy_to_host_sync(&mut bytes, y_ptr)
            .unwrap();
        let y: Vec<f32> = bytemuck::cast_slice::<u8, f16>(&bytes)
            .iter()
            .map(|v| v.to_f32())
            .collect();
        assert_eq!(y, [3.0, -4.0, 0.5, 6.0]);
        fixture
            .device()
            .copy_to_host_sync(&mut bytes, w_ptr)
            .unwrap();
        let w: Vec<f32> = bytemuck::cast_slice::<u8, bf16>(&bytes)
            .iter()
            .map(|v| v.to_f32())
            .collect();
        assert_eq!(w, [-1.25, 2.25, 0.0, -2.75]);
    }
}

#[test]
fn set_input_shape_errors_name_the_tensor_and_the_limits() {
    let fixture = Fixture::new("mlp");
    let mut context = fixture.context();
    let rank = tensorrt_message(
        context.set_input_shape(0, &shape(&[4])).unwrap_err(),
        "setInputShape",
    );
    assert!(rank.contains("`x`") && rank.contains("nbDims"), "{rank}");
    let static_dim = tensorrt_message(
        context.set_input_shape(0, &shape(&[4, 15])).unwrap_err(),
        "setInputShape",
    );
    assert!(
        static_dim.contains("`x`") && static_dim.contains("[4, 15]"),
        "{static_dim}"
    );
    assert!(
        static_dim.contains("Error Code 3: API Usage Error"),
        "{static_dim}"
    );
    let profile = tensorrt_message(
        context.set_input_shape(0, &shape(&[65, 16])).unwrap_err(),
        "setInputShape",
    );
    assert!(
        profile.contains("`x`") && profile.contains("[65, 16]"),
        "{profile}"
    );
    assert!(
        profile.contains("[1, 16]") && profile.contains("[64, 16]"),
        "{profile}"
    );
    let output = tensorrt_message(
        context.set_input_shape(1, &shape(&[4, 8])).unwrap_err(),
        "setInputShape",
    );
    assert!(output.contains("`y`"), "{output}");
    assert!(context.set_input_shape(9, &shape(&[4, 16])).is_err());
    assert!(context.set_input_shape(0, &shape(&[-1, 16])).is_err());

    // Profile 1 takes the large batches and forgets the shapes set before.
    context.set_input_shape(0, &shape(&[4, 16])).unwrap();
    context
        .set_optimization_profile(1, fixture.stream.as_ref())
        .unwrap();
    assert_eq!(context.tensor_shape(0).unwrap(), shape(&[-1, 16]));
    assert_eq!(context.tensor_shape(1).unwrap(), shape(&[-1, 8]));
    assert!(context.set_input_shape(0, &shape(&[4, 16])).is_err());
    context.set_input_shape(0, &shape(&[128, 16])).unwrap();
    assert_eq!(context.tensor_shape(1).unwrap(), shape(&[128, 8]));
    let bad_profile = tensorrt_message(
        context
            .set_optimization_profile(2, fixture.stream.as_ref())
            .unwrap_err(),
        "setOptimizationProfileAsync",
    );
    assert!(bad_profile.contains("2 profile(s)"), "{bad_profile}");
}

#[test]
fn enqueue_validates_bindings_and_names_the_tensor() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        let no_shape = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(
            no_shape.contains("`x`") && no_shape.contains("setInputShape"),
            "{no_shape}"
        );
        context.set_input_shape(0, &shape(&[2, 16])).unwrap();
        let no_address = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(
            no_address.contains("`x`") && no_address.contains("setTensorAddress"),
            "{no_address}"
        );
        let x_ptr = fixture.upload_f32(&mlp_input(2, 0.0));
        context.set_tensor_address(0, x_ptr).unwrap();
        let no_output = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(no_output.contains("`y`"), "{no_output}");
        assert!(
            context.set_tensor_address(1, x_ptr.offset(2)).is_err(),
            "f32 needs 4-byte alignment"
        );

        // An output buffer too small for the result.
        let small = fixture.device().allocate(8).unwrap();
        let z_ptr = fixture.device().allocate(2 * 16 * 4).unwrap();
        context.set_tensor_address(1, small).unwrap();
        context.set_tensor_address(2, z_ptr).unwrap();
        assert!(matches!(
            context.enqueue(fixture.stream.as_ref()),
            Err(Error::InvalidDeviceAddress { .. })
        ));
        // An input range running past its allocation.
        context.set_input_shape(0, &shape(&[3, 16])).unwrap();
        assert!(matches!(
            context.enqueue(fixture.stream.as_ref()),
            Err(Error::InvalidDeviceAddress { .. })
        ));
        // A stream of another platform.
        let foreign = SimPlatform::new(SimConfig::default())
            .device()
            .create_stream()
            .unwrap();
        assert!(matches!(
            context.enqueue(foreign.as_ref()),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(fixture.platform.stats().enqueues, 0);
    }
}

#[test]
fn user_managed_activation_memory_is_required_and_checked() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let before = fixture.platform.sim_device().stats().allocated_bytes;
        let static_context = fixture.context();
        assert_eq!(
            fixture.platform.sim_device().stats().allocated_bytes,
            before + 65536,
            "static contexts allocate their activations"
        );
        drop(static_context);
        assert_eq!(
            fixture.platform.sim_device().stats().allocated_bytes,
            before
        );

        let mut context = fixture
            .engine
            .create_context(&ContextOptions {
                allocation: AllocationStrategy::UserManaged,
                ..ContextOptions::default()
            })
            .unwrap();
        assert_eq!(
            fixture.platform.sim_device().stats().allocated_bytes,
            before
        );
        assert_eq!(context.device_memory_size_for_shapes().unwrap(), 65536);
        let x = mlp_input(2, 0.0);
        let (_, y_ptr, _) = bind_mlp(&fixture, context.as_mut(), &x);
        let missing = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(
            missing.contains("kUSER_MANAGED") && missing.contains("65536"),
            "{missing}"
        );

        let arena = fixture.device().allocate(65536).unwrap();
        context.set_device_memory(arena, 1024).unwrap();
        assert!(
            context.enqueue(fixture.stream.as_ref()).is_err(),
            "too small"
        );
        assert!(
            context.set_device_memory(arena.offset(16), 65536).is_err(),
            "misaligned"
        );
        context.set_device_memory(arena, 65536).unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert_eq!(fixture.download_f32(y_ptr, 16), mlp_reference(&x));
        let mut touched = [0u8; 4];
        fixture
            .device()
            .copy_to_host_sync(&mut touched, arena)
            .unwrap();
        assert_ne!(touched, [0; 4], "enqueue uses the arena");

        fixture.device().free(arena);
        assert!(matches!(
            context.enqueue(fixture.stream.as_ref()),
            Err(Error::InvalidDeviceAddress { .. })
        ));
        let mut static_context = fixture.context();
        let message = tensorrt_message(
            static_context.set_device_memory(arena, 65536).unwrap_err(),
            "setDeviceMemoryV2",
        );
        assert!(message.contains("kUSER_MANAGED"), "{message}");
    }
}

#[test]
fn captured_enqueue_replays_at_recorded_addresses() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        let first = mlp_input(4, 0.0);
        let (x_ptr, y_ptr, _) = bind_mlp(&fixture, context.as_mut(), &first);
        // Warm-up enqueue, as TensorRT needs after a shape change.
        context.enqueue(fixture.stream.as_ref()).unwrap();
        fixture
            .device()
            .copy_to_device_sync(y_ptr, &[0; 128])
            .unwrap();

        fixture.stream.begin_capture().unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        let graph = fixture.stream.end_capture().unwrap();
        assert_eq!(
            fixture.download_f32(y_ptr, 32),
            [0.0; 32],
            "capturing does not run the work"
        );

        graph.launch(fixture.stream.as_ref()).unwrap();
        fixture.stream.synchronize().unwrap();
        assert_eq!(fixture.download_f32(y_ptr, 32), mlp_reference(&first));

        // New input bytes at the recorded address: the replay reads them.
        let second = mlp_input(4, 1.0);
        fixture
            .stream
            .copy_to_device(x_ptr, bytemuck::cast_slice(&second))
            .unwrap();
        graph.launch(fixture.stream.as_ref()).unwrap();
        assert_eq!(fixture.download_f32(y_ptr, 32), mlp_reference(&second));
        assert_ne!(mlp_reference(&first), mlp_reference(&second));

        // Rebinding the context does not change the graph: it keeps the recorded shapes.
        context.set_input_shape(0, &shape(&[2, 16])).unwrap();
        graph.launch(fixture.stream.as_ref()).unwrap();
        assert_eq!(fixture.download_f32(y_ptr, 32), mlp_reference(&second));

        fixture.device().free(x_ptr);
        assert!(matches!(
            graph.launch(fixture.stream.as_ref()),
            Err(Error::InvalidDeviceAddress { .. })
        ));
        let stats = fixture.platform.stats();
        assert_eq!(stats.enqueues, 2);
        assert_eq!(stats.graphs_instantiated, 1);
        assert_eq!(stats.graph_launches, 3);
    }
}

#[test]
fn replay_after_the_context_is_gone_fails_on_its_freed_arena() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        bind_mlp(&fixture, context.as_mut(), &mlp_input(1, 0.0));
        fixture.stream.begin_capture().unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        let graph = fixture.stream.end_capture().unwrap();
        graph.launch(fixture.stream.as_ref()).unwrap();
        drop(context);
        assert!(matches!(
            graph.launch(fixture.stream.as_ref()),
            Err(Error::InvalidDeviceAddress { .. })
        ));
    }
}

#[test]
fn capture_still_validates_bindings_without_invalidating() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        fixture.stream.begin_capture().unwrap();
        assert!(matches!(
            context.enqueue(fixture.stream.as_ref()),
            Err(Error::TensorRt {
                call: "enqueueV3",
                ..
            })
        ));
        bind_mlp(&fixture, context.as_mut(), &mlp_input(1, 0.0));
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert!(fixture.stream.end_capture().is_ok());
    }
}

#[test]
fn output_allocator_gets_the_right_calls() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("nonzero");
        let mut context = fixture.context();
        let allocator = Arc::new(RecordingAllocator::new(fixture.device()));
        let mut x = [0.0f32; 16];
        x[1] = 1.0;
        x[10] = -3.0;
        x[15] = 0.5;
        let x_ptr = fixture.upload_f32(&x);
        context.set_input_shape(0, &shape(&[2, 8])).unwrap();
        context.set_tensor_address(0, x_ptr).unwrap();
        context
            .set_output_allocator(1, Some(allocator.clone()))
            .unwrap();
        assert!(
            context.set_output_allocator(0, None).is_err(),
            "x is an input"
        );
        assert_eq!(context.tensor_shape(1).unwrap(), shape(&[-1, 2]));
        assert_eq!(context.max_output_size(1).unwrap(), 16 * 2 * 8);
        context.enqueue(fixture.stream.as_ref()).unwrap();

        let calls = allocator.reallocations.lock().clone();
        assert_eq!(calls, [(1, DevicePtr::NULL, 3 * 2 * 8, 256)]);
        assert_eq!(*allocator.shapes.lock(), [(1, shape(&[3, 2]))]);
        assert_eq!(context.tensor_shape(1).unwrap(), shape(&[3, 2]));
        let (ptr, _) = allocator.buffer.lock().unwrap();
        let mut bytes = [0u8; 48];
        fixture.device().copy_to_host_sync(&mut bytes, ptr).unwrap();
        let indices: Vec<i64> = bytemuck::cast_slice::<u8, i64>(&bytes).to_vec();
        assert_eq!(indices, [0, 1, 1, 2, 1, 7]);

        // The second call passes the memory returned the first time.
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert_eq!(allocator.reallocations.lock()[1], (1, ptr, 48, 256));
        // A new input shape forgets the produced shape.
        context.set_input_shape(0, &shape(&[1, 8])).unwrap();
        assert_eq!(context.tensor_shape(1).unwrap(), shape(&[-1, 2]));

        // An allocator that refuses fails the enqueue.
        let refusing = Arc::new(RecordingAllocator {
            refuse: true,
            ..RecordingAllocator::default()
        });
        context.set_output_allocator(1, Some(refusing)).unwrap();
        let message = tensorrt_message(
            context.enqueue(fixture.stream.as_ref()).unwrap_err(),
            "enqueueV3",
        );
        assert!(message.contains("`y`"), "{message}");
    }
}

#[test]
fn output_allocator_on_a_static_output_is_called_when_captured() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let mut context = fixture.context();
        let (_, y_ptr, _) = bind_mlp(&fixture, context.as_mut(), &mlp_input(2, 0.0));
        let allocator = Arc::new(RecordingAllocator::new(fixture.device()));
        context
            .set_output_allocator(1, Some(allocator.clone()))
            .unwrap();
        fixture.stream.begin_capture().unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        // Asked at recording: the current memory is the address set with setTensorAddress.
        assert_eq!(*allocator.reallocations.lock(), [(1, y_ptr, 64, 256)]);
        assert_eq!(*allocator.shapes.lock(), [(1, shape(&[2, 8]))]);
        let graph = fixture.stream.end_capture().unwrap();
        graph.launch(fixture.stream.as_ref()).unwrap();
        let (ptr, _) = allocator.buffer.lock().unwrap();
        assert_eq!(
            fixture.download_f32(ptr, 16),
            mlp_reference(&mlp_input(2, 0.0))
        );
    }
}

#[test]
fn data_dependent_enqueue_fails_the_capture() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("nonzero");
        let mut context = fixture.context();
        let allocator = Arc::new(RecordingAllocator::new(fixture.device()));
        let x_ptr = fixture.upload_f32(&[1.0; 8]);
        context.set_input_shape(0, &shape(&[1, 8])).unwrap();
        context.set_tensor_address(0, x_ptr).unwrap();
        context
            .set_output_allocator(1, Some(allocator.clone()))
            .unwrap();
        fixture.stream.begin_capture().unwrap();
        assert!(matches!(
            context.enqueue(fixture.stream.as_ref()),
            Err(Error::CaptureFailed { .. })
        ));
        match fixture.stream.end_capture() {
            Err(Error::CaptureFailed { reason }) => {
                assert!(reason.contains("data-dependent"), "{reason}")
            }
            Err(other) => panic!("expected CaptureFailed, got {other}"),
            Ok(_) => panic!("expected CaptureFailed"),
        }
        assert!(!fixture.stream.is_capturing());
        assert!(allocator.reallocations.lock().is_empty());
        assert_eq!(fixture.platform.stats().captures_failed, 1);
        // Without capture it runs.
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert_eq!(context.tensor_shape(1).unwrap(), shape(&[8, 2]));
    }
}

#[test]
fn weight_streaming_budget_rules() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let mlp = Fixture::new("mlp");
        assert!(matches!(
            mlp.engine.set_weight_streaming_budget(0),
            Err(Error::WeightStreamingUnsupported { .. })
        ));
        assert_eq!(
            mlp.engine.weight_streaming_scratch_memory_size().unwrap(),
            0
        );

        let fixture = Fixture::new("streaming");
        let engine = &fixture.engine;
        let allocated = || fixture.platform.sim_device().stats().allocated_bytes;
        const MIB: usize = 1 << 20;
        assert_eq!(
            engine.weight_streaming_budget().unwrap(),
            6 * MIB,
            "streaming starts off"
        );
        assert_eq!(engine.weight_streaming_automatic_budget().unwrap(), 3 * MIB);
        assert_eq!(engine.weight_streaming_scratch_memory_size().unwrap(), 0);
        assert_eq!(allocated(), 8 * MIB);

        engine.set_weight_streaming_budget(MIB).unwrap();
        assert_eq!(engine.weight_streaming_budget().unwrap(), MIB);
        assert_eq!(allocated(), 3 * MIB, "2 MiB fixed plus the 1 MiB budget");
        assert_eq!(
            engine.weight_streaming_scratch_memory_size().unwrap(),
            256 << 10
        );

        engine.set_weight_streaming_budget(100 * MIB).unwrap();
        assert_eq!(
            engine.weight_streaming_budget().unwrap(),
            6 * MIB,
            "clamped to the streamable size"
        );
        assert_eq!(allocated(), 8 * MIB);

        let context = fixture.context();
        match engine.set_weight_streaming_budget(0) {
            Err(Error::EngineInUse {
                live: 1, action, ..
            }) => assert!(action.contains("weight-streaming")),
            other => panic!("expected EngineInUse, got {other:?}"),
        }
        drop(context);
        engine.set_weight_streaming_budget(0).unwrap();
        assert_eq!(allocated(), 2 * MIB);

        // Streaming active: enqueue runs, but cannot be captured.
        let mut context = fixture.context();
        let x = mlp_input(2, 0.0);
        let (_, y_ptr, _) = {
            let x_ptr = fixture.upload_f32(&x);
            let y_ptr = fixture.device().allocate(64).unwrap();
            context.set_input_shape(0, &shape(&[2, 16])).unwrap();
            context.set_tensor_address(0, x_ptr).unwrap();
            context.set_tensor_address(1, y_ptr).unwrap();
            (x_ptr, y_ptr, ())
        };
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert_eq!(fixture.download_f32(y_ptr, 16), mlp_reference(&x));
        fixture.stream.begin_capture().unwrap();
        assert!(context.enqueue(fixture.stream.as_ref()).is_err());
        match fixture.stream.end_capture() {
            Err(Error::CaptureFailed { reason }) => {
                assert!(reason.contains("weight streaming"), "{reason}")
            }
            _ => panic!("expected CaptureFailed"),
        }
    }
}

#[test]
fn engine_state_outlives_the_engine_handle() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let Fixture {
            platform,
            engine,
            stream,
        } = fixture;
        let mut context = engine.create_context(&ContextOptions::default()).unwrap();
        drop(engine);
        let helper = Fixture {
            platform: Arc::clone(&platform),
            engine: platform.deserialize_engine(&model("two_inputs")).unwrap(),
            stream,
        };
        let x = mlp_input(1, 0.0);
        let (_, y_ptr, _) = bind_mlp(&helper, context.as_mut(), &x);
        context.enqueue(helper.stream.as_ref()).unwrap();
        assert_eq!(helper.download_f32(y_ptr, 8), mlp_reference(&x));
        let with_weights = platform.sim_device().stats().allocated_bytes;
        drop(context);
        assert_eq!(
            platform.sim_device().stats().allocated_bytes,
            with_weights - 65536 - (1 << 20),
            "the last context frees its activations and the engine's weights"
        );
    }
}

#[derive(Debug)]
struct ForeignCache;

impl RuntimeCacheBackend for ForeignCache {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn serialize(&self) -> crate::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn deserialize(&self, _blob: &[u8]) -> crate::Result<()> {
        Ok(())
    }
    fn reset(&self) -> crate::Result<()> {
        Ok(())
    }
}

#[test]
fn runtime_cache_collects_kernel_ids_per_input_shape() {
    // SAFETY: the simulation checks every address it is given (a bad one is an error, never undefined behaviour), and the buffers used here outlive the calls.
    unsafe {
        let fixture = Fixture::new("mlp");
        let cache = fixture.platform.create_runtime_cache().unwrap();
        let options = ContextOptions {
            kernel_specialization: KernelSpecialization::Eager,
            runtime_cache: Some(Arc::clone(&cache)),
            ..ContextOptions::default()
        };
        let mut context = fixture.engine.create_context(&options).unwrap();
        bind_mlp(&fixture, context.as_mut(), &mlp_input(4, 0.0));
        context.enqueue(fixture.stream.as_ref()).unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        context.set_input_shape(0, &shape(&[1, 16])).unwrap();
        context.enqueue(fixture.stream.as_ref()).unwrap();
        let sim_cache = cache.as_any().downcast_ref::<SimRuntimeCache>().unwrap();
        assert_eq!(sim_cache.kernels(), ["mlp/x=[1, 16]", "mlp/x=[4, 16]"]);

        let blob = cache.serialize().unwrap();
        let restored = SimRuntimeCache::new();
        restored.deserialize(&blob).unwrap();
        assert_eq!(restored.kernels(), sim_cache.kernels());
        assert!(restored.deserialize(b"garbage").is_err());

        // No specialization: nothing is compiled.
        let none = fixture.platform.create_runtime_cache().unwrap();
        let mut context = fixture
            .engine
            .create_context(&ContextOptions {
                kernel_specialization: KernelSpecialization::None,
                runtime_cache: Some(Arc::clone(&none)),
                ..ContextOptions::default()
            })
            .unwrap();
        bind_mlp(&fixture, context.as_mut(), &mlp_input(2, 0.0));
        context.enqueue(fixture.stream.as_ref()).unwrap();
        assert!(none
            .as_any()
            .downcast_ref::<SimRuntimeCache>()
            .unwrap()
            .kernels()
            .is_empty());

        let foreign = ContextOptions {
            runtime_cache: Some(Arc::new(ForeignCache)),
            ..ContextOptions::default()
        };
        assert!(matches!(
            fixture.engine.create_context(&foreign),
            Err(Error::InvalidConfig(_))
        ));
        assert_eq!(fixture.platform.stats().contexts_live, 2);
    }
}

#[test]
fn deserialize_refuses_garbage_and_out_of_memory() {
    let platform = SimPlatform::new(SimConfig {
        memory_bytes: 1024,
        ..SimConfig::default()
    });
    assert!(matches!(
        platform.deserialize_engine(b"ptrt\0\0\0"),
        Err(Error::InvalidPlan { .. })
    ));
    assert!(matches!(
        platform.deserialize_engine(&model("mlp")),
        Err(Error::OutOfDeviceMemory { .. })
    ));
    assert_eq!(platform.sim_device().stats().allocated_bytes, 0);
}
