// Rule: CUDA graphs and an output allocator never meet. The scoped switch
// `enable_cudagraphs` does not accept a session built with an output allocator.
use trt::{enable_cudagraphs, GraphCache, OutputAllocator, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/nonzero.simplan")?;
    let mut session: Session<OutputAllocator> = engine.session().with_output_allocator().build()?;
    let _scope = enable_cudagraphs(&mut session, GraphCache::new(4))?;
    Ok(())
}
