//! Mini-batches of sample indices, reproducible per epoch.
//!
//! Epoch `k` is shuffled with [`Rng::seed`]`(`[`derive_seed`]`(seed, k))`, so a resumed run can
//! rebuild epoch `k` without replaying epochs `0..k`, and two epochs are independent shuffles.

use crate::error::DataError;
use crate::rng::{Rng, derive_seed};

/// An iterator over the index batches of one epoch.
#[derive(Debug, Clone)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    drop_last: bool,
}

impl Batches {
    /// Batches of `batch_size` indices over `0..n` for epoch `epoch`.
    ///
    /// With `shuffle` the order is a permutation fixed by `(seed, epoch)`; without it, `0..n` in
    /// order. With `drop_last` a final batch smaller than `batch_size` is left out.
    pub fn new(
        n: usize,
        batch_size: usize,
        seed: u64,
        epoch: u64,
        shuffle: bool,
        drop_last: bool,
    ) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::invalid("batch size 0 (must be at least 1)"));
        }
        let order = if shuffle {
            Rng::seed(derive_seed(seed, epoch)).permutation(n)
        } else {
            (0..n).collect()
        };
        Ok(Batches {
            order,
            batch_size,
            next: 0,
            drop_last,
        })
    }

    fn remaining_batches(&self) -> usize {
        let left = self.order.len() - self.next;
        if self.drop_last {
            left / self.batch_size
        } else {
            left.div_ceil(self.batch_size)
        }
    }
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.remaining_batches() == 0 {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let batch = self.order[self.next..end].to_vec();
        self.next = end;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let k = self.remaining_batches();
        (k, Some(k))
    }
}

impl ExactSizeIterator for Batches {}

/// All batches of one epoch at once; see [`Batches::new`].
pub fn epoch_batches(
    n: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
    shuffle: bool,
    drop_last: bool,
) -> Result<Vec<Vec<usize>>, DataError> {
    Ok(Batches::new(n, batch_size, seed, epoch, shuffle, drop_last)?.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffled_batches_by_hand() {
        // n = 7, b = 3: [0 1 2] [3 4 5] [6]; with drop_last the [6] is left out.
        let b = epoch_batches(7, 3, 0, 0, false, false).unwrap();
        assert_eq!(b, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        let b = epoch_batches(7, 3, 0, 0, false, true).unwrap();
        assert_eq!(b, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        let it = Batches::new(7, 3, 0, 0, false, false).unwrap();
        assert_eq!(it.len(), 3);
    }

    #[test]
    fn shuffled_epoch_covers_each_index_once() {
        let b = epoch_batches(103, 10, 5, 2, true, false).unwrap();
        assert_eq!(b.len(), 11);
        assert!(b[..10].iter().all(|x| x.len() == 10));
        assert_eq!(b[10].len(), 3);
        let mut all: Vec<usize> = b.into_iter().flatten().collect();
        assert_ne!(all, (0..103).collect::<Vec<_>>());
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
    }

    #[test]
    fn each_epoch_is_reproducible_on_its_own() {
        let e3 = epoch_batches(50, 8, 11, 3, true, true).unwrap();
        // Rebuilding epoch 3 directly, without epochs 0..3, gives the same batches.
        assert_eq!(e3, epoch_batches(50, 8, 11, 3, true, true).unwrap());
        assert_ne!(e3, epoch_batches(50, 8, 11, 4, true, true).unwrap());
        assert_ne!(e3, epoch_batches(50, 8, 12, 3, true, true).unwrap());
        assert_eq!(e3.len(), 6); // 50 / 8 = 6 full batches, 2 dropped.
    }

    #[test]
    fn zero_batch_size_is_an_error_and_empty_is_fine() {
        assert!(matches!(
            Batches::new(10, 0, 0, 0, true, false),
            Err(DataError::Invalid { .. })
        ));
        assert!(epoch_batches(0, 4, 0, 0, true, false).unwrap().is_empty());
        assert!(epoch_batches(3, 4, 0, 0, true, true).unwrap().is_empty());
    }
}
