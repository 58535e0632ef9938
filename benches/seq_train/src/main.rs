//! `seq_train`: milliseconds per training step of the small BDH of `experiments/papers/bdh.toml`
//! (d 32, 4 heads, N 128, 4 shared layers) and of its parameter-matched GPT (d 32, 4 layers,
//! 4 heads, no biases, untied head, learned positions), nonlin beside PyTorch eager (and
//! optionally `torch.compile`) running `torch_seq.py`, the same models written in PyTorch.
//!
//! Protocol (both sides): batches of 8 x 64 random bytes (8 pre-made, cycled), AdamW lr 1e-3
//! weight decay 0.1, 10 warm-up steps, then the median over 5 windows of `steps / 5` steps; every
//! step reads the loss back. Each nonlin measurement runs in a process of its own (the driver
//! re-invokes itself with `--worker`), then the references for the same model and thread count,
//! back to back; `--rounds` repeats the whole comparison, and the table gives medians over
//! rounds and the median of each round's ratio to PyTorch eager.
//!
//! ```text
//! cargo run --release -p seq_train -- [--models bdh,gpt] [--threads 1] [--steps 100] \
//!     [--rounds 3] [--compile] [--chunk 0] [--python python3] [--no-python]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bench_util::{median, run_json, time_steps};
use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use nonlin::data::Rng;
use nonlin::learn::{Backprop, LearningRule, OptimizerConfig, OptimizerSetup, Target, TensorBatch};
use nonlin::nn::{BdhConfig, GptConfig, ModelConfig, ModelInput, engine};
use serde_json::{Value, json};

const BATCH: usize = 8;
const CONTEXT: usize = 64;
const VOCAB: usize = 256;
const LR: f64 = 1e-3;
const WARMUP: usize = 10;
const WINDOWS: usize = 5;

#[derive(Parser, Debug)]
#[command(
    about = "ms per training step of the small BDH and the matched GPT: nonlin beside PyTorch"
)]
struct Args {
    /// Models to measure, comma-separated: bdh, gpt.
    #[arg(long, value_delimiter = ',', default_value = "bdh,gpt")]
    models: Vec<String>,
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Timed steps per measurement (5 windows), after 10 warm-up steps.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Repetitions of the whole comparison.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Also time `torch.compile`.
    #[arg(long)]
    compile: bool,
    /// BDH's attention chunk (0: the parallel form, as the official code).
    #[arg(long, default_value_t = 0)]
    chunk: usize,
    /// Python interpreter of the references.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the PyTorch references.
    #[arg(long)]
    no_python: bool,
    /// Internal: measure nonlin once for `--model` and print one JSON line.
    #[arg(long, hide = true)]
    worker: bool,
    #[arg(long, hide = true, default_value = "bdh")]
    model: String,
}

fn model_config(name: &str, chunk: usize) -> Result<ModelConfig, String> {
    match name {
        "bdh" => Ok(ModelConfig::Bdh(BdhConfig {
            n_layer: 4,
            n_embd: 32,
            n_head: 4,
            mlp_internal_dim_multiplier: 16,
            dropout: 0.0,
            attention_chunk: chunk,
            ..BdhConfig::default()
        })),
        "gpt" => Ok(ModelConfig::Gpt(GptConfig {
            d_model: 32,
            layers: 4,
            heads: 4,
            bias: false,
            tie_weights: false,
            ..GptConfig::default()
        })),
        other => Err(format!("unknown model `{other}`; known: bdh, gpt")),
    }
}

/// One nonlin measurement, as a JSON line like `torch_seq.py`'s.
fn worker(args: &Args) -> Result<Value, String> {
    let threads = args.threads.first().copied().unwrap_or(1);
    engine::set_cpu_threads(threads).map_err(|e| e.to_string())?;
    let device = nonlin::nn::DeviceSpec::Cpu
        .device()
        .map_err(|e| e.to_string())?;
    engine::seed(&device, 0);
    let io = nonlin::nn::ModelIo {
        input: nonlin::nn::InputSpec::Tokens {
            vocab: VOCAB,
            context: CONTEXT,
        },
        output: vec![VOCAB],
    };
    let mut model = Some(
        model_config(&args.model, args.chunk)?
            .build(&io, &device)
            .map_err(|e| e.to_string())?,
    );
    let params = burn::module::Module::num_params(model.as_ref().expect("built"));
    let optimizer = OptimizerConfig::AdamW {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.1,
    };
    let mut rule = Backprop::new(&OptimizerSetup::plain(&optimizer)).map_err(|e| e.to_string())?;
    let mut rng = Rng::seed(1);
    let batches: Vec<TensorBatch> = (0..8)
        .map(|_| {
            let data: Vec<i64> = (0..BATCH * (CONTEXT + 1))
                .map(|_| rng.below(VOCAB) as i64)
                .collect();
            let rows: Vec<&[i64]> = data.chunks(CONTEXT + 1).collect();
            let input: Vec<i64> = rows.iter().flat_map(|r| r[..CONTEXT].to_vec()).collect();
            let next: Vec<i64> = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
            let tokens = |v: Vec<i64>| {
                burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
                    burn::tensor::TensorData::new(v, [BATCH, CONTEXT]),
                    &device,
                )
            };
            TensorBatch {
                input: ModelInput::Tokens(tokens(input)),
                target: Target::NextTokens(tokens(next)),
            }
        })
        .collect();
    let mut step = |k: usize| -> Result<f64, String> {
        let current = model.take().ok_or("the model was lost by a failed step")?;
        let (next, metrics) = rule
            .step(current, &batches[k % batches.len()], LR)
            .map_err(|e| e.to_string())?;
        model = Some(next);
        Ok(metrics["loss"])
    };
    let timing = time_steps(WARMUP, WINDOWS, args.steps, &mut step)?;
    let (first, last, times) = (timing.first, timing.last, timing.window_ms);
    Ok(json!({
        "engine": if args.chunk > 0 { format!("nonlin-flex-chunk{}", args.chunk) } else { "nonlin-flex".to_string() },
        "model": args.model, "threads": threads, "ms_per_step": median(&times),
        "window_ms": times, "params": params, "first_loss": first, "last_loss": last,
    }))
}

/// One table row: model, threads, engine, ms per round, ratio to torch-eager per round, the last
/// measurement's JSON.
type Row = (String, usize, String, Vec<f64>, Vec<f64>, Value);

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
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_seq.py");
    // (model, threads, engine) -> ms per round; ratios to torch-eager per round
    let mut rows: Vec<Row> = Vec::new();
    for round in 0..args.rounds {
        for model in &args.models {
            for &threads in &args.threads {
                let mut results = Vec::new();
                let mut nonlin = Command::new(&exe);
                nonlin.args([
                    "--worker",
                    "--model",
                    model,
                    "--threads",
                    &threads.to_string(),
                ]);
                nonlin.args([
                    "--steps",
                    &args.steps.to_string(),
                    "--chunk",
                    &args.chunk.to_string(),
                ]);
                results.push(run_json(nonlin));
                if !args.no_python {
                    let mut engines = vec![false];
                    if args.compile {
                        engines.push(true);
                    }
                    for compile in engines {
                        let mut py = Command::new(&args.python);
                        py.arg(&script)
                            .args(["--model", model, "--threads", &threads.to_string()]);
                        py.args(["--steps", &args.steps.to_string()]);
                        if compile {
                            py.arg("--compile");
                        }
                        results.push(run_json(py));
                    }
                }
                let eager = results
                    .iter()
                    .flatten()
                    .find(|v| v["engine"] == "torch-eager")
                    .and_then(|v| v["ms_per_step"].as_f64());
                for result in results {
                    let v = match result {
                        Ok(v) => v,
                        Err(e) => {
                            eprintln!("round {round}: {e}");
                            continue;
                        }
                    };
                    let engine = v["engine"].as_str().unwrap_or("?").to_string();
                    let ms = v["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                    eprintln!(
                        "round {round}: {model} {threads} thread(s) {engine}: {ms:.2} ms/step"
                    );
                    let row = match rows
                        .iter_mut()
                        .find(|r| r.0 == *model && r.1 == threads && r.2 == engine)
                    {
                        Some(row) => row,
                        None => {
                            rows.push((
                                model.clone(),
                                threads,
                                engine,
                                Vec::new(),
                                Vec::new(),
                                v.clone(),
                            ));
                            rows.last_mut().expect("just pushed")
                        }
                    };
                    row.3.push(ms);
                    if let Some(e) = eager {
                        row.4.push(ms / e);
                    }
                    row.5 = v;
                }
            }
        }
    }
    println!(
        "| model | threads | engine | ms/step (median) | per round | ratio vs torch-eager | params | loss first -> last |"
    );
    println!("|---|---:|---|---:|---|---:|---:|---|");
    for (model, threads, engine, ms, ratios, last) in &rows {
        let per_round: Vec<String> = ms.iter().map(|m| format!("{m:.2}")).collect();
        println!(
            "| {model} | {threads} | {engine} | {:.2} | {} | {} | {} | {:.3} -> {:.3} |",
            median(ms),
            per_round.join(" / "),
            if ratios.is_empty() {
                "-".into()
            } else {
                format!("{:.2}", median(ratios))
            },
            last["params"],
            last["first_loss"].as_f64().unwrap_or(f64::NAN),
            last["last_loss"].as_f64().unwrap_or(f64::NAN),
        );
    }
}
