//! Checkpoints: the model's weights as safetensors, the learning rule's own modules the same way,
//! and a JSON sidecar with everything else a run needs to continue exactly (step, epoch, position
//! inside the epoch, the rule's optimizer state, RNG state, the running means of training metrics,
//! the config hash). Every file is written atomically; weight files are named after the step and
//! the sidecar, written last, names them, so a crash between the two leaves the previous
//! checkpoint whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use burn::module::Module;
use nonlin_data::RngState;
use nonlin_learn::RuleState;
use nonlin_nn::weights::{self, ModuleState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of a unit's task description (inside its checkpoint folder): what `predict` and
/// `generate` need to use the trained model without the training data.
pub const TASK_FILE: &str = "task.json";

use crate::LabError;
use crate::atomic::write_atomic;

pub use nonlin_nn::weights::{param_ids, restore_param_ids};

/// File name of the sidecar inside a checkpoint folder.
pub const SIDECAR: &str = "state.json";

/// Layout version of the sidecar this build writes.
pub const FORMAT: u32 = 2;

/// Running sums of step metrics (a logging window or an epoch), kept in checkpoints so a run
/// resumed mid-epoch reports the same means.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    #[serde(with = "crate::metrics_log::non_finite")]
    pub sums: BTreeMap<String, f64>,
    pub count: u64,
}

impl Accumulator {
    /// Adds one step's metrics.
    pub fn add(&mut self, metrics: &BTreeMap<String, f64>) {
        for (k, v) in metrics {
            *self.sums.entry(k.clone()).or_default() += v;
        }
        self.count += 1;
    }

    /// The means so far, and a reset.
    pub fn take(&mut self) -> BTreeMap<String, f64> {
        let n = self.count.max(1) as f64;
        let out = self.sums.iter().map(|(k, v)| (k.clone(), v / n)).collect();
        *self = Accumulator::default();
        out
    }
}

/// A rule module's weights file in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleFile {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub param_ids: Vec<u64>,
}

/// The sidecar of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version of this sidecar.
    pub format: u32,
    pub arm: String,
    pub seed: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Batches of the epoch in progress already trained (0 at an epoch boundary).
    #[serde(default)]
    pub batches_done: u64,
    /// The shuffle seed of the epoch in progress, when `batches_done > 0`.
    #[serde(default)]
    pub epoch_seed: Option<u64>,
    /// Optimizer steps taken.
    pub step: u64,
    /// SHA-256 of the arm's resolved config; a resumed run must match it.
    pub config_hash: String,
    /// The run's RNG state at the checkpoint.
    pub rng: RngState,
    /// The learning rule's name and its state (base64 of its bytes).
    pub rule: String,
    pub rule_state: String,
    /// The rule's own modules.
    #[serde(default)]
    pub rule_modules: Vec<ModuleFile>,
    /// Running means of the training metrics: the logging window and the epoch.
    #[serde(default)]
    pub window: Accumulator,
    #[serde(default)]
    pub epoch_train: Accumulator,
    /// The step of the last evaluation, so a resumed run does not evaluate twice.
    #[serde(default)]
    pub last_eval_step: Option<u64>,
    /// The weights file in this folder, and its SHA-256.
    pub weights: String,
    pub weights_sha256: String,
    /// Whether training of this arm and seed is complete.
    pub finished: bool,
    /// Final metrics, present once finished.
    #[serde(default, with = "crate::metrics_log::non_finite")]
    pub final_metrics: BTreeMap<String, f64>,
    /// Resource figures, present once finished (not part of the metrics: not reproducible).
    #[serde(default, with = "crate::metrics_log::non_finite")]
    pub resources: BTreeMap<String, f64>,
    /// The step at which the loss became non-finite, if it did.
    #[serde(default)]
    pub diverged_at: Option<u64>,
    /// Burn's parameter ids of the saved model, in visiting order. Optimizer state is keyed by
    /// these ids, and safetensors does not keep them, so a model rebuilt in a new process gets
    /// them back from here; otherwise its restored Adam moments would attach to nothing.
    #[serde(default)]
    pub param_ids: Vec<u64>,
    /// Seconds spent in this unit so far, and in training steps, and samples (or tokens) trained
    /// on: resource figures that add up across resumptions.
    #[serde(default)]
    pub elapsed_s: f64,
    #[serde(default)]
    pub train_s: f64,
    #[serde(default)]
    pub units_trained: u64,
}

impl CheckpointMeta {
    /// The rule's state bytes.
    pub fn rule_state_bytes(&self, dir: &Path) -> Result<Vec<u8>, LabError> {
        STANDARD
            .decode(&self.rule_state)
            .map_err(|e| LabError::Checkpoint {
                path: dir.join(SIDECAR),
                reason: format!("rule_state is not base64: {e}"),
            })
    }

    /// Encodes rule state bytes for the sidecar.
    pub fn encode_rule_state(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn checkpoint_error(path: &Path, e: impl std::fmt::Display) -> LabError {
    LabError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes a checkpoint of `model` and the rule's state into `dir` (weights, rule modules, then
/// the sidecar) and removes older weight files.
pub fn save<M: Module>(
    dir: &Path,
    model: &M,
    rule: &RuleState,
    mut meta: CheckpointMeta,
) -> Result<(), LabError> {
    std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
    let bytes = weights::to_safetensors(model).map_err(|e| checkpoint_error(dir, e))?;
    let weights = format!("model-{:08}.safetensors", meta.step);
    write_atomic(&dir.join(&weights), &bytes).map_err(LabError::io(dir.join(&weights)))?;
    let mut keep = vec![weights.clone()];
    meta.rule_modules.clear();
    for module in &rule.modules {
        if module.name.is_empty()
            || !module
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(checkpoint_error(
                dir,
                format!("rule module name `{}` is not a file name stem", module.name),
            ));
        }
        let file = format!("rule-{}-{:08}.safetensors", module.name, meta.step);
        write_atomic(&dir.join(&file), &module.safetensors)
            .map_err(LabError::io(dir.join(&file)))?;
        meta.rule_modules.push(ModuleFile {
            name: module.name.clone(),
            file: file.clone(),
            sha256: sha256_hex(&module.safetensors),
            param_ids: module.param_ids.clone(),
        });
        keep.push(file);
    }
    meta.rule_state = CheckpointMeta::encode_rule_state(&rule.bytes);
    meta.weights = weights;
    meta.param_ids = param_ids(model);
    meta.weights_sha256 = sha256_hex(&bytes);
    meta.format = FORMAT;
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| LabError::Other(e.to_string()))?;
    write_atomic(&dir.join(SIDECAR), &json).map_err(LabError::io(dir.join(SIDECAR)))?;
    for entry in std::fs::read_dir(dir).map_err(LabError::io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".safetensors") && !keep.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Reads the sidecar of the checkpoint in `dir`, if there is one.
pub fn read_meta(dir: &Path) -> Result<Option<CheckpointMeta>, LabError> {
    let path = dir.join(SIDECAR);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(LabError::io(&path))?;
    let meta: CheckpointMeta = serde_json::from_slice(&text).map_err(|e| LabError::Checkpoint {
        path: path.clone(),
        reason: format!("unreadable sidecar: {e}"),
    })?;
    if meta.format != FORMAT {
        return Err(LabError::Checkpoint {
            path,
            reason: format!(
                "written in checkpoint format {}, this build reads format {FORMAT}",
                meta.format
            ),
        });
    }
    Ok(Some(meta))
}

/// Reads a file of the checkpoint and checks its hash.
fn read_checked(dir: &Path, file: &str, sha256: &str) -> Result<Vec<u8>, LabError> {
    let path: PathBuf = dir.join(file);
    let bytes = std::fs::read(&path).map_err(LabError::io(&path))?;
    let found = sha256_hex(&bytes);
    if found != sha256 {
        return Err(LabError::Checkpoint {
            path,
            reason: format!("hash {found} does not match the sidecar's {sha256}"),
        });
    }
    Ok(bytes)
}

/// Loads the weights named by `meta` into `model`, checking their hash, and restores the saved
/// parameter ids.
pub fn load_weights<M: Module>(dir: &Path, meta: &CheckpointMeta, model: M) -> Result<M, LabError> {
    let bytes = read_checked(dir, &meta.weights, &meta.weights_sha256)?;
    let path = dir.join(&meta.weights);
    let model = weights::from_safetensors(model, bytes).map_err(|e| checkpoint_error(&path, e))?;
    restore_param_ids(model, &meta.param_ids).map_err(|e| checkpoint_error(&path, e))
}

/// The rule's state as saved in the checkpoint: its bytes and its modules.
pub fn load_rule_state(dir: &Path, meta: &CheckpointMeta) -> Result<RuleState, LabError> {
    let mut modules = Vec::new();
    for m in &meta.rule_modules {
        modules.push(ModuleState {
            name: m.name.clone(),
            safetensors: read_checked(dir, &m.file, &m.sha256)?,
            param_ids: m.param_ids.clone(),
        });
    }
    Ok(RuleState {
        bytes: meta.rule_state_bytes(dir)?,
        modules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor};
    use nonlin_data::Rng;
    use nonlin_nn::MlpConfig;
    use nonlin_nn::weights::ModuleState;

    fn meta(step: u64) -> CheckpointMeta {
        CheckpointMeta {
            format: FORMAT,
            batches_done: 0,
            epoch_seed: None,
            rule_modules: Vec::new(),
            window: Accumulator::default(),
            epoch_train: Accumulator::default(),
            last_eval_step: None,
            resources: BTreeMap::new(),
            elapsed_s: 0.0,
            train_s: 0.0,
            units_trained: 0,
            arm: "a".into(),
            seed: 1,
            epochs_done: 1,
            step,
            config_hash: "h".into(),
            rng: Rng::seed(5).checkpoint(),
            rule: "backprop".into(),
            rule_state: CheckpointMeta::encode_rule_state(&[1, 2, 3]),
            weights: String::new(),
            weights_sha256: String::new(),
            finished: false,
            final_metrics: BTreeMap::from([("loss".to_string(), f64::NAN)]),
            diverged_at: None,
            param_ids: Vec::new(),
        }
    }

    #[test]
    fn round_trip_restores_weights_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let a = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let head = MlpConfig::new(vec![]).init(4, 2, &device).unwrap();
        let rule = RuleState {
            bytes: vec![1, 2, 3],
            modules: vec![ModuleState::capture("head", &head).unwrap()],
        };
        save(dir.path(), &a, &rule, meta(10)).unwrap();
        save(dir.path(), &a, &rule, meta(20)).unwrap();
        let m = read_meta(dir.path()).unwrap().unwrap();
        assert_eq!(m.step, 20);
        let state = load_rule_state(dir.path(), &m).unwrap();
        assert_eq!(state, rule);
        assert!(m.final_metrics["loss"].is_nan());
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "model-00000020.safetensors",
                "rule-head-00000020.safetensors",
                "state.json"
            ],
            "old weights are removed"
        );

        let b = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let b = load_weights(dir.path(), &m, b).unwrap();
        let x = Tensor::<2>::from_floats([[0.1, 0.2, 0.3]], &device);
        assert_eq!(a.forward(x.clone()).into_data(), b.forward(x).into_data());
        // The rebuilt model carries the saved model's parameter ids, which key optimizer state.
        assert_eq!(param_ids(&a), param_ids(&b));
        assert_eq!(param_ids(&a).len(), 4);
    }

    #[test]
    fn corrupted_weights_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let a = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        save(dir.path(), &a, &RuleState::default(), meta(1)).unwrap();
        let m = read_meta(dir.path()).unwrap().unwrap();
        let path = dir.path().join(&m.weights);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let err = load_weights(dir.path(), &m, a).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        // A sidecar of another format is refused with the versions named.
        let mut old = read_meta(dir.path()).unwrap().unwrap();
        old.format = 1;
        std::fs::write(dir.path().join(SIDECAR), serde_json::to_vec(&old).unwrap()).unwrap();
        let err = read_meta(dir.path()).unwrap_err().to_string();
        assert!(err.contains("format 1"), "{err}");
    }
}
