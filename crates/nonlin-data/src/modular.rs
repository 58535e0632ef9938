//! Modular addition, the task of the grokking experiments.
//!
//! Power, Burda, Edwards, Babuschkin and Misra, "Grokking: Generalization Beyond Overfitting on
//! Small Algorithmic Datasets" (arXiv:2201.02177). Every pair `(a, b)` with `a, b < p` is one
//! sample with label `(a + b) mod p`; the input is `one_hot(a) ‖ one_hot(b)`, `2p` features.
//! The task is complete and needs no seed: train/test splits come from [`crate::split_indices`].

use crate::dataset::Dataset;
use crate::error::DataError;

/// All `p * p` pairs in the order `(0,0), (0,1), .., (p-1,p-1)`: sample `a * p + b` is `(a, b)`.
///
/// `sample_shape` is `[2p]`, `classes` is `p`; `p` must be at least 2.
pub fn modular_addition(p: usize) -> Result<Dataset, DataError> {
    if p < 2 {
        return Err(DataError::invalid(format!(
            "modular_addition: modulus p = {p} (must be at least 2)"
        )));
    }
    let width = 2 * p;
    let mut x = vec![0.0f32; p * p * width];
    let mut y = Vec::with_capacity(p * p);
    for a in 0..p {
        for b in 0..p {
            let row = &mut x[(a * p + b) * width..][..width];
            row[a] = 1.0;
            row[p + b] = 1.0;
            y.push(((a + b) % p) as u32);
        }
    }
    Dataset::new(format!("modular-addition-{p}"), x, vec![width], y, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_one_hot_by_hand() {
        let d = modular_addition(5).unwrap();
        assert_eq!(d.len(), 25);
        assert_eq!(d.sample_shape, vec![10]);
        assert_eq!(d.classes(), Some(5));
        // Sample 3 * 5 + 4 = 19 is (3, 4): label (3 + 4) mod 5 = 2, ones at 3 and 5 + 4 = 9.
        assert_eq!(d.labels().unwrap()[19], 2);
        let s = d.sample(19);
        assert_eq!(s.iter().sum::<f32>(), 2.0);
        assert_eq!((s[3], s[9]), (1.0, 1.0));
        // Every residue appears p times.
        assert_eq!(d.class_counts(), vec![5; 5]);
    }

    #[test]
    fn deterministic_and_rejects_small_p() {
        assert_eq!(modular_addition(7).unwrap(), modular_addition(7).unwrap());
        assert!(matches!(
            modular_addition(1),
            Err(DataError::Invalid { .. })
        ));
        assert!(matches!(
            modular_addition(0),
            Err(DataError::Invalid { .. })
        ));
        assert_eq!(
            modular_addition(2).unwrap().labels().unwrap(),
            &[0, 1, 1, 0]
        );
    }
}
