//! ReLU: max(0, x).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// ReLU: max(0, x).
#[derive(Module, Debug, Default)]
pub struct Relu;

impl Relu {
    /// Builds it from a spec; `relu` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::relu(input)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // max(0,-2)=0, max(0,0)=0, max(0,1.5)=1.5
        assert_close(&eval("relu", &[-2.0, 0.0, 1.5]), &[0.0, 0.0, 1.5], 1e-5);
    }
}
