//! What every probe shares: its input (a seed, and optionally a trained model with rows of its
//! data and the record of its run) and its output, a [`ProbeReport`] of named numbers, series (for CSV files and SVG
//! plots), tables and notes. The lab writes a report to a probe folder and checks claims against
//! its numbers.

use std::collections::BTreeMap;

use nonlin_nn::Model;
use serde::Serialize;

use crate::TheoryError;
use crate::kernels::Matrix;

/// Rows of the data set a trained model was trained on (the lab loads them from the run).
#[derive(Debug, Clone)]
pub struct ProbeData {
    /// `[n, input]`.
    pub inputs: Matrix,
    /// Class labels, for classification data.
    pub labels: Option<Vec<u32>>,
    /// `[n, outputs]` target values, for regression data.
    pub targets: Option<Matrix>,
}

impl ProbeData {
    /// The class count of labelled data (largest label + 1), or none.
    pub fn classes(&self) -> Option<usize> {
        self.labels
            .as_ref()
            .map(|l| l.iter().copied().max().map_or(0, |m| m as usize + 1))
    }
}

/// What a run folder holds beyond its trained model, for probes that compare a theory with the
/// run's own history (the lab reads it from the folder; see `nonlin_lab::probe`).
#[derive(Clone)]
pub struct RunRecord<'a> {
    /// The model as the run initialised it (rebuilt from the run's seed before its first step).
    pub initial: Option<&'a Model>,
    /// Rows of the run's training split (the test rows are [`ProbeInput::data`]).
    pub train: Option<&'a ProbeData>,
    /// The run's logged metrics of this arm and seed, `"<split>/<metric>"` (`"train/loss"`,
    /// `"test/accuracy"`) to `(step, value)` points sorted by step.
    pub metrics: &'a BTreeMap<String, Vec<(f64, f64)>>,
    /// The run's final metrics (`summary.json` names: `test_accuracy`, `train_loss`, ...).
    pub final_metrics: &'a BTreeMap<String, f64>,
    /// The run's optimiser (`sgd`, `adam`, ...) and learning rate.
    pub optimizer: &'a str,
    pub lr: f64,
    /// Optimiser steps the run took.
    pub steps: u64,
    /// The run's data set name (`digits`, `modular_addition`, ...).
    pub dataset: &'a str,
}

impl RunRecord<'_> {
    /// One logged series, `"<split>/<metric>"`, or an empty one.
    pub fn series(&self, key: &str) -> &[(f64, f64)] {
        self.metrics.get(key).map_or(&[], Vec::as_slice)
    }
}

/// What a probe is run on.
#[derive(Clone, Copy)]
pub struct ProbeInput<'a> {
    /// Seeds every random draw of the probe (initialisations, data, sampled inputs).
    pub seed: u64,
    /// A trained model from a run folder, for probes that read one.
    pub model: Option<&'a Model>,
    /// Rows of that model's data (its test split).
    pub data: Option<&'a ProbeData>,
    /// The rest of the run folder the model came from.
    pub run: Option<&'a RunRecord<'a>>,
}

impl<'a> ProbeInput<'a> {
    /// A probe run on its own (no model), from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            model: None,
            data: None,
            run: None,
        }
    }
}

impl<'a> ProbeInput<'a> {
    /// The trained model, its test rows and its run record, for a probe's run-folder mode; an
    /// error naming `probe` and the missing piece otherwise.
    pub fn run_folder(
        &self,
        probe: &'static str,
    ) -> Result<(&'a Model, &'a ProbeData, &'a RunRecord<'a>), TheoryError> {
        let missing = |what: &str| TheoryError::Model {
            probe,
            reason: format!("it needs {what} of a run folder"),
        };
        let model = self.model.ok_or_else(|| missing("the trained model"))?;
        let data = self.data.ok_or_else(|| missing("the data (test rows)"))?;
        let run = self
            .run
            .ok_or_else(|| missing("the record (metrics, initial model)"))?;
        Ok((model, data, run))
    }
}

/// The labels of `data`, or an error naming `probe`: it needs a classification run.
pub fn labels_of<'d>(data: &'d ProbeData, probe: &'static str) -> Result<&'d [u32], TheoryError> {
    data.labels.as_deref().ok_or_else(|| TheoryError::Model {
        probe,
        reason: "it needs a classification run (class labels); the run's data has none".into(),
    })
}

/// One curve of a series: a legend label and its points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Curves that share axes: one CSV file and, when `plot`, one SVG chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesGroup {
    /// File stem (`learning_curves` -> `series/learning_curves.csv`, `plots/learning_curves.svg`).
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub plot: bool,
    pub lines: Vec<Line>,
}

impl SeriesGroup {
    /// A plotted group with no lines yet.
    pub fn new(name: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            plot: true,
            lines: Vec::new(),
        }
    }

    /// With a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Adds a line (builder style).
    pub fn line(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.lines.push(Line {
            label: label.into(),
            points,
        });
        self
    }
}

/// A table for the report and a CSV file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportTable {
    /// File stem (`tables/<name>.csv`).
    pub name: String,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ReportTable {
    pub fn new<S: Into<String>>(
        name: &str,
        title: &str,
        header: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }
}

/// Everything a probe found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProbeReport {
    /// Named numbers; claims compare these.
    pub numbers: BTreeMap<String, f64>,
    pub series: Vec<SeriesGroup>,
    pub tables: Vec<ReportTable>,
    /// Sentences for the report (set-up, regime, caveats).
    pub notes: Vec<String>,
}

impl ProbeReport {
    /// Records a number.
    pub fn set(&mut self, name: impl Into<String>, value: f64) {
        self.numbers.insert(name.into(), value);
    }
}

/// A probe: a config with the paper's defaults that runs on a [`ProbeInput`].
pub trait Probe {
    /// Checks every field; the error names it.
    fn validate(&self) -> Result<(), TheoryError>;

    /// The names of the numbers it reports for this config (claims may name only these).
    fn metrics(&self) -> Vec<String>;

    /// Whether its numbers depend on the seed (experiments then run it once per seed).
    fn random(&self) -> bool {
        true
    }

    /// Runs it.
    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError>;
}
