// Legal: a plain `Session<Standard>` (eager runs, owned outputs).
use trt::{inputs, HostTensor, Outputs, Runtime, Session, Standard};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let mut session: Session<Standard> = engine.session().build()?;
    let x = HostTensor::from_vec(&[3, 16], (0..48).map(|i| i as f32 / 8.0 - 3.0).collect())?;
    let outputs: Outputs = session.run(&inputs!["x" => &x])?;
    assert_eq!(outputs.len(), 2);
    let y = outputs.to_host("y")?;
    assert_eq!(y.shape().dims(), &[3, 8]);
    // y = 2·relu(..) + 1
    assert!(y.as_slice::<f32>()?.iter().all(|&v| v >= 1.0));
    // z = 0.5·x − 1
    let z = outputs.to_host("z")?;
    for (&z, &x) in z.as_slice::<f32>()?.iter().zip(x.as_slice::<f32>()?) {
        assert!((z - (0.5 * x - 1.0)).abs() < 1e-6);
    }
    Ok(())
}
