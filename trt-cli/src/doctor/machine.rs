//! The CUDA driver and the GPUs: `trt_core`'s CUDA backend, `/proc/driver/nvidia` and
//! `nvidia-smi`.

use std::path::Path;
use std::process::Command;

/// What was found of the CUDA driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Driver {
    /// `libcuda` can be loaded.
    pub libcuda: bool,
    /// The kernel module's version line from `/proc/driver/nvidia/version`.
    pub kernel_module: Option<String>,
}

/// One GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpu {
    /// Its index.
    pub index: u32,
    /// Its name ("NVIDIA H100 80GB HBM3").
    pub name: String,
    /// Major and minor compute capability, when known.
    pub compute_capability: Option<(u32, u32)>,
}

/// The GPUs and where the list came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gpus {
    /// The GPUs.
    pub gpus: Vec<Gpu>,
    /// "nvidia-smi", "the CUDA driver", "/proc/driver/nvidia/gpus", or why none could be listed.
    pub source: String,
}

/// The driver as `trt_core`'s CUDA backend sees it, and the kernel module.
pub fn driver() -> Driver {
    Driver {
        libcuda: trt_core::ffi::cuda::driver_present(),
        kernel_module: kernel_module(),
    }
}

/// The first line of `/proc/driver/nvidia/version`, when the kernel module is loaded.
fn kernel_module() -> Option<String> {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version").ok()?;
    text.lines()
        .next()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The GPUs: from `nvidia-smi` when it is on `PATH`, else from the CUDA driver, else names
/// only from `/proc`.
pub fn gpus() -> Gpus {
    let mut notes = Vec::new();
    let queried = Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,compute_cap",
            "--format=csv,noheader",
        ])
        .output();
    match queried {
        Ok(output) if output.status.success() => {
            return Gpus {
                gpus: parse_nvidia_smi(&String::from_utf8_lossy(&output.stdout)),
                source: "nvidia-smi".to_owned(),
            }
        }
        Ok(output) => notes.push(format!(
            "nvidia-smi failed ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(_) => notes.push("nvidia-smi is not on PATH".to_owned()),
    }
    match from_driver() {
        Ok(gpus) if !gpus.is_empty() => {
            return Gpus {
                gpus,
                source: "the CUDA driver".to_owned(),
            }
        }
        Ok(_) => notes.push("the CUDA driver reports no device".to_owned()),
        Err(error) => notes.push(format!("the CUDA driver: {error}")),
    }
    let mut listed = from_proc(Path::new("/proc/driver/nvidia/gpus"));
    notes.push(listed.source);
    listed.source = notes.join("; ");
    listed
}

/// Every device the CUDA driver reports, with its compute capability.
fn from_driver() -> trt_core::Result<Vec<Gpu>> {
    use trt_core::backend::cuda::CudaDevice;
    use trt_core::backend::DeviceBackend;
    (0..CudaDevice::count()?)
        .map(|ordinal| {
            let device = CudaDevice::new(ordinal)?;
            let (major, minor) = device.compute_capability()?;
            Ok(Gpu {
                index: u32::try_from(ordinal).unwrap_or(u32::MAX),
                name: device.name(),
                compute_capability: Some((
                    u32::try_from(major).unwrap_or(0),
                    u32::try_from(minor).unwrap_or(0),
                )),
            })
        })
        .collect()
}

/// Parses `index, name, compute_cap` lines; a capability nvidia-smi cannot report (`[N/A]`,
/// older drivers) stays unknown.
pub fn parse_nvidia_smi(csv: &str) -> Vec<Gpu> {
    csv.lines()
        .filter_map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let index = fields.next()?.parse().ok()?;
            let name = fields.next()?.to_owned();
            let compute_capability = fields.next().and_then(|cc| {
                let (major, minor) = cc.split_once('.')?;
                Some((major.parse().ok()?, minor.parse().ok()?))
            });
            Some(Gpu {
                index,
                name,
                compute_capability,
            })
        })
        .collect()
}

/// GPUs from `/proc/driver/nvidia/gpus/*/information` (names only).
fn from_proc(folder: &Path) -> Gpus {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Gpus {
            gpus: Vec::new(),
            source: format!("{} does not exist", folder.display()),
        };
    };
    let mut folders: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    folders.sort();
    let gpus = folders
        .iter()
        .zip(0..)
        .filter_map(|(path, index)| {
            let text = std::fs::read_to_string(path.join("information")).ok()?;
            Some(Gpu {
                index,
                name: parse_proc_model(&text)?,
                compute_capability: None,
            })
        })
        .collect();
    Gpus {
        gpus,
        source: format!("{} (no compute capability there)", folder.display()),
    }
}

/// The `Model:` line of a `/proc/driver/nvidia/gpus/*/information` file.
pub fn parse_proc_model(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("Model:"))
        .map(|model| model.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_parse_with_or_without_capability() {
        let gpus = parse_nvidia_smi(
            "0, NVIDIA H100 80GB HBM3, 9.0\n1, NVIDIA GeForce RTX 4090, 8.9\n2, Tesla K80, [N/A]\nnot a line\n",
        );
        assert_eq!(gpus.len(), 3);
        assert_eq!(gpus[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(gpus[0].compute_capability, Some((9, 0)));
        assert_eq!(gpus[1].compute_capability, Some((8, 9)));
        assert_eq!(gpus[2].compute_capability, None);
    }

    #[test]
    fn proc_information_gives_the_model() {
        let text = "Model: \t\t NVIDIA A100-SXM4-40GB\nIRQ:   64\nGPU UUID: GPU-x\n";
        assert_eq!(
            parse_proc_model(text).as_deref(),
            Some("NVIDIA A100-SXM4-40GB")
        );
        assert_eq!(parse_proc_model("IRQ: 1"), None);
    }
}
