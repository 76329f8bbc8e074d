// Legal: an output allocator with pre-allocated outputs
// (`Session<OutputAllocator, PreAllocated>`); each run's outputs are dropped before the next.
use trt::{inputs, HostTensor, OutputAllocator, PreAllocated, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/nonzero.simplan"))?;
    let mut session: Session<OutputAllocator, PreAllocated> = engine
        .session()
        .with_output_allocator()
        .with_pre_allocated_outputs()
        .build()?;
    let sparse = HostTensor::from_vec(&[1, 8], vec![0.0f32, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])?;
    let dense = HostTensor::from_vec(&[2, 8], vec![1.0f32; 16])?;
    let y: Vec<i64> = session.run(&inputs!["x" => &sparse])?.get("y")?.to_vec()?;
    assert_eq!(y, vec![0, 2]);
    let outputs = session.run(&inputs!["x" => &dense])?;
    assert_eq!(outputs.get("y")?.shape().dims(), &[16, 2]);
    Ok(())
}
