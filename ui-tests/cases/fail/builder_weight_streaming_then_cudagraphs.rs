// Rule: CUDA graphs and weight streaming never meet (streaming makes enqueueV3 synchronous,
// so it cannot be captured). A builder with weight streaming cannot add CUDA graphs.
use trt::{GraphCache, Runtime, WeightStreamingBudget};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/streaming.simplan")?;
    let _session = engine
        .session()
        .with_weight_streaming(WeightStreamingBudget::Automatic)
        .with_cudagraphs(GraphCache::new(4))
        .build()?;
    Ok(())
}
