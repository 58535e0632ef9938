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
