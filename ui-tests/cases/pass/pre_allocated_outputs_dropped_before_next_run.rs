// Legal: pre-allocated outputs are read and dropped (their borrow ends) before the next run.
use trt::{inputs, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let mut session = engine.session().with_pre_allocated_outputs().build()?;
    let a = HostTensor::from_vec(&[1, 16], vec![2.0f32; 16])?;
    let b = HostTensor::from_vec(&[1, 16], vec![6.0f32; 16])?;

    let first = session.run(&inputs!["x" => &a])?;
    let z_a: Vec<f32> = first.get("z")?.to_vec()?;
    drop(first);
    let second = session.run(&inputs!["x" => &b])?;
    let z_b: Vec<f32> = second.get("z")?.to_vec()?;

    assert_eq!(z_a, vec![0.0f32; 16]);
    assert_eq!(z_b, vec![2.0f32; 16]);
    Ok(())
}
