//! Neuron types other than the inner product followed by an activation: one file each.

mod quadratic;

pub use quadratic::{QuadraticInit, QuadraticLinear, QuadraticLinearConfig, quadratic};
