//! An in-memory data set and the batches cut from it.
//!
//! Samples are stored row-major in one `Vec<f32>`: sample `i` is `x[i * sample_len..(i + 1) *
//! sample_len]`, laid out in `sample_shape` (e.g. `[channels, height, width]`). Each sample has a
//! target: a class index below `classes` (classification) or a block of real values of a fixed
//! shape (regression, operator learning, image-to-image). This is the format every loader in this
//! crate returns and every task in nonlin consumes.

use crate::error::DataError;

/// What a data set's samples are labelled with.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class index per sample, each below `classes`.
    Classes { labels: Vec<u32>, classes: usize },
    /// Real values per sample, row-major `[len, ..shape]` flattened.
    Values { values: Vec<f32>, shape: Vec<usize> },
}

impl Targets {
    /// Values per sample: 1 for a class index, the product of `shape` for real values.
    pub fn sample_len(&self) -> usize {
        match self {
            Targets::Classes { .. } => 1,
            Targets::Values { shape, .. } => shape.iter().product(),
        }
    }

    /// Number of samples the targets describe (0 for real targets of a zero-sized shape).
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values { values, .. } => {
                values.len().checked_div(self.sample_len()).unwrap_or(0)
            }
        }
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets of the samples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range, like slice indexing.
    pub fn gather(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Targets::Values { values, shape } => {
                let d = self.sample_len();
                let mut out = Vec::with_capacity(indices.len() * d);
                for &i in indices {
                    out.extend_from_slice(&values[i * d..(i + 1) * d]);
                }
                Targets::Values {
                    values: out,
                    shape: shape.clone(),
                }
            }
        }
    }
}

/// A labelled data set held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name used in messages and run records, e.g. `mnist-train`.
    pub name: String,
    /// All samples, row-major: `[len, ..sample_shape]` flattened.
    pub x: Vec<f32>,
    /// Shape of one sample, e.g. `[1, 28, 28]` or `[2]`.
    pub sample_shape: Vec<usize>,
    /// The target of every sample.
    pub targets: Targets,
}

/// A batch of samples gathered from a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Samples, row-major.
    pub x: Vec<f32>,
    /// `[batch, ..sample_shape]`.
    pub shape: Vec<usize>,
    /// The samples' targets, in the same order.
    pub targets: Targets,
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// True when the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Dataset {
    /// A classification data set (labels below `classes`), checked with [`Dataset::validate`].
    pub fn new(
        name: impl Into<String>,
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        y: Vec<u32>,
        classes: usize,
    ) -> Result<Self, DataError> {
        Self::with_targets(
            name,
            x,
            sample_shape,
            Targets::Classes { labels: y, classes },
        )
    }

    /// A data set with real-valued targets of shape `target_shape` per sample, checked with
    /// [`Dataset::validate`].
    pub fn regression(
        name: impl Into<String>,
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        values: Vec<f32>,
        target_shape: Vec<usize>,
    ) -> Result<Self, DataError> {
        Self::with_targets(
            name,
            x,
            sample_shape,
            Targets::Values {
                values,
                shape: target_shape,
            },
        )
    }

    /// A data set with the given targets, checked with [`Dataset::validate`].
    pub fn with_targets(
        name: impl Into<String>,
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        targets: Targets,
    ) -> Result<Self, DataError> {
        let d = Dataset {
            name: name.into(),
            x,
            sample_shape,
            targets,
        };
        d.validate()?;
        Ok(d)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample: the product of `sample_shape`.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The class labels, for a classification data set.
    pub fn labels(&self) -> Option<&[u32]> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Values { .. } => None,
        }
    }

    /// The number of classes, for a classification data set.
    pub fn classes(&self) -> Option<usize> {
        match &self.targets {
            Targets::Classes { classes, .. } => Some(*classes),
            Targets::Values { .. } => None,
        }
    }

    /// The values of sample `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &[f32] {
        let d = self.sample_len();
        &self.x[i * d..(i + 1) * d]
    }

    /// Check that sizes fit together, every value (input and real target) is finite and every
    /// label is below `classes`.
    pub fn validate(&self) -> Result<(), DataError> {
        let inconsistent = |what: String| DataError::Inconsistent {
            name: self.name.clone(),
            what,
        };
        if self.sample_shape.is_empty() || self.sample_shape.contains(&0) {
            return Err(inconsistent(format!(
                "sample_shape {:?} must be non-empty with no zero axis",
                self.sample_shape
            )));
        }
        match &self.targets {
            Targets::Classes { labels, classes } => {
                if *classes == 0 {
                    return Err(inconsistent("classes is 0".to_string()));
                }
                if let Some((i, &label)) = labels
                    .iter()
                    .enumerate()
                    .find(|&(_, &l)| l as usize >= *classes)
                {
                    return Err(inconsistent(format!(
                        "the label of sample {i} is {label}, not below classes = {classes}"
                    )));
                }
            }
            Targets::Values { values, shape } => {
                if shape.is_empty() || shape.contains(&0) {
                    return Err(inconsistent(format!(
                        "target shape {shape:?} must be non-empty with no zero axis"
                    )));
                }
                let d: usize = shape.iter().product();
                if !values.len().is_multiple_of(d) {
                    return Err(inconsistent(format!(
                        "{} target values do not divide into targets of shape {shape:?}",
                        values.len()
                    )));
                }
                if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                    return Err(DataError::NonFinite {
                        name: format!("{} (targets)", self.name),
                        index,
                    });
                }
            }
        }
        let expected = self.len() * self.sample_len();
        if self.x.len() != expected {
            return Err(inconsistent(format!(
                "x holds {} values but {} samples of shape {:?} need {expected}",
                self.x.len(),
                self.len(),
                self.sample_shape
            )));
        }
        if let Some(index) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFinite {
                name: self.name.clone(),
                index,
            });
        }
        Ok(())
    }

    /// How many samples each class has; entry `c` counts label `c` (empty for real targets).
    pub fn class_counts(&self) -> Vec<usize> {
        let Targets::Classes { labels, classes } = &self.targets else {
            return Vec::new();
        };
        let mut counts = vec![0; *classes];
        for &l in labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// A new data set of the samples at `indices`, in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is `>= len()`, like slice indexing. Indices come from [`crate::split_indices`]
    /// or [`crate::Batches`], which only produce valid ones.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            x: self.gather_x(indices),
            sample_shape: self.sample_shape.clone(),
            targets: self.targets.gather(indices),
        }
    }

    /// The samples at `indices` as a batch of shape `[indices.len(), ..sample_shape]`.
    ///
    /// # Panics
    /// If an index is `>= len()`, like slice indexing.
    pub fn batch(&self, indices: &[usize]) -> Batch {
        let mut shape = Vec::with_capacity(self.sample_shape.len() + 1);
        shape.push(indices.len());
        shape.extend_from_slice(&self.sample_shape);
        Batch {
            x: self.gather_x(indices),
            shape,
            targets: self.targets.gather(indices),
        }
    }

    fn gather_x(&self, indices: &[usize]) -> Vec<f32> {
        let d = self.sample_len();
        let mut x = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            x.extend_from_slice(self.sample(i));
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three samples of shape [2]: (0, 1) label 0, (10, 11) label 1, (20, 21) label 1.
    fn tiny() -> Dataset {
        Dataset::new(
            "tiny",
            vec![0.0, 1.0, 10.0, 11.0, 20.0, 21.0],
            vec![2],
            vec![0, 1, 1],
            2,
        )
        .unwrap()
    }

    #[test]
    fn sizes() {
        let d = tiny();
        assert_eq!(d.len(), 3);
        assert_eq!(d.sample_len(), 2);
        assert_eq!(d.sample(1), &[10.0, 11.0]);
        assert_eq!(d.class_counts(), vec![1, 2]);
        let img = Dataset::new("img", vec![0.0; 2 * 12], vec![1, 3, 4], vec![0, 0], 1).unwrap();
        assert_eq!(img.sample_len(), 12);
    }

    #[test]
    fn subset_and_batch_gather_in_order() {
        let d = tiny();
        let s = d.subset(&[2, 0]);
        assert_eq!(s.x, vec![20.0, 21.0, 0.0, 1.0]);
        assert_eq!(s.labels().unwrap(), &[1, 0]);
        assert_eq!(s.classes(), Some(2));
        let b = d.batch(&[1, 1, 2]);
        assert_eq!(b.shape, vec![3, 2]);
        assert_eq!(b.x, vec![10.0, 11.0, 10.0, 11.0, 20.0, 21.0]);
        assert_eq!(
            b.targets,
            Targets::Classes {
                labels: vec![1, 1, 1],
                classes: 2
            }
        );
        assert_eq!(d.batch(&[]).shape, vec![0, 2]);
    }

    #[test]
    fn validate_catches_nan_labels_and_sizes() {
        let mut d = tiny();
        d.x[3] = f32::NAN;
        assert!(matches!(
            d.validate(),
            Err(DataError::NonFinite { index: 3, .. })
        ));

        let mut d = tiny();
        d.x[0] = f32::INFINITY;
        assert!(matches!(
            d.validate(),
            Err(DataError::NonFinite { index: 0, .. })
        ));

        let mut d = tiny();
        if let Targets::Classes { labels, .. } = &mut d.targets {
            labels[2] = 2;
        }
        let e = d.validate().unwrap_err();
        assert!(e.to_string().contains("sample 2 is 2"), "{e}");

        let mut d = tiny();
        d.x.pop();
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));

        let mut d = tiny();
        d.sample_shape = vec![0];
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));

        let mut d = tiny();
        d.targets = Targets::Classes {
            labels: vec![0, 1, 1],
            classes: 0,
        };
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));
    }

    #[test]
    fn regression_targets_gather_with_their_samples() {
        // Two samples of shape [1] with targets of shape [2]: (5) -> (1, 2), (6) -> (3, 4).
        let d = Dataset::regression(
            "r",
            vec![5.0, 6.0],
            vec![1],
            vec![1.0, 2.0, 3.0, 4.0],
            vec![2],
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.labels(), None);
        assert_eq!(d.class_counts(), Vec::<usize>::new());
        let b = d.batch(&[1, 0]);
        assert_eq!(b.len(), 2);
        assert_eq!(b.x, vec![6.0, 5.0]);
        assert_eq!(
            b.targets,
            Targets::Values {
                values: vec![3.0, 4.0, 1.0, 2.0],
                shape: vec![2]
            }
        );
        // NaN in targets, a ragged target block and a zero-width target are errors.
        let nan = Dataset::regression("r", vec![5.0], vec![1], vec![f32::NAN], vec![1]);
        assert!(matches!(nan, Err(DataError::NonFinite { index: 0, .. })));
        let ragged =
            Dataset::regression("r", vec![5.0, 6.0], vec![1], vec![1.0, 2.0, 3.0], vec![2]);
        assert!(matches!(ragged, Err(DataError::Inconsistent { .. })));
        let zero = Dataset::regression("r", vec![], vec![1], vec![], vec![0]);
        assert!(matches!(zero, Err(DataError::Inconsistent { .. })));
        // Fewer targets than samples is a size mismatch.
        let short = Dataset::regression("r", vec![5.0, 6.0], vec![1], vec![1.0, 2.0], vec![2]);
        assert!(matches!(short, Err(DataError::Inconsistent { .. })));
    }
}
