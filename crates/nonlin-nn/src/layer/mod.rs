//! Layers that are more than an activation and less than a model: blocks models compose.

mod augmented_shortcut;
mod pf_bottleneck;

pub use augmented_shortcut::{AugmentedShortcut, AugmentedShortcutConfig};
pub use pf_bottleneck::{
    BottleneckKind, ConvBn, PfBottleneck, PfBottleneckConfig, Spatial, SpatialConv, conv_bn,
    max_pool,
};
