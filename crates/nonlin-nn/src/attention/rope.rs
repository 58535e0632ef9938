//! Rotary position embedding (Su et al., "RoFormer: Enhanced Transformer with Rotary Position
//! Embedding", arXiv 2104.09864), in the interleaved-pair layout of BDH's official code
//! (pathwaycom/bdh, `bdh.py`): the pair `(v_2j, v_2j+1)` at position `t` turns by the angle
//! `phi = t theta^(-2j/dim)`,
//!
//! ```text
//! (v_2j, v_2j+1) -> (v_2j cos phi - v_2j+1 sin phi,  v_2j+1 cos phi + v_2j sin phi)
//! ```
//!
//! The angle is computed as BDH computes it, in f32 whatever the model's dtype: a frequency
//! `f_k = theta^(-2 floor(k/2) / dim) / 2 pi` per axis `k`, the phase `t f_k` reduced mod 1, times
//! 2 pi. Reducing before the multiplication keeps the angle exact at long positions.
//! `theta` is 2^16 in BDH and 10^4 in the RoFormer convention the GPT uses.

use burn::tensor::{Tensor, TensorData};

use crate::NnError;

/// Rotary position embedding over `dim` axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rope {
    /// `f_k` per axis, in turns per position (f32, as the official code keeps them).
    freqs: Vec<f32>,
}

impl Rope {
    /// The embedding of `dim` (even) axes with base `theta`.
    pub fn new(dim: usize, theta: f64) -> Result<Self, NnError> {
        if dim == 0 || !dim.is_multiple_of(2) {
            return Err(NnError::BadConfig(format!(
                "rotary positions need an even, positive number of axes, got {dim}"
            )));
        }
        if !(theta.is_finite() && theta > 1.0) {
            return Err(NnError::BadConfig(format!(
                "the rotary base theta must be finite and above 1, got {theta}"
            )));
        }
        let theta = theta as f32;
        let two_pi = 2.0 * std::f32::consts::PI;
        let freqs = (0..dim)
            .map(|k| {
                let pair = (k / 2 * 2) as f32;
                1.0 / theta.powf(pair / dim as f32) / two_pi
            })
            .collect();
        Ok(Self { freqs })
    }

    /// Number of axes it rotates.
    pub fn dim(&self) -> usize {
        self.freqs.len()
    }

    /// cos and signed sin of the angles at positions `start..start + len`, in `like`'s dtype:
    /// the second table is `-sin phi` on the even axis of each pair and `+sin phi` on the odd one,
    /// the sign of the rotation folded in (what [`Rope::apply_with`] takes).
    ///
    /// # Shapes
    /// - output: two `[len, dim]` tensors
    pub fn tables<const D: usize>(
        &self,
        start: usize,
        len: usize,
        like: &Tensor<D>,
    ) -> (Tensor<2>, Tensor<2>) {
        let device = like.device();
        let dim = self.dim();
        let positions: Vec<f32> = (start..start + len).map(|t| t as f32).collect();
        let positions = Tensor::<2>::from_data(TensorData::new(positions, [len, 1]), &device);
        let freqs = Tensor::<2>::from_data(TensorData::new(self.freqs.clone(), [1, dim]), &device);
        let turns = positions * freqs;
        let angle = (turns.clone() - turns.floor()) * (2.0 * std::f32::consts::PI);
        let sign: Vec<f32> = (0..dim)
            .map(|k| if k % 2 == 0 { -1.0 } else { 1.0 })
            .collect();
        let sign = Tensor::<2>::from_data(TensorData::new(sign, [1, dim]), &device);
        let dtype = like.dtype();
        (
            angle.clone().cos().cast(dtype),
            (angle.sin() * sign).cast(dtype),
        )
    }

    /// Rotates `v`, whose positions start at `start`.
    ///
    /// # Shapes
    /// - v: `[batch, heads, len, dim]`
    /// - output: `[batch, heads, len, dim]`
    pub fn apply(&self, v: Tensor<4>, start: usize) -> Tensor<4> {
        let len = v.dims()[2];
        let (cos, sin) = self.tables(start, len, &v);
        self.apply_with(v, cos, sin)
    }

    /// Rotates `v` with precomputed [`Rope::tables`] (of `v`'s length): `v cos + swap(v) sin`,
    /// where `swap` exchanges the two axes of each pair (a zero-copy flip) and the signed sin
    /// turns `(v_1, v_0)` into `(-v_1, v_0)`.
    ///
    /// # Shapes
    /// - v: `[batch, heads, len, dim]`; cos, signed sin: `[len, dim]`
    /// - output: `[batch, heads, len, dim]`
    pub fn apply_with(&self, v: Tensor<4>, cos: Tensor<2>, sin: Tensor<2>) -> Tensor<4> {
        let [b, h, t, d] = v.dims();
        let pairs: Tensor<5> = v.clone().reshape([b, h, t, d / 2, 2]);
        let swapped: Tensor<4> = pairs.flip([4]).reshape([b, h, t, d]);
        let cos: Tensor<4> = cos.unsqueeze_dims(&[0, 1]);
        let sin: Tensor<4> = sin.unsqueeze_dims(&[0, 1]);
        v * cos + swapped * sin
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    /// Hand-computed: dim 4, theta 100. Pair 0 turns by t rad, pair 1 by t / 100^(2/4) = t / 10.
    /// At t = 1, (1, 0, 0, 2) -> (cos 1, sin 1, -2 sin 0.1, 2 cos 0.1)
    /// = (0.540302, 0.841471, -0.199667, 1.990008).
    #[test]
    fn hand_computed_rotation() {
        let device = Device::flex();
        let rope = Rope::new(4, 100.0).unwrap();
        let v = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 2.0], [1, 1, 1, 4]),
            &device,
        );
        let out = values(rope.apply(v, 1));
        let expected = [0.540302, 0.841471, -0.199667, 1.990008];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?}");
        }
    }

    /// Position 0 is the identity, and rotations keep norms.
    #[test]
    fn position_zero_is_identity_and_norms_are_kept() {
        let device = Device::flex();
        let rope = Rope::new(8, 65536.0).unwrap();
        let v = Tensor::<4>::random([2, 3, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let at0 = rope.apply(v.clone().slice([0..2, 0..3, 0..1, 0..8]), 0);
        assert_eq!(
            values(at0),
            values(v.clone().slice([0..2, 0..3, 0..1, 0..8]))
        );
        let r = rope.apply(v.clone(), 17);
        let n0 = values(v.powf_scalar(2.0).sum_dim(3));
        let n1 = values(r.powf_scalar(2.0).sum_dim(3));
        for (a, b) in n0.iter().zip(&n1) {
            assert!((a - b).abs() < 1e-4 * a.max(1.0));
        }
    }

    /// The relative-position property (BDH notes 1.4, check 4): RoPE_t(a) . RoPE_s(b) depends only
    /// on t - s.
    #[test]
    fn dot_products_depend_only_on_the_offset() {
        let device = Device::flex();
        let rope = Rope::new(16, 65536.0).unwrap();
        let a = Tensor::<4>::random([1, 1, 1, 16], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<4>::random([1, 1, 1, 16], Distribution::Normal(0.0, 1.0), &device);
        let dot = |t: usize, s: usize| -> f64 {
            let x = rope.apply(a.clone(), t);
            let y = rope.apply(b.clone(), s);
            values((x * y).sum())[0]
        };
        for (t, s, shift) in [(5, 2, 40), (9, 9, 100), (3, 11, 7), (0, 30, 1000)] {
            let d0 = dot(t, s);
            let d1 = dot(t + shift, s + shift);
            assert!((d0 - d1).abs() < 1e-4, "({t}, {s}) + {shift}: {d0} vs {d1}");
        }
        assert!(
            (dot(5, 2) - dot(6, 2)).abs() > 1e-4,
            "a different offset must change it"
        );
    }

    #[test]
    fn bad_dimensions_are_errors() {
        assert!(Rope::new(0, 1e4).is_err());
        assert!(Rope::new(3, 1e4).is_err());
        for theta in [0.0, -1.0, 1.0, f64::NAN, f64::INFINITY] {
            assert!(Rope::new(4, theta).is_err(), "{theta}");
        }
    }

    /// The rotation is linear in v: its gradient is checked in f64.
    #[test]
    fn gradients_match_finite_differences() {
        let rope = Rope::new(6, 1e4).unwrap();
        let v: Vec<f64> = (0..2 * 3 * 6).map(|k| (k as f64 * 0.37).cos()).collect();
        let report = check_gradients(
            |x, _| {
                rope.apply(x[0].clone().reshape([1, 2, 3, 6]), 4)
                    .reshape([36])
            },
            &[v],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }
}
