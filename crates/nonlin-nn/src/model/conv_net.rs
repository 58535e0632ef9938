//! A small convolutional network: stages of `conv3x3 -> phi -> maxpool 2x2`, then a linear
//! classifier on the flattened features. `phi` is any registered activation.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of a [`ConvNet`] (`kind = "conv_net"`); the input shape and the number of
/// outputs come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvNetConfig {
    /// Channels of each conv stage; each stage halves the spatial size.
    #[serde(default = "conv_channels")]
    pub channels: Vec<usize>,
    /// Activation after every convolution, as a spec.
    #[serde(default = "relu")]
    pub activation: String,
}

fn conv_channels() -> Vec<usize> {
    vec![16, 32]
}
fn relu() -> String {
    "relu".into()
}

impl Default for ConvNetConfig {
    fn default() -> Self {
        Self {
            channels: conv_channels(),
            activation: relu(),
        }
    }
}

/// A small convolutional classifier.
#[derive(Module, Debug)]
pub struct ConvNet {
    convs: Vec<Conv2d>,
    activations: Vec<Activation>,
    pool: MaxPool2d,
    head: Linear,
    input_shape: [usize; 3],
}

impl ConvNetConfig {
    /// Sets the activation spec.
    pub fn with_activation(mut self, activation: impl Into<String>) -> Self {
        self.activation = activation.into();
        self
    }

    /// Sets the channels of the stages.
    pub fn with_channels(mut self, channels: Vec<usize>) -> Self {
        self.channels = channels;
        self
    }

    /// Builds the network for `[channels, height, width]` inputs and `classes` outputs.
    pub fn init(
        &self,
        input_shape: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<ConvNet, NnError> {
        let [c, h, w] = input_shape;
        let stages = self.channels.len();
        if c == 0 || classes == 0 || self.channels.contains(&0) {
            return Err(NnError::BadConfig(
                "conv_net channels and classes must be positive".into(),
            ));
        }
        let shrink = 1usize << stages;
        if h < shrink || w < shrink {
            return Err(NnError::BadConfig(format!(
                "conv_net with {stages} stages halves the input {stages} times, but the input is only {h}x{w}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut in_channels = c;
        let mut convs = Vec::with_capacity(stages);
        let mut activations = Vec::with_capacity(stages);
        for &out in &self.channels {
            convs.push(
                Conv2dConfig::new([in_channels, out], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
            );
            activations.push(Activation::new(
                &spec,
                &ActivationInit::channels(device, out, 2),
            )?);
            in_channels = out;
        }
        let features = in_channels * (h / shrink) * (w / shrink);
        Ok(ConvNet {
            convs,
            activations,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            head: LinearConfig::new(features, classes).init(device),
            input_shape,
        })
    }
}

impl ConvNet {
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = input;
        for (conv, act) in self.convs.iter().zip(&self.activations) {
            x = self.pool.forward(act.forward(conv.forward(x)));
        }
        self.head.forward(x.flatten(1, 3))
    }
}

impl ModelSpec for ConvNetConfig {
    type Model = ConvNet;

    fn validate(&self) -> Result<(), NnError> {
        if self.channels.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "conv_net channels must be positive, got {:?}",
                self.channels
            )));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<ConvNet, NnError> {
        let shape = io.real_input("conv_net")?;
        let shape: [usize; 3] = shape.try_into().map_err(|_| {
            NnError::BadConfig(format!(
                "conv_net needs image data shaped [channels, height, width]; the samples are shaped {shape:?}"
            ))
        })?;
        self.init(shape, io.output_width(), device)
    }
}

impl Network for ConvNet {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("conv_net")?;
        let [batch, features] = x.dims();
        let [c, h, w] = self.input_shape;
        if features != c * h * w {
            return Err(NnError::Shape {
                block: "conv_net",
                expected: format!("[batch, {}] (flattened {c}x{h}x{w})", c * h * w),
                found: vec![batch, features],
            });
        }
        Ok(self.forward(x.reshape([batch, c, h, w])))
    }

    fn activation_sites(&self) -> Vec<crate::activation::ActivationSite<'_>> {
        self.activations
            .iter()
            .zip(&self.convs)
            .map(|(activation, conv)| crate::activation::ActivationSite {
                activation,
                width: conv.weight.dims()[0],
                spatial_dims: 2,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_for_digits_and_mnist() {
        let device = Device::flex();
        let digits = ConvNetConfig::default().init([1, 8, 8], 10, &device).unwrap();
        assert_eq!(
            digits
                .forward_input(&ModelInput::Real(Tensor::zeros([5, 64], &device)))
                .unwrap()
                .dims(),
            [5, 10]
        );
        let mnist = ConvNetConfig::default()
            .with_activation("gelu")
            .init([1, 28, 28], 10, &device)
            .unwrap();
        assert_eq!(
            mnist.forward(Tensor::zeros([2, 1, 28, 28], &device)).dims(),
            [2, 10]
        );
        // params: conv1 1*16*9+16=160, conv2 16*32*9+32=4640, head 32*2*2*10+10=1290 -> 6090
        assert_eq!(digits.num_params(), 6090);
    }

    #[test]
    fn too_many_stages_for_the_input_is_an_error() {
        let device = Device::flex();
        let err = ConvNetConfig::default()
            .with_channels(vec![4, 4, 4, 4])
            .init([1, 8, 8], 10, &device)
            .unwrap_err();
        assert!(err.to_string().contains("8x8"), "{err}");
        let flat = ModelIo {
            input: crate::model::InputSpec::Real { shape: vec![64] },
            output: vec![10],
        };
        let err = ConvNetConfig::default().build(&flat, &device).unwrap_err();
        assert!(err.to_string().contains("[channels, height, width]"), "{err}");
    }

    /// Bug: a per-channel learnable activation after a convolution broadcast its parameters over
    /// the last axis (width) instead of the channels. Here every stage's PReLU holds one slope per
    /// channel (16 and 32), on inputs whose width (8) differs from both, and the forward pass
    /// runs; a slope broadcast over width would fail to broadcast.
    #[test]
    fn per_channel_activations_follow_the_channels() {
        let device = Device::flex();
        let net = ConvNetConfig::default()
            .with_activation("prelu(per_channel=1)")
            .init([1, 8, 8], 10, &device)
            .unwrap();
        let slopes: Vec<usize> = crate::weights::param_paths(&net)
            .into_iter()
            .filter(|p| p.path.contains("slope"))
            .map(|p| p.shape[0])
            .collect();
        assert_eq!(slopes, vec![16, 32]);
        let out = net.forward(Tensor::ones([2, 1, 8, 8], &device));
        assert_eq!(out.dims(), [2, 10]);
    }
}
