// Misuse: a field that is neither `#[input]` nor `#[output]`. One error at the field, and the
// model's types still exist, so the code using them reports nothing more.
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan")]
struct Mlp {
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() {
    let model = Mlp::load_with(&trt::Runtime::simulated());
    drop(model);
}
