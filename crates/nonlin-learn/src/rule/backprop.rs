//! End-to-end backpropagation of the task's loss (cross-entropy, mean squared error, ...) with
//! one of Burn's optimizers, parameter groups and optional gradient clipping. For models with
//! quantised weights ([`nonlin_nn::Network::quantized_codes`]) it also reports `code_flips`, the
//! fraction of weights whose discrete value the step changed.

use burn::optim::GradientsParams;
use nonlin_nn::{Model, Network};
use serde::{Deserialize, Serialize};

use super::{LearningRule, Metrics, RuleContext, RuleSpec, RuleState};
use crate::{LearnError, Optimizer, OptimizerSetup, TensorBatch};

/// Configuration of [`Backprop`] (`kind = "backprop"`): the optimizer comes from the spec's
/// `[optimizer]` table and `train.param_groups`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackpropConfig {}

impl RuleSpec for BackpropConfig {
    fn validate(&self) -> Result<(), LearnError> {
        Ok(())
    }

    fn build(&self, context: &RuleContext<'_>) -> Result<Box<dyn LearningRule<Model>>, LearnError> {
        let rule = Backprop::new(context.optimizer)?;
        rule.optimizer.check_groups(context.model)?;
        Ok(Box::new(rule))
    }
}

/// Backpropagation: gradient of the batch's mean loss, applied by the optimizer.
pub struct Backprop {
    optimizer: Optimizer,
}

impl Backprop {
    /// A rule with a fresh optimizer.
    pub fn new(setup: &OptimizerSetup) -> Result<Self, LearnError> {
        Ok(Self {
            optimizer: setup.build()?,
        })
    }
}

impl<M: Network + burn::module::Module> LearningRule<M> for Backprop {
    fn name(&self) -> &str {
        "backprop"
    }

    fn step(&mut self, model: M, batch: &TensorBatch, lr: f64) -> Result<(M, Metrics), LearnError> {
        let codes_before = model.quantized_codes();
        let output = model.forward_input(&batch.input)?;
        let loss = batch.target.loss(output.clone())?;
        let correct = batch.target.correct(&output.detach())?;
        // The model's own regulariser joins the objective; `loss` stays the task's loss.
        let regularization = model.regularization();
        let objective = match &regularization {
            Some(r) => loss.clone() + r.clone(),
            None => loss.clone(),
        };
        let grads = GradientsParams::from_grads(objective.backward(), &model);
        let loss_value = loss.into_scalar::<f64>();
        let (model, norm) = self.optimizer.step(lr, model, grads);
        let mut metrics = Metrics::from([("loss".to_string(), loss_value)]);
        if let Some(r) = regularization {
            metrics.insert("regularization".to_string(), r.into_scalar::<f64>());
        }
        if let Some((hits, rows)) = correct {
            metrics.insert("accuracy".to_string(), hits as f64 / rows as f64);
        }
        if let Some(norm) = norm {
            metrics.insert("grad_norm".to_string(), norm);
        }
        // Quantised models: the fraction of weights whose discrete value this step changed.
        if let (Some(before), Some(after)) = (codes_before, model.quantized_codes())
            && !before.is_empty()
        {
            let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            metrics.insert("code_flips".to_string(), changed as f64 / before.len() as f64);
        }
        Ok((model, metrics))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState {
            bytes: self.optimizer.to_bytes()?,
            modules: Vec::new(),
        })
    }

    fn load_state(&mut self, state: RuleState) -> Result<(), LearnError> {
        self.optimizer.load_bytes(&state.bytes)
    }
}
