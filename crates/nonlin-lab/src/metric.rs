//! The metric names an experiment reports and claims check.
//!
//! - Final metrics of a unit: `val_<m>` and `test_<m>` for each metric `m` its task evaluates
//!   (`nonlin_learn::TaskKind::eval_metrics`), `train_<m>` for the means over the last epoch of
//!   what the rule reports (`train_loss`, `train_accuracy`, a local rule's `train_loss_layer1`,
//!   ...), `steps`, and `diverged` (1 when the training loss became non-finite, else 0).
//! - Resource figures, kept apart from the metrics (they are not reproducible bit for bit):
//!   `params`, `wall_s`, `train_s`, `steps_per_s`, `samples_per_s` (`tokens_per_s` for language
//!   models), `peak_rss_mb`.
//! - Derived metrics, computed from a unit's logged series: `min(val_loss)`, `max(test_accuracy)`,
//!   `argmin(val_loss)` and `argmax(test_accuracy)` (the step of the best value), and
//!   `first_step(val_loss <= 0.1)` (the first logged step where the condition holds; NaN when it
//!   never does, so a claim on it fails).
//! - Parameter statistics of the trained model, over every float parameter whose path matches a
//!   glob (`*` any run, `?` one character; the paths of `docs/architecture.md`):
//!   `max_abs_param(*.Crrelu.epsilon)` (the largest |value|) and `mean_param(*.Crrelu.epsilon)`
//!   (the mean of all matching values); NaN when no parameter matches, so a claim on it fails.
//! - Feature probes of the trained model ([`nonlin_nn::Network::features`]) on the first
//!   [`FEATURE_ITEMS`] training items: `feature_diversity(k)`, the relative diversity
//!   d_M(Z)/‖Z‖_F of representation `k` (an index from the input side, or `last`) averaged over
//!   its groups (sequences), and `feature_dim(k, 0.8)`, the effective dimension d(0.8) of its
//!   rows pooled (`nonlin_theory::feature_diversity`); NaN for models without features.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use nonlin_learn::TaskKind;

use crate::metrics_log::MetricRecord;
use serde::{Deserialize, Serialize};

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

impl Op {
    /// Whether `difference = measured - reference` satisfies the comparison with `tolerance` of
    /// slack in the claim's favour. A NaN difference never does.
    pub fn holds(self, difference: f64, tolerance: f64) -> bool {
        match self {
            Op::AtLeast => difference >= -tolerance,
            Op::Above => difference > -tolerance,
            Op::AtMost => difference <= tolerance,
            Op::Below => difference < tolerance,
            Op::About => difference.abs() <= tolerance,
        }
    }
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

/// Resource figures every unit reports.
pub const RESOURCES: &[&str] = &[
    "params",
    "wall_s",
    "train_s",
    "steps_per_s",
    "samples_per_s",
    "tokens_per_s",
    "peak_rss_mb",
];

/// A metric name as written in an experiment file.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricName {
    /// A final metric (`test_accuracy`, `train_loss`, `steps`).
    Final(String),
    /// A resource figure (`peak_rss_mb`).
    Resource(String),
    /// A metric derived from a logged series.
    Derived(Derived),
    /// A statistic of the trained model's parameters.
    Param(ParamStat),
    /// A probe of the trained model's representations.
    Feature(FeatureStat),
}

/// Training items the feature probes read (the first ones, in order).
pub const FEATURE_ITEMS: usize = 64;

/// A probe of the model's representations ([`nonlin_nn::Network::features`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStat {
    pub kind: FeatureStatKind,
    /// Which representation: `Some(k)` the k-th from the input side, `None` the last.
    pub layer: Option<usize>,
}

/// Which probe a [`FeatureStat`] computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureStatKind {
    /// Relative diversity d_M(Z)/‖Z‖_F, averaged over groups.
    Diversity,
    /// Effective dimension d(q) of the pooled rows.
    Dimension(f64),
}

impl FeatureStat {
    /// Computes the probe on representations `[groups, rows, width]` (NaN when the layer does not
    /// exist).
    pub fn compute(&self, features: &[burn::tensor::Tensor<3>]) -> f64 {
        use nonlin_theory::feature_diversity::{Features, effective_dimension, relative_diversity};
        let index = match self.layer {
            Some(k) => k,
            None => features.len().saturating_sub(1),
        };
        let Some(z) = features.get(index) else {
            return f64::NAN;
        };
        let [groups, rows, width] = z.dims();
        let values = match z.clone().into_data().try_into_vec_as::<f64>() {
            Ok(v) => v,
            Err(_) => return f64::NAN,
        };
        match self.kind {
            FeatureStatKind::Diversity => {
                let per_group = rows * width;
                (0..groups)
                    .map(|g| {
                        relative_diversity(Features::new(
                            &values[g * per_group..(g + 1) * per_group],
                            rows,
                            width,
                        ))
                    })
                    .sum::<f64>()
                    / groups.max(1) as f64
            }
            FeatureStatKind::Dimension(q) => {
                effective_dimension(Features::new(&values, groups * rows, width), q) as f64
            }
        }
    }
}

impl fmt::Display for FeatureStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer = match self.layer {
            Some(k) => k.to_string(),
            None => "last".to_string(),
        };
        match self.kind {
            FeatureStatKind::Diversity => write!(f, "feature_diversity({layer})"),
            FeatureStatKind::Dimension(q) => write!(f, "feature_dim({layer}, {q})"),
        }
    }
}

/// A statistic of the values of the parameters whose paths match `pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamStat {
    pub kind: ParamStatKind,
    /// Glob on parameter paths (`*.Crrelu.epsilon`).
    pub pattern: String,
}

/// Which statistic a [`ParamStat`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStatKind {
    /// The largest absolute value.
    MaxAbs,
    /// The mean value.
    Mean,
}

impl ParamStat {
    /// Computes the statistic on `model` (NaN when no parameter matches).
    pub fn compute<M: burn::module::Module>(&self, model: &M) -> f64 {
        let found = nonlin_nn::weights::param_values(model, &|path: &str| {
            nonlin_learn::optim::glob_match(&self.pattern, path)
        });
        let values: Vec<f64> = found.into_iter().flat_map(|(_, v)| v).collect();
        if values.is_empty() {
            return f64::NAN;
        }
        match self.kind {
            ParamStatKind::MaxAbs => values.iter().fold(0.0, |m, v| {
                if v.is_nan() || m.is_nan() {
                    f64::NAN
                } else {
                    m.max(v.abs())
                }
            }),
            ParamStatKind::Mean => values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

impl fmt::Display for ParamStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let func = match self.kind {
            ParamStatKind::MaxAbs => "max_abs_param",
            ParamStatKind::Mean => "mean_param",
        };
        write!(f, "{func}({})", self.pattern)
    }
}

/// A metric derived from a unit's logged series of `metric` (`val_loss`, `train_loss`, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum Derived {
    Min(String),
    Max(String),
    ArgMin(String),
    ArgMax(String),
    /// The first logged step where `metric op value` holds.
    FirstStep {
        metric: String,
        op: Op,
        value: f64,
    },
}

impl Derived {
    /// The logged metric the series is of.
    pub fn series(&self) -> &str {
        match self {
            Derived::Min(m) | Derived::Max(m) | Derived::ArgMin(m) | Derived::ArgMax(m) => m,
            Derived::FirstStep { metric, .. } => metric,
        }
    }

    /// Computes the value from the unit's records (NaN when the series is empty, or for
    /// `first_step` when the condition never holds).
    pub fn compute(&self, records: &[MetricRecord], arm: &str, seed: u64) -> f64 {
        let (split, name) = split_metric(self.series()).expect("checked when parsed");
        let mut points: BTreeMap<u64, f64> = BTreeMap::new();
        for r in records {
            if r.arm == arm
                && r.seed == seed
                && r.split == split
                && let Some(&v) = r.values.get(name)
            {
                points.insert(r.step, v);
            }
        }
        let best = |better: fn(f64, f64) -> bool| {
            points
                .iter()
                .filter(|(_, v)| !v.is_nan())
                .fold(None::<(u64, f64)>, |acc, (&s, &v)| match acc {
                    Some((_, b)) if !better(v, b) => acc,
                    _ => Some((s, v)),
                })
        };
        match self {
            Derived::Min(_) => best(|v, b| v < b).map_or(f64::NAN, |(_, v)| v),
            Derived::Max(_) => best(|v, b| v > b).map_or(f64::NAN, |(_, v)| v),
            Derived::ArgMin(_) => best(|v, b| v < b).map_or(f64::NAN, |(s, _)| s as f64),
            Derived::ArgMax(_) => best(|v, b| v > b).map_or(f64::NAN, |(s, _)| s as f64),
            Derived::FirstStep { op, value, .. } => points
                .iter()
                .find(|(_, v)| op.holds(**v - value, 0.0))
                .map_or(f64::NAN, |(&s, _)| s as f64),
        }
    }
}

/// `val_loss` -> (`val`, `loss`); the split prefixes of logged series.
fn split_metric(name: &str) -> Option<(&str, &str)> {
    ["train", "val", "test"]
        .into_iter()
        .find_map(|split| {
            name.strip_prefix(split)?
                .strip_prefix('_')
                .map(|m| (split, m))
        })
        .filter(|(_, m)| !m.is_empty())
}

impl fmt::Display for Derived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Derived::Min(m) => write!(f, "min({m})"),
            Derived::Max(m) => write!(f, "max({m})"),
            Derived::ArgMin(m) => write!(f, "argmin({m})"),
            Derived::ArgMax(m) => write!(f, "argmax({m})"),
            Derived::FirstStep { metric, op, value } => {
                write!(f, "first_step({metric} {op} {value})")
            }
        }
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricName::Final(m) | MetricName::Resource(m) => f.write_str(m),
            MetricName::Derived(d) => d.fmt(f),
            MetricName::Param(p) => p.fmt(f),
            MetricName::Feature(p) => p.fmt(f),
        }
    }
}

/// Why a metric name is not one the task reports.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownMetric(pub String);

impl MetricName {
    /// Parses and checks `text` against what a task of `kind` reports.
    pub fn parse(text: &str, kind: TaskKind) -> Result<Self, UnknownMetric> {
        let text = text.trim();
        if RESOURCES.contains(&text) {
            return Ok(MetricName::Resource(text.to_string()));
        }
        if let Some((func, inner)) = text
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .map(|(f, i)| (f.trim(), i.trim()))
        {
            let series = |name: &str| -> Result<String, UnknownMetric> {
                match split_metric(name) {
                    Some(("train", _)) => Ok(name.to_string()),
                    Some((_, m)) if kind.eval_metrics().contains(&m) => Ok(name.to_string()),
                    _ => Err(UnknownMetric(format!(
                        "`{name}` is not a logged series; series are train_<metric> and val_/test_ one of {}",
                        kind.eval_metrics().join(", ")
                    ))),
                }
            };
            let param = |kind| {
                if inner.is_empty() {
                    Err(UnknownMetric(format!(
                        "`{text}`: give a pattern on parameter paths, e.g. `{func}(*.Crrelu.epsilon)`"
                    )))
                } else {
                    Ok(MetricName::Param(ParamStat {
                        kind,
                        pattern: inner.to_string(),
                    }))
                }
            };
            match func {
                "max_abs_param" => return param(ParamStatKind::MaxAbs),
                "mean_param" => return param(ParamStatKind::Mean),
                "feature_diversity" | "feature_dim" => {
                    return parse_feature(func, inner).map(MetricName::Feature);
                }
                _ => {}
            }
            let derived = match func {
                "min" => Derived::Min(series(inner)?),
                "max" => Derived::Max(series(inner)?),
                "argmin" => Derived::ArgMin(series(inner)?),
                "argmax" => Derived::ArgMax(series(inner)?),
                "first_step" => {
                    let (metric, op, value) = parse_condition(inner)?;
                    Derived::FirstStep {
                        metric: series(metric)?,
                        op,
                        value,
                    }
                }
                other => {
                    return Err(UnknownMetric(format!(
                        "unknown function `{other}`; known: min, max, argmin, argmax, first_step, max_abs_param, mean_param, feature_diversity, feature_dim"
                    )));
                }
            };
            return Ok(MetricName::Derived(derived));
        }
        if text == "steps" || text == "diverged" {
            return Ok(MetricName::Final(text.to_string()));
        }
        match split_metric(text) {
            Some(("train", _)) => Ok(MetricName::Final(text.to_string())),
            Some((_, m)) if kind.eval_metrics().contains(&m) => {
                Ok(MetricName::Final(text.to_string()))
            }
            _ => Err(UnknownMetric(format!(
                "unknown metric `{text}`; this {kind:?} task reports val_/test_ one of {}, train_<metric>, steps, the resources {}, and min(..), max(..), argmin(..), argmax(..), first_step(.. <= v), max_abs_param(glob), mean_param(glob), feature_diversity(k), feature_dim(k, q)",
                kind.eval_metrics().join(", "),
                RESOURCES.join(", ")
            ))),
        }
    }

    /// The name as results store it (canonical spacing for derived metrics).
    pub fn key(&self) -> String {
        self.to_string()
    }
}

/// `feature_diversity(last)`, `feature_dim(3, 0.8)`.
fn parse_feature(func: &str, inner: &str) -> Result<FeatureStat, UnknownMetric> {
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let usage = || {
        UnknownMetric(format!(
            "`{func}({inner})`: expected `feature_diversity(k)` or `feature_dim(k, q)` with k a representation index or `last` and q in (0, 1]"
        ))
    };
    let layer = match parts.first().copied() {
        Some("last") => None,
        Some(k) => Some(k.parse::<usize>().map_err(|_| usage())?),
        None => return Err(usage()),
    };
    let kind = match (func, parts.len()) {
        ("feature_diversity", 1) => FeatureStatKind::Diversity,
        ("feature_dim", 2) => {
            let q: f64 = parts[1].parse().map_err(|_| usage())?;
            if !(q > 0.0 && q <= 1.0) {
                return Err(usage());
            }
            FeatureStatKind::Dimension(q)
        }
        _ => return Err(usage()),
    };
    Ok(FeatureStat { kind, layer })
}

/// `val_loss <= 0.1` -> (`val_loss`, `<=`, 0.1).
fn parse_condition(text: &str) -> Result<(&str, Op, f64), UnknownMetric> {
    for (symbol, op) in [
        ("<=", Op::AtMost),
        (">=", Op::AtLeast),
        ("<", Op::Below),
        (">", Op::Above),
    ] {
        if let Some((metric, value)) = text.split_once(symbol) {
            let value: f64 = value.trim().parse().map_err(|_| {
                UnknownMetric(format!("`{text}`: `{}` is not a number", value.trim()))
            })?;
            if !value.is_finite() {
                return Err(UnknownMetric(format!(
                    "`{text}`: the threshold must be finite"
                )));
            }
            return Ok((metric.trim(), op, value));
        }
    }
    Err(UnknownMetric(format!(
        "`{text}`: expected a condition such as `val_loss <= 0.1`"
    )))
}

impl FromStr for Op {
    type Err = UnknownMetric;

    fn from_str(text: &str) -> Result<Self, UnknownMetric> {
        Ok(match text {
            ">=" => Op::AtLeast,
            ">" => Op::Above,
            "<=" => Op::AtMost,
            "<" => Op::Below,
            "~=" => Op::About,
            other => return Err(UnknownMetric(format!("unknown comparison `{other}`"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64, split: &str, loss: f64) -> MetricRecord {
        MetricRecord {
            arm: "a".into(),
            seed: 0,
            epoch: 0,
            step,
            split: split.into(),
            values: BTreeMap::from([("loss".to_string(), loss)]),
        }
    }

    #[test]
    fn parses_and_checks_names() {
        let k = TaskKind::Classification;
        assert_eq!(
            MetricName::parse("test_accuracy", k).unwrap(),
            MetricName::Final("test_accuracy".into())
        );
        assert!(MetricName::parse("train_loss_layer2", k).is_ok());
        assert!(MetricName::parse("steps", k).is_ok());
        assert!(MetricName::parse("diverged", k).is_ok());
        assert_eq!(
            MetricName::parse("peak_rss_mb", k).unwrap(),
            MetricName::Resource("peak_rss_mb".into())
        );
        let d = MetricName::parse("first_step( val_loss<=0.1 )", k).unwrap();
        assert_eq!(d.key(), "first_step(val_loss <= 0.1)");
        assert_eq!(
            MetricName::parse("argmax(test_accuracy)", k).unwrap().key(),
            "argmax(test_accuracy)"
        );
        for bad in [
            "test_acc",
            "test_",
            "accuracy",
            "test_rel_l2",
            "median(val_loss)",
            "max(steps)",
            "first_step(val_loss = 1)",
            "first_step(val_loss <= x)",
            "first_step(val_loss <= inf)",
        ] {
            assert!(MetricName::parse(bad, k).is_err(), "{bad}");
        }
        assert!(MetricName::parse("test_rel_l2", TaskKind::Regression).is_ok());
        assert!(MetricName::parse("test_bpc", TaskKind::LanguageModel).is_ok());
    }

    /// Parameter statistics parse with their glob and compute on a model: an MLP with two CRReLU
    /// layers initialised at ε = 0.2 has max |ε| = 0.2 and mean ε = 0.2; for two
    /// activations at 0.2 and −0.5, max |ε| = 0.5 and the mean (0.2 − 0.5) / 2 = −0.15.
    #[test]
    fn parameter_statistics() {
        use burn::tensor::{Device, Tensor};
        use nonlin_nn::activation::Crrelu;
        use nonlin_nn::{Activation, MlpConfig};

        let k = TaskKind::Classification;
        let name = MetricName::parse("max_abs_param( *.Crrelu.epsilon )", k).unwrap();
        assert_eq!(name.key(), "max_abs_param(*.Crrelu.epsilon)");
        assert!(MetricName::parse("max_abs_param()", k).is_err());
        let (max_abs, mean) = match (name, MetricName::parse("mean_param(*.Crrelu.epsilon)", k)) {
            (MetricName::Param(a), Ok(MetricName::Param(b))) => (a, b),
            other => panic!("{other:?}"),
        };
        let device = Device::flex();
        let mlp = MlpConfig::new(vec![3, 2])
            .with_activation("crrelu(epsilon=0.2)")
            .init(4, 2, &device)
            .unwrap();
        assert!((max_abs.compute(&mlp) - 0.2).abs() < 1e-7);
        assert!((mean.compute(&mlp) - 0.2).abs() < 1e-7);
        let eps = |v: f32| {
            Activation::Crrelu(Crrelu::from_epsilon(Tensor::<1>::from_floats([v], &device)))
        };
        let acts = vec![eps(0.2), eps(-0.5)];
        assert!((max_abs.compute(&acts) - 0.5).abs() < 1e-7);
        assert!((mean.compute(&acts) + 0.15).abs() < 1e-7);
        let none = ParamStat {
            kind: ParamStatKind::Mean,
            pattern: "*.Nothing".into(),
        };
        assert!(none.compute(&mlp).is_nan());
    }

    /// Feature probes parse and compute: two groups of 2 rows × 2 features; group 0
    /// [[1, 2], [3, 4]] has relative diversity 2/sqrt(30) = 0.3651484, group 1 [[1, 1], [1, 1]]
    /// 0, so the mean is 0.1825742. Layer 0 (all zeros) has no variance: d(0.8) = 0.
    #[test]
    fn feature_probes() {
        use burn::tensor::{Device, Tensor, TensorData};
        let k = TaskKind::LanguageModel;
        let d = MetricName::parse("feature_diversity(last)", k).unwrap();
        assert_eq!(d.key(), "feature_diversity(last)");
        let e = MetricName::parse("feature_dim( 1 , 0.8 )", k).unwrap();
        assert_eq!(e.key(), "feature_dim(1, 0.8)");
        for bad in [
            "feature_diversity()",
            "feature_diversity(x)",
            "feature_diversity(1, 0.8)",
            "feature_dim(last)",
            "feature_dim(last, 0)",
            "feature_dim(last, 1.5)",
            "feature_dim(-1, 0.5)",
        ] {
            assert!(MetricName::parse(bad, k).is_err(), "{bad}");
        }
        let device = Device::flex();
        let z = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0], [2, 2, 2]),
            &device,
        );
        let (MetricName::Feature(d), MetricName::Feature(e)) = (d, e) else {
            unreachable!()
        };
        let features = vec![z.clone() * 0.0, z];
        assert!((d.compute(&features) - 0.182_574_2).abs() < 1e-6);
        // layer 0 is all zeros: no variance, dimension 0; layer 1 has 2 directions
        let first = FeatureStat {
            kind: FeatureStatKind::Dimension(0.8),
            layer: Some(0),
        };
        assert_eq!(first.compute(&features), 0.0);
        assert!(e.compute(&features) >= 1.0);
        let missing = FeatureStat {
            kind: FeatureStatKind::Diversity,
            layer: Some(5),
        };
        assert!(missing.compute(&features).is_nan());
        assert!(d.compute(&[]).is_nan());
    }

    #[test]
    fn derived_values_by_hand() {
        // val loss 0.5 @10, 0.2 @20, 0.3 @30, NaN @40; a train record that must be ignored
        let records = vec![
            record(10, "val", 0.5),
            record(20, "val", 0.2),
            record(30, "val", 0.3),
            record(40, "val", f64::NAN),
            record(15, "train", 0.01),
        ];
        let d = |t: &str| match MetricName::parse(t, TaskKind::Classification).unwrap() {
            MetricName::Derived(d) => d.compute(&records, "a", 0),
            _ => unreachable!(),
        };
        assert_eq!(d("min(val_loss)"), 0.2);
        assert_eq!(d("argmin(val_loss)"), 20.0);
        assert_eq!(d("max(val_loss)"), 0.5);
        assert_eq!(d("argmax(val_loss)"), 10.0);
        assert_eq!(d("first_step(val_loss <= 0.3)"), 20.0);
        assert!(d("first_step(val_loss < 0.2)").is_nan());
        assert_eq!(d("first_step(val_loss >= 0.5)"), 10.0);
        assert!(d("min(test_loss)").is_nan());
        assert_eq!(d("min(train_loss)"), 0.01);
    }
}
