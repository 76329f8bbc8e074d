// Legal: CUDA graphs with pre-allocated outputs (`Session<CudaGraphs, PreAllocated>`); the
// borrowed outputs are read before the next run.
use trt::{inputs, BorrowedOutputs, CudaGraphs, GraphCache, HostTensor, PreAllocated, Runtime, Session};

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.engine_from_bytes(include_bytes!("../../../models/mlp.simplan"))?;
    let mut session: Session<CudaGraphs, PreAllocated> = engine
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .with_pre_allocated_outputs()
        .build()?;
    for value in [2.0f32, 4.0] {
        let x = HostTensor::from_vec(&[4, 16], vec![value; 64])?;
        let outputs: BorrowedOutputs<'_> = session.run(&inputs!["x" => &x])?;
        assert_eq!(outputs.get("y")?.shape().dims(), &[4, 8]);
        let z: Vec<f32> = outputs.get("z")?.to_vec()?;
        assert_eq!(z, vec![0.5 * value - 1.0; 64]);
    }
    assert_eq!(session.graph_cache().metrics().hits, 1);
    Ok(())
}
