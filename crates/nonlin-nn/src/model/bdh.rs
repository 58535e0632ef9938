//! BDH-GPU, the Dragon Hatchling (Kosowski, Uznański, Chorowski, Stamirowska, Bartoszkiewicz,
//! "The Dragon Hatchling: The Missing Link between the Transformer and Models of the Brain",
//! arXiv 2509.26507), exactly as the official code defines it (pathwaycom/bdh, `bdh.py`): one set
//! of parameters shared by every layer, lifts from the model width `d` to `n = h N` neurons,
//! ReLU sparsity, linear attention in neuron space with rotary positions (strictly causal, no
//! softmax), and layer norms without affine parameters. Per layer, with `x` the `d`-wide stream:
//!
//! ```text
//! x_s = ReLU(x D_x)                              (per head: [T, N], positive, sparse)
//! a_t = sum_{tau < t} (R_t x_s,t . R_tau x_s,tau) x_tau        (R_t: RoPE, theta = 2^16)
//! xy  = x_s * ReLU(LN(a) D_y)                    (gating: where the sparsity comes from)
//! x  <- LN(x + LN(concat_h(xy) E))
//! ```
//!
//! with `x = LN(embed[token])` before the first layer and `logits = x W_head` after the last.
//! Parameters (`N(0, 0.02^2)`, no biases): `embed [V, d]`, `encoder` (`D_x`) and `encoder_v`
//! (`D_y`) `[h, d, N]`, `decoder` (`E`) `[h N, d]`, `lm_head [d, V]`; `3 n d + 2 V d` in all
//! (25,296,896 at the default config). Dropout (0.1) acts on `xy` during training.
//!
//! Two forms compute the same function: the parallel form for training (all positions at once;
//! optionally chunked, `attention_chunk`, carrying the `[N, d]` attention state between chunks),
//! and the recurrent form for generation ([`Bdh::token_stream`]: one token at a time, with the
//! state `rho` per layer, constant work per token). [`probe`] measures the activation densities
//! and the neuron-interaction graph.

mod probe;
mod recurrent;

pub use probe::{GraphStats, graph_stats};
pub use recurrent::BdhStream;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer};
use burn::tensor::activation::relu;
use burn::tensor::module::layer_norm;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network, TokenStream};
use crate::NnError;
use crate::attention::{Rope, linear_attention_chunked, linear_attention_parallel};

/// Configuration of a [`Bdh`] (`kind = "bdh"`): the official `BDHConfig` defaults; the
/// vocabulary comes from the task (256 for bytes, as the official code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BdhConfig {
    /// L, the number of layers (all sharing one set of parameters).
    pub n_layer: usize,
    /// d (`D`), the model width.
    pub n_embd: usize,
    /// h, the heads.
    pub n_head: usize,
    /// N h / d: each head has `N = multiplier d / h` neurons.
    pub mlp_internal_dim_multiplier: usize,
    /// Dropout on `xy` during training.
    pub dropout: f64,
    /// theta of the rotary positions over the neuron axis.
    pub rope_theta: f64,
    /// Standard deviation of the initial parameters.
    pub init_std: f64,
    /// epsilon of the layer norms (PyTorch's default).
    pub layer_norm_eps: f64,
    /// Chunk length of the chunked attention form for training (0: the official parallel form).
    pub attention_chunk: usize,
    /// Largest neuron count `n` for which [`probe`] builds the `n x n` interaction graph.
    pub graph_probe_max_neurons: usize,
}

impl Default for BdhConfig {
    fn default() -> Self {
        Self {
            n_layer: 6,
            n_embd: 256,
            n_head: 4,
            mlp_internal_dim_multiplier: 128,
            dropout: 0.1,
            rope_theta: 65536.0,
            init_std: 0.02,
            layer_norm_eps: 1e-5,
            attention_chunk: 0,
            graph_probe_max_neurons: 4096,
        }
    }
}

impl BdhConfig {
    /// N, the neurons per head.
    pub fn neurons_per_head(&self) -> usize {
        self.mlp_internal_dim_multiplier * self.n_embd / self.n_head
    }

    /// Parameters in closed form: `3 n d` (encoder, encoder_v, decoder) `+ 2 V d` (embedding,
    /// head), `n = h N`.
    pub fn param_count(&self, vocab: usize) -> usize {
        let n = self.n_head * self.neurons_per_head();
        3 * n * self.n_embd + 2 * vocab * self.n_embd
    }

    /// Builds the model for a vocabulary of `vocab` tokens.
    pub fn init(&self, vocab: usize, device: &Device) -> Result<Bdh, NnError> {
        self.validate()?;
        if vocab == 0 {
            return Err(NnError::BadConfig("bdh needs a positive vocabulary".into()));
        }
        let (h, d, n) = (self.n_head, self.n_embd, self.neurons_per_head());
        let normal = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        Ok(Bdh {
            embed: EmbeddingConfig::new(vocab, d)
                .with_initializer(normal.clone())
                .init(device),
            encoder: normal.init([h, d, n], device),
            encoder_v: normal.init([h, d, n], device),
            decoder: normal.init([h * n, d], device),
            lm_head: normal.init([d, vocab], device),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            rope: Rope::new(n, self.rope_theta)?,
            n_layer: self.n_layer,
            layer_norm_eps: self.layer_norm_eps,
            attention_chunk: self.attention_chunk,
            graph_probe_max_neurons: self.graph_probe_max_neurons,
        })
    }
}

impl ModelSpec for BdhConfig {
    type Model = Bdh;

    fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("bdh: {reason}")));
        if self.n_layer == 0 || self.n_embd == 0 || self.n_head == 0 || self.mlp_internal_dim_multiplier == 0 {
            return bad(format!(
                "n_layer, n_embd, n_head and mlp_internal_dim_multiplier must be positive, got {}, {}, {}, {}",
                self.n_layer, self.n_embd, self.n_head, self.mlp_internal_dim_multiplier
            ));
        }
        if self.n_layer > 1024 || self.n_embd > 1 << 16 || self.mlp_internal_dim_multiplier > 1 << 12 {
            return bad("n_layer, n_embd or mlp_internal_dim_multiplier is implausibly large".into());
        }
        let lifted = self.mlp_internal_dim_multiplier * self.n_embd;
        if !lifted.is_multiple_of(self.n_head) || !(lifted / self.n_head).is_multiple_of(2) {
            return bad(format!(
                "the neurons per head, multiplier x n_embd / n_head = {lifted} / {}, must be an even integer (rotary pairs)",
                self.n_head
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0 && self.init_std <= 1.0) {
            return bad(format!("init_std must be in (0, 1], got {}", self.init_std));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return bad(format!("layer_norm_eps must be in (0, 1), got {}", self.layer_norm_eps));
        }
        Rope::new(2, self.rope_theta).map(|_| ())
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Bdh, NnError> {
        let (vocab, _) = io.token_input("bdh")?;
        if io.output_width() != vocab {
            return Err(NnError::BadConfig(format!(
                "bdh predicts the next of {vocab} tokens, but the task expects {} outputs",
                io.output_width()
            )));
        }
        self.init(vocab, device)
    }
}

/// The Dragon Hatchling (BDH-GPU). Parameter names are the official ones, so the official
/// state dict imports as it is.
#[derive(Module, Debug)]
pub struct Bdh {
    /// `[vocab, d]`.
    pub embed: Embedding,
    /// D_x, `[h, d, N]`.
    pub encoder: Param<Tensor<3>>,
    /// D_y, `[h, d, N]`.
    pub encoder_v: Param<Tensor<3>>,
    /// E, `[h N, d]`.
    pub decoder: Param<Tensor<2>>,
    /// `[d, vocab]`.
    pub lm_head: Param<Tensor<2>>,
    pub dropout: Option<Dropout>,
    #[module(skip)]
    pub rope: Rope,
    pub n_layer: usize,
    pub layer_norm_eps: f64,
    pub attention_chunk: usize,
    pub graph_probe_max_neurons: usize,
}

/// What one layer's neurons did, kept for probes.
pub(crate) struct LayerActivity {
    /// `[batch, h, T, N]`.
    pub x_sparse: Tensor<4>,
    /// `[batch, h, T, N]`, before dropout.
    pub xy_sparse: Tensor<4>,
}

impl Bdh {
    /// Heads.
    pub fn heads(&self) -> usize {
        self.encoder.dims()[0]
    }

    /// N, neurons per head.
    pub fn neurons_per_head(&self) -> usize {
        self.encoder.dims()[2]
    }

    /// d, the width.
    pub fn width(&self) -> usize {
        self.encoder.dims()[1]
    }

    /// The layer norm of the official code: over the last axis, no affine parameters.
    pub(crate) fn ln<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let width = x.dims()[D - 1];
        let ones = Tensor::<1>::ones([width], &x.device()).cast(x.dtype());
        layer_norm(x, ones, None, self.layer_norm_eps)
    }

    /// The logits at every position, by the parallel (or chunked) form.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.forward_layers(tokens, false).0
    }

    pub(crate) fn forward_layers(&self, tokens: Tensor<2, Int>, keep: bool) -> (Tensor<3>, Vec<LayerActivity>) {
        let [b, t] = tokens.dims();
        let (h, n, d) = (self.heads(), self.neurons_per_head(), self.width());
        let mut x: Tensor<4> = self.ln(self.embed.forward(tokens)).unsqueeze_dim(1); // [b, 1, t, d]
        let dtype = x.dtype();
        let encoder: Tensor<4> = self.encoder.val().cast(dtype).unsqueeze_dim(0);
        let encoder_v: Tensor<4> = self.encoder_v.val().cast(dtype).unsqueeze_dim(0);
        let decoder: Tensor<4> = self.decoder.val().cast(dtype).unsqueeze_dims(&[0, 1]);
        let (cos, sin) = self.rope.tables(0, t, &x);
        let mut activity = Vec::new();
        for _ in 0..self.n_layer {
            let x_sparse = relu(x.clone().matmul(encoder.clone())); // [b, h, t, n]
            let q = self.rope.apply_with(x_sparse.clone(), cos.clone(), sin.clone());
            let attention = match self.attention_chunk {
                0 => linear_attention_parallel(q.clone(), q, x.clone()),
                chunk => linear_attention_chunked(q.clone(), q, x.clone(), chunk),
            }; // [b, h, t, d]
            let y_sparse = relu(self.ln(attention).matmul(encoder_v.clone()));
            let mut xy = x_sparse.clone() * y_sparse;
            if keep {
                activity.push(LayerActivity {
                    x_sparse,
                    xy_sparse: xy.clone(),
                });
            }
            if let Some(dropout) = &self.dropout {
                xy = dropout.forward(xy);
            }
            let y = xy.swap_dims(1, 2).reshape([b, 1, t, h * n]).matmul(decoder.clone());
            x = self.ln(x + self.ln(y));
        }
        let logits = x
            .reshape([b, t, d])
            .matmul(self.lm_head.val().cast(dtype).unsqueeze_dim(0));
        (logits, activity)
    }
}

impl Network for Bdh {
    /// # Shapes
    /// - input: tokens `[batch, seq]`
    /// - output: `[batch * seq, vocab]`, the next token's logits at every position
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let logits = self.forward(input.tokens("bdh")?);
        let [b, t, v] = logits.dims();
        Ok(logits.reshape([b * t, v]))
    }

    fn predicts_every_position(&self) -> bool {
        true
    }

    fn token_stream(&self) -> Option<Box<dyn TokenStream + '_>> {
        Some(Box::new(BdhStream::new(self)))
    }

    fn probe(&self, input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
        probe::probe(self, input)
    }
}

#[cfg(test)]
mod tests;
