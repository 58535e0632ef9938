//! Small models, batches and rule contexts for the rules' unit tests.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_nn::{InputSpec, Model, ModelConfig, ModelInput, ModelIo};

use super::{Metrics, RuleContext};
use crate::task::{Predict, TaskKind};
use crate::{LearnError, OptimizerSetup, Target, TensorBatch};

/// An autodiff CPU device seeded with `seed`.
pub fn device(seed: u64) -> Device {
    let device = Device::flex().autodiff();
    device.seed(seed);
    device
}

/// A model built from a TOML `[model]` table for `features` real inputs (shaped `shape`) and
/// `classes` outputs.
pub fn model(
    toml_text: &str,
    shape: Vec<usize>,
    classes: usize,
    device: &Device,
) -> (Model, ModelIo) {
    let io = ModelIo {
        input: InputSpec::Real { shape },
        output: vec![classes],
    };
    let config: ModelConfig = toml::from_str(toml_text).expect("a model table");
    (config.build(&io, device).expect("the model builds"), io)
}

/// A classification batch of `rows` samples of `features` inputs: class `r % classes`, inputs
/// a deterministic wave plus a bump at the class's own inputs, so the classes are separable.
pub fn batch(rows: usize, features: usize, classes: usize, device: &Device) -> TensorBatch {
    let mut xs = Vec::with_capacity(rows * features);
    let mut ys = Vec::with_capacity(rows);
    for r in 0..rows {
        let class = r % classes;
        for f in 0..features {
            let wave = (((r * 7 + f * 3) % 11) as f32 / 11.0 - 0.5) * 0.6;
            let bump = if f % classes == class { 1.0 } else { 0.0 };
            xs.push(wave + bump);
        }
        ys.push(class as i64);
    }
    TensorBatch {
        input: ModelInput::Real(Tensor::from_data(
            TensorData::new(xs, [rows, features]),
            device,
        )),
        target: Target::Classes(Tensor::<1, Int>::from_data(
            TensorData::new(ys, [rows]),
            device,
        )),
    }
}

/// A rule context for `model`.
pub fn context<'a>(
    model: &'a Model,
    io: &'a ModelIo,
    setup: &'a OptimizerSetup,
    device: &'a Device,
    steps_per_epoch: u64,
    total_steps: u64,
) -> RuleContext<'a> {
    RuleContext {
        model,
        io,
        task: TaskKind::Classification,
        optimizer: setup,
        device,
        steps_per_epoch,
        total_steps,
        data: None,
    }
}

/// A validation split that reports the next of `values` (loss, accuracy) at every call and
/// checks that the prediction runs.
pub fn scripted(
    values: Vec<(f64, f64)>,
    input: ModelInput,
) -> impl FnMut(&mut Predict<'_>) -> Result<Metrics, LearnError> {
    let mut next = values.into_iter();
    move |predict| {
        let out = predict(&input)?;
        assert!(out.dims()[0] == input.batch_size());
        let (loss, accuracy) = next.next().expect("more validation values scripted");
        Ok(Metrics::from([
            ("loss".to_string(), loss),
            ("accuracy".to_string(), accuracy),
        ]))
    }
}

/// The number of parameter tensors of `module` that have a gradient in `grads`.
pub fn with_gradient<M: burn::module::Module>(
    grads: &mut burn::tensor::Gradients,
    module: &M,
) -> usize {
    burn::optim::GradientsParams::from_module(grads, module).len()
}

/// A model built from a TOML `[model]` table for a graph of `nodes` nodes with `features`
/// features each and `classes` classes.
pub fn graph_model(
    toml_text: &str,
    nodes: usize,
    features: usize,
    classes: usize,
    device: &Device,
) -> (Model, ModelIo) {
    let io = ModelIo {
        input: InputSpec::Graph {
            nodes,
            shape: vec![features],
        },
        output: vec![classes],
    };
    let config: ModelConfig = toml::from_str(toml_text).expect("a model table");
    (config.build(&io, device).expect("the model builds"), io)
}

/// A node-classification batch on a graph of `nodes` nodes in `classes` classes (node `i` in
/// class `i % classes`): each class a ring (node `i` joined to `i + classes`), features the
/// deterministic wave and class bump of [`batch`], training rows the even nodes.
pub fn graph_batch(nodes: usize, features: usize, classes: usize, device: &Device) -> TensorBatch {
    let points = batch(nodes, features, classes, device);
    let edges: Vec<(usize, usize)> = (0..nodes).map(|i| (i, (i + classes) % nodes)).collect();
    let adjacency = nonlin_nn::model::normalized_adjacency(nodes, &edges).expect("edges in range");
    let train: Vec<i64> = (0..nodes as i64).step_by(2).collect();
    let labels: Vec<i64> = train.iter().map(|&i| i % classes as i64).collect();
    TensorBatch {
        input: ModelInput::Graph {
            features: points.input.real("test").expect("real"),
            adjacency: Tensor::from_data(TensorData::new(adjacency, [nodes, nodes]), device),
            rows: Tensor::<1, Int>::from_data(
                TensorData::new(train.clone(), [train.len()]),
                device,
            ),
        },
        target: Target::Classes(Tensor::<1, Int>::from_data(
            TensorData::new(labels, [train.len()]),
            device,
        )),
    }
}

/// Trains a layer-by-layer rule for `layers` phases of `epochs` epochs each on one batch (one
/// update per epoch, no validation), checking that every update reports the phase's layer;
/// returns the model and each layer's losses.
pub fn train_layers_in_turn(
    rule: &mut dyn crate::LearningRule<Model>,
    mut model: Model,
    batch: &TensorBatch,
    layers: usize,
    epochs: usize,
) -> (Model, Vec<Vec<f64>>) {
    let mut losses = Vec::new();
    for layer in 0..layers {
        let mut layer_losses = Vec::new();
        for epoch in 1..=epochs {
            let (next, metrics) = rule.step(model, batch, 1e-2).unwrap();
            assert_eq!(metrics["layer"], layer as f64);
            layer_losses.push(metrics["loss"]);
            let end = crate::rule::EpochEnd {
                epochs_done: epoch,
                last: false,
                validate: None,
            };
            model = rule.end_epoch(next, end).unwrap();
        }
        losses.push(layer_losses);
    }
    (model, losses)
}
