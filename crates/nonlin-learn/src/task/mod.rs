//! Tasks: how data becomes tensors, what the loss compares, and which metrics an evaluation
//! reports. The runner trains every task the same way: it shuffles `0..train_len()`, asks the
//! task for each batch, lets the rule step on it, and asks the task to evaluate the held-out
//! splits through the rule's predictions. Adding a task is one file implementing [`Task`] plus
//! a [`TaskKind`] entry naming its metrics; the runner and the rules stay as they are.

mod classification;
mod language_model;
mod length_extrapolation;
mod node_classification;
mod regression;

pub use classification::Classification;
pub use language_model::{LanguageModel, TextSplits};
pub use length_extrapolation::{LENGTH_MULTIPLES, LengthExtrapolation};
pub use node_classification::{NodeClassification, NodeMasks};
pub use regression::Regression;

use burn::tensor::{Device, Tensor};
use nonlin_nn::{ModelInput, ModelIo};
use serde::{Deserialize, Serialize};

use crate::{LearnError, Metrics, TensorBatch};

/// A held-out split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Validation,
    Test,
}

impl Split {
    /// The split's name in metric names (`val_loss`, `test_accuracy`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Validation => "val",
            Split::Test => "test",
        }
    }
}

/// The kinds of task, with the metrics each evaluation reports (known before any data is
/// loaded, so experiment files are checked at load time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Class labels: cross-entropy and accuracy.
    Classification,
    /// Real targets of any width: mean squared error.
    Regression,
    /// Next-token prediction on a text corpus.
    LanguageModel,
    /// Next-token prediction trained at one length and evaluated at 1x, 2x, 4x and 8x it.
    LengthExtrapolation,
}

impl TaskKind {
    /// The metrics of one evaluation of a split (prefixed `val_` / `test_` in results).
    pub fn eval_metrics(self) -> &'static [&'static str] {
        match self {
            TaskKind::Classification => &["loss", "accuracy"],
            // loss = mse; rel_l2 = ||pred - y|| / ||y|| over the whole split
            TaskKind::Regression => &["loss", "mse", "rmse", "rel_l2"],
            // loss in nats per token, bpc = loss / ln 2, and the bigram baseline's loss on the
            // same positions
            TaskKind::LanguageModel => &["loss", "bpc", "accuracy", "bigram_loss"],
            // loss over every position at 1x the training length (plain names) and at 2x, 4x,
            // 8x; accuracy at the recall positions; loss_gap_8x = loss_8x - loss
            TaskKind::LengthExtrapolation => &[
                "loss",
                "recall_accuracy",
                "loss_2x",
                "recall_accuracy_2x",
                "loss_4x",
                "recall_accuracy_4x",
                "loss_8x",
                "recall_accuracy_8x",
                "loss_gap_8x",
            ],
        }
    }

    /// The metrics a training step reports under the standard losses (prefixed `train_`).
    pub fn train_metrics(self) -> &'static [&'static str] {
        match self {
            TaskKind::Classification | TaskKind::LanguageModel | TaskKind::LengthExtrapolation => {
                &["loss", "accuracy"]
            }
            TaskKind::Regression => &["loss"],
        }
    }

    /// What one training item counts in throughput figures.
    pub fn unit(self) -> &'static str {
        match self {
            TaskKind::LanguageModel | TaskKind::LengthExtrapolation => "tokens",
            TaskKind::Classification | TaskKind::Regression => "samples",
        }
    }
}

/// How an evaluation runs.
#[derive(Debug, Clone)]
pub struct EvalOptions<'a> {
    pub device: &'a Device,
    /// Samples per forward pass (only memory, not results, depends on it).
    pub batch_size: usize,
    /// Whether the model predicts every position of a token sequence (see
    /// `nonlin_nn::Network::predicts_every_position`).
    pub every_position: bool,
}

/// A prediction function: the rule's predictions for a batch of inputs, `[rows, width]`.
pub type Predict<'p> = dyn FnMut(&ModelInput) -> Result<Tensor<2>, LearnError> + 'p;

/// A task: data turned into batches, evaluations turned into metrics.
pub trait Task {
    /// The task's kind.
    fn kind(&self) -> TaskKind;

    /// What models of this task read and write.
    fn io(&self) -> &ModelIo;

    /// Training items per epoch; an epoch is a shuffle of `0..train_len()`.
    fn train_len(&self) -> usize;

    /// Tokens (or samples) one training item contributes, for throughput figures.
    fn units_per_item(&self) -> usize {
        1
    }

    /// The training batch of the items `indices`.
    fn train_batch(&self, indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError>;

    /// Whether there is a validation split.
    fn has_validation(&self) -> bool;

    /// Samples (or predicted tokens) in a held-out split; 0 when the split is absent.
    fn split_len(&self, split: Split) -> usize;

    /// Evaluates the predictions on a held-out split; the metrics are those of
    /// [`TaskKind::eval_metrics`].
    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError>;

    /// What a trained model needs to be used again without the training data (the vocabulary
    /// of a language model), stored as `task.json` in the run folder.
    fn describe(&self) -> TaskDescription {
        TaskDescription {
            kind: self.kind(),
            io: self.io().clone(),
            train_len: self.train_len(),
            vocab: None,
        }
    }
}

/// A task as stored with a trained model: enough to predict and generate without the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDescription {
    pub kind: TaskKind,
    pub io: ModelIo,
    /// Training items per epoch (rules count phases in epochs).
    pub train_len: usize,
    /// A language model's vocabulary: its characters in id order, or `None` for bytes.
    #[serde(default)]
    pub vocab: Option<Vec<char>>,
}

/// Sums of a classification-style evaluation (cross-entropy and hits).
#[derive(Debug, Default)]
pub(crate) struct ClassSums {
    pub loss_sum: f64,
    pub correct: usize,
    pub rows: usize,
}

impl ClassSums {
    /// Adds one batch's predictions.
    pub fn add(&mut self, target: &crate::Target, output: Tensor<2>) -> Result<(), LearnError> {
        let loss = target.loss(output.clone())?.into_scalar::<f64>();
        let (hits, rows) = target
            .correct(&output)?
            .ok_or_else(|| LearnError::Batch("class sums need class targets".into()))?;
        self.loss_sum += loss * rows as f64;
        self.correct += hits;
        self.rows += rows;
        Ok(())
    }

    pub fn loss(&self) -> f64 {
        self.loss_sum / self.rows.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.rows.max(1) as f64
    }
}
