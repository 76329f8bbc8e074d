// Rule: the engine's runtime settings change only while no session borrows the engine.
// `Engine::set_runtime_settings` takes `&mut self`, and a live session holds `&Engine`.
use trt::{inputs, HostTensor, Runtime, RuntimeSettings};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let mut engine = runtime.load_engine("models/mlp.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().build()?;
    engine.set_runtime_settings(RuntimeSettings::default());
    session.run(&inputs!["x" => &x])?;
    Ok(())
}
