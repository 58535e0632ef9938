//! The multilayer perceptron: `h_{l+1} = phi(W_l h_l + b_l)`, with no activation after the last
//! layer. `phi` is any registered activation, chosen by name.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Blocks, ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of an [`Mlp`] (`kind = "mlp"`); input and output widths come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers, in order (may be empty: a linear model).
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer, as a spec (`"relu"`, `"leaky_relu(negative_slope=0.1)"`).
    #[serde(default = "relu")]
    pub activation: String,
    /// Whether the layers have biases.
    #[serde(default = "yes")]
    pub bias: bool,
    /// Dropout probability after every hidden activation during training (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn relu() -> String {
    "relu".into()
}
fn yes() -> bool {
    true
}

/// A multilayer perceptron.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activations: Vec<Activation>,
    dropout: Option<Dropout>,
}

impl MlpConfig {
    /// An MLP with these hidden widths, ReLU and biases.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            activation: relu(),
            bias: true,
            dropout: 0.0,
        }
    }

    /// Sets the dropout probability.
    pub fn with_dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Sets the activation spec.
    pub fn with_activation(mut self, activation: impl Into<String>) -> Self {
        self.activation = activation.into();
        self
    }

    /// Sets whether the layers have biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Builds the network from `input` to `output` features on `device`, with Burn's default
    /// (PyTorch-like) initialisation.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<Mlp, NnError> {
        if input == 0 || output == 0 || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "mlp widths must be positive: input {input}, hidden {:?}, output {output}",
                self.hidden
            )));
        }
        check_dropout(self.dropout)?;
        let spec: ActivationSpec = self.activation.parse()?;
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        widths.push(output);
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
            .map(|&width| Activation::new(&spec, &ActivationInit::features(device, width)))
            .collect::<Result<_, _>>()?;
        Ok(Mlp {
            layers,
            activations,
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
        })
    }
}

impl ModelSpec for MlpConfig {
    type Model = Mlp;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "mlp hidden widths must be positive, got {:?}",
                self.hidden
            )));
        }
        check_dropout(self.dropout)?;
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Mlp, NnError> {
        let input: usize = io.real_input("mlp")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

fn check_dropout(p: f64) -> Result<(), NnError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(NnError::BadConfig(format!(
            "mlp dropout must be in [0, 1), got {p}"
        )))
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
            if let Some(dropout) = &self.dropout {
                x = dropout.forward(x);
            }
        }
        let last = self.layers.last().expect("an mlp has at least one layer");
        (last.forward(x), hidden)
    }

    /// Number of linear layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// The linear layers, input to output.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The activations after the hidden layers.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// The dropout after every hidden activation, if any.
    pub fn dropout(&self) -> Option<&Dropout> {
        self.dropout.as_ref()
    }
}

impl Network for Mlp {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward(input.real("mlp")?))
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }

    fn activation_sites(&self) -> Vec<crate::activation::ActivationSite<'_>> {
        self.activations
            .iter()
            .zip(&self.layers)
            .map(|(activation, layer)| crate::activation::ActivationSite {
                activation,
                width: layer.weight.dims()[1],
                spatial_dims: 0,
            })
            .collect()
    }
}

/// Block `l < hidden` is `phi(W_l h + b_l)`; the last block is the output layer alone.
impl Blocks for Mlp {
    fn block_count(&self) -> usize {
        self.layers.len()
    }

    fn block_forward(&self, index: usize, input: Tensor<2>) -> Tensor<2> {
        let out = self.layers[index].forward(input);
        match (self.activations.get(index), &self.dropout) {
            (Some(act), Some(dropout)) => dropout.forward(act.forward(out)),
            (Some(act), None) => act.forward(out),
            (None, _) => out,
        }
    }

    fn block_input_width(&self, index: usize) -> usize {
        self.layers[index].weight.dims()[0]
    }

    fn block_width(&self, index: usize) -> usize {
        self.layers[index].weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::flex();
        let mlp = MlpConfig::new(vec![256, 256]).init(784, 10, &device).unwrap();
        // (784*256 + 256) + (256*256 + 256) + (256*10 + 10) = 200960 + 65792 + 2570 = 269322
        assert_eq!(mlp.num_params(), 269_322);
        let out = mlp.forward(Tensor::zeros([3, 784], &device));
        assert_eq!(out.dims(), [3, 10]);
        let (_, hidden) = mlp.forward_hidden(Tensor::zeros([2, 784], &device));
        assert_eq!(hidden.len(), 2);
        assert_eq!(hidden[1].dims(), [2, 256]);
    }

    #[test]
    fn blocks_compose_to_the_forward_pass() {
        let device = Device::flex();
        let mlp = MlpConfig::new(vec![5, 4])
            .with_activation("tanh")
            .init(3, 2, &device)
            .unwrap();
        assert_eq!(mlp.block_count(), 3);
        assert_eq!(
            (0..3)
                .map(|i| (mlp.block_input_width(i), mlp.block_width(i)))
                .collect::<Vec<_>>(),
            vec![(3, 5), (5, 4), (4, 2)]
        );
        let x = Tensor::<2>::from_floats([[0.3, -1.0, 2.0], [0.1, 0.2, 0.3]], &device);
        let mut h = x.clone();
        for i in 0..3 {
            h = mlp.block_forward(i, h);
        }
        let whole = mlp.forward(x);
        h.into_data().assert_approx_eq::<f32>(&whole.into_data(), Default::default());
    }

    #[test]
    fn identity_mlp_is_a_product_of_matrices() {
        // With the identity activation and no bias, two layers compose to x W1^T W2^T... check
        // linearity: f(2x) = 2 f(x).
        let device = Device::flex();
        let mlp = MlpConfig::new(vec![4])
            .with_activation("identity")
            .with_bias(false)
            .init(3, 2, &device)
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
        assert!(MlpConfig::new(vec![4]).init(0, 2, &device).is_err());
        assert!(MlpConfig::new(vec![0]).init(3, 2, &device).is_err());
        assert!(MlpConfig::new(vec![0]).validate().is_err());
        let err = MlpConfig::new(vec![4])
            .with_activation("nope")
            .init(3, 2, &device)
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
        assert!(MlpConfig::new(vec![4]).with_activation("nope").validate().is_err());
        for p in [-0.1, 1.0, f64::NAN] {
            assert!(MlpConfig::new(vec![4]).with_dropout(p).validate().is_err(), "{p}");
        }
    }

    /// Dropout acts in training (on an autodiff device) and not in inference (`valid()`).
    #[test]
    fn dropout_only_while_training() {
        let device = Device::flex().autodiff();
        let mlp = MlpConfig::new(vec![64])
            .with_dropout(0.5)
            .init(8, 2, &device)
            .unwrap();
        let x = Tensor::<2>::ones([4, 8], &device);
        let a = mlp.forward(x.clone()).into_data();
        let b = mlp.forward(x.clone()).into_data();
        assert_ne!(a, b, "two training passes should drop different units");
        let eval = mlp.valid();
        let c = eval.forward(x.clone()).into_data();
        let d = eval.forward(x).into_data();
        assert_eq!(c, d);
    }
}
