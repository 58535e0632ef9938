//! One measurement as every engine reports it: the JSON line of `torch_mlp.py`
//! (`{"engine", "threads", "ms_per_step", "loss_first", "loss_last", <library>: version}`).

use std::fmt;
use std::process::Command;

use serde_json::{Map, Value, json};

/// Why a benchmark run failed: a message naming what was being run.
#[derive(Debug)]
pub struct BenchError(String);

impl BenchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> Self {
        move |e| Self(format!("{what}: {e}"))
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<nonlin::nn::NnError> for BenchError {
    fn from(e: nonlin::nn::NnError) -> Self {
        Self(e.to_string())
    }
}

impl From<nonlin::learn::LearnError> for BenchError {
    fn from(e: nonlin::learn::LearnError) -> Self {
        Self(e.to_string())
    }
}

/// Median ms per step of one engine at one thread count, with the losses as a sanity check.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub engine: String,
    pub threads: usize,
    pub ms_per_step: f64,
    pub loss_first: f64,
    pub loss_last: f64,
    /// Library versions the engine reported (`{"torch": "2.15.0"}`).
    pub versions: Map<String, Value>,
}

impl Measurement {
    /// Reads the JSON line an engine printed.
    pub fn from_json(line: &str) -> Result<Self, BenchError> {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| BenchError::new(format!("bad JSON line {line:?}: {e}")))?;
        let num = |key: &str| {
            v.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| BenchError::new(format!("no number `{key}` in {line}")))
        };
        let engine = v
            .get("engine")
            .and_then(Value::as_str)
            .ok_or_else(|| BenchError::new(format!("no `engine` in {line}")))?;
        let known = [
            "engine",
            "threads",
            "batch",
            "sizes",
            "ms_per_step",
            "loss_first",
            "loss_last",
        ];
        let versions = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !known.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            engine: engine.to_string(),
            threads: num("threads")? as usize,
            ms_per_step: num("ms_per_step")?,
            loss_first: num("loss_first")?,
            loss_last: num("loss_last")?,
            versions,
        })
    }

    /// The same line format as `torch_mlp.py`.
    pub fn to_json(&self) -> String {
        let mut v = json!({
            "engine": self.engine, "threads": self.threads, "batch": 128, "sizes": [784, 256, 256, 10],
            "ms_per_step": (self.ms_per_step * 1e4).round() / 1e4,
            "loss_first": (self.loss_first * 1e4).round() / 1e4, "loss_last": (self.loss_last * 1e4).round() / 1e4,
        });
        if let Some(o) = v.as_object_mut() {
            o.extend(self.versions.clone());
        }
        v.to_string()
    }
}

/// Runs `cmd` and parses the last line of its standard output; a failure keeps the tail of stderr.
pub fn run_child(mut cmd: Command) -> Result<Measurement, BenchError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| BenchError::new(format!("cannot start {shown}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(BenchError::new(format!(
            "{shown} exited with {}: {}",
            out.status,
            tail.join(" | ")
        )));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    Measurement::from_json(
        line.ok_or_else(|| BenchError::new(format!("{shown} printed no JSON line")))?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_scripts_line() {
        let line = r#"{"engine": "torch-eager", "threads": 2, "batch": 128, "sizes": [784, 256, 256, 10], "ms_per_step": 3.0123, "loss_first": 2.31, "loss_last": 2.2, "torch": "2.15.0"}"#;
        let m = Measurement::from_json(line).unwrap();
        assert_eq!(
            (m.engine.as_str(), m.threads, m.ms_per_step),
            ("torch-eager", 2, 3.0123)
        );
        assert_eq!(
            m.versions.get("torch").and_then(Value::as_str),
            Some("2.15.0")
        );
        let back = Measurement::from_json(&m.to_json()).unwrap();
        assert_eq!(back.ms_per_step, 3.0123);
    }
}
