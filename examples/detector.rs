//! A detector-style typed model: `#[trt_model]` declares its tensors, the engine is checked
//! against the struct when it loads (and, through `models/detector.simplan.manifest.toml`,
//! when this file compiles), and runs take and return typed tensors.
//!
//! `cargo run --example detector [-- PLAN]`. Without an argument it runs the simulated
//! `models/detector.simplan` on the host simulation. Given a plan, it loads it with
//! `Runtime::auto()` on the GPU: any detector with an f16 input `images` [N, 3, H, W] and f32
//! outputs `boxes` [N, A, 4] and `scores` [N, A] fits.

use std::process::ExitCode;

use trt::typed::{f16, ModelError, TypedInput};
use trt::{trt_model, GraphCache, Runtime};

#[trt_model(engine = "models/detector.simplan")]
struct Detector {
    /// Images, NCHW, values in [0, 1].
    #[input]
    images: Tensor<f16, Batch, 3, H, W>,
    /// Per anchor: x, y, width, height in pixels.
    #[output]
    boxes: Tensor<f32, Batch, Anchors, 4>,
    /// Per anchor: confidence in [0, 1].
    #[output]
    scores: Tensor<f32, Batch, Anchors>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), ModelError> {
    let (model, source) = match std::env::args_os().nth(1) {
        None => {
            let runtime = Runtime::simulated();
            let source = "models/detector.simplan on the host simulation".to_owned();
            (Detector::load_with(&runtime)?, source)
        }
        Some(plan) => {
            let runtime = Runtime::auto();
            if let Some(reason) = runtime.fallback_reason() {
                return Err(trt::Error::BackendUnavailable(format!(
                    "a real plan needs TensorRT and a GPU ({reason}); run without arguments \
                     for the simulated detector"
                ))
                .into());
            }
            let source = format!("{} on {}", plan.to_string_lossy(), runtime.device().name());
            (Detector::load_from(&runtime, &plan)?, source)
        }
    };
    println!(
        "engine `{}` from {source}: matches `Detector`",
        model.engine().name()
    );

    // Image size and batch from the engine: its fixed extents, or profile 0's opt shape.
    let images_info = model
        .engine()
        .info()
        .tensor("images")
        .cloned()
        .ok_or_else(|| trt::Error::InvalidConfig("no `images` tensor".into()))?;
    let shape = images_info
        .profiles
        .first()
        .map_or(images_info.shape, |profile| profile.opt);
    let extent = |axis: usize| usize::try_from(shape.dims()[axis]).unwrap_or(1);
    let (height, width) = (extent(2), extent(3));
    let batch = 2.min(
        images_info
            .profiles
            .first()
            .map_or(1, |profile| profile.max.dims()[0] as usize),
    );

    // A soft diagonal gradient per image, a different phase for each.
    let pixels: Vec<f16> = (0..batch * 3 * height * width)
        .map(|index| {
            let (image, rest) = (index / (3 * height * width), index % (height * width));
            let (y, x) = (rest / width, rest % width);
            f16::from_f32(((x + y + 7 * image) % 32) as f32 / 32.0)
        })
        .collect();

    let mut session = model
        .session()
        .with_cudagraphs(GraphCache::new(4))
        .with_pre_allocated_outputs()
        .build()?;
    let outputs = session.run(&DetectorInputs {
        images: TypedInput::host(&pixels, [batch, 3, height, width])?,
    })?;
    let [_, anchors, _] = outputs.boxes().dims();
    let boxes = outputs.boxes().to_vec()?;
    let scores = outputs.scores().to_vec()?;
    println!("{batch} images of {height}x{width}, {anchors} anchors each");
    for image in 0..batch {
        let mut ranked: Vec<usize> = (0..anchors).collect();
        let score = |anchor: usize| scores[image * anchors + anchor];
        ranked.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
        println!("image {image}: best 3 anchors");
        for &anchor in ranked.iter().take(3) {
            let at = (image * anchors + anchor) * 4;
            println!(
                "  anchor {anchor:>3}  score {:.3}  box x {:.1} y {:.1} w {:.1} h {:.1}",
                score(anchor),
                boxes[at],
                boxes[at + 1],
                boxes[at + 2],
                boxes[at + 3]
            );
        }
    }
    Ok(())
}
