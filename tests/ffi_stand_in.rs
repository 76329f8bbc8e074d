//! Rung F: every wrapped TensorRT method lands on the right C++ method with the right arguments.
//!
//! The stand-in library (`stand-in/`) is compiled with g++ from NVIDIA's headers of one family
//! (TensorRT-RTX 1.7, 1.5, 1.3 and TensorRT 11.4), so its vtables are laid out exactly like the
//! real library's. It records every call with its arguments (per thread) and drives the
//! callbacks: log messages through our `ILogger`, `reallocateOutputAsync` and `notifyShape`
//! through our `IOutputAllocator`. Each test below runs on every build where the method exists
//! and asserts the recorded call, its arguments and the value that came back.

mod ffi_common;
use ffi_common as common;
use ffi_common::PlanSpec;

use std::ffi::CStr;
use std::sync::Arc;

use trt::backend::sim::{SimConfig, SimPlatform};
use trt::backend::{AllocationStrategy, CudaGraphStrategy, DeviceBackend, KernelSpecialization};
use trt::ffi::{
    Engine, ExecutionContext, GrowingOutputAllocator, Runtime, Severity, TensorRtLibrary,
};
use trt::{DataType, Error, Flavor, Shape, TensorIoMode};

const ALL_BUILDS: [&str; 4] = ["rtx-1.7", "rtx-1.5", "rtx-1.3", "trt-11.4"];
const RTX_BUILDS: [&str; 3] = ["rtx-1.7", "rtx-1.5", "rtx-1.3"];

fn library(build: &str) -> Arc<TensorRtLibrary> {
    TensorRtLibrary::open(common::stand_in_library(build))
        .unwrap_or_else(|error| panic!("{build}: {error}"))
}

/// The calls this thread made into `library` since the last take.
fn calls(library: &TensorRtLibrary) -> Vec<String> {
    trt::ffi::stand_in::take_calls(library)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that `expected` appear in `calls`, in this order (other calls may sit between).
#[track_caller]
fn assert_calls_in_order(calls: &[String], expected: &[&str]) {
    let mut position = 0;
    for wanted in expected {
        match calls[position..]
            .iter()
            .position(|call| call.starts_with(wanted))
        {
            Some(offset) => position += offset + 1,
            None => panic!(
                "call {wanted:?} not found in order in:\n{}",
                calls.join("\n")
            ),
        }
    }
    assert!(
        !calls
            .iter()
            .any(|call| call.starts_with("UNEXPECTED") || call.starts_with("ERROR")),
        "the stand-in saw an unexpected call:\n{}",
        calls.join("\n")
    );
}

struct Loaded {
    library: Arc<TensorRtLibrary>,
    runtime: Runtime,
    engine: Engine,
    spec: PlanSpec,
}

fn load(build: &str, spec: PlanSpec) -> Loaded {
    let library = library(build);
    let runtime = Runtime::new(&library).unwrap();
    let engine = runtime.deserialize_engine(&spec.to_bytes()).unwrap();
    calls(&library); // start each test's assertions from a clean record
    Loaded {
        library,
        runtime,
        engine,
        spec,
    }
}

fn name(text: &'static CStr) -> &'static CStr {
    text
}

fn shape(dims: &[i64]) -> Shape {
    Shape::new(dims).unwrap()
}

#[test]
fn versions_flavors_and_unsupported_versions() {
    for (build, version, flavor) in [
        ("rtx-1.7", 10701, Flavor::Rtx),
        ("rtx-1.5", 10500, Flavor::Rtx),
        ("rtx-1.3", 10300, Flavor::Rtx),
        ("trt-11.4", 110400, Flavor::Standard),
    ] {
        let library = library(build);
        assert_eq!(library.version(), version, "{build}");
        assert_eq!(library.flavor(), flavor, "{build}");
    }
    let error =
        TensorRtLibrary::open(common::stand_in_library("trt-12.0-unsupported")).unwrap_err();
    let Error::UnsupportedVersion {
        version,
        supported,
        flavor,
    } = &error
    else {
        panic!("expected UnsupportedVersion, got {error:?}");
    };
    assert_eq!(version, "12.0.0");
    assert_eq!(*flavor, Flavor::Standard);
    assert!(
        supported.contains("10.x") && supported.contains("11.x") && supported.contains("RTX 1.3"),
        "{error}"
    );
}

#[test]
fn runtime_creation_passes_our_logger_in_both_layouts_and_deletes_the_runtime() {
    for build in ALL_BUILDS {
        let library = library(build);
        let mark = library.logger().mark();
        let runtime = Runtime::new(&library).unwrap();
        let messages = library.logger().messages_since(mark);
        // The stand-in logs through `ILogger::log`, slot 4 (versioned) or 0 (RTX 1.3).
        assert!(
            messages
                .iter()
                .any(|m| m.severity == Severity::Info
                    && m.text.starts_with("stand-in runtime created")),
            "{build}: {messages:?}"
        );
        drop(runtime);
        let records = calls(&library);
        assert_calls_in_order(
            &records,
            &[
                &format!("createInferRuntime_INTERNAL version={}", library.version()),
                "delete IRuntime#",
            ],
        );
        // Versioned loggers answer getInterfaceInfo (a 16-byte struct returned in RAX:RDX) and
        // getAPILanguage (kCPP); the RTX 1.3 logger has no such slots.
        let asked = records
            .iter()
            .any(|call| call == "ILogger::getInterfaceInfo -> ILogger 1.0 language=0");
        assert_eq!(asked, build != "rtx-1.3", "{build}: {records:?}");
    }
}

#[test]
fn runtime_max_threads_round_trip_and_refusal_quotes_the_logger() {
    for build in ALL_BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        runtime.set_max_threads(3).unwrap();
        assert_eq!(runtime.max_threads().unwrap(), 3);
        let error = runtime.set_max_threads(0).unwrap_err();
        assert!(
            matches!(&error, Error::TensorRt { call: "IRuntime::setMaxThreads", message } if message.contains("0 is not a thread count")),
            "{build}: {error:?}"
        );
        assert_calls_in_order(
            &calls(&library),
            &[
                "IRuntime::setMaxThreads maxThreads=3",
                "IRuntime::getMaxThreads",
                "IRuntime::setMaxThreads maxThreads=0",
            ],
        );
    }
}

#[test]
fn deserialize_passes_the_bytes_and_bad_plans_are_typed_errors() {
    for build in ALL_BUILDS {
        let library = library(build);
        let runtime = Runtime::new(&library).unwrap();
        let plan = PlanSpec::mlp().to_bytes();
        let engine = runtime.deserialize_engine(&plan).unwrap();
        drop(engine);
        assert_calls_in_order(
            &calls(&library),
            &[
                &format!("IRuntime::deserializeCudaEngine size={}", plan.len()),
                "new ICudaEngine#",
                "delete ICudaEngine#",
            ],
        );
        let bad_cases: [(&str, Vec<u8>, &str); 4] = [
            (
                "garbage",
                b"not a plan at all".to_vec(),
                "magic tag does not match",
            ),
            (
                "truncated",
                plan[..plan.len() - 9].to_vec(),
                "plan truncated",
            ),
            ("empty", Vec::new(), "magic tag"),
            (
                "wrong flavor",
                PlanSpec {
                    target: if library.flavor() == Flavor::Rtx {
                        common::Target::Standard
                    } else {
                        common::Target::Rtx
                    },
                    ..PlanSpec::mlp()
                }
                .to_bytes(),
                "cannot run on",
            ),
        ];
        for (case, bytes, quoted) in bad_cases {
            let error = runtime.deserialize_engine(&bytes).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidPlan { reason, .. } if reason.contains(quoted)),
                "{build} {case}: {error:?}"
            );
        }
    }
}

#[test]
fn engine_io_enumeration_shapes_types_modes_and_formats() {
    for build in ALL_BUILDS {
        let spec = PlanSpec {
            nonzero_output: true,
            ..PlanSpec::mlp()
        };
        let Loaded {
            library, engine, ..
        } = load(build, spec);
        assert_eq!(engine.num_io_tensors().unwrap(), 3);
        let names: Vec<String> = (0..3)
            .map(|i| engine.io_tensor_name(i).unwrap().into_string().unwrap())
            .collect();
        assert_eq!(names, ["input", "output", "nonzero"]);
        assert!(engine.io_tensor_name(3).is_err());
        assert_eq!(
            engine.tensor_shape(name(c"input")).unwrap(),
            shape(&[-1, 4])
        );
        assert_eq!(
            engine.tensor_shape(name(c"nonzero")).unwrap(),
            shape(&[2, -1])
        );
        assert_eq!(
            engine.tensor_data_type(name(c"output")).unwrap(),
            DataType::F32
        );
        assert_eq!(
            engine.tensor_data_type(name(c"nonzero")).unwrap(),
            DataType::Int64
        );
        assert_eq!(
            engine.tensor_io_mode(name(c"input")).unwrap(),
            TensorIoMode::Input
        );
        assert_eq!(
            engine.tensor_io_mode(name(c"nonzero")).unwrap(),
            TensorIoMode::Output
        );
        assert_eq!(engine.tensor_format(name(c"output")).unwrap(), 0);
        assert_eq!(engine.name().unwrap(), "mlp");
        // An unknown tensor: TensorRT answers nbDims = -1, which is a typed error quoting nothing
        // invented (the stand-in also logs, like TensorRT).
        let error = engine.tensor_shape(name(c"bogus")).unwrap_err();
        assert!(
            matches!(
                error,
                Error::TensorRt {
                    call: "ICudaEngine::getTensorShape",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_calls_in_order(
            &calls(&library),
            &[
                "ICudaEngine::getNbIOTensors",
                "ICudaEngine::getIOTensorName index=0",
                "ICudaEngine::getIOTensorName index=1",
                "ICudaEngine::getIOTensorName index=2",
                "ICudaEngine::getIOTensorName index=3",
                "ICudaEngine::getTensorShape name=input",
                "ICudaEngine::getTensorShape name=nonzero",
                "ICudaEngine::getTensorDataType name=output",
                "ICudaEngine::getTensorDataType name=nonzero",
                "ICudaEngine::getTensorIOMode name=input",
                "ICudaEngine::getTensorIOMode name=nonzero",
                "ICudaEngine::getTensorFormat name=output",
                "ICudaEngine::getName",
                "ICudaEngine::getTensorShape name=bogus",
            ],
        );
    }
}

#[test]
fn engine_profiles_memory_sizes_and_weights() {
    for build in ALL_BUILDS {
        let Loaded {
            library,
            engine,
            spec,
            ..
        } = load(build, PlanSpec::mlp());
        assert_eq!(engine.num_optimization_profiles().unwrap(), 1);
        let profile = engine.profile_shapes(name(c"input"), 0).unwrap();
        assert_eq!(
            (profile.min, profile.opt, profile.max),
            (shape(&[1, 4]), shape(&[4, 4]), shape(&[8, 4]))
        );
        assert!(engine.profile_shapes(name(c"input"), 1).is_err());
        // 2 activation buffers of max batch 8 x max width 8 floats.
        assert_eq!(engine.device_memory_size().unwrap(), 2 * 8 * 8 * 4);
        assert_eq!(
            engine.device_memory_size_for_profile(0).unwrap(),
            2 * 8 * 8 * 4
        );
        let error = engine.device_memory_size_for_profile(1).unwrap_err();
        assert!(
            matches!(&error, Error::TensorRt { message, .. } if message.contains("no profile 1")),
            "{error:?}"
        );
        assert_eq!(
            engine.total_weights_size().unwrap(),
            Some(spec.weight_bytes())
        );
        assert_eq!(engine.streamable_weights_size().unwrap(), 0);
        assert_calls_in_order(
            &calls(&library),
            &[
                "ICudaEngine::getNbOptimizationProfiles",
                "ICudaEngine::getProfileShape name=input profile=0 select=0",
                "ICudaEngine::getProfileShape name=input profile=0 select=1",
                "ICudaEngine::getProfileShape name=input profile=0 select=2",
                "ICudaEngine::getProfileShape name=input profile=1 select=0",
                "ICudaEngine::getDeviceMemorySizeV2",
                "ICudaEngine::getDeviceMemorySizeForProfileV2 profile=0",
                "ICudaEngine::getDeviceMemorySizeForProfileV2 profile=1",
                "ICudaEngine::getEngineStat stat=0",
                "ICudaEngine::getStreamableWeightsSize",
            ],
        );
    }
}

#[test]
fn weight_streaming_budget_calls_and_refusal_while_contexts_live() {
    for build in ALL_BUILDS {
        let spec = PlanSpec {
            streamable_weights: true,
            ..PlanSpec::mlp()
        };
        let Loaded {
            library,
            engine,
            spec,
            ..
        } = load(build, spec);
        let streamable = spec.weight_bytes();
        assert_eq!(engine.streamable_weights_size().unwrap(), streamable);
        assert_eq!(engine.weight_streaming_budget().unwrap(), streamable);
        assert_eq!(
            engine.weight_streaming_automatic_budget().unwrap(),
            streamable / 2
        );
        assert_eq!(engine.weight_streaming_scratch_memory_size().unwrap(), 0);
        engine.set_weight_streaming_budget(100).unwrap();
        assert_eq!(engine.weight_streaming_budget().unwrap(), 100);
        assert_eq!(engine.weight_streaming_scratch_memory_size().unwrap(), 4096);
        let context = engine
            .create_execution_context(AllocationStrategy::Static)
            .unwrap();
        let error = engine.set_weight_streaming_budget(0).unwrap_err();
        assert!(
            matches!(&error, Error::TensorRt { call: "ICudaEngine::setWeightStreamingBudgetV2", message } if message.contains("execution context(s) exist")),
            "{build}: {error:?}"
        );
        drop(context);
        engine.set_weight_streaming_budget(0).unwrap();
        assert_calls_in_order(
            &calls(&library),
            &[
                "ICudaEngine::getStreamableWeightsSize",
                "ICudaEngine::getWeightStreamingBudgetV2",
                "ICudaEngine::getWeightStreamingAutomaticBudget",
                "ICudaEngine::getWeightStreamingScratchMemorySize",
                "ICudaEngine::setWeightStreamingBudgetV2 budget=100",
                "ICudaEngine::getWeightStreamingBudgetV2",
                "ICudaEngine::getWeightStreamingScratchMemorySize",
                "ICudaEngine::createExecutionContext strategy=0",
                "ICudaEngine::setWeightStreamingBudgetV2 budget=0",
                "delete IExecutionContext#",
                "ICudaEngine::setWeightStreamingBudgetV2 budget=0",
            ],
        );
    }
}

#[test]
fn serialize_copies_the_host_memory_then_deletes_it() {
    for build in ALL_BUILDS {
        let Loaded {
            library,
            engine,
            spec,
            ..
        } = load(build, PlanSpec::mlp());
        assert_eq!(engine.serialize().unwrap(), spec.to_bytes());
        assert_calls_in_order(
            &calls(&library),
            &[
                "ICudaEngine::serialize",
                "new IHostMemory#",
                "IHostMemory::data",
                "IHostMemory::size",
                "delete IHostMemory#",
            ],
        );
    }
}

/// Runs the MLP on `batch` rows through a context, on memory of the host simulation.
fn run_mlp(
    context: &mut ExecutionContext,
    device: &Arc<dyn DeviceBackend>,
    spec: &PlanSpec,
    batch: usize,
    stream: u64,
) -> Vec<f32> {
    // SAFETY: every address bound here is a live simulated allocation (real host memory) of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        let input: Vec<f32> = (0..batch * 4).map(|i| (i as f32 * 0.37).sin()).collect();
        let input_bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let input_ptr = device.allocate(input_bytes.len()).unwrap();
        let output_ptr = device.allocate(batch * 3 * 4).unwrap();
        device.copy_to_device_sync(input_ptr, &input_bytes).unwrap();
        context
            .set_input_shape(c"input", &shape(&[batch as i64, 4]))
            .unwrap();
        context.set_tensor_address(c"input", input_ptr.0).unwrap();
        context.set_tensor_address(c"output", output_ptr.0).unwrap();
        context.enqueue_v3(stream).unwrap();
        let mut output_bytes = vec![0u8; batch * 3 * 4];
        device
            .copy_to_host_sync(&mut output_bytes, output_ptr)
            .unwrap();
        device.free(input_ptr);
        device.free(output_ptr);
        let output: Vec<f32> = output_bytes
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let expected = spec.reference(&input, batch);
        for (got, want) in output.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-5, "{got} != {want}");
        }
        output
    }
}

fn sim_device() -> Arc<dyn DeviceBackend> {
    SimPlatform::new(SimConfig::default()).sim_device().clone()
}

#[test]
fn context_shapes_addresses_enqueue_and_numerics() {
    let device = sim_device();
    for build in ALL_BUILDS {
        let Loaded {
            library,
            engine,
            spec,
            ..
        } = load(build, PlanSpec::mlp());
        let mut context = engine
            .create_execution_context(AllocationStrategy::Static)
            .unwrap();
        assert_eq!(context.tensor_shape(c"output").unwrap(), shape(&[-1, 3]));
        run_mlp(&mut context, &device, &spec, 2, 0x5eed);
        // getTensorShape returns Dims64 through the hidden pointer: the values must survive.
        assert_eq!(context.tensor_shape(c"output").unwrap(), shape(&[2, 3]));
        assert_eq!(context.tensor_shape(c"input").unwrap(), shape(&[2, 4]));
        let error = context
            .set_input_shape(c"input", &shape(&[9, 4]))
            .unwrap_err();
        assert!(
            matches!(&error, Error::TensorRt { call: "IExecutionContext::setInputShape", message } if message.contains("outside profile 0")),
            "{error:?}"
        );
        let error = context.set_tensor_address(c"bogus", 0x1000).unwrap_err();
        assert!(
            matches!(
                &error,
                Error::TensorRt {
                    call: "IExecutionContext::setTensorAddress",
                    ..
                }
            ),
            "{error:?}"
        );
        let records = calls(&library);
        assert_calls_in_order(
            &records,
            &[
                "ICudaEngine::createExecutionContext strategy=0",
                "new IExecutionContext#",
                "IExecutionContext::getTensorShape name=output",
                "IExecutionContext::setInputShape name=input dims=[2,4]",
                "IExecutionContext::setTensorAddress name=input address=0x",
                "IExecutionContext::setTensorAddress name=output address=0x",
                "IExecutionContext::enqueueV3 stream=0x5eed",
                "IExecutionContext::getTensorShape name=output",
                "IExecutionContext::getTensorShape name=input",
                "IExecutionContext::setInputShape name=input dims=[9,4]",
                "IExecutionContext::setTensorAddress name=bogus address=0x1000",
            ],
        );
    }
}

#[test]
fn context_profile_cache_limit_and_user_managed_memory() {
    // SAFETY: every address bound here is a live simulated allocation (real host memory) of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        let device = sim_device();
        for build in ALL_BUILDS {
            let Loaded {
                library,
                engine,
                spec,
                ..
            } = load(build, PlanSpec::mlp());
            let mut context = engine
                .create_execution_context(AllocationStrategy::UserManaged)
                .unwrap();
            context.set_optimization_profile_async(0, 0x77).unwrap();
            assert_eq!(context.optimization_profile().unwrap(), 0);
            let error = context.set_optimization_profile_async(1, 0x77).unwrap_err();
            assert!(
                matches!(&error, Error::TensorRt { message, .. } if message.contains("profile 1 does not exist")),
                "{error:?}"
            );
            context.set_persistent_cache_limit(1 << 20).unwrap();
            assert_eq!(context.persistent_cache_limit().unwrap(), 1 << 20);
            context.set_input_shape(c"input", &shape(&[3, 4])).unwrap();
            let needed = context.update_device_memory_size_for_shapes().unwrap();
            assert_eq!(needed, 2 * 3 * 8 * 4);
            let arena = device.allocate(needed).unwrap();
            context.set_device_memory_v2(arena.0, needed).unwrap();
            run_mlp(&mut context, &device, &spec, 3, 0x77);
            device.free(arena);
            let records = calls(&library);
            assert_calls_in_order(
                &records,
                &[
                    "ICudaEngine::createExecutionContext strategy=2",
                    "IExecutionContext::setOptimizationProfileAsync profile=0 stream=0x77",
                    "IExecutionContext::getOptimizationProfile",
                    "IExecutionContext::setOptimizationProfileAsync profile=1",
                    "IExecutionContext::setPersistentCacheLimit size=1048576",
                    "IExecutionContext::getPersistentCacheLimit",
                    "IExecutionContext::updateDeviceMemorySizeForShapes",
                    &format!(
                        "IExecutionContext::setDeviceMemoryV2 memory={:#x} size={needed}",
                        arena.0
                    ),
                    "IExecutionContext::enqueueV3 stream=0x77",
                ],
            );
            // A void method that fails reports the error TensorRT logged on this thread.
            let mut static_context = engine
                .create_execution_context(AllocationStrategy::Static)
                .unwrap();
            let error = static_context.set_device_memory_v2(0x1000, 64).unwrap_err();
            assert!(
                matches!(&error, Error::TensorRt { call: "IExecutionContext::setDeviceMemoryV2", message } if message.contains("kUSER_MANAGED")),
                "{error:?}"
            );
            // user-managed memory that is missing fails the enqueue with TensorRT's message.
            let mut bare = engine
                .create_execution_context(AllocationStrategy::UserManaged)
                .unwrap();
            bare.set_input_shape(c"input", &shape(&[1, 4])).unwrap();
            bare.set_tensor_address(c"input", 0x1000).unwrap();
            bare.set_tensor_address(c"output", 0x2000).unwrap();
            let error = bare.enqueue_v3(0).unwrap_err();
            assert!(
                matches!(&error, Error::TensorRt { call: "IExecutionContext::enqueueV3", message } if message.contains("setDeviceMemoryV2")),
                "{error:?}"
            );
            calls(&library);
        }
    }
}

#[test]
fn is_stream_capturable_exists_on_rtx_1_5_and_later_only() {
    for build in ALL_BUILDS {
        let Loaded {
            library, engine, ..
        } = load(build, PlanSpec::mlp());
        let context = engine
            .create_execution_context(AllocationStrategy::Static)
            .unwrap();
        let result = context.is_stream_capturable(0x42);
        if build == "rtx-1.7" || build == "rtx-1.5" {
            assert!(result.unwrap());
            assert_calls_in_order(
                &calls(&library),
                &["IExecutionContext::isStreamCapturable stream=0x42"],
            );
        } else {
            let error = result.unwrap_err();
            assert!(
                matches!(
                    &error,
                    Error::NotInLibraryVersion {
                        call: "IExecutionContext::isStreamCapturable",
                        ..
                    }
                ),
                "{build}: {error:?}"
            );
        }
    }
}

#[test]
fn output_allocator_grows_reuses_and_records_the_notified_shape() {
    // SAFETY: every address bound here is a live simulated allocation (real host memory) of the size the tensor needs, alive until after the calls that use it.
    unsafe {
        let device = sim_device();
        for build in ALL_BUILDS {
            let spec = PlanSpec {
                nonzero_output: true,
                ..PlanSpec::mlp()
            };
            let Loaded {
                library,
                engine,
                spec,
                ..
            } = load(build, spec);
            let mut context = engine
                .create_execution_context(AllocationStrategy::Static)
                .unwrap();
            let allocator = Arc::new(GrowingOutputAllocator::new(device.clone()));
            context
                .set_output_allocator(c"nonzero", Some(allocator.clone()))
                .unwrap();
            context.set_input_shape(c"input", &shape(&[2, 4])).unwrap();
            assert_eq!(context.max_output_size(c"nonzero").unwrap(), 2 * 2 * 3 * 8);

            let mut expected_shapes = Vec::new();
            let mut sizes = Vec::new();
            for batch in [2usize, 2, 8] {
                let output = run_mlp(&mut context, &device, &spec, batch, 0x9);
                let positive: Vec<(i64, i64)> = output
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, _)| ((i / 3) as i64, (i % 3) as i64))
                    .collect();
                let count = positive.len() as i64;
                assert_eq!(allocator.shape(), Some(shape(&[2, count])), "{build}");
                assert_eq!(
                    context.tensor_shape(c"nonzero").unwrap(),
                    shape(&[2, count])
                );
                let (ptr, size) = allocator.buffer().unwrap();
                let mut bytes = vec![0u8; (2 * count * 8) as usize];
                device.copy_to_host_sync(&mut bytes, ptr).unwrap();
                let indices: Vec<i64> = bytes
                    .chunks(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                let (rows, columns) = indices.split_at(count as usize);
                let got: Vec<(i64, i64)> =
                    rows.iter().copied().zip(columns.iter().copied()).collect();
                assert_eq!(got, positive, "{build}");
                expected_shapes.push(count);
                sizes.push(size);
            }
            // Same size twice: reused; bigger: grown (unless the first buffer was already enough).
            let grew = (expected_shapes[2] * 16) as usize > sizes[0];
            assert_eq!(allocator.allocations(), if grew { 2 } else { 1 }, "{build}");

            let records = calls(&library);
            let first = expected_shapes[0];
            assert_calls_in_order(
            &records,
            &[
                "IExecutionContext::setOutputAllocator name=nonzero allocator=set",
                "IOutputAllocator::getInterfaceInfo -> IOutputAllocator 1.0 language=0",
                "IExecutionContext::getMaxOutputSize name=nonzero",
                "IExecutionContext::enqueueV3",
                &format!("IOutputAllocator::reallocateOutputAsync name=nonzero size={} alignment=256 -> memory", first * 16),
                &format!("IOutputAllocator::notifyShape name=nonzero dims=[2,{first}]"),
                "IExecutionContext::enqueueV3",
                "IExecutionContext::enqueueV3",
            ],
        );

            // Detached: the data-dependent output cannot be produced; TensorRT says why.
            context.set_output_allocator(c"nonzero", None).unwrap();
            let error = {
                context.set_input_shape(c"input", &shape(&[1, 4])).unwrap();
                context.enqueue_v3(0)
            }
            .unwrap_err();
            assert!(
                matches!(&error, Error::TensorRt { message, .. } if message.contains("needs an output allocator")),
                "{error:?}"
            );
            assert_calls_in_order(
                &calls(&library),
                &["IExecutionContext::setOutputAllocator name=nonzero allocator=null"],
            );
        }
    }
}

#[test]
fn runtime_config_strategy_and_context_creation() {
    for build in ALL_BUILDS {
        let Loaded {
            library, engine, ..
        } = load(build, PlanSpec::mlp());
        let config = Arc::new(engine.create_runtime_config().unwrap());
        config
            .set_allocation_strategy(AllocationStrategy::UserManaged)
            .unwrap();
        assert_eq!(
            config.allocation_strategy().unwrap(),
            AllocationStrategy::UserManaged
        );
        let context = engine
            .create_execution_context_with_config(&config)
            .unwrap();
        drop(config); // the context keeps it alive
        drop(context);
        assert_calls_in_order(
            &calls(&library),
            &[
                "ICudaEngine::createRuntimeConfig -> IRuntimeConfig#",
                "IRuntimeConfig::setExecutionContextAllocationStrategy strategy=2",
                "IRuntimeConfig::getExecutionContextAllocationStrategy",
                "ICudaEngine::createExecutionContextWithRuntimeConfig config=IRuntimeConfig#",
                "new IExecutionContext#",
                "delete IExecutionContext#",
                "delete IRuntimeConfig#",
            ],
        );
    }
}

#[test]
fn rtx_runtime_config_strategies_and_runtime_cache() {
    let device = sim_device();
    for build in RTX_BUILDS {
        let Loaded {
            library,
            engine,
            spec,
            ..
        } = load(build, PlanSpec::mlp());
        let config = Arc::new(engine.create_runtime_config().unwrap());
        config
            .set_kernel_specialization(KernelSpecialization::Eager)
            .unwrap();
        assert_eq!(
            config.kernel_specialization().unwrap(),
            KernelSpecialization::Eager
        );
        config
            .set_cuda_graph_strategy(CudaGraphStrategy::WholeGraphCapture)
            .unwrap();
        assert_eq!(
            config.cuda_graph_strategy().unwrap(),
            CudaGraphStrategy::WholeGraphCapture
        );
        let cache = config.create_runtime_cache().unwrap();
        assert_eq!(cache.serialize().unwrap(), b"SICACHE1");
        config.set_runtime_cache(&cache).unwrap();
        assert!(config.holds_runtime_cache(&cache).unwrap());
        let mut context = engine
            .create_execution_context_with_config(&config)
            .unwrap();
        run_mlp(&mut context, &device, &spec, 5, 0);
        let blob = cache.serialize().unwrap();
        assert_eq!(blob, b"SICACHE1mlp batch=5\n");
        cache.reset().unwrap();
        assert_eq!(cache.serialize().unwrap(), b"SICACHE1");
        cache.deserialize(&blob).unwrap();
        assert_eq!(cache.serialize().unwrap(), blob);
        let error = cache.deserialize(b"junk").unwrap_err();
        assert!(
            matches!(&error, Error::TensorRt { call: "IRuntimeCache::deserialize", message } if message.contains("bad magic")),
            "{error:?}"
        );
        drop(context);
        drop(config);
        drop(cache);
        assert_calls_in_order(
            &calls(&library),
            &[
                "IRuntimeConfig::setDynamicShapesKernelSpecializationStrategy strategy=1",
                "IRuntimeConfig::getDynamicShapesKernelSpecializationStrategy",
                "IRuntimeConfig::setCudaGraphStrategy strategy=1",
                "IRuntimeConfig::getCudaGraphStrategy",
                "IRuntimeConfig::createRuntimeCache -> IRuntimeCache#",
                "IRuntimeCache::serialize entries=0",
                "delete IHostMemory#",
                "IRuntimeConfig::setRuntimeCache cache=IRuntimeCache#",
                "IRuntimeConfig::getRuntimeCache",
                "ICudaEngine::createExecutionContextWithRuntimeConfig config=IRuntimeConfig#",
                "IExecutionContext::enqueueV3",
                "IRuntimeCache::serialize entries=1",
                "IRuntimeCache::reset",
                "IRuntimeCache::serialize entries=0",
                "IRuntimeCache::deserialize size=",
                "IRuntimeCache::serialize entries=1",
                "IRuntimeCache::deserialize size=4",
                "delete IExecutionContext#",
                "delete IRuntimeConfig#",
                "delete IRuntimeCache#",
            ],
        );
    }
}

#[test]
fn standard_trt_has_no_runtime_cache_or_rtx_strategies() {
    let Loaded { engine, .. } = load("trt-11.4", PlanSpec::mlp());
    let config = engine.create_runtime_config().unwrap();
    for error in [
        config.create_runtime_cache().map(|_| ()).unwrap_err(),
        config
            .set_cuda_graph_strategy(CudaGraphStrategy::WholeGraphCapture)
            .unwrap_err(),
        config
            .set_kernel_specialization(KernelSpecialization::Eager)
            .unwrap_err(),
    ] {
        assert!(
            matches!(&error, Error::NotInLibraryVersion { library, .. } if library == "TensorRT 11.4.0"),
            "{error:?}"
        );
    }
}

#[test]
fn objects_are_deleted_contexts_first_then_engine_then_runtime() {
    for build in ALL_BUILDS {
        let Loaded {
            library,
            runtime,
            engine,
            ..
        } = load(build, PlanSpec::mlp());
        let config = Arc::new(engine.create_runtime_config().unwrap());
        let first = engine
            .create_execution_context(AllocationStrategy::Static)
            .unwrap();
        let second = engine
            .create_execution_context_with_config(&config)
            .unwrap();
        // Drop the handles in the "wrong" order: ownership keeps the C++ order right.
        drop(runtime);
        drop(engine);
        drop(config);
        assert!(calls(&library)
            .iter()
            .all(|call| !call.starts_with("delete")));
        drop(first);
        drop(second);
        let records = calls(&library);
        assert_calls_in_order(
            &records,
            &[
                "delete IExecutionContext#",
                "delete IExecutionContext#",
                "delete IRuntimeConfig#",
                "delete ICudaEngine#",
                "delete IRuntime#",
            ],
        );
    }
}
