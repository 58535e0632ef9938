//! `nonlin sweep` end to end: a grid run point by point in separate processes with one point
//! killed by SIGKILL and rerun, the index from Slurm and Kubernetes variables, local child
//! processes, dry runs, the Slurm script, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nonlin::lab::Summary;
use nonlin::lab::checkpoint::read_meta;

/// Tiny and fast: a 64-16-10 MLP on the built-in digits takes about 60 ms an epoch on one core.
/// Ten epochs leave a window of about half a second to kill a point between its first checkpoint
/// and its end; `[quick]` makes the points that need not be killed take one epoch.
const SPEC: &str = r#"
name = "grid"
seeds = [0]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [16]
[optimizer]
kind = "adam"
[train]
lr = 3e-3
epochs = 10
batch_size = 8
log_every = 20
checkpoint_every = 1
[quick]
"train.epochs" = 1
"#;

const LR: &str = "train.lr=[3e-3,1e-2]";
const ACTIVATION: &str = "model.activation=[relu,tanh]";

fn nonlin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nonlin"));
    cmd.env("CI", "1")
        .env_remove("NONLIN_DATA")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("NONLIN_SWEEP_CHILD");
    cmd
}

/// `nonlin sweep SPEC --grid LR --grid ACTIVATION --out OUT` plus `extra`.
fn sweep(spec: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = nonlin();
    cmd.arg("sweep")
        .arg(spec)
        .args(["--grid", LR, "--grid", ACTIVATION, "--out"])
        .arg(out)
        .args(extra);
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().expect("nonlin runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs `cmd`, asserts success and returns (stdout, stderr).
fn ok(cmd: &mut Command) -> (String, String) {
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(
        code, 0,
        "nonlin failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("grid.toml");
    std::fs::write(&spec, SPEC).unwrap();
    (tmp, spec)
}

fn finished(out: &Path) -> Vec<bool> {
    (0..4)
        .map(|k| out.join(format!("point-{k:04}/summary.json")).is_file())
        .collect()
}

fn epochs_done(point: &Path) -> usize {
    read_meta(&point.join("checkpoints/base-seed0"))
        .ok()
        .flatten()
        .map(|m| m.epochs_done)
        .unwrap_or(0)
}

#[test]
fn a_point_killed_mid_way_is_rerun_to_the_same_metrics_and_compare_tables_every_point() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");

    // Points 0, 1 and 3 in separate processes, as a job array would run them.
    for k in ["0", "1", "3"] {
        ok(&mut sweep(&spec, &out, &["--index", k]));
    }
    assert_eq!(finished(&out), [true, true, false, true]);

    // Point 2 is killed after its first checkpoint, before it finishes.
    let point = out.join("point-0002");
    let mut child = sweep(&spec, &out, &["--index", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while epochs_done(&point) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the point ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no chance to clean up
    child.wait().unwrap();
    let meta = read_meta(&point.join("checkpoints/base-seed0"))
        .unwrap()
        .unwrap();
    assert!(
        !meta.finished && meta.epochs_done < 10,
        "killed too late: {meta:?}"
    );
    assert_eq!(finished(&out), [true, true, false, true]);
    let (listing, _) = ok(&mut sweep(&spec, &out, &["--dry-run"]));
    assert!(
        listing
            .lines()
            .any(|l| l.contains("point-0002") && l.contains("started")),
        "{listing}"
    );

    // The same command again continues it; it is the last point, so the sweep's table follows.
    let (stdout, stderr) = ok(&mut sweep(&spec, &out, &["--index", "2"]));
    assert!(
        stderr.contains("continued from its checkpoints"),
        "{stderr}"
    );
    assert!(stderr.contains("resumed at epoch"), "{stderr}");
    assert!(stdout.contains("sweep grid: 4 points (2 x 2)"), "{stdout}");
    assert_eq!(finished(&out), [true; 4]);

    // ... to exactly the metrics of the same point run without interruption.
    let whole = tmp.path().join("whole");
    ok(&mut sweep(&spec, &whole, &["--index", "2"]));
    let a = Summary::read(&whole.join("point-0002")).unwrap();
    let b = Summary::read(&point).unwrap();
    assert_eq!(
        a.units, b.units,
        "the rerun point must end with the same metrics, bit for bit"
    );

    // One table of the four points: the grid's keys are the columns that differ.
    let (csv, _) = ok(nonlin().args(["compare", "--format", "csv"]).arg(&out));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4, "{csv}");
    let header = lines[0];
    assert!(
        header.starts_with("run,arm,model.activation,train.lr,")
            && header.contains("test_accuracy"),
        "{header}"
    );
    for (k, activation, lr) in [
        (0, "relu", "0.003"),
        (1, "tanh", "0.003"),
        (2, "relu", "0.01"),
        (3, "tanh", "0.01"),
    ] {
        let row = format!("point-{k:04},base,{activation},{lr},");
        assert!(lines[1 + k].starts_with(&row), "{row}\n{csv}");
    }

    // A finished point is skipped on rerun and left as it was.
    let before = std::fs::read(point.join("summary.json")).unwrap();
    let (_, stderr) = ok(&mut sweep(&spec, &out, &["--index", "2"]));
    assert!(stderr.contains("finished earlier, skipped"), "{stderr}");
    assert_eq!(std::fs::read(point.join("summary.json")).unwrap(), before);
}

#[test]
fn dry_run_lists_the_points_and_slurm_prints_an_array_script() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");
    let (listing, _) = ok(&mut sweep(&spec, &out, &["--dry-run", "train.epochs=2"]));
    let points: Vec<&str> = listing.lines().filter(|l| l.contains("point-")).collect();
    assert_eq!(points.len(), 4, "{listing}");
    assert!(
        points[1].contains("not started")
            && points[1].contains("train.lr=0.003")
            && points[1].contains(r#"model.activation="tanh""#),
        "{listing}"
    );
    assert!(listing.contains("every point: train.epochs=2"), "{listing}");
    assert!(!out.exists(), "a dry run writes nothing");

    // The script covers every point even where a task id is set (as in a shell inside a job).
    let (script, _) =
        ok(sweep(&spec, &out, &["--slurm", "--quick"]).env("SLURM_ARRAY_TASK_ID", "9"));
    assert!(script.starts_with("#!/bin/bash"), "{script}");
    assert!(script.contains("#SBATCH --array=0-3"), "{script}");
    assert!(script.contains("#SBATCH --job-name=grid"), "{script}");
    assert!(
        script.contains(&format!(
            "#SBATCH --output={}/slurm-%A_%a.out",
            out.display()
        )),
        "{script}"
    );
    let command = script.lines().last().unwrap();
    assert!(
        command.contains(" sweep ")
            && command
                .contains("--grid 'train.lr=[3e-3,1e-2]' --grid 'model.activation=[relu,tanh]'")
            && command.contains("--quick")
            && command.ends_with("--index $SLURM_ARRAY_TASK_ID"),
        "{command}"
    );
    // It runs nothing, but the array's log folder and manifest are ready.
    assert!(out.join("sweep.json").is_file());
    assert_eq!(finished(&out), [false; 4]);
}

#[test]
fn the_index_comes_from_slurm_or_kubernetes() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");
    let (_, stderr) = ok(sweep(&spec, &out, &["--quick"]).env("SLURM_ARRAY_TASK_ID", "2"));
    assert!(stderr.contains("SLURM_ARRAY_TASK_ID=2"), "{stderr}");
    assert_eq!(finished(&out), [false, false, true, false]);
    ok(sweep(&spec, &out, &["--quick"]).env("JOB_COMPLETION_INDEX", "1"));
    assert_eq!(finished(&out), [false, true, true, false]);
    // --index wins over both.
    ok(sweep(&spec, &out, &["--quick", "--index", "3"])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("JOB_COMPLETION_INDEX", "1"));
    assert_eq!(finished(&out), [false, true, true, true]);
    let e = point_summary(&out, 2);
    assert_eq!(
        e.units[0].metrics["steps"], 169.0,
        "quick: one epoch of 1347 / 8"
    );

    let (code, _, stderr) =
        output(sweep(&spec, &out, &["--quick"]).env("SLURM_ARRAY_TASK_ID", "4"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("SLURM_ARRAY_TASK_ID=4") && stderr.contains("4 points"),
        "{stderr}"
    );
}

fn point_summary(out: &Path, k: usize) -> Summary {
    Summary::read(&out.join(format!("point-{k:04}"))).unwrap()
}

#[test]
fn jobs_run_every_point_as_child_processes_and_skip_finished_ones() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");
    let mut cmd = nonlin();
    cmd.arg("sweep")
        .arg(&spec)
        .args(["--quick", "--grid", ACTIVATION, "--jobs", "2", "--out"])
        .arg(&out);
    let (stdout, stderr) = ok(&mut cmd);
    for k in 0..2 {
        assert!(
            out.join(format!("point-{k:04}/summary.json")).is_file(),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("point {k} (point-{k:04}) started")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("point {k} (point-{k:04}): done")),
            "{stderr}"
        );
        assert!(out.join(format!("logs/point-{k:04}.log")).is_file());
    }
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("point-")).collect();
    assert_eq!(rows.len(), 2, "one table of both points:\n{stdout}");

    let (stdout, stderr) = ok(&mut cmd);
    assert_eq!(
        stderr.matches("finished earlier, skipped").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("0 to run"), "{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("point-")).count(),
        2
    );
}

#[test]
fn a_failed_point_does_not_stop_the_others() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");
    // The MNIST point finds no data; the digits point runs.
    let nowhere = tmp.path().join("nowhere");
    let (code, _, stderr) = output(
        nonlin()
            .arg("sweep")
            .arg(&spec)
            .args(["--quick", "--grid", "data.dataset=[mnist, digits]", "--out"])
            .arg(&out)
            .arg("--data-dir")
            .arg(&nowhere)
            .env("HOME", &nowhere)
            .env("XDG_DATA_HOME", &nowhere),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(out.join("point-0001/summary.json").is_file(), "{stderr}");
    assert!(
        stderr.contains("1 of 2 points failed: point-0000 (exit status 2)"),
        "{stderr}"
    );
    let (code, _, stderr) = output(nonlin().arg("compare").arg(&out));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("left out: point-0000"), "{stderr}");
}

#[test]
fn bad_grids_and_other_sweeps_in_the_folder_are_clear_errors() {
    let (tmp, spec) = setup();
    let out = tmp.path().join("sw");
    let bad = |grid: &str| {
        let (code, _, stderr) = output(
            nonlin()
                .arg("sweep")
                .arg(&spec)
                .args(["--grid", grid, "--out"])
                .arg(&out),
        );
        assert_eq!(code, 2, "{grid}: {stderr}");
        stderr
    };
    let e = bad("train.lr=[3e-3,1e-2");
    assert!(e.contains("bad grid axis `train.lr=[3e-3,1e-2`"), "{e}");
    let e = bad("train.lr=[]");
    assert!(e.contains("empty"), "{e}");
    let e = bad("train.lr=[3e-3,-1]");
    assert!(e.contains("point 1") && e.contains("train.lr"), "{e}");
    let e = bad("train.batch_size=[8, 0]");
    assert!(
        e.contains("point 1") && e.contains("train.batch_size"),
        "{e}"
    );
    let e = bad("train.epochs=[1, many]");
    assert!(e.contains("point 1") && e.contains("train.epochs"), "{e}");
    assert!(!out.exists(), "nothing runs when a point does not load");

    let (code, _, e) = output(
        nonlin()
            .arg("sweep")
            .arg(&spec)
            .args(["--grid", LR, "--grid", "train.lr=[1e-1]", "--out"])
            .arg(&out),
    );
    assert_eq!(code, 2);
    assert!(e.contains("`train.lr` is given twice"), "{e}");

    ok(&mut sweep(&spec, &out, &["--slurm"]));
    let (code, _, e) = output(&mut sweep(&spec, &out, &["--index", "7"]));
    assert_eq!(code, 2);
    assert!(e.contains("4 points"), "{e}");
    let (code, _, e) = output(&mut sweep(&spec, &out, &["--dry-run", "train.epochs=2"]));
    assert_eq!(code, 2);
    assert!(
        e.contains("the overrides") && e.contains("another --out"),
        "{e}"
    );
}
