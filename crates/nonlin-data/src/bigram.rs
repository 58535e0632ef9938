//! A bigram language model with add-α smoothing: the baseline a next-token model has to beat.
//!
//! Counts `c(a, b)` of token `b` following token `a` in a training sequence give
//! `P(b | a) = (c(a, b) + α) / (c(a) + α V)`, with `c(a) = Σ_b c(a, b)` and `V` the vocabulary size
//! (Lidstone smoothing; α = 1 is Laplace's add-one rule, see Jurafsky and Martin, "Speech and
//! Language Processing", ch. 3). A token never seen as a predecessor gets the uniform `1 / V`. The
//! loss is the mean negative log-likelihood `-ln P(next | prev)` in nats, the unit of the
//! cross-entropy a model reports, so the two compare directly.

use std::collections::HashMap;

use crate::error::DataError;

/// Bigram counts of a training sequence, ready to score (previous, next) token pairs.
///
/// Memory grows with the number of distinct pairs seen, not with `V²`, so large vocabularies fit.
#[derive(Debug, Clone)]
pub struct BigramModel {
    vocab: usize,
    smoothing: f64,
    /// `c(a, b)` for every pair seen.
    pair_counts: HashMap<(u32, u32), u64>,
    /// `c(a)`: how often `a` is followed by some token (the last token of `train` is not).
    prev_counts: HashMap<u32, u64>,
}

impl BigramModel {
    /// α, the count added to every pair: Laplace's add-one rule.
    pub const DEFAULT_SMOOTHING: f64 = 1.0;

    /// Count the bigrams of `train`, whose ids must be below `vocab`. `smoothing` is α, positive
    /// and finite ([`BigramModel::DEFAULT_SMOOTHING`] is 1): with α = 0 an unseen pair would have
    /// probability 0 and an infinite loss. An empty or one-token `train` gives the uniform model.
    pub fn fit(train: &[u32], vocab: usize, smoothing: f64) -> Result<Self, DataError> {
        if vocab == 0 {
            return Err(DataError::invalid(
                "BigramModel: vocabulary size 0 (need at least 1)",
            ));
        }
        if !(smoothing.is_finite() && smoothing > 0.0) {
            return Err(DataError::invalid(format!(
                "BigramModel: smoothing {smoothing} (must be positive and finite; 1 is add-one)"
            )));
        }
        let mut model = BigramModel {
            vocab,
            smoothing,
            pair_counts: HashMap::new(),
            prev_counts: HashMap::new(),
        };
        for (position, &id) in train.iter().enumerate() {
            model.check(id, position)?;
        }
        for pair in train.windows(2) {
            *model.pair_counts.entry((pair[0], pair[1])).or_default() += 1;
            *model.prev_counts.entry(pair[0]).or_default() += 1;
        }
        Ok(model)
    }

    /// The vocabulary size `V`.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The smoothing α.
    pub fn smoothing(&self) -> f64 {
        self.smoothing
    }

    /// `-ln P(next | prev)` in nats. An id `>= vocab` is an error (position 0 for `prev`, 1 for
    /// `next`).
    pub fn nll(&self, prev: u32, next: u32) -> Result<f64, DataError> {
        self.check(prev, 0)?;
        self.check(next, 1)?;
        Ok(self.nll_unchecked(prev, next))
    }

    /// The mean of [`BigramModel::nll`] over `pairs` of (previous token, next token): pass exactly
    /// the positions a model is evaluated on to compare the two. An id `>= vocab` is an error whose
    /// position is the index of its pair; an empty `pairs` is an error (its mean is undefined).
    pub fn mean_nll(&self, pairs: &[(u32, u32)]) -> Result<f64, DataError> {
        if pairs.is_empty() {
            return Err(DataError::invalid(
                "BigramModel::mean_nll: no pairs to evaluate",
            ));
        }
        let mut total = 0.0;
        for (position, &(prev, next)) in pairs.iter().enumerate() {
            self.check(prev, position)?;
            self.check(next, position)?;
            total += self.nll_unchecked(prev, next);
        }
        Ok(total / pairs.len() as f64)
    }

    /// The mean of [`BigramModel::nll`] over every consecutive pair of `tokens` (each token but
    /// the first predicted from the one before it). Needs at least two tokens; an id `>= vocab`
    /// is an error naming its position in `tokens`.
    pub fn mean_nll_of_sequence(&self, tokens: &[u32]) -> Result<f64, DataError> {
        if tokens.len() < 2 {
            return Err(DataError::invalid(format!(
                "BigramModel::mean_nll_of_sequence: {} tokens (need at least 2 to form a pair)",
                tokens.len()
            )));
        }
        for (position, &id) in tokens.iter().enumerate() {
            self.check(id, position)?;
        }
        let total: f64 = tokens
            .windows(2)
            .map(|pair| self.nll_unchecked(pair[0], pair[1]))
            .sum();
        Ok(total / (tokens.len() - 1) as f64)
    }

    /// `ln(c(a) + αV) - ln(c(a, b) + α)`, for ids already checked.
    fn nll_unchecked(&self, prev: u32, next: u32) -> f64 {
        let pair = self.pair_counts.get(&(prev, next)).copied().unwrap_or(0) as f64;
        let total = self.prev_counts.get(&prev).copied().unwrap_or(0) as f64;
        (total + self.smoothing * self.vocab as f64).ln() - (pair + self.smoothing).ln()
    }

    fn check(&self, id: u32, position: usize) -> Result<(), DataError> {
        if (id as usize) < self.vocab {
            Ok(())
        } else {
            Err(DataError::UnknownToken {
                id,
                position,
                vocab_len: self.vocab,
            })
        }
    }
}

/// The mean negative log-likelihood in nats of a bigram model fitted on `train` (add-`smoothing`,
/// see [`BigramModel::fit`]) on `eval_pairs` of (previous token, next token).
pub fn bigram_cross_entropy(
    train: &[u32],
    eval_pairs: &[(u32, u32)],
    vocab: usize,
    smoothing: f64,
) -> Result<f64, DataError> {
    BigramModel::fit(train, vocab, smoothing)?.mean_nll(eval_pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn two_symbol_corpus_by_hand() {
        // train = 0 0 1 0: pairs (0,0), (0,1), (1,0), so c(0,0) = c(0,1) = c(1,0) = 1, c(1,1) = 0,
        // c(0) = 2, c(1) = 1. With α = 1 and V = 2:
        // P(0|0) = (1+1)/(2+2) = 1/2, P(1|0) = 1/2, P(0|1) = (1+1)/(1+2) = 2/3, P(1|1) = 1/3.
        let m = BigramModel::fit(&[0, 0, 1, 0], 2, 1.0).unwrap();
        assert!(close(m.nll(0, 0).unwrap(), 2f64.ln()));
        assert!(close(m.nll(0, 1).unwrap(), 2f64.ln()));
        assert!(close(m.nll(1, 0).unwrap(), 1.5f64.ln()));
        assert!(close(m.nll(1, 1).unwrap(), 3f64.ln()));
        // Mean over (1,1) and (1,0): (ln 3 + ln 1.5) / 2 = ln(4.5) / 2 ≈ 0.752039.
        let ce = bigram_cross_entropy(&[0, 0, 1, 0], &[(1, 1), (1, 0)], 2, 1.0).unwrap();
        assert!(close(ce, 4.5f64.ln() / 2.0));
        assert!((ce - 0.752_039).abs() < 1e-6);
    }

    #[test]
    fn lidstone_smoothing_by_hand() {
        // Same counts with α = 0.5: P(1|1) = (0 + 0.5)/(1 + 0.5·2) = 1/4, P(0|1) = 1.5/2 = 3/4.
        let m = BigramModel::fit(&[0, 0, 1, 0], 2, 0.5).unwrap();
        assert!(close(m.nll(1, 1).unwrap(), 4f64.ln()));
        assert!(close(m.nll(1, 0).unwrap(), (4.0f64 / 3.0).ln()));
        assert_eq!(m.smoothing(), 0.5);
    }

    #[test]
    fn unseen_predecessor_and_empty_train_are_uniform() {
        // Token 2 never precedes anything (V = 3), so P(· | 2) = α / (0 + 3α) = 1/3.
        let m = BigramModel::fit(&[0, 1, 2], 3, 1.0).unwrap();
        assert!(close(m.nll(2, 0).unwrap(), 3f64.ln()));
        let empty = BigramModel::fit(&[], 5, 1.0).unwrap();
        assert!(close(empty.mean_nll(&[(0, 4), (3, 3)]).unwrap(), 5f64.ln()));
    }

    #[test]
    fn each_conditional_sums_to_one() {
        let train = [
            3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6,
        ];
        let m = BigramModel::fit(&train, 10, BigramModel::DEFAULT_SMOOTHING).unwrap();
        for prev in 0..10 {
            let total: f64 = (0..10)
                .map(|next| (-m.nll(prev, next).unwrap()).exp())
                .sum();
            assert!((total - 1.0).abs() < 1e-12, "prev {prev}: {total}");
        }
    }

    #[test]
    fn sequence_mean_equals_pair_mean() {
        let train = [0, 1, 2, 1, 0, 2, 2, 1];
        let held_out = [2, 0, 1, 1, 2];
        let m = BigramModel::fit(&train, 3, 1.0).unwrap();
        let pairs: Vec<(u32, u32)> = held_out.windows(2).map(|w| (w[0], w[1])).collect();
        assert!(close(
            m.mean_nll_of_sequence(&held_out).unwrap(),
            m.mean_nll(&pairs).unwrap()
        ));
        assert_eq!(m.vocab(), 3);
    }

    #[test]
    fn bad_arguments() {
        assert!(matches!(
            BigramModel::fit(&[0], 0, 1.0),
            Err(DataError::Invalid { .. })
        ));
        for alpha in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    BigramModel::fit(&[0], 2, alpha),
                    Err(DataError::Invalid { .. })
                ),
                "{alpha}"
            );
        }
        assert!(matches!(
            BigramModel::fit(&[0, 1, 2], 2, 1.0),
            Err(DataError::UnknownToken {
                id: 2,
                position: 2,
                vocab_len: 2
            })
        ));
        let m = BigramModel::fit(&[0, 1], 2, 1.0).unwrap();
        assert!(matches!(
            m.nll(0, 7),
            Err(DataError::UnknownToken {
                id: 7,
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            m.mean_nll(&[(0, 1), (5, 0)]),
            Err(DataError::UnknownToken {
                id: 5,
                position: 1,
                ..
            })
        ));
        assert!(matches!(m.mean_nll(&[]), Err(DataError::Invalid { .. })));
        assert!(matches!(
            m.mean_nll_of_sequence(&[1]),
            Err(DataError::Invalid { .. })
        ));
        assert!(matches!(
            m.mean_nll_of_sequence(&[1, 0, 3]),
            Err(DataError::UnknownToken { position: 2, .. })
        ));
    }
}
