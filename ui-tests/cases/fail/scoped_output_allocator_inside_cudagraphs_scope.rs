// Rule: the two scoped switches never overlap. While the guard of `enable_cudagraphs` is
// alive it borrows the session mutably, so `enable_output_allocator` cannot borrow it too.
use trt::{enable_cudagraphs, enable_output_allocator, inputs, GraphCache, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().build()?;
    let mut graphs = enable_cudagraphs(&mut session, GraphCache::new(4))?;
    let _allocator = enable_output_allocator(&mut session)?;
    graphs.run(&inputs!["x" => &x])?;
    Ok(())
}
