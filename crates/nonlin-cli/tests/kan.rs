//! KAN, S-KAN and S-ConvKAN end to end through the binary: the paper experiment's fast variant
//! (`experiments/papers/s_kan.toml --quick`), and an efficient-kan state dict loaded with
//! `[init_from]` whose `predict` outputs are efficient-kan's.

use std::path::{Path, PathBuf};

use nonlin::data::{read_npy, write_npy_f32};
use nonlin::lab::Summary;

mod common;
use common::{nonlin, run_ok};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The quick variant runs every arm (KAN, MLP, five single-space KANs and S-KAN per function,
/// the digits S-KAN and S-ConvKAN) to finite metrics, and checks every claim.
#[test]
fn s_kan_quick_variant_runs_every_arm() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s_kan");
    run_ok(
        nonlin()
            .arg("run")
            .arg(root().join("experiments/papers/s_kan.toml"))
            .arg("--quick")
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert_eq!(summary.units.len(), 55);
    for unit in &summary.units {
        let metric = if unit.arm.starts_with("digits.") {
            "test_accuracy"
        } else {
            "test_rmse"
        };
        let value = unit.metrics[metric];
        assert!(value.is_finite(), "{} {metric}: {value}", unit.arm);
    }
    assert_eq!(summary.claims.len(), 39);
}

/// A KAN [2, 5, 1] trained in efficient-kan (state dict saved as safetensors, knots moved by two
/// grid updates) initialises a run through `[init_from]` with a rename; after one SGD step of
/// learning rate 1e-30 (below f32 resolution) the model predicts efficient-kan's outputs, on points inside the grid, in its
/// extension and outside every knot.
#[test]
fn efficient_kan_weights_predict_efficient_kan_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = root().join("crates/nonlin-nn/tests/fixtures/kan");
    let spec = format!(
        r#"
name = "efficient-kan-import"
[data]
dataset = "function_fit"
function = "exp_sin_square"
n = 64
[model]
kind = "kan"
hidden = [5]
[optimizer]
kind = "sgd"
[train]
lr = 1e-30
steps = 1
batch_size = 32
[init_from]
path = "{}"
rename = [["^layers\\.", "Kan.layers."]]
"#,
        fixtures
            .join("trained_2_5_1.safetensors")
            .display()
            .to_string()
            .replace('\\', "/")
    );
    let spec_path = tmp.path().join("import.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let run = tmp.path().join("run");
    run_ok(nonlin().arg("run").arg(&spec_path).arg("--out").arg(&run));

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("efficient_kan.json")).unwrap(),
    )
    .unwrap();
    let probe = &json["trained_2_5_1"];
    let rows = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
            .collect()
    };
    let inputs = rows(&probe["inputs"]);
    let expected = rows(&probe["outputs"]);
    let x = tmp.path().join("x.npy");
    write_npy_f32(&x, &[inputs.len() / 2, 2], &inputs).unwrap();
    let y = tmp.path().join("y.npy");
    run_ok(
        nonlin()
            .arg("predict")
            .arg(&run)
            .arg("--input")
            .arg(&x)
            .arg("--output")
            .arg(&y),
    );
    let found = read_npy(&y).unwrap().to_f32();
    assert_eq!(found.len(), expected.len());
    for (i, (f, e)) in found.iter().zip(&expected).enumerate() {
        assert!(
            (f - e).abs() <= 1e-5 * e.abs().max(1.0),
            "point {i}: nonlin {f}, efficient-kan {e}"
        );
    }
}
