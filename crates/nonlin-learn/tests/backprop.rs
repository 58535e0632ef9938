//! Backprop with each optimizer lowers the loss, its saved state resumes exactly, parameter
//! groups scale learning rates and weight decay per group, and clipping bounds the global norm.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_learn::{
    Backprop, LearningRule, OptimizerConfig, OptimizerSetup, ParamGroupConfig, RuleState, Target,
    TensorBatch,
};
use nonlin_nn::weights::param_paths;
use nonlin_nn::{Mlp, MlpConfig, ModelInput, engine};

/// Loss and accuracy of `net` on `batch`, without an update.
struct Eval {
    loss: f64,
    accuracy: f64,
}

fn evaluate(net: &Mlp, batch: &TensorBatch) -> Eval {
    let net = net.valid();
    let out = net.forward(batch.features("test").unwrap());
    let loss = batch.target.loss(out.clone()).unwrap().into_scalar::<f64>();
    let (hits, rows) = batch.target.correct(&out).unwrap().unwrap();
    Eval {
        loss,
        accuracy: hits as f64 / rows as f64,
    }
}

fn backprop(config: &OptimizerConfig) -> Backprop {
    Backprop::new(&OptimizerSetup::plain(config)).unwrap()
}

/// A fixed batch of 32 points in 4-D, labelled by the sign of the first coordinate.
fn toy_batch(device: &Device) -> TensorBatch {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..32 {
        let t = i as f32;
        let x = [
            ((t * 1.7).sin()),
            (t * 0.3).cos(),
            (t * 2.1).sin() * 0.5,
            0.1 * t / 32.0,
        ];
        ys.push(i64::from(x[0] > 0.0));
        xs.extend(x);
    }
    TensorBatch {
        input: ModelInput::Real(Tensor::from_data(TensorData::new(xs, [32, 4]), device)),
        target: Target::Classes(Tensor::<1, Int>::from_data(
            TensorData::new(ys, [32]),
            device,
        )),
    }
}

/// The tests of this file run on parallel threads that share the device's random generator:
/// seeding and drawing the initial weights happen under one lock, so every test gets the same
/// network whatever the other threads do.
fn model(device: &Device) -> Mlp {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    engine::seed(device, 7);
    MlpConfig::new(vec![16]).init(4, 2, device).unwrap()
}

#[test]
fn every_optimizer_lowers_the_loss() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    for (config, lr) in [
        (
            OptimizerConfig::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            0.1,
        ),
        (OptimizerConfig::default(), 0.01),
        (
            OptimizerConfig::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                weight_decay: 0.01,
            },
            0.01,
        ),
    ] {
        let mut rule = backprop(&config);
        let mut net = model(&device);
        let before = evaluate(&net, &batch).loss;
        for _ in 0..60 {
            net = rule.step(net, &batch, lr).unwrap().0;
        }
        let after = evaluate(&net, &batch);
        assert!(
            after.loss < 0.5 * before,
            "{config:?}: loss {before} -> {}",
            after.loss
        );
        assert!(
            after.accuracy >= 0.9,
            "{config:?}: accuracy {}",
            after.accuracy
        );
    }
}

#[test]
fn step_metrics_report_loss_and_accuracy() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let mut rule = backprop(&OptimizerConfig::default());
    let net = model(&device);
    let expected = evaluate(&net, &batch);
    let (_, metrics) = LearningRule::<Mlp>::step(&mut rule, net, &batch, 1e-3).unwrap();
    // The metrics describe the model before the update, so they match an evaluation of it.
    assert!(
        (metrics["loss"] - expected.loss).abs() < 1e-5,
        "{metrics:?} vs {}",
        expected.loss
    );
    assert!((metrics["accuracy"] - expected.accuracy).abs() < 1e-9);
}

#[test]
fn saved_optimizer_state_resumes_bit_for_bit() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let config = OptimizerConfig::default();
    let mut rule = backprop(&config);
    let mut net = model(&device);
    for _ in 0..5 {
        net = rule.step(net, &batch, 0.01).unwrap().0;
    }
    let state = LearningRule::<Mlp>::save_state(&rule).unwrap();
    let mut restored = backprop(&config);
    LearningRule::<Mlp>::load_state(&mut restored, state).unwrap();

    let a = rule.step(net.clone(), &batch, 0.01).unwrap().0;
    let b = restored.step(net.clone(), &batch, 0.01).unwrap().0;
    let mut fresh = backprop(&config);
    let c = fresh.step(net, &batch, 0.01).unwrap().0;
    let out = |m: Mlp| {
        m.forward(toy_batch(&device).features("t").unwrap())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b, c) = (out(a), out(b), out(c));
    assert_eq!(a, b, "restored optimizer must continue exactly");
    assert_ne!(
        a, c,
        "a fresh optimizer (no moments) must differ, or the test proves nothing"
    );
}

#[test]
fn corrupt_state_is_an_error() {
    let mut rule = backprop(&OptimizerConfig::default());
    let state = RuleState {
        bytes: vec![1, 2, 3],
        modules: Vec::new(),
    };
    let err = LearningRule::<Mlp>::load_state(&mut rule, state).unwrap_err();
    assert!(err.to_string().contains("optimizer"), "{err}");
}

/// The values of every parameter, by path.
fn values(net: &Mlp) -> Vec<(String, Vec<f32>)> {
    let paths = param_paths(net);
    let mut tensors: Vec<Vec<f32>> = Vec::new();
    for layer in net.layers() {
        tensors.push(layer.weight.val().into_data().try_to_vec::<f32>().unwrap());
        if let Some(b) = &layer.bias {
            tensors.push(b.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    paths.into_iter().map(|p| p.path).zip(tensors).collect()
}

/// A group with `lr_scale = 0` is frozen while the rest trains; a group with a larger scale
/// moves further than the same parameters at scale 1 in the first (Adam: lr-sized) step.
#[test]
fn parameter_groups_scale_the_learning_rate() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let setup = |params: &str, lr_scale: f64| OptimizerSetup {
        optimizer: OptimizerConfig::default(),
        groups: vec![ParamGroupConfig {
            params: vec![params.to_string()],
            lr_scale,
            weight_decay: None,
        }],
        clip_grad_norm: None,
    };
    let net = model(&device);
    let before = values(&net);
    let mut frozen = Backprop::new(&setup("layers.1.*", 0.0)).unwrap();
    let mut after = net.clone();
    for _ in 0..3 {
        after = frozen.step(after, &batch, 0.01).unwrap().0;
    }
    for ((path, b), (_, a)) in before.iter().zip(values(&after)) {
        if path.starts_with("layers.1.") {
            assert_eq!(b, &a, "{path} moved although its group has lr_scale 0");
        } else {
            assert_ne!(b, &a, "{path} did not train");
        }
    }
    // Adam's first step moves every weight by about lr * sign(grad): lr_scale 3 moves 3 times as far.
    let step_size = |scale: f64| {
        let mut rule = Backprop::new(&setup("layers.0.weight", scale)).unwrap();
        let moved = values(&rule.step(net.clone(), &batch, 0.01).unwrap().0);
        let (b, a) = (&before[0].1, &moved[0].1);
        b.iter()
            .zip(a)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    let (one, three) = (step_size(1.0), step_size(3.0));
    assert!((three / one - 3.0).abs() < 0.01, "{one} vs {three}");
    // A pattern that matches nothing is an error naming the parameters.
    let err = setup("layers.9.*", 1.0)
        .build()
        .unwrap()
        .check_groups(&net)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layers.9.*") && err.contains("layers.0.weight"),
        "{err}"
    );
    setup("layers.?.bias", 1.0)
        .build()
        .unwrap()
        .check_groups(&net)
        .unwrap();
}

/// Per-group weight decay: one SGD step with L2 decay `w_d` on one group moves that group by an
/// extra `-lr * w_d * w` compared with the same step without decay, and leaves the rest as is.
#[test]
fn parameter_groups_set_weight_decay() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let sgd = OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    // One model, cloned for every run: tests run in parallel threads that share the device's RNG,
    // so two calls of `model` need not give the same weights.
    let net = model(&device);
    let run = |groups: Vec<ParamGroupConfig>| {
        let setup = OptimizerSetup {
            optimizer: sgd.clone(),
            groups,
            clip_grad_norm: None,
        };
        let mut rule = Backprop::new(&setup).unwrap();
        values(&rule.step(net.clone(), &batch, 0.1).unwrap().0)
    };
    let plain = run(Vec::new());
    let decayed = run(vec![ParamGroupConfig {
        params: vec!["layers.0.weight".into()],
        lr_scale: 1.0,
        weight_decay: Some(0.5),
    }]);
    let start = values(&net);
    // SGD with L2 decay w: w' = w - lr (g + w_d w) = plain' - lr * w_d * w
    for (((path, p), (_, d)), (_, w)) in plain.iter().zip(&decayed).zip(&start) {
        for ((p, d), w) in p.iter().zip(d).zip(w) {
            let expected = if path == "layers.0.weight" {
                p - 0.1 * 0.5 * w
            } else {
                *p
            };
            assert!((d - expected).abs() < 1e-5, "{path}: {d} vs {expected}");
        }
    }
}

/// Clipping the global norm: the rule reports the norm before clipping, and the update of plain
/// SGD equals lr * grad * (max / norm).
#[test]
fn gradient_clipping_bounds_the_global_norm() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let sgd = OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    let net = model(&device);
    let run = |clip: Option<f64>| {
        let setup = OptimizerSetup {
            optimizer: sgd.clone(),
            groups: Vec::new(),
            clip_grad_norm: clip,
        };
        let mut rule = Backprop::new(&setup).unwrap();
        let (next, metrics) = rule.step(net.clone(), &batch, 1.0).unwrap();
        (values(&next), metrics)
    };
    let start = values(&net);
    let (free, m) = run(None);
    assert!(!m.contains_key("grad_norm"));
    // The unclipped update is the gradient itself (lr 1): its norm is the global norm.
    let norm = start
        .iter()
        .zip(&free)
        .flat_map(|((_, a), (_, b))| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)))
        .sum::<f64>()
        .sqrt();
    let (clipped, m) = run(Some(norm / 4.0));
    assert!(
        (m["grad_norm"] - norm).abs() < 1e-4 * norm,
        "{} vs {norm}",
        m["grad_norm"]
    );
    for (((_, s), (_, f)), (_, c)) in start.iter().zip(&free).zip(&clipped) {
        for ((s, f), c) in s.iter().zip(f).zip(c) {
            let expected = s - (s - f) / 4.0;
            assert!((c - expected).abs() < 1e-5, "{c} vs {expected}");
        }
    }
    // Above the threshold nothing changes.
    let (loose, _) = run(Some(norm * 2.0));
    assert_eq!(loose, free);
}
