//! Errors of the learning rules.

/// What went wrong in a learning rule.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A rule's saved state that cannot be read back.
    #[error("cannot restore the state of rule `{rule}`: {reason}")]
    State { rule: String, reason: String },
    /// A bad hyperparameter.
    #[error("bad {what}: {reason}")]
    Config { what: String, reason: String },
    /// A batch that does not fit the model.
    #[error("bad batch: {0}")]
    Batch(String),
    /// A block or model that cannot be built or run.
    #[error(transparent)]
    Nn(#[from] nonlin_nn::NnError),
    /// Data that cannot be turned into a task.
    #[error(transparent)]
    Data(#[from] nonlin_data::DataError),
    /// A rule that cannot train this model or task.
    #[error("rule `{rule}` cannot be used here: {reason}")]
    Unsupported { rule: String, reason: String },
}
