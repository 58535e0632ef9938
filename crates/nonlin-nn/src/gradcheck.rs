//! Finite-difference gradient checks for custom differentiable ops.
//!
//! Every op nonlin adds (an activation, a neuron, a layer) is checked here against central
//! differences, `(f(x + h) - f(x - h)) / 2h`. The check runs in f64 on the CPU (`flex` does
//! autodiff in f64), where h = 1e-6 gives errors near 1e-9 for smooth ops; an op that silently
//! drops to f32 is reported, because its tolerances would have to be the looser f32 ones
//! ([`GradCheckConfig::f32`]).

use std::fmt;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Tolerances and step size of a check.
#[derive(Debug, Clone)]
pub struct GradCheckConfig {
    /// h, the central-difference step.
    pub step: f64,
    /// Largest accepted |analytic - numeric| / max(1, |numeric|).
    pub tolerance: f64,
    /// The dtype the check runs in.
    pub dtype: DType,
}

impl Default for GradCheckConfig {
    /// f64 with h = 1e-6 and tolerance 1e-6.
    fn default() -> Self {
        Self {
            step: 1e-6,
            tolerance: 1e-6,
            dtype: DType::F64,
        }
    }
}

impl GradCheckConfig {
    /// For ops that only exist in f32: h = 1e-2 and tolerance 1e-2 (rounding error of f32 central
    /// differences is about 1e-7 / h, truncation error about h^2).
    pub fn f32() -> Self {
        Self {
            step: 1e-2,
            tolerance: 1e-2,
            dtype: DType::F32,
        }
    }
}

/// The outcome: the worst disagreement found.
#[derive(Debug, Clone)]
pub struct GradCheckReport {
    /// Worst scaled error, |analytic - numeric| / max(1, |numeric|).
    pub max_error: f64,
    /// Which input and element gave it.
    pub worst: (usize, usize),
    /// Analytic and numeric derivative there.
    pub analytic: f64,
    pub numeric: f64,
    /// The tolerance the check was run with.
    pub tolerance: f64,
}

impl GradCheckReport {
    /// Whether every element agreed within tolerance.
    pub fn passed(&self) -> bool {
        self.max_error <= self.tolerance
    }
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max scaled error {:.3e} (tolerance {:.1e}) at input {} element {}: analytic {:.9}, numeric {:.9}",
            self.max_error, self.tolerance, self.worst.0, self.worst.1, self.analytic, self.numeric
        )
    }
}

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GradCheckError {
    #[error(
        "the op returned {found:?} for {expected:?} inputs: it does not keep the dtype, so check it with GradCheckConfig::f32()"
    )]
    DtypeLost { expected: DType, found: DType },
    #[error(
        "input {input} received no gradient: the op does not depend on it, or the graph was detached"
    )]
    NoGradient { input: usize },
    #[error("the op returned a non-finite value")]
    NonFinite,
}

/// Checks the gradient of `op` with respect to every element of every input.
///
/// `op` receives the inputs as 1-D tensors on the given device (reshape inside as needed) and
/// returns any 1-D tensor; the check differentiates the scalar `sum(op(x) * r)` with a fixed
/// pseudo-random `r`, so every output element contributes with its own weight.
pub fn check_gradients<F>(
    op: F,
    inputs: &[Vec<f64>],
    config: &GradCheckConfig,
) -> Result<GradCheckReport, GradCheckError>
where
    F: Fn(&[Tensor<1>], &Device) -> Tensor<1>,
{
    let plain = Device::flex();
    let autodiff = plain.clone().autodiff();
    let make = |values: &[f64], device: &Device| {
        Tensor::<1>::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            (device, config.dtype),
        )
    };

    // Analytic gradients.
    let leaves: Vec<Tensor<1>> = inputs
        .iter()
        .map(|x| make(x, &autodiff).require_grad())
        .collect();
    let output = op(&leaves, &autodiff);
    if output.dtype() != config.dtype {
        return Err(GradCheckError::DtypeLost {
            expected: config.dtype,
            found: output.dtype(),
        });
    }
    let weights = projection(output.dims()[0]);
    let r = make(&weights, &autodiff);
    let grads = (output * r).sum().backward();
    let mut analytic = Vec::with_capacity(inputs.len());
    for (i, leaf) in leaves.iter().enumerate() {
        let g = leaf
            .grad(&grads)
            .ok_or(GradCheckError::NoGradient { input: i })?;
        analytic.push(to_f64(g));
    }

    // Numeric gradients by central differences, without autodiff.
    let objective = |values: &[Vec<f64>]| -> Result<f64, GradCheckError> {
        let xs: Vec<Tensor<1>> = values.iter().map(|x| make(x, &plain)).collect();
        let out = to_f64(op(&xs, &plain));
        let value: f64 = out.iter().zip(&weights).map(|(o, w)| o * w).sum();
        if value.is_finite() {
            Ok(value)
        } else {
            Err(GradCheckError::NonFinite)
        }
    };
    let mut report = GradCheckReport {
        max_error: 0.0,
        worst: (0, 0),
        analytic: 0.0,
        numeric: 0.0,
        tolerance: config.tolerance,
    };
    let mut point: Vec<Vec<f64>> = inputs.to_vec();
    for i in 0..inputs.len() {
        for j in 0..inputs[i].len() {
            let x = point[i][j];
            point[i][j] = x + config.step;
            let up = objective(&point)?;
            point[i][j] = x - config.step;
            let down = objective(&point)?;
            point[i][j] = x;
            let numeric = (up - down) / (2.0 * config.step);
            let error = (analytic[i][j] - numeric).abs() / numeric.abs().max(1.0);
            if error > report.max_error || !error.is_finite() {
                report = GradCheckReport {
                    max_error: error,
                    worst: (i, j),
                    analytic: analytic[i][j],
                    numeric,
                    ..report
                };
            }
        }
    }
    Ok(report)
}

/// A module's float parameters in visiting order, flattened to f64: the starting point of a
/// gradient check of every learnable parameter (pass them as inputs of the op, and rebuild the
/// module from them inside it with [`with_parameters`]).
pub fn parameter_values<M: Module>(module: &M) -> Vec<Vec<f64>> {
    struct Collect(Vec<Vec<f64>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.val().shape().num_elements();
            self.0.push(to_f64(param.val().reshape([n])));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// `module` with its float parameters replaced, in visiting order, by `values` (flat tensors,
/// reshaped to each parameter's shape), so gradients flow from the op's output to them.
///
/// # Panics
/// If `values` does not hold one tensor of the right size per parameter (a test's own mistake).
pub fn with_parameters<M: Module>(module: M, values: &[Tensor<1>]) -> M {
    struct Replace<'a>(&'a [Tensor<1>], usize);
    impl ModuleMapper for Replace<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape = param.val().shape();
            let value = self.0[self.1].clone();
            assert_eq!(
                value.dims()[0],
                shape.num_elements(),
                "parameter {}",
                self.1
            );
            self.1 += 1;
            Param::initialized(param.id, value.reshape(shape))
        }
    }
    let mut replace = Replace(values, 0);
    let module = module.map(&mut replace);
    assert_eq!(replace.1, values.len(), "more values than parameters");
    module
}

fn to_f64(t: Tensor<1>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f64>()
        .expect("converted to f64 above")
}

/// Fixed weights in [0.5, 1.5): distinct, nonzero, the same on every run.
fn projection(n: usize) -> Vec<f64> {
    (0..n)
        .map(|k| 0.5 + ((k as f64 + 1.0) * 0.618_033_988_749_895).fract())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_gradient_passes() {
        // d/dx sum(r * x^3) = 3 r x^2, checked numerically
        let report = check_gradients(
            |x, _| x[0].clone().powi_scalar(3),
            &[vec![0.5, -1.2, 2.0]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn a_wrong_gradient_fails() {
        // x * stopgrad(x) has true derivative 2x but autodiff sees only x: the check must catch it.
        let report = check_gradients(
            |x, _| x[0].clone() * x[0].clone().detach(),
            &[vec![0.7, -1.5]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(!report.passed(), "{report}");
        assert!(report.max_error > 0.3, "{report}");
    }

    #[test]
    fn two_inputs_are_both_checked() {
        let report = check_gradients(
            |x, _| x[0].clone() * x[1].clone().exp(),
            &[vec![0.3, -0.8], vec![0.1, 0.4]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    /// Parameters go out and back in, in the same order, and gradients reach them.
    #[test]
    fn module_parameters_round_trip_and_are_checked() {
        let device = Device::flex();
        let layer = burn::nn::LinearConfig::new(3, 2).init(&device);
        let params = parameter_values(&layer);
        assert_eq!(params.iter().map(Vec::len).collect::<Vec<_>>(), vec![6, 2]);
        let x = vec![0.5, -1.0, 2.0];
        let mut inputs = vec![x];
        inputs.extend(params);
        let report = check_gradients(
            |v, _| {
                let layer = with_parameters(layer.clone(), &v[1..]);
                layer
                    .forward(v[0].clone().reshape([1, 3]))
                    .tanh()
                    .reshape([2])
            },
            &inputs,
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn an_input_the_op_ignores_is_reported() {
        let err = check_gradients(
            |x, _| x[0].clone() * 2.0,
            &[vec![1.0], vec![2.0]],
            &GradCheckConfig::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, GradCheckError::NoGradient { input: 1 }),
            "{err}"
        );
    }
}
