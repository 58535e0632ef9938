//! The human side of a run folder: SVG plots of the loss and accuracy curves and `report.md`
//! with the results and the claim table.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::LabError;
use crate::atomic::write_atomic;
use crate::metrics_log::{read_jsonl, series};
use crate::plot::LineChart;
use crate::provenance::Provenance;
use crate::spec::Experiment;
use crate::summary::Summary;
use crate::table::Table;

/// A plot of one logged series: (file, title, split, metric, y label, log scale).
struct PlotSpec {
    file: String,
    title: String,
    split: &'static str,
    metric: String,
    log_y: bool,
}

/// The plots of an experiment: the training loss, then every metric its task evaluates on the
/// test split (loss-like ones on a log scale).
fn plots(experiment: &Experiment) -> Vec<PlotSpec> {
    let kind = experiment
        .arms
        .first()
        .map(|(_, c)| c.data.task())
        .unwrap_or(nonlin_learn::TaskKind::Classification);
    let mut plots = vec![PlotSpec {
        file: "train_loss.svg".into(),
        title: "Training loss".into(),
        split: "train",
        metric: "loss".into(),
        log_y: true,
    }];
    for metric in kind.eval_metrics() {
        plots.push(PlotSpec {
            file: format!("test_{metric}.svg"),
            title: format!("Test {}", metric.replace('_', " ")),
            split: "test",
            metric: metric.to_string(),
            log_y: !metric.contains("accuracy"),
        });
    }
    plots
}

/// Draws the curves of every arm and seed from `metrics.jsonl`.
pub fn write_plots(dir: &Path, experiment: &Experiment) -> Result<(), LabError> {
    let records = read_jsonl(&dir.join("metrics.jsonl"))?;
    for plot in plots(experiment) {
        let mut chart = LineChart::new(
            format!("{} — {}", plot.title, experiment.name),
            "step",
            plot.metric.clone(),
        );
        chart.log_y = plot.log_y;
        for (arm, _) in &experiment.arms {
            for &seed in &experiment.seeds {
                let points = series(&records, arm, seed, plot.split, &plot.metric);
                if !points.is_empty() {
                    let label = if experiment.seeds.len() > 1 {
                        format!("{arm} (seed {seed})")
                    } else {
                        arm.clone()
                    };
                    chart = chart.with_series(label, points);
                }
            }
        }
        let path = dir.join("plots").join(&plot.file);
        write_atomic(&path, chart.to_svg().as_bytes()).map_err(LabError::io(path))?;
    }
    Ok(())
}

/// Writes `report.md`: what ran, the results per arm, and the claims.
pub fn write_report(
    dir: &Path,
    experiment: &Experiment,
    summary: &Summary,
) -> Result<(), LabError> {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", experiment.name);
    if !experiment.description.is_empty() {
        let _ = writeln!(md, "{}\n", experiment.description.trim());
    }
    if let Ok(bytes) = std::fs::read(dir.join("run.json"))
        && let Ok(p) = serde_json::from_slice::<Provenance>(&bytes)
    {
        let _ = writeln!(
            md,
            "Spec `{}`{}; seeds {:?}; device `{}`; nonlin {} on Burn {}; git `{}`{}.\n",
            p.source,
            if p.overrides.is_empty() {
                String::new()
            } else {
                format!(" with `{}`", p.overrides.join(" "))
            },
            p.seeds,
            p.device,
            p.nonlin_version,
            p.burn_version,
            p.git_revision,
            if p.git_dirty {
                " (uncommitted changes)"
            } else {
                ""
            },
        );
    }

    let _ = writeln!(md, "## Results (final, mean ± sample std over seeds)\n");
    let metrics: Vec<&String> = if experiment.metrics.is_empty() {
        let all: BTreeSet<&String> = summary.arms.values().flat_map(|m| m.keys()).collect();
        all.into_iter().collect()
    } else {
        experiment.metrics.iter().collect()
    };
    let mut table =
        Table::new(std::iter::once("arm".to_string()).chain(metrics.iter().map(|m| m.to_string())));
    for (arm, _) in &experiment.arms {
        let stats = &summary.arms[arm];
        let row = std::iter::once(arm.clone()).chain(
            metrics
                .iter()
                .map(|m| stats.get(*m).map(|s| s.display()).unwrap_or_default()),
        );
        table.push_row(row);
    }
    let _ = writeln!(md, "{}", table.to_markdown());
    for unit in summary.units.iter().filter(|u| u.diverged_at.is_some()) {
        let _ = writeln!(
            md,
            "- {} seed {} diverged (non-finite loss) at step {}",
            unit.arm,
            unit.seed,
            unit.diverged_at.unwrap_or(0)
        );
    }

    let _ = writeln!(md, "\n## Claims\n");
    if summary.claims.is_empty() {
        let _ = writeln!(md, "This experiment states no claims.");
    } else {
        let mut claims = Table::new(["claim", "claimed", "measured", "result", "source"]);
        for c in &summary.claims {
            claims.push_row([
                c.name.clone(),
                c.claimed.clone(),
                c.measured.clone(),
                if c.passed {
                    "PASS".into()
                } else {
                    "FAIL".into()
                },
                c.source.clone().unwrap_or_default(),
            ]);
        }
        let _ = writeln!(md, "{}", claims.to_markdown());
    }

    if !summary.arm_resources.is_empty() {
        let _ = writeln!(
            md,
            "\n## Resources (mean ± sample std over seeds; not reproducible bit for bit)\n"
        );
        let names: BTreeSet<&String> = summary
            .arm_resources
            .values()
            .flat_map(|m| m.keys())
            .collect();
        let mut table = Table::new(
            std::iter::once("arm".to_string()).chain(names.iter().map(|m| m.to_string())),
        );
        for (arm, _) in &experiment.arms {
            if let Some(stats) = summary.arm_resources.get(arm) {
                table.push_row(
                    std::iter::once(arm.clone()).chain(
                        names
                            .iter()
                            .map(|m| stats.get(*m).map(|s| s.display()).unwrap_or_default()),
                    ),
                );
            }
        }
        let _ = writeln!(md, "{}", table.to_markdown());
    }

    let _ = writeln!(md, "\n## Curves\n");
    for plot in plots(experiment) {
        let _ = writeln!(md, "![{}](plots/{})\n", plot.title, plot.file);
    }
    let shapes: Vec<String> = experiment
        .arms
        .iter()
        .map(|(arm, _)| crate::activation_plots::file_stem(arm))
        .filter(|stem| dir.join("plots").join(format!("{stem}.svg")).is_file())
        .collect();
    if !shapes.is_empty() {
        let _ = writeln!(
            md,
            "\n## Activation shapes\n\nf(x) and f'(x) on [-4, 4] (learnable activations at init and after \
             training, per seed and layer; points in `plots/<name>.csv`).\n"
        );
        for stem in shapes {
            let _ = writeln!(
                md,
                "![{stem}](plots/{stem}.svg) ![{stem} derivative](plots/{stem}-derivative.svg)\n"
            );
        }
    }
    let path = dir.join("report.md");
    write_atomic(&path, md.as_bytes()).map_err(LabError::io(path))
}
