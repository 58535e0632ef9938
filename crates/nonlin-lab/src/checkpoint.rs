//! Checkpoints: the model's weights as safetensors plus a JSON sidecar with everything else a
//! run needs to continue exactly (step, epoch, the rule's optimizer state, RNG state, the config
//! hash). Both are written atomically; the weights go to a file named after the step and the
//! sidecar, written last, names it, so a crash between the two leaves the previous checkpoint
//! whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Tensor;
use nonlin_data::RngState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LabError;
use crate::atomic::write_atomic;

/// File name of the sidecar inside a checkpoint folder.
pub const SIDECAR: &str = "state.json";

/// The sidecar of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version of this sidecar.
    pub format: u32,
    pub arm: String,
    pub seed: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// SHA-256 of the arm's resolved config; a resumed run must match it.
    pub config_hash: String,
    /// The run's RNG state at the checkpoint.
    pub rng: RngState,
    /// The learning rule's name and its state (base64 of its bytes).
    pub rule: String,
    pub rule_state: String,
    /// The weights file in this folder, and its SHA-256.
    pub weights: String,
    pub weights_sha256: String,
    /// Whether training of this arm and seed is complete.
    pub finished: bool,
    /// Final metrics, present once finished.
    #[serde(default, with = "crate::metrics_log::non_finite")]
    pub final_metrics: BTreeMap<String, f64>,
    /// The step at which the loss became non-finite, if it did.
    #[serde(default)]
    pub diverged_at: Option<u64>,
    /// Burn's parameter ids of the saved model, in visiting order. Optimizer state is keyed by
    /// these ids, and safetensors does not keep them, so a model rebuilt in a new process gets
    /// them back from here; otherwise its restored Adam moments would attach to nothing.
    #[serde(default)]
    pub param_ids: Vec<u64>,
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

/// Writes a checkpoint of `model` into `dir` (weights, then sidecar) and removes older weights.
pub fn save<M: Module>(dir: &Path, model: &M, mut meta: CheckpointMeta) -> Result<(), LabError> {
    std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
    let mut store = SafetensorsStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| LabError::Checkpoint {
            path: dir.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
    let bytes = store.get_bytes().map_err(|e| LabError::Checkpoint {
        path: dir.to_path_buf(),
        reason: format!("{e:?}"),
    })?;
    let weights = format!("model-{:08}.safetensors", meta.step);
    write_atomic(&dir.join(&weights), &bytes).map_err(LabError::io(dir.join(&weights)))?;
    meta.weights = weights.clone();
    meta.param_ids = param_ids(model);
    meta.weights_sha256 = sha256_hex(&bytes);
    meta.format = 1;
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| LabError::Other(e.to_string()))?;
    write_atomic(&dir.join(SIDECAR), &json).map_err(LabError::io(dir.join(SIDECAR)))?;
    for entry in std::fs::read_dir(dir).map_err(LabError::io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".safetensors") && name != weights {
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
    let meta = serde_json::from_slice(&text).map_err(|e| LabError::Checkpoint {
        path: path.clone(),
        reason: format!("unreadable sidecar: {e}"),
    })?;
    Ok(Some(meta))
}

/// Loads the weights named by `meta` into `model`, checking their hash.
pub fn load_weights<M: Module>(
    dir: &Path,
    meta: &CheckpointMeta,
    mut model: M,
) -> Result<M, LabError> {
    let path: PathBuf = dir.join(&meta.weights);
    let bytes = std::fs::read(&path).map_err(LabError::io(&path))?;
    let found = sha256_hex(&bytes);
    if found != meta.weights_sha256 {
        return Err(LabError::Checkpoint {
            path,
            reason: format!(
                "weights hash {found} does not match the sidecar's {}",
                meta.weights_sha256
            ),
        });
    }
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = model
        .load_from(&mut store)
        .map_err(|e| LabError::Checkpoint {
            path: path.clone(),
            reason: format!("{e:?}"),
        })?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(LabError::Checkpoint {
            path,
            reason: format!(
                "weights do not fit the model: errors {:?}, missing {:?}",
                result.errors, result.missing
            ),
        });
    }
    restore_param_ids(model, &meta.param_ids)
        .map_err(|reason| LabError::Checkpoint { path, reason })
}

/// The ids of the model's float parameters, in visiting order.
pub fn param_ids<M: Module>(model: &M) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

/// Gives the model's float parameters the ids in `ids` (visiting order).
pub fn restore_param_ids<M: Module>(model: M, ids: &[u64]) -> Result<M, String> {
    struct Assign<'a> {
        ids: &'a [u64],
        next: usize,
    }
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(&id) = self.ids.get(self.next) else {
                return param;
            };
            self.next += 1;
            let (_, value, mapper) = param.consume();
            Param::from_mapped_value(ParamId::from(id), value, mapper)
        }
    }
    let count = param_ids(&model).len();
    if count != ids.len() {
        return Err(format!(
            "the checkpoint lists {} parameters, the model has {count}",
            ids.len()
        ));
    }
    let mut assign = Assign { ids, next: 0 };
    Ok(model.map(&mut assign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor};
    use nonlin_data::Rng;
    use nonlin_nn::MlpConfig;

    fn meta(step: u64) -> CheckpointMeta {
        CheckpointMeta {
            format: 1,
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
        let a = MlpConfig::new(3, vec![4], 2).init(&device).unwrap();
        save(dir.path(), &a, meta(10)).unwrap();
        save(dir.path(), &a, meta(20)).unwrap();
        let m = read_meta(dir.path()).unwrap().unwrap();
        assert_eq!(m.step, 20);
        assert_eq!(m.rule_state_bytes(dir.path()).unwrap(), vec![1, 2, 3]);
        assert!(m.final_metrics["loss"].is_nan());
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files.len(), 2, "old weights are removed: {files:?}");

        let b = MlpConfig::new(3, vec![4], 2).init(&device).unwrap();
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
        let a = MlpConfig::new(3, vec![4], 2).init(&device).unwrap();
        save(dir.path(), &a, meta(1)).unwrap();
        let m = read_meta(dir.path()).unwrap().unwrap();
        let path = dir.path().join(&m.weights);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let err = load_weights(dir.path(), &m, a).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
