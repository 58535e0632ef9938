//! A batch as tensors on a device: the model's input and the targets it is trained towards.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::{Batch, Targets};
use nonlin_nn::ModelInput;

use crate::{LearnError, Target};

/// Inputs and targets of one batch on a device.
#[derive(Debug, Clone)]
pub struct TensorBatch {
    pub input: ModelInput,
    pub target: Target,
}

impl TensorBatch {
    /// Moves a batch of real-valued samples to `device`, flattening each sample: class labels
    /// become [`Target::Classes`], real targets [`Target::Values`] (`[batch, width]`).
    pub fn from_batch(batch: &Batch, device: &Device) -> Result<Self, LearnError> {
        let n = batch.len();
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
        let target = match &batch.targets {
            Targets::Classes { labels, .. } => {
                let labels: Vec<i64> = labels.iter().map(|&c| c as i64).collect();
                Target::Classes(Tensor::<1, Int>::from_data(
                    TensorData::new(labels, [n]),
                    device,
                ))
            }
            Targets::Values { values, .. } => {
                let width = values.len() / n;
                Target::Values(Tensor::<2>::from_data(
                    TensorData::new(values.clone(), [n, width]),
                    device,
                ))
            }
        };
        Ok(Self {
            input: ModelInput::Real(x),
            target,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.input.batch_size()
    }

    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The real input `[batch, features]`, or an error naming `rule` for other inputs.
    pub fn features(&self, rule: &'static str) -> Result<Tensor<2>, LearnError> {
        Ok(self.input.real(rule)?)
    }

    /// The class labels `[batch]`, or an error naming `rule` for other targets.
    pub fn labels(&self, rule: &str) -> Result<Tensor<1, Int>, LearnError> {
        match &self.target {
            Target::Classes(y) => Ok(y.clone()),
            _ => Err(LearnError::Batch(format!(
                "{rule} trains classifiers: it needs class labels"
            ))),
        }
    }
}
