//! Layers shared by several models: parameter initialisation and the transformer block.

mod init;
mod transformer_block;

pub use init::Init;
pub use transformer_block::{NormPlace, TransformerBlock, TransformerBlockConfig};
