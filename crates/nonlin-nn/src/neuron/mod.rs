//! Neuron types: Kolmogorov–Arnold layers and other replacements of the linear neuron.

pub mod bspline;
pub mod function_space;
pub mod kan;
pub mod least_squares;
pub mod s_conv_kan;
pub mod s_kan;
