//! The activation and neuron papers end to end through the binary: each paper's `[quick]`
//! experiment runs from `experiments/papers/<slug>.toml` and finishes with finite metrics (and,
//! where the quick variant is designed to meet them, passing claims).

use std::path::{Path, PathBuf};

use nonlin::lab::Summary;

mod common;
use common::nonlin;

fn paper(slug: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/papers")
        .join(format!("{slug}.toml"))
}

/// Runs a paper's quick variant into a temporary folder and returns its summary.
fn run_quick(slug: &str) -> Summary {
    run_quick_with(slug, &[])
}

/// [`run_quick`] with extra arguments (`--data-dir`).
fn run_quick_with(slug: &str, extra: &[&std::ffi::OsStr]) -> Summary {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(slug);
    let result = nonlin()
        .arg("run")
        .arg(paper(slug))
        .arg("--quick")
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("nonlin runs");
    assert!(
        result.status.success(),
        "{slug} failed:\n{}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    Summary::read(&out).unwrap()
}

/// Every final metric of every unit is finite (parameter statistics are NaN, by definition, in
/// arms without the parameter: a ReLU arm has no CRReLU ε; so are feature probes of a layer a
/// model does not have).
fn assert_finite(summary: &Summary) {
    for unit in &summary.units {
        for (name, value) in &unit.metrics {
            if (name.contains("_param(") || name.starts_with("feature_")) && value.is_nan() {
                continue;
            }
            assert!(
                value.is_finite(),
                "{} seed {}: {name} = {value}",
                unit.arm,
                unit.seed
            );
        }
    }
}

fn claim_passed(summary: &Summary, name_part: &str) -> bool {
    let claim = summary
        .claims
        .iter()
        .find(|c| c.name.contains(name_part))
        .unwrap_or_else(|| panic!("no claim with `{name_part}`"));
    claim.passed
}

/// CRReLU's quick run: three arms finish, ε is reported and stays small.
#[test]
fn crrelu_quick() {
    let summary = run_quick("crrelu");
    assert_finite(&summary);
    assert_eq!(summary.units.len(), 3);
    let eps = summary.arms["crrelu"]["max_abs_param(*.Crrelu.epsilon)"].mean;
    assert!(eps > 0.0 && eps < 0.5, "{eps}");
    assert!(claim_passed(&summary, "|eps| < 0.5"));
}

/// PolyCom's quick run: four arms fit the regression target with finite errors, and the
/// learnable coefficients of PolyReLU and PolyNorm are reported.
#[test]
fn polycom_quick() {
    let summary = run_quick("polycom");
    assert_finite(&summary);
    assert_eq!(summary.units.len(), 4);
    for arm in ["relu", "gelu", "polyrelu", "polynorm"] {
        let mse = summary.arms[arm]["test_mse"].mean;
        // the target has variance about 0.27; any trained arm is far below it
        assert!(mse < 0.1, "{arm}: {mse}");
    }
    assert!(
        summary.arms["polyrelu"]["mean_param(*.PolyRelu.bias)"]
            .mean
            .is_finite()
    );
    assert!(
        summary.arms["polynorm"]["mean_param(*.PolyNorm.bias)"]
            .mean
            .is_finite()
    );
}

/// PanGu-π's quick run: the collapse check at initialisation passes (it is not trained, so the
/// quick variant measures exactly what the full one does), and every LM arm reports its loss and
/// the effective dimension of its final hidden states.
#[test]
fn pangu_pi_quick() {
    let Some(data) = nonlin::data::testdata::require_shared("shakespeare") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let summary = run_quick_with("pangu_pi", &["--data-dir".as_ref(), data.as_os_str()]);
    assert_finite(&summary);
    assert!(claim_passed(&summary, "collapse the features"));
    assert!(claim_passed(&summary, "keeps at least the identity"));
    for arm in ["vanilla", "siaf", "as", "both"] {
        let dim = summary.arms[arm]["feature_dim(last, 0.8)"].mean;
        assert!((1.0..=64.0).contains(&dim), "{arm}: {dim}");
        assert!(summary.arms[arm]["val_loss"].mean.is_finite());
    }
}

/// Quadratic networks' quick run: the conventional and ReLinear arms train to finite metrics
/// (the randomly initialised quadratic arms may collapse, which is what the paper is about), and
/// every arm reports whether it diverged.
#[test]
fn quadratic_quick() {
    let summary = run_quick("quadratic");
    assert_eq!(summary.units.len(), 6);
    for unit in &summary.units {
        let diverged = unit.metrics["diverged"];
        assert!(
            diverged == 0.0 || diverged == 1.0,
            "{}: {diverged}",
            unit.arm
        );
        if unit.arm == "conventional" || unit.arm == "relinear" {
            assert_eq!(diverged, 0.0);
            assert!(unit.metrics["test_accuracy"] > 0.5, "{}", unit.arm);
        }
    }
    // ReLinear's quadratic weights grew from zero, slowly (lr_gb = 1e-3 x lr)
    let g = summary.arms["relinear"]["max_abs_param(*.g.weight)"].mean;
    assert!(g > 0.0 && g < 0.1, "{g}");
}

/// DenseShift's quick run, then `nonlin export`: the exported integer codes rebuild the trained
/// layer's output with integer shifts only, matching the float path exactly (x·W) and with the
/// float bias to rounding; an arm without shift layers is refused.
#[test]
fn denseshift_quick_and_export() {
    use nonlin::burn::tensor::{Tensor, TensorData};
    use nonlin::lab::trained::TrainedUnit;
    use nonlin::nn::neuron::ShiftCodes;
    use nonlin::nn::{DeviceSpec, Model};

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("denseshift");
    let result = nonlin()
        .arg("run")
        .arg(paper("denseshift"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let summary = Summary::read(&out).unwrap();
    assert_finite(&summary);
    assert!(summary.arms["denseshift3"]["train_code_flips"].mean > 0.0);

    let codes_path = tmp.path().join("codes.json");
    let result = nonlin()
        .args([
            "export",
            out.to_str().unwrap(),
            "--arm",
            "denseshift3",
            "--out",
        ])
        .arg(&codes_path)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&codes_path).unwrap()).unwrap();
    assert_eq!(doc["format"], "nonlin-shift-codes-1");
    let layers: Vec<ShiftCodes> = serde_json::from_value(doc["layers"].clone()).unwrap();
    assert_eq!(layers.len(), 2, "both hidden layers are DenseShift");
    assert_eq!(layers[0].shape, [64, 256]);
    assert!(
        layers
            .iter()
            .all(|l| l.bits == 3 && l.shift.iter().all(|&p| p < 4))
    );
    assert!(
        layers
            .iter()
            .all(|l| l.sign.iter().all(|&s| s == 1 || s == -1)),
        "zero-free"
    );

    let device = DeviceSpec::Cpu.device().unwrap();
    let unit = TrainedUnit::load(&out, Some("denseshift3"), None, &device).unwrap();
    let Model::ShiftMlp(model) = &unit.model else {
        panic!("a shift_mlp")
    };
    for ((k, layer), codes) in model.shift_layers().into_iter().zip(&layers) {
        assert_eq!(codes.layer, format!("layers.{k}"));
        let [i, o] = codes.shape;
        let x: Vec<i64> = (0..4 * i as i64).map(|v| (v * 37 % 31) - 15).collect();
        let ints = codes.shift_matmul(&x);
        let xf = Tensor::<2>::from_data(
            TensorData::new(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), [4, i]),
            &device,
        );
        let product = xf
            .clone()
            .matmul(layer.weight())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let forward = layer.forward(xf).into_data().try_to_vec::<f32>().unwrap();
        let bias = layer
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (e, &n) in ints.iter().enumerate() {
            // 2^(P−1) = 8 at 3 bits
            assert_eq!(n as f32 / 8.0, product[e], "layer {k} element {e}");
            let rebuilt = n as f32 / 8.0 + bias[e % o];
            assert!(
                (rebuilt - forward[e]).abs() <= 1e-5 * forward[e].abs().max(1.0),
                "{rebuilt} vs {}",
                forward[e]
            );
        }
    }

    let refused = nonlin()
        .args(["export", out.to_str().unwrap(), "--arm", "fp32", "--out"])
        .arg(tmp.path().join("none.json"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no power-of-two"));
}

/// Parameter-free layers: the quick run of the three bottleneck ResNets (conv, max, hybrid)
/// finishes with finite metrics (the exact parameter counts are unit tests of the model).
#[test]
fn pflayer_quick() {
    let summary = run_quick("pflayer");
    assert_finite(&summary);
    assert_eq!(summary.arms.len(), 3);
}

/// The crossbar ramp-ADC LSTM: the quick run (float training, ADC evaluation at several bit
/// depths, noise, hardware-aware training) finishes with finite metrics.
#[test]
fn crossbar_adc_quick() {
    let summary = run_quick("crossbar_adc");
    assert_finite(&summary);
    assert_eq!(summary.arms.len(), 7);
}

/// The activation arena: its quick variant runs, with an MLP arm and a conv arm for every
/// activation in the registry (so a newly registered activation must join the arena).
#[test]
fn arena_quick_covers_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("arena");
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/arena-activations.toml");
    let result = nonlin()
        .arg("run")
        .arg(spec)
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let summary = Summary::read(&out).unwrap();
    assert_finite(&summary);
    // The MNIST half is in the file (not in `--quick`): every activation, both models.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/arena-activations.toml"),
    )
    .unwrap();
    let full = nonlin::lab::Experiment::from_text(&text, "arena-activations.toml", &[]).unwrap();
    for name in nonlin::nn::activation::Activation::NAMES {
        for model in ["mlp", "conv"] {
            assert!(
                summary.arms.contains_key(&format!("{model}-{name}")),
                "{model}-{name} missing from the arena"
            );
            let mnist = format!("mnist-{model}-{name}");
            assert!(
                full.arms.iter().any(|(arm, _)| *arm == mnist),
                "{mnist} missing from the arena"
            );
        }
        // The report draws every arm's activation (issue 9): f and f' beside their points.
        for file in ["svg", "csv"] {
            assert!(
                out.join(format!("plots/activation-mlp-{name}.{file}"))
                    .is_file(),
                "no activation plot for mlp-{name}"
            );
        }
        assert!(
            out.join(format!("plots/activation-conv-{name}-derivative.svg"))
                .is_file()
        );
    }
}
