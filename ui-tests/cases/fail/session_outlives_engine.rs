// Rule: a session borrows its engine: it cannot be used after the engine is dropped.
use trt::{inputs, HostTensor, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session: Session;
    {
        let engine = runtime.load_engine("models/mlp.simplan")?;
        session = engine.session().build()?;
    }
    session.run(&inputs!["x" => &x])?;
    Ok(())
}
