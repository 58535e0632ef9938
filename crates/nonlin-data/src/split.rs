//! Deterministic train / validation / test splits from a seed.
//!
//! The indices `0..n` are shuffled once with [`Rng::seed`]`(seed)` and cut at the cumulative
//! fractions: part `k` takes positions `round(n * (f_0 + .. + f_{k-1}))..round(n * (f_0 + .. +
//! f_k))`. When the fractions sum to 1 the last part ends at `n`, so the parts cover every sample;
//! when they sum to less, the remainder is left out. Each part is returned sorted, which keeps
//! [`Dataset::subset`] reads in memory order; shuffling for training is [`crate::Batches`]' job.

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::rng::Rng;

/// How far above 1 the fractions may sum (rounding in decimal fractions like 0.7 + 0.2 + 0.1).
const SUM_TOLERANCE: f64 = 1e-9;

/// Split `0..n` into disjoint parts of the given fractions, deterministically from `seed`.
///
/// Every fraction must be finite and positive and their sum at most 1 (within 1e-9).
pub fn split_indices(n: usize, fractions: &[f64], seed: u64) -> Result<Vec<Vec<usize>>, DataError> {
    if fractions.is_empty() {
        return Err(DataError::invalid("split fractions: none given"));
    }
    if let Some(f) = fractions.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(DataError::invalid(format!(
            "split fraction {f} (every fraction must be finite and positive)"
        )));
    }
    let total: f64 = fractions.iter().sum();
    if total > 1.0 + SUM_TOLERANCE {
        return Err(DataError::invalid(format!(
            "split fractions {fractions:?} sum to {total}, more than 1"
        )));
    }
    let covers_all = total >= 1.0 - SUM_TOLERANCE;

    let order = Rng::seed(seed).permutation(n);
    let mut parts = Vec::with_capacity(fractions.len());
    let mut cumulative = 0.0;
    let mut start = 0;
    for (k, f) in fractions.iter().enumerate() {
        cumulative += f;
        let end = if covers_all && k + 1 == fractions.len() {
            n
        } else {
            ((cumulative * n as f64).round() as usize).min(n)
        };
        let mut part = order[start..end].to_vec();
        part.sort_unstable();
        parts.push(part);
        start = end;
    }
    Ok(parts)
}

impl Dataset {
    /// Split into one data set per fraction (see [`split_indices`]); part `k` is named
    /// `{name}-part{k}`.
    pub fn split(&self, fractions: &[f64], seed: u64) -> Result<Vec<Dataset>, DataError> {
        let parts = split_indices(self.len(), fractions, seed)?;
        Ok(parts
            .iter()
            .enumerate()
            .map(|(k, idx)| {
                let mut d = self.subset(idx);
                d.name = format!("{}-part{k}", self.name);
                d
            })
            .collect())
    }

    /// Hold out a fraction `frac` (in `(0, 1)`) as validation data: returns `(train, validation)`,
    /// named `{name}-train` and `{name}-validation`, together covering every sample once.
    pub fn split_off_validation(
        &self,
        frac: f64,
        seed: u64,
    ) -> Result<(Dataset, Dataset), DataError> {
        if !(frac > 0.0 && frac < 1.0) {
            return Err(DataError::invalid(format!(
                "validation fraction {frac} (must lie strictly between 0 and 1)"
            )));
        }
        let parts = split_indices(self.len(), &[1.0 - frac, frac], seed)?;
        let mut train = self.subset(&parts[0]);
        train.name = format!("{}-train", self.name);
        let mut validation = self.subset(&parts[1]);
        validation.name = format!("{}-validation", self.name);
        Ok((train, validation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_disjoint_covering(parts: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn sizes_follow_the_fractions() {
        // n = 10, fractions 0.7 / 0.2 / 0.1: cuts at round(7.0) = 7 and round(9.0) = 9, last ends at 10.
        let parts = split_indices(10, &[0.7, 0.2, 0.1], 1).unwrap();
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![7, 2, 1]);
        check_disjoint_covering(&parts, 10);
        // n = 7, halves: cut at round(3.5) = 4.
        let parts = split_indices(7, &[0.5, 0.5], 1).unwrap();
        assert_eq!(parts[0].len(), 4);
        assert_eq!(parts[1].len(), 3);
    }

    #[test]
    fn deterministic_disjoint_and_covering() {
        let a = split_indices(1000, &[0.8, 0.1, 0.1], 42).unwrap();
        let b = split_indices(1000, &[0.8, 0.1, 0.1], 42).unwrap();
        let c = split_indices(1000, &[0.8, 0.1, 0.1], 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        check_disjoint_covering(&a, 1000);
        for part in &a {
            assert!(part.windows(2).all(|w| w[0] < w[1]), "parts are sorted");
        }
    }

    #[test]
    fn fractions_below_one_leave_the_rest_out() {
        // 0.25 of 8 = 2 and 0.25 more ends at 4; samples at positions 4..8 of the shuffle are unused.
        let parts = split_indices(8, &[0.25, 0.25], 5).unwrap();
        assert_eq!(parts[0].len(), 2);
        assert_eq!(parts[1].len(), 2);
        assert!(parts[0].iter().all(|i| !parts[1].contains(i)));
    }

    #[test]
    fn bad_fractions_are_errors() {
        for bad in [&[][..], &[0.5, 0.6], &[0.0, 0.5], &[-0.1], &[f64::NAN]] {
            assert!(
                matches!(split_indices(10, bad, 0), Err(DataError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(split_indices(0, &[1.0], 0).unwrap()[0].is_empty());
    }

    #[test]
    fn validation_split_of_a_dataset() {
        let d = Dataset::new(
            "d",
            (0..10).map(|i| i as f32).collect(),
            vec![1],
            (0..10).map(|i| i % 2).collect(),
            2,
        )
        .unwrap();
        let (train, val) = d.split_off_validation(0.2, 3).unwrap();
        assert_eq!((train.len(), val.len()), (8, 2));
        assert_eq!(train.name, "d-train");
        assert_eq!(val.name, "d-validation");
        // Sample i holds the value i with label i % 2, so the pairing survives the split.
        let mut seen: Vec<usize> = Vec::new();
        for part in [&train, &val] {
            for (v, l) in part.x.iter().zip(part.labels().unwrap()) {
                assert_eq!(*v as u32 % 2, *l);
                seen.push(*v as usize);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(d.split_off_validation(1.0, 0).is_err());
        assert!(d.split_off_validation(0.0, 0).is_err());
        let parts = d.split(&[0.5, 0.5], 0).unwrap();
        assert_eq!(parts[1].name, "d-part1");
    }
}
