//! Experiments of nonlin: specs (TOML), the runner, checkpoints, metric sinks (JSONL, CSV,
//! TensorBoard), plots (SVG), reports, claims, comparisons and reproductions.
//!
//! The runner is the only place that knows every crate below it; it builds the data, model and
//! rule a spec names and records what happened in a run folder.

pub mod activation_plots;
pub mod atomic;
pub mod checkpoint;
pub mod compare;
pub mod data;
pub mod error;
pub mod metric;
pub mod metrics_log;
pub mod plot;
pub mod probe;
pub mod provenance;
pub mod report;
pub mod reproduce;
pub mod resources;
pub mod runner;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod table;
pub mod tensorboard;
pub mod trained;

pub use error::LabError;
pub use runner::{Progress, RunOptions, Silent, run_experiment};
pub use spec::{Experiment, Override};
pub use summary::{ClaimResult, Summary};

/// The default demo: an MLP on the built-in 8x8 digits comparing relu, tanh and gelu.
pub const DEFAULT_DEMO: &str = include_str!("../../../experiments/default.toml");
