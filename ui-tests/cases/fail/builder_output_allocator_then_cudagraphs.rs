// Rule: CUDA graphs and an output allocator never meet (data-dependent output shapes cannot
// be captured). A builder that already has an output allocator cannot add CUDA graphs.
use trt::{GraphCache, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let _session = engine
        .session()
        .with_output_allocator()
        .with_cudagraphs(GraphCache::new(4))
        .build()?;
    Ok(())
}
