//! Helpers shared by the integration tests: simulated runtimes, plans, inputs and the
//! float64 references the simulated engines must match.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use trt::backend::sim::{
    linear_bias, linear_weight, SimConfig, SimDeviceStats, SimPlatform, SimStats,
};
use trt::{Engine, HostTensor, Runtime};

/// A plan file under `models/`.
pub fn plan(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// A simulated runtime with a handle on its platform, to read memory and call statistics.
pub struct Sim {
    pub platform: Arc<SimPlatform>,
    pub runtime: Runtime,
}

impl Sim {
    pub fn new() -> Sim {
        let platform = SimPlatform::new(SimConfig::default());
        let runtime = Runtime::with_platform(platform.clone());
        Sim { platform, runtime }
    }

    pub fn engine(&self, name: &str) -> Engine {
        self.runtime.load_engine(plan(name)).expect("plan loads")
    }

    pub fn memory(&self) -> SimDeviceStats {
        self.platform.sim_device().stats()
    }

    pub fn stats(&self) -> SimStats {
        self.platform.stats()
    }
}

/// Deterministic input of shape [batch, 16] that differs for every (batch, seed).
pub fn mlp_input(batch: usize, seed: u32) -> HostTensor {
    let data: Vec<f32> = (0..batch * 16)
        .map(|i| (((i as u32 * 37 + seed * 101) % 29) as f32 - 14.0) / 7.0)
        .collect();
    HostTensor::from_vec(&[batch, 16], data).unwrap()
}

/// models/mlp.simplan, output `y`: linear(16 -> 8, seed 1), relu, then 2·v + 1, in float64.
pub fn mlp_reference_y(x: &HostTensor) -> Vec<f64> {
    let x = x.as_slice::<f32>().unwrap();
    let batch = x.len() / 16;
    let mut y = Vec::with_capacity(batch * 8);
    for row in 0..batch {
        for n in 0..8 {
            let mut acc = linear_bias(n, 1);
            for k in 0..16 {
                acc += f64::from(x[row * 16 + k]) * linear_weight(k, n, 1);
            }
            y.push(2.0 * acc.max(0.0) + 1.0);
        }
    }
    y
}

/// models/mlp.simplan, output `z`: 0.5·x − 1, in float64.
pub fn mlp_reference_z(x: &HostTensor) -> Vec<f64> {
    x.as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|&v| 0.5 * f64::from(v) - 1.0)
        .collect()
}

/// Asserts `actual` matches `expected` to f32 precision (relative error).
pub fn assert_close(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "length");
    for (index, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tolerance = 1e-5 * e.abs().max(1.0);
        assert!(
            (f64::from(a) - e).abs() <= tolerance,
            "element {index}: {a} vs {e}"
        );
    }
}
