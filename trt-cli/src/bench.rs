//! `trt bench PLAN [--shapes ...]`: eager runs against CUDA-graph replays, per input shape.
//!
//! Both modes cycle through the shape sets in the same order; the graph session goes through
//! one LRU graph cache, so more shapes than its capacity show up as evictions and captures.
//! A latency is the wall time of one `run` call, which returns after the work has finished.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use trt_core::{CacheMetrics, CaptureFailurePolicy, GraphCache, HostTensor, Input, Shape};

use crate::plan;
use crate::progress::Progress;
use crate::shapes::{default_shapes, parse_shape_set, resolve, ShapeSet};
use crate::{say, CliError};

/// When to draw the progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// When stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `trt bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The plan: a TensorRT engine file, or a simulated plan (`*.simplan`).
    plan: PathBuf,
    /// Input shapes to cycle through, one set per value: `1x16 4x16`, or `a=1x4,b=1x4` for
    /// several inputs. Default: the opt shapes of optimization profile 0.
    #[arg(long, num_args = 1.., value_parser = parse_shape_set)]
    shapes: Vec<ShapeSet>,
    /// Timed runs per shape set and mode.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Untimed runs per shape set and mode before timing (for graphs: the captures).
    #[arg(long, default_value_t = 10)]
    warmup: u32,
    /// Capacity of the graph LRU cache. Default: the number of shape sets.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cache_capacity: Option<u64>,
    /// Draw a progress bar on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

/// One shape set with its (zero-filled) input tensors.
struct Case {
    label: String,
    inputs: Vec<(String, HostTensor)>,
    /// Items per run: the first extent of the first input.
    batch: usize,
}

impl Case {
    fn new(shapes: Vec<(String, Shape)>, info: &trt_core::EngineInfo) -> Result<Case, CliError> {
        let label = shapes
            .iter()
            .map(|(name, shape)| format!("{name}={shape}"))
            .collect::<Vec<_>>()
            .join(" ");
        let batch = shapes
            .first()
            .and_then(|(_, shape)| shape.dims().first().copied())
            .and_then(|extent| usize::try_from(extent).ok())
            .unwrap_or(1);
        let inputs = shapes
            .into_iter()
            .map(|(name, shape)| {
                let tensor = info.tensor(&name).ok_or_else(|| {
                    CliError::new(format!("engine `{}` has no input `{name}`", info.name))
                })?;
                // Checked before allocating: a shape outside the profile is a short error, not
                // a huge allocation.
                tensor.check_input(0, tensor.dtype, &shape)?;
                Ok((name, HostTensor::zeros(tensor.dtype, shape)?))
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        Ok(Case {
            label,
            inputs,
            batch,
        })
    }

    fn inputs(&self) -> Vec<Input<'_>> {
        self.inputs
            .iter()
            .map(|(name, tensor)| Input::new(name, tensor))
            .collect()
    }
}

/// Latency statistics of one case in one mode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Mean.
    pub mean: Duration,
}

/// Nearest-rank percentiles and the mean; `None` without samples.
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = |quantile: f64| {
        let index = (quantile * sorted.len() as f64).ceil() as usize;
        sorted[index.clamp(1, sorted.len()) - 1]
    };
    let total: Duration = sorted.iter().sum();
    Some(Summary {
        p50: rank(0.50),
        p90: rank(0.90),
        p99: rank(0.99),
        mean: total / sorted.len() as u32,
    })
}

/// `1.234ms`, `56.7µs`, `2.50s`.
pub fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2}s")
    } else if seconds >= 1e-3 {
        format!("{:.3}ms", seconds * 1e3)
    } else {
        format!("{:.1}µs", seconds * 1e6)
    }
}

/// Runs every case `warmup` times untimed, then `iterations` rounds over all cases, timed.
fn measure(
    label: &str,
    cases: &[Case],
    warmup: u32,
    iterations: u32,
    progress: bool,
    mut run: impl FnMut(&[Input<'_>]) -> trt_core::Result<()>,
) -> Result<Vec<Vec<Duration>>, CliError> {
    let rounds = u64::from(warmup) + u64::from(iterations);
    let mut bar = Progress::new(progress, label, rounds * cases.len() as u64);
    let inputs: Vec<Vec<Input<'_>>> = cases.iter().map(Case::inputs).collect();
    let mut samples = vec![Vec::with_capacity(iterations as usize); cases.len()];
    for round in 0..rounds {
        for ((case, inputs), samples) in cases.iter().zip(&inputs).zip(&mut samples) {
            let started = Instant::now();
            run(inputs).map_err(|error| {
                CliError::new(format!("{label} run with {}: {error}", case.label))
            })?;
            let elapsed = started.elapsed();
            if round >= u64::from(warmup) {
                samples.push(elapsed);
            }
            bar.step();
        }
    }
    bar.finish();
    Ok(samples)
}

/// Runs `trt bench`.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let loaded = plan::load(&args.plan)?;
    let engine = &loaded.engine;
    let info = engine.info();
    let shape_sets = if args.shapes.is_empty() {
        vec![default_shapes(info)]
    } else {
        args.shapes
            .iter()
            .map(|set| resolve(set, info))
            .collect::<Result<Vec<_>, _>>()?
    };
    let cases = shape_sets
        .into_iter()
        .map(|shapes| Case::new(shapes, info))
        .collect::<Result<Vec<_>, _>>()?;
    let capacity = args
        .cache_capacity
        .map_or(cases.len(), |capacity| capacity as usize);
    let progress = match args.progress {
        ProgressMode::Always => true,
        ProgressMode::Never => false,
        ProgressMode::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };

    let machine = if loaded.is_simulated() {
        "the host simulation (timings say nothing about a GPU)".to_owned()
    } else {
        format!(
            "{} with {}",
            loaded.runtime.device().name(),
            loaded.flavor_label()
        )
    };
    say(&format!(
        "engine `{}` from {} on {machine}\n{} timed runs per shape and mode after {} warm-up \
         runs; graph cache capacity {capacity}\n",
        info.name,
        args.plan.display(),
        args.iterations,
        args.warmup
    ));

    let eager = {
        let mut session = engine.session().with_pre_allocated_outputs().build()?;
        measure(
            "eager",
            &cases,
            args.warmup,
            args.iterations,
            progress,
            |inputs| session.run(inputs).map(drop),
        )?
    };
    // Uncapturable shapes (data-dependent outputs) run eagerly and show up as bypasses.
    let cache = GraphCache::new(capacity)
        .with_capture_failure_policy(CaptureFailurePolicy::FallbackToEager);
    let handle = cache.handle();
    let (graphs, cached) = {
        let mut session = engine
            .session()
            .with_cudagraphs(cache)
            .with_pre_allocated_outputs()
            .build()?;
        let samples = measure(
            "graphs",
            &cases,
            args.warmup,
            args.iterations,
            progress,
            |inputs| session.run(inputs).map(drop),
        )?;
        // Read before the session drops: dropping it frees its graphs.
        (samples, handle.len())
    };
    say(&format!(
        "\n{}",
        report(&cases, &eager, &graphs, &handle.metrics(), cached)
    ));
    Ok(())
}

fn report(
    cases: &[Case],
    eager: &[Vec<Duration>],
    graphs: &[Vec<Duration>],
    metrics: &CacheMetrics,
    cached: usize,
) -> String {
    let mut rows = vec![[
        "shape".to_owned(),
        "mode".to_owned(),
        "p50".to_owned(),
        "p90".to_owned(),
        "p99".to_owned(),
        "mean".to_owned(),
        "runs/s".to_owned(),
        "items/s".to_owned(),
    ]];
    for (index, case) in cases.iter().enumerate() {
        for (mode, samples) in [("eager", &eager[index]), ("graphs", &graphs[index])] {
            let Some(summary) = summarize(samples) else {
                continue;
            };
            let runs_per_second = 1.0 / summary.mean.as_secs_f64().max(1e-12);
            rows.push([
                case.label.clone(),
                mode.to_owned(),
                duration_text(summary.p50),
                duration_text(summary.p90),
                duration_text(summary.p99),
                duration_text(summary.mean),
                format!("{runs_per_second:.0}"),
                format!("{:.0}", runs_per_second * case.batch as f64),
            ]);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| {
                let padding = width.saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(padding))
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    let _ = writeln!(
        text,
        "\ngraph cache: {cached} cached; hits {}, misses {}, captures {}, evictions {}, \
         capture failures {}, bypasses {}, capture time {}",
        metrics.hits,
        metrics.misses,
        metrics.captures,
        metrics.evictions,
        metrics.capture_failures,
        metrics.bypasses,
        duration_text(metrics.capture_time)
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_micros(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = micros(&(1..=100).rev().collect::<Vec<_>>());
        let summary = summarize(&samples).unwrap();
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p90, Duration::from_micros(90));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.mean, Duration::from_nanos(50_500));
        let one = summarize(&micros(&[7])).unwrap();
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_micros(7), Duration::from_micros(7))
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration_text(Duration::from_nanos(56_700)), "56.7µs");
        assert_eq!(duration_text(Duration::from_micros(1234)), "1.234ms");
        assert_eq!(duration_text(Duration::from_millis(2500)), "2.50s");
    }
}
