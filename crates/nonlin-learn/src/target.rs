//! What a batch is trained towards, and the loss that compares a model's prediction rows with it.
//! A task makes the targets; rules call [`Target::loss`] and never match on the task.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};

use crate::LearnError;

/// The targets of one batch on a device.
#[derive(Debug, Clone)]
pub enum Target {
    /// `[batch]` class indices; the loss is the mean cross-entropy of `[batch, classes]` logits.
    Classes(Tensor<1, Int>),
    /// `[batch, width]` real values; the loss is the mean squared error over all elements.
    Values(Tensor<2>),
    /// `[batch, context]`: the token after each position of each context. A model that predicts
    /// every position gives `[batch * context, vocab]` logits and is scored on all of them; one
    /// that predicts only the next token gives `[batch, vocab]` and is scored on the last column.
    NextTokens(Tensor<2, Int>),
}

impl Target {
    /// Number of samples (batch rows).
    pub fn batch_size(&self) -> usize {
        match self {
            Target::Classes(y) => y.dims()[0],
            Target::Values(y) => y.dims()[0],
            Target::NextTokens(y) => y.dims()[0],
        }
    }

    /// The class indices the prediction rows are scored against, for targets that are classes.
    ///
    /// # Shapes
    /// - output: `[rows, classes]`
    /// - returns: `[rows]`
    pub fn class_rows(&self, output: &Tensor<2>) -> Result<Option<Tensor<1, Int>>, LearnError> {
        let rows = output.dims()[0];
        match self {
            Target::Classes(y) => {
                check_rows(rows, y.dims()[0], "class labels")?;
                Ok(Some(y.clone()))
            }
            Target::NextTokens(y) => {
                let [batch, context] = y.dims();
                if rows == batch * context {
                    Ok(Some(y.clone().reshape([batch * context])))
                } else if rows == batch {
                    Ok(Some(
                        y.clone()
                            .slice([0..batch, context - 1..context])
                            .reshape([batch]),
                    ))
                } else {
                    Err(LearnError::Batch(format!(
                        "{rows} prediction rows for {batch} contexts of {context} tokens: expected {batch} (next token) or {} (every position)",
                        batch * context
                    )))
                }
            }
            Target::Values(_) => Ok(None),
        }
    }

    /// The loss of the prediction rows: mean cross-entropy for classes and tokens, mean squared
    /// error for real values.
    ///
    /// # Shapes
    /// - output: `[rows, width]`
    /// - returns: `[1]`
    pub fn loss(&self, output: Tensor<2>) -> Result<Tensor<1>, LearnError> {
        if let Some(classes) = self.class_rows(&output)? {
            return Ok(CrossEntropyLossConfig::new()
                .init(&output.device())
                .forward(output, classes));
        }
        let Target::Values(y) = self else {
            unreachable!("class_rows covers classes and tokens")
        };
        if output.dims() != y.dims() {
            return Err(LearnError::Batch(format!(
                "prediction {:?} does not match the targets {:?}",
                output.dims(),
                y.dims()
            )));
        }
        Ok((output - y.clone()).powi_scalar(2).mean())
    }

    /// How many prediction rows pick the right class (`None` for real targets) and out of how
    /// many rows.
    pub fn correct(&self, output: &Tensor<2>) -> Result<Option<(usize, usize)>, LearnError> {
        Ok(self.class_rows(output)?.map(|classes| {
            let rows = classes.dims()[0];
            let hits = output
                .clone()
                .argmax(1)
                .squeeze_dim::<1>(1)
                .equal(classes)
                .int()
                .sum()
                .into_scalar::<i64>() as usize;
            (hits, rows)
        }))
    }
}

fn check_rows(rows: usize, expected: usize, what: &str) -> Result<(), LearnError> {
    if rows == expected {
        Ok(())
    } else {
        Err(LearnError::Batch(format!(
            "{rows} prediction rows for {expected} {what}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    #[test]
    fn mse_and_cross_entropy_by_hand() {
        let device = Device::flex();
        // predictions (1, 2), (3, 4) vs targets (1, 0), (0, 4): squared errors 0, 4, 9, 0 -> mean 13/4
        let y = Target::Values(Tensor::from_floats([[1.0, 0.0], [0.0, 4.0]], &device));
        let out = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let mse = y.loss(out.clone()).unwrap().into_scalar::<f64>();
        assert!((mse - 3.25).abs() < 1e-6, "{mse}");
        assert_eq!(y.correct(&out).unwrap(), None);
        // logits (0, ln 3) for class 1: p = 3/4, cross-entropy = ln(4/3) = 0.287682
        let c = Target::Classes(Tensor::from_data(TensorData::new(vec![1i64], [1]), &device));
        let logits = Tensor::<2>::from_floats([[0.0, 3f32.ln()]], &device);
        let ce = c.loss(logits.clone()).unwrap().into_scalar::<f64>();
        assert!((ce - (4.0f64 / 3.0).ln()).abs() < 1e-6, "{ce}");
        assert_eq!(c.correct(&logits).unwrap(), Some((1, 1)));
        let wrong = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], &device);
        assert!(y.loss(wrong.clone()).is_err());
        assert!(c.loss(wrong).is_err());
    }

    /// Next-token targets score every position or only the last, by the number of rows.
    #[test]
    fn next_tokens_select_rows_by_the_model_kind() {
        let device = Device::flex();
        // 2 contexts of 3 positions; next tokens [[1, 0, 1], [0, 0, 1]]
        let t = Target::NextTokens(Tensor::from_data(
            TensorData::new(vec![1i64, 0, 1, 0, 0, 1], [2, 3]),
            &device,
        ));
        // every position: 6 rows all predicting class 1 -> 3 of 6 right
        let every = Tensor::<2>::from_floats([[0.0, 1.0]; 6], &device);
        assert_eq!(t.correct(&every).unwrap(), Some((3, 6)));
        // last position only: 2 rows predicting class 1; last column is (1, 1) -> 2 of 2
        let last = Tensor::<2>::from_floats([[0.0, 1.0]; 2], &device);
        assert_eq!(t.correct(&last).unwrap(), Some((2, 2)));
        let odd = Tensor::<2>::from_floats([[0.0, 1.0]; 4], &device);
        assert!(t.loss(odd).is_err());
    }
}
