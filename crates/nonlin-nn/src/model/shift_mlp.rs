//! An MLP with low-bit weights for the DenseShift comparison (notes §6): `Linear (quantised) →
//! BatchNorm → φ` per hidden layer, then an output layer (float unless `quantize_last`).
//!
//! `quantizer` chooses the hidden layers' weights: `fp32` (float), `denseshift` (zero-free
//! powers of two, [`crate::neuron::DenseShiftLinear`]), `ternary` (TWN {0, ±α}) or `log_round`
//! (naive zero-free log rounding), the last two from [`crate::neuron::WeightQuantizer`]. Batch
//! normalisation after each quantised layer absorbs the global scale, as in the paper.
//!
//! Choice (documented; the paper's practice is UNCONFIRMED): the first layer is quantised and
//! the output layer is not (`quantize_last = false`), since a 3-layer MLP that also kept its
//! first layer in float would have a single quantised layer.

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};
use crate::neuron::{DenseShiftConfig, DenseShiftLinear, ShiftCodes, WeightQuantizer};

/// How the quantised layers store their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantizerKind {
    /// Full-precision float weights.
    Fp32,
    /// DenseShift: sign-scale decomposition into zero-free powers of two.
    Denseshift,
    /// TWN ternary {0, ±α}.
    Ternary,
    /// Naive zero-free log rounding, sign(w)·2^clip(round(log2|w|), −(P−1), 0).
    LogRound,
}

/// Configuration of a [`ShiftMlp`] (`kind = "shift_mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftMlpConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer's batch norm.
    #[serde(default = "relu")]
    pub activation: String,
    /// The weights of the quantised layers.
    #[serde(default = "denseshift")]
    pub quantizer: QuantizerKind,
    /// N, bits per weight for `denseshift` and `log_round`.
    #[serde(default = "three")]
    pub bits: usize,
    /// σ of DenseShift's low-variance latent initialisation.
    #[serde(default = "init_std")]
    pub init_std: f64,
    /// Batch normalisation after every hidden layer.
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Quantise the output layer too.
    #[serde(default)]
    pub quantize_last: bool,
}

fn relu() -> String {
    "relu".into()
}
fn denseshift() -> QuantizerKind {
    QuantizerKind::Denseshift
}
fn three() -> usize {
    3
}
fn init_std() -> f64 {
    1e-3
}
fn yes() -> bool {
    true
}

/// One layer of a [`ShiftMlp`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
enum ShiftLayer {
    Float(Linear),
    Quantized(QuantizedLinear),
    Shift(DenseShiftLinear),
}

/// A float latent weight quantised in the forward pass.
#[derive(Module, Debug)]
struct QuantizedLinear {
    linear: Linear,
    #[module(skip)]
    quantizer: WeightQuantizer,
}

impl ShiftLayer {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            ShiftLayer::Float(l) => l.forward(x),
            ShiftLayer::Shift(l) => l.forward(x),
            ShiftLayer::Quantized(q) => {
                let w = q.quantizer.quantize(q.linear.weight.val());
                let out = x.matmul(w);
                match &q.linear.bias {
                    Some(b) => out + b.val().unsqueeze(),
                    None => out,
                }
            }
        }
    }

    /// The discrete values of the layer's weights (none for a float layer).
    fn codes(&self) -> Option<Vec<i32>> {
        match self {
            ShiftLayer::Float(_) => None,
            ShiftLayer::Quantized(q) => Some(q.quantizer.codes(q.linear.weight.val())),
            ShiftLayer::Shift(l) => {
                let c = l.codes("");
                Some(
                    c.sign
                        .iter()
                        .zip(&c.shift)
                        .map(|(&s, &p)| i32::from(s) * (i32::from(p) + 1))
                        .collect(),
                )
            }
        }
    }
}

/// An MLP with quantised weights and batch norm.
#[derive(Module, Debug)]
pub struct ShiftMlp {
    layers: Vec<ShiftLayer>,
    norms: Vec<BatchNorm>,
    activations: Vec<Activation>,
}

impl ShiftMlpConfig {
    /// A 3-bit DenseShift MLP with these hidden widths.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            activation: relu(),
            quantizer: denseshift(),
            bits: three(),
            init_std: init_std(),
            batch_norm: true,
            quantize_last: false,
        }
    }

    fn layer(&self, i: usize, o: usize, quantized: bool, device: &Device) -> Result<ShiftLayer, NnError> {
        if !quantized {
            return Ok(ShiftLayer::Float(LinearConfig::new(i, o).init(device)));
        }
        Ok(match self.quantizer {
            QuantizerKind::Fp32 => ShiftLayer::Float(LinearConfig::new(i, o).init(device)),
            QuantizerKind::Denseshift => ShiftLayer::Shift(
                DenseShiftConfig::new(i, o)
                    .with_bits(self.bits)
                    .with_init_std(self.init_std)
                    .init(device)?,
            ),
            QuantizerKind::Ternary => ShiftLayer::Quantized(QuantizedLinear {
                linear: LinearConfig::new(i, o).init(device),
                quantizer: WeightQuantizer::Ternary,
            }),
            QuantizerKind::LogRound => ShiftLayer::Quantized(QuantizedLinear {
                linear: LinearConfig::new(i, o).init(device),
                quantizer: WeightQuantizer::LogRound { bits: self.bits },
            }),
        })
    }

    /// Builds the network from `input` to `output` features.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<ShiftMlp, NnError> {
        self.validate()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!(
                "shift_mlp widths must be positive: input {input}, output {output}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        let mut layers = Vec::new();
        let mut norms = Vec::new();
        let mut activations = Vec::new();
        for w in widths.windows(2) {
            layers.push(self.layer(w[0], w[1], true, device)?);
            if self.batch_norm {
                norms.push(BatchNormConfig::new(w[1]).init(device));
            }
            activations.push(Activation::new(&spec, &ActivationInit::features(device, w[1]))?);
        }
        let last = *widths.last().expect("the input width at least");
        layers.push(self.layer(last, output, self.quantize_last, device)?);
        Ok(ShiftMlp {
            layers,
            norms,
            activations,
        })
    }
}

impl ModelSpec for ShiftMlpConfig {
    type Model = ShiftMlp;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "shift_mlp needs at least one hidden layer, all positive, got {:?}",
                self.hidden
            )));
        }
        if matches!(self.quantizer, QuantizerKind::Denseshift | QuantizerKind::LogRound) {
            DenseShiftConfig::new(1, 1)
                .with_bits(self.bits)
                .with_init_std(self.init_std)
                .validate()?;
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<ShiftMlp, NnError> {
        let input: usize = io.real_input("shift_mlp")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

impl ShiftMlp {
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let mut x = input;
        let hidden = self.activations.len();
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if k < hidden {
                if let Some(norm) = self.norms.get(k) {
                    x = norm.forward(x);
                }
                x = self.activations[k].forward(x);
            }
        }
        x
    }

    /// The integer codes of every DenseShift layer, named by their index (`layers.{k}`).
    pub fn shift_codes(&self) -> Vec<ShiftCodes> {
        self.shift_layers()
            .into_iter()
            .map(|(k, s)| s.codes(&format!("layers.{k}")))
            .collect()
    }

    /// The DenseShift layers with their index in the network.
    pub fn shift_layers(&self) -> Vec<(usize, &DenseShiftLinear)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(k, l)| match l {
                ShiftLayer::Shift(s) => Some((k, s)),
                _ => None,
            })
            .collect()
    }
}

impl Network for ShiftMlp {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward(input.real("shift_mlp")?))
    }

    fn quantized_codes(&self) -> Option<Vec<i32>> {
        let codes: Vec<i32> = self.layers.iter().filter_map(ShiftLayer::codes).flatten().collect();
        (!codes.is_empty()).then_some(codes)
    }

    fn shift_codes(&self) -> Vec<ShiftCodes> {
        ShiftMlp::shift_codes(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_counts_and_codes() {
        let device = Device::flex();
        // DenseShift 3-bit: hidden layers hold 1 + 3 latents per weight plus a bias;
        // 64-32-10: (64·32·4 + 32) + BN (γ, β and the running mean and variance, which Burn
        // counts too: 4·32) + (32·10 + 10) = 8224 + 128 + 330 = 8682
        let model = ShiftMlpConfig::new(vec![32]).init(64, 10, &device).unwrap();
        assert_eq!(model.num_params(), 8_682);
        assert_eq!(model.forward(Tensor::zeros([5, 64], &device)).dims(), [5, 10]);
        let codes = model.shift_codes();
        assert_eq!(codes.len(), 1);
        assert_eq!(codes[0].shape, [64, 32]);
        assert_eq!(model.quantized_codes().unwrap().len(), 64 * 32);
        // FP32 has no codes
        let fp = ShiftMlpConfig { quantizer: QuantizerKind::Fp32, ..ShiftMlpConfig::new(vec![32]) };
        assert!(fp.init(64, 10, &device).unwrap().quantized_codes().is_none());
        assert_eq!(model.shift_layers().len(), 1);
        assert_eq!(model.shift_layers()[0].0, 0);
    }

    #[test]
    fn every_quantizer_builds_and_bad_configs_fail() {
        let device = Device::flex();
        for q in [QuantizerKind::Fp32, QuantizerKind::Denseshift, QuantizerKind::Ternary, QuantizerKind::LogRound] {
            let c = ShiftMlpConfig { quantizer: q, bits: 2, ..ShiftMlpConfig::new(vec![8, 8]) };
            let m = c.init(4, 3, &device).unwrap();
            assert_eq!(m.forward(Tensor::ones([2, 4], &device)).dims(), [2, 3]);
        }
        for bad in [
            ShiftMlpConfig::new(vec![]),
            ShiftMlpConfig::new(vec![0]),
            ShiftMlpConfig { bits: 0, ..ShiftMlpConfig::new(vec![4]) },
            ShiftMlpConfig { bits: 9, ..ShiftMlpConfig::new(vec![4]) },
            ShiftMlpConfig { init_std: 0.0, ..ShiftMlpConfig::new(vec![4]) },
            ShiftMlpConfig { init_std: f64::NAN, ..ShiftMlpConfig::new(vec![4]) },
            ShiftMlpConfig { activation: "nope".into(), ..ShiftMlpConfig::new(vec![4]) },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let err = toml::from_str::<ShiftMlpConfig>("hidden = [4]\nquantizer = \"binary\"").unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }
}
