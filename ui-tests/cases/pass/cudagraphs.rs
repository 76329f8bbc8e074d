// Legal: a `Session<CudaGraphs>` with owned outputs; a second run of the same shape replays
// the captured graph.
use trt::{inputs, CudaGraphs, GraphCache, HostTensor, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let mut session: Session<CudaGraphs> =
        engine.session().with_cudagraphs(GraphCache::new(4)).build()?;
    let x = HostTensor::from_vec(&[2, 16], vec![1.0f32; 32])?;
    let first = session.run(&inputs!["x" => &x])?.to_host("z")?;
    let second = session.run(&inputs!["x" => &x])?.to_host("z")?;
    assert_eq!(first, second);
    assert_eq!(first.as_slice::<f32>()?, &[-0.5f32; 32][..]);
    let handle = session.graph_cache();
    assert_eq!(handle.len(), 1);
    assert_eq!(handle.metrics().hits, 1);
    Ok(())
}
