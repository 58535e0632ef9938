//! A run killed with SIGKILL mid-way and resumed with `--resume` ends with exactly the metrics of
//! an uninterrupted run: with backprop at epoch boundaries, with a rule that owns a module
//! (Mono-Forward's projection matrices) on a model that draws noise (dropout), checkpointed in
//! the middle of an epoch, with Forward-Forward (its own classifier, its best model for early
//! stopping, running means, random negative labels every step), and with NoProp-DT (noisy label
//! embeddings drawn every block update, a noisy denoising chain at prediction).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nonlin::lab::Summary;
use nonlin::lab::checkpoint::read_meta;
use nonlin::lab::metrics_log::read_jsonl;

const SPEC: &str = r#"
name = "resumable"
seeds = [5]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [256, 256]
[optimizer]
kind = "adam"
[train]
lr = 1e-3
epochs = 12
batch_size = 8
log_every = 20
checkpoint_every = 1
schedule = { kind = "cosine", warmup = 50 }
"#;

fn nonlin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nonlin"));
    cmd.env("CI", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn epochs_done(run: &Path) -> usize {
    read_meta(&run.join("checkpoints/base-seed5"))
        .ok()
        .flatten()
        .map(|m| m.epochs_done)
        .unwrap_or(0)
}

/// Runs `spec` into `whole`, and into `cut` killed with SIGKILL once `ready` holds for its
/// checkpoint, then resumed; returns the two summaries.
fn kill_and_resume(
    spec: &Path,
    whole: &Path,
    cut: &Path,
    ready: impl Fn(&nonlin::lab::checkpoint::CheckpointMeta) -> bool,
) -> (Summary, Summary) {
    assert!(
        nonlin()
            .arg("run")
            .arg(spec)
            .arg("--out")
            .arg(whole)
            .status()
            .unwrap()
            .success()
    );
    let mut child = nonlin()
        .arg("run")
        .arg(spec)
        .arg("--out")
        .arg(cut)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let unit = cut.join("checkpoints/base-seed5");
    while !read_meta(&unit).ok().flatten().is_some_and(|m| ready(&m)) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no chance to clean up
    child.wait().unwrap();
    let meta = read_meta(&unit).unwrap().unwrap();
    assert!(!meta.finished, "killed too late: {meta:?}");
    assert!(!cut.join("summary.json").exists());
    assert!(
        nonlin()
            .args(["run", "--resume", "--out"])
            .arg(cut)
            .status()
            .unwrap()
            .success()
    );
    (Summary::read(whole).unwrap(), Summary::read(cut).unwrap())
}

const LOCAL_RULE: &str = r#"
name = "resumable-local"
seeds = [5]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [128, 128]
dropout = 0.2
[rule]
kind = "mono_forward"
epochs_per_layer = 1
[optimizer]
kind = "adam"
[train]
lr = 1e-3
steps = 1200
batch_size = 8
log_every = 20
eval_every = 250
checkpoint_every = 0
checkpoint_every_steps = 40
"#;

#[test]
fn a_rule_with_its_own_module_and_noise_resumes_mid_epoch_to_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("local.toml");
    std::fs::write(&spec, LOCAL_RULE).unwrap();
    let (whole, cut) = kill_and_resume(
        &spec,
        &tmp.path().join("whole"),
        &tmp.path().join("cut"),
        // mid-epoch (169 steps per epoch), after Mono-Forward's first phase
        |m| m.step >= 200 && m.batches_done > 0,
    );
    let meta = read_meta(&tmp.path().join("cut/checkpoints/base-seed5"))
        .unwrap()
        .unwrap();
    assert_eq!(
        meta.rule_modules.len(),
        1,
        "the projections are checkpointed"
    );
    assert_eq!(
        whole.units, cut.units,
        "resumed run must end with the same metrics, bit for bit"
    );
    // The rule predicted (not the untrained output layer): far above chance.
    assert!(
        whole.units[0].metrics["test_accuracy"] > 0.8,
        "{:?}",
        whole.units
    );
    // The noise matters: the same run without dropout ends elsewhere, so the equality above
    // covers restoring the noise.
    let plain = tmp.path().join("plain");
    let no_dropout = tmp.path().join("plain.toml");
    std::fs::write(&no_dropout, LOCAL_RULE.replace("dropout = 0.2", "")).unwrap();
    assert!(
        nonlin()
            .arg("run")
            .arg(&no_dropout)
            .arg("--out")
            .arg(&plain)
            .status()
            .unwrap()
            .success()
    );
    assert_ne!(Summary::read(&plain).unwrap().units, whole.units);
    let records = read_jsonl(&tmp.path().join("cut/metrics.jsonl")).unwrap();
    let keys: BTreeSet<(u64, String)> = records.iter().map(|r| (r.step, r.split.clone())).collect();
    assert_eq!(keys.len(), records.len(), "duplicate records after resume");
}

const FORWARD_FORWARD: &str = r#"
name = "resumable-ff"
seeds = [5]
[data]
dataset = "digits"
validation = 0.1
[model]
kind = "mlp"
hidden = [64, 64]
[rule]
kind = "forward_forward"
patience = 4
[optimizer]
kind = "adamw"
[train]
lr = 1e-3
epochs = 30
batch_size = 16
log_every = 20
checkpoint_every = 0
checkpoint_every_steps = 40
"#;

#[test]
fn forward_forward_resumes_mid_epoch_to_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("ff.toml");
    std::fs::write(&spec, FORWARD_FORWARD).unwrap();
    let (whole, cut) = kill_and_resume(
        &spec,
        &tmp.path().join("whole"),
        &tmp.path().join("cut"),
        // mid-epoch (85 steps per epoch) after the first validation: a best model exists
        |m| m.step >= 120 && m.batches_done > 0,
    );
    let meta = read_meta(&tmp.path().join("cut/checkpoints/base-seed5"))
        .unwrap()
        .unwrap();
    let names: BTreeSet<&str> = meta.rule_modules.iter().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains("classifier") && names.contains("best_model"),
        "{names:?}"
    );
    assert_eq!(
        whole.units, cut.units,
        "resumed run must end with the same metrics, bit for bit"
    );
    assert!(
        whole.units[0].metrics["test_accuracy"] > 0.7,
        "{:?}",
        whole.units
    );
}

const NOPROP_DT: &str = r#"
name = "resumable-noprop"
seeds = [5]
[data]
dataset = "digits"
[model]
kind = "noprop_net"
blocks = 4
image_hidden = [64]
label_hidden = 32
fuse_hidden = [32]
[rule]
kind = "noprop_dt"
[optimizer]
kind = "adamw"
weight_decay = 1e-3
[train]
lr = 1e-3
epochs = 8
batch_size = 16
log_every = 20
eval_every = 100
checkpoint_every = 0
checkpoint_every_steps = 40
"#;

#[test]
fn noprop_dt_resumes_mid_epoch_to_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("noprop.toml");
    std::fs::write(&spec, NOPROP_DT).unwrap();
    let (whole, cut) = kill_and_resume(
        &spec,
        &tmp.path().join("whole"),
        &tmp.path().join("cut"),
        // mid-epoch (90 steps per epoch), after an evaluation through the noisy chain
        |m| m.step >= 120 && m.batches_done > 0,
    );
    assert_eq!(
        whole.units, cut.units,
        "resumed run must end with the same metrics, bit for bit"
    );
    assert!(
        whole.units[0].metrics["test_accuracy"] > 0.7,
        "{:?}",
        whole.units
    );
    // The chain's noise matters: without it the prediction differs, so the equality above
    // covers restoring the noise drawn at prediction time too.
    let quiet = tmp.path().join("quiet.toml");
    std::fs::write(
        &quiet,
        NOPROP_DT.replace(
            "kind = \"noprop_dt\"",
            "kind = \"noprop_dt\"\ninference_noise = false",
        ),
    )
    .unwrap();
    let plain = tmp.path().join("plain");
    assert!(
        nonlin()
            .arg("run")
            .arg(&quiet)
            .arg("--out")
            .arg(&plain)
            .status()
            .unwrap()
            .success()
    );
    assert_ne!(Summary::read(&plain).unwrap().units, whole.units);
}

#[test]
fn a_killed_run_resumes_to_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("resumable.toml");
    std::fs::write(&spec, SPEC).unwrap();

    let whole = tmp.path().join("whole");
    assert!(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("--out")
            .arg(&whole)
            .status()
            .unwrap()
            .success()
    );

    let cut = tmp.path().join("cut");
    let mut child = nonlin()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&cut)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while epochs_done(&cut) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no chance to clean up
    child.wait().unwrap();
    let meta = read_meta(&cut.join("checkpoints/base-seed5"))
        .unwrap()
        .unwrap();
    assert!(
        !meta.finished && meta.epochs_done < 12,
        "killed too late: {meta:?}"
    );
    assert!(!cut.join("summary.json").exists());

    // Resume without naming the spec again: the run folder holds it.
    assert!(
        nonlin()
            .args(["run", "--resume", "--out"])
            .arg(&cut)
            .status()
            .unwrap()
            .success()
    );

    let a = Summary::read(&whole).unwrap();
    let b = Summary::read(&cut).unwrap();
    assert_eq!(
        a.units, b.units,
        "resumed run must end with the same metrics, bit for bit"
    );

    // Every logged (step, split) appears once: records past the checkpoint were dropped on resume.
    let records = read_jsonl(&cut.join("metrics.jsonl")).unwrap();
    let keys: BTreeSet<(u64, String)> = records.iter().map(|r| (r.step, r.split.clone())).collect();
    assert_eq!(keys.len(), records.len(), "duplicate records after resume");
    let whole_records = read_jsonl(&whole.join("metrics.jsonl")).unwrap();
    assert_eq!(records.len(), whole_records.len());
}

#[test]
fn resume_refuses_a_changed_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("resumable.toml");
    std::fs::write(&spec, SPEC.replace("epochs = 12", "epochs = 1")).unwrap();
    let out = tmp.path().join("r");
    assert!(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let status = nonlin()
        .arg("run")
        .arg(&spec)
        .arg("train.lr=0.5")
        .arg("--resume")
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    // Resuming a finished run with the same spec changes nothing and succeeds.
    let before = std::fs::read(out.join("summary.json")).unwrap();
    assert!(
        nonlin()
            .arg("run")
            .arg(&spec)
            .arg("--resume")
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let after = Summary::read(&out).unwrap();
    let before: Summary = serde_json::from_slice(&before).unwrap();
    assert_eq!(before.units, after.units);
}
