//! Regression: real targets of any width; mean squared error, its root, and the relative L2
//! error `||pred - y|| / ||y||` over the whole split (the operator-learning metric).

use burn::tensor::Device;
use nonlin_data::Dataset;
use nonlin_nn::{InputSpec, ModelIo};

use super::classification::{Samples, ordered_batches};
use super::{EvalOptions, Predict, Split, Task, TaskKind};
use crate::{LearnError, Metrics, Target, TensorBatch};

/// Regression of the real targets of a data set.
#[derive(Debug, Clone)]
pub struct Regression {
    samples: Samples,
    io: ModelIo,
}

impl Regression {
    /// The task on these splits; every split must have real targets of the same shape, the
    /// same sample shape, and none may be empty.
    pub fn new(
        train: Dataset,
        validation: Option<Dataset>,
        test: Dataset,
    ) -> Result<Self, LearnError> {
        let shape = match &train.targets {
            nonlin_data::Targets::Values { shape, .. } => shape.clone(),
            nonlin_data::Targets::Classes { .. } => {
                return Err(LearnError::Batch(format!(
                    "{}: regression needs real-valued targets",
                    train.name
                )));
            }
        };
        let samples = Samples::new(train, validation, test)?;
        for part in samples.others() {
            let same = matches!(&part.targets, nonlin_data::Targets::Values { shape: s, .. } if *s == shape);
            if !same || part.sample_shape != samples.train.sample_shape {
                return Err(LearnError::Batch(format!(
                    "{} and {} differ in sample or target shape",
                    samples.train.name, part.name
                )));
            }
        }
        let io = ModelIo {
            input: InputSpec::Real {
                shape: samples.train.sample_shape.clone(),
            },
            output: shape,
        };
        Ok(Self { samples, io })
    }
}

impl Task for Regression {
    fn kind(&self) -> TaskKind {
        TaskKind::Regression
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
        let (mut squared_error, mut squared_target, mut elements) = (0.0f64, 0.0f64, 0usize);
        for batch in ordered_batches(data, options.batch_size, options.device) {
            let batch = batch?;
            let output = predict(&batch.input)?;
            let Target::Values(y) = &batch.target else {
                unreachable!("regression batches carry real targets")
            };
            if output.dims() != y.dims() {
                return Err(LearnError::Batch(format!(
                    "prediction {:?} does not match the targets {:?}",
                    output.dims(),
                    y.dims()
                )));
            }
            elements += y.dims().iter().product::<usize>();
            squared_error += (output - y.clone())
                .powi_scalar(2)
                .sum()
                .into_scalar::<f64>();
            squared_target += y.clone().powi_scalar(2).sum().into_scalar::<f64>();
        }
        let mse = squared_error / elements.max(1) as f64;
        Ok(Metrics::from([
            ("loss".to_string(), mse),
            ("mse".to_string(), mse),
            ("rmse".to_string(), mse.sqrt()),
            (
                "rel_l2".to_string(),
                (squared_error / squared_target).sqrt(),
            ),
        ]))
    }
}
