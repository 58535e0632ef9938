//! Optimizer construction: the one place that calls Burn's optimizer configs, so an engine
//! upgrade touches this file only.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::LearnError;

/// An optimizer and its hyperparameters, as written in an experiment spec (`kind = "adam"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.
    Sgd {
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma and Ba, arXiv:1412.6980) with L2 weight decay folded into the gradient.
    Adam {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "epsilon")]
        epsilon: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdamW (Loshchilov and Hutter, arXiv:1711.05101): decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "epsilon")]
        epsilon: f64,
        #[serde(default = "adamw_decay")]
        weight_decay: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn epsilon() -> f64 {
    1e-8
}
fn adamw_decay() -> f64 {
    0.01
}

impl Default for OptimizerConfig {
    /// Adam with PyTorch's defaults.
    fn default() -> Self {
        OptimizerConfig::Adam {
            beta1: beta1(),
            beta2: beta2(),
            epsilon: epsilon(),
            weight_decay: 0.0,
        }
    }
}

impl OptimizerConfig {
    /// Checks the hyperparameters' ranges.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Config {
                what: "optimizer".into(),
                reason,
            })
        };
        match *self {
            OptimizerConfig::Sgd {
                momentum,
                weight_decay,
                ..
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad(format!("sgd momentum must be in [0, 1), got {momentum}"));
                }
                if weight_decay < 0.0 {
                    return bad(format!("weight_decay must be >= 0, got {weight_decay}"));
                }
            }
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            }
            | OptimizerConfig::AdamW {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => {
                for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return bad(format!("{name} must be in [0, 1), got {b}"));
                    }
                }
                if epsilon <= 0.0 {
                    return bad(format!("epsilon must be > 0, got {epsilon}"));
                }
                if weight_decay < 0.0 {
                    return bad(format!("weight_decay must be >= 0, got {weight_decay}"));
                }
            }
        }
        Ok(())
    }

    /// Builds Burn's optimizer.
    pub fn build(&self) -> Result<ModuleOptimizer, LearnError> {
        self.validate()?;
        let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
        Ok(match *self {
            OptimizerConfig::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let momentum = (momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_nesterov(nesterov)
                        .with_dampening(0.0)
                });
                SgdConfig::new()
                    .with_momentum(momentum)
                    .with_weight_decay(decay(weight_decay))
                    .init()
            }
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(decay(weight_decay))
                .init(),
            OptimizerConfig::AdamW {
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => AdamWConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .init(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_rejects_unknown_keys() {
        let adam: OptimizerConfig = toml::from_str("kind = \"adam\"").unwrap();
        assert_eq!(adam, OptimizerConfig::default());
        let sgd: OptimizerConfig = toml::from_str("kind = \"sgd\"\nmomentum = 0.9").unwrap();
        assert_eq!(
            sgd,
            OptimizerConfig::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0
            }
        );
        let adamw: OptimizerConfig = toml::from_str("kind = \"adamw\"").unwrap();
        assert!(
            matches!(adamw, OptimizerConfig::AdamW { weight_decay, .. } if weight_decay == 0.01)
        );
        let err = toml::from_str::<OptimizerConfig>("kind = \"adam\"\nbeta = 0.9").unwrap_err();
        assert!(err.to_string().contains("beta"), "{err}");
        assert!(toml::from_str::<OptimizerConfig>("kind = \"lbfgs\"").is_err());
    }

    #[test]
    fn bad_ranges_are_errors() {
        let bad = OptimizerConfig::Sgd {
            momentum: 1.5,
            nesterov: false,
            weight_decay: 0.0,
        };
        assert!(bad.build().err().unwrap().to_string().contains("momentum"));
        let bad = OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 0.0,
            weight_decay: 0.0,
        };
        assert!(bad.build().is_err());
    }
}
