//! The theory probes end to end through the binary: every probe paper's quick variant through
//! `nonlin reproduce`, `nonlin probe criticality --activation`, and a probe on the trained model of
//! a run folder.

use std::path::{Path, PathBuf};

mod common;
use common::{nonlin, run_ok};

fn papers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/papers")
}

/// The probe folder `nonlin reproduce` wrote for `slug` under `runs`.
fn probe_json(runs: &Path, slug: &str) -> serde_json::Value {
    let dir = std::fs::read_dir(runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{slug}-quick"))
        })
        .unwrap_or_else(|| panic!("no run folder for {slug}"));
    for file in ["report.md", "probe.json"] {
        assert!(dir.join(file).is_file(), "{slug}: {file}");
    }
    assert!(
        std::fs::read_dir(dir.join("plots")).unwrap().count() > 0,
        "{slug}: no plots"
    );
    serde_json::from_slice(&std::fs::read(dir.join("probe.json")).unwrap()).unwrap()
}

/// Every probe paper's quick variant runs and measures every number its claims name.
#[test]
fn every_probe_paper_runs_its_quick_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    for slug in [
        "deep_linear",
        "criticality",
        "ntk",
        "infinite_depth",
        "rep_geometry",
        "permutation_ntk",
        "kappa_tune",
        "mutual_info",
        "zero_cost_nas",
        "grokking",
        "dense_hebbian",
        "multitask_hebbian",
    ] {
        let out = run_ok(
            nonlin()
                .args([
                    "reproduce",
                    "--quick",
                    "--report-only",
                    "--paper",
                    slug,
                    "--dir",
                ])
                .arg(papers())
                .arg("--runs")
                .arg(&runs),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("0 paper(s) could not run"),
            "{slug}: {stdout}"
        );
        assert!(!stdout.contains("not measured"), "{slug}: {stdout}");
        let json = probe_json(&runs, slug);
        let claims = json["claims"].as_array().unwrap();
        assert!(!claims.is_empty(), "{slug}");
        for claim in claims {
            let measured = claim["measured"].as_str().unwrap();
            assert!(
                !measured.contains("NaN") && !measured.contains("inf"),
                "{slug}: {claim}"
            );
        }
    }
    // The quick variants meet the claims that do not depend on the scale of the run.
    let json = probe_json(&runs, "criticality");
    let gelu = json["numbers"]["gelu.c_w"]["mean"].as_f64().unwrap();
    assert!((gelu - 1.98306).abs() < 1e-3, "{gelu}");
    let json = probe_json(&runs, "ntk");
    assert!(
        (json["numbers"]["analytic.theta_same"]["mean"]
            .as_f64()
            .unwrap()
            - 0.2825)
            .abs()
            < 1e-4
    );
}

/// `nonlin probe criticality --activation gelu` tables one activation; without it, the registry.
#[test]
fn criticality_table_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_ok(
        nonlin()
            .args([
                "probe",
                "criticality",
                "--activation",
                "gelu",
                "inits=0",
                "--out",
            ])
            .arg(tmp.path().join("one")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("gelu") && stdout.contains("1.98306") && stdout.contains("3.56155"),
        "{stdout}"
    );
    assert!(!stdout.contains("sigmoid"), "{stdout}");
    let out = run_ok(
        nonlin()
            .args(["probe", "criticality", "inits=0", "--out"])
            .arg(tmp.path().join("all")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in nonlin::nn::Activation::NAMES {
        assert!(stdout.contains(name), "{name} missing from\n{stdout}");
    }
    let bad = nonlin().args(["probe", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("criticality"));
}

/// A probe on the trained model of a run folder: the NTK of a digits MLP on rows of its data, by
/// the factorised form, checked against per-sample reverse passes.
#[test]
fn ntk_probe_on_a_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("digits.toml");
    std::fs::write(
        &spec,
        "name = \"digits-small\"\nseeds = [1]\n[data]\ndataset = \"digits\"\n[model]\nkind = \"mlp\"\nhidden = [32]\n[train]\nlr = 3e-3\nepochs = 1\nbatch_size = 64\n",
    )
    .unwrap();
    let run = tmp.path().join("run");
    run_ok(nonlin().arg("run").arg(&spec).arg("--out").arg(&run));
    let out = tmp.path().join("probe");
    run_ok(
        nonlin()
            .args(["probe", "ntk"])
            .arg(&run)
            .args(["model_rows=24", "--out"])
            .arg(&out),
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("probe.json")).unwrap()).unwrap();
    let number = |k: &str| json["numbers"][k]["mean"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(number("model.rows"), 24.0);
    assert!(number("model.ntk_trace") > 0.0);
    assert!(
        number("model.reverse_vs_factorised") < 1e-4,
        "{}",
        number("model.reverse_vs_factorised")
    );
    assert!((0.0..=1.0).contains(&number("model.ntk_label_alignment")));
    assert!(json["model"].as_str().unwrap().contains("seed 1"));
}
