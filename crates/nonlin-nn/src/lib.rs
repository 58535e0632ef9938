//! Building blocks of nonlin: activations, neuron types, layers and models.
//!
//! Every block is a Burn `Module` with a `XxxConfig` holding the paper's defaults. Activations are
//! chosen by name through [`activation::ActivationSpec`], so any model that takes one accepts every
//! registered activation, learnable ones included.

pub mod activation;
pub mod attention;
pub mod engine;
pub mod error;
pub mod gradcheck;
pub mod layer;
pub mod model;
pub mod neuron;
pub mod weights;

pub use activation::{Activation, ActivationSpec};
pub use engine::DeviceSpec;
pub use error::NnError;
pub use model::{
    Bdh, BdhConfig, Blocks, CafoCnn, CafoCnnConfig, ContextMlp, ContextMlpConfig, ConvNet,
    ConvNetConfig, G2gMlp, G2gMlpConfig, Gpt, GptConfig, InputSpec, MinimalTransformer,
    MinimalTransformerConfig, Mlp, MlpConfig, Model, ModelConfig, ModelInput, ModelIo, ModelSpec,
    Network, NopropNet, NopropNetConfig, TokenStream,
};
