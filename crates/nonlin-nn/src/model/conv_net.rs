//! A small convolutional network: stages of `conv3x3 -> phi -> maxpool 2x2`, then a linear
//! classifier on the flattened features. `phi` is any registered activation.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::Classifier;
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of a [`ConvNet`].
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// Input channels, height and width (`[1, 28, 28]` for MNIST, `[1, 8, 8]` for the digits).
    pub input_shape: [usize; 3],
    /// Output classes.
    pub classes: usize,
    /// Channels of each conv stage; each stage halves the spatial size.
    #[config(default = "vec![16, 32]")]
    pub channels: Vec<usize>,
    /// Activation after every convolution, as a spec.
    #[config(default = "String::from(\"relu\")")]
    pub activation: String,
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
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> Result<ConvNet, NnError> {
        let [c, h, w] = self.input_shape;
        let stages = self.channels.len();
        if c == 0 || self.classes == 0 || self.channels.contains(&0) {
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
                &ActivationInit { device, width: out },
            )?);
            in_channels = out;
        }
        let features = in_channels * (h / shrink) * (w / shrink);
        Ok(ConvNet {
            convs,
            activations,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            head: LinearConfig::new(features, self.classes).init(device),
            input_shape: self.input_shape,
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

impl Classifier for ConvNet {
    fn logits(&self, input: Tensor<2>) -> Tensor<2> {
        let [batch, _] = input.dims();
        let [c, h, w] = self.input_shape;
        self.forward(input.reshape([batch, c, h, w]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_for_digits_and_mnist() {
        let device = Device::flex();
        let digits = ConvNetConfig::new([1, 8, 8], 10).init(&device).unwrap();
        assert_eq!(
            digits.logits(Tensor::zeros([5, 64], &device)).dims(),
            [5, 10]
        );
        let mnist = ConvNetConfig::new([1, 28, 28], 10)
            .with_activation("gelu".into())
            .init(&device)
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
        let err = ConvNetConfig::new([1, 8, 8], 10)
            .with_channels(vec![4, 4, 4, 4])
            .init(&device)
            .unwrap_err();
        assert!(err.to_string().contains("8x8"), "{err}");
    }
}
