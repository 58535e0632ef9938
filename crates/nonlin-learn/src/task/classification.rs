//! Classification: real-valued samples with class labels; cross-entropy and accuracy.

use burn::tensor::Device;
use nonlin_data::Dataset;
use nonlin_nn::{InputSpec, ModelIo};

use super::{ClassSums, EvalOptions, Predict, Split, Task, TaskKind};
use crate::{LearnError, Metrics, TensorBatch};

/// Classification of the samples of a labelled data set.
#[derive(Debug, Clone)]
pub struct Classification {
    train: Dataset,
    validation: Option<Dataset>,
    test: Dataset,
    io: ModelIo,
}

impl Classification {
    /// The task on these splits; every split must have class labels, the same sample shape and
    /// the same number of classes, and none may be empty.
    pub fn new(
        train: Dataset,
        validation: Option<Dataset>,
        test: Dataset,
    ) -> Result<Self, LearnError> {
        let classes = train.classes().ok_or_else(|| {
            LearnError::Batch(format!("{}: classification needs class labels", train.name))
        })?;
        for part in std::iter::once(&test).chain(&validation) {
            if part.classes() != Some(classes) || part.sample_shape != train.sample_shape {
                return Err(LearnError::Batch(format!(
                    "{} and {} differ in sample shape or classes",
                    train.name, part.name
                )));
            }
        }
        check_nonempty(&train, "train")?;
        check_nonempty(&test, "test")?;
        if let Some(v) = &validation {
            check_nonempty(v, "validation")?;
        }
        let io = ModelIo {
            input: InputSpec::Real {
                shape: train.sample_shape.clone(),
            },
            output: vec![classes],
        };
        Ok(Self {
            train,
            validation,
            test,
            io,
        })
    }

    /// The training split.
    pub fn train(&self) -> &Dataset {
        &self.train
    }

    fn split(&self, split: Split) -> Option<&Dataset> {
        match split {
            Split::Validation => self.validation.as_ref(),
            Split::Test => Some(&self.test),
        }
    }
}

pub(super) fn check_nonempty(data: &Dataset, part: &str) -> Result<(), LearnError> {
    if data.is_empty() {
        return Err(LearnError::Batch(format!(
            "the {part} split of {} is empty",
            data.name
        )));
    }
    Ok(())
}

/// Batches of `size` consecutive samples of `data`, in order.
pub(super) fn ordered_batches(
    data: &Dataset,
    size: usize,
    device: &Device,
) -> impl Iterator<Item = Result<TensorBatch, LearnError>> {
    (0..data.len()).step_by(size.max(1)).map(move |start| {
        let idx: Vec<usize> = (start..(start + size).min(data.len())).collect();
        TensorBatch::from_batch(&data.batch(&idx), device)
    })
}

impl Task for Classification {
    fn kind(&self) -> TaskKind {
        TaskKind::Classification
    }

    fn io(&self) -> &ModelIo {
        &self.io
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError> {
        TensorBatch::from_batch(&self.train.batch(indices), device)
    }

    fn has_validation(&self) -> bool {
        self.validation.is_some()
    }

    fn split_len(&self, split: Split) -> usize {
        self.split(split).map_or(0, Dataset::len)
    }

    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError> {
        let data = self
            .split(split)
            .ok_or_else(|| LearnError::Batch(format!("no {} split", split.name())))?;
        let mut sums = ClassSums::default();
        for batch in ordered_batches(data, options.batch_size, options.device) {
            let batch = batch?;
            let output = predict(&batch.input)?;
            sums.add(&batch.target, output)?;
        }
        Ok(Metrics::from([
            ("loss".to_string(), sums.loss()),
            ("accuracy".to_string(), sums.accuracy()),
        ]))
    }
}
