// Misuse: two fields bound to the same engine tensor.
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan")]
struct Mlp {
    #[input]
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
    #[output(name = "y")]
    also_y: Tensor<f32, Batch, 8>,
}

fn main() {}
