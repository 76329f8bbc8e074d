//! `trt doctor`: what this machine has for running TensorRT engines, and whether it fits
//! together. Gathering ([`libraries`], [`machine`]) is kept apart from judging ([`assess`]),
//! which is a pure function and tested as such.

use std::fmt::Write as _;

use trt_core::{Flavor, Runtime};

use crate::exit;

mod libraries;
mod machine;

use libraries::{LibraryFinding, LibraryReport};
use machine::{Driver, Gpu, Gpus};

/// What the machine can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// TensorRT, the driver and a GPU it can run on are there.
    Ready,
    /// Something is missing: only the host simulation can run. The reasons.
    SimulationOnly(Vec<String>),
    /// TensorRT is there but cannot run here. The reasons (and anything missing too).
    Unusable(Vec<String>),
}

impl Verdict {
    /// The exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Ready => exit::SUCCESS,
            Verdict::SimulationOnly(_) => exit::SIMULATION_ONLY,
            Verdict::Unusable(_) => exit::UNUSABLE,
        }
    }
}

/// Judges the findings. `fallback` is why `Runtime::auto()` uses the simulation, if it does.
pub fn assess(
    libraries: &LibraryReport,
    driver_found: bool,
    gpus: &[Gpu],
    fallback: Option<&str>,
) -> Verdict {
    let mut unusable = Vec::new();
    let mut missing = Vec::new();
    match libraries.selected() {
        None => missing.push("no TensorRT library was found".to_owned()),
        Some(LibraryFinding::Unusable { path, reason, .. }) => unusable.push(format!(
            "{} was found but cannot be used: {reason}",
            path.display()
        )),
        Some(LibraryFinding::Loaded { .. }) => {}
    }
    if libraries.selected().map(LibraryFinding::flavor) == Some(Flavor::Rtx) {
        let refused: Vec<&Gpu> = gpus
            .iter()
            .filter(|gpu| matches!(gpu.compute_capability, Some((9, _))))
            .collect();
        for gpu in &refused {
            let (major, minor) = gpu.compute_capability.unwrap_or_default();
            unusable.push(format!(
                "TensorRT-RTX cannot run on GPU {} ({}): it does not support compute capability \
                 {major}.{minor} (Hopper); use standard TensorRT (libnvinfer) on this GPU",
                gpu.index, gpu.name
            ));
        }
        // Usable after all when another GPU is not a Hopper.
        if !refused.is_empty() && refused.len() < gpus.len() {
            unusable.retain(|problem| !problem.starts_with("TensorRT-RTX cannot run"));
        }
    }
    if !driver_found {
        missing.push("the CUDA driver (libcuda.so) was not found".to_owned());
    }
    if gpus.is_empty() {
        missing.push("no NVIDIA GPU was found".to_owned());
    }
    if let Some(reason) = fallback {
        missing.push(format!(
            "this build runs engines on the host simulation: {reason}"
        ));
    }
    if !unusable.is_empty() {
        unusable.extend(missing);
        Verdict::Unusable(unusable)
    } else if !missing.is_empty() {
        Verdict::SimulationOnly(missing)
    } else {
        Verdict::Ready
    }
}

/// Runs `trt doctor`; returns the exit status.
pub fn run() -> u8 {
    let libraries = libraries::search();
    let driver = machine::driver();
    let gpus = machine::gpus();
    let runtime = Runtime::auto();
    let fallback = runtime.fallback_reason().map(str::to_owned);
    let verdict = assess(&libraries, driver.libcuda, &gpus.gpus, fallback.as_deref());
    crate::say(&render(&libraries, &driver, &gpus, &runtime, &verdict));
    verdict.exit_code()
}

fn render(
    libraries: &LibraryReport,
    driver: &Driver,
    gpus: &Gpus,
    runtime: &Runtime,
    verdict: &Verdict,
) -> String {
    let mut text = String::from("TensorRT libraries\n");
    for place in &libraries.searched {
        let _ = writeln!(text, "  searched: {place}");
    }
    if libraries.found.is_empty() {
        text.push_str("  none found\n");
    }
    for finding in &libraries.found {
        let _ = match finding {
            LibraryFinding::Loaded {
                path,
                flavor,
                version,
                origin,
            } => writeln!(
                text,
                "  found: {flavor} {version} at {} ({origin})",
                path.display()
            ),
            LibraryFinding::Unusable {
                path,
                flavor,
                reason,
                origin,
            } => writeln!(
                text,
                "  found, unusable: {} ({flavor} by its name; {origin}): {reason}",
                path.display()
            ),
        };
    }

    text.push_str("CUDA driver\n");
    text.push_str(if driver.libcuda {
        "  libcuda: found\n"
    } else {
        "  libcuda: not found (libcuda.so cannot be loaded)\n"
    });
    let _ = match &driver.kernel_module {
        Some(line) => writeln!(text, "  kernel module: {line}"),
        None => writeln!(
            text,
            "  kernel module: not loaded (/proc/driver/nvidia/version does not exist)"
        ),
    };

    text.push_str("GPUs\n");
    if gpus.gpus.is_empty() {
        let _ = writeln!(text, "  none found ({})", gpus.source);
    } else {
        let _ = writeln!(text, "  listed by {}", gpus.source);
    }
    for gpu in &gpus.gpus {
        let capability = gpu
            .compute_capability
            .map(|(major, minor)| format!("compute capability {major}.{minor}"))
            .unwrap_or_else(|| "compute capability unknown".to_owned());
        let _ = writeln!(text, "  GPU {}: {}, {capability}", gpu.index, gpu.name);
    }

    text.push_str("This build\n");
    let _ = match runtime.fallback_reason() {
        Some(reason) => writeln!(
            text,
            "  Runtime::auto() runs on the host simulation ({reason})"
        ),
        None => writeln!(
            text,
            "  Runtime::auto() runs on {} with {}",
            runtime.device().name(),
            runtime.flavor()
        ),
    };

    text.push_str("Verdict\n");
    let _ = match verdict {
        Verdict::Ready => writeln!(text, "  ready: real engines run here (exit 0)"),
        Verdict::SimulationOnly(reasons) => {
            for reason in reasons {
                let _ = writeln!(text, "  - {reason}");
            }
            writeln!(
                text,
                "  only the host simulation can run here; every command works on simulated plans (exit 3)"
            )
        }
        Verdict::Unusable(reasons) => {
            for reason in reasons {
                let _ = writeln!(text, "  - {reason}");
            }
            writeln!(
                text,
                "  TensorRT was found but cannot run on this machine (exit 4)"
            )
        }
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(flavor: Flavor) -> LibraryReport {
        LibraryReport {
            searched: vec![],
            found: vec![LibraryFinding::Loaded {
                path: "/opt/lib.so".into(),
                flavor,
                version: "1.1.0".into(),
                origin: "test",
            }],
        }
    }

    fn gpu(index: u32, name: &str, capability: (u32, u32)) -> Gpu {
        Gpu {
            index,
            name: name.into(),
            compute_capability: Some(capability),
        }
    }

    #[test]
    fn everything_present_is_ready() {
        let gpus = [gpu(0, "NVIDIA H100", (9, 0))];
        assert_eq!(
            assess(&loaded(Flavor::Standard), true, &gpus, None),
            Verdict::Ready
        );
        assert_eq!(Verdict::Ready.exit_code(), 0);
    }

    #[test]
    fn tensorrt_rtx_refuses_hopper() {
        let hopper = [gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))];
        let verdict = assess(&loaded(Flavor::Rtx), true, &hopper, None);
        let Verdict::Unusable(reasons) = &verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(
            reasons[0],
            "TensorRT-RTX cannot run on GPU 0 (NVIDIA H100 80GB HBM3): it does not support \
             compute capability 9.0 (Hopper); use standard TensorRT (libnvinfer) on this GPU"
        );
        assert_eq!(verdict.exit_code(), 4);
        // Another GPU that is not a Hopper can run it.
        let mixed = [hopper[0].clone(), gpu(1, "NVIDIA RTX 6000 Ada", (8, 9))];
        assert_eq!(
            assess(&loaded(Flavor::Rtx), true, &mixed, None),
            Verdict::Ready
        );
        // Standard TensorRT runs on Hopper.
        assert_eq!(
            assess(&loaded(Flavor::Standard), true, &hopper, None),
            Verdict::Ready
        );
    }

    #[test]
    fn missing_pieces_leave_the_simulation() {
        let verdict = assess(&LibraryReport::default(), false, &[], Some("no backend"));
        assert_eq!(
            verdict,
            Verdict::SimulationOnly(vec![
                "no TensorRT library was found".into(),
                "the CUDA driver (libcuda.so) was not found".into(),
                "no NVIDIA GPU was found".into(),
                "this build runs engines on the host simulation: no backend".into(),
            ])
        );
        assert_eq!(verdict.exit_code(), 3);
    }

    #[test]
    fn a_library_that_does_not_load_is_unusable() {
        let report = LibraryReport {
            searched: vec![],
            found: vec![LibraryFinding::Unusable {
                path: "/x/libnvinfer.so.10".into(),
                flavor: Flavor::Standard,
                reason: "invalid ELF header".into(),
                origin: "test",
            }],
        };
        let verdict = assess(&report, true, &[gpu(0, "GPU", (8, 0))], None);
        assert_eq!(
            verdict,
            Verdict::Unusable(vec![
                "/x/libnvinfer.so.10 was found but cannot be used: invalid ELF header".into()
            ])
        );
    }
}
