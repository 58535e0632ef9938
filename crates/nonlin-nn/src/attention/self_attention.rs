//! Multi-head self-attention (Vaswani et al., "Attention Is All You Need", arXiv 1706.03762) with
//! the score normalisation chosen by name ([`ScoreNorm`]: softmax, LSSA, LSSAR), the query-key
//! form chosen by name ([`QkKind`]), optional rotary positions, a causal or a full mask, and
//! optionally no value and output projections:
//!
//! ```text
//! out_i = W_O concat_h( sum_j A^h_ij W_V^h x_j ),   A^h_i = norm( x_i^T M_h x_j / sqrt(d_k) )_j
//! ```
//!
//! Without `W_V` and `W_O` (Bermeitinger et al., arXiv 2410.13732) each head's output is the
//! convex combination `sum_j A^h_ij x_j` of the input tokens; with several heads their outputs are
//! averaged, which keeps it a convex combination (UNCONFIRMED: the paper and the community code
//! use one head there).
//!
//! [`SelfAttention::forward`] computes every row at once with a mask; [`SelfAttention::
//! forward_reference`] is the slow, obvious path (one query row at a time against exactly the
//! keys it sees) that the tests hold it to.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::{QkKind, QueryKey, Rope, ScoreNorm};
use crate::NnError;
use crate::layer::Init;

/// Configuration of a [`SelfAttention`] layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfAttentionConfig {
    /// d, the token width.
    pub d_model: usize,
    /// h, the number of heads (d_head = d / h for the separate form and the values).
    pub heads: usize,
    /// How scores become weights.
    pub score_norm: ScoreNorm,
    /// How queries meet keys.
    pub qk: QkKind,
    /// Whether the layer has `W_V` and `W_O`.
    pub value_output: bool,
    /// Whether the projections have biases.
    pub bias: bool,
    /// theta of rotary positions on queries and keys (`None`: no rotary positions).
    pub rope_theta: Option<f64>,
    /// Whether token i sees only tokens j <= i.
    pub causal: bool,
    /// Initialisation of the projections.
    pub init: Init,
    /// Initialisation of `W_O` (GPT-2 scales the residual projections down by sqrt(2 layers)).
    pub output_init: Init,
}

impl SelfAttentionConfig {
    /// Softmax attention with separate projections, biases, no positions, PyTorch's init.
    pub fn new(d_model: usize, heads: usize) -> Self {
        Self {
            d_model,
            heads,
            score_norm: ScoreNorm::Softmax,
            qk: QkKind::Separate,
            value_output: true,
            bias: true,
            rope_theta: None,
            causal: true,
            init: Init::PyTorch,
            output_init: Init::PyTorch,
        }
    }

    /// Checks the widths and the normalisation.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("attention: {reason}")));
        if self.d_model == 0 || self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return bad(format!(
                "the width {} must be a positive multiple of the heads {}",
                self.d_model, self.heads
            ));
        }
        if let Some(theta) = self.rope_theta {
            let key_width = match self.qk {
                QkKind::Separate => self.d_model / self.heads,
                _ => self.d_model,
            };
            Rope::new(key_width, theta)?;
        }
        if let ScoreNorm::Lssa { base: None } | ScoreNorm::Lssar { base: None, .. } =
            self.score_norm
        {
            return bad("the LSSA base (the training length) must be set".into());
        }
        self.score_norm.validate()
    }

    /// Builds the layer.
    pub fn init(&self, device: &Device) -> Result<SelfAttention, NnError> {
        self.validate()?;
        let d = self.d_model;
        let key_width = match self.qk {
            QkKind::Separate => d / self.heads,
            _ => d,
        };
        Ok(SelfAttention {
            qk: QueryKey::new(self.qk, d, self.heads, self.bias, self.init, device),
            value: self
                .value_output
                .then(|| self.init.linear(d, d, self.bias, device)),
            output: self
                .value_output
                .then(|| self.output_init.linear(d, d, self.bias, device)),
            norm: self.score_norm,
            rope: self
                .rope_theta
                .map(|theta| Rope::new(key_width, theta))
                .transpose()?,
            heads: self.heads,
            causal: self.causal,
        })
    }

    /// Number of parameters of the layer, in closed form: the query-key form, plus `2 d^2`
    /// (and `2 d` biases) for `W_V` and `W_O`.
    pub fn param_count(&self) -> usize {
        let d = self.d_model;
        let vo = if self.value_output {
            2 * (d * d + if self.bias { d } else { 0 })
        } else {
            0
        };
        self.qk.param_count(d, self.heads, self.bias) + vo
    }
}

/// A multi-head self-attention layer.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub qk: QueryKey,
    /// `W_V`, `[d, d]`.
    pub value: Option<Linear>,
    /// `W_O`, `[d, d]`.
    pub output: Option<Linear>,
    #[module(skip)]
    pub norm: ScoreNorm,
    #[module(skip)]
    pub rope: Option<Rope>,
    pub heads: usize,
    pub causal: bool,
}

impl SelfAttention {
    /// Every row at once.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - output: `[batch, seq, d]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let weights = self.weights(x.clone());
        let values = self.values(x);
        self.merge(weights.matmul(values))
    }

    /// The attention weights.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - output: `[batch, heads, seq (queries), seq (keys)]`
    pub fn weights(&self, x: Tensor<3>) -> Tensor<4> {
        let t = x.dims()[1];
        let device = x.device();
        let (q, k, scale) = self.queries_keys(x);
        let scores = q.matmul(k.swap_dims(2, 3)) * scale;
        let (masked, visible) = if self.causal {
            (
                Tensor::<2, Bool>::tril_mask([t, t], 0, &device),
                (1..=t).collect(),
            )
        } else {
            let none = TensorData::new(vec![false; t * t], [t, t]);
            (Tensor::<2, Bool>::from_data(none, &device), vec![t; t])
        };
        self.norm.apply(scores, masked, &visible)
    }

    /// The slow reference: for each query row, its scores against exactly the keys it sees,
    /// normalised alone, then the weighted sum of their values.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - output: `[batch, seq, d]`
    pub fn forward_reference(&self, x: Tensor<3>) -> Tensor<3> {
        let t = x.dims()[1];
        let (q, k, scale) = self.queries_keys(x.clone());
        let values = self.values(x);
        let [b, hq, _, dk] = q.dims();
        let [_, hk, _, _] = k.dims();
        let [_, hv, _, dv] = values.dims();
        let rows = (0..t)
            .map(|i| {
                let n = if self.causal { i + 1 } else { t };
                let qi = q.clone().slice([0..b, 0..hq, i..i + 1, 0..dk]);
                let keys = k.clone().slice([0..b, 0..hk, 0..n, 0..dk]);
                let w = self.norm.apply_row(qi.matmul(keys.swap_dims(2, 3)) * scale);
                w.matmul(values.clone().slice([0..b, 0..hv, 0..n, 0..dv]))
            })
            .collect();
        self.merge(Tensor::cat(rows, 2))
    }

    /// Queries and keys, rotated when the layer has rotary positions.
    fn queries_keys(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>, f64) {
        let (q, k, scale) = self.qk.forward(x);
        match &self.rope {
            Some(rope) => {
                let t = q.dims()[2];
                let (cos, sin) = rope.tables(0, t, &q);
                (
                    rope.apply_with(q, cos.clone(), sin.clone()),
                    rope.apply_with(k, cos, sin),
                    scale,
                )
            }
            None => (q, k, scale),
        }
    }

    /// Per-head values: `W_V x` split into heads, or the tokens themselves.
    ///
    /// # Shapes
    /// - output: `[batch, heads, seq, d_head]` or `[batch, 1, seq, d]`
    fn values(&self, x: Tensor<3>) -> Tensor<4> {
        match &self.value {
            Some(value) => {
                let [b, t, d] = x.dims();
                value
                    .forward(x)
                    .reshape([b, t, self.heads, d / self.heads])
                    .swap_dims(1, 2)
            }
            None => x.unsqueeze_dim(1),
        }
    }

    /// Heads back to tokens: concatenated and projected by `W_O`, or averaged.
    ///
    /// # Shapes
    /// - heads: `[batch, heads, seq, d_head]` or `[batch, heads, seq, d]`
    /// - output: `[batch, seq, d]`
    fn merge(&self, heads: Tensor<4>) -> Tensor<3> {
        let [b, h, t, dv] = heads.dims();
        match &self.output {
            Some(output) => output.forward(heads.swap_dims(1, 2).reshape([b, t, h * dv])),
            None => heads.mean_dim(1).reshape([b, t, dv]),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients, parameter_values, with_parameters};

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    fn config(
        qk: QkKind,
        norm: &str,
        heads: usize,
        vo: bool,
        rope: bool,
        causal: bool,
    ) -> SelfAttentionConfig {
        SelfAttentionConfig {
            score_norm: norm.parse::<ScoreNorm>().unwrap().with_train_length(4),
            qk,
            value_output: vo,
            rope_theta: rope.then_some(1e4),
            causal,
            ..SelfAttentionConfig::new(8, heads)
        }
    }

    fn variants() -> Vec<SelfAttentionConfig> {
        vec![
            config(QkKind::Separate, "softmax", 2, true, false, true),
            config(QkKind::Separate, "lssa", 2, true, true, true),
            config(QkKind::Separate, "lssar(p=3)", 4, true, true, true),
            config(QkKind::Collapsed, "softmax", 1, false, false, true),
            config(
                QkKind::SymmetricPsd,
                "lssar(p=2, offset=0.5)",
                1,
                true,
                true,
                false,
            ),
            config(QkKind::SymmetricGeneral, "softmax", 2, false, false, false),
        ]
    }

    /// The fused masked path equals the row-by-row reference for every kind of layer.
    #[test]
    fn fused_path_equals_the_reference() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 7, 8], Distribution::Normal(0.0, 1.0), &device);
        for config in variants() {
            let layer = config.init(&device).unwrap();
            let fused = values(layer.forward(x.clone()));
            let slow = values(layer.forward_reference(x.clone()));
            let worst = fused
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-5, "{config:?}: {worst}");
        }
    }

    /// Causal: changing token 4 leaves outputs 0..4 exactly as they were.
    #[test]
    fn causal_layers_do_not_look_ahead() {
        let device = Device::flex();
        let layer = config(QkKind::Separate, "lssar(p=2)", 2, true, true, true)
            .init(&device)
            .unwrap();
        let x = Tensor::<3>::random([1, 6, 8], Distribution::Normal(0.0, 1.0), &device);
        let y = x
            .clone()
            .slice_assign([0..1, 4..5, 0..8], Tensor::ones([1, 1, 8], &device));
        let a = values(layer.forward(x));
        let b = values(layer.forward(y));
        assert_eq!(a[..4 * 8], b[..4 * 8]);
        assert_ne!(a[4 * 8..5 * 8], b[4 * 8..5 * 8]);
    }

    /// Hand-computed: one head, width 2, identity projections, no bias, softmax, causal. Tokens
    /// x0 = (1, 0), x1 = (0, 1): row 1 scores (x1.x0, x1.x1) / sqrt 2 = (0, 0.707107), weights
    /// (1, e^0.707107) / (1 + 2.028115) = (0.330237, 0.669763), output (0.330237, 0.669763).
    #[test]
    fn hand_computed_output() {
        let device = Device::flex();
        let mut layer = SelfAttentionConfig {
            bias: false,
            ..SelfAttentionConfig::new(2, 1)
        }
        .init(&device)
        .unwrap();
        let eye = || {
            burn::module::Param::from_tensor(Tensor::<2>::from_floats(
                [[1.0, 0.0], [0.0, 1.0]],
                &device,
            ))
        };
        layer.qk.query.as_mut().unwrap().weight = eye();
        layer.qk.key.as_mut().unwrap().weight = eye();
        layer.value.as_mut().unwrap().weight = eye();
        layer.output.as_mut().unwrap().weight = eye();
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 2, 2]),
            &device,
        );
        let out = values(layer.forward(x));
        let expected = [1.0, 0.0, 0.330237, 0.669763];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?}");
        }
    }

    /// Without W_V and W_O the output rows are convex combinations of the inputs: for inputs
    /// in [0, 1] the outputs stay in [0, 1], and a constant sequence maps to itself.
    #[test]
    fn no_value_output_gives_convex_combinations() {
        let device = Device::flex();
        let layer = config(QkKind::Collapsed, "softmax", 1, false, false, false)
            .init(&device)
            .unwrap();
        let row = Tensor::<3>::random([1, 1, 8], Distribution::Uniform(0.0, 1.0), &device);
        let constant = row.clone().repeat_dim(1, 5);
        let out = values(layer.forward(constant.clone()));
        for (a, b) in out.iter().zip(values(constant)) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    /// Every kind builds on an autodiff device (parameters must be leaves) and trains: every
    /// parameter receives a gradient.
    #[test]
    fn every_kind_builds_and_backpropagates_on_autodiff() {
        let device = Device::flex().autodiff();
        for config in variants() {
            let layer = config.init(&device).unwrap();
            let x = Tensor::<3>::random([2, 4, 8], Distribution::Normal(0.0, 1.0), &device);
            let grads = layer.forward(x).sum().backward();
            let params = burn::optim::GradientsParams::from_grads(grads, &layer);
            assert_eq!(params.len(), parameter_values(&layer).len(), "{config:?}");
        }
    }

    #[test]
    fn closed_form_parameter_counts() {
        let device = Device::flex();
        for config in variants() {
            let layer = config.init(&device).unwrap();
            assert_eq!(layer.num_params(), config.param_count(), "{config:?}");
        }
        // d = 8: separate with biases 2 (64 + 8) + vo 2 (64 + 8) = 288
        assert_eq!(SelfAttentionConfig::new(8, 2).param_count(), 288);
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        for bad in [
            SelfAttentionConfig::new(0, 1),
            SelfAttentionConfig::new(8, 0),
            SelfAttentionConfig::new(8, 3),
            SelfAttentionConfig {
                rope_theta: Some(1e4),
                ..SelfAttentionConfig::new(6, 2) // d_head 3 is odd
            },
            SelfAttentionConfig {
                rope_theta: Some(f64::NAN),
                ..SelfAttentionConfig::new(8, 2)
            },
            SelfAttentionConfig {
                score_norm: ScoreNorm::Lssa { base: None },
                ..SelfAttentionConfig::new(8, 2)
            },
        ] {
            assert!(bad.init(&device).is_err(), "{bad:?}");
        }
    }

    /// Finite-difference gradients in f64 of the input and of every parameter, for each kind of
    /// layer.
    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let (t, d) = (3, 8);
        let x: Vec<f64> = (0..t * d).map(|k| (k as f64 * 0.61).sin()).collect();
        for config in variants() {
            let layer = config.init(&device).unwrap();
            let mut inputs = vec![x.clone()];
            inputs.extend(parameter_values(&layer));
            let report = check_gradients(
                |v, _| {
                    let layer = with_parameters(layer.clone(), &v[1..]);
                    layer
                        .forward(v[0].clone().reshape([1, t, d]))
                        .reshape([t * d])
                },
                &inputs,
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "{config:?}: {report}");
        }
    }
}
