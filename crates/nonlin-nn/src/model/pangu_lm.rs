//! A small LLaMA-style decoder language model with the two "nonlinearity compensations" of
//! "PanGu-π: Enhancing Language Model Architectures via Nonlinearity Compensation" (Wang et al.,
//! arXiv:2312.17276) as switches:
//!
//! ```text
//! Z' = Z + MSA(N(Z)) + Σ_{i=1..T} T_i(N(Z))          (augmented shortcut, T = shortcut_branches)
//! Z'' = Z' + W_2 σ(W_1 N(Z'))                         (FFN; σ = `activation`, e.g. "siaf(terms=2)")
//! ```
//!
//! with N an RMS normalisation (pre-norm), causal multi-head self-attention, learned absolute
//! position embeddings and an untied output head. `shortcut_branches = 0` and `activation =
//! "gelu"` give the vanilla decoder.
//!
//! Choices where the paper leaves room (documented, config fields): the FFN is the plain two-layer
//! MLP rather than SwiGLU (where SIAF would sit relative to the gate is UNCONFIRMED), positions
//! are learned embeddings rather than RoPE, the AS branches read the same normalised input as the
//! attention, and `neighbour_mix` adds VanillaNet-style neighbour mixing after the FFN
//! activation as a causal depthwise convolution over the sequence (kernel 3, starting as the
//! identity). For the random-initialisation collapse check the model can drop the FFN
//! (`attention_only`), the norms (`norm = false`) and the identity shortcut (`residual = false`)
//! and draw every attention and AS weight from N(0, init_std²) without biases.

use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, generate_autoregressive_mask};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::layer::{AugmentedShortcut, AugmentedShortcutConfig};

/// Configuration of a [`PanguLm`] (`kind = "pangu_lm"`); the vocabulary and context come from
/// the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanguLmConfig {
    /// d, the width of the residual stream.
    #[serde(default = "d_model")]
    pub d_model: usize,
    /// Decoder blocks.
    #[serde(default = "layers")]
    pub layers: usize,
    /// H, attention heads (must divide d).
    #[serde(default = "heads")]
    pub heads: usize,
    /// Hidden width of the FFN (default 4d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffn_hidden: Option<usize>,
    /// The FFN activation, as a spec: "gelu" (vanilla) or "siaf(terms=2)" (PanGu-π's SIAF).
    #[serde(default = "gelu")]
    pub activation: String,
    /// VanillaNet-style neighbour mixing after the FFN activation: a causal depthwise
    /// convolution over the sequence, kernel 3, starting as the identity.
    #[serde(default)]
    pub neighbour_mix: bool,
    /// T, the augmented-shortcut branches beside each attention (0: none; the paper uses 1).
    #[serde(default)]
    pub shortcut_branches: usize,
    /// r, the AS bottleneck reduction (hidden width d/r); paper default 32.
    #[serde(default = "reduction")]
    pub shortcut_reduction: usize,
    /// Drop the FFN (attention-only stacks, for the collapse check).
    #[serde(default)]
    pub attention_only: bool,
    /// Pre-norms and the final norm (RMS normalisation).
    #[serde(default = "yes")]
    pub norm: bool,
    /// The identity shortcut around the attention (and the FFN).
    #[serde(default = "yes")]
    pub residual: bool,
    /// Causal attention (a language model); `false` lets every token attend to every token (the
    /// paper's MSA analysis, for the collapse check at initialisation; not for training).
    #[serde(default = "yes")]
    pub causal: bool,
    /// Draw the attention and AS weights from N(0, init_std²) without biases (the collapse check
    /// uses 1/√d); by default Burn's initialisation with biases and AS switched off at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f64>,
}

fn d_model() -> usize {
    128
}
fn layers() -> usize {
    4
}
fn heads() -> usize {
    4
}
fn gelu() -> String {
    "gelu".into()
}
fn reduction() -> usize {
    32
}
fn yes() -> bool {
    true
}

impl Default for PanguLmConfig {
    fn default() -> Self {
        Self {
            d_model: d_model(),
            layers: layers(),
            heads: heads(),
            ffn_hidden: None,
            activation: gelu(),
            neighbour_mix: false,
            shortcut_branches: 0,
            shortcut_reduction: reduction(),
            attention_only: false,
            norm: true,
            residual: true,
            causal: true,
            init_std: None,
        }
    }
}

impl PanguLmConfig {
    fn ffn_width(&self) -> usize {
        self.ffn_hidden.unwrap_or(4 * self.d_model)
    }

    fn shortcut(&self) -> AugmentedShortcutConfig {
        AugmentedShortcutConfig::new(self.d_model)
            .with_reduction(self.shortcut_reduction)
            .with_branches(self.shortcut_branches.max(1))
            .with_init_std(self.init_std)
    }

    /// Builds the model for `vocab` tokens and contexts of `context` tokens.
    pub fn init(&self, vocab: usize, context: usize, device: &Device) -> Result<PanguLm, NnError> {
        self.validate()?;
        if vocab == 0 || context == 0 {
            return Err(NnError::BadConfig(format!(
                "pangu_lm needs a positive vocabulary and context, got {vocab} and {context}"
            )));
        }
        let d = self.d_model;
        let spec: ActivationSpec = self.activation.parse()?;
        let norm = |enabled: bool| enabled.then(|| RmsNormConfig::new(d).init(device));
        // Embeddings first, so models that differ only in their blocks start from the same ones.
        let tokens = EmbeddingConfig::new(vocab, d).init(device);
        let positions = EmbeddingConfig::new(context, d).init(device);
        let mut blocks = Vec::with_capacity(self.layers);
        for _ in 0..self.layers {
            let mut attention = MultiHeadAttentionConfig::new(d, self.heads).with_dropout(0.0);
            if let Some(std) = self.init_std {
                attention = attention
                    .with_initializer(Initializer::Normal { mean: 0.0, std })
                    .with_query_bias(false)
                    .with_key_bias(false)
                    .with_value_bias(false)
                    .with_output_bias(false);
            }
            let ffn = if self.attention_only {
                None
            } else {
                let hidden = self.ffn_width();
                Some(Ffn {
                    up: LinearConfig::new(d, hidden).init(device),
                    activation: Activation::new(&spec, &ActivationInit::features(device, hidden))?,
                    mix: self.neighbour_mix.then(|| NeighbourMix::new(hidden, device)),
                    down: LinearConfig::new(hidden, d).init(device),
                })
            };
            blocks.push(Block {
                norm1: norm(self.norm),
                attention: attention.init(device),
                shortcut: if self.shortcut_branches > 0 {
                    Some(self.shortcut().init(device)?)
                } else {
                    None
                },
                norm2: norm(self.norm && !self.attention_only),
                ffn,
                residual: self.residual,
            });
        }
        Ok(PanguLm {
            tokens,
            positions,
            blocks,
            norm: norm(self.norm),
            head: LinearConfig::new(d, vocab).init(device),
            context,
            causal: self.causal,
        })
    }
}

impl ModelSpec for PanguLmConfig {
    type Model = PanguLm;

    fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("pangu_lm: {reason}")));
        if self.d_model == 0 || self.layers == 0 || self.heads == 0 {
            return bad(format!(
                "d_model, layers and heads must be positive, got {}, {}, {}",
                self.d_model, self.layers, self.heads
            ));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return bad(format!(
                "heads ({}) must divide d_model ({})",
                self.heads, self.d_model
            ));
        }
        if self.ffn_hidden == Some(0) {
            return bad("ffn_hidden must be positive".into());
        }
        if self.shortcut_branches > 0 {
            self.shortcut().validate()?;
        }
        if let Some(std) = self.init_std
            && !(std.is_finite() && std > 0.0)
        {
            return bad(format!("init_std must be positive, got {std}"));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<PanguLm, NnError> {
        let (vocab, context) = io.token_input("pangu_lm")?;
        if io.output_width() != vocab {
            return Err(NnError::BadConfig(format!(
                "pangu_lm predicts the next of {vocab} tokens, but the task expects {} outputs",
                io.output_width()
            )));
        }
        self.init(vocab, context, device)
    }
}

/// Causal depthwise mixing over the sequence: y_t = w_0 ⊙ h_t + w_1 ⊙ h_{t−1} + w_2 ⊙ h_{t−2}.
#[derive(Module, Debug)]
struct NeighbourMix {
    /// `[3, channels]`: row k weighs the token k steps back; starts as (1, 0, 0).
    weight: Param<Tensor<2>>,
}

impl NeighbourMix {
    fn new(channels: usize, device: &Device) -> Self {
        let mut w = vec![0.0f32; 3 * channels];
        w[..channels].fill(1.0);
        Self {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [3, channels]), device)),
        }
    }

    /// # Shapes
    /// - input: `[batch, seq, channels]`
    /// - output: `[batch, seq, channels]`
    fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        causal_mix(h, self.weight.val())
    }
}

/// y_t = Σ_{k<3} w_k ⊙ h_{t−k} with zeros before the start, `w` of shape `[3, channels]`.
fn causal_mix(h: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    let [batch, seq, channels] = h.dims();
    let w = w.cast(h.dtype());
    let mut out = h.clone() * w.clone().slice(0..1).reshape([1, 1, channels]);
    for k in 1..3.min(seq) {
        // h shifted k steps later along the sequence, zeros in front
        let shifted = Tensor::cat(
            vec![
                Tensor::zeros([batch, k, channels], (&h.device(), h.dtype())),
                h.clone().slice([0..batch, 0..seq - k, 0..channels]),
            ],
            1,
        );
        out = out + shifted * w.clone().slice(k..k + 1).reshape([1, 1, channels]);
    }
    out
}

/// The FFN: W_2 σ(W_1 x), optionally with neighbour mixing after σ.
#[derive(Module, Debug)]
struct Ffn {
    up: Linear,
    activation: Activation,
    mix: Option<NeighbourMix>,
    down: Linear,
}

impl Ffn {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut h = self.activation.forward(self.up.forward(x));
        if let Some(mix) = &self.mix {
            h = mix.forward(h);
        }
        self.down.forward(h)
    }
}

/// One decoder block.
#[derive(Module, Debug)]
struct Block {
    norm1: Option<RmsNorm>,
    attention: MultiHeadAttention,
    shortcut: Option<AugmentedShortcut>,
    norm2: Option<RmsNorm>,
    ffn: Option<Ffn>,
    residual: bool,
}

impl Block {
    /// # Shapes
    /// - input: `[batch, seq, d_model]`, mask `[batch, seq, seq]` (none: full attention)
    /// - output: `[batch, seq, d_model]`
    fn forward(&self, x: Tensor<3>, mask: Option<Tensor<3, burn::tensor::Bool>>) -> Tensor<3> {
        let h = match &self.norm1 {
            Some(n) => n.forward(x.clone()),
            None => x.clone(),
        };
        let input = match mask {
            Some(mask) => MhaInput::self_attn(h.clone()).mask_attn(mask),
            None => MhaInput::self_attn(h.clone()),
        };
        let mut out = self.attention.forward(input).context;
        if let Some(shortcut) = &self.shortcut {
            out = out + shortcut.forward(h);
        }
        if self.residual {
            out = out + x;
        }
        if let Some(ffn) = &self.ffn {
            let h = match &self.norm2 {
                Some(n) => n.forward(out.clone()),
                None => out.clone(),
            };
            let f = ffn.forward(h);
            out = if self.residual { out + f } else { f };
        }
        out
    }
}

/// The decoder language model.
#[derive(Module, Debug)]
pub struct PanguLm {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<Block>,
    norm: Option<RmsNorm>,
    head: Linear,
    context: usize,
    causal: bool,
}

impl PanguLm {
    /// The residual stream after the embeddings (index 0) and after every block.
    ///
    /// # Shapes
    /// - input: tokens `[batch, seq]` with seq <= context
    /// - output: `layers + 1` tensors `[batch, seq, d_model]`
    pub fn residual_stream(&self, tokens: Tensor<2, Int>) -> Result<Vec<Tensor<3>>, NnError> {
        let [batch, seq] = tokens.dims();
        if seq == 0 || seq > self.context {
            return Err(NnError::Shape {
                block: "pangu_lm",
                expected: format!("[batch, 1..={}] tokens", self.context),
                found: vec![batch, seq],
            });
        }
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let mut x = self.tokens.forward(tokens) + self.positions.forward(positions);
        let mask = self
            .causal
            .then(|| generate_autoregressive_mask(batch, seq, &device));
        let mut stream = Vec::with_capacity(self.blocks.len() + 1);
        stream.push(x.clone());
        for block in &self.blocks {
            x = block.forward(x, mask.clone());
            stream.push(x.clone());
        }
        Ok(stream)
    }

    /// The logits of the next token at every position.
    ///
    /// # Shapes
    /// - input: tokens `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Result<Tensor<3>, NnError> {
        let x = self
            .residual_stream(tokens)?
            .pop()
            .expect("the stream holds the embeddings at least");
        let x = match &self.norm {
            Some(n) => n.forward(x),
            None => x,
        };
        Ok(self.head.forward(x))
    }
}

impl Network for PanguLm {
    /// # Shapes
    /// - input: tokens `[batch, context]`
    /// - output: `[batch * context, vocab]`, the next-token logits at every position
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let logits = self.forward(input.tokens("pangu_lm")?)?;
        let [batch, seq, vocab] = logits.dims();
        Ok(logits.reshape([batch * seq, vocab]))
    }

    fn predicts_every_position(&self) -> bool {
        true
    }

    /// The residual stream after the embeddings and after every block, `[batch, seq, d]`: one
    /// group of `seq` token rows per sequence.
    fn features(&self, input: &ModelInput) -> Result<Option<Vec<Tensor<3>>>, NnError> {
        self.residual_stream(input.tokens("pangu_lm")?).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn tokens(values: &[i64], batch: usize, device: &Device) -> Tensor<2, Int> {
        Tensor::<2, Int>::from_data(TensorData::new(values.to_vec(), [batch, values.len() / batch]), device)
    }

    #[test]
    fn shapes_and_causality() {
        let device = Device::flex();
        let config = PanguLmConfig {
            d_model: 16,
            layers: 2,
            heads: 2,
            activation: "siaf(terms=2)".into(),
            neighbour_mix: true,
            shortcut_branches: 1,
            shortcut_reduction: 4,
            ..PanguLmConfig::default()
        };
        let model = config.init(7, 6, &device).unwrap();
        let a = model.forward(tokens(&[1, 2, 3, 4, 5, 6], 1, &device)).unwrap();
        assert_eq!(a.dims(), [1, 6, 7]);
        // changing the token at position 4 leaves positions 0..4 unchanged (AS, SIAF and the
        // neighbour mixing included), and changes position 4
        let b = model.forward(tokens(&[1, 2, 3, 4, 0, 6], 1, &device)).unwrap();
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(a[..4 * 7], b[..4 * 7]);
        assert_ne!(a[4 * 7..5 * 7], b[4 * 7..5 * 7]);
        let stream = model.residual_stream(tokens(&[1, 2, 3], 1, &device)).unwrap();
        assert_eq!(stream.len(), 3);
        assert_eq!(stream[2].dims(), [1, 3, 16]);
        assert!(model.forward(tokens(&[1; 7], 1, &device)).is_err(), "longer than the context");
    }

    /// With AS zero-initialised, the model with AS computes exactly what the same weights
    /// compute without it (the notes' "starts as an identity-shortcut model").
    #[test]
    fn a_zero_initialised_shortcut_changes_nothing() {
        let device = Device::flex();
        let base = PanguLmConfig {
            d_model: 8,
            layers: 2,
            heads: 2,
            ..PanguLmConfig::default()
        };
        let with = PanguLmConfig {
            shortcut_branches: 1,
            shortcut_reduction: 4,
            ..base.clone()
        };
        crate::engine::seed(&device, 3);
        let plain = base.init(5, 4, &device).unwrap();
        let mut augmented = with.init(5, 4, &device).unwrap();
        // copy every block's weights except the shortcut
        for (a, p) in augmented.blocks.iter_mut().zip(&plain.blocks) {
            a.attention = p.attention.clone();
            a.ffn = p.ffn.clone();
            a.norm1 = p.norm1.clone();
            a.norm2 = p.norm2.clone();
        }
        augmented.tokens = plain.tokens.clone();
        augmented.positions = plain.positions.clone();
        augmented.head = plain.head.clone();
        let t = tokens(&[0, 1, 2, 3, 4, 3, 2, 1], 2, &device);
        let x = plain.forward(t.clone()).unwrap().into_data();
        let y = augmented.forward(t).unwrap().into_data();
        x.assert_approx_eq::<f32>(&y, Default::default());
    }

    /// The neighbour mixing by hand: channels 1, seq 3, h = (1, 2, 4), w = (0.5, 0.25, 0.125):
    /// y = (0.5, 0.5·2 + 0.25·1, 0.5·4 + 0.25·2 + 0.125·1) = (0.5, 1.25, 2.625); and its
    /// gradients of input and weights pass finite differences in f64.
    #[test]
    fn neighbour_mix_by_hand_and_gradcheck() {
        let device = Device::flex();
        let mix = NeighbourMix {
            weight: Param::from_tensor(Tensor::from_floats([[0.5], [0.25], [0.125]], &device)),
        };
        let y = mix.forward(Tensor::<3>::from_floats([[[1.0], [2.0], [4.0]]], &device));
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![0.5, 1.25, 2.625]);
        let report = check_gradients(
            |inputs, _| {
                let h: Tensor<3> = inputs[0].clone().reshape([1, 4, 2]);
                let w: Tensor<2> = inputs[1].clone().reshape([3, 2]);
                causal_mix(h, w).flatten(0, 2)
            },
            &[vec![0.3, -1.0, 0.8, 0.2, -0.5, 1.4, 0.9, -0.7], vec![1.0, 0.9, 0.2, -0.3, 0.1, 0.4]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let bad = [
            PanguLmConfig { d_model: 0, ..PanguLmConfig::default() },
            PanguLmConfig { layers: 0, ..PanguLmConfig::default() },
            PanguLmConfig { heads: 3, ..PanguLmConfig::default() },
            PanguLmConfig { ffn_hidden: Some(0), ..PanguLmConfig::default() },
            PanguLmConfig { shortcut_branches: 1, shortcut_reduction: 0, ..PanguLmConfig::default() },
            PanguLmConfig { shortcut_branches: 1, shortcut_reduction: 1000, ..PanguLmConfig::default() },
            PanguLmConfig { init_std: Some(-1.0), ..PanguLmConfig::default() },
            PanguLmConfig { init_std: Some(f64::NAN), ..PanguLmConfig::default() },
            PanguLmConfig { activation: "nope".into(), ..PanguLmConfig::default() },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        assert!(PanguLmConfig::default().validate().is_ok());
    }
}
