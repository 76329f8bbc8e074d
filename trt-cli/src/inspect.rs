//! `trt inspect PLAN [--manifest] [--rust]`.

use std::fmt::Write as _;
use std::path::PathBuf;

use trt_core::{typed, EngineInfo};

use crate::plan::{self, LoadedPlan};
use crate::{say, CliError};

/// Arguments of `trt inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The plan: a TensorRT engine file, or a simulated plan (`*.simplan`).
    plan: PathBuf,
    /// Also write the I/O manifest next to the plan (`PLAN.manifest.toml`); `#[trt_model]`
    /// checks its struct against it at compile time.
    #[arg(long)]
    manifest: bool,
    /// Print a ready `#[trt_model]` struct for the plan instead of the table.
    #[arg(long)]
    rust: bool,
}

/// Runs `trt inspect`.
pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let loaded = plan::load(&args.plan)?;
    let manifest = typed::manifest(
        loaded.engine.info(),
        &loaded.flavor_label(),
        &loaded.file_name(),
        &loaded.bytes,
    );
    if args.rust {
        let engine_path = args.plan.to_string_lossy();
        say(&format!(
            "// Paths in #[trt_model] are relative to the crate root: adjust `engine` if needed.\n{}",
            trt_manifest::render_model_struct(&manifest, &engine_path)
        ));
    } else {
        say(&describe(&loaded));
    }
    if args.manifest {
        let path = trt_manifest::manifest_path_for(&args.plan);
        std::fs::write(&path, manifest.to_toml())
            .map_err(|error| CliError::new(format!("cannot write {}: {error}", path.display())))?;
        let message = format!("wrote the I/O manifest {}", path.display());
        // With --rust, stdout holds only the struct, so it can be redirected into a file.
        if args.rust {
            eprintln!("{message}");
        } else {
            say(&format!("{message}\n"));
        }
    }
    Ok(())
}

/// The report: I/O table with profiles, memory, and what can run the plan.
fn describe(loaded: &LoadedPlan) -> String {
    let info = loaded.engine.info();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "engine `{}` from {}",
        info.name,
        loaded.path.display()
    );
    text.push('\n');
    text.push_str(&io_table(info));
    text.push('\n');
    let _ = writeln!(text, "optimization profiles: {}", info.num_profiles);
    let _ = writeln!(
        text,
        "device memory: {} per execution context",
        bytes_text(info.device_memory_size)
    );
    let streamable = if info.streamable_weights_size == 0 {
        "none (not built for weight streaming)".to_owned()
    } else {
        bytes_text(info.streamable_weights_size)
    };
    let _ = writeln!(
        text,
        "weights: {}, streamable: {streamable}",
        bytes_text(info.weights_size)
    );
    let needs = if loaded.is_simulated() {
        "the built-in host simulation (a simulated plan: no GPU or TensorRT needed)".to_owned()
    } else {
        format!(
            "{} (deserialized by it; a plan runs on the TensorRT version that built it unless \
             it was built version-compatible)",
            loaded.flavor_label()
        )
    };
    let _ = writeln!(text, "runs on: {needs}");
    text
}

/// One row per tensor, then one indented line per optimization profile of each input.
fn io_table(info: &EngineInfo) -> String {
    let header = ["name", "mode", "dtype", "shape"];
    let rows: Vec<[String; 4]> = info
        .tensors
        .iter()
        .map(|tensor| {
            [
                tensor.name.clone(),
                tensor.mode.to_string(),
                tensor.dtype.to_string(),
                tensor.shape.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&header);
    for (tensor, row) in info.tensors.iter().zip(&rows) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        text.push_str(&line(&cells));
        for (index, profile) in tensor.profiles.iter().enumerate() {
            let _ = writeln!(
                text,
                "      profile {index}: min {} opt {} max {}",
                profile.min, profile.opt, profile.max
            );
        }
    }
    text
}

/// `262144` -> `256 KiB (262144 bytes)`.
fn bytes_text(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for candidate in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(candidate);
    }
    match unit {
        None => format!("{bytes} bytes"),
        Some(unit) if value.fract() == 0.0 => format!("{value} {unit} ({bytes} bytes)"),
        Some(unit) => format!("{value:.1} {unit} ({bytes} bytes)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes_text(0), "0 bytes");
        assert_eq!(bytes_text(1023), "1023 bytes");
        assert_eq!(bytes_text(262_144), "256 KiB (262144 bytes)");
        assert_eq!(bytes_text(1_572_864), "1.5 MiB (1572864 bytes)");
        assert_eq!(bytes_text(4 << 30), "4 GiB (4294967296 bytes)");
    }
}
