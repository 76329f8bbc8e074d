// Rule: CUDA graphs and an output allocator never meet. The scoped switch
// `enable_output_allocator` does not accept a session built with CUDA graphs.
use trt::{enable_output_allocator, CudaGraphs, GraphCache, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let mut session: Session<CudaGraphs> = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .build()?;
    let _scope = enable_output_allocator(&mut session)?;
    Ok(())
}
