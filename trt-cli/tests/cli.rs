//! Runs the built `trt` binary on simulated plans and checks its output and exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trt(args: &[&str]) -> Output {
    trt_with_env(args, &[])
}

fn trt_with_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trt"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the trt binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn model(name: &str) -> String {
    format!("{}/../models/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("trt-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A failure is one short `error:` line, never a panic or a backtrace.
fn assert_one_line_error(output: &Output, code: i32, contains: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    let text = stderr(output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains(contains), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn inspect_prints_the_io_table_memory_and_what_runs_the_plan() {
    let output = trt(&["inspect", &model("detector.simplan")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let expected = "
  name    mode    dtype  shape
  images  input   f16    [-1, 3, 32, 32]
      profile 0: min [1, 3, 32, 32] opt [4, 3, 32, 32] max [16, 3, 32, 32]
  boxes   output  f32    [-1, 64, 4]
  scores  output  f32    [-1, 64]

optimization profiles: 1
device memory: 256 KiB (262144 bytes) per execution context
weights: 4 MiB (4194304 bytes), streamable: none (not built for weight streaming)
runs on: the built-in host simulation (a simulated plan: no GPU or TensorRT needed)
";
    assert!(text.starts_with("engine `detector` from "), "{text}");
    assert!(text.ends_with(expected), "{text}");

    let streaming = stdout(&trt(&["inspect", &model("streaming.simplan")]));
    assert!(
        streaming.contains("weights: 8 MiB (8388608 bytes), streamable: 6 MiB (6291456 bytes)"),
        "{streaming}"
    );
    let two_profiles = stdout(&trt(&["inspect", &model("mlp.simplan")]));
    assert!(
        two_profiles.contains("      profile 1: min [65, 16] opt [128, 16] max [256, 16]\n"),
        "{two_profiles}"
    );
}

#[test]
fn inspect_manifest_writes_the_io_table_next_to_the_plan() {
    let scratch = Scratch::new("manifest");
    let plan = scratch.0.join("detector.simplan");
    std::fs::copy(model("detector.simplan"), &plan).unwrap();
    let output = trt(&["inspect", plan.to_str().unwrap(), "--manifest"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = scratch.0.join("detector.simplan.manifest.toml");
    assert!(stdout(&output).ends_with(&format!("wrote the I/O manifest {}\n", written.display())));
    let manifest =
        trt_manifest::Manifest::parse(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(manifest.engine, "detector");
    assert_eq!(manifest.flavor, "host simulation");
    assert!(manifest.plan.matches(&std::fs::read(&plan).unwrap()));
    assert_eq!(manifest.plan.file, "detector.simplan");
    let names: Vec<(&str, trt_manifest::Mode, &str)> = manifest
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.mode, t.dtype.as_str()))
        .collect();
    use trt_manifest::Mode::{Input, Output};
    assert_eq!(
        names,
        [
            ("images", Input, "f16"),
            ("boxes", Output, "f32"),
            ("scores", Output, "f32")
        ]
    );
    assert_eq!(manifest.tensors[0].profiles[0].max, [16, 3, 32, 32]);
    // The committed manifest of the example is what the command writes.
    let committed = std::fs::read_to_string(model("detector.simplan.manifest.toml")).unwrap();
    assert_eq!(
        committed,
        std::fs::read_to_string(&written).unwrap(),
        "models/detector.simplan.manifest.toml is stale: rerun `trt inspect --manifest`"
    );
}

#[test]
fn inspect_rust_prints_a_ready_model_struct() {
    let plan = model("video.simplan");
    let output = trt(&["inspect", &plan, "--rust"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "// Paths in #[trt_model] are relative to the crate root: adjust `engine` if needed.\n\
             #[trt::trt_model(engine = {plan:?})]\n\
             pub struct Video {{\n    \
             #[input]\n    \
             frame: Tensor<u8, 1, _, _, 3>,\n    \
             #[output]\n    \
             mask: Tensor<f32, 1, _, _>,\n\
             }}\n"
        )
    );
}

#[test]
fn failures_are_one_sentence_with_status_1() {
    let missing = trt(&["inspect", "no/such/plan.simplan"]);
    assert_one_line_error(&missing, 1, "cannot read no/such/plan.simplan");

    let scratch = Scratch::new("garbage");
    let garbage = scratch.0.join("garbage.plan");
    std::fs::write(&garbage, b"\x7fELF not a plan at all").unwrap();
    let output = trt(&["inspect", garbage.to_str().unwrap()]);
    // Without TensorRT the plan cannot be read at all; with it, TensorRT refuses it.
    assert_one_line_error(&output, 1, &garbage.display().to_string());

    let broken = scratch.0.join("broken.simplan");
    std::fs::write(&broken, "#trt-sim-plan v1\nname = \"x\"\n").unwrap();
    let output = trt(&["bench", broken.to_str().unwrap()]);
    assert_one_line_error(&output, 1, "needs at least one input and one output");
}

#[test]
fn usage_errors_have_status_2_and_help_lists_the_statuses() {
    assert_eq!(trt(&["inspect"]).status.code(), Some(2));
    assert_eq!(trt(&["frobnicate"]).status.code(), Some(2));
    let bad_shape = trt(&["bench", &model("mlp.simplan"), "--shapes", "1x"]);
    assert_eq!(bad_shape.status.code(), Some(2));
    assert!(stderr(&bad_shape).contains("expected extents like 4x3x32x32"));
    let help = stdout(&trt(&["--help"]));
    for line in [
        "  0  success",
        "  1  the command failed",
        "  2  usage error",
        "  3  doctor: no real TensorRT backend here, only the host simulation",
        "  4  doctor: TensorRT was found but cannot run on this machine",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

#[test]
fn doctor_without_tensorrt_leaves_the_simulation_with_status_3() {
    let scratch = Scratch::new("doctor-empty");
    let empty_path = scratch.0.join("bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let output = trt_with_env(
        &["doctor"],
        &[("TRT_LIBRARY_PATH", &scratch.0), ("PATH", &empty_path)],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "  searched: TRT_LIBRARY_PATH={} (set: the only place searched)\n",
            scratch.0.display()
        )),
        "{text}"
    );
    assert!(text.contains("holds no TensorRT library"), "{text}");
    assert!(
        text.contains("  - no TensorRT library was found\n"),
        "{text}"
    );
    assert!(
        text.contains("  none found (nvidia-smi is not on PATH;"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "  only the host simulation can run here; every command works on simulated plans (exit 3)\n"
        ),
        "{text}"
    );
}

#[test]
fn doctor_says_tensorrt_rtx_refuses_hopper_with_status_4() {
    let scratch = Scratch::new("doctor-rtx");
    // A file named like TensorRT-RTX (it does not load: its flavor comes from its name) and
    // an nvidia-smi that reports an H100.
    std::fs::write(scratch.0.join("libtensorrt_rtx.so.1"), b"not a library").unwrap();
    let bin = scratch.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let smi = bin.join("nvidia-smi");
    std::fs::write(&smi, "#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 9.0'\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let output = trt_with_env(
        &["doctor"],
        &[("TRT_LIBRARY_PATH", &scratch.0), ("PATH", &bin)],
    );
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "  listed by nvidia-smi\n  GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("found, unusable: ")
            && text.contains("(TensorRT-RTX by its name; TRT_LIBRARY_PATH)"),
        "{text}"
    );
    assert!(
        text.contains(
            "  - TensorRT-RTX cannot run on GPU 0 (NVIDIA H100 80GB HBM3): it does not support \
             compute capability 9.0 (Hopper); use standard TensorRT (libnvinfer) on this GPU\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("  TensorRT was found but cannot run on this machine (exit 4)\n"),
        "{text}"
    );
}

/// The rows of the bench table: (shape, mode) pairs in order.
fn bench_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| line.starts_with("x=") || line.starts_with("a="))
        .map(|line| {
            let (shape, rest) = line.split_once("]  ").unwrap_or_default();
            let mode = rest.split_whitespace().next().unwrap_or_default();
            (format!("{shape}]"), mode.to_owned())
        })
        .collect()
}

#[test]
fn bench_times_eager_and_graphs_per_shape_through_the_lru_cache() {
    let plan = model("mlp.simplan");
    let args = [
        "bench",
        &plan,
        "--shapes",
        "1x16",
        "4x16",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--progress",
        "never",
    ];
    let output = trt(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("engine `mlp` from ")
            && text.contains("on the host simulation (timings say nothing about a GPU)\n"),
        "{text}"
    );
    assert!(text.contains(
        "3 timed runs per shape and mode after 1 warm-up runs; graph cache capacity 2\n"
    ));
    let header = text.lines().find(|line| line.starts_with("shape")).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["shape", "mode", "p50", "p90", "p99", "mean", "runs/s", "items/s"]
    );
    let rows = bench_rows(&text);
    let expected: Vec<(String, String)> = [
        ("x=[1, 16]", "eager"),
        ("x=[1, 16]", "graphs"),
        ("x=[4, 16]", "eager"),
        ("x=[4, 16]", "graphs"),
    ]
    .iter()
    .map(|(shape, mode)| (shape.to_string(), mode.to_string()))
    .collect();
    assert_eq!(rows, expected, "{text}");
    // Two shapes fit the cache: 2 captures, then 2 × (1 + 3) − 2 replays.
    assert!(
        text.contains("graph cache: 2 cached; hits 6, misses 2, captures 2, evictions 0,"),
        "{text}"
    );

    // A cache of one alternating between two shapes misses every time.
    let mut small = args.to_vec();
    small.extend(["--cache-capacity", "1"]);
    let text = stdout(&trt(&small));
    assert!(
        text.contains("graph cache: 1 cached; hits 0, misses 8, captures 8, evictions 7,"),
        "{text}"
    );
}

#[test]
fn bench_draws_a_progress_bar_and_reports_bad_shapes() {
    let plan = model("two_inputs.simplan");
    let output = trt(&[
        "bench",
        &plan,
        "--shapes",
        "a=2x4,b=2x4",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--progress",
        "always",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let bars = stderr(&output);
    assert!(
        bars.contains(&format!("\reager [{}] 2/2", "#".repeat(30))),
        "{bars:?}"
    );
    assert!(bars.contains(&format!("\rgraphs [{}] 2/2", "#".repeat(30))));
    assert_eq!(
        bench_rows(&stdout(&output))[0],
        ("a=[2, 4] b=[2, 4]".to_owned(), "eager".to_owned())
    );

    let outside = trt(&["bench", &model("mlp.simplan"), "--shapes", "100x16"]);
    assert_one_line_error(
        &outside,
        1,
        "tensor `x`: shape [100, 16] is outside optimization profile 0",
    );
    let unknown = trt(&["bench", &plan, "--shapes", "c=1x4"]);
    assert_one_line_error(
        &unknown,
        1,
        "engine `two_inputs` has no input `c`; its inputs are `a`, `b`",
    );
}
