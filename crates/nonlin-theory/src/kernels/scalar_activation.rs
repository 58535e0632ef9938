//! An activation as a scalar f64 function with its derivative, for quadrature, kernel recursions
//! and hand-written backprop. The registry's standard activations have closed forms here (the
//! fast path); any other activation, including ones added to the registry later, is evaluated
//! through its Burn module in f64 with the derivative from Burn's autodiff (the general path).
//! A test checks that both paths agree on every registered name.

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};
use nonlin_nn::activation::{Activation, ActivationInit, ActivationSpec};

use crate::TheoryError;

/// An activation as a function of one real number (or, per channel, of one number and its
/// channel index).
#[derive(Debug, Clone)]
pub enum ScalarActivation {
    Relu,
    /// `x` for x >= 0, `slope * x` otherwise (leaky ReLU, and PReLU with one shared slope).
    Leaky(f64),
    /// PReLU with one slope per channel.
    LeakyPerChannel(Vec<f64>),
    /// Exact GELU `x Phi(x)`.
    Gelu,
    /// SiLU / swish `x sigmoid(x)`.
    Silu,
    Tanh,
    Sigmoid,
    /// `ln(1 + e^{beta x}) / beta`.
    Softplus(f64),
    Identity,
    /// `x^2` (Li2's grokking activation; not a registry activation).
    Square,
    /// Any registered activation, evaluated through its Burn module in f64.
    Module(Box<Activation>),
}

impl ScalarActivation {
    /// The activation a spec names (`"relu"`, `"softplus(beta=2)"`, or any registered name).
    /// `square` is accepted too (Li2's `x^2`).
    pub fn from_spec(text: &str) -> Result<Self, TheoryError> {
        if text.trim() == "square" {
            return Ok(Self::Square);
        }
        let spec: ActivationSpec = text.parse()?;
        let device = Device::flex();
        let module = Activation::new(&spec, &ActivationInit::features(&device, 1))?;
        Ok(Self::from_module(&module))
    }

    /// The scalar form of a built (possibly trained) activation module.
    pub fn from_module(module: &Activation) -> Self {
        match module {
            Activation::Relu(_) => Self::Relu,
            Activation::LeakyRelu(a) => Self::Leaky(a.negative_slope),
            Activation::Gelu(_) => Self::Gelu,
            Activation::Silu(_) => Self::Silu,
            Activation::Tanh(_) => Self::Tanh,
            Activation::Sigmoid(_) => Self::Sigmoid,
            Activation::Softplus(a) => Self::Softplus(a.beta),
            Activation::Identity(_) => Self::Identity,
            Activation::Prelu(p) => {
                let slopes: Vec<f64> = p
                    .slope
                    .val()
                    .into_data()
                    .try_into_vec_as::<f64>()
                    .unwrap_or_default();
                match slopes.as_slice() {
                    [a] => Self::Leaky(*a),
                    _ => Self::LeakyPerChannel(slopes),
                }
            }
            #[allow(unreachable_patterns)] // activations added to the registry later
            other => Self::Module(Box::new(other.clone())),
        }
    }

    /// The general path for a spec: always through the Burn module (the slow reference).
    pub fn module_from_spec(text: &str) -> Result<Self, TheoryError> {
        let spec: ActivationSpec = text.parse()?;
        let device = Device::flex();
        let module = Activation::new(&spec, &ActivationInit::features(&device, 1))?;
        Ok(Self::Module(Box::new(module)))
    }

    /// Value and derivative at `x` for channel `channel` (ignored unless per-channel).
    pub fn eval(&self, x: f64, channel: usize) -> (f64, f64) {
        match self {
            Self::Relu => {
                if x > 0.0 {
                    (x, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Self::Leaky(a) => leaky(x, *a),
            Self::LeakyPerChannel(slopes) => leaky(x, slopes[channel % slopes.len()]),
            Self::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (x * cdf, cdf + x * pdf)
            }
            Self::Silu => {
                let s = sigmoid(x);
                (x * s, s + x * s * (1.0 - s))
            }
            Self::Tanh => {
                let t = x.tanh();
                (t, 1.0 - t * t)
            }
            Self::Sigmoid => {
                let s = sigmoid(x);
                (s, s * (1.0 - s))
            }
            Self::Softplus(beta) => {
                let bx = beta * x;
                // ln(1 + e^t) = max(t, 0) + ln(1 + e^{-|t|}), stable for large |t|
                let value = (bx.max(0.0) + (-bx.abs()).exp().ln_1p()) / beta;
                (value, sigmoid(bx))
            }
            Self::Identity => (x, 1.0),
            Self::Square => (x * x, 2.0 * x),
            Self::Module(module) => {
                let (v, d) = module_eval(module, &[x], 1);
                (v[0], d[0])
            }
        }
    }

    /// The value at `x` (channel 0).
    pub fn value(&self, x: f64) -> f64 {
        self.eval(x, 0).0
    }

    /// The derivative at `x` (channel 0).
    pub fn derivative(&self, x: f64) -> f64 {
        self.eval(x, 0).1
    }

    /// Values and derivatives of a row-major `[rows, width]` block, channel = column.
    pub fn eval_rows(&self, z: &[f64], width: usize) -> (Vec<f64>, Vec<f64>) {
        if let Self::Module(module) = self {
            return module_eval(module, z, width);
        }
        let mut values = Vec::with_capacity(z.len());
        let mut derivs = Vec::with_capacity(z.len());
        for (i, &x) in z.iter().enumerate() {
            let (v, d) = self.eval(x, i % width.max(1));
            values.push(v);
            derivs.push(d);
        }
        (values, derivs)
    }

    /// Values and derivatives at many points of one channel (the general path evaluates them
    /// in one call, which keeps quadrature through a Burn module fast enough).
    pub fn eval_many(&self, xs: &[f64]) -> (Vec<f64>, Vec<f64>) {
        if let Self::Module(module) = self {
            return module_eval_scalar(module, xs);
        }
        xs.iter().map(|&x| self.eval(x, 0)).unzip()
    }

    /// Whether this is ReLU, which has closed-form (arc-cosine) duals.
    pub fn is_relu(&self) -> bool {
        matches!(self, Self::Relu)
    }
}

fn leaky(x: f64, a: f64) -> (f64, f64) {
    if x > 0.0 { (x, 1.0) } else { (a * x, a) }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Value and derivative of a Burn activation on `[rows, width]` values, in f64 on the CPU.
fn module_eval(module: &Activation, z: &[f64], width: usize) -> (Vec<f64>, Vec<f64>) {
    let width = width.max(1);
    let rows = z.len() / width;
    let device = Device::flex().autodiff();
    let act = module.clone().to_device(&device);
    let x = Tensor::<2>::from_data(
        TensorData::new(z.to_vec(), [rows, width]),
        (&device, DType::F64),
    )
    .require_grad();
    let y = act.forward(x.clone());
    let values = y
        .clone()
        .inner()
        .into_data()
        .try_into_vec_as::<f64>()
        .unwrap_or_default();
    let grads = y.sum().backward();
    let derivs = x
        .grad(&grads)
        .map(|g| g.into_data().try_into_vec_as::<f64>().unwrap_or_default())
        .unwrap_or_else(|| vec![0.0; z.len()]);
    (values, derivs)
}

/// As [`module_eval`] for points of one channel: a per-channel module is built one wide, so the
/// points go down the batch axis.
fn module_eval_scalar(module: &Activation, xs: &[f64]) -> (Vec<f64>, Vec<f64>) {
    module_eval(module, xs, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms agree with the Burn modules (value and autodiff derivative) for every
    /// registered activation, on points away from the ReLU-family kink.
    #[test]
    fn closed_forms_agree_with_the_burn_modules_for_the_whole_registry() {
        let xs = [-3.1, -1.2, -0.4, -0.03, 0.02, 0.5, 1.3, 2.7, 6.0];
        for name in Activation::NAMES {
            let fast = ScalarActivation::from_spec(name).unwrap();
            let slow = ScalarActivation::module_from_spec(name).unwrap();
            let (v_slow, d_slow) = slow.eval_many(&xs);
            for (i, &x) in xs.iter().enumerate() {
                let (v, d) = fast.eval(x, 0);
                assert!(
                    (v - v_slow[i]).abs() < 1e-6,
                    "{name}({x}): {v} vs module {}",
                    v_slow[i]
                );
                assert!(
                    (d - d_slow[i]).abs() < 1e-6,
                    "{name}'({x}): {d} vs module {}",
                    d_slow[i]
                );
            }
        }
    }

    #[test]
    fn hand_computed_values() {
        // gelu(1) = Phi(1) = 0.8413447461; gelu'(1) = Phi(1) + phi(1) = 0.8413447461 + 0.2419707245
        let (v, d) = ScalarActivation::Gelu.eval(1.0, 0);
        assert!((v - 0.841_344_746_1).abs() < 1e-9 && (d - 1.083_315_470_6).abs() < 1e-9);
        // softplus(beta=2) at 1: ln(1 + e^2)/2 = 2.126928011/2 = 1.0634640055; derivative sigmoid(2) = 0.880797078
        let (v, d) = ScalarActivation::from_spec("softplus(beta=2)")
            .unwrap()
            .eval(1.0, 0);
        assert!((v - 1.063_464_005_5).abs() < 1e-9 && (d - 0.880_797_078).abs() < 1e-9);
        // square: 3 -> 9, derivative 6
        assert_eq!(
            ScalarActivation::from_spec("square").unwrap().eval(3.0, 0),
            (9.0, 6.0)
        );
        // per-channel PReLU: channel 1 slope 0.2 at -2 -> -0.4
        assert_eq!(
            ScalarActivation::LeakyPerChannel(vec![0.1, 0.2]).eval(-2.0, 1),
            (-0.4, 0.2)
        );
        assert!(ScalarActivation::from_spec("nope").is_err());
    }
}
