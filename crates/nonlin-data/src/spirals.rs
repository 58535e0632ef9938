//! The two-spirals classification task, generated from a seed.
//!
//! Lang and Witbrock, "Learning to Tell Two Spirals Apart" (Proc. 1988 Connectionist Models Summer
//! School). Point `i` of `n` lies at angle `θ_i = π/2 + 3π i / n` and radius `r_i = θ_i / (3.5π)`
//! (so `r ≤ 1`); class 0 is `(r cos θ, r sin θ)`, class 1 the same point turned by π, i.e.
//! `-(r cos θ, r sin θ)`. Each coordinate then gets Gaussian noise of standard deviation `noise`.

use std::f64::consts::PI;

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::rng::Rng;

/// `2 * n_per_class` points with 2 features and 2 classes: all of class 0, then all of class 1.
///
/// Deterministic from `seed`; with `noise = 0` the seed does not matter.
pub fn two_spirals(n_per_class: usize, noise: f32, seed: u64) -> Result<Dataset, DataError> {
    if n_per_class == 0 {
        return Err(DataError::invalid(
            "two_spirals: n_per_class 0 (need at least 1)",
        ));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(DataError::invalid(format!(
            "two_spirals: noise {noise} (must be finite and non-negative)"
        )));
    }
    let mut rng = Rng::seed(seed);
    let mut x = Vec::with_capacity(4 * n_per_class);
    let mut y = Vec::with_capacity(2 * n_per_class);
    for class in 0..2u32 {
        let sign = if class == 0 { 1.0 } else { -1.0 };
        for i in 0..n_per_class {
            let theta = PI / 2.0 + 3.0 * PI * i as f64 / n_per_class as f64;
            let r = theta / (3.5 * PI);
            let px = (sign * r * theta.cos()) as f32 + noise * rng.normal_f32();
            let py = (sign * r * theta.sin()) as f32 + noise * rng.normal_f32();
            x.push(px);
            x.push(py);
            y.push(class);
        }
    }
    Dataset::new("two-spirals", x, vec![2], y, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_points_by_hand() {
        // n = 2, i = 0: θ = π/2, r = (π/2) / (3.5π) = 1/7, so class 0 starts at (0, 1/7) and
        // class 1 at (0, -1/7). i = 1: θ = π/2 + 3π/2 = 2π, r = 2/3.5 = 4/7, point (4/7, 0).
        let d = two_spirals(2, 0.0, 0).unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d.sample_shape, vec![2]);
        assert_eq!(d.labels().unwrap(), &[0, 0, 1, 1]);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(d.sample(0)[0], 0.0) && close(d.sample(0)[1], 1.0 / 7.0));
        assert!(close(d.sample(1)[0], 4.0 / 7.0) && close(d.sample(1)[1], 0.0));
        assert!(close(d.sample(2)[0], 0.0) && close(d.sample(2)[1], -1.0 / 7.0));
    }

    #[test]
    fn deterministic_from_seed() {
        let a = two_spirals(100, 0.05, 7).unwrap();
        let b = two_spirals(100, 0.05, 7).unwrap();
        let c = two_spirals(100, 0.05, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.x, c.x);
        assert_eq!(a.class_counts(), vec![100, 100]);
    }

    #[test]
    fn bad_arguments() {
        assert!(two_spirals(0, 0.0, 0).is_err());
        assert!(two_spirals(5, -0.1, 0).is_err());
        assert!(two_spirals(5, f32::NAN, 0).is_err());
    }
}
