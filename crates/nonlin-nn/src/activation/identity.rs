//! Identity: x (the linear baseline in activation comparisons).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// Identity: x (the linear baseline in activation comparisons).
#[derive(Module, Debug, Default)]
pub struct Identity;

impl Identity {
    /// Builds it from a spec; `identity` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        input
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // identity returns its input
        assert_close(
            &eval("identity", &[-2.0, 0.0, 1.5]),
            &[-2.0, 0.0, 1.5],
            1e-5,
        );
    }
}
