//! Experiment specs: a TOML file naming data, model, rule, optimizer, budget, seeds, arms and
//! claims, plus dotted overrides from the command line (`train.lr=3e-4`).
//!
//! Loading goes in three steps so every error names the file and the key: the text is parsed
//! as TOML (syntax errors carry a line), overrides are applied to that tree, and the tree is
//! then deserialised into typed configs with unknown keys rejected. Each arm is the base config
//! with the arm's own dotted overrides applied, resolved separately.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use nonlin_learn::{OptimizerConfig, ScheduleConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::LabError;

/// The data set of a run and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dataset", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// MNIST from `--data-dir`, `$NONLIN_DATA` or the user's data folder. The standard 10,000
    /// test images are the test split; `validation` of the 60,000 training images is held out.
    Mnist {
        #[serde(default)]
        validation: f64,
        /// Use only the first N training images (for quick variants).
        #[serde(default)]
        train_limit: Option<usize>,
    },
    /// The 8x8 digits shipped inside nonlin (1,797 images), split from `split_seed`.
    Digits {
        #[serde(default = "quarter")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
    /// Two interleaved spirals in 2-D, generated from `split_seed`.
    TwoSpirals {
        #[serde(default = "spiral_points")]
        n_per_class: usize,
        #[serde(default = "spiral_noise")]
        noise: f64,
        #[serde(default = "quarter")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
    /// All pairs (a, b) labelled (a + b) mod p; `train_fraction` of them train, the rest test.
    ModularAddition {
        p: usize,
        #[serde(default = "half")]
        train_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
}

fn quarter() -> f64 {
    0.25
}
fn half() -> f64 {
    0.5
}
fn spiral_points() -> usize {
    500
}
fn spiral_noise() -> f64 {
    0.1
}

/// The model of a run; input size and classes come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// A multilayer perceptron.
    Mlp {
        hidden: Vec<usize>,
        #[serde(default = "relu")]
        activation: String,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// A small convolutional network (conv3x3, activation, maxpool per stage).
    ConvNet {
        #[serde(default = "conv_channels")]
        channels: Vec<usize>,
        #[serde(default = "relu")]
        activation: String,
    },
}

fn relu() -> String {
    "relu".into()
}
fn yes() -> bool {
    true
}
fn conv_channels() -> Vec<usize> {
    vec![16, 32]
}

/// The learning rule of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleConfig {
    /// End-to-end backpropagation of the cross-entropy.
    #[default]
    Backprop,
}

/// The training budget and loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Passes over the training split.
    pub epochs: usize,
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Batch size for evaluation (only memory, not results, depends on it).
    #[serde(default = "eval_batch_size")]
    pub eval_batch_size: usize,
    /// Training metrics are averaged and logged every this many steps.
    #[serde(default = "log_every")]
    pub log_every: u64,
    /// A checkpoint is written every this many epochs (0: only at the end).
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// Seed of the data split (the run seed drives initialisation and shuffling).
    #[serde(default)]
    pub split_seed: u64,
}

fn batch_size() -> usize {
    128
}
fn eval_batch_size() -> usize {
    1000
}
fn log_every() -> u64 {
    50
}
fn one() -> usize {
    1
}

/// One arm, fully resolved: everything a single training run needs besides its seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub rule: RuleConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    pub train: TrainConfig,
}

/// A comparison in a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = ">")]
    Above,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "<")]
    Below,
    /// Equal within the tolerance.
    #[serde(rename = "~=")]
    About,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::AtLeast => ">=",
            Op::Above => ">",
            Op::AtMost => "<=",
            Op::Below => "<",
            Op::About => "~=",
        })
    }
}

/// A paper's claim as a check: `metric` of `arm` compared by `op` with a number or another arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    /// The statement, in words.
    pub name: String,
    /// A final metric of the run (`test_accuracy`, `test_loss`, ...), averaged over seeds.
    pub metric: String,
    /// The arm measured; may be omitted when the experiment has one arm.
    #[serde(default)]
    pub arm: Option<String>,
    pub op: Op,
    /// Compare against this number ...
    #[serde(default)]
    pub value: Option<f64>,
    /// ... or against the same metric of this arm.
    #[serde(default)]
    pub than_arm: Option<String>,
    /// Slack in the claim's favour (for `~=`, the allowed distance).
    #[serde(default)]
    pub tolerance: f64,
    /// Where the claim comes from (table, figure, section).
    #[serde(default)]
    pub source: Option<String>,
}

/// A named variant of the base config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    pub name: String,
    /// Dotted overrides of the base config, e.g. `{ "model.activation" = "gelu" }`.
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
}

/// The file's schema. The base tables are kept untyped here (each arm types them after its own
/// overrides), but naming them lets serde reject unknown top-level keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ExperimentFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default)]
    metrics: Vec<String>,
    data: Table,
    model: Table,
    #[serde(default)]
    rule: Option<Table>,
    #[serde(default)]
    optimizer: Option<Table>,
    train: Table,
    #[serde(default)]
    arm: Vec<ArmSpec>,
    #[serde(default)]
    claim: Vec<ClaimSpec>,
    /// Dotted overrides applied by `--quick` (the variant CI runs).
    #[serde(default)]
    quick: BTreeMap<String, Value>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// The final metrics a run produces for each arm and seed: test (and, with a validation split,
/// validation) loss and accuracy after the last epoch, the last epoch's mean training loss and
/// accuracy, and the number of optimizer steps.
pub const FINAL_METRICS: &[&str] = &[
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "train_accuracy",
    "train_loss",
    "steps",
];

/// A loaded experiment: its arms resolved, its claims checked for consistency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub seeds: Vec<u64>,
    /// The final metrics reports show, in order (empty: all of them).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Arms in file order; an experiment without `[[arm]]` has one arm named `base`.
    pub arms: Vec<(String, RunConfig)>,
    pub claims: Vec<ClaimSpec>,
    /// Where it was loaded from (`<built-in>` for the default demo).
    pub source: String,
    /// The overrides applied on top of the file, in order.
    pub overrides: Vec<String>,
}

/// One `key.path=value` override from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
}

impl Override {
    /// Parses `a.b.c=value`; the value is read as TOML (`3e-4`, `[64, 64]`, `true`, `"x"`) and,
    /// when that fails, taken as a plain string (`gelu`).
    pub fn parse(text: &str) -> Result<Self, LabError> {
        let (path, raw) = text.split_once('=').ok_or_else(|| LabError::Override {
            text: text.to_string(),
            reason: "expected `key.path=value`".into(),
        })?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(|p| p.is_empty()) {
            return Err(LabError::Override {
                text: text.to_string(),
                reason: "empty key in the path".into(),
            });
        }
        let raw = raw.trim();
        let value = toml::from_str::<Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| Value::String(raw.to_string()));
        Ok(Override {
            path: path.to_string(),
            value,
        })
    }

    fn apply(&self, root: &mut Table) -> Result<(), String> {
        set_path(root, &self.path, self.value.clone())
    }
}

/// Sets `path` (dotted) in `root`, creating tables on the way; fails when the path crosses a
/// value that is not a table.
fn set_path(root: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("split yields at least one part");
    let mut table = root;
    for (depth, part) in parts.iter().enumerate() {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", parts[..=depth].join(".")))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

impl Experiment {
    /// Loads a spec file and applies command-line overrides.
    pub fn load(path: &Path, overrides: &[Override]) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_text(&text, &path.display().to_string(), overrides)
    }

    /// Parses a spec from text; `source` names it in errors.
    pub fn from_text(text: &str, source: &str, overrides: &[Override]) -> Result<Self, LabError> {
        let spec_err = |key: String, reason: String| LabError::Spec {
            file: source.to_string(),
            key,
            reason,
        };
        let mut root: Table = toml::from_str(text)
            .map_err(|e| spec_err("(syntax)".into(), e.to_string().trim().to_string()))?;
        for o in overrides {
            o.apply(&mut root)
                .map_err(|reason| spec_err(o.path.clone(), format!("cannot override: {reason}")))?;
        }
        let file: ExperimentFile = typed(Value::Table(root.clone()), source, "")?;
        if file.seeds.is_empty() {
            return Err(spec_err(
                "seeds".into(),
                "at least one seed is needed".into(),
            ));
        }

        let mut base = Table::new();
        for key in ["data", "model", "rule", "optimizer", "train"] {
            if let Some(v) = root.get(key) {
                base.insert(key.to_string(), v.clone());
            }
        }
        let arms_spec = if file.arm.is_empty() {
            vec![ArmSpec {
                name: "base".into(),
                set: BTreeMap::new(),
            }]
        } else {
            file.arm.clone()
        };
        let mut arms: Vec<(String, RunConfig)> = Vec::new();
        for arm in &arms_spec {
            if arms.iter().any(|(name, _)| name == &arm.name) {
                return Err(spec_err(
                    "arm.name".into(),
                    format!("arm `{}` is defined twice", arm.name),
                ));
            }
            let mut table = base.clone();
            for (path, value) in &arm.set {
                set_path(&mut table, path, value.clone())
                    .map_err(|reason| spec_err(format!("arm `{}` set.{path}", arm.name), reason))?;
            }
            let config: RunConfig = typed(
                Value::Table(table),
                source,
                &format!("arm `{}`: ", arm.name),
            )?;
            validate_run(&config)
                .map_err(|(key, reason)| spec_err(format!("arm `{}`: {key}", arm.name), reason))?;
            arms.push((arm.name.clone(), config));
        }

        for metric in &file.metrics {
            if !FINAL_METRICS.contains(&metric.as_str()) {
                return Err(spec_err(
                    "metrics".into(),
                    format!(
                        "unknown metric `{metric}`; known: {}",
                        FINAL_METRICS.join(", ")
                    ),
                ));
            }
        }
        let mut claims = file.claim.clone();
        for (i, claim) in claims.iter_mut().enumerate() {
            let key = format!("claim[{i}] ({})", claim.name);
            if claim.arm.is_none() {
                if arms.len() != 1 {
                    return Err(spec_err(
                        key,
                        "name the arm: this experiment has several".into(),
                    ));
                }
                claim.arm = Some(arms[0].0.clone());
            }
            match (&claim.value, &claim.than_arm) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(spec_err(
                        key,
                        "give exactly one of `value` and `than_arm`".into(),
                    ));
                }
            }
            for arm in claim.arm.iter().chain(&claim.than_arm) {
                if !arms.iter().any(|(name, _)| name == arm) {
                    return Err(spec_err(key.clone(), format!("no arm named `{arm}`")));
                }
            }
            if !FINAL_METRICS.contains(&claim.metric.as_str()) {
                return Err(spec_err(
                    key,
                    format!(
                        "unknown metric `{}`; known: {}",
                        claim.metric,
                        FINAL_METRICS.join(", ")
                    ),
                ));
            }
            if claim.tolerance < 0.0 {
                return Err(spec_err(key, "tolerance must be >= 0".into()));
            }
        }

        Ok(Experiment {
            name: file.name,
            description: file.description,
            seeds: file.seeds,
            metrics: file.metrics,
            arms,
            claims,
            source: source.to_string(),
            overrides: overrides
                .iter()
                .map(|o| format!("{}={}", o.path, o.value))
                .collect(),
        })
    }

    /// The resolved experiment a run folder was started with (its `config.json`).
    pub fn read_run(dir: &Path) -> Result<Self, LabError> {
        let bytes = std::fs::read(dir.join("config.json")).map_err(|e| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("no readable config.json ({e})"),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("config.json: {e}"),
        })
    }

    /// The `--quick` overrides written in a spec file, as overrides.
    pub fn quick_overrides(text: &str, source: &str) -> Result<Vec<Override>, LabError> {
        let root: Table = toml::from_str(text).map_err(|e| LabError::Spec {
            file: source.to_string(),
            key: "(syntax)".into(),
            reason: e.to_string().trim().to_string(),
        })?;
        let mut out = Vec::new();
        if let Some(quick) = root.get("quick") {
            let quick = quick.as_table().ok_or_else(|| LabError::Spec {
                file: source.to_string(),
                key: "quick".into(),
                reason: "must be a table of dotted overrides".into(),
            })?;
            for (path, value) in quick {
                out.push(Override {
                    path: path.clone(),
                    value: value.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// Deserialises with the failing key's path in the error.
fn typed<T: DeserializeOwned>(value: Value, source: &str, prefix: &str) -> Result<T, LabError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        LabError::Spec {
            file: source.to_string(),
            key: format!(
                "{prefix}{}",
                if key == "." {
                    "(top level)".to_string()
                } else {
                    key
                }
            ),
            reason: e.into_inner().to_string(),
        }
    })
}

/// Range checks that types alone cannot express.
fn validate_run(config: &RunConfig) -> Result<(), (String, String)> {
    let t = &config.train;
    if !(t.lr.is_finite() && t.lr > 0.0) {
        return Err((
            "train.lr".into(),
            format!("must be a positive number, got {}", t.lr),
        ));
    }
    if t.epochs == 0 {
        return Err(("train.epochs".into(), "must be at least 1".into()));
    }
    if t.batch_size == 0 || t.eval_batch_size == 0 {
        return Err((
            "train.batch_size".into(),
            "batch sizes must be at least 1".into(),
        ));
    }
    if t.log_every == 0 {
        return Err(("train.log_every".into(), "must be at least 1".into()));
    }
    t.schedule
        .validate()
        .map_err(|e| ("train.schedule".to_string(), e.to_string()))?;
    config
        .optimizer
        .validate()
        .map_err(|e| ("optimizer".to_string(), e.to_string()))?;
    let fraction = |key: &str, f: f64, max: f64| {
        if (0.0..max).contains(&f) {
            Ok(())
        } else {
            Err((key.to_string(), format!("must be in [0, {max}), got {f}")))
        }
    };
    match &config.data {
        DataConfig::Mnist { validation, .. } => fraction("data.validation", *validation, 1.0)?,
        DataConfig::Digits {
            test_fraction,
            validation,
        }
        | DataConfig::TwoSpirals {
            test_fraction,
            validation,
            ..
        } => {
            fraction("data.test_fraction", *test_fraction, 1.0)?;
            fraction("data.validation", *validation, 1.0 - test_fraction)?;
        }
        DataConfig::ModularAddition {
            p,
            train_fraction,
            validation,
        } => {
            if *p < 2 {
                return Err(("data.p".into(), format!("must be at least 2, got {p}")));
            }
            if !(*train_fraction > 0.0 && *train_fraction < 1.0) {
                return Err((
                    "data.train_fraction".into(),
                    format!("must be in (0, 1), got {train_fraction}"),
                ));
            }
            fraction("data.validation", *validation, *train_fraction)?;
        }
    }
    match &config.model {
        ModelConfig::Mlp { activation, .. } | ModelConfig::ConvNet { activation, .. } => activation
            .parse::<nonlin_nn::ActivationSpec>()
            .map(|_| ())
            .map_err(|e| ("model.activation".to_string(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "t"
seeds = [1, 2]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [32]
[train]
lr = 0.01
epochs = 2
[[arm]]
name = "relu"
[[arm]]
name = "tanh"
set = { "model.activation" = "tanh", "train.lr" = 0.02 }
[[claim]]
name = "relu is accurate"
metric = "test_accuracy"
arm = "relu"
op = ">="
value = 0.9
[quick]
"train.epochs" = 1
"#;

    fn err(text: &str, overrides: &[&str]) -> String {
        let overrides: Vec<Override> = overrides
            .iter()
            .map(|o| Override::parse(o).unwrap())
            .collect();
        Experiment::from_text(text, "spec.toml", &overrides)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn arms_resolve_with_their_overrides() {
        let e = Experiment::from_text(SPEC, "spec.toml", &[]).unwrap();
        assert_eq!(e.seeds, vec![1, 2]);
        assert_eq!(e.arms.len(), 2);
        let (name, tanh) = &e.arms[1];
        assert_eq!(name, "tanh");
        assert!(matches!(&tanh.model, ModelConfig::Mlp { activation, .. } if activation == "tanh"));
        assert_eq!(tanh.train.lr, 0.02);
        assert_eq!(e.arms[0].1.train.lr, 0.01);
        assert_eq!(tanh.train.batch_size, 128);
        assert_eq!(e.claims[0].op, Op::AtLeast);
    }

    #[test]
    fn command_line_overrides_apply_to_every_arm() {
        let o = vec![
            Override::parse("train.epochs=7").unwrap(),
            Override::parse("model.hidden=[8, 8]").unwrap(),
        ];
        let e = Experiment::from_text(SPEC, "spec.toml", &o).unwrap();
        for (_, arm) in &e.arms {
            assert_eq!(arm.train.epochs, 7);
            assert!(matches!(&arm.model, ModelConfig::Mlp { hidden, .. } if hidden == &vec![8, 8]));
        }
        let q = Experiment::quick_overrides(SPEC, "spec.toml").unwrap();
        assert_eq!(
            q,
            vec![Override {
                path: "train.epochs".into(),
                value: Value::Integer(1)
            }]
        );
    }

    #[test]
    fn overrides_parse_values_as_toml_or_strings() {
        assert_eq!(
            Override::parse("train.lr=3e-4").unwrap().value,
            Value::Float(3e-4)
        );
        assert_eq!(
            Override::parse("model.activation=gelu").unwrap().value,
            Value::String("gelu".into())
        );
        assert!(Override::parse("nokey").is_err());
        assert!(Override::parse("a..b=1").is_err());
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_file() {
        let e = err(SPEC, &["train.lrr=0.1"]);
        assert!(
            e.contains("spec.toml") && e.contains("train") && e.contains("lrr"),
            "{e}"
        );
        let e = err(SPEC, &["train.epochs=many"]);
        assert!(e.contains("spec.toml") && e.contains("train.epochs"), "{e}");
        let e = err(
            &SPEC.replace("seeds = [1, 2]", "seeds = [1, 2]\nsede = 3"),
            &[],
        );
        assert!(e.contains("sede"), "{e}");
        let e = err(SPEC, &["data.dataset=cifar"]);
        assert!(e.contains("data") && e.contains("cifar"), "{e}");
        let e = err(SPEC, &["model.activation=swishy(x)"]);
        assert!(e.contains("model.activation"), "{e}");
    }

    #[test]
    fn range_and_claim_errors() {
        assert!(err(SPEC, &["train.lr=-1"]).contains("train.lr"));
        assert!(err(SPEC, &["train.epochs=0"]).contains("train.epochs"));
        let bad_arm = SPEC.replace("arm = \"relu\"", "arm = \"sigmoid\"");
        assert!(err(&bad_arm, &[]).contains("no arm named `sigmoid`"));
        let typo = SPEC.replace("metric = \"test_accuracy\"", "metric = \"test_acc\"");
        assert!(err(&typo, &[]).contains("unknown metric `test_acc`"));
        assert!(err(SPEC, &["metrics=[\"accuracy\"]"]).contains("unknown metric"));
        let both = SPEC.replace("value = 0.9", "value = 0.9\nthan_arm = \"tanh\"");
        assert!(err(&both, &[]).contains("exactly one"));
        assert!(err("name = [", &[]).contains("syntax"));
    }
}
