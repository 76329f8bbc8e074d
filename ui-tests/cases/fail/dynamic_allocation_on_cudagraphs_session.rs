// Rule: per-run activation memory and CUDA graphs never meet: a captured graph bakes in the
// address of its activation memory, which per-run allocation would move.
use trt::{enable_dynamic_allocation, GraphCache, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let mut session = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .build()?;
    let _scope = enable_dynamic_allocation(&mut session);
    Ok(())
}
