//! ForwardGNN's single-forward learning with virtual nodes, SF (Park et al., "Forward Learning
//! of Graph Neural Networks", ICLR 2024, arXiv 2403.11004; official code
//! facebookresearch/forwardgnn, `src/forward_learning/nodeclass/gnn_sf.py`,
//! `GNNSingleForward` with `--append-label none --aug-edge-direction bidirection
//! --temperature 1`).
//!
//! The graph gets `C` virtual nodes, one per class, with fixed random N(0, 1) features
//! (`nn.Embedding` initialisation); every training node is joined, in both directions, to the
//! virtual node of its class. Every GCN layer `l` (row-wise L2 normalisation of its input, then
//! `ReLU(Â h W + b)` on the augmented graph) is trained alone on
//!
//! `L_l = CE(softmax(H_l[train] H_l[virtual]ᵀ / τ), y_train)`,
//!
//! the logits being the dot products of the training nodes' embeddings with the virtual nodes'
//! embeddings; layers are trained one after another to early stopping
//! ([`super::forwardgnn`]'s schedule) and frozen. Prediction: the class probabilities
//! `softmax(H_l[rows] H_l[virtual]ᵀ / τ)` summed over the layers trained so far, argmax.
//!
//! Deviations, each documented here: the dense GCN sees the virtual-node edges as plain
//! undirected edges (the official relational edge types only matter for RGCN / RGAT backbones,
//! not for `GCNConv`); the official "unidirection" option is not implemented. Every layer shares
//! one Adam over the model; Adam keeps its moments and step count per parameter, so this is the
//! official one-optimizer-per-layer training.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, Int, Tensor};
use nonlin_nn::model::normalized_adjacency;
use nonlin_nn::{InputSpec, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::forwardgnn::{
    self, Phases, Schedule, TrainNodes, edges_of, host_graph, l2_normalize, matrix,
};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, Target, TensorBatch};

const NAME: &str = "forwardgnn_sf";

/// Configuration of [`ForwardgnnSf`] (`kind = "forwardgnn_sf"`). Defaults: the official node
/// classification scripts (`exp/nodeclass/*.sh`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardgnnSfConfig {
    /// τ, the softmax temperature of the virtual-node logits (official `--temperature 1.0`).
    #[serde(default = "one")]
    pub temperature: f64,
    /// eps of the row-wise L2 normalisation (official 1e-8).
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    /// Epochs per layer at most (official `--epochs 1000`).
    #[serde(default = "epochs_per_layer")]
    pub epochs_per_layer: u64,
    /// Epochs between validation checks (official `--val-every 2`).
    #[serde(default = "val_every")]
    pub val_every: u64,
    /// Validation checks without improvement before a layer stops (official `--patience 100`).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Stop each layer on the validation accuracy and restore its best weights (official).
    #[serde(default = "yes")]
    pub early_stopping: bool,
}

pub(crate) fn one() -> f64 {
    1.0
}
pub(crate) fn norm_eps() -> f64 {
    1e-8
}
pub(crate) fn epochs_per_layer() -> u64 {
    1000
}
pub(crate) fn val_every() -> u64 {
    2
}
pub(crate) fn patience() -> u64 {
    100
}
pub(crate) fn yes() -> bool {
    true
}

impl Default for ForwardgnnSfConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl ForwardgnnSfConfig {
    fn schedule(&self) -> Schedule {
        Schedule {
            epochs_per_layer: self.epochs_per_layer,
            val_every: self.val_every,
            patience: self.patience,
            early_stopping: self.early_stopping,
        }
    }
}

/// Checks a positive finite real field, at most `most`.
pub(crate) fn check_positive(rule: &str, field: &str, v: f64, most: f64) -> Result<(), LearnError> {
    if v.is_finite() && v > 0.0 && v <= most {
        return Ok(());
    }
    Err(LearnError::Config {
        what: format!("{rule}.{field}"),
        reason: format!("must be a finite number in (0, {most}], got {v}"),
    })
}

impl RuleSpec for ForwardgnnSfConfig {
    fn validate(&self) -> Result<(), LearnError> {
        check_positive(NAME, "temperature", self.temperature, 1e6)?;
        check_positive(NAME, "norm_eps", self.norm_eps, 1.0)?;
        self.schedule().check(NAME)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(ForwardgnnSf::new(self, context)?))
    }
}

/// Counters, the virtual nodes' features and the training nodes, checkpointed with the rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Progress {
    phases: Phases,
    /// `[classes, features]` row-major, N(0, 1), fixed.
    virtual_features: Vec<f32>,
    train: Option<TrainNodes>,
}

/// The augmented graph of the training batch and the (detached) input of the layer in
/// training; rebuilt after a resume.
struct Cache {
    features: Tensor<2>,
    adjacency: Tensor<2>,
    rows: Tensor<1, Int>,
    layer: usize,
    input: Tensor<2>,
}

/// The single-forward rule.
pub struct ForwardgnnSf {
    config: ForwardgnnSfConfig,
    optimizer: Optimizer,
    /// A model of the right shape to restore snapshots into.
    template: Model,
    /// The best model (by validation accuracy) of the layer in training.
    best: Option<Model>,
    depth: usize,
    classes: usize,
    feature_dim: usize,
    progress: Progress,
    cache: Option<Cache>,
}

impl ForwardgnnSf {
    /// The rule for the model and task of `context`.
    pub fn new(config: &ForwardgnnSfConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let depth = forwardgnn::check_model(NAME, context)?;
        let InputSpec::Graph { shape, .. } = &context.io.input else {
            unreachable!("checked by check_model")
        };
        let feature_dim: usize = shape.iter().product();
        let classes = context.io.output_width();
        let virtual_features = Tensor::<2>::random(
            [classes, feature_dim],
            Distribution::Normal(0.0, 1.0),
            context.device,
        )
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
        Ok(Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            template: context.model.clone(),
            best: None,
            depth,
            classes,
            feature_dim,
            progress: Progress {
                phases: Phases::default(),
                virtual_features,
                train: TrainNodes::of_context(NAME, context)?,
            },
            cache: None,
        })
    }

    /// The graph of `input` with the virtual nodes: features `[nodes + C, f]`, propagation
    /// matrix `[nodes + C, nodes + C]`, and the asked rows.
    fn augmented(
        &self,
        input: &ModelInput,
    ) -> Result<(Tensor<2>, Tensor<2>, Tensor<1, Int>), LearnError> {
        augmented_graph(
            NAME,
            input,
            self.progress.train.as_ref(),
            &self.progress.virtual_features,
            self.classes,
            self.feature_dim,
        )
    }

    /// The summed class probabilities of layers `0..=last` for the asked rows.
    fn predict_layers(
        &self,
        model: &Model,
        input: &ModelInput,
        last: usize,
    ) -> Result<Tensor<2>, LearnError> {
        let gcn = forwardgnn::gcn(model);
        let (mut h, adjacency, rows) = self.augmented(input)?;
        let nodes = h.dims()[0] - self.classes;
        let mut total: Option<Tensor<2>> = None;
        for l in 0..=last {
            h = gcn.layer_forward(l, l2_normalize(h, self.config.norm_eps), adjacency.clone());
            let logits = virtual_node_logits(
                h.clone(),
                rows.clone(),
                nodes,
                self.classes,
                self.config.temperature,
            );
            let p = softmax(logits, 1);
            total = Some(match total {
                Some(t) => t + p,
                None => p,
            });
        }
        Ok(total.expect("at least one layer"))
    }
}

/// The input of layer `layer`: the output of the layers below it, each reading its input
/// L2-normalised; detached between layers when `detach` is set (always, in training: the tests
/// turn it off to show that a leak would be seen).
///
/// # Shapes
/// - features: `[nodes, f]`, adjacency: `[nodes, nodes]`; returns `[nodes, width]`
pub fn layer_input(
    gcn: &nonlin_nn::model::Gcn,
    layer: usize,
    features: Tensor<2>,
    adjacency: Tensor<2>,
    eps: f64,
    detach: bool,
) -> Tensor<2> {
    (0..layer).fold(features, |h, l| {
        let h = if detach { h.detach() } else { h };
        gcn.layer_forward(l, l2_normalize(h, eps), adjacency.clone())
    })
}

/// The graph of `input` with one virtual node per class appended (features
/// `[nodes + C, feature_dim]` from `virtual_features`, joined to the training nodes `train`), its
/// propagation matrix `[nodes + C, nodes + C]`, and the asked rows; an error naming `rule` before
/// the training nodes are known.
pub(crate) fn augmented_graph(
    rule: &str,
    input: &ModelInput,
    train: Option<&TrainNodes>,
    virtual_features: &[f32],
    classes: usize,
    feature_dim: usize,
) -> Result<(Tensor<2>, Tensor<2>, Tensor<1, Int>), LearnError> {
    let train = train.ok_or_else(|| LearnError::Unsupported {
        rule: rule.into(),
        reason: "it predicts only once it has seen the training nodes".into(),
    })?;
    let (features, adjacency, rows) = host_graph(rule, input)?;
    let [nodes, _] = features.dims();
    let device = features.device();
    let adjacency = virtual_node_adjacency(&adjacency, nodes, train, classes)?;
    let total = nodes + classes;
    let virtual_nodes = matrix(virtual_features.to_vec(), classes, feature_dim, &device);
    Ok((
        Tensor::cat(vec![features, virtual_nodes], 0),
        matrix(adjacency, total, total, &device),
        rows,
    ))
}

/// The propagation matrix of the graph with one virtual node per class: node `nodes + c` joined
/// to every training node of class `c`; the real edges are read back from `adjacency` (the
/// graph's own `Â`), and the whole is normalised again, `D̃^{-1/2} (A + I) D̃^{-1/2}`.
///
/// # Shapes
/// - adjacency: `[nodes * nodes]`; returns `[(nodes + classes)^2]` row-major
pub fn virtual_node_adjacency(
    adjacency: &[f32],
    nodes: usize,
    train: &TrainNodes,
    classes: usize,
) -> Result<Vec<f32>, LearnError> {
    let mut edges = edges_of(adjacency, nodes);
    for (&row, &label) in train.rows.iter().zip(&train.labels) {
        if label < 0 || label as usize >= classes {
            return Err(LearnError::Batch(format!(
                "{NAME}: label {label} of node {row} is not below {classes}"
            )));
        }
        edges.push((row as usize, nodes + label as usize));
    }
    Ok(normalized_adjacency(nodes + classes, &edges)?)
}

/// The virtual-node logits `H[rows] H[virtual]ᵀ / τ`; the virtual nodes are the last `classes`
/// rows of `h`.
///
/// # Shapes
/// - h: `[nodes + classes, width]`, rows: `[batch]`
/// - returns: `[batch, classes]`
pub fn virtual_node_logits(
    h: Tensor<2>,
    rows: Tensor<1, Int>,
    nodes: usize,
    classes: usize,
    temperature: f64,
) -> Tensor<2> {
    let virtual_nodes = h.clone().narrow(0, nodes, classes);
    h.select(0, rows)
        .matmul(virtual_nodes.transpose())
        .div_scalar(temperature)
}

impl LearningRule<Model> for ForwardgnnSf {
    fn name(&self) -> &str {
        NAME
    }

    fn step(
        &mut self,
        model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        if self.progress.phases.done(self.depth) {
            return Ok((model, Metrics::new()));
        }
        if self.progress.train.is_none() {
            self.progress.train = Some(TrainNodes::of_batch(NAME, batch)?);
        }
        let labels = batch.labels(NAME)?;
        let layer = self.progress.phases.layer;
        let eps = self.config.norm_eps;
        if self.cache.as_ref().map(|c| c.layer) != Some(layer) {
            let (features, adjacency, rows) = match self.cache.take() {
                Some(c) => (c.features, c.adjacency, c.rows),
                None => self.augmented(&batch.input)?,
            };
            let input = layer_input(
                forwardgnn::gcn(&model),
                layer,
                features.clone(),
                adjacency.clone(),
                eps,
                true,
            );
            self.cache = Some(Cache {
                features,
                adjacency,
                rows,
                layer,
                input,
            });
        }
        let cache = self.cache.as_ref().expect("built above");
        let nodes = cache.features.dims()[0] - self.classes;
        let h = forwardgnn::gcn(&model).layer_forward(
            layer,
            l2_normalize(cache.input.clone().detach(), eps),
            cache.adjacency.clone(),
        );
        let logits = virtual_node_logits(
            h,
            cache.rows.clone(),
            nodes,
            self.classes,
            self.config.temperature,
        );
        let target = Target::Classes(labels);
        let correct = target.correct(&logits.clone().detach())?;
        let loss = target.loss(logits)?;
        let loss_value = loss.clone().into_scalar::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (model, _) = self.optimizer.step(lr, model, grads);
        let mut metrics = Metrics::from([
            ("loss".to_string(), loss_value),
            (format!("loss_layer{layer}"), loss_value),
            ("layer".to_string(), layer as f64),
        ]);
        if let Some((hits, rows)) = correct {
            metrics.insert("accuracy".into(), hits as f64 / rows as f64);
        }
        Ok((model, metrics))
    }

    fn end_epoch(&mut self, model: Model, end: EpochEnd<'_, '_>) -> Result<Model, LearnError> {
        if self.progress.phases.done(self.depth) {
            return Ok(model);
        }
        let schedule = self.config.schedule();
        let last = self.progress.phases.last_layer(self.depth);
        if self.progress.phases.epoch_done(&schedule)
            && let Some(validate) = end.validate
        {
            let valid = model.valid();
            let mut predict = |input: &ModelInput| self.predict_layers(&valid, input, last);
            let accuracy = validate(&mut predict)?
                .get("accuracy")
                .copied()
                .unwrap_or(f64::NAN);
            if self.progress.phases.observe(accuracy) {
                self.best = Some(model.clone());
            }
        }
        let over = self.progress.phases.close(&schedule);
        if over || end.last {
            self.cache = None;
            if let Some(best) = self.best.take() {
                self.progress.phases.has_best = false;
                return Ok(best);
            }
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.phases.done(self.depth)
    }

    /// The class probabilities summed over the layers trained so far (`[rows, classes]`).
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        self.predict_layers(model, input, self.progress.phases.last_layer(self.depth))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        forwardgnn::state_with_best(&self.progress, &self.optimizer, self.best.as_ref())
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, best) = forwardgnn::load_with_best(
            NAME,
            &state,
            &mut self.optimizer,
            &self.template,
            |p: &Progress| p.phases.has_best,
        )?;
        self.best = best;
        self.progress = progress;
        self.cache = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::super::fixtures;
    use super::*;
    use crate::OptimizerSetup;

    #[test]
    fn virtual_nodes_join_the_training_nodes_of_their_class() {
        // real nodes 0 - 1; node 0 trains with class 1; virtual nodes 2 (class 0), 3 (class 1).
        // Edges 0-1 and 0-3; degrees with self-loops: 3, 2, 1, 2; Â_ij = 1 / sqrt(d_i d_j):
        // Â_00 = 1/3, Â_01 = Â_03 = 1/sqrt(6) = 0.408248, Â_11 = Â_33 = 1/2, Â_22 = 1
        let a = normalized_adjacency(2, &[(0, 1)]).unwrap();
        let train = TrainNodes {
            rows: vec![0],
            labels: vec![1],
        };
        let got = virtual_node_adjacency(&a, 2, &train, 2).unwrap();
        let s6 = 1.0 / 6f32.sqrt();
        #[rustfmt::skip]
        let want = [
            1.0 / 3.0, s6, 0.0, s6,
            s6, 0.5, 0.0, 0.0,
            0.0, 0.0, 1.0, 0.0,
            s6, 0.0, 0.0, 0.5,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let bad = TrainNodes {
            rows: vec![0],
            labels: vec![2],
        };
        assert!(virtual_node_adjacency(&a, 2, &bad, 2).is_err());
    }

    #[test]
    fn virtual_node_logits_by_hand() {
        let device = Device::flex();
        // nodes 0, 1 then virtual nodes (1, 1) and (2, 0); rows asked: 1, 0
        let h = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, 0.0]], &device);
        let rows = Tensor::<1, Int>::from_ints([1, 0], &device);
        // node 1 (0, 2): (0 + 2, 0 + 0) = (2, 0); node 0 (1, 0): (1, 2); tau = 2 halves them
        let got: Vec<f32> = virtual_node_logits(h, rows, 2, 2, 2.0).into_data().try_to_vec().unwrap();
        assert_eq!(got, vec![1.0, 0.0, 0.5, 1.0]);
    }

    fn sf_rule(seed: u64, config: ForwardgnnSfConfig) -> (ForwardgnnSf, Model, TensorBatch) {
        let device = fixtures::device(seed);
        let (model, io) = fixtures::graph_model(
            "kind = \"gcn\"\nhidden = [8, 8, 8]\noutput_layer = false",
            12,
            6,
            3,
            &device,
        );
        let setup = OptimizerSetup::default();
        let rule = ForwardgnnSf::new(
            &config,
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        (rule, model, fixtures::graph_batch(12, 6, 3, &device))
    }

    /// A layer's loss reaches only its own parameters; without the detach between layers the
    /// same check sees the leak into the layers below (the negative control).
    #[test]
    fn no_gradient_crosses_layers() {
        let (mut rule, model, batch) = sf_rule(3, ForwardgnnSfConfig::default());
        rule.progress.train = Some(TrainNodes::of_batch("test", &batch).unwrap());
        let gcn = forwardgnn::gcn(&model);
        let (features, adjacency, rows) = rule.augmented(&batch.input).unwrap();
        let labels = batch.labels("test").unwrap();
        for detach in [true, false] {
            for layer in 0..3 {
                let input = layer_input(gcn, layer, features.clone(), adjacency.clone(), 1e-8, detach);
                let input = if detach { input.detach() } else { input };
                let h = gcn.layer_forward(layer, l2_normalize(input, 1e-8), adjacency.clone());
                let logits = virtual_node_logits(h, rows.clone(), 12, 3, 1.0);
                let loss = Target::Classes(labels.clone()).loss(logits).unwrap();
                let mut grads = loss.backward();
                // W and b of every layer that sees the gradient
                let found = fixtures::with_gradient(&mut grads, gcn);
                let expected = if detach { 2 } else { 2 * (layer + 1) };
                assert_eq!(found, expected, "detach {detach}, layer {layer}");
            }
        }
    }

    /// A step trains only the layer of the current phase: the others keep their weights.
    #[test]
    fn a_step_moves_only_the_layer_in_training() {
        let (mut rule, model, batch) = sf_rule(4, ForwardgnnSfConfig::default());
        rule.progress.phases.layer = 1;
        let before: Vec<_> = (0..3).map(|l| forwardgnn::gcn(&model).weight(l).into_data()).collect();
        let (model, metrics) = rule.step(model, &batch, 1e-2).unwrap();
        assert!(metrics["loss"].is_finite() && metrics["layer"] == 1.0, "{metrics:?}");
        let after: Vec<_> = (0..3).map(|l| forwardgnn::gcn(&model).weight(l).into_data()).collect();
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        assert_eq!(before[2], after[2]);
    }

    /// The layers train one after another: the loss of each falls, the rule finishes after the
    /// last, and the prediction (summed probabilities of all layers) sums to the depth per row.
    #[test]
    fn layers_train_in_turn_and_the_prediction_sums_probabilities() {
        let config = ForwardgnnSfConfig {
            epochs_per_layer: 30,
            early_stopping: false,
            ..ForwardgnnSfConfig::default()
        };
        let (mut rule, model, batch) = sf_rule(5, config);
        let (model, losses) = fixtures::train_layers_in_turn(&mut rule, model, &batch, 3, 30);
        for (layer, losses) in losses.iter().enumerate() {
            assert!(losses[29] < losses[0], "layer {layer}: {losses:?}");
        }
        assert!(rule.finished());
        let out = rule.predict(&model.valid(), &batch.input).unwrap();
        assert_eq!(out.dims(), [6, 3]);
        let sums: Vec<f32> = out.sum_dim(1).into_data().try_to_vec().unwrap();
        assert!(sums.iter().all(|s| (s - 3.0).abs() < 1e-4), "{sums:?}");
    }

    /// Early stopping of a layer: the snapshot with the best validation accuracy comes back and
    /// the next layer starts.
    #[test]
    fn early_stopping_restores_the_layers_best_weights() {
        let config = ForwardgnnSfConfig {
            val_every: 1,
            patience: 2,
            ..ForwardgnnSfConfig::default()
        };
        let (mut rule, mut model, batch) = sf_rule(6, config);
        // checks from epoch 2 on: 0.5, 0.7 (best, epoch 3), 0.6, 0.69 -> stop after epoch 5
        let mut validate = fixtures::scripted(
            vec![(0.0, 0.5), (0.0, 0.7), (0.0, 0.6), (0.0, 0.69)],
            batch.input.clone(),
        );
        let mut snapshots = Vec::new();
        for epoch in 1..=5 {
            let (next, _) = rule.step(model, &batch, 1e-2).unwrap();
            snapshots.push(next.clone());
            let end = EpochEnd {
                epochs_done: epoch,
                last: false,
                validate: Some(&mut validate),
            };
            model = rule.end_epoch(next, end).unwrap();
            assert_eq!(rule.progress.phases.layer, usize::from(epoch == 5), "epoch {epoch}");
        }
        let w = |m: &Model| forwardgnn::gcn(m).weight(0).into_data();
        assert_eq!(w(&model), w(&snapshots[2]));
        assert_ne!(w(&model), w(&snapshots[4]));
    }

    #[test]
    fn checkpoint_round_trip() {
        let (mut rule, model, batch) = sf_rule(7, ForwardgnnSfConfig::default());
        let (model, _) = rule.step(model, &batch, 1e-2).unwrap();
        let state = rule.save_state().unwrap();
        let (mut fresh, _, _) = sf_rule(8, ForwardgnnSfConfig::default());
        fresh.load_state(state).unwrap();
        assert_eq!(fresh.progress, rule.progress);
        let a = rule.predict(&model.valid(), &batch.input).unwrap();
        let b = fresh.predict(&model.valid(), &batch.input).unwrap();
        assert_eq!(a.into_data(), b.into_data());
    }

    /// A checkpoint taken while the rule holds a best snapshot brings that snapshot back; one
    /// whose progress claims a snapshot that the state lacks is an error.
    #[test]
    fn checkpoint_round_trip_keeps_the_best_snapshot() {
        let config = ForwardgnnSfConfig {
            val_every: 1,
            patience: 2,
            ..ForwardgnnSfConfig::default()
        };
        let (mut rule, mut model, batch) = sf_rule(6, config.clone());
        let mut validate = fixtures::scripted(vec![(0.0, 0.5), (0.0, 0.7)], batch.input.clone());
        for epoch in 1..=3 {
            let (next, _) = rule.step(model, &batch, 1e-2).unwrap();
            let end = EpochEnd {
                epochs_done: epoch,
                last: false,
                validate: Some(&mut validate),
            };
            model = rule.end_epoch(next, end).unwrap();
        }
        assert!(rule.progress.phases.has_best);
        let state = rule.save_state().unwrap();
        let (mut fresh, _, _) = sf_rule(9, config.clone());
        fresh.load_state(state.clone()).unwrap();
        let w = |m: &Model| forwardgnn::gcn(m).weight(0).into_data();
        assert_eq!(w(fresh.best.as_ref().unwrap()), w(rule.best.as_ref().unwrap()));
        let mut lacking = state;
        lacking.modules.clear();
        let (mut fresh, _, _) = sf_rule(9, config);
        assert!(fresh.load_state(lacking).is_err());
    }

    #[test]
    fn models_and_tasks_it_cannot_train_are_errors() {
        let device = fixtures::device(1);
        let setup = OptimizerSetup::default();
        let config = ForwardgnnSfConfig::default();
        for toml_text in [
            "kind = \"gcn\"\nhidden = [8]",
            "kind = \"mlp\"\nhidden = [8]",
        ] {
            let (model, io) = fixtures::graph_model(toml_text, 12, 6, 3, &device);
            let context = fixtures::context(&model, &io, &setup, &device, 1, 10);
            assert!(ForwardgnnSf::new(&config, &context).is_err(), "{toml_text}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = ForwardgnnSfConfig::default();
        ok.validate().unwrap();
        type Change = Box<dyn Fn(&mut ForwardgnnSfConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("temperature", Box::new(|c| c.temperature = 0.0)),
            ("temperature", Box::new(|c| c.temperature = -1.0)),
            ("temperature", Box::new(|c| c.temperature = f64::NAN)),
            ("temperature", Box::new(|c| c.temperature = 1e300)),
            ("norm_eps", Box::new(|c| c.norm_eps = 0.0)),
            ("norm_eps", Box::new(|c| c.norm_eps = f64::INFINITY)),
            ("epochs_per_layer", Box::new(|c| c.epochs_per_layer = 0)),
            ("epochs_per_layer", Box::new(|c| c.epochs_per_layer = u64::MAX)),
            ("val_every", Box::new(|c| c.val_every = 0)),
            ("patience", Box::new(|c| c.patience = 0)),
            ("patience", Box::new(|c| c.patience = u64::MAX)),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(toml::from_str::<ForwardgnnSfConfig>("temprature = 2").is_err());
    }
}
