//! Classification: real-valued samples with class labels; cross-entropy and accuracy.

use burn::tensor::Device;
use nonlin_data::Dataset;
use nonlin_nn::{InputSpec, ModelIo};

use super::{ClassSums, EvalOptions, Predict, Split, Task, TaskKind};
use crate::{LearnError, Metrics, TensorBatch};

/// Train, validation and test samples of a data set: what classification and regression share.
#[derive(Debug, Clone)]
pub(super) struct Samples {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Dataset,
}

impl Samples {
    /// The splits, none of which may be empty.
    pub fn new(
        train: Dataset,
        validation: Option<Dataset>,
        test: Dataset,
    ) -> Result<Self, LearnError> {
        check_nonempty(&train, "train")?;
        check_nonempty(&test, "test")?;
        if let Some(v) = &validation {
            check_nonempty(v, "validation")?;
        }
        Ok(Self {
            train,
            validation,
            test,
        })
    }

    /// The held-out parts.
    pub fn others(&self) -> impl Iterator<Item = &Dataset> {
        std::iter::once(&self.test).chain(&self.validation)
    }

    pub fn split(&self, split: Split) -> Result<&Dataset, LearnError> {
        match split {
            Split::Validation => self.validation.as_ref(),
            Split::Test => Some(&self.test),
        }
        .ok_or_else(|| LearnError::Batch(format!("no {} split", split.name())))
    }

    pub fn split_len(&self, split: Split) -> usize {
        self.split(split).map_or(0, Dataset::len)
    }

    pub fn train_batch(
        &self,
        indices: &[usize],
        device: &Device,
    ) -> Result<TensorBatch, LearnError> {
        TensorBatch::from_batch(&self.train.batch(indices), device)
    }
}

/// Classification of the samples of a labelled data set.
#[derive(Debug, Clone)]
pub struct Classification {
    samples: Samples,
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
        let samples = Samples::new(train, validation, test)?;
        for part in samples.others() {
            if part.classes() != Some(classes) || part.sample_shape != samples.train.sample_shape {
                return Err(LearnError::Batch(format!(
                    "{} and {} differ in sample shape or classes",
                    samples.train.name, part.name
                )));
            }
        }
        let io = ModelIo {
            input: InputSpec::Real {
                shape: samples.train.sample_shape.clone(),
            },
            output: vec![classes],
        };
        Ok(Self { samples, io })
    }

    /// The training split.
    pub fn train(&self) -> &Dataset {
        &self.samples.train
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
        self.samples.train.len()
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError> {
        self.samples.train_batch(indices, device)
    }

    fn has_validation(&self) -> bool {
        self.samples.validation.is_some()
    }

    fn split_len(&self, split: Split) -> usize {
        self.samples.split_len(split)
    }

    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError> {
        let data = self.samples.split(split)?;
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
