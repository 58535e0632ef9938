//! CRReLU, the correction-regularised ReLU of "A Method on Searching Better Activation Functions"
//! (EAFO; Sun et al., arXiv:2405.12954, ICLR 2025):
//!
//! ```text
//! CRReLU(x) = max(0, x) + ε · x · exp(−x² / 2)
//! ```
//!
//! The correction x·e^{−x²/2} is minus the derivative of the standard Gaussian density (up to
//! √(2π)): the direction in which the paper's entropy-based optimisation (EAFO) moves ReLU away
//! from the maximum-entropy, "worst" activation for Gaussian pre-activations. ε is one learnable
//! scalar per activation module, initialised to 0.01 (the value of the public reimplementations
//! and of the reviews; no official code was released). The paper's own recipe keeps ε out of
//! weight decay: experiments put it in a parameter group (`params = ["*.Crrelu.epsilon"],
//! weight_decay = 0.0`).
//!
//! Gradients: ∂/∂x = 1[x > 0] + ε (1 − x²) e^{−x²/2}; ∂/∂ε = x e^{−x²/2}.
//!
//! Choices where the paper leaves room (documented, config fields): ε is not constrained during
//! training (the notes say to keep it free and watch it), and the initial ε must satisfy
//! |ε| ≤ 1, because EAFO derives the correction as a first-order (small-ε) perturbation of ReLU;
//! 0 and negative values are allowed (0 starts exactly at ReLU).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Configuration of a [`Crrelu`] (`crrelu(epsilon=0.01)` as a spec).
#[derive(Config, Debug)]
pub struct CrreluConfig {
    /// ε, the initial weight of the correction term x·e^{−x²/2}; paper default 0.01.
    #[config(default = 0.01)]
    pub epsilon: f64,
}

impl CrreluConfig {
    /// Largest accepted |ε| at initialisation: the correction is a first-order perturbation.
    pub const MAX_ABS_EPSILON: f64 = 1.0;

    /// Checks that ε is finite and at most [`Self::MAX_ABS_EPSILON`] in size.
    pub fn validate(&self) -> Result<(), NnError> {
        if !self.epsilon.is_finite() || self.epsilon.abs() > Self::MAX_ABS_EPSILON {
            return Err(NnError::BadActivation {
                spec: format!("crrelu(epsilon={})", self.epsilon),
                reason: format!(
                    "epsilon must be a finite number with |epsilon| <= {} (CRReLU's correction is a small perturbation of ReLU), got {}",
                    Self::MAX_ABS_EPSILON,
                    self.epsilon
                ),
            });
        }
        Ok(())
    }

    /// Builds the activation with ε as a learnable scalar on `device`.
    pub fn init(&self, device: &Device) -> Result<Crrelu, NnError> {
        self.validate()?;
        let epsilon = Tensor::<1>::from_data(TensorData::new(vec![self.epsilon as f32], [1]), device);
        Ok(Crrelu {
            epsilon: Param::from_tensor(epsilon),
        })
    }
}

/// CRReLU with its learnable correction weight ε.
#[derive(Module, Debug)]
pub struct Crrelu {
    /// ε, the weight of the correction term: `[1]`.
    pub epsilon: Param<Tensor<1>>,
}

impl Crrelu {
    /// Builds it from a spec such as `crrelu` or `crrelu(epsilon=0.05)`.
    pub fn from_spec(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["epsilon"])?;
        let config = CrreluConfig::new().with_epsilon(spec.param("epsilon", 0.01));
        config.init(init.device).map_err(|e| match e {
            NnError::BadActivation { reason, .. } => NnError::BadActivation {
                spec: spec.to_string(),
                reason,
            },
            other => other,
        })
    }

    /// The activation with a given ε tensor (used by gradient checks, which differentiate ε).
    pub fn from_epsilon(epsilon: Tensor<1>) -> Self {
        Self {
            epsilon: Param::from_tensor(epsilon),
        }
    }

    /// # Shapes
    /// - input: `[..., width]` (any layout: ε is one scalar)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        // Cast to the input's dtype so the activation runs in f64 too (gradient checks).
        let epsilon: Tensor<D> = self.epsilon.val().cast(input.dtype()).reshape([1usize; D]);
        let bump = (input.clone().powi_scalar(2) * -0.5).exp();
        input.clone().clamp_min(0.0) + input * bump * epsilon
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::activation::fixtures::Fixture;
    use crate::activation::tests::{assert_close, eval};
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// The notes' reference values at ε = 0.01:
    /// f(−1) = 0 + 0.01·(−1)·e^{−0.5} = −0.01·0.6065307 = −0.0060653;
    /// f(0) = 0; f(1) = 1 + 0.0060653 = 1.0060653;
    /// f(2) = 2 + 0.01·2·e^{−2} = 2 + 0.02·0.1353353 = 2.0027067.
    #[test]
    fn reference_values_of_the_notes() {
        assert_close(
            &eval("crrelu", &[-1.0, 0.0, 1.0, 2.0]),
            &[-0.006_065_3, 0.0, 1.006_065_3, 2.002_706_7],
            1e-6,
        );
        // ε = 0.5 at x = −1: 0.5·(−1)·0.6065307 = −0.3032653
        assert_close(&eval("crrelu(epsilon=0.5)", &[-1.0]), &[-0.303_265_3], 1e-6);
        // ε = 0 is exactly ReLU
        assert_close(&eval("crrelu(epsilon=0)", &[-1.5, 0.7]), &[0.0, 0.7], 0.0);
    }

    /// ∂/∂ε = x e^{−x²/2}: at x = 1, e^{−0.5} = 0.6065307; at x = −2, −2·e^{−2} = −0.2706706.
    /// ∂/∂x at x = 1, ε = 0.01: 1 + 0.01·(1 − 1)·e^{−0.5} = 1; at x = −2: 0.01·(1 − 4)·e^{−2} =
    /// −0.03·0.1353353 = −0.0040601.
    #[test]
    fn hand_computed_gradients() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([1.0, -2.0], &device).require_grad();
        let eps = Tensor::<1>::from_floats([0.01], &device).require_grad();
        let act = Crrelu::from_epsilon(eps.clone());
        let grads = act.forward(x.clone()).sum().backward();
        let gx = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_close(&gx, &[1.0, -0.004_060_1], 1e-6);
        let ge = eps.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        // 0.6065307 − 0.2706706 = 0.3358601
        assert_close(&ge, &[0.335_860_1], 1e-6);
    }

    /// Values and both gradients agree with an independent NumPy implementation
    /// (`tests/fixtures/activations/make_fixtures.py`).
    #[test]
    fn matches_the_numpy_reference() {
        let device = Device::flex().autodiff();
        for case in Fixture::load().cases("crrelu") {
            let eps_value = case.scalar("epsilon");
            let x = Tensor::<1>::from_floats(case.values("x").as_slice(), &device).require_grad();
            let eps = Tensor::<1>::from_floats([eps_value as f32], &device).require_grad();
            let act = Crrelu::from_epsilon(eps.clone());
            let y = act.forward(x.clone());
            let found = y.clone().into_data().try_to_vec::<f32>().unwrap();
            assert_close(&found, &case.values("y"), 1e-6);
            let grads = y.sum().backward();
            let gx = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert_close(&gx, &case.values("grad_x"), 1e-5);
            let ge = eps.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert_close(&ge, &case.values("grad_epsilon"), 1e-4);
        }
    }

    /// Finite differences in f64 of the input and of ε (passed as the op's second input, the
    /// module built from it inside the op). Inputs avoid the kink at 0.
    #[test]
    fn gradcheck_of_input_and_epsilon() {
        let xs = vec![-2.7, -1.0, -0.31, -0.02, 0.05, 0.6, 1.0, 2.2];
        for eps in [0.01, -0.4, 0.9] {
            let report = check_gradients(
                |inputs, _| Crrelu::from_epsilon(inputs[1].clone()).forward(inputs[0].clone()),
                &[xs.clone(), vec![eps]],
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "epsilon {eps}: {report}");
        }
    }

    #[test]
    fn config_defaults_and_bad_values() {
        assert_eq!(CrreluConfig::new().epsilon, 0.01);
        // zero and negative are allowed (zero is exactly ReLU at init)
        for ok in [0.0, -0.01, 1.0, -1.0] {
            assert!(CrreluConfig::new().with_epsilon(ok).validate().is_ok(), "{ok}");
        }
        for bad in [f64::NAN, f64::INFINITY, 1.5, -1e9] {
            let err = CrreluConfig::new().with_epsilon(bad).validate().unwrap_err();
            assert!(err.to_string().contains("epsilon"), "{bad}: {err}");
        }
        let device = Device::flex();
        for bad in ["crrelu(epsilon=2)", "crrelu(eps=0.1)", "crrelu(epsilon=-1e300)"] {
            let spec: ActivationSpec = bad.parse().unwrap();
            let err = Crrelu::from_spec(&spec, &ActivationInit::features(&device, 3)).unwrap_err();
            assert!(err.to_string().contains("eps"), "{bad}: {err}");
        }
        // a spec with an empty value does not parse
        assert!("crrelu(epsilon=)".parse::<ActivationSpec>().is_err());
    }
}
