//! Multitasking Hebbian network, the simulation of the notes as a probe (Agliari, Alessandrelli,
//! Barra, Ricci-Tersenghi, "Parallel Learning by Multitasking Neural Networks",
//! arXiv:2308.04106; no official code).
//!
//! The network lives in `nonlin_learn::hebbian::multitask`: K diluted ternary patterns (each entry
//! blank with probability d), Hebbian couplings from the patterns or from M noisy examples of
//! quality r (supervised: class means; unsupervised: every example), zero-temperature dynamics
//! from the hierarchical start. In the low-storage regime the network retrieves all patterns at
//! once with the hierarchical amplitudes `m_k = (1 - d) d^{k-1}` (learning-rules.md 7.2,
//! reference `specs/sims/multitask.py`). The probe reports, per dilution d,
//! - `d{d}.m{k}`: the Mattis magnetisations `xi^k . sigma / N` of the final state, and
//!   `d{d}.theory.m{k}` the amplitudes above;
//! - `learn.{supervised,unsupervised}.m{k}`: learning from examples (K = 2, d = 0.3, r = 0.5,
//!   M = 40), and `learn.poor.m{k}` with too little data (r = 0.2, M = 5).
//!
//! One draw fluctuates by about `(1 - d) / sqrt(N)` = 0.02 at N = 2000 (the overlap of two
//! independent patterns), so the experiment runs 20 seeds and its claims compare the means.

use nonlin_learn::hebbian::multitask::{Couplings, MultitaskConfig, Start, simulate};
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty};
use crate::{Probe, ProbeInput, ProbeReport, SeriesGroup, TheoryError};

const NAME: &str = "multitask_hebbian";

/// Configuration of the multitasking Hebbian probe, with the notes' defaults (section 7.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultitaskHebbianConfig {
    /// N, the neurons.
    pub neurons: usize,
    /// K, the patterns of the retrieval study.
    pub patterns: usize,
    /// d, the dilutions (probability of a blank entry), each in [0, 1).
    pub dilutions: Vec<f64>,
    /// Sweeps of N single-site updates.
    pub sweeps: usize,
    /// The learning study: K, d, and (r, M) of the well-fed and the poorly fed network.
    pub learn_patterns: usize,
    pub learn_dilution: f64,
    pub learn_quality: f64,
    pub learn_examples: usize,
    pub poor_quality: f64,
    pub poor_examples: usize,
}

impl Default for MultitaskHebbianConfig {
    fn default() -> Self {
        Self {
            neurons: 2000,
            patterns: 3,
            dilutions: vec![0.1, 0.3, 0.5, 0.8],
            sweeps: 20,
            learn_patterns: 2,
            learn_dilution: 0.3,
            learn_quality: 0.5,
            learn_examples: 40,
            poor_quality: 0.2,
            poor_examples: 5,
        }
    }
}

/// Checks that `value` is finite and in `[0, 1)` (a dilution) or `(0, 1]` (a quality).
fn check_unit(field: &'static str, value: f64, dilution: bool) -> Result<(), TheoryError> {
    let ok = value.is_finite()
        && if dilution {
            (0.0..1.0).contains(&value)
        } else {
            value > 0.0 && value <= 1.0
        };
    if ok {
        Ok(())
    } else {
        let range = if dilution { "[0, 1)" } else { "(0, 1]" };
        Err(TheoryError::config(
            NAME,
            field,
            format!("must be in {range}, got {value}"),
        ))
    }
}

impl MultitaskHebbianConfig {
    fn run_one(
        &self,
        patterns: usize,
        dilution: f64,
        couplings: Couplings,
        seed: u64,
    ) -> Result<Vec<f64>, TheoryError> {
        let config = MultitaskConfig {
            neurons: self.neurons,
            patterns,
            dilution,
            couplings,
            start: Start::Hierarchical,
            sweeps: self.sweeps,
            beta: None,
        };
        simulate(&config, seed).map_err(|e| TheoryError::numerical(NAME, e.to_string()))
    }

    fn learning_cases(&self) -> [(&'static str, Couplings); 3] {
        [
            (
                "supervised",
                Couplings::Supervised {
                    quality: self.learn_quality,
                    examples: self.learn_examples,
                },
            ),
            (
                "unsupervised",
                Couplings::Unsupervised {
                    quality: self.learn_quality,
                    examples: self.learn_examples,
                },
            ),
            (
                "poor",
                Couplings::Supervised {
                    quality: self.poor_quality,
                    examples: self.poor_examples,
                },
            ),
        ]
    }
}

impl Probe for MultitaskHebbianConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        in_range(NAME, "neurons", self.neurons, 2, 1 << 22)?;
        in_range(NAME, "patterns", self.patterns, 1, 4096)?;
        non_empty(NAME, "dilutions", &self.dilutions)?;
        for &d in &self.dilutions {
            check_unit("dilutions", d, true)?;
        }
        in_range(NAME, "sweeps", self.sweeps, 1, 100_000)?;
        in_range(NAME, "learn_patterns", self.learn_patterns, 1, 4096)?;
        check_unit("learn_dilution", self.learn_dilution, true)?;
        check_unit("learn_quality", self.learn_quality, false)?;
        in_range(NAME, "learn_examples", self.learn_examples, 1, 1 << 16)?;
        check_unit("poor_quality", self.poor_quality, false)?;
        in_range(NAME, "poor_examples", self.poor_examples, 1, 1 << 16)?;
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.dilutions {
            for k in 1..=self.patterns {
                out.push(format!("d{d}.m{k}"));
                out.push(format!("d{d}.theory.m{k}"));
            }
        }
        for (name, _) in self.learning_cases() {
            for k in 1..=self.learn_patterns {
                out.push(format!("learn.{name}.m{k}"));
            }
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let mut report = ProbeReport::default();
        let mut measured = SeriesGroup::new(
            "amplitudes",
            "Parallel retrieval: magnetisation of each pattern against the dilution",
            "dilution d",
            "magnetisation m_k",
        );
        let mut per_pattern: Vec<Vec<(f64, f64)>> = vec![Vec::new(); self.patterns];
        let mut theory: Vec<Vec<(f64, f64)>> = vec![Vec::new(); self.patterns];
        for &d in &self.dilutions {
            let m = self.run_one(self.patterns, d, Couplings::Patterns, input.seed)?;
            for (k, &mk) in m.iter().enumerate() {
                // (1 - d) d^{k-1} with k counted from 1.
                let expected = (1.0 - d) * d.powi(k as i32);
                report.set(format!("d{d}.m{}", k + 1), mk);
                report.set(format!("d{d}.theory.m{}", k + 1), expected);
                per_pattern[k].push((d, mk));
                theory[k].push((d, expected));
            }
        }
        for (k, (points, expected)) in per_pattern.into_iter().zip(theory).enumerate() {
            measured = measured
                .line(format!("m{} simulated", k + 1), points)
                .line(format!("m{} theory (1 - d) d^{}", k + 1, k), expected);
        }
        report.series.push(measured);
        for (name, couplings) in self.learning_cases() {
            let m = self.run_one(self.learn_patterns, self.learn_dilution, couplings, input.seed)?;
            for (k, &mk) in m.iter().enumerate() {
                report.set(format!("learn.{name}.m{}", k + 1), mk);
            }
        }
        report.notes.push(format!(
            "N = {}, K = {}, {} sweeps at zero temperature from the hierarchical start; learning: \
             K = {}, d = {}, r = {}, M = {} (poor: r = {}, M = {}).",
            self.neurons,
            self.patterns,
            self.sweeps,
            self.learn_patterns,
            self.learn_dilution,
            self.learn_quality,
            self.learn_examples,
            self.poor_quality,
            self.poor_examples
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The theory amplitudes by hand: d = 0.3 gives 0.7, 0.21, 0.063; every reported number is
    /// declared; a seed repeats itself.
    #[test]
    fn theory_amplitudes_and_declared_numbers() {
        let config = MultitaskHebbianConfig {
            neurons: 400,
            dilutions: vec![0.3],
            ..Default::default()
        };
        config.validate().unwrap();
        let r = config.run(&ProbeInput::seeded(1)).unwrap();
        assert!((r.numbers["d0.3.theory.m1"] - 0.7).abs() < 1e-12);
        assert!((r.numbers["d0.3.theory.m2"] - 0.21).abs() < 1e-12);
        assert!((r.numbers["d0.3.theory.m3"] - 0.063).abs() < 1e-12);
        let mut declared = config.metrics();
        declared.sort();
        assert_eq!(r.numbers.keys().cloned().collect::<Vec<_>>(), declared);
        assert_eq!(r, config.run(&ProbeInput::seeded(1)).unwrap());
    }

    #[test]
    fn bad_configs_name_the_field() {
        let d = MultitaskHebbianConfig::default;
        let cases: Vec<(&str, MultitaskHebbianConfig)> = vec![
            ("neurons", MultitaskHebbianConfig { neurons: 1, ..d() }),
            ("patterns", MultitaskHebbianConfig { patterns: 0, ..d() }),
            ("dilutions", MultitaskHebbianConfig { dilutions: vec![], ..d() }),
            ("dilutions", MultitaskHebbianConfig { dilutions: vec![1.0], ..d() }),
            ("dilutions", MultitaskHebbianConfig { dilutions: vec![f64::NAN], ..d() }),
            ("sweeps", MultitaskHebbianConfig { sweeps: 0, ..d() }),
            ("learn_quality", MultitaskHebbianConfig { learn_quality: 0.0, ..d() }),
            ("learn_examples", MultitaskHebbianConfig { learn_examples: 0, ..d() }),
            ("poor_quality", MultitaskHebbianConfig { poor_quality: 2.0, ..d() }),
        ];
        for (field, config) in cases {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        // d = 0 (no blanks: plain Hopfield) and r = 1 are valid.
        MultitaskHebbianConfig { dilutions: vec![0.0], learn_quality: 1.0, ..d() }
            .validate()
            .unwrap();
    }
}
