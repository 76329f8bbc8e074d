// Misuse: the plan does not exist when compiling (paths are relative to the crate root).
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/missing.simplan")]
struct Mlp {
    #[input]
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() {}
