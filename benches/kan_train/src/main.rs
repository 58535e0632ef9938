//! `kan_train`: milliseconds per training step of a KAN layer stack (efficient-kan's B-spline
//! formulation, G = 5, k = 3, SiLU base, standalone scales), nonlin beside PyTorch efficient-kan
//! and pykan of the same widths, in the same run.
//!
//! Protocol (the one of `kan_reference.py`): inputs and targets uniform in [-1, 1), 8 pre-made
//! batches cycled, mean squared error, Adam lr 1e-3, 20 warm-up steps, then the median over 5
//! windows of `steps / 5`; every step reads the loss back. nonlin's step is its public API:
//! `KanConfig::new(hidden).init(..)` trained by `Backprop::step` on a regression batch.
//!
//! Each measurement runs in its own process (this binary with `--worker`, then the Python
//! references), pinned to one core with `taskset -c 0` when `--threads 1`, for every engine alike.
//! The comparison is repeated `--rounds` times; the table gives medians over rounds and the median
//! of each round's ratio to efficient-kan.
//!
//! ```text
//! cargo run --release -p kan_train -- --efficient-kan /path/to/efficient-kan/src \
//!     [--shapes 2,5,1:1000 --shapes 64,128,128,10:128] [--steps 200] [--rounds 3] [--no-pykan]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bench_util::{median, pinned, run_json, time_steps};
use std::path::PathBuf;

use clap::Parser;
use nonlin::data::{Batch, Rng, Targets};
use nonlin::learn::{Backprop, LearningRule, OptimizerConfig, OptimizerSetup, TensorBatch};
use nonlin::nn::{DeviceSpec, engine, model::KanConfig};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "ms per training step of a KAN stack: nonlin beside efficient-kan and pykan")]
struct Args {
    /// Shapes to measure, `widths:batch` (widths comma-separated, input to output).
    #[arg(long = "shapes", default_values_t = ["2,5,1:1000".to_string(), "64,128,128,10:128".to_string()])]
    shapes: Vec<String>,
    /// Timed steps per measurement (5 windows of steps/5), after 20 warm-up steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// How many times the whole comparison is repeated.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// CPU threads of every engine (1: pinned to core 0 with taskset).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Python interpreter of the references.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Folder holding the `efficient_kan` package (a checkout's `src/`), unless it is installed.
    #[arg(long)]
    efficient_kan: Option<PathBuf>,
    /// Skip pykan (efficient-kan only).
    #[arg(long)]
    no_pykan: bool,
    /// Print one JSON line per measurement instead of the table.
    #[arg(long)]
    json: bool,
    /// Internal: measure nonlin on one shape in this process and print its JSON line.
    #[arg(long, hide = true)]
    worker: Option<String>,
}

const LR: f64 = 1e-3;
const N_BATCHES: usize = 8;
const WARMUP: usize = 20;
const WINDOWS: usize = 5;

/// `widths:batch`, e.g. `2,5,1:1000`.
fn parse_shape(text: &str) -> Result<(Vec<usize>, usize), String> {
    let (widths, batch) = text
        .split_once(':')
        .ok_or_else(|| format!("shape `{text}` is not `widths:batch`"))?;
    let widths: Vec<usize> = widths
        .split(',')
        .map(|w| w.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("shape `{text}`: {e}"))?;
    let batch: usize = batch
        .trim()
        .parse()
        .map_err(|e| format!("shape `{text}`: {e}"))?;
    if widths.len() < 2 || widths.contains(&0) || batch == 0 {
        return Err(format!(
            "shape `{text}`: need two or more positive widths and a batch"
        ));
    }
    Ok((widths, batch))
}

/// nonlin's step on one shape, in this process.
fn measure_nonlin(widths: &[usize], batch: usize, steps: usize) -> Result<Value, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let device = DeviceSpec::Cpu.device().map_err(|e| err(&e))?;
    engine::seed(&device, 0);
    let (input, output) = (widths[0], widths[widths.len() - 1]);
    let mut rng = Rng::seed(0);
    let batches: Vec<TensorBatch> = (0..N_BATCHES)
        .map(|_| {
            let x = (0..batch * input)
                .map(|_| 2.0 * rng.uniform_f32() - 1.0)
                .collect();
            let y = (0..batch * output)
                .map(|_| 2.0 * rng.uniform_f32() - 1.0)
                .collect();
            let b = Batch {
                x,
                shape: vec![batch, input],
                targets: Targets::Values {
                    values: y,
                    shape: vec![output],
                },
            };
            TensorBatch::from_batch(&b, &device).map_err(|e| err(&e))
        })
        .collect::<Result<_, _>>()?;
    let hidden = widths[1..widths.len() - 1].to_vec();
    let mut model = Some(
        KanConfig::new(hidden)
            .init(input, output, &device)
            .map_err(|e| err(&e))?,
    );
    let params = nonlin::nn::weights::trainable_params(model.as_ref().expect("built"));
    let mut rule =
        Backprop::new(&OptimizerSetup::plain(&OptimizerConfig::default())).map_err(|e| err(&e))?;
    let step = |i: usize| -> Result<f64, String> {
        let (next, metrics) = rule
            .step(model.take().expect("kept"), &batches[i % N_BATCHES], LR)
            .map_err(|e| err(&e))?;
        model = Some(next);
        Ok(metrics["loss"])
    };
    let timing = time_steps(WARMUP, WINDOWS, steps, step)?;
    let (first, last, times) = (timing.first, timing.last, timing.window_ms);
    Ok(json!({
        "engine": "nonlin", "threads": 1, "batch": batch, "widths": widths,
        "ms_per_step": median(&times), "loss_first": first, "loss_last": last, "params": params,
    }))
}

fn main() {
    let args = Args::parse();
    if let Some(shape) = &args.worker {
        let result = parse_shape(shape).and_then(|(w, b)| measure_nonlin(&w, b, args.steps));
        match result {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    if let Err(e) = engine_threads(args.threads) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let shapes: Vec<(String, Vec<usize>, usize)> = match args
        .shapes
        .iter()
        .map(|s| parse_shape(s).map(|(w, b)| (s.clone(), w, b)))
        .collect()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kan_reference.py");
    let exe = std::env::current_exe().expect("the running binary");
    let mut engines = vec!["nonlin", "efficient-kan"];
    if !args.no_pykan {
        engines.push("pykan");
    }
    // results[shape][engine] = per-round ms; first/last losses of the last round.
    let mut results: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); engines.len()]; shapes.len()];
    let mut ratios: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); engines.len()]; shapes.len()];
    let mut params: Vec<Vec<u64>> = vec![vec![0; engines.len()]; shapes.len()];
    for round in 0..args.rounds {
        for (s, (text, widths, batch)) in shapes.iter().enumerate() {
            let mut round_ms = vec![f64::NAN; engines.len()];
            for (e, engine) in engines.iter().enumerate() {
                let cmd = if *engine == "nonlin" {
                    let mut cmd = pinned(args.threads, &exe.to_string_lossy());
                    cmd.args(["--worker", text, "--steps", &args.steps.to_string()]);
                    cmd
                } else {
                    let mut cmd = pinned(args.threads, &args.python);
                    cmd.arg(&script).args([
                        "--engine",
                        engine,
                        "--widths",
                        &widths
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                        "--batch",
                        &batch.to_string(),
                        "--threads",
                        &args.threads.to_string(),
                        "--steps",
                        &args.steps.to_string(),
                    ]);
                    if let Some(path) = &args.efficient_kan {
                        cmd.arg("--efficient-kan").arg(path);
                    }
                    cmd
                };
                match run_json(cmd) {
                    Ok(v) => {
                        if args.json {
                            println!("{}", json!({"round": round, "result": v}));
                        }
                        round_ms[e] = v["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                        params[s][e] = v["params"].as_u64().unwrap_or(0);
                        results[s][e].push(round_ms[e]);
                    }
                    Err(err) => eprintln!("round {round}, {text}, {engine}: {err}"),
                }
            }
            for e in 0..engines.len() {
                let ratio = round_ms[e] / round_ms[1];
                if ratio.is_finite() {
                    ratios[s][e].push(ratio);
                }
            }
        }
    }
    if args.json {
        return;
    }
    println!(
        "| widths | batch | engine | trainable params | ms/step (median) | per round | ratio vs efficient-kan |"
    );
    println!("|---|---:|---|---:|---:|---|---:|");
    for (s, (_, widths, batch)) in shapes.iter().enumerate() {
        for (e, engine) in engines.iter().enumerate() {
            let rounds: Vec<String> = results[s][e].iter().map(|v| format!("{v:.2}")).collect();
            let ms = results[s][e].clone();
            let ratio = ratios[s][e].clone();
            println!(
                "| {widths:?} | {batch} | {engine} | {} | {:.2} | {} | {:.2} |",
                params[s][e],
                if ms.is_empty() { f64::NAN } else { median(&ms) },
                rounds.join(" / "),
                if ratio.is_empty() {
                    f64::NAN
                } else {
                    median(&ratio)
                },
            );
        }
    }
}

fn engine_threads(threads: usize) -> Result<(), String> {
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    Ok(())
}
