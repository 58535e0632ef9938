//! The baseline weight quantisers DenseShift is compared with (notes §6), each applied to a float
//! latent weight w in the forward pass with the identity straight-through estimator:
//!
//! - ternary (TWN, Li et al. 2016, arXiv:1605.04711): Δ = 0.7·mean|w|,
//!   α = mean{|w| : |w| > Δ}, W = α·sign(w)·1[|w| > Δ] ∈ {0, ±α};
//! - zero-free log rounding with P = 2^(N−1) levels: W = sign(w)·2^clip(round(log2|w|), −(P−1), 0),
//!   sign(0) = +1.
//!
//! `code` gives each weight's discrete value as an integer (−1/0/+1; ±(p + 1)) so the rate of
//! code changes can be compared with DenseShift's.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// A weight quantiser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WeightQuantizer {
    /// TWN ternary {0, ±α}.
    Ternary,
    /// sign(w)·2^clip(round(log2|w|), −(P−1), 0) with P = 2^(bits−1).
    LogRound { bits: usize },
}

impl WeightQuantizer {
    /// The quantised weights, with the identity STE in the backward pass.
    ///
    /// # Shapes
    /// - w: `[in, out]`
    /// - output: `[in, out]`
    pub fn quantize(&self, w: Tensor<2>) -> Tensor<2> {
        let hard = match *self {
            WeightQuantizer::Ternary => {
                let w = w.clone().detach();
                let abs = w.clone().abs();
                let delta = abs.clone().mean().into_scalar::<f64>() * 0.7;
                let mask = abs.clone().greater_elem(delta).float().cast(w.dtype());
                let kept = mask.clone().sum().into_scalar::<f64>();
                let alpha = if kept > 0.0 {
                    (abs * mask.clone()).sum().into_scalar::<f64>() / kept
                } else {
                    0.0
                };
                sign(w) * mask * alpha
            }
            WeightQuantizer::LogRound { bits } => {
                let w = w.clone().detach();
                let top = ((1usize << (bits.max(1) - 1)) - 1) as f64;
                // |w| = 0 gives log2 = −inf, clipped to the smallest level
                let exponent = w
                    .clone()
                    .abs()
                    .log()
                    .div_scalar(std::f64::consts::LN_2)
                    .round()
                    .clamp(-top, 0.0);
                sign(w) * (exponent * std::f64::consts::LN_2).exp()
            }
        };
        w.clone() + (hard - w).detach()
    }

    /// The discrete value of every weight as an integer (row-major): −1, 0, +1 for ternary;
    /// ±(p + 1) with W = ±2^(−p) for log rounding.
    pub fn codes(&self, w: Tensor<2>) -> Vec<i32> {
        let q = self
            .quantize(w.detach())
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap_or_default();
        match self {
            WeightQuantizer::Ternary => q
                .iter()
                .map(|v| v.signum() as i32 * i32::from(*v != 0.0))
                .collect(),
            WeightQuantizer::LogRound { .. } => q
                .iter()
                .map(|v| {
                    let p = (-v.abs().log2()).round() as i32;
                    v.signum() as i32 * (p + 1)
                })
                .collect(),
        }
    }
}

/// sign with sign(0) = +1.
fn sign(w: Tensor<2>) -> Tensor<2> {
    w.clone().greater_equal_elem(0.0).float().cast(w.dtype()) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;

    /// w = (0.1, −0.5, 0.05, 0.9, −0.02, 0.3): mean|w| = 1.87/6 = 0.3116667, Δ = 0.2181667;
    /// kept: 0.5, 0.9, 0.3 (mean 0.5667 = α); W = (0, −α, 0, α, 0, α).
    #[test]
    fn ternary_by_hand() {
        let device = Device::flex();
        let w = Tensor::<2>::from_floats([[0.1, -0.5, 0.05], [0.9, -0.02, 0.3]], &device);
        let q = WeightQuantizer::Ternary
            .quantize(w.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let a = 1.7 / 3.0;
        for (f, e) in q.iter().zip([0.0, -a, 0.0, a, 0.0, a]) {
            assert!((f - e).abs() < 1e-6, "{q:?}");
        }
        assert_eq!(WeightQuantizer::Ternary.codes(w), vec![0, -1, 0, 1, 0, 1]);
    }

    /// 3 bits (P = 4): 0.3 → log2 = −1.74 → −2 → 1/4; −0.9 → −0.15 → 0 → −1; 0.01 → −6.6 → clip −3
    /// → 1/8; 3.0 → 1.58 → clip 0 → 1; 0 → +1/8 (sign(0) = +1, log2 0 = −inf clipped).
    #[test]
    fn log_rounding_by_hand() {
        let device = Device::flex();
        let w = Tensor::<2>::from_floats([[0.3, -0.9, 0.01, 3.0, 0.0]], &device);
        let q = WeightQuantizer::LogRound { bits: 3 };
        assert_eq!(
            q.quantize(w.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            vec![0.25, -1.0, 0.125, 1.0, 0.125]
        );
        assert_eq!(q.codes(w), vec![3, -1, 4, 1, 4]);
    }

    /// The identity STE: the gradient of Σ R ⊙ Q(w) with respect to w is R.
    #[test]
    fn straight_through_gradient_is_the_identity() {
        let device = Device::flex().autodiff();
        for q in [
            WeightQuantizer::Ternary,
            WeightQuantizer::LogRound { bits: 2 },
        ] {
            let w = Tensor::<2>::from_floats([[0.1, -0.5], [0.9, 0.0]], &device).require_grad();
            let r = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
            let grads = (q.quantize(w.clone()) * r).sum().backward();
            assert_eq!(
                w.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
                vec![1.0, 2.0, 3.0, 4.0]
            );
        }
    }
}
