//! Dual activations: Gaussian expectations of an activation and its derivative over pairs of
//! correlated pre-activations, `E[phi(u) phi(v)]` and `E[phi'(u) phi'(v)]` for
//! `(u, v) ~ N(0, [[a, c], [c, b]])`, and the single-input moments the criticality analysis needs.
//!
//! ReLU has the arc-cosine closed forms (Cho and Saul 2009): with `cos theta = c / sqrt(ab)`,
//! `E[relu(u) relu(v)] = sqrt(ab) (sin theta + (pi - theta) cos theta) / (2 pi)` and
//! `E[relu'(u) relu'(v)] = (pi - theta) / (2 pi)`. Leaky ReLU (and shared-slope PReLU) follow from
//! `phi(x) = relu(x) - alpha relu(-x)`, the identity trivially; every other activation uses 2-D
//! Gauss-Hermite quadrature. `hermite_coefficients` gives `phi = sum_k a_k h_k` in the normalised
//! Hermite basis, so that the unit-variance dual is `sum_k a_k^2 rho^k`.

use std::f64::consts::PI;

use super::gauss_hermite::GaussHermite;
use super::scalar_activation::ScalarActivation;
use crate::TheoryError;

/// Node counts of the default rules: 200 for one dimension (the notes' [ours] setting), 100 per
/// axis for two (10^4 evaluations per kernel entry).
pub const NODES_1D: usize = 200;
pub const NODES_2D: usize = 100;

/// The angle between `u` and `v` of covariance `[[a, c], [c, b]]`, in `[0, pi]`.
fn angle(a: f64, b: f64, c: f64) -> (f64, f64) {
    let norm = (a * b).max(0.0).sqrt();
    if norm == 0.0 {
        return (0.0, PI / 2.0);
    }
    let cos = (c / norm).clamp(-1.0, 1.0);
    (norm, cos.acos())
}

/// `E[relu(u) relu(v)]`, the degree-1 arc-cosine kernel.
pub fn arc_cosine_1(a: f64, b: f64, c: f64) -> f64 {
    let (norm, theta) = angle(a, b, c);
    norm * (theta.sin() + (PI - theta) * theta.cos()) / (2.0 * PI)
}

/// `E[relu'(u) relu'(v)]`, the degree-0 arc-cosine kernel.
pub fn arc_cosine_0(a: f64, b: f64, c: f64) -> f64 {
    let (norm, theta) = angle(a, b, c);
    if norm == 0.0 {
        return 0.25;
    }
    (PI - theta) / (2.0 * PI)
}

/// Single-input Gaussian moments at variance K.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// `<phi^2>_K`
    pub phi2: f64,
    /// `<phi'^2>_K`
    pub dphi2: f64,
    /// `<phi' phi z>_K`
    pub dphi_phi_z: f64,
    /// `<phi^4>_K`
    pub phi4: f64,
}

/// The dual activation of one activation: its expectations under Gaussian pre-activations.
#[derive(Debug, Clone)]
pub struct Duals {
    pub activation: ScalarActivation,
    rule: GaussHermite,
    rule2: GaussHermite,
}

impl Duals {
    /// With the default rules (200 nodes in 1-D, 100 x 100 in 2-D).
    pub fn new(activation: ScalarActivation) -> Result<Self, TheoryError> {
        Self::with_nodes(activation, NODES_1D, NODES_2D)
    }

    /// With `n1` nodes for single-input moments and `n2 x n2` for pairs.
    pub fn with_nodes(
        activation: ScalarActivation,
        n1: usize,
        n2: usize,
    ) -> Result<Self, TheoryError> {
        Ok(Self {
            activation,
            rule: GaussHermite::new(n1)?,
            rule2: GaussHermite::new(n2)?,
        })
    }

    /// From an activation spec (`"gelu"`, `"leaky_relu(negative_slope=0.2)"`, `"square"`).
    pub fn from_spec(spec: &str) -> Result<Self, TheoryError> {
        Self::new(ScalarActivation::from_spec(spec)?)
    }

    /// `(E[phi(u) phi(v)], E[phi'(u) phi'(v)])` for `Var u = a`, `Var v = b`, `Cov = c`: closed
    /// forms where they exist, quadrature otherwise.
    pub fn pair(&self, a: f64, b: f64, c: f64) -> (f64, f64) {
        match &self.activation {
            ScalarActivation::Relu => (arc_cosine_1(a, b, c), arc_cosine_0(a, b, c)),
            ScalarActivation::Leaky(alpha) => leaky_pair(*alpha, a, b, c),
            ScalarActivation::Identity => (c, 1.0),
            _ => self.pair_quadrature(a, b, c),
        }
    }

    /// As [`Duals::pair`], always by 2-D quadrature (the reference the closed forms are tested
    /// against).
    pub fn pair_quadrature(&self, a: f64, b: f64, c: f64) -> (f64, f64) {
        let rule = &self.rule2;
        let n = rule.nodes.len();
        let (sa, sb) = (a.max(0.0).sqrt(), b.max(0.0).sqrt());
        let rho = if sa * sb > 0.0 {
            (c / (sa * sb)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let perp = (1.0 - rho * rho).max(0.0).sqrt();
        let us: Vec<f64> = rule.nodes.iter().map(|&x| sa * x).collect();
        let mut vs = Vec::with_capacity(n * n);
        for &x1 in &rule.nodes {
            for &x2 in &rule.nodes {
                vs.push(sb * (rho * x1 + perp * x2));
            }
        }
        let (fu, du) = self.activation.eval_many(&us);
        let (fv, dv) = self.activation.eval_many(&vs);
        let (mut phi, mut dphi) = (0.0, 0.0);
        for i in 0..n {
            let (mut pi, mut di) = (0.0, 0.0);
            for j in 0..n {
                let w = rule.weights[j];
                pi += w * fv[i * n + j];
                di += w * dv[i * n + j];
            }
            phi += rule.weights[i] * fu[i] * pi;
            dphi += rule.weights[i] * du[i] * di;
        }
        (phi, dphi)
    }

    /// The single-input moments at variance `k`.
    pub fn moments(&self, k: f64) -> Moments {
        let scale = k.max(0.0).sqrt();
        let zs: Vec<f64> = self.rule.nodes.iter().map(|&x| scale * x).collect();
        let (f, d) = self.activation.eval_many(&zs);
        let mut m = Moments {
            phi2: 0.0,
            dphi2: 0.0,
            dphi_phi_z: 0.0,
            phi4: 0.0,
        };
        for (i, &w) in self.rule.weights.iter().enumerate() {
            m.phi2 += w * f[i] * f[i];
            m.dphi2 += w * d[i] * d[i];
            m.dphi_phi_z += w * d[i] * f[i] * zs[i];
            m.phi4 += w * f[i].powi(4);
        }
        m
    }

    /// `<f(phi(z), phi'(z), z)>_K` for any statistic `f`.
    pub fn expect(&self, k: f64, f: impl Fn(f64, f64, f64) -> f64) -> f64 {
        let scale = k.max(0.0).sqrt();
        let zs: Vec<f64> = self.rule.nodes.iter().map(|&x| scale * x).collect();
        let (v, d) = self.activation.eval_many(&zs);
        self.rule
            .weights
            .iter()
            .enumerate()
            .map(|(i, &w)| w * f(v[i], d[i], zs[i]))
            .sum()
    }

    /// The 1-D rule (for probes that integrate their own statistics).
    pub fn rule(&self) -> &GaussHermite {
        &self.rule
    }
}

/// Leaky ReLU `relu(x) - alpha relu(-x)`: with `E[relu(u) relu(-v)] = sqrt(ab)(sin theta - theta
/// cos theta)/(2 pi)` and the probabilities of each sign pattern, `E[phi phi] = sqrt(ab)[(1 +
/// alpha^2)(sin theta + (pi - theta) cos theta) - 2 alpha (sin theta - theta cos theta)]/(2 pi)` and
/// `E[phi' phi'] = [(1 + alpha^2)(pi - theta) + 2 alpha theta]/(2 pi)`.
fn leaky_pair(alpha: f64, a: f64, b: f64, c: f64) -> (f64, f64) {
    let (norm, theta) = angle(a, b, c);
    let (s, co) = (theta.sin(), theta.cos());
    let phi = norm
        * ((1.0 + alpha * alpha) * (s + (PI - theta) * co) - 2.0 * alpha * (s - theta * co))
        / (2.0 * PI);
    let dphi = ((1.0 + alpha * alpha) * (PI - theta) + 2.0 * alpha * theta) / (2.0 * PI);
    (phi, dphi)
}

/// The first `terms` coefficients of `phi` in the orthonormal Hermite basis
/// `h_k = He_k / sqrt(k!)`: `a_k = E[phi(z) h_k(z)]`, `z ~ N(0, 1)`. ReLU and leaky ReLU use the
/// closed forms (`a_0 = 1/sqrt(2 pi)`, `a_1 = 1/2`, `a_k = (-1)^{k/2 + 1} (k-3)!! / sqrt(2 pi k!)`
/// for even `k >= 2`, 0 for odd `k >= 3`; `relu(-z)` flips the odd ones), since Gauss-Hermite
/// converges slowly at the kink; other activations use quadrature.
pub fn hermite_coefficients(duals: &Duals, terms: usize) -> Vec<f64> {
    let relu = |k: usize| -> f64 {
        match k {
            0 => 1.0 / (2.0 * PI).sqrt(),
            1 => 0.5,
            k if k % 2 == 1 => 0.0,
            k => {
                // (k-3)!! / sqrt(2 pi k!), computed as a running product to stay finite
                let mut v = 1.0 / (2.0 * PI).sqrt();
                let mut j = 1usize;
                while j <= k {
                    v /= (j as f64).sqrt();
                    j += 1;
                }
                let mut m = 1usize;
                while m + 3 <= k {
                    v *= m as f64;
                    m += 2;
                }
                if (k / 2) % 2 == 0 { -v } else { v }
            }
        }
    };
    match &duals.activation {
        ScalarActivation::Relu => (0..terms).map(relu).collect(),
        ScalarActivation::Leaky(alpha) => (0..terms)
            .map(|k| relu(k) * (1.0 - alpha * if k % 2 == 0 { 1.0 } else { -1.0 }))
            .collect(),
        ScalarActivation::Identity => (0..terms).map(|k| f64::from(u8::from(k == 1))).collect(),
        _ => hermite_quadrature(duals, terms),
    }
}

/// [`hermite_coefficients`] by Gauss-Hermite quadrature for any activation.
pub fn hermite_quadrature(duals: &Duals, terms: usize) -> Vec<f64> {
    let rule = duals.rule();
    let (f, _) = duals.activation.eval_many(&rule.nodes);
    let mut coeffs = vec![0.0; terms];
    for (i, (&z, &w)) in rule.nodes.iter().zip(&rule.weights).enumerate() {
        // h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1)
        let (mut prev, mut cur) = (0.0, 1.0);
        for (k, coeff) in coeffs.iter_mut().enumerate() {
            *coeff += w * f[i] * cur;
            let next = (z * cur - (k as f64).sqrt() * prev) / ((k + 1) as f64).sqrt();
            prev = cur;
            cur = next;
        }
    }
    coeffs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ReLU and leaky closed forms agree with 2-D quadrature (which converges slowly at the
    /// kink: about 1e-4 with 100 x 100 nodes).
    #[test]
    fn closed_forms_agree_with_quadrature() {
        for act in [ScalarActivation::Relu, ScalarActivation::Leaky(0.2)] {
            let duals = Duals::with_nodes(act, 50, 200).unwrap();
            for (a, b, c) in [
                (1.0, 1.0, 0.3),
                (2.0, 0.5, -0.7),
                (0.8, 1.3, 1.0),
                (1.0, 1.0, -0.99),
            ] {
                let (p, d) = duals.pair(a, b, c);
                let (pq, dq) = duals.pair_quadrature(a, b, c);
                assert!(
                    (p - pq).abs() < 2e-3,
                    "{:?} ({a},{b},{c}): {p} vs {pq}",
                    duals.activation
                );
                assert!(
                    (d - dq).abs() < 2e-2,
                    "{:?} ({a},{b},{c}): {d} vs {dq}",
                    duals.activation
                );
            }
        }
    }

    #[test]
    fn hand_computed_arc_cosine_values() {
        // theta = pi/2 (c = 0): E relu relu = sqrt(ab)/(2 pi); a=b=1 -> 0.1591549; E relu' relu' = 1/4
        assert!((arc_cosine_1(1.0, 1.0, 0.0) - 1.0 / (2.0 * PI)).abs() < 1e-15);
        assert!((arc_cosine_0(1.0, 1.0, 0.0) - 0.25).abs() < 1e-15);
        // theta = 0 (c = sqrt(ab)): E relu(u)^2 = a/2 = 1, E relu'^2 = 1/2
        assert!((arc_cosine_1(2.0, 2.0, 2.0) - 1.0).abs() < 1e-15);
        assert!((arc_cosine_0(2.0, 2.0, 2.0) - 0.5).abs() < 1e-15);
        // theta = pi: 0 and 0
        assert!(
            arc_cosine_1(1.0, 1.0, -1.0).abs() < 1e-15
                && arc_cosine_0(1.0, 1.0, -1.0).abs() < 1e-15
        );
    }

    #[test]
    fn smooth_activations_integrate_exactly_where_known() {
        // tanh is odd: E[tanh(u) tanh(v)] at c = 0 is 0; identity: E[uv] = c
        let tanh = Duals::from_spec("tanh").unwrap();
        assert!(tanh.pair(1.0, 2.0, 0.0).0.abs() < 1e-14);
        let id = Duals::with_nodes(
            ScalarActivation::Module(Box::new(
                nonlin_nn::Activation::Identity(Default::default()),
            )),
            20,
            20,
        )
        .unwrap();
        assert!((id.pair_quadrature(1.0, 2.0, 0.7).0 - 0.7).abs() < 1e-12);
        // square: E[u^2 v^2] = ab + 2c^2; with a = b = 1, c = 0.5: 1.5. Derivatives: 4 E[uv] = 2.
        let sq = Duals::from_spec("square").unwrap();
        let (p, d) = sq.pair(1.0, 1.0, 0.5);
        assert!((p - 1.5).abs() < 1e-12 && (d - 2.0).abs() < 1e-12);
    }

    #[test]
    fn relu_moments_are_exact() {
        // <relu^2>_K = K/2, <relu'^2> = 1/2, <relu' relu z> = K/2, <relu^4> = 3K^2/2
        let duals = Duals::from_spec("relu").unwrap();
        for k in [1.0, 7.3] {
            let m = duals.moments(k);
            assert!((m.phi2 - k / 2.0).abs() < 1e-12 * k);
            assert!((m.dphi2 - 0.5).abs() < 1e-14);
            assert!((m.dphi_phi_z - k / 2.0).abs() < 1e-12 * k);
            assert!((m.phi4 - 1.5 * k * k).abs() < 1e-10 * k * k);
        }
    }

    #[test]
    fn hermite_coefficients_of_known_functions() {
        // z^2 = He_2 + 1 = sqrt(2) h_2 + h_0: a = [1, 0, sqrt 2, 0]
        let a = hermite_coefficients(&Duals::from_spec("square").unwrap(), 4);
        assert!((a[0] - 1.0).abs() < 1e-12 && a[1].abs() < 1e-12);
        assert!((a[2] - 2f64.sqrt()).abs() < 1e-12 && a[3].abs() < 1e-12);
        // relu: a_0 = 1/sqrt(2 pi), a_1 = 1/2, a_2 = 1/(2 sqrt(pi)) (= E[relu h_2] = E[z (z^2-1)/sqrt 2; z>0])
        let r = hermite_coefficients(&Duals::from_spec("relu").unwrap(), 3);
        assert!((r[0] - 1.0 / (2.0 * PI).sqrt()).abs() < 1e-15);
        assert!((r[1] - 0.5).abs() < 1e-15);
        assert!((r[2] - 1.0 / (2.0 * PI.sqrt())).abs() < 1e-15);
        // a_3 = 0 and a_4^2 = (1!!)^2/(2 pi 4!) = 1/(48 pi)
        let r = hermite_coefficients(&Duals::from_spec("relu").unwrap(), 5);
        assert!(r[3] == 0.0 && (r[4] * r[4] - 1.0 / (48.0 * PI)).abs() < 1e-15);
        // leaky(alpha) = relu(z) - alpha relu(-z): a_k = a_k^relu (1 - alpha (-1)^k)
        let l = hermite_coefficients(
            &Duals::from_spec("leaky_relu(negative_slope=0.2)").unwrap(),
            3,
        );
        assert!((l[0] - 0.8 / (2.0 * PI).sqrt()).abs() < 1e-15 && (l[1] - 0.6).abs() < 1e-15);
        // the quadrature path reaches the closed forms only slowly at the kink (about 1e-3 at 200 nodes)
        let q = hermite_quadrature(&Duals::from_spec("relu").unwrap(), 3);
        assert!((q[0] - r[0]).abs() < 2e-3 && (q[0] - r[0]).abs() > 1e-6);
        // tanh is odd, so its even coefficients vanish; sum a_k^2 = E[tanh^2] (Parseval)
        let duals = Duals::from_spec("tanh").unwrap();
        let t = hermite_coefficients(&duals, 60);
        assert!(t[0].abs() < 1e-15 && t[2].abs() < 1e-15);
        let parseval: f64 = t.iter().map(|a| a * a).sum();
        assert!(
            (parseval - duals.moments(1.0).phi2).abs() < 1e-6,
            "{parseval} vs {}",
            duals.moments(1.0).phi2
        );
    }
}
