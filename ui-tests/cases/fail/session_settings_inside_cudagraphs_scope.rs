// Rule: a session's runtime settings change only while no scope borrows the session. While
// the guard of `enable_cudagraphs` is alive, `set_runtime_settings` cannot borrow the session.
use trt::{enable_cudagraphs, inputs, GraphCache, HostTensor, Runtime, RuntimeSettings};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let x = HostTensor::from_vec(&[1, 16], vec![0.0f32; 16])?;
    let mut session = engine.session().build()?;
    let mut graphs = enable_cudagraphs(&mut session, GraphCache::new(4))?;
    session.set_runtime_settings(RuntimeSettings::default());
    graphs.run(&inputs!["x" => &x])?;
    Ok(())
}
