//! Layers that are more than an activation and less than a model: blocks models compose.

mod augmented_shortcut;

pub use augmented_shortcut::{AugmentedShortcut, AugmentedShortcutConfig};
