//! The multilayer perceptron: `h_{l+1} = phi(W_l h_l + b_l)`, with no activation after the last
//! layer. `phi` is any registered activation, chosen by name.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::Classifier;
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub input: usize,
    /// Widths of the hidden layers, in order (may be empty: a linear model).
    pub hidden: Vec<usize>,
    /// Output features (classes).
    pub output: usize,
    /// Activation after every hidden layer, as a spec (`"relu"`, `"leaky_relu(negative_slope=0.1)"`).
    #[config(default = "String::from(\"relu\")")]
    pub activation: String,
    /// Whether the layers have biases.
    #[config(default = true)]
    pub bias: bool,
}

/// A multilayer perceptron.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activations: Vec<Activation>,
}

impl MlpConfig {
    /// Builds the network on `device`, with Burn's default (PyTorch-like) initialisation.
    pub fn init(&self, device: &Device) -> Result<Mlp, NnError> {
        if self.input == 0 || self.output == 0 || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "mlp widths must be positive: input {}, hidden {:?}, output {}",
                self.input, self.hidden, self.output
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.output);
        let layers = widths
            .windows(2)
            .map(|w| {
                LinearConfig::new(w[0], w[1])
                    .with_bias(self.bias)
                    .init(device)
            })
            .collect();
        let activations = self
            .hidden
            .iter()
            .map(|&width| Activation::new(&spec, &ActivationInit { device, width }))
            .collect::<Result<_, _>>()?;
        Ok(Mlp {
            layers,
            activations,
        })
    }
}

impl Mlp {
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward_hidden(input).0
    }

    /// The output and every hidden representation after its activation (for probes).
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`, hidden `l`: `[batch, hidden[l]]`
    pub fn forward_hidden(&self, input: Tensor<2>) -> (Tensor<2>, Vec<Tensor<2>>) {
        let mut x = input;
        let mut hidden = Vec::with_capacity(self.activations.len());
        for (layer, act) in self.layers.iter().zip(&self.activations) {
            x = act.forward(layer.forward(x));
            hidden.push(x.clone());
        }
        let last = self.layers.last().expect("an mlp has at least one layer");
        (last.forward(x), hidden)
    }

    /// Number of linear layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
}

impl Classifier for Mlp {
    fn logits(&self, input: Tensor<2>) -> Tensor<2> {
        self.forward(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::flex();
        let mlp = MlpConfig::new(784, vec![256, 256], 10)
            .init(&device)
            .unwrap();
        // (784*256 + 256) + (256*256 + 256) + (256*10 + 10) = 200960 + 65792 + 2570 = 269322
        assert_eq!(mlp.num_params(), 269_322);
        let out = mlp.forward(Tensor::zeros([3, 784], &device));
        assert_eq!(out.dims(), [3, 10]);
        let (_, hidden) = mlp.forward_hidden(Tensor::zeros([2, 784], &device));
        assert_eq!(hidden.len(), 2);
        assert_eq!(hidden[1].dims(), [2, 256]);
    }

    #[test]
    fn identity_mlp_is_a_product_of_matrices() {
        // With the identity activation and no bias, two layers compose to x W1^T W2^T... check
        // linearity: f(2x) = 2 f(x).
        let device = Device::flex();
        let mlp = MlpConfig::new(3, vec![4], 2)
            .with_activation("identity".into())
            .with_bias(false)
            .init(&device)
            .unwrap();
        let x = Tensor::<2>::from_floats([[0.3, -1.0, 2.0]], &device);
        let a = mlp
            .forward(x.clone() * 2.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = mlp.forward(x).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert!((a - 2.0 * b).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        assert!(MlpConfig::new(0, vec![4], 2).init(&device).is_err());
        assert!(MlpConfig::new(3, vec![0], 2).init(&device).is_err());
        let err = MlpConfig::new(3, vec![4], 2)
            .with_activation("nope".into())
            .init(&device)
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
