//! What every probe shares: its input (a seed, and optionally a trained model with rows of its
//! data) and its output, a [`ProbeReport`] of named numbers, series (for CSV files and SVG
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
}

/// What a probe is run on.
#[derive(Clone, Copy)]
pub struct ProbeInput<'a> {
    /// Seeds every random draw of the probe (initialisations, data, sampled inputs).
    pub seed: u64,
    /// A trained model from a run folder, for probes that read one.
    pub model: Option<&'a Model>,
    /// Rows of that model's data.
    pub data: Option<&'a ProbeData>,
}

impl<'a> ProbeInput<'a> {
    /// A probe run on its own (no model), from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            model: None,
            data: None,
        }
    }
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
