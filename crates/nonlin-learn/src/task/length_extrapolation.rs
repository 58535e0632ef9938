//! Length extrapolation: next-token prediction on [`MarkovRecall`] sequences, trained at one
//! length and evaluated at 1x, 2x, 4x and 8x that length (the test of the softplus-attention
//! paper, Gao et al., arXiv 2501.13428, at CPU scale).
//!
//! Training items are sequences of `T + 1` tokens (`T` in, `T` next tokens out), drawn once from
//! the task's seed. An evaluation of a split reads `sequences` fresh sequences of each length
//! `m T` (their own streams per split and length) and reports, per length, the mean
//! cross-entropy over every position, and the accuracy at the recall positions (the value after
//! `Q k`). The model must predict every position and accept sequences longer than it was
//! trained on (rotary positions, or none).

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::MarkovRecall;
use nonlin_nn::{InputSpec, ModelInput, ModelIo};

use super::{ClassSums, EvalOptions, Predict, Split, Task, TaskKind};
use crate::{LearnError, Metrics, Target, TensorBatch};

/// The evaluation lengths, as multiples of the training length.
pub const LENGTH_MULTIPLES: [usize; 4] = [1, 2, 4, 8];

/// Stream of the training sequences (evaluation streams are derived from the split and length).
const TRAIN_STREAM: u64 = 1;

/// The length-extrapolation task.
#[derive(Debug, Clone)]
pub struct LengthExtrapolation {
    generator: MarkovRecall,
    context: usize,
    /// `train_sequences` sequences of `context + 1` tokens, back to back.
    train: Vec<u32>,
    train_sequences: usize,
    eval_sequences: usize,
    validation: bool,
    io: ModelIo,
}

impl LengthExtrapolation {
    /// The task on `generator`'s sequences, trained at `context` tokens on `train_sequences`
    /// sequences, each evaluation reading `eval_sequences` sequences per length.
    pub fn new(
        generator: MarkovRecall,
        context: usize,
        train_sequences: usize,
        eval_sequences: usize,
        validation: bool,
    ) -> Result<Self, LearnError> {
        let pairs = generator.config().pairs;
        if context < 2 * pairs + 2 {
            return Err(LearnError::Batch(format!(
                "a context of {context} tokens does not hold the {pairs} opening pairs and two chain tokens"
            )));
        }
        if train_sequences == 0 || eval_sequences == 0 {
            return Err(LearnError::Batch(
                "train_sequences and eval_sequences must be at least 1".into(),
            ));
        }
        let mut train = Vec::with_capacity(train_sequences * (context + 1));
        for i in 0..train_sequences {
            train.extend(generator.sequence(TRAIN_STREAM, i as u64, context + 1));
        }
        let vocab = generator.vocab();
        Ok(Self {
            io: ModelIo {
                input: InputSpec::Tokens { vocab, context },
                output: vec![vocab],
            },
            generator,
            context,
            train,
            train_sequences,
            eval_sequences,
            validation,
        })
    }

    /// The stream of a split's sequences of `multiple` times the training length.
    fn stream(split: Split, multiple: usize) -> u64 {
        let split = match split {
            Split::Validation => 2,
            Split::Test => 3,
        };
        (split << 8) | multiple as u64
    }

    /// Inputs and next tokens of sequences of `len + 1` tokens.
    fn batch(sequences: &[Vec<u32>], len: usize, device: &Device) -> TensorBatch {
        let n = sequences.len();
        let mut input = Vec::with_capacity(n * len);
        let mut next = Vec::with_capacity(n * len);
        for s in sequences {
            input.extend(s[..len].iter().map(|&v| i64::from(v)));
            next.extend(s[1..=len].iter().map(|&v| i64::from(v)));
        }
        TensorBatch {
            input: ModelInput::Tokens(Tensor::<2, Int>::from_data(
                TensorData::new(input, [n, len]),
                device,
            )),
            target: Target::NextTokens(Tensor::<2, Int>::from_data(
                TensorData::new(next, [n, len]),
                device,
            )),
        }
    }

    /// Loss over every position and accuracy at the recall positions of sequences `m T` long.
    fn evaluate_length(
        &self,
        split: Split,
        multiple: usize,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<(f64, f64), LearnError> {
        let len = multiple * self.context;
        let per_batch = (options.batch_size / len).max(1);
        let query = self.generator.query_token();
        let mut sums = ClassSums::default();
        let (mut recalled, mut recalls) = (0usize, 0usize);
        let indices: Vec<u64> = (0..self.eval_sequences as u64).collect();
        for chunk in indices.chunks(per_batch) {
            let sequences: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&i| {
                    self.generator
                        .sequence(Self::stream(split, multiple), i, len + 1)
                })
                .collect();
            let batch = Self::batch(&sequences, len, options.device);
            let output = predict(&batch.input)?;
            if output.dims()[0] != chunk.len() * len {
                return Err(LearnError::Batch(format!(
                    "length extrapolation needs a prediction at every position: {} rows for {} sequences of {len}",
                    output.dims()[0],
                    chunk.len()
                )));
            }
            let guesses: Vec<i64> = output
                .clone()
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
            sums.add(&batch.target, output)?;
            for (k, s) in sequences.iter().enumerate() {
                // position p predicts s[p + 1]; it is a recall when s[p - 1] is the marker
                for p in 1..len {
                    if s[p - 1] == query {
                        recalls += 1;
                        recalled += usize::from(guesses[k * len + p] == i64::from(s[p + 1]));
                    }
                }
            }
        }
        // no recall position at all (tiny evaluations): no accuracy to report
        let recall = if recalls == 0 {
            f64::NAN
        } else {
            recalled as f64 / recalls as f64
        };
        Ok((sums.loss(), recall))
    }
}

impl Task for LengthExtrapolation {
    fn kind(&self) -> TaskKind {
        TaskKind::LengthExtrapolation
    }

    fn io(&self) -> &ModelIo {
        &self.io
    }

    fn train_len(&self) -> usize {
        self.train_sequences
    }

    fn units_per_item(&self) -> usize {
        self.context
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError> {
        if indices.is_empty() {
            return Err(LearnError::Batch("empty batch".into()));
        }
        let width = self.context + 1;
        let sequences: Vec<Vec<u32>> = indices
            .iter()
            .map(|&i| self.train[i * width..(i + 1) * width].to_vec())
            .collect();
        Ok(Self::batch(&sequences, self.context, device))
    }

    fn has_validation(&self) -> bool {
        self.validation
    }

    fn split_len(&self, split: Split) -> usize {
        match split {
            Split::Validation if !self.validation => 0,
            _ => self.eval_sequences,
        }
    }

    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError> {
        if !options.every_position {
            return Err(LearnError::Batch(
                "length extrapolation needs a model that predicts every position".into(),
            ));
        }
        let mut metrics = Metrics::new();
        for multiple in LENGTH_MULTIPLES {
            let (loss, recall) = self.evaluate_length(split, multiple, predict, options)?;
            let suffix = if multiple == 1 {
                String::new()
            } else {
                format!("_{multiple}x")
            };
            metrics.insert(format!("loss{suffix}"), loss);
            metrics.insert(format!("recall_accuracy{suffix}"), recall);
        }
        metrics.insert("loss_gap_8x".into(), metrics["loss_8x"] - metrics["loss"]);
        Ok(metrics)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use nonlin_data::MarkovRecallConfig;

    use super::*;

    fn task() -> LengthExtrapolation {
        let generator = MarkovRecall::new(MarkovRecallConfig::default()).unwrap();
        LengthExtrapolation::new(generator, 16, 10, 3, false).unwrap()
    }

    #[test]
    fn training_windows_are_shifted_by_one() {
        let device = Device::flex();
        let t = task();
        assert_eq!(t.train_len(), 10);
        let b = t.train_batch(&[2], &device).unwrap();
        let ModelInput::Tokens(x) = &b.input else {
            panic!()
        };
        let Target::NextTokens(y) = &b.target else {
            panic!()
        };
        let x: Vec<i64> = x.clone().into_data().convert::<i64>().try_to_vec().unwrap();
        let y: Vec<i64> = y.clone().into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(x[1..], y[..15]);
        assert_eq!(x.len(), 16);
    }

    /// The evaluation reads 3 sequences of 16, 32, 64 and 128 tokens and reports every metric of
    /// the task kind; uniform logits over 33 tokens score ln 33 at every length, and an oracle
    /// that puts its logit on the true next token is right at every recall position.
    #[test]
    fn evaluation_lengths_and_metrics() {
        let device = Device::flex();
        let t = task();
        let seen = RefCell::new(Vec::new());
        let mut uniform = |input: &ModelInput| {
            let [b, l] = input.tokens("t").unwrap().dims();
            seen.borrow_mut().push((b, l));
            Ok(Tensor::<2>::zeros([b * l, 33], &device))
        };
        let options = EvalOptions {
            device: &device,
            batch_size: 64,
            every_position: true,
        };
        let m = t.evaluate(Split::Test, &mut uniform, &options).unwrap();
        let mut names: Vec<&str> = m.keys().map(String::as_str).collect();
        names.sort();
        let mut expected = TaskKind::LengthExtrapolation.eval_metrics().to_vec();
        expected.sort();
        assert_eq!(names, expected);
        for key in ["loss", "loss_2x", "loss_4x", "loss_8x"] {
            assert!((m[key] - 33f64.ln()).abs() < 1e-5, "{key}: {}", m[key]);
        }
        assert!(m["loss_gap_8x"].abs() < 1e-5);
        // batches of 64 tokens: 3 sequences of 16 in one batch of 3 (64 / 16 = 4 per batch),
        // of 32 in 2 + 1, of 64 and 128 one at a time
        assert_eq!(
            *seen.borrow(),
            vec![
                (3, 16),
                (2, 32),
                (1, 32),
                (1, 64),
                (1, 64),
                (1, 64),
                (1, 128),
                (1, 128),
                (1, 128)
            ]
        );
        let generator = MarkovRecall::new(MarkovRecallConfig::default()).unwrap();
        let t = LengthExtrapolation::new(generator.clone(), 16, 10, 20, false).unwrap();
        let mut oracle = |input: &ModelInput| {
            // recover each sequence from its stream and predict its next token
            let x: Vec<i64> = input
                .tokens("t")
                .unwrap()
                .into_data()
                .convert::<i64>()
                .try_to_vec()
                .unwrap();
            let [b, l] = input.tokens("t").unwrap().dims();
            let mut logits = vec![0.0f32; b * l * 33];
            for row in 0..b {
                let seq = &x[row * l..(row + 1) * l];
                let full = (0..20u64)
                    .map(|i| {
                        generator.sequence(
                            LengthExtrapolation::stream(Split::Test, l / 16),
                            i,
                            l + 1,
                        )
                    })
                    .find(|s| s[..l].iter().zip(seq).all(|(a, b)| i64::from(*a) == *b))
                    .unwrap();
                for p in 0..l {
                    logits[(row * l + p) * 33 + full[p + 1] as usize] = 10.0;
                }
            }
            Ok(Tensor::<2>::from_data(
                TensorData::new(logits, [b * l, 33]),
                &device,
            ))
        };
        let m = t.evaluate(Split::Test, &mut oracle, &options).unwrap();
        for key in ["recall_accuracy", "recall_accuracy_8x"] {
            assert_eq!(m[key], 1.0, "{key}");
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let generator = || MarkovRecall::new(MarkovRecallConfig::default()).unwrap();
        // 4 pairs need 8 tokens plus 2 chain tokens
        assert!(LengthExtrapolation::new(generator(), 9, 10, 3, false).is_err());
        assert!(LengthExtrapolation::new(generator(), 16, 0, 3, false).is_err());
        assert!(LengthExtrapolation::new(generator(), 16, 10, 0, false).is_err());
        let device = Device::flex();
        let options = EvalOptions {
            device: &device,
            batch_size: 64,
            every_position: false,
        };
        let mut predict = |_: &ModelInput| Ok(Tensor::<2>::zeros([1, 33], &device));
        assert!(
            task()
                .evaluate(Split::Test, &mut predict, &options)
                .is_err()
        );
    }
}
