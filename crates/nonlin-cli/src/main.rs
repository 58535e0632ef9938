//! The `nonlin` command-line tool: run experiments and sweeps, compare runs, reproduce paper
//! claims, and manage data.

mod export;
mod generate;
mod predict;
mod probe;
mod progress;
mod sweep;

/// Burn's CPU backend allocates and frees megabyte-sized tensors every step. glibc's malloc hands
/// that memory back to the kernel and takes fresh zeroed pages on the next step, which cost about
/// 40% of a small MLP's training step; mimalloc keeps it (3.9 -> 2.2 ms/step, docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use nonlin::data::{self, MNIST_DEFAULT_URL};
use nonlin::lab::reproduce::{paper_specs, reproduce_paper};
use nonlin::lab::runner::unique_run_dir;
use nonlin::lab::{
    DEFAULT_DEMO, Experiment, LabError, Override, Progress, RunOptions, run_experiment,
};
use nonlin::nn::{DeviceSpec, engine};

#[derive(Parser)]
#[command(
    name = "nonlin",
    version,
    about = "A workbench for the nonlinear side of neural networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Engine {
    /// Where to run: cpu, vulkan[:N] or cuda[:N] (GPU backends need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads for the cpu backend's parallel kernels (they exist in builds with
    /// `--features parallel`; the default build runs its kernels on one thread).
    #[arg(long)]
    threads: Option<usize>,
    /// Folder to look for data sets in first (then $NONLIN_DATA, then the user's data folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Train and evaluate every arm x seed of an experiment (the default demo without a SPEC).
    Run {
        /// The experiment file; omit it for the default demo (digits, relu vs tanh vs gelu).
        spec: Option<String>,
        /// Dotted overrides such as `train.lr=3e-4 model.activation=gelu`.
        overrides: Vec<String>,
        /// The run folder (default: runs/<name>-<unix time>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in --out from its checkpoints.
        #[arg(long, requires = "out")]
        resume: bool,
        /// Apply the spec's [quick] overrides (the fast variant CI runs).
        #[arg(long)]
        quick: bool,
        #[command(flatten)]
        engine: Engine,
    },
    /// Run a grid of overrides as numbered points, locally, one --index at a time, or as a Slurm
    /// job array or Kubernetes indexed Job.
    Sweep(sweep::Args),
    /// One table of the arms of several runs: config differences and final metrics.
    Compare {
        /// Run folders, or sweep folders (each stands for its finished points).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run the paper experiments and check their claims: claimed, measured, PASS or FAIL.
    Reproduce {
        /// Only this paper (its slug, e.g. `crrelu`).
        #[arg(long)]
        paper: Option<String>,
        /// Run each experiment's fast [quick] variant.
        #[arg(long)]
        quick: bool,
        /// Exit 0 even when a claim fails.
        #[arg(long)]
        report_only: bool,
        /// Folder of the paper experiment files.
        #[arg(long, default_value = "experiments/papers")]
        dir: PathBuf,
        /// Where the runs are written.
        #[arg(long, default_value = "runs/reproduce")]
        runs: PathBuf,
        #[command(flatten)]
        engine: Engine,
    },
    /// Apply the trained model of a run to inputs from a .npy file, writing its outputs.
    Predict(predict::Args),
    /// Continue a prompt with a trained language model.
    Generate(generate::Args),
    /// Run a theory probe on its own, on a run folder's trained model, or from a probe
    /// experiment file; writes a probe folder.
    Probe(probe::Args),
    /// Write the trained integer sign and shift codes of a run's DenseShift layers (JSON).
    Export(export::Args),
    /// Data sets: fetch them, or list what is available where.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
}

#[derive(Subcommand)]
enum DataAction {
    /// Download a data set (only `mnist`), verify its SHA-256, and store it atomically.
    Fetch {
        /// The data set.
        name: String,
        /// Target folder (default: the user's data folder, <data dir>/nonlin/<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Base URL of a mirror holding the four standard MNIST files.
        #[arg(long, default_value = MNIST_DEFAULT_URL)]
        url: String,
    },
    /// List the data sets and where each was found.
    Info {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Markdown,
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode, LabError> {
    match command {
        Command::Run {
            spec,
            overrides,
            out,
            resume,
            quick,
            engine,
        } => run(spec, overrides, out, resume, quick, &engine),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Compare { runs, format } => {
            let (table, notes) = nonlin::lab::compare::compare_with_notes(&runs)?;
            for note in notes {
                eprintln!("note: {note}");
            }
            print!(
                "{}",
                match format {
                    Format::Text => table.to_text(),
                    Format::Markdown => table.to_markdown(),
                    Format::Csv => table.to_csv(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce {
            paper,
            quick,
            report_only,
            dir,
            runs,
            engine,
        } => reproduce(paper.as_deref(), quick, report_only, &dir, &runs, &engine),
        Command::Predict(args) => predict::predict(args),
        Command::Generate(args) => generate::generate(args),
        Command::Probe(args) => probe::probe(args),
        Command::Export(args) => export::export(args),
        Command::Data { action } => data_command(action),
    }
}

fn options(engine: &Engine, out_dir: PathBuf, resume: bool) -> Result<RunOptions, LabError> {
    let device: DeviceSpec = engine.device.parse()?;
    if let Some(threads) = engine.threads {
        engine::set_cpu_threads(threads)?;
    }
    Ok(RunOptions {
        out_dir,
        device,
        data_dir: engine.data_dir.clone(),
        resume,
        command: std::env::args().collect(),
        spec_text: None,
    })
}

fn run(
    spec: Option<String>,
    mut overrides: Vec<String>,
    out: Option<PathBuf>,
    resume: bool,
    quick: bool,
    engine: &Engine,
) -> Result<ExitCode, LabError> {
    // `nonlin run train.lr=1e-3` overrides the default demo.
    let spec = match spec {
        Some(s) if s.contains('=') && !Path::new(&s).exists() => {
            overrides.insert(0, s);
            None
        }
        other => other,
    };
    let mut parsed: Vec<Override> = overrides
        .iter()
        .map(|o| Override::parse(o))
        .collect::<Result<_, _>>()?;
    let (text, source) = match &spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(LabError::io(path))?;
            (text, path.clone())
        }
        None if resume && out.as_ref().is_some_and(|o| o.join("config.json").exists()) => {
            return resume_stored(out.expect("checked"), engine);
        }
        None => (
            DEFAULT_DEMO.to_string(),
            "<built-in default demo>".to_string(),
        ),
    };
    if quick {
        let mut q = Experiment::quick_overrides(&text, &source)?;
        q.append(&mut parsed);
        parsed = q;
    }
    let experiment = Experiment::from_text(&text, &source, &parsed)?;
    let out = out.unwrap_or_else(|| unique_run_dir(Path::new("runs"), &experiment.name));
    let options = RunOptions {
        spec_text: Some(text),
        ..options(engine, out, resume)?
    };
    execute(&experiment, options)
}

/// `nonlin run --resume --out DIR` without a spec: continue the experiment stored in DIR.
fn resume_stored(out: PathBuf, engine: &Engine) -> Result<ExitCode, LabError> {
    let experiment = Experiment::read_run(&out)?;
    execute(&experiment, options(engine, out, true)?)
}

fn execute(experiment: &Experiment, options: RunOptions) -> Result<ExitCode, LabError> {
    let out = options.out_dir.clone();
    let mut progress = progress::Reporter::new();
    progress.note(&format!(
        "{}: {} arm(s) x {} seed(s) on {} -> {}",
        experiment.name,
        experiment.arms.len(),
        experiment.seeds.len(),
        options.device,
        out.display()
    ));
    let summary = run_experiment(experiment, &options, &mut progress)?;
    progress.finish();
    println!("{}", results_table(experiment, &summary).to_text());
    for claim in &summary.claims {
        println!(
            "{} {}: measured {}",
            if claim.passed { "PASS" } else { "FAIL" },
            claim.claimed,
            claim.measured
        );
    }
    println!(
        "run folder: {} (report.md, summary.json, plots/)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn results_table(
    experiment: &Experiment,
    summary: &nonlin::lab::Summary,
) -> nonlin::lab::table::Table {
    let default = ["test_accuracy", "test_loss", "val_accuracy", "train_loss"];
    let shown: Vec<&str> = if experiment.metrics.is_empty() {
        default.to_vec()
    } else {
        experiment.metrics.iter().map(String::as_str).collect()
    };
    let present: Vec<&str> = shown
        .iter()
        .copied()
        .filter(|m| summary.arms.values().any(|a| a.contains_key(*m)))
        .collect();
    let mut table =
        nonlin::lab::table::Table::new(std::iter::once("arm").chain(present.iter().copied()));
    for (arm, stats) in experiment
        .arms
        .iter()
        .filter_map(|(a, _)| summary.arms.get_key_value(a))
    {
        table.push_row(
            std::iter::once(arm.clone()).chain(
                present
                    .iter()
                    .map(|m| stats.get(*m).map(|s| s.display()).unwrap_or_default()),
            ),
        );
    }
    table
}

fn reproduce(
    paper: Option<&str>,
    quick: bool,
    report_only: bool,
    dir: &Path,
    runs: &Path,
    engine: &Engine,
) -> Result<ExitCode, LabError> {
    let specs = paper_specs(dir, paper)?;
    if specs.is_empty() {
        println!(
            "no paper experiments in {}: nothing to reproduce yet",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let template = options(engine, PathBuf::new(), false)?;
    let mut table =
        nonlin::lab::table::Table::new(["paper", "claim", "claimed", "measured", "result"]);
    let mut failed = 0;
    let mut errors = 0;
    for (slug, path) in &specs {
        let mut progress = progress::Reporter::new();
        progress.note(&format!("{slug}: {}", path.display()));
        let result = reproduce_paper(slug, path, quick, runs, &template, &mut progress);
        progress.finish();
        // A paper whose run fails is recorded as an error and the others still run.
        let result = match result {
            Ok(result) => result,
            Err(e) => {
                eprintln!("error: {slug}: {e}");
                errors += 1;
                table.push_row([
                    slug.clone(),
                    "(the experiment did not run)".into(),
                    String::new(),
                    e.to_string(),
                    "ERROR".into(),
                ]);
                continue;
            }
        };
        if result.claims.is_empty() {
            // An arena (or a paper without claims yet): it ran; `nonlin compare` tabulates it.
            table.push_row([
                slug.clone(),
                "(no claims: a comparison)".into(),
                String::new(),
                format!("nonlin compare {}", result.run_dir.display()),
                "RAN".into(),
            ]);
        }
        for c in result.claims {
            failed += usize::from(!c.passed);
            table.push_row([
                slug.clone(),
                c.name,
                c.claimed,
                c.measured,
                if c.passed {
                    "PASS".into()
                } else {
                    "FAIL".into()
                },
            ]);
        }
    }
    print!("{}", table.to_text());
    println!(
        "{} claim(s), {} failed, {} paper(s) could not run",
        table
            .rows
            .iter()
            .filter(|r| r[4] == "PASS" || r[4] == "FAIL")
            .count(),
        failed,
        errors
    );
    Ok(if (failed > 0 || errors > 0) && !report_only {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn data_command(action: DataAction) -> Result<ExitCode, LabError> {
    match action {
        DataAction::Fetch { name, dir, url } => {
            if name != "mnist" {
                return Err(LabError::Other(format!(
                    "`{name}` cannot be fetched; only `mnist` can (digits ship inside nonlin)"
                )));
            }
            let dir = match dir {
                Some(d) => d,
                None => data::search_roots(None)
                    .into_iter()
                    .find(|r| r.source == data::RootSource::UserDataDir)
                    .map(|r| r.path.join("mnist"))
                    .ok_or_else(|| LabError::Other("no user data folder; pass --dir".into()))?,
            };
            let mut last_name = String::new();
            let files = data::fetch_files(
                &url,
                &data::mnist_files(),
                &dir,
                &mut |file, done, total| {
                    if file != last_name {
                        eprintln!(
                            "fetching {file}{}",
                            total.map(|t| format!(" ({t} bytes)")).unwrap_or_default()
                        );
                        last_name = file.to_string();
                    }
                    let _ = done;
                },
            )?;
            for f in files {
                println!("ok {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DataAction::Info { data_dir } => {
            let mut table = nonlin::lab::table::Table::new(["data set", "status", "where"]);
            for s in data::available(data_dir.as_deref()) {
                table.push_row([
                    s.name.to_string(),
                    format!("{:?}", s.status),
                    s.folder.display().to_string(),
                ]);
            }
            print!("{}", table.to_text());
            println!(
                "search order: --data-dir, ${}, the user's data folder",
                data::DATA_ENV_VAR
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
