// Rule: only a `Session<CudaGraphs>` has a graph cache: `graph_cache()` does not exist on a
// `Session<Standard>`.
use trt::Runtime;

fn main() -> Result<(), trt::Error> {
    let runtime = Runtime::simulated();
    let engine = runtime.load_engine("models/mlp.simplan")?;
    let session = engine.session().build()?;
    let _handle = session.graph_cache();
    Ok(())
}
