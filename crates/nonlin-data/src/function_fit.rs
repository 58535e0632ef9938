//! The two-input function-fitting tasks of the KAN papers: a named function of `(x, y)` at points
//! uniform in `[-1, 1]²`, as pykan's `create_dataset` draws them (Liu et al., arXiv:2404.19756,
//! §3.1; the S-KAN paper, arXiv:2408.08338, fits seven such functions).
//!
//! | name | f(x, y) |
//! |---|---|
//! | `exp_sin` | `exp(sin(πx) + y²)` (the KAN paper's running example) |
//! | `product` | `x·y` |
//! | `sin_cos` | `sin(πx)·cos(πy)` |
//! | `bessel` | `J₀(20x)` (the KAN paper's special function; `y` is a distractor input) |
//! | `step` | `σ(20x) = 1/(1 + e^{−20x})` (step-like; `y` is a distractor) |
//! | `abs_sum` | `|x| + |y|` |
//! | `square_sum` | `x² + y²` |

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::{Rng, derive_seed};

/// The stream of [`derive_seed`] that draws the points of [`function_fit`].
const SAMPLE_STREAM: u64 = 2;

/// A named two-input test function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitFunction {
    ExpSin,
    Product,
    SinCos,
    Bessel,
    Step,
    AbsSum,
    SquareSum,
}

impl FitFunction {
    /// Every function, in the order of the table above.
    pub const ALL: [FitFunction; 7] = [
        FitFunction::ExpSin,
        FitFunction::Product,
        FitFunction::SinCos,
        FitFunction::Bessel,
        FitFunction::Step,
        FitFunction::AbsSum,
        FitFunction::SquareSum,
    ];

    /// The name experiment files use.
    pub fn name(self) -> &'static str {
        match self {
            FitFunction::ExpSin => "exp_sin",
            FitFunction::Product => "product",
            FitFunction::SinCos => "sin_cos",
            FitFunction::Bessel => "bessel",
            FitFunction::Step => "step",
            FitFunction::AbsSum => "abs_sum",
            FitFunction::SquareSum => "square_sum",
        }
    }

    /// `f(x, y)` in f64.
    pub fn eval(self, x: f64, y: f64) -> f64 {
        match self {
            FitFunction::ExpSin => ((PI * x).sin() + y * y).exp(),
            FitFunction::Product => x * y,
            FitFunction::SinCos => (PI * x).sin() * (PI * y).cos(),
            FitFunction::Bessel => bessel_j0(20.0 * x),
            FitFunction::Step => 1.0 / (1.0 + (-20.0 * x).exp()),
            FitFunction::AbsSum => x.abs() + y.abs(),
            FitFunction::SquareSum => x * x + y * y,
        }
    }
}

impl fmt::Display for FitFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FitFunction {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self, DataError> {
        FitFunction::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = FitFunction::ALL.iter().map(|f| f.name()).collect();
                DataError::invalid(format!(
                    "function_fit: unknown function `{text}`; known: {}",
                    known.join(", ")
                ))
            })
    }
}

/// `J₀(z) = (1/π) ∫₀^π cos(z sin θ) dθ` by the trapezoid rule on 128 intervals: the integrand is
/// smooth and periodic, so the error falls faster than any power of the step (below 1e-15 for
/// |z| ≤ 40).
pub fn bessel_j0(z: f64) -> f64 {
    const N: usize = 128;
    let h = PI / N as f64;
    let inner: f64 = (1..N).map(|k| (z * (k as f64 * h).sin()).cos()).sum();
    // Endpoints θ = 0 and θ = π both give cos(0) = 1, each with weight ½.
    (inner + 1.0) / N as f64
}

/// `n` points of `function`: inputs `[n, 2]` row-major uniform in `[-1, 1)`, targets `[n, 1]`,
/// deterministic from `seed`; the first `m` points of `n > m` are the `m` points.
pub fn function_fit(
    function: FitFunction,
    n: usize,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    if n == 0 {
        return Err(DataError::invalid(
            "function_fit: n 0 (need at least 1 point)",
        ));
    }
    let mut rng = Rng::seed(derive_seed(seed, SAMPLE_STREAM));
    let mut inputs = Vec::with_capacity(2 * n);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let x = 2.0 * rng.uniform_f32() - 1.0;
        let y = 2.0 * rng.uniform_f32() - 1.0;
        inputs.extend([x, y]);
        targets.push(function.eval(f64::from(x), f64::from(y)) as f32);
    }
    Ok((inputs, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values by hand: exp(sin(π/2) + 0.25) = e^1.25 = 3.490343; sin(π/2)·cos(π) = −1;
    /// σ(20·0.1) = 1/(1 + e^−2) = 0.880797; |−0.3| + |0.4| = 0.7; 0.09 + 0.16 = 0.25.
    #[test]
    fn hand_computed_values() {
        let cases = [
            (FitFunction::ExpSin, 0.5, 0.5, 1.25f64.exp()),
            (FitFunction::Product, -0.3, 0.4, -0.12),
            (FitFunction::SinCos, 0.5, 1.0, -1.0),
            (FitFunction::Step, 0.1, 0.9, 0.880_797_077_977_882_3),
            (FitFunction::AbsSum, -0.3, 0.4, 0.7),
            (FitFunction::SquareSum, -0.3, 0.4, 0.25),
            (FitFunction::Bessel, 0.0, 0.3, 1.0),
        ];
        for (f, x, y, expected) in cases {
            assert!((f.eval(x, y) - expected).abs() < 1e-12, "{f}");
        }
    }

    /// Reference values of J₀ (mpmath.besselj(0, z)):
    /// J₀(1) = 0.7651976866, J₀(2.404825557695773) = 0 (its first zero), J₀(10) = −0.2459357645,
    /// J₀(20) = 0.1670246643; J₀ is even.
    #[test]
    fn bessel_reference_values() {
        assert!((bessel_j0(1.0) - 0.765_197_686_557_966_6).abs() < 1e-14);
        assert!(bessel_j0(2.404_825_557_695_773).abs() < 1e-14);
        assert!((bessel_j0(10.0) + 0.245_935_764_451_348_3).abs() < 1e-14);
        assert!((bessel_j0(-20.0) - 0.167_024_664_340_583_2).abs() < 1e-14);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for f in FitFunction::ALL {
            assert_eq!(f.name().parse::<FitFunction>().unwrap(), f);
        }
        let err = "cosh".parse::<FitFunction>().unwrap_err().to_string();
        assert!(err.contains("cosh") && err.contains("exp_sin"), "{err}");
    }

    #[test]
    fn points_are_seeded_uniform_and_exact() {
        let (x, y) = function_fit(FitFunction::ExpSin, 500, 7).unwrap();
        assert_eq!((x.len(), y.len()), (1000, 500));
        assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
        for (p, t) in x.chunks(2).zip(&y) {
            let f = FitFunction::ExpSin.eval(f64::from(p[0]), f64::from(p[1])) as f32;
            assert_eq!(f, *t);
        }
        assert_eq!(
            function_fit(FitFunction::ExpSin, 500, 7).unwrap(),
            (x.clone(), y)
        );
        assert_ne!(function_fit(FitFunction::ExpSin, 500, 8).unwrap().0, x);
        // A prefix of a longer draw; the points do not depend on the function.
        let (short, _) = function_fit(FitFunction::Product, 10, 7).unwrap();
        assert_eq!(&short[..], &x[..20]);
        assert!(function_fit(FitFunction::Step, 0, 7).is_err());
    }
}
