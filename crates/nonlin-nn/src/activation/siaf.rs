//! The series informed activation function (SIAF) of "PanGu-π: Enhancing Language Model
//! Architectures via Nonlinearity Compensation" (Wang et al., arXiv:2312.17276, §4.2):
//!
//! ```text
//! σ_s(x) = Σ_{i=1..n} σ(a_i · x + b_i)
//! ```
//!
//! a sum of n shifted and scaled copies of a base activation σ (GELU here) with learnable a_i and
//! b_i; n = 1 with a = 1, b = 0 is σ itself. The paper chooses n = 2 (its ablation: n = 1, 2, 3,
//! 4 give C-Eval 35.0, 36.9, 37.0, 37.0 at 7.56, 7.76, 8.02, 8.35 ms).
//!
//! No code was released, so these are documented choices (config fields): a_i and b_i are per
//! channel (`[n, channels]`), a_i starts at 1 and the b_i spread evenly over [−offset, offset]
//! (offset 0.5): equal copies would get equal gradients and stay equal forever, so n > 1 needs
//! offset > 0. The paper's "neighbour" mixing (VanillaNet's depthwise conv over the inputs) is
//! not part of the activation; the `pangu_lm` model offers it over the sequence as a flag.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::polyrelu::respec;
use super::{ActivationInit, ActivationSpec, per_channel};
use crate::NnError;

/// Configuration of a [`Siaf`] (`siaf(terms=2, offset=0.5)` as a spec).
#[derive(Config, Debug)]
pub struct SiafConfig {
    /// n, the number of terms of the series; paper default 2.
    #[config(default = 2)]
    pub terms: usize,
    /// The initial shifts b_i spread evenly over [−offset, offset] (UNCONFIRMED: the paper gives
    /// no initialisation); 0.5 by default.
    #[config(default = 0.5)]
    pub offset: f64,
    /// Channels of the input (per-channel a_i and b_i).
    #[config(default = 1)]
    pub width: usize,
    /// Axes after the channel axis (see [`ActivationInit`]).
    #[config(default = 0)]
    pub spatial_dims: usize,
}

impl SiafConfig {
    /// Largest accepted number of terms.
    pub const MAX_TERMS: usize = 16;
    /// Largest accepted offset.
    pub const MAX_OFFSET: f64 = 10.0;

    /// Checks the number of terms (1..=16), the offset (finite, in [0, 10], positive when n > 1)
    /// and the width (positive).
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| {
            Err(NnError::BadActivation {
                spec: format!("siaf(terms={}, offset={})", self.terms, self.offset),
                reason,
            })
        };
        if self.terms == 0 || self.terms > Self::MAX_TERMS {
            return bad(format!(
                "terms must be in 1..={}, got {}",
                Self::MAX_TERMS,
                self.terms
            ));
        }
        if !(self.offset.is_finite() && (0.0..=Self::MAX_OFFSET).contains(&self.offset)) {
            return bad(format!(
                "offset must be in [0, {}], got {}",
                Self::MAX_OFFSET,
                self.offset
            ));
        }
        if self.terms > 1 && self.offset == 0.0 {
            return bad(
                "offset must be positive with more than one term: equal copies get equal gradients and never separate"
                    .into(),
            );
        }
        if self.width == 0 {
            return bad("needs at least one channel".into());
        }
        Ok(())
    }

    /// The initial shifts: b_i = offset · (2i/(n − 1) − 1), or 0 when n = 1.
    pub fn initial_shifts(&self) -> Vec<f64> {
        let n = self.terms;
        (0..n)
            .map(|i| {
                if n == 1 {
                    0.0
                } else {
                    self.offset * (2.0 * i as f64 / (n - 1) as f64 - 1.0)
                }
            })
            .collect()
    }

    /// Builds the activation: a_i = 1, b_i = [`Self::initial_shifts`], for every channel.
    pub fn init(&self, device: &Device) -> Result<Siaf, NnError> {
        self.validate()?;
        let (n, w) = (self.terms, self.width);
        let scale = Tensor::<2>::ones([n, w], device);
        let shifts: Vec<f32> = self
            .initial_shifts()
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b as f32, w))
            .collect();
        let shift = Tensor::<2>::from_data(TensorData::new(shifts, [n, w]), device);
        Ok(Siaf::from_parts(scale, shift, self.spatial_dims))
    }
}

/// The series informed activation with per-channel scales and shifts.
#[derive(Module, Debug)]
pub struct Siaf {
    /// a_i: `[terms, channels]`.
    pub scale: Param<Tensor<2>>,
    /// b_i: `[terms, channels]`.
    pub shift: Param<Tensor<2>>,
    /// Axes after the channel axis (see [`ActivationInit`]).
    pub spatial_dims: usize,
}

impl Siaf {
    /// Builds it from a spec such as `siaf`, `siaf(terms=3)` or `siaf(terms=2, offset=1)`.
    pub fn from_spec(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["terms", "offset"])?;
        let terms = spec.param("terms", 2.0);
        if terms.fract() != 0.0 || !(0.0..=1e6).contains(&terms) {
            return Err(NnError::BadActivation {
                spec: spec.to_string(),
                reason: format!("terms must be a positive whole number, got {terms}"),
            });
        }
        SiafConfig::new()
            .with_terms(terms as usize)
            .with_offset(spec.param("offset", 0.5))
            .with_width(init.width)
            .with_spatial_dims(init.spatial_dims)
            .init(init.device)
            .map_err(|e| respec(e, spec))
    }

    /// The activation with given scales and shifts `[terms, channels]`.
    pub fn from_parts(scale: Tensor<2>, shift: Tensor<2>, spatial_dims: usize) -> Self {
        Self {
            scale: Param::from_tensor(scale),
            shift: Param::from_tensor(shift),
            spatial_dims,
        }
    }

    /// n, the number of terms.
    pub fn terms(&self) -> usize {
        self.scale.dims()[0]
    }

    /// # Shapes
    /// - input: `[..., channels, ..spatial]` (channels last unless built after a convolution)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        series(input, self.scale.val(), self.shift.val(), self.spatial_dims)
    }
}

/// Σ_i GELU(a_i · x + b_i) with `scale` a and `shift` b of shape `[terms, channels]` (tensors
/// rather than parameters, so gradient checks can differentiate them).
///
/// # Shapes
/// - input: `[..., channels, ..spatial]`
/// - output: same as the input
pub fn series<const D: usize>(
    input: Tensor<D>,
    scale: Tensor<2>,
    shift: Tensor<2>,
    spatial_dims: usize,
) -> Tensor<D> {
    let dtype = input.dtype();
    let scale = scale.cast(dtype);
    let shift = shift.cast(dtype);
    let [terms, channels] = scale.dims();
    let row = |t: &Tensor<2>, i: usize| -> Tensor<D> {
        per_channel(t.clone().slice(i..i + 1).reshape([channels]), spatial_dims)
    };
    let mut out: Option<Tensor<D>> = None;
    for i in 0..terms {
        let term = burn::tensor::activation::gelu(input.clone() * row(&scale, i) + row(&shift, i));
        out = Some(match out {
            Some(acc) => acc + term,
            None => term,
        });
    }
    out.expect("at least one term")
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::activation::fixtures::Fixture;
    use crate::activation::tests::{assert_close, eval};
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// GELU(x) = x Φ(x). n = 1 is GELU itself: GELU(1) = Φ(1) = 0.8413447, GELU(−1) = −0.1586553.
    /// n = 2, offset 0.5: b = (−0.5, 0.5); at x = 0: GELU(−0.5) + GELU(0.5) = −0.5·Φ(−0.5) +
    /// 0.5·Φ(0.5) = −0.5·0.3085375 + 0.5·0.6914625 = 0.1914625.
    #[test]
    fn hand_computed_values() {
        assert_close(&eval("siaf(terms=1)", &[1.0, -1.0]), &[0.841_344_7, -0.158_655_3], 1e-6);
        assert_close(&eval("siaf", &[0.0]), &[0.191_462_5], 1e-6);
        assert_eq!(SiafConfig::new().with_terms(3).with_offset(1.0).initial_shifts(), vec![-1.0, 0.0, 1.0]);
    }

    /// Per-channel parameters follow the channel axis: after a convolution ([1, 2 channels,
    /// 1, 2]) channel c uses its own a and b. One term, a = (1, 2), b = (0, 0): channel 1 is
    /// GELU(2x); at x = 1: GELU(2) = 2Φ(2) = 1.9544997.
    #[test]
    fn parameters_follow_the_channel_axis() {
        let device = Device::flex();
        let act = Siaf::from_parts(
            Tensor::from_floats([[1.0, 2.0]], &device),
            Tensor::zeros([1, 2], &device),
            2,
        );
        let x = Tensor::<4>::ones([1, 2, 1, 2], &device);
        let y = act.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_close(&y, &[0.841_344_7, 0.841_344_7, 1.954_499_7, 1.954_499_7], 1e-6);
    }

    /// Values and gradients of x, a and b agree with an independent NumPy implementation
    /// (`tests/fixtures/activations/make_fixtures.py`).
    #[test]
    fn matches_the_numpy_reference() {
        let device = Device::flex().autodiff();
        for case in Fixture::load().cases("siaf") {
            let shape = case.values_f64("shape");
            let (rows, cols, terms) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
            let x = Tensor::<2>::from_data(TensorData::new(case.values("x"), [rows, cols]), &device)
                .require_grad();
            let a = Tensor::<2>::from_data(TensorData::new(case.values("scale"), [terms, cols]), &device)
                .require_grad();
            let b = Tensor::<2>::from_data(TensorData::new(case.values("shift"), [terms, cols]), &device)
                .require_grad();
            let y = Siaf::from_parts(a.clone(), b.clone(), 0).forward(x.clone());
            assert_close(&y.clone().into_data().try_to_vec::<f32>().unwrap(), &case.values("y"), 1e-5);
            let grads = y.sum().backward();
            let grad = |t: &Tensor<2>| t.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert_close(&grad(&x), &case.values("grad_x"), 1e-5);
            assert_close(&grad(&a), &case.values("grad_scale"), 1e-4);
            assert_close(&grad(&b), &case.values("grad_shift"), 1e-4);
        }
    }

    /// Finite differences in f64 of the input, the scales and the shifts (3 terms, 2 channels).
    #[test]
    fn gradcheck_of_input_scale_and_shift() {
        let xs = vec![-1.3, 0.4, 0.9, -0.2, 2.1, -0.7];
        let report = check_gradients(
            |inputs, _| {
                let a: Tensor<2> = inputs[1].clone().reshape([3, 2]);
                let b: Tensor<2> = inputs[2].clone().reshape([3, 2]);
                let x: Tensor<2> = inputs[0].clone().reshape([3, 2]);
                series(x, a, b, 0).flatten(0, 1)
            },
            &[xs, vec![1.0, 0.8, 1.2, -0.5, 0.3, 1.1], vec![-0.5, 0.1, 0.0, 0.4, 0.5, -0.3]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn defaults_and_bad_values() {
        let c = SiafConfig::new();
        assert_eq!((c.terms, c.offset), (2, 0.5));
        for (terms, offset) in [(0, 0.5), (17, 0.5), (2, 0.0), (2, -0.5), (2, f64::NAN), (2, 1e9)] {
            assert!(
                SiafConfig::new().with_terms(terms).with_offset(offset).validate().is_err(),
                "terms {terms} offset {offset}"
            );
        }
        assert!(SiafConfig::new().with_terms(1).with_offset(0.0).validate().is_ok());
        assert!(SiafConfig::new().with_width(0).validate().is_err());
        let device = Device::flex();
        for bad in ["siaf(terms=0)", "siaf(terms=2.5)", "siaf(terms=-1)", "siaf(offset=0)", "siaf(n=2)"] {
            let spec: ActivationSpec = bad.parse().unwrap();
            assert!(Siaf::from_spec(&spec, &ActivationInit::features(&device, 4)).is_err(), "{bad}");
        }
    }
}
