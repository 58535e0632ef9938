//! Logistic sigmoid: 1 / (1 + e^-x).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Logistic sigmoid: 1 / (1 + e^-x).
#[derive(Module, Debug, Default)]
pub struct Sigmoid;

impl Sigmoid {
    /// Builds it from a spec; `sigmoid` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::sigmoid(input)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // 1/(1+e^2)=1/8.3890561=0.1192029; 1/(1+e^-3)=1/1.0497871=0.9525741
        assert_close(
            &eval("sigmoid", &[-2.0, 0.0, 3.0]),
            &[0.119_202_92, 0.5, 0.952_574_13],
            1e-5,
        );
    }
}
