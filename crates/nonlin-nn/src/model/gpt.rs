//! A GPT language model (Radford et al., "Language Models are Unsupervised Multitask Learners",
//! 2019; laid out as in nanoGPT): token embedding plus positions, `L` pre-norm transformer blocks
//! with causal self-attention, a final layer norm, and a linear head (optionally tied to the
//! embedding), predicting the next token at every position:
//!
//! ```text
//! h_0 = E[x] + P,   h_l = block_l(h_{l-1}),   logits = LN(h_L) W_out   (W_out = E^T when tied)
//! ```
//!
//! The baseline for the sequence papers: the attention's score normalisation (softmax, LSSA,
//! LSSAR), its query-key form and value/output projections, the feed-forward activation (any
//! registered one) and the block's layout are config fields, so the minimal-transformer variants
//! (arXiv 2410.13732) and softplus attention (arXiv 2501.13428) run as GPTs too. Positions are
//! learned (GPT-2), rotary (RoFormer, theta 10^4), or absent. GPT-2's initialisation: weights
//! `N(0, 0.02^2)`, biases zero, residual projections (`W_O`, the feed-forward output)
//! `N(0, (0.02 / sqrt(2 L))^2)`.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::attention::{QkKind, ScoreNorm, SelfAttentionConfig};
use crate::layer::{Init, NormPlace, TransformerBlock, TransformerBlockConfig};

/// How the model knows where a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Positions {
    /// A learned vector per position added to the embedding (GPT-2); sequences are limited to
    /// `max_positions`.
    #[default]
    Learned,
    /// Rotary positions on queries and keys; any length.
    Rope,
    /// None (a causal model can still infer positions).
    None,
}

/// Configuration of a [`Gpt`] (`kind = "gpt"`); the vocabulary and the training length come from
/// the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GptConfig {
    /// d, the model width.
    pub d_model: usize,
    /// L, the number of blocks.
    pub layers: usize,
    /// h, the attention heads.
    pub heads: usize,
    /// d_ff, the feed-forward width (default 4 d).
    pub d_ff: Option<usize>,
    /// Whether the blocks have a feed-forward network.
    pub feed_forward: bool,
    /// phi of the feed-forward network, any registered activation.
    pub activation: String,
    /// Where positions come from.
    pub positions: Positions,
    /// theta of rotary positions.
    pub rope_theta: f64,
    /// Length of the learned position table (default: the training length).
    pub max_positions: Option<usize>,
    /// Whether the output head is the transposed token embedding.
    pub tie_weights: bool,
    /// Whether linear layers and layer norms have biases.
    pub bias: bool,
    /// Dropout on the embeddings and on each sublayer's output during training.
    pub dropout: f64,
    /// The attention's score normalisation: `softmax`, `lssa`, `lssar(p=2)`, ...
    pub score_norm: String,
    /// The attention's query-key form.
    pub qk: QkKind,
    /// Whether attention has `W_V` and `W_O`.
    pub value_output: bool,
    /// Pre-norm (GPT-2) or post-norm blocks.
    pub norm: NormPlace,
    /// The standard deviation of the initial weights (GPT-2: 0.02).
    pub init_std: f64,
    /// epsilon of the layer norms.
    pub layer_norm_eps: f64,
}

impl Default for GptConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            layers: 4,
            heads: 4,
            d_ff: None,
            feed_forward: true,
            activation: "gelu".into(),
            positions: Positions::Learned,
            rope_theta: 1e4,
            max_positions: None,
            tie_weights: true,
            bias: true,
            dropout: 0.0,
            score_norm: "softmax".into(),
            qk: QkKind::Separate,
            value_output: true,
            norm: NormPlace::Pre,
            init_std: 0.02,
            layer_norm_eps: 1e-5,
        }
    }
}

impl GptConfig {
    fn d_ff(&self) -> usize {
        if self.feed_forward {
            self.d_ff.unwrap_or(4 * self.d_model)
        } else {
            0
        }
    }

    /// The block every layer uses, for a training length of `context` tokens.
    pub fn block(&self, context: usize) -> Result<TransformerBlockConfig, NnError> {
        let norm: ScoreNorm = self.score_norm.parse()?;
        let residual_std = self.init_std / (2.0 * self.layers as f64).sqrt();
        Ok(TransformerBlockConfig {
            attention: SelfAttentionConfig {
                d_model: self.d_model,
                heads: self.heads,
                score_norm: norm.with_train_length(context),
                qk: self.qk,
                value_output: self.value_output,
                bias: self.bias,
                rope_theta: (self.positions == Positions::Rope).then_some(self.rope_theta),
                causal: true,
                init: Init::Normal { std: self.init_std },
                output_init: Init::Normal { std: residual_std },
            },
            d_ff: self.d_ff(),
            activation: self.activation.clone(),
            norm: self.norm,
            dropout: self.dropout,
            layer_norm_eps: self.layer_norm_eps,
        })
    }

    /// Builds the model for a vocabulary of `vocab` tokens and a training length of `context`.
    pub fn init(&self, vocab: usize, context: usize, device: &Device) -> Result<Gpt, NnError> {
        self.validate()?;
        if vocab == 0 || context == 0 {
            return Err(NnError::BadConfig(format!(
                "gpt needs a positive vocabulary and context, got {vocab} and {context}"
            )));
        }
        let block = self.block(context)?;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        let d = self.d_model;
        let max_positions = self.max_positions.unwrap_or(context);
        Ok(Gpt {
            embedding: EmbeddingConfig::new(vocab, d)
                .with_initializer(normal.clone())
                .init(device),
            positions: (self.positions == Positions::Learned)
                .then(|| normal.init([max_positions, d], device)),
            blocks: (0..self.layers)
                .map(|_| block.init(device))
                .collect::<Result<_, _>>()?,
            final_norm: (self.norm == NormPlace::Pre).then(|| {
                LayerNormConfig::new(d)
                    .with_epsilon(self.layer_norm_eps)
                    .with_bias(self.bias)
                    .init(device)
            }),
            head: (!self.tie_weights).then(|| Init::Normal { std: self.init_std }.linear(d, vocab, false, device)),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
        })
    }

    /// Parameters in closed form (learnable activations aside): `V d` embedding, `P d` learned
    /// positions, `L` blocks ([`TransformerBlockConfig::param_count`]), the final layer norm of
    /// a pre-norm model, and `d V` for an untied head.
    pub fn param_count(&self, vocab: usize, context: usize) -> Result<usize, NnError> {
        let d = self.d_model;
        let positions = match self.positions {
            Positions::Learned => self.max_positions.unwrap_or(context) * d,
            _ => 0,
        };
        let final_norm = match self.norm {
            NormPlace::Pre => (if self.bias { 2 } else { 1 }) * d,
            NormPlace::Post => 0,
        };
        let head = if self.tie_weights { 0 } else { d * vocab };
        Ok(vocab * d + positions + self.layers * self.block(context)?.param_count() + final_norm + head)
    }
}

impl ModelSpec for GptConfig {
    type Model = Gpt;

    fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("gpt: {reason}")));
        if self.d_model == 0 || self.layers == 0 || self.heads == 0 {
            return bad(format!(
                "d_model, layers and heads must be positive, got {}, {}, {}",
                self.d_model, self.layers, self.heads
            ));
        }
        if self.d_ff == Some(0) || self.max_positions == Some(0) {
            return bad("d_ff and max_positions must be positive when given".into());
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0 && self.init_std <= 1.0) {
            return bad(format!("init_std must be in (0, 1], got {}", self.init_std));
        }
        if self.positions == Positions::None && self.max_positions.is_some() {
            return bad("max_positions applies to learned positions only".into());
        }
        // The block's own checks (widths, heads, rope, activation, dropout, norm), at a
        // training length that only fills in the LSSA base.
        self.block(2)?.validate()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Gpt, NnError> {
        let (vocab, context) = io.token_input("gpt")?;
        if io.output_width() != vocab {
            return Err(NnError::BadConfig(format!(
                "gpt predicts the next of {vocab} tokens, but the task expects {} outputs",
                io.output_width()
            )));
        }
        self.init(vocab, context, device)
    }
}

/// A GPT language model.
#[derive(Module, Debug)]
pub struct Gpt {
    /// E, `[vocab, d]`.
    pub embedding: Embedding,
    /// P, `[max_positions, d]` (learned positions).
    pub positions: Option<Param<Tensor<2>>>,
    pub blocks: Vec<TransformerBlock>,
    pub final_norm: Option<LayerNorm>,
    /// `W_out`, `[d, vocab]` (untied).
    pub head: Option<Linear>,
    pub dropout: Option<Dropout>,
}

impl Gpt {
    /// The logits at every position.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, tokens: Tensor<2, burn::tensor::Int>) -> Result<Tensor<3>, NnError> {
        let [batch, seq] = tokens.dims();
        let mut x = self.embedding.forward(tokens);
        if let Some(positions) = &self.positions {
            let [max, d] = positions.dims();
            if seq > max {
                return Err(NnError::Shape {
                    block: "gpt",
                    expected: format!("at most {max} tokens (the learned positions)"),
                    found: vec![batch, seq],
                });
            }
            x = x + positions.val().slice([0..seq, 0..d]).unsqueeze_dim(0);
        }
        if let Some(dropout) = &self.dropout {
            x = dropout.forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward(x);
        }
        Ok(match &self.head {
            Some(head) => head.forward(x),
            None => x.matmul(self.embedding.weight.val().transpose().unsqueeze_dim(0)),
        })
    }
}

impl Network for Gpt {
    /// # Shapes
    /// - input: tokens `[batch, seq]`
    /// - output: `[batch * seq, vocab]`, the next token's logits at every position
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let logits = self.forward(input.tokens("gpt")?)?;
        let [b, t, v] = logits.dims();
        Ok(logits.reshape([b * t, v]))
    }

    fn predicts_every_position(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, TensorData};

    use super::*;
    use crate::model::InputSpec;

    fn io(vocab: usize, context: usize) -> ModelIo {
        ModelIo {
            input: InputSpec::Tokens { vocab, context },
            output: vec![vocab],
        }
    }

    fn tokens(ids: &[i64], device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
    }

    /// nanoGPT's count for d = 64, L = 4, V = 65, T = 32, tied, biases: embedding 4160, positions
    /// 2048, each block 12 d^2 + 13 d = 49152 + 832 = 49984, final norm 128:
    /// 4160 + 2048 + 199936 + 128 = 206272.
    #[test]
    fn parameter_count_by_hand_and_closed_form() {
        let device = Device::flex();
        let config = GptConfig::default();
        let model = config.build(&io(65, 32), &device).unwrap();
        assert_eq!(model.num_params(), 206_272);
        assert_eq!(config.param_count(65, 32).unwrap(), 206_272);
        for variant in [
            GptConfig { tie_weights: false, positions: Positions::Rope, ..GptConfig::default() },
            GptConfig { feed_forward: false, qk: QkKind::Collapsed, heads: 1, value_output: false, ..GptConfig::default() },
            GptConfig { bias: false, qk: QkKind::SymmetricPsd, heads: 2, norm: NormPlace::Post, ..GptConfig::default() },
            GptConfig { qk: QkKind::SymmetricGeneral, d_ff: Some(40), positions: Positions::None, ..GptConfig::default() },
        ] {
            let model = variant.build(&io(65, 32), &device).unwrap();
            assert_eq!(model.num_params(), variant.param_count(65, 32).unwrap(), "{variant:?}");
        }
    }

    #[test]
    fn shapes_and_causality() {
        let device = Device::flex();
        for positions in [Positions::Learned, Positions::Rope] {
            let config = GptConfig {
                positions,
                score_norm: "lssar(p=2)".into(),
                ..GptConfig::default()
            };
            let model = config.build(&io(10, 6), &device).unwrap();
            let a = model
                .forward_input(&ModelInput::Tokens(tokens(&[1, 2, 3, 4, 5, 6], &device)))
                .unwrap();
            assert_eq!(a.dims(), [6, 10]);
            let b = model
                .forward_input(&ModelInput::Tokens(tokens(&[1, 2, 3, 9, 5, 6], &device)))
                .unwrap();
            let (a, b): (Vec<f32>, Vec<f32>) = (
                a.into_data().try_to_vec().unwrap(),
                b.into_data().try_to_vec().unwrap(),
            );
            assert_eq!(a[..30], b[..30], "{positions:?}: positions before the change must not move");
            assert_ne!(a[30..40], b[30..40]);
        }
    }

    /// Rotary models read sequences longer than the training length; learned positions refuse.
    #[test]
    fn longer_sequences() {
        let device = Device::flex();
        let ids: Vec<i64> = (0..12).map(|k| k % 5).collect();
        let rope = GptConfig { positions: Positions::Rope, ..GptConfig::default() }
            .build(&io(5, 4), &device)
            .unwrap();
        assert_eq!(
            rope.forward_input(&ModelInput::Tokens(tokens(&ids, &device))).unwrap().dims(),
            [12, 5]
        );
        let learned = GptConfig::default().build(&io(5, 4), &device).unwrap();
        assert!(learned.forward_input(&ModelInput::Tokens(tokens(&ids, &device))).is_err());
    }

    /// Zero, negative (where a type allows), NaN, huge and empty values are errors.
    #[test]
    fn bad_configs_are_errors() {
        let base = GptConfig::default();
        for bad in [
            GptConfig { d_model: 0, ..base.clone() },
            GptConfig { layers: 0, ..base.clone() },
            GptConfig { heads: 0, ..base.clone() },
            GptConfig { heads: 3, ..base.clone() },
            GptConfig { d_ff: Some(0), ..base.clone() },
            GptConfig { max_positions: Some(0), ..base.clone() },
            GptConfig { init_std: 0.0, ..base.clone() },
            GptConfig { init_std: -0.02, ..base.clone() },
            GptConfig { init_std: f64::NAN, ..base.clone() },
            GptConfig { init_std: 1e9, ..base.clone() },
            GptConfig { dropout: 1.0, ..base.clone() },
            GptConfig { dropout: f64::NAN, ..base.clone() },
            GptConfig { rope_theta: f64::NAN, positions: Positions::Rope, ..base.clone() },
            GptConfig { rope_theta: 0.0, positions: Positions::Rope, ..base.clone() },
            GptConfig { score_norm: String::new(), ..base.clone() },
            GptConfig { score_norm: "lssar(p=-1)".into(), ..base.clone() },
            GptConfig { activation: "nope".into(), ..base.clone() },
            GptConfig { layer_norm_eps: 0.0, ..base.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let device = Device::flex();
        assert!(base.build(&io(0, 4), &device).is_err());
        let wrong = ModelIo {
            input: InputSpec::Real { shape: vec![4] },
            output: vec![3],
        };
        assert!(base.build(&wrong, &device).is_err());
    }

    #[test]
    fn toml_defaults_and_unknown_keys() {
        let config: GptConfig = toml::from_str("d_model = 32\nscore_norm = \"lssa\"").unwrap();
        assert_eq!(config.d_model, 32);
        assert_eq!(config.layers, 4);
        assert!(toml::from_str::<GptConfig>("d_modle = 32").is_err());
    }
}
