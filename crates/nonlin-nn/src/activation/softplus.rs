//! Softplus: (1/beta) * ln(1 + e^(beta x)), a smooth ReLU.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Softplus with sharpness beta.
#[derive(Module, Debug)]
pub struct Softplus {
    /// beta, the sharpness; default 1 (`beta=` in a spec). Larger beta is closer to ReLU.
    pub beta: f64,
}

impl Softplus {
    /// Builds it from a spec such as `softplus(beta=2)`; beta must be positive.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["beta"])?;
        let beta = spec.param("beta", 1.0);
        if beta <= 0.0 {
            return Err(NnError::BadActivation {
                spec: spec.to_string(),
                reason: "beta must be positive".into(),
            });
        }
        Ok(Self { beta })
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::softplus(input, self.beta)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // ln(1+e^0)=ln2=0.6931472; ln(1+e^1)=1.3132617; beta=2 at x=1: ln(1+e^2)/2=2.1269280/2=1.0634640
        assert_close(
            &eval("softplus", &[0.0, 1.0]),
            &[std::f32::consts::LN_2, 1.313_261_7],
            1e-5,
        );
        assert_close(&eval("softplus(beta=2)", &[1.0]), &[1.063_464], 1e-5);
    }
}
