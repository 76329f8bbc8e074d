// Rule: a `GraphCache` is moved into exactly one session (it is not `Clone`): attaching the
// same cache to a second session is a use of a moved value.
use trt::{GraphCache, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let cache = GraphCache::new(4);
    let _first = engine.session().with_cudagraphs(cache).build()?;
    let _second = engine.session().with_cudagraphs(cache).build()?;
    Ok(())
}
