//! Infinite-width kernel recursions.
//!
//! **NTK parametrisation with beta** (Jacot et al., arXiv:1806.07572): `a~^(l+1) = W a^(l) /
//! sqrt(n_l) + beta b`, all weights N(0, 1). NNGP: `Sigma^(1) = x.x'/n_0 + beta^2`,
//! `Sigma^(l+1) = E[phi(u) phi(v)] + beta^2` over `(u, v) ~ N(0, Sigma^(l))`; NTK:
//! `Theta^(1) = Sigma^(1)`, `Theta^(l+1) = Theta^(l) Sigmadot^(l+1) + Sigma^(l+1)` with
//! `Sigmadot^(l+1) = E[phi'(u) phi'(v)]`. `depth` counts weight layers, so the output kernel is
//! `Theta^(depth)`.
//!
//! **Sphere-normalised duals** (Radhakrishnan et al., arXiv:2204.14126): on the unit sphere with
//! `phi_hat(1) = 1`, `S^(l+1) = phi_hat(S^(l))`, `Theta^(l+1) = Theta^(l) phi_hat'(S^(l)) +
//! phi_hat(S^(l))`, `S^(0) = Theta^(0) = x.x'`.
//!
//! **Standard-parametrisation last-layer limit**: in standard parametrisation the output-layer
//! term dominates the NTK as the width grows, so the kernel of a one-hidden-layer net is the NNGP
//! of its hidden layer, `E[phi(u) phi(v)]` with `(u, v)` of covariance
//! `sigma_w^2 x.x'/n_0 + sigma_b^2`.

use super::dual::{Duals, arc_cosine_0, arc_cosine_1};
use super::linalg::Matrix;
use crate::TheoryError;

/// The NNGP and NTK of a deep net in NTK parametrisation.
#[derive(Debug, Clone)]
pub struct NtkKernels {
    /// `Sigma^(depth)`, `[n, n]`.
    pub nngp: Matrix,
    /// `Theta^(depth)`, `[n, n]`.
    pub ntk: Matrix,
}

/// The kernels of a `depth`-weight-layer net at the rows of `x` (`[n, n_0]`).
pub fn ntk_parametrisation(
    x: &Matrix,
    depth: usize,
    beta: f64,
    duals: &Duals,
) -> Result<NtkKernels, TheoryError> {
    if depth == 0 {
        return Err(TheoryError::numerical(
            "NTK recursion",
            "depth must be at least 1",
        ));
    }
    let n = x.nrows();
    let n0 = x.ncols() as f64;
    let b2 = beta * beta;
    let mut sigma = Matrix::from_fn(n, n, |i, j| {
        (0..x.ncols()).map(|k| x[(i, k)] * x[(j, k)]).sum::<f64>() / n0 + b2
    });
    let mut theta = sigma.clone();
    for _ in 1..depth {
        let mut next_sigma = Matrix::zeros(n, n);
        let mut next_theta = Matrix::zeros(n, n);
        for i in 0..n {
            for j in 0..=i {
                let (phi, dphi) = duals.pair(sigma[(i, i)], sigma[(j, j)], sigma[(i, j)]);
                let s = phi + b2;
                let t = theta[(i, j)] * dphi + s;
                next_sigma[(i, j)] = s;
                next_sigma[(j, i)] = s;
                next_theta[(i, j)] = t;
                next_theta[(j, i)] = t;
            }
        }
        sigma = next_sigma;
        theta = next_theta;
    }
    Ok(NtkKernels {
        nngp: sigma,
        ntk: theta,
    })
}

/// A sphere-normalised dual `xi -> (phi_hat(xi), phi_hat'(xi))` with `phi_hat(1) = 1`.
#[derive(Debug, Clone)]
pub enum SphereDual {
    /// ReLU: `phi_hat(xi) = (sqrt(1 - xi^2) + (pi - acos xi) xi)/pi`, `phi_hat' = (pi - acos xi)/pi`.
    ArcCosine,
    /// `phi = sum_k a_k h_k` given by `a_k^2` (normalised to sum 1): `phi_hat = sum a_k^2 xi^k`.
    Hermite(Vec<f64>),
    /// Any activation by quadrature: `E[phi(u) phi(v)] / E[phi^2]` at unit variances.
    Quadrature(Box<Duals>),
}

impl SphereDual {
    /// From squared Hermite coefficients `a_k^2` (normalised here to sum to 1).
    pub fn hermite(squares: &[f64]) -> Result<Self, TheoryError> {
        let total: f64 = squares.iter().sum();
        if !(total.is_finite() && total > 0.0) || squares.iter().any(|a| *a < 0.0) {
            return Err(TheoryError::numerical(
                "sphere dual",
                format!(
                    "squared Hermite coefficients must be >= 0 with a positive sum, got {squares:?}"
                ),
            ));
        }
        Ok(Self::Hermite(squares.iter().map(|a| a / total).collect()))
    }

    /// `(phi_hat(xi), phi_hat'(xi))`.
    pub fn eval(&self, xi: f64) -> (f64, f64) {
        let xi = xi.clamp(-1.0, 1.0);
        match self {
            Self::ArcCosine => {
                let theta = xi.acos();
                let pi = std::f64::consts::PI;
                (
                    ((1.0 - xi * xi).max(0.0).sqrt() + (pi - theta) * xi) / pi,
                    (pi - theta) / pi,
                )
            }
            Self::Hermite(a2) => {
                let (mut value, mut deriv, mut power) = (0.0, 0.0, 1.0);
                for (k, &a) in a2.iter().enumerate() {
                    value += a * power;
                    if k + 1 < a2.len() {
                        deriv += (k + 1) as f64 * a2[k + 1] * power;
                    }
                    power *= xi;
                }
                (value, deriv)
            }
            Self::Quadrature(duals) => {
                let norm = duals.moments(1.0).phi2;
                let (p, d) = duals.pair(1.0, 1.0, xi);
                (p / norm, d / norm)
            }
        }
    }
}

/// `(S^(depth), Theta^(depth))` of one pair with `x.x' = xi` on the unit sphere.
pub fn sphere_ntk(xi: f64, depth: usize, dual: &SphereDual) -> (f64, f64) {
    let (mut s, mut theta) = (xi, xi);
    for _ in 0..depth {
        let (p, d) = dual.eval(s);
        theta = theta * d + p;
        s = p;
    }
    (s, theta)
}

/// The standard-parametrisation last-layer kernel `E[phi(u) phi(v)]`, `(u, v)` of covariance
/// `sigma_w2 x.x'/n_0 + sigma_b2`, between the rows of `a` (`[n, n_0]`) and of `b` (`[m, n_0]`).
pub fn standard_last_layer(
    a: &Matrix,
    b: &Matrix,
    sigma_w2: f64,
    sigma_b2: f64,
    duals: &Duals,
) -> Matrix {
    let n0 = a.ncols() as f64;
    let dot = |x: &Matrix, i: usize, y: &Matrix, j: usize| {
        (0..x.ncols()).map(|k| x[(i, k)] * y[(j, k)]).sum::<f64>() * sigma_w2 / n0 + sigma_b2
    };
    Matrix::from_fn(a.nrows(), b.nrows(), |i, j| {
        let (aa, bb, ab) = (dot(a, i, a, i), dot(b, j, b, j), dot(a, i, b, j));
        if duals.activation.is_relu() {
            arc_cosine_1(aa, bb, ab)
        } else {
            duals.pair(aa, bb, ab).0
        }
    })
}

/// The ReLU derivative kernel of [`standard_last_layer`] (`E[relu'(u) relu'(v)]`), for probes
/// that need the first-layer NTK term.
pub fn standard_first_layer_derivative(
    a: &Matrix,
    b: &Matrix,
    sigma_w2: f64,
    sigma_b2: f64,
) -> Matrix {
    let n0 = a.ncols() as f64;
    let dot = |x: &Matrix, i: usize, y: &Matrix, j: usize| {
        (0..x.ncols()).map(|k| x[(i, k)] * y[(j, k)]).sum::<f64>() * sigma_w2 / n0 + sigma_b2
    };
    Matrix::from_fn(a.nrows(), b.nrows(), |i, j| {
        arc_cosine_0(dot(a, i, a, i), dot(b, j, b, j), dot(a, i, b, j))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::linalg::from_rows;

    /// Jacot set-up (notes 3.4a, and neural-tangents 0.6.5 in the pinned environment): 4 weight
    /// layers, ReLU, beta = 0.1, inputs on the unit circle (n_0 = 2):
    /// Theta(x0, x0) = 0.2825, Theta(x0, x0 rotated by pi/2) = 0.09270, Theta(x0, -x0) = 0.06435.
    #[test]
    fn relu_ntk_matches_the_notes_and_neural_tangents() {
        let x = from_rows(3, 2, &[1.0, 0.0, 0.0, 1.0, -1.0, 0.0]);
        let k = ntk_parametrisation(&x, 4, 0.1, &Duals::from_spec("relu").unwrap()).unwrap();
        assert!((k.ntk[(0, 0)] - 0.2825).abs() < 1e-4, "{}", k.ntk[(0, 0)]);
        assert!((k.ntk[(0, 1)] - 0.09270).abs() < 1e-4, "{}", k.ntk[(0, 1)]);
        assert!((k.ntk[(0, 2)] - 0.06435).abs() < 1e-4, "{}", k.ntk[(0, 2)]);
    }

    /// One layer by hand: Sigma^(1) = x.x'/2 + 0.01 = 0.51 on the diagonal; depth 2 diagonal:
    /// Sigma^(2) = 0.51/2 + 0.01 = 0.265, Theta^(2) = 0.51 * 1/2 + 0.265 = 0.52.
    #[test]
    fn two_layers_by_hand() {
        let x = from_rows(1, 2, &[1.0, 0.0]);
        let k = ntk_parametrisation(&x, 2, 0.1, &Duals::from_spec("relu").unwrap()).unwrap();
        assert!((k.nngp[(0, 0)] - 0.265).abs() < 1e-14);
        assert!((k.ntk[(0, 0)] - 0.52).abs() < 1e-14);
    }

    #[test]
    fn sphere_duals_agree_across_representations() {
        // ReLU closed form vs quadrature vs 60 Hermite terms
        let arc = SphereDual::ArcCosine;
        let quad = SphereDual::Quadrature(Box::new(
            Duals::with_nodes(crate::kernels::ScalarActivation::Relu, 200, 200).unwrap(),
        ));
        let coeffs =
            super::super::dual::hermite_coefficients(&Duals::from_spec("relu").unwrap(), 60);
        let herm = SphereDual::hermite(&coeffs.iter().map(|a| a * a).collect::<Vec<_>>()).unwrap();
        for xi in [-0.9, -0.3, 0.0, 0.4, 0.8, 1.0] {
            let (p, d) = arc.eval(xi);
            // ReLU's Hermite series converges slowly (a_k^2 ~ k^{-5/2}): 60 terms give ~1e-3
            assert!((herm.eval(xi).0 - p).abs() < 2e-3, "{xi}");
            assert!((quad.eval(xi).0 - p).abs() < 1e-3, "{xi}");
            if xi < 1.0 {
                assert!((quad.eval(xi).1 - d).abs() < 1e-2, "{xi}");
            }
        }
        // phi_hat(1) = 1 and phi_hat'(1) = 1 for ReLU; Hermite a^2 = [0, 0, .5, .5]: phi_hat(1) = 1, phi_hat'(1) = 2.5
        assert_eq!(arc.eval(1.0), (1.0, 1.0));
        let h = SphereDual::hermite(&[0.0, 0.0, 0.5, 0.5]).unwrap();
        assert_eq!(h.eval(1.0), (1.0, 2.5));
        // at xi = 0.5: 0.5*0.25 + 0.5*0.125 = 0.1875; derivative 2*0.5*0.5 + 3*0.5*0.25 = 0.875
        let (p, d) = h.eval(0.5);
        assert!((p - 0.1875).abs() < 1e-15 && (d - 0.875).abs() < 1e-15);
        assert!(SphereDual::hermite(&[0.0, 0.0]).is_err());
    }

    /// ReLU sphere NTK of depth 1 at xi: phi_hat'(xi) xi + phi_hat(xi); at xi = 1: 2.
    #[test]
    fn sphere_ntk_depth_one() {
        let (s, t) = sphere_ntk(1.0, 1, &SphereDual::ArcCosine);
        assert_eq!((s, t), (1.0, 2.0));
    }
}
