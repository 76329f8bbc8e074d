// Rule: pre-allocated outputs borrow the session: the session cannot be moved away while
// they are alive.
use trt::{inputs, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().with_pre_allocated_outputs().build()?;
    let outputs = session.run(&inputs!["x" => &x])?;
    let moved = session;
    let _ = outputs.to_host("y")?;
    drop(moved);
    Ok(())
}
