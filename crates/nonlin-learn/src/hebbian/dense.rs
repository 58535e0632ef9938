//! Dense Hebbian network (Agliari, Albanese, Alemanno, Alessandrelli, Barra, Giannotti, Lotito,
//! Pedreschi, "Dense Hebbian neural networks: a replica symmetric picture of supervised
//! learning", arXiv 2212.00606; no official code). Binary neurons `sigma in {-1, +1}^N`, K
//! archetypes `xi^mu`, M noisy examples of each, `eta^{mu,a} = chi^{mu,a} xi^mu` with
//! `chi_i = +1` with probability `(1 + r) / 2`. The P-body energy (P even) is
//!
//! `H(sigma) = -N sum_k w_k (v_k . sigma / N)^P`,
//!
//! with the stored vectors `v_k` and weights `w_k` of the storage:
//! - supervised: one vector per class, the empirical archetype `eta_bar^mu = (1 / (M sqrt(R)))
//!   sum_a eta^{mu,a}`, `R = r^2 + (1 - r^2) / M`, weight 1;
//! - unsupervised: every example `eta^{mu,a}` with weight `1 / M` (the P-th powers of the
//!   examples' overlaps averaged over a; normalisation UNCONFIRMED, it does not change the
//!   zero-temperature dynamics).
//!
//! For P = 2 this is the Hopfield model with Hebbian couplings `J_ij = (1 / N) sum_k w_k v_k,i
//! v_k,j` (`H = -sum_ij J_ij sigma_i sigma_j`). Retrieval: single-spin flips at a random site, N
//! per sweep, with the exact energy change from incrementally kept overlaps; at zero temperature
//! a flip is taken when it lowers the energy (the reference `specs/sims/dense.py`), at inverse
//! temperature beta with the Glauber probability `1 / (1 + exp(beta dH))`. The order parameter is
//! the Mattis magnetisation `m = xi^1 . sigma / N` with the true archetype.

use nonlin_data::Rng;

use crate::LearnError;

/// How examples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// The class means of the examples (teacher groups them).
    Supervised,
    /// Every example on its own.
    Unsupervised,
}

/// Archetypes and their noisy examples.
#[derive(Debug, Clone)]
pub struct Examples {
    /// `xi^mu`, K rows of N entries in {-1, +1}.
    pub archetypes: Vec<Vec<f64>>,
    /// `eta^{mu,a}`: `examples[mu][a]`, N entries each.
    pub examples: Vec<Vec<Vec<f64>>>,
    /// r, the quality of the examples.
    pub quality: f64,
}

/// Draws K random archetypes of N spins and M examples of each with quality r.
pub fn draw_examples(
    neurons: usize,
    archetypes: usize,
    examples: usize,
    quality: f64,
    rng: &mut Rng,
) -> Result<Examples, LearnError> {
    let bad = |what: &str, reason: String| {
        Err(LearnError::Config {
            what: format!("dense_hebbian.{what}"),
            reason,
        })
    };
    if neurons == 0 || neurons > 1 << 20 {
        return bad("neurons", format!("must be in 1..=2^20, got {neurons}"));
    }
    if archetypes == 0 || archetypes > 1 << 16 {
        return bad(
            "archetypes",
            format!("must be in 1..=65536, got {archetypes}"),
        );
    }
    if examples == 0 || examples > 1 << 16 {
        return bad("examples", format!("must be in 1..=65536, got {examples}"));
    }
    if !(quality.is_finite() && quality > 0.0 && quality <= 1.0) {
        return bad("quality", format!("r must be in (0, 1], got {quality}"));
    }
    let spin = |rng: &mut Rng, p_plus: f64| {
        if rng.uniform_f64() < p_plus {
            1.0
        } else {
            -1.0
        }
    };
    let xi: Vec<Vec<f64>> = (0..archetypes)
        .map(|_| (0..neurons).map(|_| spin(rng, 0.5)).collect())
        .collect();
    let eta = xi
        .iter()
        .map(|x| {
            (0..examples)
                .map(|_| {
                    x.iter()
                        .map(|&s| s * spin(rng, (1.0 + quality) / 2.0))
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok(Examples {
        archetypes: xi,
        examples: eta,
        quality,
    })
}

/// A dense Hebbian network: the stored vectors, their weights and P.
#[derive(Debug, Clone)]
pub struct DenseHebbian {
    /// P, the order of the interactions (even, >= 2).
    pub order: u32,
    /// `v_k`.
    pub stored: Vec<Vec<f64>>,
    /// `w_k`.
    pub weights: Vec<f64>,
}

impl DenseHebbian {
    /// Stores `data` with P-body interactions.
    pub fn store(data: &Examples, order: u32, storage: Storage) -> Result<Self, LearnError> {
        if order < 2 || order % 2 == 1 || order > 64 {
            return Err(LearnError::Config {
                what: "dense_hebbian.order".into(),
                reason: format!("P must be even, in 2..=64, got {order}"),
            });
        }
        let m = data.examples[0].len();
        let (stored, weights) = match storage {
            Storage::Supervised => {
                let r = data.quality;
                let big_r = r * r + (1.0 - r * r) / m as f64;
                let scale = 1.0 / (m as f64 * big_r.sqrt());
                let means: Vec<Vec<f64>> = data
                    .examples
                    .iter()
                    .map(|class| {
                        let n = class[0].len();
                        (0..n)
                            .map(|i| class.iter().map(|e| e[i]).sum::<f64>() * scale)
                            .collect()
                    })
                    .collect();
                let w = vec![1.0; means.len()];
                (means, w)
            }
            Storage::Unsupervised => {
                let all: Vec<Vec<f64>> = data.examples.iter().flatten().cloned().collect();
                let w = vec![1.0 / m as f64; all.len()];
                (all, w)
            }
        };
        Ok(Self {
            order,
            stored,
            weights,
        })
    }

    /// The Hebbian couplings of P = 2, `J_ij = (1 / N) sum_k w_k v_k,i v_k,j` (`[N][N]`).
    pub fn couplings(&self) -> Vec<Vec<f64>> {
        let n = self.stored[0].len();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        self.stored
                            .iter()
                            .zip(&self.weights)
                            .map(|(v, w)| w * v[i] * v[j])
                            .sum::<f64>()
                            / n as f64
                    })
                    .collect()
            })
            .collect()
    }

    /// The overlaps `v_k . sigma / N`.
    pub fn overlaps(&self, sigma: &[f64]) -> Vec<f64> {
        let n = sigma.len() as f64;
        self.stored
            .iter()
            .map(|v| v.iter().zip(sigma).map(|(a, b)| a * b).sum::<f64>() / n)
            .collect()
    }

    /// `H(sigma) = -N sum_k w_k m_k^P`.
    pub fn energy(&self, sigma: &[f64]) -> f64 {
        let n = sigma.len() as f64;
        -n * self
            .overlaps(sigma)
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| w * m.powi(self.order as i32))
            .sum::<f64>()
    }

    /// Single-spin-flip dynamics from `sigma` for at most `sweeps` sweeps of N random sites: at
    /// `beta = None` (zero temperature) a flip is taken when it lowers the energy, and the
    /// dynamics stops after a sweep without a flip (past the third, as the reference); otherwise
    /// with probability `1 / (1 + exp(beta dH))`.
    pub fn relax(
        &self,
        mut sigma: Vec<f64>,
        sweeps: usize,
        beta: Option<f64>,
        rng: &mut Rng,
    ) -> Vec<f64> {
        let n = sigma.len();
        let nf = n as f64;
        let p = self.order as i32;
        let mut overlaps = self.overlaps(&sigma);
        for sweep in 0..sweeps {
            let mut changed = 0;
            for _ in 0..n {
                let i = rng.below(n);
                let de: f64 = self
                    .stored
                    .iter()
                    .zip(&self.weights)
                    .zip(&overlaps)
                    .map(|((v, w), &o)| {
                        let flipped = o - 2.0 * v[i] * sigma[i] / nf;
                        -nf * w * (flipped.powi(p) - o.powi(p))
                    })
                    .sum();
                let take = match beta {
                    None => de < 0.0,
                    Some(b) => rng.uniform_f64() < 1.0 / (1.0 + (b * de).exp()),
                };
                if take {
                    for (o, v) in overlaps.iter_mut().zip(&self.stored) {
                        *o -= 2.0 * v[i] * sigma[i] / nf;
                    }
                    sigma[i] = -sigma[i];
                    changed += 1;
                }
            }
            if beta.is_none() && changed == 0 && sweep > 2 {
                break;
            }
        }
        sigma
    }
}

/// The Mattis magnetisation `xi . sigma / N`.
pub fn magnetisation(archetype: &[f64], sigma: &[f64]) -> f64 {
    archetype.iter().zip(sigma).map(|(a, b)| a * b).sum::<f64>() / sigma.len() as f64
}

/// The reference experiment of the notes (`specs/sims/dense.py`): start from archetype 1 with
/// a fraction `flip` of its spins flipped, relax at zero temperature, return the magnetisation.
#[allow(clippy::too_many_arguments)]
pub fn retrieval(
    neurons: usize,
    archetypes: usize,
    order: u32,
    quality: f64,
    examples: usize,
    flip: f64,
    sweeps: usize,
    storage: Storage,
    seed: u64,
) -> Result<f64, LearnError> {
    let mut rng = Rng::seed(seed);
    let data = draw_examples(neurons, archetypes, examples, quality, &mut rng)?;
    let net = DenseHebbian::store(&data, order, storage)?;
    let xi = &data.archetypes[0];
    let start: Vec<f64> = xi
        .iter()
        .map(|&s| if rng.uniform_f64() < flip { -s } else { s })
        .collect();
    let end = net.relax(start, sweeps, None, &mut rng);
    Ok(magnetisation(xi, &end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two patterns of N = 3, one example each with r = 1 (R = 1): xi^1 = (1, 1, -1),
    /// xi^2 = (1, -1, 1). J_ij = (xi^1_i xi^1_j + xi^2_i xi^2_j) / 3:
    /// J_00 = 2/3, J_01 = (1 - 1)/3 = 0, J_02 = (-1 + 1)/3 = 0, J_12 = (-1 - 1)/3 = -2/3.
    /// For sigma = xi^1: m = (1, -1/3), H(P = 2) = -3 (1 + 1/9) = -10/3 = -sum_ij J_ij s_i s_j.
    #[test]
    fn couplings_and_energy_of_two_patterns_by_hand() {
        let data = Examples {
            archetypes: vec![vec![1.0, 1.0, -1.0], vec![1.0, -1.0, 1.0]],
            examples: vec![vec![vec![1.0, 1.0, -1.0]], vec![vec![1.0, -1.0, 1.0]]],
            quality: 1.0,
        };
        let net = DenseHebbian::store(&data, 2, Storage::Supervised).unwrap();
        let j = net.couplings();
        let third = 1.0 / 3.0;
        let expected = [
            [2.0 * third, 0.0, 0.0],
            [0.0, 2.0 * third, -2.0 * third],
            [0.0, -2.0 * third, 2.0 * third],
        ];
        for i in 0..3 {
            for k in 0..3 {
                assert!(
                    (j[i][k] - expected[i][k]).abs() < 1e-12,
                    "J[{i}][{k}] = {}",
                    j[i][k]
                );
            }
        }
        let sigma = [1.0, 1.0, -1.0];
        let h = net.energy(&sigma);
        assert!((h + 10.0 / 3.0).abs() < 1e-12, "{h}");
        let quadratic: f64 = (0..3)
            .flat_map(|i| (0..3).map(move |k| (i, k)))
            .map(|(i, k)| j[i][k] * sigma[i] * sigma[k])
            .sum();
        assert!((h + quadratic).abs() < 1e-12);
        // P = 4: H = -3 (1 + 1/81) = -3.037037
        let net4 = DenseHebbian::store(&data, 4, Storage::Supervised).unwrap();
        assert!((net4.energy(&sigma) + 3.0 * (1.0 + 1.0 / 81.0)).abs() < 1e-12);
    }

    /// The supervised empirical archetype scale: M = 2, r = 0.5: R = 0.25 + 0.75 / 2 = 0.625,
    /// 1 / (2 sqrt(0.625)) = 0.632456; two examples (1, 1) and (1, -1): (1.264911, 0).
    #[test]
    fn empirical_archetype_by_hand() {
        let data = Examples {
            archetypes: vec![vec![1.0, 1.0]],
            examples: vec![vec![vec![1.0, 1.0], vec![1.0, -1.0]]],
            quality: 0.5,
        };
        let net = DenseHebbian::store(&data, 2, Storage::Supervised).unwrap();
        assert!((net.stored[0][0] - 1.264911).abs() < 1e-6 && net.stored[0][1] == 0.0);
        let un = DenseHebbian::store(&data, 2, Storage::Unsupervised).unwrap();
        assert_eq!(un.stored.len(), 2);
        assert_eq!(un.weights, vec![0.5, 0.5]);
    }

    /// The zero-temperature flips never raise the energy, and the incrementally kept overlaps
    /// stay those of the final state.
    #[test]
    fn zero_temperature_dynamics_descends() {
        let mut rng = Rng::seed(3);
        let data = draw_examples(60, 10, 5, 0.5, &mut rng).unwrap();
        let net = DenseHebbian::store(&data, 4, Storage::Unsupervised).unwrap();
        let mut sigma: Vec<f64> = (0..60)
            .map(|_| if rng.uniform_f64() < 0.5 { 1.0 } else { -1.0 })
            .collect();
        let mut energy = net.energy(&sigma);
        for _ in 0..5 {
            sigma = net.relax(sigma, 1, None, &mut rng);
            let next = net.energy(&sigma);
            assert!(next <= energy + 1e-9, "{energy} -> {next}");
            energy = next;
        }
    }

    /// The notes' reproduction target (6.3, `specs/sims/dense.py`: N = 100, r = 0.6, M = 30,
    /// 20% flipped, 15 sweeps, 3 seeds): P = 4 retrieves (m >= 0.95) at K = 60 where P = 2 fails
    /// (m <= 0.5), and P = 2 retrieves at K = 5.
    #[test]
    fn dense_network_stores_more_than_hopfield() {
        for seed in 0..3 {
            let m =
                |k, p| retrieval(100, k, p, 0.6, 30, 0.2, 15, Storage::Supervised, seed).unwrap();
            let (p4, p2, p2_few) = (m(60, 4), m(60, 2), m(5, 2));
            assert!(p4 >= 0.95, "seed {seed}: P = 4, K = 60: m = {p4}");
            assert!(p2 <= 0.5, "seed {seed}: P = 2, K = 60: m = {p2}");
            assert!(p2_few >= 0.95, "seed {seed}: P = 2, K = 5: m = {p2_few}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let mut rng = Rng::seed(0);
        assert!(draw_examples(0, 2, 2, 0.5, &mut rng).is_err());
        assert!(draw_examples(10, 0, 2, 0.5, &mut rng).is_err());
        assert!(draw_examples(10, 2, 0, 0.5, &mut rng).is_err());
        assert!(draw_examples(10, 2, 2, 0.0, &mut rng).is_err());
        assert!(draw_examples(10, 2, 2, f64::NAN, &mut rng).is_err());
        assert!(draw_examples(10, 2, 2, 1.5, &mut rng).is_err());
        assert!(draw_examples(usize::MAX, 2, 2, 0.5, &mut rng).is_err());
        let data = draw_examples(10, 2, 2, 0.5, &mut rng).unwrap();
        for p in [0, 1, 3, 66] {
            assert!(
                DenseHebbian::store(&data, p, Storage::Supervised).is_err(),
                "P = {p}"
            );
        }
    }
}
