//! Shared helpers of the FFI integration tests (`tests/ffi_*.rs`): locating (and on a fresh
//! clone, fetching and building) the fixtures under `target/trt-fixtures/`, and writing
//! stand-in plans.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (the facade crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/trt-fixtures/`, fetched and built by `scripts/fetch-trt-fixtures.sh` on first use.
///
/// The script is idempotent and cached (a second run takes well under a second) and takes a
/// file lock itself, so parallel test processes serialise on it. A failure FAILS the calling
/// test with the script's output: these tests never skip silently.
pub fn fixtures() -> &'static Path {
    static FIXTURES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = FIXTURES.get_or_init(|| {
        let root = repo_root();
        let output = Command::new("bash")
            .arg(root.join("scripts/fetch-trt-fixtures.sh"))
            .current_dir(&root)
            .output()
            .map_err(|error| format!("cannot run scripts/fetch-trt-fixtures.sh: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "scripts/fetch-trt-fixtures.sh failed ({}); the first run needs network access to \
                 crates.io and PyPI, python3 with pip, and g++.\n--- stdout\n{}\n--- stderr\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(root.join("target/trt-fixtures"))
    });
    match result {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// The unzipped pip wheels, laid out like a python3 site-packages folder.
pub fn site_packages() -> PathBuf {
    fixtures().join("site-packages")
}

/// NVIDIA's headers shipped by the `trtx-sys` crate, one folder per header family.
pub fn headers() -> PathBuf {
    fixtures().join("headers")
}

/// The stand-in library built against the header family `build` (`rtx-1.7`, `trt-11.4`...).
pub fn stand_in_library(build: &str) -> PathBuf {
    let dir = fixtures().join("stand-in").join(build);
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| {
            panic!(
                "stand-in build {} is missing ({error}); scripts/fetch-trt-fixtures.sh builds it",
                dir.display()
            )
        })
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("lib"))
        })
        .unwrap_or_else(|| panic!("no library in {}", dir.display()));
    file
}

/// Initialises `env_logger` once so TensorRT's forwarded messages show with `RUST_LOG`.
pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// One dense layer of a stand-in MLP plan: `y = relu(x W + b)`, `W` row-major `[in][out]`.
#[derive(Clone, Debug)]
pub struct Layer {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
}

impl Layer {
    /// A layer with deterministic pseudo-random weights in [-1, 1).
    pub fn seeded(inputs: usize, outputs: usize, seed: u64) -> Layer {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        Layer {
            weights: (0..inputs * outputs).map(|_| next()).collect(),
            bias: (0..outputs).map(|_| next() * 0.1).collect(),
            inputs,
            outputs,
        }
    }
}

/// Which runtimes a stand-in plan accepts.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Any = 0,
    Standard = 1,
    Rtx = 2,
}

/// A stand-in plan (format documented in `stand-in/src/plan.h`).
#[derive(Clone, Debug)]
pub struct PlanSpec {
    pub name: String,
    pub target: Target,
    pub nonzero_output: bool,
    pub streamable_weights: bool,
    pub batch: (u32, u32, u32),
    pub layers: Vec<Layer>,
}

impl PlanSpec {
    /// A 3-layer MLP 4 -> 8 -> 8 -> 3 accepting batches 1..=8.
    pub fn mlp() -> PlanSpec {
        PlanSpec {
            name: "mlp".into(),
            target: Target::Any,
            nonzero_output: false,
            streamable_weights: false,
            batch: (1, 4, 8),
            layers: vec![
                Layer::seeded(4, 8, 1),
                Layer::seeded(8, 8, 2),
                Layer::seeded(8, 3, 3),
            ],
        }
    }

    /// The plan bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"TRTSTND1");
        let flags = u32::from(self.nonzero_output) | (u32::from(self.streamable_weights) << 1);
        for value in [
            self.target as u32,
            flags,
            self.layers.len() as u32,
            self.batch.0,
            self.batch.1,
            self.batch.2,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&(self.name.len() as u32).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        for layer in &self.layers {
            out.extend_from_slice(&(layer.inputs as u32).to_le_bytes());
            out.extend_from_slice(&(layer.outputs as u32).to_le_bytes());
            for value in layer.weights.iter().chain(&layer.bias) {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out.extend_from_slice(b"END!");
        out
    }

    /// Total weight bytes (weights and biases), what `getEngineStat(kTOTAL_WEIGHTS_SIZE)` says.
    pub fn weight_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.weights.len() + l.bias.len()) * 4)
            .sum()
    }

    /// The Rust reference: `relu(x W + b)` per layer, `input` row-major `[batch][in]`.
    pub fn reference(&self, input: &[f32], batch: usize) -> Vec<f32> {
        let mut x = input.to_vec();
        for layer in &self.layers {
            let mut y = vec![0.0f32; batch * layer.outputs];
            for row in 0..batch {
                for column in 0..layer.outputs {
                    let mut sum = layer.bias[column];
                    for k in 0..layer.inputs {
                        sum +=
                            x[row * layer.inputs + k] * layer.weights[k * layer.outputs + column];
                    }
                    y[row * layer.outputs + column] = sum.max(0.0);
                }
            }
            x = y;
        }
        x
    }
}
