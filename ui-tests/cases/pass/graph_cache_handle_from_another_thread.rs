// Legal: a `GraphCacheHandle` taken before the cache is moved into the session manages the
// cache from another thread (std::thread::scope) while the session runs.
use std::sync::atomic::{AtomicBool, Ordering};

use trt::{inputs, GraphCache, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let cache = GraphCache::new(4);
    let handle = cache.handle();
    let mut session = engine.session().with_cudagraphs(cache).build()?;
    let done = AtomicBool::new(false);
    const RUNS: u64 = 20;

    std::thread::scope(|scope| -> Result<(), trt::Error> {
        let watcher = scope.spawn(|| {
            let mut observed = 0usize;
            while !done.load(Ordering::Acquire) {
                observed = observed.max(handle.len());
                assert!(handle.len() <= handle.capacity());
                let _ = handle.metrics();
                std::thread::yield_now();
            }
            observed.max(handle.len())
        });
        let runs = (|| -> Result<(), trt::Error> {
            let x = HostTensor::from_vec(&[2, 16], vec![0.25f32; 32])?;
            for _ in 0..RUNS {
                let y = session.run(&inputs!["x" => &x])?.to_host("y")?;
                assert_eq!(y.shape().dims(), &[2, 8]);
            }
            Ok(())
        })();
        // Stop the watcher whatever happened, so that the scope can join it.
        done.store(true, Ordering::Release);
        let observed = watcher.join().unwrap();
        runs?;
        assert_eq!(observed, 1);
        Ok(())
    })?;

    let metrics = handle.metrics();
    assert_eq!(metrics.misses, 1);
    assert_eq!(metrics.hits, RUNS - 1);
    assert_eq!(handle.len(), 1);
    Ok(())
}
