//! nonlin: a workbench for the nonlinear side of neural networks.
//!
//! This facade re-exports the crates a user needs: blocks from [`nn`], learning rules from
//! [`learn`], data from [`data`], experiments from [`lab`], probes from [`theory`] and
//! verification from [`verify`]. The engine is Burn, re-exported as [`burn`].

pub use burn;
pub use nonlin_data as data;
pub use nonlin_lab as lab;
pub use nonlin_learn as learn;
pub use nonlin_nn as nn;
pub use nonlin_theory as theory;
pub use nonlin_verify as verify;
