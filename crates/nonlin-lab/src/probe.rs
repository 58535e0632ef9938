//! Probe experiments and probe folders: `nonlin probe` and the probe papers of
//! `nonlin reproduce`.
//!
//! A probe experiment file names a probe instead of a training run:
//!
//! ```toml
//! name = "deep_linear"
//! seeds = [0, 1, 2]
//! [probe]
//! kind = "deep_linear"        # a name in nonlin_theory::ProbeConfig::NAMES
//! depths = [1, 2, 4, 8]       # the probe's own config fields
//! [[claim]]
//! name = "orthogonal learns fast at every depth"
//! metric = "orthogonal.max_steps"   # a number the probe reports
//! op = "<="
//! value = 500
//! [quick]
//! "probe.max_steps" = 600
//! ```
//!
//! Claims are the training experiments' `[[claim]]` entries over the probe's numbers, averaged
//! over seeds (a probe whose numbers do not depend on the seed runs once). The folder holds
//! `probe.json` (config, numbers per seed, statistics, claims), `series/*.csv`, `tables/*.csv`,
//! `plots/*.svg` (from the first seed) and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use nonlin_theory::{ProbeConfig, ProbeData, ProbeInput, ProbeReport, RunRecord, kernels::Matrix};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::LabError;
use crate::atomic::write_atomic;
use crate::plot::LineChart;
use crate::runner::Progress;
use crate::spec::{ClaimSpec, Override};
use crate::summary::{ClaimResult, Stat, check_claim};
use crate::table::Table as TextTable;

/// The arm name claims of a probe experiment are checked against.
pub const PROBE_ARM: &str = "probe";

/// The file's schema.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    probe: Table,
    #[serde(default)]
    claim: Vec<ClaimSpec>,
    #[serde(default)]
    #[allow(dead_code)] // read by `Experiment::quick_overrides`
    quick: BTreeMap<String, Value>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// A loaded probe experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeExperiment {
    pub name: String,
    pub description: String,
    pub seeds: Vec<u64>,
    pub probe: ProbeConfig,
    /// Claims with `arm` set to [`PROBE_ARM`].
    pub claims: Vec<ClaimSpec>,
    pub source: String,
    pub overrides: Vec<String>,
}

/// Whether an experiment file's text describes a probe (it has a `[probe]` table).
pub fn is_probe_spec(text: &str) -> bool {
    toml::from_str::<Table>(text).is_ok_and(|t| t.contains_key("probe"))
}

impl ProbeExperiment {
    /// Parses a probe experiment; `overrides` (`probe.depths=[1, 2]`, `seeds=[0]`) apply first.
    pub fn from_text(text: &str, source: &str, overrides: &[Override]) -> Result<Self, LabError> {
        let spec_err = |key: String, reason: String| LabError::Spec {
            file: source.to_string(),
            key,
            reason,
        };
        let mut root: Table = toml::from_str(text)
            .map_err(|e| spec_err("(syntax)".into(), e.to_string().trim().to_string()))?;
        for o in overrides {
            set_path(&mut root, &o.path, o.value.clone())
                .map_err(|reason| spec_err(o.path.clone(), format!("cannot override: {reason}")))?;
        }
        let file: ProbeFile = serde_path_to_error::deserialize(Value::Table(root))
            .map_err(|e| spec_err(e.path().to_string(), e.into_inner().to_string()))?;
        if file.seeds.is_empty() {
            return Err(spec_err(
                "seeds".into(),
                "at least one seed is needed".into(),
            ));
        }
        let probe: ProbeConfig = serde_path_to_error::deserialize(Value::Table(file.probe))
            .map_err(|e| spec_err(format!("probe.{}", e.path()), e.into_inner().to_string()))?;
        probe
            .validate()
            .map_err(|e| spec_err("probe".into(), e.to_string()))?;
        let claims =
            check_claims(file.claim, &probe).map_err(|(key, reason)| spec_err(key, reason))?;
        Ok(Self {
            name: file.name,
            description: file.description,
            seeds: file.seeds,
            probe,
            claims,
            source: source.to_string(),
            overrides: overrides
                .iter()
                .map(|o| format!("{}={}", o.path, o.value))
                .collect(),
        })
    }

    /// An experiment of one probe config and no claims (`nonlin probe NAME` without a spec).
    pub fn adhoc(probe: ProbeConfig, seeds: Vec<u64>) -> Result<Self, LabError> {
        probe
            .validate()
            .map_err(|e| LabError::Other(e.to_string()))?;
        Ok(Self {
            name: probe.name().to_string(),
            description: String::new(),
            seeds,
            probe,
            claims: Vec::new(),
            source: "<command line>".into(),
            overrides: Vec::new(),
        })
    }

    /// The seeds the probe actually runs (one when its numbers do not depend on the seed).
    pub fn run_seeds(&self) -> Vec<u64> {
        if self.probe.random() {
            self.seeds.clone()
        } else {
            self.seeds[..1].to_vec()
        }
    }
}

/// A probe config of kind `name` from `key=value` overrides of its fields.
pub fn probe_config(name: &str, overrides: &[Override]) -> Result<ProbeConfig, LabError> {
    let mut table = Table::new();
    table.insert("kind".into(), Value::String(name.to_string()));
    for o in overrides {
        let path = o.path.strip_prefix("probe.").unwrap_or(&o.path);
        set_path(&mut table, path, o.value.clone()).map_err(|reason| LabError::Override {
            text: o.path.clone(),
            reason,
        })?;
    }
    let config: ProbeConfig =
        serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| LabError::Spec {
            file: "<command line>".into(),
            key: format!("probe.{}", e.path()),
            reason: e.into_inner().to_string(),
        })?;
    config
        .validate()
        .map_err(|e| LabError::Other(e.to_string()))?;
    Ok(config)
}

fn set_path(root: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().ok_or("empty path")?;
    let mut table = root;
    for part in parts {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a table"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

fn check_claims(
    mut claims: Vec<ClaimSpec>,
    probe: &ProbeConfig,
) -> Result<Vec<ClaimSpec>, (String, String)> {
    let known = probe.metrics();
    for (i, claim) in claims.iter_mut().enumerate() {
        let key = format!("claim[{i}] ({})", claim.name);
        match claim.arm.as_deref() {
            None | Some(PROBE_ARM) => claim.arm = Some(PROBE_ARM.to_string()),
            Some(other) => {
                return Err((
                    key,
                    format!("a probe experiment has one arm, `{PROBE_ARM}`; got `{other}`"),
                ));
            }
        }
        if claim.than_arm.is_some() {
            return Err((
                key,
                "a probe experiment has one arm: use `than_metric`".into(),
            ));
        }
        if claim.value.is_some() == claim.than_metric.is_some() {
            return Err((key, "give either `value` or `than_metric`".into()));
        }
        for metric in std::iter::once(&claim.metric).chain(&claim.than_metric) {
            if !known.contains(metric) {
                return Err((
                    key,
                    format!(
                        "probe `{}` reports no number `{metric}`; it reports: {}",
                        probe.name(),
                        known.join(", ")
                    ),
                ));
            }
        }
        if !(claim.tolerance.is_finite() && claim.tolerance >= 0.0) {
            return Err((key, "tolerance must be a number >= 0".into()));
        }
        if !claim.offset.is_finite() || claim.value.is_some_and(|v| !v.is_finite()) {
            return Err((key, "value and offset must be finite".into()));
        }
    }
    Ok(claims)
}

/// A trained model handed to a probe, with rows of its data.
pub struct TrainedInput<'a> {
    pub model: &'a nonlin_nn::Model,
    pub data: Option<&'a ProbeData>,
    /// The rest of its run folder, when it came from one.
    pub run: Option<&'a RunRecord<'a>>,
    /// Where it came from (for the report).
    pub source: String,
}

/// What a probe experiment found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOutcome {
    pub experiment: ProbeExperiment,
    /// The numbers of every seed run.
    pub per_seed: Vec<(u64, BTreeMap<String, f64>)>,
    /// Mean and spread of every number over the seeds.
    pub stats: BTreeMap<String, Stat>,
    pub claims: Vec<ClaimResult>,
    /// Wall time of each seed, in seconds.
    pub seconds: Vec<f64>,
    /// The tables of the first seed.
    pub tables: Vec<nonlin_theory::ReportTable>,
}

/// Seeds as a TOML value (for a `seeds` override).
pub fn seeds_value(seeds: &[u64]) -> Value {
    Value::Array(seeds.iter().map(|&s| Value::Integer(s as i64)).collect())
}

/// Runs a probe experiment into `out_dir` (created), optionally on a trained model.
pub fn run_probe(
    experiment: &ProbeExperiment,
    out_dir: &Path,
    trained: Option<&TrainedInput<'_>>,
    progress: &mut dyn Progress,
) -> Result<ProbeOutcome, LabError> {
    std::fs::create_dir_all(out_dir).map_err(LabError::io(out_dir))?;
    let mut per_seed = Vec::new();
    let mut reports: Vec<ProbeReport> = Vec::new();
    let mut seconds = Vec::new();
    for seed in experiment.run_seeds() {
        progress.note(&format!("probe {} seed {seed}", experiment.probe.name()));
        let start = std::time::Instant::now();
        let input = ProbeInput {
            seed,
            model: trained.map(|t| t.model),
            data: trained.and_then(|t| t.data),
            run: trained.and_then(|t| t.run),
        };
        let report = experiment
            .probe
            .run(&input)
            .map_err(|e| LabError::Other(format!("probe {}: {e}", experiment.probe.name())))?;
        seconds.push(start.elapsed().as_secs_f64());
        per_seed.push((seed, report.numbers.clone()));
        reports.push(report);
    }
    let mut stats = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        per_seed.iter().flat_map(|(_, m)| m.keys()).collect();
    for name in names {
        let values: Vec<f64> = per_seed
            .iter()
            .filter_map(|(_, m)| m.get(name).copied())
            .collect();
        stats.insert(name.clone(), Stat::of(&values));
    }
    let arms = BTreeMap::from([(PROBE_ARM.to_string(), stats.clone())]);
    let claims = experiment
        .claims
        .iter()
        .map(|c| check_claim(c, &arms, &BTreeMap::new()))
        .collect();
    let tables = reports
        .first()
        .map(|r| r.tables.clone())
        .unwrap_or_default();
    let outcome = ProbeOutcome {
        experiment: experiment.clone(),
        per_seed,
        stats,
        claims,
        seconds,
        tables,
    };
    write_folder(
        out_dir,
        &outcome,
        &reports,
        trained.map(|t| t.source.as_str()),
    )?;
    Ok(outcome)
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(LabError::io(parent))?;
    }
    write_atomic(&path, bytes).map_err(LabError::io(path))
}

/// A number as JSON can hold it (non-finite values as strings, as in `summary.json`).
fn json_number(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::json!(v.to_string())
    }
}

fn write_folder(
    dir: &Path,
    outcome: &ProbeOutcome,
    reports: &[ProbeReport],
    source: Option<&str>,
) -> Result<(), LabError> {
    let stats: serde_json::Map<String, serde_json::Value> = outcome
        .stats
        .iter()
        .map(|(k, s)| (k.clone(), serde_json::json!({"mean": json_number(s.mean), "std": json_number(s.std), "min": json_number(s.min), "max": json_number(s.max), "n": s.n})))
        .collect();
    let per_seed: Vec<serde_json::Value> = outcome
        .per_seed
        .iter()
        .map(|(seed, m)| serde_json::json!({"seed": seed, "numbers": m.iter().map(|(k, v)| (k.clone(), json_number(*v))).collect::<serde_json::Map<_, _>>()}))
        .collect();
    let json = serde_json::json!({
        "experiment": outcome.experiment.name,
        "probe": outcome.experiment.probe,
        "source": outcome.experiment.source,
        "overrides": outcome.experiment.overrides,
        "model": source,
        "seeds": outcome.per_seed.iter().map(|(s, _)| s).collect::<Vec<_>>(),
        "seconds": outcome.seconds,
        "numbers": stats,
        "per_seed": per_seed,
        "claims": outcome.claims,
    });
    write(
        dir.join("probe.json"),
        &serde_json::to_vec_pretty(&json).map_err(|e| LabError::Other(e.to_string()))?,
    )?;
    // Series of every seed in one long CSV per group; tables and plots of the first seed.
    if let Some(first) = reports.first() {
        for group in &first.series {
            let mut csv = String::from("seed,line,x,y\n");
            for ((seed, _), report) in outcome.per_seed.iter().zip(reports) {
                if let Some(g) = report.series.iter().find(|g| g.name == group.name) {
                    for line in &g.lines {
                        for (x, y) in &line.points {
                            let _ = writeln!(csv, "{seed},{},{x},{y}", csv_field(&line.label));
                        }
                    }
                }
            }
            write(
                dir.join("series").join(format!("{}.csv", group.name)),
                csv.as_bytes(),
            )?;
            if group.plot {
                let mut chart = LineChart::new(
                    group.title.clone(),
                    group.x_label.clone(),
                    group.y_label.clone(),
                );
                chart.log_y = group.log_y;
                for line in &group.lines {
                    chart = chart.with_series(line.label.clone(), line.points.clone());
                }
                write(
                    dir.join("plots").join(format!("{}.svg", group.name)),
                    chart.to_svg().as_bytes(),
                )?;
            }
        }
        for table in &first.tables {
            let mut t = TextTable::new(table.header.clone());
            for row in &table.rows {
                t.push_row(row.clone());
            }
            write(
                dir.join("tables").join(format!("{}.csv", table.name)),
                t.to_csv().as_bytes(),
            )?;
        }
    }
    write(
        dir.join("report.md"),
        report_markdown(outcome, reports.first(), source).as_bytes(),
    )
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `report.md`: what ran, the claims, the numbers, the tables and plots of the first seed.
fn report_markdown(
    outcome: &ProbeOutcome,
    first: Option<&ProbeReport>,
    source: Option<&str>,
) -> String {
    let e = &outcome.experiment;
    let mut md = format!("# Probe `{}`: {}\n\n", e.probe.name(), e.name);
    if !e.description.is_empty() {
        let _ = writeln!(md, "{}\n", e.description.trim());
    }
    let _ = writeln!(
        md,
        "- spec: `{}`{}",
        e.source,
        if e.overrides.is_empty() {
            String::new()
        } else {
            format!(" with `{}`", e.overrides.join(" "))
        }
    );
    if let Some(source) = source {
        let _ = writeln!(md, "- model: {source}");
    }
    let _ = writeln!(
        md,
        "- seeds: {:?} ({:.1} s in all)\n",
        outcome.per_seed.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        outcome.seconds.iter().sum::<f64>()
    );
    if !outcome.claims.is_empty() {
        let mut t = TextTable::new(["claim", "claimed", "measured", "result"]);
        for c in &outcome.claims {
            t.push_row([
                c.name.clone(),
                c.claimed.clone(),
                c.measured.clone(),
                if c.passed {
                    "PASS".into()
                } else {
                    "FAIL".into()
                },
            ]);
        }
        let _ = writeln!(md, "## Claims\n\n{}", t.to_markdown());
    }
    if let Some(report) = first {
        for note in &report.notes {
            let _ = writeln!(md, "{note}\n");
        }
        for table in &report.tables {
            let mut t = TextTable::new(table.header.clone());
            for row in &table.rows {
                t.push_row(row.clone());
            }
            let _ = writeln!(
                md,
                "## {} (seed {})\n\n{}",
                table.title,
                outcome.per_seed[0].0,
                t.to_markdown()
            );
        }
        for group in report.series.iter().filter(|g| g.plot) {
            let _ = writeln!(md, "![{}](plots/{}.svg)\n", group.title, group.name);
        }
    }
    let mut t = TextTable::new(["number", "value"]);
    for (name, stat) in &outcome.stats {
        t.push_row([name.clone(), stat.display()]);
    }
    let _ = writeln!(md, "## Numbers\n\n{}", t.to_markdown());
    md
}

/// Up to `limit` rows of a split (inputs flattened), with its labels or target values.
fn split_rows(split: &nonlin_data::Dataset, limit: usize) -> ProbeData {
    let n = split.len().min(limit);
    let width = split.sample_len();
    let inputs = Matrix::from_fn(n, width, |i, j| f64::from(split.sample(i)[j]));
    let labels = split.labels().map(|l| l[..n].to_vec());
    let targets = match &split.targets {
        nonlin_data::Targets::Values { values, .. } => {
            let outputs = split.targets.sample_len();
            Some(Matrix::from_fn(n, outputs, |i, j| {
                f64::from(values[i * outputs + j])
            }))
        }
        nonlin_data::Targets::Classes { .. } => None,
    };
    ProbeData {
        inputs,
        labels,
        targets,
    }
}

/// Rows of a run's data for a probe: up to `limit` test rows (inputs flattened) and labels.
pub fn probe_data(
    config: &crate::spec::RunConfig,
    data_dir: Option<&Path>,
    limit: usize,
) -> Result<ProbeData, LabError> {
    let splits = crate::data::load_splits(&config.data, config.train.split_seed, data_dir)?;
    Ok(split_rows(&splits.test, limit))
}

/// Which trained model of a run folder a probe reads, and how much of its data.
#[derive(Debug, Clone)]
pub struct RunFolderModel<'a> {
    pub run_dir: &'a Path,
    /// The arm (default: the first).
    pub arm: Option<&'a str>,
    /// The seed (default: the first).
    pub seed: Option<u64>,
    /// Where to look for the run's data first.
    pub data_dir: Option<&'a Path>,
    /// Test rows (and training rows) of its data handed to the probe.
    pub rows: usize,
}

/// The `kind` (or `dataset`) tag a config serialises with.
fn tag(value: impl Serialize, key: &str) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.get(key).and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_default()
}

/// Runs a probe on the trained model of a run folder, with up to `rows` test rows of its data
/// and the run's record: the model as it was initialised (rebuilt from the seed), up to `rows`
/// training rows, the unit's logged metrics and final metrics, optimiser, learning rate and steps.
pub fn probe_run_folder(
    experiment: &ProbeExperiment,
    source: &RunFolderModel<'_>,
    out_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<ProbeOutcome, LabError> {
    let RunFolderModel {
        run_dir,
        arm,
        seed,
        data_dir,
        rows,
    } = *source;
    let device = Device::flex();
    let unit = crate::trained::TrainedUnit::load(run_dir, arm, seed, &device)?;
    let splits =
        match crate::data::load_splits(&unit.config.data, unit.config.train.split_seed, data_dir) {
            Ok(s) => Some(s),
            Err(e) => {
                progress.note(&format!(
                    "the run's data is not available ({e}); the probe gets the model alone"
                ));
                None
            }
        };
    let data = splits.as_ref().map(|s| split_rows(&s.test, rows));
    let train = splits.as_ref().map(|s| split_rows(&s.train, rows));
    // The runner seeds the engine with the unit's seed and builds the model first: the same two
    // steps give back the model as it was before its first step.
    // (A run that starts from imported weights has no such model here.)
    let initial = match unit.config.init_from {
        None => {
            nonlin_nn::engine::seed(&device, unit.seed);
            Some(unit.config.model.build(&unit.task.io, &device)?)
        }
        Some(_) => None,
    };
    let unit_dir = run_dir
        .join("checkpoints")
        .join(format!("{}-seed{}", unit.arm, unit.seed));
    let meta = crate::checkpoint::read_meta(&unit_dir)?.ok_or_else(|| LabError::NotARun {
        path: run_dir.to_path_buf(),
        reason: format!("{} holds no checkpoint", unit_dir.display()),
    })?;
    let log = run_dir.join(crate::metrics_log::JSONL_NAME);
    let records = if log.is_file() {
        crate::metrics_log::read_jsonl(&log).map_err(|e| LabError::Other(e.to_string()))?
    } else {
        Vec::new()
    };
    let mut metrics: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.arm == unit.arm && r.seed == unit.seed)
    {
        for name in r.values.keys() {
            let key = format!("{}/{name}", r.split);
            metrics.entry(key).or_insert_with(|| {
                crate::metrics_log::series(&records, &unit.arm, unit.seed, &r.split, name)
            });
        }
    }
    let optimizer = tag(&unit.config.optimizer, "kind");
    let dataset = tag(&unit.config.data, "dataset");
    let record = RunRecord {
        initial: initial.as_ref(),
        train: train.as_ref(),
        metrics: &metrics,
        final_metrics: &meta.final_metrics,
        optimizer: &optimizer,
        lr: unit.config.train.lr,
        steps: meta.step,
        dataset: &dataset,
    };
    let trained = TrainedInput {
        model: &unit.model,
        data: data.as_ref(),
        run: Some(&record),
        source: format!(
            "{} (arm {}, seed {}{})",
            run_dir.display(),
            unit.arm,
            unit.seed,
            if unit.finished { "" } else { ", unfinished" }
        ),
    };
    run_probe(experiment, out_dir, Some(&trained), progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Silent;

    const SPEC: &str = r#"
name = "deep linear, tiny"
seeds = [0, 1]
[probe]
kind = "deep_linear"
steps = 400
strengths = [3.0, 2.0]
depths = [1, 2]
sweep_lrs = [0.5]
max_steps = 200
grad_depth = 0
[[claim]]
name = "the fast mode follows the closed form"
metric = "mode1.t_sim"
op = "~="
than_metric = "mode1.t_theory"
tolerance = 6.25
[[claim]]
name = "depth 1 takes at most 5 steps"
metric = "orthogonal.d1.steps"
op = "<="
value = 5
[quick]
"probe.max_steps" = 100
"#;

    #[test]
    fn a_probe_experiment_runs_writes_its_folder_and_checks_claims() {
        assert!(is_probe_spec(SPEC));
        let exp = ProbeExperiment::from_text(SPEC, "tiny.toml", &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outcome = run_probe(&exp, dir.path(), None, &mut Silent).unwrap();
        assert_eq!(outcome.per_seed.len(), 2);
        assert_eq!(outcome.claims.len(), 2);
        assert!(
            outcome.claims.iter().all(|c| c.passed),
            "{:?}",
            outcome.claims
        );
        for file in [
            "probe.json",
            "report.md",
            "series/learning_curves.csv",
            "plots/learning_curves.svg",
            "tables/mode_times.csv",
        ] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("probe.json")).unwrap()).unwrap();
        assert_eq!(json["numbers"]["orthogonal.d1.steps"]["n"], 2);
        let quick = crate::spec::Experiment::quick_overrides(SPEC, "tiny.toml").unwrap();
        let exp = ProbeExperiment::from_text(SPEC, "tiny.toml", &quick).unwrap();
        assert!(matches!(exp.probe, ProbeConfig::DeepLinear(ref c) if c.max_steps == 100));
    }

    #[test]
    fn bad_probe_experiments_name_the_key() {
        let err = |text: &str| {
            ProbeExperiment::from_text(text, "x.toml", &[])
                .unwrap_err()
                .to_string()
        };
        let base = "name = \"x\"\n[probe]\nkind = \"deep_linear\"\n";
        assert!(err(&format!("{base}depthz = [1]")).contains("depthz"));
        assert!(err("name = \"x\"\n[probe]\nkind = \"nope\"").contains("nope"));
        assert!(err(&format!("{base}lr = -1.0")).contains("lr"));
        let claim = "[[claim]]\nname = \"c\"\nop = \">=\"\nvalue = 1\n";
        assert!(
            err(&format!("{base}{claim}metric = \"no_such_number\"")).contains("no_such_number")
        );
        assert!(
            err(&format!(
                "{base}{claim}metric = \"min_ratio_deep\"\narm = \"relu\""
            ))
            .contains("one arm")
        );
        assert!(err("name = \"x\"\nseeds = []\n[probe]\nkind = \"deep_linear\"").contains("seed"));
    }

    #[test]
    fn command_line_configs() {
        let c = probe_config(
            "deep_linear",
            &[
                Override::parse("depths=[1, 2]").unwrap(),
                Override::parse("probe.lr=0.02").unwrap(),
            ],
        )
        .unwrap();
        assert!(
            matches!(c, ProbeConfig::DeepLinear(ref d) if d.depths == vec![1, 2] && d.lr == 0.02)
        );
        assert!(probe_config("deep_linear", &[Override::parse("lr=0").unwrap()]).is_err());
        assert!(
            probe_config("nope", &[])
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
