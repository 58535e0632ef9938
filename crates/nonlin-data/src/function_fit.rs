//! Regression of a named closed-form function of two inputs at `n` points uniform in
//! `[-1, 1]^2`: the fit targets of the papers' small regression experiments.
//!
//! | name | f(x, y) | from |
//! |---|---|---|
//! | `sin_cos_xy` | sin(πx)·cos(πy) + 0.5·x·y | PolyCom's smooth regression target (notes §2) |
//! | `exp_sin_square` | exp(sin(πx) + y²) | the KAN paper's fit target (notes §4a) |
//! | `product` | x·y | a multiplicative target (quadratic neurons, S-KAN) |
//!
//! The points come from the seed alone (not from the function), so two functions at the same
//! seed are sampled at the same inputs.

use std::f64::consts::PI;
use std::str::FromStr;

use crate::error::DataError;
use crate::rng::{Rng, derive_seed};

/// The stream of [`derive_seed`] that draws the sample points.
const SAMPLE_STREAM: u64 = 0xf17;

/// A named function of two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitFunction {
    /// sin(πx)·cos(πy) + 0.5·x·y.
    SinCosXy,
    /// exp(sin(πx) + y²).
    ExpSinSquare,
    /// x·y.
    Product,
}

impl FitFunction {
    /// Every name, in the order of the table above.
    pub const NAMES: &'static [&'static str] = &["sin_cos_xy", "exp_sin_square", "product"];

    /// f(x, y).
    pub fn value(self, x: f64, y: f64) -> f64 {
        match self {
            FitFunction::SinCosXy => (PI * x).sin() * (PI * y).cos() + 0.5 * x * y,
            FitFunction::ExpSinSquare => ((PI * x).sin() + y * y).exp(),
            FitFunction::Product => x * y,
        }
    }
}

impl FromStr for FitFunction {
    type Err = DataError;

    fn from_str(name: &str) -> Result<Self, DataError> {
        match name {
            "sin_cos_xy" => Ok(FitFunction::SinCosXy),
            "exp_sin_square" => Ok(FitFunction::ExpSinSquare),
            "product" => Ok(FitFunction::Product),
            other => Err(DataError::invalid(format!(
                "function_fit: unknown function `{other}`; known: {}",
                FitFunction::NAMES.join(", ")
            ))),
        }
    }
}

/// `n` points uniform in `[-1, 1]^2` drawn from `seed` (inputs `[n, 2]` row-major) and the
/// function's values there (`[n]`).
pub fn function_fit(
    function: FitFunction,
    n: usize,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    if n == 0 {
        return Err(DataError::invalid(
            "function_fit: n 0 (need at least 1 sample)",
        ));
    }
    let mut rng = Rng::seed(derive_seed(seed, SAMPLE_STREAM));
    let mut inputs = Vec::with_capacity(2 * n);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        // 2u - 1 is exact in f32 for u on the 2^-24 grid.
        let x = 2.0 * rng.uniform_f32() - 1.0;
        let y = 2.0 * rng.uniform_f32() - 1.0;
        inputs.extend([x, y]);
        targets.push(function.value(f64::from(x), f64::from(y)) as f32);
    }
    Ok((inputs, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        // sin(π/2)·cos(0) + 0.5·0.5·0 = 1; at (1, 1): sin(π)·cos(π) + 0.5 = 0.5 (sin π ≈ 1e-16)
        let f = FitFunction::SinCosXy;
        assert!((f.value(0.5, 0.0) - 1.0).abs() < 1e-12);
        assert!((f.value(1.0, 1.0) - 0.5).abs() < 1e-12);
        // exp(sin(π/2) + 1) = e^2 = 7.3890561
        assert!((FitFunction::ExpSinSquare.value(0.5, 1.0) - 7.389_056_1).abs() < 1e-6);
        assert_eq!(FitFunction::Product.value(-0.5, 0.25), -0.125);
    }

    #[test]
    fn samples_are_seeded_in_the_box_and_shared_across_functions() {
        let (x, y) = function_fit(FitFunction::SinCosXy, 500, 3).unwrap();
        assert_eq!((x.len(), y.len()), (1000, 500));
        assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
        for i in 0..500 {
            let want = FitFunction::SinCosXy.value(f64::from(x[2 * i]), f64::from(x[2 * i + 1]));
            assert!((f64::from(y[i]) - want).abs() < 1e-6);
        }
        assert_eq!(function_fit(FitFunction::SinCosXy, 500, 3).unwrap().0, x);
        assert_eq!(function_fit(FitFunction::Product, 500, 3).unwrap().0, x);
        assert_ne!(function_fit(FitFunction::SinCosXy, 500, 4).unwrap().0, x);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(function_fit(FitFunction::Product, 0, 0).is_err());
        let err = "sine".parse::<FitFunction>().unwrap_err().to_string();
        assert!(err.contains("sine") && err.contains("sin_cos_xy"), "{err}");
        assert!("".parse::<FitFunction>().is_err());
    }
}
