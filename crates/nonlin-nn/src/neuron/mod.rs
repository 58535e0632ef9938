//! Neuron types other than the inner product followed by an activation: one file each.

mod denseshift;
mod quadratic;
mod weight_quantizer;

pub use denseshift::{
    DenseShiftConfig, DenseShiftLinear, ShiftCodes, dense_shift_weight, surrogate_gradients,
};
pub use quadratic::{QuadraticInit, QuadraticLinear, QuadraticLinearConfig, quadratic};
pub use weight_quantizer::WeightQuantizer;
