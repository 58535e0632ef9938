//! `rules_train`: the time of one MNIST training epoch (60,000 images, batch 128, 469 updates) of
//! NoProp-DT and of Mono-Forward, nonlin beside PyTorch eager running `torch_rules.py`, the same
//! rules and shapes written in PyTorch.
//!
//! - `noprop_dt`: `noprop_net` with its default MLP blocks on 784 inputs (image 784 -> 128 -> 128,
//!   z 10 -> 128 with one skip connection, concat -> 128 -> 10 logits), T = 10 blocks, one-hot
//!   embedding, eta 0.1, AdamW lr 1e-3 weight decay 1e-3: one minibatch updates the T blocks in
//!   turn (T backward passes and optimizer steps), as `experiments/papers/noprop.toml` trains.
//! - `mono_forward`: MLP 784-1000-1000 (the reference's MNIST network) with the projection
//!   matrices `M_0..M_2`, Adam lr 1.57e-3, every layer's local cross-entropy at every step
//!   (`schedule = "simultaneous"`; the reference trains one layer per phase, which costs less per
//!   step, so this is the upper bound of a Mono-Forward epoch).
//!
//! Protocol (both sides): inputs uniform in [0, 1) with random labels, 8 pre-made batches of 128
//! cycled, 5 warm-up minibatches, then the median over 5 windows of `steps / 5` minibatches; each
//! step reads its loss back. The epoch time is the median time per minibatch times 469 (the
//! measured steps are a sample of the epoch; `--steps 469` times a whole one). Each nonlin
//! measurement runs in its own process, then PyTorch for the same rule, back to back; `--rounds`
//! repeats the comparison, and the table gives medians over rounds and the median of the
//! per-round ratios.
//!
//! ```text
//! cargo run --release -p rules_train -- [--rules noprop_dt,mono_forward] [--steps 50] \
//!     [--rounds 3] [--threads 1] [--python python3] [--no-python]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bench_util::{median, run_json, time_steps};
use std::path::PathBuf;
use std::process::Command;

use burn::tensor::{Int, Tensor, TensorData};
use clap::Parser;
use nonlin::data::Rng;
use nonlin::learn::{
    OptimizerConfig, OptimizerSetup, RuleConfig, RuleContext, Target, TaskKind, TensorBatch,
};
use nonlin::nn::{ModelConfig, ModelInput, ModelIo, engine};
use serde_json::{Value, json};

const BATCH: usize = 128;
const FEATURES: usize = 784;
const CLASSES: usize = 10;
/// Minibatches of one MNIST epoch: ceil(60,000 / 128).
const EPOCH_STEPS: usize = 469;
const WARMUP: usize = 5;
const WINDOWS: usize = 5;

#[derive(Parser, Debug)]
#[command(
    about = "one MNIST-shaped training epoch of NoProp-DT and Mono-Forward: nonlin beside PyTorch"
)]
struct Args {
    /// Rules to measure, comma-separated: noprop_dt, mono_forward.
    #[arg(long, value_delimiter = ',', default_value = "noprop_dt,mono_forward")]
    rules: Vec<String>,
    /// Timed minibatches per measurement (5 windows), after 5 warm-up minibatches.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Repetitions of the whole comparison.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// CPU threads of both engines.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Python interpreter of the reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the PyTorch reference.
    #[arg(long)]
    no_python: bool,
    /// Internal: measure nonlin once for `--rule` and print one JSON line.
    #[arg(long, hide = true)]
    worker: bool,
    #[arg(long, hide = true, default_value = "noprop_dt")]
    rule: String,
}

/// The model, rule and optimizer of `rule`, as an experiment file would write them.
fn setup(rule: &str) -> Result<(Value, Value, Value, f64), String> {
    match rule {
        "noprop_dt" => Ok((
            json!({"kind": "noprop_net"}),
            json!({"kind": "noprop_dt", "eta": 0.1}),
            json!({"kind": "adamw", "weight_decay": 1e-3}),
            1e-3,
        )),
        "mono_forward" => Ok((
            json!({"kind": "mlp", "hidden": [1000, 1000]}),
            json!({"kind": "mono_forward", "schedule": "simultaneous", "early_stopping": false}),
            json!({"kind": "adam"}),
            1.570297088405539e-3,
        )),
        other => Err(format!(
            "unknown rule `{other}`; known: noprop_dt, mono_forward"
        )),
    }
}

/// One nonlin measurement, as a JSON line like `torch_rules.py`'s.
fn worker(args: &Args) -> Result<Value, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    engine::set_cpu_threads(args.threads).map_err(|e| text(&e))?;
    let device = nonlin::nn::DeviceSpec::Cpu.device().map_err(|e| text(&e))?;
    engine::seed(&device, 0);
    let (model, rule, optimizer, lr) = setup(&args.rule)?;
    let model: ModelConfig = serde_json::from_value(model).map_err(|e| text(&e))?;
    let rule: RuleConfig = serde_json::from_value(rule).map_err(|e| text(&e))?;
    let optimizer: OptimizerConfig = serde_json::from_value(optimizer).map_err(|e| text(&e))?;
    let io = ModelIo {
        input: nonlin::nn::InputSpec::Real {
            shape: vec![FEATURES],
        },
        output: vec![CLASSES],
    };
    let built = model.build(&io, &device).map_err(|e| text(&e))?;
    let params = burn::module::Module::num_params(&built);
    let setup = OptimizerSetup::plain(&optimizer);
    let context = RuleContext {
        model: &built,
        io: &io,
        task: TaskKind::Classification,
        optimizer: &setup,
        device: &device,
        steps_per_epoch: EPOCH_STEPS as u64,
        total_steps: 1_000_000,
        data: None,
    };
    let mut rule = rule.build(&context).map_err(|e| text(&e))?;
    let mut model = Some(built);
    let mut rng = Rng::seed(1);
    let batches: Vec<TensorBatch> = (0..8)
        .map(|_| {
            let x: Vec<f32> = (0..BATCH * FEATURES).map(|_| rng.uniform_f32()).collect();
            let y: Vec<i64> = (0..BATCH).map(|_| rng.below(CLASSES) as i64).collect();
            TensorBatch {
                input: ModelInput::Real(Tensor::from_data(
                    TensorData::new(x, [BATCH, FEATURES]),
                    &device,
                )),
                target: Target::Classes(Tensor::<1, Int>::from_data(
                    TensorData::new(y, [BATCH]),
                    &device,
                )),
            }
        })
        .collect();
    let mut metrics_seen = serde_json::Map::new();
    let mut step = |k: usize| -> Result<f64, String> {
        let current = model.take().ok_or("the model was lost by a failed step")?;
        let (next, metrics) = rule
            .step(current, &batches[k % batches.len()], lr)
            .map_err(|e| text(&e))?;
        model = Some(next);
        metrics_seen = metrics.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        Ok(metrics["loss"])
    };
    let timing = time_steps(WARMUP, WINDOWS, args.steps, &mut step)?;
    let (first, last, times) = (timing.first, timing.last, timing.window_ms);
    Ok(json!({
        "engine": "nonlin-flex", "rule": args.rule, "threads": args.threads,
        "ms_per_step": median(&times), "window_ms": times, "params": params,
        "first_loss": first, "last_loss": last, "last_metrics": metrics_seen,
    }))
}

/// A table row: rule, engine, ms per minibatch of each round, ratio to PyTorch of each round, the
/// last measurement's JSON.
type Row = (String, String, Vec<f64>, Vec<f64>, Value);

fn main() {
    let args = Args::parse();
    if args.worker {
        match worker(&args) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_rules.py");
    // per (rule, engine): ms per minibatch of each round, ratio to PyTorch of each round, last JSON
    let mut table: Vec<Row> = Vec::new();
    for round in 0..args.rounds {
        for rule in &args.rules {
            let common = [
                "--rule".to_string(),
                rule.clone(),
                "--threads".into(),
                args.threads.to_string(),
                "--steps".into(),
                args.steps.to_string(),
            ];
            let mut runs = vec![{
                let mut c = Command::new(&exe);
                c.arg("--worker").args(&common);
                run_json(c)
            }];
            if !args.no_python {
                let mut c = Command::new(&args.python);
                c.arg(&script).args(&common);
                runs.push(run_json(c));
            }
            let torch = runs
                .iter()
                .flatten()
                .find(|v| v["engine"] == "torch-eager")
                .and_then(|v| v["ms_per_step"].as_f64());
            for run in runs {
                let v = match run {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("round {round}: {e}");
                        continue;
                    }
                };
                let engine = v["engine"].as_str().unwrap_or("?").to_string();
                let ms = v["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                eprintln!("round {round}: {rule} {engine}: {ms:.2} ms per minibatch");
                let at = match table.iter().position(|r| r.0 == *rule && r.1 == engine) {
                    Some(i) => i,
                    None => {
                        table.push((rule.clone(), engine, Vec::new(), Vec::new(), Value::Null));
                        table.len() - 1
                    }
                };
                let row = &mut table[at];
                row.2.push(ms);
                if let Some(t) = torch {
                    row.3.push(ms / t);
                }
                row.4 = v;
            }
        }
    }
    println!(
        "| rule | threads | engine | ms per minibatch (median) | per round | s per epoch (x{EPOCH_STEPS}) | ratio vs torch-eager | params | loss first -> last |"
    );
    println!("|---|---:|---|---:|---|---:|---:|---:|---|");
    for (rule, engine, ms, ratios, last) in &table {
        let per_round: Vec<String> = ms.iter().map(|m| format!("{m:.1}")).collect();
        let ratio = if ratios.is_empty() {
            "-".to_string()
        } else {
            format!("**{:.2}**", median(ratios))
        };
        let loss = |k: &str| last[k].as_f64().map_or("?".into(), |l| format!("{l:.3}"));
        println!(
            "| {rule} | {} | {engine} | {:.1} | {} | {:.1} | {ratio} | {} | {} -> {} |",
            args.threads,
            median(ms),
            per_round.join(" / "),
            median(ms) * EPOCH_STEPS as f64 / 1e3,
            last["params"],
            loss("first_loss"),
            loss("last_loss"),
        );
    }
}
