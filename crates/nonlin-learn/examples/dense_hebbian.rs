//! The dense Hebbian network's simulation experiment of the notes (learning-rules.md 6.3, the
//! reference `specs/sims/dense.py`): zero-temperature retrieval of archetype 1 from 20% flipped
//! spins, N = 100, r = 0.6, M = 30, supervised storage, P in {2, 4}, K in {5, 20, 60, 150},
//! 3 seeds; then P = 4, K = 60, r = 0.3 for M in {2, 10, 50, 200}.
//!
//! `cargo run --release -p nonlin-learn --example dense_hebbian`

use nonlin_learn::hebbian::dense::{Storage, retrieval};

fn main() {
    for p in [2, 4] {
        for k in [5, 20, 60, 150] {
            let ms: Vec<String> = (0..3)
                .map(|seed| {
                    let m = retrieval(100, k, p, 0.6, 30, 0.2, 15, Storage::Supervised, seed)
                        .expect("valid settings");
                    format!("{m:.3}")
                })
                .collect();
            println!("P {p} K {k:>3} m [{}]", ms.join(", "));
        }
    }
    let vary: Vec<String> = [2, 10, 50, 200]
        .iter()
        .map(|&m| {
            let mag = retrieval(100, 60, 4, 0.3, m, 0.2, 15, Storage::Supervised, 0)
                .expect("valid settings");
            format!("M {m}: {mag:.3}")
        })
        .collect();
    println!("P 4 K 60 r 0.3, vary M: {}", vary.join(", "));
}
