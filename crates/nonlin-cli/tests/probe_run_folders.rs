//! Theory probes on trained run folders, end to end through the binary: a tiny run is trained
//! with `nonlin run`, then `nonlin probe <name> RUN_DIR` reads its model, data, initialisation and
//! metrics. Each test checks the probe's numbers against something computed another way: the
//! run's own summary and metrics log, a closed form evaluated here, Burn's initialisation
//! statistics, or the run's initialisation itself (a run whose learning rate is too small to move
//! an f32 weight ends where it started, so a probe's "at initialisation" numbers, from the model
//! rebuilt from the seed, must equal its "trained" ones).

use std::path::{Path, PathBuf};

use nonlin::lab::Summary;

mod common;
use common::{nonlin, run_ok};

/// A regression run of a deep linear net: an `mlp` with `identity` activations, plain SGD.
const LINEAR: &str = r#"
name = "deep-linear-tiny"
seeds = [0]
[data]
dataset = "smooth_regression"
n = 200
dims = 4
terms = 2
seed = 0
test_fraction = 0.25
[model]
kind = "mlp"
hidden = [8]
activation = "identity"
[optimizer]
kind = "sgd"
[train]
lr = 0.05
epochs = 5
batch_size = 16
log_every = 5
"#;

/// A digits classifier with one hidden ReLU layer (test split: 449 rows).
const DIGITS: &str = r#"
name = "digits-tiny"
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

/// A digits classifier whose learning rate cannot move an f32 weight: it ends where it started.
const FROZEN: &str = r#"
name = "digits-frozen"
seeds = [3]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [16, 16]
activation = "tanh"
[optimizer]
kind = "sgd"
[train]
lr = 1e-12
epochs = 1
batch_size = 256
"#;

/// Modular addition with p = 11 (121 pairs, 60% train), logged every step.
const MODULAR: &str = r#"
name = "modadd-tiny"
seeds = [0]
[data]
dataset = "modular_addition"
p = 11
train_fraction = 0.6
[model]
kind = "mlp"
hidden = [32]
[optimizer]
kind = "adam"
[train]
lr = 1e-2
epochs = 20
batch_size = 128
log_every = 1
"#;

/// Trains `spec` into `<tmp>/<name>` and returns the folder.
fn train(tmp: &Path, name: &str, spec: &str) -> PathBuf {
    let path = tmp.join(format!("{name}.toml"));
    std::fs::write(&path, spec).unwrap();
    let run = tmp.join(name);
    run_ok(nonlin().arg("run").arg(&path).arg("--out").arg(&run));
    run
}

/// The numbers (means) of `nonlin probe <probe> <run> [args]`; every one must be finite unless
/// `may_be_nan` names it.
fn probe(
    tmp: &Path,
    probe: &str,
    run: &Path,
    args: &[&str],
    may_be_nan: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    let out = tmp.join(format!(
        "probe-{probe}-{}",
        run.file_name().unwrap().to_string_lossy()
    ));
    run_ok(
        nonlin()
            .args(["probe", probe])
            .arg(run)
            .args(args)
            .arg("--out")
            .arg(&out),
    );
    assert!(out.join("report.md").is_file() && out.join("probe.json").is_file());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("probe.json")).unwrap()).unwrap();
    assert!(
        json["model"]
            .as_str()
            .unwrap()
            .contains(&*run.to_string_lossy())
    );
    let numbers: serde_json::Map<String, serde_json::Value> = json["numbers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["mean"].clone()))
        .collect();
    assert!(!numbers.is_empty(), "{probe}: no numbers");
    for (k, v) in &numbers {
        assert!(
            v.as_f64().is_some_and(f64::is_finite) || may_be_nan.contains(&k.as_str()),
            "{probe}: {k} = {v}"
        );
    }
    numbers
}

fn get(numbers: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    numbers
        .get(key)
        .unwrap_or_else(|| panic!("no number {key}"))
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// The run's final metric (first arm, first seed).
fn summary_metric(run: &Path, metric: &str) -> f64 {
    let summary = Summary::read(run).unwrap();
    summary.arms.values().next().unwrap()[metric].mean
}

/// The last logged value of `metric` on `split` in the run's `metrics.jsonl`.
fn last_logged(run: &Path, split: &str, metric: &str) -> f64 {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["split"] == split)
        .filter_map(|r| r["values"][metric].as_f64())
        .next_back()
        .unwrap()
}

/// An accuracy computed in f64 from the weights equals the run's (f32) one up to a near-tie row.
fn same_accuracy(probe: f64, run: f64, rows: f64) {
    assert!(
        (probe - run).abs() <= 1.0 / rows + 1e-9,
        "probe {probe} vs run {run}"
    );
}

/// deep_linear: the run's test MSE recomputed from its end-to-end map, its logged training loss,
/// and the closed-form strength of its one mode evaluated here from the probe's s and u(0).
#[test]
fn deep_linear_on_a_linear_regression_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), "linear", LINEAR);
    let n = probe(tmp.path(), "deep_linear", &run, &[], &[]);
    let test_mse = summary_metric(&run, "test_mse");
    assert!((get(&n, "run.final_test_mse") - test_mse).abs() < 1e-6 * test_mse);
    assert_eq!(
        get(&n, "run.logged_train_loss"),
        last_logged(&run, "train", "loss")
    );
    assert_eq!(get(&n, "run.depth"), 2.0);
    assert_eq!(get(&n, "run.modes"), 1.0); // one output: Sigma31 is 1 x 4, rank 1
    assert_eq!(get(&n, "run.steps"), 50.0); // 150 train rows / 16 = 10 batches x 5 epochs
    // u(t) = s e / (e - 1 + s / u0), e = exp(2 s t lr_eff), lr_eff = 2 lr / outputs = 0.1
    let (s, u0) = (get(&n, "run.mode1.s"), get(&n, "run.mode1.u_init").abs());
    let e = (2.0 * s * 50.0 * 0.1f64).exp();
    let u = s * e / (e - 1.0 + s / u0);
    assert!((get(&n, "run.mode1.u_theory") - u).abs() < 1e-9 * u, "{u}");
}

/// infinite_depth: ReLU's sphere-normalised dual has phi_hat(0) = 1/pi (the majority regime);
/// the network's accuracy on the test rows is the run's.
#[test]
fn infinite_depth_on_a_digits_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), "digits", DIGITS);
    let n = probe(
        tmp.path(),
        "infinite_depth",
        &run,
        &["--rows", "512", "run_depth_factors=[1, 20]"],
        &["run.alpha"],
    );
    assert_eq!(get(&n, "run.test_rows"), 449.0);
    assert_eq!(get(&n, "run.depth"), 1.0);
    assert!((get(&n, "run.phi0") - std::f64::consts::FRAC_1_PI).abs() < 1e-9);
    let accuracy = summary_metric(&run, "test_accuracy");
    same_accuracy(get(&n, "run.model_accuracy"), accuracy, 449.0);
    assert_eq!(get(&n, "run.logged_test_accuracy"), accuracy);
    for k in [
        "run.ntk_accuracy.x1",
        "run.ntk_accuracy.x20",
        "run.limit_accuracy",
    ] {
        assert!((0.0..=1.0).contains(&get(&n, k)), "{k}");
    }
    // the depth-1 NTK regression of one-hot labels on 512 digits is a good classifier
    assert!(get(&n, "run.ntk_accuracy.x1") > 0.8);
    // tanh through its Hermite series: odd (phi_hat(0) = 0), with 0 < phi_hat'(0) < 1 <
    // phi_hat'(1): the singular-kernel vote with alpha = 2 ln(1/phi_hat'(0)) / ln phi_hat'(1)
    let tanh = train(
        tmp.path(),
        "tanh",
        &DIGITS.replace("hidden = [32]", "hidden = [32, 32]\nactivation = \"tanh\""),
    );
    let n = probe(tmp.path(), "infinite_depth", &tanh, &["--rows", "64"], &[]);
    assert_eq!(get(&n, "run.depth"), 2.0);
    assert!(get(&n, "run.phi0").abs() < 1e-12 && get(&n, "run.hermite_tail") < 1e-6);
    let (d0, d1) = (get(&n, "run.dphi0"), get(&n, "run.dphi1"));
    assert!(0.0 < d0 && d0 < 1.0 && d1 > 1.0, "{d0} {d1}");
    assert!((get(&n, "run.alpha") - 2.0 * (1.0 / d0).ln() / d1.ln()).abs() < 1e-12);
}

/// mutual_info: on a run that never moved, the information plane at initialisation equals the
/// trained one; every binned estimate respects I(T;Y) <= I(X;T) <= log2 n.
#[test]
fn mutual_info_on_a_frozen_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), "frozen", FROZEN);
    let n = probe(
        tmp.path(),
        "mutual_info",
        &run,
        &["--rows", "512", "bins=4"],
        &[],
    );
    assert_eq!(get(&n, "run.layers"), 2.0);
    assert_eq!(get(&n, "run.max_ixt"), 9.0); // log2 512 training rows
    assert_eq!(get(&n, "run.bound_violations"), 0.0);
    for l in 1..=2 {
        for e in ["ebab", "fixed"] {
            for q in ["ixt", "ity"] {
                let key = |when: &str| format!("run.{when}.{e}.layer{l}.{q}");
                // equal up to the order of the entropy sums (over a hash map of bin patterns)
                let (a, b) = (get(&n, &key("init")), get(&n, &key("final")));
                assert!(
                    (a - b).abs() <= 1e-12 * a.abs(),
                    "{}: {a} vs {b}",
                    key("final")
                );
            }
            let (ixt, ity) = (
                get(&n, &format!("run.final.{e}.layer{l}.ixt")),
                get(&n, &format!("run.final.{e}.layer{l}.ity")),
            );
            assert!(ity <= ixt + 1e-12 && ixt <= 9.0 + 1e-12 && ity <= get(&n, "run.h_y") + 1e-12);
        }
    }
    same_accuracy(
        get(&n, "run.model_accuracy"),
        summary_metric(&run, "test_accuracy"),
        449.0,
    );
}

/// grokking: the accuracy series it reads are the run's log; the embeddings' power fractions are
/// fractions; the network's test accuracy is the run's.
#[test]
fn grokking_on_a_modular_addition_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), "modular", MODULAR);
    let n = probe(
        tmp.path(),
        "grokking",
        &run,
        &[],
        &["run.grok_step", "run.delay", "run.train_fit_step"],
    );
    assert_eq!(get(&n, "run.modulus"), 11.0);
    assert_eq!(get(&n, "run.hidden_units"), 32.0);
    assert_eq!(
        get(&n, "run.final_train_accuracy"),
        last_logged(&run, "train", "accuracy")
    );
    let accuracy = summary_metric(&run, "test_accuracy");
    assert_eq!(get(&n, "run.final_test_accuracy"), accuracy);
    same_accuracy(get(&n, "run.model_accuracy"), accuracy, 48.0); // 121 - 73 test pairs
    for when in ["init", "final"] {
        for what in ["mean_power", "fourier_units", "same_k"] {
            let v = get(&n, &format!("run.{when}.{what}"));
            assert!((0.0..=1.0).contains(&v), "{when}.{what} = {v}");
        }
    }
}

/// permutation_ntk: the GP reads Burn's initialisation (C_W = fan_in Var(W) = 1/3 for its
/// Kaiming-uniform weights, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, variance 1/(3 fan_in)); beside
/// it, the network's own test accuracy or MSE is the run's.
#[test]
fn permutation_ntk_on_classification_and_regression_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), "digits", DIGITS);
    let n = probe(
        tmp.path(),
        "permutation_ntk",
        &run,
        &["--rows", "512"],
        &[
            "run.gp_test_mse",
            "run.model_test_mse",
            "run.logged_test_mse",
        ],
    );
    // 64 x 32 = 2048 weights: the sample variance is within ~2.5% of 1/3 (one std)
    assert!(
        (get(&n, "run.c_w") - 1.0 / 3.0).abs() < 0.03,
        "{}",
        get(&n, "run.c_w")
    );
    same_accuracy(
        get(&n, "run.model_accuracy"),
        summary_metric(&run, "test_accuracy"),
        449.0,
    );
    assert!(get(&n, "run.gp_accuracy") > 0.8);
    assert!(get(&n, "run.models_p90") >= 1.0);
    assert!(get(&n, "run.models_p99.9") >= get(&n, "run.models_p90"));
    let linear = train(tmp.path(), "linear", LINEAR);
    let n = probe(
        tmp.path(),
        "permutation_ntk",
        &linear,
        &[],
        &[
            "run.gp_accuracy",
            "run.model_accuracy",
            "run.gp_model_agreement",
            "run.logged_test_accuracy",
        ],
    );
    let test_mse = summary_metric(&linear, "test_mse");
    assert!((get(&n, "run.model_test_mse") - test_mse).abs() < 1e-6 * test_mse);
    assert!(get(&n, "run.gp_test_mse") > 0.0);
}

/// zero_cost_nas: the proxies at initialisation come from the model rebuilt from the run's seed,
/// so on a run that never moved they equal the trained ones; on a trained run they differ.
#[test]
fn zero_cost_nas_on_frozen_and_trained_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let frozen = train(tmp.path(), "frozen", FROZEN);
    let n = probe(tmp.path(), "zero_cost_nas", &frozen, &[], &[]);
    for p in nonlin::theory::zero_cost_nas::PROXIES {
        let (a, b) = (
            get(&n, &format!("run.init.{p}")),
            get(&n, &format!("run.final.{p}")),
        );
        assert!(
            (a - b).abs() <= 1e-12 * a.abs().max(1e-300),
            "{p}: {a} vs {b}"
        );
    }
    assert_eq!(
        get(&n, "run.parameters"),
        (64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10) as f64
    );
    let trained = train(tmp.path(), "digits", DIGITS);
    let n = probe(
        tmp.path(),
        "zero_cost_nas",
        &trained,
        &["--rows", "512"],
        &[],
    );
    assert_ne!(get(&n, "run.init.snip"), get(&n, "run.final.snip"));
    same_accuracy(
        get(&n, "run.model_accuracy"),
        summary_metric(&trained, "test_accuracy"),
        449.0,
    );
}

/// A run that does not fit a probe (another model kind, task, data set or depth) is a typed error
/// naming the mismatch (exit code 2).
#[test]
fn mismatched_runs_are_errors_naming_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = train(tmp.path(), "digits", DIGITS);
    let linear = train(tmp.path(), "linear", LINEAR);
    let frozen = train(tmp.path(), "frozen", FROZEN);
    let kan = train(
        tmp.path(),
        "kan",
        &DIGITS
            .replace(
                "kind = \"mlp\"\nhidden = [32]",
                "kind = \"kan\"\nhidden = [4]",
            )
            .replace("epochs = 2", "epochs = 1"),
    );
    let not_an_mlp = "it reads the dense layers of an `mlp` model; the run's model is `kan`";
    for (probe, run, expected) in [
        ("deep_linear", &kan, not_an_mlp),
        ("infinite_depth", &kan, not_an_mlp),
        ("mutual_info", &kan, not_an_mlp),
        ("permutation_ntk", &kan, not_an_mlp),
        ("zero_cost_nas", &kan, not_an_mlp),
        ("deep_linear", &digits, "`identity` activations"),
        ("grokking", &digits, "the run's data set is `digits`"),
        (
            "permutation_ntk",
            &frozen,
            "the run's mlp has 2 hidden layers",
        ),
        ("infinite_depth", &linear, "classification run"),
        ("mutual_info", &linear, "classification run"),
        ("zero_cost_nas", &linear, "classification run"),
    ] {
        let name = run.file_name().unwrap().to_string_lossy();
        let out = nonlin()
            .args(["probe", probe])
            .arg(run)
            .arg("--out")
            .arg(tmp.path().join(format!("bad-{probe}-{name}")))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{probe}: {stderr}");
        assert!(stderr.contains(expected), "{probe}: {stderr}");
    }
}
