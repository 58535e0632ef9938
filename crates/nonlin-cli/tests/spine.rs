//! The widened spine end to end through the binary: regression and language modelling from their
//! experiment files, step budgets with evaluations every N steps and derived metrics, resource
//! figures, `predict`, `generate`, weights imported with a name map, a user's own files, and the
//! bugs found when the foundation was tried as a new user would.

use std::path::{Path, PathBuf};
use std::process::Command;

use nonlin::data::{read_npy, write_npy_f32};
use nonlin::lab::Summary;

mod common;
use common::{nonlin, run_ok};

fn fails(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("nonlin runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const DIGITS: &str = r#"
name = "digits-small"
seeds = [1]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [32]
[train]
lr = 3e-3
epochs = 2
batch_size = 64
"#;

/// The regression task from `experiments/regression-smooth.toml` (its fast variant): every
/// activation fits the function to 5% relative L2 error, and the report draws rel_l2.
#[test]
fn regression_experiment_meets_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reg");
    let stdout = run_ok(
        nonlin()
            .arg("run")
            .arg(experiment("regression-smooth.toml"))
            .arg("--quick")
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert!(summary.all_claims_pass(), "{:?}", summary.claims);
    for arm in ["relu", "tanh", "gelu"] {
        let m = &summary.arms[arm];
        // rmse^2 = mse, and mse = loss
        let (mse, rmse) = (m["test_mse"].mean, m["test_rmse"].mean);
        assert!((rmse * rmse - mse).abs() < 1e-9, "{arm}: {mse} {rmse}");
        assert!(m["min(test_rel_l2)"].mean <= m["test_rel_l2"].mean);
    }
    assert!(out.join("plots/test_rel_l2.svg").is_file());
    let text = String::from_utf8_lossy(&stdout.stdout);
    assert!(text.contains("test_rel_l2"), "{text}");
}

/// A step budget stops part-way through an epoch; evaluations happen every N steps and at epoch
/// ends; derived metrics and resource figures reach the summary and claims.
#[test]
fn step_budgets_evaluations_and_derived_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    // 1348 training digits / 64 = 22 steps per epoch; 30 steps end 8 steps into epoch 2.
    let spec = write(
        tmp.path(),
        "steps.toml",
        &(DIGITS.replace("epochs = 2", "steps = 30\neval_every = 10")
            + r#"
[[claim]]
name = "the best accuracy is logged at some step"
metric = "argmax(test_accuracy)"
op = ">="
value = 10
[[claim]]
name = "50% accuracy is reached"
metric = "first_step(test_accuracy >= 0.5)"
op = "<="
value = 30
[[claim]]
name = "the process stays under 2 GB"
metric = "peak_rss_mb"
op = "<"
value = 2000
"#),
    );
    let out = tmp.path().join("s");
    run_ok(nonlin().arg("run").arg(&spec).arg("--out").arg(&out));
    let summary = Summary::read(&out).unwrap();
    let m = &summary.units[0].metrics;
    assert_eq!(m["steps"], 30.0);
    let records = nonlin::lab::metrics_log::read_jsonl(&out.join("metrics.jsonl")).unwrap();
    let eval_steps: Vec<u64> = records
        .iter()
        .filter(|r| r.split == "test")
        .map(|r| r.step)
        .collect();
    assert_eq!(
        eval_steps,
        vec![10, 20, 22, 30],
        "every 10 steps, the epoch end, the end"
    );
    let best = m["argmax(test_accuracy)"];
    assert!(eval_steps.contains(&(best as u64)), "{best}");
    let first = m["first_step(test_accuracy >= 0.5)"];
    let acc_at = |s: u64| {
        records
            .iter()
            .find(|r| r.split == "test" && r.step == s)
            .unwrap()
            .values["accuracy"]
    };
    assert!(acc_at(first as u64) >= 0.5);
    assert!(
        eval_steps
            .iter()
            .filter(|&&s| s < first as u64)
            .all(|&s| acc_at(s) < 0.5)
    );
    assert!(summary.all_claims_pass(), "{:?}", summary.claims);
    let r = &summary.resources[0].values;
    for key in [
        "params",
        "wall_s",
        "train_s",
        "steps_per_s",
        "samples_per_s",
        "peak_rss_mb",
    ] {
        assert!(r[key].is_finite() && r[key] > 0.0, "{key}: {r:?}");
    }
    // 64*32+32 + 32*10+10 = 2410 parameters
    assert_eq!(r["params"], 2410.0);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Resources") && report.contains("peak_rss_mb"),
        "{report}"
    );
}

/// `predict` reloads a trained classifier without its data and writes its logits; bad inputs
/// are errors naming the file and what is wrong.
#[test]
fn predict_writes_the_model_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write(
        tmp.path(),
        "d.toml",
        &DIGITS.replace("epochs = 2", "epochs = 10"),
    );
    let run = tmp.path().join("run");
    run_ok(nonlin().arg("run").arg(&spec).arg("--out").arg(&run));
    let digits = nonlin::data::load_digits().unwrap();
    let idx: Vec<usize> = (0..200).collect();
    let batch = digits.batch(&idx);
    let x = tmp.path().join("x.npy");
    write_npy_f32(&x, &[200, 1, 8, 8], &batch.x).unwrap();
    let y = tmp.path().join("y.npy");
    run_ok(
        nonlin()
            .arg("predict")
            .arg(&run)
            .args(["--input"])
            .arg(&x)
            .arg("--output")
            .arg(&y),
    );
    let logits = read_npy(&y).unwrap();
    assert_eq!(logits.shape, vec![200, 10]);
    let values = logits.to_f32();
    let labels = digits.labels().unwrap();
    let correct = (0..200)
        .filter(|&i| {
            let row = &values[i * 10..(i + 1) * 10];
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best as u32 == labels[i]
        })
        .count();
    assert!(correct > 180, "{correct} of 200 right");
    // The same predictions again, in other batch sizes: identical.
    let y2 = tmp.path().join("y2.npy");
    run_ok(
        nonlin()
            .arg("predict")
            .arg(&run)
            .arg("--input")
            .arg(&x)
            .arg("--output")
            .arg(&y2)
            .args(["--batch-size", "7"]),
    );
    assert_eq!(read_npy(&y2).unwrap().to_f32(), values);
    // Wrong width, NaN, unknown arm.
    let bad = tmp.path().join("bad.npy");
    write_npy_f32(&bad, &[2, 3], &[0.0; 6]).unwrap();
    let (code, err) = fails(
        nonlin()
            .arg("predict")
            .arg(&run)
            .arg("--input")
            .arg(&bad)
            .arg("--output")
            .arg(&y2),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.npy") && err.contains("64 values"),
        "{err}"
    );
    let mut nan = batch.x[..64].to_vec();
    nan[5] = f32::NAN;
    write_npy_f32(&bad, &[1, 64], &nan).unwrap();
    let (_, err) = fails(
        nonlin()
            .arg("predict")
            .arg(&run)
            .arg("--input")
            .arg(&bad)
            .arg("--output")
            .arg(&y2),
    );
    assert!(err.contains("not finite"), "{err}");
    let (_, err) = fails(
        nonlin()
            .arg("predict")
            .arg(&run)
            .args(["--arm", "tanh", "--input"])
            .arg(&x)
            .arg("--output")
            .arg(&y2),
    );
    assert!(err.contains("tanh") && err.contains("base"), "{err}");
}

/// The language-modelling task from `experiments/lm-shakespeare-mlp.toml` (fast variant): the
/// report shows the bigram baseline, and `generate` continues a prompt.
#[test]
fn language_model_trains_reports_the_bigram_and_generates() {
    let Some(data) = nonlin::data::testdata::require_shared("shakespeare") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lm");
    run_ok(
        nonlin()
            .arg("run")
            .arg(experiment("lm-shakespeare-mlp.toml"))
            .arg("--quick")
            .arg("--data-dir")
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    let m = &summary.arms["base"];
    let (loss, bigram) = (m["test_loss"].mean, m["test_bigram_loss"].mean);
    // A character bigram on Shakespeare is near 2.5 nats; 600 steps already beat it.
    assert!((2.3..2.7).contains(&bigram), "{bigram}");
    assert!(loss < bigram, "{loss} vs {bigram}");
    assert!((m["test_bpc"].mean - loss / std::f64::consts::LN_2).abs() < 1e-9);
    assert!(summary.resources[0].values["tokens_per_s"] > 0.0);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("test_bigram_loss"), "{report}");

    let sample = |seed: &str| {
        let out = run_ok(nonlin().arg("generate").arg(&out).args([
            "--prompt", "ROMEO:", "--tokens", "40", "--top-k", "5", "--seed", seed,
        ]));
        String::from_utf8(out.stdout).unwrap()
    };
    let a = sample("1");
    assert!(a.starts_with("ROMEO:"), "{a}");
    assert_eq!(a.trim_end_matches('\n').chars().count(), 6 + 40, "{a:?}");
    assert_eq!(a, sample("1"), "the same seed gives the same text");
    assert_ne!(a, sample("2"));
    let (code, err) = fails(nonlin().arg("generate").arg(&out).args(["--prompt", "é"]));
    assert_eq!(code, 2);
    assert!(err.contains('é'), "{err}");
}

/// A user's own data from .npy files, a regression MLP on it, and a second model initialised
/// from the first one's weights through a name map.
#[test]
fn user_files_and_imported_weights() {
    let tmp = tempfile::tempdir().unwrap();
    // y = x0 - 2 x1 on 200 points
    let xs: Vec<f32> = (0..400)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let ys: Vec<f32> = xs.chunks(2).map(|p| p[0] - 2.0 * p[1]).collect();
    write_npy_f32(&tmp.path().join("x.npy"), &[200, 2], &xs).unwrap();
    write_npy_f32(&tmp.path().join("y.npy"), &[200], &ys).unwrap();
    let spec = format!(
        r#"
name = "files"
[data]
dataset = "files"
inputs = "{x}"
targets = "{y}"
task = "regression"
[model]
kind = "mlp"
hidden = []
[train]
lr = 0.05
epochs = 40
batch_size = 16
"#,
        x = tmp.path().join("x.npy").display(),
        y = tmp.path().join("y.npy").display()
    );
    let spec = write(tmp.path(), "files.toml", &spec);
    let first = tmp.path().join("first");
    run_ok(nonlin().arg("run").arg(&spec).arg("--out").arg(&first));
    let a = Summary::read(&first).unwrap();
    assert!(a.units[0].metrics["test_rel_l2"] < 0.01, "{:?}", a.units);

    // The weights file names the linear layer `Mlp.layers.0.*`; pretend it came from elsewhere
    // with names `net.0.*` by renaming on import.
    let weights = std::fs::read_dir(first.join("checkpoints/base-seed0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("model-"))
        .unwrap();
    let init = format!(
        "\n[init_from]\npath = \"{}\"\nrename = [[\"^Mlp\\\\.layers\\\\.\", \"Mlp.layers.\"]]\n",
        weights.display()
    );
    let spec2 = write(
        tmp.path(),
        "files2.toml",
        &(std::fs::read_to_string(&spec)
            .unwrap()
            .replace("lr = 0.05", "lr = 1e-9")
            .replace("epochs = 40", "epochs = 1")
            + &init),
    );
    let second = tmp.path().join("second");
    run_ok(nonlin().arg("run").arg(&spec2).arg("--out").arg(&second));
    let b = Summary::read(&second).unwrap();
    let (ea, eb) = (
        a.units[0].metrics["test_mse"],
        b.units[0].metrics["test_mse"],
    );
    assert!(
        (ea - eb).abs() < 1e-6 * (1.0 + ea),
        "imported model starts where the first ended: {ea} vs {eb}"
    );
    // A name map that loses the names is a clear error, before the run folder exists.
    let bad = write(
        tmp.path(),
        "bad.toml",
        &std::fs::read_to_string(&spec2)
            .unwrap()
            .replace("\"Mlp.layers.\"]", "\"blocks.\"]"),
    );
    let (code, err) = fails(
        nonlin()
            .arg("run")
            .arg(&bad)
            .arg("--out")
            .arg(tmp.path().join("never")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
    assert!(!tmp.path().join("never").exists());
}

/// Bug 2: an override on the command line reaches every arm, after the arm's own `set`.
#[test]
fn command_line_overrides_win_over_arm_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    run_ok(
        nonlin()
            .args(["run", "model.activation=silu", "train.epochs=1", "--out"])
            .arg(&out),
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let arms = config["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 3);
    for arm in arms {
        assert_eq!(arm[1]["model"]["activation"], "silu", "{arm}");
    }
}

/// Bugs 3 and 4: an empty split, or a model that cannot be built for the data, is an error before
/// the run folder exists, so the same --out works once the config is fixed.
#[test]
fn bad_configs_fail_before_the_run_folder_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let conv_on_points = write(
        tmp.path(),
        "conv.toml",
        &DIGITS
            .replace("dataset = \"digits\"", "dataset = \"two_spirals\"")
            .replace("kind = \"mlp\"\nhidden = [32]", "kind = \"conv_net\""),
    );
    let conv = conv_on_points.display().to_string();
    for (overrides, says) in [
        (vec!["data.test_fraction=0.0001"], "test split"),
        (
            vec!["data.test_fraction=0.7", "data.validation=0.3"],
            "train split",
        ),
        (vec![conv.as_str()], "conv_net"),
    ] {
        let (code, err) = fails(nonlin().arg("run").args(&overrides).arg("--out").arg(&out));
        assert_eq!(code, 2, "{overrides:?}: {err}");
        assert!(err.contains(says), "{overrides:?}: {err}");
        assert!(!out.exists(), "{overrides:?} left {} behind", out.display());
    }
    run_ok(nonlin().args(["run", "train.epochs=1", "--out"]).arg(&out));
}

/// Bug 5: `reproduce` records a paper whose run fails and goes on with the others.
#[test]
fn reproduce_goes_on_after_a_paper_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let papers = tmp.path().join("papers");
    std::fs::create_dir_all(&papers).unwrap();
    // "a_broken" sorts first; its model cannot be built for flat 2-D points.
    write(
        &papers,
        "a_broken.toml",
        &DIGITS
            .replace("dataset = \"digits\"", "dataset = \"two_spirals\"")
            .replace("kind = \"mlp\"\nhidden = [32]", "kind = \"conv_net\""),
    );
    write(
        &papers,
        "b_fine.toml",
        &format!(
            "{DIGITS}\n[[claim]]\nname = \"learns\"\nmetric = \"test_accuracy\"\nop = \">=\"\nvalue = 0.5\n"
        ),
    );
    let out = nonlin()
        .args(["reproduce", "--dir"])
        .arg(&papers)
        .arg("--runs")
        .arg(tmp.path().join("runs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let row = |slug: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(slug))
            .unwrap_or_else(|| panic!("{slug}: {stdout}"))
    };
    assert!(row("a_broken").contains("ERROR"), "{stdout}");
    assert!(row("b_fine").contains("PASS"), "{stdout}");
    assert!(stdout.contains("1 paper(s) could not run"), "{stdout}");
}
