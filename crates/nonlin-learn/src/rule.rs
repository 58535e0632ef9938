//! The learning-rule contract: one update on one batch, returning named scalar metrics.

use std::collections::BTreeMap;

use burn::module::Module;

use crate::{LearnError, TensorBatch};

/// Named scalar metrics of one update (`loss`, `accuracy`, a local rule's per-block losses, ...).
pub type Metrics = BTreeMap<String, f64>;

/// A way of training a model. It owns whatever state the rule needs besides the model's own
/// parameters: optimizer moments, local heads, negative-sample generators.
pub trait LearningRule<M: Module> {
    /// The rule's name in specs and logs (`backprop`, `forward_forward`, ...).
    fn name(&self) -> &str;

    /// One update of `model` on `batch` with learning rate `lr`.
    fn step(&mut self, model: M, batch: &TensorBatch, lr: f64) -> Result<(M, Metrics), LearnError>;

    /// The rule's own state as bytes, for checkpoints (optimizer moments, local heads).
    fn save_state(&self) -> Result<Vec<u8>, LearnError>;

    /// Restores state written by [`LearningRule::save_state`].
    fn load_state(&mut self, bytes: Vec<u8>) -> Result<(), LearnError>;
}
