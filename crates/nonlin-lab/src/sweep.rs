//! Sweeps: a grid of dotted overrides expanded into numbered points, each one run folder.
//!
//! A sweep folder holds `sweep.json` (the spec text, the base overrides, the grid and every
//! point's overrides) and one run folder per point, `point-0000/`, `point-0001/`, ... Points are
//! the cartesian product of the grid's axes in the order given, the last axis varying fastest, so
//! a point's index is a pure function of the grid. Running one point needs nothing but its index,
//! which makes a Slurm job array (`$SLURM_ARRAY_TASK_ID`) or a Kubernetes indexed Job
//! (`$JOB_COMPLETION_INDEX`) the scale-out engine: nonlin writes no scheduler of its own.
//!
//! A point's status is read from its folder: `summary.json` means finished, `config.json` without
//! it means started (interrupted, or running elsewhere) and continued with `--resume`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::LabError;
use crate::atomic::write_atomic;
use crate::spec::{Experiment, Override};

/// The sweep's manifest inside its folder.
pub const MANIFEST: &str = "sweep.json";

/// Environment variables naming the point to run, in order of precedence after `--index`:
/// Slurm job arrays, then Kubernetes indexed Jobs.
pub const INDEX_ENV_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// A guard against a typo that multiplies axes into millions of points.
const MAX_POINTS: usize = 100_000;

/// One axis of the grid: a dotted key and the values it takes, each kept as TOML text
/// (`0.001`, `"relu"`, `[64, 64]`) so that it reads back exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `key=[v1, v2, ...]`. The list is TOML; elements that are not TOML values are taken
    /// as plain strings, as in an override (`model.activation=[relu, gelu]`), and nested lists
    /// work for list-valued keys (`model.hidden=[[64], [128, 128]]`).
    pub fn parse(text: &str) -> Result<Axis, LabError> {
        let bad = |reason: String| {
            LabError::Other(format!(
                "bad grid axis `{text}`: {reason} (expected `key=[value, ...]`, e.g. `train.lr=[1e-3, 3e-3]`)"
            ))
        };
        let (key, raw) = text.split_once('=').ok_or_else(|| bad("no `=`".into()))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
            return Err(bad("empty key in the path".into()));
        }
        let raw = raw.trim();
        let values: Vec<Value> = match toml::from_str::<Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
        {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(bad("the values must be a list in brackets".into())),
            None => split_list(raw)
                .map_err(bad)?
                .iter()
                .map(|item| plain_value(item))
                .collect(),
        };
        if values.is_empty() {
            return Err(bad("the list of values is empty".into()));
        }
        let mut texts: Vec<String> = Vec::with_capacity(values.len());
        for v in values {
            let t = v.to_string();
            if texts.contains(&t) {
                return Err(bad(format!("the value {t} appears twice")));
            }
            texts.push(t);
        }
        Ok(Axis {
            key: key.to_string(),
            values: texts,
        })
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=[{}]", self.key, self.values.join(", "))
    }
}

/// A value as an override reads it: TOML when it parses, else the plain text as a string.
fn plain_value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Splits `[a, b(c, d), "e,f", [1, 2]]` at its top-level commas; a trailing comma is allowed.
fn split_list(raw: &str) -> Result<Vec<String>, String> {
    let inner = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| "the values must be a list in brackets".to_string())?;
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in inner.chars() {
        if let Some(q) = quote {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced `{c}`"));
                }
            }
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if depth != 0 {
        return Err("unbalanced brackets".into());
    }
    let last = current.trim().to_string();
    if !last.is_empty() || !items.is_empty() {
        items.push(last);
    }
    if items.last().is_some_and(String::is_empty) && items.len() > 1 {
        items.pop(); // `[a, b,]`
    }
    if let Some(k) = items.iter().position(String::is_empty) {
        return Err(format!("value {} is empty", k + 1));
    }
    Ok(items)
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    /// Its run folder inside the sweep folder (`point-0003`).
    pub folder: String,
    /// Every override applied to the spec, in order: `[quick]` (with `--quick`), the base
    /// overrides, then this point's grid values.
    pub overrides: Vec<String>,
    /// Only the grid values, one `key=value` per axis.
    pub values: Vec<String>,
}

/// A sweep: a spec, base overrides and a grid, expanded into points. Serialised, it is the
/// manifest `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub format: u32,
    /// The experiment's name (of point 0).
    pub name: String,
    /// The spec file as given on the command line.
    pub spec: String,
    /// The spec file's text: every point is run from it.
    pub spec_text: String,
    /// Base overrides, normalised to `key=value` with TOML values.
    pub overrides: Vec<String>,
    /// Whether the spec's `[quick]` overrides apply.
    pub quick: bool,
    pub grid: Vec<Axis>,
    pub points: Vec<Point>,
}

/// Where a point stands, read from its run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointStatus {
    /// No `config.json` yet: started fresh.
    NotStarted,
    /// `config.json` without `summary.json`: interrupted (or running elsewhere); continued with
    /// `--resume`.
    Started,
    /// `summary.json` is there: skipped.
    Finished,
}

impl PointStatus {
    /// The status of the run folder `dir`.
    pub fn of(dir: &Path) -> PointStatus {
        if dir.join("summary.json").is_file() {
            PointStatus::Finished
        } else if dir.join("config.json").is_file() {
            PointStatus::Started
        } else {
            PointStatus::NotStarted
        }
    }
}

impl fmt::Display for PointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PointStatus::NotStarted => "not started",
            PointStatus::Started => "started",
            PointStatus::Finished => "finished",
        })
    }
}

/// The point index a process was asked to run, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenIndex {
    pub index: usize,
    /// `--index` or the environment variable's name.
    pub from: String,
}

/// The point to run: `flag` (`--index`), else the first of [`INDEX_ENV_VARS`] that `env` sets
/// (empty counts as unset); `None` means every point.
pub fn chosen_index(
    flag: Option<usize>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ChosenIndex>, LabError> {
    if let Some(index) = flag {
        return Ok(Some(ChosenIndex {
            index,
            from: "--index".into(),
        }));
    }
    for var in INDEX_ENV_VARS {
        if let Some(text) = env(var).filter(|t| !t.trim().is_empty()) {
            let index = text.trim().parse().map_err(|_| {
                LabError::Other(format!(
                    "{var}=`{text}` is not a point index (a whole number from 0)"
                ))
            })?;
            return Ok(Some(ChosenIndex {
                index,
                from: var.into(),
            }));
        }
    }
    Ok(None)
}

impl Sweep {
    /// Expands the grid and loads every point's experiment, so a point that cannot run is an
    /// error before anything runs. `spec` names the file in errors; `spec_text` is its content.
    pub fn new(
        spec: &str,
        spec_text: &str,
        overrides: &[String],
        quick: bool,
        grid: Vec<Axis>,
    ) -> Result<Sweep, LabError> {
        if grid.is_empty() {
            return Err(LabError::Other(
                "a sweep needs at least one grid axis (for a single run, use `nonlin run`)".into(),
            ));
        }
        for (i, axis) in grid.iter().enumerate() {
            if grid[..i].iter().any(|a| a.key == axis.key) {
                return Err(LabError::Other(format!(
                    "grid axis `{}` is given twice; give each key once with all its values",
                    axis.key
                )));
            }
            if axis.values.is_empty() {
                return Err(LabError::Other(format!(
                    "grid axis `{}` has no values",
                    axis.key
                )));
            }
        }
        let count = grid
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|&n| n <= MAX_POINTS)
            .ok_or_else(|| {
                LabError::Other(format!(
                    "the grid {} has more than {MAX_POINTS} points",
                    grid_shape(&grid)
                ))
            })?;

        let base: Vec<String> = overrides
            .iter()
            .map(|o| Override::parse(o).map(|o| render(&o)))
            .collect::<Result<_, _>>()?;
        // `[quick]` first, as in `nonlin run --quick`: an explicit override beats it.
        let mut head: Vec<String> = if quick {
            Experiment::quick_overrides(spec_text, spec)?
                .iter()
                .map(render)
                .collect()
        } else {
            Vec::new()
        };
        head.extend(base.iter().cloned());

        let points: Vec<Point> = (0..count)
            .map(|index| {
                let values = point_values(&grid, index);
                let mut all = head.clone();
                all.extend(values.iter().cloned());
                Point {
                    index,
                    folder: format!("point-{index:04}"),
                    overrides: all,
                    values,
                }
            })
            .collect();

        let mut sweep = Sweep {
            format: 1,
            name: String::new(),
            spec: spec.to_string(),
            spec_text: spec_text.to_string(),
            overrides: base,
            quick,
            grid,
            points,
        };
        let mut first_error = None;
        let mut failing = 0;
        let mut name = None;
        for index in 0..sweep.points.len() {
            match sweep.experiment(index) {
                Ok(e) => {
                    name.get_or_insert(e.name);
                }
                Err(e) => {
                    failing += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(LabError::Other(format!(
                "{failing} of {} sweep points do not load; nothing was run. First: {e}",
                sweep.points.len()
            )));
        }
        sweep.name = name.unwrap_or_default();
        Ok(sweep)
    }

    /// The experiment of point `index`, loaded from the spec text with the point's overrides.
    pub fn experiment(&self, index: usize) -> Result<Experiment, LabError> {
        let point = self.point(index)?;
        let overrides: Vec<Override> = point
            .overrides
            .iter()
            .map(|o| Override::parse(o))
            .collect::<Result<_, _>>()?;
        Experiment::from_text(&self.spec_text, &self.spec, &overrides).map_err(|e| {
            LabError::Other(format!(
                "sweep point {index} ({}): {e}",
                point.values.join(" ")
            ))
        })
    }

    /// Point `index`, or an error naming the number of points.
    pub fn point(&self, index: usize) -> Result<&Point, LabError> {
        self.points.get(index).ok_or_else(|| {
            LabError::Other(format!(
                "point index {index} is out of range: this sweep has {} points (0-{})",
                self.points.len(),
                self.points.len().saturating_sub(1)
            ))
        })
    }

    /// The run folder of point `index` inside the sweep folder `dir`.
    pub fn point_dir(&self, dir: &Path, index: usize) -> Result<PathBuf, LabError> {
        Ok(dir.join(&self.point(index)?.folder))
    }

    /// The status of every point, in order.
    pub fn statuses(&self, dir: &Path) -> Vec<PointStatus> {
        self.points
            .iter()
            .map(|p| PointStatus::of(&dir.join(&p.folder)))
            .collect()
    }

    /// The grid's shape, e.g. `2 x 3`.
    pub fn shape(&self) -> String {
        grid_shape(&self.grid)
    }

    /// Reads `sweep.json` from `dir`, or `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Sweep>, LabError> {
        let path = dir.join(MANIFEST);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io(&path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LabError::Other(format!("{}: not a sweep manifest ({e})", path.display())))
    }

    /// Checks that `dir` holds this sweep, or nothing yet; writes nothing.
    pub fn check_folder(&self, dir: &Path) -> Result<(), LabError> {
        match Sweep::read(dir)? {
            Some(stored) => self.same_as(&stored, dir),
            None if dir.join("config.json").exists() => Err(LabError::Other(format!(
                "{} holds a run, not a sweep; choose another --out",
                dir.display()
            ))),
            None => Ok(()),
        }
    }

    /// Creates the sweep folder with its `sweep.json`, or checks the one there. Safe when several
    /// processes start at once: the manifest is written to a temporary file and hard-linked into
    /// place, which fails if another process got there first (then its manifest is compared).
    pub fn save_or_check(&self, dir: &Path) -> Result<(), LabError> {
        self.check_folder(dir)?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| LabError::Other(e.to_string()))?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{MANIFEST}.{}-{}.new",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        write_atomic(&tmp, &json).map_err(LabError::io(&tmp))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                // The new name must reach the disk too.
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.check_folder(dir),
            Err(_) => {
                // A file system without hard links: rename (the last writer wins), then check
                // that what landed is this sweep.
                write_atomic(&path, &json).map_err(LabError::io(&path))?;
                self.check_folder(dir)
            }
        }
    }

    /// Whether `stored` (read from `dir`) is the same sweep; the error says what differs.
    fn same_as(&self, stored: &Sweep, dir: &Path) -> Result<(), LabError> {
        let mut differ = Vec::new();
        if stored.spec_text != self.spec_text {
            differ.push("the spec text");
        }
        if stored.overrides != self.overrides {
            differ.push("the overrides");
        }
        if stored.quick != self.quick {
            differ.push("--quick");
        }
        if stored.grid != self.grid {
            differ.push("the grid");
        }
        if differ.is_empty() && stored.points != self.points {
            differ.push("the points");
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(LabError::Other(format!(
            "{} holds another sweep: {} changed since its {MANIFEST} was written (spec {}, grid {}); choose another --out",
            dir.display(),
            differ.join(", "),
            stored.spec,
            stored
                .grid
                .iter()
                .map(Axis::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )))
    }

    /// An `sbatch` script running every point as one task of a job array. `command` is the
    /// `nonlin sweep ...` command line without an index; `--index $SLURM_ARRAY_TASK_ID` is
    /// appended. `workdir` is where the command's relative paths resolve (`--chdir`).
    pub fn slurm_script(&self, dir: &Path, command: &[String], workdir: &Path) -> String {
        let n = self.points.len();
        let job: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let axes: Vec<String> = self.grid.iter().map(Axis::to_string).collect();
        let mut s = String::new();
        s.push_str("#!/bin/bash\n");
        s.push_str(&format!(
            "# Sweep {}: {n} points ({}) of {}, in {}.\n",
            self.name,
            axes.join(" x "),
            self.spec,
            dir.display()
        ));
        s.push_str(
            "# Written by `nonlin sweep --slurm`; submit with `sbatch <this file>`. Each array task runs one\n\
             # point: finished points are skipped and interrupted ones resumed, so resubmitting is safe.\n\
             # Add what your cluster needs (--time, --partition, --cpus-per-task, --mem, --gres=gpu:1).\n",
        );
        if n > 1001 {
            s.push_str(
                "# Slurm's default MaxArraySize is 1001: ask your admins, or split the range.\n",
            );
        }
        s.push_str(&format!("#SBATCH --job-name={job}\n"));
        s.push_str(&format!("#SBATCH --array=0-{}\n", n - 1));
        s.push_str(&format!(
            "#SBATCH --output={}\n",
            shell_quote(&dir.join("slurm-%A_%a.out").display().to_string())
        ));
        s.push_str(&format!(
            "#SBATCH --chdir={}\n",
            shell_quote(&workdir.display().to_string())
        ));
        s.push_str("set -euo pipefail\n");
        let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
        s.push_str(&format!(
            "exec {} --index $SLURM_ARRAY_TASK_ID\n",
            quoted.join(" ")
        ));
        s
    }
}

/// `override` as `key=value` with the value written as TOML.
fn render(o: &Override) -> String {
    format!("{}={}", o.path, o.value)
}

/// The grid values of point `index`: its digits in the mixed radix of the axis lengths, the last
/// axis the least significant (varying fastest).
fn point_values(grid: &[Axis], index: usize) -> Vec<String> {
    let mut rest = index;
    let mut values = vec![String::new(); grid.len()];
    for (a, axis) in grid.iter().enumerate().rev() {
        let n = axis.values.len();
        values[a] = format!("{}={}", axis.key, axis.values[rest % n]);
        rest /= n;
    }
    values
}

fn grid_shape(grid: &[Axis]) -> String {
    grid.iter()
        .map(|a| a.values.len().to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

/// `text` as one shell word: bare when it holds only characters no POSIX shell treats specially,
/// else in single quotes (an inner `'` becomes `'\''`).
pub fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,+@%".contains(c));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The run folders `compare` tables, each with the name its row shows, and notes on the sweep
/// points left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunFolders {
    /// (label, run folder), in the order given.
    pub runs: Vec<(String, PathBuf)>,
    pub notes: Vec<String>,
}

/// The run folders `compare` tables for `dirs`: a sweep folder stands for its finished points
/// (labelled `point-0003`, or `<sweep>/point-0003` beside other folders); any other folder
/// stands for itself. The notes name the points left out because they have not finished.
pub fn expand_run_dirs(dirs: &[PathBuf]) -> Result<RunFolders, LabError> {
    let name_of = |dir: &Path| {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| dir.display().to_string())
    };
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for dir in dirs {
        let Some(sweep) = Sweep::read(dir)? else {
            runs.push((name_of(dir), dir.clone()));
            continue;
        };
        let mut missing = Vec::new();
        for (point, status) in sweep.points.iter().zip(sweep.statuses(dir)) {
            if status == PointStatus::Finished {
                let label = if dirs.len() == 1 {
                    point.folder.clone()
                } else {
                    format!("{}/{}", name_of(dir), point.folder)
                };
                runs.push((label, dir.join(&point.folder)));
            } else {
                missing.push(point.folder.clone());
            }
        }
        if !missing.is_empty() {
            notes.push(format!(
                "{}: {} of {} points not finished, left out: {}",
                dir.display(),
                missing.len(),
                sweep.points.len(),
                missing.join(", ")
            ));
        }
    }
    Ok(RunFolders { runs, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "grid"
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [16]
[train]
lr = 0.01
epochs = 3
[quick]
"train.epochs" = 1
"#;

    fn axes(texts: &[&str]) -> Vec<Axis> {
        texts.iter().map(|t| Axis::parse(t).unwrap()).collect()
    }

    fn sweep(grid: &[&str]) -> Sweep {
        Sweep::new("grid.toml", SPEC, &[], false, axes(grid)).unwrap()
    }

    fn err(grid: &[&str]) -> String {
        match grid
            .iter()
            .map(|t| Axis::parse(t))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(axes) => Sweep::new("grid.toml", SPEC, &[], false, axes)
                .unwrap_err()
                .to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn axes_parse_toml_lists_and_bare_words() {
        let a = Axis::parse("train.lr=[1e-3, 3e-3]").unwrap();
        assert_eq!(a.key, "train.lr");
        assert_eq!(a.values, ["0.001", "0.003"]);
        let a = Axis::parse("model.activation=[relu,gelu]").unwrap();
        assert_eq!(a.values, [r#""relu""#, r#""gelu""#]);
        // A comma inside parentheses or quotes does not split.
        let a =
            Axis::parse(r#"model.activation=[leaky_relu(negative_slope=0.2, x=1), "a,b", tanh,]"#)
                .unwrap();
        assert_eq!(
            a.values,
            [
                r#""leaky_relu(negative_slope=0.2, x=1)""#,
                r#""a,b""#,
                r#""tanh""#
            ]
        );
        let a = Axis::parse("model.hidden=[[64],[128,128]]").unwrap();
        assert_eq!(a.values, ["[64]", "[128, 128]"]);
        let a = Axis::parse("seeds = [[0], [1]]").unwrap();
        assert_eq!((a.key.as_str(), a.values.len()), ("seeds", 2));
    }

    #[test]
    fn bad_axes_are_errors_naming_the_axis() {
        for (text, reason) in [
            ("train.lr", "no `=`"),
            ("=[1]", "empty key"),
            ("train..lr=[1]", "empty key"),
            ("train.lr=1e-3", "list in brackets"),
            ("train.lr=[]", "empty"),
            ("train.lr=[1e-3,,2e-3]", "value 2 is empty"),
            ("train.lr=[1e-3, 1e-3]", "appears twice"),
            ("model.activation=[relu, gelu", "list in brackets"),
            ("model.activation=[relu(, gelu]", "unbalanced"),
            (r#"model.activation=[relu, "gelu]"#, "quote"),
        ] {
            let e = Axis::parse(text).unwrap_err().to_string();
            assert!(e.contains(text) && e.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn points_are_the_product_with_the_last_axis_fastest() {
        let s = sweep(&[
            "train.lr=[1e-3, 3e-3]",
            "model.activation=[relu, tanh, gelu]",
        ]);
        assert_eq!(s.points.len(), 6);
        assert_eq!(s.shape(), "2 x 3");
        assert_eq!(s.name, "grid");
        let values: Vec<String> = s.points.iter().map(|p| p.values.join(" ")).collect();
        assert_eq!(
            values,
            [
                r#"train.lr=0.001 model.activation="relu""#,
                r#"train.lr=0.001 model.activation="tanh""#,
                r#"train.lr=0.001 model.activation="gelu""#,
                r#"train.lr=0.003 model.activation="relu""#,
                r#"train.lr=0.003 model.activation="tanh""#,
                r#"train.lr=0.003 model.activation="gelu""#,
            ]
        );
        assert_eq!(s.points[4].folder, "point-0004");
        let e = s.experiment(4).unwrap();
        assert_eq!(e.arms[0].1.train.lr, 0.003);
        assert!(
            e.overrides
                .iter()
                .any(|o| o == r#"model.activation="tanh""#)
        );
    }

    #[test]
    fn quick_then_base_overrides_then_grid_values_win() {
        let s = Sweep::new(
            "grid.toml",
            SPEC,
            &["train.epochs=2".into(), "train.lr=0.5".into()],
            true,
            axes(&["train.lr=[1e-3]"]),
        )
        .unwrap();
        assert_eq!(
            s.points[0].overrides,
            [
                "train.epochs=1",
                "train.epochs=2",
                "train.lr=0.5",
                "train.lr=0.001"
            ]
        );
        let e = s.experiment(0).unwrap();
        // The explicit override beats [quick], as in `nonlin run --quick`; the grid beats both.
        assert_eq!(e.arms[0].1.train.epochs, Some(2));
        assert_eq!(e.arms[0].1.train.lr, 0.001);
    }

    #[test]
    fn a_point_that_does_not_load_stops_the_sweep_before_it_runs() {
        let e = err(&["train.lr=[1e-3, -1]"]);
        assert!(
            e.contains("1 of 2") && e.contains("point 1") && e.contains("train.lr"),
            "{e}"
        );
        let e = err(&["train.lrr=[1, 2]"]);
        assert!(
            e.contains("2 of 2") && e.contains("point 0") && e.contains("lrr"),
            "{e}"
        );
        let e = err(&["train.lr=[1e-3]", "train.lr=[2e-3]"]);
        assert!(e.contains("`train.lr` is given twice"), "{e}");
        assert!(err(&[]).contains("at least one grid axis"));
        let s = sweep(&["train.lr=[1e-3, 3e-3]"]);
        let e = s.point(2).unwrap_err().to_string();
        assert!(e.contains("2 points"), "{e}");
    }

    #[test]
    fn the_manifest_is_created_once_and_a_different_sweep_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sw");
        let s = sweep(&["train.lr=[1e-3, 3e-3]"]);
        s.save_or_check(&out).unwrap();
        s.save_or_check(&out).unwrap();
        assert_eq!(Sweep::read(&out).unwrap().unwrap(), s);

        let other = sweep(&["train.lr=[1e-3, 1e-2]"]);
        let e = other.save_or_check(&out).unwrap_err().to_string();
        assert!(e.contains("the grid") && e.contains("--out"), "{e}");
        let e = Sweep::new(
            "grid.toml",
            SPEC,
            &["train.epochs=2".into()],
            false,
            s.grid.clone(),
        )
        .unwrap()
        .check_folder(&out)
        .unwrap_err()
        .to_string();
        assert!(e.contains("the overrides"), "{e}");
        let e = Sweep::new(
            "g.toml",
            &SPEC.replace("[16]", "[8]"),
            &[],
            false,
            s.grid.clone(),
        )
        .unwrap()
        .check_folder(&out)
        .unwrap_err()
        .to_string();
        assert!(e.contains("the spec text"), "{e}");

        // A run folder is not a sweep folder.
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.json"), "{}").unwrap();
        assert!(
            s.save_or_check(&run)
                .unwrap_err()
                .to_string()
                .contains("holds a run")
        );
    }

    #[test]
    fn racing_writers_leave_one_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sw");
        let sweeps: Vec<Sweep> = (0..8)
            .map(|k| sweep(&[format!("train.lr=[{}]", 0.001 * (k + 1) as f64).as_str()]))
            .collect();
        let results: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = sweeps
                .iter()
                .map(|s| scope.spawn(|| s.save_or_check(&out).is_ok()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
        let stored = Sweep::read(&out).unwrap().unwrap();
        let winner = results.iter().position(|ok| *ok).unwrap();
        assert_eq!(stored, sweeps[winner]);
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [MANIFEST], "temporary files are removed");
    }

    #[test]
    fn status_comes_from_the_point_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = sweep(&["train.lr=[1e-3, 3e-3, 1e-2]"]);
        let p1 = s.point_dir(dir.path(), 1).unwrap();
        let p2 = s.point_dir(dir.path(), 2).unwrap();
        std::fs::create_dir_all(&p1).unwrap();
        std::fs::create_dir_all(&p2).unwrap();
        std::fs::write(p1.join("config.json"), "{}").unwrap();
        std::fs::write(p2.join("config.json"), "{}").unwrap();
        std::fs::write(p2.join("summary.json"), "{}").unwrap();
        assert_eq!(
            s.statuses(dir.path()),
            [
                PointStatus::NotStarted,
                PointStatus::Started,
                PointStatus::Finished
            ]
        );

        // compare sees the finished point, and a note on the others.
        s.save_or_check(dir.path()).unwrap();
        let RunFolders { runs, notes } = expand_run_dirs(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(runs, [("point-0002".to_string(), p2.clone())]);
        assert!(notes[0].contains("2 of 3") && notes[0].contains("point-0000, point-0001"));
        let other = PathBuf::from("runs/a");
        let runs = expand_run_dirs(&[other.clone(), dir.path().to_path_buf()])
            .unwrap()
            .runs;
        assert_eq!(runs[0], ("a".to_string(), other));
        assert!(runs[1].0.ends_with("/point-0002"), "{runs:?}");
    }

    #[test]
    fn the_index_comes_from_the_flag_then_slurm_then_kubernetes() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = env(&[("SLURM_ARRAY_TASK_ID", "2"), ("JOB_COMPLETION_INDEX", "5")]);
        assert_eq!(chosen_index(Some(1), both).unwrap().unwrap().index, 1);
        let c = chosen_index(None, both).unwrap().unwrap();
        assert_eq!((c.index, c.from.as_str()), (2, "SLURM_ARRAY_TASK_ID"));
        let k8s = env(&[("SLURM_ARRAY_TASK_ID", ""), ("JOB_COMPLETION_INDEX", "5")]);
        assert_eq!(chosen_index(None, k8s).unwrap().unwrap().index, 5);
        assert_eq!(chosen_index(None, env(&[])).unwrap(), None);
        let e = chosen_index(None, env(&[("JOB_COMPLETION_INDEX", "x")])).unwrap_err();
        assert!(e.to_string().contains("JOB_COMPLETION_INDEX=`x`"), "{e}");
    }

    #[test]
    fn shell_quoting_keeps_words_whole() {
        assert_eq!(shell_quote("train.lr=0.001"), "train.lr=0.001");
        assert_eq!(shell_quote("runs/sw-1"), "runs/sw-1");
        assert_eq!(
            shell_quote("train.lr=[1e-3,3e-3]"),
            "'train.lr=[1e-3,3e-3]'"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        // it's -> 'it'\''s': close the quote, an escaped quote, reopen.
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_slurm_script_is_an_array_over_the_points() {
        let s = sweep(&["train.lr=[1e-3, 3e-3]", "model.activation=[relu, tanh]"]);
        let command: Vec<String> = [
            "/opt/nonlin",
            "sweep",
            "grid.toml",
            "--grid",
            "model.activation=[relu, tanh]",
            "--out",
            "runs/sw",
        ]
        .map(String::from)
        .to_vec();
        let script = s.slurm_script(Path::new("runs/sw"), &command, Path::new("/home/me/exp"));
        assert!(script.starts_with("#!/bin/bash\n"), "{script}");
        for line in [
            "#SBATCH --job-name=grid",
            "#SBATCH --array=0-3",
            "#SBATCH --output=runs/sw/slurm-%A_%a.out",
            "#SBATCH --chdir=/home/me/exp",
            "exec /opt/nonlin sweep grid.toml --grid 'model.activation=[relu, tanh]' --out runs/sw --index $SLURM_ARRAY_TASK_ID",
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "missing {line}:\n{script}"
            );
        }
        // Every #SBATCH line comes before the first command, or sbatch ignores it.
        let first_command = script.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(
            script
                .lines()
                .skip(first_command)
                .all(|l| !l.starts_with("#SBATCH"))
        );
    }
}
