//! How a linear layer's parameters start: PyTorch's default (what Burn's `LinearConfig` does) or
//! GPT-2's normal distribution with zero biases (Radford et al. 2019, as nanoGPT initialises).

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Shape, Tensor};

/// An initialisation scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Weights and biases uniform in `±1/sqrt(fan_in)` (PyTorch's `nn.Linear`).
    PyTorch,
    /// Weights `N(0, std^2)`, biases zero (GPT-2).
    Normal { std: f64 },
}

impl Init {
    /// A linear layer `d_in -> d_out`.
    pub fn linear(self, d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
        match self {
            Init::PyTorch => LinearConfig::new(d_in, d_out).with_bias(bias).init(device),
            Init::Normal { std } => {
                let mut layer = LinearConfig::new(d_in, d_out)
                    .with_bias(bias)
                    .with_initializer(Initializer::Normal { mean: 0.0, std })
                    .init(device);
                if bias {
                    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
                }
                layer
            }
        }
    }

    /// A weight tensor drawn as a linear layer with fan-in `fan_in` draws its weights.
    pub fn weight<const D: usize>(
        self,
        shape: impl Into<Shape>,
        fan_in: usize,
        device: &Device,
    ) -> Tensor<D> {
        let initializer = match self {
            Init::PyTorch => Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            },
            Init::Normal { std } => Initializer::Normal { mean: 0.0, std },
        };
        // a plain value: callers compute with it before it becomes a parameter
        initializer
            .init_with(shape, Some(fan_in), None, device)
            .val()
            .detach()
    }
}
