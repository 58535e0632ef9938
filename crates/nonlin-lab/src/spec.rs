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

use nonlin_learn::{
    OptimizerConfig, OptimizerSetup, ParamGroupConfig, RuleConfig, ScheduleConfig, TaskKind,
};
use nonlin_nn::ModelConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::LabError;
pub use crate::metric::Op;
use crate::metric::{Derived, FeatureStat, MetricName, ParamStat};

/// The data set of a run and how it is split. The data set fixes the task: labelled images and
/// points are classification, `smooth_regression` regression, `text` language modelling, and
/// `files` whichever its `task` says.
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
    /// Transductive node classification on a seeded stochastic block model with node features
    /// (`nonlin_data::SbmConfig`, the ForwardGNN CPU target): one graph; `validation` and
    /// `test_fraction` of the nodes, drawn from `split_seed`, are the validation and test masks.
    Sbm {
        #[serde(default = "sbm_nodes")]
        nodes: usize,
        #[serde(default = "sbm_classes")]
        classes: usize,
        #[serde(default = "sbm_p_in")]
        p_in: f64,
        #[serde(default = "sbm_p_out")]
        p_out: f64,
        #[serde(default = "sbm_features")]
        features: usize,
        #[serde(default = "sbm_separation")]
        separation: f64,
        #[serde(default = "one_f64")]
        noise: f64,
        /// Seed of the graph and its features.
        #[serde(default)]
        seed: u64,
        #[serde(default = "fifth")]
        test_fraction: f64,
        #[serde(default = "sbm_validation")]
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
    /// Regression of a smooth, non-separable function of `dims` inputs (a sum of `terms` products
    /// of sines) at `n` points uniform in [-1, 1]^dims, with Gaussian target noise of std `noise`;
    /// the function and the points are drawn from `seed`, the split from `train.split_seed`.
    SmoothRegression {
        #[serde(default = "smooth_points")]
        n: usize,
        #[serde(default = "smooth_dims")]
        dims: usize,
        #[serde(default = "smooth_terms")]
        terms: usize,
        #[serde(default)]
        noise: f64,
        #[serde(default)]
        seed: u64,
        #[serde(default = "quarter")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
    /// Regression of a named function of two inputs (`function = "sin_cos_xy"`,
    /// `"exp_sin_square"`, `"product"`; see `nonlin_data::FitFunction`) at `n` points uniform in
    /// [-1, 1]^2 drawn from `seed`; the split from `train.split_seed`.
    FunctionFit {
        function: String,
        #[serde(default = "fit_points")]
        n: usize,
        #[serde(default)]
        seed: u64,
        #[serde(default = "half")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
    /// Next-token prediction on a text: a named data set (`corpus = "shakespeare"`) or any UTF-8
    /// file (`path`), tokenised by characters or bytes; the last `test_fraction` of the tokens is
    /// the test split and the `validation` fraction before it the validation split.
    Text {
        #[serde(default)]
        corpus: Option<String>,
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        vocab: VocabKind,
        /// Tokens of context the model reads.
        context: usize,
        #[serde(default = "tenth")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
        /// Positions scored per evaluation, from the start of each held-out split (all when absent).
        #[serde(default)]
        eval_tokens: Option<usize>,
        /// Use only the first N characters of the text.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Length extrapolation on seeded order-2 Markov sequences with associative recall
    /// (`nonlin_data::MarkovRecall`): trained at `context` tokens, evaluated at 1x, 2x, 4x and
    /// 8x that length. The chain is drawn from `seed`; the sequences from `seed` and their split.
    MarkovRecall {
        /// Training length in tokens.
        context: usize,
        /// Training sequences (one epoch).
        #[serde(default = "markov_train_sequences")]
        train_sequences: usize,
        /// Sequences of each length per evaluation.
        #[serde(default = "markov_eval_sequences")]
        eval_sequences: usize,
        #[serde(default = "markov_symbols")]
        symbols: usize,
        #[serde(default = "markov_keys")]
        keys: usize,
        #[serde(default = "markov_keys")]
        values: usize,
        #[serde(default = "markov_pairs")]
        pairs: usize,
        #[serde(default = "markov_query_rate")]
        query_rate: f64,
        #[serde(default = "markov_sharpness")]
        sharpness: f64,
        #[serde(default)]
        seed: u64,
        /// Also evaluate a validation split (its own sequences).
        #[serde(default)]
        validation: bool,
    },
    /// A user's own data: inputs and targets from `.npy` or CSV files (one sample per row; a CSV
    /// header is detected). `task = "classification"` reads integer labels from the targets,
    /// `"regression"` real values; `input_shape` reshapes each input row (for conv nets).
    Files {
        inputs: String,
        targets: String,
        task: FilesTask,
        #[serde(default)]
        input_shape: Option<Vec<usize>>,
        #[serde(default = "quarter")]
        test_fraction: f64,
        #[serde(default)]
        validation: f64,
    },
}

/// How a text is tokenised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VocabKind {
    /// The sorted distinct characters of the whole text.
    #[default]
    Char,
    /// The 256 byte values of its UTF-8 encoding.
    Byte,
}

/// The task of a `files` data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilesTask {
    Classification,
    Regression,
}

impl DataConfig {
    /// The task this data set poses.
    pub fn task(&self) -> TaskKind {
        match self {
            DataConfig::Mnist { .. }
            | DataConfig::Digits { .. }
            | DataConfig::TwoSpirals { .. }
            | DataConfig::Sbm { .. }
            | DataConfig::ModularAddition { .. }
            | DataConfig::Files {
                task: FilesTask::Classification,
                ..
            } => TaskKind::Classification,
            DataConfig::SmoothRegression { .. }
            | DataConfig::FunctionFit { .. }
            | DataConfig::Files {
                task: FilesTask::Regression,
                ..
            } => TaskKind::Regression,
            DataConfig::Text { .. } => TaskKind::LanguageModel,
            DataConfig::MarkovRecall { .. } => TaskKind::LengthExtrapolation,
        }
    }

    /// The generator of an `sbm` data set; `None` for others.
    pub fn sbm(&self) -> Option<nonlin_data::SbmConfig> {
        let DataConfig::Sbm {
            nodes,
            classes,
            p_in,
            p_out,
            features,
            separation,
            noise,
            seed,
            ..
        } = *self
        else {
            return None;
        };
        Some(nonlin_data::SbmConfig {
            nodes,
            classes,
            p_in,
            p_out,
            features,
            separation,
            noise,
            seed,
        })
    }

    /// Whether a validation split is asked for.
    pub fn has_validation(&self) -> bool {
        match *self {
            DataConfig::Mnist { validation, .. }
            | DataConfig::Digits { validation, .. }
            | DataConfig::TwoSpirals { validation, .. }
            | DataConfig::Sbm { validation, .. }
            | DataConfig::ModularAddition { validation, .. }
            | DataConfig::SmoothRegression { validation, .. }
            | DataConfig::FunctionFit { validation, .. }
            | DataConfig::Text { validation, .. }
            | DataConfig::Files { validation, .. } => validation > 0.0,
            DataConfig::MarkovRecall { validation, .. } => validation,
        }
    }
}

fn quarter() -> f64 {
    0.25
}
fn one_f64() -> f64 {
    1.0
}
fn is_one(x: &f64) -> bool {
    *x == 1.0
}
fn half() -> f64 {
    0.5
}
fn tenth() -> f64 {
    0.1
}
fn fifth() -> f64 {
    0.2
}
fn sbm_nodes() -> usize {
    nonlin_data::SbmConfig::default().nodes
}
fn sbm_classes() -> usize {
    nonlin_data::SbmConfig::default().classes
}
fn sbm_p_in() -> f64 {
    nonlin_data::SbmConfig::default().p_in
}
fn sbm_p_out() -> f64 {
    nonlin_data::SbmConfig::default().p_out
}
fn sbm_features() -> usize {
    nonlin_data::SbmConfig::default().features
}
fn sbm_separation() -> f64 {
    nonlin_data::SbmConfig::default().separation
}
/// ForwardGNN's 64 / 16 / 20 node split.
fn sbm_validation() -> f64 {
    0.16
}
fn spiral_points() -> usize {
    500
}
fn spiral_noise() -> f64 {
    0.1
}
fn fit_points() -> usize {
    4096
}
fn smooth_points() -> usize {
    4000
}
fn smooth_dims() -> usize {
    4
}
fn smooth_terms() -> usize {
    6
}
fn markov_train_sequences() -> usize {
    8000
}
fn markov_eval_sequences() -> usize {
    32
}
fn markov_symbols() -> usize {
    16
}
fn markov_keys() -> usize {
    8
}
fn markov_pairs() -> usize {
    4
}
fn markov_query_rate() -> f64 {
    0.0625
}
fn markov_sharpness() -> f64 {
    2.0
}

/// The training budget and loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Passes over the training split (give this or `steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Optimizer steps (give this or `epochs`); training may stop part-way through an epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
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
    /// Evaluate the held-out splits every this many steps (besides after every epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<u64>,
    /// Evaluate after every epoch.
    #[serde(default = "yes")]
    pub eval_each_epoch: bool,
    /// A checkpoint is written every this many epochs (0: only at the end).
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// A checkpoint is also written every this many steps, mid-epoch if need be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every_steps: Option<u64>,
    /// Seed of the data split (the run seed drives initialisation and shuffling).
    #[serde(default)]
    pub split_seed: u64,
    /// Clip the global gradient norm to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Parameter groups with their own learning-rate scale and weight decay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_groups: Vec<ParamGroupConfig>,
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
fn yes() -> bool {
    true
}

/// Initial weights from a safetensors file written elsewhere, with a name map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitFrom {
    /// The safetensors file.
    pub path: String,
    /// `[pattern, replacement]` regular-expression pairs applied in order to the file's names.
    #[serde(default)]
    pub rename: Vec<[String; 2]>,
    /// The file comes from PyTorch (linear weights `[out, in]`, names without enum variants).
    #[serde(default)]
    pub pytorch: bool,
    /// Accept a file that lacks some parameters.
    #[serde(default)]
    pub allow_partial: bool,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitFrom>,
}

impl RunConfig {
    /// The optimisation settings rules build their optimizers from.
    pub fn optimizer_setup(&self) -> OptimizerSetup {
        OptimizerSetup {
            optimizer: self.optimizer.clone(),
            groups: self.train.param_groups.clone(),
            clip_grad_norm: self.train.clip_grad_norm,
        }
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
    /// ... or against the same metric of this arm ...
    #[serde(default)]
    pub than_arm: Option<String>,
    /// ... or against this metric (of `than_arm` when given, else of `arm`), e.g. a baseline
    /// the task computes (`test_bigram_loss`).
    #[serde(default)]
    pub than_metric: Option<String>,
    /// Added to the reference: `test_loss <= test_bigram_loss + offset` with `offset = -0.6`
    /// says "beats the bigram by at least 0.6".
    #[serde(default)]
    pub offset: f64,
    /// Multiplies the reference metric (only with `than_arm`/`than_metric`): `test_mse <= 0.8 ×
    /// test_mse of relu` is `factor = 0.8`. The reference is `factor × metric + offset`.
    #[serde(default = "one_f64", skip_serializing_if = "is_one")]
    pub factor: f64,
    /// Which statistic over seeds is compared (for both sides): `mean` (default), `std`, `min`
    /// or `max`; e.g. "the across-seed spread of C is at most B's" is `stat = "std"`.
    #[serde(default, skip_serializing_if = "ClaimStat::is_mean")]
    pub stat: ClaimStat,
    /// Slack in the claim's favour (for `~=`, the allowed distance).
    #[serde(default)]
    pub tolerance: f64,
    /// Where the claim comes from (table, figure, section).
    #[serde(default)]
    pub source: Option<String>,
}

/// The statistic over seeds a claim compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStat {
    #[default]
    Mean,
    /// The sample standard deviation over seeds.
    Std,
    Min,
    Max,
}

impl ClaimStat {
    fn is_mean(&self) -> bool {
        *self == ClaimStat::Mean
    }
}

impl fmt::Display for ClaimStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimStat::Mean => "mean",
            ClaimStat::Std => "std",
            ClaimStat::Min => "min",
            ClaimStat::Max => "max",
        })
    }
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
    init_from: Option<Table>,
    #[serde(default)]
    arm: Vec<ArmSpec>,
    /// Arms left out of this variant, with the claims that name them: a `[quick]` table sets
    /// `skip_arms = ["mnist_mf"]` so the fast variant runs only the small-data arms.
    #[serde(default)]
    skip_arms: Vec<String>,
    #[serde(default)]
    claim: Vec<ClaimSpec>,
    /// Dotted overrides applied by `--quick` (the variant CI runs).
    #[serde(default)]
    quick: BTreeMap<String, Value>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// The tables of a run config; overrides of their keys apply to every arm.
const RUN_KEYS: &[&str] = &["data", "model", "rule", "optimizer", "train", "init_from"];

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

    /// Parses a spec from text; `source` names it in errors. Overrides of the run config
    /// (`data.*`, `model.*`, `rule.*`, `optimizer.*`, `train.*`, `init_from.*`) apply to every arm
    /// after the arm's own `set`, so they always win; other overrides (`seeds`, `name`) apply to
    /// the file.
    pub fn from_text(text: &str, source: &str, overrides: &[Override]) -> Result<Self, LabError> {
        let spec_err = |key: String, reason: String| LabError::Spec {
            file: source.to_string(),
            key,
            reason,
        };
        let mut root: Table = toml::from_str(text)
            .map_err(|e| spec_err("(syntax)".into(), e.to_string().trim().to_string()))?;
        let (run_overrides, file_overrides): (Vec<&Override>, Vec<&Override>) = overrides
            .iter()
            .partition(|o| RUN_KEYS.contains(&o.path.split('.').next().unwrap_or_default()));
        for o in file_overrides {
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
        for key in RUN_KEYS {
            if let Some(v) = root.get(*key) {
                base.insert(key.to_string(), v.clone());
            }
        }
        let mut arms_spec = if file.arm.is_empty() {
            vec![ArmSpec {
                name: "base".into(),
                set: BTreeMap::new(),
            }]
        } else {
            file.arm.clone()
        };
        for skipped in &file.skip_arms {
            if !arms_spec.iter().any(|a| &a.name == skipped) {
                return Err(spec_err(
                    "skip_arms".into(),
                    format!("no arm named `{skipped}`"),
                ));
            }
        }
        arms_spec.retain(|a| !file.skip_arms.contains(&a.name));
        if arms_spec.is_empty() {
            return Err(spec_err("skip_arms".into(), "every arm is skipped".into()));
        }
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
            for o in &run_overrides {
                o.apply(&mut table).map_err(|reason| {
                    spec_err(o.path.clone(), format!("cannot override: {reason}"))
                })?;
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
        let task_of = |arm: &str| {
            arms.iter()
                .find(|(name, _)| name == arm)
                .map(|(_, c)| c.data.task())
        };

        let mut metrics = Vec::new();
        for metric in &file.metrics {
            let mut key = None;
            for (_, config) in &arms {
                let name = MetricName::parse(metric, config.data.task())
                    .map_err(|e| spec_err("metrics".into(), e.0))?;
                key = Some(name.key());
            }
            metrics.extend(key);
        }
        let mut claims = file.claim.clone();
        claims.retain(|c| {
            !c.arm
                .iter()
                .chain(&c.than_arm)
                .any(|arm| file.skip_arms.contains(arm))
        });
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
            let against_other = claim.than_arm.is_some() || claim.than_metric.is_some();
            if claim.value.is_some() == against_other {
                return Err(spec_err(
                    key,
                    "give either `value`, or `than_arm` and/or `than_metric`".into(),
                ));
            }
            for arm in claim.arm.iter().chain(&claim.than_arm) {
                if !arms.iter().any(|(name, _)| name == arm) {
                    return Err(spec_err(key.clone(), format!("no arm named `{arm}`")));
                }
            }
            let arm = claim.arm.clone().expect("set above");
            let kind = task_of(&arm).expect("the arm exists");
            claim.metric = MetricName::parse(&claim.metric, kind)
                .map_err(|e| spec_err(key.clone(), e.0))?
                .key();
            if let Some(than) = &claim.than_metric {
                let other = claim.than_arm.as_deref().unwrap_or(&arm);
                let kind = task_of(other).expect("the arm exists");
                claim.than_metric = Some(
                    MetricName::parse(than, kind)
                        .map_err(|e| spec_err(key.clone(), e.0))?
                        .key(),
                );
            }
            if !(claim.tolerance.is_finite() && claim.tolerance >= 0.0) {
                return Err(spec_err(key, "tolerance must be a number >= 0".into()));
            }
            if !claim.offset.is_finite() || claim.value.is_some_and(|v| !v.is_finite()) {
                return Err(spec_err(key, "value and offset must be finite".into()));
            }
            if !(claim.factor.is_finite() && claim.factor > 0.0) {
                return Err(spec_err(key, "factor must be a positive number".into()));
            }
            if claim.factor != 1.0 && claim.value.is_some() {
                return Err(spec_err(
                    key,
                    "factor scales another metric: use it with `than_arm` or `than_metric`, not `value`"
                        .into(),
                ));
            }
        }

        Ok(Experiment {
            name: file.name,
            description: file.description,
            seeds: file.seeds,
            metrics,
            arms,
            claims,
            source: source.to_string(),
            overrides: overrides
                .iter()
                .map(|o| format!("{}={}", o.path, o.value))
                .collect(),
        })
    }

    /// The derived metrics (`min(val_loss)`, ...) the experiment's claims and report ask for.
    pub fn derived_metrics(&self) -> Vec<Derived> {
        let mut out: Vec<Derived> = Vec::new();
        let names = self
            .metrics
            .iter()
            .chain(self.claims.iter().map(|c| &c.metric))
            .chain(self.claims.iter().filter_map(|c| c.than_metric.as_ref()));
        for name in names {
            for (_, config) in &self.arms {
                if let Ok(MetricName::Derived(d)) = MetricName::parse(name, config.data.task())
                    && !out.contains(&d)
                {
                    out.push(d);
                }
            }
        }
        out
    }

    /// The parameter statistics (`max_abs_param(*.Crrelu.epsilon)`, ...) the experiment's claims
    /// and report ask for; computed on each unit's trained model.
    pub fn param_metrics(&self) -> Vec<ParamStat> {
        let mut out: Vec<ParamStat> = Vec::new();
        let names = self
            .metrics
            .iter()
            .chain(self.claims.iter().map(|c| &c.metric))
            .chain(self.claims.iter().filter_map(|c| c.than_metric.as_ref()));
        for name in names {
            for (_, config) in &self.arms {
                if let Ok(MetricName::Param(p)) = MetricName::parse(name, config.data.task())
                    && !out.contains(&p)
                {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The feature probes (`feature_diversity(last)`, ...) the experiment's claims and report ask
    /// for; computed on each unit's trained model.
    pub fn feature_metrics(&self) -> Vec<FeatureStat> {
        let mut out: Vec<FeatureStat> = Vec::new();
        let names = self
            .metrics
            .iter()
            .chain(self.claims.iter().map(|c| &c.metric))
            .chain(self.claims.iter().filter_map(|c| c.than_metric.as_ref()));
        for name in names {
            for (_, config) in &self.arms {
                if let Ok(MetricName::Feature(p)) = MetricName::parse(name, config.data.task())
                    && !out.contains(&p)
                {
                    out.push(p);
                }
            }
        }
        out
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
    match (t.epochs, t.steps) {
        (Some(0), _) => return Err(("train.epochs".into(), "must be at least 1".into())),
        (_, Some(0)) => return Err(("train.steps".into(), "must be at least 1".into())),
        (Some(_), None) | (None, Some(_)) => {}
        _ => {
            return Err((
                "train.epochs".into(),
                "give exactly one of `train.epochs` and `train.steps`".into(),
            ));
        }
    }
    if t.batch_size == 0 || t.eval_batch_size == 0 {
        return Err((
            "train.batch_size".into(),
            "batch sizes must be at least 1".into(),
        ));
    }
    for (key, value) in [
        ("train.log_every", Some(t.log_every)),
        ("train.eval_every", t.eval_every),
        ("train.checkpoint_every_steps", t.checkpoint_every_steps),
    ] {
        if value == Some(0) {
            return Err((key.into(), "must be at least 1".into()));
        }
    }
    t.schedule
        .validate()
        .map_err(|e| ("train.schedule".to_string(), e.to_string()))?;
    config.optimizer_setup().validate().map_err(|e| {
        (
            "optimizer / train.param_groups / train.clip_grad_norm".to_string(),
            e.to_string(),
        )
    })?;
    config
        .rule
        .validate()
        .map_err(|e| ("rule".to_string(), e.to_string()))?;
    config
        .model
        .validate()
        .map_err(|e| ("model".to_string(), e.to_string()))?;
    let fraction = |key: &str, f: f64, max: f64| {
        if (0.0..max).contains(&f) {
            Ok(())
        } else {
            Err((key.to_string(), format!("must be in [0, {max}), got {f}")))
        }
    };
    let test_and_validation = |test_fraction: f64, validation: f64| {
        fraction("data.test_fraction", test_fraction, 1.0)?;
        if test_fraction == 0.0 {
            return Err((
                "data.test_fraction".to_string(),
                "must be above 0: the test split would be empty".to_string(),
            ));
        }
        fraction("data.validation", validation, 1.0 - test_fraction)
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
        }
        | DataConfig::Files {
            test_fraction,
            validation,
            ..
        }
        | DataConfig::Text {
            test_fraction,
            validation,
            ..
        } => test_and_validation(*test_fraction, *validation)?,
        DataConfig::SmoothRegression {
            n,
            dims,
            terms,
            noise,
            test_fraction,
            validation,
            ..
        } => {
            test_and_validation(*test_fraction, *validation)?;
            if *n == 0 || *dims < 2 || *terms == 0 {
                return Err((
                    "data".into(),
                    format!(
                        "smooth_regression needs n >= 1, dims >= 2, terms >= 1; got n {n}, dims {dims}, terms {terms}"
                    ),
                ));
            }
            if !(noise.is_finite() && *noise >= 0.0) {
                return Err(("data.noise".into(), format!("must be >= 0, got {noise}")));
            }
        }
        DataConfig::FunctionFit {
            function,
            n,
            test_fraction,
            validation,
            ..
        } => {
            test_and_validation(*test_fraction, *validation)?;
            if *n == 0 {
                return Err(("data.n".into(), "must be at least 1".into()));
            }
            function
                .parse::<nonlin_data::FitFunction>()
                .map_err(|e| ("data.function".to_string(), e.to_string()))?;
        }
        DataConfig::Sbm {
            test_fraction,
            validation,
            ..
        } => {
            test_and_validation(*test_fraction, *validation)?;
            config
                .data
                .sbm()
                .expect("an sbm data config")
                .validate()
                .map_err(|(key, why)| (format!("data.{key}"), why))?;
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
        DataConfig::MarkovRecall {
            context,
            train_sequences,
            eval_sequences,
            ..
        } => {
            for (key, value) in [
                ("data.context", *context),
                ("data.train_sequences", *train_sequences),
                ("data.eval_sequences", *eval_sequences),
            ] {
                if value == 0 {
                    return Err((key.into(), "must be at least 1".into()));
                }
            }
        }
    }
    if let DataConfig::Text {
        corpus,
        path,
        context,
        eval_tokens,
        limit,
        ..
    } = &config.data
    {
        if corpus.is_some() == path.is_some() {
            return Err((
                "data.corpus".into(),
                "give exactly one of `corpus` (a named data set) and `path` (a file)".into(),
            ));
        }
        for (key, value) in [
            ("data.context", Some(*context)),
            ("data.eval_tokens", *eval_tokens),
            ("data.limit", *limit),
        ] {
            if value == Some(0) {
                return Err((key.into(), "must be at least 1".into()));
            }
        }
    }
    if let DataConfig::Files {
        input_shape: Some(shape),
        ..
    } = &config.data
        && (shape.is_empty() || shape.contains(&0))
    {
        return Err((
            "data.input_shape".into(),
            format!("must be non-empty with positive axes, got {shape:?}"),
        ));
    }
    Ok(())
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
        assert!(matches!(&tanh.model, ModelConfig::Mlp(m) if m.activation == "tanh"));
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
            assert_eq!(arm.train.epochs, Some(7));
            assert!(matches!(&arm.model, ModelConfig::Mlp(m) if m.hidden == vec![8, 8]));
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

    /// `skip_arms` (set by a `[quick]` table) leaves arms out, with the claims that name them.
    #[test]
    fn skipped_arms_and_their_claims_are_left_out() {
        let text = format!(
            "{SPEC}\n[[claim]]\nname = \"tanh works\"\nmetric = \"test_accuracy\"\narm = \"tanh\"\nop = \">=\"\nvalue = 0.5\n"
        );
        let full = Experiment::from_text(&text, "spec.toml", &[]).unwrap();
        let skip = Override::parse("skip_arms=[\"tanh\"]").unwrap();
        let e = Experiment::from_text(&text, "spec.toml", std::slice::from_ref(&skip)).unwrap();
        assert_eq!(e.arms.len(), full.arms.len() - 1);
        assert!(e.arms.iter().all(|(name, _)| name != "tanh"));
        assert_eq!(e.claims.len(), full.claims.len() - 1);
        assert!(e.claims.iter().all(|c| c.arm.as_deref() != Some("tanh")));
        let bad = Override::parse("skip_arms=[\"nope\"]").unwrap();
        let err = Experiment::from_text(&text, "spec.toml", &[bad]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// Bug: command-line and `[quick]` overrides were applied before each arm's own `set`, so an
    /// arm's setting silently won (`model.activation=silu` ran silu only in the arm without its
    /// own activation). Overrides must reach every arm, after its `set`.
    #[test]
    fn overrides_win_over_each_arms_own_settings() {
        let o = vec![
            Override::parse("model.activation=silu").unwrap(),
            Override::parse("train.lr=0.5").unwrap(),
        ];
        let e = Experiment::from_text(SPEC, "spec.toml", &o).unwrap();
        for (name, arm) in &e.arms {
            assert!(
                matches!(&arm.model, ModelConfig::Mlp(m) if m.activation == "silu"),
                "arm {name}: {:?}",
                arm.model
            );
            assert_eq!(arm.train.lr, 0.5, "arm {name}");
        }
        // Overrides of the file itself still apply at the top level.
        let e = Experiment::from_text(SPEC, "spec.toml", &[Override::parse("seeds=[4]").unwrap()])
            .unwrap();
        assert_eq!(e.seeds, vec![4]);
    }

    #[test]
    fn budgets_claims_and_derived_metrics() {
        // steps instead of epochs; exactly one of them
        let steps = SPEC.replace("epochs = 2", "steps = 30\neval_every = 10");
        let e = Experiment::from_text(&steps, "spec.toml", &[]).unwrap();
        assert_eq!(e.arms[0].1.train.steps, Some(30));
        assert!(err(&steps, &["train.epochs=2"]).contains("exactly one"));
        assert!(err(&steps, &["train.steps=0"]).contains("train.steps"));
        assert!(err(&steps, &["train.eval_every=0"]).contains("train.eval_every"));
        // a derived metric in a claim is canonicalised and listed
        let derived = SPEC.replace(
            "metric = \"test_accuracy\"",
            "metric = \"first_step( test_accuracy>=0.9)\"",
        );
        let e = Experiment::from_text(&derived, "spec.toml", &[]).unwrap();
        assert_eq!(e.claims[0].metric, "first_step(test_accuracy >= 0.9)");
        assert_eq!(e.derived_metrics().len(), 1);
        // than_metric with an offset
        let baseline = SPEC.replace(
            "value = 0.9",
            "than_metric = \"val_accuracy\"\noffset = -0.1",
        );
        let e = Experiment::from_text(&baseline, "spec.toml", &[]).unwrap();
        assert_eq!(e.claims[0].than_metric.as_deref(), Some("val_accuracy"));
        let bad = SPEC.replace("value = 0.9", "than_metric = \"val_acc\"");
        assert!(err(&bad, &[]).contains("val_acc"));
        let none = SPEC.replace("value = 0.9", "");
        assert!(err(&none, &[]).contains("`value`"));
        let nan = SPEC.replace("value = 0.9", "value = nan");
        assert!(err(&nan, &[]).contains("finite"));
        // a factor scales a reference metric, is positive, and does not go with a value
        let scaled = SPEC.replace(
            "value = 0.9",
            "than_metric = \"val_accuracy\"\nfactor = 1.1",
        );
        let e = Experiment::from_text(&scaled, "spec.toml", &[]).unwrap();
        assert_eq!(e.claims[0].factor, 1.1);
        for bad in ["0", "-1", "nan", "inf"] {
            let text = SPEC.replace(
                "value = 0.9",
                &format!("than_metric = \"val_accuracy\"\nfactor = {bad}"),
            );
            assert!(err(&text, &[]).contains("factor"), "{bad}");
        }
        let with_value = SPEC.replace("value = 0.9", "value = 0.9\nfactor = 2");
        assert!(err(&with_value, &[]).contains("factor"));
        // metrics of another task are refused
        assert!(err(SPEC, &["metrics=[\"test_rel_l2\"]"]).contains("test_rel_l2"));
        let o = Override::parse("metrics=[\"peak_rss_mb\", \"max( val_accuracy )\"]").unwrap();
        let e = Experiment::from_text(SPEC, "spec.toml", &[o]).unwrap();
        assert_eq!(e.metrics, vec!["peak_rss_mb", "max(val_accuracy)"]);
    }

    /// Edges of every new data and training field: zero, NaN, empty, sums to exactly 1.
    #[test]
    fn new_fields_reject_bad_values() {
        let smooth = r#"
name = "s"
[data]
dataset = "smooth_regression"
[model]
kind = "mlp"
hidden = [8]
[train]
lr = 0.01
epochs = 1
"#;
        assert!(Experiment::from_text(smooth, "s.toml", &[]).is_ok());
        for (o, key) in [
            ("data.n=0", "data"),
            ("data.dims=1", "data"),
            ("data.noise=-1.0", "data.noise"),
            ("data.noise=nan", "data.noise"),
            ("data.test_fraction=0.0", "data.test_fraction"),
            ("data.test_fraction=1.0", "data.test_fraction"),
            ("data.validation=0.75", "data.validation"),
            ("train.clip_grad_norm=0.0", "clip_grad_norm"),
            ("train.clip_grad_norm=nan", "clip_grad_norm"),
            ("train.param_groups=[{params = []}]", "param_groups"),
            (
                "train.param_groups=[{params = [\"*\"], lr_scale = -1.0}]",
                "param_groups",
            ),
            ("rule.kind=mono_forward", ""),
            ("rule.kind=nope", "rule"),
            ("model.activation=swishy", "model"),
        ] {
            let o = Override::parse(o).unwrap();
            match Experiment::from_text(smooth, "s.toml", std::slice::from_ref(&o)) {
                Ok(_) => assert!(key.is_empty(), "{o:?} was accepted"),
                Err(e) => assert!(e.to_string().contains(key), "{o:?}: {e}"),
            }
        }
        let text = r#"
name = "t"
[data]
dataset = "text"
corpus = "shakespeare"
context = 8
[model]
kind = "context_mlp"
[train]
lr = 0.01
steps = 10
"#;
        assert!(Experiment::from_text(text, "t.toml", &[]).is_ok());
        for (o, key) in [
            ("data.context=0", "data.context"),
            ("data.eval_tokens=0", "data.eval_tokens"),
            ("data.path=\"x.txt\"", "data.corpus"),
            ("data.vocab=word", "`word`, expected `char` or `byte`"),
        ] {
            let o = Override::parse(o).unwrap();
            let e = Experiment::from_text(text, "t.toml", std::slice::from_ref(&o)).unwrap_err();
            assert!(e.to_string().contains(key), "{o:?}: {e}");
        }
        // A language-model claim on bits per character is a known metric.
        let claim = format!(
            "{text}\n[[claim]]\nname = \"c\"\nmetric = \"test_bpc\"\nop = \"<\"\nthan_metric = \"test_bigram_loss\"\n"
        );
        assert!(Experiment::from_text(&claim, "t.toml", &[]).is_ok());
    }

    /// The stochastic-block-model data set: every field's bad values name the field.
    #[test]
    fn sbm_fields_reject_bad_values() {
        let sbm = r#"
name = "g"
[data]
dataset = "sbm"
[model]
kind = "gcn"
hidden = [8]
[train]
lr = 0.01
epochs = 1
"#;
        assert!(Experiment::from_text(sbm, "g.toml", &[]).is_ok());
        for (o, key) in [
            ("data.nodes=0", "data.nodes"),
            ("data.classes=1", "data.classes"),
            ("data.features=0", "data.features"),
            ("data.p_in=1.5", "data.p_in"),
            ("data.p_in=-0.5", "data.p_in"),
            ("data.p_in=nan", "data.p_in"),
            ("data.p_out=nan", "data.p_out"),
            ("data.p_out=2.0", "data.p_out"),
            ("data.separation=nan", "data.separation"),
            ("data.noise=-1.0", "data.noise"),
            ("data.noise=inf", "data.noise"),
            ("data.test_fraction=0.0", "data.test_fraction"),
            ("data.validation=0.9", "data.validation"),
            ("data.validation=nan", "data.validation"),
        ] {
            let o = Override::parse(o).unwrap();
            let e = Experiment::from_text(sbm, "g.toml", std::slice::from_ref(&o)).unwrap_err();
            assert!(e.to_string().contains(key), "{o:?}: {e}");
        }
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
        assert!(e.contains("model") && e.contains("swishy(x)"), "{e}");
    }

    #[test]
    fn range_and_claim_errors() {
        assert!(err(SPEC, &["train.lr=-1"]).contains("train.lr"));
        assert!(err(SPEC, &["train.epochs=0"]).contains("train.epochs"));
        assert!(err(SPEC, &["train.lr=nan"]).contains("train.lr"));
        let bad_arm = SPEC.replace("arm = \"relu\"", "arm = \"sigmoid\"");
        assert!(err(&bad_arm, &[]).contains("no arm named `sigmoid`"));
        let typo = SPEC.replace("metric = \"test_accuracy\"", "metric = \"test_acc\"");
        assert!(err(&typo, &[]).contains("unknown metric `test_acc`"));
        assert!(err(SPEC, &["metrics=[\"accuracy\"]"]).contains("unknown metric"));
        let both = SPEC.replace("value = 0.9", "value = 0.9\nthan_arm = \"tanh\"");
        assert!(err(&both, &[]).contains("either `value`"));
        assert!(err("name = [", &[]).contains("syntax"));
        // a factor: positive and finite, and only against another metric
        let factor_with_value = SPEC.replace("value = 0.9", "value = 0.9\nfactor = 0.8");
        assert!(err(&factor_with_value, &[]).contains("factor"));
        let against = SPEC.replace("value = 0.9", "than_arm = \"tanh\"");
        for bad in ["0.0", "-0.8", "nan", "inf"] {
            let text = against.replace("than_arm = ", &format!("factor = {bad}\nthan_arm = "));
            assert!(err(&text, &[]).contains("factor"), "{bad}");
        }
        let good = against.replace("than_arm = ", "factor = 0.8\nthan_arm = ");
        let e = Experiment::from_text(&good, "spec.toml", &[]).unwrap();
        assert_eq!(e.claims[0].factor, 0.8);
    }
}
