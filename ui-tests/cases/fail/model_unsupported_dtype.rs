// Misuse: an element type TensorRT tensors cannot hold as a Rust type (f64).
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan")]
struct Mlp {
    #[input]
    x: Tensor<f64, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() {}
