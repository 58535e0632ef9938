//! Errors of the building blocks: bad names, bad parameters, bad shapes, missing devices.

/// What went wrong while building or running a block.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// An activation name that is not in the registry.
    #[error("unknown activation `{name}`; known activations: {known}")]
    UnknownActivation { name: String, known: String },
    /// An activation spec that does not parse or has a bad parameter.
    #[error("bad activation spec `{spec}`: {reason}")]
    BadActivation { spec: String, reason: String },
    /// A model configuration that cannot be built.
    #[error("bad model config: {0}")]
    BadConfig(String),
    /// An input whose shape does not fit the block.
    #[error("shape mismatch in {block}: expected {expected}, got {found:?}")]
    Shape {
        block: &'static str,
        expected: String,
        found: Vec<usize>,
    },
    /// Weights that cannot be saved, loaded or imported.
    #[error("weights: {what}: {reason}")]
    Weights { what: String, reason: String },
    /// A device that is not compiled in or not present.
    #[error("device `{spec}` is not available: {reason}")]
    Device { spec: String, reason: String },
}
