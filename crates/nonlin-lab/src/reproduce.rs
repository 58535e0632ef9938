//! `nonlin reproduce`: runs the paper experiments under `experiments/papers/` and collects, per
//! claim, what was claimed, what was measured, and whether it holds.

use std::path::{Path, PathBuf};

use crate::LabError;
use crate::probe::{ProbeExperiment, is_probe_spec, run_probe};
use crate::runner::{Progress, RunOptions, run_experiment, unique_run_dir};
use crate::spec::{Experiment, Override};
use crate::summary::ClaimResult;

/// The claims of one paper's experiment.
#[derive(Debug, Clone)]
pub struct PaperResult {
    pub slug: String,
    pub run_dir: PathBuf,
    pub claims: Vec<ClaimResult>,
}

/// The paper experiment files in `dir` (`<slug>.toml`), then the arenas beside that folder
/// (`arena-*.toml` in its parent: comparisons of many methods on one budget, without claims of
/// their own), each group sorted; or only `paper` when given (a slug or an arena's file stem).
pub fn paper_specs(dir: &Path, paper: Option<&str>) -> Result<Vec<(String, PathBuf)>, LabError> {
    let mut specs = toml_files(dir, |_| true)?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        specs.extend(toml_files(parent, |stem| stem.starts_with("arena-"))?);
    }
    if let Some(paper) = paper {
        specs.retain(|(slug, _)| slug == paper);
        if specs.is_empty() {
            return Err(LabError::Other(format!(
                "no experiment for paper `{paper}`: expected {}",
                dir.join(format!("{paper}.toml")).display()
            )));
        }
    }
    Ok(specs)
}

/// The `.toml` files of `dir` whose stem passes `keep`, as `(stem, path)`, sorted; none when
/// `dir` is not a folder.
fn toml_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>, LabError> {
    let mut specs = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(LabError::io(dir))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                if keep(&stem) {
                    specs.push((stem, path));
                }
            }
        }
    }
    specs.sort();
    Ok(specs)
}

/// Runs one paper's experiment (its `[quick]` variant when `quick`) into `runs_root/<slug>`.
pub fn reproduce_paper(
    slug: &str,
    spec: &Path,
    quick: bool,
    runs_root: &Path,
    template: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<PaperResult, LabError> {
    let text = std::fs::read_to_string(spec).map_err(LabError::io(spec))?;
    let source = spec.display().to_string();
    let overrides: Vec<Override> = if quick {
        Experiment::quick_overrides(&text, &source)?
    } else {
        Vec::new()
    };
    let run_dir = |root: &Path| {
        unique_run_dir(
            root,
            &format!("{slug}{}", if quick { "-quick" } else { "" }),
        )
    };
    // A probe paper (a `[probe]` table) runs its probe; the others train.
    if is_probe_spec(&text) {
        let experiment = ProbeExperiment::from_text(&text, &source, &overrides)?;
        let run_dir = run_dir(runs_root);
        let outcome = run_probe(&experiment, &run_dir, None, progress)?;
        return Ok(PaperResult {
            slug: slug.to_string(),
            run_dir,
            claims: outcome.claims,
        });
    }
    let experiment = Experiment::from_text(&text, &source, &overrides)?;
    let run_dir = run_dir(runs_root);
    let options = RunOptions {
        out_dir: run_dir.clone(),
        resume: false,
        spec_text: Some(text),
        ..template.clone()
    };
    let summary = run_experiment(&experiment, &options, progress)?;
    Ok(PaperResult {
        slug: slug.to_string(),
        run_dir,
        claims: summary.claims,
    })
}
