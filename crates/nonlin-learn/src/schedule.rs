//! Learning-rate schedules as pure functions of the step, so a resumed run needs no scheduler
//! state: constant, step decay, and linear warm-up followed by cosine decay.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::LearnError;

/// A schedule as written in a spec (`kind = "cosine"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// lr(t) = base.
    #[default]
    Constant,
    /// lr(t) = base * gamma^floor(t / every).
    Step { every: u64, gamma: f64 },
    /// Linear warm-up from 0 over `warmup` steps, then cosine decay to `base * min_ratio` at the
    /// last step: lr(t) = base * (m + (1 - m) * (1 + cos(pi * p)) / 2), p the decay progress.
    Cosine {
        #[serde(default)]
        warmup: u64,
        #[serde(default)]
        min_ratio: f64,
    },
}

impl ScheduleConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Config {
                what: "schedule".into(),
                reason,
            })
        };
        match *self {
            ScheduleConfig::Step { every, gamma } if every == 0 || gamma <= 0.0 => bad(format!(
                "step schedule needs every > 0 and gamma > 0, got every {every}, gamma {gamma}"
            )),
            ScheduleConfig::Cosine { min_ratio, .. } if !(0.0..=1.0).contains(&min_ratio) => bad(
                format!("cosine min_ratio must be in [0, 1], got {min_ratio}"),
            ),
            _ => Ok(()),
        }
    }

    /// The learning rate at step `step` (0-based) of `total` steps.
    pub fn lr(&self, base: f64, step: u64, total: u64) -> f64 {
        match *self {
            ScheduleConfig::Constant => base,
            ScheduleConfig::Step { every, gamma } => {
                base * gamma.powi((step / every.max(1)) as i32)
            }
            ScheduleConfig::Cosine { warmup, min_ratio } => {
                if step < warmup {
                    return base * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).saturating_sub(1).max(1);
                let progress = ((step - warmup) as f64 / span as f64).min(1.0);
                base * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + (PI * progress).cos()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_rates() {
        assert_eq!(ScheduleConfig::Constant.lr(0.1, 99, 100), 0.1);
        // every 10 steps times 0.5: step 25 -> 0.1 * 0.5^2 = 0.025
        let step = ScheduleConfig::Step {
            every: 10,
            gamma: 0.5,
        };
        assert!((step.lr(0.1, 25, 100) - 0.025).abs() < 1e-12);
        // warmup 4: steps 0..3 give 0.25, 0.5, 0.75, 1.0 of base
        let cos = ScheduleConfig::Cosine {
            warmup: 4,
            min_ratio: 0.0,
        };
        assert!((cos.lr(1.0, 0, 14) - 0.25).abs() < 1e-12);
        assert!((cos.lr(1.0, 3, 14) - 1.0).abs() < 1e-12);
        // after warmup: 10 steps 4..13 decay over span 9; step 4 -> 1, step 13 -> 0, middle (8.5) -> 0.5
        assert!((cos.lr(1.0, 4, 14) - 1.0).abs() < 1e-12);
        assert!(cos.lr(1.0, 13, 14).abs() < 1e-12);
        let floor = ScheduleConfig::Cosine {
            warmup: 0,
            min_ratio: 0.1,
        };
        assert!((floor.lr(2.0, 9, 10) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(
            ScheduleConfig::Step {
                every: 0,
                gamma: 0.5
            }
            .validate()
            .is_err()
        );
        assert!(
            ScheduleConfig::Cosine {
                warmup: 0,
                min_ratio: 2.0
            }
            .validate()
            .is_err()
        );
        assert!(toml::from_str::<ScheduleConfig>("kind = \"cosine\"\nwarmups = 3").is_err());
    }
}
