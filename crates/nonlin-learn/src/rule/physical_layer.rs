//! A simulated black-box physical layer (Momeni et al., "Backpropagation-free Training of Deep
//! Physical Neural Networks", arXiv 2304.11042): an optics-like intensity measurement
//!
//! `o = P(x) = |A x|^2 * (1 + sigma_noise * n)`,  `n ~ N(0, 1)` fresh at every measurement,
//!
//! with `A` a fixed complex Gaussian matrix (real and imaginary parts N(0, 1 / (2 inputs)), so
//! `E o_i = |x|^2 / inputs`), unknown to the learner. Drift: after every measurement call each
//! entry of `A` takes a random-walk step of standard deviation `drift / sqrt(2 inputs)`; a sudden
//! change `A <- A + s * noise` is [`PhysicalLayer::perturb`].
//!
//! No gradient can cross the layer: [`PhysicalLayer::measure`] takes and returns host data
//! (`&[f32]` -> `Vec<f32>`), so whatever the learner builds from a measurement is a fresh leaf of
//! the autodiff graph. The random numbers come from the layer's own seeded generator (SplitMix64
//! with Box-Muller), so a run is deterministic from `seed` and the state is checkpointed.
//!
//! The one exception is the notes' baseline (c), the "ideal digital twin": [`PhysicalLayer::exact`]
//! is the noise-free `|A x|^2` as a differentiable tensor op built from the true `A`, which only
//! the `phyff` rule's `training = "digital_twin"` mode calls (to back-propagate through the
//! physics, as physics-aware training does with a perfect model); the model-free rule never does.
//!
//! UNCONFIRMED choices (the notes' CPU target; the paper's systems are acoustic, microwave and
//! optical): the `|A x|^2` form, the 1/(2 inputs) variance and multiplicative Gaussian noise.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// A fixed, noisy, drifting nonlinear transform the learner can only run forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhysicalLayer {
    inputs: usize,
    outputs: usize,
    /// Real part of `A`, `[outputs, inputs]` row-major.
    re: Vec<f32>,
    /// Imaginary part of `A`, `[outputs, inputs]` row-major.
    im: Vec<f32>,
    /// sigma_noise, the relative measurement noise.
    noise: f64,
    /// The random-walk step of `A` per measurement (relative to the entries' scale).
    drift: f64,
    rng: u64,
}

/// SplitMix64: the next state and a uniform in (0, 1).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box-Muller).
fn normal(state: &mut u64) -> f64 {
    let (u, v) = (uniform(state), uniform(state));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

impl PhysicalLayer {
    /// A random layer `inputs -> outputs` drawn from `seed`.
    pub fn random(inputs: usize, outputs: usize, noise: f64, drift: f64, seed: u64) -> Self {
        let mut rng = seed ^ 0x005E_ED0F_F1A5;
        let std = (1.0 / (2.0 * inputs as f64)).sqrt();
        let mut draw = |_| (normal(&mut rng) * std) as f32;
        let re = (0..inputs * outputs).map(&mut draw).collect();
        let im = (0..inputs * outputs).map(&mut draw).collect();
        Self {
            inputs,
            outputs,
            re,
            im,
            noise,
            drift,
            rng,
        }
    }

    /// A layer with the given `A = re + i im` (`[outputs, inputs]` row-major), for tests.
    #[cfg(test)]
    pub fn from_matrix(inputs: usize, re: Vec<f32>, im: Vec<f32>, noise: f64, seed: u64) -> Self {
        assert_eq!(re.len(), im.len());
        assert_eq!(re.len() % inputs, 0);
        let outputs = re.len() / inputs;
        Self {
            inputs,
            outputs,
            re,
            im,
            noise,
            drift: 0.0,
            rng: seed,
        }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// One measurement of `rows` inputs.
    ///
    /// # Shapes
    /// - x: `[rows, inputs]` row-major
    /// - returns: `[rows, outputs]` row-major
    pub fn measure(&mut self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.inputs, "input of the physical layer");
        let (n, m) = (self.inputs, self.outputs);
        let mut out = vec![0.0f32; rows * m];
        for r in 0..rows {
            let xr = &x[r * n..(r + 1) * n];
            for i in 0..m {
                let (a, b) = (&self.re[i * n..(i + 1) * n], &self.im[i * n..(i + 1) * n]);
                let (mut sr, mut si) = (0.0f32, 0.0f32);
                for k in 0..n {
                    sr += a[k] * xr[k];
                    si += b[k] * xr[k];
                }
                out[r * m + i] = sr * sr + si * si;
            }
        }
        if self.noise > 0.0 {
            for o in out.iter_mut() {
                *o *= (1.0 + self.noise * normal(&mut self.rng)) as f32;
            }
        }
        if self.drift > 0.0 {
            self.perturb(self.drift);
        }
        out
    }

    /// The noise-free transform `|A x|^2 = (x Re(A)^T)^2 + (x Im(A)^T)^2` as a differentiable op
    /// on `x`, from the true (current) `A`: the ideal digital twin. It draws no noise and does not
    /// drift the system.
    ///
    /// # Shapes
    /// - x: `[rows, inputs]`
    /// - returns: `[rows, outputs]`
    pub fn exact(&self, x: Tensor<2>) -> Tensor<2> {
        let (device, dtype) = (x.device(), x.dtype());
        let matrix = |v: &[f32]| {
            Tensor::<2>::from_data(
                TensorData::new(v.to_vec(), [self.outputs, self.inputs]),
                (&device, dtype),
            )
        };
        intensity(x, matrix(&self.re), matrix(&self.im))
    }

    /// `A <- A + scale * noise`, the noise with the entries' own scale (N(0, 1 / (2 inputs)) per
    /// real and imaginary part).
    pub fn perturb(&mut self, scale: f64) {
        let std = scale * (1.0 / (2.0 * self.inputs as f64)).sqrt();
        for w in self.re.iter_mut().chain(self.im.iter_mut()) {
            *w += (normal(&mut self.rng) * std) as f32;
        }
    }
}

/// `|A x|^2` for `A = re + i im`, row by row: `(x re^T)^2 + (x im^T)^2`.
///
/// # Shapes
/// - x: `[rows, inputs]`, re and im: `[outputs, inputs]`
/// - returns: `[rows, outputs]`
pub fn intensity(x: Tensor<2>, re: Tensor<2>, im: Tensor<2>) -> Tensor<2> {
    let real = x.clone().matmul(re.transpose());
    let imaginary = x.matmul(im.transpose());
    real.powi_scalar(2) + imaginary.powi_scalar(2)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use nonlin_nn::gradcheck::{GradCheckConfig, check_gradients};

    use super::*;

    /// The twin's `exact` equals a noise-free measurement (the hand case of `measurement_by_hand`
    /// and a random layer), and draws nothing: the noisy layer's next measurement is unchanged.
    #[test]
    fn exact_equals_the_noise_free_measurement() {
        let device = Device::flex();
        let p = PhysicalLayer::from_matrix(
            2,
            vec![1.0, 0.0, 0.0, 2.0],
            vec![1.0, 0.0, 0.0, 0.0],
            0.0,
            0,
        );
        let x = Tensor::<2>::from_floats([[1.0, 3.0], [-1.0, 0.5]], &device);
        let e: Vec<f32> = p.exact(x).into_data().try_to_vec().unwrap();
        assert_eq!(e, vec![2.0, 36.0, 2.0, 1.0]);
        let mut clean = PhysicalLayer::random(5, 7, 0.0, 0.0, 4);
        let xs: Vec<f32> = (0..10).map(|k| (k as f32 * 0.37).sin()).collect();
        let measured = clean.measure(&xs, 2);
        let exact: Vec<f32> = clean
            .exact(Tensor::from_data(
                TensorData::new(xs.clone(), [2, 5]),
                &device,
            ))
            .into_data()
            .try_to_vec()
            .unwrap();
        for (a, b) in measured.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
        }
        let mut noisy = PhysicalLayer::random(5, 7, 0.05, 0.0, 4);
        let mut twin = noisy.clone();
        let _ = twin.exact(Tensor::from_data(
            TensorData::new(xs.clone(), [2, 5]),
            &device,
        ));
        assert_eq!(noisy.measure(&xs, 2), twin.measure(&xs, 2));
    }

    /// Finite differences in f64 of `|A x|^2` with respect to `x`, `Re A` and `Im A`.
    #[test]
    fn intensity_gradients_match_finite_differences() {
        let (rows, inputs, outputs) = (2, 3, 4);
        let values = |n: usize, phase: f64| {
            (0..n)
                .map(|k| (k as f64 * 0.71 + phase).sin())
                .collect::<Vec<f64>>()
        };
        let report = check_gradients(
            |t, _| {
                let x = t[0].clone().reshape([rows, inputs]);
                let re = t[1].clone().reshape([outputs, inputs]);
                let im = t[2].clone().reshape([outputs, inputs]);
                intensity(x, re, im).reshape([rows * outputs])
            },
            &[
                values(rows * inputs, 0.1),
                values(outputs * inputs, 0.5),
                values(outputs * inputs, 1.3),
            ],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report:?}");
    }

    /// A = [[1 + i, 0], [0, 2]], x = (1, 3): |A x|^2 = (|1 + i|^2 * 1, |2 * 3|^2) = (2, 36);
    /// second row x = (-1, 0.5): (2 * 1, 1).
    #[test]
    fn measurement_by_hand() {
        let mut p = PhysicalLayer::from_matrix(
            2,
            vec![1.0, 0.0, 0.0, 2.0],
            vec![1.0, 0.0, 0.0, 0.0],
            0.0,
            0,
        );
        assert_eq!(
            p.measure(&[1.0, 3.0, -1.0, 0.5], 2),
            vec![2.0, 36.0, 2.0, 1.0]
        );
    }

    /// With noise, measurements of the same input differ, scatter by about sigma_noise around
    /// the clean value, and are reproducible from the seed.
    #[test]
    fn noise_is_relative_and_seeded() {
        let mut clean = PhysicalLayer::random(8, 64, 0.0, 0.0, 3);
        let mut noisy = PhysicalLayer::random(8, 64, 0.05, 0.0, 3);
        let x: Vec<f32> = (0..8).map(|k| k as f32 - 3.5).collect();
        let c = clean.measure(&x, 1);
        let a = noisy.measure(&x, 1);
        let b = noisy.measure(&x, 1);
        assert_ne!(a, b);
        let rel: Vec<f64> = a
            .iter()
            .zip(&c)
            .map(|(a, c)| (*a / *c - 1.0) as f64)
            .collect();
        let std = (rel.iter().map(|r| r * r).sum::<f64>() / rel.len() as f64).sqrt();
        assert!((0.03..0.07).contains(&std), "relative scatter {std}");
        assert_eq!(a, PhysicalLayer::random(8, 64, 0.05, 0.0, 3).measure(&x, 1));
    }

    /// Drift moves A: the same clean input reads differently after a few calls.
    #[test]
    fn drift_changes_the_transform() {
        let mut p = PhysicalLayer::random(4, 4, 0.0, 0.1, 1);
        let x = [1.0, -1.0, 0.5, 2.0];
        let first = p.measure(&x, 1);
        let later = p.measure(&x, 1);
        assert_ne!(first, later);
        let mut fixed = PhysicalLayer::random(4, 4, 0.0, 0.0, 1);
        assert_eq!(fixed.measure(&x, 1), fixed.measure(&x, 1));
    }
}
