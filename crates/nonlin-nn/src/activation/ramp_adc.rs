//! The crossbar ramp-ADC nonlinearity as a registry activation: the in-memory nonlinear ramp ADC
//! of "Efficient nonlinear function approximation in analog resistive crossbars for recurrent
//! neural networks" (Yang et al., arXiv:2411.18271), usable after any layer of any model that
//! takes an activation (`activation = "ramp_adc(bits=4)"`). The converter itself, its design
//! equations and device model are [`crate::layer::ramp_adc`]; in short
//!
//! ```text
//! y = y_lo + (k(x) + ½) Δ,   k(x) = #{j : t_j < x},   t_j = clip(f⁻¹(y_lo + j Δ), −R, R),   Δ = (y_hi − y_lo) / 2^B
//! ```
//!
//! Backward: the straight-through estimator of the layer, ∂y/∂x := f'(x) (the derivative of the
//! function the ramp is programmed for), as the paper trains its networks.
//!
//! Spec parameters (numbers only, as every registry spec): `bits` (B, default 5, the paper's
//! hardware), `sigmoid` (0: f = tanh, the default; 1: f = the logistic sigmoid), `input_range` (R,
//! default 4), `conductance_noise` (σ, default 0), `stuck_off` (default 0), `calibrate` (1/0,
//! default 1), `v_read` (default 0.2 V; cancels) and `seed` (of the device variation, default 0).
//!
//! Choices (documented): one converter per activation layer, shared by all its channels (one ramp
//! per array, as the paper's ramp cells sit in the array and feed every column's comparator);
//! every layer's device variation is drawn from stream 0 of `seed`, so two layers with the same
//! spec have the same ramp. The converter holds no parameters and is not saved (rebuilt from the
//! spec).

use burn::module::Module;
use burn::tensor::Tensor;

use super::{ActivationInit, ActivationSpec};
use crate::NnError;
use crate::layer::{AdcFunction, RampAdc as Converter, RampAdcConfig};

/// The ramp ADC as an activation.
#[derive(Module, Debug)]
pub struct RampAdc {
    /// The programmed converter (no trainable parameters).
    #[module(skip)]
    pub converter: Converter,
}

/// The parameters a `ramp_adc(...)` spec accepts.
const PARAMS: [&str; 8] = [
    "bits",
    "sigmoid",
    "input_range",
    "conductance_noise",
    "stuck_off",
    "calibrate",
    "v_read",
    "seed",
];

impl RampAdc {
    /// The function and converter config a spec names; every value is checked (integers where
    /// integers are meant, flags 0 or 1, then the converter config's own ranges).
    pub fn config_from_spec(spec: &ActivationSpec) -> Result<(AdcFunction, RampAdcConfig), NnError> {
        spec.expect_params(&PARAMS)?;
        let bad = |reason: String| NnError::BadActivation {
            spec: spec.to_string(),
            reason,
        };
        let defaults = RampAdcConfig::default();
        let integer = |key: &str, default: f64, max: f64| -> Result<f64, NnError> {
            let v = spec.param(key, default);
            if !(v.is_finite() && v >= 0.0 && v <= max && v.fract() == 0.0) {
                return Err(bad(format!("{key} must be a whole number in 0..={max}, got {v}")));
            }
            Ok(v)
        };
        let flag = |key: &str, default: bool| -> Result<bool, NnError> {
            let v = spec.param(key, if default { 1.0 } else { 0.0 });
            if v == 0.0 || v == 1.0 {
                Ok(v == 1.0)
            } else {
                Err(bad(format!("{key} must be 0 or 1, got {v}")))
            }
        };
        let bits = integer("bits", defaults.bits as f64, RampAdcConfig::MAX_BITS as f64)?;
        let function = if flag("sigmoid", false)? {
            AdcFunction::Sigmoid
        } else {
            AdcFunction::Tanh
        };
        let config = RampAdcConfig {
            bits: bits as usize,
            input_range: spec.param("input_range", defaults.input_range),
            conductance_noise: spec.param("conductance_noise", defaults.conductance_noise),
            stuck_off: spec.param("stuck_off", defaults.stuck_off),
            calibrate: flag("calibrate", defaults.calibrate)?,
            v_read: spec.param("v_read", defaults.v_read),
            // 2^53: the largest whole number an f64 spec value holds exactly.
            seed: integer("seed", defaults.seed as f64, 9_007_199_254_740_992.0)? as u64,
        };
        config.validate().map_err(|e| match e {
            NnError::BadConfig(reason) => bad(reason),
            other => other,
        })?;
        Ok((function, config))
    }

    /// Builds it from a spec such as `ramp_adc(bits=4)` or `ramp_adc(sigmoid=1, bits=3)`.
    pub fn from_spec(spec: &ActivationSpec, _init: &ActivationInit<'_>) -> Result<Self, NnError> {
        let (function, config) = Self::config_from_spec(spec)?;
        Ok(Self {
            converter: config.build(function, 0)?,
        })
    }

    /// The ADC's quantised f(x) forward, f'(x) backward (straight-through).
    ///
    /// # Shapes
    /// - input: `[..., width]`
    /// - output: `[..., width]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        self.converter.forward(input)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, Device, TensorData};

    use super::*;
    use crate::activation::tests::{assert_close, eval};
    use crate::activation::{Activation, ActivationInit};

    fn build(text: &str) -> Result<Activation, NnError> {
        let device = Device::flex();
        let spec: ActivationSpec = text.parse()?;
        Activation::new(&spec, &ActivationInit::features(&device, 1))
    }

    /// tanh at 3 bits (the layer's hand-computed example): Δ = 2/8 = 0.25, thresholds
    /// atanh(−1 + kΔ) = −0.9730, −0.5493, −0.2554, 0, 0.2554, 0.5493, 0.9730. x = 0.1 lies past 4
    /// thresholds: 0.1 → −1 + 4.5·0.25 = 0.125; −2 lies past none: −0.875; 0.6 past 6: 0.625;
    /// 5 past all 7: 0.875. Sigmoid at 2 bits: Δ = 0.25, thresholds logit(0.25, 0.5, 0.75) =
    /// −1.0986, 0, 1.0986; 0.5 → 0.625, −3 → 0.125.
    #[test]
    fn hand_computed_values() {
        assert_close(
            &eval("ramp_adc(bits=3)", &[0.1, -2.0, 0.6, 5.0]),
            &[0.125, -0.875, 0.625, 0.875],
            1e-7,
        );
        assert_close(
            &eval("ramp_adc(bits=2, sigmoid=1)", &[0.5, -3.0]),
            &[0.625, 0.125],
            1e-7,
        );
    }

    /// The activation gives exactly the converter of the layer (`layer::ramp_adc`) built from the
    /// same config, device variation included.
    #[test]
    fn values_are_the_layer_converter() {
        let xs: Vec<f32> = (0..81).map(|i| -4.5 + 0.1125 * i as f32).collect();
        for (text, function, config) in [
            (
                "ramp_adc",
                AdcFunction::Tanh,
                RampAdcConfig::default(),
            ),
            (
                "ramp_adc(bits=4, sigmoid=1, conductance_noise=0.05, stuck_off=0.1, seed=7)",
                AdcFunction::Sigmoid,
                RampAdcConfig {
                    bits: 4,
                    conductance_noise: 0.05,
                    stuck_off: 0.1,
                    seed: 7,
                    ..RampAdcConfig::default()
                },
            ),
        ] {
            let converter = config.build(function, 0).unwrap();
            let want: Vec<f32> = xs
                .iter()
                .map(|&x| converter.level(converter.code(x as f64)) as f32)
                .collect();
            assert_close(&eval(text, &xs), &want, 1e-7);
        }
    }

    /// The documented surrogate gradient: autodiff through the activation gives f'(x) (here
    /// tanh' = 1 − tanh², checked against a central difference of tanh), not the zero derivative
    /// of the staircase.
    #[test]
    fn backward_is_the_straight_through_derivative_of_f() {
        let xs: [f64; 5] = [-2.1, -0.7, 0.05, 0.9, 3.3];
        let device = Device::flex().autodiff();
        let spec: ActivationSpec = "ramp_adc(bits=4)".parse().unwrap();
        let act = Activation::new(&spec, &ActivationInit::features(&device, 1)).unwrap();
        let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), (&device, DType::F64))
            .require_grad();
        let grads = act.forward(x.clone()).sum().backward();
        let g: Vec<f64> = x.grad(&grads).unwrap().into_data().try_into_vec_as().unwrap();
        let h = 1e-6;
        for (x, g) in xs.iter().zip(g) {
            let fd = ((x + h).tanh() - (x - h).tanh()) / (2.0 * h);
            assert!((g - fd).abs() < 1e-8, "at {x}: {g} vs {fd}");
        }
    }

    /// Zero, negative, NaN, huge and fractional values of every parameter are errors naming it.
    #[test]
    fn bad_parameters_are_errors() {
        for (text, key) in [
            ("ramp_adc(bits=0)", "bits"),
            ("ramp_adc(bits=-3)", "bits"),
            ("ramp_adc(bits=NaN)", "bits"),
            ("ramp_adc(bits=1e9)", "bits"),
            ("ramp_adc(bits=4.5)", "bits"),
            ("ramp_adc(sigmoid=2)", "sigmoid"),
            ("ramp_adc(sigmoid=NaN)", "sigmoid"),
            ("ramp_adc(input_range=0)", "input_range"),
            ("ramp_adc(input_range=-1)", "input_range"),
            ("ramp_adc(input_range=NaN)", "input_range"),
            ("ramp_adc(input_range=1e30)", "input_range"),
            ("ramp_adc(conductance_noise=-0.1)", "conductance_noise"),
            ("ramp_adc(conductance_noise=NaN)", "conductance_noise"),
            ("ramp_adc(conductance_noise=5)", "conductance_noise"),
            ("ramp_adc(stuck_off=-0.1)", "stuck_off"),
            ("ramp_adc(stuck_off=1)", "stuck_off"),
            ("ramp_adc(stuck_off=NaN)", "stuck_off"),
            ("ramp_adc(calibrate=3)", "calibrate"),
            ("ramp_adc(v_read=0)", "v_read"),
            ("ramp_adc(v_read=-0.2)", "v_read"),
            ("ramp_adc(v_read=NaN)", "v_read"),
            ("ramp_adc(seed=-1)", "seed"),
            ("ramp_adc(seed=1e300)", "seed"),
            ("ramp_adc(width=3)", "width"),
        ] {
            let err = build(text).err().unwrap_or_else(|| panic!("{text} was accepted"));
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
        assert!(build("ramp_adc(bits=12, sigmoid=1, calibrate=0)").is_ok());
    }
}
