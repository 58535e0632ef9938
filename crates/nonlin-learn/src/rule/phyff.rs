//! Model-free Forward-Forward for physical networks (PhyFF; Momeni, Rahmani, Malléjac, del Hougne,
//! Fleury, "Backpropagation-free Training of Deep Physical Neural Networks", arXiv 2304.11042).
//!
//! Layer `l` is a black-box [`PhysicalLayer`] `P_l` followed by a trainable digital map:
//!
//! `o_l = P_l(x_hat_{l-1})` (measured),  `h_l = relu(W_l o_l + b_l)`,
//! `G_l = sum_j h_{l,j}^2`,  `L_l = softplus(theta - G_pos) + softplus(G_neg - theta)`,
//! `x_hat_l = h_l / (sqrt(mean_j h_{l,j}^2) + eps)`,
//!
//! positive data = the image with its label written into the first `C` inputs, negative data =
//! the same image with a uniformly drawn wrong label (Hinton's FF, see `forward_forward`). Each
//! loss depends on the digital parameters only through measured outputs, so the update needs no
//! derivative of `P_l` and no model of it: the measurements are host data, and no gradient can
//! reach the physics or cross a layer. Prediction: the goodness summed over the layers for every
//! candidate label (argmax = the class), each evaluation a fresh noisy measurement.
//!
//! The network is the rule's own (`physical_layers` pairs of `P_l: -> physical_width` and
//! `W_l: physical_width -> digital_width`); the experiment's model is not used, so any model may be
//! named. The digital layers are checkpointed as the rule's module `digital`, the physics (with its
//! drift and its noise generator's state) in the rule's bytes.
//!
//! UNCONFIRMED choices (notes §3.1; config fields): the digital map after the physics (the only
//! placement that is model-free), ReLU on it, the threshold `theta = threshold_per_unit * units`
//! (Hinton's), the optics-like physics of [`PhysicalLayer`], the label on 1 / off 0.
//!
//! Two further settings serve the notes' comparisons (§3.3):
//! - `training = "digital_twin"`: the baseline (c), the same layers trained end to end by backprop
//!   through the exact physics (an ideal digital twin: [`PhysicalLayer::exact`], noise-free, with
//!   the true `A`), on the raw image (no label written in), with a linear read-out
//!   `digital_width -> classes` and cross-entropy; the normalisation between layers is kept (not
//!   detached). It predicts by running the images through the real, noisy physics and the
//!   read-out, as physics-aware training deploys. (UNCONFIRMED: the notes do not say where the
//!   twin's read-out sits; the last digital layer's activities are the natural input.)
//! - `perturb_after_epochs = E`: the drift test. Right after the last update of epoch `E` (so the
//!   evaluation at the end of that epoch sees the changed system) every physical layer changes once, `A <- A + perturb_scale * noise` (notes: 0.1), and training goes
//!   on from forward measurements of the changed system; an experiment compares the accuracy after
//!   a short re-training with the undisturbed run.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::relu;
use burn::tensor::{Int, Tensor, TensorData};
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{InputSpec, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::forward_forward::{Goodness, embed_label, goodness, normalize, threshold_loss};
use super::physical_layer::PhysicalLayer;
use super::saved_state::{pack, unpack_one};
use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, TensorBatch};

/// Configuration of [`Phyff`] (`kind = "phyff"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhyffConfig {
    /// Number of physical + digital layer pairs (notes: 2).
    #[serde(default = "layers")]
    pub physical_layers: usize,
    /// Outputs of each physical layer (notes: 256).
    #[serde(default = "physical_width")]
    pub physical_width: usize,
    /// Outputs of each digital map W_l (notes: 128).
    #[serde(default = "digital_width")]
    pub digital_width: usize,
    /// sigma_noise, relative measurement noise of the physics (notes: 1%).
    #[serde(default = "noise")]
    pub noise: f64,
    /// Random-walk drift of A per measurement (0: a fixed system).
    #[serde(default)]
    pub drift: f64,
    /// Seed of the physical system (its matrices and noise), independent of the run's seed.
    #[serde(default)]
    pub physics_seed: u64,
    /// theta per unit of a digital layer (UNCONFIRMED: Hinton's 1).
    #[serde(default = "one")]
    pub threshold_per_unit: f64,
    /// eps of the length normalisation between layers.
    #[serde(default = "eps")]
    pub norm_eps: f64,
    /// How the digital maps are trained: model-free Forward-Forward, or the ideal-twin baseline.
    #[serde(default)]
    pub training: PhyffTraining,
    /// Epochs after which the physics changes once (the drift test); none by default.
    #[serde(default)]
    pub perturb_after_epochs: Option<u64>,
    /// s of the one-time change `A <- A + s * noise` (notes: 0.1).
    #[serde(default = "perturb_scale")]
    pub perturb_scale: f64,
}

/// How [`Phyff`] trains its digital maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhyffTraining {
    /// Model-free: goodness threshold losses on measured outputs (the paper's rule).
    #[default]
    ForwardForward,
    /// Baseline (c): backprop through the exact physics, cross-entropy on a linear read-out.
    DigitalTwin,
}

fn layers() -> usize {
    2
}
fn physical_width() -> usize {
    256
}
fn digital_width() -> usize {
    128
}
fn noise() -> f64 {
    0.01
}
fn one() -> f64 {
    1.0
}
fn eps() -> f64 {
    1e-8
}
fn perturb_scale() -> f64 {
    0.1
}

impl Default for PhyffConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for PhyffConfig {
    fn validate(&self) -> Result<(), LearnError> {
        let bad = |field: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("phyff.{field}"),
                reason,
            })
        };
        for (field, v) in [
            ("physical_layers", self.physical_layers),
            ("physical_width", self.physical_width),
            ("digital_width", self.digital_width),
        ] {
            if !(1..=65_536).contains(&v) {
                return bad(field, format!("must be in 1..=65536, got {v}"));
            }
        }
        if self.physical_layers > 64 {
            return bad(
                "physical_layers",
                format!("must be at most 64, got {}", self.physical_layers),
            );
        }
        for (field, v) in [("noise", self.noise), ("drift", self.drift)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(field, format!("must be in [0, 1], got {v}"));
            }
        }
        if !(self.threshold_per_unit.is_finite()
            && self.threshold_per_unit > 0.0
            && self.threshold_per_unit <= 1e6)
        {
            return bad(
                "threshold_per_unit",
                format!("must be in (0, 1e6], got {}", self.threshold_per_unit),
            );
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0 && self.norm_eps <= 1.0) {
            return bad(
                "norm_eps",
                format!("must be in (0, 1], got {}", self.norm_eps),
            );
        }
        if !(self.perturb_scale.is_finite() && (0.0..=100.0).contains(&self.perturb_scale)) {
            return bad(
                "perturb_scale",
                format!("must be in [0, 100], got {}", self.perturb_scale),
            );
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(Phyff::new(self, context)?))
    }
}

/// The trainable digital maps `W_l` (and the digital twin's read-out).
#[derive(Module, Debug)]
pub struct Digital {
    layers: Vec<Linear>,
    readout: Option<Linear>,
}

/// Counters and the physical system, checkpointed with the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    steps: u64,
    /// Wrong-label generator state.
    rng: u64,
    physics: Vec<PhysicalLayer>,
}

/// The model-free Forward-Forward rule.
pub struct Phyff {
    config: PhyffConfig,
    optimizer: Optimizer,
    /// Taken out during a step and put back after it.
    digital: Option<Digital>,
    /// The physics, behind a lock because a prediction (`&self`) measures too.
    progress: std::sync::Mutex<Progress>,
    classes: usize,
    /// Updates per epoch, to place the drift test's change.
    steps_per_epoch: u64,
}

/// One physical + digital layer: measure `z` (host data, `[rows, inputs]`), then `relu(W o + b)`.
/// The measurement enters the graph as a fresh leaf: no gradient reaches `z` or the physics.
///
/// # Shapes
/// - z: `[rows, inputs]`
/// - returns: `[rows, digital_width]`
pub fn physical_forward(physics: &mut PhysicalLayer, digital: &Linear, z: Tensor<2>) -> Tensor<2> {
    let [rows, _] = z.dims();
    let device = z.device();
    let host: Vec<f32> = z
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32 data");
    let measured = physics.measure(&host, rows);
    let o = Tensor::<2>::from_data(
        TensorData::new(measured, [rows, physics.outputs()]),
        &device,
    );
    relu(digital.forward(o))
}

impl Phyff {
    /// The rule for the task of `context` (its model is not used).
    pub fn new(config: &PhyffConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let unsupported = |reason: String| LearnError::Unsupported {
            rule: "phyff".into(),
            reason,
        };
        context.require_classification("phyff")?;
        let InputSpec::Real { shape } = &context.io.input else {
            return Err(unsupported("it needs real-valued inputs".into()));
        };
        let features: usize = shape.iter().product();
        let classes = context.io.output_width();
        if features < classes {
            return Err(unsupported(format!(
                "the label is written into the first {classes} inputs, and samples have {features}"
            )));
        }
        let c = config;
        let mut physics = Vec::new();
        let mut layers = Vec::new();
        let mut inputs = features;
        for l in 0..c.physical_layers {
            physics.push(PhysicalLayer::random(
                inputs,
                c.physical_width,
                c.noise,
                c.drift,
                c.physics_seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(l as u64),
            ));
            layers.push(LinearConfig::new(c.physical_width, c.digital_width).init(context.device));
            inputs = c.digital_width;
        }
        let readout = (c.training == PhyffTraining::DigitalTwin)
            .then(|| LinearConfig::new(c.digital_width, classes).init(context.device));
        Ok(Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            digital: Some(Digital { layers, readout }),
            progress: std::sync::Mutex::new(Progress {
                steps: 0,
                rng: c.physics_seed ^ 0xFF_1AB,
                physics,
            }),
            classes,
            steps_per_epoch: context.steps_per_epoch.max(1),
        })
    }

    fn digital(&self) -> &Digital {
        self.digital
            .as_ref()
            .expect("the digital layers are put back after every step")
    }

    /// The digital layers' activities `h_l` for inputs `x` (length-normalised first).
    fn activities(
        &self,
        digital: &Digital,
        physics: &mut [PhysicalLayer],
        x: Tensor<2>,
    ) -> Vec<Tensor<2>> {
        let eps = self.config.norm_eps;
        let mut z = normalize(x, eps);
        let mut out = Vec::new();
        for (p, w) in physics.iter_mut().zip(&digital.layers) {
            let h = physical_forward(p, w, z);
            z = normalize(h.clone().detach(), eps);
            out.push(h);
        }
        out
    }

    /// A wrong label per row, `y + k mod C`, `k` uniform in `1..C`, from the rule's generator.
    fn wrong_labels(&self, labels: &Tensor<1, Int>, rng: &mut u64) -> Tensor<1, Int> {
        let y: Vec<i64> = labels
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec()
            .expect("int data");
        let c = self.classes as u64;
        let wrong: Vec<i64> = y
            .iter()
            .map(|&y| {
                *rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let k = 1 + (*rng >> 33) % (c - 1);
                ((y as u64 + k) % c) as i64
            })
            .collect();
        let n = wrong.len();
        Tensor::<1, Int>::from_data(TensorData::new(wrong, [n]), &labels.device())
    }
}

impl Phyff {
    /// The digital twin's logits: the layers run through the exact, noise-free physics, every
    /// operation differentiable (no detach between layers), then the read-out.
    ///
    /// # Shapes
    /// - x: `[rows, features]`
    /// - returns: `[rows, classes]`
    fn twin_logits(&self, digital: &Digital, physics: &[PhysicalLayer], x: Tensor<2>) -> Tensor<2> {
        let eps = self.config.norm_eps;
        let mut z = normalize(x, eps);
        let mut h = None;
        for (p, w) in physics.iter().zip(&digital.layers) {
            let out = relu(w.forward(p.exact(z)));
            z = normalize(out.clone(), eps);
            h = Some(out);
        }
        let readout = digital.readout.as_ref().expect("the twin has a read-out");
        readout.forward(h.expect("at least one layer"))
    }

    /// Baseline (c): one backprop update through the exact physics, cross-entropy on the read-out.
    fn twin_step(
        &mut self,
        model: Model,
        x: Tensor<2>,
        labels: Tensor<1, Int>,
        lr: f64,
        progress: Progress,
        mut metrics: Metrics,
    ) -> Result<(Model, Metrics), LearnError> {
        let digital = self.digital.take().expect("digital layers present");
        let logits = self.twin_logits(&digital, &progress.physics, x);
        let loss = crate::Target::Classes(labels).loss(logits)?;
        metrics.insert("loss".into(), loss.clone().into_scalar::<f64>());
        let mut grads = loss.backward();
        let grads = GradientsParams::from_module(&mut grads, &digital);
        let (digital, _) = self.optimizer.step(lr, digital, grads);
        self.digital = Some(digital);
        self.finish_step(progress, &mut metrics);
        Ok((model, metrics))
    }

    /// Counts the update and, when it ends epoch `perturb_after_epochs`, changes the physics once
    /// (so the evaluation at the end of that epoch already sees the changed system).
    fn finish_step(&self, mut progress: Progress, metrics: &mut Metrics) {
        progress.steps += 1;
        if let Some(epochs) = self.config.perturb_after_epochs
            && progress.steps == epochs * self.steps_per_epoch
        {
            for p in &mut progress.physics {
                p.perturb(self.config.perturb_scale);
            }
            metrics.insert("perturbed".into(), 1.0);
        }
        *self.progress.lock().expect("no poisoned lock") = progress;
    }
}

impl LearningRule<Model> for Phyff {
    fn name(&self) -> &str {
        "phyff"
    }

    fn step(
        &mut self,
        model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        let labels = batch.labels("phyff")?;
        let x = batch.features("phyff")?;
        let [rows, _] = x.dims();
        let mut progress = self.progress.lock().expect("no poisoned lock").clone();
        let mut metrics = Metrics::new();
        if self.config.training == PhyffTraining::DigitalTwin {
            return self.twin_step(model, x, labels, lr, progress, metrics);
        }
        let wrong = self.wrong_labels(&labels, &mut progress.rng);
        let embed = |y| embed_label(x.clone(), Some(y), self.classes, 1.0, 0.0, 0.0);
        let stacked = Tensor::cat(vec![embed(labels), embed(wrong)], 0);
        let digital = self.digital.take().expect("digital layers present");
        let activities = self.activities(&digital, &mut progress.physics, stacked);
        let mut total = None;
        for (l, h) in activities.into_iter().enumerate() {
            let theta = self.config.threshold_per_unit * h.dims()[1] as f64;
            let g = goodness(h, Goodness::Sum);
            let loss = threshold_loss(g.clone().narrow(0, 0, rows), g.narrow(0, rows, rows), theta);
            metrics.insert(format!("loss_layer{l}"), loss.clone().into_scalar::<f64>());
            total = Some(match total {
                None => loss,
                Some(t) => t + loss,
            });
        }
        let total: Tensor<1> = total.expect("at least one layer");
        metrics.insert("loss".into(), total.clone().into_scalar::<f64>());
        let mut grads = total.backward();
        let grads = GradientsParams::from_module(&mut grads, &digital);
        let (digital, _) = self.optimizer.step(lr, digital, grads);
        self.digital = Some(digital);
        self.finish_step(progress, &mut metrics);
        Ok((model, metrics))
    }

    /// The goodness summed over the layers for every candidate label: `[batch, classes]` (the
    /// digital twin: its read-out of the last layer, through the real physics).
    fn predict(&self, _model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let x = input.real("phyff")?;
        let [rows, _] = x.dims();
        let device = x.device();
        let digital = self.digital().valid();
        let mut progress = self.progress.lock().expect("no poisoned lock");
        if let Some(readout) = &digital.readout {
            let last = self
                .activities(&digital, &mut progress.physics, x)
                .pop()
                .expect("at least one layer");
            return Ok(readout.forward(last));
        }
        let mut columns = Vec::with_capacity(self.classes);
        for class in 0..self.classes {
            let labels = Tensor::<1, Int>::full([rows], class as i64, &device);
            let embedded = embed_label(x.clone(), Some(labels), self.classes, 1.0, 0.0, 0.0);
            let total = self
                .activities(&digital, &mut progress.physics, embedded)
                .into_iter()
                .map(|h| goodness(h, Goodness::Sum))
                .reduce(|a, b| a + b)
                .expect("at least one layer");
            columns.push(total.unsqueeze_dim::<2>(1));
        }
        Ok(Tensor::cat(columns, 1))
    }

    /// The digital maps (and the twin's read-out) only: the experiment's model is not used.
    fn trained_params(&self, _model_params: usize) -> usize {
        nonlin_nn::weights::trainable_params(self.digital())
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let progress = self.progress.lock().expect("no poisoned lock").clone();
        Ok(RuleState {
            bytes: pack(&progress, &[self.optimizer.to_bytes()?])?,
            modules: vec![ModuleState::capture("digital", self.digital())?],
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, optimizer): (Progress, _) = unpack_one("phyff", &state.bytes)?;
        self.optimizer.load_bytes(&optimizer)?;
        let fresh = self.digital.take().expect("digital layers present");
        self.digital = Some(state.module("phyff", "digital")?.restore(fresh)?);
        *self.progress.lock().expect("no poisoned lock") = progress;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::super::fixtures;
    use super::*;
    use crate::OptimizerSetup;

    /// No gradient crosses the physics: the input of a physical layer gets none, the digital
    /// weights after it do (the negative control: the same graph through a digital op instead of
    /// the measurement does pass a gradient to the input).
    #[test]
    fn no_gradient_through_the_physics() {
        let device = Device::flex().autodiff();
        let mut p = PhysicalLayer::random(3, 4, 0.01, 0.0, 0);
        let w = LinearConfig::new(4, 2).init(&device);
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5]], &device).require_grad();
        let h = physical_forward(&mut p, &w, x.clone() * 2.0);
        let grads = goodness(h, Goodness::Sum).sum().backward();
        assert!(
            x.grad(&grads).is_none(),
            "a gradient reached the physics' input"
        );
        assert!(
            w.weight.grad(&grads).is_some(),
            "the digital map must get a gradient"
        );
        // Negative control: a differentiable stand-in passes the gradient.
        let stand_in = LinearConfig::new(3, 4).init(&device);
        let h = relu(w.forward(stand_in.forward(x.clone() * 2.0)));
        let grads = goodness(h, Goodness::Sum).sum().backward();
        assert!(x.grad(&grads).is_some());
    }

    /// Goodness by hand through one noise-free layer: A = [[1 + i, 0], [0, 2]], x = (1, 3)
    /// -> o = (2, 36); W = [[1, 0], [-1, 0.5]] (rows = outputs), b = 0: h = relu(2, -2 + 18) =
    /// (2, 16), G = 4 + 256 = 260; theta = 2 (1 per unit): the threshold loss of this row as a
    /// positive and as a negative is (softplus(2 - 260) + softplus(260 - 2)) / 2 = (0 + 258) / 2
    /// = 129.
    #[test]
    fn goodness_by_hand() {
        let device = Device::flex();
        let mut p = PhysicalLayer::from_matrix(
            2,
            vec![1.0, 0.0, 0.0, 2.0],
            vec![1.0, 0.0, 0.0, 0.0],
            0.0,
            0,
        );
        let mut w = LinearConfig::new(2, 2).init(&device);
        // burn's Linear stores [in, out].
        w.weight = burn::module::Param::from_tensor(Tensor::<2>::from_floats(
            [[1.0, -1.0], [0.0, 0.5]],
            &device,
        ));
        w.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::zeros(
            [2],
            &device,
        )));
        let x = Tensor::<2>::from_floats([[1.0, 3.0]], &device);
        let h = physical_forward(&mut p, &w, x);
        let hv: Vec<f32> = h.clone().into_data().try_to_vec().unwrap();
        assert_eq!(hv, vec![2.0, 16.0]);
        let g = goodness(h, Goodness::Sum);
        assert_eq!(g.clone().into_scalar::<f64>(), 260.0);
        let loss = threshold_loss(g.clone(), g, 2.0).into_scalar::<f64>();
        assert!((loss - 129.0).abs() < 1e-4, "{loss}");
    }

    fn small(config: PhyffConfig, steps_per_epoch: u64) -> (Phyff, TensorBatch, Model) {
        let device = fixtures::device(5);
        let (model, io) = fixtures::model("kind = \"mlp\"\nhidden = []", vec![12], 3, &device);
        let setup = OptimizerSetup::default();
        let rule = Phyff::new(
            &config,
            &fixtures::context(&model, &io, &setup, &device, steps_per_epoch, 100),
        )
        .unwrap();
        (rule, fixtures::batch(6, 12, 3, &device), model)
    }

    fn twin_config() -> PhyffConfig {
        PhyffConfig {
            physical_width: 8,
            digital_width: 5,
            noise: 0.0,
            training: PhyffTraining::DigitalTwin,
            ..PhyffConfig::default()
        }
    }

    /// The digital twin back-propagates through the exact physics: the first digital layer gets a
    /// gradient from the read-out's cross-entropy, which reaches it only through the second
    /// physical layer; the model-free rule's loss of the last layer gives the first layer none
    /// (the negative control).
    #[test]
    fn digital_twin_passes_gradients_through_the_exact_physics() {
        let (rule, batch, _) = small(twin_config(), 1);
        let digital = rule.digital();
        let progress = rule.progress.lock().unwrap();
        let x = batch.features("test").unwrap();
        let logits = rule.twin_logits(digital, &progress.physics, x.clone());
        let grads = logits.sum().backward();
        let first = digital.layers[0].weight.grad(&grads).expect("a gradient through P_2");
        let size: f64 = first.abs().sum().into_scalar::<f64>();
        assert!(size > 0.0 && size.is_finite(), "{size}");
        // model-free: the last layer's activities from a measurement carry no gradient to W_1
        let mut physics = progress.physics.clone();
        let h = rule.activities(digital, &mut physics, x);
        let grads = goodness(h[1].clone(), Goodness::Sum).sum().backward();
        assert!(digital.layers[0].weight.grad(&grads).is_none());
    }

    /// The twin trains (its loss falls on a repeated batch) and predicts `[rows, classes]`
    /// through the real physics.
    #[test]
    fn digital_twin_trains_and_predicts() {
        let (mut rule, batch, mut model) = small(twin_config(), 1);
        let mut losses = Vec::new();
        for _ in 0..30 {
            let (m, metrics) = rule.step(model, &batch, 1e-2).unwrap();
            model = m;
            losses.push(metrics["loss"]);
        }
        assert!(losses[29] < 0.8 * losses[0], "{losses:?}");
        let out = rule.predict(&model, &batch.input).unwrap();
        assert_eq!(out.dims(), [6, 3]);
    }

    /// The drift test changes the physics exactly once, right after the last update of epoch
    /// `perturb_after_epochs` (here 1 epoch of 2 updates: after update 2).
    #[test]
    fn the_physics_changes_once_after_the_given_epochs() {
        let config = PhyffConfig {
            physical_width: 8,
            digital_width: 5,
            noise: 0.0,
            perturb_after_epochs: Some(1),
            ..PhyffConfig::default()
        };
        let (mut rule, batch, mut model) = small(config, 2);
        let probe = vec![0.3f32; 12];
        let read = |rule: &Phyff| rule.progress.lock().unwrap().physics[0].clone().measure(&probe, 1);
        let mut seen = vec![read(&rule)];
        let mut flags = Vec::new();
        for _ in 0..4 {
            let (m, metrics) = rule.step(model, &batch, 1e-3).unwrap();
            model = m;
            flags.push(metrics.contains_key("perturbed"));
            seen.push(read(&rule));
        }
        assert_eq!(flags, vec![false, true, false, false]);
        assert_eq!(seen[0], seen[1]);
        assert_ne!(seen[1], seen[2]);
        assert_eq!(seen[2], seen[3]);
        assert_eq!(seen[3], seen[4]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = PhyffConfig::default();
        ok.validate().unwrap();
        for (field, c) in [
            (
                "physical_layers",
                PhyffConfig {
                    physical_layers: 0,
                    ..ok.clone()
                },
            ),
            (
                "physical_layers",
                PhyffConfig {
                    physical_layers: 1000,
                    ..ok.clone()
                },
            ),
            (
                "physical_width",
                PhyffConfig {
                    physical_width: 0,
                    ..ok.clone()
                },
            ),
            (
                "physical_width",
                PhyffConfig {
                    physical_width: 10_000_000,
                    ..ok.clone()
                },
            ),
            (
                "digital_width",
                PhyffConfig {
                    digital_width: 0,
                    ..ok.clone()
                },
            ),
            (
                "noise",
                PhyffConfig {
                    noise: -0.1,
                    ..ok.clone()
                },
            ),
            (
                "noise",
                PhyffConfig {
                    noise: f64::NAN,
                    ..ok.clone()
                },
            ),
            (
                "noise",
                PhyffConfig {
                    noise: 1e9,
                    ..ok.clone()
                },
            ),
            (
                "drift",
                PhyffConfig {
                    drift: -1.0,
                    ..ok.clone()
                },
            ),
            (
                "drift",
                PhyffConfig {
                    drift: f64::INFINITY,
                    ..ok.clone()
                },
            ),
            (
                "threshold_per_unit",
                PhyffConfig {
                    threshold_per_unit: 0.0,
                    ..ok.clone()
                },
            ),
            (
                "threshold_per_unit",
                PhyffConfig {
                    threshold_per_unit: -1.0,
                    ..ok.clone()
                },
            ),
            (
                "threshold_per_unit",
                PhyffConfig {
                    threshold_per_unit: f64::NAN,
                    ..ok.clone()
                },
            ),
            (
                "threshold_per_unit",
                PhyffConfig {
                    threshold_per_unit: 1e12,
                    ..ok.clone()
                },
            ),
            (
                "norm_eps",
                PhyffConfig {
                    norm_eps: 0.0,
                    ..ok.clone()
                },
            ),
            (
                "norm_eps",
                PhyffConfig {
                    norm_eps: f64::NAN,
                    ..ok.clone()
                },
            ),
            (
                "perturb_scale",
                PhyffConfig {
                    perturb_scale: -0.1,
                    ..ok.clone()
                },
            ),
            (
                "perturb_scale",
                PhyffConfig {
                    perturb_scale: f64::NAN,
                    ..ok.clone()
                },
            ),
            (
                "perturb_scale",
                PhyffConfig {
                    perturb_scale: 1e9,
                    ..ok.clone()
                },
            ),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
