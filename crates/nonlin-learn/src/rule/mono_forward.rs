//! Mono-Forward (Gong et al., 2025; arXiv 2501.09238 per the reference repository's README):
//! every layer `i` of an MLP, the input `a_0 = x` included, owns a projection matrix `M_i`
//! (`[classes, width_i]`) and is trained on its own cross-entropy of the "goodness" logits
//!
//! `g_i = a_i M_i^T`,  `L_i = CE(g_i, y)`,
//!
//! with the gradient stopped at the layer's input. The prediction is `argmax a_L M_L^T` of the
//! last hidden layer (or of the layer that did best on the validation split).
//!
//! Faithful to Spyra's BeyondBackpropagation (`src/algorithms/mf.py`, `src/architectures/mf_mlp.py`):
//! - `schedule = "sequential"`: `M_0` alone, then (`W_1`, `M_1`), then (`W_2`, `M_2`), ..., each
//!   phase with a fresh optimizer, the earlier layers frozen, for at most `epochs_per_layer`
//!   epochs; a phase stops early when the local validation loss `CE(a_i M_i^T)` has not improved
//!   by more than `min_delta` for `patience` epochs (no restoring of the best weights). Training
//!   ends after the last phase ([`LearningRule::finished`]). Without a validation split the
//!   phases run their full length, as the reference does.
//! - `init = "reference"`: before the first update the model's hidden weights are redrawn with
//!   `kaiming_uniform_(nonlinearity="relu")` (U(+-sqrt(6/fan_in)); `xavier_uniform_` after tanh),
//!   biases set to 0, and the unused output layer drawn from N(0, 0.01^2) with bias 0, as
//!   `MF_MLP.__init__` does; `"model"` keeps the model's own (PyTorch-default) initialisation.
//!   `M_i` is always `kaiming_uniform_(a=sqrt(5))` on `[classes, width_i]`, i.e.
//!   U(+-1/sqrt(width_i)).
//!
//! Choices beyond the reference (config fields): `schedule = "simultaneous"` trains every layer's
//! local loss at every step (no phases, no early stopping); `predict_from = "best"` predicts from
//! the layer with the highest validation accuracy of its local head at the end of its phase
//! (UNCONFIRMED how the Mono-Forward paper picks its "best layer"; without a validation split it
//! is the last layer). The model's output layer is not used by Mono-Forward.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Activation, Model, ModelInput, Network};
use serde::{Deserialize, Serialize};

use super::early_stopping::{self, Better, EarlyStopping};
use super::reference_init::{Init, mlp_layer, reinit};
use super::saved_state::{pack, unpack};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, OptimizerSetup, Target, TensorBatch};

/// How Mono-Forward schedules its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonoForwardSchedule {
    /// One layer after another (the reference procedure).
    #[default]
    Sequential,
    /// All layers at every step.
    Simultaneous,
}

/// How the model's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonoForwardInit {
    /// Redrawn as `MF_MLP` does (see the module docs).
    #[default]
    Reference,
    /// The model's own initialisation.
    Model,
}

/// Which layer's goodness logits are the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictFrom {
    /// The last hidden layer `a_L M_L^T` (the reference).
    #[default]
    Last,
    /// The layer whose local head had the highest validation accuracy.
    Best,
}

/// Configuration of [`MonoForward`] (`kind = "mono_forward"`). Defaults: the reference MNIST
/// config (`configs/mf/mnist_mlp_2x1000.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonoForwardConfig {
    #[serde(default)]
    pub schedule: MonoForwardSchedule,
    /// Most epochs of each phase of the sequential schedule (reference MNIST config: 14).
    #[serde(default = "epochs_per_layer")]
    pub epochs_per_layer: u64,
    /// Stop a phase early on the local validation loss (reference: `mf_early_stopping_enabled`).
    #[serde(default = "yes")]
    pub early_stopping: bool,
    /// Epochs without improvement before a phase stops (reference: 5).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Smallest decrease of the validation loss that counts as an improvement (reference: 1e-4).
    #[serde(default = "min_delta")]
    pub min_delta: f64,
    #[serde(default)]
    pub init: MonoForwardInit,
    #[serde(default)]
    pub predict_from: PredictFrom,
}

fn epochs_per_layer() -> u64 {
    14
}
fn yes() -> bool {
    true
}
fn patience() -> u64 {
    5
}
fn min_delta() -> f64 {
    1e-4
}

impl Default for MonoForwardConfig {
    fn default() -> Self {
        Self {
            schedule: MonoForwardSchedule::default(),
            epochs_per_layer: epochs_per_layer(),
            early_stopping: true,
            patience: patience(),
            min_delta: min_delta(),
            init: MonoForwardInit::default(),
            predict_from: PredictFrom::default(),
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
        early_stopping::check("mono_forward", self.patience, self.min_delta)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(MonoForward::new(self, context)?))
    }
}

impl MonoForward {
    /// The rule for the model and task of `context`.
    pub fn new(config: &MonoForwardConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let unsupported = |reason: String| LearnError::Unsupported {
            rule: "mono_forward".into(),
            reason,
        };
        context.require_classification("mono_forward")?;
        let blocks = context
            .model
            .blocks()
            .ok_or_else(|| unsupported("the model does not expose its blocks".into()))?;
        let classes = context.io.output_width();
        let input = context
            .io
            .input
            .real_len()
            .ok_or_else(|| unsupported("it needs real-valued inputs".into()))?;
        // Widths of a_0 (the input) and of every hidden block's output; the last block is the
        // model's output layer, which Mono-Forward does not use.
        let hidden = blocks.block_count().saturating_sub(1);
        let widths: Vec<usize> = std::iter::once(input)
            .chain((0..hidden).map(|i| blocks.block_width(i)))
            .collect();
        if config.init == MonoForwardInit::Reference && !matches!(context.model, Model::Mlp(_)) {
            return Err(unsupported(
                "init = \"reference\" redraws an mlp's layers; use init = \"model\" for other models"
                    .into(),
            ));
        }
        let tanh = match context.model {
            Model::Mlp(mlp) => matches!(mlp.activations().first(), Some(Activation::Tanh(_))),
            _ => false,
        };
        Ok(MonoForward {
            config: config.clone(),
            setup: context.optimizer.clone(),
            model_optimizer: context.optimizer.build()?,
            projection_optimizer: context.optimizer.build()?,
            projections: Some(Projections::new(&widths, classes, context.device)),
            tanh,
            progress: Progress {
                best_layer: widths.len() - 1,
                ..Progress::default()
            },
        })
    }
}

/// The projection matrices `M_0 .. M_L`, a module the rule owns.
#[derive(Module, Debug)]
pub struct Projections {
    layers: Vec<Linear>,
}

impl Projections {
    /// `M_i` as a bias-free linear map `width_i -> classes`; PyTorch's
    /// `kaiming_uniform_(a=sqrt(5))` on `[classes, width_i]` is uniform in +-1/sqrt(width_i).
    fn new(widths: &[usize], classes: usize, device: &burn::tensor::Device) -> Self {
        Self {
            layers: widths
                .iter()
                .map(|&w| {
                    LinearConfig::new(w, classes)
                        .with_bias(false)
                        .with_initializer(Initializer::KaimingUniform {
                            gain: 1.0 / 3f64.sqrt(),
                            fan_out_only: false,
                        })
                        .init(device)
                })
                .collect(),
        }
    }
}

/// Counters of the sequential schedule, checkpointed with the rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    steps: u64,
    /// The layer being trained (0 = `M_0` alone).
    phase: usize,
    epochs_in_phase: u64,
    stopping: EarlyStopping,
    /// Validation accuracy of each finished phase's local head (`None` without validation).
    phase_accuracy: Vec<Option<f64>>,
    best_layer: usize,
    done: bool,
}

/// The Mono-Forward rule.
pub struct MonoForward {
    config: MonoForwardConfig,
    setup: OptimizerSetup,
    model_optimizer: Optimizer,
    projection_optimizer: Optimizer,
    /// Taken out during a step (Burn's updates consume modules) and put back after it.
    projections: Option<Projections>,
    /// Whether the MLP's activation is tanh (the reference then uses Xavier initialisation).
    tanh: bool,
    progress: Progress,
}

impl MonoForward {
    fn projections(&self) -> &Projections {
        self.projections
            .as_ref()
            .expect("the projections are put back after every step")
    }

    /// The reference initialisation of `MF_MLP` (see the module docs).
    fn reference_init(&self, model: Model) -> Model {
        let layers = self.projections().layers.len(); // hidden layers + 1 = index of the output
        let tanh = self.tanh;
        reinit(model, &|path, shape| {
            let (index, weight) = mlp_layer(path)?;
            Some(match (index + 1 == layers, weight) {
                (_, false) => Init::Zeros,
                (true, true) => Init::Normal(0.01),
                (false, true) if tanh => Init::xavier_uniform(shape[0], shape[1]),
                (false, true) => Init::kaiming_uniform_relu(shape[0]),
            })
        })
    }

    /// The local losses `CE(a_i M_i^T, y)` of the `active` layers (in increasing order). Each
    /// layer reads the previous one's output detached when `detach` is set (always, in training;
    /// the tests turn it off to show that a leak would be seen).
    fn local_losses(
        model: &Model,
        projections: &Projections,
        x: Tensor<2>,
        target: &Target,
        active: &[usize],
        detach: bool,
    ) -> Result<Vec<(usize, Tensor<1>)>, LearnError> {
        let blocks = model.blocks().expect("checked when the rule was built");
        let last = *active.last().expect("at least one active layer");
        let first = active[0];
        // The layers below the first active one are frozen for this step: with the gradient
        // stopped at every layer's input they get none, so they run on a copy whose parameters
        // track no gradient. Run on the tracked parameters, every step would leave a graph that
        // no backward pass consumes, and the autodiff engine keeps such graphs while their
        // parameters live: about 1 MB a step for a 1000-wide layer, 3 GB over an MNIST run.
        let frozen = (detach && first > 1).then(|| model.clone().set_require_grad(false));
        let frozen_blocks = frozen.as_ref().map(|m| m.blocks().expect("same model"));
        let mut losses = Vec::with_capacity(active.len());
        let mut a = x;
        for i in 0..=last {
            if i > 0 {
                // The gradient stops at the layer's input.
                let input = if detach { a.detach() } else { a };
                a = match frozen_blocks {
                    Some(frozen) if i < first => frozen.block_forward(i - 1, input),
                    _ => blocks.block_forward(i - 1, input),
                };
            }
            if active.contains(&i) {
                let logits = projections.layers[i].forward(a.clone());
                losses.push((i, target.loss(logits)?));
            }
        }
        Ok(losses)
    }

    /// The goodness logits `a_i M_i^T` of layer `i` for a batch, from an inference copy of the
    /// model and the projections.
    fn local_logits(
        model: &Model,
        projections: &Projections,
        layer: usize,
        input: &ModelInput,
    ) -> Result<Tensor<2>, LearnError> {
        let blocks = model.blocks().expect("checked when the rule was built");
        let mut a = input.real("mono_forward")?;
        for i in 0..layer {
            a = blocks.block_forward(i, a);
        }
        Ok(projections.layers[layer].forward(a))
    }
}

impl LearningRule<Model> for MonoForward {
    fn name(&self) -> &str {
        "mono_forward"
    }

    /// The model's parameters and the projection matrices `M_i`.
    fn trained_params(&self, model_params: usize) -> usize {
        model_params + nonlin_nn::weights::trainable_params(self.projections())
    }

    fn step(
        &mut self,
        model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        let labels = batch.labels("mono_forward")?;
        let x = batch.features("mono_forward")?;
        let model = if self.progress.steps == 0 && self.config.init == MonoForwardInit::Reference
        {
            self.reference_init(model)
        } else {
            model
        };
        let projections = self.projections.take().expect("projections present");
        let layers = projections.layers.len();
        let active: Vec<usize> = match self.config.schedule {
            MonoForwardSchedule::Simultaneous => (0..layers).collect(),
            // After the last phase (a budget longer than the phases) the last layer goes on.
            MonoForwardSchedule::Sequential => vec![self.progress.phase.min(layers - 1)],
        };
        let target = Target::Classes(labels);
        let mut metrics = Metrics::new();
        let losses = MonoForward::local_losses(&model, &projections, x, &target, &active, true)?;
        let last = *active.last().expect("at least one active layer");
        let mut total: Option<Tensor<1>> = None;
        for (i, loss) in losses {
            metrics.insert(format!("loss_layer{i}"), loss.clone().into_scalar::<f64>());
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        let total = total.expect("at least one local loss");
        let mut grads = total.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let projection_grads = GradientsParams::from_module(&mut grads, &projections);
        let (model, _) = self.model_optimizer.step(lr, model, model_grads);
        let (projections, _) = self
            .projection_optimizer
            .step(lr, projections, projection_grads);
        metrics.insert("loss".into(), metrics[&format!("loss_layer{last}")]);
        metrics.insert("phase".into(), last as f64);
        self.projections = Some(projections);
        self.progress.steps += 1;
        Ok((model, metrics))
    }

    /// Ends an epoch of the sequential schedule: early stopping on the local validation loss,
    /// and the next phase with fresh optimizers when this one is over.
    fn end_epoch(&mut self, model: Model, end: EpochEnd<'_, '_>) -> Result<Model, LearnError> {
        if self.config.schedule != MonoForwardSchedule::Sequential || self.progress.done {
            return Ok(model);
        }
        let layers = self.projections().layers.len();
        let phase = self.progress.phase;
        self.progress.epochs_in_phase += 1;
        let mut accuracy = None;
        if let Some(validate) = end.validate {
            let (valid, projections) = (model.valid(), self.projections().valid());
            let mut predict = |input: &ModelInput| {
                MonoForward::local_logits(&valid, &projections, phase, input)
            };
            let metrics = validate(&mut predict)?;
            accuracy = metrics.get("accuracy").copied().filter(|a| a.is_finite());
            if self.config.early_stopping {
                let loss = metrics.get("loss").copied().unwrap_or(f64::NAN);
                self.progress
                    .stopping
                    .observe(loss, Better::Lower, self.config.min_delta);
            }
        }
        let stop = self.config.early_stopping
            && self.progress.stopping.should_stop(self.config.patience);
        if stop || self.progress.epochs_in_phase >= self.config.epochs_per_layer {
            self.progress.phase_accuracy.push(accuracy);
            if self.config.predict_from == PredictFrom::Best {
                // The highest accuracy; ties go to the deeper layer.
                let best = (0..self.progress.phase_accuracy.len())
                    .filter_map(|i| self.progress.phase_accuracy[i].map(|a| (a, i)))
                    .max_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
                    .map(|(_, i)| i);
                self.progress.best_layer = best.unwrap_or(layers - 1);
            }
            self.progress.phase += 1;
            self.progress.epochs_in_phase = 0;
            self.progress.stopping = EarlyStopping::default();
            // A new phase starts with fresh optimizer state, as the reference does.
            self.model_optimizer = self.setup.build()?;
            self.projection_optimizer = self.setup.build()?;
            self.progress.done = self.progress.phase >= layers;
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.done
    }

    /// The goodness logits `a_L M_L^T` of the last hidden layer, or of the best one.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let projections = self.projections().valid();
        let layer = match self.config.predict_from {
            PredictFrom::Last => projections.layers.len() - 1,
            PredictFrom::Best => self.progress.best_layer,
        };
        MonoForward::local_logits(model, &projections, layer, input)
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState {
            bytes: pack(
                &self.progress,
                &[
                    self.model_optimizer.to_bytes()?,
                    self.projection_optimizer.to_bytes()?,
                ],
            )?,
            modules: vec![ModuleState::capture("projections", self.projections())?],
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, blobs): (Progress, _) = unpack("mono_forward", &state.bytes)?;
        let [model, projection] = blobs.as_slice() else {
            return Err(LearnError::State {
                rule: "mono_forward".into(),
                reason: format!("expected 2 optimizer states, found {}", blobs.len()),
            });
        };
        self.model_optimizer.load_bytes(model)?;
        self.projection_optimizer.load_bytes(projection)?;
        let saved = state.module("mono_forward", "projections")?;
        let projections = self.projections.take().expect("projections present");
        self.projections = Some(saved.restore(projections)?);
        self.progress = progress;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn mf_rule(config: MonoForwardConfig, hidden: &str) -> (MonoForward, Model, TensorBatch) {
        let device = fixtures::device(3);
        let (model, io) = fixtures::model(
            &format!("kind = \"mlp\"\nhidden = {hidden}"),
            vec![12],
            4,
            &device,
        );
        let setup = OptimizerSetup::default();
        let rule = MonoForward::new(
            &config,
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        (rule, model, fixtures::batch(32, 12, 4, &device))
    }

    /// Layer i's local loss reaches only W_i (the block that makes a_i); without the detach the
    /// same check sees the earlier layers too (the negative control).
    #[test]
    fn no_gradient_crosses_layers() {
        let (rule, model, batch) = mf_rule(MonoForwardConfig::default(), "[8, 8, 8]");
        let Model::Mlp(mlp) = &model else { unreachable!() };
        let x = batch.features("test").unwrap();
        let projections = rule.projections();
        for detach in [true, false] {
            for i in 1..=3 {
                let losses = MonoForward::local_losses(
                    &model,
                    projections,
                    x.clone(),
                    &batch.target,
                    &[0, 1, 2, 3],
                    detach,
                )
                .unwrap();
                let mut grads = losses[i].1.clone().backward();
                for (k, layer) in mlp.layers().iter().enumerate().take(3) {
                    let expected = if k + 1 == i || (!detach && k + 1 < i) { 2 } else { 0 };
                    assert_eq!(
                        fixtures::with_gradient(&mut grads, layer),
                        expected,
                        "detach {detach}: loss of layer {i}, W_{}",
                        k + 1
                    );
                }
                assert_eq!(fixtures::with_gradient(&mut grads, &projections.layers[i]), 1);
            }
        }
    }

    /// A later phase, whose frozen layers run on an untracked copy: the active layer's loss is
    /// the one all layers compute together, its gradient reaches only its own weights and
    /// projection, and the copy leaves the model's own parameters tracked. (That the copy keeps
    /// no graph alive is checked by the peak memory of a run, `mono_forward_later_phases_keep_no_graphs`
    /// in nonlin-cli's tests: values and gradients are the same either way.)
    #[test]
    fn a_later_phase_trains_only_its_layer_and_leaves_the_model_tracked() {
        let (rule, model, batch) = mf_rule(MonoForwardConfig::default(), "[8, 8, 8]");
        let Model::Mlp(mlp) = &model else { unreachable!() };
        let x = batch.features("test").unwrap();
        let projections = rule.projections();
        let all = MonoForward::local_losses(&model, projections, x.clone(), &batch.target, &[0, 1, 2, 3], true)
            .unwrap();
        let alone = MonoForward::local_losses(&model, projections, x, &batch.target, &[3], true).unwrap();
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].0, 3);
        assert_eq!(
            alone[0].1.clone().into_scalar::<f32>(),
            all[3].1.clone().into_scalar::<f32>()
        );
        let mut grads = alone[0].1.clone().backward();
        for (k, layer) in mlp.layers().iter().enumerate().take(3) {
            let expected = if k == 2 { 2 } else { 0 };
            assert_eq!(fixtures::with_gradient(&mut grads, layer), expected, "W_{}", k + 1);
            assert!(layer.weight.val().is_require_grad(), "W_{} still tracked", k + 1);
        }
        assert_eq!(fixtures::with_gradient(&mut grads, &projections.layers[3]), 1);
    }

    /// The reference initialisation: hidden weights U(+-sqrt(6 / fan_in)), zero biases, output
    /// layer N(0, 0.01^2).
    #[test]
    fn reference_initialisation_of_mf_mlp() {
        let device = fixtures::device(9);
        let (model, io) = fixtures::model("kind = \"mlp\"\nhidden = [300]", vec![64], 10, &device);
        let setup = OptimizerSetup::default();
        let rule = MonoForward::new(
            &MonoForwardConfig::default(),
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        let Model::Mlp(mlp) = rule.reference_init(model) else { unreachable!() };
        let values = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_to_vec().unwrap() };
        let w0 = values(mlp.layers()[0].weight.val());
        // bound sqrt(6 / 64) = 0.306; PyTorch's default would stay within 1/8 = 0.125
        let max = w0.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= 0.30619 && max > 0.29, "{max}");
        let b0: Vec<f32> = mlp.layers()[0].bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
        assert!(b0.iter().all(|&b| b == 0.0));
        let w1 = values(mlp.layers()[1].weight.val());
        let std = (w1.iter().map(|v| (v * v) as f64).sum::<f64>() / w1.len() as f64).sqrt();
        assert!((std - 0.01).abs() < 1e-3, "{std}");
    }

    /// Sequential phases: a phase ends when its validation loss has not improved by more than
    /// min_delta for `patience` epochs, or after `epochs_per_layer`; training ends after the last
    /// phase; "best" predicts from the layer with the highest validation accuracy.
    #[test]
    fn phases_stop_early_and_the_best_layer_predicts() {
        let config = MonoForwardConfig {
            epochs_per_layer: 5,
            patience: 2,
            min_delta: 0.01,
            predict_from: PredictFrom::Best,
            ..MonoForwardConfig::default()
        };
        let (mut rule, mut model, batch) = mf_rule(config, "[8, 8]");
        // phase 0: 1.0 (best), 1.0, 1.0 -> two bad epochs, stops after 3
        // phase 1: improving every epoch -> runs its 5 epochs
        // phase 2: 0.5, 0.495 (not 0.01 better), 0.5 -> stops after 3
        let script = vec![
            (1.0, 0.2), (1.0, 0.2), (1.0, 0.3),
            (0.8, 0.5), (0.7, 0.6), (0.6, 0.7), (0.5, 0.8), (0.4, 0.9),
            (0.5, 0.8), (0.495, 0.8), (0.5, 0.85),
        ];
        let mut validate = fixtures::scripted(script, batch.input.clone());
        let mut phases = Vec::new();
        for epoch in 1..=11 {
            let (next, _) = rule.step(model, &batch, 1e-3).unwrap();
            let end = EpochEnd { epochs_done: epoch, last: false, validate: Some(&mut validate) };
            model = rule.end_epoch(next, end).unwrap();
            phases.push(rule.progress.phase);
        }
        assert_eq!(phases, vec![0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3]);
        assert!(rule.finished());
        assert_eq!(rule.progress.best_layer, 1, "{:?}", rule.progress.phase_accuracy);
        // The prediction is layer 1's local head: a_1 M_1^T.
        let valid = model.valid();
        let out = rule.predict(&valid, &batch.input).unwrap();
        let expected =
            MonoForward::local_logits(&valid, &rule.projections().valid(), 1, &batch.input).unwrap();
        assert_eq!(out.into_data(), expected.into_data());
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = MonoForwardConfig::default();
        for (field, c) in [
            ("epochs_per_layer", MonoForwardConfig { epochs_per_layer: 0, ..ok.clone() }),
            ("patience", MonoForwardConfig { patience: 0, ..ok.clone() }),
            ("min_delta", MonoForwardConfig { min_delta: -1.0, ..ok.clone() }),
            ("min_delta", MonoForwardConfig { min_delta: f64::NAN, ..ok.clone() }),
            ("min_delta", MonoForwardConfig { min_delta: f64::INFINITY, ..ok.clone() }),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
