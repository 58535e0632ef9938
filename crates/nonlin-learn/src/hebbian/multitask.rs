//! Multitasking Hebbian network (Agliari, Alessandrelli, Barra, Ricci-Tersenghi, "Parallel
//! learning by multitasking neural networks", arXiv 2308.04106; no official code): binary
//! neurons `sigma in {-1, +1}^N`, K diluted ternary patterns `xi^mu in {-1, 0, +1}^N` (`P(0) =
//! d`), learned from M noisy examples each (`eta^{mu,a} = chi^{mu,a} xi^mu`, zeros stay zero),
//! with the pairwise Hebbian couplings of "effective patterns" `e_k` with weights `w_k`,
//!
//! `J_ij = (1 / N) sum_k w_k e_k,i e_k,j`, `h_i = sum_{j != i} J_ij sigma_j`,
//!
//! - patterns themselves: `e_mu = xi^mu`, `w = 1`;
//! - supervised: `e_mu = (1 / (r M)) sum_a eta^{mu,a}`, `w = 1`;
//! - unsupervised: `e = eta^{mu,a} / r` for every example, `w = 1 / M`
//!
//! (normalisations UNCONFIRMED, irrelevant at zero temperature). Dynamics: a random site per
//! update, N per sweep; zero temperature `sigma_i = sign(h_i)` (a tie keeps the spin), inverse
//! temperature beta `sigma_i = +1` with probability `1 / (1 + exp(-2 beta h_i))`. With mild
//! dilution the network retrieves the patterns hierarchically, Mattis magnetisations
//! `m_k = (1 - d) d^{k-1}`; with strong dilution in parallel (comparable amplitudes).

use nonlin_data::Rng;

use crate::LearnError;

/// What the couplings are built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Couplings {
    /// The patterns themselves.
    Patterns,
    /// Class means of `examples` examples of quality `quality` per pattern.
    Supervised { quality: f64, examples: usize },
    /// Every example on its own.
    Unsupervised { quality: f64, examples: usize },
}

/// How the dynamics starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Each spin from the first pattern that is not blank there (random where all are).
    Hierarchical,
    /// Random spins.
    Random,
}

/// Settings of one simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct MultitaskConfig {
    /// N.
    pub neurons: usize,
    /// K.
    pub patterns: usize,
    /// d, the probability of a blank entry.
    pub dilution: f64,
    pub couplings: Couplings,
    pub start: Start,
    /// Sweeps of N single-site updates.
    pub sweeps: usize,
    /// beta; `None`: zero temperature.
    pub beta: Option<f64>,
}

impl MultitaskConfig {
    fn check(&self) -> Result<(), LearnError> {
        let bad = |what: &str, reason: String| {
            Err(LearnError::Config {
                what: format!("multitask_hebbian.{what}"),
                reason,
            })
        };
        if !(1..=1 << 22).contains(&self.neurons) {
            return bad(
                "neurons",
                format!("must be in 1..=2^22, got {}", self.neurons),
            );
        }
        if !(1..=4096).contains(&self.patterns) {
            return bad(
                "patterns",
                format!("must be in 1..=4096, got {}", self.patterns),
            );
        }
        if !(self.dilution.is_finite() && (0.0..1.0).contains(&self.dilution)) {
            return bad(
                "dilution",
                format!("d must be in [0, 1), got {}", self.dilution),
            );
        }
        if let Couplings::Supervised { quality, examples }
        | Couplings::Unsupervised { quality, examples } = self.couplings
        {
            if !(quality.is_finite() && quality > 0.0 && quality <= 1.0) {
                return bad("quality", format!("r must be in (0, 1], got {quality}"));
            }
            if !(1..=1 << 16).contains(&examples) {
                return bad("examples", format!("must be in 1..=65536, got {examples}"));
            }
        }
        if let Some(beta) = self.beta
            && !(beta.is_finite() && beta > 0.0)
        {
            return bad("beta", format!("must be a finite number > 0, got {beta}"));
        }
        Ok(())
    }
}

/// Runs one simulation from `seed`; returns the Mattis magnetisations `xi^mu . sigma / N` of the
/// final state.
pub fn simulate(config: &MultitaskConfig, seed: u64) -> Result<Vec<f64>, LearnError> {
    config.check()?;
    let mut rng = Rng::seed(seed);
    let n = config.neurons;
    let d = config.dilution;
    let xi: Vec<Vec<f64>> = (0..config.patterns)
        .map(|_| {
            (0..n)
                .map(|_| {
                    if rng.uniform_f64() < d {
                        0.0
                    } else if rng.uniform_f64() < 0.5 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect()
        })
        .collect();
    let example = |rng: &mut Rng, x: &[f64], r: f64| -> Vec<f64> {
        x.iter()
            .map(|&v| {
                v * if rng.uniform_f64() < (1.0 + r) / 2.0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect()
    };
    let terms: Vec<(Vec<f64>, f64)> = match config.couplings {
        Couplings::Patterns => xi.iter().map(|x| (x.clone(), 1.0)).collect(),
        Couplings::Supervised { quality, examples } => xi
            .iter()
            .map(|x| {
                let mut mean = vec![0.0; n];
                for _ in 0..examples {
                    let e = example(&mut rng, x, quality);
                    mean.iter_mut().zip(&e).for_each(|(m, v)| *m += v);
                }
                let scale = 1.0 / (quality * examples as f64);
                (mean.into_iter().map(|m| m * scale).collect(), 1.0)
            })
            .collect(),
        Couplings::Unsupervised { quality, examples } => xi
            .iter()
            .flat_map(|x| {
                (0..examples)
                    .map(|_| {
                        let e = example(&mut rng, x, quality);
                        (
                            e.into_iter().map(|v| v / quality).collect(),
                            1.0 / examples as f64,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    };
    let mut sigma: Vec<f64> = match config.start {
        Start::Hierarchical => (0..n)
            .map(|i| {
                xi.iter()
                    .map(|x| x[i])
                    .find(|&v| v != 0.0)
                    .unwrap_or_else(|| if rng.uniform_f64() < 0.5 { 1.0 } else { -1.0 })
            })
            .collect(),
        Start::Random => (0..n)
            .map(|_| if rng.uniform_f64() < 0.5 { 1.0 } else { -1.0 })
            .collect(),
    };
    let nf = n as f64;
    let mut overlaps: Vec<f64> = terms
        .iter()
        .map(|(e, _)| e.iter().zip(&sigma).map(|(a, b)| a * b).sum::<f64>() / nf)
        .collect();
    for _ in 0..config.sweeps * n {
        let i = rng.below(n);
        // h_i = sum_k w_k e_k,i (m_k - e_k,i sigma_i / N): the self-coupling removed
        let h: f64 = terms
            .iter()
            .zip(&overlaps)
            .map(|((e, w), m)| w * e[i] * (m - e[i] * sigma[i] / nf))
            .sum();
        let new = match config.beta {
            None if h > 0.0 => 1.0,
            None if h < 0.0 => -1.0,
            None => sigma[i],
            Some(beta) => {
                if rng.uniform_f64() < 1.0 / (1.0 + (-2.0 * beta * h).exp()) {
                    1.0
                } else {
                    -1.0
                }
            }
        };
        if new != sigma[i] {
            for (m, (e, _)) in overlaps.iter_mut().zip(&terms) {
                *m += e[i] * (new - sigma[i]) / nf;
            }
            sigma[i] = new;
        }
    }
    Ok(xi
        .iter()
        .map(|x| x.iter().zip(&sigma).map(|(a, b)| a * b).sum::<f64>() / nf)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The magnetisations averaged over seeds 0..20. One draw fluctuates: the overlap of two
    /// independent patterns is about `(1 - d) / sqrt(N)` = 0.02 at N = 2000, and at mild dilution
    /// the dynamics doubles a chance sign of m_3 (the sites blank in patterns 1 and 2 align with
    /// `sign(m_3) xi^3`), so the notes' 0.03 holds for the mean (standard error about 0.01), not
    /// for one draw (seeds 0-5 give m_3 = -0.028 .. 0.003 at d = 0.1, theory 0.009).
    fn mean_over_seeds(config: &MultitaskConfig) -> Vec<f64> {
        let runs: Vec<Vec<f64>> = (0..20)
            .map(|seed| simulate(config, seed).unwrap())
            .collect();
        (0..runs[0].len())
            .map(|k| runs.iter().map(|m| m[k]).sum::<f64>() / runs.len() as f64)
            .collect()
    }

    fn config(dilution: f64, patterns: usize, couplings: Couplings) -> MultitaskConfig {
        MultitaskConfig {
            neurons: 2000,
            patterns,
            dilution,
            couplings,
            start: Start::Hierarchical,
            sweeps: 20,
            beta: None,
        }
    }

    /// The notes' target (7.2): with mild dilution the magnetisations are hierarchical,
    /// `m_k = (1 - d) d^{k-1}` within 0.03 (N = 2000, K = 3, zero temperature, mean of 20 seeds);
    /// e.g. d = 0.3: 0.7, 0.21, 0.063.
    #[test]
    fn hierarchical_retrieval_matches_theory() {
        for d in [0.1, 0.3, 0.5] {
            let m = mean_over_seeds(&config(d, 3, Couplings::Patterns));
            for (k, mk) in m.iter().enumerate() {
                let theory = (1.0 - d) * d.powi(k as i32);
                assert!(
                    (mk - theory).abs() <= 0.03,
                    "d {d}: m_{} = {mk}, theory {theory}",
                    k + 1
                );
            }
        }
    }

    /// Strong dilution (d = 0.8): the amplitudes equalise, m2 / m3 < 1.3 (notes 7.2; mean of 20
    /// seeds).
    #[test]
    fn strong_dilution_retrieves_in_parallel() {
        let m = mean_over_seeds(&config(0.8, 3, Couplings::Patterns));
        assert!(m[1] / m[2] < 1.3 && m[2] > 0.05, "{m:?}");
    }

    /// Supervised and unsupervised learning from examples (K = 2, d = 0.3, r = 0.5, M = 40) give
    /// the same magnetisations within 0.02 (means over seeds); with too little data (r = 0.2,
    /// M = 5) the first one degrades below 0.5 (the reference: 0.254).
    #[test]
    fn supervised_and_unsupervised_learning_agree() {
        let learned = |couplings| mean_over_seeds(&config(0.3, 2, couplings));
        let sup = learned(Couplings::Supervised {
            quality: 0.5,
            examples: 40,
        });
        let uns = learned(Couplings::Unsupervised {
            quality: 0.5,
            examples: 40,
        });
        for k in 0..2 {
            assert!((sup[k] - uns[k]).abs() <= 0.02, "{sup:?} vs {uns:?}");
        }
        let poor = learned(Couplings::Supervised {
            quality: 0.2,
            examples: 5,
        });
        assert!(poor[0] < 0.5, "{poor:?}");
    }

    /// One undiluted pattern: the hierarchical start is the pattern itself, and it is a fixed
    /// point (every field is `(N - 1) / N` times its spin), so m = 1 exactly.
    #[test]
    fn a_single_pattern_is_a_fixed_point() {
        let m = simulate(
            &MultitaskConfig {
                neurons: 50,
                ..config(0.0, 1, Couplings::Patterns)
            },
            7,
        )
        .unwrap();
        assert_eq!(m, vec![1.0]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = config(0.3, 2, Couplings::Patterns);
        let bad = |c: MultitaskConfig| simulate(&c, 0).is_err();
        assert!(bad(MultitaskConfig {
            neurons: 0,
            ..ok.clone()
        }));
        assert!(bad(MultitaskConfig {
            patterns: 0,
            ..ok.clone()
        }));
        assert!(bad(MultitaskConfig {
            dilution: 1.0,
            ..ok.clone()
        }));
        assert!(bad(MultitaskConfig {
            dilution: f64::NAN,
            ..ok.clone()
        }));
        assert!(bad(MultitaskConfig {
            beta: Some(0.0),
            ..ok.clone()
        }));
        assert!(bad(MultitaskConfig {
            beta: Some(f64::INFINITY),
            ..ok.clone()
        }));
        assert!(bad(config(
            0.3,
            2,
            Couplings::Supervised {
                quality: 0.0,
                examples: 4
            }
        )));
        assert!(bad(config(
            0.3,
            2,
            Couplings::Unsupervised {
                quality: 0.5,
                examples: 0
            }
        )));
        assert!(bad(config(
            0.3,
            2,
            Couplings::Supervised {
                quality: 2.0,
                examples: 4
            }
        )));
    }
}
