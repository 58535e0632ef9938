//! Dynamic sparse training with Hebbian rewiring for the ensemble-to-ensemble network (G2GNet;
//! Konstantaropoulos, Smirnakis, Papadopouli, arXiv 2508.14140; no official code): backpropagation
//! of the task's loss through the masked weights of a `g2g_mlp`, and every `interval` updates, in
//! every masked layer,
//!
//! ```text
//! prune:  the round(prune_fraction * active) active weights of smallest |W ⊙ M|  -> M = 0
//! regrow: as many inactive entries (not just pruned) of largest |C_ij|          -> M = 1, W = 0
//! C = (a_pre - mean)^T (a_post - mean) / rows          (centred co-activation on the batch)
//! ```
//!
//! so the density stays exactly where it was (SET / RigL with the notes' Hebbian choice of the
//! regrown edges); `regrow = "random"` draws them uniformly instead.
//!
//! UNCONFIRMED (config fields; the paper's abstract gives no schedule): `interval` 100 updates,
//! `prune_fraction` 0.1, the co-activation from the current batch (not a running average), and
//! regrown weights starting at 0. Deviation: the notes zero the optimiser state of pruned entries;
//! Burn's optimiser state is kept whole (its moments of a masked entry only decay, as the entry's
//! gradient is 0 while it is masked).

use burn::tensor::{Tensor, TensorData};
use nonlin_data::Rng;
use nonlin_nn::{G2gMlp, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::Backprop;
use super::saved_state::{pack, unpack_one};
use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, TensorBatch};

/// How the regrown edges are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regrow {
    /// Largest |centred co-activation| of the pre- and post-synaptic units.
    #[default]
    Hebbian,
    /// Uniformly among the inactive entries.
    Random,
}

/// Configuration of [`G2gDst`] (`kind = "g2g_dst"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct G2gDstConfig {
    /// Delta T, updates between rewirings.
    #[serde(default = "interval")]
    pub interval: u64,
    /// zeta, the fraction of a layer's active weights pruned and regrown at each rewiring.
    #[serde(default = "prune_fraction")]
    pub prune_fraction: f64,
    #[serde(default)]
    pub regrow: Regrow,
    /// Seed of the random regrowth.
    #[serde(default)]
    pub seed: u64,
}

fn interval() -> u64 {
    100
}
fn prune_fraction() -> f64 {
    0.1
}

impl RuleSpec for G2gDstConfig {
    fn validate(&self) -> Result<(), LearnError> {
        let bad = |what: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("g2g_dst.{what}"),
                reason,
            })
        };
        if self.interval == 0 {
            return bad("interval", "must be at least 1".into());
        }
        if !(self.prune_fraction.is_finite() && self.prune_fraction > 0.0 && self.prune_fraction < 1.0) {
            return bad(
                "prune_fraction",
                format!("must be in (0, 1), got {}", self.prune_fraction),
            );
        }
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        self.validate()?;
        if !matches!(context.model, Model::G2gMlp(_)) {
            return Err(LearnError::Unsupported {
                rule: "g2g_dst".into(),
                reason: "it rewires the masks of a g2g_mlp model".into(),
            });
        }
        Ok(Box::new(G2gDst {
            config: self.clone(),
            inner: Backprop::new(context.optimizer)?,
            progress: Progress {
                steps: 0,
                rng: self.seed ^ 0x6_2647,
            },
        }))
    }
}

/// Counters, checkpointed with the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    steps: u64,
    rng: u64,
}

/// Backprop with prune-and-regrow rewiring of the masks.
pub struct G2gDst {
    config: G2gDstConfig,
    inner: Backprop,
    progress: Progress,
}

/// The new mask and weights of one layer after a rewiring, and how many edges moved.
///
/// `mask`, `weight`: `[in, out]` row-major; `score`: `|C|` (Hebbian) or `None` (random, drawn
/// from `rng`).
pub fn rewire(
    mask: &[f32],
    weight: &[f32],
    score: Option<&[f32]>,
    fraction: f64,
    rng: &mut Rng,
) -> (Vec<f32>, Vec<f32>, usize) {
    let active: Vec<usize> = (0..mask.len()).filter(|&k| mask[k] > 0.5).collect();
    let n = ((fraction * active.len() as f64).round() as usize).min(mask.len() - active.len());
    let mut by_size = active.clone();
    by_size.sort_by(|&a, &b| weight[a].abs().total_cmp(&weight[b].abs()).then(a.cmp(&b)));
    let pruned: Vec<usize> = by_size[..n].to_vec();
    let mut candidates: Vec<usize> = (0..mask.len()).filter(|&k| mask[k] < 0.5).collect();
    let grown: Vec<usize> = match score {
        Some(score) => {
            candidates.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
            candidates[..n].to_vec()
        }
        None => {
            for k in 0..n {
                let pick = k + rng.below(candidates.len() - k);
                candidates.swap(k, pick);
            }
            candidates[..n].to_vec()
        }
    };
    let (mut mask, mut weight) = (mask.to_vec(), weight.to_vec());
    for &k in &pruned {
        mask[k] = 0.0;
    }
    for &k in &grown {
        mask[k] = 1.0;
        weight[k] = 0.0;
    }
    (mask, weight, n)
}

/// `|C|`, the centred co-activation of a layer's inputs and outputs on a batch (`[in, out]`).
pub fn coactivation(pre: Tensor<2>, post: Tensor<2>) -> Tensor<2> {
    let rows = pre.dims()[0] as f64;
    let centre = |a: Tensor<2>| a.clone() - a.mean_dim(0);
    (centre(pre).transpose().matmul(centre(post)) / rows).abs()
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().expect("f32 data")
}

impl G2gDst {
    fn rewire_all(&mut self, net: G2gMlp, input: &ModelInput) -> Result<(G2gMlp, usize), LearnError> {
        let x = input.real("g2g_dst")?;
        let (_, pairs) = burn::module::Module::valid(&net).forward_masked(x.inner());
        let mut rng = Rng::seed(self.progress.rng ^ self.progress.steps);
        let mut net = net;
        let mut moved = 0;
        for (k, (pre, post)) in pairs.into_iter().enumerate() {
            let (mask, weight) = net.mask_and_weight(k);
            let dims = mask.dims();
            let device = weight.device();
            let score = match self.config.regrow {
                Regrow::Hebbian => Some(host(coactivation(pre, post))),
                Regrow::Random => None,
            };
            let (m, w, n) = rewire(
                &host(mask),
                &host(weight.inner()),
                score.as_deref(),
                self.config.prune_fraction,
                &mut rng,
            );
            moved += n;
            net = net.rewired(
                k,
                Tensor::from_data(TensorData::new(m, dims), &device),
                Tensor::from_data(TensorData::new(w, dims), &device),
            );
        }
        Ok((net, moved))
    }
}

impl LearningRule<Model> for G2gDst {
    fn name(&self) -> &str {
        "g2g_dst"
    }

    fn step(&mut self, model: Model, batch: &TensorBatch, lr: f64) -> Result<(Model, Metrics), LearnError> {
        let (model, mut metrics) = self.inner.step(model, batch, lr)?;
        self.progress.steps += 1;
        if !self.progress.steps.is_multiple_of(self.config.interval) {
            return Ok((model, metrics));
        }
        let Model::G2gMlp(net) = model else {
            unreachable!("checked when the rule was built")
        };
        let (net, moved) = self.rewire_all(net, &batch.input)?;
        metrics.insert("rewired".into(), moved as f64);
        Ok((Model::G2gMlp(net), metrics))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let inner = LearningRule::<Model>::save_state(&self.inner)?;
        Ok(RuleState {
            bytes: pack(&self.progress, &[inner.bytes])?,
            modules: Vec::new(),
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, inner): (Progress, _) = unpack_one("g2g_dst", &state.bytes)?;
        LearningRule::<Model>::load_state(
            &mut self.inner,
            RuleState {
                bytes: inner,
                modules: Vec::new(),
            },
        )?;
        self.progress = progress;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mask (1, 1, 1, 0, 0, 0), |W| = (0.5, 0.1, 0.9, 7, 8, 9), |C| = (., ., ., 0.2, 0.7, 0.1),
    /// fraction 1/3: round(3 / 3) = 1 edge moves: the smallest active |W| (entry 1, 0.1) is pruned,
    /// the inactive entry of largest |C| (entry 4) grows with W = 0.
    #[test]
    fn hebbian_rewiring_by_hand() {
        let mask = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let weight = [0.5, -0.1, 0.9, 7.0, 8.0, 9.0];
        let score = [9.0, 9.0, 9.0, 0.2, 0.7, 0.1];
        let (m, w, n) = rewire(&mask, &weight, Some(&score), 1.0 / 3.0, &mut Rng::seed(0));
        assert_eq!(n, 1);
        assert_eq!(m, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(w, vec![0.5, -0.1, 0.9, 7.0, 0.0, 9.0]);
    }

    /// Random regrowth keeps the count, never regrows a just-pruned entry, is seeded.
    #[test]
    fn random_rewiring_keeps_the_density() {
        let mask: Vec<f32> = (0..100).map(|k| if k % 4 == 0 { 1.0 } else { 0.0 }).collect();
        let weight: Vec<f32> = (0..100).map(|k| k as f32).collect();
        let (m, _, n) = rewire(&mask, &weight, None, 0.2, &mut Rng::seed(3));
        assert_eq!(n, 5);
        assert_eq!(m.iter().sum::<f32>(), 25.0);
        for k in [0, 4, 8, 12, 16] {
            assert_eq!(m[k], 0.0, "the five smallest active weights are pruned");
        }
        let (again, _, _) = rewire(&mask, &weight, None, 0.2, &mut Rng::seed(3));
        assert_eq!(m, again);
    }

    /// C for two rows by hand: pre (1, 0), (3, 2) -> centred (-1, -1), (1, 1); post (2), (6) ->
    /// centred (-2), (2); C = ((-1)(-2) + (1)(2)) / 2 = 2 for both inputs.
    #[test]
    fn coactivation_by_hand() {
        let device = burn::tensor::Device::flex();
        let pre = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 2.0]], &device);
        let post = Tensor::<2>::from_floats([[2.0], [6.0]], &device);
        assert_eq!(host(coactivation(pre, post)), vec![2.0, 2.0]);
    }

    /// Through the rule: after `interval` backprop updates the block mask of a `g2g_mlp` is
    /// rewired (round(0.25 * 128) = 32 of its 128 active entries moved, the regrown ones with
    /// weight 0), its density unchanged; before that, and on other models, nothing of the kind.
    #[test]
    fn the_rule_rewires_every_interval_and_keeps_the_density() {
        use super::super::fixtures;
        let device = fixtures::device(2);
        let text = "kind = \"g2g_mlp\"\nhidden = [16, 16]\nensembles = 4\nlinks = 2";
        let (model, io) = fixtures::model(text, vec![12], 3, &device);
        let setup = crate::OptimizerSetup::default();
        let config = G2gDstConfig { interval: 3, prune_fraction: 0.25, ..serde_json::from_str("{}").unwrap() };
        let mut rule = config.build(&fixtures::context(&model, &io, &setup, &device, 1, 10)).unwrap();
        let batch = fixtures::batch(8, 12, 3, &device);
        let mask_of = |m: &Model| match m {
            Model::G2gMlp(net) => host(net.mask_and_weight(0).0),
            _ => unreachable!(),
        };
        let before = mask_of(&model);
        let mut model = model;
        let mut rewired = Vec::new();
        for _ in 0..3 {
            let (m, metrics) = rule.step(model, &batch, 1e-3).unwrap();
            model = m;
            rewired.push(metrics.get("rewired").copied());
        }
        assert_eq!(rewired, vec![None, None, Some(32.0)]);
        let after = mask_of(&model);
        assert_eq!(before.iter().sum::<f32>(), 128.0);
        assert_eq!(after.iter().sum::<f32>(), 128.0);
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 64, "32 pruned and 32 grown");
        let Model::G2gMlp(net) = &model else { unreachable!() };
        let weight = host(net.mask_and_weight(0).1.inner());
        for k in 0..after.len() {
            if after[k] > 0.5 && before[k] < 0.5 {
                assert_eq!(weight[k], 0.0, "a regrown weight starts at 0");
            }
        }
        // another model is refused by name
        let (mlp, io) = fixtures::model("kind = \"mlp\"\nhidden = [4]", vec![12], 3, &device);
        let err = config.build(&fixtures::context(&mlp, &io, &setup, &device, 1, 10)).err().unwrap();
        assert!(err.to_string().contains("g2g_mlp"), "{err}");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let ok: G2gDstConfig = serde_json::from_str("{}").unwrap();
        ok.validate().unwrap();
        for (c, what) in [
            (G2gDstConfig { interval: 0, ..ok.clone() }, "interval"),
            (G2gDstConfig { prune_fraction: 0.0, ..ok.clone() }, "prune_fraction"),
            (G2gDstConfig { prune_fraction: 1.0, ..ok.clone() }, "prune_fraction"),
            (G2gDstConfig { prune_fraction: f64::NAN, ..ok.clone() }, "prune_fraction"),
            (G2gDstConfig { prune_fraction: -0.5, ..ok.clone() }, "prune_fraction"),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
