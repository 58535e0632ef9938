//! Optimizers: the one place that calls Burn's optimizer configs, so an engine upgrade touches
//! this file only. [`OptimizerConfig`] is the spec's `[optimizer]` table; [`Optimizer`] is what a
//! rule steps with: Burn's optimizer per parameter group (each with its own learning-rate scale
//! and weight decay, chosen by patterns on parameter paths) and optional clipping of the global
//! gradient norm.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Bytes, Tensor};
use nonlin_nn::weights::param_paths;
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

    /// The same optimizer with another weight decay.
    pub fn with_weight_decay(&self, decay: f64) -> Self {
        let mut out = self.clone();
        match &mut out {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::AdamW { weight_decay, .. } => *weight_decay = decay,
        }
        out
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

/// A parameter group: the parameters whose paths match a pattern get their own learning-rate
/// scale and weight decay (`[[train.param_groups]]` in a spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroupConfig {
    /// Glob patterns on parameter paths (`*` matches any run of characters, `?` one), e.g.
    /// `"*.activations.*"`; a parameter joins the first group with a matching pattern.
    pub params: Vec<String>,
    /// Multiplier of the scheduled learning rate for these parameters.
    #[serde(default = "one")]
    pub lr_scale: f64,
    /// Weight decay for these parameters (default: the optimizer's own).
    #[serde(default)]
    pub weight_decay: Option<f64>,
}

fn one() -> f64 {
    1.0
}

impl ParamGroupConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Config {
                what: "param group".into(),
                reason,
            })
        };
        if self.params.is_empty() || self.params.iter().any(|p| p.trim().is_empty()) {
            return bad("`params` needs at least one non-empty pattern".into());
        }
        if !(self.lr_scale.is_finite() && self.lr_scale >= 0.0) {
            return bad(format!("lr_scale must be >= 0, got {}", self.lr_scale));
        }
        if let Some(w) = self.weight_decay
            && !(w.is_finite() && w >= 0.0)
        {
            return bad(format!("weight_decay must be >= 0, got {w}"));
        }
        Ok(())
    }

    fn matches(&self, path: &str) -> bool {
        self.params.iter().any(|p| glob_match(p, path))
    }
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Everything about optimisation a spec sets: the optimizer, parameter groups and clipping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerSetup {
    pub optimizer: OptimizerConfig,
    pub groups: Vec<ParamGroupConfig>,
    /// Clip the global gradient norm to this value (PyTorch's `clip_grad_norm_`).
    pub clip_grad_norm: Option<f64>,
}

impl OptimizerSetup {
    /// Plain optimisation with `optimizer`: no groups, no clipping.
    pub fn plain(optimizer: &OptimizerConfig) -> Self {
        Self {
            optimizer: optimizer.clone(),
            ..Self::default()
        }
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<(), LearnError> {
        self.optimizer.validate()?;
        for g in &self.groups {
            g.validate()?;
        }
        if let Some(c) = self.clip_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(LearnError::Config {
                what: "clip_grad_norm".into(),
                reason: format!("must be a positive number, got {c}"),
            });
        }
        Ok(())
    }

    /// Builds the optimizer.
    pub fn build(&self) -> Result<Optimizer, LearnError> {
        self.validate()?;
        let mut optims = vec![self.optimizer.build()?];
        for g in &self.groups {
            let config = match g.weight_decay {
                Some(w) => self.optimizer.with_weight_decay(w),
                None => self.optimizer.clone(),
            };
            optims.push(config.build()?);
        }
        Ok(Optimizer {
            setup: self.clone(),
            optims,
            assignment: HashMap::new(),
        })
    }
}

/// Burn's optimizer per parameter group, with global-norm clipping. Group 0 holds the
/// parameters no pattern matches.
#[derive(Clone)]
pub struct Optimizer {
    setup: OptimizerSetup,
    optims: Vec<ModuleOptimizer>,
    /// Parameter id -> group index, filled as parameters are first seen.
    assignment: HashMap<ParamId, usize>,
}

impl Optimizer {
    /// Checks that every group's patterns match at least one parameter of `module`, naming the
    /// parameters when one does not.
    pub fn check_groups<M: Module>(&self, module: &M) -> Result<(), LearnError> {
        let paths = param_paths(module);
        for g in &self.setup.groups {
            if !paths.iter().any(|p| g.matches(&p.path)) {
                return Err(LearnError::Config {
                    what: "param group".into(),
                    reason: format!(
                        "patterns {:?} match no parameter; the parameters are {}",
                        g.params,
                        paths
                            .iter()
                            .map(|p| p.path.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// One update of `module` with `grads` at learning rate `lr` (scaled per group). Returns the
    /// module and the global gradient norm before clipping when clipping is on.
    pub fn step<M: Module>(
        &mut self,
        lr: f64,
        module: M,
        mut grads: GradientsParams,
    ) -> (M, Option<f64>) {
        let norm = self
            .setup
            .clip_grad_norm
            .map(|max| clip_global_norm(&module, &mut grads, max));
        if self.setup.groups.is_empty() {
            return (self.optims[0].step(lr, module, grads), norm);
        }
        for info in param_paths(&module) {
            let groups = &self.setup.groups;
            self.assignment.entry(info.id).or_insert_with(|| {
                groups
                    .iter()
                    .position(|g| g.matches(&info.path))
                    .map_or(0, |k| k + 1)
            });
        }
        let mut split: Vec<GradientsParams> = (0..self.optims.len())
            .map(|_| GradientsParams::new())
            .collect();
        let mut mover = SplitGrads {
            grads: &mut grads,
            split: &mut split,
            assignment: &self.assignment,
        };
        module.visit(&mut mover);
        let mut module = module;
        for (k, part) in split.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            let scale = if k == 0 {
                1.0
            } else {
                self.setup.groups[k - 1].lr_scale
            };
            module = self.optims[k].step(lr * scale, module, part);
        }
        (module, norm)
    }

    /// The optimizer state (moments of every group) as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, LearnError> {
        let mut out = Vec::new();
        out.extend((self.optims.len() as u64).to_le_bytes());
        for optim in &self.optims {
            let bytes = optim
                .into_bytes()
                .map_err(|e| state_error(format!("{e:?}")))?;
            out.extend((bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    /// Restores state written by [`Optimizer::to_bytes`].
    pub fn load_bytes(&mut self, bytes: &[u8]) -> Result<(), LearnError> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], LearnError> {
            if rest.len() < n {
                return Err(state_error("optimizer state is truncated".into()));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")) as usize;
        if count != self.optims.len() {
            return Err(state_error(format!(
                "optimizer state has {count} groups, the config {}",
                self.optims.len()
            )));
        }
        let fresh = self.setup.build()?;
        for (k, optim) in fresh.optims.into_iter().enumerate() {
            let len = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")) as usize;
            let part = take(len)?.to_vec();
            self.optims[k] = optim
                .from_bytes(Bytes::from_bytes_vec(part))
                .map_err(|e| state_error(format!("{e:?}")))?;
        }
        self.assignment.clear();
        Ok(())
    }
}

fn state_error(reason: String) -> LearnError {
    LearnError::State {
        rule: "optimizer".into(),
        reason,
    }
}

/// Moves each parameter's gradient into its group's set.
struct SplitGrads<'a> {
    grads: &'a mut GradientsParams,
    split: &'a mut [GradientsParams],
    assignment: &'a HashMap<ParamId, usize>,
}

impl ModuleVisitor for SplitGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let k = self.assignment.get(&param.id).copied().unwrap_or(0);
            self.split[k].register(param.id, g);
        }
    }
}

/// Scales the gradients so their global L2 norm is at most `max` (factor
/// `max / (norm + 1e-6)` when above, as PyTorch's `clip_grad_norm_`); returns the norm before.
fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max: f64) -> f64 {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += g.powi_scalar(2).sum().into_scalar::<f64>();
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g * self.factor);
            }
        }
    }
    let mut sum = SumSquares { grads, total: 0.0 };
    module.visit(&mut sum);
    let norm = sum.total.sqrt();
    let factor = max / (norm + 1e-6);
    if factor < 1.0 {
        module.visit(&mut Scale { grads, factor });
    }
    norm
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

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*", "Mlp.layers.0.weight"));
        assert!(glob_match(
            "*.activations.*",
            "Mlp.activations.1.Prelu.slope"
        ));
        assert!(!glob_match("*.activations.*", "Mlp.layers.0.weight"));
        assert!(glob_match("Mlp.layers.?.bias", "Mlp.layers.3.bias"));
        assert!(!glob_match("Mlp.layers.?.bias", "Mlp.layers.12.bias"));
        assert!(glob_match("*bias", "a.bias"));
        assert!(!glob_match("", "a"));
        assert!(glob_match("", ""));
    }

    #[test]
    fn group_and_clipping_ranges_are_checked() {
        let group = |params: Vec<&str>, lr_scale: f64, wd: Option<f64>| ParamGroupConfig {
            params: params.into_iter().map(String::from).collect(),
            lr_scale,
            weight_decay: wd,
        };
        assert!(group(vec!["*"], 0.0, None).validate().is_ok());
        assert!(group(vec![], 1.0, None).validate().is_err());
        assert!(group(vec![" "], 1.0, None).validate().is_err());
        assert!(group(vec!["*"], -1.0, None).validate().is_err());
        assert!(group(vec!["*"], f64::NAN, None).validate().is_err());
        assert!(group(vec!["*"], 1.0, Some(-0.1)).validate().is_err());
        let mut setup = OptimizerSetup::default();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            setup.clip_grad_norm = Some(bad);
            assert!(setup.validate().is_err(), "{bad}");
        }
        setup.clip_grad_norm = Some(1e-12);
        assert!(setup.validate().is_ok());
    }
}
