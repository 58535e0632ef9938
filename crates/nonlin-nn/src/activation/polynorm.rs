//! PolyNorm, the Type-II polynomial composition activation of "Polynomial Composition
//! Activations: Unleashing the Dynamics of Large Language Models" (PolyCom; Zhuo et al.,
//! arXiv:2411.03884, ICLR 2025):
//!
//! ```text
//! PolyNorm(x) = Σ_{i=1..r} a_i · N(x^i) + a_0,    N(v) = v / sqrt(mean(v²) + ε)
//! ```
//!
//! N is an RMS normalisation without gain over the hidden (FFN) dimension, with ε = 1e-6 inside
//! the square root. The paper uses order r = 3. As in the official code (`BryceZhuo/PolyCom`,
//! `PolyNorm` in the dense model's `transformer.py`): one coefficient vector `weight` of r entries
//! per module, shared by every neuron, `weight[0]` multiplying the highest power N(x^r) and
//! `weight[r-1]` the linear term N(x), all initialised to 1/r (1/3 in the paper), and one scalar
//! `bias` a_0 initialised to 0. The powers are computed in the input's precision (f32 by
//! default; the notes warn that x³ overflows in fp16).
//!
//! Choices (documented): the normalisation axis is the channel axis: the last axis after a linear
//! layer (as in the official FFN), axis 1 after a convolution; for orders other than 3 the
//! coefficients start at 1/r, generalising the official 1/3.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::polyrelu::{check_order, coefficient, order_param, polynomial_coefficients, respec};
use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Configuration of a [`PolyNorm`] (`polynorm(order=3, eps=1e-6)` as a spec).
#[derive(Config, Debug)]
pub struct PolyNormConfig {
    /// r, the order of the polynomial; paper default 3.
    #[config(default = 3)]
    pub order: usize,
    /// ε inside the square root of the RMS normalisation N; official default 1e-6.
    #[config(default = 1e-6)]
    pub eps: f64,
    /// Axes after the channel axis the normalisation runs over (0 after a linear layer, 2 after
    /// a 2-D convolution).
    #[config(default = 0)]
    pub spatial_dims: usize,
}

impl PolyNormConfig {
    /// Largest accepted order.
    pub const MAX_ORDER: usize = 8;

    /// Checks the order (1..=[`Self::MAX_ORDER`]) and ε (positive, at most 1).
    pub fn validate(&self) -> Result<(), NnError> {
        check_order("polynorm", self.order, Self::MAX_ORDER)?;
        if !(self.eps.is_finite() && self.eps > 0.0 && self.eps <= 1.0) {
            return Err(NnError::BadActivation {
                spec: format!("polynorm(eps={})", self.eps),
                reason: format!("eps must be in (0, 1], got {}", self.eps),
            });
        }
        Ok(())
    }

    /// Builds the activation with the official initialisation: weight = 1/r, bias = 0.
    pub fn init(&self, device: &Device) -> Result<PolyNorm, NnError> {
        self.validate()?;
        let (weight, bias) = polynomial_coefficients(self.order, device);
        Ok(PolyNorm::from_parts(weight, bias, self.eps, self.spatial_dims))
    }
}

/// PolyNorm with its learnable coefficients.
#[derive(Module, Debug)]
pub struct PolyNorm {
    /// (a_r, ..., a_1): `weight[0]` multiplies N(x^r), `weight[r-1]` N(x); `[r]`.
    pub weight: Param<Tensor<1>>,
    /// a_0: `[1]`.
    pub bias: Param<Tensor<1>>,
    /// ε of the normalisation.
    pub eps: f64,
    /// Axes after the channel axis (see [`ActivationInit`]).
    pub spatial_dims: usize,
}

impl PolyNorm {
    /// Builds it from a spec such as `polynorm`, `polynorm(order=2)` or `polynorm(eps=1e-5)`.
    pub fn from_spec(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["order", "eps"])?;
        let order = order_param(spec)?;
        PolyNormConfig::new()
            .with_order(order)
            .with_eps(spec.param("eps", 1e-6))
            .with_spatial_dims(init.spatial_dims)
            .init(init.device)
            .map_err(|e| respec(e, spec))
    }

    /// The activation with given coefficients (used by gradient checks and weight import).
    pub fn from_parts(weight: Tensor<1>, bias: Tensor<1>, eps: f64, spatial_dims: usize) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
            eps,
            spatial_dims,
        }
    }

    /// r, the order.
    pub fn order(&self) -> usize {
        self.weight.dims()[0]
    }

    /// N(v) = v / sqrt(mean over the channel axis of v² + ε).
    ///
    /// # Shapes
    /// - input: `[..., channels, ..spatial]`
    /// - output: same as the input
    pub fn normalize<const D: usize>(&self, v: Tensor<D>) -> Tensor<D> {
        let axis = D - 1 - self.spatial_dims;
        let ms = v.clone().powi_scalar(2).mean_dim(axis);
        v / (ms + self.eps).sqrt()
    }

    /// # Shapes
    /// - input: `[..., channels, ..spatial]` (channels last unless built after a convolution)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dtype = input.dtype();
        let weight = self.weight.val().cast(dtype);
        let order = self.order();
        let mut out: Tensor<D> = self.bias.val().cast(dtype).reshape([1usize; D]);
        let mut power = input.clone();
        for k in 1..=order {
            if k > 1 {
                power = power * input.clone();
            }
            // weight[order - k] multiplies N(x^k)
            out = out + self.normalize(power.clone()) * coefficient::<D>(&weight, order - k);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::activation::fixtures::Fixture;
    use crate::activation::tests::{assert_close, eval};
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// The notes' reference: PolyNorm with the default coefficients on the vector [1, 2].
    /// x³ = [1, 8]: rms = sqrt((1 + 64)/2) = 5.7008771, N = [0.1754116, 1.4032928];
    /// x² = [1, 4]: rms = sqrt(17/2) = 2.9154759, N = [0.3429972, 1.3719887];
    /// x = [1, 2]: rms = sqrt(5/2) = 1.5811388, N = [0.6324555, 1.2649111];
    /// sums / 3 = [1.1508643/3, 4.0401926/3] = [0.3836214, 1.3467309] (ε = 1e-6 moves the 7th digit).
    #[test]
    fn reference_values_of_the_notes() {
        assert_close(&eval("polynorm", &[1.0, 2.0]), &[0.383_621_4, 1.346_730_7], 2e-6);
    }

    /// N(c·v) = N(v) for c > 0, so PolyNorm(c·x) = PolyNorm(x) up to ε: each power x^k scales by
    /// c^k and is normalised on its own.
    #[test]
    fn invariant_to_rescaling_the_input() {
        let device = Device::flex();
        let act = PolyNormConfig::new().init(&device).unwrap();
        let x = Tensor::<2>::from_floats([[0.3, -1.2, 2.0, 0.7], [1.5, 0.1, -0.4, -2.2]], &device);
        let base = act.forward(x.clone()).into_data();
        for c in [0.5, 3.0, 10.0] {
            act.forward(x.clone() * c)
                .into_data()
                .assert_approx_eq::<f32>(&base, burn::tensor::Tolerance::absolute(1e-4));
        }
    }

    /// After a convolution ([batch, channels, h, w]) N runs over the channels: an input constant
    /// over channels at one pixel gives N(x^k) = sign^k · 1 there (mean of squares = x^{2k}).
    /// Pixel value 2 everywhere: every N term is 1, so the output is (1 + 1 + 1)/3 = 1.
    #[test]
    fn normalises_over_the_channel_axis_after_a_convolution() {
        let device = Device::flex();
        let spec: ActivationSpec = "polynorm".parse().unwrap();
        let act = PolyNorm::from_spec(&spec, &ActivationInit::channels(&device, 3, 2)).unwrap();
        let mut values = vec![2.0f32; 3 * 2 * 2];
        // pixel (0, 1) differs across channels: not 1 there
        values[1] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(values, [1, 3, 2, 2]), &device);
        let y = act.forward(x).into_data().try_to_vec::<f32>().unwrap();
        for (i, v) in y.iter().enumerate() {
            if i % 4 != 1 {
                assert!((v - 1.0).abs() < 1e-5, "index {i}: {v}");
            }
        }
        assert!((y[1] - 1.0).abs() > 1e-2);
    }

    /// Values and gradients (of sum(y · g) for a fixed g) agree with an independent NumPy
    /// implementation whose gradients are complex-step derivatives
    /// (`tests/fixtures/activations/make_fixtures.py`).
    #[test]
    fn matches_the_numpy_reference() {
        let device = Device::flex().autodiff();
        for case in Fixture::load().cases("polynorm") {
            let shape = case.values_f64("shape");
            let (rows, cols) = (shape[0] as usize, shape[1] as usize);
            let x = Tensor::<2>::from_data(TensorData::new(case.values("x"), [rows, cols]), &device)
                .require_grad();
            let g = Tensor::<2>::from_data(TensorData::new(case.values("g"), [rows, cols]), &device);
            let w = Tensor::<1>::from_floats(case.values("weight").as_slice(), &device)
                .require_grad();
            let b = Tensor::<1>::from_floats(case.values("bias").as_slice(), &device)
                .require_grad();
            let act = PolyNorm::from_parts(w.clone(), b.clone(), case.scalar("eps"), 0);
            let y = act.forward(x.clone());
            assert_close(
                &y.clone().into_data().try_to_vec::<f32>().unwrap(),
                &case.values("y"),
                1e-5,
            );
            let grads = (y * g).sum().backward();
            let grad = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            assert_close(&grad(x.grad(&grads).unwrap().flatten(0, 1)), &case.values("grad_x"), 1e-4);
            assert_close(&grad(w.grad(&grads).unwrap()), &case.values("grad_weight"), 1e-4);
            assert_close(&grad(b.grad(&grads).unwrap()), &case.values("grad_bias"), 1e-4);
        }
    }

    /// Finite differences in f64 of the input (coupled through the normalisation), the
    /// coefficients and the bias, on a [2, 4] input.
    #[test]
    fn gradcheck_of_input_weight_and_bias() {
        let xs = vec![0.3, -1.2, 2.0, 0.7, 1.5, 0.1, -0.4, -2.2];
        for weight in [vec![0.5, -0.2], vec![1.0 / 3.0, 0.6, -0.9]] {
            let report = check_gradients(
                |inputs, _| {
                    let act = PolyNorm::from_parts(inputs[1].clone(), inputs[2].clone(), 1e-6, 0);
                    let x: Tensor<2> = inputs[0].clone().reshape([2, 4]);
                    act.forward(x).flatten(0, 1)
                },
                &[xs.clone(), weight.clone(), vec![0.1]],
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "order {}: {report}", weight.len());
        }
    }

    #[test]
    fn defaults_and_bad_values() {
        let config = PolyNormConfig::new();
        assert_eq!((config.order, config.eps), (3, 1e-6));
        for bad in [0, 9] {
            assert!(PolyNormConfig::new().with_order(bad).validate().is_err(), "{bad}");
        }
        for bad in [0.0, -1e-6, f64::NAN, f64::INFINITY, 2.0] {
            let err = PolyNormConfig::new().with_eps(bad).validate().unwrap_err();
            assert!(err.to_string().contains("eps"), "{bad}: {err}");
        }
        let device = Device::flex();
        for bad in ["polynorm(order=0)", "polynorm(order=1.5)", "polynorm(eps=0)", "polynorm(eps=-1)", "polynorm(eps=1e300)", "polynorm(gain=1)"] {
            let spec: ActivationSpec = bad.parse().unwrap();
            assert!(PolyNorm::from_spec(&spec, &ActivationInit::features(&device, 4)).is_err(), "{bad}");
        }
    }
}
