//! Dense Hebbian network, the simulation of the notes as a probe (Agliari, Albanese, Alemanno,
//! Alessandrelli, Barra, Giannotti, Lotito, Pedreschi, "Dense Hebbian neural networks: a replica
//! symmetric picture of supervised learning", arXiv:2212.00606; no official code).
//!
//! The network lives in `nonlin_learn::hebbian::dense`: P-body energy
//! `H(sigma) = -N sum_k w_k (v_k . sigma / N)^P` over the vectors stored from M noisy examples
//! `eta = chi ⊙ xi` of quality r of each of K archetypes (supervised: the class means). The probe
//! runs the notes' experiment (learning-rules.md 6.3, reference `specs/sims/dense.py`): start
//! from archetype 1 with a fraction `flip` of its spins flipped, relax at zero temperature, and
//! report the Mattis magnetisation `m = xi^1 . sigma / N`
//! - `m.p{P}.k{K}` for every order P and load K (N = 100, r = 0.6, M = 30);
//! - `threshold.m{M}` for every number of examples M at the learning-threshold point (P = 4,
//!   K = 60, r = 0.3).
//!
//! The examples of one seed are the same draws for every P (a paired comparison). The
//! normalisations the notes mark UNCONFIRMED are those of `nonlin_learn::hebbian::dense`
//! (they do not change the zero-temperature dynamics).

use nonlin_learn::hebbian::dense::{Storage, retrieval};
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "dense_hebbian";

/// How the examples are stored (`storage` in the `[probe]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// The class means (a teacher groups the examples).
    Supervised,
    /// Every example on its own.
    Unsupervised,
}

impl From<StorageKind> for Storage {
    fn from(kind: StorageKind) -> Self {
        match kind {
            StorageKind::Supervised => Storage::Supervised,
            StorageKind::Unsupervised => Storage::Unsupervised,
        }
    }
}

/// Configuration of the dense Hebbian probe, with the notes' defaults (section 6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenseHebbianConfig {
    /// N, the neurons.
    pub neurons: usize,
    /// P, the interaction orders (even).
    pub orders: Vec<u32>,
    /// K, the numbers of archetypes.
    pub archetypes: Vec<usize>,
    /// r, the quality of the examples.
    pub quality: f64,
    /// M, the examples per archetype.
    pub examples: usize,
    /// Fraction of archetype 1's spins flipped at the start.
    pub flip: f64,
    /// Sweeps of N single-spin updates.
    pub sweeps: usize,
    pub storage: StorageKind,
    /// The learning-threshold study: P, K and r, and the numbers of examples M to try.
    pub threshold_order: u32,
    pub threshold_archetypes: usize,
    pub threshold_quality: f64,
    pub threshold_examples: Vec<usize>,
}

impl Default for DenseHebbianConfig {
    fn default() -> Self {
        Self {
            neurons: 100,
            orders: vec![2, 4],
            archetypes: vec![5, 20, 60, 150],
            quality: 0.6,
            examples: 30,
            flip: 0.2,
            sweeps: 15,
            storage: StorageKind::Supervised,
            threshold_order: 4,
            threshold_archetypes: 60,
            threshold_quality: 0.3,
            threshold_examples: vec![2, 10, 50, 200],
        }
    }
}

/// Checks that `value` lies in `(0, 1]` (a quality) or `[0, 1]` (a fraction).
fn unit(field: &'static str, value: f64, zero_ok: bool) -> Result<(), TheoryError> {
    let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || (zero_ok && value == 0.0));
    if ok {
        Ok(())
    } else {
        let range = if zero_ok { "[0, 1]" } else { "(0, 1]" };
        Err(TheoryError::config(
            NAME,
            field,
            format!("must be in {range}, got {value}"),
        ))
    }
}

/// Checks that an order is even and in 2..=16.
fn even_order(field: &'static str, p: u32) -> Result<(), TheoryError> {
    if (2..=16).contains(&p) && p.is_multiple_of(2) {
        Ok(())
    } else {
        Err(TheoryError::config(
            NAME,
            field,
            format!("orders must be even and in 2..=16, got {p}"),
        ))
    }
}

impl DenseHebbianConfig {
    fn retrieve(
        &self,
        archetypes: usize,
        order: u32,
        quality: f64,
        examples: usize,
        seed: u64,
    ) -> Result<f64, TheoryError> {
        retrieval(
            self.neurons,
            archetypes,
            order,
            quality,
            examples,
            self.flip,
            self.sweeps,
            self.storage.into(),
            seed,
        )
        .map_err(|e| TheoryError::numerical(NAME, e.to_string()))
    }
}

impl Probe for DenseHebbianConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        in_range(NAME, "neurons", self.neurons, 2, 1 << 20)?;
        non_empty(NAME, "orders", &self.orders)?;
        for &p in &self.orders {
            even_order("orders", p)?;
        }
        non_empty(NAME, "archetypes", &self.archetypes)?;
        for &k in &self.archetypes {
            in_range(NAME, "archetypes", k, 1, 100_000)?;
        }
        unit("quality", self.quality, false)?;
        in_range(NAME, "examples", self.examples, 1, 100_000)?;
        unit("flip", self.flip, true)?;
        in_range(NAME, "sweeps", self.sweeps, 1, 100_000)?;
        even_order("threshold_order", self.threshold_order)?;
        in_range(
            NAME,
            "threshold_archetypes",
            self.threshold_archetypes,
            1,
            100_000,
        )?;
        unit("threshold_quality", self.threshold_quality, false)?;
        for &m in &self.threshold_examples {
            in_range(NAME, "threshold_examples", m, 1, 100_000)?;
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.orders {
            for k in &self.archetypes {
                out.push(format!("m.p{p}.k{k}"));
            }
        }
        for m in &self.threshold_examples {
            out.push(format!("threshold.m{m}"));
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let mut report = ProbeReport::default();
        let mut table = ReportTable::new(
            "retrieval",
            "Mattis magnetisation of archetype 1 after relaxation",
            ["P", "K", "m"],
        );
        let mut load = SeriesGroup::new(
            "retrieval_vs_load",
            "Retrieval of archetype 1 against the load",
            "archetypes K",
            "magnetisation m",
        );
        for &p in &self.orders {
            let mut points = Vec::new();
            for &k in &self.archetypes {
                let m = self.retrieve(k, p, self.quality, self.examples, input.seed)?;
                report.set(format!("m.p{p}.k{k}"), m);
                table.push([p.to_string(), k.to_string(), format!("{m:.4}")]);
                points.push((k as f64, m));
            }
            load = load.line(format!("P = {p}"), points);
        }
        let mut threshold = Vec::new();
        for &m in &self.threshold_examples {
            let mag = self.retrieve(
                self.threshold_archetypes,
                self.threshold_order,
                self.threshold_quality,
                m,
                input.seed,
            )?;
            report.set(format!("threshold.m{m}"), mag);
            threshold.push((m as f64, mag));
        }
        report.series.push(load);
        if !threshold.is_empty() {
            report.series.push(
                SeriesGroup::new(
                    "threshold",
                    "Learning threshold in the number of examples",
                    "examples M",
                    "magnetisation m",
                )
                .line(
                    format!(
                        "P = {}, K = {}, r = {}",
                        self.threshold_order, self.threshold_archetypes, self.threshold_quality
                    ),
                    threshold,
                ),
            );
        }
        report.tables.push(table);
        report.notes.push(format!(
            "N = {}, r = {}, M = {}, {}% of archetype 1's spins flipped at the start, {} sweeps at \
             zero temperature, {:?} storage.",
            self.neurons,
            self.quality,
            self.examples,
            self.flip * 100.0,
            self.sweeps,
            self.storage
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number the probe reports is one it declares, and a seed repeats itself.
    #[test]
    fn reports_its_declared_numbers_deterministically() {
        let config = DenseHebbianConfig {
            archetypes: vec![5],
            threshold_examples: vec![50],
            ..DenseHebbianConfig::default()
        };
        config.validate().unwrap();
        let a = config.run(&ProbeInput::seeded(3)).unwrap();
        let names: Vec<String> = a.numbers.keys().cloned().collect();
        let mut declared = config.metrics();
        declared.sort();
        assert_eq!(names, declared);
        assert_eq!(a, config.run(&ProbeInput::seeded(3)).unwrap());
        // With K = 5 both orders retrieve archetype 1 (notes 6.3: m >= 0.95 at seeds 0-2).
        assert!(a.numbers["m.p4.k5"] >= 0.9, "{:?}", a.numbers);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases: Vec<(&str, DenseHebbianConfig)> = vec![
            ("neurons", DenseHebbianConfig { neurons: 0, ..Default::default() }),
            ("orders", DenseHebbianConfig { orders: vec![], ..Default::default() }),
            ("orders", DenseHebbianConfig { orders: vec![3], ..Default::default() }),
            ("archetypes", DenseHebbianConfig { archetypes: vec![0], ..Default::default() }),
            ("quality", DenseHebbianConfig { quality: 0.0, ..Default::default() }),
            ("quality", DenseHebbianConfig { quality: f64::NAN, ..Default::default() }),
            ("quality", DenseHebbianConfig { quality: 1.5, ..Default::default() }),
            ("flip", DenseHebbianConfig { flip: -0.1, ..Default::default() }),
            ("sweeps", DenseHebbianConfig { sweeps: 0, ..Default::default() }),
            ("threshold_order", DenseHebbianConfig { threshold_order: 0, ..Default::default() }),
            ("threshold_examples", DenseHebbianConfig { threshold_examples: vec![0], ..Default::default() }),
        ];
        for (field, config) in cases {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        // A flip of exactly 0 (start at the archetype) and r = 1 (perfect examples) are valid.
        let edge = DenseHebbianConfig { flip: 0.0, quality: 1.0, ..Default::default() };
        edge.validate().unwrap();
    }
}
