//! Transductive node classification (ForwardGNN, Park et al., ICLR 2024, arXiv 2403.11004): one
//! graph, every node's features and edges visible, labels of the training nodes used for
//! training; validation and test are disjoint node sets of the same graph. Cross-entropy and
//! accuracy over the scored nodes, as [`super::Classification`].
//!
//! An epoch is one item, the whole graph: every training step propagates over all nodes and
//! scores the training nodes (`ModelInput::Graph` with `rows` = the training nodes, the
//! `Target::Classes` of those nodes). The propagation matrix is the symmetric-normalised
//! adjacency with self-loops ([`nonlin_nn::model::normalized_adjacency`]).

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_nn::model::normalized_adjacency;
use nonlin_nn::{InputSpec, ModelInput, ModelIo};

use super::{ClassSums, EvalOptions, Predict, Split, Task, TaskKind};
use crate::{LearnError, Metrics, Target, TensorBatch};

/// Node ids of the three parts of a node-classification task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMasks {
    pub train: Vec<usize>,
    pub validation: Option<Vec<usize>>,
    pub test: Vec<usize>,
}

/// One graph with labelled nodes and train / validation / test node sets.
#[derive(Debug, Clone)]
pub struct NodeClassification {
    /// `[nodes, feature_dim]` row-major.
    features: Vec<f32>,
    /// `[nodes, nodes]` row-major, `D̃^{-1/2} (A + I) D̃^{-1/2}`.
    adjacency: Vec<f32>,
    labels: Vec<u32>,
    masks: NodeMasks,
    io: ModelIo,
}

impl NodeClassification {
    /// The task on a graph of `labels.len()` nodes. Every mask must be non-empty, name nodes of
    /// the graph, and be disjoint from the others; labels must be below `classes`.
    pub fn new(
        features: Vec<f32>,
        feature_dim: usize,
        edges: &[(usize, usize)],
        labels: Vec<u32>,
        classes: usize,
        masks: NodeMasks,
    ) -> Result<Self, LearnError> {
        let nodes = labels.len();
        let bad = |why: String| Err(LearnError::Batch(format!("node classification: {why}")));
        if nodes == 0 || feature_dim == 0 || features.len() != nodes * feature_dim {
            return bad(format!(
                "{} feature values for {nodes} nodes of {feature_dim} features",
                features.len()
            ));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= classes) {
            return bad(format!("label {l} is not below {classes} classes"));
        }
        let mut seen = vec![false; nodes];
        let parts = [
            ("train", Some(&masks.train)),
            ("validation", masks.validation.as_ref()),
            ("test", Some(&masks.test)),
        ];
        for (name, part) in parts {
            let Some(part) = part else { continue };
            if part.is_empty() {
                return bad(format!("the {name} mask is empty"));
            }
            for &i in part {
                if i >= nodes {
                    return bad(format!("the {name} mask names node {i} of {nodes}"));
                }
                if std::mem::replace(&mut seen[i], true) {
                    return bad(format!("node {i} is in two masks (found again in {name})"));
                }
            }
        }
        let adjacency = normalized_adjacency(nodes, edges)?;
        let io = ModelIo {
            input: InputSpec::Graph {
                nodes,
                shape: vec![feature_dim],
            },
            output: vec![classes],
        };
        Ok(Self {
            features,
            adjacency,
            labels,
            masks,
            io,
        })
    }

    fn nodes(&self) -> usize {
        self.labels.len()
    }

    /// The masks.
    pub fn masks(&self) -> &NodeMasks {
        &self.masks
    }

    /// The graph with `rows` asked, and the labels of those rows.
    ///
    /// # Shapes
    /// - input: `ModelInput::Graph` with features `[nodes, f]`, adjacency `[nodes, nodes]`,
    ///   rows `[rows.len()]`; target: `Classes([rows.len()])`
    pub fn batch_of(&self, rows: &[usize], device: &Device) -> TensorBatch {
        let n = self.nodes();
        let f = self.features.len() / n;
        let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let labels: Vec<i64> = rows.iter().map(|&r| self.labels[r] as i64).collect();
        TensorBatch {
            input: ModelInput::Graph {
                features: Tensor::from_data(TensorData::new(self.features.clone(), [n, f]), device),
                adjacency: Tensor::from_data(
                    TensorData::new(self.adjacency.clone(), [n, n]),
                    device,
                ),
                rows: Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), device),
            },
            target: Target::Classes(Tensor::<1, Int>::from_data(
                TensorData::new(labels, [rows.len()]),
                device,
            )),
        }
    }

    fn split_rows(&self, split: Split) -> Result<&[usize], LearnError> {
        match split {
            Split::Validation => self.masks.validation.as_deref(),
            Split::Test => Some(self.masks.test.as_slice()),
        }
        .ok_or_else(|| LearnError::Batch(format!("no {} split", split.name())))
    }
}

impl Task for NodeClassification {
    fn kind(&self) -> TaskKind {
        TaskKind::Classification
    }

    fn io(&self) -> &ModelIo {
        &self.io
    }

    /// One item: the whole graph.
    fn train_len(&self) -> usize {
        1
    }

    fn train_batch(&self, _indices: &[usize], device: &Device) -> Result<TensorBatch, LearnError> {
        Ok(self.batch_of(&self.masks.train, device))
    }

    fn has_validation(&self) -> bool {
        self.masks.validation.is_some()
    }

    fn split_len(&self, split: Split) -> usize {
        self.split_rows(split).map_or(0, <[usize]>::len)
    }

    fn evaluate(
        &self,
        split: Split,
        predict: &mut Predict<'_>,
        options: &EvalOptions<'_>,
    ) -> Result<Metrics, LearnError> {
        let batch = self.batch_of(self.split_rows(split)?, options.device);
        let mut sums = ClassSums::default();
        sums.add(&batch.target, predict(&batch.input)?)?;
        Ok(Metrics::from([
            ("loss".to_string(), sums.loss()),
            ("accuracy".to_string(), sums.accuracy()),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(train: Vec<usize>, validation: Option<Vec<usize>>, test: Vec<usize>) -> NodeMasks {
        NodeMasks {
            train,
            validation,
            test,
        }
    }

    fn task(m: NodeMasks) -> Result<NodeClassification, LearnError> {
        // 4 nodes, 1 feature each, path 0 - 1 - 2 - 3, two classes
        NodeClassification::new(
            vec![0.0, 1.0, 2.0, 3.0],
            1,
            &[(0, 1), (1, 2), (2, 3)],
            vec![0, 0, 1, 1],
            2,
            m,
        )
    }

    #[test]
    fn batches_hold_the_whole_graph_and_the_asked_rows() {
        let device = Device::default();
        let t = task(masks(vec![0, 3], Some(vec![1]), vec![2])).unwrap();
        assert_eq!(t.train_len(), 1);
        assert_eq!(t.split_len(Split::Validation), 1);
        let b = t.train_batch(&[0], &device).unwrap();
        let ModelInput::Graph {
            features,
            adjacency,
            rows,
        } = &b.input
        else {
            panic!("a graph batch")
        };
        assert_eq!(features.dims(), [4, 1]);
        assert_eq!(adjacency.dims(), [4, 4]);
        assert_eq!(
            rows.clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![0, 3]
        );
        let Target::Classes(y) = &b.target else {
            panic!("classes")
        };
        assert_eq!(
            y.clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![0, 1]
        );
        // a graph-free model sees the features of the asked rows: node 0 -> 0.0, node 3 -> 3.0
        let x = b
            .input
            .real("test")
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(x, vec![0.0, 3.0]);
    }

    #[test]
    fn evaluation_scores_only_the_split_rows() {
        let device = Device::default();
        let t = task(masks(vec![0, 3], None, vec![1, 2])).unwrap();
        // predict class 0 for every asked row: test rows 1 (class 0) and 2 (class 1) -> 1/2
        let mut predict = |input: &ModelInput| -> Result<Tensor<2>, LearnError> {
            let n = input.batch_size();
            Ok(Tensor::from_data(
                TensorData::new([1.0f32, 0.0].repeat(n), [n, 2]),
                &device,
            ))
        };
        let options = EvalOptions {
            device: &device,
            batch_size: 1,
            every_position: false,
        };
        let m = t.evaluate(Split::Test, &mut predict, &options).unwrap();
        assert_eq!(m["accuracy"], 0.5);
        assert!(
            t.evaluate(Split::Validation, &mut predict, &options)
                .is_err()
        );
    }

    #[test]
    fn bad_graphs_and_masks_are_errors() {
        assert!(task(masks(vec![], None, vec![1])).is_err());
        assert!(task(masks(vec![0], None, vec![])).is_err());
        assert!(task(masks(vec![0], Some(vec![]), vec![1])).is_err());
        assert!(task(masks(vec![0], None, vec![0])).is_err());
        assert!(task(masks(vec![0], None, vec![4])).is_err());
        let m = masks(vec![0], None, vec![1]);
        assert!(
            NodeClassification::new(vec![0.0; 4], 1, &[], vec![0, 0, 2, 1], 2, m.clone()).is_err()
        );
        assert!(
            NodeClassification::new(vec![0.0; 3], 1, &[], vec![0, 0, 1, 1], 2, m.clone()).is_err()
        );
        assert!(NodeClassification::new(vec![], 1, &[], vec![], 2, m.clone()).is_err());
        assert!(
            NodeClassification::new(vec![0.0; 4], 1, &[(0, 9)], vec![0, 0, 1, 1], 2, m).is_err()
        );
    }
}
