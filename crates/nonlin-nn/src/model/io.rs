//! What a model reads and writes: the shape of its inputs and outputs as data describes them
//! ([`ModelIo`], known before the model is built and stored with every trained model), and the
//! input tensors themselves ([`ModelInput`]).

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// The kind and shape of a model's input, per sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSpec {
    /// Real values laid out in `shape` (`[64]`, `[1, 28, 28]`), fed flat as `[batch, prod(shape)]`.
    Real { shape: Vec<usize> },
    /// `context` token ids below `vocab`, fed as `[batch, context]`.
    Tokens { vocab: usize, context: usize },
    /// One graph of `nodes` nodes whose features have `shape` (`[features]`), fed as
    /// [`ModelInput::Graph`]; a sample is a node (transductive node classification).
    Graph { nodes: usize, shape: Vec<usize> },
}

impl InputSpec {
    /// Values per sample of a real input (per node of a graph); `None` for tokens.
    pub fn real_len(&self) -> Option<usize> {
        match self {
            InputSpec::Real { shape } | InputSpec::Graph { shape, .. } => {
                Some(shape.iter().product())
            }
            InputSpec::Tokens { .. } => None,
        }
    }
}

/// What a model is built for: its input and the shape of one output row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelIo {
    pub input: InputSpec,
    /// Shape of one prediction: `[classes]`, `[targets]`, `[vocab]`, `[channels, height, width]`.
    pub output: Vec<usize>,
}

impl ModelIo {
    /// Values per output row: the product of `output`.
    pub fn output_width(&self) -> usize {
        self.output.iter().product()
    }

    /// The real input's sample shape (a graph's node-feature shape: graph-free models read the
    /// features of the asked nodes, see [`ModelInput::real`]), or an error naming `model` for
    /// token inputs.
    pub fn real_input(&self, model: &str) -> Result<&[usize], NnError> {
        match &self.input {
            InputSpec::Real { shape } | InputSpec::Graph { shape, .. } => Ok(shape),
            other => Err(NnError::BadConfig(format!(
                "{model} reads real-valued samples, but this task feeds it {other:?}"
            ))),
        }
    }

    /// The token input's `(vocab, context)`, or an error naming `model` for other inputs.
    pub fn token_input(&self, model: &str) -> Result<(usize, usize), NnError> {
        match self.input {
            InputSpec::Tokens { vocab, context } => Ok((vocab, context)),
            ref other => Err(NnError::BadConfig(format!(
                "{model} reads token sequences, but this task feeds it {other:?}"
            ))),
        }
    }
}

/// A batch of model inputs on a device.
// A graph is passed once per step or evaluation, so its size does not matter; boxing it would
// change every match on the other variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ModelInput {
    /// `[batch, features]`, each sample flattened row-major from its [`InputSpec::Real`] shape.
    Real(Tensor<2>),
    /// `[batch, context]` token ids.
    Tokens(Tensor<2, Int>),
    /// A whole graph and the nodes whose predictions are asked for (a batch is a set of nodes).
    Graph {
        /// `[nodes, features]` node features.
        features: Tensor<2>,
        /// `[nodes, nodes]` the propagation matrix (for a GCN the symmetric-normalised adjacency
        /// with self-loops, `D^{-1/2} (A + I) D^{-1/2}`).
        adjacency: Tensor<2>,
        /// `[batch]` the rows (node ids) predicted, in order.
        rows: Tensor<1, Int>,
    },
}

impl ModelInput {
    /// Number of samples.
    pub fn batch_size(&self) -> usize {
        match self {
            ModelInput::Real(x) => x.dims()[0],
            ModelInput::Tokens(t) => t.dims()[0],
            ModelInput::Graph { rows, .. } => rows.dims()[0],
        }
    }

    /// The real input, or an error naming `model`. For a graph: the features of the asked
    /// nodes, `[batch, features]`, without the edges (what a graph-free baseline such as an MLP
    /// sees).
    pub fn real(&self, model: &'static str) -> Result<Tensor<2>, NnError> {
        match self {
            ModelInput::Real(x) => Ok(x.clone()),
            ModelInput::Graph { features, rows, .. } => {
                Ok(features.clone().select(0, rows.clone()))
            }
            ModelInput::Tokens(t) => Err(NnError::Shape {
                block: model,
                expected: "real-valued features".into(),
                found: t.dims().to_vec(),
            }),
        }
    }

    /// The token input, or an error naming `model`.
    pub fn tokens(&self, model: &'static str) -> Result<Tensor<2, Int>, NnError> {
        match self {
            ModelInput::Tokens(t) => Ok(t.clone()),
            ModelInput::Real(x) | ModelInput::Graph { features: x, .. } => Err(NnError::Shape {
                block: model,
                expected: "token ids".into(),
                found: x.dims().to_vec(),
            }),
        }
    }
}
