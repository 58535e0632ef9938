//! Neuron types: Kolmogorov–Arnold layers and other replacements of the linear neuron.

pub mod bspline;
pub mod kan;
pub mod least_squares;
