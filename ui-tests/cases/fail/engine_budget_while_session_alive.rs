// Rule: the engine's weight-streaming budget changes only while no session borrows the
// engine. `Engine::set_weight_streaming_budget` takes `&mut self`, and a live session holds
// `&Engine`.
use trt::{inputs, HostTensor, Runtime, WeightStreamingBudget};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let mut engine = runtime.load_engine("models/streaming.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().build()?;
    engine.set_weight_streaming_budget(WeightStreamingBudget::StreamAll)?;
    session.run(&inputs!["x" => &x])?;
    Ok(())
}
