//! Quickstart: load an engine, run it eagerly, then through the CUDA-graph LRU cache.
//!
//! `cargo run --example quickstart [-- PLAN]`. Without a GPU and TensorRT it runs on the
//! built-in host simulation with `models/mlp.simplan`, and says so.

use std::path::PathBuf;

use trt::{inputs, GraphCache, HostTensor, Runtime};

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn run() -> trt::Result<()> {
    let runtime = Runtime::auto();
    match runtime.fallback_reason() {
        Some(reason) => println!(
            "No GPU/TensorRT found, so this runs on the built-in host simulation.\n  ({reason})\n"
        ),
        None => println!(
            "Running on {} ({}).\n",
            runtime.device().name(),
            runtime.flavor()
        ),
    }
    let plan = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mlp.simplan"));
    let engine = runtime.load_engine(&plan)?;
    println!("engine `{}` from {}", engine.name(), plan.display());
    for tensor in &engine.info().tensors {
        let profile = tensor
            .profiles
            .first()
            .map(|p| format!("  profile 0: min {} opt {} max {}", p.min, p.opt, p.max))
            .unwrap_or_default();
        println!(
            "  {:<8} {:<7} {:<5} {}{}",
            tensor.name, tensor.mode, tensor.dtype, tensor.shape, profile
        );
    }

    let input = engine
        .info()
        .inputs()
        .next()
        .expect("the engine has an input")
        .clone();
    let features = input.shape.dims()[1..]
        .iter()
        .map(|&d| d.max(1) as usize)
        .product::<usize>();
    let make_input = |batch: usize| -> trt::Result<HostTensor> {
        let mut extents = vec![batch];
        extents.extend(input.shape.dims()[1..].iter().map(|&d| d.max(1) as usize));
        let data = (0..batch * features)
            .map(|i| ((i % 13) as f32 - 6.0) / 4.0)
            .collect::<Vec<f32>>();
        HostTensor::from_vec(&extents, data)
    };

    // Eager.
    let mut eager = engine.session().build()?;
    let x = make_input(4)?;
    let outputs = eager.run(&inputs![input.name.as_str() => &x])?;
    println!("\neager run, batch 4:");
    for (name, tensor) in outputs.iter() {
        let host = tensor.to_host()?;
        let head: Vec<String> = host
            .as_slice::<f32>()
            .map(|values| values.iter().take(4).map(|v| format!("{v:.3}")).collect())
            .unwrap_or_default();
        println!("  {name} {} = [{} ...]", tensor.shape(), head.join(", "));
    }

    // CUDA graphs: one capture per new input shape, replays afterwards.
    let mut graphs = engine
        .session()
        .with_cudagraphs(GraphCache::new(3))
        .build()?;
    let cache = graphs.graph_cache();
    println!("\nCUDA graphs, capacity 3, batches 1 2 1 4 2 1 4 3 3:");
    for batch in [1, 2, 1, 4, 2, 1, 4, 3, 3] {
        let x = make_input(batch)?;
        let replayed = graphs.run(&inputs![input.name.as_str() => &x])?;
        let reference = eager.run(&inputs![input.name.as_str() => &x])?;
        let same = replayed
            .iter()
            .zip(reference.iter())
            .all(|((_, a), (_, b))| a.to_host().ok() == b.to_host().ok());
        let keys: Vec<String> = cache
            .keys()
            .iter()
            .filter_map(|k| k.batch())
            .map(|b| b.to_string())
            .collect();
        println!(
            "  batch {batch}: replay == eager: {same}; cached batches (oldest first): [{}]",
            keys.join(", ")
        );
    }
    let metrics = cache.metrics();
    println!(
        "\ncache: {} entries, {} bytes of I/O buffers; hits {}, misses {}, captures {}, evictions {}, capture time {:?}",
        cache.len(),
        cache.device_bytes(),
        metrics.hits,
        metrics.misses,
        metrics.captures,
        metrics.evictions,
        metrics.capture_time
    );
    if runtime.is_simulated() {
        println!("(host simulation: numbers are exact, timings say nothing about a GPU)");
    }
    Ok(())
}
