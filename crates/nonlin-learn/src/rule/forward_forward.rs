//! The Forward-Forward algorithm (Hinton, "The Forward-Forward Algorithm: Some Preliminary
//! Investigations", arXiv 2212.13345), as implemented in Spyra's BeyondBackpropagation
//! (`src/architectures/ff_mlp.py`, `src/algorithms/ff.py`, after loeweX's reference code).
//!
//! Every hidden layer `l` of an MLP is trained on its own loss: its goodness
//!
//! `G_l(x) = sum_j y_j^2` (or the mean over units), `y = phi(W_l x_hat + b_l)`,
//!
//! should be above the threshold `theta` for positive data and below it for negative data,
//! `L_l = mean BCE-with-logits(G_l - theta, 1 for positive / 0 for negative)`, plus a peer
//! normalisation penalty. Each layer reads the previous one's output detached and length
//! normalised, `x_hat = x / (sqrt(mean x^2) + 1e-8)`, so no gradient crosses layers and a layer
//! cannot read the goodness off its input's length. Positive data is the image with its label
//! written into the first `C` inputs (one-hot, on 1 / off 0); negative data is the same image with
//! a uniformly drawn wrong label (`negatives = "wrong_label"`), or (`"hybrid"`, Hinton's
//! unsupervised variant) a mix `m * x_a + (1 - m) * x_b` of two images with a mask made by
//! blurring random bits and thresholding at 1/2, with no label in the input. The prediction
//! runs the network once per candidate label and returns the goodness accumulated over the layers
//! from `goodness_from_layer` on (argmax = the class); or, with `predict = "classifier"`, a
//! linear softmax classifier (no bias, zero initialisation) trained beside the layers on the
//! detached, normalised activities of those layers for the neutral input (every label input at
//! 0.1; the image itself under hybrid negatives).
//!
//! Reference details kept (each a config field): the threshold is the number of units for the
//! sum of squares (`threshold_per_unit = 1`); ReLU passes the gradient through unchanged in
//! training (`relu_full_grad`; it only matters for the peer normalisation term, since
//! `d relu(z)^2 / dz = 2 relu(z)` either way); peer normalisation keeps a running mean `r` of
//! each unit's activity on positive data (momentum 0.9, starting at 0.5) and adds
//! `0.03 * mean_j (mean(r) - r_j)^2`; the learning rate is cooled linearly to 0 over the second
//! half of the epochs (`cooldown`); training stops early when the validation accuracy has not
//! improved by more than `min_delta` for `patience` epochs and the best model (by validation
//! accuracy) is restored at the end (`early_stopping`). Weights are drawn from N(0, 1/out) with
//! zero bias before the first update (`init = "reference"`).
//!
//! UNCONFIRMED choices: the number of blur passes of the hybrid mask (`hybrid_blur_steps`, 6;
//! Hinton says "repeatedly"), the hybrid partner (the image `k` places further in the batch,
//! `k` drawn uniformly in `1..batch`), and training the classifier on the neutral input (Spyra's
//! classifier reads the positive rows, which carry the true label; Hinton's reads neutral ones).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::softplus;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Activation, InputSpec, Mlp, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::early_stopping::{self, Better, EarlyStopping};
use super::reference_init::{Init, mlp_layer, reinit};
use super::saved_state::{pack, unpack};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, OptimizerSetup, Target, TensorBatch};

/// How goodness is measured from a layer's activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goodness {
    /// `sum_j y_j^2` (Spyra, loeweX; Hinton's paper).
    #[default]
    Sum,
    /// `mean_j y_j^2` (mpezeshki/pytorch_forward_forward).
    Mean,
}

/// Where negative data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negatives {
    /// The same image with a wrong label (supervised FF).
    #[default]
    WrongLabel,
    /// Hybrid images of two digits under a blurred random mask, no labels (unsupervised FF).
    Hybrid,
}

/// How the trained network classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FfPredict {
    /// Goodness accumulated over the layers, for every candidate label.
    #[default]
    Goodness,
    /// A linear classifier on the activities of the neutral input.
    Classifier,
}

/// How the model's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FfInit {
    /// N(0, 1/out) weights and zero biases (`FF_MLP._init_layer_weights`).
    #[default]
    Reference,
    /// The model's own initialisation.
    Model,
}

/// Configuration of [`ForwardForward`] (`kind = "forward_forward"`). Defaults: Spyra's MNIST
/// configs (`configs/ff/mnist_mlp_3x1000_ADAMW.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardForwardConfig {
    /// G: sum or mean of squared activities.
    #[serde(default)]
    pub goodness: Goodness,
    /// theta per unit: theta = threshold_per_unit x units for `sum`, = threshold_per_unit for
    /// `mean` (reference: theta = number of units, i.e. 1 per unit).
    #[serde(default = "one")]
    pub threshold_per_unit: f64,
    #[serde(default)]
    pub negatives: Negatives,
    /// Value of the true label's input (reference 1.0).
    #[serde(default = "one")]
    pub label_on: f64,
    /// Value of the other label inputs (reference 0.0).
    #[serde(default)]
    pub label_off: f64,
    /// Value of every label input in the neutral sample (reference 0.1).
    #[serde(default = "neutral")]
    pub neutral: f64,
    /// Weight of the peer normalisation penalty (reference 0.03; 0 turns it off).
    #[serde(default = "peer_factor")]
    pub peer_normalization: f64,
    /// Momentum of the running mean of activities (reference 0.9).
    #[serde(default = "peer_momentum")]
    pub peer_momentum: f64,
    /// eps of the length normalisation `x / (sqrt(mean x^2) + eps)` (reference 1e-8).
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    /// ReLU passes the gradient through unchanged during training (reference `ReLU_full_grad`).
    #[serde(default = "yes")]
    pub relu_full_grad: bool,
    /// First hidden layer (0-based) whose goodness or activities the prediction uses (reference
    /// 1: all but the first; a one-layer network uses its only layer).
    #[serde(default = "one_usize")]
    pub goodness_from_layer: usize,
    #[serde(default)]
    pub predict: FfPredict,
    /// Learning-rate multiplier of the classifier (reference: 1.07e-2 / 4.76e-4 = 22.5).
    #[serde(default = "classifier_lr_scale")]
    pub classifier_lr_scale: f64,
    /// Weight decay of the classifier (reference 6.15e-3).
    #[serde(default = "classifier_weight_decay")]
    pub classifier_weight_decay: f64,
    /// Cool the learning rate linearly to 0 over the second half of the epochs (reference).
    #[serde(default = "yes")]
    pub cooldown: bool,
    /// Stop on the validation accuracy and restore the best model (reference).
    #[serde(default = "yes")]
    pub early_stopping: bool,
    /// Epochs without improvement before stopping (reference 20).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Smallest gain in validation accuracy that counts (reference 0.01 percentage points).
    #[serde(default = "min_delta")]
    pub min_delta: f64,
    /// Passes of the [1/4, 1/2, 1/4] blur over the random bits of a hybrid mask (UNCONFIRMED).
    #[serde(default = "blur_steps")]
    pub hybrid_blur_steps: usize,
    #[serde(default)]
    pub init: FfInit,
}

fn one() -> f64 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn neutral() -> f64 {
    0.1
}
fn peer_factor() -> f64 {
    0.03
}
fn peer_momentum() -> f64 {
    0.9
}
fn norm_eps() -> f64 {
    1e-8
}
fn yes() -> bool {
    true
}
fn classifier_lr_scale() -> f64 {
    1.0727571797342173e-2 / 4.759134394296565e-4
}
fn classifier_weight_decay() -> f64 {
    6.1527185182837065e-3
}
fn patience() -> u64 {
    20
}
fn min_delta() -> f64 {
    1e-4
}
fn blur_steps() -> usize {
    6
}

impl Default for ForwardForwardConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for ForwardForwardConfig {
    fn validate(&self) -> Result<(), LearnError> {
        let bad = |field: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("forward_forward.{field}"),
                reason,
            })
        };
        let positive = [
            ("threshold_per_unit", self.threshold_per_unit),
            ("norm_eps", self.norm_eps),
            ("classifier_lr_scale", self.classifier_lr_scale),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, format!("must be a finite number > 0, got {v}"));
            }
        }
        let nonnegative = [
            ("peer_normalization", self.peer_normalization),
            ("classifier_weight_decay", self.classifier_weight_decay),
        ];
        for (field, v) in nonnegative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("must be a finite number >= 0, got {v}"));
            }
        }
        for (field, v) in [
            ("label_on", self.label_on),
            ("label_off", self.label_off),
            ("neutral", self.neutral),
        ] {
            if !v.is_finite() {
                return bad(field, format!("must be finite, got {v}"));
            }
        }
        if !(0.0..1.0).contains(&self.peer_momentum) {
            return bad(
                "peer_momentum",
                format!("must be in [0, 1), got {}", self.peer_momentum),
            );
        }
        if !(1..=1000).contains(&self.hybrid_blur_steps) {
            return bad(
                "hybrid_blur_steps",
                format!("must be in 1..=1000, got {}", self.hybrid_blur_steps),
            );
        }
        if self.negatives == Negatives::Hybrid && self.predict == FfPredict::Goodness {
            return bad(
                "predict",
                "hybrid negatives carry no label, so the prediction needs predict = \"classifier\""
                    .into(),
            );
        }
        early_stopping::check("forward_forward", self.patience, self.min_delta)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(ForwardForward::new(self, context)?))
    }
}

impl ForwardForward {
    /// The rule for the model and task of `context`.
    pub fn new(config: &ForwardForwardConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let unsupported = |reason: String| LearnError::Unsupported {
            rule: "forward_forward".into(),
            reason,
        };
        context.require_classification("forward_forward")?;
        let Model::Mlp(mlp) = context.model else {
            return Err(unsupported("it trains the hidden layers of an mlp".into()));
        };
        if mlp.dropout().is_some() {
            return Err(unsupported(
                "Forward-Forward uses no dropout; set model.dropout = 0".into(),
            ));
        }
        let hidden = mlp.activations().len();
        if hidden == 0 {
            return Err(unsupported("the mlp has no hidden layer".into()));
        }
        let classes = context.io.output_width();
        let InputSpec::Real { shape } = &context.io.input else {
            return Err(unsupported("it needs real-valued inputs".into()));
        };
        let features: usize = shape.iter().product();
        if config.negatives == Negatives::WrongLabel && features < classes {
            return Err(unsupported(format!(
                "the label is written into the first {classes} inputs, and samples have {features}"
            )));
        }
        let image = match shape.as_slice() {
            [.., h, w] if config.negatives == Negatives::Hybrid => [*h, *w],
            _ if config.negatives == Negatives::Hybrid => {
                return Err(unsupported(format!(
                    "hybrid negatives need image samples [.., height, width], got {shape:?}"
                )));
            }
            _ => [1, features],
        };
        let widths: Vec<usize> = mlp
            .layers()
            .iter()
            .take(hidden)
            .map(|l| l.weight.dims()[1])
            .collect();
        let used = config.goodness_from_layer.min(hidden - 1)..hidden;
        let classifier_width: usize = widths[used.clone()].iter().sum();
        let classifier = Classifier {
            linear: LinearConfig::new(classifier_width, classes)
                .with_bias(false)
                .with_initializer(burn::nn::Initializer::Zeros)
                .init(context.device),
        };
        let classifier_setup = OptimizerSetup::plain(
            &context
                .optimizer
                .optimizer
                .with_weight_decay(config.classifier_weight_decay),
        );
        let steps_per_epoch = context.steps_per_epoch.max(1);
        Ok(ForwardForward {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            classifier_optimizer: classifier_setup.build()?,
            classifier: Some(classifier),
            template: context.model.clone(),
            best: None,
            classes,
            image,
            used,
            full_grad: widths
                .iter()
                .zip(mlp.activations())
                .map(|(_, a)| config.relu_full_grad && matches!(a, Activation::Relu(_)))
                .collect(),
            steps_per_epoch,
            total_epochs: context.total_steps.div_ceil(steps_per_epoch).max(1),
            progress: Progress {
                running_means: widths.iter().map(|&w| vec![0.5; w]).collect(),
                ..Progress::default()
            },
        })
    }
}

/// The linear read-out of the classifier prediction.
#[derive(Module, Debug)]
pub struct Classifier {
    linear: Linear,
}

/// Counters and running means, checkpointed with the rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Progress {
    steps: u64,
    /// Peer normalisation: running mean of each unit's activity on positive data, per layer.
    running_means: Vec<Vec<f32>>,
    stopping: EarlyStopping,
    stopped: bool,
    /// Whether `best` holds a model (saved as the `best_model` and `best_classifier` modules).
    has_best: bool,
}

/// The Forward-Forward rule.
pub struct ForwardForward {
    config: ForwardForwardConfig,
    optimizer: Optimizer,
    classifier_optimizer: Optimizer,
    /// Taken out during a step and put back after it.
    classifier: Option<Classifier>,
    /// A model of the right shape to restore the best model into.
    template: Model,
    /// The best model and classifier by validation accuracy.
    best: Option<(Model, Classifier)>,
    classes: usize,
    /// `[height, width]` of the images (hybrid masks).
    image: [usize; 2],
    /// The hidden layers whose goodness or activities predict.
    used: std::ops::Range<usize>,
    /// Per hidden layer: straight-through ReLU gradient in training.
    full_grad: Vec<bool>,
    steps_per_epoch: u64,
    total_epochs: u64,
    progress: Progress,
}

/// The goodness of each row of a layer's activities.
///
/// # Shapes
/// - activities: `[rows, units]`
/// - returns: `[rows]`
pub fn goodness(activities: Tensor<2>, kind: Goodness) -> Tensor<1> {
    let squares = activities.powi_scalar(2);
    let per_row = match kind {
        Goodness::Sum => squares.sum_dim(1),
        Goodness::Mean => squares.mean_dim(1),
    };
    per_row.squeeze_dim(1)
}

/// The layer loss: mean over rows of BCE-with-logits of `G - theta`, with target 1 for the
/// positive rows and 0 for the negative ones: `softplus(theta - G_pos)` and `softplus(G_neg -
/// theta)`.
///
/// # Shapes
/// - positive, negative: `[batch]` goodness
/// - returns: `[1]`
pub fn threshold_loss(positive: Tensor<1>, negative: Tensor<1>, theta: f64) -> Tensor<1> {
    let rows = (positive.dims()[0] + negative.dims()[0]) as f64;
    let pos = softplus(positive.neg().add_scalar(theta), 1.0).sum();
    let neg = softplus(negative.sub_scalar(theta), 1.0).sum();
    (pos + neg).div_scalar(rows)
}

/// Length normalisation `x / (sqrt(mean_j x_j^2) + eps)` of every row.
///
/// # Shapes
/// - x: `[rows, features]`
pub fn normalize(x: Tensor<2>, eps: f64) -> Tensor<2> {
    let rms = x.clone().powi_scalar(2).mean_dim(1).sqrt().add_scalar(eps);
    x / rms
}

/// Writes labels into the first `classes` inputs: `on` at the label's position, `off` elsewhere
/// (every position `neutral` when `labels` is `None`).
///
/// # Shapes
/// - x: `[batch, features]`, labels: `[batch]`
pub fn embed_label(
    x: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    classes: usize,
    on: f64,
    off: f64,
    neutral: f64,
) -> Tensor<2> {
    let [batch, features] = x.dims();
    let device = x.device();
    let patch = match labels {
        Some(y) => y.one_hot_fill::<2>(classes, on as f32, off as f32, -1).float(),
        None => Tensor::<2>::full([batch, classes], neutral, &device),
    };
    x.slice_assign([0..batch, 0..classes.min(features)], patch)
}

impl ForwardForward {
    fn classifier(&self) -> &Classifier {
        self.classifier
            .as_ref()
            .expect("the classifier is put back after every step")
    }

    fn theta(&self, units: usize) -> f64 {
        match self.config.goodness {
            Goodness::Sum => self.config.threshold_per_unit * units as f64,
            Goodness::Mean => self.config.threshold_per_unit,
        }
    }

    /// The learning-rate factor of the reference's linear cool-down at `step`: 1 in the first
    /// half of the epochs, `2 (1 + E - e) / E` in epoch `e` (1-based) of `E` after it.
    fn cooldown(&self, step: u64) -> f64 {
        if !self.config.cooldown {
            return 1.0;
        }
        let total = self.total_epochs;
        let epoch = step / self.steps_per_epoch + 1;
        if epoch > total / 2 {
            (2.0 * (1 + total).saturating_sub(epoch) as f64 / total as f64).max(1e-9)
        } else {
            1.0
        }
    }

    /// The training pass over positive rows `0..rows` and negative rows `rows..2 rows` of
    /// `stacked`: per hidden layer its threshold loss and peer-normalisation penalty (whose
    /// running means it updates), and its activities (detached). Each layer reads the previous
    /// layer's output length-normalised and, when `detach` is set (always, in training),
    /// detached: the tests turn it off to show that a leak would be seen.
    ///
    /// # Shapes
    /// - stacked: `[2 rows, features]`
    fn layer_losses(
        &mut self,
        mlp: &Mlp,
        stacked: Tensor<2>,
        rows: usize,
        detach: bool,
    ) -> (Vec<(Tensor<1>, Option<Tensor<1>>)>, Vec<Tensor<2>>) {
        let c = self.config.clone();
        let device = stacked.device();
        let mut z = normalize(stacked, c.norm_eps);
        let mut losses = Vec::new();
        let mut activities = Vec::new();
        for (l, (layer, act)) in mlp.layers().iter().zip(mlp.activations()).enumerate() {
            let pre = layer.forward(z);
            let y = if self.full_grad[l] {
                // ReLU forward, identity backward.
                let relu = act.forward(pre.clone());
                pre.clone() - pre.detach() + relu.detach()
            } else {
                act.forward(pre)
            };
            let [_, units] = y.dims();
            let g = goodness(y.clone(), c.goodness);
            let loss = threshold_loss(
                g.clone().narrow(0, 0, rows),
                g.narrow(0, rows, rows),
                self.theta(units),
            );
            let peer = (c.peer_normalization > 0.0).then(|| {
                let old = Tensor::<1>::from_data(
                    TensorData::new(self.progress.running_means[l].clone(), [units]),
                    &device,
                );
                let batch_mean = y.clone().slice([0..rows, 0..units]).mean_dim(0).squeeze_dim(0);
                let running = old.mul_scalar(c.peer_momentum)
                    + batch_mean.mul_scalar(1.0 - c.peer_momentum);
                self.progress.running_means[l] = running
                    .clone()
                    .detach()
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 data");
                (running.clone().mean() - running).powi_scalar(2).mean()
            });
            losses.push((loss, peer));
            let next = if detach { y.clone().detach() } else { y.clone() };
            z = normalize(next, c.norm_eps);
            activities.push(y.detach());
        }
        (losses, activities)
    }

    /// The hidden layers' activities in inference (each layer's input length-normalised).
    ///
    /// # Shapes
    /// - x: `[rows, features]`
    /// - returns: one `[rows, width_l]` per hidden layer
    fn activities(&self, mlp: &Mlp, x: Tensor<2>) -> Vec<Tensor<2>> {
        let eps = self.config.norm_eps;
        let mut z = normalize(x, eps);
        let mut out = Vec::with_capacity(mlp.activations().len());
        for (layer, act) in mlp.layers().iter().zip(mlp.activations()) {
            let y = act.forward(layer.forward(z));
            z = normalize(y.clone(), eps);
            out.push(y);
        }
        out
    }

    /// The classifier's input: the normalised activities of the used layers, side by side.
    fn classifier_input(&self, activities: &[Tensor<2>]) -> Tensor<2> {
        let eps = self.config.norm_eps;
        Tensor::cat(
            activities[self.used.clone()]
                .iter()
                .map(|y| normalize(y.clone().detach(), eps))
                .collect(),
            1,
        )
    }

    /// The neutral input for the classifier: every label input at `neutral`, or the image
    /// itself when the inputs carry no label.
    fn neutral_input(&self, x: Tensor<2>) -> Tensor<2> {
        match self.config.negatives {
            Negatives::Hybrid => x,
            Negatives::WrongLabel => embed_label(
                x,
                None,
                self.classes,
                self.config.label_on,
                self.config.label_off,
                self.config.neutral,
            ),
        }
    }

    /// Hybrid negatives: `m * x + (1 - m) * x_partner` with a blurred, thresholded random mask.
    fn hybrids(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, features] = x.dims();
        let device = x.device();
        let [h, w] = self.image;
        let bits: Vec<f32> = Tensor::<2>::random([batch, h * w], Distribution::Bernoulli(0.5), &device)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let mask = blurred_mask(&bits, batch, h, w, self.config.hybrid_blur_steps);
        let channels = features / (h * w);
        let mask: Vec<f32> = mask
            .chunks(h * w)
            .flat_map(|m| std::iter::repeat_n(m, channels).flatten().copied())
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, features]), &device);
        let shift = if batch > 1 {
            let u: f32 = Tensor::<1>::random([1], Distribution::Default, &device)
                .into_scalar();
            1 + ((u as f64 * (batch - 1) as f64) as usize).min(batch - 2)
        } else {
            0
        };
        let order: Vec<i64> = (0..batch).map(|i| ((i + shift) % batch) as i64).collect();
        let partner = x.clone().select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(order, [batch]), &device),
        );
        mask.clone() * x + mask.neg().add_scalar(1.0) * partner
    }
}

/// Masks for hybrid images: each `h x w` image of random bits blurred `steps` times with the
/// filter [1/4, 1/2, 1/4] along rows and along columns (zero beyond the border), then 1 where the
/// result exceeds 1/2 and 0 elsewhere.
pub fn blurred_mask(bits: &[f32], batch: usize, h: usize, w: usize, steps: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(bits.len());
    for image in bits.chunks(h * w).take(batch) {
        let mut m: Vec<f32> = image.to_vec();
        let mut tmp = vec![0f32; h * w];
        for _ in 0..steps {
            for r in 0..h {
                for c in 0..w {
                    let left = if c > 0 { m[r * w + c - 1] } else { 0.0 };
                    let right = if c + 1 < w { m[r * w + c + 1] } else { 0.0 };
                    tmp[r * w + c] = 0.25 * left + 0.5 * m[r * w + c] + 0.25 * right;
                }
            }
            for r in 0..h {
                for c in 0..w {
                    let up = if r > 0 { tmp[(r - 1) * w + c] } else { 0.0 };
                    let down = if r + 1 < h { tmp[(r + 1) * w + c] } else { 0.0 };
                    m[r * w + c] = 0.25 * up + 0.5 * tmp[r * w + c] + 0.25 * down;
                }
            }
        }
        out.extend(m.iter().map(|&v| if v > 0.5 { 1.0 } else { 0.0 }));
    }
    out
}

impl LearningRule<Model> for ForwardForward {
    /// The model's parameters and the linear read-out of the classifier prediction.
    fn trained_params(&self, model_params: usize) -> usize {
        model_params + nonlin_nn::weights::trainable_params(self.classifier())
    }

    fn name(&self) -> &str {
        "forward_forward"
    }

    fn step(
        &mut self,
        model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        let labels = batch.labels("forward_forward")?;
        let x = batch.features("forward_forward")?;
        let model = if self.progress.steps == 0 && self.config.init == FfInit::Reference {
            // FF_MLP: weights N(0, 1/out) (std 1/sqrt(weight.shape[0]) of PyTorch's [out, in]).
            reinit(model, &|path, shape| match mlp_layer(path)? {
                (_, true) => Some(Init::Normal(1.0 / (shape[1] as f64).sqrt())),
                (_, false) => Some(Init::Zeros),
            })
        } else {
            model
        };
        let Model::Mlp(mlp) = &model else {
            unreachable!("checked when the rule was built")
        };
        let device = x.device();
        let [rows, _] = x.dims();
        let c = self.config.clone();
        let (positive, negative) = match c.negatives {
            Negatives::WrongLabel => {
                // A wrong label: y + k mod C with k uniform in 1..C (never the true label).
                let u = Tensor::<1>::random([rows], Distribution::Default, &device);
                let offset = (u.mul_scalar((self.classes - 1) as f64).floor().int())
                    .clamp(0, self.classes as i64 - 2)
                    .add_scalar(1);
                let wrong = (labels.clone() + offset).remainder_scalar(self.classes as i64);
                let embed = |y| embed_label(x.clone(), Some(y), self.classes, c.label_on, c.label_off, c.neutral);
                (embed(labels.clone()), embed(wrong))
            }
            Negatives::Hybrid => (x.clone(), self.hybrids(x.clone())),
        };
        let (losses, activities) =
            self.layer_losses(mlp, Tensor::cat(vec![positive, negative], 0), rows, true);
        let mut metrics = Metrics::new();
        for (l, (ff, _)) in losses.iter().enumerate() {
            metrics.insert(format!("loss_layer{l}"), ff.clone().into_scalar::<f64>());
        }
        let total = losses
            .into_iter()
            .map(|(ff, peer)| match peer {
                Some(peer) => ff + peer.mul_scalar(self.config.peer_normalization),
                None => ff,
            })
            .reduce(|a, b| a + b);
        let total = total.expect("at least one hidden layer");
        metrics.insert("loss".into(), total.clone().into_scalar::<f64>());
        // The classifier reads this pass's activities (before the layers' update).
        let features = (c.predict == FfPredict::Classifier).then(|| match c.negatives {
            // The positive rows are the images themselves.
            Negatives::Hybrid => self.classifier_input(
                &activities
                    .iter()
                    .map(|y| y.clone().narrow(0, 0, rows))
                    .collect::<Vec<_>>(),
            ),
            Negatives::WrongLabel => {
                self.classifier_input(&self.activities(mlp, self.neutral_input(x)))
            }
        });
        let lr = lr * self.cooldown(self.progress.steps);
        let mut grads = total.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let (model, _) = self.optimizer.step(lr, model, model_grads);
        if let Some(features) = features {
            let classifier = self.classifier.take().expect("classifier present");
            let logits = classifier.linear.forward(features.detach());
            let loss = Target::Classes(labels).loss(logits)?;
            metrics.insert("classifier_loss".into(), loss.clone().into_scalar::<f64>());
            let mut grads = loss.backward();
            let grads = GradientsParams::from_module(&mut grads, &classifier);
            let (classifier, _) =
                self.classifier_optimizer
                    .step(lr * c.classifier_lr_scale, classifier, grads);
            self.classifier = Some(classifier);
        }
        self.progress.steps += 1;
        Ok((model, metrics))
    }

    /// Early stopping on the validation accuracy; the best model comes back at the end.
    fn end_epoch(&mut self, model: Model, end: EpochEnd<'_, '_>) -> Result<Model, LearnError> {
        if !self.config.early_stopping || self.progress.stopped {
            return Ok(model);
        }
        let Some(validate) = end.validate else {
            return Ok(model);
        };
        let valid = model.valid();
        let mut predict = |input: &ModelInput| self.predict(&valid, input);
        let accuracy = validate(&mut predict)?
            .get("accuracy")
            .copied()
            .unwrap_or(f64::NAN);
        if self
            .progress
            .stopping
            .observe(accuracy, Better::Higher, self.config.min_delta)
        {
            self.best = Some((model.clone(), self.classifier().clone()));
            self.progress.has_best = true;
        }
        self.progress.stopped = self.progress.stopping.should_stop(self.config.patience);
        if (self.progress.stopped || end.last)
            && let Some((best, classifier)) = self.best.clone()
        {
            self.classifier = Some(classifier);
            return Ok(best);
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.stopped
    }

    /// The goodness summed over the used layers for every candidate label (`[batch, classes]`),
    /// or the classifier's logits.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let Model::Mlp(mlp) = model else {
            unreachable!("checked when the rule was built")
        };
        let x = input.real("forward_forward")?;
        let c = &self.config;
        if c.predict == FfPredict::Classifier {
            let activities = self.activities(mlp, self.neutral_input(x));
            let classifier = self.classifier().valid();
            return Ok(classifier.linear.forward(self.classifier_input(&activities)));
        }
        let [rows, _] = x.dims();
        let device = x.device();
        let mut columns = Vec::with_capacity(self.classes);
        for class in 0..self.classes {
            let labels = Tensor::<1, Int>::full([rows], class as i64, &device);
            let embedded = embed_label(x.clone(), Some(labels), self.classes, c.label_on, c.label_off, c.neutral);
            let activities = self.activities(mlp, embedded);
            let total = activities[self.used.clone()]
                .iter()
                .map(|y| goodness(y.clone(), c.goodness))
                .reduce(|a, b| a + b)
                .expect("at least one used layer");
            columns.push(total.unsqueeze_dim::<2>(1));
        }
        Ok(Tensor::cat(columns, 1))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let mut modules = vec![ModuleState::capture("classifier", self.classifier())?];
        if let Some((model, classifier)) = &self.best {
            modules.push(ModuleState::capture("best_model", model)?);
            modules.push(ModuleState::capture("best_classifier", classifier)?);
        }
        Ok(RuleState {
            bytes: pack(
                &self.progress,
                &[
                    self.optimizer.to_bytes()?,
                    self.classifier_optimizer.to_bytes()?,
                ],
            )?,
            modules,
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, blobs): (Progress, _) = unpack("forward_forward", &state.bytes)?;
        let [model, classifier] = blobs.as_slice() else {
            return Err(LearnError::State {
                rule: "forward_forward".into(),
                reason: format!("expected 2 optimizer states, found {}", blobs.len()),
            });
        };
        self.optimizer.load_bytes(model)?;
        self.classifier_optimizer.load_bytes(classifier)?;
        let fresh = self.classifier.take().expect("classifier present");
        self.classifier = Some(
            state
                .module("forward_forward", "classifier")?
                .restore(fresh.clone())?,
        );
        self.best = if progress.has_best {
            Some((
                state
                    .module("forward_forward", "best_model")?
                    .restore(self.template.clone())?,
                state
                    .module("forward_forward", "best_classifier")?
                    .restore(fresh)?,
            ))
        } else {
            None
        };
        self.progress = progress;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::super::fixtures;
    use super::*;

    /// Goodness and the threshold loss on a hand-computed case.
    #[test]
    fn goodness_and_threshold_loss_by_hand() {
        let device = Device::flex();
        // activities (after ReLU) of two positive rows and two negative rows, 2 units each
        let y = Tensor::<2>::from_floats([[1.0, 2.0], [0.0, 0.5], [3.0, 0.0], [0.5, 0.5]], &device);
        // sum: 1 + 4 = 5, 0 + 0.25 = 0.25, 9, 0.25 + 0.25 = 0.5; mean: halves of those
        let g: Vec<f32> = goodness(y.clone(), Goodness::Sum).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, vec![5.0, 0.25, 9.0, 0.5]);
        let m: Vec<f32> = goodness(y.clone(), Goodness::Mean).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(m, vec![2.5, 0.125, 4.5, 0.25]);
        // theta = 2 (units): positive logits G - theta = 3, -1.75 -> softplus(-3) = 0.048587,
        // softplus(1.75) = ln(1 + e^1.75) = 1.910224; negative logits 7, -1.5 -> softplus(7) =
        // 7.000911, softplus(-1.5) = 0.201413; mean over 4 rows = 9.161136 / 4 = 2.290284
        let g = goodness(y, Goodness::Sum);
        let loss = threshold_loss(g.clone().narrow(0, 0, 2), g.narrow(0, 2, 2), 2.0)
            .into_scalar::<f32>();
        assert!((loss - 2.290284).abs() < 1e-5, "{loss}");
    }

    #[test]
    fn normalisation_and_label_embedding() {
        let device = Device::flex();
        // row (3, 4): mean square 12.5, rms 3.535534 -> (0.848528, 1.131371)
        let x = Tensor::<2>::from_floats([[3.0, 4.0]], &device);
        let n: Vec<f32> = normalize(x, 1e-8).into_data().try_to_vec::<f32>().unwrap();
        assert!((n[0] - 0.848528).abs() < 1e-5 && (n[1] - 1.131371).abs() < 1e-5, "{n:?}");
        let x = Tensor::<2>::from_floats([[9.0, 9.0, 9.0, 7.0], [9.0, 9.0, 9.0, 8.0]], &device);
        let y = Tensor::<1, Int>::from_ints([2, 0], &device);
        let e: Vec<f32> = embed_label(x.clone(), Some(y), 3, 1.0, 0.0, 0.1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(e, vec![0.0, 0.0, 1.0, 7.0, 1.0, 0.0, 0.0, 8.0]);
        let e: Vec<f32> = embed_label(x, None, 3, 1.0, 0.0, 0.1).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(e, vec![0.1, 0.1, 0.1, 7.0, 0.1, 0.1, 0.1, 8.0]);
    }

    #[test]
    fn hybrid_masks_are_blurred_bits() {
        // One blur pass on a 1x3 row of bits (1, 0, 1): rows give (0.5, 0.5, 0.5); the column
        // pass (one row, zero border) halves them: (0.25, 0.25, 0.25) -> mask 0, 0, 0.
        assert_eq!(blurred_mask(&[1.0, 0.0, 1.0], 1, 1, 3, 1), vec![0.0, 0.0, 0.0]);
        // A 3x3 block of ones blurred once: the centre keeps 1 * 1 = 1... the centre of the
        // row pass is 1, the column pass keeps 1 -> above 1/2; a corner gets 0.75 * 0.75 =
        // 0.5625 -> above 1/2 as well; all ones stay ones.
        assert_eq!(blurred_mask(&[1.0; 9], 1, 3, 3, 1), vec![1.0; 9]);
        // Many passes over random bits give large connected regions: neither all 0 nor all 1.
        let bits: Vec<f32> = (0..64).map(|i| ((i * 7 + i / 8) % 3 == 0) as u8 as f32).collect();
        let m = blurred_mask(&bits, 1, 8, 8, 6);
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
    }

    fn ff_rule(activation: &str, hidden: &str, seed: u64) -> (ForwardForward, Model, TensorBatch) {
        let device = fixtures::device(seed);
        let (model, io) = fixtures::model(
            &format!("kind = \"mlp\"\nhidden = {hidden}\nactivation = \"{activation}\""),
            vec![12],
            4,
            &device,
        );
        let setup = OptimizerSetup::default();
        let config = ForwardForwardConfig {
            early_stopping: false,
            cooldown: false,
            ..ForwardForwardConfig::default()
        };
        let rule = ForwardForward::new(
            &config,
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        (rule, model, fixtures::batch(32, 12, 4, &device))
    }

    /// Each layer's loss reaches only its own layer's parameters; without the detach between
    /// layers the same check sees the leak (the negative control).
    #[test]
    fn no_gradient_crosses_layers() {
        let (mut rule, model, batch) = ff_rule("relu", "[8, 8, 8]", 5);
        let Model::Mlp(mlp) = &model else { unreachable!() };
        let x = batch.features("test").unwrap();
        let stacked = Tensor::cat(vec![x.clone(), x.flip([1])], 0);
        for detach in [true, false] {
            for l in 0..3 {
                // A fresh pass per loss: Burn's backward consumes the graph.
                let (losses, _) = rule.layer_losses(mlp, stacked.clone(), 32, detach);
                let (ff, peer) = losses.into_iter().nth(l).unwrap();
                let mut grads = (ff + peer.unwrap()).backward();
                for (k, layer) in mlp.layers().iter().enumerate().take(3) {
                    let found = fixtures::with_gradient(&mut grads, layer);
                    let expected = if k == l || (!detach && k < l) { 2 } else { 0 };
                    assert_eq!(found, expected, "detach {detach}: loss of layer {l}, layer {k}");
                }
            }
        }
    }

    /// Forward-Forward trains an MLP with every registered activation: the loss falls over 40
    /// steps on a fixed batch and the prediction is finite.
    #[test]
    fn works_with_every_registered_activation() {
        for name in Activation::NAMES {
            let (mut rule, mut model, batch) = ff_rule(name, "[16, 16]", 6);
            let mut first = None;
            let mut last = 0.0;
            for _ in 0..40 {
                let (next, metrics) = rule.step(model, &batch, 3e-3).unwrap();
                model = next;
                last = metrics["loss"];
                assert!(last.is_finite(), "{name}: {metrics:?}");
                first.get_or_insert(last);
            }
            assert!(last < first.unwrap(), "{name}: loss {first:?} -> {last}");
            let out = rule.predict(&model.valid(), &batch.input).unwrap();
            assert_eq!(out.dims(), [32, 4]);
            let values: Vec<f32> = out.into_data().try_to_vec().unwrap();
            assert!(values.iter().all(|v| v.is_finite()), "{name}");
        }
    }

    /// The prediction is the goodness summed over the layers from `goodness_from_layer` on,
    /// for each candidate label: checked against the activities computed by hand.
    #[test]
    fn prediction_accumulates_goodness_over_labels() {
        let (rule, model, batch) = ff_rule("relu", "[8, 8, 8]", 7);
        let Model::Mlp(mlp) = &model.valid() else { unreachable!() };
        let x = batch.features("test").unwrap().inner();
        let out = rule.predict(&model.valid(), &ModelInput::Real(x.clone())).unwrap();
        for class in [0, 3] {
            let labels = Tensor::<1, Int>::full([32], class, &x.device());
            let input = embed_label(x.clone(), Some(labels), 4, 1.0, 0.0, 0.1);
            let acts = rule.activities(mlp, input);
            // layers 1 and 2 (the first is skipped)
            let g = goodness(acts[1].clone(), Goodness::Sum) + goodness(acts[2].clone(), Goodness::Sum);
            let column = out.clone().slice([0..32, class as usize..class as usize + 1]).squeeze_dim::<1>(1);
            g.into_data().assert_approx_eq::<f32>(&column.into_data(), Default::default());
        }
    }

    #[test]
    fn cooldown_follows_the_reference_schedule() {
        let (mut rule, _, _) = ff_rule("relu", "[8]", 1);
        rule.config.cooldown = true;
        rule.total_epochs = 10;
        rule.steps_per_epoch = 3;
        // epochs 1-5 (steps 0..15): 1; epoch 6: 2 (1 + 10 - 6) / 10 = 1.0; epoch 7: 0.8; epoch
        // 10: 2 * 1 / 10 = 0.2
        let factors: Vec<f64> = [0, 14, 15, 18, 27, 29].iter().map(|&s| rule.cooldown(s)).collect();
        let expected = [1.0, 1.0, 1.0, 0.8, 0.2, 0.2];
        for (f, e) in factors.iter().zip(expected) {
            assert!((f - e).abs() < 1e-12, "{factors:?}");
        }
    }

    /// Early stopping: the best validation accuracy's model comes back when patience runs out.
    #[test]
    fn early_stopping_restores_the_best_model() {
        let (mut rule, mut model, batch) = ff_rule("relu", "[8, 8]", 8);
        rule.config.early_stopping = true;
        rule.config.patience = 2;
        let mut validate = fixtures::scripted(
            vec![(0.0, 0.5), (0.0, 0.7), (0.0, 0.6), (0.0, 0.69)],
            batch.input.clone(),
        );
        let mut snapshots = Vec::new();
        for epoch in 1..=4 {
            let (next, _) = rule.step(model, &batch, 1e-2).unwrap();
            snapshots.push(next.clone());
            let end = EpochEnd {
                epochs_done: epoch,
                last: false,
                validate: Some(&mut validate),
            };
            model = rule.end_epoch(next, end).unwrap();
            assert_eq!(rule.finished(), epoch == 4, "epoch {epoch}");
        }
        // accuracy 0.7 after epoch 2 is the best: its weights are the result
        let w = |m: &Model| {
            let Model::Mlp(mlp) = m else { unreachable!() };
            mlp.layers()[0].weight.val().into_data()
        };
        assert_eq!(w(&model), w(&snapshots[1]));
        assert_ne!(w(&model), w(&snapshots[3]));
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = ForwardForwardConfig::default();
        ok.validate().unwrap();
        type Change = Box<dyn Fn(&mut ForwardForwardConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("threshold_per_unit", Box::new(|c| c.threshold_per_unit = 0.0)),
            ("threshold_per_unit", Box::new(|c| c.threshold_per_unit = -1.0)),
            ("threshold_per_unit", Box::new(|c| c.threshold_per_unit = f64::NAN)),
            ("threshold_per_unit", Box::new(|c| c.threshold_per_unit = f64::INFINITY)),
            ("norm_eps", Box::new(|c| c.norm_eps = 0.0)),
            ("classifier_lr_scale", Box::new(|c| c.classifier_lr_scale = -2.0)),
            ("peer_normalization", Box::new(|c| c.peer_normalization = -0.1)),
            ("peer_normalization", Box::new(|c| c.peer_normalization = f64::NAN)),
            ("classifier_weight_decay", Box::new(|c| c.classifier_weight_decay = f64::INFINITY)),
            ("label_on", Box::new(|c| c.label_on = f64::NAN)),
            ("neutral", Box::new(|c| c.neutral = f64::INFINITY)),
            ("peer_momentum", Box::new(|c| c.peer_momentum = 1.0)),
            ("peer_momentum", Box::new(|c| c.peer_momentum = -0.5)),
            ("hybrid_blur_steps", Box::new(|c| c.hybrid_blur_steps = 0)),
            ("hybrid_blur_steps", Box::new(|c| c.hybrid_blur_steps = 1_000_000)),
            ("patience", Box::new(|c| c.patience = 0)),
            ("min_delta", Box::new(|c| c.min_delta = -1.0)),
            ("predict", Box::new(|c| c.negatives = Negatives::Hybrid)),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(toml::from_str::<ForwardForwardConfig>("threshold = 2").is_err());
    }
}
