//! The transformer block (Vaswani et al., arXiv 1706.03762): self-attention and a position-wise
//! feed-forward network `W_2 phi(W_1 x)` (any registered activation `phi`), each inside a residual
//! connection with a layer norm, either before the sublayer (pre-norm, GPT-2: `x + f(LN(x))`) or
//! after the sum (post-norm, the original: `LN(x + f(x))`). The feed-forward block may be left out
//! (Bermeitinger et al., arXiv 2410.13732).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::attention::{SelfAttention, SelfAttentionConfig};

/// Where the layer norms sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPlace {
    /// `x + f(LN(x))` (GPT-2).
    #[default]
    Pre,
    /// `LN(x + f(x))` (the original transformer).
    Post,
}

/// Configuration of a [`TransformerBlock`].
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerBlockConfig {
    pub attention: SelfAttentionConfig,
    /// d_ff, the feed-forward hidden width; 0 leaves the feed-forward block out.
    pub d_ff: usize,
    /// phi, the feed-forward activation, as a spec.
    pub activation: String,
    pub norm: NormPlace,
    /// Dropout on each sublayer's output during training.
    pub dropout: f64,
    /// epsilon of the layer norms.
    pub layer_norm_eps: f64,
}

impl TransformerBlockConfig {
    /// Checks the attention, the activation and the dropout.
    pub fn validate(&self) -> Result<(), NnError> {
        self.attention.validate()?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NnError::BadConfig(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if !(self.layer_norm_eps.is_finite()
            && self.layer_norm_eps > 0.0
            && self.layer_norm_eps < 1.0)
        {
            return Err(NnError::BadConfig(format!(
                "layer_norm_eps must be in (0, 1), got {}",
                self.layer_norm_eps
            )));
        }
        crate::activation::validate(&self.activation)
    }

    /// Builds the block.
    pub fn init(&self, device: &Device) -> Result<TransformerBlock, NnError> {
        self.validate()?;
        let a = &self.attention;
        let d = a.d_model;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .with_bias(a.bias)
                .init(device)
        };
        let ffn = self.d_ff > 0;
        let spec: ActivationSpec = self.activation.parse()?;
        Ok(TransformerBlock {
            attention_norm: norm(),
            attention: a.init(device)?,
            ffn_norm: ffn.then(norm),
            ffn_in: ffn.then(|| a.init.linear(d, self.d_ff, a.bias, device)),
            activation: if ffn {
                Some(Activation::new(
                    &spec,
                    &ActivationInit::features(device, self.d_ff),
                )?)
            } else {
                None
            },
            ffn_out: ffn.then(|| a.output_init.linear(self.d_ff, d, a.bias, device)),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            pre_norm: self.norm == NormPlace::Pre,
        })
    }

    /// Parameters of the block in closed form, learnable activations aside: the attention, one
    /// layer norm per sublayer (`2 d` each, `d` without biases), and the feed-forward network
    /// `2 d d_ff` (plus `d_ff + d` biases).
    pub fn param_count(&self) -> usize {
        let a = &self.attention;
        let d = a.d_model;
        let norm = if a.bias { 2 * d } else { d };
        let ffn = if self.d_ff > 0 {
            2 * d * self.d_ff + if a.bias { self.d_ff + d } else { 0 } + norm
        } else {
            0
        };
        a.param_count() + norm + ffn
    }
}

/// A transformer block.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    pub attention_norm: LayerNorm,
    pub attention: SelfAttention,
    pub ffn_norm: Option<LayerNorm>,
    pub ffn_in: Option<Linear>,
    pub activation: Option<Activation>,
    pub ffn_out: Option<Linear>,
    pub dropout: Option<Dropout>,
    pub pre_norm: bool,
}

impl TransformerBlock {
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - output: `[batch, seq, d]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_with(x, |attention, h| attention.forward(h))
    }

    /// The block with the attention's slow reference path (for tests of whole models).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - output: `[batch, seq, d]`
    pub fn forward_reference(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_with(x, |attention, h| attention.forward_reference(h))
    }

    fn forward_with(
        &self,
        x: Tensor<3>,
        attend: impl Fn(&SelfAttention, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let drop = |y: Tensor<3>| match &self.dropout {
            Some(dropout) => dropout.forward(y),
            None => y,
        };
        let x = if self.pre_norm {
            x.clone() + drop(attend(&self.attention, self.attention_norm.forward(x)))
        } else {
            self.attention_norm
                .forward(x.clone() + drop(attend(&self.attention, x)))
        };
        match (
            &self.ffn_norm,
            &self.ffn_in,
            &self.activation,
            &self.ffn_out,
        ) {
            (Some(norm), Some(w1), Some(phi), Some(w2)) => {
                let ffn = |h: Tensor<3>| drop(w2.forward(phi.forward(w1.forward(h))));
                if self.pre_norm {
                    x.clone() + ffn(norm.forward(x))
                } else {
                    norm.forward(x.clone() + ffn(x))
                }
            }
            _ => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::attention::{QkKind, ScoreNorm};
    use crate::gradcheck::{GradCheckConfig, check_gradients, parameter_values, with_parameters};

    fn block(d_ff: usize, norm: NormPlace, qk: QkKind, bias: bool) -> TransformerBlockConfig {
        TransformerBlockConfig {
            attention: SelfAttentionConfig {
                qk,
                bias,
                score_norm: ScoreNorm::Lssar {
                    base: Some(4.0),
                    p: 2.0,
                    offset: 0.0,
                },
                rope_theta: Some(1e4),
                ..SelfAttentionConfig::new(8, 1)
            },
            d_ff,
            activation: "gelu".into(),
            norm,
            dropout: 0.0,
            layer_norm_eps: 1e-5,
        }
    }

    /// Closed-form counts, by hand for d = 8, d_ff = 32, biases: attention 288, two norms 32,
    /// ffn 2 * 8 * 32 + 32 + 8 = 552: 872. Without the ffn: 288 + 16 = 304.
    #[test]
    fn closed_form_parameter_counts() {
        let device = Device::flex();
        assert_eq!(
            block(32, NormPlace::Pre, QkKind::Separate, true).param_count(),
            872
        );
        assert_eq!(
            block(0, NormPlace::Post, QkKind::Separate, true).param_count(),
            304
        );
        for config in [
            block(32, NormPlace::Pre, QkKind::Separate, true),
            block(0, NormPlace::Post, QkKind::Collapsed, false),
            block(16, NormPlace::Post, QkKind::SymmetricPsd, true),
        ] {
            let b = config.init(&device).unwrap();
            assert_eq!(b.num_params(), config.param_count(), "{config:?}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = block(8, NormPlace::Pre, QkKind::Separate, true);
        for bad in [
            TransformerBlockConfig {
                dropout: -0.1,
                ..base.clone()
            },
            TransformerBlockConfig {
                dropout: 1.0,
                ..base.clone()
            },
            TransformerBlockConfig {
                dropout: f64::NAN,
                ..base.clone()
            },
            TransformerBlockConfig {
                layer_norm_eps: 0.0,
                ..base.clone()
            },
            TransformerBlockConfig {
                layer_norm_eps: f64::NAN,
                ..base.clone()
            },
            TransformerBlockConfig {
                activation: "nope".into(),
                ..base.clone()
            },
            TransformerBlockConfig {
                activation: String::new(),
                ..base.clone()
            },
        ] {
            assert!(bad.init(&device).is_err(), "{bad:?}");
        }
    }

    /// The block's fused path equals its reference path.
    #[test]
    fn fused_equals_reference() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        for norm in [NormPlace::Pre, NormPlace::Post] {
            let b = block(16, norm, QkKind::Separate, true)
                .init(&device)
                .unwrap();
            let a: Vec<f64> = b
                .forward(x.clone())
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap();
            let r: Vec<f64> = b
                .forward_reference(x.clone())
                .into_data()
                .convert::<f64>()
                .try_to_vec::<f64>()
                .unwrap();
            for (a, r) in a.iter().zip(&r) {
                assert!((a - r).abs() < 1e-5);
            }
        }
    }

    /// Finite differences in f64 of the input and every parameter (layer norms included).
    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex();
        let (t, d) = (3, 8);
        let x: Vec<f64> = (0..t * d).map(|k| (k as f64 * 0.43).cos()).collect();
        for norm in [NormPlace::Pre, NormPlace::Post] {
            let b = block(4, norm, QkKind::Separate, true)
                .init(&device)
                .unwrap();
            let mut inputs = vec![x.clone()];
            inputs.extend(parameter_values(&b));
            let report = check_gradients(
                |v, _| {
                    let b = with_parameters(b.clone(), &v[1..]);
                    b.forward(v[0].clone().reshape([1, t, d])).reshape([t * d])
                },
                &inputs,
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "{norm:?}: {report}");
        }
    }
}
