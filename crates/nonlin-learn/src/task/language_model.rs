//! Language modelling: next-token prediction on a token sequence cut into contexts of `T`
//! tokens. Metrics are the mean cross-entropy in nats per token, bits per character (or byte:
//! the loss over ln 2), next-token accuracy, and the loss of a bigram model fitted to the training
//! tokens on exactly the positions the model is scored on, as the baseline to beat.
//!
//! Training items are windows `tokens[i..i + T]` with targets `tokens[i + 1..i + T + 1]`, one per
//! start `i`. Evaluation scores a fixed slice at the start of the held-out tokens: a model that
//! predicts every position reads non-overlapping windows; a model that predicts only the next
//! token reads, for each scored position `p >= T`, the `T` tokens before it.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::{BigramModel, Vocab};
use nonlin_nn::{InputSpec, ModelInput, ModelIo};

use super::{ClassSums, EvalOptions, Predict, Split, Task, TaskDescription, TaskKind};
use crate::{LearnError, Metrics, Target, TensorBatch};

/// Additive smoothing of the bigram baseline's counts (Laplace).
const BIGRAM_SMOOTHING: f64 = 1.0;

/// The token ids of a corpus split in order: training tokens, then (optionally) validation, then
/// test (the end of the corpus).
#[derive(Debug, Clone)]
pub struct TextSplits {
    pub train: Vec<u32>,
    pub validation: Option<Vec<u32>>,
    pub test: Vec<u32>,
    pub vocab: Vocab,
}

/// Next-token prediction on a tokenised corpus.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    splits: TextSplits,
    context: usize,
    /// Positions scored per evaluation (`None`: every position of the split).
    eval_tokens: Option<usize>,
    bigram: BigramModel,
    io: ModelIo,
}

impl LanguageModel {
    /// The task on these splits with contexts of `context` tokens, scoring at most `eval_tokens`
    /// positions per evaluation.
    pub fn new(
        splits: TextSplits,
        context: usize,
        eval_tokens: Option<usize>,
    ) -> Result<Self, LearnError> {
        if context == 0 {
            return Err(LearnError::Batch(
                "the context must be at least 1 token".into(),
            ));
        }
        if eval_tokens == Some(0) {
            return Err(LearnError::Batch("eval_tokens must be at least 1".into()));
        }
        let need = context + 1;
        for (name, tokens) in [("train", Some(&splits.train)), ("test", Some(&splits.test))]
            .into_iter()
            .chain([("validation", splits.validation.as_ref())])
        {
            if let Some(tokens) = tokens
                && tokens.len() < need
            {
                return Err(LearnError::Batch(format!(
                    "the {name} split has {} tokens; a context of {context} needs at least {need}",
                    tokens.len()
                )));
            }
        }
        let vocab = splits.vocab.len();
        let bigram = BigramModel::fit(&splits.train, vocab, BIGRAM_SMOOTHING)?;
        Ok(Self {
            io: ModelIo {
                input: InputSpec::Tokens { vocab, context },
                output: vec![vocab],
            },
            splits,
            context,
            eval_tokens,
            bigram,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.splits.vocab
    }

    fn tokens(&self, split: Split) -> Option<&[u32]> {
        match split {
            Split::Validation => self.splits.validation.as_deref(),
            Split::Test => Some(&self.splits.test),
        }
    }

    /// Start positions of the evaluation windows and the number of scored positions.
    fn eval_windows(&self, len: usize, every_position: bool) -> Vec<usize> {
        let t = self.context;
        if every_position {
            // Windows [s, s + T) predict s + 1 .. s + T; they need s + T + 1 <= len.
            let available = (len - 1) / t;
            let wanted = self.eval_tokens.map_or(available, |n| n.div_ceil(t).max(1));
            (0..available.min(wanted)).map(|w| w * t).collect()
        } else {
            // Position p in [T, len) is predicted from [p - T, p): window start p - T.
            let available = len - t;
            let wanted = self.eval_tokens.unwrap_or(available);
            (0..available.min(wanted)).collect()
        }
    }

    fn windows(&self, tokens: &[u32], starts: &[usize], device: &Device) -> TensorBatch {
        let t = self.context;
        let n = starts.len();
        let mut input = Vec::with_capacity(n * t);
        let mut next = Vec::with_capacity(n * t);
        for &s in starts {
            input.extend(tokens[s..s + t].iter().map(|&v| i64::from(v)));
            next.extend(tokens[s + 1..s + t + 1].iter().map(|&v| i64::from(v)));
        }
        TensorBatch {
            input: ModelInput::Tokens(Tensor::<2, Int>::from_data(
                TensorData::new(input, [n, t]),
                device,
            )),
            target: Target::NextTokens(Tensor::<2, Int>::from_data(
                TensorData::new(next, [n, t]),
                device,
            )),
        }
    }
}

impl Task for LanguageModel {
    fn kind(&self) -> TaskKind {
        TaskKind::LanguageModel
    }

    fn io(&self) -> &ModelIo {
        &self.io
    }

    fn train_len(&self) -> usize {
        self.splits.train.len() - self.context
    }

    fn units_per_item(&self) -> usize {
        self.context
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError> {
        if indices.is_empty() {
            return Err(LearnError::Batch("empty batch".into()));
        }
        Ok(self.windows(&self.splits.train, indices, device))
    }

    fn has_validation(&self) -> bool {
        self.splits.validation.is_some()
    }

    fn split_len(&self, split: Split) -> usize {
        self.tokens(split).map_or(0, <[u32]>::len)
    }

    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError> {
        let tokens = self
            .tokens(split)
            .ok_or_else(|| LearnError::Batch(format!("no {} split", split.name())))?;
        let starts = self.eval_windows(tokens.len(), options.every_position);
        let per_batch = if options.every_position {
            options.batch_size.div_ceil(self.context).max(1)
        } else {
            options.batch_size.max(1)
        };
        let mut sums = ClassSums::default();
        let mut bigram_sum = 0.0;
        let mut bigram_count = 0usize;
        for chunk in starts.chunks(per_batch) {
            let batch = self.windows(tokens, chunk, options.device);
            let output = predict(&batch.input)?;
            sums.add(&batch.target, output)?;
            for &s in chunk {
                let scored = if options.every_position {
                    s + 1..s + self.context + 1
                } else {
                    s + self.context..s + self.context + 1
                };
                for p in scored {
                    bigram_sum += self.bigram.nll(tokens[p - 1], tokens[p])?;
                    bigram_count += 1;
                }
            }
        }
        let loss = sums.loss();
        Ok(Metrics::from([
            ("loss".to_string(), loss),
            ("bpc".to_string(), loss / std::f64::consts::LN_2),
            ("accuracy".to_string(), sums.accuracy()),
            (
                "bigram_loss".to_string(),
                bigram_sum / bigram_count.max(1) as f64,
            ),
        ]))
    }

    fn describe(&self) -> TaskDescription {
        TaskDescription {
            kind: self.kind(),
            io: self.io.clone(),
            train_len: self.train_len(),
            vocab: self.splits.vocab.chars().map(<[char]>::to_vec),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Tokens 0..12 of a vocabulary of 12: train 0..8, test 8..12 ... a corpus where every
    /// position is its own id, so windows and targets can be read off.
    fn task(context: usize, eval_tokens: Option<usize>) -> LanguageModel {
        let text: String = "abcdefghijkl".into();
        let vocab = Vocab::chars_of(&text);
        let tokens = vocab.encode(&text).unwrap();
        let splits = TextSplits {
            train: tokens[..8].to_vec(),
            validation: None,
            test: tokens[4..12].to_vec(),
            vocab,
        };
        LanguageModel::new(splits, context, eval_tokens).unwrap()
    }

    #[test]
    fn training_windows_and_next_tokens() {
        let device = Device::flex();
        let t = task(3, None);
        // 8 training tokens, contexts of 3: starts 0..=4 (the target of start 4 is token 7)
        assert_eq!(t.train_len(), 5);
        let b = t.train_batch(&[4, 0], &device).unwrap();
        let ModelInput::Tokens(x) = &b.input else {
            panic!()
        };
        assert_eq!(
            x.clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![4, 5, 6, 0, 1, 2]
        );
        let Target::NextTokens(y) = &b.target else {
            panic!()
        };
        assert_eq!(
            y.clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![5, 6, 7, 1, 2, 3]
        );
    }

    /// Which inputs the evaluation feeds, for both kinds of model, and that the bigram is scored
    /// on the same positions as the model.
    #[test]
    fn evaluation_windows_and_bigram_positions() {
        let device = Device::flex();
        // test tokens 4..12 (8 tokens)
        for (every, eval_tokens, expected) in [
            // next-token model: positions p in [3, 8) from the 3 before: starts 0..5
            (
                false,
                None,
                vec![
                    vec![4, 5, 6],
                    vec![5, 6, 7],
                    vec![6, 7, 8],
                    vec![7, 8, 9],
                    vec![8, 9, 10],
                ],
            ),
            (false, Some(2), vec![vec![4, 5, 6], vec![5, 6, 7]]),
            // every-position model: non-overlapping windows needing s + 4 <= 8: starts 0, 3
            (true, None, vec![vec![4, 5, 6], vec![7, 8, 9]]),
            (true, Some(3), vec![vec![4, 5, 6]]),
        ] {
            let t = task(3, eval_tokens);
            let seen = RefCell::new(Vec::new());
            let mut predict = |input: &ModelInput| {
                let x = input.tokens("t").unwrap();
                let [b, c] = x.dims();
                for row in x
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .unwrap()
                    .chunks(c)
                {
                    seen.borrow_mut().push(row.to_vec());
                }
                let rows = if every { b * c } else { b };
                Ok(Tensor::<2>::zeros([rows, 12], &device))
            };
            let options = EvalOptions {
                device: &device,
                batch_size: 2,
                every_position: every,
            };
            let m = t.evaluate(Split::Test, &mut predict, &options).unwrap();
            assert_eq!(
                *seen.borrow(),
                expected,
                "every {every}, eval_tokens {eval_tokens:?}"
            );
            // uniform logits over 12 tokens: loss ln 12
            assert!((m["loss"] - 12f64.ln()).abs() < 1e-6, "{m:?}");
            // The bigram fitted on 0..8 (each pair (k, k+1) once, add-one smoothing) gives
            // p(k+1 | k) = 2 / 13 for k < 7 and 1 / 12 where k = 7 (no continuation seen, so
            // uniform), and p = 1 / 12 from an unseen previous token.
            let nll = |prev: usize, next: usize| -> f64 {
                if prev < 7 && next == prev + 1 {
                    -(2.0f64 / 13.0).ln()
                } else if prev < 7 {
                    -(1.0f64 / 13.0).ln()
                } else {
                    -(1.0f64 / 12.0).ln()
                }
            };
            let mut pairs = Vec::new();
            for w in &expected {
                let last = *w.last().unwrap() as usize;
                if every {
                    for (k, &tok) in w.iter().enumerate() {
                        pairs.push((
                            tok as usize,
                            if k + 1 < w.len() {
                                w[k + 1] as usize
                            } else {
                                last + 1
                            },
                        ));
                    }
                } else {
                    pairs.push((last, last + 1));
                }
            }
            let want = pairs.iter().map(|&(a, b)| nll(a, b)).sum::<f64>() / pairs.len() as f64;
            assert!(
                (m["bigram_loss"] - want).abs() < 1e-9,
                "{} vs {want}",
                m["bigram_loss"]
            );
        }
    }

    #[test]
    fn too_short_splits_and_zero_settings_are_errors() {
        let vocab = Vocab::chars_of("ab");
        let splits = |n: usize| TextSplits {
            train: vec![0; n],
            validation: None,
            test: vec![1; 10],
            vocab: vocab.clone(),
        };
        assert!(LanguageModel::new(splits(4), 4, None).is_err());
        assert!(LanguageModel::new(splits(5), 4, None).is_ok());
        assert!(LanguageModel::new(splits(10), 0, None).is_err());
        assert!(LanguageModel::new(splits(10), 2, Some(0)).is_err());
    }
}
