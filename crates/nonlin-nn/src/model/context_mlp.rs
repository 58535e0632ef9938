//! A context-window MLP language model (Bengio et al., "A Neural Probabilistic Language Model",
//! JMLR 2003): the embeddings of the last `context` tokens are concatenated and an MLP maps them
//! to the logits of the next token, `p(w_t | w_{t-T..t-1}) = softmax(MLP([C w_{t-T}; ..; C w_{t-1}]))`.
//! Bengio's optional direct input-to-output connections are left out (as in Karpathy's
//! makemore MLP, which the project's PyTorch reference follows).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Mlp, MlpConfig, ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;

/// Configuration of a [`ContextMlp`] (`kind = "context_mlp"`); the vocabulary and the context
/// length come from the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextMlpConfig {
    /// Width of each token's embedding.
    #[serde(default = "embedding")]
    pub embedding: usize,
    /// Widths of the hidden layers.
    #[serde(default = "hidden")]
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer, as a spec.
    #[serde(default = "relu")]
    pub activation: String,
}

fn embedding() -> usize {
    24
}
fn hidden() -> Vec<usize> {
    vec![512, 512]
}
fn relu() -> String {
    "relu".into()
}

impl Default for ContextMlpConfig {
    fn default() -> Self {
        Self {
            embedding: embedding(),
            hidden: hidden(),
            activation: relu(),
        }
    }
}

/// A context-window MLP over token embeddings.
#[derive(Module, Debug)]
pub struct ContextMlp {
    embedding: Embedding,
    mlp: Mlp,
    context: usize,
}

impl ContextMlpConfig {
    /// Builds the model for a vocabulary of `vocab` tokens and contexts of `context` tokens.
    pub fn init(&self, vocab: usize, context: usize, device: &Device) -> Result<ContextMlp, NnError> {
        if vocab == 0 || context == 0 || self.embedding == 0 {
            return Err(NnError::BadConfig(format!(
                "context_mlp needs a positive vocabulary, context and embedding width: vocab {vocab}, context {context}, embedding {}",
                self.embedding
            )));
        }
        Ok(ContextMlp {
            embedding: EmbeddingConfig::new(vocab, self.embedding).init(device),
            mlp: MlpConfig::new(self.hidden.clone())
                .with_activation(self.activation.clone())
                .init(context * self.embedding, vocab, device)?,
            context,
        })
    }
}

impl ModelSpec for ContextMlpConfig {
    type Model = ContextMlp;

    fn validate(&self) -> Result<(), NnError> {
        if self.embedding == 0 || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "context_mlp widths must be positive: embedding {}, hidden {:?}",
                self.embedding, self.hidden
            )));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<ContextMlp, NnError> {
        let (vocab, context) = io.token_input("context_mlp")?;
        if io.output_width() != vocab {
            return Err(NnError::BadConfig(format!(
                "context_mlp predicts the next of {vocab} tokens, but the task expects {} outputs",
                io.output_width()
            )));
        }
        self.init(vocab, context, device)
    }
}

impl Network for ContextMlp {
    /// # Shapes
    /// - input: tokens `[batch, context]`
    /// - output: `[batch, vocab]`, the logits of the token after the context
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let tokens = input.tokens("context_mlp")?;
        let [batch, context] = tokens.dims();
        if context != self.context {
            return Err(NnError::Shape {
                block: "context_mlp",
                expected: format!("[batch, {}] tokens", self.context),
                found: vec![batch, context],
            });
        }
        let embedded = self.embedding.forward(tokens); // [batch, context, embedding]
        let [_, _, width] = embedded.dims();
        Ok(self.mlp.forward(embedded.reshape([batch, context * width])))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, TensorData};

    use super::*;
    use crate::model::InputSpec;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Device::flex();
        let io = ModelIo {
            input: InputSpec::Tokens {
                vocab: 84,
                context: 16,
            },
            output: vec![84],
        };
        let model = ContextMlpConfig::default().build(&io, &device).unwrap();
        // embedding 84*24 = 2016; mlp (384*512+512) + (512*512+512) + (512*84+84)
        // = 197120 + 262656 + 43092 = 502868; total 504884
        assert_eq!(model.num_params(), 504_884);
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64; 2 * 16], [2, 16]), &device);
        let out = model.forward_input(&ModelInput::Tokens(tokens)).unwrap();
        assert_eq!(out.dims(), [2, 84]);
        let short = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64; 2 * 5], [2, 5]), &device);
        assert!(model.forward_input(&ModelInput::Tokens(short)).is_err());
    }

    /// The prediction after a context depends on every position of it: changing the first token
    /// changes the logits.
    #[test]
    fn every_context_position_is_read() {
        let device = Device::flex();
        let model = ContextMlpConfig::default().init(10, 4, &device).unwrap();
        let a = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [1, 4]), &device);
        let b = Tensor::<2, Int>::from_data(TensorData::new(vec![5i64, 2, 3, 4], [1, 4]), &device);
        let la = model.forward_input(&ModelInput::Tokens(a)).unwrap().into_data();
        let lb = model.forward_input(&ModelInput::Tokens(b)).unwrap().into_data();
        assert_ne!(la, lb);
    }
}
