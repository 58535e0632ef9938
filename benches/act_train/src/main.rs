//! `act_train`: milliseconds per training step of an MLP (default 784-512-512-10, batch 128,
//! cross-entropy, Adam lr 1e-3) with ReLU and with the learnable activations PolyReLU, PolyNorm
//! and CRReLU (issue 9's performance target), nonlin beside PyTorch eager of the same shapes, in
//! the same run.
//!
//! Protocol (the one of `torch_act.py`): inputs uniform in [0, 1), labels uniform in 0..classes,
//! 8 pre-made batches cycled, 20 warm-up steps, then the median over 5 windows of `steps / 5`;
//! every step reads the loss back. nonlin's step is its public API: `MlpConfig` with the
//! activation's registry name, trained by `Backprop::step` (which also reports the batch
//! accuracy, as in `benches/mlp_train`).
//!
//! Each measurement runs in its own process (this binary with `--worker`, then the Python
//! reference), pinned to one core with `taskset -c 0` when `--threads 1`, for both engines alike.
//! The comparison is repeated `--rounds` times; the table gives medians over rounds, the median of
//! each round's ratio to the same engine's ReLU step, and of nonlin's ratio to PyTorch.
//!
//! ```text
//! cargo run --release -p act_train -- [--widths 784,512,512,10] [--batch 128] [--steps 200] \
//!     [--rounds 3] [--activations relu,polyrelu,polynorm,crrelu] [--python python3]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bench_util::{median, pinned, run_json, time_steps};
use std::path::PathBuf;

use clap::Parser;
use nonlin::data::{Batch, Rng, Targets};
use nonlin::learn::{Backprop, LearningRule, OptimizerConfig, OptimizerSetup, TensorBatch};
use nonlin::nn::{DeviceSpec, MlpConfig, engine};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "ms per training step of MLPs with learnable activations: nonlin beside PyTorch")]
struct Args {
    /// Widths, input to output, comma-separated.
    #[arg(long, default_value = "784,512,512,10")]
    widths: String,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Activations (registry names), comma-separated; the first is the baseline of the ratios.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "relu,polyrelu,polynorm,crrelu"
    )]
    activations: Vec<String>,
    /// Timed steps per measurement (5 windows of steps/5), after 20 warm-up steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// How many times the whole comparison is repeated.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// CPU threads of both engines (1: pinned to core 0 with taskset).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Python interpreter of the reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip PyTorch (nonlin only).
    #[arg(long)]
    no_python: bool,
    /// Internal: measure nonlin with this activation in this process and print its JSON line.
    #[arg(long, hide = true)]
    worker: Option<String>,
}

const LR: f64 = 1e-3;
const N_BATCHES: usize = 8;
const WARMUP: usize = 20;
const WINDOWS: usize = 5;

fn parse_widths(text: &str) -> Result<Vec<usize>, String> {
    let widths: Vec<usize> = text
        .split(',')
        .map(|w| w.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("widths `{text}`: {e}"))?;
    if widths.len() < 3 || widths.contains(&0) {
        return Err(format!(
            "widths `{text}`: need an input, one or more hidden widths and an output, all positive"
        ));
    }
    Ok(widths)
}

/// nonlin's step with one activation, in this process.
fn measure_nonlin(
    activation: &str,
    widths: &[usize],
    batch: usize,
    steps: usize,
) -> Result<Value, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    engine::set_cpu_threads(1).map_err(|e| err(&e))?;
    let device = DeviceSpec::Cpu.device().map_err(|e| err(&e))?;
    engine::seed(&device, 0);
    let (input, classes) = (widths[0], widths[widths.len() - 1]);
    let mut rng = Rng::seed(0);
    let batches: Vec<TensorBatch> = (0..N_BATCHES)
        .map(|_| {
            let b = Batch {
                x: (0..batch * input).map(|_| rng.uniform_f32()).collect(),
                shape: vec![batch, input],
                targets: Targets::Classes {
                    labels: (0..batch)
                        .map(|_| (rng.next_u64() % classes as u64) as u32)
                        .collect(),
                    classes,
                },
            };
            TensorBatch::from_batch(&b, &device).map_err(|e| err(&e))
        })
        .collect::<Result<_, _>>()?;
    let mut model = Some(
        MlpConfig::new(widths[1..widths.len() - 1].to_vec())
            .with_activation(activation)
            .init(input, classes, &device)
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
        "engine": "nonlin", "activation": activation, "threads": 1, "batch": batch,
        "widths": widths, "ms_per_step": median(&times), "loss_first": first,
        "loss_last": last, "params": params,
    }))
}

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

fn main() {
    let args = Args::parse();
    let widths = parse_widths(&args.widths).unwrap_or_else(|e| fail(e));
    if args.batch == 0 || args.steps == 0 || args.rounds == 0 || args.threads == 0 {
        fail("--batch, --steps, --rounds and --threads must be at least 1".into());
    }
    if let Some(activation) = &args.worker {
        match measure_nonlin(activation, &widths, args.batch, args.steps) {
            Ok(v) => println!("{v}"),
            Err(e) => fail(e),
        }
        return;
    }
    if args.activations.is_empty() {
        fail("--activations names none".into());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_act.py");
    let exe = std::env::current_exe().expect("the running binary");
    let mut engines = vec!["nonlin"];
    if !args.no_python {
        engines.push("torch");
    }
    let acts = &args.activations;
    // ms[engine][activation] per round, and the ratios of each round.
    let mut ms = vec![vec![Vec::<f64>::new(); acts.len()]; engines.len()];
    let mut vs_relu = ms.clone();
    let mut vs_torch = vec![Vec::<f64>::new(); acts.len()];
    let mut params = vec![vec![0u64; acts.len()]; engines.len()];
    for round in 0..args.rounds {
        let mut round_ms = vec![vec![f64::NAN; acts.len()]; engines.len()];
        for (a, activation) in acts.iter().enumerate() {
            for (e, engine) in engines.iter().enumerate() {
                let cmd = if *engine == "nonlin" {
                    let mut cmd = pinned(args.threads, &exe.to_string_lossy());
                    cmd.args([
                        "--worker",
                        activation,
                        "--widths",
                        &args.widths,
                        "--batch",
                        &args.batch.to_string(),
                        "--steps",
                        &args.steps.to_string(),
                    ]);
                    cmd
                } else {
                    let mut cmd = pinned(args.threads, &args.python);
                    cmd.arg(&script).args([
                        "--activation",
                        activation,
                        "--widths",
                        &args.widths,
                        "--batch",
                        &args.batch.to_string(),
                        "--threads",
                        &args.threads.to_string(),
                        "--steps",
                        &args.steps.to_string(),
                    ]);
                    cmd
                };
                match run_json(cmd) {
                    Ok(v) => {
                        round_ms[e][a] = v["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                        params[e][a] = v["params"].as_u64().unwrap_or(0);
                        ms[e][a].push(round_ms[e][a]);
                        eprintln!("round {round}: {v}");
                    }
                    Err(err) => eprintln!("round {round}, {activation}, {engine}: {err}"),
                }
            }
        }
        for e in 0..engines.len() {
            for a in 0..acts.len() {
                let r = round_ms[e][a] / round_ms[e][0];
                if r.is_finite() {
                    vs_relu[e][a].push(r);
                }
            }
        }
        if engines.len() > 1 {
            for a in 0..acts.len() {
                let r = round_ms[0][a] / round_ms[1][a];
                if r.is_finite() {
                    vs_torch[a].push(r);
                }
            }
        }
    }
    println!(
        "| activation | engine | trainable params | ms/step (median) | per round | ratio vs {} (same engine) | nonlin / torch |",
        acts[0]
    );
    println!("|---|---|---:|---:|---|---:|---:|");
    for (a, activation) in acts.iter().enumerate() {
        for (e, engine) in engines.iter().enumerate() {
            let rounds: Vec<String> = ms[e][a].iter().map(|v| format!("{v:.2}")).collect();
            let versus_torch = if e == 0 && engines.len() > 1 {
                format!("{:.2}", median(&vs_torch[a]))
            } else {
                String::new()
            };
            println!(
                "| {activation} | {engine} | {} | {:.2} | {} | {:.2} | {versus_torch} |",
                params[e][a],
                median(&ms[e][a]),
                rounds.join(" / "),
                median(&vs_relu[e][a]),
            );
        }
    }
}
