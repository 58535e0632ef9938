//! Hyperbolic tangent: (e^x - e^-x) / (e^x + e^-x).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Hyperbolic tangent: (e^x - e^-x) / (e^x + e^-x).
#[derive(Module, Debug, Default)]
pub struct Tanh;

impl Tanh {
    /// Builds it from a spec; `tanh` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::tanh(input)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // tanh(1)=(e-1/e)/(e+1/e)=2.3504024/3.0861613=0.7615942; tanh(0.5)=0.4621172
        assert_close(
            &eval("tanh", &[-1.0, 0.0, 0.5]),
            &[-0.761_594_2, 0.0, 0.462_117_16],
            1e-5,
        );
    }
}
