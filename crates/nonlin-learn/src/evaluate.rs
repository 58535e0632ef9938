//! Evaluation of a classifier: mean cross-entropy and accuracy over batches, without gradients.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use nonlin_nn::Classifier;

use crate::TensorBatch;

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy per sample.
    pub loss: f64,
    /// Fraction of samples whose arg-max logit is the label.
    pub accuracy: f64,
    /// Samples seen.
    pub samples: usize,
}

/// Evaluates `model` (a copy in inference mode) on the batches.
pub fn evaluate<M: Classifier>(
    model: &M,
    batches: impl IntoIterator<Item = TensorBatch>,
) -> Evaluation {
    let model = model.valid();
    let mut loss_sum = 0.0;
    let mut correct = 0usize;
    let mut samples = 0usize;
    for batch in batches {
        let n = batch.len();
        let logits = model.logits(batch.x.clone());
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.y.clone());
        loss_sum += loss.into_scalar::<f64>() * n as f64;
        correct += count_correct(logits, &batch);
        samples += n;
    }
    let denom = samples.max(1) as f64;
    Evaluation {
        loss: loss_sum / denom,
        accuracy: correct as f64 / denom,
        samples,
    }
}

/// Number of samples whose arg-max logit equals the label.
pub(crate) fn count_correct(logits: Tensor<2>, batch: &TensorBatch) -> usize {
    let predicted = logits.argmax(1).squeeze_dim::<1>(1);
    predicted
        .equal(batch.y.clone())
        .int()
        .sum()
        .into_scalar::<i64>() as usize
}
