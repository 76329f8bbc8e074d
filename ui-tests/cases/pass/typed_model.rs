// Legal: a typed model with CUDA graphs and pre-allocated outputs; its outputs are read
// before the next run. The plan is embedded, so the binary needs no file at run time.
use trt::typed::{TypedInput, TypedOutputView};
use trt::{trt_model, GraphCache, Runtime};

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan", embed)]
struct Mlp {
    #[input]
    x: Tensor<f32, Batch, 16>,
    #[output]
    z: Tensor<f32, Batch, 16>,
}

fn main() -> Result<(), trt::typed::ModelError> {
    let model = Mlp::load_with(&Runtime::simulated())?;
    let mut session = model
        .session()
        .with_cudagraphs(GraphCache::new(2))
        .with_pre_allocated_outputs()
        .build()?;
    for value in [2.0f32, 4.0] {
        let data = vec![value; 3 * 16];
        let outputs = session.run(&MlpInputs {
            x: TypedInput::host(&data, [3, 16])?,
        })?;
        let z: TypedOutputView<'_, f32, 2> = outputs.z();
        assert_eq!(z.dims(), [3, 16]);
        assert_eq!(z.to_vec()?, vec![0.5 * value - 1.0; 3 * 16]);
    }
    assert_eq!(session.graph_cache().metrics().hits, 1);
    Ok(())
}
