//! Rung S: the CUDA-graph LRU cache on the host simulation.

mod sim_common;

use std::sync::atomic::{AtomicBool, Ordering};

use sim_common::{assert_close, mlp_input, mlp_reference_y, Sim};
use trt::{inputs, CaptureFailurePolicy, Error, GraphCache, RunOptions};

fn batches(keys: &[trt::GraphKey]) -> Vec<i64> {
    keys.iter().map(|key| key.batch().unwrap()).collect()
}

#[test]
fn batch_sequence_grows_cache_only_on_new_keys_and_replays_equal_eager() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut eager = engine.session().build().unwrap();
    let mut graphs = engine
        .session()
        .with_cudagraphs(GraphCache::new(16))
        .build()
        .unwrap();
    let cache = graphs.graph_cache();
    let mut seen = std::collections::HashSet::new();
    for (step, batch) in [1usize, 2, 1, 4, 2, 1, 4, 3, 3].into_iter().enumerate() {
        let x = mlp_input(batch, step as u32);
        let expected = eager
            .run(&inputs!["x" => &x])
            .unwrap()
            .to_host("y")
            .unwrap();
        let replayed = graphs
            .run(&inputs!["x" => &x])
            .unwrap()
            .to_host("y")
            .unwrap();
        assert_eq!(
            replayed, expected,
            "step {step}: replay must equal eager bit for bit"
        );
        assert_close(replayed.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
        seen.insert(batch);
        assert_eq!(
            cache.len(),
            seen.len(),
            "step {step}: grows only on a new key"
        );
    }
    let metrics = cache.metrics();
    assert_eq!((metrics.captures, metrics.misses, metrics.hits), (4, 4, 5));
    assert_eq!(metrics.evictions, 0);
}

#[test]
fn capacity_three_evicts_least_recently_used() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(3))
        .build()
        .unwrap();
    let cache = session.graph_cache();
    for batch in [1, 2, 3] {
        session.run(&inputs!["x" => &mlp_input(batch, 0)]).unwrap();
    }
    assert_eq!(batches(&cache.keys()), [1, 2, 3]);
    session.run(&inputs!["x" => &mlp_input(4, 0)]).unwrap();
    assert_eq!(batches(&cache.keys()), [2, 3, 4], "adding 4 evicts 1");
    session.run(&inputs!["x" => &mlp_input(2, 0)]).unwrap();
    session.run(&inputs!["x" => &mlp_input(5, 0)]).unwrap();
    assert_eq!(
        batches(&cache.keys()),
        [4, 2, 5],
        "touching 2 then adding 5 evicts 3"
    );
    assert_eq!(cache.metrics().evictions, 2);
    // `contains` does not touch recency.
    let oldest = cache.keys()[0].clone();
    assert!(cache.contains(&oldest));
    assert_eq!(cache.keys()[0], oldest);
}

#[test]
fn different_inputs_through_one_graph_give_different_outputs() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let (a, b) = (mlp_input(3, 1), mlp_input(3, 2));
    let out_a = session.run(&inputs!["x" => &a]).unwrap();
    let out_b = session.run(&inputs!["x" => &b]).unwrap();
    assert_eq!(session.graph_cache().len(), 1, "one graph served both");
    let (y_a, y_b) = (out_a.to_host("y").unwrap(), out_b.to_host("y").unwrap());
    assert_ne!(y_a, y_b);
    // Owned outputs are clones: the second replay did not overwrite the first result.
    assert_close(y_a.as_slice::<f32>().unwrap(), &mlp_reference_y(&a));
    assert_close(y_b.as_slice::<f32>().unwrap(), &mlp_reference_y(&b));
}

#[test]
fn purge_evicts_oldest_and_frees_their_memory_remove_missing_is_noop() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(8))
        .build()
        .unwrap();
    let cache = session.graph_cache();
    for batch in [1, 2, 3, 4] {
        session.run(&inputs!["x" => &mlp_input(batch, 0)]).unwrap();
    }
    let keys = cache.keys();
    let before = sim.memory();
    let bytes_before = cache.device_bytes();
    let trims_before = before.trims;
    assert_eq!(cache.purge(Some(2)), 2);
    assert_eq!(batches(&cache.keys()), [3, 4]);
    let after = sim.memory();
    let freed = bytes_before - cache.device_bytes();
    assert!(freed > 0);
    assert_eq!(
        before.allocated_bytes - after.allocated_bytes,
        freed,
        "accounted memory drops by the entries' bytes"
    );
    assert_eq!(
        after.trims,
        trims_before + 1,
        "memory is returned once, at the end"
    );
    assert!(!cache.contains(&keys[0]));
    let len = cache.len();
    assert!(!cache.remove(&keys[0]), "removing a missing key is a no-op");
    assert_eq!(cache.len(), len);
    assert!(cache.remove(&keys[3]));
    assert_eq!(batches(&cache.keys()), [3]);
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.device_bytes(), 0);
}

#[test]
fn purge_from_another_thread_while_running_is_safe() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
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
                cache.purge(Some(1));
                purges += 1;
                std::thread::yield_now();
            }
            purges
        });
        for step in 0..300u32 {
            let batch = 1 + (step as usize % 6);
            let x = mlp_input(batch, step);
            let y = session
                .run(&inputs!["x" => &x])
                .unwrap()
                .to_host("y")
                .unwrap();
            assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
        }
        done.store(true, Ordering::Relaxed);
        assert!(purger.join().unwrap() > 0);
    });
    assert!(
        cache.metrics().removals > 0,
        "the purges really removed entries"
    );
}

#[test]
fn per_call_bypass_runs_eagerly_without_touching_the_cache() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .build()
        .unwrap();
    let x = mlp_input(2, 9);
    let y = session
        .run_eager(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    let y = session
        .run_with(
            &inputs!["x" => &x],
            RunOptions {
                bypass_graphs: true,
            },
        )
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    let cache = session.graph_cache();
    assert!(cache.is_empty());
    assert_eq!(cache.metrics().bypasses, 2);
    assert_eq!(sim.stats().captures_begun, 0);
}

#[test]
fn disabled_cache_runs_eagerly() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4).with_enabled(false))
        .build()
        .unwrap();
    let x = mlp_input(2, 3);
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    assert!(session.graph_cache().is_empty());
    assert_eq!(sim.stats().captures_begun, 0);
}

#[test]
fn capture_failure_returns_typed_error_or_falls_back_as_chosen() {
    let sim = Sim::new();
    let engine = sim.engine("nonzero.simplan");
    let x = trt::HostTensor::from_vec(&[1, 8], vec![0.0f32, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0])
        .unwrap();

    let mut strict = engine
        .session()
        .with_cudagraphs(
            GraphCache::new(2).with_capture_failure_policy(CaptureFailurePolicy::Error),
        )
        .build()
        .unwrap();
    let error = strict.run(&inputs!["x" => &x]).unwrap_err();
    assert!(matches!(error, Error::CaptureFailed { .. }), "{error}");
    assert!(strict.graph_cache().is_empty());
    // The session is still usable: the stream is no longer capturing.
    let y = strict
        .run_eager(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 1, 0, 3, 0, 7]);
    drop(strict);

    let mut lenient = engine
        .session()
        .with_cudagraphs(
            GraphCache::new(2).with_capture_failure_policy(CaptureFailurePolicy::FallbackToEager),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        let y = lenient
            .run(&inputs!["x" => &x])
            .unwrap()
            .to_host("y")
            .unwrap();
        assert_eq!(y.shape().dims(), &[3, 2]);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 1, 0, 3, 0, 7]);
    }
    let metrics = lenient.graph_cache().metrics();
    assert_eq!(
        metrics.capture_failures, 1,
        "an uncapturable key is not retried"
    );
    assert_eq!(metrics.bypasses, 3);
    assert!(lenient.graph_cache().is_empty());
}

#[test]
fn cached_graphs_share_one_activation_arena() {
    let activation = |shared: bool| {
        let sim = Sim::new();
        let engine = sim.engine("mlp.simplan");
        let baseline = sim.memory().allocated_bytes;
        let mut session = engine
            .session()
            .with_cudagraphs(GraphCache::new(8).with_shared_arena(shared))
            .build()
            .unwrap();
        for batch in 1..=4 {
            session.run(&inputs!["x" => &mlp_input(batch, 0)]).unwrap();
        }
        let io_bytes = session.graph_cache().device_bytes();
        let total = sim.memory().allocated_bytes - baseline;
        drop(session);
        assert_eq!(
            sim.memory().allocated_bytes,
            baseline,
            "dropping the session frees everything"
        );
        (total, io_bytes, engine.info().device_memory_size)
    };
    let (shared_total, _, arena) = activation(true);
    let (separate_total, _, _) = activation(false);
    assert!(arena > 0);
    // Four entries: one shared arena instead of four activation allocations.
    assert!(
        separate_total >= shared_total + 3 * arena - arena / 2,
        "shared {shared_total} vs separate {separate_total} (arena {arena})"
    );
}

#[test]
fn byte_capacity_evicts_until_under_budget() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let probe_bytes = {
        let mut session = engine
            .session()
            .with_cudagraphs(GraphCache::new(8))
            .build()
            .unwrap();
        session.run(&inputs!["x" => &mlp_input(8, 0)]).unwrap();
        session.graph_cache().device_bytes()
    };
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(8).with_max_device_bytes(probe_bytes * 2))
        .build()
        .unwrap();
    let cache = session.graph_cache();
    for _ in 0..4 {
        session.run(&inputs!["x" => &mlp_input(8, 0)]).unwrap();
    }
    for batch in [7, 6, 5] {
        session.run(&inputs!["x" => &mlp_input(batch, 0)]).unwrap();
    }
    assert!(cache.device_bytes() <= probe_bytes * 2);
    assert!(cache.metrics().evictions >= 1);
    assert_eq!(*batches(&cache.keys()).last().unwrap(), 5);
}

#[test]
fn zero_copy_staging_writes_into_captured_buffers() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .with_pre_allocated_outputs()
        .build()
        .unwrap();
    let shape = trt::Shape::new(&[2, 16]).unwrap();
    for seed in 0..3 {
        let x = mlp_input(2, seed);
        let copies_before = sim.stats().device_to_device_copies;
        let mut staged = session.stage(&[("x", shape)]).unwrap();
        staged
            .write_input("x", x.as_slice::<f32>().unwrap())
            .unwrap();
        let outputs = staged.run().unwrap();
        let y = outputs.get("y").unwrap().to_host().unwrap();
        assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
        drop(outputs);
        assert_eq!(
            sim.stats().device_to_device_copies,
            copies_before,
            "no input or output copy"
        );
    }
    let cache = session.graph_cache();
    assert_eq!((cache.len(), cache.metrics().captures), (1, 1));
    let mut staged = session.stage(&[("x", shape)]).unwrap();
    let error = staged.write_input("x", &[0.0f32; 3]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ByteSizeMismatch {
                expected: 128,
                found: 12,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn scoped_cudagraphs_restore_eager_runs_and_free_graphs() {
    let sim = Sim::new();
    let engine = sim.engine("mlp.simplan");
    let mut session = engine.session().build().unwrap();
    let x = mlp_input(2, 4);
    session.run(&inputs!["x" => &x]).unwrap();
    let baseline = sim.memory().allocated_bytes;
    {
        let mut scope = trt::enable_cudagraphs(&mut session, GraphCache::new(4)).unwrap();
        let y = scope
            .run(&inputs!["x" => &x])
            .unwrap()
            .to_host("y")
            .unwrap();
        assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
        assert_eq!(scope.graph_cache().len(), 1);
    }
    assert_eq!(
        sim.memory().allocated_bytes,
        baseline,
        "the scope's graphs and arena are freed"
    );
    let captures = sim.stats().captures_begun;
    let y = session
        .run(&inputs!["x" => &x])
        .unwrap()
        .to_host("y")
        .unwrap();
    assert_close(y.as_slice::<f32>().unwrap(), &mlp_reference_y(&x));
    assert_eq!(sim.stats().captures_begun, captures, "eager again");
}

#[test]
fn staging_an_uncapturable_key_is_refused_without_capturing_again() {
    let sim = Sim::new();
    let engine = sim.engine("nonzero.simplan");
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .build()
        .unwrap();
    let x = trt::HostTensor::from_vec(&[1, 8], vec![1.0f32; 8]).unwrap();
    session.run(&inputs!["x" => &x]).unwrap(); // fails to capture, falls back to eager
    let shape = trt::Shape::new(&[1, 8]).unwrap();
    let error = session
        .stage(&[("x", shape)])
        .err()
        .expect("no graph to stage into");
    assert!(matches!(error, Error::CaptureFailed { .. }), "{error}");
    let metrics = session.graph_cache().metrics();
    assert_eq!(
        metrics.capture_failures, 1,
        "the failed key is not captured again"
    );
    assert_eq!(sim.stats().captures_begun, 1);
}
