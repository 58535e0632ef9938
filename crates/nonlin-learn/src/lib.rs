//! Learning rules of nonlin and the tasks they learn. Backprop is one [`LearningRule`] among
//! many; rules that train layer by layer (Mono-Forward, Forward-Forward, NoProp, ...) implement
//! the same trait, detach between blocks, own their local heads and decide how their model
//! predicts. A [`task::Task`] turns data into batches and evaluations into metrics.

pub mod batch;
pub mod error;
pub mod evaluate;
pub mod generate;
pub mod hebbian;
pub mod optim;
pub mod rule;
pub mod schedule;
pub mod target;
pub mod task;

pub use batch::TensorBatch;
pub use error::LearnError;
pub use evaluate::evaluate;
pub use optim::{Optimizer, OptimizerConfig, OptimizerSetup, ParamGroupConfig};
pub use rule::{
    Backprop, BackpropConfig, EpochEnd, LearningRule, Metrics, MonoForward, MonoForwardConfig,
    RuleConfig, RuleContext, RuleSpec, RuleState, Validate,
};
pub use schedule::ScheduleConfig;
pub use target::Target;
pub use task::{Split, Task, TaskKind};
