//! SiLU / swish (Elfwing et al., arXiv:1702.03118): x * sigmoid(x).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;

/// SiLU / swish (Elfwing et al., arXiv:1702.03118): x * sigmoid(x).
#[derive(Module, Debug, Default)]
pub struct Silu;

impl Silu {
    /// Builds it from a spec; `silu` takes no parameters.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&[])?;
        Ok(Self)
    }

    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        burn::tensor::activation::silu(input)
    }
}

#[cfg(test)]
mod tests {
    use crate::activation::tests::{assert_close, eval};

    #[test]
    fn hand_computed_values() {
        // sigmoid(-1)=0.2689414 so silu(-1)=-0.2689414; sigmoid(2)=0.8807971 so silu(2)=1.7615942
        assert_close(
            &eval("silu", &[-1.0, 0.0, 2.0]),
            &[-0.268_941_4, 0.0, 1.761_594_2],
            1e-5,
        );
    }
}
