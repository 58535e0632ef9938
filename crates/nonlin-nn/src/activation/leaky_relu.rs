//! Leaky ReLU (Maas et al., 2013): x for x >= 0, alpha * x otherwise.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Leaky ReLU with a fixed negative slope.
#[derive(Module, Debug)]
pub struct LeakyRelu {
    /// alpha, the slope for negative inputs; default 0.01 (`negative_slope=` in a spec).
    pub negative_slope: f64,
}

impl LeakyRelu {
    /// Builds it from a spec such as `leaky_relu(negative_slope=0.2)`.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["negative_slope"])?;
        Ok(Self {
            negative_slope: spec.param("negative_slope", 0.01),
        })
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::leaky_relu(input, self.negative_slope)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // default slope 0.01: -2 -> -0.02; slope 0.2: -2 -> -0.4; positives pass through
        assert_close(&eval("leaky_relu", &[-2.0, 3.0]), &[-0.02, 3.0], 1e-6);
        assert_close(
            &eval("leaky_relu(negative_slope=0.2)", &[-2.0, 3.0]),
            &[-0.4, 3.0],
            1e-6,
        );
    }
}
