//! The sequence papers end to end through the binary (issue 6): the quick variants of
//! `experiments/papers/{softplus_attention,minimal_transformer,bdh}.toml` complete with finite
//! metrics, BDH logs its probes during training, and `nonlin generate` samples from a trained BDH
//! (through its recurrent form) and a trained GPT (through the window).

use std::path::{Path, PathBuf};

use nonlin::lab::Summary;

mod common;
use common::{nonlin, run_ok};

fn paper(slug: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/papers")
        .join(format!("{slug}.toml"))
}

/// Every final metric of every unit is finite (recall accuracies may be NaN when a tiny
/// evaluation holds no recall position, which the quick variants avoid).
fn assert_finite(summary: &Summary) {
    for unit in &summary.units {
        for (name, value) in &unit.metrics {
            assert!(
                value.is_finite(),
                "{} seed {}: {name} = {value}",
                unit.arm,
                unit.seed
            );
        }
    }
}

#[test]
fn softplus_attention_quick_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sp");
    run_ok(
        nonlin()
            .arg("run")
            .arg(paper("softplus_attention"))
            .arg("--quick")
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert_eq!(summary.arms.len(), 3);
    assert_finite(&summary);
    for arm in ["softmax", "lssa", "lssar"] {
        for metric in [
            "test_loss",
            "test_loss_2x",
            "test_loss_4x",
            "test_loss_8x",
            "test_loss_gap_8x",
        ] {
            assert!(summary.arms[arm].contains_key(metric), "{arm}: {metric}");
        }
    }
    assert_eq!(summary.claims.len(), 5);
}

#[test]
fn minimal_transformer_quick_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mt");
    run_ok(
        nonlin()
            .arg("run")
            .arg(paper("minimal_transformer"))
            .arg("--quick")
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert_finite(&summary);
    // the closed-form counts of model/minimal_transformer.rs at d = 64, 2 layers, 2x2 patches:
    // outside the blocks 4*64+64 + 64 + 17*64 + 64*10+10 = 2122; full block 4*(4096+64) + 256 +
    // 2*4096 + 128 = 25216; no-ffn block 16640 + 128 = 16768; W_QK block 4096 + 8320 + 128 =
    // 12544; no W_V/W_O 4096 + 128 = 4224; symmetric 2080 + 8320 + 128 = 10528
    let params = |arm: &str| summary.arm_resources[arm]["params"].mean;
    assert_eq!(params("full"), (2122 + 2 * 25216) as f64);
    assert_eq!(params("no_mlp"), (2122 + 2 * 16768) as f64);
    assert_eq!(params("no_mlp_wqk"), (2122 + 2 * 12544) as f64);
    assert_eq!(params("no_mlp_wqk_no_vo"), (2122 + 2 * 4224) as f64);
    assert_eq!(params("no_mlp_symmetric"), (2122 + 2 * 10528) as f64);
}

#[test]
fn bdh_quick_variant_probes_and_generation() {
    let Some(data) = nonlin::data::testdata::require_shared("shakespeare") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bdh");
    run_ok(
        nonlin()
            .arg("run")
            .arg(paper("bdh"))
            .arg("--quick")
            .arg("--data-dir")
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert_finite(&summary);
    let bdh = &summary.arms["bdh"];
    for probe in [
        "train_x_density",
        "train_xy_density",
        "train_graph_modularity",
        "train_x_density_layer3",
    ] {
        let v = bdh[probe].mean;
        assert!(v.is_finite(), "{probe}");
    }
    assert!((0.0..=1.0).contains(&bdh["train_xy_density"].mean));
    assert!(
        !summary.arms["gpt"].contains_key("train_x_density"),
        "the GPT has no probes"
    );
    // the probes are logged with every evaluation (steps 10 and 20 of the quick variant)
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("\"xy_density\"")).count(),
        2,
        "{log}"
    );
    assert_eq!(summary.arm_resources["bdh"]["params"].mean, 65_536.0);
    assert_eq!(summary.arm_resources["gpt"]["params"].mean, 67_872.0);

    for arm in ["bdh", "gpt"] {
        let sample = |seed: &str| {
            let out = run_ok(nonlin().arg("generate").arg(&out).args([
                "--arm",
                arm,
                "--prompt",
                "To be or ",
                "--tokens",
                "30",
                "--top-k",
                "3",
                "--seed",
                seed,
            ]));
            (
                out.stdout,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (a, form) = sample("1");
        // BDH generates through its recurrent form, the GPT through the window
        let expected = if arm == "bdh" {
            "recurrent form"
        } else {
            "window of the last 64 tokens"
        };
        assert!(form.contains(expected), "{arm}: {form}");
        // bytes: the prompt, 30 sampled bytes, a newline (invalid UTF-8 is replaced by the
        // vocabulary's decoding, so count loosely)
        assert!(a.starts_with(b"To be or "), "{arm}: {a:?}");
        assert!(a.len() > 9 + 10, "{arm}: {a:?}");
        assert_eq!(a, sample("1").0, "{arm}: same seed, same text");
    }
}

/// The feed-forward activation arena of the GPT (`experiments/arena-lm-ffn.toml`): every
/// registered activation it names builds inside the GPT's feed-forward block and trains to finite
/// losses, and the learnable ones change the parameter count (PolyNorm and PolyReLU add 4
/// coefficients per block, CRReLU one epsilon, SIAF two per term and channel: 2 blocks).
#[test]
fn feed_forward_activation_arena_quick_variant() {
    let Some(data) = nonlin::data::testdata::require_shared("shakespeare") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ffn");
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/arena-lm-ffn.toml");
    run_ok(
        nonlin()
            .arg("run")
            .arg(spec)
            .arg("--quick")
            .arg("--data-dir")
            .arg(&data)
            .arg("--out")
            .arg(&out),
    );
    let summary = Summary::read(&out).unwrap();
    assert_finite(&summary);
    let params = |arm: &str| summary.arm_resources[arm]["params"].mean;
    assert_eq!(params("polynorm") - params("gelu"), 8.0);
    assert_eq!(params("polyrelu") - params("gelu"), 8.0);
    assert_eq!(params("crrelu") - params("gelu"), 2.0);
    // SIAF: a_i and b_i per channel of the 4d = 256 hidden units, 2 terms, 2 blocks
    assert_eq!(params("siaf") - params("gelu"), (2 * 2 * 256 * 2) as f64);
    assert_eq!(summary.claims.len(), 1);
}
