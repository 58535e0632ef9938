//! Theory probes: code that computes a paper's quantity on real (small) networks and checks
//! its claim numerically. Each probe is one file; [`kernels`] holds the machinery they share
//! (Gaussian expectations, dual activations, NNGP/NTK recursions, CKA, empirical NTK).
//!
//! A probe reads a model (and data) or builds its own small networks, and returns a
//! [`ProbeReport`] of named numbers, series and tables; it never trains unless training is its
//! purpose (deep-linear dynamics, grokking). The lab turns a report into a probe folder.

pub mod error;
pub mod kernels;

pub use error::TheoryError;
