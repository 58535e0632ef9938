//! Backprop with each optimizer lowers the loss, and its saved state resumes exactly.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_learn::{Backprop, LearningRule, OptimizerConfig, TensorBatch, evaluate};
use nonlin_nn::{Mlp, MlpConfig, engine};

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
        x: Tensor::from_data(TensorData::new(xs, [32, 4]), device),
        y: Tensor::<1, Int>::from_data(TensorData::new(ys, [32]), device),
    }
}

fn model(device: &Device) -> Mlp {
    engine::seed(device, 7);
    MlpConfig::new(4, vec![16], 2).init(device).unwrap()
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
        let mut rule = Backprop::new(&config).unwrap();
        let mut net = model(&device);
        let before = evaluate(&net, [batch.clone()]).loss;
        for _ in 0..60 {
            net = rule.step(net, &batch, lr).unwrap().0;
        }
        let after = evaluate(&net, [batch.clone()]);
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
    let mut rule = Backprop::new(&OptimizerConfig::default()).unwrap();
    let net = model(&device);
    let expected = evaluate(&net, [batch.clone()]);
    let (_, metrics) = LearningRule::<Mlp>::step(&mut rule, net, &batch, 1e-3).unwrap();
    // The metrics describe the model before the update, so they match an evaluation of it.
    assert!(
        (metrics["loss"] - expected.loss).abs() < 1e-5,
        "{metrics:?} vs {expected:?}"
    );
    assert!((metrics["accuracy"] - expected.accuracy).abs() < 1e-9);
}

#[test]
fn saved_optimizer_state_resumes_bit_for_bit() {
    let device = Device::flex().autodiff();
    let batch = toy_batch(&device);
    let config = OptimizerConfig::default();
    let mut rule = Backprop::new(&config).unwrap();
    let mut net = model(&device);
    for _ in 0..5 {
        net = rule.step(net, &batch, 0.01).unwrap().0;
    }
    let state = LearningRule::<Mlp>::save_state(&rule).unwrap();
    let mut restored = Backprop::new(&config).unwrap();
    LearningRule::<Mlp>::load_state(&mut restored, state).unwrap();

    let a = rule.step(net.clone(), &batch, 0.01).unwrap().0;
    let b = restored.step(net.clone(), &batch, 0.01).unwrap().0;
    let mut fresh = Backprop::new(&config).unwrap();
    let c = fresh.step(net, &batch, 0.01).unwrap().0;
    let out = |m: Mlp| {
        m.forward(toy_batch(&device).x)
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
    let mut rule = Backprop::new(&OptimizerConfig::default()).unwrap();
    let err = LearningRule::<Mlp>::load_state(&mut rule, vec![1, 2, 3]).unwrap_err();
    assert!(err.to_string().contains("backprop"), "{err}");
}
