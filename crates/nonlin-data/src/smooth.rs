//! A seeded smooth regression task: a sum of products of sines, each over a few inputs.
//!
//! `f(x) = Σ_{k=1..K} a_k Π_{j ∈ S_k} sin(w_kj x_j + φ_kj)` on `x ∈ [-1, 1]^d`, where each `S_k`
//! holds 2 or 3 distinct inputs, `w_kj ∈ [0.5, 2]` and `φ_kj ∈ [0, 2π)`, all drawn from the seed.
//! Each term multiplies functions of different inputs, so `f` is not a sum of one-input functions
//! (it is non-separable): an additive model cannot fit it, a model that mixes inputs can.
//!
//! The amplitudes are scaled so that `Var f = 1` exactly for `x` uniform on the box. The variance
//! has a closed form because the inputs are independent and, for `x` uniform on `[-1, 1]`,
//! `E[cos(c x + θ)] = cos θ · sin c / c`.

use std::f64::consts::TAU;

use crate::error::DataError;
use crate::rng::{Rng, derive_seed};

/// The stream of [`derive_seed`] that draws the function from the seed.
const FUNCTION_STREAM: u64 = 0;
/// The stream of [`derive_seed`] that draws the samples of [`smooth_regression`].
const SAMPLE_STREAM: u64 = 1;
/// Frequencies `w` are drawn uniformly from this range.
const FREQUENCY_RANGE: (f64, f64) = (0.5, 2.0);

/// One factor `sin(w x_j + φ)` of a term.
#[derive(Debug, Clone, PartialEq)]
struct Factor {
    /// `j`, the input it reads.
    input: usize,
    /// `w`.
    frequency: f64,
    /// `φ`.
    phase: f64,
}

/// One term `a Π sin(w x_j + φ)`.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    /// `a`, after scaling to unit variance.
    amplitude: f64,
    /// Over 2 or 3 distinct inputs, in increasing order of input.
    factors: Vec<Factor>,
}

impl Term {
    /// The factor reading input `j`, if any.
    fn factor(&self, j: usize) -> Option<&Factor> {
        self.factors.iter().find(|f| f.input == j)
    }
}

/// A smooth non-separable function of `dims` inputs, fixed by a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SmoothFunction {
    dims: usize,
    terms: Vec<Term>,
}

impl SmoothFunction {
    /// `d`, the number of inputs, by default.
    pub const DEFAULT_DIMS: usize = 4;
    /// `K`, the number of terms, by default.
    pub const DEFAULT_TERMS: usize = 6;

    /// The function of `dims` inputs and `terms` terms drawn from `seed`. Each term takes 3 inputs
    /// or 2 with equal chance (always 2 when `dims` is 2). `dims` below 2 is an error: a product
    /// over distinct inputs needs two of them.
    pub fn new(dims: usize, terms: usize, seed: u64) -> Result<Self, DataError> {
        if dims < 2 {
            return Err(DataError::invalid(format!(
                "SmoothFunction: dims {dims} (need at least 2 inputs for a non-separable function)"
            )));
        }
        if terms == 0 {
            return Err(DataError::invalid(
                "SmoothFunction: terms 0 (need at least 1)",
            ));
        }
        let mut rng = Rng::seed(derive_seed(seed, FUNCTION_STREAM));
        let (w_low, w_high) = FREQUENCY_RANGE;
        let mut drawn: Vec<Term> = (0..terms)
            .map(|_| {
                let order = if dims >= 3 { 2 + rng.below(2) } else { 2 };
                let mut inputs = rng.permutation(dims);
                inputs.truncate(order);
                inputs.sort_unstable();
                let factors = inputs
                    .into_iter()
                    .map(|input| Factor {
                        input,
                        frequency: w_low + (w_high - w_low) * rng.uniform_f64(),
                        phase: TAU * rng.uniform_f64(),
                    })
                    .collect();
                // Magnitude in [0.5, 1.5) and a random sign, before scaling to unit variance.
                let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                Term {
                    amplitude: sign * (0.5 + rng.uniform_f64()),
                    factors,
                }
            })
            .collect();
        let variance = moments(dims, &drawn).1;
        // Every term is a non-constant function of its inputs (w >= 0.5), so the variance is
        // positive; the check keeps a degenerate draw from becoming a division by zero.
        if !(variance.is_finite() && variance > 0.0) {
            return Err(DataError::invalid(format!(
                "SmoothFunction: seed {seed} drew a function of variance {variance}; try another seed"
            )));
        }
        let scale = variance.sqrt().recip();
        for term in &mut drawn {
            term.amplitude *= scale;
        }
        Ok(SmoothFunction { dims, terms: drawn })
    }

    /// Number of inputs `d`.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of terms `K`.
    pub fn terms(&self) -> usize {
        self.terms.len()
    }

    /// `f(x)`, computed in `f64`.
    ///
    /// # Panics
    /// If `x.len() != dims()`.
    pub fn eval(&self, x: &[f32]) -> f32 {
        assert_eq!(
            x.len(),
            self.dims,
            "SmoothFunction::eval: a point of {} coordinates for a function of {} inputs",
            x.len(),
            self.dims
        );
        self.value(|j| f64::from(x[j])) as f32
    }

    /// `f` at the point whose coordinate `j` is `x(j)`.
    fn value(&self, x: impl Fn(usize) -> f64) -> f64 {
        self.terms
            .iter()
            .map(|term| {
                term.amplitude
                    * term
                        .factors
                        .iter()
                        .map(|f| (f.frequency * x(f.input) + f.phase).sin())
                        .product::<f64>()
            })
            .sum()
    }
}

/// `sin c / c`, and 1 at `c = 0`.
fn sinc(c: f64) -> f64 {
    if c == 0.0 { 1.0 } else { c.sin() / c }
}

/// `E[sin(w x + φ)]` for `x` uniform on `[-1, 1]`: `sin φ · sinc w`.
fn mean_of_sine(f: &Factor) -> f64 {
    f.phase.sin() * sinc(f.frequency)
}

/// `E[sin(a x + φ) sin(b x + ψ)]` for `x` uniform on `[-1, 1]`, from
/// `sin u sin v = (cos(u - v) - cos(u + v)) / 2`.
fn mean_of_product(f: &Factor, g: &Factor) -> f64 {
    0.5 * ((f.phase - g.phase).cos() * sinc(f.frequency - g.frequency)
        - (f.phase + g.phase).cos() * sinc(f.frequency + g.frequency))
}

/// The mean and variance of `Σ_k a_k T_k` for `x` uniform on `[-1, 1]^dims`, in closed form:
/// inputs are independent, so `E[T_k]` and `E[T_k T_l]` factor over inputs.
fn moments(dims: usize, terms: &[Term]) -> (f64, f64) {
    let term_mean = |term: &Term| -> f64 { term.factors.iter().map(mean_of_sine).product::<f64>() };
    let mean: f64 = terms.iter().map(|t| t.amplitude * term_mean(t)).sum();
    let mut second_moment = 0.0;
    for k in terms {
        for l in terms {
            let joint: f64 = (0..dims)
                .map(|j| match (k.factor(j), l.factor(j)) {
                    (Some(f), Some(g)) => mean_of_product(f, g),
                    (Some(f), None) | (None, Some(f)) => mean_of_sine(f),
                    (None, None) => 1.0,
                })
                .product();
            second_moment += k.amplitude * l.amplitude * joint;
        }
    }
    (mean, second_moment - mean * mean)
}

/// `n` samples of the [`SmoothFunction`] `SmoothFunction::new(dims, terms, seed)`: inputs
/// `[n, dims]` row-major, uniform in `[-1, 1)`, and targets `[n, 1]` = `f(x)` plus Gaussian noise
/// of standard deviation `noise` (0 for none).
///
/// Deterministic from `seed`. The inputs do not depend on `noise`, and the first `m` samples of
/// `n > m` are the `m` samples.
pub fn smooth_regression(
    n: usize,
    dims: usize,
    terms: usize,
    noise: f64,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    if n == 0 {
        return Err(DataError::invalid(
            "smooth_regression: n 0 (need at least 1 sample)",
        ));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(DataError::invalid(format!(
            "smooth_regression: noise {noise} (must be finite and non-negative)"
        )));
    }
    let f = SmoothFunction::new(dims, terms, seed)?;
    let mut rng = Rng::seed(derive_seed(seed, SAMPLE_STREAM));
    let mut inputs = Vec::with_capacity(n * dims);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let start = inputs.len();
        // 2u - 1 is exact in f32 for u on the 2^-24 grid.
        inputs.extend((0..dims).map(|_| 2.0 * rng.uniform_f32() - 1.0));
        let x = &inputs[start..];
        // The noise sample is drawn even when `noise` is 0, so the inputs do not depend on it.
        let epsilon = f64::from(rng.normal_f32());
        targets.push((f.value(|j| f64::from(x[j])) + noise * epsilon) as f32);
    }
    Ok((inputs, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_one_term_by_hand() {
        // One term sin(x_0) sin(x_1) with a = 1, w = 1, φ = 0: E[sin x] = 0 (odd), and
        // E[sin² x] = 1/2 - sin(2)/4 ≈ 0.272676, so Var = E[sin² x_0] E[sin² x_1] ≈ 0.074352.
        let factor = |input| Factor {
            input,
            frequency: 1.0,
            phase: 0.0,
        };
        let term = Term {
            amplitude: 1.0,
            factors: vec![factor(0), factor(1)],
        };
        let (mean, variance) = moments(3, &[term]);
        let e_sin2 = 0.5 - 2f64.sin() / 4.0;
        assert!(mean.abs() < 1e-15);
        assert!((variance - e_sin2 * e_sin2).abs() < 1e-15);
        assert!((variance - 0.074_352).abs() < 1e-6);
    }

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        let a = SmoothFunction::new(4, 6, 11).unwrap();
        assert_eq!(a, SmoothFunction::new(4, 6, 11).unwrap());
        let b = SmoothFunction::new(4, 6, 12).unwrap();
        assert_ne!(a, b);
        let x = [0.3, -0.7, 0.1, 0.9];
        assert_ne!(a.eval(&x), b.eval(&x));
        assert_eq!(
            smooth_regression(50, 4, 6, 0.1, 3).unwrap(),
            smooth_regression(50, 4, 6, 0.1, 3).unwrap()
        );
        assert_ne!(
            smooth_regression(50, 4, 6, 0.1, 3).unwrap(),
            smooth_regression(50, 4, 6, 0.1, 4).unwrap()
        );
    }

    #[test]
    fn terms_follow_the_definition() {
        for (dims, seed) in [(2, 0), (3, 1), (4, 2), (10, 3)] {
            let f = SmoothFunction::new(dims, 20, seed).unwrap();
            assert_eq!((f.dims(), f.terms()), (dims, 20));
            for term in &f.terms {
                let inputs: Vec<usize> = term.factors.iter().map(|f| f.input).collect();
                assert!(matches!(inputs.len(), 2 | 3), "{inputs:?}");
                assert!(
                    inputs.windows(2).all(|w| w[0] < w[1]),
                    "distinct: {inputs:?}"
                );
                assert!(inputs.iter().all(|&j| j < dims));
                for factor in &term.factors {
                    assert!((0.5..=2.0).contains(&factor.frequency));
                    assert!((0.0..TAU).contains(&factor.phase));
                }
            }
        }
        // With 3 or more inputs both orders occur.
        let f = SmoothFunction::new(4, 20, 5).unwrap();
        let orders: Vec<usize> = f.terms.iter().map(|t| t.factors.len()).collect();
        assert!(orders.contains(&2) && orders.contains(&3), "{orders:?}");
    }

    #[test]
    fn non_separable_only_through_shared_terms() {
        // The mixed difference f(x + h e_i + h e_j) - f(x + h e_i) - f(x + h e_j) + f(x) is 0 for
        // every x when f is a sum of functions of one input each; here it is non-zero exactly for
        // pairs of inputs that share a term.
        let h = 0.25;
        let x0 = [-0.4, 0.2, 0.6, -0.1];
        for seed in 0..5 {
            let f = SmoothFunction::new(4, 6, seed).unwrap();
            // f at x0 with the listed inputs moved by h.
            let at =
                |moved: &[usize]| f.value(|k| if moved.contains(&k) { x0[k] + h } else { x0[k] });
            let mut largest: f64 = 0.0;
            for i in 0..4 {
                for j in (i + 1)..4 {
                    let d = at(&[i, j]) - at(&[i]) - at(&[j]) + at(&[]);
                    let share = f
                        .terms
                        .iter()
                        .any(|t| t.factor(i).is_some() && t.factor(j).is_some());
                    if !share {
                        assert!(d.abs() < 1e-12, "seed {seed}, inputs {i} {j}: {d}");
                    }
                    largest = largest.max(d.abs());
                }
            }
            assert!(
                largest > 1e-3,
                "seed {seed}: largest mixed difference {largest}"
            );
        }
    }

    #[test]
    fn variance_is_one_in_closed_form_and_by_sampling() {
        for (dims, terms, seed) in [(4, 6, 0), (2, 3, 1), (8, 12, 2), (3, 1, 3)] {
            let f = SmoothFunction::new(dims, terms, seed).unwrap();
            let (mean, variance) = moments(dims, &f.terms);
            assert!((variance - 1.0).abs() < 1e-12, "{variance}");
            // The slow reference: 200,000 samples. The standard error of the sample variance is
            // about sqrt(Var((f - mean)²) / n) < 0.01 for these bounded functions.
            let n = 200_000;
            let (_, y) = smooth_regression(n, dims, terms, 0.0, seed).unwrap();
            let m = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            let v = y.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - mean).abs() < 0.02, "dims {dims}: mean {m} vs {mean}");
            assert!((v - 1.0).abs() < 0.04, "dims {dims}: variance {v}");
        }
    }

    #[test]
    fn samples_are_the_function_plus_noise() {
        let (x, y) = smooth_regression(1000, 4, 6, 0.0, 9).unwrap();
        assert_eq!((x.len(), y.len()), (4000, 1000));
        assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
        let f = SmoothFunction::new(4, 6, 9).unwrap();
        for (row, &target) in x.chunks_exact(4).zip(&y) {
            assert_eq!(f.eval(row), target);
        }
        // Same inputs with noise; the residuals have standard deviation ≈ 0.3 (standard error
        // 0.3 / sqrt(2000) ≈ 0.005).
        let (x_noisy, y_noisy) = smooth_regression(1000, 4, 6, 0.3, 9).unwrap();
        assert_eq!(x_noisy, x);
        let residual_var = y_noisy
            .iter()
            .zip(&y)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / 1000.0;
        assert!((residual_var.sqrt() - 0.3).abs() < 0.03, "{residual_var}");
        // A shorter run is a prefix of a longer one.
        let (x_short, y_short) = smooth_regression(10, 4, 6, 0.3, 9).unwrap();
        assert_eq!(
            (&x_short[..], &y_short[..]),
            (&x_noisy[..40], &y_noisy[..10])
        );
    }

    #[test]
    fn bad_arguments() {
        for (dims, terms) in [(0, 6), (1, 6), (4, 0)] {
            assert!(
                matches!(
                    SmoothFunction::new(dims, terms, 0),
                    Err(DataError::Invalid { .. })
                ),
                "dims {dims}, terms {terms}"
            );
            assert!(smooth_regression(10, dims, terms, 0.0, 0).is_err());
        }
        assert!(smooth_regression(0, 4, 6, 0.0, 0).is_err());
        for noise in [-0.1, f64::NAN, f64::INFINITY] {
            let e = smooth_regression(10, 4, 6, noise, 0).unwrap_err();
            assert!(e.to_string().contains("noise"), "{e}");
        }
    }

    #[test]
    #[should_panic(expected = "3 coordinates for a function of 4 inputs")]
    fn eval_checks_the_point_length() {
        SmoothFunction::new(4, 6, 0).unwrap().eval(&[0.0; 3]);
    }
}
