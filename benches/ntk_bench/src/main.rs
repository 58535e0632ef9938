//! `ntk_bench`: the empirical NTK of an MLP (input dimension 32, two ReLU hidden layers of width
//! w, one output, NTK parametrisation with beta = 0.1) on n inputs, nonlin beside
//! neural-tangents on the same shapes in the same run; and the time of the registry-wide
//! criticality table.
//!
//! nonlin's side is its public API: `DenseNet::ntk_init` and `DenseNet::ntk` (the factorised
//! per-layer form, in f64 on faer, one thread); the reference is `nt_ntk.py`
//! (`nt.empirical_ntk_fn`, jitted, float32, XLA on the CPU), run in the pinned environment of
//! ../shared/bench/README.md. Both are pinned to one core with `taskset -c 0` unless `--no-pin`.
//! Times are medians of `--repeats` calls after one warm-up call.
//!
//! ```text
//! cargo run --release -p ntk_bench -- --python /path/to/ntenv/bin/python \
//!     [--shapes 256x64,512x128,1024x256,2048x512] [--repeats 5] [--implementation 3] [--json]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use nonlin::data::Rng;
use nonlin::theory::criticality::Criticality;
use nonlin::theory::kernels::{DenseNet, Matrix, ScalarActivation, gaussian};

struct Args {
    shapes: Vec<(usize, usize)>,
    dim: usize,
    repeats: usize,
    python: Option<String>,
    implementation: u32,
    pin: bool,
    json: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        shapes: vec![(256, 64), (512, 128), (1024, 256), (2048, 512)],
        dim: 32,
        repeats: 5,
        python: None,
        implementation: 3,
        pin: true,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--shapes" => {
                args.shapes = value()?
                    .split(',')
                    .map(|s| {
                        let (w, n) = s
                            .split_once('x')
                            .ok_or(format!("bad shape {s}: WIDTHxINPUTS"))?;
                        Ok((
                            w.parse().map_err(|e| format!("{s}: {e}"))?,
                            n.parse().map_err(|e| format!("{s}: {e}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?
            }
            "--dim" => args.dim = value()?.parse().map_err(|e| format!("--dim: {e}"))?,
            "--repeats" => {
                args.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?
            }
            "--python" => args.python = Some(value()?),
            "--implementation" => {
                args.implementation = value()?
                    .parse()
                    .map_err(|e| format!("--implementation: {e}"))?
            }
            "--no-pin" => args.pin = false,
            "--json" => args.json = true,
            "--worker" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    Ok(args)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds for one empirical NTK of shape (width, inputs), median of `repeats` (f64, or f32).
fn nonlin_ntk(width: usize, inputs: usize, dim: usize, repeats: usize, single: bool) -> f64 {
    let mut rng = Rng::seed(0);
    let net = DenseNet::ntk_init(
        &[dim, width, width, 1],
        0.1,
        ScalarActivation::Relu,
        &mut rng,
    );
    let x = Matrix::from_fn(inputs, dim, |_, _| gaussian(&mut rng));
    let k = net.ntk(&x, 0);
    assert!(k[(0, 0)].is_finite());
    median(
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                let k = if single {
                    net.ntk_f32(&x, 0)
                } else {
                    net.ntk(&x, 0)
                };
                std::hint::black_box(k);
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Seconds for the critical table of every registered activation, median of `repeats`.
fn criticality_table(repeats: usize) -> f64 {
    median(
        (0..repeats)
            .map(|_| {
                let start = Instant::now();
                for name in nonlin::nn::Activation::NAMES {
                    let c = Criticality::new(name, 200)
                        .expect("registered")
                        .critical(1e-3, 100.0, 160);
                    std::hint::black_box(c);
                }
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("nt_ntk.py")
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // Pin this process (and so the Python child) to one core.
    if args.pin && std::env::var("NTK_BENCH_PINNED").is_err() {
        let status = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .args(std::env::args())
            .env("NTK_BENCH_PINNED", "1")
            .status();
        match status {
            Ok(s) => std::process::exit(s.code().unwrap_or(1)),
            Err(e) => eprintln!("note: taskset unavailable ({e}); running unpinned"),
        }
    }
    let mut reference: Vec<[Option<f64>; 2]> = vec![[None, None]; args.shapes.len()];
    let mut check = None;
    for (slot, x64) in [(0usize, false), (1, true)] {
        let Some(python) = &args.python else { break };
        let shapes = args
            .shapes
            .iter()
            .map(|(w, n)| format!("{w}x{n}"))
            .collect::<Vec<_>>()
            .join(",");
        let out = Command::new(python)
            .arg(script())
            .args([
                "--shapes",
                &shapes,
                "--dim",
                &args.dim.to_string(),
                "--repeats",
                &args.repeats.to_string(),
            ])
            .args([
                "--implementation",
                &args.implementation.to_string(),
                "--check",
            ])
            .args(if x64 { &["--x64"][..] } else { &[][..] })
            .env(
                "XLA_FLAGS",
                "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            )
            .output();
        match out {
            Ok(o) if o.status.success() => {
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    let v: serde_json::Value = match serde_json::from_str(line) {
                        Ok(v) => v,
                        Err(_) => continue,
                    };
                    if let Some(c) = v.get("check") {
                        check = Some(c.clone());
                        continue;
                    }
                    let (w, n) = (
                        v["width"].as_u64().unwrap_or(0) as usize,
                        v["inputs"].as_u64().unwrap_or(0) as usize,
                    );
                    if let Some(i) = args.shapes.iter().position(|&s| s == (w, n)) {
                        reference[i][slot] = v["seconds"].as_f64();
                    }
                }
            }
            Ok(o) => eprintln!(
                "note: neural-tangents failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("note: cannot run {python}: {e}"),
        }
    }
    let mut rows = Vec::new();
    println!(
        "| width | inputs | nonlin f64 (ms) | neural-tangents f64 (ms) | ratio f64 | nonlin f32 (ms) | neural-tangents f32 (ms) | ratio f32 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |t: Option<f64>| t.map_or("—".into(), |t| format!("{:.2}", t * 1e3));
    let ratio = |t: Option<f64>, ours: f64| t.map_or("—".into(), |t| format!("{:.2}", ours / t));
    for (i, &(w, n)) in args.shapes.iter().enumerate() {
        let ours = nonlin_ntk(w, n, args.dim, args.repeats, false);
        let ours32 = nonlin_ntk(w, n, args.dim, args.repeats, true);
        let [f32s, f64s] = reference[i];
        println!(
            "| {w} | {n} | {:.2} | {} | {} | {:.2} | {} | {} |",
            ours * 1e3,
            ms(f64s),
            ratio(f64s, ours),
            ours32 * 1e3,
            ms(f32s),
            ratio(f32s, ours32)
        );
        rows.push(serde_json::json!({"width": w, "inputs": n, "nonlin_f64_s": ours, "neural_tangents_f64_s": f64s, "nonlin_f32_s": ours32, "neural_tangents_f32_s": f32s}));
    }
    let table = criticality_table(args.repeats);
    println!(
        "\nregistry-wide criticality table ({} activations): {:.1} ms",
        nonlin::nn::Activation::NAMES.len(),
        table * 1e3
    );
    if let Some(c) = &check {
        println!("neural-tangents analytic NTK on the unit circle (depth 4, beta 0.1): {c}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ntk": rows, "criticality_table_s": table, "nt_check": check})
        );
    }
}
