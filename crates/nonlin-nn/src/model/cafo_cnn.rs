//! The cascaded convolutional network of Cascaded-Forward learning (CaFo; Zhao et al., "The
//! Cascaded Forward Algorithm for Neural Network Training", arXiv 2303.09728), as built in Spyra's
//! BeyondBackpropagation (`src/architectures/cafo_cnn.py`): blocks
//!
//! `h_{i+1} = BN(maxpool_2x2(phi(conv_3x3(h_i))))`
//!
//! (convolution with "same" padding, no bias when batch norm follows, weights
//! `kaiming_uniform_(mode="fan_in", nonlinearity="relu")` = U(+-sqrt(6 / fan_in))), followed by a
//! linear classifier on the last block's flattened output: the backprop baseline of the paper
//! ("CaFo_CNN blocks + final Linear layer"). The CaFo rule trains its own predictor on every
//! block's output and leaves the classifier alone. `phi` is any registered activation.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Blocks, ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of a [`CafoCnn`] (`kind = "cafo_cnn"`); the input shape and the number of
/// classes come from the data. Defaults: the reference MNIST and CIFAR config (`block_channels:
/// [32, 128, 512]`, `kernel_size: 3`, `pool_kernel_size: 2`, `use_batchnorm: true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CafoCnnConfig {
    /// Output channels of each block.
    #[serde(default = "channels")]
    pub channels: Vec<usize>,
    /// Activation after every convolution, as a spec.
    #[serde(default = "relu")]
    pub activation: String,
    /// Side of the square convolution kernel (odd; "same" padding).
    #[serde(default = "kernel")]
    pub kernel_size: usize,
    /// Side and stride of the max pooling (0: no pooling).
    #[serde(default = "pool")]
    pub pool: usize,
    /// Batch normalisation at the end of every block.
    #[serde(default = "yes")]
    pub batch_norm: bool,
}

fn channels() -> Vec<usize> {
    vec![32, 128, 512]
}
fn relu() -> String {
    "relu".into()
}
fn kernel() -> usize {
    3
}
fn pool() -> usize {
    2
}
fn yes() -> bool {
    true
}

impl Default for CafoCnnConfig {
    fn default() -> Self {
        Self {
            channels: channels(),
            activation: relu(),
            kernel_size: kernel(),
            pool: pool(),
            batch_norm: true,
        }
    }
}

/// One block: convolution, activation, max pooling, batch norm.
#[derive(Module, Debug)]
pub struct CafoBlock {
    conv: Conv2d,
    activation: Activation,
    pool: Option<MaxPool2d>,
    norm: Option<BatchNorm>,
}

impl CafoBlock {
    /// # Shapes
    /// - input: `[batch, channels_in, height, width]`
    /// - output: `[batch, channels_out, height / pool, width / pool]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = self.activation.forward(self.conv.forward(input));
        if let Some(pool) = &self.pool {
            x = pool.forward(x);
        }
        match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        }
    }
}

/// The cascaded CNN: blocks, then a linear classifier.
#[derive(Module, Debug)]
pub struct CafoCnn {
    blocks: Vec<CafoBlock>,
    head: Linear,
    /// `[channels, height, width]` of the input and of every block's output.
    shapes: Vec<[usize; 3]>,
}

impl CafoCnnConfig {
    /// Checks the config without data.
    fn check(&self) -> Result<(), NnError> {
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "cafo_cnn channels must be a non-empty list of positive numbers, got {:?}",
                self.channels
            )));
        }
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) || self.kernel_size > 31 {
            return Err(NnError::BadConfig(format!(
                "cafo_cnn kernel_size must be odd and in 1..=31, got {}",
                self.kernel_size
            )));
        }
        if self.pool > 16 {
            return Err(NnError::BadConfig(format!(
                "cafo_cnn pool must be in 0..=16, got {}",
                self.pool
            )));
        }
        crate::activation::validate(&self.activation)
    }

    /// Builds the network for `[channels, height, width]` inputs and `classes` outputs.
    pub fn init(
        &self,
        input_shape: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<CafoCnn, NnError> {
        self.check()?;
        let [c, h, w] = input_shape;
        if c == 0 || h == 0 || w == 0 || classes == 0 {
            return Err(NnError::BadConfig(format!(
                "cafo_cnn needs a non-empty input and classes, got {input_shape:?} and {classes}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut shapes = vec![input_shape];
        let mut blocks = Vec::with_capacity(self.channels.len());
        for &out in &self.channels {
            let [cin, h, w] = *shapes.last().expect("the input shape");
            let k = self.kernel_size;
            let mut conv = Conv2dConfig::new([cin, out], [k, k])
                .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                .with_bias(!self.batch_norm)
                // kaiming_uniform_(fan_in, relu): gain sqrt(2), bound sqrt(6 / fan_in)
                .with_initializer(Initializer::KaimingUniform {
                    gain: 2f64.sqrt(),
                    fan_out_only: false,
                })
                .init(device);
            conv.bias = conv
                .bias
                .map(|b| Param::from_tensor(Tensor::zeros(b.val().dims(), device)));
            let (ho, wo) = match (h.checked_div(self.pool), w.checked_div(self.pool)) {
                (Some(ho), Some(wo)) => (ho, wo),
                _ => (h, w), // no pooling
            };
            if ho == 0 || wo == 0 {
                return Err(NnError::BadConfig(format!(
                    "cafo_cnn with {} blocks pools a {}x{} input down to nothing",
                    self.channels.len(),
                    input_shape[1],
                    input_shape[2]
                )));
            }
            blocks.push(CafoBlock {
                conv,
                activation: Activation::new(&spec, &ActivationInit::channels(device, out, 2))?,
                pool: (self.pool > 0).then(|| MaxPool2dConfig::new([self.pool, self.pool]).init()),
                norm: self
                    .batch_norm
                    .then(|| BatchNormConfig::new(out).init(device)),
            });
            shapes.push([out, ho, wo]);
        }
        let [c, h, w] = *shapes.last().expect("at least one block");
        Ok(CafoCnn {
            blocks,
            head: LinearConfig::new(c * h * w, classes).init(device),
            shapes,
        })
    }
}

impl ModelSpec for CafoCnnConfig {
    type Model = CafoCnn;

    fn validate(&self) -> Result<(), NnError> {
        self.check()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<CafoCnn, NnError> {
        let shape = io.real_input("cafo_cnn")?;
        let shape: [usize; 3] = shape.try_into().map_err(|_| {
            NnError::BadConfig(format!(
                "cafo_cnn needs image data shaped [channels, height, width]; the samples are shaped {shape:?}"
            ))
        })?;
        self.init(shape, io.output_width(), device)
    }
}

impl CafoCnn {
    /// The blocks' outputs, each flattened.
    ///
    /// # Shapes
    /// - input: `[batch, channels * height * width]`
    /// - returns: one `[batch, block_width(i)]` per block
    pub fn block_outputs(&self, input: Tensor<2>) -> Vec<Tensor<2>> {
        let mut x = input;
        (0..self.blocks.len())
            .map(|i| {
                x = self.block_forward(i, x.clone());
                x.clone()
            })
            .collect()
    }

    /// The convolutional blocks.
    pub fn conv_blocks(&self) -> &[CafoBlock] {
        &self.blocks
    }

    fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for i in 0..self.blocks.len() {
            h = self.block_forward(i, h);
        }
        self.head.forward(h)
    }
}

impl Network for CafoCnn {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("cafo_cnn")?;
        let [batch, features] = x.dims();
        let [c, h, w] = self.shapes[0];
        if features != c * h * w {
            return Err(NnError::Shape {
                block: "cafo_cnn",
                expected: format!("[batch, {}] (flattened {c}x{h}x{w})", c * h * w),
                found: vec![batch, features],
            });
        }
        Ok(self.forward_flat(x))
    }

    fn blocks(&self) -> Option<&dyn Blocks> {
        Some(self)
    }
}

/// Block `i < blocks` is conv block `i` on the flattened image; the last block is the classifier.
impl Blocks for CafoCnn {
    fn block_count(&self) -> usize {
        self.blocks.len() + 1
    }

    fn block_forward(&self, index: usize, input: Tensor<2>) -> Tensor<2> {
        if index == self.blocks.len() {
            return self.head.forward(input);
        }
        let [batch, _] = input.dims();
        let [c, h, w] = self.shapes[index];
        self.blocks[index]
            .forward(input.reshape([batch, c, h, w]))
            .flatten(1, 3)
    }

    fn block_input_width(&self, index: usize) -> usize {
        let [c, h, w] = self.shapes[index];
        c * h * w
    }

    fn block_width(&self, index: usize) -> usize {
        match self.shapes.get(index + 1) {
            Some([c, h, w]) => c * h * w,
            None => self.head.weight.dims()[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parameters_and_blocks() {
        let device = Device::flex();
        let net = CafoCnnConfig::default().init([1, 28, 28], 10, &device).unwrap();
        // 28 -> 14 -> 7 -> 3: outputs 32*14*14 = 6272, 128*7*7 = 6272, 512*3*3 = 4608
        assert_eq!(
            (0..4).map(|i| net.block_width(i)).collect::<Vec<_>>(),
            vec![6272, 6272, 4608, 10]
        );
        // convs without bias (batch norm follows): 1*32*9 + 32*128*9 + 128*512*9 = 626,976;
        // batch norms gamma + beta: 2 * (32 + 128 + 512) = 1344, and Burn counts their running
        // mean and variance too (1344 more); head 4608*10 + 10 = 46,090
        assert_eq!(net.num_params(), 626_976 + 2 * 1344 + 46_090);
        let x = Tensor::<2>::ones([2, 784], &device);
        let out = net.forward_input(&ModelInput::Real(x.clone())).unwrap();
        assert_eq!(out.dims(), [2, 10]);
        let mut h = x;
        for i in 0..4 {
            h = net.block_forward(i, h);
        }
        h.into_data()
            .assert_approx_eq::<f32>(&out.into_data(), Default::default());
    }

    /// Conv weights are U(+-sqrt(6 / fan_in)) and biases (without batch norm) zero.
    #[test]
    fn reference_initialisation() {
        let device = Device::flex();
        let net = CafoCnnConfig {
            channels: vec![64],
            batch_norm: false,
            ..CafoCnnConfig::default()
        }
        .init([2, 8, 8], 10, &device)
        .unwrap();
        let conv = &net.conv_blocks()[0].conv;
        let w: Vec<f32> = conv.weight.val().into_data().try_to_vec().unwrap();
        // fan_in = 2 * 3 * 3 = 18: bound sqrt(6 / 18) = 0.57735
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= 0.57736 && max > 0.5, "{max}");
        let b: Vec<f32> = conv.bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
        assert!(b.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let bad = |c: CafoCnnConfig| c.validate().is_err();
        let d = CafoCnnConfig::default;
        assert!(bad(CafoCnnConfig { channels: vec![], ..d() }));
        assert!(bad(CafoCnnConfig { channels: vec![8, 0], ..d() }));
        assert!(bad(CafoCnnConfig { kernel_size: 0, ..d() }));
        assert!(bad(CafoCnnConfig { kernel_size: 4, ..d() }));
        assert!(bad(CafoCnnConfig { kernel_size: 1001, ..d() }));
        assert!(bad(CafoCnnConfig { pool: 100, ..d() }));
        assert!(bad(CafoCnnConfig { activation: "nope".into(), ..d() }));
        // 8x8 pooled four times is nothing
        let err = CafoCnnConfig {
            channels: vec![4, 4, 4, 4],
            ..d()
        }
        .init([1, 8, 8], 10, &device)
        .unwrap_err();
        assert!(err.to_string().contains("8x8"), "{err}");
        let flat = ModelIo {
            input: crate::model::InputSpec::Real { shape: vec![64] },
            output: vec![10],
        };
        assert!(d().build(&flat, &device).is_err());
    }
}
