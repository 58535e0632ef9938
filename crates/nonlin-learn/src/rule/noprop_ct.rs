//! NoProp-CT (Li, Teh, Pascanu, arXiv 2503.24322, continuous time): one block `u_hat(z_t, x, t)`
//! of a `noprop_net` conditioned on time (`model.blocks = 1`, `model.time_embedding > 0`), with a
//! learnable noise schedule, trained on
//!
//! `L = CE(Linear_out(z_1), y) + KL(q(z_0 | y) || N(0, I))
//!      + (eta / 2) E_{t ~ U(0, 1)}[SNR'(t) |u_hat(z_t, x, t) - u_y|^2]`,
//!
//! `z_t ~ q(z_t | y) = N(sqrt(alpha_bar(t)) u_y, (1 - alpha_bar(t)) I)` (reparametrised, so the
//! schedule learns through it), with `SNR(t) = exp(-gamma(t))`, `alpha_bar(t) = sigmoid(-gamma(t))`,
//! `gamma(t) = gamma_0 + (gamma_1 - gamma_0)(1 - gamma_bar(t))`, `gamma_bar` the min-max
//! normalised output of a 2-layer network with positive weights,
//! `g(t) = sum_j softplus(v_j) sigmoid(softplus(w_j) t + b_j)`, `gamma_bar(t) = (g(t) - g(0)) /
//! (g(1) - g(0))`, so SNR rises strictly from `exp(-gamma_1)` at t = 0 to `exp(-gamma_0)` at t = 1.
//! `SNR'(t) = (gamma_1 - gamma_0) gamma_bar'(t) SNR(t)` is computed in closed form from the
//! network (Burn has no second-order autodiff). The prediction integrates the posterior chain of
//! [`super::label_diffusion`] over `inference_steps` equal steps from `z_0 ~ N(0, I)` and returns
//! `Linear_out(z_1)`.
//!
//! UNCONFIRMED choices (config fields): `gamma_0 = -7`, `gamma_1 = 7` at the start
//! (`alpha_bar` from 0.0009 to 0.9991), 64 hidden units of the schedule network with raw weights
//! drawn from N(0, 1), `|.|^2` summed over the embedding and averaged over the batch, the
//! schedule trained by the run's optimizer.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Distribution, Tensor};
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{Model, ModelInput, NopropNet};
use serde::{Deserialize, Serialize};

use super::label_diffusion::posterior;
use super::noprop_dt::{check_eta, install_prototypes, noprop_net, prototypes_for};
use super::saved_state::{pack, unpack};
use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, Target, TensorBatch};

/// Configuration of [`NopropCt`] (`kind = "noprop_ct"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopropCtConfig {
    /// eta, the weight of the denoising term (paper: 1 for CT).
    #[serde(default = "eta")]
    pub eta: f64,
    /// Steps of the inference chain over [0, 1] (paper: 1000).
    #[serde(default = "inference_steps")]
    pub inference_steps: usize,
    /// gamma_0 at the start: -log SNR at t = 1 (UNCONFIRMED).
    #[serde(default = "gamma0")]
    pub gamma0: f64,
    /// gamma_1 at the start: -log SNR at t = 0 (UNCONFIRMED).
    #[serde(default = "gamma1")]
    pub gamma1: f64,
    /// Hidden units of the schedule network (UNCONFIRMED).
    #[serde(default = "hidden")]
    pub schedule_hidden: usize,
    /// Draw the noise of the inference chain (paper); false: its mean.
    #[serde(default = "yes")]
    pub inference_noise: bool,
}

fn eta() -> f64 {
    1.0
}
fn inference_steps() -> usize {
    1000
}
fn gamma0() -> f64 {
    -7.0
}
fn gamma1() -> f64 {
    7.0
}
fn hidden() -> usize {
    64
}
fn yes() -> bool {
    true
}

impl Default for NopropCtConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for NopropCtConfig {
    fn validate(&self) -> Result<(), LearnError> {
        check_eta("noprop_ct", self.eta)?;
        let bad = |field: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("noprop_ct.{field}"),
                reason,
            })
        };
        if !(1..=100_000).contains(&self.inference_steps) {
            return bad(
                "inference_steps",
                format!("must be in 1..=100000, got {}", self.inference_steps),
            );
        }
        if !(1..=4096).contains(&self.schedule_hidden) {
            return bad(
                "schedule_hidden",
                format!("must be in 1..=4096, got {}", self.schedule_hidden),
            );
        }
        if !(self.gamma0.is_finite() && self.gamma1.is_finite() && self.gamma0 < self.gamma1) {
            return bad(
                "gamma0",
                format!(
                    "gamma0 < gamma1 (SNR rises with t) and both finite, got {} and {}",
                    self.gamma0, self.gamma1
                ),
            );
        }
        if self.gamma1 - self.gamma0 > 60.0 {
            return bad(
                "gamma1",
                format!("gamma1 - gamma0 must be at most 60, got {}", self.gamma1 - self.gamma0),
            );
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(NopropCt::new(self, context)?))
    }
}

/// The learnable schedule: `gamma_0`, `gamma_1` and the monotone network.
#[derive(Module, Debug)]
pub struct SnrSchedule {
    gamma0: Param<Tensor<1>>,
    gamma1: Param<Tensor<1>>,
    /// Raw first-layer weights (softplus makes them positive).
    w: Param<Tensor<1>>,
    b: Param<Tensor<1>>,
    /// Raw second-layer weights.
    v: Param<Tensor<1>>,
}

impl SnrSchedule {
    /// A schedule with the given end points and `hidden` units.
    pub fn new(gamma0: f64, gamma1: f64, hidden: usize, device: &Device) -> Self {
        let normal = || Tensor::<1>::random([hidden], Distribution::Normal(0.0, 1.0), device);
        Self {
            gamma0: Param::from_tensor(Tensor::from_floats([gamma0 as f32], device)),
            gamma1: Param::from_tensor(Tensor::from_floats([gamma1 as f32], device)),
            w: Param::from_tensor(normal()),
            b: Param::from_tensor(normal()),
            v: Param::from_tensor(normal()),
        }
    }

    /// `g(t)` and `g'(t)`.
    ///
    /// # Shapes
    /// - t: `[batch]`; returns two `[batch]`
    fn g(&self, t: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
        let w = softplus(self.w.val(), 1.0).unsqueeze_dim::<2>(0);
        let v = softplus(self.v.val(), 1.0).unsqueeze_dim::<2>(0);
        let h = sigmoid(t.unsqueeze_dim::<2>(1) * w.clone() + self.b.val().unsqueeze_dim::<2>(0));
        let g = (h.clone() * v.clone()).sum_dim(1).squeeze_dim(1);
        let slope = (h.clone() * h.neg().add_scalar(1.0) * w * v).sum_dim(1).squeeze_dim(1);
        (g, slope)
    }

    /// `gamma(t)` and `gamma'(t)`.
    pub fn gamma(&self, t: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
        let device = t.device();
        let ends = Tensor::<1>::from_floats([0.0, 1.0], &device);
        let (g_ends, _) = self.g(ends);
        let g0 = g_ends.clone().narrow(0, 0, 1);
        let span = g_ends.narrow(0, 1, 1) - g0.clone();
        let (g, slope) = self.g(t);
        let bar = (g - g0) / span.clone();
        let bar_slope = slope / span;
        let width = self.gamma1.val() - self.gamma0.val();
        let gamma = self.gamma0.val() + width.clone() * bar.neg().add_scalar(1.0);
        (gamma, bar_slope.neg() * width)
    }

    /// `alpha_bar(t) = sigmoid(-gamma(t))`.
    pub fn alpha_bar(&self, t: Tensor<1>) -> Tensor<1> {
        sigmoid(self.gamma(t).0.neg())
    }

    /// `SNR(t)` and `SNR'(t) = -gamma'(t) SNR(t)`.
    pub fn snr(&self, t: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
        let (gamma, slope) = self.gamma(t);
        let snr = gamma.neg().exp();
        (snr.clone(), slope.neg() * snr)
    }
}

/// The NoProp-CT rule.
pub struct NopropCt {
    config: NopropCtConfig,
    optimizer: Optimizer,
    schedule_optimizer: Optimizer,
    /// Taken out during a step and put back after it.
    schedule: Option<SnrSchedule>,
    prototypes: Option<Tensor<2>>,
    steps: u64,
}

/// Checks that the model has one block conditioned on time, naming the rule.
pub(crate) fn one_timed_block(rule: &str, net: &NopropNet) -> Result<(), LearnError> {
    if net.block_count() != 1 || net.time_embedding_width() == 0 {
        return Err(LearnError::Unsupported {
            rule: rule.into(),
            reason: format!(
                "it trains one block conditioned on time: set model.blocks = 1 and model.time_embedding > 0 (got {} blocks, time embedding {})",
                net.block_count(),
                net.time_embedding_width()
            ),
        });
    }
    Ok(())
}

impl NopropCt {
    /// The rule for the model and task of `context`.
    pub fn new(config: &NopropCtConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let net = noprop_net("noprop_ct", context)?;
        one_timed_block("noprop_ct", net)?;
        Ok(Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            schedule_optimizer: context.optimizer.build()?,
            schedule: Some(SnrSchedule::new(
                config.gamma0,
                config.gamma1,
                config.schedule_hidden,
                context.device,
            )),
            prototypes: prototypes_for(net, context)?,
            steps: 0,
        })
    }

    fn schedule(&self) -> &SnrSchedule {
        self.schedule
            .as_ref()
            .expect("the schedule is put back after every step")
    }

    /// The loss on a batch, with its cross-entropy part.
    fn loss(
        &self,
        net: &NopropNet,
        schedule: &SnrSchedule,
        x: Tensor<2>,
        target: &Target,
    ) -> Result<(Tensor<1>, f64), LearnError> {
        let Target::Classes(labels) = target else {
            unreachable!("classification targets")
        };
        let u = net.embedding().select(0, labels.clone());
        let [rows, d] = u.dims();
        let device = u.device();
        let noise = || Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let sample = |alpha_bar: Tensor<1>| {
            let a = alpha_bar.unsqueeze_dim::<2>(1);
            u.clone() * a.clone().sqrt() + noise() * a.neg().add_scalar(1.0).sqrt()
        };
        let t = Tensor::<1>::random([rows], Distribution::Default, &device);
        let z_t = sample(schedule.alpha_bar(t.clone()));
        let (_, snr_slope) = schedule.snr(t.clone());
        let u_hat = net.denoise(0, x, z_t, Some(t));
        let sq = (u_hat - u.clone()).powi_scalar(2).sum_dim(1).squeeze_dim::<1>(1);
        let denoise = (snr_slope * sq).mean().mul_scalar(0.5 * self.config.eta);
        let ones = Tensor::<1>::ones([rows], &device);
        let z_1 = sample(schedule.alpha_bar(ones));
        let ce = target.loss(net.output_logits(z_1))?;
        let a0 = schedule.alpha_bar(Tensor::<1>::zeros([1], &device));
        let norm_sq = u.powi_scalar(2).sum_dim(1).mean();
        let dd = d as f64;
        let one_minus = a0.clone().neg().add_scalar(1.0);
        let kl = (a0 * norm_sq + one_minus.clone().mul_scalar(dd) - one_minus.log().mul_scalar(dd))
            .add_scalar(-dd)
            .mul_scalar(0.5);
        let ce_value = ce.clone().into_scalar::<f64>();
        Ok((ce + kl + denoise, ce_value))
    }
}

impl LearningRule<Model> for NopropCt {
    fn name(&self) -> &str {
        "noprop_ct"
    }

    fn step(&mut self, model: Model, batch: &TensorBatch, lr: f64) -> Result<(Model, Metrics), LearnError> {
        let x = batch.features("noprop_ct")?;
        let model = install_prototypes(model, &self.prototypes, self.steps);
        let schedule = self.schedule.take().expect("schedule present");
        let Model::NopropNet(net) = &model else {
            unreachable!("checked when the rule was built")
        };
        let (loss, ce) = self.loss(net, &schedule, x, &batch.target)?;
        let loss_value = loss.clone().into_scalar::<f64>();
        let mut grads = loss.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let schedule_grads = GradientsParams::from_module(&mut grads, &schedule);
        let (model, _) = self.optimizer.step(lr, model, model_grads);
        let (schedule, _) = self.schedule_optimizer.step(lr, schedule, schedule_grads);
        self.schedule = Some(schedule);
        self.steps += 1;
        Ok((
            model,
            Metrics::from([("loss".to_string(), loss_value), ("ce".to_string(), ce)]),
        ))
    }

    /// The posterior chain over `inference_steps` equal steps; `Linear_out(z_1)`.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let Model::NopropNet(net) = model else {
            unreachable!("checked when the rule was built")
        };
        let x = input.real("noprop_ct")?;
        let [rows, _] = x.dims();
        let d = net.embedding().dims()[1];
        let device = x.device();
        let n = self.config.inference_steps;
        let grid: Vec<f32> = (0..=n).map(|k| k as f32 / n as f32).collect();
        let bars: Vec<f64> = self
            .schedule()
            .valid()
            .alpha_bar(Tensor::<1>::from_floats(grid.as_slice(), &device))
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .expect("f64 data");
        let noise = || Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let mut z = noise();
        for k in 0..n {
            let (a, b, c) = posterior(bars[k], bars[k + 1]);
            let t = Tensor::<1>::full([rows], grid[k] as f64, &device);
            let u_hat = net.denoise(0, x.clone(), z.clone(), Some(t));
            z = u_hat.mul_scalar(a) + z.mul_scalar(b);
            if self.config.inference_noise {
                z = z + noise().mul_scalar(c.max(0.0).sqrt());
            }
        }
        Ok(net.output_logits(z))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState {
            bytes: pack(
                &self.steps,
                &[self.optimizer.to_bytes()?, self.schedule_optimizer.to_bytes()?],
            )?,
            modules: vec![ModuleState::capture("schedule", self.schedule())?],
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (steps, blobs): (u64, _) = unpack("noprop_ct", &state.bytes)?;
        let [model, schedule] = blobs.as_slice() else {
            return Err(LearnError::State {
                rule: "noprop_ct".into(),
                reason: format!("expected 2 optimizer states, found {}", blobs.len()),
            });
        };
        self.optimizer.load_bytes(model)?;
        self.schedule_optimizer.load_bytes(schedule)?;
        let fresh = self.schedule.take().expect("schedule present");
        self.schedule = Some(state.module("noprop_ct", "schedule")?.restore(fresh)?);
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// The learnable SNR rises strictly over [0, 1] for random networks, runs between exp(-gamma_1)
    /// and exp(-gamma_0), and its closed-form derivative matches central differences.
    #[test]
    fn snr_is_strictly_increasing_with_the_right_ends_and_slope() {
        for seed in 0..5 {
            let device = Device::flex();
            device.seed(seed);
            let schedule = SnrSchedule::new(-3.0, 4.0, 16, &device);
            let grid: Vec<f32> = (0..=200).map(|k| k as f32 / 200.0).collect();
            let (snr, slope) = schedule.snr(Tensor::from_floats(grid.as_slice(), &device));
            let snr: Vec<f32> = snr.into_data().try_to_vec().unwrap();
            let slope: Vec<f32> = slope.into_data().try_to_vec().unwrap();
            assert!(snr.windows(2).all(|w| w[1] > w[0]), "seed {seed}: {snr:?}");
            assert!((snr[0] - (-4f32).exp()).abs() < 1e-4 && (snr[200] - 3f32.exp()).abs() < 1e-3);
            assert!(slope.iter().all(|&s| s > 0.0));
            let h = 1.0 / 200.0;
            for k in [20, 100, 180] {
                let numeric = (snr[k + 1] - snr[k - 1]) / (2.0 * h);
                assert!((numeric - slope[k]).abs() <= 0.01 * slope[k].abs() + 1e-3, "k {k}: {numeric} vs {}", slope[k]);
            }
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = NopropCtConfig::default();
        ok.validate().unwrap();
        for (field, c) in [
            ("eta", NopropCtConfig { eta: 0.0, ..ok.clone() }),
            ("eta", NopropCtConfig { eta: f64::NAN, ..ok.clone() }),
            ("inference_steps", NopropCtConfig { inference_steps: 0, ..ok.clone() }),
            ("inference_steps", NopropCtConfig { inference_steps: 10_000_000, ..ok.clone() }),
            ("schedule_hidden", NopropCtConfig { schedule_hidden: 0, ..ok.clone() }),
            ("gamma0", NopropCtConfig { gamma0: 8.0, ..ok.clone() }),
            ("gamma0", NopropCtConfig { gamma0: f64::NEG_INFINITY, ..ok.clone() }),
            ("gamma1", NopropCtConfig { gamma1: 100.0, ..ok.clone() }),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
