//! Loading a plan on the runtime that can read it.

use std::path::{Path, PathBuf};

use trt_core::backend::sim::SIM_PLAN_MAGIC;
use trt_core::{Engine, Flavor, Runtime};

use crate::CliError;

/// A deserialized plan and the runtime it lives on.
pub struct LoadedPlan {
    /// The runtime: the host simulation for simulated plans, `Runtime::auto()` otherwise.
    pub runtime: Runtime,
    /// The engine.
    pub engine: Engine,
    /// The plan bytes.
    pub bytes: Vec<u8>,
    /// The file as given.
    pub path: PathBuf,
}

impl LoadedPlan {
    /// True for a simulated plan.
    pub fn is_simulated(&self) -> bool {
        self.runtime.is_simulated()
    }

    /// The plan's file name.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The TensorRT build that deserialized the plan: "host simulation", "TensorRT 10.13.0".
    pub fn flavor_label(&self) -> String {
        match self.runtime.flavor() {
            Flavor::Simulation => Flavor::Simulation.to_string(),
            flavor => format!(
                "{flavor} {}",
                version_string(self.runtime.platform().library_version())
            ),
        }
    }
}

/// `getInferLibVersion()`'s `major*10000 + minor*100 + patch` as `major.minor.patch`.
pub fn version_string(version: u32) -> String {
    format!(
        "{}.{}.{}",
        version / 10000,
        (version / 100) % 100,
        version % 100
    )
}

/// Reads `path` and deserializes it: simulated plans on the host simulation, anything else on
/// the real TensorRT backend, which must then be available.
pub fn load(path: &Path) -> Result<LoadedPlan, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|error| CliError::new(format!("cannot read {}: {error}", path.display())))?;
    let simulated = bytes.starts_with(SIM_PLAN_MAGIC.as_bytes());
    let runtime = if simulated {
        Runtime::simulated()
    } else {
        let runtime = Runtime::auto();
        if let Some(reason) = runtime.fallback_reason() {
            return Err(CliError::new(format!(
                "{} is not a simulated plan, and no TensorRT backend is available here ({reason}); \
                 `trt doctor` says what is missing",
                path.display()
            )));
        }
        runtime
    };
    let engine = runtime
        .engine_from_bytes(&bytes)
        .map_err(|error| CliError::new(format!("{}: {error}", path.display())))?;
    Ok(LoadedPlan {
        runtime,
        engine,
        bytes,
        path: path.to_owned(),
    })
}
