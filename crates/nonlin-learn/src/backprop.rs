//! End-to-end backpropagation of the cross-entropy loss with one of Burn's optimizers.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Bytes;
use nonlin_nn::Classifier;

use crate::evaluate::count_correct;
use crate::{LearnError, LearningRule, Metrics, OptimizerConfig, TensorBatch};

/// Backpropagation: gradient of the batch's mean cross-entropy, applied by the optimizer.
pub struct Backprop {
    optimizer: ModuleOptimizer,
    config: OptimizerConfig,
}

impl Backprop {
    /// A rule with a fresh optimizer.
    pub fn new(config: &OptimizerConfig) -> Result<Self, LearnError> {
        Ok(Self {
            optimizer: config.build()?,
            config: config.clone(),
        })
    }
}

impl<M: Classifier> LearningRule<M> for Backprop {
    fn name(&self) -> &str {
        "backprop"
    }

    fn step(&mut self, model: M, batch: &TensorBatch, lr: f64) -> Result<(M, Metrics), LearnError> {
        let logits = model.logits(batch.x.clone());
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.y.clone());
        let correct = count_correct(logits.detach(), batch);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let loss_value = loss.into_scalar::<f64>();
        let model = self.optimizer.step(lr, model, grads);
        let metrics = Metrics::from([
            ("loss".to_string(), loss_value),
            ("accuracy".to_string(), correct as f64 / batch.len() as f64),
        ]);
        Ok((model, metrics))
    }

    fn save_state(&self) -> Result<Vec<u8>, LearnError> {
        let bytes = self.optimizer.into_bytes().map_err(|e| LearnError::State {
            rule: "backprop".into(),
            reason: format!("{e:?}"),
        })?;
        Ok(bytes.to_vec())
    }

    fn load_state(&mut self, bytes: Vec<u8>) -> Result<(), LearnError> {
        let fresh = self.config.build()?;
        self.optimizer = fresh
            .from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| LearnError::State {
                rule: "backprop".into(),
                reason: format!("{e:?}"),
            })?;
        Ok(())
    }
}
