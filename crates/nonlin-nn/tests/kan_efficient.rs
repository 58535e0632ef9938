//! nonlin's KAN against efficient-kan itself: state dicts saved by efficient-kan (as safetensors)
//! load into nonlin's layers and networks and give efficient-kan's outputs, input gradients,
//! regularisation values and grid updates. The fixtures and the script that made them are in
//! `tests/fixtures/kan/` (`make_efficient_kan_fixtures.py`).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use nonlin_nn::model::{InputSpec, KanConfig, ModelConfig, ModelIo, Network};
use nonlin_nn::neuron::kan::{KanLayer, KanLayerConfig, Refit};
use nonlin_nn::weights::{ImportMap, import_safetensors};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kan")
}

fn json() -> Value {
    let text = std::fs::read_to_string(fixtures().join("efficient_kan.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A JSON matrix as (rows, cols, values).
fn matrix(v: &Value) -> (usize, usize, Vec<f64>) {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let values = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    (rows.len(), cols, values)
}

fn tensor(v: &Value, device: &Device) -> Tensor<2> {
    let (rows, cols, values) = matrix(v);
    let values: Vec<f32> = values.into_iter().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().unwrap()
}

/// |found − expected| ≤ tol·max(1, |expected|) everywhere.
fn assert_close(what: &str, found: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(found.len(), expected.len(), "{what}: lengths");
    for (i, (f, e)) in found.iter().zip(expected).enumerate() {
        assert!(
            (f - e).abs() <= tol * e.abs().max(1.0),
            "{what}[{i}]: nonlin {f}, efficient-kan {e}"
        );
    }
}

/// Outputs and input gradients of `forward` on the fixture's inputs.
fn check_probe(name: &str, probe: &Value, forward: impl Fn(Tensor<2>) -> Tensor<2>) {
    let device = Device::flex().autodiff();
    let x = tensor(&probe["inputs"], &device).require_grad();
    let y = forward(x.clone());
    let (_, _, expected) = matrix(&probe["outputs"]);
    assert_close(
        &format!("{name} outputs"),
        &values(y.clone()),
        &expected,
        1e-5,
    );
    let r = tensor(&probe["weights"], &device);
    let grads = (y * r).sum().backward();
    let (_, _, expected) = matrix(&probe["input_grad"]);
    assert_close(
        &format!("{name} input gradient"),
        &values(x.grad(&grads).unwrap()),
        &expected,
        1e-4,
    );
}

/// The trained KAN [2, 5, 1], whose knots moved with two grid updates, on points inside the
/// grid, in its extension and outside every knot (where only SiLU · w_b remains).
#[test]
fn trained_network_matches_efficient_kan() {
    let device = Device::flex().autodiff();
    let data = json();
    let probe = &data["trained_2_5_1"];
    let kan = KanConfig::new(vec![5])
        .init(2, 1, &device)
        .unwrap()
        .import_efficient_kan(&fixtures().join("trained_2_5_1.safetensors"))
        .unwrap();
    check_probe("trained_2_5_1", probe, |x| kan.forward(x));
    // The regulariser (efficient-kan's regularization_loss) with λ_a = 1 and λ_e = 1 or 0.
    for (key, entropy) in [("regularization_1_1", 1.0), ("regularization_1_0", 0.0)] {
        let total: f64 = kan
            .layers()
            .iter()
            .map(|l| values(l.regularization_loss(1.0, entropy))[0])
            .sum();
        assert_close(key, &[total], &[probe[key].as_f64().unwrap()], 1e-5);
    }
    // The same file through the experiment route: the registry model with a rename map.
    let io = ModelIo {
        input: InputSpec::Real { shape: vec![2] },
        output: vec![1],
    };
    let config: ModelConfig = toml::from_str("kind = \"kan\"\nhidden = [5]").unwrap();
    let model = config.build(&io, &device).unwrap();
    let map = ImportMap {
        rename: vec![("^layers\\.".into(), "Kan.layers.".into())],
        ..ImportMap::default()
    };
    let model =
        import_safetensors(model, &fixtures().join("trained_2_5_1.safetensors"), &map).unwrap();
    check_probe("trained_2_5_1 (registry)", probe, |x| {
        model
            .forward_input(&nonlin_nn::ModelInput::Real(x))
            .unwrap()
    });
}

/// Grid size 7, order 2, range [-2, 3], widths [3, 4, 2].
#[test]
fn other_grid_order_and_range_match() {
    let device = Device::flex().autodiff();
    let mut config = KanConfig::new(vec![4]);
    config.grid_size = 7;
    config.spline_order = 2;
    config.grid_range = [-2.0, 3.0];
    let kan = config
        .init(3, 2, &device)
        .unwrap()
        .import_efficient_kan(&fixtures().join("wide_3_4_2.safetensors"))
        .unwrap();
    check_probe("wide_3_4_2", &json()["wide_3_4_2"], |x| kan.forward(x));
}

/// One layer without standalone scales and with an identity base.
#[test]
fn plain_layer_matches() {
    let device = Device::flex().autodiff();
    let config = KanLayerConfig::new(3, 2)
        .with_standalone_scale_spline(false)
        .with_base_activation("identity".into());
    let layer = import_safetensors(
        config.init(&device).unwrap(),
        &fixtures().join("plain_3_2.safetensors"),
        &ImportMap::default(),
    )
    .unwrap();
    let data = json();
    check_probe("plain_3_2", &data["plain_3_2"], |x| layer.forward(x));
    assert_close(
        "regularization_2_05",
        &values(layer.regularization_loss(2.0, 0.5)),
        &[data["plain_3_2"]["regularization_2_05"].as_f64().unwrap()],
        1e-5,
    );
}

fn load_layer(file: &str, scaled: bool) -> KanLayer {
    let device = Device::flex();
    let layer = KanLayerConfig::new(2, 3)
        .with_standalone_scale_spline(scaled)
        .init(&device)
        .unwrap();
    import_safetensors(layer, &fixtures().join(file), &ImportMap::default()).unwrap()
}

/// `update_grid` with `Refit::EfficientKan` gives efficient-kan's knots, coefficients and
/// outputs; without standalone scales both refits are efficient-kan's.
#[test]
fn grid_updates_match_efficient_kan() {
    let device = Device::flex();
    let data = json();
    let samples = tensor(&data["update_samples"], &device);
    for (name, scaled, refits) in [
        ("scaled", true, vec![Refit::EfficientKan]),
        ("plain", false, vec![Refit::EfficientKan, Refit::Preserve]),
    ] {
        let after = load_layer(&format!("update_{name}_after.safetensors"), scaled);
        for refit in refits {
            let layer = load_layer(&format!("update_{name}_before.safetensors"), scaled)
                .update_grid(samples.clone(), 0.01, refit)
                .unwrap();
            let what = format!("{name} {refit:?}");
            assert_close(
                &format!("{what} grid"),
                &values(layer.grid.val()),
                &values(after.grid.val()),
                1e-6,
            );
            assert_close(
                &format!("{what} spline_weight"),
                &values(layer.spline_weight.val()),
                &values(after.spline_weight.val()),
                2e-4,
            );
            let (_, _, expected) = matrix(&data[format!("update_{name}_outputs")]);
            assert_close(
                &format!("{what} outputs"),
                &values(layer.forward(samples.clone())),
                &expected,
                2e-4,
            );
        }
    }
}
