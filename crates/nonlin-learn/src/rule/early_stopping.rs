//! Early stopping of a training phase on a validation metric, as the reference implementations
//! of the local rules do it (Spyra's BeyondBackpropagation: `mf.py`, `cafo.py`, `ff.py`): after
//! every epoch the metric is compared with the best so far; an improvement by more than
//! `min_delta` resets the count of bad epochs, anything else (a NaN included) adds one, and the
//! phase stops when the count reaches `patience`.

use serde::{Deserialize, Serialize};

use crate::LearnError;

/// Whether smaller or larger values of the watched metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// The early-stopping state of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The best value so far (`None` before the first finite one).
    pub best: Option<f64>,
    /// Epochs since the last improvement.
    pub bad_epochs: u64,
}

impl EarlyStopping {
    /// Records one epoch's `value`; returns whether it improved on the best.
    pub fn observe(&mut self, value: f64, better: Better, min_delta: f64) -> bool {
        let improved = value.is_finite()
            && match (self.best, better) {
                (None, _) => true,
                (Some(b), Better::Lower) => value < b - min_delta,
                (Some(b), Better::Higher) => value > b + min_delta,
            };
        if improved {
            self.best = Some(value);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        improved
    }

    /// Whether the phase should stop.
    pub fn should_stop(&self, patience: u64) -> bool {
        self.bad_epochs >= patience
    }
}

/// Checks a patience and a minimum improvement, naming the rule's fields.
pub(crate) fn check(rule: &str, patience: u64, min_delta: f64) -> Result<(), LearnError> {
    if patience == 0 {
        return Err(LearnError::Config {
            what: format!("{rule}.patience"),
            reason: "must be at least 1 (set early_stopping = false to turn it off)".into(),
        });
    }
    if !(min_delta.is_finite() && min_delta >= 0.0) {
        return Err(LearnError::Config {
            what: format!("{rule}.min_delta"),
            reason: format!("must be a finite number >= 0, got {min_delta}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_counts_epochs_without_improvement() {
        let mut es = EarlyStopping::default();
        // losses 1.0, 0.9 (improves by 0.1 > 0.05), 0.86 (only 0.04: bad), NaN (bad), 0.84 (bad:
        // 0.06 below 0.9 is needed... 0.84 < 0.9 - 0.05 = 0.85 is an improvement)
        assert!(es.observe(1.0, Better::Lower, 0.05));
        assert!(es.observe(0.9, Better::Lower, 0.05));
        assert!(!es.observe(0.86, Better::Lower, 0.05));
        assert!(!es.observe(f64::NAN, Better::Lower, 0.05));
        assert_eq!(es.bad_epochs, 2);
        assert!(es.should_stop(2) && !es.should_stop(3));
        assert!(es.observe(0.84, Better::Lower, 0.05));
        assert_eq!((es.best, es.bad_epochs), (Some(0.84), 0));
        let mut acc = EarlyStopping::default();
        assert!(acc.observe(0.5, Better::Higher, 0.0));
        assert!(!acc.observe(0.5, Better::Higher, 0.0));
        assert!(acc.observe(0.6, Better::Higher, 0.0));
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(check("r", 0, 0.0).is_err());
        for d in [-1e-3, f64::NAN, f64::INFINITY] {
            assert!(check("r", 3, d).is_err(), "{d}");
        }
        assert!(check("r", 1, 0.0).is_ok());
    }
}
