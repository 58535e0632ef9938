//! S-ConvKAN, the convolutional activation-space selectable KAN (Yang et al., arXiv:2408.08338):
//! stages of `S-ConvKAN k×k (same padding) → max-pool 2×2`, then an S-KAN layer from the
//! flattened features to the outputs. The stage layout (as nonlin's `conv_net`, with S-ConvKAN
//! layers in place of convolution + activation, and an S-KAN head) is a workbench choice: the
//! paper's architecture was not available (UNCONFIRMED).
//!
//! The selection phases are those of `s_kan` (`select_at`, `prune_at`, `keep`), applied to every
//! layer, convolutional and head alike. Names: `SConvKan.stages.{s}.kan.…` and `SConvKan.head.…`.

use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::s_kan::{Phases, two};
use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::neuron::function_space::SpaceConfig;
use crate::neuron::s_conv_kan::{SConvKanLayer, SConvKanLayerConfig};
use crate::neuron::s_kan::{SKanLayer, SKanLayerConfig};

/// Configuration of an [`SConvKan`] (`kind = "s_conv_kan"`); the image shape and the number of
/// outputs come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SConvKanConfig {
    /// Channels of each stage; each stage halves the spatial size (default [8, 16]).
    #[serde(default = "channels")]
    pub channels: Vec<usize>,
    /// k, the square kernel of every stage (odd; default 3).
    #[serde(default = "kernel")]
    pub kernel_size: usize,
    /// The pool and its sizes (`[model.space]`).
    #[serde(default)]
    pub space: SpaceConfig,
    /// Step at which every node keeps only its `keep` best spaces (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_at: Option<u64>,
    /// Step at which every node keeps only its best space (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_at: Option<u64>,
    /// m, the spaces a node keeps at `select_at` (default 2).
    #[serde(default = "two")]
    pub keep: usize,    /// τ at `prune_at`: during the selective phase the temperature falls geometrically from
    /// `space.temperature` to this, so the selection is nearly one-hot when the rest is pruned
    /// (absent: constant temperature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_temperature: Option<f64>,
}

fn channels() -> Vec<usize> {
    vec![8, 16]
}
fn kernel() -> usize {
    3
}

impl Default for SConvKanConfig {
    fn default() -> Self {
        Self {
            channels: channels(),
            kernel_size: kernel(),
            space: SpaceConfig::new(),
            select_at: None,
            prune_at: None,
            keep: two(),
            final_temperature: None,
        }
    }
}

/// A convolutional S-KAN classifier.
#[derive(Module, Debug)]
pub struct SConvKan {
    stages: Vec<SConvKanLayer>,
    pool: MaxPool2d,
    head: SKanLayer,
    input_shape: [usize; 3],
    #[module(skip)]
    phases: Phases,
}

impl SConvKanConfig {
    fn phases(&self) -> Phases {
        Phases {
            select_at: self.select_at,
            prune_at: self.prune_at,
            keep: self.keep,
            temperature: self.space.temperature,
            final_temperature: self.final_temperature,
        }
    }

    /// Builds the network for `[channels, height, width]` inputs and `outputs` outputs.
    pub fn init(
        &self,
        input_shape: [usize; 3],
        outputs: usize,
        device: &Device,
    ) -> Result<SConvKan, NnError> {
        self.validate()?;
        let [c, h, w] = input_shape;
        let stages = self.channels.len();
        if c == 0 || outputs == 0 {
            return Err(NnError::BadConfig(
                "s_conv_kan needs positive input channels and outputs".into(),
            ));
        }
        let shrink = 1usize << stages;
        if h < shrink || w < shrink {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan with {stages} stages halves the input {stages} times, but the input is only {h}x{w}"
            )));
        }
        let k = self.kernel_size;
        let mut layers = Vec::with_capacity(stages);
        let mut in_channels = c;
        for &out in &self.channels {
            layers.push(
                SConvKanLayerConfig::new(in_channels, out)
                    .with_kernel_size([k, k])
                    .with_padding(k / 2)
                    .with_space(self.space.clone())
                    .init(device)?,
            );
            in_channels = out;
        }
        let features = in_channels * (h / shrink) * (w / shrink);
        Ok(SConvKan {
            stages: layers,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            head: SKanLayerConfig::new(features, outputs)
                .with_space(self.space.clone())
                .init(device)?,
            input_shape,
            phases: self.phases(),
        })
    }
}

impl ModelSpec for SConvKanConfig {
    type Model = SConvKan;

    fn validate(&self) -> Result<(), NnError> {
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan channels must be a non-empty list of positive widths, got {:?}",
                self.channels
            )));
        }
        if self.kernel_size.is_multiple_of(2) || self.kernel_size > 15 {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan kernel_size must be odd and at most 15, got {}",
                self.kernel_size
            )));
        }
        self.space.validate()?;
        self.phases().validate()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<SConvKan, NnError> {
        let shape = io.real_input("s_conv_kan")?;
        let shape: [usize; 3] = shape.try_into().map_err(|_| {
            NnError::BadConfig(format!(
                "s_conv_kan needs image data shaped [channels, height, width]; the samples are shaped {shape:?}"
            ))
        })?;
        self.init(shape, io.output_width(), device)
    }
}

impl SConvKan {
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, outputs]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = input;
        for stage in &self.stages {
            x = self.pool.forward(stage.forward(x));
        }
        self.head.forward(x.flatten(1, 3))
    }
}

impl Network for SConvKan {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("s_conv_kan")?;
        let [batch, features] = x.dims();
        let [c, h, w] = self.input_shape;
        if features != c * h * w {
            return Err(NnError::Shape {
                block: "s_conv_kan",
                expected: format!("[batch, {}] (flattened {c}x{h}x{w})", c * h * w),
                found: vec![batch, features],
            });
        }
        Ok(self.forward(x.reshape([batch, c, h, w])))
    }

    fn before_step(mut self, step: u64, _input: &ModelInput) -> Result<Self, NnError> {
        let stages = std::mem::take(&mut self.stages);
        let kans: Vec<SKanLayer> = stages.iter().map(|s| s.kan.clone()).collect();
        let mut kans = self.phases.apply(step, kans);
        let head = self.phases.apply(step, vec![self.head]);
        self.head = head.into_iter().next().expect("one head");
        self.stages = stages
            .into_iter()
            .zip(kans.drain(..))
            .map(|(stage, kan)| SConvKanLayer { kan, ..stage })
            .collect();
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InputSpec;

    #[test]
    fn digits_shapes_and_phases() {
        let device = Device::flex();
        let io = ModelIo {
            input: InputSpec::Real {
                shape: vec![1, 8, 8],
            },
            output: vec![10],
        };
        let text = "kind = \"s_conv_kan\"\nchannels = [4, 6]\nselect_at = 2\nprune_at = 4\n[space]\nspaces = [\"rbf\", \"fourier\", \"chebyshev\"]";
        let config: crate::ModelConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        let model = config.build(&io, &device).unwrap();
        let input = ModelInput::Real(Tensor::ones([3, 64], &device));
        assert_eq!(model.forward_input(&input).unwrap().dims(), [3, 10]);
        let model = model.before_step(2, &input).unwrap();
        let model = model.before_step(4, &input).unwrap();
        let crate::Model::SConvKan(net) = model else {
            unreachable!()
        };
        for layer in net.stages.iter().map(|s| &s.kan).chain([&net.head]) {
            assert!(layer.selected().iter().all(|node| node.len() == 1));
        }
        let flat = ModelIo {
            input: InputSpec::Real { shape: vec![64] },
            output: vec![10],
        };
        assert!(SConvKanConfig::default().build(&flat, &device).is_err());
    }

    #[test]
    fn bad_configs_are_errors() {
        for text in [
            "kind = \"s_conv_kan\"\nchannels = []",
            "kind = \"s_conv_kan\"\nchannels = [0]",
            "kind = \"s_conv_kan\"\nkernel_size = 4",
            "kind = \"s_conv_kan\"\nkernel_size = 99",
            "kind = \"s_conv_kan\"\nkeep = 0",
            "kind = \"s_conv_kan\"\nselect_at = 5\nprune_at = 1",
        ] {
            let config: crate::ModelConfig = toml::from_str(text).unwrap();
            assert!(config.validate().is_err(), "{text}");
        }
        let device = Device::flex();
        let too_small = SConvKanConfig {
            channels: vec![2, 2, 2, 2],
            ..SConvKanConfig::default()
        };
        assert!(too_small.init([1, 8, 8], 10, &device).is_err());
    }
}
