//! `trt`: inspect TensorRT plans, check the machine, benchmark eager runs against CUDA graphs.
//! Every command also works on simulated plans (`models/*.simplan`), without a GPU.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod doctor;
mod inspect;
mod plan;
mod progress;
mod shapes;

/// What the exit status means; printed by `--help`.
const EXIT_CODES: &str = "\
Exit status:
  0  success (doctor: TensorRT, the CUDA driver and a GPU that can run it were found)
  1  the command failed (unreadable or invalid plan, bad shapes, a failed run)
  2  usage error (unknown command or option, bad argument)
  3  doctor: no real TensorRT backend here, only the host simulation
  4  doctor: TensorRT was found but cannot run on this machine";

/// Inspect TensorRT plans, check the machine, benchmark eager runs against CUDA graphs.
/// Every command also works on simulated plans (`*.simplan`), without a GPU.
#[derive(Parser, Debug)]
#[command(name = "trt", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a plan's I/O table (names, modes, data types, shapes, profiles), memory needs and
    /// the TensorRT build it needs.
    Inspect(inspect::InspectArgs),
    /// Report the TensorRT libraries found (flavor, version, where), the CUDA driver, the GPUs
    /// and their compute capability, and whether they can work together.
    Doctor,
    /// Time eager runs against CUDA-graph replays: latency percentiles and throughput, per
    /// input shape, through the graph LRU cache.
    Bench(bench::BenchArgs),
}

/// A failed command: one short sentence for the user, and the exit status.
#[derive(Debug)]
pub struct CliError {
    message: String,
}

impl CliError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<trt_core::Error> for CliError {
    fn from(error: trt_core::Error) -> CliError {
        CliError::new(error.to_string())
    }
}

/// Exit statuses (see [`EXIT_CODES`]).
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// The command failed.
    pub const FAILURE: u8 = 1;
    /// Doctor: only the host simulation can run here.
    pub const SIMULATION_ONLY: u8 = 3;
    /// Doctor: TensorRT was found but cannot run here.
    pub const UNUSABLE: u8 = 4;
}

/// Writes `text` to stdout. A closed stdout (`trt inspect PLAN | head`) ends the program
/// quietly instead of panicking: the reader has what it wanted.
pub fn say(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if matches!(&written, Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(i32::from(exit::SUCCESS));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args).map(|()| exit::SUCCESS),
        Command::Doctor => Ok(doctor::run()),
        Command::Bench(args) => bench::run(&args).map(|()| exit::SUCCESS),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
