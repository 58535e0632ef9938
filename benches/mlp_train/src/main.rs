//! `mlp_train`: milliseconds per training step of the MLP 784-256-256-10 (ReLU, batch 128,
//! cross-entropy, Adam lr 1e-3), nonlin beside PyTorch eager, `torch.compile` and JAX `jit`.
//!
//! The protocol is the one of `torch_mlp.py` (a verbatim copy of the shared reference script):
//! inputs uniform in [0,1), 8 pre-made batches cycled, 20 warm-up steps, then the median over 5
//! windows of `steps / 5` steps each; every step reads the loss back as a scalar.
//!
//! Each measurement runs in its own process: the driver re-invokes this binary with `--worker`
//! (Rayon's global pool can be sized once per process) and runs the Python references for the same
//! thread count right after it. A thread count below the machine's cores is enforced with
//! `taskset`, for every engine alike (JAX has no thread flag). The whole comparison is repeated
//! `--rounds` times and the table reports medians, because the machine may be shared.
//!
//! ```text
//! cargo run --release -p mlp_train -- \
//!     [--threads 1,2] [--steps 300] [--rounds 3] [--python python3] [--no-python] [--json]
//! ```

/// The same allocator as the `nonlin` binary (see its `main.rs` and docs/performance.md); the
/// `glibc-malloc` feature leaves the system allocator in place, for the allocator experiment.
#[cfg(not(feature = "glibc-malloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backend;
mod measurement;
mod nonlin_step;
mod reference;
mod report;

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;

use crate::backend::Backend;
use crate::measurement::{BenchError, Measurement};
use crate::nonlin_step::StepVariant;
use crate::reference::Reference;

/// Command line of the benchmark.
#[derive(Parser, Debug)]
#[command(
    about = "ms per training step of MLP 784-256-256-10 (batch 128, Adam): nonlin beside PyTorch and JAX"
)]
struct Args {
    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Timed steps per measurement (5 windows of steps/5), after 20 warm-up steps.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// How many times the whole comparison is repeated; the table shows medians over rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Python interpreter that runs the references.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The reference script (defaults to the copy beside this crate).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Skip the Python references (nonlin only).
    #[arg(long)]
    no_python: bool,
    /// Which references to run, comma-separated: torch-eager, torch-compile, jax-jit.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "torch-eager,torch-compile,jax-jit"
    )]
    references: Vec<String>,
    /// Burn backend: flex (always), or ndarray / cubecl-cpu when built with that cargo feature.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Also time the step without the per-step accuracy (a suggestion, not nonlin's API).
    #[arg(long)]
    lean: bool,
    /// Do not pin runs below the machine's core count with `taskset`.
    #[arg(long)]
    no_pin: bool,
    /// Print every measurement and the summary as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Internal: measure nonlin once in this process and print one JSON line.
    #[arg(long, hide = true)]
    worker: Option<StepVariant>,
}

fn main() {
    let args = Args::parse();
    let result = match args.worker {
        Some(variant) => worker(&args, variant),
        None => drive(&args),
    };
    if let Err(e) = result {
        eprintln!("mlp_train: {e}");
        std::process::exit(1);
    }
}

/// One nonlin measurement in this process, printed as the reference script prints its own.
fn worker(args: &Args, variant: StepVariant) -> Result<(), BenchError> {
    let threads = match args.threads.as_slice() {
        [t] => *t,
        other => {
            return Err(BenchError::new(format!(
                "--worker takes exactly one thread count, got {other:?}"
            )));
        }
    };
    let backend: Backend = args.backend.parse()?;
    let m = nonlin_step::measure(backend, variant, threads, args.steps)?;
    println!("{}", m.to_json());
    Ok(())
}

/// Runs every engine for every thread count, `rounds` times, and prints the comparison.
fn drive(args: &Args) -> Result<(), BenchError> {
    if args.threads.is_empty() || args.threads.contains(&0) {
        return Err(BenchError::new("--threads must list positive counts"));
    }
    if args.rounds == 0 || args.steps < 5 {
        return Err(BenchError::new("--rounds must be >= 1 and --steps >= 5"));
    }
    let backend: Backend = args.backend.parse()?;
    let references = if args.no_python {
        Vec::new()
    } else {
        args.references
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<Reference>, _>>()?
    };
    let script = args
        .script
        .clone()
        .unwrap_or_else(reference::default_script);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pin = !args.no_pin && reference::has_taskset();
    let mut variants = vec![StepVariant::Backprop];
    if args.lean {
        variants.push(StepVariant::Lean);
    }

    let mut all = Vec::new();
    for round in 1..=args.rounds {
        for &threads in &args.threads {
            let pinning = (pin && threads < cores).then_some(threads);
            for &variant in &variants {
                let mut cmd = pinned(
                    pinning,
                    std::env::current_exe().map_err(BenchError::io("current_exe"))?,
                );
                cmd.args(["--worker", variant.as_str(), "--backend", &args.backend]);
                cmd.args([
                    "--threads",
                    &threads.to_string(),
                    "--steps",
                    &args.steps.to_string(),
                ]);
                all.push(run_one(
                    round,
                    threads,
                    &backend.engine_name(variant == StepVariant::Lean),
                    cmd,
                    args.json,
                ));
            }
            for reference in &references {
                let mut cmd = pinned(pinning, PathBuf::from(&args.python));
                cmd.arg(&script).args(reference.flags());
                cmd.args([
                    "--threads",
                    &threads.to_string(),
                    "--steps",
                    &args.steps.to_string(),
                ]);
                all.push(run_one(round, threads, reference.as_str(), cmd, args.json));
            }
        }
    }
    let summary = report::summarize(&all);
    if args.json {
        for row in &summary {
            println!("{}", row.to_json());
        }
    } else {
        let versions = reference::versions(&all);
        print!(
            "{}",
            report::table(&summary, args.rounds, cores, pin, &versions)
        );
    }
    Ok(())
}

/// `program`, wrapped in `taskset -c 0-(n-1)` when `pin` is `Some(n)`.
fn pinned(pin: Option<usize>, program: PathBuf) -> Command {
    match pin {
        Some(n) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(format!("0-{}", n - 1)).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Runs one child and keeps its measurement (or why it failed), echoing progress on stderr.
fn run_one(round: usize, threads: usize, engine: &str, cmd: Command, json: bool) -> Run {
    let result = measurement::run_child(cmd);
    match &result {
        Ok(m) if json => println!("{}", m.to_json()),
        Ok(m) => eprintln!(
            "round {round} threads {threads}: {engine:<28} {:>8.3} ms/step",
            m.ms_per_step
        ),
        Err(e) => eprintln!("round {round} threads {threads}: {engine:<28} failed: {e}"),
    }
    Run {
        round,
        threads,
        engine: engine.to_string(),
        result,
    }
}

/// One child run: which round, thread count and engine, and what it measured.
pub(crate) struct Run {
    pub round: usize,
    pub threads: usize,
    pub engine: String,
    pub result: Result<Measurement, BenchError>,
}
