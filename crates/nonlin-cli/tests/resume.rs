//! A run killed with SIGKILL mid-way and resumed with `--resume` ends with exactly the metrics of
//! an uninterrupted run.

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
