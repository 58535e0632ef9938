//! Learning rules of nonlin. Backprop is one [`LearningRule`] among many; rules that train layer
//! by layer (Forward-Forward, NoProp, ...) implement the same trait, detach between blocks and
//! own their local heads and optimizers.

pub mod backprop;
pub mod batch;
pub mod error;
pub mod evaluate;
pub mod optim;
pub mod rule;
pub mod schedule;

pub use backprop::Backprop;
pub use batch::TensorBatch;
pub use error::LearnError;
pub use evaluate::{Evaluation, evaluate};
pub use optim::OptimizerConfig;
pub use rule::{LearningRule, Metrics};
pub use schedule::ScheduleConfig;
