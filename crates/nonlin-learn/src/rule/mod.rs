//! The learning-rule contract and the registry of rules chosen by name.
//!
//! A rule does one update on one batch and returns named scalar metrics; it owns whatever it
//! needs besides the model's parameters (optimizer moments, local heads, label embeddings) and
//! decides how its model predicts. One line in the `rules!` list declares a rule's file and
//! registers it: it generates [`RuleConfig`] (`kind = "<file name>"` plus the rule's fields) and
//! the by-name builder.

use burn::tensor::{Device, Tensor};
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Model, ModelInput, ModelIo, Network};
use serde::{Deserialize, Serialize};

use crate::task::{Predict, TaskKind};
use crate::{LearnError, OptimizerSetup, TensorBatch};

/// Named scalar metrics of one update (`loss`, `accuracy`, a local rule's per-block losses, ...).
pub type Metrics = std::collections::BTreeMap<String, f64>;

/// A rule's state for a checkpoint: opaque bytes (optimizer moments, counters) and the rule's
/// own modules, saved like the model (weights and parameter ids).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleState {
    pub bytes: Vec<u8>,
    pub modules: Vec<ModuleState>,
}

impl RuleState {
    /// The module saved under `name`, or an error naming the rule.
    pub fn module(&self, rule: &str, name: &str) -> Result<&ModuleState, LearnError> {
        self.modules
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| LearnError::State {
                rule: rule.to_string(),
                reason: format!("the checkpoint has no module `{name}`"),
            })
    }
}

/// A way of training a model.
pub trait LearningRule<M: Network> {
    /// The rule's name in specs and logs (`backprop`, `mono_forward`, ...).
    fn name(&self) -> &str;

    /// One update of `model` on `batch` with learning rate `lr`.
    fn step(&mut self, model: M, batch: &TensorBatch, lr: f64) -> Result<(M, Metrics), LearnError>;

    /// The predictions for a batch, from a model in inference mode (`model.valid()`); by default
    /// the model's own output. Rules that predict otherwise (by goodness over labels, through a
    /// denoising chain, from a local head) override it.
    ///
    /// # Shapes
    /// - returns: `[rows, output_width]` as [`Network::forward_input`]
    fn predict(&self, model: &M, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        Ok(model.forward_input(input)?)
    }

    /// Called by the runner when an epoch of the training data is complete, before the epoch's
    /// evaluation and checkpoint. Rules whose phases are counted in epochs, or that stop a phase
    /// early on the validation split, decide here; a rule may hand back another model (the best one
    /// so far). By default the model comes back unchanged.
    fn end_epoch(&mut self, model: M, _end: EpochEnd<'_, '_>) -> Result<M, LearnError> {
        Ok(model)
    }

    /// Whether the rule has nothing left to train (every phase done or stopped early); the
    /// runner then ends the unit before its budget, with a final evaluation.
    fn finished(&self) -> bool {
        false
    }

    /// The number of parameters this rule trains, given the model's trainable count: by default
    /// the model's. Rules with modules of their own (projections, predictors, read-outs) add
    /// them; a rule that trains a network of its own instead of the model counts only that.
    fn trained_params(&self, model_params: usize) -> usize {
        model_params
    }

    /// The rule's own state, for checkpoints.
    fn save_state(&self) -> Result<RuleState, LearnError>;

    /// Restores state written by [`LearningRule::save_state`] (the rule was built with the same
    /// config).
    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError>;
}

/// Scores a prediction function on the validation split with the task's metrics (`loss`,
/// `accuracy`, ...), as an evaluation does.
pub type Validate<'v> = dyn FnMut(&mut Predict<'_>) -> Result<Metrics, LearnError> + 'v;

/// What the runner tells a rule at the end of an epoch.
pub struct EpochEnd<'a, 'v> {
    /// Epochs completed, this one included.
    pub epochs_done: usize,
    /// Whether the training budget ends with this epoch.
    pub last: bool,
    /// The validation split, when the task has one.
    pub validate: Option<&'a mut Validate<'v>>,
}

/// What a rule is built from besides its own config.
#[derive(Clone, Copy)]
pub struct RuleContext<'a> {
    /// The freshly built model the rule will train.
    pub model: &'a Model,
    pub io: &'a ModelIo,
    pub task: TaskKind,
    pub optimizer: &'a OptimizerSetup,
    pub device: &'a Device,
    /// Optimizer steps per epoch, for rules whose phases are counted in epochs.
    pub steps_per_epoch: u64,
    /// The unit's training budget in optimizer steps (for rules with their own schedules).
    pub total_steps: u64,
    /// The task with its training data, for rules that initialise from the data (NoProp's
    /// prototype embeddings); `None` when a trained model is loaded back without its data.
    pub data: Option<&'a dyn crate::task::Task>,
}

impl RuleContext<'_> {
    /// Refuses any task but classification for `rule`, a rule that trains classifiers.
    pub(crate) fn require_classification(&self, rule: &str) -> Result<(), LearnError> {
        if self.task == TaskKind::Classification {
            return Ok(());
        }
        Err(LearnError::Unsupported {
            rule: rule.into(),
            reason: format!("it trains classifiers, and this task is {:?}", self.task),
        })
    }
}

/// A rule's config: checked at load time, built once the model exists.
pub trait RuleSpec {
    /// Checks the ranges of the config.
    fn validate(&self) -> Result<(), LearnError>;

    /// Builds the rule for the model and task of `context`.
    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError>;
}

/// Declares the registry: one line per rule, `file_name => Config`. The line declares the module
/// `file_name.rs`, re-exports its config, and registers it under `file_name`.
macro_rules! rules {
    ($($file:ident => $rule:ident($config:ident)),* $(,)?) => {
        $(mod $file; pub use $file::{$rule, $config};)*

        /// The config of any registered rule, as written in an experiment's `[rule]` table.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum RuleConfig {
            $(#[doc = concat!("`kind = \"", stringify!($file), "\"`")] $rule($config),)*
        }

        impl RuleConfig {
            /// Every registered name, in registry order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($file)),*];

            /// The rule's registry name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(RuleConfig::$rule(_) => stringify!($file),)*
                }
            }

            /// Checks the config's ranges.
            pub fn validate(&self) -> Result<(), LearnError> {
                match self {
                    $(RuleConfig::$rule(c) => c.validate(),)*
                }
            }

            /// Builds the rule.
            pub fn build(
                &self,
                context: &RuleContext<'_>,
            ) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
                match self {
                    $(RuleConfig::$rule(c) => c.build(context),)*
                }
            }
        }
    };
}

mod early_stopping;
#[cfg(test)]
mod fixtures;
mod forwardgnn;
pub mod label_diffusion;
mod physical_layer;
mod reference_init;
mod saved_state;

rules! {
    backprop => Backprop(BackpropConfig),
    mono_forward => MonoForward(MonoForwardConfig),
    forward_forward => ForwardForward(ForwardForwardConfig),
    cafo => Cafo(CafoConfig),
    noprop_dt => NopropDt(NopropDtConfig),
    noprop_ct => NopropCt(NopropCtConfig),
    noprop_fm => NopropFm(NopropFmConfig),
    phyff => Phyff(PhyffConfig),
    g2g_dst => G2gDst(G2gDstConfig),
    forwardgnn_sf => ForwardgnnSf(ForwardgnnSfConfig),
    forwardgnn_ff => ForwardgnnFf(ForwardgnnFfConfig),
    forwardgnn_top2loss => ForwardgnnTop2loss(ForwardgnnTop2lossConfig),
}

impl Default for RuleConfig {
    /// Backpropagation.
    fn default() -> Self {
        RuleConfig::Backprop(BackpropConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_serde_kinds() {
        for name in RuleConfig::NAMES {
            let config: RuleConfig = toml::from_str(&format!("kind = \"{name}\""))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.name(), *name);
            config.validate().unwrap();
        }
        let err = toml::from_str::<RuleConfig>("kind = \"hebbian_magic\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hebbian_magic") && err.contains("backprop"),
            "{err}"
        );
    }
}
