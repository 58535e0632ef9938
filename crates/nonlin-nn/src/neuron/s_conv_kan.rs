//! The S-ConvKAN layer (Yang et al., "Activation Space Selectable Kolmogorov-Arnold Networks",
//! arXiv:2408.08338, §S-ConvKAN): a convolution whose kernel taps are S-KAN edges.
//!
//! As in Convolutional KANs (Bodner et al., arXiv:2406.13155), every tap `(c_in, u, v)` of every
//! output channel applies its own learnable function to the pixel under it, and the taps are
//! summed: `y[c_out, p] = Σ_{c_in, u, v} φ_{c_out, (c_in,u,v)}(x[c_in, p + (u, v)])`. That is an
//! S-KAN layer ([`SKanLayer`]) from the `c_in·kh·kw` values of each patch to `c_out` outputs,
//! applied at every position: patches are unfolded (zero padding, stride), passed through the
//! layer as rows, and folded back to `[batch, c_out, h', w']`. The per-node selection is per
//! output channel.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::{PadMode, UnfoldOptions};
use burn::tensor::{Device, Tensor};

use super::function_space::SpaceConfig;
use super::s_kan::{SKanLayer, SKanLayerConfig};
use crate::NnError;

/// Configuration of an [`SConvKanLayer`].
#[derive(Config, Debug)]
pub struct SConvKanLayerConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (S-KAN nodes).
    pub out_channels: usize,
    /// `[kh, kw]` (default 3×3).
    #[config(default = "[3, 3]")]
    pub kernel_size: [usize; 2],
    /// Stride (default 1).
    #[config(default = 1)]
    pub stride: usize,
    /// Zero padding on every side (default 1: "same" for 3×3 at stride 1).
    #[config(default = 1)]
    pub padding: usize,
    /// The pool of spaces and their sizes.
    #[config(default = "SpaceConfig::new()")]
    pub space: SpaceConfig,
}

/// A convolution with S-KAN kernel taps.
#[derive(Module, Debug)]
pub struct SConvKanLayer {
    /// The edges from a patch's `c_in·kh·kw` values to `c_out` channels.
    pub kan: SKanLayer,
    pub kernel_size: [usize; 2],
    pub stride: usize,
    pub padding: usize,
}

impl SConvKanLayerConfig {
    /// Checks channels, kernel, stride and padding, and the pool.
    pub fn validate(&self) -> Result<(), NnError> {
        let [kh, kw] = self.kernel_size;
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan channels must be positive, got {} -> {}",
                self.in_channels, self.out_channels
            )));
        }
        if !(1..=64).contains(&kh) || !(1..=64).contains(&kw) {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan kernel_size must be in 1..=64, got {kh}x{kw}"
            )));
        }
        if !(1..=64).contains(&self.stride) || self.padding > 64 {
            return Err(NnError::BadConfig(format!(
                "s_conv_kan stride must be in 1..=64 and padding at most 64, got stride {}, padding {}",
                self.stride, self.padding
            )));
        }
        self.space.validate()
    }

    /// Builds the layer, drawing from the engine's RNG.
    pub fn init(&self, device: &Device) -> Result<SConvKanLayer, NnError> {
        self.validate()?;
        let [kh, kw] = self.kernel_size;
        let kan = SKanLayerConfig::new(self.in_channels * kh * kw, self.out_channels)
            .with_space(self.space.clone())
            .init(device)?;
        Ok(SConvKanLayer {
            kan,
            kernel_size: self.kernel_size,
            stride: self.stride,
            padding: self.padding,
        })
    }
}

impl SConvKanLayer {
    /// Output size of one spatial axis of `size` pixels.
    pub fn output_size(&self, size: usize, axis: usize) -> usize {
        (size + 2 * self.padding).saturating_sub(self.kernel_size[axis]) / self.stride + 1
    }

    /// # Shapes
    /// - input: `[batch, c_in, h, w]`
    /// - output: `[batch, c_out, h', w']`, `h' = (h + 2·padding − kh)/stride + 1`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let [batch, _, h, w] = input.dims();
        let p = self.padding;
        let x = if p > 0 {
            input.pad((p, p, p, p), PadMode::Constant(0.0))
        } else {
            input
        };
        let patches = unfold4d(
            x,
            self.kernel_size,
            UnfoldOptions::new([self.stride, self.stride], [0, 0], [1, 1]),
        ); // [batch, c_in·kh·kw, L]
        let [_, taps, positions] = patches.dims();
        let rows = patches.swap_dims(1, 2).reshape([batch * positions, taps]);
        let out = self.kan.forward(rows); // [batch·L, c_out]
        let c_out = self.kan.out_features();
        out.reshape([batch, positions, c_out])
            .swap_dims(1, 2)
            .reshape([batch, c_out, self.output_size(h, 0), self.output_size(w, 1)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, TensorData};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};
    use crate::neuron::function_space::FunctionSpace;
    use crate::neuron::kan::host;

    /// The slow reference: every output pixel computed from its own patch, gathered by hand
    /// (zero outside the image), through the same S-KAN layer.
    fn reference(layer: &SConvKanLayer, x: &[f64], shape: [usize; 4]) -> Vec<f64> {
        let [batch, c_in, h, w] = shape;
        let [kh, kw] = layer.kernel_size;
        let (ho, wo) = (layer.output_size(h, 0), layer.output_size(w, 1));
        let c_out = layer.kan.out_features();
        let mut out = vec![0.0; batch * c_out * ho * wo];
        let device = Device::flex();
        for b in 0..batch {
            for i in 0..ho {
                for j in 0..wo {
                    let mut patch = Vec::with_capacity(c_in * kh * kw);
                    for c in 0..c_in {
                        for u in 0..kh {
                            for v in 0..kw {
                                let r = (i * layer.stride + u) as isize - layer.padding as isize;
                                let s = (j * layer.stride + v) as isize - layer.padding as isize;
                                let inside =
                                    r >= 0 && s >= 0 && (r as usize) < h && (s as usize) < w;
                                patch.push(if inside {
                                    x[((b * c_in + c) * h + r as usize) * w + s as usize]
                                } else {
                                    0.0
                                });
                            }
                        }
                    }
                    let row = Tensor::<2>::from_data(
                        TensorData::new(patch, [1, c_in * kh * kw]),
                        (&device, DType::F64),
                    );
                    let y = host(layer.kan.forward(row));
                    for (o, v) in y.into_iter().enumerate() {
                        out[((b * c_out + o) * ho + i) * wo + j] = v;
                    }
                }
            }
        }
        out
    }

    /// The unfold path equals patch-by-patch evaluation, with padding and with stride 2.
    #[test]
    fn unfolded_convolution_matches_patch_by_patch() {
        let device = Device::flex();
        let shape = [2, 2, 5, 4];
        let x: Vec<f64> = (0..80).map(|i| ((i as f64) * 0.37).sin()).collect();
        for (stride, padding) in [(1, 1), (2, 0), (2, 1)] {
            let layer = SConvKanLayerConfig::new(2, 3)
                .with_stride(stride)
                .with_padding(padding)
                .init(&device)
                .unwrap();
            let input =
                Tensor::<4>::from_data(TensorData::new(x.clone(), shape), (&device, DType::F64));
            let fast = layer.forward(input);
            let [_, c, ho, wo] = fast.dims();
            assert_eq!(
                (c, ho, wo),
                (3, layer.output_size(5, 0), layer.output_size(4, 1))
            );
            let fast = host(fast);
            let slow = reference(&layer, &x, shape);
            for (f, s) in fast.iter().zip(&slow) {
                assert!(
                    (f - s).abs() < 1e-6,
                    "stride {stride}, padding {padding}: {f} vs {s}"
                );
            }
        }
    }

    /// Input gradients through unfold, padding and the layer, in f64.
    #[test]
    fn gradcheck_inputs() {
        let device = Device::flex();
        let layer = SConvKanLayerConfig::new(1, 2)
            .with_space(
                SpaceConfig::new()
                    .with_spaces(vec![FunctionSpace::Bspline, FunctionSpace::Fourier]),
            )
            .init(&device)
            .unwrap();
        let x: Vec<f64> = (0..18).map(|i| ((i as f64) * 0.71).cos() * 0.9).collect();
        let report = check_gradients(
            |t, dev| {
                let layer = layer.clone().to_device(dev);
                layer
                    .forward(t[0].clone().reshape([2, 1, 3, 3]))
                    .reshape([36])
            },
            &[x],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        for config in [
            SConvKanLayerConfig::new(0, 2),
            SConvKanLayerConfig::new(1, 0),
            SConvKanLayerConfig::new(1, 2).with_kernel_size([0, 3]),
            SConvKanLayerConfig::new(1, 2).with_kernel_size([3, 1000]),
            SConvKanLayerConfig::new(1, 2).with_stride(0),
            SConvKanLayerConfig::new(1, 2).with_padding(1 << 20),
            SConvKanLayerConfig::new(1, 2).with_space(SpaceConfig::new().with_spaces(vec![])),
        ] {
            assert!(config.init(&device).is_err(), "{config:?}");
        }
    }
}
