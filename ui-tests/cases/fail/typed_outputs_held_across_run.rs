// Rule: the typestate rules carry over to typed models: pre-allocated typed outputs borrow
// the session until the next run, so holding them across it does not compile.
use trt::typed::TypedInput;
use trt::{trt_model, Runtime};

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan", embed)]
struct Mlp {
    #[input]
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() -> Result<(), trt::typed::ModelError> {
    let model = Mlp::load_with(&Runtime::simulated())?;
    let mut session = model.session().with_pre_allocated_outputs().build()?;
    let data = vec![0.0f32; 16];
    let inputs = MlpInputs {
        x: TypedInput::host(&data, [1, 16])?,
    };
    let first = session.run(&inputs)?;
    let second = session.run(&inputs)?;
    let _ = first.y().to_vec()?;
    drop(second);
    Ok(())
}
