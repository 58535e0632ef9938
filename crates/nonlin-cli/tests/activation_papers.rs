//! The activation and neuron papers end to end through the binary: each paper's `[quick]`
//! experiment runs from `experiments/papers/<slug>.toml` and finishes with finite metrics (and,
//! where the quick variant is designed to meet them, passing claims).

use std::path::{Path, PathBuf};
use std::process::Command;

use nonlin::lab::Summary;

fn nonlin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nonlin"));
    cmd.env_remove("NONLIN_DATA").env("CI", "1");
    cmd
}

fn paper(slug: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/papers")
        .join(format!("{slug}.toml"))
}

/// Runs a paper's quick variant into a temporary folder and returns its summary.
fn run_quick(slug: &str) -> Summary {
    run_quick_with(slug, &[])
}

/// [`run_quick`] with extra arguments (`--data-dir`).
fn run_quick_with(slug: &str, extra: &[&std::ffi::OsStr]) -> Summary {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(slug);
    let result = nonlin()
        .arg("run")
        .arg(paper(slug))
        .arg("--quick")
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("nonlin runs");
    assert!(
        result.status.success(),
        "{slug} failed:\n{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    Summary::read(&out).unwrap()
}

/// Every final metric of every unit is finite (parameter statistics are NaN, by definition, in
/// arms without the parameter: a ReLU arm has no CRReLU ε; so are feature probes of a layer a
/// model does not have).
fn assert_finite(summary: &Summary) {
    for unit in &summary.units {
        for (name, value) in &unit.metrics {
            if (name.contains("_param(") || name.starts_with("feature_")) && value.is_nan() {
                continue;
            }
            assert!(
                value.is_finite(),
                "{} seed {}: {name} = {value}",
                unit.arm,
                unit.seed
            );
        }
    }
}

fn claim_passed(summary: &Summary, name_part: &str) -> bool {
    let claim = summary
        .claims
        .iter()
        .find(|c| c.name.contains(name_part))
        .unwrap_or_else(|| panic!("no claim with `{name_part}`"));
    claim.passed
}

/// CRReLU's quick run: three arms finish, ε is reported and stays small.
#[test]
fn crrelu_quick() {
    let summary = run_quick("crrelu");
    assert_finite(&summary);
    assert_eq!(summary.units.len(), 3);
    let eps = summary.arms["crrelu"]["max_abs_param(*.Crrelu.epsilon)"].mean;
    assert!(eps > 0.0 && eps < 0.5, "{eps}");
    assert!(claim_passed(&summary, "|eps| < 0.5"));
}

/// PolyCom's quick run: four arms fit the regression target with finite errors, and the
/// learnable coefficients of PolyReLU and PolyNorm are reported.
#[test]
fn polycom_quick() {
    let summary = run_quick("polycom");
    assert_finite(&summary);
    assert_eq!(summary.units.len(), 4);
    for arm in ["relu", "gelu", "polyrelu", "polynorm"] {
        let mse = summary.arms[arm]["test_mse"].mean;
        // the target has variance about 0.27; any trained arm is far below it
        assert!(mse < 0.1, "{arm}: {mse}");
    }
    assert!(
        summary.arms["polyrelu"]["mean_param(*.PolyRelu.bias)"]
            .mean
            .is_finite()
    );
    assert!(
        summary.arms["polynorm"]["mean_param(*.PolyNorm.bias)"]
            .mean
            .is_finite()
    );
}

/// PanGu-π's quick run: the collapse check at initialisation passes (it is not trained, so the
/// quick variant measures exactly what the full one does), and every LM arm reports its loss and
/// the effective dimension of its final hidden states.
#[test]
fn pangu_pi_quick() {
    let Some(data) = nonlin::data::testdata::require_shared("shakespeare") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let summary = run_quick_with("pangu_pi", &["--data-dir".as_ref(), data.as_os_str()]);
    assert_finite(&summary);
    assert!(claim_passed(&summary, "collapse the features"));
    assert!(claim_passed(&summary, "keeps at least the identity"));
    for arm in ["vanilla", "siaf", "as", "both"] {
        let dim = summary.arms[arm]["feature_dim(last, 0.8)"].mean;
        assert!((1.0..=64.0).contains(&dim), "{arm}: {dim}");
        assert!(summary.arms[arm]["val_loss"].mean.is_finite());
    }
}

/// Quadratic networks' quick run: the conventional and ReLinear arms train to finite metrics
/// (the randomly initialised quadratic arms may collapse, which is what the paper is about), and
/// every arm reports whether it diverged.
#[test]
fn quadratic_quick() {
    let summary = run_quick("quadratic");
    assert_eq!(summary.units.len(), 6);
    for unit in &summary.units {
        let diverged = unit.metrics["diverged"];
        assert!(
            diverged == 0.0 || diverged == 1.0,
            "{}: {diverged}",
            unit.arm
        );
        if unit.arm == "conventional" || unit.arm == "relinear" {
            assert_eq!(diverged, 0.0);
            assert!(unit.metrics["test_accuracy"] > 0.5, "{}", unit.arm);
        }
    }
    // ReLinear's quadratic weights grew from zero, slowly (lr_gb = 1e-3 x lr)
    let g = summary.arms["relinear"]["max_abs_param(*.g.weight)"].mean;
    assert!(g > 0.0 && g < 0.1, "{g}");
}
