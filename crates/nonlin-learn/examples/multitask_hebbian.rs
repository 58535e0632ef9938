//! The multitasking Hebbian network's simulation experiment of the notes (learning-rules.md 7.2,
//! the reference `specs/sims/multitask.py`): N = 2000, K = 3, zero temperature, 20 sweeps from
//! the hierarchical start, magnetisations against `(1 - d) d^{k-1}` (mean of seeds 0..20 and
//! seed 0 alone); then learning from examples, K = 2, d = 0.3.
//!
//! `cargo run --release -p nonlin-learn --example multitask_hebbian`

use nonlin_learn::hebbian::multitask::{Couplings, MultitaskConfig, Start, simulate};

fn mean(config: &MultitaskConfig) -> Vec<f64> {
    let runs: Vec<Vec<f64>> = (0..20)
        .map(|s| simulate(config, s).expect("valid"))
        .collect();
    (0..runs[0].len())
        .map(|k| runs.iter().map(|m| m[k]).sum::<f64>() / runs.len() as f64)
        .collect()
}

fn show(m: &[f64]) -> String {
    m.iter()
        .map(|v| format!("{v:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let base = MultitaskConfig {
        neurons: 2000,
        patterns: 3,
        dilution: 0.1,
        couplings: Couplings::Patterns,
        start: Start::Hierarchical,
        sweeps: 20,
        beta: None,
    };
    for d in [0.1, 0.3, 0.5, 0.7, 0.8] {
        let c = MultitaskConfig {
            dilution: d,
            ..base.clone()
        };
        let theory: Vec<f64> = (0..3).map(|k| (1.0 - d) * d.powi(k)).collect();
        println!(
            "K 3 d {d}: mean of 20 seeds ({}), seed 0 ({}), theory ({})",
            show(&mean(&c)),
            show(&simulate(&c, 0).expect("valid")),
            show(&theory)
        );
    }
    for (name, couplings) in [
        (
            "supervised r 0.5 M 40",
            Couplings::Supervised {
                quality: 0.5,
                examples: 40,
            },
        ),
        (
            "unsupervised r 0.5 M 40",
            Couplings::Unsupervised {
                quality: 0.5,
                examples: 40,
            },
        ),
        (
            "supervised r 0.2 M 5",
            Couplings::Supervised {
                quality: 0.2,
                examples: 5,
            },
        ),
    ] {
        let c = MultitaskConfig {
            patterns: 2,
            dilution: 0.3,
            couplings,
            ..base.clone()
        };
        println!("K 2 d 0.3 {name}: mean of 20 seeds ({})", show(&mean(&c)));
    }
}
