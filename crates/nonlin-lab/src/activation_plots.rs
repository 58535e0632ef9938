//! Activation shape plots of a run: for every arm whose model says where its activations sit
//! (`Network::activation_sites`: `mlp`, `conv_net`), f(x) and f'(x) on [-4, 4] drawn with the
//! run's own line charts (`plot::LineChart`), beside a CSV of the same points. A learnable
//! activation (one with parameters) is drawn at init and, for every seed and layer, after
//! training, read from the unit's last checkpoint; a fixed one is drawn once. The curves come
//! from `nonlin_nn::activation::activation_curve` (channel 0 of a layer, derivative by autodiff).
//!
//! Files, per arm: `plots/activation-<arm>.svg` (f), `plots/activation-<arm>-derivative.svg` (f')
//! and `plots/activation-<arm>.csv` (`series,x,f,df`, one row per series and point).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use nonlin_nn::Network;
use nonlin_nn::activation::{ActivationCurve, activation_curve, grid};

use crate::LabError;
use crate::atomic::write_atomic;
use crate::plot::LineChart;
use crate::spec::Experiment;
use crate::trained::TrainedUnit;

/// The interval the shapes are drawn on, and how many points.
pub const RANGE: (f64, f64) = (-4.0, 4.0);
pub const POINTS: usize = 161;

/// One drawn curve: its legend label and points.
#[derive(Debug, Clone)]
pub struct LabelledCurve {
    pub label: String,
    pub curve: ActivationCurve,
}

/// The file stem of an arm's activation plots.
pub fn file_stem(arm: &str) -> String {
    let safe: String = arm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("activation-{safe}")
}

/// The curves of one arm: at init (layer 0 of the model built for seed `seeds[0]`), then, when the
/// activation has parameters, every seed's every layer after training. Empty when the model has
/// no activation sites.
pub fn arm_curves(dir: &Path, arm: &str, seeds: &[u64]) -> Result<Vec<LabelledCurve>, LabError> {
    let device = Device::flex();
    let xs = grid(RANGE.0, RANGE.1, POINTS);
    let mut curves = Vec::new();
    let Some(&first) = seeds.first() else {
        return Ok(curves);
    };
    let unit = TrainedUnit::load(dir, Some(arm), Some(first), &device)?;
    nonlin_nn::engine::seed(&device, first);
    let initial = unit.config.model.build(&unit.task.io, &device)?;
    let sites = initial.activation_sites();
    let Some(site) = sites.first() else {
        return Ok(curves);
    };
    let learnable = site.activation.num_params() > 0;
    curves.push(LabelledCurve {
        label: if learnable { "init".into() } else { "f".into() },
        curve: activation_curve(site, &xs),
    });
    if !learnable {
        return Ok(curves);
    }
    for &seed in seeds {
        let unit = TrainedUnit::load(dir, Some(arm), Some(seed), &device)?;
        for (layer, site) in unit.model.activation_sites().iter().enumerate() {
            curves.push(LabelledCurve {
                label: format!("seed {seed} layer {layer}"),
                curve: activation_curve(site, &xs),
            });
        }
    }
    Ok(curves)
}

/// Writes the activation plots of every arm of the run in `dir` whose model has activation
/// sites; returns the files written.
pub fn write_activation_plots(
    dir: &Path,
    experiment: &Experiment,
) -> Result<Vec<PathBuf>, LabError> {
    let mut written = Vec::new();
    for (arm, config) in &experiment.arms {
        let curves = arm_curves(dir, arm, &experiment.seeds)?;
        if curves.is_empty() {
            continue;
        }
        let stem = file_stem(arm);
        // The activation's spec as the arm's model config names it (every model that has
        // activation sites has an `activation` field).
        let activation = serde_json::to_value(&config.model)
            .ok()
            .and_then(|v| {
                v.get("activation")
                    .and_then(|a| a.as_str())
                    .map(String::from)
            })
            .unwrap_or_else(|| "activation".to_string());
        let mut value = LineChart::new(format!("{activation} — {arm}"), "x", "f(x)");
        let mut slope = LineChart::new(format!("{activation}' — {arm}"), "x", "f'(x)");
        let mut csv = String::from("series,x,f,df\n");
        for c in &curves {
            let points = |ys: &[f64]| c.curve.x.iter().copied().zip(ys.iter().copied()).collect();
            value = value.with_series(c.label.clone(), points(&c.curve.value));
            slope = slope.with_series(c.label.clone(), points(&c.curve.derivative));
            for ((x, f), df) in c
                .curve
                .x
                .iter()
                .zip(&c.curve.value)
                .zip(&c.curve.derivative)
            {
                let _ = writeln!(csv, "{},{x},{f},{df}", c.label);
            }
        }
        let plots = dir.join("plots");
        for (path, bytes) in [
            (
                plots.join(format!("{stem}.svg")),
                value.to_svg().into_bytes(),
            ),
            (
                plots.join(format!("{stem}-derivative.svg")),
                slope.to_svg().into_bytes(),
            ),
            (plots.join(format!("{stem}.csv")), csv.into_bytes()),
        ] {
            write_atomic(&path, &bytes).map_err(LabError::io(&path))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{RunOptions, Silent, run_experiment};
    use nonlin_nn::DeviceSpec;

    const SPEC: &str = r#"
name = "shapes"
seeds = [0, 1]
[data]
dataset = "digits"
[model]
kind = "mlp"
hidden = [6, 5]
activation = "tanh"
[train]
lr = 0.05
steps = 4
batch_size = 16
[[arm]]
name = "tanh"
[[arm]]
name = "prelu"
set = { "model.activation" = "prelu" }
"#;

    /// The rows of `plots/<stem>.csv` for one series, as (x, f, df).
    fn csv_rows(dir: &Path, stem: &str, series: &str) -> Vec<(f64, f64, f64)> {
        let text = std::fs::read_to_string(dir.join("plots").join(format!("{stem}.csv"))).unwrap();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                (cells[0] == series).then(|| {
                    let n = |i: usize| cells[i].parse::<f64>().unwrap();
                    (n(1), n(2), n(3))
                })
            })
            .collect()
    }

    fn at(rows: &[(f64, f64, f64)], x: f64) -> (f64, f64) {
        let row = rows.iter().find(|r| (r.0 - x).abs() < 1e-12).unwrap();
        (row.1, row.2)
    }

    /// A run writes f and f' plots and their points for every arm; the points are the
    /// activation's values: tanh(1) = 0.7615941560, tanh'(1) = 0.4199743416; PReLU at init
    /// (slope 0.25) gives -0.5 at -2 with slope 0.25, and after training the slope of the unit's
    /// checkpoint (f(-2) = -2a, f'(-2) = a).
    #[test]
    fn runs_write_activation_shapes_that_match_the_activation() {
        let experiment = Experiment::from_text(SPEC, "shapes.toml", &[]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let options = RunOptions {
            out_dir: dir.clone(),
            device: DeviceSpec::Cpu,
            data_dir: None,
            resume: false,
            command: vec![],
            spec_text: None,
        };
        run_experiment(&experiment, &options, &mut Silent).unwrap();

        let tanh = csv_rows(&dir, "activation-tanh", "f");
        assert_eq!(tanh.len(), POINTS);
        let (f, df) = at(&tanh, 1.0);
        assert!((f - 0.761_594_156_0).abs() < 1e-9 && (df - 0.419_974_341_6).abs() < 1e-9);
        // A fixed activation has one series: one polyline in each chart.
        let svg = std::fs::read_to_string(dir.join("plots/activation-tanh.svg")).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(dir.join("plots/activation-tanh-derivative.svg").is_file());

        let (f, df) = at(&csv_rows(&dir, "activation-prelu", "init"), -2.0);
        assert!(
            (f + 0.5).abs() < 1e-12 && (df - 0.25).abs() < 1e-12,
            "{f} {df}"
        );
        for seed in [0u64, 1] {
            let unit = TrainedUnit::load(&dir, Some("prelu"), Some(seed), &Device::flex()).unwrap();
            for (layer, site) in unit.model.activation_sites().iter().enumerate() {
                let nonlin_nn::Activation::Prelu(p) = site.activation else {
                    panic!("not a prelu")
                };
                let a = p.slope.val().into_data().try_into_vec_as::<f64>().unwrap()[0];
                assert!((a - 0.25).abs() > 1e-7, "the slope did not train");
                let rows = csv_rows(
                    &dir,
                    "activation-prelu",
                    &format!("seed {seed} layer {layer}"),
                );
                let (f, df) = at(&rows, -2.0);
                assert!(
                    (f + 2.0 * a).abs() < 1e-6 && (df - a).abs() < 1e-6,
                    "{f} {df} {a}"
                );
            }
        }
        // init plus 2 seeds x 2 layers
        let svg = std::fs::read_to_string(dir.join("plots/activation-prelu.svg")).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 5);
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(
            report.contains("plots/activation-prelu-derivative.svg"),
            "{report}"
        );
    }
}
