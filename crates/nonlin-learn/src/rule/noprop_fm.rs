//! NoProp-FM (Li, Teh, Pascanu, arXiv 2503.24322, flow matching): one block of a `noprop_net`
//! conditioned on time (`model.blocks = 1`, `model.time_embedding > 0`) is a velocity field
//! `v(z_t, x, t) = logits(z_t, x, t) W_embed` (unnormalised: no softmax), trained on the straight
//! path from noise to the label embedding,
//!
//! `z_t = t u_y + (1 - t) z_0 + sigma eps`,  `L = |v(z_t, x, t) - (u_y - z_0)|^2`,
//!
//! `t ~ U(0, 1)`, `z_0, eps ~ N(0, I)`; when `W_embed` is trained (learned or prototype
//! embeddings) an anchor term keeps the class embeddings apart: the cross-entropy of the
//! extrapolated end point `z~_1 = z_t + (1 - t) v` against the classes with logits
//! `-|z~_1 - u_c|^2`. The prediction integrates `dz/dt = v` with `inference_steps` Euler steps
//! from `z_0 ~ N(0, I)` and returns `-|z_1 - u_c|^2` per class (the nearest class embedding
//! wins).
//!
//! UNCONFIRMED choices (config fields): `sigma` = 0.01 (the notes' "small Gaussian width"), the
//! anchor's logits and its weight 1, `|.|^2` summed over the embedding and averaged over the batch.

use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Tensor};
use nonlin_nn::{Model, ModelInput, NopropNet};
use serde::{Deserialize, Serialize};

use super::noprop_ct::one_timed_block;
use super::noprop_dt::{install_prototypes, noprop_net, prototypes_for};
use super::saved_state::{pack, unpack_one};
use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, Target, TensorBatch};

/// Configuration of [`NopropFm`] (`kind = "noprop_fm"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopropFmConfig {
    /// sigma, the width of the Gaussian around the straight path (UNCONFIRMED).
    #[serde(default = "sigma")]
    pub sigma: f64,
    /// Euler steps of the prediction over [0, 1] (paper: 1000).
    #[serde(default = "inference_steps")]
    pub inference_steps: usize,
    /// Weight of the anchor cross-entropy when the embedding is trained (UNCONFIRMED: 1).
    #[serde(default = "anchor")]
    pub anchor: f64,
}

fn sigma() -> f64 {
    0.01
}
fn inference_steps() -> usize {
    1000
}
fn anchor() -> f64 {
    1.0
}

impl Default for NopropFmConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for NopropFmConfig {
    fn validate(&self) -> Result<(), LearnError> {
        let bad = |field: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("noprop_fm.{field}"),
                reason,
            })
        };
        if !(self.sigma.is_finite() && (0.0..=10.0).contains(&self.sigma)) {
            return bad("sigma", format!("must be in [0, 10], got {}", self.sigma));
        }
        if !(1..=100_000).contains(&self.inference_steps) {
            return bad(
                "inference_steps",
                format!("must be in 1..=100000, got {}", self.inference_steps),
            );
        }
        if !(self.anchor.is_finite() && self.anchor >= 0.0) {
            return bad("anchor", format!("must be a finite number >= 0, got {}", self.anchor));
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(NopropFm::new(self, context)?))
    }
}

/// The NoProp-FM rule.
pub struct NopropFm {
    config: NopropFmConfig,
    optimizer: Optimizer,
    prototypes: Option<Tensor<2>>,
    steps: u64,
}

/// `-|z - u_c|^2` for every class: `[rows, classes]`.
fn neg_sq_distances(z: Tensor<2>, embedding: Tensor<2>) -> Tensor<2> {
    let zz = z.clone().powi_scalar(2).sum_dim(1);
    let uu = embedding.clone().powi_scalar(2).sum_dim(1).transpose();
    (z.matmul(embedding.transpose()).mul_scalar(2.0) - zz) - uu
}

impl NopropFm {
    /// The rule for the model and task of `context`.
    pub fn new(config: &NopropFmConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let net = noprop_net("noprop_fm", context)?;
        one_timed_block("noprop_fm", net)?;
        Ok(Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            prototypes: prototypes_for(net, context)?,
            steps: 0,
        })
    }

    /// The velocity `logits W_embed`.
    fn velocity(net: &NopropNet, x: Tensor<2>, z: Tensor<2>, t: Tensor<1>) -> Tensor<2> {
        net.block_logits(0, x, z, Some(t)).matmul(net.embedding())
    }

    fn loss(&self, net: &NopropNet, x: Tensor<2>, target: &Target) -> Result<(Tensor<1>, f64), LearnError> {
        let Target::Classes(labels) = target else {
            unreachable!("classification targets")
        };
        let embedding = net.embedding();
        let trained = embedding.is_require_grad();
        let u = embedding.clone().select(0, labels.clone());
        let [rows, d] = u.dims();
        let device = u.device();
        let t = Tensor::<1>::random([rows], Distribution::Default, &device);
        let z0 = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let eps = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        let tc = t.clone().unsqueeze_dim::<2>(1);
        let z_t = u.clone() * tc.clone() + z0.clone() * tc.clone().neg().add_scalar(1.0)
            + eps.mul_scalar(self.config.sigma);
        let v = NopropFm::velocity(net, x, z_t.clone(), t);
        let flow = (v.clone() - (u - z0)).powi_scalar(2).sum_dim(1).mean();
        let flow_value = flow.clone().into_scalar::<f64>();
        if !(trained && self.config.anchor > 0.0) {
            return Ok((flow, flow_value));
        }
        let end = z_t + v * tc.neg().add_scalar(1.0);
        let anchor = target.loss(neg_sq_distances(end, embedding))?;
        Ok((flow + anchor.mul_scalar(self.config.anchor), flow_value))
    }
}

impl LearningRule<Model> for NopropFm {
    fn name(&self) -> &str {
        "noprop_fm"
    }

    fn step(&mut self, model: Model, batch: &TensorBatch, lr: f64) -> Result<(Model, Metrics), LearnError> {
        let x = batch.features("noprop_fm")?;
        let model = install_prototypes(model, &self.prototypes, self.steps);
        let Model::NopropNet(net) = &model else {
            unreachable!("checked when the rule was built")
        };
        let (loss, flow) = self.loss(net, x, &batch.target)?;
        let value = loss.clone().into_scalar::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (model, _) = self.optimizer.step(lr, model, grads);
        self.steps += 1;
        Ok((
            model,
            Metrics::from([("loss".to_string(), value), ("flow".to_string(), flow)]),
        ))
    }

    /// Euler integration of the velocity from noise; `-|z_1 - u_c|^2` per class.
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let Model::NopropNet(net) = model else {
            unreachable!("checked when the rule was built")
        };
        let x = input.real("noprop_fm")?;
        let [rows, _] = x.dims();
        let d = net.embedding().dims()[1];
        let device = x.device();
        let n = self.config.inference_steps;
        let dt = 1.0 / n as f64;
        let mut z = Tensor::<2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device);
        for k in 0..n {
            let t = Tensor::<1>::full([rows], k as f64 * dt, &device);
            z = z.clone() + NopropFm::velocity(net, x.clone(), z, t).mul_scalar(dt);
        }
        Ok(neg_sq_distances(z, net.embedding()))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState {
            bytes: pack(&self.steps, &[self.optimizer.to_bytes()?])?,
            modules: Vec::new(),
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (steps, optimizer): (u64, _) = unpack_one("noprop_fm", &state.bytes)?;
        self.optimizer.load_bytes(&optimizer)?;
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// `-|z - u_c|^2` by hand: z = (1, 2), u_0 = (1, 0), u_1 = (0, 2): distances 4 and 1.
    #[test]
    fn negative_squared_distances_by_hand() {
        let device = Device::flex();
        let z = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
        let u = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0]], &device);
        let d: Vec<f32> = neg_sq_distances(z, u).into_data().try_to_vec().unwrap();
        assert_eq!(d, vec![-4.0, -1.0]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = NopropFmConfig::default();
        ok.validate().unwrap();
        for (field, c) in [
            ("sigma", NopropFmConfig { sigma: -0.1, ..ok.clone() }),
            ("sigma", NopropFmConfig { sigma: f64::NAN, ..ok.clone() }),
            ("sigma", NopropFmConfig { sigma: 1e9, ..ok.clone() }),
            ("inference_steps", NopropFmConfig { inference_steps: 0, ..ok.clone() }),
            ("anchor", NopropFmConfig { anchor: -1.0, ..ok.clone() }),
            ("anchor", NopropFmConfig { anchor: f64::INFINITY, ..ok.clone() }),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
