//! Rung G: the whole stack on a GPU — session → FFI → the ABI-exact stand-in built with nvcc
//! (its enqueueV3 launches real kernels on our stream) → CUDA graph capture → LRU cache.
//!
//! Every test here needs a CUDA GPU and `TRT_STANDIN_CUDA` (the nvcc build of the stand-in),
//! so they are `#[ignore]`d; `scripts/gpu-run.sh` builds the stand-in and runs them with
//! `--include-ignored` on the GPU machine.

mod ffi_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ffi_common::{Layer, PlanSpec, Target};
use trt::backend::cuda::CudaDevice;
use trt::backend::tensorrt::TensorRtPlatform;
use trt::backend::DeviceBackend;
use trt::ffi::TensorRtLibrary;
use trt::{
    inputs, CaptureFailurePolicy, DeviceTensor, Engine, Error, GraphCache, HostTensor, Runtime,
    Shape,
};

const WIDTH_IN: usize = 64;
const WIDTH_OUT: usize = 32;

struct Gpu {
    runtime: Runtime,
    device: Arc<CudaDevice>,
}

impl Gpu {
    fn new() -> Gpu {
        let device = CudaDevice::new(0).expect("this test needs a CUDA GPU");
        let path = std::env::var("TRT_STANDIN_CUDA").expect(
            "TRT_STANDIN_CUDA must name the stand-in built with nvcc (scripts/gpu-run.sh sets it)",
        );
        let library = TensorRtLibrary::open(&path).unwrap();
        let platform = TensorRtPlatform::new(library, device.clone()).unwrap();
        Gpu {
            runtime: Runtime::with_platform(platform),
            device,
        }
    }

    fn engine(&self, spec: &PlanSpec) -> Engine {
        self.runtime.engine_from_bytes(&spec.to_bytes()).unwrap()
    }

    fn free_bytes(&self) -> usize {
        self.device.memory_info().unwrap().free
    }
}

/// A 4-layer MLP 64 → 256 → 256 → 256 → 32 for batches 1..=64.
fn spec(nonzero_output: bool) -> PlanSpec {
    PlanSpec {
        name: "gpu-mlp".into(),
        target: Target::Any,
        nonzero_output,
        streamable_weights: false,
        batch: (1, 8, 64),
        layers: vec![
            Layer::seeded(WIDTH_IN, 256, 1),
            Layer::seeded(256, 256, 2),
            Layer::seeded(256, 256, 3),
            Layer::seeded(256, WIDTH_OUT, 4),
        ],
    }
}

/// The same MLP for batches up to 8192, so that cache entries hold megabytes: small buffers
/// share the driver's 2 MiB pages and would not show in `cuMemGetInfo`.
fn big_spec() -> PlanSpec {
    PlanSpec {
        batch: (1, 64, 8192),
        ..spec(false)
    }
}

/// The MLP in float64 on the host.
fn reference_f64(spec: &PlanSpec, input: &[f32], batch: usize) -> Vec<f64> {
    let mut x: Vec<f64> = input.iter().map(|&v| f64::from(v)).collect();
    for layer in &spec.layers {
        let mut y = vec![0.0; batch * layer.outputs];
        for row in 0..batch {
            for column in 0..layer.outputs {
                let mut sum = f64::from(layer.bias[column]);
                for k in 0..layer.inputs {
                    sum += x[row * layer.inputs + k]
                        * f64::from(layer.weights[k * layer.outputs + column]);
                }
                y[row * layer.outputs + column] = sum.max(0.0);
            }
        }
        x = y;
    }
    x
}

fn input(batch: usize, seed: u32) -> HostTensor {
    let data = (0..batch * WIDTH_IN)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed * 97) >> 8) % 2001) as f32
                / 1000.0
                - 1.0
        })
        .collect();
    HostTensor::from_vec(&[batch, WIDTH_IN], data).unwrap()
}

fn assert_relative_error(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len());
    let scale = expected.iter().fold(1e-3f64, |acc, v| acc.max(v.abs()));
    for (index, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let error = (f64::from(a) - e).abs() / scale;
        assert!(
            error < 1e-5,
            "element {index}: {a} vs {e} (relative error {error:e})"
        );
    }
}

fn batches(keys: &[trt::GraphKey]) -> Vec<i64> {
    keys.iter().map(|key| key.batch().unwrap()).collect()
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn numerics_match_float64_and_replay_equals_eager_bit_for_bit() {
    let gpu = Gpu::new();
    let spec = spec(false);
    let engine = gpu.engine(&spec);
    let mut eager = engine.session().build().unwrap();
    let mut graphs = engine
        .session()
        .with_cudagraphs(GraphCache::new(8))
        .build()
        .unwrap();
    for batch in [1, 3, 8, 64] {
        let x = input(batch, batch as u32);
        let expected = reference_f64(&spec, x.as_slice().unwrap(), batch);
        let eager_out = eager
            .run(&inputs!["input" => &x])
            .unwrap()
            .to_host("output")
            .unwrap();
        assert_relative_error(eager_out.as_slice().unwrap(), &expected);
        for _ in 0..3 {
            let replayed = graphs
                .run(&inputs!["input" => &x])
                .unwrap()
                .to_host("output")
                .unwrap();
            assert_eq!(
                replayed, eager_out,
                "batch {batch}: replay equals eager bit for bit"
            );
        }
        // Inputs already on the device are bound (eager) or copied device-to-device (graphs).
        let on_device = DeviceTensor::from_host(gpu.runtime.device(), &x).unwrap();
        let from_device = graphs
            .run(&inputs!["input" => &on_device])
            .unwrap()
            .to_host("output")
            .unwrap();
        assert_eq!(from_device, eager_out);
    }
    let metrics = graphs.graph_cache().metrics();
    assert_eq!((metrics.captures, metrics.hits), (4, 12));
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn lru_scenarios_on_the_gpu() {
    let gpu = Gpu::new();
    let spec = spec(false);
    let engine = gpu.engine(&spec);
    let mut eager = engine.session().build().unwrap();
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(16))
        .build()
        .unwrap();
    let cache = session.graph_cache();
    let mut seen = std::collections::HashSet::new();
    for (step, batch) in [1usize, 2, 1, 4, 2, 1, 4, 3, 3].into_iter().enumerate() {
        let x = input(batch, step as u32);
        let expected = eager
            .run(&inputs!["input" => &x])
            .unwrap()
            .to_host("output")
            .unwrap();
        let replayed = session
            .run(&inputs!["input" => &x])
            .unwrap()
            .to_host("output")
            .unwrap();
        assert_eq!(replayed, expected, "step {step}");
        seen.insert(batch);
        assert_eq!(cache.len(), seen.len(), "step {step}");
    }

    let mut small = engine
        .session()
        .with_cudagraphs(GraphCache::new(3))
        .build()
        .unwrap();
    let cache = small.graph_cache();
    for batch in [1, 2, 3, 4] {
        small.run(&inputs!["input" => &input(batch, 0)]).unwrap();
    }
    assert_eq!(batches(&cache.keys()), [2, 3, 4]);
    small.run(&inputs!["input" => &input(2, 0)]).unwrap();
    small.run(&inputs!["input" => &input(5, 0)]).unwrap();
    assert_eq!(batches(&cache.keys()), [4, 2, 5]);

    // Different inputs through one graph: different outputs, no aliasing of owned results.
    let (a, b) = (input(6, 1), input(6, 2));
    let out_a = small.run(&inputs!["input" => &a]).unwrap();
    let out_b = small.run(&inputs!["input" => &b]).unwrap();
    let (host_a, host_b) = (
        out_a.to_host("output").unwrap(),
        out_b.to_host("output").unwrap(),
    );
    assert_ne!(host_a, host_b);
    assert_relative_error(
        host_a.as_slice().unwrap(),
        &reference_f64(&spec, a.as_slice().unwrap(), 6),
    );
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn purge_returns_free_device_memory_to_its_baseline() {
    let gpu = Gpu::new();
    let engine = gpu.engine(&big_spec());
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(16))
        .build()
        .unwrap();
    session
        .run_eager(&inputs!["input" => &input(1, 0)])
        .unwrap();
    let baseline = gpu.free_bytes();
    for step in 0..16 {
        session
            .run(&inputs!["input" => &input(4096 + step * 128, 0)])
            .unwrap();
    }
    let cache = session.graph_cache();
    assert_eq!(cache.len(), 16);
    let during = gpu.free_bytes();
    let entry_bytes = cache.device_bytes();
    assert_eq!(cache.purge(None), 16);
    let after = gpu.free_bytes();
    println!(
        "free memory: baseline {baseline}, with 16 graphs {during} ({entry_bytes} bytes of entry buffers), after purge {after}"
    );
    assert!(
        baseline - during >= 16 << 20,
        "the 16 entries visibly held memory: {baseline} -> {during}"
    );
    assert!(
        after.abs_diff(baseline) <= 1 << 20,
        "within 1 MiB of the baseline: {baseline} vs {after}"
    );
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn ten_thousand_runs_over_forty_shapes_with_capacity_four_leak_nothing() {
    let gpu = Gpu::new();
    let spec = big_spec();
    let engine = gpu.engine(&spec);
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .build()
        .unwrap();
    session
        .run_eager(&inputs!["input" => &input(1, 0)])
        .unwrap();
    let baseline = gpu.free_bytes();
    // 40 shapes of 64..2560 rows: entries hold up to a megabyte each, so a leak would show.
    let batches: Vec<usize> = (1..=40).map(|step| step * 64).collect();
    let inputs_by_batch: Vec<HostTensor> = batches.iter().map(|&batch| input(batch, 7)).collect();
    let expected: Vec<Vec<f64>> = batches
        .iter()
        .zip(&inputs_by_batch)
        .map(|(&batch, x)| reference_f64(&spec, x.as_slice().unwrap(), batch))
        .collect();
    let started = std::time::Instant::now();
    for run in 0..10_000usize {
        let index = (run * 7) % 40; // visits every shape, never twice in a row
        let outputs = session
            .run(&inputs!["input" => &inputs_by_batch[index]])
            .unwrap();
        if run % 997 == 0 {
            assert_relative_error(
                outputs.to_host("output").unwrap().as_slice().unwrap(),
                &expected[index],
            );
        }
    }
    let cache = session.graph_cache();
    let metrics = cache.metrics();
    println!(
        "10,000 runs over 40 shapes in {:?}: {metrics:?}",
        started.elapsed()
    );
    assert_eq!(cache.len(), 4);
    assert_eq!(metrics.captures, metrics.misses);
    assert_eq!(metrics.evictions, metrics.captures - 4);
    let during = gpu.free_bytes();
    assert!(
        baseline - during >= 2 << 20,
        "the 4 entries visibly held memory: {baseline} -> {during}"
    );
    cache.purge(None);
    let after = gpu.free_bytes();
    assert!(
        after.abs_diff(baseline) <= 1 << 20,
        "leak: {baseline} vs {after}"
    );
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn purge_from_another_thread_while_runs_go_on() {
    let gpu = Gpu::new();
    let spec = spec(false);
    let engine = gpu.engine(&spec);
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .build()
        .unwrap();
    let cache = session.graph_cache();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let purger = scope.spawn(|| {
            let mut purges = 0;
            while !done.load(Ordering::Relaxed) {
                purges += cache.purge(Some(1));
                std::thread::yield_now();
            }
            purges
        });
        for step in 0..2000u32 {
            let batch = 1 + (step as usize % 6);
            let x = input(batch, step);
            let y = session
                .run(&inputs!["input" => &x])
                .unwrap()
                .to_host("output")
                .unwrap();
            if step % 50 == 0 {
                assert_relative_error(
                    y.as_slice().unwrap(),
                    &reference_f64(&spec, x.as_slice().unwrap(), batch),
                );
            }
        }
        done.store(true, Ordering::Relaxed);
        assert!(purger.join().unwrap() > 0, "the other thread really purged");
    });
}

/// Positive outputs of the reference, as the stand-in's nonzero output lists them:
/// row indices, then column indices.
fn nonzero_reference(values: &[f64], columns: usize) -> Vec<i64> {
    let positive: Vec<usize> = (0..values.len()).filter(|&i| values[i] > 0.0).collect();
    positive
        .iter()
        .map(|&i| (i / columns) as i64)
        .chain(positive.iter().map(|&i| (i % columns) as i64))
        .collect()
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn capture_failure_of_a_data_dependent_engine_is_handled_as_chosen() {
    let gpu = Gpu::new();
    let spec = spec(true);
    let engine = gpu.engine(&spec);
    let x = input(4, 3);
    let expected = nonzero_reference(&reference_f64(&spec, x.as_slice().unwrap(), 4), WIDTH_OUT);

    let mut strict = engine
        .session()
        .with_cudagraphs(
            GraphCache::new(2).with_capture_failure_policy(CaptureFailurePolicy::Error),
        )
        .build()
        .unwrap();
    let error = strict.run(&inputs!["input" => &x]).unwrap_err();
    println!("strict policy: {error}");
    assert!(matches!(error, Error::CaptureFailed { .. }), "{error}");
    let eager = strict.run_eager(&inputs!["input" => &x]).unwrap();
    assert_eq!(
        eager.to_host("nonzero").unwrap().to_vec::<i64>().unwrap(),
        expected,
        "usable after the failure"
    );
    drop(eager);
    drop(strict);

    let mut lenient = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    for _ in 0..3 {
        let outputs = lenient.run(&inputs!["input" => &x]).unwrap();
        let nonzero = outputs.to_host("nonzero").unwrap();
        assert_eq!(nonzero.shape().dims(), &[2, (expected.len() / 2) as i64]);
        assert_eq!(nonzero.to_vec::<i64>().unwrap(), expected);
    }
    let metrics = lenient.graph_cache().metrics();
    assert_eq!((metrics.capture_failures, metrics.bypasses), (1, 3));
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn output_allocator_session_returns_data_dependent_shapes_on_the_gpu() {
    let gpu = Gpu::new();
    let spec = spec(true);
    let engine = gpu.engine(&spec);
    let mut session = engine.session().with_output_allocator().build().unwrap();
    for (batch, seed) in [(2usize, 1u32), (16, 2), (1, 3)] {
        let x = input(batch, seed);
        let dense = reference_f64(&spec, x.as_slice().unwrap(), batch);
        let outputs = session.run(&inputs!["input" => &x]).unwrap();
        assert_relative_error(
            outputs.to_host("output").unwrap().as_slice().unwrap(),
            &dense,
        );
        assert_eq!(
            outputs.to_host("nonzero").unwrap().to_vec::<i64>().unwrap(),
            nonzero_reference(&dense, WIDTH_OUT)
        );
    }
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn zero_copy_staging_and_borrowed_outputs_on_the_gpu() {
    let gpu = Gpu::new();
    let spec = spec(false);
    let engine = gpu.engine(&spec);
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let shape = Shape::new(&[8, WIDTH_IN as i64]).unwrap();
    for seed in 0..4 {
        let x = input(8, seed);
        let mut staged = session.stage(&[("input", shape)]).unwrap();
        staged
            .write_input("input", x.as_slice::<f32>().unwrap())
            .unwrap();
        let outputs = staged.run().unwrap();
        let y = outputs.get("output").unwrap().to_vec::<f32>().unwrap();
        assert_relative_error(&y, &reference_f64(&spec, x.as_slice().unwrap(), 8));
    }
    assert_eq!(session.graph_cache().metrics().captures, 1);
}

#[test]
#[ignore = "needs a CUDA GPU and the TensorRT lean wheel (TRT_LEAN_LIBRARY)"]
fn the_real_lean_runtime_on_the_gpu() {
    let _device = CudaDevice::new(0).expect("this test needs a CUDA GPU");
    let path = std::env::var("TRT_LEAN_LIBRARY")
        .expect("TRT_LEAN_LIBRARY: libnvinfer_lean.so.11 from the lean wheel");
    let library = TensorRtLibrary::open(&path).unwrap();
    println!("lean library: {library:?}");
    let runtime = trt::ffi::Runtime::new(&library);
    match &runtime {
        Ok(_) => println!("lean runtime created on the GPU"),
        Err(error) => println!("lean runtime creation failed: {error}"),
    }
    let runtime = runtime.unwrap();
    // A plan that is not a lean (version-compatible) plan is refused with TensorRT's message.
    let Err(error) = runtime.deserialize_engine(&spec(false).to_bytes()) else {
        panic!("a stand-in plan is not a TensorRT plan: the lean runtime must refuse it");
    };
    println!("lean runtime on a non-TensorRT plan: {error}");
    assert!(matches!(error, Error::InvalidPlan { .. }), "{error}");
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn dynamic_allocation_holds_activation_memory_only_during_a_run_on_the_gpu() {
    let gpu = Gpu::new();
    let spec = big_spec();
    let engine = gpu.engine(&spec);
    let x = input(4096, 5);
    let on_device = DeviceTensor::from_host(gpu.runtime.device(), &x).unwrap();
    let expected = reference_f64(&spec, x.as_slice().unwrap(), 4096);

    // Static: the context keeps activation memory for the largest batch (16 MiB here).
    let baseline = gpu.free_bytes();
    let mut session = engine
        .session()
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    session.run(&inputs!["input" => &on_device]).unwrap();
    let static_used = baseline - gpu.free_bytes();
    assert!(
        static_used >= 16 << 20,
        "static context holds its activation memory: {static_used}"
    );

    let mut scope = trt::enable_dynamic_allocation(&mut session);
    for _ in 0..3 {
        let before = gpu.free_bytes();
        let outputs = scope.run(&inputs!["input" => &on_device]).unwrap();
        let y = outputs.get("output").unwrap().to_vec::<f32>().unwrap();
        assert_relative_error(&y, &expected);
        drop(outputs);
        let after = gpu.free_bytes();
        assert!(
            after.abs_diff(before) <= 1 << 20,
            "released after the run: {before} vs {after}"
        );
    }
    let dynamic_used = baseline - gpu.free_bytes();
    println!(
        "device memory held between runs: static {static_used} bytes, dynamic {dynamic_used} bytes"
    );
    assert!(
        static_used - dynamic_used >= 15 << 20,
        "the 16 MiB activation is no longer held"
    );
}

#[test]
#[ignore = "needs a CUDA GPU and the nvcc build of the stand-in"]
fn two_safe_mode_sessions_on_one_device_run_concurrently_from_two_threads() {
    let gpu = Gpu::new();
    let spec = spec(false);
    let engine = gpu.engine(&spec);
    let runs = 2000usize;
    let work = |session: &mut trt::Session<'_, trt::CudaGraphs>, seed: u32| {
        for step in 0..runs {
            let batch = 1 + (step + seed as usize) % 8;
            let x = input(batch, seed);
            let y = session
                .run(&inputs!["input" => &x])
                .unwrap()
                .to_host("output")
                .unwrap();
            if step % 250 == 0 {
                assert_relative_error(
                    y.as_slice().unwrap(),
                    &reference_f64(&spec, x.as_slice().unwrap(), batch),
                );
            }
        }
    };
    let build = || {
        engine
            .session()
            .with_safe_mode()
            .with_cudagraphs(GraphCache::new(8))
            .build()
            .unwrap()
    };
    let (mut a, mut b) = (build(), build());
    let started = std::time::Instant::now();
    work(&mut a, 1);
    let alone = started.elapsed();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| work(&mut a, 2));
        scope.spawn(|| work(&mut b, 3));
    });
    let together = started.elapsed();
    println!(
        "one device, {runs} runs per session: one session alone {alone:?}; two sessions from two threads {together:?}"
    );
    assert_eq!(a.graph_cache().len(), 8);
    assert_eq!(b.graph_cache().len(), 8);
}
