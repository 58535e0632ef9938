//! The in-memory nonlinear ramp ADC of "Efficient nonlinear function approximation in analog
//! resistive crossbars for recurrent neural networks" (Yang, Mao, …, Li, Basu; arXiv:2411.18271,
//! Nature Communications 16, 1136 (2025)): the comparator of a ramp ADC stops a counter when the
//! ramp passes the crossbar's column voltage; a ramp whose steps are programmed memristor
//! conductances makes the stop count a quantised f(x),
//!
//! ```text
//! V_ramp[k] = V_read · c · (x_0 + Σ_{j≤k} G_j),   k(x) = #{j : V_ramp[j] < V_read · c · x},
//! y = y_lo + (k + ½) Δ,   Δ = (y_hi − y_lo) / L,   L = 2^B,
//! G_k ∝ t_k − t_{k−1},    t_k = clip(f⁻¹(y_lo + k Δ), −R, R)  (k = 1..L−1, t_0 = x_0 = −R)
//! ```
//!
//! No code was published; the design equations are the notes' formalisation (activations-and-
//! neurons.md §8, documented choices): mid-rise reconstruction levels y_lo + (k + ½)Δ over the
//! function's full range ((−1, 1) for tanh, (0, 1) for sigmoid), thresholds clipped to the input
//! range [−R, R] (the first step absorbs the ramp's start), device variation as a relative
//! Gaussian programming error σ on every G_k and stuck-at-OFF cells (G_k = 0, G_min ≈ 0), and the
//! offset calibration of the paper's 5 extra cells as one additive bias fitted so the thresholds'
//! mean error is zero. V_read multiplies ramp and signal alike, so it cancels (ratiometric).
//! Training through the ADC uses the straight-through estimator: forward the ADC's y, backward
//! the derivative of f.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// The function the ramp is programmed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdcFunction {
    /// tanh, range (−1, 1).
    Tanh,
    /// The logistic sigmoid, range (0, 1).
    Sigmoid,
}

impl AdcFunction {
    fn range(self) -> (f64, f64) {
        match self {
            Self::Tanh => (-1.0, 1.0),
            Self::Sigmoid => (0.0, 1.0),
        }
    }

    fn inverse(self, y: f64) -> f64 {
        match self {
            Self::Tanh => y.atanh(),
            Self::Sigmoid => (y / (1.0 - y)).ln(),
        }
    }

    /// f on a tensor (the float path and the STE's backward).
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Tanh => burn::tensor::activation::tanh(x),
            Self::Sigmoid => burn::tensor::activation::sigmoid(x),
        }
    }
}

/// Configuration of a [`RampAdc`] (the `adc` table of a model that uses one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampAdcConfig {
    /// B, the ADC's bits (L = 2^B codes); the paper evaluates 8, 5, 4 and 3 (hardware: 5).
    #[serde(default = "bits")]
    pub bits: usize,
    /// R, the input range [−R, R] the thresholds are clipped to (notes: |x| ≤ 4 for 5 bits).
    #[serde(default = "input_range")]
    pub input_range: f64,
    /// Relative σ of the conductance programming error of every ramp cell (notes: a few %).
    #[serde(default)]
    pub conductance_noise: f64,
    /// Probability that a ramp cell is stuck at OFF (G = G_min ≈ 0).
    #[serde(default)]
    pub stuck_off: f64,
    /// Whether the offset calibration (the paper's 5 extra cells) is applied.
    #[serde(default = "yes")]
    pub calibrate: bool,
    /// V_read in volts (0.15–0.25 V in the paper); scales ramp and signal alike.
    #[serde(default = "v_read")]
    pub v_read: f64,
    /// Seed of the device variation.
    #[serde(default)]
    pub seed: u64,
}

fn bits() -> usize {
    5
}
fn input_range() -> f64 {
    4.0
}
fn yes() -> bool {
    true
}
fn v_read() -> f64 {
    0.2
}

impl Default for RampAdcConfig {
    fn default() -> Self {
        Self {
            bits: bits(),
            input_range: input_range(),
            conductance_noise: 0.0,
            stuck_off: 0.0,
            calibrate: true,
            v_read: v_read(),
            seed: 0,
        }
    }
}

impl RampAdcConfig {
    /// Largest accepted number of bits.
    pub const MAX_BITS: usize = 12;

    /// Checks bits (1..=12), the range (finite, positive, at most 100), the noise (finite, in
    /// [0, 1)), the stuck-at probability (in [0, 1)) and V_read (finite, positive).
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |what: String| Err(NnError::BadConfig(format!("ramp ADC: {what}")));
        if self.bits == 0 || self.bits > Self::MAX_BITS {
            return bad(format!(
                "bits must be in 1..={}, got {}",
                Self::MAX_BITS,
                self.bits
            ));
        }
        if !(self.input_range.is_finite() && self.input_range > 0.0 && self.input_range <= 100.0) {
            return bad(format!(
                "input_range must be in (0, 100], got {}",
                self.input_range
            ));
        }
        if !(self.conductance_noise.is_finite() && (0.0..1.0).contains(&self.conductance_noise)) {
            return bad(format!(
                "conductance_noise must be in [0, 1), got {}",
                self.conductance_noise
            ));
        }
        if !(self.stuck_off.is_finite() && (0.0..1.0).contains(&self.stuck_off)) {
            return bad(format!(
                "stuck_off must be in [0, 1), got {}",
                self.stuck_off
            ));
        }
        if !(self.v_read.is_finite() && self.v_read > 0.0) {
            return bad(format!("v_read must be positive, got {}", self.v_read));
        }
        Ok(())
    }

    /// The ideal thresholds t_1..t_{L−1} for `f`, clipped to [−R, R], and Δ.
    pub fn ideal_thresholds(&self, f: AdcFunction) -> (Vec<f64>, f64) {
        let levels = 1usize << self.bits;
        let (lo, hi) = f.range();
        let delta = (hi - lo) / levels as f64;
        let r = self.input_range;
        let t = (1..levels)
            .map(|k| f.inverse(lo + k as f64 * delta).clamp(-r, r))
            .collect();
        (t, delta)
    }

    /// Programs the ramp for `f` (with this config's device variation, drawn from `seed` and the
    /// `stream` of this converter) and returns the converter.
    pub fn build(&self, f: AdcFunction, stream: u64) -> Result<RampAdc, NnError> {
        self.validate()?;
        let (ideal, delta) = self.ideal_thresholds(f);
        let x0 = -self.input_range;
        let mut rng = SplitMix::new(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // ramp cells: G_k ∝ t_k − t_{k−1}, programmed with relative error σ, some stuck at OFF
        let mut previous = x0;
        let mut ramp = x0;
        let mut thresholds = Vec::with_capacity(ideal.len());
        for &t in &ideal {
            let mut g = t - previous;
            previous = t;
            g *= 1.0 + self.conductance_noise * rng.normal();
            if self.stuck_off > 0.0 && rng.uniform() < self.stuck_off {
                g = 0.0;
            }
            ramp += g.max(0.0);
            thresholds.push(ramp);
        }
        if self.calibrate && !thresholds.is_empty() {
            let bias = ideal
                .iter()
                .zip(&thresholds)
                .map(|(i, n)| i - n)
                .sum::<f64>()
                / ideal.len() as f64;
            thresholds.iter_mut().for_each(|t| *t += bias);
        }
        let (lo, _) = f.range();
        Ok(RampAdc {
            function: f,
            v_read: self.v_read,
            thresholds: thresholds.iter().map(|t| t * self.v_read).collect(),
            y_lo: lo,
            delta,
        })
    }
}

/// A programmed ramp ADC: voltages of the ramp steps (V_read · c · threshold, c = 1), and the
/// reconstruction levels.
#[derive(Debug, Clone, PartialEq)]
pub struct RampAdc {
    function: AdcFunction,
    v_read: f64,
    thresholds: Vec<f64>,
    y_lo: f64,
    delta: f64,
}

impl RampAdc {
    /// The ramp's step voltages.
    pub fn ramp(&self) -> &[f64] {
        &self.thresholds
    }

    /// Δ, one LSB of the output.
    pub fn lsb(&self) -> f64 {
        self.delta
    }

    /// The same ramp read with another V_read (ramp and signal both scale).
    pub fn with_v_read(&self, v_read: f64) -> Self {
        let scale = v_read / self.v_read;
        Self {
            v_read,
            thresholds: self.thresholds.iter().map(|t| t * scale).collect(),
            ..self.clone()
        }
    }

    /// The stop count of the counter for a MAC result x: #{j : V_ramp[j] < V_read · x}.
    pub fn code(&self, x: f64) -> usize {
        let v = self.v_read * x;
        // the ramp rises monotonically (steps are clamped at ≥ 0)
        self.thresholds.partition_point(|&t| t < v)
    }

    /// The output level of a code.
    pub fn level(&self, code: usize) -> f64 {
        self.y_lo + (code as f64 + 0.5) * self.delta
    }

    /// The ADC's output for each element, no gradient.
    ///
    /// # Shapes
    /// - input, output: any shape
    pub fn convert<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let shape = x.shape();
        let device = x.device();
        let dtype = x.dtype();
        let values = x.into_data().convert::<f64>();
        let values: Vec<f64> = values
            .iter::<f64>()
            .map(|v| self.level(self.code(v)))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), (&device, dtype))
    }

    /// The ADC in a network: forward the converted values, backward the derivative of f
    /// (straight-through estimator).
    ///
    /// # Shapes
    /// - input, output: any shape
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let smooth = self.function.apply(x.clone());
        let hard = self.convert(x.detach());
        smooth.clone() + (hard - smooth.detach())
    }
}

/// A small seeded generator (SplitMix64) for device variation: no dependency, same draws on every
/// platform.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// The notes' example, tanh at 3 bits: Δ = 2/8 = 0.25, thresholds atanh(−1 + kΔ), k = 1..7:
    /// atanh(−0.75) = −0.9730, atanh(−0.5) = −0.5493, atanh(−0.25) = −0.2554, 0, and mirrored;
    /// steps from the start −R = −4: 3.0270, then 0.4236, 0.2939, 0.2554, 0.2554, 0.2939, 0.4236.
    #[test]
    fn tanh_3_bit_thresholds_by_hand() {
        let config = RampAdcConfig {
            bits: 3,
            ..RampAdcConfig::default()
        };
        let (t, delta) = config.ideal_thresholds(AdcFunction::Tanh);
        assert_eq!(delta, 0.25);
        let want = [-0.9730, -0.5493, -0.2554, 0.0, 0.2554, 0.5493, 0.9730];
        for (a, b) in t.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let adc = config.build(AdcFunction::Tanh, 0).unwrap();
        let steps: Vec<f64> = adc.ramp().windows(2).map(|w| (w[1] - w[0]) / 0.2).collect();
        for (a, b) in steps
            .iter()
            .zip([0.4236, 0.2939, 0.2554, 0.2554, 0.2939, 0.4236])
        {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        // codes and levels: x = 0.1 lies above 4 thresholds → code 4 → −1 + 4.5 · 0.25 = 0.125;
        // x = −2 is below all → code 0 → −0.875; sigmoid at 1 bit: one threshold at 0 → 0.25 / 0.75
        assert_eq!(adc.code(0.1), 4);
        assert_eq!(adc.level(4), 0.125);
        assert_eq!(adc.level(adc.code(-2.0)), -0.875);
        let sig = RampAdcConfig {
            bits: 1,
            ..RampAdcConfig::default()
        }
        .build(AdcFunction::Sigmoid, 0)
        .unwrap();
        assert_eq!(
            (sig.level(sig.code(-0.1)), sig.level(sig.code(0.1))),
            (0.25, 0.75)
        );
    }

    /// The notes' exact function test: B = 5, tanh with R = 3 (thresholds ±1.7175, unclipped),
    /// ideal conductances: on [−3, 3] the error is at most Δ/2 = 1/32 = 0.03125 (and at least
    /// 0.9 Δ/2 somewhere, so the bound is tight); sigmoid too (Δ/2 = 1/64).
    #[test]
    fn five_bit_error_is_at_most_half_an_lsb() {
        let config = RampAdcConfig {
            bits: 5,
            input_range: 3.0,
            ..RampAdcConfig::default()
        };
        // sigmoid's outer thresholds logit(1/32) = ∓3.43 need R = 4 to stay unclipped
        for (f, half, range) in [
            (AdcFunction::Tanh, 0.03125, 3.0),
            (AdcFunction::Sigmoid, 0.015625, 4.0),
        ] {
            let adc = RampAdcConfig {
                input_range: range,
                ..config.clone()
            }
            .build(f, 0)
            .unwrap();
            let mut worst: f64 = 0.0;
            for i in 0..=6000 {
                let x = -3.0 + i as f64 * 0.001;
                let exact = match f {
                    AdcFunction::Tanh => x.tanh(),
                    AdcFunction::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                };
                worst = worst.max((adc.level(adc.code(x)) - exact).abs());
            }
            assert!(
                worst <= half + 1e-12 && worst > 0.9 * half,
                "{f:?}: {worst}"
            );
        }
    }

    /// Device variation: with 5% relative conductance noise and offset calibration, the codes
    /// differ from the ideal ADC's by at most 1 (INL ≤ 1 LSB) over 100 Monte-Carlo draws; without
    /// calibration and with 20% noise they do not (the check can fail).
    #[test]
    fn five_percent_noise_with_calibration_stays_within_one_lsb() {
        let ideal = RampAdcConfig {
            bits: 5,
            input_range: 3.0,
            ..RampAdcConfig::default()
        };
        let ideal_adc = ideal.build(AdcFunction::Tanh, 0).unwrap();
        let inl = |adc: &RampAdc| {
            (0..=6000)
                .map(|i| {
                    let x = -3.0 + i as f64 * 0.001;
                    adc.code(x).abs_diff(ideal_adc.code(x))
                })
                .max()
                .unwrap()
        };
        for seed in 0..100 {
            let noisy = RampAdcConfig {
                conductance_noise: 0.05,
                seed,
                ..ideal.clone()
            }
            .build(AdcFunction::Tanh, 0)
            .unwrap();
            assert!(inl(&noisy) <= 1, "seed {seed}: INL {}", inl(&noisy));
        }
        let worse = (0..20)
            .map(|seed| {
                inl(&RampAdcConfig {
                    conductance_noise: 0.2,
                    calibrate: false,
                    seed,
                    ..ideal.clone()
                }
                .build(AdcFunction::Tanh, 0)
                .unwrap())
            })
            .max()
            .unwrap();
        assert!(worse > 1, "{worse}");
    }

    /// Ratiometric: scaling V_read by 0.75 or 1.25 in ramp and MAC leaves every code unchanged,
    /// with device noise too.
    #[test]
    fn v_read_cancels() {
        let adc = RampAdcConfig {
            conductance_noise: 0.05,
            seed: 3,
            ..RampAdcConfig::default()
        }
        .build(AdcFunction::Sigmoid, 1)
        .unwrap();
        for scale in [0.75, 1.25] {
            let other = adc.with_v_read(0.2 * scale);
            for i in 0..2000 {
                let x = -4.0 + i as f64 * 0.004 + 1e-4;
                assert_eq!(adc.code(x), other.code(x), "x = {x}, scale {scale}");
            }
        }
    }

    /// The STE: forward is the ADC's output; the gradient is f'(x) (tanh: 1 − tanh²).
    #[test]
    fn straight_through_gradient_is_the_derivative_of_f() {
        let device = Device::flex().autodiff();
        let adc = RampAdcConfig {
            bits: 3,
            ..RampAdcConfig::default()
        }
        .build(AdcFunction::Tanh, 0)
        .unwrap();
        let x = Tensor::<1>::from_floats([0.1, -2.0, 0.7], &device).require_grad();
        let y = adc.forward(x.clone());
        let values = y.clone().into_data().try_to_vec::<f32>().unwrap();
        // 0.1 lies above 4 thresholds → 0.125; −2 → −0.875; 0.7 lies in [0.5493, 0.9730) →
        // code 6 → −1 + 6.5 · 0.25 = 0.625 (to rounding: f(x) + (ADC − f(x)))
        for (v, w) in values.iter().zip([0.125f32, -0.875, 0.625]) {
            assert!((v - w).abs() < 1e-6, "{v} vs {w}");
        }
        let grads = y.sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (g, x) in g.iter().zip([0.1f32, -2.0, 0.7]) {
            let want = 1.0 - x.tanh().powi(2);
            assert!((g - want).abs() < 1e-6, "{g} vs {want}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let base = RampAdcConfig::default();
        for c in [
            RampAdcConfig {
                bits: 0,
                ..base.clone()
            },
            RampAdcConfig {
                bits: 13,
                ..base.clone()
            },
            RampAdcConfig {
                input_range: 0.0,
                ..base.clone()
            },
            RampAdcConfig {
                input_range: -1.0,
                ..base.clone()
            },
            RampAdcConfig {
                input_range: f64::NAN,
                ..base.clone()
            },
            RampAdcConfig {
                input_range: 1e9,
                ..base.clone()
            },
            RampAdcConfig {
                conductance_noise: -0.1,
                ..base.clone()
            },
            RampAdcConfig {
                conductance_noise: f64::NAN,
                ..base.clone()
            },
            RampAdcConfig {
                conductance_noise: 5.0,
                ..base.clone()
            },
            RampAdcConfig {
                stuck_off: 1.0,
                ..base.clone()
            },
            RampAdcConfig {
                stuck_off: -0.5,
                ..base.clone()
            },
            RampAdcConfig {
                v_read: 0.0,
                ..base.clone()
            },
            RampAdcConfig {
                v_read: f64::INFINITY,
                ..base.clone()
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
