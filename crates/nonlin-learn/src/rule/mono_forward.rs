//! Mono-Forward (Gong et al., 2025; as implemented in Spyra's BeyondBackpropagation,
//! `src/algorithms/mf.py`): every layer `i` of an MLP, the input `a_0 = x` included, owns a
//! projection matrix `M_i` (`[classes, width_i]`) and is trained on its own cross-entropy of the
//! "goodness" logits `g_i = a_i M_i^T`, with the gradient stopped at the layer's input. The
//! prediction is `argmax a_L M_L^T` of the last hidden layer.
//!
//! `schedule = "sequential"` (the reference): `M_0` alone for `epochs_per_layer` epochs, then
//! (`W_1`, `M_1`), then (`W_2`, `M_2`), ..., each phase with a fresh optimizer and the earlier
//! layers frozen; after the last phase the last layer keeps training. `"simultaneous"`: every
//! layer's local loss at every step (the gradients still stop between layers). The reference stops
//! each phase early on validation accuracy; here phases have a fixed length (UNCONFIRMED choice).
//! The model's output layer is not used by Mono-Forward and stays at its initial values.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Model, ModelInput, Network};
use serde::{Deserialize, Serialize};

use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::task::TaskKind;
use crate::{LearnError, Optimizer, OptimizerSetup, Target, TensorBatch};

/// How Mono-Forward schedules its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonoForwardSchedule {
    /// One layer after another, `epochs_per_layer` each (the reference procedure).
    #[default]
    Sequential,
    /// All layers at every step.
    Simultaneous,
}

/// Configuration of [`MonoForward`] (`kind = "mono_forward"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonoForwardConfig {
    #[serde(default)]
    pub schedule: MonoForwardSchedule,
    /// Epochs of each phase of the sequential schedule (reference MNIST config: 14).
    #[serde(default = "epochs_per_layer")]
    pub epochs_per_layer: u64,
}

fn epochs_per_layer() -> u64 {
    14
}

impl Default for MonoForwardConfig {
    fn default() -> Self {
        Self {
            schedule: MonoForwardSchedule::default(),
            epochs_per_layer: epochs_per_layer(),
        }
    }
}

impl RuleSpec for MonoForwardConfig {
    fn validate(&self) -> Result<(), LearnError> {
        if self.epochs_per_layer == 0 {
            return Err(LearnError::Config {
                what: "mono_forward.epochs_per_layer".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        let unsupported = |reason: String| LearnError::Unsupported {
            rule: "mono_forward".into(),
            reason,
        };
        if context.task != TaskKind::Classification {
            return Err(unsupported(format!(
                "it trains classifiers, and this task is {:?}",
                context.task
            )));
        }
        let blocks = context
            .model
            .blocks()
            .ok_or_else(|| unsupported("the model does not expose its blocks".into()))?;
        let classes = context.io.output_width();
        let input = context.io.input.real_len().ok_or_else(|| {
            unsupported("it needs real-valued inputs".into())
        })?;
        // Widths of a_0 (the input) and of every hidden block's output; the last block is the
        // model's output layer, which Mono-Forward does not use.
        let hidden = blocks.block_count().saturating_sub(1);
        let widths: Vec<usize> = std::iter::once(input)
            .chain((0..hidden).map(|i| blocks.block_width(i)))
            .collect();
        // M_i as a bias-free linear map width_i -> classes; PyTorch's kaiming_uniform_(a=sqrt(5))
        // on [classes, width_i] is uniform in +-1/sqrt(width_i).
        let projections = Projections {
            layers: widths
                .iter()
                .map(|&w| {
                    LinearConfig::new(w, classes)
                        .with_bias(false)
                        .with_initializer(Initializer::KaimingUniform {
                            gain: 1.0 / 3f64.sqrt(),
                            fan_out_only: false,
                        })
                        .init(context.device)
                })
                .collect(),
        };
        Ok(Box::new(MonoForward {
            config: self.clone(),
            setup: context.optimizer.clone(),
            model_optimizer: context.optimizer.build()?,
            projection_optimizer: context.optimizer.build()?,
            projections: Some(projections),
            steps_per_epoch: context.steps_per_epoch.max(1),
            steps: 0,
        }))
    }
}

/// The projection matrices `M_0 .. M_L`, a module the rule owns.
#[derive(Module, Debug)]
pub struct Projections {
    layers: Vec<Linear>,
}

/// The Mono-Forward rule.
pub struct MonoForward {
    config: MonoForwardConfig,
    setup: OptimizerSetup,
    model_optimizer: Optimizer,
    projection_optimizer: Optimizer,
    /// Taken out during a step (Burn's updates consume modules) and put back after it.
    projections: Option<Projections>,
    steps_per_epoch: u64,
    steps: u64,
}

impl MonoForward {
    fn projections(&self) -> &Projections {
        self.projections
            .as_ref()
            .expect("the projections are put back after every step")
    }

    /// The layer trained at `step` under the sequential schedule (0 = M_0 alone).
    fn phase_at(&self, step: u64, layers: usize) -> usize {
        let phase = step / (self.config.epochs_per_layer * self.steps_per_epoch);
        (phase as usize).min(layers - 1)
    }
}

impl LearningRule<Model> for MonoForward {
    fn name(&self) -> &str {
        "mono_forward"
    }

    fn step(&mut self, model: Model, batch: &TensorBatch, lr: f64) -> Result<(Model, Metrics), LearnError> {
        let labels = batch.labels("mono_forward")?;
        let x = batch.features("mono_forward")?;
        let projections = self.projections.take().expect("projections present");
        let layers = projections.layers.len();
        let active: Vec<usize> = match self.config.schedule {
            MonoForwardSchedule::Simultaneous => (0..layers).collect(),
            MonoForwardSchedule::Sequential => {
                let phase = self.phase_at(self.steps, layers);
                if self.steps > 0 && phase != self.phase_at(self.steps - 1, layers) {
                    // A new phase starts with fresh optimizer state, as the reference does.
                    self.model_optimizer = self.setup.build()?;
                    self.projection_optimizer = self.setup.build()?;
                }
                vec![phase]
            }
        };
        let blocks = model.blocks().expect("checked when the rule was built");
        let target = Target::Classes(labels);
        let mut metrics = Metrics::new();
        let mut total: Option<Tensor<1>> = None;
        let mut a = x;
        let last = *active.last().expect("at least one active layer");
        for i in 0..=last {
            if i > 0 {
                // The gradient stops at the layer's input.
                a = blocks.block_forward(i - 1, a.detach());
            }
            if active.contains(&i) {
                let logits = projections.layers[i].forward(a.clone());
                let loss = target.loss(logits)?;
                metrics.insert(format!("loss_layer{i}"), loss.clone().into_scalar::<f64>());
                total = Some(match total {
                    Some(t) => t + loss,
                    None => loss,
                });
            }
        }
        let total = total.expect("at least one local loss");
        let mut grads = total.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let projection_grads = GradientsParams::from_module(&mut grads, &projections);
        let (model, _) = self.model_optimizer.step(lr, model, model_grads);
        let (projections, _) = self.projection_optimizer.step(lr, projections, projection_grads);
        metrics.insert("loss".into(), metrics[&format!("loss_layer{last}")]);
        metrics.insert("phase".into(), last as f64);
        self.projections = Some(projections);
        self.steps += 1;
        Ok((model, metrics))
    }

    /// The last hidden layer's goodness logits `a_L M_L^T`.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let blocks = model.blocks().expect("checked when the rule was built");
        let projections = self.projections().valid();
        let mut a = input.real("mono_forward")?;
        let layers = projections.layers.len();
        for i in 0..layers - 1 {
            a = blocks.block_forward(i, a);
        }
        Ok(projections.layers[layers - 1].forward(a))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let mut bytes = self.steps.to_le_bytes().to_vec();
        let model = self.model_optimizer.to_bytes()?;
        bytes.extend((model.len() as u64).to_le_bytes());
        bytes.extend(model);
        bytes.extend(self.projection_optimizer.to_bytes()?);
        Ok(RuleState {
            bytes,
            modules: vec![ModuleState::capture("projections", self.projections())?],
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let bad = || LearnError::State {
            rule: "mono_forward".into(),
            reason: "truncated state".into(),
        };
        let bytes = &state.bytes;
        let steps = u64::from_le_bytes(bytes.get(0..8).ok_or_else(bad)?.try_into().expect("8"));
        let len = u64::from_le_bytes(bytes.get(8..16).ok_or_else(bad)?.try_into().expect("8")) as usize;
        let model = bytes.get(16..16 + len).ok_or_else(bad)?;
        let projection = bytes.get(16 + len..).ok_or_else(bad)?;
        self.model_optimizer.load_bytes(model)?;
        self.projection_optimizer.load_bytes(projection)?;
        let saved = state.module("mono_forward", "projections")?;
        let projections = self.projections.take().expect("projections present");
        self.projections = Some(saved.restore(projections)?);
        self.steps = steps;
        Ok(())
    }
}
