// Misuse: an option `#[trt_model]` does not know. The error names it and lists the options.
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/mlp.simplan", batch_size = 4)]
struct Mlp {
    #[input]
    x: Tensor<f32, Batch, 16>,
    #[output]
    y: Tensor<f32, Batch, 8>,
}

fn main() {}
