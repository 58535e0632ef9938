//! Neuron types other than the inner product followed by an activation, one file each:
//! Kolmogorov–Arnold layers (KAN, S-KAN, S-ConvKAN), quadratic neurons, low-bit shift layers.

pub mod bspline;
pub mod function_space;
pub mod kan;
pub mod least_squares;
pub mod s_conv_kan;
pub mod s_kan;

mod denseshift;
mod quadratic;
mod weight_quantizer;

pub use denseshift::{
    DenseShiftConfig, DenseShiftLinear, ShiftCodes, dense_shift_weight, surrogate_gradients,
};
pub use quadratic::{QuadraticInit, QuadraticLinear, QuadraticLinearConfig, quadratic};
pub use weight_quantizer::WeightQuantizer;
