//! The Python references: `torch_mlp.py` run as PyTorch eager, `torch.compile` or JAX `jit`.
//! Python is a benchmark aid only; nothing in nonlin's tests depends on it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;

use crate::Run;
use crate::measurement::BenchError;

/// One way of running the reference script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    TorchEager,
    TorchCompile,
    JaxJit,
}

impl FromStr for Reference {
    type Err = BenchError;

    fn from_str(text: &str) -> Result<Self, BenchError> {
        match text {
            "torch-eager" => Ok(Reference::TorchEager),
            "torch-compile" => Ok(Reference::TorchCompile),
            "jax-jit" => Ok(Reference::JaxJit),
            _ => Err(BenchError::new(format!(
                "unknown reference `{text}`: expected torch-eager, torch-compile or jax-jit"
            ))),
        }
    }
}

impl Reference {
    /// The engine name the script prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Reference::TorchEager => "torch-eager",
            Reference::TorchCompile => "torch-compile",
            Reference::JaxJit => "jax-jit",
        }
    }

    /// The script's flags for this reference.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Reference::TorchEager => &[],
            Reference::TorchCompile => &["--compile"],
            Reference::JaxJit => &["--jax"],
        }
    }
}

/// `torch_mlp.py` beside this crate: a verbatim copy of the shared reference script.
pub fn default_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_mlp.py")
}

/// Whether `taskset` (util-linux) can pin a child to fewer cores.
pub fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every library version the runs reported (`burn 0.22.1`, `torch 2.15.0`, `jax 0.10.2`).
pub fn versions(runs: &[Run]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in runs.iter().filter_map(|r| r.result.as_ref().ok()) {
        for (k, v) in &m.versions {
            out.insert(
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            );
        }
    }
    out
}
