//! `nonlin compare`: one table of every arm of several runs (a sweep folder counts as its finished
//! points), with the config keys that differ between them, their final metrics, and the cost
//! figures that make arms comparable: trainable parameters, training seconds per epoch, peak
//! memory (mean ± spread over seeds, like the metrics).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::LabError;
use crate::spec::Experiment;
use crate::summary::{Stat, Summary};
use crate::table::Table;

/// One row of the comparison: a run's arm.
struct Row {
    run: String,
    arm: String,
    config: BTreeMap<String, String>,
    metrics: BTreeMap<String, String>,
}

/// Builds the comparison table of the run folders; a sweep folder stands for its finished points.
pub fn compare(dirs: &[PathBuf]) -> Result<Table, LabError> {
    compare_with_notes(dirs).map(|(table, _)| table)
}

/// [`compare`], with notes naming the sweep points left out because they have not finished.
pub fn compare_with_notes(dirs: &[PathBuf]) -> Result<(Table, Vec<String>), LabError> {
    if dirs.is_empty() {
        return Err(LabError::Other(
            "compare needs at least one run folder".into(),
        ));
    }
    let crate::sweep::RunFolders { runs, notes } = crate::sweep::expand_run_dirs(dirs)?;
    if runs.is_empty() {
        return Err(LabError::Other(format!(
            "no finished runs to compare ({})",
            notes.join("; ")
        )));
    }
    let mut rows = Vec::new();
    for (run, dir) in &runs {
        let experiment = Experiment::read_run(dir)?;
        let summary = Summary::read(dir)?;
        for (arm, config) in &experiment.arms {
            let mut flat = BTreeMap::new();
            flatten(
                "",
                &serde_json::to_value(config).map_err(|e| LabError::Other(e.to_string()))?,
                &mut flat,
            );
            let mut metrics: BTreeMap<String, String> = summary
                .arms
                .get(arm)
                .map(|m| m.iter().map(|(k, s)| (k.clone(), s.display())).collect())
                .unwrap_or_default();
            metrics.extend(costs(&summary, arm, config.train.epochs));
            rows.push(Row {
                run: run.clone(),
                arm: arm.clone(),
                config: flat,
                metrics,
            });
        }
    }

    let keys: BTreeSet<&String> = rows.iter().flat_map(|r| r.config.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let first = rows[0].config.get(*k);
            rows.iter().any(|r| r.config.get(*k) != first)
        })
        .collect();
    let metrics: BTreeSet<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();

    let headers = ["run".to_string(), "arm".to_string()]
        .into_iter()
        .chain(differing.iter().map(|k| k.to_string()))
        .chain(metrics.iter().map(|m| m.to_string()));
    let mut table = Table::new(headers);
    for r in &rows {
        let cells = [r.run.clone(), r.arm.clone()]
            .into_iter()
            .chain(
                differing
                    .iter()
                    .map(|k| r.config.get(*k).cloned().unwrap_or_default()),
            )
            .chain(
                metrics
                    .iter()
                    .map(|m| r.metrics.get(*m).cloned().unwrap_or_default()),
            );
        table.push_row(cells);
    }
    Ok((table, notes))
}

/// The cost columns of an arm: `params`, `peak_rss_mb` and, for an epoch budget, `s_per_epoch`
/// (training seconds over epochs, per seed); a figure the run did not record is left out.
fn costs(summary: &Summary, arm: &str, epochs: Option<usize>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(figures) = summary.arm_resources.get(arm) {
        for name in ["params", "peak_rss_mb"] {
            if let Some(stat) = figures.get(name) {
                out.push((name.to_string(), stat.display()));
            }
        }
    }
    if let Some(epochs) = epochs.filter(|&e| e > 0) {
        let per_epoch: Vec<f64> = summary
            .resources
            .iter()
            .filter(|u| u.arm == arm)
            .filter_map(|u| u.values.get("train_s"))
            .map(|s| s / epochs as f64)
            .collect();
        if !per_epoch.is_empty() {
            out.push(("s_per_epoch".to_string(), Stat::of(&per_epoch).display()));
        }
    }
    out
}

/// Flattens JSON into dotted keys with scalar (or array) values as text.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}
