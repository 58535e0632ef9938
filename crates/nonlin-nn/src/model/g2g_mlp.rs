//! An MLP with ensemble-to-ensemble sparse connectivity between its hidden layers (G2GNet;
//! Konstantaropoulos, Smirnakis, Papadopouli, "Neuro-inspired Ensemble-to-Ensemble Communication
//! Primitives for Sparse and Efficient ANNs", arXiv 2508.14140; no official code):
//!
//! ```text
//! h_{l+1} = phi((W_l ⊙ M_l) h_l + b_l)      for the hidden-to-hidden layers,
//! M_l[i, j] = 1  iff  ensemble(j) reads ensemble(i)
//! ```
//!
//! The units of every hidden layer are split into `G` contiguous ensembles of equal size; output
//! ensemble `j` reads the input ensembles `j, j + 1, ..., j + links - 1 (mod G)`, so the density is
//! exactly `links / G` (the notes' target: G = 8, 2 links, 75% sparsity). `mask = "random"` is the
//! Erdős–Rényi control: exactly `round(density * in * out)` entries drawn uniformly from
//! `mask_seed`; `"dense"` is the plain MLP. The input and output layers stay dense (the notes
//! count "75% fewer hidden-to-hidden weights").
//!
//! UNCONFIRMED (config fields; the paper's abstract gives none of them): which ensembles talk (here
//! a ring: each ensemble reads itself and its next `links - 1` neighbours), contiguous equal
//! ensembles, the masks on hidden-to-hidden layers only. The masks are parameters without
//! gradients, so checkpoints hold them; the learning rule `g2g_dst` rewires them (dynamic sparse
//! training with Hebbian regrowth).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::layer::SplitMix;

/// The connectivity of the hidden-to-hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum G2gMask {
    /// Every weight (the dense baseline).
    Dense,
    /// Erdős–Rényi: `density` of the weights, drawn uniformly.
    Random,
    /// Ensemble-to-ensemble blocks: `links` of `ensembles` per output ensemble.
    #[default]
    Block,
}

/// Configuration of a [`G2gMlp`] (`kind = "g2g_mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct G2gMlpConfig {
    /// Widths of the hidden layers (notes: 256, 256).
    #[serde(default = "hidden")]
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer.
    #[serde(default = "relu")]
    pub activation: String,
    #[serde(default)]
    pub mask: G2gMask,
    /// G, ensembles per hidden layer (notes: 8).
    #[serde(default = "ensembles")]
    pub ensembles: usize,
    /// Input ensembles each output ensemble reads (notes: 2 of 8).
    #[serde(default = "links")]
    pub links: usize,
    /// Density of the random mask (notes: 0.25, the block mask's).
    #[serde(default = "density")]
    pub density: f64,
    /// Seed of the random mask.
    #[serde(default)]
    pub mask_seed: u64,
}

fn hidden() -> Vec<usize> {
    vec![256, 256]
}
fn relu() -> String {
    "relu".into()
}
fn ensembles() -> usize {
    8
}
fn links() -> usize {
    2
}
fn density() -> f64 {
    0.25
}

/// An MLP whose hidden-to-hidden weights are masked.
#[derive(Module, Debug)]
pub struct G2gMlp {
    layers: Vec<Linear>,
    activations: Vec<Activation>,
    /// `M_l` of hidden-to-hidden layer `l + 1`, `[in, out]` like Burn's weights; no gradient
    /// (none for the dense mask).
    masks: Vec<Param<Tensor<2>>>,
}

impl G2gMlpConfig {
    fn check(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("g2g_mlp: {reason}")));
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return bad(format!("hidden widths must be positive and at least one, got {:?}", self.hidden));
        }
        if self.mask == G2gMask::Block {
            if self.ensembles == 0 || self.links == 0 || self.links > self.ensembles {
                return bad(format!(
                    "need 1 <= links <= ensembles, got links {} and ensembles {}",
                    self.links, self.ensembles
                ));
            }
            if let Some(w) = self.hidden.iter().find(|w| !w.is_multiple_of(self.ensembles)) {
                return bad(format!("hidden width {w} is not a multiple of the {} ensembles", self.ensembles));
            }
        }
        if !(self.density.is_finite() && self.density > 0.0 && self.density <= 1.0) {
            return bad(format!("density must be in (0, 1], got {}", self.density));
        }
        crate::activation::validate(&self.activation)
    }

    /// The mask of a hidden-to-hidden layer `inputs -> outputs` (`[in, out]`, row-major).
    pub fn mask_values(&self, inputs: usize, outputs: usize, layer: usize) -> Vec<f32> {
        match self.mask {
            G2gMask::Dense => vec![1.0; inputs * outputs],
            G2gMask::Block => {
                let g = self.ensembles;
                let (size_in, size_out) = (inputs / g, outputs / g);
                let mut m = vec![0.0; inputs * outputs];
                for i in 0..inputs {
                    for j in 0..outputs {
                        let (ei, ej) = (i / size_in, j / size_out);
                        if (ei + g - ej) % g < self.links {
                            m[i * outputs + j] = 1.0;
                        }
                    }
                }
                m
            }
            G2gMask::Random => {
                let total = inputs * outputs;
                let keep = ((self.density * total as f64).round() as usize).clamp(1, total);
                let mut rng = SplitMix::new(self.mask_seed.wrapping_mul(7919).wrapping_add(layer as u64));
                let mut order: Vec<usize> = (0..total).collect();
                for k in 0..keep {
                    let pick = k + ((rng.uniform() * (total - k) as f64) as usize).min(total - k - 1);
                    order.swap(k, pick);
                }
                let mut m = vec![0.0; total];
                for &k in &order[..keep] {
                    m[k] = 1.0;
                }
                m
            }
        }
    }

    /// Builds the network `input -> hidden... -> output`.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<G2gMlp, NnError> {
        self.check()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!("g2g_mlp: input {input} and output {output} must be positive")));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        widths.push(output);
        let layers = widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        let activations = self
            .hidden
            .iter()
            .map(|&w| Activation::new(&spec, &ActivationInit::features(device, w)))
            .collect::<Result<_, _>>()?;
        // the dense baseline has no masks: its forward pass is the plain MLP's, with no extra work
        let dense = self.mask == G2gMask::Dense;
        let masks = self
            .hidden
            .windows(2)
            .filter(|_| !dense)
            .enumerate()
            .map(|(l, w)| {
                let data = TensorData::new(self.mask_values(w[0], w[1], l), [w[0], w[1]]);
                Param::from_tensor(Tensor::from_data(data, device)).set_require_grad(false)
            })
            .collect();
        Ok(G2gMlp { layers, activations, masks })
    }
}

impl ModelSpec for G2gMlpConfig {
    type Model = G2gMlp;

    fn validate(&self) -> Result<(), NnError> {
        self.check()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<G2gMlp, NnError> {
        let input: usize = io.real_input("g2g_mlp")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

impl G2gMlp {
    /// The output and the input and output of every masked layer (after its activation).
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`; masked layer `k`: (`[batch, in_k]`, `[batch, out_k]`)
    pub fn forward_masked(&self, input: Tensor<2>) -> (Tensor<2>, Vec<(Tensor<2>, Tensor<2>)>) {
        let mut x = input;
        let mut pairs = Vec::with_capacity(self.masks.len());
        let hidden = self.activations.len();
        for (l, layer) in self.layers.iter().enumerate() {
            let masked = if l >= 1 && l < hidden { self.masks.get(l - 1) } else { None };
            let weight = match masked {
                Some(mask) => layer.weight.val() * mask.val(),
                None => layer.weight.val(),
            };
            let mut out = x.clone().matmul(weight);
            if let Some(b) = &layer.bias {
                out = out + b.val().unsqueeze();
            }
            if l < hidden {
                out = self.activations[l].forward(out);
            }
            if masked.is_some() {
                pairs.push((x, out.clone()));
            }
            x = out;
        }
        (x, pairs)
    }

    /// Number of masked (hidden-to-hidden) layers.
    pub fn masked_layers(&self) -> usize {
        self.masks.len()
    }

    /// `M_k` and `W_k` of masked layer `k`, `[in, out]` each.
    pub fn mask_and_weight(&self, k: usize) -> (Tensor<2>, Tensor<2>) {
        (self.masks[k].val(), self.layers[k + 1].weight.val())
    }

    /// The network with masked layer `k`'s mask and weights replaced (the parameters keep their
    /// identities, so the optimizer's state for them carries over).
    pub fn rewired(mut self, k: usize, mask: Tensor<2>, weight: Tensor<2>) -> Self {
        self.masks[k] = self.masks[k].clone().map(|_| mask);
        let layer = &mut self.layers[k + 1];
        let trainable = weight.device().is_autodiff();
        layer.weight = layer
            .weight
            .clone()
            .map(|_| if trainable { weight.require_grad() } else { weight });
        self
    }

    /// Active fraction of the hidden-to-hidden weights.
    pub fn hidden_density(&self) -> f64 {
        let (active, total) = self.masks.iter().fold((0.0, 0.0), |(a, t), m| {
            let m = m.val();
            (a + m.clone().sum().into_scalar::<f64>(), t + m.shape().num_elements() as f64)
        });
        if total == 0.0 { 1.0 } else { active / total }
    }
}

impl Network for G2gMlp {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward_masked(input.real("g2g_mlp")?).0)
    }

    /// `hidden_density`: the active fraction of the hidden-to-hidden weights.
    fn probe(&self, _input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
        Ok(vec![("hidden_density".into(), self.hidden_density())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MlpConfig;

    fn config(mask: G2gMask) -> G2gMlpConfig {
        G2gMlpConfig { mask, ..serde_json::from_str("{}").unwrap() }
    }

    /// G = 4, 1 link of 8 -> 8: output ensemble j (units 2j, 2j+1) reads input ensemble j only: a
    /// block diagonal; with 2 links it also reads ensemble j + 1 (mod 4), e.g. output unit 0 reads
    /// inputs 0-3 and output unit 6 (ensemble 3) reads inputs 6, 7, 0, 1.
    #[test]
    fn block_mask_by_hand() {
        let c = G2gMlpConfig { ensembles: 4, links: 1, ..config(G2gMask::Block) };
        let m = c.mask_values(8, 8, 0);
        let row = |i: usize| m[i * 8..(i + 1) * 8].to_vec();
        assert_eq!(row(0), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(row(5), vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        let c = G2gMlpConfig { links: 2, ..c };
        let m = c.mask_values(8, 8, 0);
        let column = |j: usize| (0..8).map(|i| m[i * 8 + j]).collect::<Vec<_>>();
        assert_eq!(column(0), vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(column(6), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    }

    /// The block mask has density links / G exactly; the random mask the same count, elsewhere,
    /// reproducible from its seed and different for another seed.
    #[test]
    fn densities_are_exact_and_random_masks_are_seeded() {
        let block = config(G2gMask::Block).mask_values(256, 256, 0);
        assert_eq!(block.iter().sum::<f32>(), (256 * 256 / 4) as f32);
        let random = config(G2gMask::Random).mask_values(256, 256, 0);
        assert_eq!(random.iter().sum::<f32>(), (256 * 256 / 4) as f32);
        assert_ne!(random, block);
        assert_eq!(random, config(G2gMask::Random).mask_values(256, 256, 0));
        let other = G2gMlpConfig { mask_seed: 1, ..config(G2gMask::Random) };
        assert_ne!(random, other.mask_values(256, 256, 0));
        let device = Device::flex();
        let net = config(G2gMask::Block).init(64, 10, &device).unwrap();
        assert_eq!(net.hidden_density(), 0.25);
    }

    /// With the dense mask the network is an MLP: the same parameters give the same outputs as
    /// `mlp`'s forward pass (the slow reference of the masked path); masked entries do not count.
    #[test]
    fn dense_mask_is_the_mlp_and_masked_weights_do_not_count() {
        let device = Device::flex();
        let mut net = config(G2gMask::Dense).init(6, 3, &device).unwrap();
        net.layers = MlpConfig::new(vec![256, 256]).init(6, 3, &device).unwrap().layers().to_vec();
        let mlp_layers = net.layers.clone();
        let x = Tensor::<2>::from_floats([[0.5, -1.0, 2.0, 0.0, 1.5, -0.5]], &device);
        let mut h = x.clone();
        for (l, layer) in mlp_layers.iter().enumerate() {
            h = layer.forward(h);
            if l < 2 {
                h = burn::tensor::activation::relu(h);
            }
        }
        let ours: Vec<f32> = net.forward_masked(x.clone()).0.into_data().try_to_vec().unwrap();
        let reference: Vec<f32> = h.into_data().try_to_vec().unwrap();
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(net.masked_layers(), 0);
        assert_eq!(net.hidden_density(), 1.0);
        // a zero mask on the hidden-to-hidden layer: its weights do not matter, only its bias
        let net = config(G2gMask::Random).init(6, 3, &device).unwrap();
        let (mask, weight) = net.mask_and_weight(0);
        let net = net.rewired(0, mask.zeros_like(), weight.clone() * 100.0);
        let (_, pairs) = net.forward_masked(x);
        let out: Vec<f32> = pairs[0].1.clone().into_data().try_to_vec().unwrap();
        let bias: Vec<f32> = burn::tensor::activation::relu(net.layers[1].bias.as_ref().unwrap().val())
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(out, bias);
        assert_eq!(net.hidden_density(), 0.0);
    }

    #[test]
    fn bad_configs_are_rejected() {
        for (c, what) in [
            (G2gMlpConfig { links: 0, ..config(G2gMask::Block) }, "links"),
            (G2gMlpConfig { links: 9, ..config(G2gMask::Block) }, "links"),
            (G2gMlpConfig { ensembles: 0, ..config(G2gMask::Block) }, "links"),
            (G2gMlpConfig { ensembles: 7, ..config(G2gMask::Block) }, "multiple"),
            (G2gMlpConfig { density: 0.0, ..config(G2gMask::Random) }, "density"),
            (G2gMlpConfig { density: f64::NAN, ..config(G2gMask::Random) }, "density"),
            (G2gMlpConfig { density: 1.5, ..config(G2gMask::Random) }, "density"),
            (G2gMlpConfig { hidden: vec![], ..config(G2gMask::Random) }, "hidden"),
            (G2gMlpConfig { hidden: vec![0, 8], ..config(G2gMask::Random) }, "hidden"),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
