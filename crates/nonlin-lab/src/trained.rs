//! A trained model loaded back from a run folder without its training data: the arm's config
//! (`config.json`), the task description (`checkpoints/<unit>/task.json`), the weights and the
//! learning rule's own state from the unit's last checkpoint. `nonlin predict`, `nonlin
//! generate` and the theory probes start here.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use nonlin_learn::task::TaskDescription;
use nonlin_learn::{LearningRule, RuleContext};
use nonlin_nn::{Model, ModelInput};

use crate::LabError;
use crate::checkpoint::{self, TASK_FILE};
use crate::spec::{Experiment, RunConfig};

/// One arm and seed of a finished (or checkpointed) run, ready to predict.
pub struct TrainedUnit {
    pub arm: String,
    pub seed: u64,
    pub config: RunConfig,
    pub task: TaskDescription,
    pub model: Model,
    pub rule: Box<dyn LearningRule<Model>>,
    /// Whether training of this unit had finished (else: its latest checkpoint).
    pub finished: bool,
    pub device: Device,
}

impl TrainedUnit {
    /// Loads the unit `arm`/`seed` of the run in `dir` (default: the first arm and seed).
    pub fn load(
        dir: &Path,
        arm: Option<&str>,
        seed: Option<u64>,
        device: &Device,
    ) -> Result<Self, LabError> {
        let experiment = Experiment::read_run(dir)?;
        let (arm, config) = match arm {
            None => experiment.arms.first(),
            Some(a) => experiment.arms.iter().find(|(name, _)| name == a),
        }
        .ok_or_else(|| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!(
                "no arm {}; its arms are {}",
                arm.map_or("at all".into(), |a| format!("`{a}`")),
                experiment
                    .arms
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        let seed = match seed {
            Some(s) if experiment.seeds.contains(&s) => s,
            Some(s) => {
                return Err(LabError::NotARun {
                    path: dir.to_path_buf(),
                    reason: format!("no seed {s}; its seeds are {:?}", experiment.seeds),
                });
            }
            None => experiment.seeds[0],
        };
        let unit_dir: PathBuf = dir.join("checkpoints").join(format!("{arm}-seed{seed}"));
        let meta = checkpoint::read_meta(&unit_dir)?.ok_or_else(|| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("{} holds no checkpoint", unit_dir.display()),
        })?;
        let task_path = unit_dir.join(TASK_FILE);
        let bytes = std::fs::read(&task_path).map_err(LabError::io(&task_path))?;
        let task: TaskDescription =
            serde_json::from_slice(&bytes).map_err(|e| LabError::Checkpoint {
                path: task_path.clone(),
                reason: format!("unreadable task description: {e}"),
            })?;
        let model = config.model.build(&task.io, device)?;
        let model = checkpoint::load_weights(&unit_dir, &meta, model)?;
        let setup = config.optimizer_setup();
        let context = RuleContext {
            model: &model,
            io: &task.io,
            task: task.kind,
            optimizer: &setup,
            device,
            steps_per_epoch: task.train_len.div_ceil(config.train.batch_size) as u64,
            total_steps: config.train.steps.unwrap_or_else(|| {
                config.train.epochs.unwrap_or(0) as u64
                    * task.train_len.div_ceil(config.train.batch_size) as u64
            }),
            data: None,
        };
        let mut rule = config.rule.build(&context)?;
        rule.load_state(checkpoint::load_rule_state(&unit_dir, &meta)?)?;
        Ok(Self {
            arm: arm.clone(),
            seed,
            config: config.clone(),
            task,
            model,
            rule,
            finished: meta.finished,
            device: device.clone(),
        })
    }

    /// The predictions for a batch, as the rule makes them, from the model in inference mode.
    ///
    /// # Shapes
    /// - returns: `[rows, output_width]`
    pub fn predict(&self, input: &ModelInput) -> Result<Tensor<2>, LabError> {
        use burn::module::Module;
        let model = self.model.valid();
        Ok(self.rule.predict(&model, input)?)
    }
}
