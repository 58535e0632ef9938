//! ForwardGNN's Forward-Forward with label appending, FF+LA (Park et al., "Forward Learning of
//! Graph Neural Networks", ICLR 2024, arXiv 2403.11004; official code
//! facebookresearch/forwardgnn, `src/forward_learning/nodeclass/gnn_ff_with_label_appending.py`,
//! `GNNLabelAppendingFF`, loss `forwardforward_loss_fn` of `src/forward_learning/loss.py`).
//!
//! Every node's features get a `C`-dim label block appended: the one-hot of its class for a
//! training node, `1/C` everywhere for the others (`unlabeled = "uniform"`). Positive input: the
//! training nodes' true classes; negative inputs (drawn once, before training): for each of
//! `K = min(num_negs, C - 1)` negatives, every training node gets a different wrong class (the
//! wrong classes in random order). Each GCN layer `l` (row-wise L2 normalisation of its input,
//! then `ReLU(Â h W + b)`) is trained alone, on the training nodes, with
//!
//! `L_l = BCE(G⁺ - θ, 1) + (1/K) Σ_k BCE(G⁻_k - θ, 0)`,  `G = Σ_j h_j²`, θ = 2,
//!
//! each BCE a mean over the training nodes, layers one after another to early stopping
//! ([`super::forwardgnn`]'s schedule). Prediction: for each candidate class `c`, the asked nodes
//! get the one-hot of `c`, the training nodes their true classes, the rest `1/C`; the score of
//! `c` is `Σ_l (mean_j h_j² - θ)` over the layers trained so far (the mean in prediction, the
//! sum in training, as the official code); argmax.
//!
//! The appended block enters the first layer only, through a rule-owned weight `W_label`
//! (`[C, width_0]`, Glorot uniform over `features + C` inputs, trained with layer 0):
//! `Â [x | l] W = Â x W_x + Â l W_label`, normalised by the length of the whole row `[x | l]`.
//! Deviations, documented: `W_x` keeps the model's Glorot initialisation over `features`
//! inputs (the official layer draws `[W_x; W_label]` together over `features + C`); when the
//! test nodes are scored, the official code also appends the validation nodes' labels, which
//! the rule never sees (they stay `1/C`).

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor};
use nonlin_nn::model::Gcn;
use nonlin_nn::weights::ModuleState;
use nonlin_nn::{InputSpec, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::forward_forward::{Goodness, goodness, threshold_loss};
use super::forwardgnn::{self, Phases, Schedule, TrainNodes, host_graph, l2_normalize, matrix};
use super::forwardgnn_sf::{
    check_positive, epochs_per_layer, norm_eps, patience, val_every, yes,
};
use super::saved_state::{pack, unpack};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, TensorBatch};

const NAME: &str = "forwardgnn_ff";

/// The label block of the nodes that carry no label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlabeled {
    /// `1/C` in every position (official).
    #[default]
    Uniform,
    /// Zeros.
    Zero,
}

/// Configuration of [`ForwardgnnFf`] (`kind = "forwardgnn_ff"`). Defaults: the official node
/// classification scripts (`exp/nodeclass/*.sh`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardgnnFfConfig {
    /// θ, the goodness threshold (official `--ff-theta 2.0`).
    #[serde(default = "theta")]
    pub theta: f64,
    /// Negatives per positive, at most `C - 1` (official `--num-negs 100`: every wrong class).
    #[serde(default = "num_negs")]
    pub num_negs: usize,
    #[serde(default)]
    pub unlabeled: Unlabeled,
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

fn theta() -> f64 {
    2.0
}
fn num_negs() -> usize {
    100
}

impl Default for ForwardgnnFfConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl ForwardgnnFfConfig {
    fn schedule(&self) -> Schedule {
        Schedule {
            epochs_per_layer: self.epochs_per_layer,
            val_every: self.val_every,
            patience: self.patience,
            early_stopping: self.early_stopping,
        }
    }
}

impl RuleSpec for ForwardgnnFfConfig {
    fn validate(&self) -> Result<(), LearnError> {
        check_positive(NAME, "theta", self.theta, 1e6)?;
        check_positive(NAME, "norm_eps", self.norm_eps, 1.0)?;
        if !(1..=10_000).contains(&self.num_negs) {
            return Err(LearnError::Config {
                what: format!("{NAME}.num_negs"),
                reason: format!("must be in 1..=10000, got {}", self.num_negs),
            });
        }
        self.schedule().check(NAME)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(ForwardgnnFf::new(self, context)?))
    }
}

/// `W_label`, the first layer's weights of the appended label block.
#[derive(Module, Debug)]
pub struct LabelWeights {
    /// `[classes, width_0]`.
    weight: Param<Tensor<2>>,
}

/// Counters, the training nodes and the negative classes, checkpointed with the rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Progress {
    phases: Phases,
    train: Option<TrainNodes>,
    /// `negatives[k][i]`: the wrong class of training node `i` in negative `k`.
    negatives: Vec<Vec<i64>>,
}

/// The training graph and the detached inputs of the layer in training (positive first, then
/// the negatives); rebuilt after a resume.
struct Cache {
    layer: usize,
    features: Tensor<2>,
    adjacency: Tensor<2>,
    rows: Tensor<1, Int>,
    /// Label blocks `[nodes, C]` (layer 0) or the outputs of the layer below.
    inputs: Vec<Tensor<2>>,
}

/// The FF + label appending rule.
pub struct ForwardgnnFf {
    config: ForwardgnnFfConfig,
    optimizer: Optimizer,
    label_optimizer: Optimizer,
    /// Taken out during a step and put back after it.
    label: Option<LabelWeights>,
    template: Model,
    /// The best model and label weights (by validation accuracy) of the layer in training.
    best: Option<(Model, LabelWeights)>,
    depth: usize,
    classes: usize,
    progress: Progress,
    cache: Option<Cache>,
}

impl ForwardgnnFf {
    /// The rule for the model and task of `context`.
    pub fn new(config: &ForwardgnnFfConfig, context: &RuleContext<'_>) -> Result<Self, LearnError> {
        config.validate()?;
        let depth = forwardgnn::check_model(NAME, context)?;
        let InputSpec::Graph { shape, .. } = &context.io.input else {
            unreachable!("checked by check_model")
        };
        let features: usize = shape.iter().product();
        let classes = context.io.output_width();
        if classes < 2 {
            return Err(LearnError::Unsupported {
                rule: NAME.into(),
                reason: format!("negatives need at least 2 classes, got {classes}"),
            });
        }
        let width = forwardgnn::gcn(context.model).layer_width(0);
        // Glorot uniform over the whole first layer's fan-in, features + C
        let a = (6.0 / (features + classes + width) as f64).sqrt();
        let label = LabelWeights {
            weight: Param::from_tensor(Tensor::random(
                [classes, width],
                Distribution::Uniform(-a, a),
                context.device,
            )),
        };
        let mut rule = Self {
            config: config.clone(),
            optimizer: context.optimizer.build()?,
            label_optimizer: context.optimizer.build()?,
            label: Some(label),
            template: context.model.clone(),
            best: None,
            depth,
            classes,
            progress: Progress::default(),
            cache: None,
        };
        if let Some(train) = TrainNodes::of_context(NAME, context)? {
            rule.set_train(train, context.device)?;
        }
        Ok(rule)
    }

    fn label(&self) -> &LabelWeights {
        self.label.as_ref().expect("put back after every step")
    }

    /// Records the training nodes and draws the negatives' classes.
    fn set_train(&mut self, train: TrainNodes, device: &burn::tensor::Device) -> Result<(), LearnError> {
        let c = self.classes;
        let n = train.rows.len();
        let k = self.config.num_negs.min(c - 1);
        let u: Vec<f32> = Tensor::<2>::random([n.max(1), c], Distribution::Default, device)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
        let mut negatives = vec![Vec::with_capacity(n); k];
        for (i, &y) in train.labels.iter().enumerate() {
            // the wrong classes in the order of their random keys
            let mut wrong: Vec<usize> = (0..c).filter(|&j| j as i64 != y).collect();
            wrong.sort_by(|&p, &q| u[i * c + p].total_cmp(&u[i * c + q]));
            for (slot, &class) in negatives.iter_mut().zip(&wrong) {
                slot.push(class as i64);
            }
        }
        self.progress.negatives = negatives;
        self.progress.train = Some(train);
        Ok(())
    }

    fn train(&self) -> Result<&TrainNodes, LearnError> {
        self.progress.train.as_ref().ok_or_else(|| LearnError::Unsupported {
            rule: NAME.into(),
            reason: "it predicts only once it has seen the training nodes".into(),
        })
    }

    /// The layer outputs `0..=last` of the graph with label block `label_block`.
    fn layers(
        &self,
        model: &Model,
        label: &LabelWeights,
        features: Tensor<2>,
        label_block: Tensor<2>,
        adjacency: Tensor<2>,
        last: usize,
    ) -> Vec<Tensor<2>> {
        let gcn = forwardgnn::gcn(model);
        let eps = self.config.norm_eps;
        let mut h = first_layer(gcn, label, features, label_block, adjacency.clone(), eps);
        let mut out = vec![h.clone()];
        for l in 1..=last {
            h = gcn.layer_forward(l, l2_normalize(h, eps), adjacency.clone());
            out.push(h.clone());
        }
        out
    }

    /// For every candidate class, `Σ_l (mean_j h_j² - θ)` over layers `0..=last` of the asked
    /// rows (`[rows, classes]`).
    fn predict_layers(
        &self,
        model: &Model,
        label: &LabelWeights,
        input: &ModelInput,
        last: usize,
    ) -> Result<Tensor<2>, LearnError> {
        let train = self.train()?;
        let (features, adjacency, rows) = host_graph(NAME, input)?;
        let [nodes, _] = features.dims();
        let device = features.device();
        let adjacency = matrix(adjacency, nodes, nodes, &device);
        let asked: Vec<i64> = rows
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
        let mut columns = Vec::with_capacity(self.classes);
        for class in 0..self.classes {
            let block = label_block(
                nodes,
                self.classes,
                train,
                &train.labels,
                Some((&asked, class)),
                self.config.unlabeled,
            )?;
            let outputs = self.layers(
                model,
                label,
                features.clone(),
                matrix(block, nodes, self.classes, &device),
                adjacency.clone(),
                last,
            );
            let score = outputs
                .into_iter()
                .map(|h| goodness(h.select(0, rows.clone()), Goodness::Mean).sub_scalar(self.config.theta))
                .reduce(|a, b| a + b)
                .expect("at least one layer");
            columns.push(score.unsqueeze_dim::<2>(1));
        }
        Ok(Tensor::cat(columns, 1))
    }
}

/// The first layer on `[x | l]`: `ReLU(Â ([x | l] / ‖[x | l]‖) [W_x; W_label] + b)`, computed as
/// `Â (x̂ W_x) + Â (l̂ W_label) + b` with both parts divided by the length of the whole row.
///
/// # Shapes
/// - features: `[nodes, f]`, label_block: `[nodes, C]`, adjacency: `[nodes, nodes]`
/// - returns: `[nodes, width_0]`
pub fn first_layer(
    gcn: &Gcn,
    label: &LabelWeights,
    features: Tensor<2>,
    label_block: Tensor<2>,
    adjacency: Tensor<2>,
    eps: f64,
) -> Tensor<2> {
    let norm = (features.clone().powi_scalar(2).sum_dim(1)
        + label_block.clone().powi_scalar(2).sum_dim(1))
    .sqrt()
    .add_scalar(eps);
    let z = gcn.layer_pre_activation(0, features / norm.clone(), adjacency.clone())
        + adjacency.matmul((label_block / norm).matmul(label.weight.val()));
    gcn.layer_activation(0, z)
}

/// The label block of every node: the one-hot of `classes_of_train[i]` at training node `i`,
/// the one-hot of `eval.1` at the `eval.0` nodes (written last), and the `unlabeled` block
/// elsewhere.
///
/// # Shapes
/// - returns: `[nodes, classes]` row-major
pub fn label_block(
    nodes: usize,
    classes: usize,
    train: &TrainNodes,
    classes_of_train: &[i64],
    eval: Option<(&[i64], usize)>,
    unlabeled: Unlabeled,
) -> Result<Vec<f32>, LearnError> {
    let fill = match unlabeled {
        Unlabeled::Uniform => 1.0 / classes as f32,
        Unlabeled::Zero => 0.0,
    };
    let mut block = vec![fill; nodes * classes];
    let mut one_hot = |node: i64, class: i64| {
        if node < 0 || node as usize >= nodes || class < 0 || class as usize >= classes {
            return Err(LearnError::Batch(format!(
                "{NAME}: node {node} / class {class} outside {nodes} nodes / {classes} classes"
            )));
        }
        let row = &mut block[node as usize * classes..(node as usize + 1) * classes];
        row.fill(0.0);
        row[class as usize] = 1.0;
        Ok(())
    };
    for (&node, &class) in train.rows.iter().zip(classes_of_train) {
        one_hot(node, class)?;
    }
    if let Some((rows, class)) = eval {
        for &node in rows {
            one_hot(node, class as i64)?;
        }
    }
    Ok(block)
}

/// The layer loss `BCE(G⁺ - θ, 1) + (1/K) Σ_k BCE(G⁻_k - θ, 0)` (each BCE a mean over the
/// nodes), from [`threshold_loss`]: with the positives repeated `K` times, its mean over the
/// `2 K n` rows is half of this.
///
/// # Shapes
/// - positive: `[n]`, each negative: `[n]`; returns `[1]`
pub fn layer_loss(positive: Tensor<1>, negatives: Vec<Tensor<1>>, theta: f64) -> Tensor<1> {
    let k = negatives.len();
    let positives = Tensor::cat(vec![positive; k], 0);
    threshold_loss(positives, Tensor::cat(negatives, 0), theta).mul_scalar(2.0)
}

impl LearningRule<Model> for ForwardgnnFf {
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
            let train = TrainNodes::of_batch(NAME, batch)?;
            let device = batch.labels(NAME)?.device();
            self.set_train(train, &device)?;
        }
        let layer = self.progress.phases.layer;
        let eps = self.config.norm_eps;
        if self.cache.as_ref().map(|c| c.layer) != Some(layer) {
            let (features, adjacency, rows) = host_graph(NAME, &batch.input)?;
            let [nodes, _] = features.dims();
            let device = features.device();
            let adjacency = matrix(adjacency, nodes, nodes, &device);
            let train = self.train()?;
            let mut blocks = vec![label_block(
                nodes,
                self.classes,
                train,
                &train.labels,
                None,
                self.config.unlabeled,
            )?];
            for negative in &self.progress.negatives {
                blocks.push(label_block(
                    nodes,
                    self.classes,
                    train,
                    negative,
                    None,
                    self.config.unlabeled,
                )?);
            }
            let blocks: Vec<Tensor<2>> = blocks
                .into_iter()
                .map(|b| matrix(b, nodes, self.classes, &device))
                .collect();
            let inputs = if layer == 0 {
                blocks
            } else {
                blocks
                    .into_iter()
                    .map(|b| {
                        self.layers(&model, self.label(), features.clone(), b, adjacency.clone(), layer - 1)
                            .pop()
                            .expect("layers below")
                            .detach()
                    })
                    .collect()
            };
            self.cache = Some(Cache {
                layer,
                features,
                adjacency,
                rows,
                inputs,
            });
        }
        let cache = self.cache.as_ref().expect("built above");
        let gcn = forwardgnn::gcn(&model);
        let label = self.label.take().expect("label weights present");
        let outputs: Vec<Tensor<1>> = cache
            .inputs
            .iter()
            .map(|input| {
                let h = if layer == 0 {
                    first_layer(gcn, &label, cache.features.clone(), input.clone(), cache.adjacency.clone(), eps)
                } else {
                    gcn.layer_forward(layer, l2_normalize(input.clone().detach(), eps), cache.adjacency.clone())
                };
                goodness(h.select(0, cache.rows.clone()), Goodness::Sum)
            })
            .collect();
        let mut outputs = outputs.into_iter();
        let positive = outputs.next().expect("the positive input");
        let negatives: Vec<Tensor<1>> = outputs.collect();
        let separation = positive.clone().mean().into_scalar::<f64>()
            - Tensor::cat(negatives.clone(), 0).mean().into_scalar::<f64>();
        let loss = layer_loss(positive, negatives, self.config.theta);
        let loss_value = loss.clone().into_scalar::<f64>();
        let mut grads = loss.backward();
        let model_grads = GradientsParams::from_module(&mut grads, &model);
        let label_grads = GradientsParams::from_module(&mut grads, &label);
        let (model, _) = self.optimizer.step(lr, model, model_grads);
        let label = if layer == 0 {
            self.label_optimizer.step(lr, label, label_grads).0
        } else {
            label
        };
        self.label = Some(label);
        Ok((
            model,
            Metrics::from([
                ("loss".to_string(), loss_value),
                (format!("loss_layer{layer}"), loss_value),
                ("goodness_separation".to_string(), separation),
                ("layer".to_string(), layer as f64),
            ]),
        ))
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
            let (valid, label) = (model.valid(), self.label().valid());
            let mut predict = |input: &ModelInput| self.predict_layers(&valid, &label, input, last);
            let accuracy = validate(&mut predict)?
                .get("accuracy")
                .copied()
                .unwrap_or(f64::NAN);
            if self.progress.phases.observe(accuracy) {
                self.best = Some((model.clone(), self.label().clone()));
            }
        }
        let over = self.progress.phases.close(&schedule);
        if over || end.last {
            self.cache = None;
            if let Some((best, label)) = self.best.take() {
                self.progress.phases.has_best = false;
                self.label = Some(label);
                return Ok(best);
            }
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.phases.done(self.depth)
    }

    /// The accumulated goodness of every candidate class (`[rows, classes]`).
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let label = self.label().valid();
        self.predict_layers(model, &label, input, self.progress.phases.last_layer(self.depth))
    }

    /// The model's parameters and `W_label`.
    fn trained_params(&self, model_params: usize) -> usize {
        model_params + nonlin_nn::weights::trainable_params(self.label())
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        let mut modules = vec![ModuleState::capture("label_weights", self.label())?];
        if let Some((model, label)) = &self.best {
            modules.push(ModuleState::capture(forwardgnn::BEST_MODEL, model)?);
            modules.push(ModuleState::capture("best_label_weights", label)?);
        }
        Ok(RuleState {
            bytes: pack(
                &self.progress,
                &[self.optimizer.to_bytes()?, self.label_optimizer.to_bytes()?],
            )?,
            modules,
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, blobs): (Progress, _) = unpack(NAME, &state.bytes)?;
        let [model, label] = blobs.as_slice() else {
            return Err(LearnError::State {
                rule: NAME.into(),
                reason: format!("expected 2 optimizer states, found {}", blobs.len()),
            });
        };
        self.optimizer.load_bytes(model)?;
        self.label_optimizer.load_bytes(label)?;
        let fresh = self.label.take().expect("label weights present");
        self.label = Some(state.module(NAME, "label_weights")?.restore(fresh.clone())?);
        self.best = if progress.phases.has_best {
            Some((
                state.module(NAME, forwardgnn::BEST_MODEL)?.restore(self.template.clone())?,
                state.module(NAME, "best_label_weights")?.restore(fresh)?,
            ))
        } else {
            None
        };
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
    fn layer_loss_by_hand() {
        let device = Device::flex();
        let g = |v: [f32; 2]| Tensor::<1>::from_floats(v, &device);
        // theta 2; positives G = (3, 1): softplus(2 - 3) = 0.313262, softplus(2 - 1) = 1.313262,
        // mean 0.813262; negative 1, G = (2.5, 0): softplus(0.5) = 0.974077, softplus(-2) =
        // 0.126928, mean 0.550502; total 1.363764
        let one = layer_loss(g([3.0, 1.0]), vec![g([2.5, 0.0])], 2.0).into_scalar::<f32>();
        assert!((one - 1.363764).abs() < 1e-5, "{one}");
        // a second negative G = (1, 3): softplus(-1), softplus(1), mean 0.813262; the negatives
        // average: (0.550502 + 0.813262) / 2 = 0.681882; total 0.813262 + 0.681882 = 1.495144
        let two = layer_loss(g([3.0, 1.0]), vec![g([2.5, 0.0]), g([1.0, 3.0])], 2.0)
            .into_scalar::<f32>();
        assert!((two - 1.495144).abs() < 1e-5, "{two}");
    }

    #[test]
    fn label_blocks_by_hand() {
        // 4 nodes, 2 classes; node 0 trains with class 1, node 2 with class 0; node 3 asked
        // with candidate class 1; node 1 unlabelled: 1/2 (uniform) or 0 (zero)
        let train = TrainNodes {
            rows: vec![0, 2],
            labels: vec![1, 0],
        };
        let b = label_block(4, 2, &train, &train.labels, Some((&[3], 1)), Unlabeled::Uniform).unwrap();
        assert_eq!(b, vec![0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 1.0]);
        let b = label_block(4, 2, &train, &[0, 1], None, Unlabeled::Zero).unwrap();
        assert_eq!(b, vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert!(label_block(4, 2, &train, &[0, 2], None, Unlabeled::Zero).is_err());
        assert!(label_block(4, 2, &train, &train.labels, Some((&[4], 0)), Unlabeled::Zero).is_err());
    }

    fn ff_rule(seed: u64, config: ForwardgnnFfConfig) -> (ForwardgnnFf, Model, TensorBatch) {
        let device = fixtures::device(seed);
        let (model, io) = fixtures::graph_model(
            "kind = \"gcn\"\nhidden = [8, 8, 8]\noutput_layer = false",
            12,
            6,
            3,
            &device,
        );
        let setup = OptimizerSetup::default();
        let mut rule = ForwardgnnFf::new(
            &config,
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        let batch = fixtures::graph_batch(12, 6, 3, &device);
        rule.set_train(TrainNodes::of_batch("test", &batch).unwrap(), &device)
            .unwrap();
        (rule, model, batch)
    }

    /// The split first layer is the GCN layer on the concatenated `[x | l]` with the stacked
    /// weights `[W_x; W_label]` (the slow reference).
    #[test]
    fn the_first_layer_is_a_gcn_layer_on_the_appended_features() {
        let (rule, model, batch) = ff_rule(2, ForwardgnnFfConfig::default());
        let gcn = forwardgnn::gcn(&model);
        let (x, a, _) = host_graph("test", &batch.input).unwrap();
        let device = x.device();
        let a = matrix(a, 12, 12, &device);
        let train = rule.train().unwrap();
        let l = matrix(
            label_block(12, 3, train, &train.labels, None, Unlabeled::Uniform).unwrap(),
            12,
            3,
            &device,
        );
        let fast = first_layer(gcn, rule.label(), x.clone(), l.clone(), a.clone(), 1e-8);
        let h = l2_normalize(Tensor::cat(vec![x, l], 1), 1e-8);
        let w = Tensor::cat(vec![gcn.weight(0), rule.label().weight.val()], 0);
        let slow = gcn.layer_activation(0, a.matmul(h.matmul(w)) + gcn.layer_pre_activation(0, Tensor::zeros([12, 6], &device), Tensor::zeros([12, 12], &device)));
        fast.into_data().assert_approx_eq::<f32>(&slow.into_data(), Default::default());
    }

    /// The loss of layer 1 reaches neither layer 0 nor the label weights when its input is
    /// detached, as in training; without the detach the same check sees the leak (the negative
    /// control).
    #[test]
    fn no_gradient_crosses_layers() {
        let (rule, model, batch) = ff_rule(1, ForwardgnnFfConfig::default());
        let gcn = forwardgnn::gcn(&model);
        let (x, a, rows) = host_graph("test", &batch.input).unwrap();
        let device = x.device();
        let a = matrix(a, 12, 12, &device);
        let train = rule.train().unwrap();
        let block = label_block(12, 3, train, &train.labels, None, Unlabeled::Uniform).unwrap();
        for detach in [true, false] {
            let h0 = rule
                .layers(&model, rule.label(), x.clone(), matrix(block.clone(), 12, 3, &device), a.clone(), 0)
                .pop()
                .unwrap();
            let h0 = if detach { h0.detach() } else { h0 };
            let h1 = gcn.layer_forward(1, l2_normalize(h0, 1e-8), a.clone());
            let g = goodness(h1.select(0, rows.clone()), Goodness::Sum);
            let mut grads = layer_loss(g.clone(), vec![g.mul_scalar(0.5)], 2.0).backward();
            let found = (
                fixtures::with_gradient(&mut grads, gcn),
                fixtures::with_gradient(&mut grads, rule.label()),
            );
            // W and b of layer 1 only; without the detach also W, b of layer 0 and W_label
            let expected = if detach { (2, 0) } else { (4, 1) };
            assert_eq!(found, expected, "detach {detach}");
        }
    }

    /// Negatives: each training node gets `K = min(num_negs, C - 1)` different wrong classes.
    #[test]
    fn negatives_are_distinct_wrong_classes() {
        let (rule, _, _) = ff_rule(3, ForwardgnnFfConfig::default());
        let train = rule.train().unwrap();
        assert_eq!(rule.progress.negatives.len(), 2);
        for (i, &y) in train.labels.iter().enumerate() {
            let (a, b) = (rule.progress.negatives[0][i], rule.progress.negatives[1][i]);
            assert!(a != y && b != y && a != b, "node {i}: {y} {a} {b}");
        }
        let (rule, _, _) = ff_rule(3, ForwardgnnFfConfig {
            num_negs: 1,
            ..ForwardgnnFfConfig::default()
        });
        assert_eq!(rule.progress.negatives.len(), 1);
    }

    /// A step trains only the layer of the current phase (and the label weights only with
    /// layer 0): the other weights stay as they were.
    #[test]
    fn a_step_moves_only_the_layer_in_training() {
        for layer in [0, 1] {
            let (mut rule, model, batch) = ff_rule(4, ForwardgnnFfConfig::default());
            rule.progress.phases.layer = layer;
            let weights = |m: &Model| (0..3).map(|l| forwardgnn::gcn(m).weight(l).into_data()).collect::<Vec<_>>();
            let before = (weights(&model), rule.label().weight.val().into_data());
            let (model, metrics) = rule.step(model, &batch, 1e-2).unwrap();
            assert!(metrics["loss"].is_finite(), "{metrics:?}");
            let after = (weights(&model), rule.label().weight.val().into_data());
            for l in 0..3 {
                assert_eq!(before.0[l] == after.0[l], l != layer, "layer {layer}: weights of {l}");
            }
            assert_eq!(before.1 == after.1, layer != 0, "layer {layer}: label weights");
        }
    }

    /// The loss of each layer falls as it trains; the prediction is finite and the rule ends
    /// after the last layer.
    #[test]
    fn layers_train_in_turn() {
        let config = ForwardgnnFfConfig {
            epochs_per_layer: 25,
            early_stopping: false,
            ..ForwardgnnFfConfig::default()
        };
        let (mut rule, model, batch) = ff_rule(5, config);
        let (model, losses) = fixtures::train_layers_in_turn(&mut rule, model, &batch, 3, 25);
        for (layer, losses) in losses.iter().enumerate() {
            assert!(losses[24] < losses[0], "layer {layer}: {losses:?}");
        }
        assert!(rule.finished());
        let out = rule.predict(&model.valid(), &batch.input).unwrap();
        assert_eq!(out.dims(), [6, 3]);
        let values: Vec<f32> = out.into_data().try_to_vec().unwrap();
        assert!(values.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn checkpoint_round_trip() {
        let (mut rule, model, batch) = ff_rule(7, ForwardgnnFfConfig::default());
        let (model, _) = rule.step(model, &batch, 1e-2).unwrap();
        let state = rule.save_state().unwrap();
        let (mut fresh, _, _) = ff_rule(8, ForwardgnnFfConfig::default());
        fresh.load_state(state).unwrap();
        assert_eq!(fresh.progress, rule.progress);
        let a = rule.predict(&model.valid(), &batch.input).unwrap();
        let b = fresh.predict(&model.valid(), &batch.input).unwrap();
        assert_eq!(a.into_data(), b.into_data());
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = ForwardgnnFfConfig::default();
        ok.validate().unwrap();
        type Change = Box<dyn Fn(&mut ForwardgnnFfConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("theta", Box::new(|c| c.theta = 0.0)),
            ("theta", Box::new(|c| c.theta = -2.0)),
            ("theta", Box::new(|c| c.theta = f64::NAN)),
            ("theta", Box::new(|c| c.theta = 1e300)),
            ("norm_eps", Box::new(|c| c.norm_eps = -1.0)),
            ("num_negs", Box::new(|c| c.num_negs = 0)),
            ("num_negs", Box::new(|c| c.num_negs = usize::MAX)),
            ("epochs_per_layer", Box::new(|c| c.epochs_per_layer = 0)),
            ("val_every", Box::new(|c| c.val_every = u64::MAX)),
            ("patience", Box::new(|c| c.patience = 0)),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(toml::from_str::<ForwardgnnFfConfig>("unlabeled = \"random\"").is_err());
    }
}
