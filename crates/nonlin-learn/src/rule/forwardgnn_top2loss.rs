//! ForwardGNN's single-forward learning with top-down signals in the loss, SF-Top2Loss (Park et
//! al., "Forward Learning of Graph Neural Networks", ICLR 2024, arXiv 2403.11004; official code
//! facebookresearch/forwardgnn, `src/forward_learning/nodeclass/gnn_top2loss_sf.py`,
//! `GNNTop2LossSF`).
//!
//! The graph carries SF's virtual class nodes ([`super::forwardgnn_sf`]). All layers train
//! together over time steps (one per epoch). The states start from one bottom-up pass,
//! `s_0 = n(x)`, `s_{l+1} = n(h_l)` with `h_l = ReLU(Â h_{l-1} W_l + b_l)`, `n` the row-wise L2
//! normalisation (the pass itself feeds each layer the raw output of the one below, as the
//! official `bottom_up`). At every step layer `j` recomputes its output from the previous
//! step's input state, `o_j = ReLU(Â s_j W_j + b_j)`, and is trained on SF's virtual-node loss
//! of the mean of its output and the (detached) previous-step states of the layers above the
//! next one,
//!
//! `e_j = mean(o_j, s_{j+2}, ..., s_L)`,  `L_j = CE(softmax(e_j[train] e_j[virtual]ᵀ / τ), y)`,
//!
//! with its own gradient clipped to norm 1 (`--grad-max-norm`); then `s_{j+1} = n(o_j)`. Every
//! `val_every` steps the validation accuracy is checked (patience 100 checks, the best model
//! restored at the end). Prediction: a fresh bottom-up pass, then the class probabilities of
//! every `e_j`, summed.
//!
//! Deviation, documented: a resumed run restarts its states with a bottom-up pass of the
//! restored model (the states are not checkpointed).

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, Int, Tensor};
use nonlin_nn::{InputSpec, Model, ModelInput};
use serde::{Deserialize, Serialize};

use super::early_stopping::{Better, EarlyStopping};
use super::forwardgnn::{self, Schedule, TrainNodes, l2_normalize};
use super::forwardgnn_sf::{
    augmented_graph, check_positive, norm_eps, one, patience, val_every,
    virtual_node_logits, yes,
};
use super::{EpochEnd, LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, OptimizerSetup, Target, TensorBatch};

const NAME: &str = "forwardgnn_top2loss";

/// Configuration of [`ForwardgnnTop2loss`] (`kind = "forwardgnn_top2loss"`). Defaults: the
/// official scripts (`exp/nodeclass/*.sh`, `train_forward.py`); the number of time steps is the
/// run's epoch budget (official `--epochs 1000`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardgnnTop2lossConfig {
    /// τ, the softmax temperature of the virtual-node logits (official `--temperature 1.0`).
    #[serde(default = "one")]
    pub temperature: f64,
    /// eps of the row-wise L2 normalisation (official 1e-8).
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    /// Each layer's gradient norm is clipped to this (official `--grad-max-norm 1.0`).
    #[serde(default = "one")]
    pub grad_max_norm: f64,
    /// Steps between validation checks (official `--val-every 2`).
    #[serde(default = "val_every")]
    pub val_every: u64,
    /// Validation checks without improvement before training stops (official `--patience 100`).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Stop on the validation accuracy and restore the best model (official).
    #[serde(default = "yes")]
    pub early_stopping: bool,
}

impl Default for ForwardgnnTop2lossConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RuleSpec for ForwardgnnTop2lossConfig {
    fn validate(&self) -> Result<(), LearnError> {
        check_positive(NAME, "temperature", self.temperature, 1e6)?;
        check_positive(NAME, "norm_eps", self.norm_eps, 1.0)?;
        check_positive(NAME, "grad_max_norm", self.grad_max_norm, 1e6)?;
        Schedule {
            epochs_per_layer: 1,
            val_every: self.val_every,
            patience: self.patience,
            early_stopping: self.early_stopping,
        }
        .check(NAME)
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        Ok(Box::new(ForwardgnnTop2loss::new(self, context)?))
    }
}

/// Counters, the virtual nodes' features and the training nodes, checkpointed with the rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Progress {
    epochs: u64,
    stopping: EarlyStopping,
    stopped: bool,
    has_best: bool,
    /// `[classes, features]` row-major, N(0, 1), fixed.
    virtual_features: Vec<f32>,
    train: Option<TrainNodes>,
}

/// The augmented training graph and the current states `s_0 .. s_L` (detached).
struct Cache {
    adjacency: Tensor<2>,
    rows: Tensor<1, Int>,
    states: Vec<Tensor<2>>,
}

/// The SF-Top2Loss rule.
pub struct ForwardgnnTop2loss {
    config: ForwardgnnTop2lossConfig,
    optimizer: Optimizer,
    template: Model,
    best: Option<Model>,
    depth: usize,
    classes: usize,
    feature_dim: usize,
    progress: Progress,
    cache: Option<Cache>,
}

impl ForwardgnnTop2loss {
    /// The rule for the model and task of `context`.
    pub fn new(
        config: &ForwardgnnTop2lossConfig,
        context: &RuleContext<'_>,
    ) -> Result<Self, LearnError> {
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
        let setup = OptimizerSetup {
            clip_grad_norm: Some(config.grad_max_norm),
            ..context.optimizer.clone()
        };
        Ok(Self {
            config: config.clone(),
            optimizer: setup.build()?,
            template: context.model.clone(),
            best: None,
            depth,
            classes,
            feature_dim,
            progress: Progress {
                virtual_features,
                train: TrainNodes::of_context(NAME, context)?,
                ..Progress::default()
            },
            cache: None,
        })
    }

    /// The graph of `input` with the virtual nodes: features, propagation matrix, asked rows.
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

    /// The states of one bottom-up pass, `s_0 = n(x)`, `s_{l+1} = n(h_l)` (detached).
    ///
    /// The pass runs on a copy of the model whose parameters track no gradient: its states are
    /// constants, and a pass on the tracked parameters would leave, every step, a graph that no
    /// backward pass consumes (the autodiff engine keeps it while the parameters live).
    ///
    /// # Shapes
    /// - features: `[nodes, f]`; returns `depth + 1` states `[nodes, width]`
    fn bottom_up(&self, model: &Model, features: Tensor<2>, adjacency: Tensor<2>) -> Vec<Tensor<2>> {
        let frozen = model.clone().set_require_grad(false);
        let gcn = forwardgnn::gcn(&frozen);
        let eps = self.config.norm_eps;
        let mut states = vec![l2_normalize(features.clone(), eps).detach()];
        let mut h = features;
        for l in 0..self.depth {
            h = gcn.layer_forward(l, h, adjacency.clone()).detach();
            states.push(l2_normalize(h.clone(), eps));
        }
        states
    }

    /// `e_j = mean(o_j, s_{j+2}, ..., s_L)`.
    fn embedding(output: Tensor<2>, states: &[Tensor<2>], j: usize) -> Tensor<2> {
        let above: Vec<Tensor<2>> = states.iter().skip(j + 2).cloned().collect();
        let count = 1 + above.len();
        above
            .into_iter()
            .fold(output, |sum, s| sum + s)
            .div_scalar(count as f64)
    }
}

impl LearningRule<Model> for ForwardgnnTop2loss {
    fn name(&self) -> &str {
        NAME
    }

    fn step(
        &mut self,
        mut model: Model,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(Model, Metrics), LearnError> {
        if self.progress.stopped {
            return Ok((model, Metrics::new()));
        }
        if self.progress.train.is_none() {
            self.progress.train = Some(TrainNodes::of_batch(NAME, batch)?);
        }
        if self.cache.is_none() {
            let (features, adjacency, rows) = self.augmented(&batch.input)?;
            let states = self.bottom_up(&model, features, adjacency.clone());
            self.cache = Some(Cache {
                adjacency,
                rows,
                states,
            });
        }
        let labels = batch.labels(NAME)?;
        let cache = self.cache.take().expect("built above");
        let nodes = cache.states[0].dims()[0] - self.classes;
        let mut new_states = vec![cache.states[0].clone()];
        let mut metrics = Metrics::new();
        let mut total = 0.0;
        for j in 0..self.depth {
            let output = forwardgnn::gcn(&model).layer_forward(
                j,
                cache.states[j].clone(),
                cache.adjacency.clone(),
            );
            let embedding = Self::embedding(output.clone(), &cache.states, j);
            let logits = virtual_node_logits(
                embedding,
                cache.rows.clone(),
                nodes,
                self.classes,
                self.config.temperature,
            );
            let loss = Target::Classes(labels.clone()).loss(logits)?;
            let value = loss.clone().into_scalar::<f64>();
            metrics.insert(format!("loss_layer{j}"), value);
            total += value;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // only layer j's parameters have gradients: the clip is the layer's own
            model = self.optimizer.step(lr, model, grads).0;
            new_states.push(l2_normalize(output.detach(), self.config.norm_eps));
        }
        self.cache = Some(Cache {
            states: new_states,
            ..cache
        });
        metrics.insert("loss".into(), total);
        Ok((model, metrics))
    }

    fn end_epoch(&mut self, model: Model, end: EpochEnd<'_, '_>) -> Result<Model, LearnError> {
        if self.progress.stopped {
            return Ok(model);
        }
        self.progress.epochs += 1;
        let e = self.progress.epochs;
        if self.config.early_stopping
            && e > 1
            && e.is_multiple_of(self.config.val_every)
            && let Some(validate) = end.validate
        {
            let valid = model.valid();
            let mut predict = |input: &ModelInput| self.predict(&valid, input);
            let accuracy = validate(&mut predict)?
                .get("accuracy")
                .copied()
                .unwrap_or(f64::NAN);
            if self.progress.stopping.observe(accuracy, Better::Higher, 0.0) {
                self.best = Some(model.clone());
                self.progress.has_best = true;
            }
            self.progress.stopped = self.progress.stopping.should_stop(self.config.patience);
        }
        if (self.progress.stopped || end.last)
            && let Some(best) = self.best.clone()
        {
            self.cache = None;
            return Ok(best);
        }
        Ok(model)
    }

    fn finished(&self) -> bool {
        self.progress.stopped
    }

    /// The class probabilities of every layer's top-down embedding, summed (`[rows, classes]`).
    fn predict(&self, model: &Model, input: &ModelInput) -> Result<Tensor<2>, LearnError> {
        let (features, adjacency, rows) = self.augmented(input)?;
        let nodes = features.dims()[0] - self.classes;
        let states = self.bottom_up(model, features, adjacency.clone());
        let gcn = forwardgnn::gcn(model);
        let mut total: Option<Tensor<2>> = None;
        for j in 0..self.depth {
            let output = gcn.layer_forward(j, states[j].clone(), adjacency.clone());
            let logits = virtual_node_logits(
                Self::embedding(output, &states, j),
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

    fn save_state(&self) -> Result<RuleState, LearnError> {
        forwardgnn::state_with_best(&self.progress, &self.optimizer, self.best.as_ref())
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        let (progress, best) = forwardgnn::load_with_best(
            NAME,
            &state,
            &mut self.optimizer,
            &self.template,
            |p: &Progress| p.has_best,
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

    #[test]
    fn top_down_embedding_by_hand() {
        let device = Device::flex();
        let s = |v: f32| Tensor::<2>::from_floats([[v, 2.0 * v]], &device);
        // states s_0 .. s_3 = (0, 0), (1, 2), (2, 4), (3, 6); layer 0's output (6, 0):
        // mean with s_2 and s_3 = ((6 + 2 + 3) / 3, (0 + 4 + 6) / 3) = (11/3, 10/3)
        let states = vec![s(0.0), s(1.0), s(2.0), s(3.0)];
        let out = Tensor::<2>::from_floats([[6.0, 0.0]], &device);
        let e: Vec<f32> = ForwardgnnTop2loss::embedding(out.clone(), &states, 0)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!((e[0] - 11.0 / 3.0).abs() < 1e-6 && (e[1] - 10.0 / 3.0).abs() < 1e-6, "{e:?}");
        // the top two layers see nothing above the next one: their own output
        for j in [1, 2] {
            let e: Vec<f32> = ForwardgnnTop2loss::embedding(out.clone(), &states, j)
                .into_data()
                .try_to_vec()
                .unwrap();
            assert_eq!(e, if j == 1 { vec![4.5, 3.0] } else { vec![6.0, 0.0] });
        }
    }

    fn rule(seed: u64) -> (ForwardgnnTop2loss, Model, TensorBatch) {
        let device = fixtures::device(seed);
        let (model, io) = fixtures::graph_model(
            "kind = \"gcn\"\nhidden = [8, 8, 8]\noutput_layer = false",
            12,
            6,
            3,
            &device,
        );
        let setup = OptimizerSetup::default();
        let rule = ForwardgnnTop2loss::new(
            &ForwardgnnTop2lossConfig::default(),
            &fixtures::context(&model, &io, &setup, &device, 1, 100),
        )
        .unwrap();
        (rule, model, fixtures::graph_batch(12, 6, 3, &device))
    }

    /// Layer `j`'s loss reaches only its own parameters: its input state and the states above
    /// are detached; built from an attached bottom-up pass instead (the negative control), the
    /// same loss leaks into the layers below and above.
    #[test]
    fn no_gradient_crosses_layers() {
        let (mut rule, model, batch) = rule(3);
        rule.progress.train = Some(TrainNodes::of_batch("test", &batch).unwrap());
        let gcn = forwardgnn::gcn(&model);
        let (features, adjacency, rows) = rule.augmented(&batch.input).unwrap();
        let labels = batch.labels("test").unwrap();
        for detach in [true, false] {
            let states = if detach {
                rule.bottom_up(&model, features.clone(), adjacency.clone())
            } else {
                let mut states = vec![l2_normalize(features.clone(), 1e-8)];
                let mut h = features.clone();
                for l in 0..3 {
                    h = gcn.layer_forward(l, h, adjacency.clone());
                    states.push(l2_normalize(h.clone(), 1e-8));
                }
                states
            };
            // layer 0: its input s_0 and the state s_2 above (output of layer 1)
            let output = gcn.layer_forward(0, states[0].clone(), adjacency.clone());
            let embedding = ForwardgnnTop2loss::embedding(output, &states, 0);
            let logits = virtual_node_logits(embedding, rows.clone(), 12, 3, 1.0);
            let mut grads = Target::Classes(labels.clone()).loss(logits).unwrap().backward();
            let found = fixtures::with_gradient(&mut grads, gcn);
            // W, b of layer 0; attached: also layers 1 and 2 through s_2 and s_3
            assert_eq!(found, if detach { 2 } else { 6 }, "detach {detach}");
        }
    }

    /// All layers train at every step; the summed loss falls and the prediction sums the
    /// probabilities of the three layers.
    #[test]
    fn all_layers_train_together() {
        let (mut rule, mut model, batch) = rule(2);
        let before: Vec<_> = (0..3).map(|l| forwardgnn::gcn(&model).weight(l).into_data()).collect();
        let mut losses = Vec::new();
        for _ in 0..30 {
            let (next, metrics) = rule.step(model, &batch, 1e-2).unwrap();
            losses.push(metrics["loss"]);
            model = next;
        }
        assert!(losses[29] < losses[0], "{losses:?}");
        for (l, b) in before.iter().enumerate() {
            assert_ne!(*b, forwardgnn::gcn(&model).weight(l).into_data(), "layer {l}");
        }
        let out = rule.predict(&model.valid(), &batch.input).unwrap();
        let sums: Vec<f32> = out.sum_dim(1).into_data().try_to_vec().unwrap();
        assert!(sums.iter().all(|s| (s - 3.0).abs() < 1e-4), "{sums:?}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = ForwardgnnTop2lossConfig::default();
        ok.validate().unwrap();
        type Change = Box<dyn Fn(&mut ForwardgnnTop2lossConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("temperature", Box::new(|c| c.temperature = 0.0)),
            ("temperature", Box::new(|c| c.temperature = f64::NAN)),
            ("grad_max_norm", Box::new(|c| c.grad_max_norm = -1.0)),
            ("grad_max_norm", Box::new(|c| c.grad_max_norm = 1e300)),
            ("norm_eps", Box::new(|c| c.norm_eps = 0.0)),
            ("val_every", Box::new(|c| c.val_every = 0)),
            ("patience", Box::new(|c| c.patience = u64::MAX)),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
