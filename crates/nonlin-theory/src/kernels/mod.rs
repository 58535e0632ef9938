//! The machinery the probes share: Gaussian expectations by Gauss-Hermite quadrature, dual
//! activations (closed forms, arc-cosine kernels, quadrature), infinite-width NNGP/NTK
//! recursions, centred kernel alignment, the empirical NTK of any model, and a thin layer over
//! `faer` for linear algebra.

pub mod cka;
pub mod dense;
pub mod dual;
pub mod empirical_ntk;
pub mod gauss_hermite;
pub mod linalg;
pub mod recursion;
pub mod scalar_activation;

pub use cka::{cka, linear_cka};
pub use dense::{DenseLayer, DenseNet};
pub use dual::{Duals, Moments, arc_cosine_0, arc_cosine_1, hermite_coefficients};
pub use gauss_hermite::GaussHermite;
pub use linalg::Matrix;
pub use recursion::{NtkKernels, SphereDual, ntk_parametrisation, sphere_ntk, standard_last_layer};
pub use scalar_activation::ScalarActivation;

/// A standard normal sample in f64 (Box-Muller from two uniforms of nonlin's generator).
pub fn gaussian(rng: &mut nonlin_data::Rng) -> f64 {
    let u1 = 1.0 - rng.uniform_f64();
    let u2 = rng.uniform_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
