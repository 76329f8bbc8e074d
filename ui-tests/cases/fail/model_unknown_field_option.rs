// Misuse: an option `#[input]` does not know (only `name = "..."` exists).
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan")]
struct Mlp {
    #[input(tensor = "x")]
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() {}
