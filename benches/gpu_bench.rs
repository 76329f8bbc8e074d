//! GPU benchmark (issue 4): per-call latency of eager runs, graph replays, zero-copy replays and
//! the raw `cuGraphLaunch` floor; the Python reference (inference_models' way) in the same run;
//! LRU hit cost by cache size; capture cost; device memory per entry; heap allocations per call.
//!
//! Runs on the GPU machine (`scripts/gpu-run.sh bench`), over the stand-in built with nvcc
//! (`TRT_STANDIN_CUDA`). Prints a markdown table and one JSON line per measurement.

#[path = "../tests/ffi_common/mod.rs"]
mod ffi_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ffi_common::{Layer, PlanSpec, Target};
use trt::backend::cuda::CudaDevice;
use trt::backend::tensorrt::TensorRtPlatform;
use trt::backend::{AllocationStrategy, ContextOptions, DeviceBackend};
use trt::ffi::TensorRtLibrary;
use trt::{inputs, DeviceBuffer, DeviceTensor, Engine, GraphCache, HostTensor, Runtime, Shape};

/// Counts heap allocations, to check the zero-allocation claim of the steady-state path.
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
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const WIDTH_IN: usize = 64;
const ITERATIONS: usize = 5000;
const WARMUP: usize = 500;

fn spec(max_batch: u32) -> PlanSpec {
    PlanSpec {
        name: "bench-mlp".into(),
        target: Target::Any,
        nonzero_output: false,
        streamable_weights: false,
        batch: (1, 8, max_batch),
        layers: vec![
            Layer::seeded(WIDTH_IN, 256, 1),
            Layer::seeded(256, 256, 2),
            Layer::seeded(256, 256, 3),
            Layer::seeded(256, 32, 4),
        ],
    }
}

struct Stats {
    median_us: f64,
    p99_us: f64,
}

fn measure(mut call: impl FnMut()) -> Stats {
    for _ in 0..WARMUP {
        call();
    }
    let mut samples: Vec<f64> = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        call();
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    Stats {
        median_us: samples[samples.len() / 2],
        p99_us: samples[(samples.len() * 99 / 100).min(samples.len() - 1)],
    }
}

struct Report {
    rows: Vec<(String, String)>,
}

impl Report {
    fn latency(&mut self, what: &str, batch: usize, stats: &Stats) {
        println!(
            "{{\"measure\":\"latency\",\"impl\":\"{what}\",\"batch\":{batch},\"median_us\":{:.2},\"p99_us\":{:.2}}}",
            stats.median_us, stats.p99_us
        );
        self.rows.push((
            format!("{what}, batch {batch}"),
            format!(
                "median {:.2} µs, p99 {:.2} µs",
                stats.median_us, stats.p99_us
            ),
        ));
    }

    fn value(&mut self, what: &str, value: String) {
        println!("{{\"measure\":\"{what}\",\"value\":\"{value}\"}}");
        self.rows.push((what.to_owned(), value));
    }
}

fn input(batch: usize) -> HostTensor {
    let data = (0..batch * WIDTH_IN)
        .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
        .collect();
    HostTensor::from_vec(&[batch, WIDTH_IN], data).unwrap()
}

fn main() {
    let device = CudaDevice::new(0).expect("the benchmark needs a CUDA GPU");
    let library =
        TensorRtLibrary::open(std::env::var("TRT_STANDIN_CUDA").expect("TRT_STANDIN_CUDA"))
            .expect("stand-in library");
    let platform = TensorRtPlatform::new(library, device.clone()).unwrap();
    let runtime = Runtime::with_platform(platform);
    let spec = spec(1024);
    let engine = runtime.engine_from_bytes(&spec.to_bytes()).unwrap();
    let mut report = Report { rows: Vec::new() };
    report.value("device", device.name());

    for batch in [1usize, 8] {
        latency_for_batch(&runtime, &engine, batch, &mut report);
    }
    python_reference(&spec, &mut report);
    lru_hit_cost(&engine, &mut report);
    memory_per_entry(&device, &engine, &mut report);

    println!("\n| measurement | result |\n|---|---|");
    for (what, value) in &report.rows {
        println!("| {what} | {value} |");
    }
}

fn latency_for_batch(runtime: &Runtime, engine: &Engine, batch: usize, report: &mut Report) {
    // SAFETY: the input, output and arena bound to the context are live device buffers of the sizes the engine needs for this shape, kept alive until after the last launch.
    unsafe {
        let host = input(batch);
        let x = DeviceTensor::from_host(runtime.device(), &host).unwrap();
        let shape = Shape::new(&[batch as i64, WIDTH_IN as i64]).unwrap();

        let mut eager = engine
            .session()
            .with_pre_allocated_outputs()
            .build()
            .unwrap();
        let stats = measure(|| {
            eager.run(&inputs!["input" => &x]).unwrap();
        });
        report.latency(
            "eager enqueueV3 (Session<Standard>, pre-allocated)",
            batch,
            &stats,
        );

        let mut graphs = engine
            .session()
            .with_cudagraphs(GraphCache::new(4))
            .with_pre_allocated_outputs()
            .build()
            .unwrap();
        let stats = measure(|| {
            graphs.run(&inputs!["input" => &x]).unwrap();
        });
        report.latency(
            "Session<CudaGraphs> replay (input copied device-to-device)",
            batch,
            &stats,
        );
        let stats = measure(|| {
            graphs.stage(&[("input", shape)]).unwrap().run().unwrap();
        });
        report.latency(
            "Session<CudaGraphs> replay, zero-copy (stage + run)",
            batch,
            &stats,
        );

        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..1000 {
            graphs.stage(&[("input", shape)]).unwrap().run().unwrap();
        }
        let zero_copy_allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..1000 {
            graphs.run(&inputs!["input" => &x]).unwrap();
        }
        let run_allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
        report.value(
            &format!("heap allocations per steady call, batch {batch}"),
            format!(
                "zero-copy {:.3}, run with device input {:.3}",
                zero_copy_allocs as f64 / 1000.0,
                run_allocs as f64 / 1000.0
            ),
        );

        // The floor: the same enqueue captured through the backend traits directly, then nothing
        // but cuGraphLaunch + cuStreamSynchronize per call.
        let backend = engine.backend();
        let stream = runtime.device().create_stream().unwrap();
        let mut context = backend
            .create_context(&ContextOptions {
                allocation: AllocationStrategy::UserManaged,
                ..ContextOptions::default()
            })
            .unwrap();
        let arena = DeviceBuffer::new(runtime.device(), engine.info().device_memory_size).unwrap();
        let output = DeviceBuffer::new(runtime.device(), batch * 32 * 4).unwrap();
        context.set_device_memory(arena.ptr(), arena.len()).unwrap();
        context.set_input_shape(0, &shape).unwrap();
        context.set_tensor_address(0, x.buffer().ptr()).unwrap();
        context.set_tensor_address(1, output.ptr()).unwrap();
        context.enqueue(&*stream).unwrap();
        stream.synchronize().unwrap();
        stream.begin_capture().unwrap();
        context.enqueue(&*stream).unwrap();
        let graph = stream.end_capture().unwrap();
        graph.upload(&*stream).unwrap();
        let floor = measure(|| {
            graph.launch(&*stream).unwrap();
            stream.synchronize().unwrap();
        });
        report.latency("raw cuGraphLaunch + synchronize (floor)", batch, &floor);
        drop(graph);
    }
}

fn python_reference(spec: &PlanSpec, report: &mut Report) {
    let plan = std::env::temp_dir().join("bench-mlp.standin");
    std::fs::write(&plan, spec.to_bytes()).unwrap();
    let script = std::path::Path::new("bench_torch_reference.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&plan)
        .arg("--iterations")
        .arg(ITERATIONS.to_string())
        .output();
    match output {
        Ok(output) if output.status.success() => {
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                println!("{line}");
                let field = |name: &str| {
                    line.split(&format!("\"{name}\": "))
                        .nth(1)
                        .and_then(|rest| rest.split([',', '}']).next())
                        .map(|value| value.trim_matches('"').to_owned())
                };
                if let (Some(what), Some(batch), Some(median), Some(p99)) = (
                    field("impl"),
                    field("batch"),
                    field("median_us"),
                    field("p99_us"),
                ) {
                    report.rows.push((
                        format!("Python {what}, batch {batch}"),
                        format!("median {median} µs, p99 {p99} µs"),
                    ));
                }
            }
        }
        Ok(output) => report.value(
            "Python reference",
            format!(
                "failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        ),
        Err(error) => report.value("Python reference", format!("not run: {error}")),
    }
}

fn lru_hit_cost(engine: &Engine, report: &mut Report) {
    for entries in [1usize, 64, 1024] {
        let mut session = engine
            .session()
            .with_cudagraphs(GraphCache::new(entries))
            .with_pre_allocated_outputs()
            .build()
            .unwrap();
        let started = Instant::now();
        for batch in 1..=entries {
            let shape = Shape::new(&[batch as i64, WIDTH_IN as i64]).unwrap();
            session.stage(&[("input", shape)]).unwrap();
        }
        let fill = started.elapsed();
        let metrics = session.graph_cache().metrics();
        let shape = Shape::new(&[1, WIDTH_IN as i64]).unwrap();
        // Lookup alone: validation, key, lock, LRU touch (no launch).
        let lookup = measure(|| {
            let staged = session.stage(&[("input", shape)]).unwrap();
            drop(staged);
        });
        report.latency(
            &format!("LRU hit (stage, no launch) with {entries} entries"),
            1,
            &lookup,
        );
        if entries > 1 {
            report.value(
                &format!("capture cost of a new shape ({entries} captures)"),
                format!(
                    "{:.1} µs per capture (warm-up + capture + instantiate), fill {:?}",
                    metrics.capture_time.as_secs_f64() * 1e6 / metrics.captures as f64,
                    fill
                ),
            );
        }
    }
}

fn memory_per_entry(device: &Arc<CudaDevice>, engine: &Engine, report: &mut Report) {
    let entries = 16;
    for shared in [true, false] {
        let before = device.memory_info().unwrap().free;
        let mut session = engine
            .session()
            .with_cudagraphs(GraphCache::new(entries).with_shared_arena(shared))
            .build()
            .unwrap();
        for batch in 0..entries {
            let shape = Shape::new(&[(1000 + batch) as i64, WIDTH_IN as i64]).unwrap();
            session.stage(&[("input", shape)]).unwrap();
        }
        let used = before - device.memory_info().unwrap().free;
        let io = session.graph_cache().device_bytes();
        report.value(
            &format!("device memory, {entries} entries, shared arena {shared}"),
            format!(
                "{:.2} MiB in all ({:.2} MiB per entry; arena {:.2} MiB; entries' own bytes {:.2} MiB)",
                used as f64 / 1048576.0,
                used as f64 / entries as f64 / 1048576.0,
                engine.info().device_memory_size as f64 / 1048576.0,
                io as f64 / 1048576.0
            ),
        );
    }
}
