//! The `nonlin` binary end to end: the default demo, the run folder, determinism, bad input,
//! compare, reproduce, and the MNIST acceptance run.

use std::path::{Path, PathBuf};
use std::process::Command;

use nonlin::lab::Summary;
use nonlin::lab::tensorboard::read_scalars;

mod common;
use common::run_ok;

fn nonlin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nonlin"));
    cmd.env_remove("NONLIN_DATA");
    cmd
}

fn stderr_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("nonlin runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A small, fast digits experiment used by several tests.
const SMALL: &str = r#"
name = "small"
seeds = [3]
[data]
dataset = "digits"
validation = 0.1
[model]
kind = "mlp"
hidden = [32]
[train]
lr = 3e-3
epochs = 3
batch_size = 64
log_every = 5
[[arm]]
name = "relu"
[[arm]]
name = "tanh"
set = { "model.activation" = "tanh" }
"#;

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn default_demo_reaches_95_percent_and_fills_the_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let output = run_ok(nonlin().arg("run").arg("--out").arg(&out).env("CI", "1"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("PASS"), "{stdout}");

    let summary = Summary::read(&out).unwrap();
    let relu = summary.arms["relu"]["test_accuracy"].mean;
    assert!(relu >= 0.95, "relu test accuracy {relu}");
    assert_eq!(summary.arms.len(), 3);
    for file in [
        "config.json",
        "run.json",
        "spec.toml",
        "metrics.jsonl",
        "metrics.csv",
        "summary.json",
        "report.md",
        "plots/train_loss.svg",
        "plots/test_accuracy.svg",
        "checkpoints/relu-seed0/state.json",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| relu |") && report.contains("PASS"),
        "{report}"
    );
    let svg = std::fs::read_to_string(out.join("plots/test_accuracy.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..40.min(svg.len())]
    );
    assert!(svg.matches("<polyline").count() >= 3, "one curve per arm");

    // The TensorBoard events decode to the same training losses as metrics.jsonl.
    let tb_dir = out.join("tb/gelu-seed0");
    let event_file = std::fs::read_dir(&tb_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let scalars = read_scalars(&event_file).unwrap();
    let tb_losses: Vec<(i64, f32)> = scalars
        .iter()
        .filter(|s| s.tag == "train/loss")
        .map(|s| (s.step, s.value))
        .collect();
    let records = nonlin::lab::metrics_log::read_jsonl(&out.join("metrics.jsonl")).unwrap();
    let log_losses: Vec<(i64, f32)> = records
        .iter()
        .filter(|r| r.arm == "gelu" && r.split == "train")
        .map(|r| (r.step as i64, r.values["loss"] as f32))
        .collect();
    assert!(!tb_losses.is_empty());
    assert_eq!(tb_losses, log_losses);
}

#[test]
fn same_spec_and_seed_give_bitwise_identical_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let mut metrics = Vec::new();
    for run in ["a", "b"] {
        let out = tmp.path().join(run);
        run_ok(
            nonlin()
                .arg("run")
                .arg(&spec)
                .arg("--out")
                .arg(&out)
                .env("CI", "1"),
        );
        let summary = Summary::read(&out).unwrap();
        metrics.push(summary.units);
    }
    // Exact equality of every f64: same bits, since JSON round-trips f64 exactly.
    assert_eq!(metrics[0], metrics[1]);
    assert!(metrics[0][0].metrics.contains_key("val_accuracy"));
    // A different seed changes them, so the comparison above is not vacuous.
    let out = tmp.path().join("c");
    run_ok(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("seeds=[4]")
            .arg("--out")
            .arg(&out)
            .env("CI", "1"),
    );
    assert_ne!(
        Summary::read(&out).unwrap().units[0].metrics,
        metrics[0][0].metrics
    );
}

#[test]
fn overrides_apply_and_bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let out = tmp.path().join("o");
    run_ok(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("train.epochs=1")
            .arg("model.activation=gelu")
            .arg("--out")
            .arg(&out),
    );
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(
        config.contains("\"epochs\": 1") && config.contains("gelu"),
        "{config}"
    );

    let (code, err) = stderr_of(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("train.lrate=1")
            .arg("--out")
            .arg(tmp.path().join("x")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("small.toml") && err.contains("lrate"), "{err}");

    let (code, err) = stderr_of(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("train.epochs=\"five\"")
            .arg("--out")
            .arg(tmp.path().join("y")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("train.epochs"), "{err}");

    let (code, err) = stderr_of(nonlin().arg("run").arg(tmp.path().join("missing.toml")));
    assert_eq!(code, 2);
    assert!(err.contains("missing.toml"), "{err}");

    let (code, err) = stderr_of(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("--device")
            .arg("tpu")
            .arg("--out")
            .arg(tmp.path().join("z")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("tpu") && err.contains("vulkan"), "{err}");

    if !cfg!(feature = "cuda") {
        let (code, err) = stderr_of(
            nonlin()
                .arg("run")
                .arg(&spec)
                .arg("--device")
                .arg("cuda:0")
                .arg("--out")
                .arg(tmp.path().join("w")),
        );
        assert_eq!(code, 2);
        assert!(err.contains("--features cuda"), "{err}");
    }

    // Missing data is an error that says where it looked, and leaves no run folder behind.
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/mnist-mlp.toml");
    let nowhere = tmp.path().join("nowhere");
    let (code, err) = stderr_of(
        nonlin()
            .arg("run")
            .arg(&mnist)
            .arg("--data-dir")
            .arg(&nowhere)
            .arg("--out")
            .arg(tmp.path().join("v"))
            .env("HOME", &nowhere)
            .env("XDG_DATA_HOME", &nowhere),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("mnist") && err.contains("nowhere") && err.contains("nonlin data fetch"),
        "{err}"
    );
    assert!(!tmp.path().join("v").exists());

    // A run folder is never overwritten by accident.
    let (code, err) = stderr_of(nonlin().arg("run").arg(&spec).arg("--out").arg(&out));
    assert_eq!(code, 2);
    assert!(err.contains("--resume"), "{err}");
}

#[test]
fn compare_tables_config_differences_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let a = tmp.path().join("run-a");
    let b = tmp.path().join("run-b");
    run_ok(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("train.epochs=1")
            .arg("--out")
            .arg(&a),
    );
    run_ok(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("train.epochs=1")
            .arg("train.lr=0.01")
            .arg("--out")
            .arg(&b),
    );

    let md = String::from_utf8(
        run_ok(
            nonlin()
                .args(["compare", "--format", "markdown"])
                .arg(&a)
                .arg(&b),
        )
        .stdout,
    )
    .unwrap();
    let header = md.lines().next().unwrap();
    // Differing keys are shown; keys equal everywhere (like the batch size) are not.
    assert!(
        header.contains("model.activation") && header.contains("train.lr"),
        "{header}"
    );
    assert!(!header.contains("train.batch_size"), "{header}");
    assert!(header.contains("test_accuracy"), "{header}");
    // The cost columns: parameters (64·32 + 32 + 32·10 + 10 = 2410), seconds per epoch, memory.
    for cost in ["params", "s_per_epoch", "peak_rss_mb"] {
        assert!(header.contains(cost), "{header}");
    }
    assert!(md.lines().nth(2).unwrap().contains("| 2410 |"), "{md}");
    assert_eq!(md.lines().count(), 2 + 4, "{md}");

    let csv = String::from_utf8(
        run_ok(
            nonlin()
                .args(["compare", "--format", "csv"])
                .arg(&a)
                .arg(&b),
        )
        .stdout,
    )
    .unwrap();
    assert!(
        csv.lines().nth(1).unwrap().starts_with("run-a,relu,"),
        "{csv}"
    );

    let (code, err) = stderr_of(nonlin().arg("compare").arg(tmp.path()));
    assert_eq!(code, 2);
    assert!(err.contains("not a nonlin run folder"), "{err}");
}

#[test]
fn reproduce_prints_claims_and_fails_on_a_failed_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let papers = tmp.path().join("papers");
    std::fs::create_dir_all(&papers).unwrap();
    let claims = r#"
[[claim]]
name = "relu learns the digits"
metric = "test_accuracy"
arm = "relu"
op = ">="
value = 0.5
[[claim]]
name = "an impossible claim"
metric = "test_accuracy"
arm = "relu"
op = ">"
value = 1.0
[[claim]]
name = "relu and tanh end within 50 points of each other"
metric = "test_accuracy"
arm = "relu"
op = "~="
than_arm = "tanh"
tolerance = 0.5
[quick]
"train.epochs" = 1
"#;
    write_spec(&papers, "toy.toml", &format!("{SMALL}{claims}"));
    // An arena beside the papers' folder runs with them (no claims: one RAN row).
    write_spec(
        tmp.path(),
        "arena-toy.toml",
        &format!("{SMALL}[quick]\n\"train.epochs\" = 1\n"),
    );
    write_spec(tmp.path(), "not-an-arena.toml", "this is not read");
    let runs = tmp.path().join("runs");

    let out = nonlin()
        .args(["reproduce", "--quick", "--dir"])
        .arg(&papers)
        .arg("--runs")
        .arg(&runs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("PASS") && stdout.contains("FAIL"),
        "{stdout}"
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name}: {stdout}"))
    };
    assert!(row("an impossible claim").contains("FAIL"), "{stdout}");
    assert!(row("relu learns the digits").contains("PASS"), "{stdout}");
    assert!(row("within 50 points").contains("PASS"), "{stdout}");
    let arena = row("arena-toy");
    assert!(
        arena.contains("RAN") && arena.contains("nonlin compare"),
        "{stdout}"
    );
    assert!(stdout.contains("3 claim(s), 1 failed"), "{stdout}");

    let out = run_ok(
        nonlin()
            .args([
                "reproduce",
                "--quick",
                "--report-only",
                "--paper",
                "toy",
                "--dir",
            ])
            .arg(&papers)
            .arg("--runs")
            .arg(&runs),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL") && !stdout.contains("arena-toy"),
        "{stdout}"
    );

    let (code, err) = stderr_of(
        nonlin()
            .args(["reproduce", "--paper", "nope", "--dir"])
            .arg(&papers),
    );
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn data_info_lists_the_embedded_digits() {
    let out = run_ok(nonlin().args(["data", "info", "--data-dir", "/nonexistent"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("digits") && stdout.contains("Embedded"),
        "{stdout}"
    );
    assert!(stdout.contains("mnist"), "{stdout}");
}

/// Acceptance: `experiments/mnist-mlp.toml` reaches 98.0% MNIST test accuracy within 5 epochs.
#[test]
fn mnist_mlp_reaches_98_percent_in_5_epochs() {
    let Some(mnist) = nonlin::data::testdata::require_shared("mnist") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/mnist-mlp.toml");
    let out = tmp.path().join("mnist");
    run_ok(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("--data-dir")
            .arg(&mnist)
            .arg("--out")
            .arg(&out)
            .env("CI", "1"),
    );
    let summary = Summary::read(&out).unwrap();
    let acc = summary.arms["base"]["test_accuracy"];
    assert_eq!(acc.n, 3);
    assert!(acc.mean >= 0.98, "MNIST test accuracy {acc:?}");
    assert!(summary.all_claims_pass(), "{:?}", summary.claims);
    assert_eq!(
        summary.arms["base"]["steps"].mean,
        5.0 * 469.0,
        "5 epochs of 60000/128 batches"
    );
}
