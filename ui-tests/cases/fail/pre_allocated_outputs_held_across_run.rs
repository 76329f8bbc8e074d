// Rule: pre-allocated outputs borrow the session's reused buffers until the next run, which
// would overwrite them: holding them across the next run does not compile.
use trt::{inputs, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().with_pre_allocated_outputs().build()?;
    let first = session.run(&inputs!["x" => &x])?;
    let second = session.run(&inputs!["x" => &x])?;
    let _ = first.to_host("y")?;
    drop(second);
    Ok(())
}
