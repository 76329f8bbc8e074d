//! A video loop whose resolution changes: every new resolution captures a CUDA graph, a
//! known one replays from the LRU cache, and the least recently used one is evicted when the
//! cache is full.
//!
//! `cargo run --example video_loop`: runs `models/video.simplan` (u8 frames of 16x16 up to
//! 64x64, a per-pixel mask) on the host simulation, through a cache of 3 graphs.

use std::process::ExitCode;

use trt::typed::{ModelError, TypedInput};
use trt::{trt_model, GraphCache, Runtime};

#[trt_model(engine = "models/video.simplan")]
struct Segmenter {
    /// One RGB frame, rows of pixels, 8 bits per channel.
    #[input]
    frame: Tensor<u8, 1, H, W, 3>,
    /// Per pixel: probability that it belongs to the foreground.
    #[output]
    mask: Tensor<f32, 1, H, W>,
}

/// The resolutions of the stream, in order: (height, width).
const RESOLUTIONS: [(usize, usize); 10] = [
    (32, 32),
    (48, 32),
    (32, 32),
    (64, 48),
    (48, 32),
    (16, 16),
    (32, 32),
    (64, 48),
    (64, 48),
    (48, 32),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A bright square moving over a dark background.
fn frame(index: usize, height: usize, width: usize) -> Vec<u8> {
    let side = height.min(width) / 2;
    let (top, left) = (index % (height - side), (2 * index) % (width - side));
    (0..height * width * 3)
        .map(|value| {
            let pixel = value / 3;
            let (y, x) = (pixel / width, pixel % width);
            let inside = (top..top + side).contains(&y) && (left..left + side).contains(&x);
            if inside {
                230
            } else {
                20
            }
        })
        .collect()
}

fn run() -> Result<(), ModelError> {
    let model = Segmenter::load_with(&Runtime::simulated())?;
    let mut session = model
        .session()
        .with_cudagraphs(GraphCache::new(3))
        .with_pre_allocated_outputs()
        .build()?;
    let cache = session.graph_cache();
    println!(
        "video loop over `{}`, graph cache of 3",
        model.engine().name()
    );
    for (index, &(height, width)) in RESOLUTIONS.iter().enumerate() {
        let pixels = frame(index, height, width);
        let before = cache.metrics();
        let outputs = session.run(&SegmenterInputs {
            frame: TypedInput::host(&pixels, [1, height, width, 3])?,
        })?;
        let mask = outputs.mask().to_vec()?;
        let foreground = mask.iter().filter(|&&p| p > 0.5).count() as f64 / mask.len() as f64;
        let after = cache.metrics();
        let what = if after.hits > before.hits {
            "replayed"
        } else if after.evictions > before.evictions {
            "captured, evicted the oldest"
        } else {
            "captured"
        };
        let cached: Vec<String> = cache
            .keys()
            .iter()
            .filter_map(|key| {
                let dims = key.inputs().first()?.0;
                Some(format!("{}x{}", dims.dims()[1], dims.dims()[2]))
            })
            .collect();
        println!(
            "frame {index:>2}  {height:>2}x{width:<2}  {what:<28}  foreground {:>5.1}%  cached (oldest first): {}",
            100.0 * foreground,
            cached.join(", ")
        );
    }
    let metrics = cache.metrics();
    println!(
        "cache: hits {}, misses {}, captures {}, evictions {}",
        metrics.hits, metrics.misses, metrics.captures, metrics.evictions
    );
    Ok(())
}
