//! Gauss-Hermite quadrature for Gaussian expectations: `E_{z~N(0,1)}[f(z)] ≈ Σ_i w_i f(x_i)`,
//! exact for polynomials of degree below `2n`. Nodes and weights come from the Golub-Welsch
//! method: the nodes are the eigenvalues of the Jacobi matrix of the probabilists' Hermite
//! polynomials (`x He_k = He_{k+1} + k He_{k-1}`, off-diagonal `sqrt(k)`). The weights are the
//! Christoffel numbers `w_i = 1 / sum_{k<n} h_k(x_i)^2` with the orthonormal `h_k = He_k /
//! sqrt(k!)`: unlike squared eigenvector components, whose absolute error of about 1e-16 swamps
//! the outer weights (about 1e-170 at 200 nodes), they are accurate relative to their size, which
//! high-order Hermite coefficients need. Nodes are symmetrised so odd functions integrate to
//! exactly 0 and the ReLU kink at 0 splits the rule into two exact halves (PDLT pitfall: few
//! nodes are inaccurate at the kink; with an even, symmetric rule `E[relu'(z)^2] = 1/2` exactly).

use faer::Mat;

use super::linalg::symmetric_eigen;
use crate::TheoryError;

/// Nodes and weights of an n-point rule for the standard normal.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussHermite {
    pub nodes: Vec<f64>,
    /// Positive, summing to 1.
    pub weights: Vec<f64>,
}

impl GaussHermite {
    /// The n-point rule (n >= 1; the notes use 200).
    pub fn new(n: usize) -> Result<Self, TheoryError> {
        if n == 0 {
            return Err(TheoryError::numerical(
                "Gauss-Hermite rule",
                "needs at least one node",
            ));
        }
        let jacobi = Mat::from_fn(n, n, |i, j| {
            if i + 1 == j || j + 1 == i {
                (i.max(j) as f64).sqrt()
            } else {
                0.0
            }
        });
        let (values, _) = symmetric_eigen(&jacobi)?;
        let christoffel = |x: f64| {
            // h_{k+1} = (x h_k - sqrt(k) h_{k-1}) / sqrt(k + 1)
            let (mut prev, mut cur, mut total) = (0.0f64, 1.0f64, 0.0f64);
            for k in 0..n {
                total += cur * cur;
                let next = (x * cur - (k as f64).sqrt() * prev) / ((k + 1) as f64).sqrt();
                prev = cur;
                cur = next;
            }
            1.0 / total
        };
        let mut pairs: Vec<(f64, f64)> = values.iter().map(|&x| (x, christoffel(x))).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Symmetrise: x_i = -x_{n-1-i} and w_i = w_{n-1-i} hold exactly in theory.
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        for i in 0..n {
            let j = n - 1 - i;
            nodes[i] = 0.5 * (pairs[i].0 - pairs[j].0);
            weights[i] = 0.5 * (pairs[i].1 + pairs[j].1);
        }
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        Ok(Self { nodes, weights })
    }

    /// `E_{z~N(0, variance)}[f(z)]`.
    pub fn expect(&self, variance: f64, f: impl Fn(f64) -> f64) -> f64 {
        let scale = variance.max(0.0).sqrt();
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&x, &w)| w * f(scale * x))
            .sum()
    }

    /// `E[f(u, v)]` for `(u, v)` zero-mean Gaussian with `Var u = a`, `Var v = b`,
    /// `Cov(u, v) = c`, by the product rule over `u = sqrt(a) z1`,
    /// `v = sqrt(b) (rho z1 + sqrt(1 - rho^2) z2)`.
    pub fn expect2(&self, a: f64, b: f64, c: f64, f: impl Fn(f64, f64) -> f64) -> f64 {
        let (sa, sb) = (a.max(0.0).sqrt(), b.max(0.0).sqrt());
        let rho = if sa * sb > 0.0 {
            (c / (sa * sb)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let perp = (1.0 - rho * rho).max(0.0).sqrt();
        let mut total = 0.0;
        for (&x1, &w1) in self.nodes.iter().zip(&self.weights) {
            let u = sa * x1;
            let mut inner = 0.0;
            for (&x2, &w2) in self.nodes.iter().zip(&self.weights) {
                inner += w2 * f(u, sb * (rho * x1 + perp * x2));
            }
            total += w1 * inner;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_the_standard_normal() {
        let rule = GaussHermite::new(200).unwrap();
        // E z^2 = 1, E z^4 = 3, E z^6 = 15, E z^8 = 105; E cos z = e^{-1/2} = 0.6065306597
        assert!((rule.expect(1.0, |z| z * z) - 1.0).abs() < 1e-12);
        assert!((rule.expect(1.0, |z| z.powi(4)) - 3.0).abs() < 1e-11);
        assert!((rule.expect(1.0, |z| z.powi(6)) - 15.0).abs() < 1e-10);
        assert!((rule.expect(1.0, |z| z.powi(8)) - 105.0).abs() < 1e-9);
        assert!((rule.expect(1.0, f64::cos) - (-0.5f64).exp()).abs() < 1e-13);
        // Var 2.5: E z^4 = 3 * 2.5^2 = 18.75
        assert!((rule.expect(2.5, |z| z.powi(4)) - 18.75).abs() < 1e-10);
        // the ReLU halves are exact: E[1{z>0}] = 1/2, E[z^2 1{z>0}] = 1/2
        assert!((rule.expect(1.0, |z| f64::from(u8::from(z > 0.0))) - 0.5).abs() < 1e-15);
        assert!((rule.expect(1.0, |z| if z > 0.0 { z * z } else { 0.0 }) - 0.5).abs() < 1e-14);
    }

    #[test]
    fn a_small_rule_matches_its_textbook_nodes() {
        // n = 3: nodes 0, ±sqrt(3), weights 2/3, 1/6, 1/6 (probabilists' Hermite He_3 = x^3 - 3x)
        let rule = GaussHermite::new(3).unwrap();
        assert!((rule.nodes[2] - 3f64.sqrt()).abs() < 1e-14 && rule.nodes[1] == 0.0);
        assert!((rule.weights[1] - 2.0 / 3.0).abs() < 1e-14);
        assert!((rule.weights[0] - 1.0 / 6.0).abs() < 1e-14);
        assert!(GaussHermite::new(0).is_err());
    }

    #[test]
    fn bivariate_moments() {
        let rule = GaussHermite::new(40).unwrap();
        // E[u v] = c; E[u^2 v^2] = ab + 2c^2 (Isserlis): a=2, b=0.5, c=0.6 -> 1 + 0.72 = 1.72
        assert!((rule.expect2(2.0, 0.5, 0.6, |u, v| u * v) - 0.6).abs() < 1e-13);
        assert!((rule.expect2(2.0, 0.5, 0.6, |u, v| u * u * v * v) - 1.72).abs() < 1e-12);
    }
}
