// Legal: a `Session<OutputAllocator>` on an engine with a data-dependent output.
use trt::{inputs, HostTensor, OutputAllocator, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/nonzero.simplan"))?;
    let mut session: Session<OutputAllocator> = engine.session().with_output_allocator().build()?;
    let x = HostTensor::from_vec(&[1, 8], vec![0.0f32, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0])?;
    let y = session.run(&inputs!["x" => &x])?.to_host("y")?;
    assert_eq!(y.shape().dims(), &[3, 2]);
    assert_eq!(y.as_slice::<i64>()?, &[0, 1, 0, 3, 0, 7]);
    Ok(())
}
