//! The official BDH checkpoint imports by its own parameter names and gives the official logits.
//! Fixtures: `tests/fixtures/bdh/make_fixtures.py` ran pathwaycom/bdh's `bdh.py` (3 layers,
//! d = 16, 4 heads, multiplier 16, bytes) and saved its state dict and its logits for two byte
//! sequences of 12.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::{NpyData, read_npy};
use nonlin_nn::weights::{ImportMap, import_safetensors};
use nonlin_nn::{BdhConfig, Network};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bdh")
        .join(name)
}

fn config() -> BdhConfig {
    BdhConfig {
        n_layer: 3,
        n_embd: 16,
        n_head: 4,
        mlp_internal_dim_multiplier: 16,
        dropout: 0.0,
        ..BdhConfig::default()
    }
}

fn official_model(device: &Device) -> nonlin_nn::Bdh {
    let model = config().init(256, device).unwrap();
    let map = ImportMap {
        pytorch: true,
        ..ImportMap::default()
    };
    import_safetensors(model, &fixture("bdh_small.safetensors"), &map).unwrap()
}

fn official_inputs() -> (Vec<i64>, Vec<f32>) {
    let tokens = read_npy(&fixture("bdh_small_tokens.npy")).unwrap();
    let logits = read_npy(&fixture("bdh_small_logits.npy")).unwrap();
    assert_eq!(tokens.shape, vec![2, 12]);
    assert_eq!(logits.shape, vec![2, 12, 256]);
    let expected = logits.to_f32();
    let NpyData::I64(tokens) = tokens.data else {
        panic!("int64 tokens")
    };
    (tokens, expected)
}

#[test]
fn official_checkpoint_gives_the_official_logits() {
    let device = Device::flex();
    let model = official_model(&device);
    let (tokens, expected) = official_inputs();
    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [2, 12]), &device);
    let logits: Vec<f32> = model.forward(input).into_data().try_to_vec().unwrap();
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = logits
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5 * scale.max(1.0),
        "max |diff| {worst} (largest logit {scale})"
    );
}

/// The recurrent form of the imported model gives the official logits too.
#[test]
fn official_checkpoint_in_the_recurrent_form() {
    let device = Device::flex();
    let model = official_model(&device);
    let (tokens, expected) = official_inputs();
    let mut stream = model.token_stream().unwrap();
    for (t, &id) in tokens[12..].iter().enumerate() {
        let logits: Vec<f32> = stream
            .feed(id as u32)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        let row = &expected[(12 + t) * 256..(13 + t) * 256];
        let worst = logits
            .iter()
            .zip(row)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "position {t}: {worst}");
    }
}
