//! The reduced transformers of Bermeitinger, Hrycej, Pavone, Kath, Handschuh, "Reducing the
//! Transformer Architecture to a Minimum", arXiv 2410.13732: a transformer encoder whose blocks
//! may drop the feed-forward network, collapse `W_Q` and `W_K` into one `W_QK`, make the
//! similarity symmetric, and drop `W_V` and `W_O` (each token's output then a convex combination
//! of the input tokens), so the only nonlinearities left are the attention's normalisation and
//! the layer norms:
//!
//! ```text
//! x <- LN(x + Attn(x)),   Attn(x)_i = sum_j softmax_j(x_i^T W_QK x_j / sqrt(d)) x_j
//! ```
//!
//! As an image classifier (the paper's use) it is a vision transformer: non-overlapping
//! `patch x patch` patches, linearly embedded (a stride-`patch` convolution), a class token in
//! front, learned positions, full (non-causal) attention, and a linear head on the class token.
//! On token input it is a causal language model: token embedding, learned positions, causal
//! attention, and a linear head at every position.
//!
//! Defaults follow the community re-implementation the notes read
//! (Abdennacer-Badaoui/Reducing_the_Transformer_Architecture_to_a_Minimum; the paper's own code
//! was not found): width 64, 6 post-norm layers, feed-forward width = the model width with GELU,
//! dropout 0.1, PyTorch's initialisation, class token and positions `N(0, 1)`. Deviations,
//! UNCONFIRMED against the paper: `W_QK` has no bias (the community's has one), and with several
//! heads the collapsed and symmetric forms read the whole token in each head
//! ([`crate::attention::QkKind`]).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::attention::{QkKind, ScoreNorm, SelfAttentionConfig};
use crate::layer::{Init, NormPlace, TransformerBlock, TransformerBlockConfig};
use crate::model::InputSpec;

/// Configuration of a [`MinimalTransformer`] (`kind = "minimal_transformer"`); the input (image
/// or tokens) and the output width come from the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinimalTransformerConfig {
    /// d, the token width.
    pub d_model: usize,
    /// Number of encoder blocks.
    pub layers: usize,
    /// h, attention heads.
    pub heads: usize,
    /// Whether the blocks keep their feed-forward network (the reduction drops it).
    pub feed_forward: bool,
    /// d_ff, the feed-forward width (default: d, as in the community code).
    pub d_ff: Option<usize>,
    /// The feed-forward activation.
    pub activation: String,
    /// The query-key form: `separate` (W_Q, W_K), `collapsed` (W_QK), `symmetric_psd`,
    /// `symmetric_general`.
    pub qk: QkKind,
    /// Whether attention keeps `W_V` and `W_O`.
    pub value_output: bool,
    /// The attention's score normalisation.
    pub score_norm: String,
    /// Post-norm (the original and the community code) or pre-norm blocks.
    pub norm: NormPlace,
    /// Side of the square image patches (image input).
    pub patch: usize,
    /// Dropout on the embeddings and each sublayer's output during training.
    pub dropout: f64,
    /// Whether linear layers and layer norms have biases.
    pub bias: bool,
}

impl Default for MinimalTransformerConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            layers: 6,
            heads: 1,
            feed_forward: true,
            d_ff: None,
            activation: "gelu".into(),
            qk: QkKind::Separate,
            value_output: true,
            score_norm: "softmax".into(),
            norm: NormPlace::Post,
            patch: 7,
            dropout: 0.1,
            bias: true,
        }
    }
}

/// What the model reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Front {
    /// `[channels, height, width]` images cut into `patch x patch` patches.
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    /// Token ids, `context` of them at training time.
    Tokens { vocab: usize, context: usize },
}

impl MinimalTransformerConfig {
    fn front(&self, io: &ModelIo) -> Result<Front, NnError> {
        match &io.input {
            InputSpec::Tokens { vocab, context } => {
                if io.output_width() != *vocab {
                    return Err(NnError::BadConfig(format!(
                        "minimal_transformer as a language model predicts {vocab} tokens, but the task expects {} outputs",
                        io.output_width()
                    )));
                }
                Ok(Front::Tokens {
                    vocab: *vocab,
                    context: *context,
                })
            }
            InputSpec::Graph { .. } => Err(NnError::BadConfig(
                "minimal_transformer reads tokens or images, not a graph".into(),
            )),
            InputSpec::Real { shape } => {
                let (channels, height, width) = match shape.as_slice() {
                    [c, h, w] => (*c, *h, *w),
                    [h, w] => (1, *h, *w),
                    [n] => {
                        let side = (*n as f64).sqrt().round() as usize;
                        if side * side != *n {
                            return Err(NnError::BadConfig(format!(
                                "minimal_transformer reads images: {n} features are not a square"
                            )));
                        }
                        (1, side, side)
                    }
                    other => {
                        return Err(NnError::BadConfig(format!(
                            "minimal_transformer reads [channels, height, width] images, got {other:?}"
                        )));
                    }
                };
                let p = self.patch;
                if channels == 0 || height == 0 || width == 0 || height % p != 0 || width % p != 0 {
                    return Err(NnError::BadConfig(format!(
                        "minimal_transformer: {height}x{width} images do not split into {p}x{p} patches"
                    )));
                }
                Ok(Front::Image {
                    channels,
                    height,
                    width,
                })
            }
        }
    }

    fn block(&self, causal: bool, train_length: usize) -> Result<TransformerBlockConfig, NnError> {
        let norm: ScoreNorm = self.score_norm.parse()?;
        Ok(TransformerBlockConfig {
            attention: SelfAttentionConfig {
                d_model: self.d_model,
                heads: self.heads,
                score_norm: norm.with_train_length(train_length),
                qk: self.qk,
                value_output: self.value_output,
                bias: self.bias,
                rope_theta: None,
                causal,
                init: Init::PyTorch,
                output_init: Init::PyTorch,
            },
            d_ff: if self.feed_forward {
                self.d_ff.unwrap_or(self.d_model)
            } else {
                0
            },
            activation: self.activation.clone(),
            norm: self.norm,
            dropout: self.dropout,
            layer_norm_eps: 1e-5,
        })
    }

    /// Tokens the encoder sees, and whether attention is causal.
    fn sequence(&self, front: Front) -> (usize, bool) {
        match front {
            Front::Image { height, width, .. } => ((height / self.patch) * (width / self.patch) + 1, false),
            Front::Tokens { context, .. } => (context, true),
        }
    }

    /// Parameters in closed form for `io`: the front (patch embedding `c p^2 d + d`, class token
    /// `d`; or token embedding `V d`), learned positions (`(patches + 1) d` or `T d`), the blocks
    /// ([`TransformerBlockConfig::param_count`]), and the head (`d K + K`).
    pub fn param_count(&self, io: &ModelIo) -> Result<usize, NnError> {
        let front = self.front(io)?;
        let d = self.d_model;
        let (seq, causal) = self.sequence(front);
        let embed = match front {
            Front::Image { channels, .. } => channels * self.patch * self.patch * d + d + d,
            Front::Tokens { vocab, .. } => vocab * d,
        };
        let out = io.output_width();
        Ok(embed + seq * d + self.layers * self.block(causal, seq)?.param_count() + d * out + out)
    }
}

impl ModelSpec for MinimalTransformerConfig {
    type Model = MinimalTransformer;

    fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("minimal_transformer: {reason}")));
        if self.d_model == 0 || self.layers == 0 || self.heads == 0 || self.patch == 0 {
            return bad(format!(
                "d_model, layers, heads and patch must be positive, got {}, {}, {}, {}",
                self.d_model, self.layers, self.heads, self.patch
            ));
        }
        if self.d_ff == Some(0) {
            return bad("d_ff must be positive when given".into());
        }
        self.block(false, 2)?.validate()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<MinimalTransformer, NnError> {
        self.validate()?;
        let front = self.front(io)?;
        let d = self.d_model;
        let (seq, causal) = self.sequence(front);
        let block = self.block(causal, seq)?;
        let standard = Initializer::Normal { mean: 0.0, std: 1.0 };
        let (patch_embed, class_token, token_embed) = match front {
            Front::Image { channels, .. } => (
                Some(Init::PyTorch.linear(channels * self.patch * self.patch, d, true, device)),
                Some(standard.init([d], device)),
                None,
            ),
            Front::Tokens { vocab, .. } => (
                None,
                None,
                Some(EmbeddingConfig::new(vocab, d).with_initializer(standard.clone()).init(device)),
            ),
        };
        let (channels, height, width) = match front {
            Front::Image {
                channels,
                height,
                width,
            } => (channels, height, width),
            Front::Tokens { .. } => (0, 0, 0),
        };
        Ok(MinimalTransformer {
            patch_embed,
            class_token,
            token_embed,
            positions: standard.init([seq, d], device),
            blocks: (0..self.layers)
                .map(|_| block.init(device))
                .collect::<Result<_, _>>()?,
            head: Init::PyTorch.linear(d, io.output_width(), true, device),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            channels,
            height,
            width,
            patch: self.patch,
        })
    }
}

/// A reduced transformer: an image classifier or a causal language model.
#[derive(Module, Debug)]
pub struct MinimalTransformer {
    /// The patch embedding, `[c p^2, d]` (images).
    pub patch_embed: Option<Linear>,
    /// The class token, `[d]` (images).
    pub class_token: Option<Param<Tensor<1>>>,
    /// The token embedding, `[vocab, d]` (tokens).
    pub token_embed: Option<Embedding>,
    /// Learned positions, `[sequence, d]`.
    pub positions: Param<Tensor<2>>,
    pub blocks: Vec<TransformerBlock>,
    /// The output layer, `[d, outputs]`.
    pub head: Linear,
    pub dropout: Option<Dropout>,
    channels: usize,
    height: usize,
    width: usize,
    patch: usize,
}

impl MinimalTransformer {
    /// Images to patch vectors.
    ///
    /// # Shapes
    /// - images: `[batch, channels * height * width]`
    /// - output: `[batch, patches, channels * patch * patch]`, patches row by row
    pub fn patches(&self, images: Tensor<2>) -> Tensor<3> {
        let b = images.dims()[0];
        let (c, p) = (self.channels, self.patch);
        let (rows, cols) = (self.height / p, self.width / p);
        let x: Tensor<6> = images.reshape([b, c, rows, p, cols, p]);
        x.permute([0, 2, 4, 1, 3, 5]).reshape([b, rows * cols, c * p * p])
    }

    fn encode(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, t, d] = x.dims();
        let mut x = x + self.positions.val().slice([0..t, 0..d]).unsqueeze_dim(0);
        if let Some(dropout) = &self.dropout {
            x = dropout.forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }
}

impl Network for MinimalTransformer {
    /// # Shapes
    /// - input: images `[batch, c * h * w]`, or tokens `[batch, seq]`
    /// - output: `[batch, classes]`, or `[batch * seq, vocab]`
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        match (&self.patch_embed, &self.class_token, &self.token_embed) {
            (Some(embed), Some(class), _) => {
                let images = input.real("minimal_transformer")?;
                let [b, features] = images.dims();
                if features != self.channels * self.height * self.width {
                    return Err(NnError::Shape {
                        block: "minimal_transformer",
                        expected: format!("[batch, {}] images", self.channels * self.height * self.width),
                        found: vec![b, features],
                    });
                }
                let tokens = embed.forward(self.patches(images));
                let d = tokens.dims()[2];
                let class: Tensor<3> = class.val().reshape([1, 1, d]).repeat_dim(0, b);
                let x = self.encode(Tensor::cat(vec![class, tokens], 1));
                let first: Tensor<2> = x.slice([0..b, 0..1, 0..d]).reshape([b, d]);
                Ok(self.head.forward(first))
            }
            (_, _, Some(embed)) => {
                let tokens = input.tokens("minimal_transformer")?;
                let [b, t] = tokens.dims();
                let max = self.positions.dims()[0];
                if t > max {
                    return Err(NnError::Shape {
                        block: "minimal_transformer",
                        expected: format!("at most {max} tokens (the learned positions)"),
                        found: vec![b, t],
                    });
                }
                let logits = self.head.forward(self.encode(embed.forward(tokens)));
                let v = logits.dims()[2];
                Ok(logits.reshape([b * t, v]))
            }
            _ => unreachable!("built with an image or a token front"),
        }
    }

    fn predicts_every_position(&self) -> bool {
        self.token_embed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Int, TensorData};

    use super::*;

    fn digits() -> ModelIo {
        ModelIo {
            input: InputSpec::Real {
                shape: vec![1, 8, 8],
            },
            output: vec![10],
        }
    }

    fn variant(feed_forward: bool, qk: QkKind, value_output: bool) -> MinimalTransformerConfig {
        MinimalTransformerConfig {
            d_model: 32,
            layers: 2,
            patch: 2,
            feed_forward,
            qk,
            value_output,
            ..MinimalTransformerConfig::default()
        }
    }

    /// The digits variants, by hand (d = 32, 2 layers, 2x2 patches of 8x8 images: 16 patches
    /// plus the class token = 17 positions, 10 classes, biases). Outside the blocks: patch
    /// embedding 4 * 32 + 32 = 160, class token 32, positions 17 * 32 = 544, head
    /// 32 * 10 + 10 = 330: 1066.
    /// - full block: W_Q, W_K, W_V, W_O 4 (1024 + 32) = 4224, two norms 128, ffn (d_ff = d)
    ///   2 * 1024 + 32 + 32 = 2112: 6464; model 1066 + 2 * 6464 = 13994
    /// - no ffn: 4224 + 64 = 4288; model 1066 + 8576 = 9642
    /// - no ffn, W_QK: 1024 + 2112 (W_V, W_O) + 64 = 3200; model 7466
    /// - no ffn, W_QK, no W_V/W_O: 1024 + 64 = 1088; model 3242
    /// - no ffn, symmetric: 32 * 33 / 2 = 528 + 2112 + 64 = 2704; model 6474
    #[test]
    fn parameter_counts_of_the_digits_variants() {
        let device = Device::flex();
        for (config, expected) in [
            (variant(true, QkKind::Separate, true), 13_994),
            (variant(false, QkKind::Separate, true), 9_642),
            (variant(false, QkKind::Collapsed, true), 7_466),
            (variant(false, QkKind::Collapsed, false), 3_242),
            (variant(false, QkKind::SymmetricPsd, true), 6_474),
            (variant(false, QkKind::SymmetricGeneral, true), 6_474),
        ] {
            let model = config.build(&digits(), &device).unwrap();
            assert_eq!(model.num_params(), expected, "{config:?}");
            assert_eq!(config.param_count(&digits()).unwrap(), expected, "{config:?}");
        }
    }

    /// Patches are cut row by row, each flattened (channel, row, column): for a 4x4 image with
    /// pixel values 0..16 and 2x2 patches the first patch is (0, 1, 4, 5) and the second (2, 3,
    /// 6, 7).
    #[test]
    fn patches_by_hand() {
        let device = Device::flex();
        let io = ModelIo {
            input: InputSpec::Real { shape: vec![4, 4] },
            output: vec![3],
        };
        let model = MinimalTransformerConfig {
            patch: 2,
            d_model: 8,
            layers: 1,
            ..MinimalTransformerConfig::default()
        }
        .build(&io, &device)
        .unwrap();
        let image = Tensor::<2>::from_data(TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 16]), &device);
        let p: Vec<f32> = model.patches(image).into_data().try_to_vec().unwrap();
        assert_eq!(p[..8], [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        assert_eq!(p[12..16], [10.0, 11.0, 14.0, 15.0]);
    }

    #[test]
    fn classifies_images_and_models_tokens() {
        let device = Device::flex();
        let model = variant(false, QkKind::Collapsed, false).build(&digits(), &device).unwrap();
        let x = Tensor::<2>::random([3, 64], Distribution::Uniform(0.0, 1.0), &device);
        assert_eq!(model.forward_input(&ModelInput::Real(x)).unwrap().dims(), [3, 10]);
        assert!(!model.predicts_every_position());
        let io = ModelIo {
            input: InputSpec::Tokens { vocab: 7, context: 5 },
            output: vec![7],
        };
        let lm = variant(false, QkKind::SymmetricPsd, true).build(&io, &device).unwrap();
        assert!(lm.predicts_every_position());
        let tokens = |ids: Vec<i64>| ModelInput::Tokens(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 5]), &device));
        let a: Vec<f32> = lm.valid().forward_input(&tokens(vec![1, 2, 3, 4, 5])).unwrap().into_data().try_to_vec().unwrap();
        let b: Vec<f32> = lm.valid().forward_input(&tokens(vec![1, 2, 3, 6, 5])).unwrap().into_data().try_to_vec().unwrap();
        assert_eq!(a.len(), 35);
        assert_eq!(a[..21], b[..21], "causal: positions before the change stay");
        assert_ne!(a[21..28], b[21..28]);
        assert_eq!(lm.num_params(), variant(false, QkKind::SymmetricPsd, true).param_count(&io).unwrap());
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = variant(false, QkKind::Separate, true);
        for bad in [
            MinimalTransformerConfig { d_model: 0, ..base.clone() },
            MinimalTransformerConfig { layers: 0, ..base.clone() },
            MinimalTransformerConfig { heads: 0, ..base.clone() },
            MinimalTransformerConfig { heads: 5, ..base.clone() },
            MinimalTransformerConfig { patch: 0, ..base.clone() },
            MinimalTransformerConfig { d_ff: Some(0), ..base.clone() },
            MinimalTransformerConfig { dropout: 1.0, ..base.clone() },
            MinimalTransformerConfig { dropout: f64::NAN, ..base.clone() },
            MinimalTransformerConfig { score_norm: String::new(), ..base.clone() },
            MinimalTransformerConfig { activation: "nope".into(), ..base.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        // 8x8 images do not split into 3x3 patches; 10 features are not a square image
        assert!(MinimalTransformerConfig { patch: 3, ..base.clone() }.build(&digits(), &device).is_err());
        let odd = ModelIo {
            input: InputSpec::Real { shape: vec![10] },
            output: vec![2],
        };
        assert!(base.build(&odd, &device).is_err());
    }
}
