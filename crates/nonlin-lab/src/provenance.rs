//! `run.json`: where a run came from — seeds, git revision, versions, device, command line —
//! so a result can be traced and repeated.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::atomic::write_atomic;
use crate::spec::Experiment;

/// The engine version nonlin is pinned to (see the workspace `Cargo.toml`).
pub const BURN_VERSION: &str = "0.22.1";

/// The facts recorded about a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub experiment: String,
    pub source: String,
    pub overrides: Vec<String>,
    pub seeds: Vec<u64>,
    /// The git revision nonlin was built from, and whether tracked files had uncommitted changes.
    pub git_revision: String,
    pub git_dirty: bool,
    pub nonlin_version: String,
    pub burn_version: String,
    pub device: String,
    pub cpu_threads: usize,
    pub command: Vec<String>,
    pub started_unix: u64,
    pub os: String,
}

impl Provenance {
    /// Collects the facts of the current process.
    pub fn collect(
        experiment: &Experiment,
        device: &nonlin_nn::DeviceSpec,
        command: &[String],
    ) -> Self {
        Provenance {
            experiment: experiment.name.clone(),
            source: experiment.source.clone(),
            overrides: experiment.overrides.clone(),
            seeds: experiment.seeds.clone(),
            git_revision: env!("NONLIN_GIT_REVISION").into(),
            git_dirty: env!("NONLIN_GIT_DIRTY") == "true",
            nonlin_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            device: device.to_string(),
            cpu_threads: nonlin_nn::engine::cpu_threads(),
            command: command.to_vec(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }

    /// Writes `run.json` into the run folder.
    pub fn write(&self, dir: &Path) -> Result<(), LabError> {
        let path = dir.join("run.json");
        let json = serde_json::to_vec_pretty(self).map_err(|e| LabError::Other(e.to_string()))?;
        write_atomic(&path, &json).map_err(LabError::io(path))
    }
}
