// Legal: the two scoped switches on one `Session<Standard>`, one after the other: the CUDA
// graphs guard is dropped before the output allocator is enabled.
use trt::{enable_cudagraphs, enable_output_allocator, inputs, GraphCache, HostTensor, Runtime};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let mut session = engine.session().build()?;
    let x = HostTensor::from_vec(&[1, 16], vec![4.0f32; 16])?;
    let eager = session.run(&inputs!["x" => &x])?.to_host("y")?;

    let mut graphs = enable_cudagraphs(&mut session, GraphCache::new(2))?;
    let replayed = graphs.run(&inputs!["x" => &x])?.to_host("y")?;
    assert_eq!(graphs.graph_cache().len(), 1);
    drop(graphs);
    assert_eq!(replayed, eager);

    {
        let mut allocator = enable_output_allocator(&mut session)?;
        let allocated = allocator.run(&inputs!["x" => &x])?.to_host("y")?;
        assert_eq!(allocated, eager);
    }
    assert_eq!(session.run(&inputs!["x" => &x])?.to_host("y")?, eager);
    Ok(())
}
