//! DenseShift, "DenseShift: Towards Accurate and Efficient Low-Bit Power-of-Two Quantization"
//! (Li, Liu, Yang, Courville, Xing, Partovi Nia; arXiv:2208.09708, ICCV 2023): linear layers whose
//! weights are zero-free powers of two,
//!
//! ```text
//! W = sign(θ_s) · 2^(−p),   p = Σ_{j=1..P−1} Π_{i≤j} b_i,   b_i = 1[θ_i > 0],   P = 2^(N−1)
//! ```
//!
//! so an N-bit weight (1 sign bit, N − 1 shift bits) takes the 2^N non-zero values
//! {±2^(−p) : p = 0..P−1} (2-bit: ±1, ±1/2; 3-bit: ±1, ±1/2, ±1/4, ±1/8) and a product with it is a
//! sign flip and a shift. Training keeps float latents θ and passes gradients through the
//! discrete steps with a straight-through estimator (STE).
//!
//! The paper's code was not found, so the sign-scale decomposition is implemented as the notes
//! suggest (documented choices): the shift p is a thermometer code of P − 1 binary latents (so a
//! 3-bit weight has 1 + 3 = N + 1 latents, matching the summary's "N + 1 float references"),
//! sign(0) = +1 so that no weight is zero, and the STE is the identity:
//!
//! ```text
//! ∂W/∂θ_s = 2^(−p),    ∂W/∂θ_k = −ln 2 · sign(θ_s) · 2^(−p) · Σ_{j≥k} Π_{i≤j, i≠k} b_i
//! ```
//!
//! (the derivative of W = s·2^(−p) with s and b_i replaced by their latents in the backward pass;
//! [`surrogate_gradients`] writes it out and a test checks autodiff against it). The latents
//! start from the paper's low-variance random initialisation, N(0, σ²) with σ = 1e-3, so they sit
//! next to the thresholds with random signs. Batch normalisation after the layer absorbs the
//! global scale (no learned per-layer scale).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// Configuration of a [`DenseShiftLinear`].
#[derive(Config, Debug)]
pub struct DenseShiftConfig {
    /// Input features.
    pub d_input: usize,
    /// Output neurons.
    pub d_output: usize,
    /// N, bits per weight (1 sign bit, N − 1 shift bits); paper settings 2, 3, 4.
    #[config(default = 3)]
    pub bits: usize,
    /// σ of the low-variance random initialisation of the latents; paper (2nd-hand) about 1e-3.
    #[config(default = 1e-3)]
    pub init_std: f64,
    /// Whether the layer has a (float) bias.
    #[config(default = true)]
    pub bias: bool,
}

impl DenseShiftConfig {
    /// Largest accepted number of bits (P − 1 = 15 shift latents per weight).
    pub const MAX_BITS: usize = 5;

    /// Checks the widths (positive), the bits (1..=5) and σ (positive, at most 1).
    pub fn validate(&self) -> Result<(), NnError> {
        if self.d_input == 0 || self.d_output == 0 {
            return Err(NnError::BadConfig(format!(
                "a DenseShift layer needs positive widths, got {} -> {}",
                self.d_input, self.d_output
            )));
        }
        if self.bits == 0 || self.bits > Self::MAX_BITS {
            return Err(NnError::BadConfig(format!(
                "DenseShift bits must be in 1..={}, got {}",
                Self::MAX_BITS,
                self.bits
            )));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0 && self.init_std <= 1.0) {
            return Err(NnError::BadConfig(format!(
                "DenseShift init_std must be in (0, 1], got {}",
                self.init_std
            )));
        }
        Ok(())
    }

    /// Builds the layer with latents drawn from N(0, init_std²) and a zero bias.
    pub fn init(&self, device: &Device) -> Result<DenseShiftLinear, NnError> {
        self.validate()?;
        let (i, o) = (self.d_input, self.d_output);
        let normal = Distribution::Normal(0.0, self.init_std);
        let levels = 1usize << (self.bits - 1);
        Ok(DenseShiftLinear {
            sign_latent: Param::from_tensor(Tensor::random([i, o], normal, device)),
            shift_latents: (levels > 1)
                .then(|| Param::from_tensor(Tensor::random([levels - 1, i, o], normal, device))),
            bias: self
                .bias
                .then(|| Param::from_tensor(Tensor::zeros([o], device))),
        })
    }
}

/// A linear layer with zero-free power-of-two weights.
#[derive(Module, Debug)]
pub struct DenseShiftLinear {
    /// θ_s, the sign latents: `[in, out]`.
    pub sign_latent: Param<Tensor<2>>,
    /// θ_1..θ_{P−1}, the thermometer latents of the shift: `[P − 1, in, out]` (none at 1 bit).
    pub shift_latents: Option<Param<Tensor<3>>>,
    /// The float bias: `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
}

/// The trained integer codes of one layer: weight (i, o) is `sign · 2^(−shift)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftCodes {
    /// The layer's parameter path (e.g. `ShiftMlp.layers.0`).
    pub layer: String,
    /// N, bits per weight.
    pub bits: usize,
    /// `[in, out]`, the layout of `sign` and `shift` (row-major, Burn's linear layout).
    pub shape: [usize; 2],
    /// ±1 per weight.
    pub sign: Vec<i8>,
    /// p in 0..2^(N−1) per weight.
    pub shift: Vec<u8>,
}

impl ShiftCodes {
    /// The weights as floats, `sign · 2^(−shift)`, row-major `[in, out]`.
    pub fn weights(&self) -> Vec<f32> {
        self.sign
            .iter()
            .zip(&self.shift)
            .map(|(&s, &p)| f32::from(s) * (-f32::from(p)).exp2())
            .collect()
    }

    /// x·W for integer inputs with integer arithmetic only: each product is a sign flip and a
    /// shift, computed exactly as `±(x << (P − 1 − p))`, so the result is 2^(P−1) · x·W.
    ///
    /// # Shapes
    /// - x: `[rows, in]` row-major
    /// - output: `[rows, out]` row-major
    pub fn shift_matmul(&self, x: &[i64]) -> Vec<i64> {
        let [i, o] = self.shape;
        let top = (1u32 << (self.bits - 1)) - 1;
        let rows = x.len() / i;
        let mut out = vec![0i64; rows * o];
        for r in 0..rows {
            for k in 0..i {
                let xv = x[r * i + k];
                for j in 0..o {
                    let shifted = xv << (top - u32::from(self.shift[k * o + j]));
                    out[r * o + j] += if self.sign[k * o + j] > 0 {
                        shifted
                    } else {
                        -shifted
                    };
                }
            }
        }
        out
    }
}

/// sign with sign(0) = +1: ±1 everywhere, never 0.
fn zero_free_sign(t: Tensor<2>) -> Tensor<2> {
    let dtype = t.dtype();
    t.greater_equal_elem(0.0).float().cast(dtype) * 2.0 - 1.0
}

/// A value whose forward is `hard` and whose gradient is that of `soft` (the identity STE).
fn straight_through<const D: usize>(soft: Tensor<D>, hard: Tensor<D>) -> Tensor<D> {
    soft.clone() + (hard - soft).detach()
}

/// The quantised weights W = sign(θ_s) · 2^(−p) from latents, with the identity STE in the
/// backward pass (tensors rather than parameters, so tests can differentiate them).
///
/// # Shapes
/// - sign_latent: `[in, out]`; shift_latents: `[P − 1, in, out]`
/// - output: `[in, out]`
pub fn dense_shift_weight(sign_latent: Tensor<2>, shift_latents: Option<Tensor<3>>) -> Tensor<2> {
    let sign = straight_through(sign_latent.clone(), zero_free_sign(sign_latent));
    let Some(shift_latents) = shift_latents else {
        return sign;
    };
    let [levels_minus_one, i, o] = shift_latents.dims();
    let mut prefix: Option<Tensor<2>> = None;
    let mut p: Option<Tensor<2>> = None;
    for k in 0..levels_minus_one {
        let theta: Tensor<2> = shift_latents.clone().slice(k..k + 1).reshape([i, o]);
        let dtype = theta.dtype();
        let bit = straight_through(theta.clone(), theta.greater_elem(0.0).float().cast(dtype));
        let term = match prefix {
            Some(pre) => pre * bit,
            None => bit,
        };
        prefix = Some(term.clone());
        p = Some(match p {
            Some(acc) => acc + term,
            None => term,
        });
    }
    let p = p.expect("at least one shift latent");
    sign * (p * -std::f64::consts::LN_2).exp()
}

/// The documented surrogate gradients of Σ_{io} R_{io} W_{io} with respect to the latents:
/// `(∂/∂θ_s, [∂/∂θ_k for k = 1..P−1])`, each row-major `[in, out]`, computed elementwise from the
/// formulas in the module header.
pub fn surrogate_gradients(
    sign_latent: &[f64],
    shift_latents: &[Vec<f64>],
    upstream: &[f64],
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = sign_latent.len();
    let levels_minus_one = shift_latents.len();
    let mut d_sign = vec![0.0; n];
    let mut d_shift = vec![vec![0.0; n]; levels_minus_one];
    for e in 0..n {
        let s = if sign_latent[e] >= 0.0 { 1.0 } else { -1.0 };
        let b: Vec<f64> = shift_latents
            .iter()
            .map(|t| f64::from(u8::from(t[e] > 0.0)))
            .collect();
        let p: f64 = (0..levels_minus_one)
            .map(|j| b[..=j].iter().product::<f64>())
            .sum();
        let scale = (-p).exp2();
        d_sign[e] = upstream[e] * scale;
        for (k, d) in d_shift.iter_mut().enumerate() {
            let dp: f64 = (k..levels_minus_one)
                .map(|j| (0..=j).filter(|&i| i != k).map(|i| b[i]).product::<f64>())
                .sum();
            d[e] = upstream[e] * s * scale * -std::f64::consts::LN_2 * dp;
        }
    }
    (d_sign, d_shift)
}

impl DenseShiftLinear {
    /// N, bits per weight.
    pub fn bits(&self) -> usize {
        let levels = self.shift_latents.as_ref().map_or(1, |t| t.dims()[0] + 1);
        levels.trailing_zeros() as usize + 1
    }

    /// The quantised weights `[in, out]` (with the STE graph on an autodiff device).
    pub fn weight(&self) -> Tensor<2> {
        dense_shift_weight(
            self.sign_latent.val(),
            self.shift_latents.as_ref().map(|t| t.val()),
        )
    }

    /// x·W + bias.
    ///
    /// # Shapes
    /// - input: `[batch, in]`
    /// - output: `[batch, out]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let dtype = input.dtype();
        let out = input.matmul(self.weight().cast(dtype));
        match &self.bias {
            Some(b) => out + b.val().cast(dtype).unsqueeze(),
            None => out,
        }
    }

    /// The layer's integer codes (sign and shift of every weight), named `layer`.
    pub fn codes(&self, layer: &str) -> ShiftCodes {
        let [i, o] = self.sign_latent.dims();
        let signs = self
            .sign_latent
            .val()
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap_or_default();
        let sign: Vec<i8> = signs
            .iter()
            .map(|&v| if v >= 0.0 { 1 } else { -1 })
            .collect();
        let mut shift = vec![0u8; i * o];
        if let Some(t) = &self.shift_latents {
            let values = t
                .val()
                .into_data()
                .try_into_vec_as::<f64>()
                .unwrap_or_default();
            let levels_minus_one = t.dims()[0];
            for (e, s) in shift.iter_mut().enumerate() {
                // the thermometer: p counts the leading latents that are positive
                let mut p = 0u8;
                for k in 0..levels_minus_one {
                    if values[k * i * o + e] > 0.0 {
                        p += 1;
                    } else {
                        break;
                    }
                }
                *s = p;
            }
        }
        ShiftCodes {
            layer: layer.to_string(),
            bits: self.bits(),
            shape: [i, o],
            sign,
            shift,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::activation::tests::assert_close;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// 3 bits: P = 4 levels, thermometer of 3 latents. Latents (sign; b1, b2, b3):
    /// (+; +, +, +) → p = 1 + 1 + 1 = 3, W = 1/8; (−; +, −, +) → p = 1 + 0 + 0 = 1, W = −1/2;
    /// (0; −, +, +) → p = 0, W = +1 (sign(0) = +1: never zero); (+; +, +, −) → p = 2, W = 1/4.
    #[test]
    fn thermometer_codes_by_hand() {
        let device = Device::flex();
        let sign = Tensor::<2>::from_floats([[0.3, -0.1, 0.0, 2.0]], &device);
        let shift = Tensor::<3>::from_floats(
            [
                [[0.1, 0.2, -0.3, 0.5]],
                [[0.1, -0.2, 0.3, 0.5]],
                [[0.1, 0.2, 0.3, -0.5]],
            ],
            &device,
        );
        let w = dense_shift_weight(sign.clone(), Some(shift.clone()));
        assert_eq!(
            w.into_data().try_to_vec::<f32>().unwrap(),
            vec![0.125, -0.5, 1.0, 0.25]
        );
        let layer = DenseShiftLinear {
            sign_latent: Param::from_tensor(sign),
            shift_latents: Some(Param::from_tensor(shift)),
            bias: None,
        };
        let codes = layer.codes("l");
        assert_eq!((codes.bits, codes.shape), (3, [1, 4]));
        assert_eq!(codes.sign, vec![1, -1, 1, 1]);
        assert_eq!(codes.shift, vec![3, 1, 0, 2]);
        assert_eq!(codes.weights(), vec![0.125, -0.5, 1.0, 0.25]);
    }

    /// Every weight of a freshly initialised 2-bit and 3-bit layer is a non-zero power of two in
    /// the N-bit set, and both signs and every shift occur (the latents start near the thresholds
    /// with random signs).
    #[test]
    fn weights_are_zero_free_powers_of_two() {
        let device = Device::flex();
        for (bits, set) in [
            (2usize, vec![0.5f32, 1.0]),
            (3, vec![0.125, 0.25, 0.5, 1.0]),
        ] {
            let layer = DenseShiftConfig::new(32, 32)
                .with_bits(bits)
                .init(&device)
                .unwrap();
            assert_eq!(layer.bits(), bits);
            let w = layer.weight().into_data().try_to_vec::<f32>().unwrap();
            assert!(w.iter().all(|v| set.contains(&v.abs())), "{bits} bits");
            for m in &set {
                assert!(w.contains(m) && w.contains(&-m), "{bits} bits: {m} missing");
            }
        }
    }

    /// The STE: autodiff's gradients of Σ R ⊙ W with respect to the latents are the documented
    /// surrogate gradients ([`surrogate_gradients`]), in f64, for 1, 2 and 3 bits.
    #[test]
    fn autodiff_matches_the_documented_surrogate_gradient() {
        let device = Device::flex().autodiff();
        let (i, o) = (3usize, 4usize);
        let n = i * o;
        let sign: Vec<f64> = (0..n).map(|e| ((e as f64) * 1.3).sin() * 0.01).collect();
        let upstream: Vec<f64> = (0..n).map(|e| 0.5 + ((e as f64) * 0.618).fract()).collect();
        for levels_minus_one in [0usize, 1, 3] {
            let shifts: Vec<Vec<f64>> = (0..levels_minus_one)
                .map(|k| {
                    (0..n)
                        .map(|e| ((e * (k + 2)) as f64 * 0.9).cos() * 0.01)
                        .collect()
                })
                .collect();
            let t2 = |v: &[f64]| {
                Tensor::<2>::from_data(
                    TensorData::new(v.to_vec(), [i, o]),
                    (&device, burn::tensor::DType::F64),
                )
            };
            let s = t2(&sign).require_grad();
            let flat: Vec<f64> = shifts.iter().flatten().copied().collect();
            let b = (levels_minus_one > 0).then(|| {
                Tensor::<3>::from_data(
                    TensorData::new(flat, [levels_minus_one, i, o]),
                    (&device, burn::tensor::DType::F64),
                )
                .require_grad()
            });
            let w = dense_shift_weight(s.clone(), b.clone());
            let grads = (w * t2(&upstream)).sum().backward();
            let (want_s, want_b) = surrogate_gradients(&sign, &shifts, &upstream);
            let got_s = s
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_into_vec_as::<f64>()
                .unwrap();
            for (g, w) in got_s.iter().zip(&want_s) {
                assert!((g - w).abs() < 1e-12, "sign: {g} vs {w}");
            }
            if let Some(b) = b {
                let got = b
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_into_vec_as::<f64>()
                    .unwrap();
                for k in 0..levels_minus_one {
                    for e in 0..n {
                        let (g, w) = (got[k * n + e], want_b[k][e]);
                        assert!((g - w).abs() < 1e-12, "shift {k} element {e}: {g} vs {w}");
                    }
                }
            }
        }
    }

    /// Against an independent NumPy implementation (`tests/fixtures/denseshift/`, script beside
    /// it): the weights of a 3-bit 4×3 layer and autodiff's straight-through gradients of Σ R ⊙ W
    /// with respect to the sign latent and the three shift latents, in f64.
    #[test]
    fn matches_numpy_fixture() {
        let want: Vec<f64> = include_str!("../../tests/fixtures/denseshift/denseshift.txt")
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let device = Device::flex().autodiff();
        let f64s = (&device, burn::tensor::DType::F64);
        let n = 12usize;
        let sign: Vec<f64> = (0..n)
            .map(|e| 0.01 * (1.7 * e as f64 + 0.3).sin())
            .collect();
        let shifts: Vec<f64> = (0..3)
            .flat_map(|k| {
                (0..n).map(move |e| 0.01 * (0.9 * e as f64 * (k + 2) as f64 + 0.5 * k as f64).cos())
            })
            .collect();
        let upstream: Vec<f64> = (0..n).map(|e| 0.5 + (0.618 * e as f64).fract()).collect();
        let s = Tensor::<2>::from_data(TensorData::new(sign, [4, 3]), f64s).require_grad();
        let b = Tensor::<3>::from_data(TensorData::new(shifts, [3, 4, 3]), f64s).require_grad();
        let w = dense_shift_weight(s.clone(), Some(b.clone()));
        let r = Tensor::<2>::from_data(TensorData::new(upstream, [4, 3]), f64s);
        let got_w = w.clone().into_data().try_into_vec_as::<f64>().unwrap();
        let grads = (w * r).sum().backward();
        let got_s = s
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap();
        let got_b = b
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap();
        let got: Vec<f64> = got_w.into_iter().chain(got_s).chain(got_b).collect();
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-12, "value {k}: {g} vs {w}");
        }
    }

    /// The surrogate by hand for one 3-bit weight with latents s > 0, b = (1, 1, 0) (p = 2,
    /// 2^(−p) = 1/4) and upstream 1: ∂/∂θ_s = 1/4; ∂p/∂b_1 = b_2 + b_2 b_3 + 1 = 2 (the j = 1 term
    /// is the empty product 1), ∂p/∂b_2 = b_1 + b_1 b_3 = 1, ∂p/∂b_3 = b_1 b_2 = 1;
    /// so ∂/∂θ_k = −ln 2 · 1/4 · (2, 1, 1) = (−0.3465736, −0.1732868, −0.1732868).
    #[test]
    fn surrogate_by_hand() {
        let (ds, db) = surrogate_gradients(&[0.5], &[vec![0.2], vec![0.1], vec![-0.3]], &[1.0]);
        assert!((ds[0] - 0.25).abs() < 1e-12);
        let want = [-0.346_573_6, -0.173_286_8, -0.173_286_8];
        for (k, w) in want.iter().enumerate() {
            assert!((db[k][0] - w).abs() < 1e-7, "{k}: {}", db[k][0]);
        }
    }

    /// Finite differences in f64 of the layer's input and bias (the weights are piecewise
    /// constant in the latents, so x and the bias are the differentiable inputs).
    #[test]
    fn gradcheck_of_input_and_bias() {
        let device = Device::flex();
        let layer = DenseShiftConfig::new(3, 2).init(&device).unwrap();
        let w: Vec<f64> = layer.weight().into_data().try_into_vec_as::<f64>().unwrap();
        let report = check_gradients(
            |t, device| {
                let w = Tensor::<2>::from_data(
                    TensorData::new(w.clone(), [3, 2]),
                    (device, burn::tensor::DType::F64),
                );
                let x: Tensor<2> = t[0].clone().reshape([2, 3]);
                (x.matmul(w) + t[1].clone().unsqueeze()).flatten(0, 1)
            },
            &[vec![0.3, -1.2, 0.8, 0.5, 1.1, -0.4], vec![0.1, -0.2]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
        // and the layer's forward is that expression
        let x = Tensor::<2>::from_floats([[0.3, -1.2, 0.8], [0.5, 1.1, -0.4]], &device);
        let y = layer
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let by_hand = x.matmul(Tensor::from_data(TensorData::new(wf, [3, 2]), &device));
        assert_close(&y, &by_hand.into_data().try_to_vec::<f32>().unwrap(), 1e-6);
    }

    /// The integer shift path: for integer inputs, Σ ±(x << (P−1−p)) equals 2^(P−1) · x·W of the
    /// float path exactly.
    #[test]
    fn integer_shifts_rebuild_the_float_product() {
        let device = Device::flex();
        let layer = DenseShiftConfig::new(16, 8)
            .with_bias(false)
            .init(&device)
            .unwrap();
        let codes = layer.codes("l");
        let x: Vec<i64> = (0..3 * 16).map(|k| (k * 7 % 23) - 11).collect();
        let ints = codes.shift_matmul(&x);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let float = layer.forward(Tensor::from_data(TensorData::new(xf, [3, 16]), &device));
        let float = float.into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in ints.iter().zip(&float) {
            assert_eq!(*a as f32, b * 8.0, "{a} vs {b}"); // 2^(P−1) = 2^3 = 8 at 3 bits (P = 4)
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        for c in [
            DenseShiftConfig::new(0, 3),
            DenseShiftConfig::new(3, 0),
            DenseShiftConfig::new(3, 3).with_bits(0),
            DenseShiftConfig::new(3, 3).with_bits(6),
            DenseShiftConfig::new(3, 3).with_init_std(0.0),
            DenseShiftConfig::new(3, 3).with_init_std(-1e-3),
            DenseShiftConfig::new(3, 3).with_init_std(f64::NAN),
            DenseShiftConfig::new(3, 3).with_init_std(1e9),
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
