//! The bottleneck blocks of "Learning Features with Parameter-Free Layers" (Han, Yoo, Kim, Heo;
//! arXiv:2202.02777, ICLR 2022): a ResNet bottleneck whose spatial 3×3 convolution is replaced by
//! a parameter-free max-pool,
//!
//! ```text
//! y = φ( BN(W_e · S(φ(BN(W_r · x)))) + shortcut(x) )
//! S = conv3×3-BN-φ (stride s)                          kind = conv    (torchvision Bottleneck)
//! S = maxpool3×3 (stride s, pad 1)                     kind = max     (MaxBottleneck, R50-max)
//! S = avgpool2×2 (stride 2) → conv3×3-BN-φ (stride 1)  kind = hybrid, stride-2 blocks
//! S = maxpool3×3 (stride 1, pad 1)                     kind = hybrid, stride-1 blocks
//! ```
//!
//! (`EffBottleneck` of R50-hybrid), with W_r, W_e 1×1 convolutions without bias, expansion 4, and
//! the shortcut a 1×1 conv-BN with stride s when the shape changes (identity otherwise). Structure
//! from the official code (`naver-ai/PfLayer`, `resnet_pf.py`); like that file (which drops
//! torchvision's init loop), the convolutions keep the framework's default initialisation
//! (Kaiming-uniform with a = √5, as PyTorch's default) and batch norms start at γ = 1, β = 0.
//! φ is ReLU in the paper; any registered activation can be chosen (a config field).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Which spatial operation a bottleneck uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleneckKind {
    /// The standard 3×3 convolution (ResNet-50).
    Conv,
    /// A parameter-free 3×3 max-pool (R50-max).
    Max,
    /// Max-pool in stride-1 blocks, avg-pool 2×2 then a 3×3 convolution in stride-2 blocks
    /// (R50-hybrid).
    Hybrid,
}

/// Configuration of a [`PfBottleneck`].
#[derive(Debug, Clone, PartialEq)]
pub struct PfBottleneckConfig {
    /// Input channels (the paper's `inplanes`).
    pub in_channels: usize,
    /// Bottleneck width (`planes`); the block outputs `planes · expansion` channels.
    pub planes: usize,
    /// Spatial stride s of the block (1 or 2).
    pub stride: usize,
    /// The spatial operation.
    pub kind: BottleneckKind,
    /// Output channels per bottleneck channel; 4 in the paper.
    pub expansion: usize,
    /// φ, as an activation spec; "relu" in the paper.
    pub activation: String,
}

impl PfBottleneckConfig {
    /// A block with the paper's expansion 4 and ReLU.
    pub fn new(in_channels: usize, planes: usize, stride: usize, kind: BottleneckKind) -> Self {
        Self {
            in_channels,
            planes,
            stride,
            kind,
            expansion: 4,
            activation: "relu".into(),
        }
    }

    /// Checks positive widths and expansion, and a stride of 1 or 2.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.in_channels == 0 || self.planes == 0 || self.expansion == 0 {
            return Err(NnError::BadConfig(format!(
                "a bottleneck needs positive channels, planes and expansion, got {} / {} / {}",
                self.in_channels, self.planes, self.expansion
            )));
        }
        if !(self.stride == 1 || self.stride == 2) {
            return Err(NnError::BadConfig(format!(
                "a bottleneck's stride must be 1 or 2, got {}",
                self.stride
            )));
        }
        crate::activation::validate(&self.activation)
    }

    /// Builds the block.
    pub fn init(&self, device: &Device) -> Result<PfBottleneck, NnError> {
        self.validate()?;
        let spec: ActivationSpec = self.activation.parse()?;
        let act = |c: usize| Activation::new(&spec, &ActivationInit::channels(device, c, 2));
        let (w, out) = (self.planes, self.planes * self.expansion);
        let spatial = match (self.kind, self.stride) {
            (BottleneckKind::Conv, s) => Spatial::Conv(SpatialConv {
                pool: None,
                conv: conv_bn(w, w, 3, s, device),
                act: act(w)?,
            }),
            (BottleneckKind::Max, s) | (BottleneckKind::Hybrid, s @ 1) => Spatial::Max(max_pool(s)),
            (BottleneckKind::Hybrid, _) => Spatial::Conv(SpatialConv {
                pool: Some(AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                conv: conv_bn(w, w, 3, 1, device),
                act: act(w)?,
            }),
        };
        let downsample = (self.stride != 1 || self.in_channels != out)
            .then(|| conv_bn(self.in_channels, out, 1, self.stride, device));
        Ok(PfBottleneck {
            reduce: conv_bn(self.in_channels, w, 1, 1, device),
            reduce_act: act(w)?,
            spatial,
            expand: conv_bn(w, out, 1, 1, device),
            downsample,
            out_act: act(out)?,
        })
    }
}

/// A convolution without bias followed by batch norm (the official `ConvBN`).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution, `[out, in, k, k]`, no bias.
    pub conv: Conv2d,
    /// Batch norm over the output channels.
    pub bn: BatchNorm,
}

impl ConvBn {
    /// # Shapes
    /// - input: `[batch, in, h, w]`; output: `[batch, out, h', w']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// Conv k×k (padding (k − 1)/2, stride s, no bias) + BN.
pub fn conv_bn(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    device: &Device,
) -> ConvBn {
    let pad = (kernel - 1) / 2;
    ConvBn {
        conv: Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device),
        bn: BatchNormConfig::new(out_channels).init(device),
    }
}

/// 3×3 max-pool with stride s and padding 1 (the parameter-free spatial operation).
pub fn max_pool(stride: usize) -> MaxPool2d {
    MaxPool2dConfig::new([3, 3])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init()
}

/// conv3×3-BN-φ, after an optional avg-pool 2×2 stride 2.
#[derive(Module, Debug)]
pub struct SpatialConv {
    /// The avg-pool of the hybrid stride-2 block.
    pub pool: Option<AvgPool2d>,
    /// conv3×3-BN.
    pub conv: ConvBn,
    /// φ.
    pub act: Activation,
}

/// The spatial operation of a bottleneck.
// one per block, built once: the size difference between variants does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Spatial {
    /// conv3×3-BN-φ, or avg-pool 2×2 stride 2 then conv3×3-BN-φ at stride 1 (hybrid).
    Conv(SpatialConv),
    /// Parameter-free max-pool.
    Max(MaxPool2d),
}

/// A (parameter-free or standard) ResNet bottleneck block.
#[derive(Module, Debug)]
pub struct PfBottleneck {
    reduce: ConvBn,
    reduce_act: Activation,
    spatial: Spatial,
    expand: ConvBn,
    downsample: Option<ConvBn>,
    out_act: Activation,
}

impl PfBottleneck {
    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, planes · expansion, ⌈h/s⌉, ⌈w/s⌉]` (h, w even for a hybrid stride-2 block)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = self.reduce_act.forward(self.reduce.forward(x.clone()));
        let out = match &self.spatial {
            Spatial::Conv(c) => {
                let out = match &c.pool {
                    Some(pool) => pool.forward(out),
                    None => out,
                };
                c.act.forward(c.conv.forward(out))
            }
            Spatial::Max(pool) => pool.forward(out),
        };
        let out = self.expand.forward(out);
        let identity = match &self.downsample {
            Some(d) => d.forward(x),
            None => x,
        };
        self.out_act.forward(out + identity)
    }

    /// Whether the spatial operation has no parameters.
    pub fn is_parameter_free(&self) -> bool {
        matches!(self.spatial, Spatial::Max(_))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    /// Parameters by hand (BN: γ and β per channel; running statistics are not parameters):
    /// in 16, planes 4, stride 2, expansion 4 → out 16.
    /// reduce 16·4 + 2·4 = 72; conv 4·4·9 + 8 = 152; expand 4·16 + 32 = 96;
    /// downsample 16·16 + 32 = 288. conv: 72 + 152 + 96 + 288 = 608; max: 608 − 152 = 456;
    /// hybrid stride 2 keeps its conv: 608; hybrid stride 1 (no downsample, 16 = 16): 72 + 96 = 168.
    #[test]
    fn parameter_counts_by_hand() {
        let device = Device::flex();
        for (kind, stride, want) in [
            (BottleneckKind::Conv, 2, 608),
            (BottleneckKind::Max, 2, 456),
            (BottleneckKind::Hybrid, 2, 608),
            (BottleneckKind::Hybrid, 1, 168),
        ] {
            let block = PfBottleneckConfig::new(16, 4, stride, kind)
                .init(&device)
                .unwrap();
            assert_eq!(
                crate::weights::trainable_param_count(&block),
                want,
                "{kind:?} stride {stride}"
            );
            assert_eq!(
                block.is_parameter_free(),
                kind == BottleneckKind::Max || stride == 1
            );
        }
    }

    /// Against an independent NumPy forward of the official MaxBottleneck in inference mode
    /// (`tests/fixtures/pflayer/`, script beside it): in 4, planes 2 (out 8), stride 2, a 5×5
    /// input, weights from a sine formula, batch norms at init (x / √(1 + 1e-5)).
    #[test]
    fn max_bottleneck_matches_numpy() {
        use burn::module::Param;
        let device = Device::flex();
        let wave = |o: usize, i: usize, phase: f64| {
            let v: Vec<f32> = (0..o * i)
                .map(|k| (0.5 * (0.7 * k as f64 + phase).sin()) as f32)
                .collect();
            Param::from_tensor(Tensor::<4>::from_data(
                TensorData::new(v, [o, i, 1, 1]),
                &device,
            ))
        };
        let mut block = PfBottleneckConfig::new(4, 2, 2, BottleneckKind::Max)
            .init(&device)
            .unwrap();
        block.reduce.conv.weight = wave(2, 4, 0.1);
        block.expand.conv.weight = wave(8, 2, 1.1);
        block.downsample.as_mut().unwrap().conv.weight = wave(8, 4, 2.1);
        let x: Vec<f32> = (0..100).map(|k| (0.37 * k as f64).sin() as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, 4, 5, 5]), &device);
        let got = block.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let want: Vec<f32> = include_str!("../../tests/fixtures/pflayer/max_bottleneck.txt")
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-5, "value {k}: {g} vs {w}");
        }
    }

    /// Output shapes: stride 2 halves 8×8 to 4×4 (max/conv with padding 1, avg-pool 2×2); the
    /// hybrid block needs even sizes (as the official code: its avg-pool floors, the 1×1 stride-2
    /// shortcut rounds up).
    #[test]
    fn shapes() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([2, 8, 8, 8], &device);
        for (kind, side) in [
            (BottleneckKind::Conv, 4),
            (BottleneckKind::Max, 4),
            (BottleneckKind::Hybrid, 4),
        ] {
            let block = PfBottleneckConfig::new(8, 4, 2, kind)
                .init(&device)
                .unwrap();
            assert_eq!(block.forward(x.clone()).dims(), [2, 16, side, side]);
        }
    }

    /// The max-pool of the spatial step by hand: 3×3 window, stride 1, padding 1 (padding never
    /// wins: it is −∞). On [[1, 5, 2], [0, −1, 3], [4, 0, −2]] the output at (0, 0) is
    /// max(1, 5, 0, −1) = 5, at (1, 1) the maximum of all nine = 5, at (2, 0) max(0, −1, 4, 0) = 4,
    /// at (2, 2) max(−1, 3, 0, −2) = 3.
    #[test]
    fn max_pool_by_hand() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(
                vec![1.0f32, 5.0, 2.0, 0.0, -1.0, 3.0, 4.0, 0.0, -2.0],
                [1, 1, 3, 3],
            ),
            &device,
        );
        let y = max_pool(1)
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(y, vec![5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 4.0, 4.0, 3.0]);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                vec![1.0f32, 5.0, 2.0, 0.0, -1.0, 3.0, 4.0, 0.0, -2.0],
                [1, 1, 3, 3],
            ),
            &device,
        );
        // stride 2: windows centred at (0, 0), (0, 2), (2, 0), (2, 2)
        let y = max_pool(2)
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(y, vec![5.0, 5.0, 4.0, 3.0]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = PfBottleneckConfig::new(8, 4, 1, BottleneckKind::Max);
        for c in [
            PfBottleneckConfig {
                in_channels: 0,
                ..base.clone()
            },
            PfBottleneckConfig {
                planes: 0,
                ..base.clone()
            },
            PfBottleneckConfig {
                expansion: 0,
                ..base.clone()
            },
            PfBottleneckConfig {
                stride: 0,
                ..base.clone()
            },
            PfBottleneckConfig {
                stride: 3,
                ..base.clone()
            },
            PfBottleneckConfig {
                activation: "nope".into(),
                ..base.clone()
            },
            PfBottleneckConfig {
                activation: String::new(),
                ..base.clone()
            },
        ] {
            assert!(c.init(&device).is_err(), "{c:?}");
        }
    }
}
