//! What ForwardGNN's forward-learning rules share (Park, Zhang, Faloutsos, Yang, Sontag and
//! Fan, "Forward Learning of Graph Neural Networks", ICLR 2024, arXiv 2403.11004; official code
//! facebookresearch/forwardgnn, `src/forward_learning/nodeclass/`):
//!
//! - the row-wise L2 normalisation in front of every GNN layer (`LayerNormalization`),
//!   `x_hat = x / (‖x‖₂ + 1e-8)`;
//! - the layer-by-layer schedule: layer `l` trains alone on its local loss, reading the detached
//!   output of the frozen layers below; from the second epoch on, every `val_every` epochs the
//!   prediction of layers `0..=l` is scored on the validation nodes; the layer stops after
//!   `patience` checks without a higher validation accuracy or after `epochs_per_layer` epochs,
//!   its best weights (by validation accuracy) come back, and the next layer starts;
//! - the training nodes and their labels, which the rules need at prediction time (virtual-node
//!   edges, appended labels).

use burn::tensor::{Int, Tensor, TensorData};
use nonlin_nn::model::Gcn;
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{InputSpec, Model, ModelInput};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::early_stopping::{Better, EarlyStopping};
use super::saved_state::{pack, unpack_one};
use super::{RuleContext, RuleState};
use crate::{LearnError, Optimizer, TensorBatch};

/// Name of the best-model snapshot in a ForwardGNN rule's saved state.
pub(super) const BEST_MODEL: &str = "best_model";

/// The saved state of a rule with one optimizer and, while it holds one, a snapshot of the best
/// model so far (SF and SF-Top2Loss; FF keeps its label weights beside them).
pub(super) fn state_with_best<P: Serialize>(
    progress: &P,
    optimizer: &Optimizer,
    best: Option<&Model>,
) -> Result<RuleState, LearnError> {
    let modules = match best {
        Some(best) => vec![ModuleState::capture(BEST_MODEL, best)?],
        None => Vec::new(),
    };
    Ok(RuleState {
        bytes: pack(progress, &[optimizer.to_bytes()?])?,
        modules,
    })
}

/// Reads what [`state_with_best`] wrote: loads the optimizer and returns the progress and, when
/// `has_best(progress)`, the best model (restored into `template`'s structure).
pub(super) fn load_with_best<P: DeserializeOwned>(
    rule: &str,
    state: &RuleState,
    optimizer: &mut Optimizer,
    template: &Model,
    has_best: impl Fn(&P) -> bool,
) -> Result<(P, Option<Model>), LearnError> {
    let (progress, bytes): (P, _) = unpack_one(rule, &state.bytes)?;
    optimizer.load_bytes(&bytes)?;
    let best = if has_best(&progress) {
        Some(state.module(rule, BEST_MODEL)?.restore(template.clone())?)
    } else {
        None
    };
    Ok((progress, best))
}

/// Row-wise L2 normalisation `x / (‖x‖₂ + eps)` (official `LayerNormalization`, eps 1e-8).
///
/// # Shapes
/// - x: `[rows, features]`, output: `[rows, features]`
pub fn l2_normalize(x: Tensor<2>, eps: f64) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().add_scalar(eps);
    x / norm
}

/// The GCN a ForwardGNN rule trains, checked when the rule is built: a `gcn` model without its
/// output layer (every layer followed by its activation, as the official `GNNConv`).
pub(crate) fn check_model(rule: &str, context: &RuleContext<'_>) -> Result<usize, LearnError> {
    let unsupported = |reason: String| LearnError::Unsupported {
        rule: rule.into(),
        reason,
    };
    context.require_classification(rule)?;
    let Model::Gcn(gcn) = context.model else {
        return Err(unsupported("it trains the layers of a gcn model".into()));
    };
    if !matches!(context.io.input, InputSpec::Graph { .. }) {
        return Err(unsupported("it needs a graph (node classification)".into()));
    }
    if gcn.has_output_layer() {
        return Err(unsupported(
            "it reads the classes off the hidden layers: set model.output_layer = false".into(),
        ));
    }
    Ok(gcn.depth())
}

/// The GCN inside `model` (checked by [`check_model`] when the rule was built).
pub(crate) fn gcn(model: &Model) -> &Gcn {
    match model {
        Model::Gcn(gcn) => gcn,
        _ => unreachable!("checked when the rule was built"),
    }
}

/// The training nodes of the graph and their classes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainNodes {
    pub rows: Vec<i64>,
    pub labels: Vec<i64>,
}

impl TrainNodes {
    /// The training nodes of a training batch (the whole graph, rows = the training nodes).
    pub(crate) fn of_batch(rule: &str, batch: &TensorBatch) -> Result<Self, LearnError> {
        let ModelInput::Graph { rows, .. } = &batch.input else {
            return Err(LearnError::Batch(format!("{rule} trains on a graph")));
        };
        let ints = |t: Tensor<1, Int>| {
            t.into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| LearnError::Batch(format!("{e:?}")))
        };
        Ok(Self {
            rows: ints(rows.clone())?,
            labels: ints(batch.labels(rule)?)?,
        })
    }

    /// The training nodes of the task the rule is built for, when it comes with its data.
    pub(crate) fn of_context(
        rule: &str,
        context: &RuleContext<'_>,
    ) -> Result<Option<Self>, LearnError> {
        match context.data {
            Some(task) => Ok(Some(Self::of_batch(
                rule,
                &task.train_batch(&[0], context.device)?,
            )?)),
            None => Ok(None),
        }
    }
}

/// The graph of a batch as host data: features `[nodes, f]`, adjacency `[nodes, nodes]`, the
/// asked rows.
pub(crate) fn host_graph(
    rule: &str,
    input: &ModelInput,
) -> Result<(Tensor<2>, Vec<f32>, Tensor<1, Int>), LearnError> {
    let ModelInput::Graph {
        features,
        adjacency,
        rows,
    } = input
    else {
        return Err(LearnError::Batch(format!("{rule} reads a graph")));
    };
    let adjacency = adjacency
        .clone()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
    Ok((features.clone(), adjacency, rows.clone()))
}

/// The undirected edges of a graph read back from its propagation matrix `Â` (every non-zero
/// off-diagonal entry; `Â_ij > 0` exactly when `i` and `j` are joined).
pub(crate) fn edges_of(adjacency: &[f32], nodes: usize) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    for i in 0..nodes {
        for j in i + 1..nodes {
            if adjacency[i * nodes + j] != 0.0 {
                edges.push((i, j));
            }
        }
    }
    edges
}

/// The schedule's settings (each rule's config carries them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    pub epochs_per_layer: u64,
    pub val_every: u64,
    pub patience: u64,
    pub early_stopping: bool,
}

impl Schedule {
    /// Checks the ranges, naming the rule's fields.
    pub fn check(&self, rule: &str) -> Result<(), LearnError> {
        let fields = [
            ("epochs_per_layer", self.epochs_per_layer, 100_000_000),
            ("val_every", self.val_every, 1_000_000),
            ("patience", self.patience, 1_000_000),
        ];
        for (field, v, most) in fields {
            if !(1..=most).contains(&v) {
                return Err(LearnError::Config {
                    what: format!("{rule}.{field}"),
                    reason: format!("must be in 1..={most}, got {v}"),
                });
            }
        }
        Ok(())
    }
}

/// Where the layer-by-layer training stands (checkpointed with the rule).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Phases {
    /// The layer in training (the depth once every layer is done).
    pub layer: usize,
    pub epochs_in_layer: u64,
    pub stopping: EarlyStopping,
    /// Whether the rule holds a best snapshot of the layer in training.
    pub has_best: bool,
}

impl Phases {
    /// Whether every one of `depth` layers is trained.
    pub fn done(&self, depth: usize) -> bool {
        self.layer >= depth
    }

    /// The last layer of the prediction: the one in training, or the top one when all are done.
    pub fn last_layer(&self, depth: usize) -> usize {
        self.layer.min(depth - 1)
    }

    /// Counts an epoch; whether the validation accuracy is due now (official: epoch index
    /// `e` from 0, `(e + 1) % val_every == 0 and e > val_from = 0`).
    pub fn epoch_done(&mut self, schedule: &Schedule) -> bool {
        self.epochs_in_layer += 1;
        let e = self.epochs_in_layer;
        schedule.early_stopping && e > 1 && e.is_multiple_of(schedule.val_every)
    }

    /// Records a validation accuracy; whether it improved on the best (the rule then keeps a
    /// snapshot).
    pub fn observe(&mut self, accuracy: f64) -> bool {
        let improved = self.stopping.observe(accuracy, Better::Higher, 0.0);
        self.has_best |= improved;
        improved
    }

    /// Ends the epoch: whether the layer in training is over (patience or epochs used up); the
    /// rule then restores its best snapshot, and the next layer starts.
    pub fn close(&mut self, schedule: &Schedule) -> bool {
        let stop = schedule.early_stopping && self.stopping.should_stop(schedule.patience);
        let over = stop || self.epochs_in_layer >= schedule.epochs_per_layer;
        if over {
            self.layer += 1;
            self.epochs_in_layer = 0;
            self.stopping = EarlyStopping::default();
            self.has_best = false;
        }
        over
    }
}

/// A `[rows, cols]` host matrix as a tensor on `device`.
pub(crate) fn matrix(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &burn::tensor::Device,
) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    #[test]
    fn l2_normalisation_by_hand() {
        let device = Device::flex();
        // row (3, 4): norm 5 -> (0.6, 0.8); row (0, 0) stays 0 (eps keeps it finite)
        let x = Tensor::<2>::from_floats([[3.0, 4.0], [0.0, 0.0]], &device);
        let y: Vec<f32> = l2_normalize(x, 1e-8).into_data().try_to_vec().unwrap();
        assert_eq!(y, vec![0.6, 0.8, 0.0, 0.0]);
    }

    #[test]
    fn edges_are_read_back_from_the_propagation_matrix() {
        let a = nonlin_nn::model::normalized_adjacency(4, &[(0, 1), (2, 1), (3, 3)]).unwrap();
        assert_eq!(edges_of(&a, 4), vec![(0, 1), (1, 2)]);
    }

    /// The schedule: validation from the second epoch, every `val_every`; the layer ends after
    /// `patience` checks without improvement or after `epochs_per_layer` epochs.
    #[test]
    fn phases_follow_the_official_schedule() {
        let schedule = Schedule {
            epochs_per_layer: 7,
            val_every: 2,
            patience: 2,
            early_stopping: true,
        };
        let mut p = Phases::default();
        // epochs 1..=6: checks at 2, 4, 6
        let due: Vec<bool> = (0..3)
            .flat_map(|_| {
                let a = p.epoch_done(&schedule);
                assert!(!p.close(&schedule));
                let b = p.epoch_done(&schedule);
                [a, b]
            })
            .collect();
        assert_eq!(due, vec![false, true, false, true, false, true]);
        // accuracies 0.5 (best), 0.5 (not better), 0.4 -> two bad checks: the layer ends
        let mut p = Phases::default();
        assert!(p.observe(0.5));
        assert!(!p.observe(0.5));
        assert!(!p.close(&schedule));
        assert!(!p.observe(0.4));
        assert!(p.close(&schedule));
        assert_eq!((p.layer, p.epochs_in_layer, p.has_best), (1, 0, false));
        // without validation, the epoch budget ends the layer
        let mut p = Phases::default();
        for e in 1..=7 {
            p.epoch_done(&schedule);
            assert_eq!(p.close(&schedule), e == 7);
        }
        assert!(p.done(1) && !p.done(2));
        assert_eq!(p.last_layer(1), 0);
    }

    #[test]
    fn bad_schedules_are_errors() {
        let ok = Schedule {
            epochs_per_layer: 1000,
            val_every: 2,
            patience: 100,
            early_stopping: true,
        };
        ok.check("r").unwrap();
        for (field, s) in [
            (
                "epochs_per_layer",
                Schedule {
                    epochs_per_layer: 0,
                    ..ok
                },
            ),
            (
                "epochs_per_layer",
                Schedule {
                    epochs_per_layer: u64::MAX,
                    ..ok
                },
            ),
            ("val_every", Schedule { val_every: 0, ..ok }),
            (
                "val_every",
                Schedule {
                    val_every: 10_000_000,
                    ..ok
                },
            ),
            ("patience", Schedule { patience: 0, ..ok }),
        ] {
            let err = s.check("r").unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
