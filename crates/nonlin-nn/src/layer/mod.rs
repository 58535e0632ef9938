//! Layers that are more than an activation and less than a model: blocks models compose.

mod augmented_shortcut;
mod lstm;
mod pf_bottleneck;
mod ramp_adc;

pub use augmented_shortcut::{AugmentedShortcut, AugmentedShortcutConfig};
pub use lstm::{LstmCell, LstmCellConfig, Nonlinearities, lstm_sequence, lstm_step};
pub use pf_bottleneck::{
    BottleneckKind, ConvBn, PfBottleneck, PfBottleneckConfig, Spatial, SpatialConv, conv_bn,
    max_pool,
};
pub use ramp_adc::{AdcFunction, RampAdc, RampAdcConfig, SplitMix};
