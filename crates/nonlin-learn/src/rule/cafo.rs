//! Cascaded-Forward learning (CaFo; Zhao et al., "The Cascaded Forward Algorithm for Neural
//! Network Training", arXiv 2303.09728), as implemented in Spyra's BeyondBackpropagation
//! (`src/algorithms/cafo.py`): a network split into blocks `h_{i+1} = B_i(h_i)`, each block's
//! flattened output read by its own linear predictor `p_i = P_i h_{i+1}` trained with
//! cross-entropy on the block's (detached) output, one predictor after another; the prediction is
//! the sum of all predictors' logits
//!
//! `y_hat = argmax_c sum_i (P_i h_{i+1})_c`.
//!
//! The blocks are either left at their random initialisation (`blocks = "random"`, CaFo-Rand) or
//! first trained for `block_epochs` epochs with Direct Feedback Alignment (`"dfa"`, CaFo-DFA):
//! an auxiliary linear layer on the last block is trained with cross-entropy, the last block gets
//! the backpropagated gradient of that loss, and every earlier block `i` gets the vector-Jacobian
//! product of its output with `delta_i = e B_i`, where `e = softmax(logits) - onehot(y)` is the
//! auxiliary layer's error (not divided by the batch size) and `B_i` (`[classes, width_i]`) a fixed
//! Gaussian (or uniform in [-1, 1]) matrix whose rows are scaled to unit norm. As in the
//! reference, each DFA block's output is computed twice per step (the forward pass and the
//! recomputation for the vector-Jacobian product), so its batch-norm running statistics are
//! updated twice. During the predictor phases the blocks run in inference mode (batch norm with
//! running statistics). Each predictor's phase has a fresh optimizer and stops early when its
//! validation loss has not improved by more than `min_delta` for `patience` epochs (the best
//! weights are not restored); training ends after the last predictor. Works on any model that
//! exposes blocks (the model's last block, its classifier, is not used): `cafo_cnn` is the
//! paper's network.
//!
//! Defaults: the reference MNIST configs (`configs/cafo/mnist_cnn_3block.yaml` for the
//! predictors: at most 227 epochs, patience 8, `min_delta` 5e-4; `cafodfa_mnist_cnn_3block.yaml`
//! for DFA: 5 block epochs, block learning rate 1.96x the predictors', block weight decay 9.6e-7).

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Model, ModelInput, Network};
use serde::{Deserialize, Serialize};

use super::early_stopping::{self, Better, EarlyStopping};
use super::saved_state::{pack, unpack};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, OptimizerSetup, Target, TensorBatch};

/// How the blocks are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CafoBlocks {
    /// Random and frozen (CaFo-Rand).
    #[default]
    Random,
    /// Trained with Direct Feedback Alignment first (CaFo-DFA).
    Dfa,
}

/// The distribution of the DFA feedback matrices before their rows are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// Standard normal (reference default).
    #[default]
    Gaussian,
    /// Uniform in [-1, 1].
    Uniform,
}

/// How the predictors' logits are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Sum over blocks (reference).
    #[default]
    Sum,
    /// Mean over blocks.
    Average,
    /// The last block's predictor alone.
    Last,
}

/// Configuration of [`Cafo`] (`kind = "cafo"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CafoConfig {
    #[serde(default)]
    pub blocks: CafoBlocks,
    /// Epochs of DFA training of the blocks (reference `block_training_epochs`: 5).
    #[serde(default = "block_epochs")]
    pub block_epochs: u64,
    /// Learning rate of the DFA phase relative to the run's (reference: 4.98e-4 / 2.54e-4).
    #[serde(default = "block_lr_scale")]
    pub block_lr_scale: f64,
    /// Weight decay of the DFA phase (reference 9.59e-7).
    #[serde(default = "block_weight_decay")]
    pub block_weight_decay: f64,
    #[serde(default)]
    pub feedback: Feedback,
    /// Most epochs of each predictor (reference `num_epochs_per_block`: 227).
    #[serde(default = "epochs_per_block")]
    pub epochs_per_block: u64,
    /// Stop a predictor early on its validation loss (reference).
    #[serde(default = "yes")]
    pub early_stopping: bool,
    /// Epochs without improvement before a predictor stops (reference 8).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Smallest decrease of the validation loss that counts (reference 5e-4).
    #[serde(default = "min_delta")]
    pub min_delta: f64,
    #[serde(default)]
    pub aggregation: Aggregation,
}

fn block_epochs() -> u64 {
    5
}
fn block_lr_scale() -> f64 {
    4.977965859721583e-4 / 2.5391813833013565e-4
}
fn block_weight_decay() -> f64 {
    9.594431243311431e-7
}
fn epochs_per_block() -> u64 {
    227
}
fn yes() -> bool {
    true
}
fn patience() -> u64 {
    8
}
fn min_delta() -> f64 {
    5e-4
}

impl Default for CafoConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for CafoConfig {
    fn validate(&self) -> Result<(), LearnError> {
        let bad = |field: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("cafo.{field}"),
                reason,
            })
        };
        if self.blocks == CafoBlocks::Dfa && self.block_epochs == 0 {
            return bad("block_epochs", "DFA needs at least 1 epoch".into());
        }
        if self.epochs_per_block == 0 {
            return bad("epochs_per_block", "must be at least 1".into());
        }
        if !(self.block_lr_scale.is_finite() && self.block_lr_scale > 0.0) {
            return bad(
                "block_lr_scale",
                format!("must be a finite number > 0, got {}", self.block_lr_scale),
            );
        }
        if !(self.block_weight_decay.is_finite() && self.block_weight_decay >= 0.0) {
            return bad(
                "block_weight_decay",
                format!(
                    "must be a finite number >= 0, got {}",
                    self.block_weight_decay
                ),
            );
        }
        early_stopping::check("cafo", self.patience, self.min_delta)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(Cafo::new(self, context)?))
    }
}

impl Cafo {
    /// The rule for the model and task of `context`.
    pub fn new(config: &CafoConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let unsupported = |reason: String| LearnError::Unsupported {
            rule: "cafo".into(),
            reason,
        };
        context.require_classification("cafo")?;
        let blocks = context
            .model
            .blocks()
            .ok_or_else(|| unsupported("the model does not expose its blocks".into()))?;
        let count = blocks.block_count().saturating_sub(1);
        if count == 0 {
            return Err(unsupported(
                "the model has no block before its classifier".into(),
            ));
        }
        let classes = context.io.output_width();
        let widths: Vec<usize> = (0..count).map(|i| blocks.block_width(i)).collect();
        let device = context.device;
        let predictors = Predictors {
            layers: widths
                .iter()
                .map(|&w| LinearConfig::new(w, classes).init(device))
                .collect(),
        };
        let dfa = (config.blocks == CafoBlocks::Dfa)
            .then(|| Dfa::new(&widths, classes, config.feedback, device));
        let block_setup = OptimizerSetup::plain(
            &context
                .optimizer
                .optimizer
                .with_weight_decay(config.block_weight_decay),
        );
        let predictor_setup = OptimizerSetup::plain(&context.optimizer.optimizer);
        Ok(Cafo {
            config: config.clone(),
            block_optimizer: block_setup.build()?,
            predictor_optimizer: predictor_setup.build()?,
            predictor_setup,
            predictors: Some(predictors),
            dfa,
            count,
            classes,
            progress: Progress::default(),
        })
    }
}

/// The linear predictors `P_i`, one per block.
#[derive(Module, Debug)]
pub struct Predictors {
    layers: Vec<Linear>,
}

/// What DFA trains besides the blocks: the auxiliary classifier on the last block, and the
/// fixed feedback matrices (kept as parameters without gradients so checkpoints hold them).
#[derive(Module, Debug)]
pub struct Dfa {
    aux: Linear,
    feedback: Vec<Param<Tensor<2>>>,
}

impl Dfa {
    /// The auxiliary layer `kaiming_uniform_(a=sqrt(5))` (U(+-1/sqrt(fan_in))) with zero bias;
    /// `B_i` `[classes, width_i]` for every block but the last, rows scaled to unit norm.
    fn new(widths: &[usize], classes: usize, feedback: Feedback, device: &Device) -> Self {
        let last = *widths.last().expect("at least one block");
        let mut aux = LinearConfig::new(last, classes)
            .with_initializer(Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            })
            .init(device);
        aux.bias = aux
            .bias
            .map(|b| Param::from_tensor(Tensor::zeros(b.val().dims(), device)));
        let feedback = widths[..widths.len() - 1]
            .iter()
            .map(|&w| {
                let dist = match feedback {
                    Feedback::Gaussian => Distribution::Normal(0.0, 1.0),
                    Feedback::Uniform => Distribution::Uniform(-1.0, 1.0),
                };
                let b = Tensor::<2>::random([classes, w], dist, device);
                let norms = b.clone().powi_scalar(2).sum_dim(1).sqrt().add_scalar(1e-8);
                Param::from_tensor((b / norms).detach()).set_require_grad(false)
            })
            .collect();
        Self { aux, feedback }
    }
}

/// Counters of the phases, checkpointed with the rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    steps: u64,
    /// The phase: with DFA, 0 is the block training and `1 + i` predictor `i`; without, `i`.
    phase: usize,
    epochs_in_phase: u64,
    stopping: EarlyStopping,
    done: bool,
}

/// What one phase trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Blocks,
    Predictor(usize),
}

/// The CaFo rule.
pub struct Cafo {
    config: CafoConfig,
    block_optimizer: Optimizer,
    predictor_optimizer: Optimizer,
    predictor_setup: OptimizerSetup,
    /// Taken out during a step and put back after it.
    predictors: Option<Predictors>,
    dfa: Option<Dfa>,
    /// Blocks before the model's classifier.
    count: usize,
    classes: usize,
    progress: Progress,
}

impl Cafo {
    fn predictors(&self) -> &Predictors {
        self.predictors
            .as_ref()
            .expect("the predictors are put back after every step")
    }

    fn phase(&self) -> Phase {
        let p = self.progress.phase;
        match (self.dfa.is_some(), p) {
            (true, 0) => Phase::Blocks,
            (true, p) => Phase::Predictor((p - 1).min(self.count - 1)),
            (false, p) => Phase::Predictor(p.min(self.count - 1)),
        }
    }

    fn phases(&self) -> usize {
        self.count + usize::from(self.dfa.is_some())
    }

    /// The losses of one DFA step: the auxiliary cross-entropy on the last block's output, and
    /// for every earlier block `i` the surrogate `sum(B_i(h_i) * delta_i)` whose gradient with
    /// respect to the block's parameters is the DFA update; also the auxiliary logits. Every
    /// block reads its input detached when `detach` is set (always, in training; the tests turn
    /// it off to show that a leak would be seen).
    fn dfa_losses(
        &self,
        model: &Model,
        dfa: &Dfa,
        x: Tensor<2>,
        target: &Target,
        detach: bool,
    ) -> Result<(Tensor<1>, Vec<Tensor<1>>, Tensor<2>), LearnError> {
        let blocks = model.blocks().expect("checked when the rule was built");
        let Target::Classes(labels) = target else {
            unreachable!("classification targets")
        };
        let cut = |h: Tensor<2>| if detach { h.detach() } else { h };
        let mut inputs = vec![x];
        for i in 0..self.count {
            let h = blocks.block_forward(i, cut(inputs[i].clone()));
            inputs.push(h);
        }
        let last = inputs.pop().expect("the last block's output");
        let logits = dfa.aux.forward(last);
        let loss = target.loss(logits.clone())?;
        let onehot = labels.clone().one_hot::<2>(self.classes).float();
        let error = (softmax(logits.clone().detach(), 1) - onehot).detach();
        let mut surrogates = Vec::with_capacity(dfa.feedback.len());
        for (i, feedback) in dfa.feedback.iter().enumerate() {
            let delta = error.clone().matmul(feedback.val()).detach();
            // Recomputed from the stored input, as the reference does.
            let recomputed = blocks.block_forward(i, cut(inputs[i].clone()));
            surrogates.push((recomputed * delta).sum());
        }
        Ok((loss, surrogates, logits))
    }

    /// One DFA update of the blocks and the auxiliary layer.
    fn dfa_step(
        &mut self,
        model: Model,
        x: Tensor<2>,
        target: &Target,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        let dfa = self.dfa.take().expect("dfa present in its phase");
        let (loss, surrogates, logits) = self.dfa_losses(&model, &dfa, x, target, true)?;
        let total = surrogates.into_iter().fold(loss.clone(), |t, s| t + s);
        let correct = target.correct(&logits.detach())?;
        let mut grads = total.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let dfa_grads = GradientsParams::from_module(&mut grads, &dfa);
        let block_lr = lr * self.config.block_lr_scale;
        let (model, _) = self.block_optimizer.step(block_lr, model, model_grads);
        let (dfa, _) = self.block_optimizer.step(block_lr, dfa, dfa_grads);
        self.dfa = Some(dfa);
        let mut metrics = Metrics::from([("loss".to_string(), loss.into_scalar::<f64>())]);
        if let Some((hits, rows)) = correct {
            metrics.insert("accuracy".into(), hits as f64 / rows as f64);
        }
        Ok((model, metrics))
    }

    /// The flattened outputs of blocks `0..=last` in inference mode.
    fn block_outputs(model: &Model, x: Tensor<2>, last: usize) -> Vec<Tensor<2>> {
        let blocks = model.blocks().expect("checked when the rule was built");
        let mut h = x;
        (0..=last)
            .map(|i| {
                h = blocks.block_forward(i, h.clone());
                h.clone()
            })
            .collect()
    }

    /// Predictor `k`'s logits from an inference copy of the model.
    fn predictor_logits(
        model: &Model,
        predictors: &Predictors,
        k: usize,
        input: &ModelInput,
    ) -> Result<Tensor<2>, LearnError> {
        let x = input.real("cafo")?;
        let h = Cafo::block_outputs(model, x, k).pop().expect("block k");
        Ok(predictors.layers[k].forward(h))
    }
}

impl LearningRule<Model> for Cafo {
    /// The model's parameters and the predictors (and DFA's auxiliary classifier).
    fn trained_params(&self, model_params: usize) -> usize {
        let dfa = self.dfa.as_ref().map_or(0, nonlin_nn::weights::trainable_params);
        model_params + nonlin_nn::weights::trainable_params(self.predictors()) + dfa
    }

    fn name(&self) -> &str {
        "cafo"
    }

    fn step(
        &mut self,
        model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        let x = batch.features("cafo")?;
        let target = Target::Classes(batch.labels("cafo")?);
        let (model, mut metrics) = match self.phase() {
            Phase::Blocks => self.dfa_step(model, x, &target, lr)?,
            Phase::Predictor(k) => {
                // The blocks in inference mode; their output enters as a constant.
                let h = Cafo::block_outputs(&model.valid(), x.inner(), k)
                    .pop()
                    .expect("block k")
                    .autodiff();
                let predictors = self.predictors.take().expect("predictors present");
                let logits = predictors.layers[k].forward(h);
                let loss = target.loss(logits.clone())?;
                let correct = target.correct(&logits.detach())?;
                let mut grads = loss.backward();
                let grads = GradientsParams::from_module(&mut grads, &predictors);
                let (predictors, _) = self.predictor_optimizer.step(lr, predictors, grads);
                self.predictors = Some(predictors);
                let mut metrics = Metrics::from([("loss".to_string(), loss.into_scalar::<f64>())]);
                if let Some((hits, rows)) = correct {
                    metrics.insert("accuracy".into(), hits as f64 / rows as f64);
                }
                (model, metrics)
            }
        };
        metrics.insert("phase".into(), self.progress.phase as f64);
        self.progress.steps += 1;
        Ok((model, metrics))
    }

    fn end_epoch(&mut self, model: Model, end: EpochEnd<'_, '_>) -> Result<Model, LearnError> {
        if self.progress.done {
            return Ok(model);
        }
        self.progress.epochs_in_phase += 1;
        let over = match self.phase() {
            Phase::Blocks => self.progress.epochs_in_phase >= self.config.block_epochs,
            Phase::Predictor(k) => {
                if self.config.early_stopping
                    && let Some(validate) = end.validate
                {
                    let (valid, predictors) = (model.valid(), self.predictors().valid());
                    let mut predict = |input: &ModelInput| {
                        Cafo::predictor_logits(&valid, &predictors, k, input)
                    };
                    let loss = validate(&mut predict)?
                        .get("loss")
                        .copied()
                        .unwrap_or(f64::NAN);
                    self.progress
                        .stopping
                        .observe(loss, Better::Lower, self.config.min_delta);
                }
                self.progress.epochs_in_phase >= self.config.epochs_per_block
                    || (self.config.early_stopping
                        && self.progress.stopping.should_stop(self.config.patience))
            }
        };
        if over {
            self.progress.phase += 1;
            self.progress.epochs_in_phase = 0;
            self.progress.stopping = EarlyStopping::default();
            // Each predictor gets a fresh optimizer, as in the reference.
            self.predictor_optimizer = self.predictor_setup.build()?;
            self.progress.done = self.progress.phase >= self.phases();
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.done
    }

    /// The predictors' logits combined over the blocks (`aggregation`).
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let x = input.real("cafo")?;
        let predictors = self.predictors().valid();
        let outputs = Cafo::block_outputs(model, x, self.count - 1);
        let logits: Vec<Tensor<2>> = outputs
            .into_iter()
            .zip(&predictors.layers)
            .map(|(h, p)| p.forward(h))
            .collect();
        let n = logits.len() as f64;
        Ok(match self.config.aggregation {
            Aggregation::Last => logits.into_iter().last().expect("one block"),
            Aggregation::Sum => logits.into_iter().reduce(|a, b| a + b).expect("one block"),
            Aggregation::Average => logits
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("one block")
                .div_scalar(n),
        })
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let mut modules = vec![ModuleState::capture("predictors", self.predictors())?];
        if let Some(dfa) = &self.dfa {
            modules.push(ModuleState::capture("dfa", dfa)?);
        }
        Ok(RuleState {
            bytes: pack(
                &self.progress,
                &[
                    self.block_optimizer.to_bytes()?,
                    self.predictor_optimizer.to_bytes()?,
                ],
            )?,
            modules,
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, blobs): (Progress, _) = unpack("cafo", &state.bytes)?;
        let [blocks, predictor] = blobs.as_slice() else {
            return Err(LearnError::State {
                rule: "cafo".into(),
                reason: format!("expected 2 optimizer states, found {}", blobs.len()),
            });
        };
        self.block_optimizer.load_bytes(blocks)?;
        self.predictor_optimizer.load_bytes(predictor)?;
        let predictors = self.predictors.take().expect("predictors present");
        self.predictors = Some(state.module("cafo", "predictors")?.restore(predictors)?);
        if let Some(dfa) = self.dfa.take() {
            self.dfa = Some(state.module("cafo", "dfa")?.restore(dfa)?);
        }
        self.progress = progress;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn cafo_rule(config: CafoConfig) -> (Cafo, Model, TensorBatch) {
        let device = fixtures::device(4);
        let (model, io) = fixtures::model(
            "kind = \"cafo_cnn\"\nchannels = [4, 6, 8]",
            vec![1, 8, 8],
            4,
            &device,
        );
        let setup = OptimizerSetup::default();
        let rule =
            Cafo::new(&config, &fixtures::context(&model, &io, &setup, &device, 1, 100)).unwrap();
        (rule, model, fixtures::batch(16, 64, 4, &device))
    }

    fn dfa_config() -> CafoConfig {
        CafoConfig {
            blocks: CafoBlocks::Dfa,
            block_epochs: 2,
            epochs_per_block: 3,
            patience: 2,
            min_delta: 0.0,
            ..CafoConfig::default()
        }
    }

    /// DFA: the auxiliary loss reaches the last block (and the auxiliary layer) only, each
    /// feedback surrogate its own block only; without the detach between blocks the auxiliary
    /// loss reaches every block (the negative control).
    #[test]
    fn dfa_gradients_stay_in_their_block() {
        let (rule, model, batch) = cafo_rule(dfa_config());
        let Model::CafoCnn(net) = &model else { unreachable!() };
        let dfa = rule.dfa.as_ref().unwrap();
        let x = batch.features("test").unwrap();
        // conv weight, batch-norm gamma and beta: 3 tensors per block
        for detach in [true, false] {
            for which in 0..3 {
                let (loss, surrogates, _) =
                    rule.dfa_losses(&model, dfa, x.clone(), &batch.target, detach).unwrap();
                // which 0, 1: the surrogate of block 0, 1; 2: the auxiliary loss (block 2)
                let loss = if which < 2 { surrogates[which].clone() } else { loss };
                let mut grads = loss.backward();
                for (k, block) in net.conv_blocks().iter().enumerate() {
                    let expected = if k == which || (!detach && k < which) { 3 } else { 0 };
                    assert_eq!(
                        fixtures::with_gradient(&mut grads, block),
                        expected,
                        "detach {detach}: loss {which}, block {k}"
                    );
                }
                let aux = fixtures::with_gradient(&mut grads, &dfa.aux);
                assert_eq!(aux, if which == 2 { 2 } else { 0 });
                assert_eq!(fixtures::with_gradient(&mut grads, &dfa.feedback), 0);
            }
        }
    }

    /// A predictor step changes its predictor only: the blocks' parameters stay bit for bit,
    /// and so does the model's inference output (which reads the batch-norm running statistics).
    #[test]
    fn predictor_steps_leave_the_blocks_alone() {
        let (mut rule, model, batch) = cafo_rule(CafoConfig::default());
        let params = |model: &Model| -> Vec<Vec<f32>> {
            struct All<'a>(&'a mut Vec<Vec<f32>>);
            impl burn::module::ModuleVisitor for All<'_> {
                fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                    self.0.push(p.val().into_data().try_to_vec::<f32>().unwrap());
                }
            }
            let mut out = Vec::new();
            model.visit(&mut All(&mut out));
            out
        };
        let output = |model: &Model| model.valid().forward_input(&batch.input).unwrap().into_data();
        let (before, out_before) = (params(&model), output(&model));
        let predictor = rule.predictors().layers[0].weight.val().into_data();
        let (model, metrics) = rule.step(model, &batch, 1e-2).unwrap();
        assert!(metrics["loss"].is_finite());
        assert!(params(&model) == before, "a block parameter changed");
        assert!(output(&model) == out_before, "the running statistics changed");
        assert!(rule.predictors().layers[0].weight.val().into_data() != predictor);
    }

    /// DFA for `block_epochs`, then each predictor until early stopping or its epoch cap; the
    /// prediction sums the predictors' logits.
    #[test]
    fn phases_and_summed_prediction() {
        let (mut rule, mut model, batch) = cafo_rule(dfa_config());
        // predictor 0: 1.0, 0.9, 0.8 (cap 3); predictor 1: 1.0, 1.0, 1.0 -> patience 2 after 3
        // (the cap as well); predictor 2: 1.0, 1.1, 1.2 -> stops after 3
        let script = vec![(1.0, 0.0), (0.9, 0.0), (0.8, 0.0), (1.0, 0.0), (1.0, 0.0), (1.0, 0.0),
            (1.0, 0.0), (1.1, 0.0), (1.2, 0.0)];
        let mut validate = fixtures::scripted(script, batch.input.clone());
        let mut phases = Vec::new();
        for epoch in 1..=11 {
            let (next, metrics) = rule.step(model, &batch, 1e-3).unwrap();
            assert!(metrics["loss"].is_finite());
            let end = EpochEnd { epochs_done: epoch, last: false, validate: Some(&mut validate) };
            model = rule.end_epoch(next, end).unwrap();
            phases.push(rule.progress.phase);
        }
        assert_eq!(phases, vec![0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
        assert!(rule.finished());
        let valid = model.valid();
        let predictors = rule.predictors().valid();
        let sum = (0..3)
            .map(|k| Cafo::predictor_logits(&valid, &predictors, k, &batch.input).unwrap())
            .reduce(|a, b| a + b)
            .unwrap();
        rule.predict(&valid, &batch.input)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&sum.into_data(), Default::default());
    }

    #[test]
    fn feedback_rows_have_unit_norm() {
        let device = Device::flex();
        device.seed(2);
        let dfa = Dfa::new(&[50, 30, 20], 4, Feedback::Gaussian, &device);
        assert_eq!(dfa.feedback.len(), 2, "no feedback matrix for the last block");
        for (b, w) in dfa.feedback.iter().zip([50, 30]) {
            assert_eq!(b.val().dims(), [4, w]);
            let norms: Vec<f32> = b
                .val()
                .powi_scalar(2)
                .sum_dim(1)
                .sqrt()
                .into_data()
                .try_to_vec()
                .unwrap();
            assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        }
        let bias: Vec<f32> = dfa.aux.bias.unwrap().val().into_data().try_to_vec().unwrap();
        assert!(bias.iter().all(|&b| b == 0.0));
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = CafoConfig::default();
        ok.validate().unwrap();
        let cases: Vec<(&str, CafoConfig)> = vec![
            (
                "block_epochs",
                CafoConfig {
                    blocks: CafoBlocks::Dfa,
                    block_epochs: 0,
                    ..ok.clone()
                },
            ),
            ("epochs_per_block", CafoConfig { epochs_per_block: 0, ..ok.clone() }),
            ("block_lr_scale", CafoConfig { block_lr_scale: 0.0, ..ok.clone() }),
            ("block_lr_scale", CafoConfig { block_lr_scale: f64::NAN, ..ok.clone() }),
            ("block_lr_scale", CafoConfig { block_lr_scale: f64::INFINITY, ..ok.clone() }),
            ("block_weight_decay", CafoConfig { block_weight_decay: -1.0, ..ok.clone() }),
            ("patience", CafoConfig { patience: 0, ..ok.clone() }),
            ("min_delta", CafoConfig { min_delta: f64::NAN, ..ok.clone() }),
        ];
        for (field, c) in cases {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
