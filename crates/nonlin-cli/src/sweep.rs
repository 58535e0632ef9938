//! `nonlin sweep`: parses the arguments, then runs one point in this process (`--index`, or the
//! index Slurm or Kubernetes sets), or every unfinished point as child processes of this same
//! executable; `--dry-run` lists the points and `--slurm` prints a job-array script. The grid,
//! the manifest and the point status live in `nonlin::lab::sweep`.

use std::collections::VecDeque;
use std::fs::File;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nonlin::lab::LabError;
use nonlin::lab::compare::compare_with_notes;
use nonlin::lab::sweep::{Axis, PointStatus, Sweep, chosen_index};
use nonlin::lab::table::Table;
use nonlin::nn::DeviceSpec;

use crate::Engine;

/// Set in the children of `nonlin sweep`, which leave the final table to their parent.
const CHILD_ENV: &str = "NONLIN_SWEEP_CHILD";

const AFTER_HELP: &str = "\
Points are the product of the --grid axes in the order given, the last varying fastest; each
point's overrides are the spec's [quick] ones (with --quick), then the base overrides, then its
grid values. Rerunning the same command skips finished points and resumes interrupted ones.

Scale-out: --index N runs point N alone, so any array scheduler runs the sweep with one task
per point writing to a shared --out. Without --index, $SLURM_ARRAY_TASK_ID (a Slurm job array;
--slurm prints the sbatch script) and then $JOB_COMPLETION_INDEX (a Kubernetes indexed Job,
completionMode: Indexed) choose the point.

Examples:
  nonlin sweep x.toml --grid 'train.lr=[1e-3,3e-3]' --grid 'model.activation=[relu,gelu]' --out runs/sw
  nonlin sweep x.toml --grid 'model.hidden=[[64],[128,128]]' --out runs/sw2 --jobs 2
  nonlin sweep x.toml --grid 'train.lr=[1e-3,3e-3]' --out runs/sw --slurm > sweep.sbatch
  nonlin compare runs/sw                 # one table of every finished point";

/// The arguments of `nonlin sweep`.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The experiment file.
    spec: String,
    /// Dotted overrides applied to every point, such as `train.epochs=5`.
    overrides: Vec<String>,
    /// One axis of the grid, `key=[v1,v2,...]` (TOML values; bare words are strings). Repeat for
    /// more axes.
    #[arg(long = "grid", value_name = "KEY=[VALUES]", required = true)]
    grid: Vec<String>,
    /// The sweep folder: sweep.json and one run folder per point (point-0000, point-0001, ...).
    #[arg(long)]
    out: PathBuf,
    /// Apply the spec's [quick] overrides (the fast variant CI runs).
    #[arg(long)]
    quick: bool,
    /// Run only point N [default: $SLURM_ARRAY_TASK_ID, then $JOB_COMPLETION_INDEX; without
    /// either, every unfinished point].
    #[arg(long, value_name = "N", conflicts_with = "jobs")]
    index: Option<usize>,
    /// Run up to K points at once as child processes (each one's output goes to
    /// <out>/logs/point-NNNN.log when K > 1).
    #[arg(long, value_name = "K", default_value = "1")]
    jobs: NonZeroUsize,
    /// List the points (index, folder, status, grid values) and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print an sbatch script running the points as a Slurm job array, and run nothing (it
    /// creates --out with its sweep.json, where the array's log files go).
    #[arg(long, conflicts_with = "dry_run")]
    slurm: bool,
    #[command(flatten)]
    engine: Engine,
}

/// Runs `nonlin sweep`.
pub fn sweep(args: Args) -> Result<ExitCode, LabError> {
    let text = std::fs::read_to_string(&args.spec).map_err(LabError::io(&args.spec))?;
    let axes: Vec<Axis> = args
        .grid
        .iter()
        .map(|g| Axis::parse(g))
        .collect::<Result<_, _>>()?;
    let sweep = Sweep::new(&args.spec, &text, &args.overrides, args.quick, axes)?;
    // The script runs every point, whatever index this shell has.
    let chosen = if args.slurm {
        None
    } else {
        chosen_index(args.index, |var| std::env::var(var).ok())?
    };
    if let Some(c) = &chosen {
        sweep.point(c.index).map_err(|e| match c.from.as_str() {
            "--index" => e,
            var => LabError::Other(format!("{var}={}: {e}", c.index)),
        })?;
    }
    let out = &args.out;

    if args.dry_run {
        sweep.check_folder(out)?;
        return dry_run(&sweep, out, chosen.map(|c| c.index));
    }
    // A bad --device fails here, not once per point.
    args.engine.device.parse::<DeviceSpec>()?;
    sweep.save_or_check(out)?;
    if args.slurm {
        let workdir = std::env::current_dir().map_err(LabError::io("."))?;
        print!(
            "{}",
            sweep.slurm_script(out, &point_command(&args)?, &workdir)
        );
        return Ok(ExitCode::SUCCESS);
    }
    match chosen {
        Some(c) => {
            if c.from != "--index" {
                eprintln!("{}={}: running point {} only", c.from, c.index, c.index);
            }
            run_point(&sweep, out, c.index, &args.engine)
        }
        None => run_all(&sweep, &args),
    }
}

fn dry_run(sweep: &Sweep, out: &Path, only: Option<usize>) -> Result<ExitCode, LabError> {
    println!(
        "sweep {}: {} points ({}) in {}{}",
        sweep.name,
        sweep.points.len(),
        sweep.shape(),
        out.display(),
        if sweep.overrides.is_empty() {
            String::new()
        } else {
            format!("; every point: {}", sweep.overrides.join(" "))
        }
    );
    let mut table = Table::new(["index", "folder", "status", "grid values"]);
    for (point, status) in sweep.points.iter().zip(sweep.statuses(out)) {
        if only.is_none_or(|i| i == point.index) {
            table.push_row([
                point.index.to_string(),
                point.folder.clone(),
                status.to_string(),
                point.values.join(" "),
            ]);
        }
    }
    print!("{}", table.to_text());
    Ok(ExitCode::SUCCESS)
}

/// Runs point `index` here: skipped when finished, resumed when started, else fresh.
fn run_point(
    sweep: &Sweep,
    out: &Path,
    index: usize,
    engine: &Engine,
) -> Result<ExitCode, LabError> {
    let dir = sweep.point_dir(out, index)?;
    let point = sweep.point(index)?;
    let status = PointStatus::of(&dir);
    match status {
        PointStatus::Finished => {
            eprintln!(
                "point {index} ({}): finished earlier, skipped",
                point.folder
            );
        }
        PointStatus::Started | PointStatus::NotStarted => {
            let resume = status == PointStatus::Started;
            eprintln!(
                "point {index} of {} ({}{}): {}",
                sweep.points.len(),
                point.folder,
                if resume {
                    ", continued from its checkpoints"
                } else {
                    ""
                },
                point.values.join(" ")
            );
            let experiment = sweep.experiment(index)?;
            let options = nonlin::lab::RunOptions {
                spec_text: Some(sweep.spec_text.clone()),
                ..crate::options(engine, dir, resume)?
            };
            crate::execute(&experiment, options)?;
        }
    }
    let finished = sweep
        .statuses(out)
        .iter()
        .all(|s| *s == PointStatus::Finished);
    if finished && std::env::var_os(CHILD_ENV).is_none() {
        print_table(sweep, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A point running as a child process.
struct Running {
    index: usize,
    child: Child,
    started: Instant,
    log: Option<PathBuf>,
}

/// Runs every unfinished point as child processes, at most `--jobs` at once.
fn run_all(sweep: &Sweep, args: &Args) -> Result<ExitCode, LabError> {
    let out = &args.out;
    let jobs = args.jobs.get();
    let mut queue = VecDeque::new();
    for (point, status) in sweep.points.iter().zip(sweep.statuses(out)) {
        match status {
            PointStatus::Finished => {
                eprintln!(
                    "point {} ({}): finished earlier, skipped",
                    point.index, point.folder
                )
            }
            _ => queue.push_back(point.index),
        }
    }
    eprintln!(
        "sweep {}: {} points ({}), {} to run, {} at a time -> {}",
        sweep.name,
        sweep.points.len(),
        sweep.shape(),
        queue.len(),
        jobs.min(queue.len().max(1)),
        out.display()
    );
    let exe = std::env::current_exe().map_err(LabError::io("the nonlin executable"))?;
    let command = point_command(args)?;
    let mut running: Vec<Running> = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs
            && let Some(index) = queue.pop_front()
        {
            match spawn_point(sweep, out, &exe, &command[1..], index, jobs > 1) {
                Ok(r) => running.push(r),
                Err(e) => {
                    eprintln!("point {index}: FAILED to start: {e}");
                    failed.push((index, format!("not started: {e}")));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut k = 0;
        while k < running.len() {
            let status = running[k].child.try_wait().map_err(LabError::io(&exe))?;
            let Some(status) = status else {
                k += 1;
                continue;
            };
            let r = running.swap_remove(k);
            let folder = &sweep.points[r.index].folder;
            let took = r.started.elapsed().as_secs_f64();
            if status.success() {
                eprintln!("point {} ({folder}): done in {took:.1} s", r.index);
            } else {
                let how = describe(status);
                eprintln!(
                    "point {} ({folder}): FAILED after {took:.1} s ({how}){}",
                    r.index,
                    r.log
                        .map(|l| format!(", see {}", l.display()))
                        .unwrap_or_default()
                );
                failed.push((r.index, how));
            }
        }
    }
    if !failed.is_empty() {
        failed.sort();
        eprintln!(
            "{} of {} points failed: {}",
            failed.len(),
            sweep.points.len(),
            failed
                .iter()
                .map(|(i, how)| format!("{} ({how})", sweep.points[*i].folder))
                .collect::<Vec<_>>()
                .join(", ")
        );
        eprintln!(
            "rerun the same command to retry them; `nonlin compare {}` tables the finished ones",
            out.display()
        );
        return Ok(ExitCode::from(1));
    }
    print_table(sweep, out)?;
    Ok(ExitCode::SUCCESS)
}

fn spawn_point(
    sweep: &Sweep,
    out: &Path,
    exe: &Path,
    args: &[String],
    index: usize,
    to_log: bool,
) -> Result<Running, LabError> {
    let point = sweep.point(index)?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .arg("--index")
        .arg(index.to_string())
        .env(CHILD_ENV, "1");
    let mut log = None;
    if to_log {
        let path = out.join("logs").join(format!("{}.log", point.folder));
        std::fs::create_dir_all(out.join("logs")).map_err(LabError::io(out))?;
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(LabError::io(&path))?;
        let copy = file.try_clone().map_err(LabError::io(&path))?;
        cmd.stdout(Stdio::from(file)).stderr(Stdio::from(copy));
        log = Some(path);
    }
    let child = cmd.spawn().map_err(LabError::io(exe))?;
    eprintln!(
        "point {index} ({}) started: {}{}",
        point.folder,
        point.values.join(" "),
        log.as_ref()
            .map(|l| format!(" (log: {})", l.display()))
            .unwrap_or_default()
    );
    Ok(Running {
        index,
        child,
        started: Instant::now(),
        log,
    })
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "no exit status".into(),
    }
}

/// The command line that runs one point, without its index: this executable, `sweep`, and the
/// user's arguments (not --jobs, --dry-run or --slurm).
fn point_command(args: &Args) -> Result<Vec<String>, LabError> {
    let exe = std::env::current_exe().map_err(LabError::io("the nonlin executable"))?;
    let mut cmd = vec![exe.display().to_string(), "sweep".into(), args.spec.clone()];
    cmd.extend(args.overrides.iter().cloned());
    for g in &args.grid {
        cmd.extend(["--grid".into(), g.clone()]);
    }
    cmd.extend(["--out".into(), args.out.display().to_string()]);
    if args.quick {
        cmd.push("--quick".into());
    }
    cmd.extend(["--device".into(), args.engine.device.clone()]);
    if let Some(threads) = args.engine.threads {
        cmd.extend(["--threads".into(), threads.to_string()]);
    }
    if let Some(dir) = &args.engine.data_dir {
        cmd.extend(["--data-dir".into(), dir.display().to_string()]);
    }
    Ok(cmd)
}

/// One table of every finished point, as `nonlin compare <out>` prints it.
fn print_table(sweep: &Sweep, out: &Path) -> Result<(), LabError> {
    let (table, notes) = compare_with_notes(&[out.to_path_buf()])?;
    println!(
        "\nsweep {}: {} points ({})",
        sweep.name,
        sweep.points.len(),
        sweep.shape()
    );
    print!("{}", table.to_text());
    for note in notes {
        eprintln!("note: {note}");
    }
    println!("sweep folder: {} (sweep.json, point-NNNN/)", out.display());
    Ok(())
}
