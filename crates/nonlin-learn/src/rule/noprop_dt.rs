//! NoProp-DT (Li, Teh, Pascanu, "NoProp: Training Neural Networks without Back-propagation or
//! Forward-propagation", arXiv 2503.24322): the T blocks of a `noprop_net` are trained
//! independently, each to denoise a noisy label embedding, with the local loss
//!
//! `L_t = CE(Linear_out(z_T), y) + KL(q(z_0 | y) || N(0, I))
//!        + (T / 2) eta (SNR(t) - SNR(t-1)) |u_hat_t(z_{t-1}, x) - u_y|^2`,
//!
//! `z_{t-1} ~ q(z_{t-1} | y)` and `z_T ~ q(z_T | y)` drawn from the label alone (no forward pass
//! through the other blocks, no gradient between blocks). Every minibatch updates block 1, then
//! block 2, ..., then block T (paper Algorithm 1; "100 epochs" are 100 T block updates per
//! minibatch), each update also moving `Linear_out` and `W_embed` (when trained) with one optimizer
//! (the run's, AdamW 1e-3 / 1e-3 in the paper). The prediction runs the denoising chain
//! `z_0 ~ N(0, I)`, `z_t = a_t u_hat_t(z_{t-1}, x) + b_t z_{t-1} + sqrt(c_t) eps_t` (coefficients
//! in [`super::label_diffusion`]) and returns `Linear_out(z_T)`.
//!
//! Choices (config fields; UNCONFIRMED in the paper): the fixed cosine schedule of Nichol and
//! Dhariwal reversed in time with `alpha_bar_T` clamped at `max_alpha_bar` = 0.999 (it would be
//! exactly 1, an infinite SNR), `|.|^2` summed over the embedding and averaged over the batch,
//! gradients reaching a trained `W_embed` through the sampled `z` as well as through `u_y`, and
//! prototype embeddings set before the first update to the training image of each class with the
//! smallest median distance to the other images of its class (the paper's rule; the lower middle
//! value for an even count, as `torch.median`).

use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use nonlin_nn::{Model, ModelInput, NopropNet};
use serde::{Deserialize, Serialize};

use super::label_diffusion::{cosine_alpha_bars, kl_to_standard, posterior, snr};
use super::saved_state::{pack, unpack_one};
use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::task::Task;
use crate::{LearnError, Optimizer, Target, TensorBatch};

/// Configuration of [`NopropDt`] (`kind = "noprop_dt"`); T is the model's number of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopropDtConfig {
    /// eta, the weight of the denoising term (paper: 0.1).
    #[serde(default = "eta")]
    pub eta: f64,
    /// s of the cosine schedule (Nichol and Dhariwal: 0.008).
    #[serde(default = "offset")]
    pub cosine_offset: f64,
    /// Upper clamp of alpha_bar (the clean end, UNCONFIRMED: 0.999).
    #[serde(default = "max_alpha_bar")]
    pub max_alpha_bar: f64,
    /// Draw the noise `sqrt(c_t) eps_t` of the inference chain (paper); false: its mean.
    #[serde(default = "yes")]
    pub inference_noise: bool,
}

fn eta() -> f64 {
    0.1
}
fn offset() -> f64 {
    0.008
}
fn max_alpha_bar() -> f64 {
    0.999
}
fn yes() -> bool {
    true
}

impl Default for NopropDtConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

/// Checks the fields NoProp's rules share.
pub(crate) fn check_eta(rule: &str, eta: f64) -> Result<(), LearnError> {
    if !(eta.is_finite() && eta > 0.0) {
        return Err(LearnError::Config {
            what: format!("{rule}.eta"),
            reason: format!("must be a finite number > 0, got {eta}"),
        });
    }
    Ok(())
}

impl RuleSpec for NopropDtConfig {
    fn validate(&self) -> Result<(), LearnError> {
        check_eta("noprop_dt", self.eta)?;
        if !(self.cosine_offset.is_finite() && (0.0..1.0).contains(&self.cosine_offset)) {
            return Err(LearnError::Config {
                what: "noprop_dt.cosine_offset".into(),
                reason: format!("must be in [0, 1), got {}", self.cosine_offset),
            });
        }
        if !(self.max_alpha_bar > 0.5 && self.max_alpha_bar < 1.0) {
            return Err(LearnError::Config {
                what: "noprop_dt.max_alpha_bar".into(),
                reason: format!("must be in (0.5, 1), got {}", self.max_alpha_bar),
            });
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(NopropDt::new(self, context)?))
    }
}

/// The model a NoProp rule trains, or an error naming the rule.
pub(crate) fn noprop_net<'m>(
    rule: &str,
    context: &RuleContext<'m>,
) -> Result<&'m NopropNet, LearnError> {
    let unsupported = |reason: String| LearnError::Unsupported {
        rule: rule.into(),
        reason,
    };
    context.require_classification(rule)?;
    match context.model {
        Model::NopropNet(net) => Ok(net),
        _ => Err(unsupported(
            "it trains the denoising blocks of a noprop_net model".into(),
        )),
    }
}

/// The NoProp-DT rule.
pub struct NopropDt {
    config: NopropDtConfig,
    optimizer: Optimizer,
    /// alpha_bar_0 .. alpha_bar_T.
    alpha_bars: Vec<f64>,
    /// `W_embed` to install before the first update (prototype embeddings).
    prototypes: Option<Tensor<2>>,
    steps: u64,
}

impl NopropDt {
    /// The rule for the model and task of `context`.
    pub fn new(config: &NopropDtConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let net = noprop_net("noprop_dt", context)?;
        if net.time_embedding_width() > 0 {
            return Err(LearnError::Unsupported {
                rule: "noprop_dt".into(),
                reason: "its blocks are indexed by t, not conditioned on time: set model.time_embedding = 0".into(),
            });
        }
        let steps = net.block_count();
        Ok(Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            alpha_bars: cosine_alpha_bars(steps, config.cosine_offset, config.max_alpha_bar),
            prototypes: prototypes_for(net, context)?,
            steps: 0,
        })
    }

    /// The loss of block `t` (1-based) on a batch, with its parts.
    fn block_loss(
        &self,
        net: &NopropNet,
        t: usize,
        x: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Result<(Tensor<1>, f64, f64), LearnError> {
        let bars = &self.alpha_bars;
        let steps = bars.len() - 1;
        let embedding = net.embedding();
        let [_, d] = embedding.dims();
        let u = embedding.select(0, labels.clone());
        let [rows, _] = u.dims();
        let device = u.device();
        let sample = |a: f64| {
            let eps = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
            u.clone().mul_scalar(a.sqrt()) + eps.mul_scalar((1.0 - a).sqrt())
        };
        let z_prev = sample(bars[t - 1]);
        let z_last = sample(bars[steps]);
        let u_hat = net.denoise(t - 1, x, z_prev, None);
        let mse = (u_hat - u.clone()).powi_scalar(2).sum_dim(1).mean();
        let ce = Target::Classes(labels).loss(net.output_logits(z_last))?;
        // KL(q(z_0 | y) || N(0, I)), averaged over the batch: only a_0 |u|^2 depends on W_embed.
        let norm_sq = u.powi_scalar(2).sum_dim(1).mean();
        let kl = norm_sq.mul_scalar(0.5 * bars[0]).add_scalar(kl_to_standard(bars[0], 0.0, d));
        let weight = 0.5 * steps as f64 * self.config.eta * (snr(bars[t]) - snr(bars[t - 1]));
        let ce_value = ce.clone().into_scalar::<f64>();
        let mse_value = mse.clone().into_scalar::<f64>();
        Ok((ce + kl + mse.mul_scalar(weight), ce_value, mse_value))
    }
}

/// The prototype embedding of `net` from the training data of `context`, if it has one.
pub(crate) fn prototypes_for(
    net: &NopropNet,
    context: &RuleContext<'_>,
) -> Result<Option<Tensor<2>>, LearnError> {
    match (net.has_prototype_embedding(), context.data) {
        (true, Some(task)) => Ok(Some(prototypes(task, net.classes(), context.device)?)),
        _ => Ok(None),
    }
}

/// For every class, the training image with the smallest median distance to the other
/// training images of its class (`[classes, features]`).
pub fn prototypes(task: &dyn Task, classes: usize, device: &Device) -> Result<Tensor<2>, LearnError> {
    let all: Vec<usize> = (0..task.train_len()).collect();
    let batch = task.train_batch(&all, device)?;
    let x = batch.features("noprop")?.inner();
    let labels: Vec<i64> = batch
        .labels("noprop")?
        .inner()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
    let [_, features] = x.dims();
    let mut rows = Vec::with_capacity(classes * features);
    for class in 0..classes {
        let members: Vec<i64> = (0..labels.len() as i64)
            .filter(|&i| labels[i as usize] == class as i64)
            .collect();
        if members.is_empty() {
            return Err(LearnError::Batch(format!(
                "prototype embedding: no training image of class {class}"
            )));
        }
        let m = members.len();
        let xc = x
            .clone()
            .select(0, Tensor::<1, Int>::from_data(TensorData::new(members, [m]), &x.device()));
        let sq = xc.clone().powi_scalar(2).sum_dim(1); // [m, 1]
        let d2 = sq.clone() + sq.transpose() - xc.clone().matmul(xc.clone().transpose()).mul_scalar(2.0);
        let d2: Vec<f32> = d2.into_data().try_to_vec().expect("f32 data");
        let best = (0..m)
            .map(|i| {
                let mut others: Vec<f32> = (0..m)
                    .filter(|&j| j != i)
                    .map(|j| d2[i * m + j].max(0.0).sqrt())
                    .collect();
                if others.is_empty() {
                    return (0.0, i);
                }
                others.sort_by(f32::total_cmp);
                (others[(others.len() - 1) / 2], i)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, i)| i)
            .expect("at least one member");
        let row: Vec<f32> = xc
            .slice([best..best + 1, 0..features])
            .into_data()
            .try_to_vec()
            .expect("f32 data");
        rows.extend(row);
    }
    Ok(Tensor::from_data(TensorData::new(rows, [classes, features]), device))
}

/// Installs the prototypes into the model (once, before the first update).
pub(crate) fn install_prototypes(model: Model, prototypes: &Option<Tensor<2>>, steps: u64) -> Model {
    match (model, prototypes) {
        (Model::NopropNet(net), Some(p)) if steps == 0 => Model::NopropNet(net.with_embedding(p.clone())),
        (model, _) => model,
    }
}

impl LearningRule<Model> for NopropDt {
    fn name(&self) -> &str {
        "noprop_dt"
    }

    fn step(&mut self, model: Model, batch: &TensorBatch, lr: f64) -> Result<(Model, Metrics), LearnError> {
        let x = batch.features("noprop_dt")?;
        let labels = batch.labels("noprop_dt")?;
        let mut model = install_prototypes(model, &self.prototypes, self.steps);
        let steps = self.alpha_bars.len() - 1;
        let (mut total, mut ce_sum, mut mse_last) = (0.0, 0.0, 0.0);
        for t in 1..=steps {
            let Model::NopropNet(net) = &model else {
                unreachable!("checked when the rule was built")
            };
            let (loss, ce, mse) = self.block_loss(net, t, x.clone(), labels.clone())?;
            total += loss.clone().into_scalar::<f64>();
            ce_sum += ce;
            mse_last = mse;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = self.optimizer.step(lr, model, grads).0;
        }
        self.steps += 1;
        Ok((
            model,
            Metrics::from([
                ("loss".to_string(), total / steps as f64),
                ("ce".to_string(), ce_sum / steps as f64),
                ("mse_last_block".to_string(), mse_last),
            ]),
        ))
    }

    /// The denoising chain from `z_0 ~ N(0, I)`; `Linear_out(z_T)`.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let Model::NopropNet(net) = model else {
            unreachable!("checked when the rule was built")
        };
        let x = input.real("noprop_dt")?;
        let [rows, _] = x.dims();
        let d = net.embedding().dims()[1];
        let device = x.device();
        let noise = || Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let mut z = noise();
        let bars = &self.alpha_bars;
        for t in 1..bars.len() {
            let (a, b, c) = posterior(bars[t - 1], bars[t]);
            let u_hat = net.denoise(t - 1, x.clone(), z.clone(), None);
            z = u_hat.mul_scalar(a) + z.mul_scalar(b);
            if self.config.inference_noise {
                z = z + noise().mul_scalar(c.sqrt());
            }
        }
        Ok(net.output_logits(z))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState {
            bytes: pack(&self.steps, &[self.optimizer.to_bytes()?])?,
            modules: Vec::new(),
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (steps, optimizer): (u64, _) = unpack_one("noprop_dt", &state.bytes)?;
        self.optimizer.load_bytes(&optimizer)?;
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use nonlin_data::Dataset;

    use super::super::fixtures;
    use super::*;
    use crate::OptimizerSetup;
    use crate::task::Classification;

    fn dt_rule(model_toml: &str) -> (NopropDt, Model, TensorBatch) {
        let device = fixtures::device(12);
        let (model, io) = fixtures::model(model_toml, vec![12], 4, &device);
        let setup = OptimizerSetup::default();
        let rule = NopropDt::new(
            &NopropDtConfig::default(),
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        (rule, model, fixtures::batch(24, 12, 4, &device))
    }

    const SMALL: &str = "kind = \"noprop_net\"\nblocks = 4\nimage_hidden = [16]\nlabel_hidden = 8\nfuse_hidden = [8]";

    /// Block t's loss reaches block t (and Linear_out), no other block; the backprop baseline's
    /// loss through the same blocks reaches every block (the negative control).
    #[test]
    fn each_block_learns_only_from_its_own_loss() {
        let (rule, model, batch) = dt_rule(SMALL);
        let Model::NopropNet(net) = &model else { unreachable!() };
        let x = batch.features("test").unwrap();
        let labels = batch.labels("test").unwrap();
        for t in 1..=4 {
            let (loss, _, _) = rule.block_loss(net, t, x.clone(), labels.clone()).unwrap();
            let mut grads = loss.backward();
            for k in 0..4 {
                let found = fixtures::with_gradient(&mut grads, net.block(k));
                assert_eq!(found > 0, k == t - 1, "loss of block {t}: block {} has {found}", k + 1);
            }
            assert!(fixtures::with_gradient(&mut grads, net.output_layer()) > 0);
        }
        let chain = batch.target.loss(net.forward(x)).unwrap();
        let mut grads = chain.backward();
        for k in 0..4 {
            assert!(fixtures::with_gradient(&mut grads, net.block(k)) > 0, "block {}", k + 1);
        }
    }

    /// A step updates every block and `Linear_out` (the one-hot `W_embed` stays fixed), the
    /// prediction is finite logits, and the chain's noise is drawn from the device's seed: the
    /// same seed gives the same prediction, another seed (with the noise) another one, and
    /// without the noise the prediction depends on the seed only through `z_0`.
    #[test]
    fn step_and_prediction() {
        let (mut rule, model, batch) = dt_rule(SMALL);
        let snapshot = |m: &Model| -> Vec<Vec<u8>> {
            let Model::NopropNet(net) = m else { unreachable!() };
            let bytes = |module| nonlin_nn::weights::to_safetensors(module).unwrap();
            let mut out: Vec<Vec<u8>> = (0..4).map(|k| bytes(net.block(k))).collect();
            out.push(nonlin_nn::weights::to_safetensors(net.output_layer()).unwrap());
            out.push(net.embedding().into_data().as_bytes().to_vec());
            out
        };
        let before = snapshot(&model);
        let (model, metrics) = rule.step(model, &batch, 1e-3).unwrap();
        let after = snapshot(&model);
        for k in 0..5 {
            assert_ne!(before[k], after[k], "part {k} was not updated");
        }
        assert_eq!(before[5], after[5], "the one-hot embedding is fixed");
        for key in ["loss", "ce", "mse_last_block"] {
            assert!(metrics[key].is_finite(), "{key}: {metrics:?}");
        }
        let valid = model.valid();
        let device = Device::flex();
        let predict = |rule: &NopropDt, seed: u64| {
            device.seed(seed);
            let out = rule.predict(&valid, &batch.input).unwrap();
            assert_eq!(out.dims(), [24, 4]);
            out.into_data().try_to_vec::<f32>().unwrap()
        };
        let a = predict(&rule, 3);
        assert!(a.iter().all(|v| v.is_finite()));
        // The device's generator is shared by the test threads of this process: another test may
        // draw between our seeding and our draws. Unseeded noise never repeats bit for bit, so
        // one exact repeat in a few tries shows the chain draws from the device's seed.
        let repeats = (0..5).any(|_| {
            let first = predict(&rule, 3);
            first == predict(&rule, 3)
        });
        assert!(repeats, "seed 3 never gave the same prediction twice");
        assert_ne!(a, predict(&rule, 4));
    }

    /// The prototype of a class is its image with the smallest median distance to the others:
    /// class 0 holds 0, 2, 3, 10 (medians 3, 2, 3, 8: the image 2); class 1 holds 1 and 1.5
    /// (both 0.5: the first, 1).
    #[test]
    fn prototypes_by_hand() {
        let x = vec![0.0, 1.0, 2.0, 3.0, 1.5, 10.0];
        let y = vec![0, 1, 0, 0, 1, 0];
        let data = Dataset::new("toy", x, vec![1], y, 2).unwrap();
        let task = Classification::new(data.clone(), None, data).unwrap();
        let device = Device::flex();
        let p: Vec<f32> = prototypes(&task, 2, &device).unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(p, vec![2.0, 1.0]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = NopropDtConfig::default();
        ok.validate().unwrap();
        for (field, c) in [
            ("eta", NopropDtConfig { eta: 0.0, ..ok.clone() }),
            ("eta", NopropDtConfig { eta: -1.0, ..ok.clone() }),
            ("eta", NopropDtConfig { eta: f64::NAN, ..ok.clone() }),
            ("eta", NopropDtConfig { eta: f64::INFINITY, ..ok.clone() }),
            ("cosine_offset", NopropDtConfig { cosine_offset: -0.1, ..ok.clone() }),
            ("cosine_offset", NopropDtConfig { cosine_offset: f64::NAN, ..ok.clone() }),
            ("max_alpha_bar", NopropDtConfig { max_alpha_bar: 1.0, ..ok.clone() }),
            ("max_alpha_bar", NopropDtConfig { max_alpha_bar: 0.2, ..ok.clone() }),
            ("max_alpha_bar", NopropDtConfig { max_alpha_bar: f64::NAN, ..ok.clone() }),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
