//! Whole models, chosen by name.
//!
//! Each model is one file holding its config (a serde struct whose fields and paper defaults are
//! what an experiment's `[model]` table sets) and its `Module`. One line in the `models!` list
//! below declares the file and registers it: the line generates the [`Model`] enum (one module
//! type the runner trains and checkpoints), the [`ModelConfig`] enum (`kind = "<file name>"` plus
//! the config's own fields, unknown keys rejected), `ModelConfig::NAMES`, and the by-name builder.
//! Nothing else in nonlin matches on model kinds.

mod io;

pub use io::{InputSpec, ModelInput, ModelIo};
pub use noprop_net::{DenoiseBlock, ImagePath, LabelEmbedding};

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// A model as the runner and the learning rules see it: a batch of inputs in, prediction rows out.
pub trait Network {
    /// The predictions for a batch.
    ///
    /// # Shapes
    /// - input: see [`ModelInput`]
    /// - output: `[rows, output_width]`; rows = batch, or batch x context for a sequence model
    ///   that predicts every position ([`Network::predicts_every_position`])
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError>;

    /// Whether a token model predicts the next token at every position of its context (a
    /// transformer: `[batch * context, vocab]`) rather than only after the last one (a
    /// context-window MLP: `[batch, vocab]`).
    fn predicts_every_position(&self) -> bool {
        false
    }

    /// The model as a sequence of blocks, for rules that train block by block; `None` when the
    /// model has no such structure.
    fn blocks(&self) -> Option<&dyn Blocks> {
        None
    }

    /// The model's own term of the training loss (a KAN's spline regulariser), which rules that
    /// train by gradient add to the task's loss; `None` when it has none.
    ///
    /// # Shapes
    /// - output: `[1]`
    fn regularization(&self) -> Option<Tensor<1>> {
        None
    }

    /// Called by the runner before training step `step` (counted from 0) with that step's input:
    /// a model whose structure follows training (a KAN's grid updates from data, S-KAN's
    /// selection phases) returns itself changed. It must depend only on the model, the step and
    /// the input, so that a resumed run repeats it.
    fn before_step(self, step: u64, input: &ModelInput) -> Result<Self, NnError>
    where
        Self: Sized,
    {
        let _ = (step, input);
        Ok(self)
    }

    /// The representations at each depth for probes (feature diversity, effective dimension),
    /// input-side first; `None` when the model does not expose them.
    ///
    /// # Shapes
    /// - output: tensors `[groups, rows, width]`: a sequence model gives one group of token rows
    ///   per sequence (`[batch, seq, d]`), a model of independent samples one group of all of them
    ///   (`[1, batch, width]`)
    fn features(&self, input: &ModelInput) -> Result<Option<Vec<Tensor<3>>>, NnError> {
        let _ = input;
        Ok(None)
    }

    /// The discrete values of the model's quantised weights, one integer per weight in a fixed
    /// order (learning rules report the fraction that changes per step); `None` for float models.
    fn quantized_codes(&self) -> Option<Vec<i32>> {
        None
    }

    /// The integer sign and shift codes of the model's power-of-two (DenseShift) layers, for
    /// `nonlin export`; empty for other models.
    fn shift_codes(&self) -> Vec<crate::neuron::ShiftCodes> {
        Vec::new()
    }
    /// The model's recurrent form for generation, when it has one: `generate` then feeds tokens
    /// one at a time to a state instead of re-reading a window of context for every new token.
    fn token_stream(&self) -> Option<Box<dyn TokenStream + '_>> {
        None
    }

    /// Named statistics of the model on a batch (activation densities, statistics of its
    /// weights), which the runner logs with every evaluation; none for most models.
    fn probe(&self, _input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
        Ok(Vec::new())
    }

    /// Named statistics that need the batch's class labels (`labels`: `[batch]`), logged beside
    /// [`Network::probe`]'s on classification tasks: a hypernetwork's loss at several of its
    /// inputs. None for most models.
    fn probe_labelled(
        &self,
        _input: &ModelInput,
        _labels: Tensor<1, Int>,
    ) -> Result<Vec<(String, f64)>, NnError> {
        Ok(Vec::new())
    }

    /// The model's activation layers in forward order, with their layer width and layout, for
    /// drawing their shapes (the activation arena's report); empty where the model does not say.
    fn activation_sites(&self) -> Vec<crate::activation::ActivationSite<'_>> {
        Vec::new()
    }
}

/// A token model's recurrent form: one sequence, fed one token at a time, with a state that
/// carries what came before (BDH's `rho`), so every token costs the same.
pub trait TokenStream {
    /// Feeds the next token of the sequence and returns the logits of the token after it.
    ///
    /// # Shapes
    /// - output: `[vocab]`
    fn feed(&mut self, token: u32) -> Result<Tensor<1>, NnError>;
}

/// A model seen as a chain of blocks on flat features: block 0 reads the (real) model input,
/// block `i` reads block `i - 1`'s output, and the last block gives the model's output. Local
/// learning rules detach between blocks and train each on its own loss.
pub trait Blocks {
    /// Number of blocks, the output block included.
    fn block_count(&self) -> usize;

    /// Block `index` applied to its input.
    ///
    /// # Shapes
    /// - input: `[batch, block_input_width(index)]`
    /// - output: `[batch, block_width(index)]`
    fn block_forward(&self, index: usize, input: Tensor<2>) -> Tensor<2>;

    /// Width of block `index`'s input.
    fn block_input_width(&self, index: usize) -> usize;

    /// Width of block `index`'s output.
    fn block_width(&self, index: usize) -> usize;
}

/// A model's config: checked without data at load time, built once the data fixes the input
/// and output shapes.
pub trait ModelSpec {
    /// The model it builds.
    type Model;

    /// Checks what can be checked without data (activation names, positive widths).
    fn validate(&self) -> Result<(), NnError>;

    /// Builds the model for `io` on `device`.
    fn build(&self, io: &ModelIo, device: &Device) -> Result<Self::Model, NnError>;
}

/// Declares the registry: one line per model, `file_name => Model(Config)`. The line declares
/// the module `file_name.rs`, re-exports its model and config, and registers it under the name
/// `file_name` (the model's type name in snake case).
macro_rules! models {
    ($($file:ident => $model:ident($config:ident)),* $(,)?) => {
        $(mod $file; pub use $file::{$model, $config};)*

        /// Any registered model, as one module type the runner trains and checkpoints.
        #[derive(Module, Debug)]
        #[allow(clippy::large_enum_variant)] // one model per run: the size does not matter
        pub enum Model {
            $(#[doc = concat!("`", stringify!($file), "`")] $model($model),)*
        }

        impl Model {
            /// The model's registry name (its config's `kind`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Model::$model(_) => stringify!($file),)*
                }
            }
        }

        /// The config of any registered model, as written in an experiment's `[model]` table.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ModelConfig {
            $(#[doc = concat!("`kind = \"", stringify!($file), "\"`")] $model($config),)*
        }

        impl ModelConfig {
            /// Every registered name, in registry order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($file)),*];

            /// The model's registry name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(ModelConfig::$model(_) => stringify!($file),)*
                }
            }

            /// Checks what can be checked without data.
            pub fn validate(&self) -> Result<(), NnError> {
                match self {
                    $(ModelConfig::$model(c) => c.validate(),)*
                }
            }

            /// Builds the model for `io` on `device`.
            pub fn build(&self, io: &ModelIo, device: &Device) -> Result<Model, NnError> {
                match self {
                    $(ModelConfig::$model(c) => Ok(Model::$model(c.build(io, device)?)),)*
                }
            }
        }

        impl Network for Model {
            fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
                match self {
                    $(Model::$model(m) => m.forward_input(input),)*
                }
            }

            fn predicts_every_position(&self) -> bool {
                match self {
                    $(Model::$model(m) => m.predicts_every_position(),)*
                }
            }

            fn blocks(&self) -> Option<&dyn Blocks> {
                match self {
                    $(Model::$model(m) => m.blocks(),)*
                }
            }

            fn regularization(&self) -> Option<Tensor<1>> {
                match self {
                    $(Model::$model(m) => m.regularization(),)*
                }
            }

            fn before_step(self, step: u64, input: &ModelInput) -> Result<Self, NnError> {
                match self {
                    $(Model::$model(m) => Ok(Model::$model(m.before_step(step, input)?)),)*
                }
            }

            fn features(&self, input: &ModelInput) -> Result<Option<Vec<Tensor<3>>>, NnError> {
                match self {
                    $(Model::$model(m) => m.features(input),)*
                }
            }

            fn quantized_codes(&self) -> Option<Vec<i32>> {
                match self {
                    $(Model::$model(m) => m.quantized_codes(),)*
                }
            }

            fn shift_codes(&self) -> Vec<crate::neuron::ShiftCodes> {
                match self {
                    $(Model::$model(m) => m.shift_codes(),)*
                }
            }

            fn token_stream(&self) -> Option<Box<dyn TokenStream + '_>> {
                match self {
                    $(Model::$model(m) => m.token_stream(),)*
                }
            }

            fn probe(&self, input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
                match self {
                    $(Model::$model(m) => m.probe(input),)*
                }
            }

            fn probe_labelled(
                &self,
                input: &ModelInput,
                labels: Tensor<1, Int>,
            ) -> Result<Vec<(String, f64)>, NnError> {
                match self {
                    $(Model::$model(m) => m.probe_labelled(input, labels),)*
                }
            }

            fn activation_sites(&self) -> Vec<crate::activation::ActivationSite<'_>> {
                match self {
                    $(Model::$model(m) => m.activation_sites(),)*
                }
            }
        }
    };
}

models! {
    mlp => Mlp(MlpConfig),
    conv_net => ConvNet(ConvNetConfig),
    context_mlp => ContextMlp(ContextMlpConfig),
    kan => Kan(KanConfig),
    s_kan => SKan(SKanConfig),
    s_conv_kan => SConvKan(SConvKanConfig),
    pangu_lm => PanguLm(PanguLmConfig),
    quadratic_mlp => QuadraticMlp(QuadraticMlpConfig),
    shift_mlp => ShiftMlp(ShiftMlpConfig),
    gpt => Gpt(GptConfig),
    minimal_transformer => MinimalTransformer(MinimalTransformerConfig),
    bdh => Bdh(BdhConfig),
    pf_resnet => PfResnet(PfResnetConfig),
    lstm => Lstm(LstmConfig),
    cafo_cnn => CafoCnn(CafoCnnConfig),
    noprop_net => NopropNet(NopropNetConfig),
    hypernet => Hypernet(HypernetConfig),
    gcn => Gcn(GcnConfig),
    g2g_mlp => G2gMlp(G2gMlpConfig),
}

pub use bdh::{BdhStream, GraphStats, graph_stats};
pub use g2g_mlp::G2gMask;
pub use gcn::normalized_adjacency;
pub use gpt::Positions;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered name deserialises as a `kind`, and serde's name is the file name.
    #[test]
    fn registry_names_are_serde_kinds() {
        for name in ModelConfig::NAMES {
            let text = match *name {
                "mlp" | "kan" | "s_kan" | "quadratic_mlp" | "shift_mlp" | "gcn" => {
                    format!("kind = \"{name}\"\nhidden = [4]")
                }
                _ => format!("kind = \"{name}\""),
            };
            let config: ModelConfig =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.name(), *name);
        }
    }

    #[test]
    fn unknown_kinds_and_keys_are_errors() {
        let err = toml::from_str::<ModelConfig>("kind = \"resnet\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("resnet") && err.contains("conv_net"), "{err}");
        let err = toml::from_str::<ModelConfig>("kind = \"mlp\"\nhidden = [4]\nwidht = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("widht"), "{err}");
    }

    #[test]
    fn a_model_refuses_the_wrong_input_kind_at_build_time() {
        let device = Device::flex();
        let io = ModelIo {
            input: InputSpec::Tokens {
                vocab: 5,
                context: 3,
            },
            output: vec![5],
        };
        let config: ModelConfig = toml::from_str("kind = \"mlp\"\nhidden = [4]").unwrap();
        let err = config.build(&io, &device).unwrap_err().to_string();
        assert!(err.contains("mlp") && err.contains("real"), "{err}");
    }
}
