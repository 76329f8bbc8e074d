// Rule: CUDA graphs cannot be switched on while per-run activation memory is: the dynamic
// allocation scope borrows the session until it is dropped.
use trt::{enable_cudagraphs, enable_dynamic_allocation, inputs, GraphCache, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let mut session = engine.session().build()?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut dynamic = enable_dynamic_allocation(&mut session);
    let _graphs = enable_cudagraphs(&mut session, GraphCache::new(4))?;
    dynamic.run(&inputs!["x" => &x])?;
    Ok(())
}
