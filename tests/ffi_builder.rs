//! Rung L: the real TensorRT-RTX 1.7.1 builder (from the pip wheel) builds a tiny network into
//! a serialized plan on a machine without a GPU, through the builder subset of
//! `trt::ffi::builder`; deserializing that plan there fails with a typed error quoting
//! TensorRT's CUDA message. The lean and dispatch libraries have no builder: a typed
//! `MissingSymbol` error, no crash.
//!
//! The built plan is saved as `target/trt-fixtures/rtx-tiny.plan` (input `input` f32 [-1, 8],
//! profile min [1, 8], opt [4, 8], max [8, 8]; output `output` = relu(input)) for a later run
//! on a GPU.

mod ffi_common;
use ffi_common as common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use trt::ffi::builder::{ActivationType, Builder, CREATE_BUILDER_SYMBOL};
use trt::ffi::{ProfileSelector, Runtime, Severity, TensorRtLibrary};
use trt::{DataType, Error, Shape};

fn wheel_library(folder: &str, file: &str) -> PathBuf {
    let path = common::site_packages().join(folder).join(file);
    assert!(
        path.is_file(),
        "{} is missing from the unzipped wheel",
        path.display()
    );
    path
}

fn rtx() -> Arc<TensorRtLibrary> {
    TensorRtLibrary::open(wheel_library("tensorrt_rtx_libs", "libtensorrt_rtx.so.1"))
        .expect("the RTX library loads")
}

fn shape(dims: &[i64]) -> Shape {
    Shape::new(dims).unwrap()
}

/// Builds the tiny dynamic-batch ReLU network into a plan, checking every bound call on the way.
fn build_tiny_plan(builder: &Builder) -> Vec<u8> {
    let network = builder.create_network().expect("createNetworkV2");
    let input = network
        .add_input("input", DataType::F32, shape(&[-1, 8]))
        .expect("addInput");
    // `Dims const&` went in as a pointer to our `Dims64`: TensorRT read it back intact.
    assert_eq!(input.dimensions().unwrap(), shape(&[-1, 8]));
    assert_eq!(input.name().unwrap(), "input");
    let relu = network
        .add_activation(input, ActivationType::Relu)
        .expect("addActivation");
    let output = relu.output(0).expect("getOutput(0)");
    output.set_name("output").unwrap();
    assert_eq!(output.name().unwrap(), "output");
    network.mark_output(output).expect("markOutput");
    assert_eq!(network.num_layers().unwrap(), 1);
    assert_eq!(network.num_inputs().unwrap(), 1);
    assert_eq!(network.num_outputs().unwrap(), 1);

    let config = builder.create_config().expect("createBuilderConfig");
    let profile = builder
        .create_optimization_profile()
        .expect("createOptimizationProfile");
    for (selector, batch) in [
        (ProfileSelector::Min, 1),
        (ProfileSelector::Opt, 4),
        (ProfileSelector::Max, 8),
    ] {
        profile
            .set_dimensions("input", selector, shape(&[batch, 8]))
            .expect("setDimensions");
        assert_eq!(
            profile.dimensions("input", selector).unwrap(),
            shape(&[batch, 8])
        );
    }
    assert_eq!(config.add_optimization_profile(&profile).unwrap(), 0);
    builder
        .build_serialized_network(&network, &config)
        .expect("buildSerializedNetwork")
    // Dropped here in reverse order: config, network (the builder is deleted by the caller,
    // after both: they hold it).
}

#[test]
fn rtx_builds_a_tiny_plan_without_a_gpu_and_its_deserialization_fails_with_a_typed_error() {
    common::init_logging();
    let library = rtx();
    let started = Instant::now();
    let builder = Builder::new(&library).expect("TensorRT-RTX creates a builder without a GPU");
    let plan = build_tiny_plan(&builder);
    drop(builder);
    let build_time = started.elapsed();
    println!(
        "built a {}-byte TensorRT-RTX plan in {build_time:.2?}; first bytes {:02x?}",
        plan.len(),
        &plan[..plan.len().min(16)]
    );
    assert!(
        plan.len() > 4096,
        "suspiciously small plan: {} bytes",
        plan.len()
    );
    // Not garbage: TensorRT-RTX 1.7.1 plans start with the magic "vtrt" (observed; standard
    // TensorRT plans start with "ftrt"), and the rest is not constant filler.
    assert_eq!(
        &plan[..4],
        b"vtrt",
        "unexpected plan header {:02x?}",
        &plan[..16]
    );
    assert!(plan[4..].iter().any(|&byte| byte != plan[4]));
    // Written atomically: other test processes may read it.
    let saved = common::fixtures().join("rtx-tiny.plan");
    let partial = saved.with_extension(format!("plan.{}", std::process::id()));
    std::fs::write(&partial, &plan).unwrap();
    std::fs::rename(&partial, &saved).unwrap();

    // A second build gives a plan of the same size and header (the builder is deterministic
    // enough for this; the byte-for-byte content may carry timestamps).
    let again = build_tiny_plan(&Builder::new(&library).unwrap());
    assert_eq!(again.len(), plan.len());
    assert_eq!(again[..16], plan[..16]);

    let runtime = Runtime::new(&library).expect("TensorRT-RTX creates a runtime without a GPU");
    let mark = library.logger().mark();
    let result = runtime.deserialize_engine_file(&saved);
    if trt::ffi::cuda::driver_present() {
        // On a GPU machine the outcome depends on the GPU (RTX refuses compute capability 9.0);
        // either way it is not a crash.
        println!(
            "with a CUDA driver: {:?}",
            result.as_ref().map(|_| "engine")
        );
        return;
    }
    let error = result.expect_err("no GPU here: the plan cannot be deserialized");
    let Error::InvalidPlan {
        source_name,
        reason,
    } = &error
    else {
        panic!("expected InvalidPlan, got {error:?}");
    };
    assert_eq!(source_name.as_deref(), Some("rtx-tiny.plan"));
    let logged: Vec<String> = library
        .logger()
        .messages_since(mark)
        .into_iter()
        .filter(|message| message.severity <= Severity::Error)
        .map(|message| message.text)
        .collect();
    println!("deserialize error: {error}\nlogged errors: {logged:#?}");
    assert!(
        reason.contains("CUDA driver version is insufficient"),
        "{reason}"
    );
    assert!(
        logged.iter().any(|text| reason.contains(text.as_str())),
        "reason {reason:?} quotes none of {logged:?}"
    );
}

#[test]
fn lean_and_dispatch_libraries_have_no_builder_a_typed_missing_symbol_error() {
    for (folder, file) in [
        ("tensorrt_lean_libs", "libnvinfer_lean.so.11"),
        ("tensorrt_dispatch_libs", "libnvinfer_dispatch.so.11"),
    ] {
        let library = TensorRtLibrary::open(wheel_library(folder, file)).unwrap();
        let error = Builder::new(&library).unwrap_err();
        let Error::MissingSymbol {
            library: reported,
            symbol,
        } = &error
        else {
            panic!("{file}: expected MissingSymbol, got {error:?}");
        };
        assert_eq!(*symbol, CREATE_BUILDER_SYMBOL);
        assert_eq!(reported, library.path());
        assert!(error.to_string().contains("createInferBuilder_INTERNAL"));
    }
}

#[test]
fn builder_misuse_is_a_typed_error_quoting_tensorrt_or_refused_before_the_call() {
    common::init_logging();
    let library = rtx();
    let builder = Builder::new(&library).unwrap();
    let other_builder = Builder::new(&library).unwrap();
    let network = builder.create_network().unwrap();
    let other_network = builder.create_network().unwrap();
    let foreign = other_network
        .add_input("x", DataType::F32, shape(&[2]))
        .unwrap();

    // Objects of another network or builder never reach TensorRT.
    let error = network.mark_output(foreign).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig(text) if text.contains("another network")),
        "{error:?}"
    );
    let error = network
        .add_activation(foreign, ActivationType::Relu)
        .unwrap_err();
    assert!(matches!(&error, Error::InvalidConfig(_)), "{error:?}");
    let foreign_config = other_builder.create_config().unwrap();
    let error = builder
        .build_serialized_network(&network, &foreign_config)
        .unwrap_err();
    assert!(matches!(&error, Error::InvalidConfig(_)), "{error:?}");
    let foreign_profile = other_builder.create_optimization_profile().unwrap();
    let config = builder.create_config().unwrap();
    let error = config
        .add_optimization_profile(&foreign_profile)
        .unwrap_err();
    assert!(matches!(&error, Error::InvalidConfig(_)), "{error:?}");
    let error = network
        .add_input("bad\0name", DataType::F32, shape(&[1]))
        .unwrap_err();
    assert!(matches!(&error, Error::InvalidConfig(_)), "{error:?}");

    // TensorRT refuses a second input of the same name: null, with a logged error we quote.
    network
        .add_input("x", DataType::F32, shape(&[2]))
        .expect("first input");
    let error = network
        .add_input("x", DataType::F32, shape(&[2]))
        .unwrap_err();
    let Error::TensorRt { call, message } = &error else {
        panic!("expected Error::TensorRt, got {error:?}");
    };
    assert_eq!(*call, "INetworkDefinition::addInput");
    println!("duplicate input: {message}");

    // A network without outputs does not build: TensorRT's logged reason is the error.
    let mark = library.logger().mark();
    let error = builder
        .build_serialized_network(&network, &config)
        .unwrap_err();
    let Error::TensorRt { call, message } = &error else {
        panic!("expected Error::TensorRt, got {error:?}");
    };
    assert_eq!(*call, "IBuilder::buildSerializedNetwork");
    let logged: Vec<String> = library.logger().errors_since(mark).into_iter().collect();
    assert!(!logged.is_empty(), "TensorRT logged no error");
    assert!(message.contains(&logged[0]), "{message} vs {logged:?}");
    println!("build without outputs: {message}");
}
