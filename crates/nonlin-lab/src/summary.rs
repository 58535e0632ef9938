//! `summary.json`: the final metrics of every arm and seed, their mean and spread per arm, and
//! the verdict on every claim.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::atomic::write_atomic;
use crate::checkpoint::sha256_hex;
use crate::spec::{ClaimSpec, ClaimStat, Experiment, Op, RunConfig};

/// Final metrics of one arm trained from one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    pub arm: String,
    pub seed: u64,
    #[serde(with = "crate::metrics_log::non_finite")]
    pub metrics: BTreeMap<String, f64>,
    /// The step at which the loss became non-finite, if it did.
    pub diverged_at: Option<u64>,
}

/// Mean and spread of a metric over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    #[serde(with = "crate::metrics_log::non_finite::scalar")]
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    #[serde(with = "crate::metrics_log::non_finite::scalar")]
    pub std: f64,
    #[serde(with = "crate::metrics_log::non_finite::scalar")]
    pub min: f64,
    #[serde(with = "crate::metrics_log::non_finite::scalar")]
    pub max: f64,
    pub n: usize,
}

impl Stat {
    /// The statistics of `values` (non-empty).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        // f64::min and f64::max skip NaN, which would hide a diverged seed behind its peers.
        let extreme = |start: f64, pick: fn(f64, f64) -> f64| {
            values.iter().fold(start, |acc, &v| {
                if acc.is_nan() || v.is_nan() {
                    f64::NAN
                } else {
                    pick(acc, v)
                }
            })
        };
        Stat {
            mean,
            std: var.sqrt(),
            min: extreme(f64::INFINITY, f64::min),
            max: extreme(f64::NEG_INFINITY, f64::max),
            n,
        }
    }

    /// `mean ± std (n=N)` with 4 decimals; counts (integral values that agree) print as integers;
    /// means below 1e-3 in size (small errors such as a regression's MSE) print with 4
    /// significant digits in scientific notation, which 4 decimals would round to 0.
    pub fn display(&self) -> String {
        if self.std == 0.0 && self.mean.fract() == 0.0 && self.mean.abs() < 1e15 {
            return format!("{}", self.mean as i64);
        }
        if self.mean != 0.0 && self.mean.abs() < 1e-3 {
            return if self.n > 1 {
                format!("{:.3e} ± {:.3e} (n={})", self.mean, self.std, self.n)
            } else {
                format!("{:.3e}", self.mean)
            };
        }
        if self.n > 1 {
            format!("{:.4} ± {:.4} (n={})", self.mean, self.std, self.n)
        } else {
            format!("{:.4}", self.mean)
        }
    }
}

/// The verdict on one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    pub name: String,
    /// The claim as a sentence: `test_accuracy of relu >= 0.95`.
    pub claimed: String,
    /// What was measured, mean ± spread over seeds.
    pub measured: String,
    pub passed: bool,
    pub source: Option<String>,
}

/// The resource figures of one arm trained from one seed (see [`crate::resources`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitResources {
    pub arm: String,
    pub seed: u64,
    #[serde(with = "crate::metrics_log::non_finite")]
    pub values: BTreeMap<String, f64>,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub experiment: String,
    /// Final metrics per unit: reproducible bit for bit from the seed.
    pub units: Vec<UnitResult>,
    /// arm -> metric -> statistics over seeds.
    pub arms: BTreeMap<String, BTreeMap<String, Stat>>,
    /// Resource figures per unit (time, throughput, memory), kept apart from the metrics.
    pub resources: Vec<UnitResources>,
    /// arm -> resource figure -> statistics over seeds.
    pub arm_resources: BTreeMap<String, BTreeMap<String, Stat>>,
    pub claims: Vec<ClaimResult>,
}

/// arm -> name -> statistics over seeds of `(arm, values)` rows.
fn stats_by_arm<'a>(
    experiment: &Experiment,
    rows: impl Iterator<Item = (&'a str, &'a BTreeMap<String, f64>)> + Clone,
) -> BTreeMap<String, BTreeMap<String, Stat>> {
    let mut arms = BTreeMap::new();
    for (arm, _) in &experiment.arms {
        let mine = rows.clone().filter(|(a, _)| a == arm);
        let mut names: Vec<&String> = mine.clone().flat_map(|(_, m)| m.keys()).collect();
        names.sort();
        names.dedup();
        let mut stats = BTreeMap::new();
        for name in names {
            let values: Vec<f64> = mine
                .clone()
                .filter_map(|(_, m)| m.get(name).copied())
                .collect();
            stats.insert(name.clone(), Stat::of(&values));
        }
        arms.insert(arm.clone(), stats);
    }
    arms
}

impl Summary {
    /// Aggregates unit results and resource figures, and checks the claims.
    pub fn new(
        experiment: &Experiment,
        units: Vec<UnitResult>,
        resources: Vec<UnitResources>,
    ) -> Self {
        let arms = stats_by_arm(
            experiment,
            units.iter().map(|u| (u.arm.as_str(), &u.metrics)),
        );
        let arm_resources = stats_by_arm(
            experiment,
            resources.iter().map(|r| (r.arm.as_str(), &r.values)),
        );
        let claims = experiment
            .claims
            .iter()
            .map(|c| check_claim(c, &arms, &arm_resources))
            .collect();
        Summary {
            experiment: experiment.name.clone(),
            units,
            arms,
            resources,
            arm_resources,
            claims,
        }
    }

    /// Writes `summary.json` into the run folder.
    pub fn write(&self, dir: &Path) -> Result<(), LabError> {
        let path = dir.join("summary.json");
        let json = serde_json::to_vec_pretty(self).map_err(|e| LabError::Other(e.to_string()))?;
        write_atomic(&path, &json).map_err(LabError::io(path))
    }

    /// Reads `summary.json` from a run folder.
    pub fn read(dir: &Path) -> Result<Self, LabError> {
        let path = dir.join("summary.json");
        let bytes = std::fs::read(&path).map_err(|e| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("no summary.json ({e})"),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| LabError::NotARun {
            path: dir.to_path_buf(),
            reason: format!("summary.json: {e}"),
        })
    }

    /// Whether every claim passed.
    pub fn all_claims_pass(&self) -> bool {
        self.claims.iter().all(|c| c.passed)
    }
}

/// Checks one claim against the per-arm statistics of metrics and resource figures.
pub fn check_claim(
    claim: &ClaimSpec,
    arms: &BTreeMap<String, BTreeMap<String, Stat>>,
    resources: &BTreeMap<String, BTreeMap<String, Stat>>,
) -> ClaimResult {
    let arm = claim.arm.clone().unwrap_or_default();
    let stat = |arm: &str, metric: &str| {
        arms.get(arm)
            .and_then(|m| m.get(metric))
            .or_else(|| resources.get(arm).and_then(|m| m.get(metric)))
            .copied()
    };
    let tol = if claim.tolerance > 0.0 {
        format!(" (tolerance {})", claim.tolerance)
    } else {
        String::new()
    };
    let offset = if claim.offset > 0.0 {
        format!(" + {}", claim.offset)
    } else if claim.offset < 0.0 {
        format!(" - {}", -claim.offset)
    } else {
        String::new()
    };
    let missing = |metric: &str, arm: &str| format!("metric `{metric}` of {arm} not measured");
    // The statistic compared: the mean over seeds unless the claim asks for another.
    let pick = |s: &Stat| match claim.stat {
        ClaimStat::Mean => s.mean,
        ClaimStat::Std => s.std,
        ClaimStat::Min => s.min,
        ClaimStat::Max => s.max,
    };
    let shown = |s: &Stat| match claim.stat {
        ClaimStat::Mean => s.display(),
        other => format!(
            "{other} {} of {}",
            Stat::of(&[pick(s)]).display(),
            s.display()
        ),
    };
    let prefix = match claim.stat {
        ClaimStat::Mean => String::new(),
        other => format!("{other} of "),
    };
    let measured_stat = stat(&arm, &claim.metric);
    let (claimed, measured, passed) = match (&claim.value, &claim.than_arm, &claim.than_metric) {
        (Some(value), _, _) => {
            let claimed = format!(
                "{prefix}{} of {arm} {} {value}{offset}{tol}",
                claim.metric, claim.op
            );
            match measured_stat {
                Some(s) => (
                    claimed,
                    shown(&s),
                    compare(pick(&s) - (value + claim.offset), claim.op, claim.tolerance),
                ),
                None => (claimed, missing(&claim.metric, &arm), false),
            }
        }
        (None, other_arm, other_metric) => {
            let other_arm = other_arm.clone().unwrap_or_else(|| arm.clone());
            let other_metric = other_metric.clone().unwrap_or_else(|| claim.metric.clone());
            let scaled = if claim.factor != 1.0 {
                format!("{} × ", claim.factor)
            } else {
                String::new()
            };
            let reference = if other_arm == arm {
                format!("{scaled}{other_metric}")
            } else {
                format!("{scaled}{other_metric} of {other_arm}")
            };
            let claimed = format!(
                "{prefix}{} of {arm} {} {prefix}{reference}{offset}{tol}",
                claim.metric, claim.op
            );
            match (measured_stat, stat(&other_arm, &other_metric)) {
                (Some(a), Some(b)) => (
                    claimed,
                    format!("{} vs {}", shown(&a), shown(&b)),
                    compare(
                        pick(&a) - (claim.factor * pick(&b) + claim.offset),
                        claim.op,
                        claim.tolerance,
                    ),
                ),
                (None, _) => (claimed, missing(&claim.metric, &arm), false),
                (_, None) => (claimed, missing(&other_metric, &other_arm), false),
            }
        }
    };
    ClaimResult {
        name: claim.name.clone(),
        claimed,
        measured,
        passed,
        source: claim.source.clone(),
    }
}

/// Whether `difference = measured - reference` satisfies `op` with `tolerance` of slack.
fn compare(difference: f64, op: Op, tolerance: f64) -> bool {
    op.holds(difference, tolerance)
}

/// SHA-256 of an arm's resolved config, which a checkpoint must match to be resumed.
pub fn config_hash(config: &RunConfig) -> String {
    sha256_hex(&serde_json::to_vec(config).expect("configs serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug: a run whose config held a float such as 5.3441594707633764e-5 (one in twenty
    /// 17-digit floats) could not be resumed: `--resume` reads `config.json` back and compares
    /// its hash with the checkpoint's, and serde_json without `float_roundtrip` parsed the value
    /// one ulp off. The workspace now enables `float_roundtrip`.
    #[test]
    fn floats_survive_config_json_bit_for_bit() {
        let ratio: f64 = 1.0727571797342173e-2 / 4.759134394296565e-4;
        for x in [
            5.3441594707633764e-5_f64,
            5.1697853437003044e-5,
            ratio,
            0.1 + 0.2,
        ] {
            let text = serde_json::to_string(&x).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
    }

    fn arms(a: &[f64], b: &[f64]) -> BTreeMap<String, BTreeMap<String, Stat>> {
        BTreeMap::from([
            (
                "a".to_string(),
                BTreeMap::from([("acc".to_string(), Stat::of(a))]),
            ),
            (
                "b".to_string(),
                BTreeMap::from([("acc".to_string(), Stat::of(b))]),
            ),
        ])
    }

    fn claim(op: Op, value: Option<f64>, than: Option<&str>, tolerance: f64) -> ClaimSpec {
        ClaimSpec {
            name: "c".into(),
            metric: "acc".into(),
            arm: Some("a".into()),
            op,
            value,
            than_arm: than.map(String::from),
            than_metric: None,
            offset: 0.0,
            factor: 1.0,
            stat: ClaimStat::Mean,
            tolerance,
            source: None,
        }
    }

    fn check(c: &ClaimSpec, m: &BTreeMap<String, BTreeMap<String, Stat>>) -> ClaimResult {
        check_claim(c, m, &BTreeMap::new())
    }

    #[test]
    fn stat_by_hand() {
        // values 1, 2, 3: mean 2, sample variance ((1)+(0)+(1))/2 = 1
        let s = Stat::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.min, s.max, s.n), (2.0, 1.0, 1.0, 3.0, 3));
        assert_eq!(Stat::of(&[5.0]).std, 0.0);
        assert_eq!(Stat::of(&[2345.0, 2345.0]).display(), "2345");
        assert_eq!(Stat::of(&[0.5]).display(), "0.5000");
        // 9.36e-5 would print as 0.0001 with 4 decimals
        assert_eq!(Stat::of(&[9.36e-5]).display(), "9.360e-5");
        assert_eq!(
            Stat::of(&[1e-4, 3e-4]).display(),
            "2.000e-4 ± 1.414e-4 (n=2)"
        );
    }

    #[test]
    fn claims_against_numbers_and_arms() {
        let m = arms(&[0.96, 0.98], &[0.90]);
        assert!(check(&claim(Op::AtLeast, Some(0.97), None, 0.0), &m).passed); // mean 0.97
        assert!(!check(&claim(Op::AtLeast, Some(0.975), None, 0.0), &m).passed);
        assert!(check(&claim(Op::AtLeast, Some(0.975), None, 0.01), &m).passed);
        assert!(check(&claim(Op::Above, None, Some("b"), 0.0), &m).passed);
        assert!(!check(&claim(Op::Below, None, Some("b"), 0.0), &m).passed);
        assert!(check(&claim(Op::About, Some(0.96), None, 0.011), &m).passed);
        assert!(!check(&claim(Op::About, Some(0.96), None, 0.009), &m).passed);
        let r = check(&claim(Op::AtLeast, Some(0.9), None, 0.0), &m);
        assert_eq!(r.claimed, "acc of a >= 0.9");
        assert!(
            r.measured.contains("0.9700 ± 0.0141 (n=2)"),
            "{}",
            r.measured
        );
    }

    /// A factor scales the reference: a = 0.97, b = 0.90; 0.97 <= 1.1 × 0.90 = 0.99 holds,
    /// 0.97 <= 1.05 × 0.90 = 0.945 does not.
    #[test]
    fn claims_with_a_factor() {
        let m = arms(&[0.96, 0.98], &[0.90]);
        let mut c = claim(Op::AtMost, None, Some("b"), 0.0);
        c.factor = 1.1;
        let r = check(&c, &m);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.claimed, "acc of a <= 1.1 × acc of b");
        c.factor = 1.05;
        assert!(!check(&c, &m).passed);
    }

    /// `stat = "std"` compares spreads: a = (0.96, 0.98) has std 0.0141, b = (0.90, 0.94) 0.0283.
    #[test]
    fn claims_on_another_statistic() {
        let m = arms(&[0.96, 0.98], &[0.90, 0.94]);
        let mut c = claim(Op::AtMost, None, Some("b"), 0.0);
        c.stat = ClaimStat::Std;
        let r = check(&c, &m);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.claimed, "std of acc of a <= std of acc of b");
        assert!(
            r.measured.starts_with("std 0.0141 of 0.9700"),
            "{}",
            r.measured
        );
        c.op = Op::AtLeast;
        assert!(!check(&c, &m).passed);
        let mut c = claim(Op::AtLeast, Some(0.97), None, 0.0);
        c.stat = ClaimStat::Max;
        assert!(check(&c, &m).passed);
        c.stat = ClaimStat::Min;
        assert!(!check(&c, &m).passed);
    }

    #[test]
    fn non_finite_metrics_round_trip_and_compare_reads_them() {
        let experiment = Experiment::from_text(crate::DEFAULT_DEMO, "default.toml", &[]).unwrap();
        let unit = |arm: &str, seed, loss| UnitResult {
            arm: arm.into(),
            seed,
            metrics: BTreeMap::from([("test_loss".to_string(), loss)]),
            diverged_at: (!loss.is_finite()).then_some(12),
        };
        // One relu seed diverged (NaN), tanh blew up (inf), gelu is fine: the Stat fields of relu
        // and tanh are non-finite, which plain serde_json writes as null and cannot read back.
        let units = vec![
            unit("relu", 0, f64::NAN),
            unit("relu", 1, 0.25),
            unit("tanh", 0, f64::INFINITY),
            unit("gelu", 0, 0.5),
        ];
        let resources = vec![UnitResources {
            arm: "relu".into(),
            seed: 0,
            values: BTreeMap::from([
                ("wall_s".to_string(), 1.5),
                ("peak_rss_mb".to_string(), f64::NAN),
            ]),
        }];
        let summary = Summary::new(&experiment, units, resources);
        // A NaN seed makes every statistic NaN: min and max must not quietly skip it.
        let relu = summary.arms["relu"]["test_loss"];
        assert!(relu.mean.is_nan() && relu.std.is_nan(), "{relu:?}");
        assert!(relu.min.is_nan() && relu.max.is_nan(), "{relu:?}");
        assert_eq!(summary.arms["tanh"]["test_loss"].max, f64::INFINITY);

        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_vec_pretty(&experiment).unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        summary.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
        let arms = &serde_json::from_str::<serde_json::Value>(&text).unwrap()["arms"];
        assert!(!arms.to_string().contains("null"), "{arms}");
        assert_eq!(arms["relu"]["test_loss"]["min"], "NaN");
        assert_eq!(arms["tanh"]["test_loss"]["mean"], "inf");
        let back = Summary::read(dir.path()).unwrap();
        let relu = back.arms["relu"]["test_loss"];
        assert!(relu.mean.is_nan() && relu.std.is_nan() && relu.min.is_nan() && relu.max.is_nan());
        assert_eq!(relu.n, 2);
        assert!(back.units[0].metrics["test_loss"].is_nan());
        let tanh = back.arms["tanh"]["test_loss"];
        let inf = f64::INFINITY;
        assert_eq!(
            (tanh.mean, tanh.std, tanh.min, tanh.max),
            (inf, 0.0, inf, inf)
        );
        assert_eq!(back.arms["gelu"], summary.arms["gelu"]);
        assert_eq!(back.claims, summary.claims);

        let table = crate::compare::compare(&[dir.path().to_path_buf()]).unwrap();
        let text = table.to_text();
        assert!(text.contains("NaN") && text.contains("inf"), "{text}");
    }

    #[test]
    fn missing_or_nan_metrics_fail() {
        let mut c = claim(Op::AtLeast, Some(0.5), None, 0.0);
        c.metric = "loss".into();
        assert!(!check(&c, &arms(&[1.0], &[1.0])).passed);
        assert!(
            !check(
                &claim(Op::AtMost, Some(1.0), None, 0.0),
                &arms(&[f64::NAN], &[1.0])
            )
            .passed
        );
    }

    /// A claim against another metric of the same arm, with an offset: "test_loss beats the
    /// bigram baseline by at least 0.6" is `test_loss <= test_bigram_loss - 0.6`.
    #[test]
    fn claims_against_another_metric_with_an_offset() {
        let m = BTreeMap::from([(
            "a".to_string(),
            BTreeMap::from([
                ("test_loss".to_string(), Stat::of(&[1.8, 1.9])),
                ("test_bigram_loss".to_string(), Stat::of(&[2.5, 2.5])),
            ]),
        )]);
        let mut c = claim(Op::AtMost, None, None, 0.0);
        c.metric = "test_loss".into();
        c.than_metric = Some("test_bigram_loss".into());
        c.offset = -0.6;
        // 1.85 <= 2.5 - 0.6 = 1.9: holds
        let r = check(&c, &m);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.claimed, "test_loss of a <= test_bigram_loss - 0.6");
        c.offset = -0.7; // 1.85 <= 1.8: fails
        assert!(!check(&c, &m).passed);
        // a factor scales the reference: 1.85 <= 0.8 x 2.5 = 2.0 holds, <= 0.7 x 2.5 = 1.75 not
        c.offset = 0.0;
        c.factor = 0.8;
        let r = check(&c, &m);
        assert!(r.passed, "{r:?}");
        assert_eq!(r.claimed, "test_loss of a <= 0.8 × test_bigram_loss");
        c.factor = 0.7;
        assert!(!check(&c, &m).passed);
        c.than_metric = Some("test_trigram_loss".into());
        assert!(check(&c, &m).measured.contains("test_trigram_loss"));
        // Resource figures are found when the metrics lack the name.
        let resources = BTreeMap::from([(
            "a".to_string(),
            BTreeMap::from([("peak_rss_mb".to_string(), Stat::of(&[100.0]))]),
        )]);
        let mut r = claim(Op::Below, Some(200.0), None, 0.0);
        r.metric = "peak_rss_mb".into();
        assert!(check_claim(&r, &m, &resources).passed);
        assert!(!check(&r, &m).passed);
    }
}
