//! A multilayer perceptron of quadratic neurons ("On Expressivity and Trainability of Quadratic
//! Networks", Fan et al., arXiv:2110.06081): `h_{l+1} = φ(r_l(h) ⊙ g_l(h) + b_l(h ⊙ h))` for every
//! hidden layer (see [`crate::neuron::QuadraticLinear`]), then a conventional linear output layer
//! (as the official QResNet keeps its classifier conventional). With the ReLinear
//! initialisation the network computes exactly the conventional MLP of its r weights at step 0.
//!
//! Choice (documented): no batch normalisation after the quadratic op (the official ResNets have
//! one); the learning-rate multiplier of ReLinear keeps the quadratic terms small instead.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::neuron::{QuadraticInit, QuadraticLinear, QuadraticLinearConfig};

/// Configuration of a [`QuadraticMlp`] (`kind = "quadratic_mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuadraticMlpConfig {
    /// Widths of the hidden (quadratic) layers.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer, as a spec.
    #[serde(default = "relu")]
    pub activation: String,
    /// `"relinear"` (the paper's; equals the conventional MLP at step 0) or `"random"`.
    #[serde(default = "relinear")]
    pub init: QuadraticInit,
    /// The compact neuron without g: r(x) + b(x ⊙ x).
    #[serde(default)]
    pub compact: bool,
}

fn relu() -> String {
    "relu".into()
}
fn relinear() -> QuadraticInit {
    QuadraticInit::Relinear
}

/// An MLP of quadratic neurons with a conventional output layer.
#[derive(Module, Debug)]
pub struct QuadraticMlp {
    layers: Vec<QuadraticLinear>,
    activations: Vec<Activation>,
    head: Linear,
}

impl QuadraticMlpConfig {
    /// A ReLinear quadratic MLP with these hidden widths and ReLU.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            activation: relu(),
            init: relinear(),
            compact: false,
        }
    }

    /// Builds the network from `input` to `output` features.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<QuadraticMlp, NnError> {
        self.validate()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!(
                "quadratic_mlp widths must be positive: input {input}, output {output}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut width = input;
        let mut layers = Vec::with_capacity(self.hidden.len());
        let mut activations = Vec::with_capacity(self.hidden.len());
        for &h in &self.hidden {
            layers.push(
                QuadraticLinearConfig::new(width, h)
                    .with_init(self.init)
                    .with_compact(self.compact)
                    .init(device)?,
            );
            activations.push(Activation::new(&spec, &ActivationInit::features(device, h))?);
            width = h;
        }
        Ok(QuadraticMlp {
            layers,
            activations,
            head: LinearConfig::new(width, output).init(device),
        })
    }
}

impl ModelSpec for QuadraticMlpConfig {
    type Model = QuadraticMlp;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "quadratic_mlp needs at least one hidden layer, all positive, got {:?}",
                self.hidden
            )));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<QuadraticMlp, NnError> {
        let input: usize = io.real_input("quadratic_mlp")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

impl QuadraticMlp {
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let mut x = input;
        for (layer, act) in self.layers.iter().zip(&self.activations) {
            x = act.forward(layer.forward(x));
        }
        self.head.forward(x)
    }
}

impl Network for QuadraticMlp {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward(input.real("quadratic_mlp")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes' exact test: with ReLinear initialisation the quadratic MLP's logits equal those
    /// of the conventional MLP built from the same r weights and the same head, to 1e-6.
    #[test]
    fn relinear_logits_equal_the_conventional_mlp() {
        let device = Device::flex();
        let model = QuadraticMlpConfig::new(vec![64, 64]).init(64, 10, &device).unwrap();
        let x = Tensor::<2>::random([16, 64], burn::tensor::Distribution::Uniform(0.0, 16.0), &device);
        let quad = model.forward(x.clone()).into_data();
        let mut h = x;
        for layer in &model.layers {
            h = burn::tensor::activation::relu(layer.r.forward(h));
        }
        let conventional = model.head.forward(h).into_data();
        quad.assert_approx_eq::<f32>(&conventional, burn::tensor::Tolerance::absolute(1e-6));
    }

    /// Parameters: 3 maps per quadratic layer, e.g. 64 → 64 → 10 with one hidden layer of 64:
    /// 3·(64·64 + 64) + (64·10 + 10) = 12480 + 650 = 13130; compact: 2·4160 + 650 = 8970.
    #[test]
    fn parameter_counts_and_paths() {
        let device = Device::flex();
        let full = QuadraticMlpConfig::new(vec![64]).init(64, 10, &device).unwrap();
        assert_eq!(full.num_params(), 13_130);
        let compact = QuadraticMlpConfig { compact: true, ..QuadraticMlpConfig::new(vec![64]) }
            .init(64, 10, &device)
            .unwrap();
        assert_eq!(compact.num_params(), 8_970);
        // the ReLinear parameter group matches g and b, never r or the head
        let paths: Vec<String> = crate::weights::param_paths(&full).into_iter().map(|p| p.path).collect();
        let quadratic: Vec<&String> = paths.iter().filter(|p| p.contains(".g.") || p.contains(".b.")).collect();
        assert_eq!(quadratic.len(), 4, "{paths:?}");
        assert!(paths.contains(&"layers.0.r.weight".to_string()), "{paths:?}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        assert!(QuadraticMlpConfig::new(vec![]).validate().is_err());
        assert!(QuadraticMlpConfig::new(vec![0]).validate().is_err());
        assert!(QuadraticMlpConfig::new(vec![4]).init(0, 2, &device).is_err());
        let bad = QuadraticMlpConfig { activation: "nope".into(), ..QuadraticMlpConfig::new(vec![4]) };
        assert!(bad.validate().is_err());
        let err = toml::from_str::<QuadraticMlpConfig>("hidden = [4]\ninit = \"kaiming\"").unwrap_err();
        assert!(err.to_string().contains("kaiming"), "{err}");
    }
}
