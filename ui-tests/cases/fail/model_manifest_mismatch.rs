// Misuse: the struct disagrees with the I/O manifest next to the plan
// (models/detector.simplan.manifest.toml, written by `trt inspect --manifest`): `scores`
// holds f32 in the engine. A compile error at the offending field.
use trt::trt_model;

#[trt_model(engine = "$TRT_UI_MODELS/detector.simplan")]
struct Detector {
    #[input]
    images: Tensor<f16, Batch, 3, 32, 32>,
    #[output]
    boxes: Tensor<f32, Batch, 64, 4>,
    #[output]
    scores: Tensor<f16, Batch, 64>,
}

fn main() {}
