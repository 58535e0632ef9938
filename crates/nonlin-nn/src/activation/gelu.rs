//! GELU (Hendrycks and Gimpel, arXiv:1606.08415), exact form: x * Phi(x), Phi the standard normal CDF.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// GELU (Hendrycks and Gimpel, arXiv:1606.08415), exact form: x * Phi(x), Phi the standard normal CDF.
#[derive(Module, Debug, Default)]
pub struct Gelu;

impl Gelu {
    /// Builds it from a spec; `gelu` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::gelu(input)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // Phi(1)=0.8413447, so gelu(1)=0.8413447 and gelu(-1)=-1*(1-0.8413447)=-0.1586553; Phi(2)=0.9772499, gelu(2)=1.9544997
        assert_close(
            &eval("gelu", &[-1.0, 0.0, 1.0, 2.0]),
            &[-0.158_655_25, 0.0, 0.841_344_7, 1.954_499_7],
            1e-5,
        );
    }
}
