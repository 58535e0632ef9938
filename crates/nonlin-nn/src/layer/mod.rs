//! Layers that are more than an activation and less than a model, shared by the models that
//! compose them: parameter initialisation, the transformer block, PanGu-pi's augmented shortcut.

mod augmented_shortcut;
mod init;
mod transformer_block;

pub use augmented_shortcut::{AugmentedShortcut, AugmentedShortcutConfig};
pub use init::Init;
pub use transformer_block::{NormPlace, TransformerBlock, TransformerBlockConfig};
