// Rule: CUDA graphs and weight streaming never meet. The scoped switch `enable_cudagraphs`
// does not accept a session built with weight streaming.
use trt::{enable_cudagraphs, GraphCache, Runtime, Session, WeightStreaming, WeightStreamingBudget};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/streaming.simplan")?;
    let mut session: Session<WeightStreaming> = engine
        .session()
        .with_weight_streaming(WeightStreamingBudget::StreamAll)
        .build()?;
    let _scope = enable_cudagraphs(&mut session, GraphCache::new(4))?;
    Ok(())
}
