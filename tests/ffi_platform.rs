//! Rung F, end to end: `TensorRtPlatform` (the real backend over the FFI wrappers) drives the
//! ABI-exact stand-in library on the host simulation's device, first through the backend
//! traits, then through the public session API; numerics are checked against a Rust reference.

mod ffi_common;
use ffi_common as common;
use ffi_common::PlanSpec;

use std::sync::Arc;

use parking_lot::Mutex;
use trt::backend::sim::{SimConfig, SimPlatform};
use trt::backend::tensorrt::TensorRtPlatform;
use trt::backend::{
    AllocationStrategy, ContextOptions, CudaGraphStrategy, DeviceBackend, DevicePtr,
    OutputAllocatorCallbacks, PlatformBackend,
};
use trt::ffi::TensorRtLibrary;
use trt::{inputs, DataType, Error, Flavor, HostTensor, Shape, TensorIoMode};

fn stand_in_platform(build: &str) -> (Arc<TensorRtPlatform>, Arc<dyn DeviceBackend>) {
    let library = TensorRtLibrary::open(common::stand_in_library(build)).unwrap();
    let device: Arc<dyn DeviceBackend> =
        SimPlatform::new(SimConfig::default()).sim_device().clone();
    (
        TensorRtPlatform::new(library, device.clone()).unwrap(),
        device,
    )
}

fn input_rows(batch: usize, seed: usize) -> Vec<f32> {
    (0..batch * 4)
        .map(|i| (((i + seed * 7) % 11) as f32 - 5.0) / 3.0)
        .collect()
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[track_caller]
fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (index, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "element {index}: {g} != {w}"
        );
    }
}

#[test]
fn engine_info_comes_from_the_library() {
    for build in ["rtx-1.7", "trt-11.4", "rtx-1.3"] {
        let (platform, _) = stand_in_platform(build);
        let spec = PlanSpec {
            nonzero_output: true,
            streamable_weights: true,
            ..PlanSpec::mlp()
        };
        let engine = platform.deserialize_engine(&spec.to_bytes()).unwrap();
        let info = engine.info();
        assert_eq!(info.name, "mlp");
        assert_eq!(info.num_profiles, 1);
        assert_eq!(info.device_memory_size, 2 * 8 * 8 * 4);
        assert_eq!(info.weights_size, spec.weight_bytes());
        assert_eq!(info.streamable_weights_size, spec.weight_bytes());
        let summary: Vec<(&str, TensorIoMode, DataType, Shape)> = info
            .tensors
            .iter()
            .map(|t| (t.name.as_str(), t.mode, t.dtype, t.shape))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "input",
                    TensorIoMode::Input,
                    DataType::F32,
                    Shape::new(&[-1, 4]).unwrap()
                ),
                (
                    "output",
                    TensorIoMode::Output,
                    DataType::F32,
                    Shape::new(&[-1, 3]).unwrap()
                ),
                (
                    "nonzero",
                    TensorIoMode::Output,
                    DataType::Int64,
                    Shape::new(&[2, -1]).unwrap()
                ),
            ]
        );
        let profile = info.tensors[0].profiles[0];
        assert_eq!(profile.max, Shape::new(&[8, 4]).unwrap());
        assert!(info.tensors[1].profiles.is_empty());
        assert_eq!(
            platform.flavor(),
            if build == "trt-11.4" {
                Flavor::Standard
            } else {
                Flavor::Rtx
            }
        );
        // Weight streaming through the trait.
        engine.set_weight_streaming_budget(64).unwrap();
        assert_eq!(engine.weight_streaming_budget().unwrap(), 64);
        assert_eq!(engine.weight_streaming_scratch_memory_size().unwrap(), 4096);
        assert_eq!(
            engine.weight_streaming_automatic_budget().unwrap(),
            spec.weight_bytes() / 2
        );
        assert_eq!(engine.serialize().unwrap(), spec.to_bytes());
    }
}

/// The session layer's callbacks, as a test double: grows one buffer and records the shape.
struct RecordingCallbacks {
    device: Arc<dyn DeviceBackend>,
    state: Mutex<Recorded>,
}

/// What the callbacks saw: the current buffer, the notified shape, how many allocations.
#[derive(Default)]
struct Recorded {
    buffer: Option<(DevicePtr, usize)>,
    shape: Option<Shape>,
    allocations: usize,
}

impl OutputAllocatorCallbacks for RecordingCallbacks {
    fn reallocate(
        &self,
        tensor: usize,
        _current: DevicePtr,
        bytes: usize,
        alignment: usize,
    ) -> Option<DevicePtr> {
        // SAFETY: every address bound here is a live simulated allocation of the size the tensor needs, alive until after the calls that use it.
        unsafe {
            assert_eq!((tensor, alignment), (2, 256));
            let mut state = self.state.lock();
            if let Some((ptr, size)) = state.buffer {
                if size >= bytes {
                    return Some(ptr);
                }
                self.device.free(ptr);
            }
            let ptr = self.device.allocate(bytes).ok()?;
            state.buffer = Some((ptr, bytes));
            state.allocations += 1;
            Some(ptr)
        }
    }

    fn notify_shape(&self, tensor: usize, shape: &Shape) {
        assert_eq!(tensor, 2);
        self.state.lock().shape = Some(*shape);
    }
}

#[test]
fn backend_traits_run_the_mlp_with_user_managed_memory_and_an_output_allocator() {
    // SAFETY: every address bound here is a live simulated allocation of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        for build in ["rtx-1.7", "trt-11.4", "rtx-1.3"] {
            let (platform, device) = stand_in_platform(build);
            let spec = PlanSpec {
                nonzero_output: true,
                ..PlanSpec::mlp()
            };
            let engine = platform.deserialize_engine(&spec.to_bytes()).unwrap();
            let options = ContextOptions {
                allocation: AllocationStrategy::UserManaged,
                ..ContextOptions::default()
            };
            let mut context = engine.create_context(&options).unwrap();
            let stream = device.create_stream().unwrap();
            let callbacks = Arc::new(RecordingCallbacks {
                device: device.clone(),
                state: Mutex::new(Recorded::default()),
            });
            context
                .set_output_allocator(2, Some(callbacks.clone()))
                .unwrap();
            context
                .set_optimization_profile(0, stream.as_ref())
                .unwrap();
            for (batch, seed) in [(5usize, 1usize), (1, 2), (8, 3)] {
                let input = input_rows(batch, seed);
                let input_ptr = device.allocate(batch * 16).unwrap();
                let output_ptr = device.allocate(batch * 12).unwrap();
                stream.copy_to_device(input_ptr, &to_bytes(&input)).unwrap();
                context
                    .set_input_shape(0, &Shape::from_extents(&[batch, 4]).unwrap())
                    .unwrap();
                let arena_bytes = context.device_memory_size_for_shapes().unwrap();
                let arena = device.allocate(arena_bytes).unwrap();
                context.set_device_memory(arena, arena_bytes).unwrap();
                context.set_tensor_address(0, input_ptr).unwrap();
                context.set_tensor_address(1, output_ptr).unwrap();
                assert_eq!(
                    context.tensor_shape(1).unwrap(),
                    Shape::from_extents(&[batch, 3]).unwrap()
                );
                assert_eq!(context.max_output_size(2).unwrap(), 2 * batch * 3 * 8);
                context.enqueue(stream.as_ref()).unwrap();
                stream.synchronize().unwrap();
                let mut output = vec![0u8; batch * 12];
                stream.copy_to_host(&mut output, output_ptr).unwrap();
                let output = from_bytes(&output);
                let expected = spec.reference(&input, batch);
                assert_close(&output, &expected);
                let positives = expected.iter().filter(|v| **v > 0.0).count();
                assert_eq!(
                    callbacks.state.lock().shape,
                    Some(Shape::from_extents(&[2, positives]).unwrap())
                );
                for ptr in [input_ptr, output_ptr, arena] {
                    device.free(ptr);
                }
            }
            if let Some((ptr, _)) = callbacks.state.lock().buffer {
                device.free(ptr);
            }
            assert!(context.tensor_shape(7).is_err());
        }
    }
}

#[test]
fn enqueue_into_a_capturing_simulated_stream_is_a_capture_failure() {
    // SAFETY: every address bound here is a live simulated allocation of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        let (platform, device) = stand_in_platform("rtx-1.7");
        let engine = platform
            .deserialize_engine(&PlanSpec::mlp().to_bytes())
            .unwrap();
        let mut context = engine.create_context(&ContextOptions::default()).unwrap();
        let stream = device.create_stream().unwrap();
        stream.begin_capture().unwrap();
        let error = context.enqueue(stream.as_ref()).unwrap_err();
        assert!(matches!(error, Error::CaptureFailed { .. }), "{error:?}");
        assert!(stream.end_capture().is_err() || !stream.is_capturing());
    }
}

#[test]
fn rtx_runtime_cache_is_made_native_by_the_first_context_that_uses_it() {
    // SAFETY: every address bound here is a live simulated allocation of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        let (platform, device) = stand_in_platform("rtx-1.7");
        let spec = PlanSpec::mlp();
        let engine = platform.deserialize_engine(&spec.to_bytes()).unwrap();
        let cache = platform.create_runtime_cache().unwrap();
        // Before any context: the blob given is kept and serialized back as is.
        cache.deserialize(b"SICACHE1mlp batch=2\n").unwrap();
        assert_eq!(cache.serialize().unwrap(), b"SICACHE1mlp batch=2\n");
        let options = ContextOptions {
            cuda_graph_strategy: CudaGraphStrategy::WholeGraphCapture,
            runtime_cache: Some(cache.clone()),
            ..ContextOptions::default()
        };
        let mut context = engine.create_context(&options).unwrap();
        let stream = device.create_stream().unwrap();
        let input = device.allocate(3 * 16).unwrap();
        let output = device.allocate(3 * 12).unwrap();
        context
            .set_input_shape(0, &Shape::new(&[3, 4]).unwrap())
            .unwrap();
        context.set_tensor_address(0, input).unwrap();
        context.set_tensor_address(1, output).unwrap();
        context.enqueue(stream.as_ref()).unwrap();
        // Now native: the pending blob was loaded, and the run added its "kernel".
        assert_eq!(
            cache.serialize().unwrap(),
            b"SICACHE1mlp batch=2\nmlp batch=3\n"
        );
        cache.reset().unwrap();
        assert_eq!(cache.serialize().unwrap(), b"SICACHE1");
        device.free(input);
        device.free(output);

        // Standard TensorRT has no runtime cache: a typed error, and RTX settings are ignored.
        let (standard, _) = stand_in_platform("trt-11.4");
        assert!(matches!(
            standard.create_runtime_cache().unwrap_err(),
            Error::NotInLibraryVersion { .. }
        ));
        let engine = standard.deserialize_engine(&spec.to_bytes()).unwrap();
        let options = ContextOptions {
            cuda_graph_strategy: CudaGraphStrategy::WholeGraphCapture,
            ..ContextOptions::default()
        };
        engine.create_context(&options).unwrap();
        // A cache of another backend is refused.
        let sim_cache = SimPlatform::new(SimConfig::default())
            .create_runtime_cache()
            .unwrap();
        let (rtx, _) = stand_in_platform("rtx-1.7");
        let engine = rtx.deserialize_engine(&spec.to_bytes()).unwrap();
        let options = ContextOptions {
            runtime_cache: Some(sim_cache),
            ..ContextOptions::default()
        };
        let error = engine.create_context(&options).err().expect("refused");
        assert!(
            matches!(&error, Error::InvalidConfig(message) if message.contains("another backend")),
            "{error}"
        );
    }
}

#[test]
fn sessions_run_the_stand_in_mlp_through_the_public_api() {
    for build in ["rtx-1.7", "trt-11.4"] {
        let (platform, _) = stand_in_platform(build);
        let runtime = trt::Runtime::with_platform(platform);
        let spec = PlanSpec::mlp();
        let engine = runtime.engine_from_bytes(&spec.to_bytes()).unwrap();
        let mut session = engine.session().build().unwrap();
        for (batch, seed) in [(1usize, 0usize), (5, 1), (8, 2), (5, 3)] {
            let data = input_rows(batch, seed);
            let x = HostTensor::from_vec(&[batch, 4], data.clone()).unwrap();
            let outputs = session.run(&inputs!["input" => &x]).unwrap();
            let y = outputs.to_host("output").unwrap();
            assert_eq!(y.shape().dims(), &[batch as i64, 3]);
            assert_close(y.as_slice::<f32>().unwrap(), &spec.reference(&data, batch));
        }
        // Bad input never reaches the library: the session layer's typed error.
        let wrong = HostTensor::from_vec(&[2, 5], vec![0.0f32; 10]).unwrap();
        let error = session.run(&inputs!["input" => &wrong]).unwrap_err();
        assert!(error.is_bad_input(), "{error}");
    }
}

/// Every call the stand-in recorded on this thread since the last take.
fn recorded(platform: &TensorRtPlatform) -> String {
    trt::ffi::stand_in::take_calls(platform.library()).unwrap()
}

#[test]
fn session_runtime_settings_reach_the_rtx_runtime_config() {
    let (platform, _) = stand_in_platform("rtx-1.7");
    let runtime = trt::Runtime::with_platform(platform.clone());
    let spec = PlanSpec::mlp();
    let engine = runtime.engine_from_bytes(&spec.to_bytes()).unwrap();
    let settings = trt::RuntimeSettings::default()
        .with_kernel_specialization(trt::KernelSpecialization::Eager);
    let mut session = engine
        .session()
        .with_runtime_settings(settings)
        .build()
        .unwrap();
    let data = input_rows(2, 0);
    let x = HostTensor::from_vec(&[2, 4], data.clone()).unwrap();
    recorded(&platform);
    let y = session
        .run(&inputs!["input" => &x])
        .unwrap()
        .to_host("output")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &spec.reference(&data, 2));
    let calls = recorded(&platform);
    for expected in [
        "ICudaEngine::createRuntimeConfig",
        "IRuntimeConfig::setExecutionContextAllocationStrategy strategy=0",
        "IRuntimeConfig::setDynamicShapesKernelSpecializationStrategy strategy=1",
        "IRuntimeConfig::setCudaGraphStrategy strategy=0",
        "ICudaEngine::createExecutionContextWithRuntimeConfig",
    ] {
        assert!(
            calls.contains(expected),
            "missing `{expected}` in:\n{calls}"
        );
    }

    // Dynamic resource allocation: sized for these shapes, set before the enqueue.
    let mut scope = trt::enable_dynamic_allocation(&mut session);
    let y = scope
        .run(&inputs!["input" => &x])
        .unwrap()
        .to_host("output")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &spec.reference(&data, 2));
    let calls = recorded(&platform);
    let order: Vec<usize> = [
        "IRuntimeConfig::setExecutionContextAllocationStrategy strategy=2",
        "IExecutionContext::updateDeviceMemorySizeForShapes",
        "IExecutionContext::setDeviceMemoryV2",
        "IExecutionContext::enqueueV3",
    ]
    .iter()
    .map(|call| {
        calls
            .find(call)
            .unwrap_or_else(|| panic!("missing `{call}` in:\n{calls}"))
    })
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{calls}");
}

#[test]
fn standard_tensorrt_refuses_the_rtx_graph_strategy_and_ignores_other_settings() {
    let (platform, _) = stand_in_platform("trt-11.4");
    let runtime = trt::Runtime::with_platform(platform.clone());
    let spec = PlanSpec::mlp();
    let mut engine = runtime.engine_from_bytes(&spec.to_bytes()).unwrap();
    let graphs = trt::RuntimeSettings::default()
        .with_cuda_graph_strategy(trt::CudaGraphStrategy::WholeGraphCapture);
    let error = engine.set_runtime_settings(graphs).unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnsupportedSetting {
                flavor: Flavor::Standard,
                ..
            }
        ),
        "{error}"
    );
    let eager = trt::RuntimeSettings::default()
        .with_kernel_specialization(trt::KernelSpecialization::Eager);
    engine.set_runtime_settings(eager).unwrap();
    let mut session = engine.session().build().unwrap();
    let data = input_rows(3, 1);
    let x = HostTensor::from_vec(&[3, 4], data.clone()).unwrap();
    recorded(&platform);
    let y = session
        .run(&inputs!["input" => &x])
        .unwrap()
        .to_host("output")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &spec.reference(&data, 3));
    let calls = recorded(&platform);
    assert!(
        calls.contains("ICudaEngine::createExecutionContext strategy=0"),
        "{calls}"
    );
    assert!(
        !calls.contains("IRuntimeConfig"),
        "no RTX call on standard TensorRT:\n{calls}"
    );
}
