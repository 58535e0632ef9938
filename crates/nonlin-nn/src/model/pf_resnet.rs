//! The ResNets of "Learning Features with Parameter-Free Layers" (Han et al., arXiv:2202.02777):
//! a stem, stages of [`PfBottleneck`] blocks (the first block of every stage after the first has
//! stride 2), global average pooling and a linear classifier,
//!
//! ```text
//! x → stem → stage_1 … stage_S → GAP → FC
//! ```
//!
//! with `block = conv` (ResNet-50 with layers [3, 4, 6, 3]: 25,557,032 parameters at 1000
//! classes), `max` (R50-max: 14,232,232) or `hybrid` (R50-hybrid: 17,330,600), the counts the
//! paper's README rounds to 25.6M / 14.2M / 17.3M. The `imagenet` stem is the official 7×7 stride-2
//! conv-BN-φ and a 3×3 stride-2 max-pool; the `small` stem (for 8×8 digits and MNIST, a documented
//! choice of this workbench, as in CIFAR ResNets) is a 3×3 stride-1 conv-BN-φ without pooling.

use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::layer::{BottleneckKind, ConvBn, PfBottleneck, PfBottleneckConfig, conv_bn, max_pool};

/// The stem before the first stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemKind {
    /// 7×7 stride-2 conv-BN-φ, 3×3 stride-2 max-pool (the paper, ImageNet).
    Imagenet,
    /// 3×3 stride-1 conv-BN-φ (small images).
    Small,
}

/// Configuration of a [`PfResnet`] (`kind = "pf_resnet"`); input shape and classes come from the
/// data. Defaults are the paper's ResNet-50 layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PfResnetConfig {
    /// Spatial operation of the bottlenecks: `conv`, `max` or `hybrid`.
    #[serde(default = "conv")]
    pub block: BottleneckKind,
    /// Blocks per stage; [3, 4, 6, 3] for ResNet-50.
    #[serde(default = "r50_layers")]
    pub layers: Vec<usize>,
    /// Bottleneck width (`planes`) per stage; [64, 128, 256, 512].
    #[serde(default = "r50_planes")]
    pub planes: Vec<usize>,
    /// Channels of the stem (the official `inplanes` = 64).
    #[serde(default = "stem_width")]
    pub stem_width: usize,
    /// The stem.
    #[serde(default = "imagenet")]
    pub stem: StemKind,
    /// Output channels per bottleneck channel; 4.
    #[serde(default = "expansion")]
    pub expansion: usize,
    /// φ everywhere (ReLU in the paper), as an activation spec.
    #[serde(default = "relu")]
    pub activation: String,
}

fn conv() -> BottleneckKind {
    BottleneckKind::Conv
}
fn r50_layers() -> Vec<usize> {
    vec![3, 4, 6, 3]
}
fn r50_planes() -> Vec<usize> {
    vec![64, 128, 256, 512]
}
fn stem_width() -> usize {
    64
}
fn imagenet() -> StemKind {
    StemKind::Imagenet
}
fn expansion() -> usize {
    4
}
fn relu() -> String {
    "relu".into()
}

impl Default for PfResnetConfig {
    fn default() -> Self {
        Self {
            block: conv(),
            layers: r50_layers(),
            planes: r50_planes(),
            stem_width: stem_width(),
            stem: imagenet(),
            expansion: expansion(),
            activation: relu(),
        }
    }
}

/// A ResNet of (parameter-free or standard) bottlenecks.
#[derive(Module, Debug)]
pub struct PfResnet {
    stem: ConvBn,
    stem_act: Activation,
    stem_pool: Option<MaxPool2d>,
    blocks: Vec<PfBottleneck>,
    gap: AdaptiveAvgPool2d,
    head: Linear,
    input_shape: [usize; 3],
}

impl PfResnetConfig {
    /// Builds the network for `[channels, height, width]` inputs and `classes` outputs.
    pub fn init(
        &self,
        input_shape: [usize; 3],
        classes: usize,
        device: &Device,
    ) -> Result<PfResnet, NnError> {
        self.validate()?;
        let [c, h, w] = input_shape;
        if c == 0 || h == 0 || w == 0 || classes == 0 {
            return Err(NnError::BadConfig(format!(
                "pf_resnet needs a non-empty input and classes, got {input_shape:?} -> {classes}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let (kernel, stride) = match self.stem {
            StemKind::Imagenet => (7, 2),
            StemKind::Small => (3, 1),
        };
        // padding (k − 1)/2: 3 for the official 7×7 stem
        let stem = conv_bn(c, self.stem_width, kernel, stride, device);
        let mut blocks = Vec::new();
        let mut in_channels = self.stem_width;
        for (s, (&planes, &count)) in self.planes.iter().zip(&self.layers).enumerate() {
            for b in 0..count {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let mut block = PfBottleneckConfig::new(in_channels, planes, stride, self.block);
                block.expansion = self.expansion;
                block.activation = self.activation.clone();
                blocks.push(block.init(device)?);
                in_channels = planes * self.expansion;
            }
        }
        Ok(PfResnet {
            stem,
            stem_act: Activation::new(
                &spec,
                &ActivationInit::channels(device, self.stem_width, 2),
            )?,
            stem_pool: (self.stem == StemKind::Imagenet).then(|| max_pool(2)),
            blocks,
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(in_channels, classes).init(device),
            input_shape,
        })
    }
}

impl PfResnet {
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem_act.forward(self.stem.forward(input));
        if let Some(pool) = &self.stem_pool {
            x = pool.forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(self.gap.forward(x).flatten(1, 3))
    }

    /// How many blocks have a parameter-free spatial operation.
    pub fn parameter_free_blocks(&self) -> usize {
        self.blocks.iter().filter(|b| b.is_parameter_free()).count()
    }
}

impl ModelSpec for PfResnetConfig {
    type Model = PfResnet;

    fn validate(&self) -> Result<(), NnError> {
        if self.layers.is_empty() || self.layers.len() != self.planes.len() {
            return Err(NnError::BadConfig(format!(
                "pf_resnet needs as many stages in layers as in planes (at least one), got {:?} and {:?}",
                self.layers, self.planes
            )));
        }
        if self.layers.contains(&0) || self.planes.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "pf_resnet layers and planes must be positive, got {:?} and {:?}",
                self.layers, self.planes
            )));
        }
        if self.stem_width == 0 || self.expansion == 0 {
            return Err(NnError::BadConfig(format!(
                "pf_resnet stem_width and expansion must be positive, got {} and {}",
                self.stem_width, self.expansion
            )));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<PfResnet, NnError> {
        let shape = io.real_input("pf_resnet")?;
        let shape: [usize; 3] = shape.try_into().map_err(|_| {
            NnError::BadConfig(format!(
                "pf_resnet needs image data shaped [channels, height, width]; the samples are shaped {shape:?}"
            ))
        })?;
        self.init(shape, io.output_width(), device)
    }
}

impl Network for PfResnet {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("pf_resnet")?;
        let [batch, features] = x.dims();
        let [c, h, w] = self.input_shape;
        if features != c * h * w {
            return Err(NnError::Shape {
                block: "pf_resnet",
                expected: format!("[batch, {}] (flattened {c}x{h}x{w})", c * h * w),
                found: vec![batch, features],
            });
        }
        Ok(self.forward(x.reshape([batch, c, h, w])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes' exact structural check (README: R50 25.6M, R50-max 14.2M, R50-hybrid 17.3M):
    /// the exact counts of the official `resnet_pf.py` at 1000 classes, by the arithmetic of
    /// `benches/pflayer/count_params.py` (conv k×k: in·out·k², BN: 2·out; the stem 3·64·49 + 128
    /// = 9,536 and the FC 2048·1000 + 1000 = 2,049,000 are common to all three). R50-max drops
    /// every 3×3 conv; R50-hybrid keeps the three in the stride-2 blocks (128, 256, 512 wide:
    /// 147,712 + 590,336 + 2,360,320 = 3,098,368 = 17,330,600 − 14,232,232).
    #[test]
    fn resnet50_parameter_counts_match_the_paper() {
        let device = Device::flex();
        for (block, want, free) in [
            (BottleneckKind::Conv, 25_557_032usize, 0usize),
            (BottleneckKind::Max, 14_232_232, 16),
            (BottleneckKind::Hybrid, 17_330_600, 13),
        ] {
            let config = PfResnetConfig {
                block,
                ..PfResnetConfig::default()
            };
            let net = config.init([3, 224, 224], 1000, &device).unwrap();
            assert_eq!(crate::weights::trainable_param_count(&net), want, "{block:?}");
            assert_eq!(net.parameter_free_blocks(), free, "{block:?}");
        }
    }

    /// The digits configuration: shapes, and its count by hand. Small stem 1 → 8: 9·8 + 16 = 88;
    /// stage 1 (planes 8, out 32, 8 → 32 needs a downsample): reduce 8·8 + 16 = 80, conv
    /// 8·8·9 + 16 = 592, expand 8·32 + 64 = 320, downsample 8·32 + 64 = 320 → 1,312; stage 2
    /// (planes 16, out 64, stride 2): reduce 32·16 + 32 = 544, conv 16·16·9 + 32 = 2,336, expand
    /// 16·64 + 128 = 1,152, downsample 32·64 + 128 = 2,176 → 6,208; head 64·10 + 10 = 650.
    /// conv: 88 + 1,312 + 6,208 + 650 = 8,258; max: 8,258 − 592 − 2,336 = 5,330; hybrid keeps the
    /// stride-2 conv: 5,330 + 2,336 = 7,666.
    #[test]
    fn small_net_shapes_and_counts() {
        let device = Device::flex();
        for (block, want) in [
            (BottleneckKind::Conv, 8_258usize),
            (BottleneckKind::Max, 5_330),
            (BottleneckKind::Hybrid, 7_666),
        ] {
            let config = PfResnetConfig {
                block,
                layers: vec![1, 1],
                planes: vec![8, 16],
                stem_width: 8,
                stem: StemKind::Small,
                ..PfResnetConfig::default()
            };
            let net = config.init([1, 8, 8], 10, &device).unwrap();
            assert_eq!(crate::weights::trainable_param_count(&net), want, "{block:?}");
            let out = net
                .forward_input(&ModelInput::Real(Tensor::ones([3, 64], &device)))
                .unwrap();
            assert_eq!(out.dims(), [3, 10]);
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = PfResnetConfig::default();
        for c in [
            PfResnetConfig {
                layers: vec![],
                planes: vec![],
                ..base.clone()
            },
            PfResnetConfig {
                layers: vec![1, 1],
                ..base.clone()
            },
            PfResnetConfig {
                layers: vec![0, 1, 1, 1],
                ..base.clone()
            },
            PfResnetConfig {
                planes: vec![0, 1, 1, 1],
                ..base.clone()
            },
            PfResnetConfig {
                stem_width: 0,
                ..base.clone()
            },
            PfResnetConfig {
                expansion: 0,
                ..base.clone()
            },
            PfResnetConfig {
                activation: "nope".into(),
                ..base.clone()
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert!(base.init([1, 8, 8], 0, &device).is_err());
        assert!(
            base.init([0, 8, 8], 10, &device).is_err(),
            "an empty input is refused"
        );
    }
}
