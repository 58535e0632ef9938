//! Errors of the theory probes: bad configs (naming the field), models a probe cannot read, and
//! numerical failures (a singular kernel matrix, a root finder that found no bracket).

/// What went wrong while configuring or running a probe.
#[derive(Debug, thiserror::Error)]
pub enum TheoryError {
    /// A config field out of range: the probe, the field, and what was expected.
    #[error("probe `{probe}`: `{field}` {reason}")]
    BadConfig {
        probe: &'static str,
        field: &'static str,
        reason: String,
    },
    /// A model this probe cannot read (a kind it does not know, a missing piece).
    #[error("probe `{probe}` cannot read this model: {reason}")]
    Model { probe: &'static str, reason: String },
    /// A numerical step that failed (singular matrix, no convergence).
    #[error("{what}: {reason}")]
    Numerical { what: String, reason: String },
    #[error(transparent)]
    Nn(#[from] nonlin_nn::NnError),
}

impl TheoryError {
    /// A bad-config error for `field` of `probe`.
    pub fn config(probe: &'static str, field: &'static str, reason: impl Into<String>) -> Self {
        TheoryError::BadConfig {
            probe,
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn numerical(what: impl Into<String>, reason: impl Into<String>) -> Self {
        TheoryError::Numerical {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is finite and positive.
pub(crate) fn positive(
    probe: &'static str,
    field: &'static str,
    value: f64,
) -> Result<(), TheoryError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(TheoryError::config(
            probe,
            field,
            format!("must be a positive number, got {value}"),
        ))
    }
}

/// Checks that an integer field lies in `lo..=hi`.
pub(crate) fn in_range(
    probe: &'static str,
    field: &'static str,
    value: usize,
    lo: usize,
    hi: usize,
) -> Result<(), TheoryError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(TheoryError::config(
            probe,
            field,
            format!("must be in {lo}..={hi}, got {value}"),
        ))
    }
}

/// Checks that a list is non-empty.
pub(crate) fn non_empty<T>(
    probe: &'static str,
    field: &'static str,
    values: &[T],
) -> Result<(), TheoryError> {
    if values.is_empty() {
        Err(TheoryError::config(probe, field, "must not be empty"))
    } else {
        Ok(())
    }
}
