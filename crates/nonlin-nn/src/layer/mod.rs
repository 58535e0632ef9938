//! Layers that are more than an activation and less than a model, shared by the models that
//! compose them: parameter initialisation, the transformer block, PanGu-pi's augmented shortcut,
//! the parameter-free bottlenecks, the LSTM cell and the crossbar ramp ADC.

mod augmented_shortcut;
mod init;
mod lstm;
mod pf_bottleneck;
mod ramp_adc;
mod transformer_block;

pub use augmented_shortcut::{AugmentedShortcut, AugmentedShortcutConfig};
pub use init::Init;
pub use lstm::{LstmCell, LstmCellConfig, Nonlinearities, lstm_sequence, lstm_step};
pub use pf_bottleneck::{
    BottleneckKind, ConvBn, PfBottleneck, PfBottleneckConfig, Spatial, SpatialConv, conv_bn,
    max_pool,
};
pub use ramp_adc::{AdcFunction, RampAdc, RampAdcConfig, SplitMix};
pub use transformer_block::{NormPlace, TransformerBlock, TransformerBlockConfig};
