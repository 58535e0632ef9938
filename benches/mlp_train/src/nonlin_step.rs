//! nonlin's side of the benchmark: the MLP 784-256-256-10 trained by `Backprop` with Adam, timed
//! with the protocol of `torch_mlp.py` (8 pre-made batches cycled, 20 warm-up steps, median over
//! 5 windows of `steps / 5`).

use std::time::Instant;

use nonlin::burn::nn::loss::CrossEntropyLossConfig;
use nonlin::burn::optim::{GradientsParams, ModuleOptimizer};
use nonlin::data::{Batch, Rng, Targets};
use nonlin::learn::{Backprop, LearningRule, OptimizerConfig, OptimizerSetup, TensorBatch};
use nonlin::nn::{Mlp, MlpConfig, engine};
use serde_json::{Map, Value};

use crate::backend::Backend;
use crate::measurement::{BenchError, Measurement};

/// Batch size, widths and learning rate of the benchmark (fixed: the references hard-code them too).
const BATCH: usize = 128;
const INPUT: usize = 784;
const HIDDEN: [usize; 2] = [256, 256];
const CLASSES: usize = 10;
const LR: f64 = 1e-3;
/// Pre-made batches, cycled, and warm-up steps, as in `torch_mlp.py`.
const N_BATCHES: usize = 8;
const WARMUP: usize = 20;
const WINDOWS: usize = 5;

/// Which training step is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StepVariant {
    /// nonlin's public API: `Backprop::step`, which also reports the batch accuracy.
    Backprop,
    /// The same update without the accuracy (arg-max, compare, second read-back): what a
    /// `Backprop` that skipped the metric would cost. A measurement for a suggestion only.
    Lean,
}

impl StepVariant {
    pub fn as_str(self) -> &'static str {
        match self {
            StepVariant::Backprop => "backprop",
            StepVariant::Lean => "lean",
        }
    }
}

/// A model and the state that updates it, one step at a time.
enum Trainer {
    Backprop {
        rule: Backprop,
        model: Option<Mlp>,
    },
    Lean {
        optimizer: ModuleOptimizer,
        model: Option<Mlp>,
    },
}

impl Trainer {
    /// One update on `batch`; returns the loss, read back to the host (a sync, like `.item()`).
    fn step(&mut self, batch: &TensorBatch) -> Result<f64, BenchError> {
        match self {
            Trainer::Backprop { rule, model } => {
                let (next, metrics) = rule.step(take(model)?, batch, LR)?;
                *model = Some(next);
                metrics
                    .get("loss")
                    .copied()
                    .ok_or_else(|| BenchError::new("Backprop reported no `loss`"))
            }
            Trainer::Lean { optimizer, model } => {
                let current = take(model)?;
                let x = batch.features("bench")?;
                let labels = batch.labels("bench")?;
                let logits = current.forward(x);
                let loss = CrossEntropyLossConfig::new()
                    .init(&logits.device())
                    .forward(logits, labels);
                let grads = GradientsParams::from_grads(loss.backward(), &current);
                let value = loss.into_scalar::<f64>();
                *model = Some(optimizer.step(LR, current, grads));
                Ok(value)
            }
        }
    }
}

/// The model slot is empty only if a previous step failed half-way, which ends the run.
fn take(model: &mut Option<Mlp>) -> Result<Mlp, BenchError> {
    model
        .take()
        .ok_or_else(|| BenchError::new("the model was lost by a failed step"))
}

/// 8 batches of inputs uniform in [0,1) and labels uniform in 0..10, from a fixed seed.
fn make_batches(device: &nonlin::burn::tensor::Device) -> Result<Vec<TensorBatch>, BenchError> {
    let mut rng = Rng::seed(0);
    (0..N_BATCHES)
        .map(|_| {
            let x = (0..BATCH * INPUT).map(|_| rng.uniform_f32()).collect();
            let y = (0..BATCH)
                .map(|_| (rng.next_u64() % CLASSES as u64) as u32)
                .collect();
            Ok(TensorBatch::from_batch(
                &Batch {
                    x,
                    shape: vec![BATCH, INPUT],
                    targets: Targets::Classes {
                        labels: y,
                        classes: CLASSES,
                    },
                },
                device,
            )?)
        })
        .collect()
}

/// Times `steps` training steps after the warm-up, on `threads` Rayon threads (once per process).
pub fn measure(
    backend: Backend,
    variant: StepVariant,
    threads: usize,
    steps: usize,
) -> Result<Measurement, BenchError> {
    engine::set_cpu_threads(threads)?;
    let device = backend.device()?;
    engine::seed(&device, 0);
    let batches = make_batches(&device)?;
    let model = MlpConfig::new(HIDDEN.to_vec()).init(INPUT, CLASSES, &device)?;
    let mut trainer = match variant {
        StepVariant::Backprop => Trainer::Backprop {
            rule: Backprop::new(&OptimizerSetup::plain(&OptimizerConfig::default()))?,
            model: Some(model),
        },
        StepVariant::Lean => Trainer::Lean {
            optimizer: OptimizerConfig::default().build()?,
            model: Some(model),
        },
    };

    let mut i = 0usize;
    let mut step = || {
        let batch = &batches[i % N_BATCHES];
        i += 1;
        trainer.step(batch)
    };
    let loss_first = step()?;
    for _ in 1..WARMUP {
        step()?;
    }
    let per_window = (steps / WINDOWS).max(1);
    let mut window_ms = Vec::with_capacity(WINDOWS);
    let mut loss_last = loss_first;
    for _ in 0..WINDOWS {
        let start = Instant::now();
        for _ in 0..per_window {
            loss_last = step()?;
        }
        window_ms.push(start.elapsed().as_secs_f64() * 1e3 / per_window as f64);
    }
    let mut versions = Map::new();
    versions.insert("burn".into(), Value::from("0.22.1"));
    Ok(Measurement {
        engine: backend.engine_name(variant == StepVariant::Lean),
        threads,
        ms_per_step: median(&mut window_ms),
        loss_first,
        loss_last,
        versions,
    })
}

/// Median of `values` (the mean of the middle two for an even count), as Python's `statistics.median`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_python_statistics_median() {
        // statistics.median([3, 1, 2]) = 2; statistics.median([4, 1, 3, 2]) = (2 + 3) / 2 = 2.5
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
