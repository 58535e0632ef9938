//! An in-memory labelled data set and the batches cut from it.
//!
//! Samples are stored row-major in one `Vec<f32>`: sample `i` is `x[i * sample_len..(i + 1) *
//! sample_len]`, laid out in `sample_shape` (e.g. `[channels, height, width]`). Labels are class
//! indices below `classes`. This is the format every loader in this crate returns and every
//! trainer in nonlin consumes.

use crate::error::DataError;

/// A labelled data set held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name used in messages and run records, e.g. `mnist-train`.
    pub name: String,
    /// All samples, row-major: `[len, ..sample_shape]` flattened.
    pub x: Vec<f32>,
    /// Shape of one sample, e.g. `[1, 28, 28]` or `[2]`.
    pub sample_shape: Vec<usize>,
    /// One class index per sample.
    pub y: Vec<u32>,
    /// Number of classes; every label is below it.
    pub classes: usize,
}

/// A batch of samples gathered from a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Samples, row-major.
    pub x: Vec<f32>,
    /// `[batch, ..sample_shape]`.
    pub shape: Vec<usize>,
    /// One label per sample.
    pub y: Vec<u32>,
}

impl Dataset {
    /// Build a data set and check it with [`Dataset::validate`].
    pub fn new(
        name: impl Into<String>,
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        y: Vec<u32>,
        classes: usize,
    ) -> Result<Self, DataError> {
        let d = Dataset {
            name: name.into(),
            x,
            sample_shape,
            y,
            classes,
        };
        d.validate()?;
        Ok(d)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Values per sample: the product of `sample_shape`.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The values of sample `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &[f32] {
        let d = self.sample_len();
        &self.x[i * d..(i + 1) * d]
    }

    /// Check that sizes fit together, every value is finite and every label is below `classes`.
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
        if self.classes == 0 {
            return Err(inconsistent("classes is 0".to_string()));
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
        if let Some((i, &label)) = self
            .y
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= self.classes)
        {
            return Err(inconsistent(format!(
                "the label of sample {i} is {label}, not below classes = {}",
                self.classes
            )));
        }
        Ok(())
    }

    /// How many samples each class has; entry `c` counts label `c`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.y {
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
        let (x, y) = self.gather(indices);
        Dataset {
            name: self.name.clone(),
            x,
            sample_shape: self.sample_shape.clone(),
            y,
            classes: self.classes,
        }
    }

    /// The samples at `indices` as a batch of shape `[indices.len(), ..sample_shape]`.
    ///
    /// # Panics
    /// If an index is `>= len()`, like slice indexing.
    pub fn batch(&self, indices: &[usize]) -> Batch {
        let (x, y) = self.gather(indices);
        let mut shape = Vec::with_capacity(self.sample_shape.len() + 1);
        shape.push(indices.len());
        shape.extend_from_slice(&self.sample_shape);
        Batch { x, shape, y }
    }

    fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let d = self.sample_len();
        let mut x = Vec::with_capacity(indices.len() * d);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(self.sample(i));
            y.push(self.y[i]);
        }
        (x, y)
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
        assert_eq!(s.y, vec![1, 0]);
        assert_eq!(s.classes, 2);
        let b = d.batch(&[1, 1, 2]);
        assert_eq!(b.shape, vec![3, 2]);
        assert_eq!(b.x, vec![10.0, 11.0, 10.0, 11.0, 20.0, 21.0]);
        assert_eq!(b.y, vec![1, 1, 1]);
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
        d.y[2] = 2;
        let e = d.validate().unwrap_err();
        assert!(e.to_string().contains("sample 2 is 2"), "{e}");

        let mut d = tiny();
        d.x.pop();
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));

        let mut d = tiny();
        d.sample_shape = vec![0];
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));

        let mut d = tiny();
        d.classes = 0;
        assert!(matches!(d.validate(), Err(DataError::Inconsistent { .. })));
    }
}
