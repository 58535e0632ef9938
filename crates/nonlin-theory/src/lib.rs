//! Theory probes (NTK, criticality, deep-linear dynamics, ...). Each probe lands as one file here;
//! a probe reads a model (and data) and returns named numbers and series.

pub mod feature_diversity;

pub use feature_diversity::{Features, effective_dimension, relative_diversity};
