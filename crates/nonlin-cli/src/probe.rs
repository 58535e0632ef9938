//! `nonlin probe NAME [RUN_DIR | SPEC] [key=value ...]`: a theory probe, on its own (its
//! default config with the overrides), on the trained model of a run folder, or as a probe
//! experiment file with claims. Writes a probe folder (numbers in `probe.json`, series and
//! tables as CSV, SVG plots, `report.md`). The library side is `nonlin::lab::probe`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nonlin::lab::probe::{
    ProbeExperiment, ProbeOutcome, RunFolderModel, probe_config, probe_run_folder, run_probe,
};
use nonlin::lab::runner::unique_run_dir;
use nonlin::lab::{Experiment, LabError, Override};
use nonlin::theory::ProbeConfig;

use crate::progress::Reporter;

/// The arguments of `nonlin probe`.
#[derive(clap::Args)]
pub struct Args {
    /// The probe (deep_linear, criticality, ntk, infinite_depth, ...).
    name: String,
    /// A run folder (the probe reads its trained model, data, initialisation and metrics), a
    /// probe experiment file (`.toml`), or the first `key=value` override. On a run folder:
    /// criticality (an mlp's C_W, C_b per layer), ntk (empirical NTK on its rows), rep_geometry
    /// (CKA of hidden layers), kappa_tune (condition numbers), deep_linear (an identity-activation
    /// mlp on regression: closed-form mode strengths and loss beside the run's), infinite_depth
    /// (the depth-L NTK classifier and its limit rule on the run's data beside its accuracy),
    /// mutual_info (information plane of its hidden layers at init and end), grokking (a
    /// modular-addition run: train/test accuracy series, Fourier power of the embeddings),
    /// permutation_ntk (the infinite-width GP of a one-hidden-layer mlp beside the trained net),
    /// zero_cost_nas (the six proxies at init and end beside the trained accuracy).
    target: Option<String>,
    /// Overrides of the probe's config fields, e.g. `depths=[1,2,4]` (or `probe.depths=...`).
    overrides: Vec<String>,
    /// The activation the probe studies (sets its `activation` field; criticality without it
    /// tables the whole registry).
    #[arg(long)]
    activation: Option<String>,
    /// Seeds to run (comma-separated; default 0, or the spec's).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// With a run folder: the arm whose model is probed (default: the first).
    #[arg(long)]
    arm: Option<String>,
    /// With a run folder: the seed whose model is probed (default: the first).
    #[arg(long)]
    seed: Option<u64>,
    /// With a run folder: test rows (and training rows) of its data handed to the probe.
    #[arg(long, default_value = "256")]
    rows: usize,
    /// With a spec: apply its [quick] overrides.
    #[arg(long)]
    quick: bool,
    /// The probe folder (default: runs/probe-<name>-<n>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder to look for data sets in first.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs `nonlin probe`.
pub fn probe(args: Args) -> Result<ExitCode, LabError> {
    if !ProbeConfig::NAMES.contains(&args.name.as_str()) {
        return Err(LabError::Other(format!(
            "unknown probe `{}`; known probes: {}",
            args.name,
            ProbeConfig::NAMES.join(", ")
        )));
    }
    let mut texts = args.overrides.clone();
    let target = match args.target {
        Some(t) if t.contains('=') && !Path::new(&t).exists() => {
            texts.insert(0, t);
            None
        }
        other => other,
    };
    if let Some(activation) = &args.activation {
        texts.push(format!("activation=\"{activation}\""));
    }
    let mut overrides: Vec<Override> = texts
        .iter()
        .map(|t| Override::parse(t))
        .collect::<Result<_, _>>()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| unique_run_dir(Path::new("runs"), &format!("probe-{}", args.name)));
    let mut progress = Reporter::new();
    let outcome = match target.as_deref().map(Path::new) {
        Some(path) if path.is_dir() => {
            let config = probe_config(&args.name, &overrides)?;
            let experiment = ProbeExperiment::adhoc(config, seeds_or(&args.seeds, vec![0]))?;
            let source = RunFolderModel {
                run_dir: path,
                arm: args.arm.as_deref(),
                seed: args.seed,
                data_dir: args.data_dir.as_deref(),
                rows: args.rows,
            };
            probe_run_folder(&experiment, &source, &out, &mut progress)?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(LabError::io(path))?;
            let source = path.display().to_string();
            // Bare keys are the probe's fields; `seeds` and `name` are the file's.
            for o in &mut overrides {
                if !(o.path.starts_with("probe.") || o.path == "seeds" || o.path == "name") {
                    o.path = format!("probe.{}", o.path);
                }
            }
            if !args.seeds.is_empty() {
                overrides.push(Override {
                    path: "seeds".into(),
                    value: nonlin::lab::probe::seeds_value(&args.seeds),
                });
            }
            if args.quick {
                let mut quick = Experiment::quick_overrides(&text, &source)?;
                quick.append(&mut overrides);
                overrides = quick;
            }
            let experiment = ProbeExperiment::from_text(&text, &source, &overrides)?;
            if experiment.probe.name() != args.name {
                return Err(LabError::Other(format!(
                    "{source} runs probe `{}`, not `{}`",
                    experiment.probe.name(),
                    args.name
                )));
            }
            run_probe(&experiment, &out, None, &mut progress)?
        }
        None => {
            let config = probe_config(&args.name, &overrides)?;
            let experiment = ProbeExperiment::adhoc(config, seeds_or(&args.seeds, vec![0]))?;
            run_probe(&experiment, &out, None, &mut progress)?
        }
    };
    progress.finish();
    print_outcome(&outcome);
    println!(
        "probe folder: {} (report.md, probe.json, series/, tables/, plots/)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn seeds_or(seeds: &[u64], default: Vec<u64>) -> Vec<u64> {
    if seeds.is_empty() {
        default
    } else {
        seeds.to_vec()
    }
}

fn print_outcome(outcome: &ProbeOutcome) {
    for table in &outcome.tables {
        let mut t = nonlin::lab::table::Table::new(table.header.clone());
        for row in &table.rows {
            t.push_row(row.clone());
        }
        println!("{}\n{}", table.title, t.to_text());
    }
    for claim in &outcome.claims {
        println!(
            "{} {}: measured {}",
            if claim.passed { "PASS" } else { "FAIL" },
            claim.claimed,
            claim.measured
        );
    }
}
