//! A batch as tensors on a device: flat inputs and integer class labels.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::Batch;

use crate::LearnError;

/// Inputs and labels of one batch on a device.
#[derive(Debug, Clone)]
pub struct TensorBatch {
    /// `[batch, features]`, samples flattened row-major.
    pub x: Tensor<2>,
    /// `[batch]`, class indices.
    pub y: Tensor<1, Int>,
}

impl TensorBatch {
    /// Moves a data batch to `device`, flattening each sample.
    pub fn from_batch(batch: &Batch, device: &Device) -> Result<Self, LearnError> {
        let n = batch.y.len();
        if n == 0 {
            return Err(LearnError::Batch("empty batch".into()));
        }
        if !batch.x.len().is_multiple_of(n) {
            return Err(LearnError::Batch(format!(
                "{} input values do not divide into {n} samples",
                batch.x.len()
            )));
        }
        let features = batch.x.len() / n;
        let x = Tensor::<2>::from_data(TensorData::new(batch.x.clone(), [n, features]), device);
        let labels: Vec<i64> = batch.y.iter().map(|&c| c as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
        Ok(Self { x, y })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
