//! Errors of the experiment layer; each names the file, key or run it concerns.

use std::path::PathBuf;

/// What went wrong while loading, running or reporting an experiment.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: key `{key}`: {reason}")]
    Spec {
        file: String,
        key: String,
        reason: String,
    },
    #[error("bad override `{text}`: {reason}")]
    Override { text: String, reason: String },
    #[error(transparent)]
    Data(#[from] nonlin_data::DataError),
    #[error(transparent)]
    Nn(#[from] nonlin_nn::NnError),
    #[error(transparent)]
    Learn(#[from] nonlin_learn::LearnError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics_log::MetricsError),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("cannot resume {dir}: {reason}")]
    Resume { dir: PathBuf, reason: String },
    #[error("{keys}: {reason}")]
    EmptySplit { keys: String, reason: String },
    #[error("{path} is not a nonlin run folder: {reason}")]
    NotARun { path: PathBuf, reason: String },
    #[error("{0}")]
    Other(String),
}

impl LabError {
    /// Maps an I/O error to one that names `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { path, source }
    }
}
