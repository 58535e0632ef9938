//! Whole models built from the blocks. Each model file holds its `Config` and its `Module`.

mod conv_net;
mod mlp;

pub use conv_net::{ConvNet, ConvNetConfig};
pub use mlp::{Mlp, MlpConfig};

use burn::module::Module;
use burn::tensor::Tensor;

/// A model that maps flat inputs to class logits, which is what the classification experiments
/// and the standard learning rules need. Inputs are flat so one batch type serves every model;
/// a model with spatial structure reshapes inside.
pub trait Classifier: Module {
    /// # Shapes
    /// - input: `[batch, features]`
    /// - output: `[batch, classes]`
    fn logits(&self, input: Tensor<2>) -> Tensor<2>;
}

/// Any classification model the experiment runner can build, as one module type.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one model per run: the size does not matter
pub enum Model {
    /// A multilayer perceptron.
    Mlp(Mlp),
    /// A small convolutional network.
    ConvNet(ConvNet),
}

impl Classifier for Model {
    fn logits(&self, input: Tensor<2>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.logits(input),
            Model::ConvNet(m) => m.logits(input),
        }
    }
}
