//! PolyReLU, the Type-I polynomial composition activation of "Polynomial Composition Activations:
//! Unleashing the Dynamics of Large Language Models" (PolyCom; Zhuo et al., arXiv:2411.03884,
//! ICLR 2025):
//!
//! ```text
//! PolyReLU(x) = Σ_{i=1..r} a_i · ReLU(x)^i + a_0
//! ```
//!
//! The paper uses order r = 3. The coefficients follow the official code (`BryceZhuo/PolyCom`,
//! `PolyReLU` in the dense model's `transformer.py`): one vector `weight` of r entries per module,
//! shared by every neuron, with `weight[0]` multiplying the highest power (ReLU(x)^r) and
//! `weight[r-1]` the linear term, all initialised to 1/r (1/3 in the paper), and one scalar
//! `bias` a_0 initialised to 0. The names match the official module so its state dict imports.
//!
//! The forward pass evaluates the polynomial by Horner's rule; [`PolyRelu::forward_reference`]
//! sums the powers as written above, and a test checks that the two agree.
//!
//! For orders other than 3 the paper gives no initialisation; 1/r generalises the official 1/3
//! (documented choice). The order is capped at [`PolyReluConfig::MAX_ORDER`]: ReLU(x)^r has no
//! normaliser, so large orders overflow quickly.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Configuration of a [`PolyRelu`] (`polyrelu(order=3)` as a spec).
#[derive(Config, Debug)]
pub struct PolyReluConfig {
    /// r, the order of the polynomial; paper default 3.
    #[config(default = 3)]
    pub order: usize,
}

impl PolyReluConfig {
    /// Largest accepted order.
    pub const MAX_ORDER: usize = 8;

    /// Checks that the order is in 1..=[`Self::MAX_ORDER`].
    pub fn validate(&self) -> Result<(), NnError> {
        check_order("polyrelu", self.order, Self::MAX_ORDER)
    }

    /// Builds the activation with the official initialisation: weight = 1/r, bias = 0.
    pub fn init(&self, device: &Device) -> Result<PolyRelu, NnError> {
        self.validate()?;
        let (weight, bias) = polynomial_coefficients(self.order, device);
        Ok(PolyRelu::from_parts(weight, bias))
    }
}

/// Checks the order of a polynomial composition activation.
pub(crate) fn check_order(name: &str, order: usize, max: usize) -> Result<(), NnError> {
    if order == 0 || order > max {
        return Err(NnError::BadActivation {
            spec: format!("{name}(order={order})"),
            reason: format!("order must be an integer in 1..={max}, got {order}"),
        });
    }
    Ok(())
}

/// The order parameter of a spec, which must be a whole number.
pub(crate) fn order_param(spec: &ActivationSpec) -> Result<usize, NnError> {
    let order = spec.param("order", 3.0);
    if order.fract() != 0.0 || !(0.0..=1e6).contains(&order) {
        return Err(NnError::BadActivation {
            spec: spec.to_string(),
            reason: format!("order must be a positive whole number, got {order}"),
        });
    }
    Ok(order as usize)
}

/// The official initial coefficients: `weight` = 1/r for each of the r powers, `bias` = 0.
pub(crate) fn polynomial_coefficients(order: usize, device: &Device) -> (Tensor<1>, Tensor<1>) {
    let weight = Tensor::<1>::from_data(
        TensorData::new(vec![1.0 / order as f32; order], [order]),
        device,
    );
    let bias = Tensor::<1>::zeros([1], device);
    (weight, bias)
}

/// Coefficient `i` of `weight` reshaped to broadcast over a `D`-dimensional input.
pub(crate) fn coefficient<const D: usize>(weight: &Tensor<1>, i: usize) -> Tensor<D> {
    weight.clone().slice(i..i + 1).reshape([1usize; D])
}

/// PolyReLU with its learnable coefficients.
#[derive(Module, Debug)]
pub struct PolyRelu {
    /// (a_r, ..., a_1): `weight[0]` multiplies ReLU(x)^r, `weight[r-1]` ReLU(x); `[r]`.
    pub weight: Param<Tensor<1>>,
    /// a_0: `[1]`.
    pub bias: Param<Tensor<1>>,
}

impl PolyRelu {
    /// Builds it from a spec such as `polyrelu` or `polyrelu(order=2)`.
    pub fn from_spec(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["order"])?;
        let order = order_param(spec)?;
        PolyReluConfig::new()
            .with_order(order)
            .init(init.device)
            .map_err(|e| respec(e, spec))
    }

    /// The activation with given coefficients (used by gradient checks and weight import).
    pub fn from_parts(weight: Tensor<1>, bias: Tensor<1>) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
        }
    }

    /// r, the order.
    pub fn order(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Horner's rule on ReLU(x): ((a_r·r + a_{r-1})·r + ...)·r + a_0 with r = ReLU(x).
    ///
    /// # Shapes
    /// - input: `[..., width]` (any layout: the coefficients are shared by all neurons)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dtype = input.dtype();
        let weight = self.weight.val().cast(dtype);
        let bias: Tensor<D> = self.bias.val().cast(dtype).reshape([1usize; D]);
        let r = input.clamp_min(0.0);
        let mut acc = r.clone() * coefficient::<D>(&weight, 0);
        for i in 1..self.order() {
            acc = (acc + coefficient::<D>(&weight, i)) * r.clone();
        }
        acc + bias
    }

    /// The slow reference: Σ_i a_i ReLU(x)^i + a_0, each power computed on its own.
    ///
    /// # Shapes
    /// - input: `[..., width]`
    /// - output: same as the input
    pub fn forward_reference<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dtype = input.dtype();
        let weight = self.weight.val().cast(dtype);
        let order = self.order();
        let r = input.clamp_min(0.0);
        let mut out: Tensor<D> = self.bias.val().cast(dtype).reshape([1usize; D]);
        for i in 0..order {
            let power = (order - i) as i32;
            out = out + r.clone().powi_scalar(power) * coefficient::<D>(&weight, i);
        }
        out
    }
}

/// Puts the spec's text into a config error.
pub(crate) fn respec(e: NnError, spec: &ActivationSpec) -> NnError {
    match e {
        NnError::BadActivation { reason, .. } => NnError::BadActivation {
            spec: spec.to_string(),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::activation::fixtures::Fixture;
    use crate::activation::tests::{assert_close, eval};
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// The notes' reference: PolyReLU with the default coefficients on [−1, 2] is
    /// [0, (8 + 4 + 2)/3] = [0, 14/3 = 4.6666667]. Order 2 at x = 3: (9 + 3)/2 = 6.
    #[test]
    fn reference_values_of_the_notes() {
        assert_close(&eval("polyrelu", &[-1.0, 2.0]), &[0.0, 4.666_666_7], 1e-6);
        assert_close(&eval("polyrelu(order=2)", &[3.0]), &[6.0], 1e-6);
        assert_close(&eval("polyrelu(order=1)", &[3.0, -2.0]), &[3.0, 0.0], 1e-6);
    }

    /// With a_0 = 0 the output is exactly 0 for every x <= 0, whatever the other coefficients.
    #[test]
    fn zero_for_non_positive_inputs_when_the_bias_is_zero() {
        let device = Device::flex();
        let act = PolyRelu::from_parts(
            Tensor::from_floats([0.7, -1.3, 2.1], &device),
            Tensor::zeros([1], &device),
        );
        let y = act.forward(Tensor::<1>::from_floats([-5.0, -0.5, -1e-3, 0.0], &device));
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![0.0; 4]);
    }

    /// Horner's rule and the sum of powers agree (orders 1 to 5, random coefficients).
    #[test]
    fn horner_matches_the_reference() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[-1.5, 0.2, 0.9], [1.7, 2.4, -0.1]], &device);
        for order in 1..=5 {
            let weight: Vec<f32> = (0..order).map(|i| 0.3 - 0.21 * i as f32).collect();
            let act = PolyRelu::from_parts(
                Tensor::from_floats(weight.as_slice(), &device),
                Tensor::from_floats([0.05], &device),
            );
            let fast = act.forward(x.clone()).into_data();
            let slow = act.forward_reference(x.clone()).into_data();
            fast.assert_approx_eq::<f32>(&slow, Default::default());
        }
    }

    /// Values and gradients of x, weight and bias agree with an independent NumPy
    /// implementation (`tests/fixtures/activations/make_fixtures.py`).
    #[test]
    fn matches_the_numpy_reference() {
        let device = Device::flex().autodiff();
        for case in Fixture::load().cases("polyrelu") {
            let x = Tensor::<1>::from_floats(case.values("x").as_slice(), &device).require_grad();
            let w = Tensor::<1>::from_floats(case.values("weight").as_slice(), &device)
                .require_grad();
            let b = Tensor::<1>::from_floats(case.values("bias").as_slice(), &device)
                .require_grad();
            let y = PolyRelu::from_parts(w.clone(), b.clone()).forward(x.clone());
            assert_close(
                &y.clone().into_data().try_to_vec::<f32>().unwrap(),
                &case.values("y"),
                1e-5,
            );
            let grads = y.sum().backward();
            let grad = |t: &Tensor<1>| t.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert_close(&grad(&x), &case.values("grad_x"), 1e-4);
            assert_close(&grad(&w), &case.values("grad_weight"), 1e-3);
            assert_close(&grad(&b), &case.values("grad_bias"), 1e-4);
        }
    }

    /// Finite differences in f64 of the input, the coefficients and the bias (orders 1 and 3).
    /// Inputs avoid the kink at 0.
    #[test]
    fn gradcheck_of_input_weight_and_bias() {
        let xs = vec![-1.2, -0.3, 0.07, 0.5, 1.1, 1.9];
        for weight in [vec![0.8], vec![1.0 / 3.0, -0.4, 0.9]] {
            let report = check_gradients(
                |inputs, _| {
                    PolyRelu::from_parts(inputs[1].clone(), inputs[2].clone())
                        .forward(inputs[0].clone())
                },
                &[xs.clone(), weight.clone(), vec![0.1]],
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "order {}: {report}", weight.len());
        }
    }

    #[test]
    fn defaults_and_bad_orders() {
        let device = Device::flex();
        let act = PolyReluConfig::new().init(&device).unwrap();
        // official init: weight = 1/3 each, bias = 0
        assert_close(
            &act.weight.val().into_data().try_to_vec::<f32>().unwrap(),
            &[1.0 / 3.0; 3],
            1e-7,
        );
        assert_eq!(act.bias.val().into_data().try_to_vec::<f32>().unwrap(), vec![0.0]);
        for bad in [0, 9, usize::MAX] {
            assert!(PolyReluConfig::new().with_order(bad).validate().is_err(), "{bad}");
        }
        for bad in ["polyrelu(order=0)", "polyrelu(order=-1)", "polyrelu(order=2.5)", "polyrelu(order=1e300)", "polyrelu(degree=3)"] {
            let spec: ActivationSpec = bad.parse().unwrap();
            let err = PolyRelu::from_spec(&spec, &ActivationInit::features(&device, 4)).unwrap_err();
            assert!(err.to_string().contains("order") || err.to_string().contains("degree"), "{bad}: {err}");
        }
        assert!("polyrelu(order=nan)".parse::<ActivationSpec>().is_err());
    }
}
