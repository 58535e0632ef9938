//! An LSTM sequence classifier for the crossbar ramp-ADC paper (arXiv:2411.18271; notes §8): the
//! flat input is read as `steps` time steps of equal width (8×8 digits → 8 steps of 8 pixels,
//! "sequential digits"), an [`LstmCell`] runs over them, and a linear head classifies the last
//! hidden state,
//!
//! ```text
//! h_T = LSTM(x_1..x_T),   logits = h_T W + b
//! ```
//!
//! The five nonlinearities of the cell are exact or in-memory ramp ADCs ([`RampAdcConfig`], the
//! `adc` table). As in the paper, the model is trained in software and evaluated with the ADCs:
//! by default (`adc_training = false`) the ADCs act only in evaluation (the runner evaluates an
//! inference copy, whose weights are off the autodiff device); `adc_training = true` puts them in the training
//! forward pass too, with the straight-through backward (hardware-aware training). `weight_noise`
//! adds the crossbar's relative conductance error to the cell's weights in evaluation,
//! w ⊙ (1 + σ ε), ε ~ N(0, 1) fixed by `noise_seed` (the same draw at every evaluation).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::layer::{LstmCell, LstmCellConfig, Nonlinearities, RampAdcConfig, SplitMix, lstm_sequence};

/// Configuration of an [`Lstm`] (`kind = "lstm"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    /// H, hidden units; 32 in the notes' CPU target.
    #[serde(default = "hidden")]
    pub hidden: usize,
    /// Time steps the flat input is split into (its width must divide evenly).
    #[serde(default = "steps")]
    pub steps: usize,
    /// The ramp ADCs of the cell's nonlinearities; none: exact σ and tanh.
    #[serde(default)]
    pub adc: Option<RampAdcConfig>,
    /// Whether the ADCs act in training too (straight-through backward).
    #[serde(default)]
    pub adc_training: bool,
    /// Relative σ of the cell's weight conductance noise in evaluation.
    #[serde(default)]
    pub weight_noise: f64,
    /// Seed of the weight noise.
    #[serde(default)]
    pub noise_seed: u64,
}

fn hidden() -> usize {
    32
}
fn steps() -> usize {
    8
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            hidden: hidden(),
            steps: steps(),
            adc: None,
            adc_training: false,
            weight_noise: 0.0,
            noise_seed: 0,
        }
    }
}

/// The evaluation-time analog settings (not trained, not saved).
#[derive(Debug, Clone)]
pub struct Analog {
    nl: Nonlinearities,
    in_training: bool,
    weight_noise: f64,
    noise_seed: u64,
}

/// An LSTM classifier of sequences.
#[derive(Module, Debug)]
pub struct Lstm {
    cell: LstmCell,
    head: Linear,
    steps: usize,
    #[module(skip)]
    analog: Analog,
}

impl LstmConfig {
    /// Builds the model for `features` inputs per sample and `classes` outputs.
    pub fn init(&self, features: usize, classes: usize, device: &Device) -> Result<Lstm, NnError> {
        self.validate()?;
        if features == 0 || classes == 0 || !features.is_multiple_of(self.steps) {
            return Err(NnError::BadConfig(format!(
                "lstm splits {features} input features into {} steps: they must divide evenly (and there must be classes, got {classes})",
                self.steps
            )));
        }
        let nl = match &self.adc {
            Some(adc) => Nonlinearities::adc(adc)?,
            None => Nonlinearities::Float,
        };
        Ok(Lstm {
            cell: LstmCellConfig::new(features / self.steps, self.hidden).init(device)?,
            head: LinearConfig::new(self.hidden, classes).init(device),
            steps: self.steps,
            analog: Analog {
                nl,
                in_training: self.adc_training,
                weight_noise: self.weight_noise,
                noise_seed: self.noise_seed,
            },
        })
    }
}

fn noisy(w: Tensor<2>, sigma: f64, rng: &mut SplitMix) -> Tensor<2> {
    if sigma == 0.0 {
        return w;
    }
    let dims = w.dims();
    let factors: Vec<f32> = (0..dims[0] * dims[1])
        .map(|_| (1.0 + sigma * rng.normal()) as f32)
        .collect();
    let factors = Tensor::<2>::from_data(TensorData::new(factors, dims), &w.device());
    w * factors
}

impl Lstm {
    /// # Shapes
    /// - input: `[batch, steps · width]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let [batch, features] = input.dims();
        let x = input.reshape([batch, self.steps, features / self.steps]);
        let analog = &self.analog;
        // an inference copy (`Module::valid`, what the runner evaluates) holds its weights off the
        // autodiff device, whatever device the batch is on
        let training = self.cell.weight_ih.val().device().is_autodiff();
        let h = if training {
            let nl = if analog.in_training {
                &analog.nl
            } else {
                &Nonlinearities::Float
            };
            self.cell.forward(x, nl)
        } else {
            let mut rng = SplitMix::new(analog.noise_seed);
            lstm_sequence(
                x,
                noisy(self.cell.weight_ih.val(), analog.weight_noise, &mut rng),
                noisy(self.cell.weight_hh.val(), analog.weight_noise, &mut rng),
                self.cell.bias_ih.val(),
                self.cell.bias_hh.val(),
                &analog.nl,
            )
        };
        self.head.forward(h)
    }
}

impl ModelSpec for LstmConfig {
    type Model = Lstm;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden == 0 || self.steps == 0 {
            return Err(NnError::BadConfig(format!(
                "lstm hidden and steps must be positive, got {} and {}",
                self.hidden, self.steps
            )));
        }
        if !(self.weight_noise.is_finite() && (0.0..1.0).contains(&self.weight_noise)) {
            return Err(NnError::BadConfig(format!(
                "lstm weight_noise must be in [0, 1), got {}",
                self.weight_noise
            )));
        }
        if let Some(adc) = &self.adc {
            adc.validate()?;
        }
        Ok(())
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Lstm, NnError> {
        let features: usize = io.real_input("lstm")?.iter().product();
        self.init(features, io.output_width(), device)
    }
}

impl Network for Lstm {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("lstm")?;
        let [batch, features] = x.dims();
        let expected = self.cell.weight_ih.dims()[0] * self.steps;
        if features != expected {
            return Err(NnError::Shape {
                block: "lstm",
                expected: format!("[batch, {expected}]"),
                found: vec![batch, features],
            });
        }
        Ok(self.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sequential digits: 64 features → 8 steps of 8; parameters 4H(8 + H) + 8H + 10H + 10 at
    /// H = 32: 128 · 40 + 256 + 330 = 5,706. As the runner uses it (trained on the autodiff
    /// device, evaluated as `valid()` copies): the ADC acts in evaluation, and in training only
    /// with `adc_training`; weight noise changes the evaluation output.
    #[test]
    fn shapes_counts_and_where_the_adc_acts() {
        let ad = Device::flex().autodiff();
        let float = LstmConfig::default().init(64, 10, &ad).unwrap();
        assert_eq!(float.num_params(), 5_706);
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..3 * 64)
                    .map(|k| ((k % 17) as f32) / 8.0)
                    .collect::<Vec<_>>(),
                [3, 64],
            ),
            &ad,
        );
        let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        };
        let train_out = values(float.forward(x.clone()));
        let eval_out = values(float.valid().forward(x.clone()));
        assert_eq!(train_out.len(), 30);
        assert!(diff(&train_out, &eval_out) < 1e-6);
        let record = float.clone().into_record();
        let with_adc = |adc_training: bool, weight_noise: f64| {
            LstmConfig {
                adc: Some(RampAdcConfig {
                    bits: 3,
                    ..RampAdcConfig::default()
                }),
                adc_training,
                weight_noise,
                ..LstmConfig::default()
            }
            .init(64, 10, &ad)
            .unwrap()
            .load_record(record.clone())
        };
        let eval_adc = values(with_adc(false, 0.0).valid().forward(x.clone()));
        assert!(diff(&eval_adc, &eval_out) > 1e-3, "the ADC acts in evaluation");
        let noisy = values(with_adc(false, 0.05).valid().forward(x.clone()));
        assert!(diff(&noisy, &eval_adc) > 1e-4, "weight noise acts in evaluation");
        let train_float = values(with_adc(false, 0.05).forward(x.clone()));
        assert!(diff(&train_float, &train_out) < 1e-6, "float in training");
        let train_adc = values(with_adc(true, 0.0).forward(x));
        assert!(diff(&train_adc, &train_out) > 1e-3, "adc_training");
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = LstmConfig::default();
        for c in [
            LstmConfig { hidden: 0, ..base.clone() },
            LstmConfig { steps: 0, ..base.clone() },
            LstmConfig { weight_noise: -0.1, ..base.clone() },
            LstmConfig { weight_noise: f64::NAN, ..base.clone() },
            LstmConfig { weight_noise: 2.0, ..base.clone() },
            LstmConfig {
                adc: Some(RampAdcConfig { bits: 0, ..RampAdcConfig::default() }),
                ..base.clone()
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert!(base.init(63, 10, &device).is_err(), "63 features do not split into 8 steps");
        assert!(base.init(64, 0, &device).is_err());
    }
}
