//! Evaluation: a rule's predictions on a held-out split, scored by the task, on an inference copy
//! of the model (no autodiff, training flags such as dropout off).

use burn::module::Module;
use nonlin_nn::Network;

use crate::task::{EvalOptions, Split, Task};
use crate::{LearnError, LearningRule, Metrics};

/// Evaluates `model`, as `rule` predicts with it, on `split` of `task`.
pub fn evaluate<M: Network + Module>(
    task: &dyn Task,
    rule: &dyn LearningRule<M>,
    model: &M,
    split: Split,
    options: &EvalOptions<'_>,
) -> Result<Metrics, LearnError> {
    let model = model.valid();
    let mut predict = |input: &nonlin_nn::ModelInput| rule.predict(&model, input);
    task.evaluate(split, &mut predict, options)
}
