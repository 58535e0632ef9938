use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::*;
use crate::gradcheck::{GradCheckConfig, check_gradients, parameter_values, with_parameters};

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn gamma(g: f64, device: &Device) -> Tensor<2> {
    Tensor::full([1, 1], g, device)
}

/// A 1-1-1 primary MLP predicted by a hypernetwork with one hidden unit.
fn tiny(encoding: HyperEncoding, device: &Device) -> Hypernet {
    let config = HypernetConfig {
        hidden: vec![1],
        primary_hidden: vec![1],
        encoding: Some(encoding),
        ..HypernetConfig::new(Parametrization::Default)
    };
    let mut net = config.init(1, 1, device).unwrap();
    let w0: Vec<f32> = match encoding {
        HyperEncoding::None => vec![1.0],
        _ => vec![1.0, 2.0],
    };
    let rows = w0.len();
    net.weights[0] = Param::from_tensor(Tensor::from_data(TensorData::new(w0, [rows, 1]), device));
    net.biases[0] = Param::from_tensor(Tensor::from_floats([0.0], device));
    net.out_weight = Param::from_tensor(Tensor::from_floats([[1.0, 0.0, -1.0, 0.0]], device));
    net.theta0 = Param::from_tensor(Tensor::from_floats([0.0, 0.5, 2.0, 1.0], device));
    net
}

#[test]
fn tiny_hypernet_matches_hand_computation() {
    let device = Device::flex();
    let x = Tensor::<2>::from_floats([[3.0], [-3.0]], &device);
    // Raw input, gamma = 0.5: h = leaky(1 * 0.5 + 0) = 0.5;
    // theta = theta0 + 0.5 * [1, 0, -1, 0] = [0.5, 0.5, 1.5, 1].
    // x = 3: z = 3 * 0.5 + 0.5 = 2 -> relu 2 -> 2 * 1.5 + 1 = 4.
    // x = -3: z = -1.5 + 0.5 = -1 -> relu 0 -> 0 * 1.5 + 1 = 1.
    let net = tiny(HyperEncoding::None, &device);
    assert_eq!(values(net.theta(gamma(0.5, &device))), [0.5, 0.5, 1.5, 1.0]);
    assert_eq!(
        values(net.forward_at(x.clone(), gamma(0.5, &device))),
        [4.0, 1.0]
    );
    // gamma = -1 (outside [0, 1]): h = leaky(-1) = -0.01; theta = [-0.01, 0.5, 2.01, 1].
    // x = 3: z = -0.03 + 0.5 = 0.47 -> 0.47 * 2.01 + 1 = 1.9447.
    let y = values(net.forward_at(x.clone(), gamma(-1.0, &device)));
    assert!((y[0] - 1.9447).abs() < 1e-6, "{y:?}");
    // cos|sin, gamma = 1: e = [cos(pi/2), sin(pi/2)] = [0, 1]; h = leaky(0 * 1 + 1 * 2) = 2;
    // theta = [2, 0.5, 0, 1]; x = 3: z = 6.5 -> 6.5 * 0 + 1 = 1; x = -3: z = -5.5 -> 0 + 1 = 1.
    let net = tiny(HyperEncoding::CosSin, &device);
    let theta = values(net.theta(gamma(1.0, &device)));
    for (got, want) in theta.iter().zip([2.0, 0.5, 0.0, 1.0]) {
        assert!((got - want).abs() < 1e-6, "{theta:?}");
    }
    let y = values(net.forward_at(x.clone(), gamma(1.0, &device)));
    assert!(y.iter().all(|v| (v - 1.0).abs() < 1e-6), "{y:?}");
    // z|1-z, gamma = 0.25: e = [0.25, 0.75]; h = 0.25 + 1.5 = 1.75; theta = [1.75, 0.5, 0.25, 1];
    // x = 3: z = 5.75 -> 5.75 * 0.25 + 1 = 2.4375.
    let net = tiny(HyperEncoding::ZOneMinusZ, &device);
    let y = values(net.forward_at(x, gamma(0.25, &device)));
    assert!((y[0] - 2.4375).abs() < 1e-6, "{y:?}");
}

#[test]
fn cos_sin_encoding_has_unit_norm_and_raw_input_does_not() {
    let device = Device::flex();
    for g in [0.0, 0.1, 0.25, 0.7, 1.0] {
        let e = values(HyperEncoding::CosSin.encode(gamma(g, &device)));
        let norm = (e[0] * e[0] + e[1] * e[1]).sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "gamma {g}: {e:?}");
        let raw = values(HyperEncoding::None.encode(gamma(g, &device)));
        assert_eq!(raw, [g as f32]);
    }
}

#[test]
fn default_prediction_scales_with_the_input_and_mip_does_not() {
    let device = Device::flex();
    // With zero hidden biases (MIP init) but the raw input, h is positively homogeneous:
    // theta(2 gamma) - theta0 = 2 (theta(gamma) - theta0): the proportionality MIP removes.
    let raw = HypernetConfig {
        encoding: Some(HyperEncoding::None),
        ..HypernetConfig::new(Parametrization::Mip)
    }
    .init(8, 3, &device)
    .unwrap();
    let theta0 = raw.theta0.val().unsqueeze::<2>();
    let d1 = values(raw.theta(gamma(0.2, &device)) - theta0.clone());
    let d2 = values(raw.theta(gamma(0.4, &device)) - theta0.clone());
    assert!(d1.iter().any(|v| v.abs() > 1e-4));
    for (a, b) in d1.iter().zip(&d2) {
        assert!((b - 2.0 * a).abs() < 1e-5, "{a} {b}");
    }
    // At gamma = 0 the raw-input hypernet predicts exactly theta0 (a degenerate input).
    let d0 = values(raw.theta(gamma(0.0, &device)) - theta0);
    assert!(d0.iter().all(|v| *v == 0.0));
    // MIP: the encoded input has constant norm, so gamma = 0 is no special point and the
    // predicted weights have about the same magnitude at every gamma in [0, 1].
    let mip = HypernetConfig::new(Parametrization::Mip)
        .init(8, 3, &device)
        .unwrap();
    let theta0 = mip.theta0.val().unsqueeze::<2>();
    let d0 = values(mip.theta(gamma(0.0, &device)) - theta0);
    assert!(d0.iter().any(|v| v.abs() > 1e-4));
    let norm = |g: f64| {
        mip.theta(gamma(g, &device))
            .powi_scalar(2)
            .sum()
            .sqrt()
            .into_scalar::<f64>()
    };
    let (n0, n1) = (norm(0.0), norm(1.0));
    assert!((n0 / n1 - 1.0).abs() < 0.1, "{n0} {n1}");
}

#[test]
fn mip_init_sets_independent_weights_and_zero_biases() {
    let device = Device::flex();
    // Primary 10 -> 20 -> 4: theta0 = [W1 (200), b1 (20), W2 (80), b2 (4)].
    let net = HypernetConfig {
        primary_hidden: vec![20],
        ..HypernetConfig::new(Parametrization::Mip)
    }
    .init(10, 4, &device)
    .unwrap();
    let t: Vec<f32> = net
        .theta0
        .val()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(t.len(), 304);
    assert!(t[200..220].iter().all(|v| *v == 0.0) && t[300..].iter().all(|v| *v == 0.0));
    // W1 ~ N(0, gain^2 / fan_in), gain = sqrt(2 / (1 + 0.01^2)): std sqrt(2 / 10) = 0.447.
    let std = (t[..200].iter().map(|v| v * v).sum::<f32>() / 200.0).sqrt();
    assert!((std - 0.447).abs() < 0.07, "{std}");
    let biases: Vec<f32> = net.biases[1]
        .val()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(biases.iter().all(|v| *v == 0.0));
}

#[test]
fn gradients_through_the_generated_weights_match_finite_differences() {
    let device = Device::flex();
    for encoding in [
        HyperEncoding::None,
        HyperEncoding::CosSin,
        HyperEncoding::ZOneMinusZ,
    ] {
        let net = HypernetConfig {
            hidden: vec![3, 2],
            primary_hidden: vec![2],
            encoding: Some(encoding),
            ..HypernetConfig::new(Parametrization::Default)
        }
        .init(3, 2, &device)
        .unwrap();
        let x = vec![0.3, -0.7, 1.1, 0.9, 0.2, -0.4];
        let mut inputs = vec![x, vec![0.37]];
        inputs.extend(parameter_values(&net));
        let report = check_gradients(
            |v, _| {
                let net = with_parameters(net.clone(), &v[2..]);
                let x = v[0].clone().reshape([2, 3]);
                net.forward_at(x, v[1].clone().reshape([1, 1])).reshape([4])
            },
            &inputs,
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{encoding:?}: {report}");
    }
}

#[test]
fn training_draws_gamma_and_noise_evaluation_does_not() {
    let device = Device::flex();
    let net = HypernetConfig::new(Parametrization::Mip)
        .init(4, 2, &device)
        .unwrap();
    let x = Tensor::<2>::from_floats([[0.1, 0.2, 0.3, 0.4]], &device);
    let eval = values(net.forward_input(&ModelInput::Real(x.clone())).unwrap());
    let at = values(net.forward_at(x.clone(), gamma(0.5, &device)));
    assert_eq!(eval, at);
    let ad = device.clone().autodiff();
    let net = HypernetConfig::new(Parametrization::Mip)
        .init(4, 2, &ad)
        .unwrap();
    let x = Tensor::<2>::from_floats([[0.1, 0.2, 0.3, 0.4]], &ad);
    let a = values(net.forward_input(&ModelInput::Real(x.clone())).unwrap());
    let b = values(net.forward_at(x.clone(), gamma(0.5, &ad)));
    assert_ne!(a, b);
    // what the runner evaluates: an inference copy of the trained model, fed a batch that is still
    // on the autodiff device, must use the clean input at eval_gamma, every time
    let valid = net.valid();
    let first = values(valid.forward_input(&ModelInput::Real(x.clone())).unwrap());
    let again = values(valid.forward_input(&ModelInput::Real(x.clone())).unwrap());
    let at = values(valid.forward_at(x.inner(), gamma(0.5, &device)));
    assert_eq!(first, again);
    assert_eq!(first, at);
}

/// The loss at gamma in {0, 0.5, 1}, recomputed on the host: the primary net's logits at
/// `theta(gamma)` on `x + gamma * noise_std * eps` (eps from the probe's fixed seed), then
/// cross-entropy by log-sum-exp in f64; the spread is max - min, and the probe gives the same
/// numbers every time it is called.
#[test]
fn loss_probe_at_three_gammas_matches_host_cross_entropy() {
    let device = Device::flex();
    let net = HypernetConfig::new(Parametrization::Mip)
        .init(4, 3, &device)
        .unwrap();
    let rows: [[f32; 4]; 3] = [[0.1, 0.9, 0.3, 0.0], [1.0, 0.2, 0.5, 0.7], [0.0, 0.0, 0.8, 0.4]];
    let labels = [2_i64, 0, 1];
    let x = Tensor::<2>::from_floats(rows, &device);
    let y = Tensor::<1, Int>::from_ints(labels, &device);
    let probe = net
        .probe_labelled(&ModelInput::Real(x.clone()), y.clone())
        .unwrap();
    let again = net.probe_labelled(&ModelInput::Real(x), y).unwrap();
    assert_eq!(probe, again);
    let mut rng = SplitMix::new(PROBE_NOISE_SEED);
    let eps: Vec<f32> = (0..12).map(|_| rng.normal() as f32).collect();
    let mut want = Vec::new();
    for g in [0.0_f64, 0.5, 1.0] {
        let noisy: Vec<f32> = rows
            .iter()
            .flatten()
            .zip(&eps)
            .map(|(v, e)| v + e * (g * 0.5) as f32)
            .collect();
        let noisy = Tensor::<2>::from_data(TensorData::new(noisy, [3, 4]), &device);
        let logits = values(net.forward_at(noisy, gamma(g, &device)));
        let mut loss = 0.0;
        for (row, &label) in logits.chunks(3).zip(&labels) {
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
            loss += max + sum.ln() - row[label as usize] as f64;
        }
        want.push(loss / 3.0);
    }
    let names = [
        "hypernet_loss_gamma0",
        "hypernet_loss_gamma0.5",
        "hypernet_loss_gamma1",
        "hypernet_loss_spread",
    ];
    assert_eq!(probe.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), names);
    for ((_, got), want) in probe.iter().zip(&want) {
        assert!((got - want).abs() < 1e-5, "{probe:?} vs {want:?}");
    }
    let spread = want.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - want.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((probe[3].1 - spread).abs() < 1e-5, "{probe:?}");
    assert!(spread > 0.0);
}

#[test]
fn bad_configs_are_rejected() {
    let ok = HypernetConfig::new(Parametrization::Mip);
    assert!(ok.validate().is_ok());
    let bad = [
        HypernetConfig {
            hidden: vec![],
            ..ok.clone()
        },
        HypernetConfig {
            hidden: vec![16, 0],
            ..ok.clone()
        },
        HypernetConfig {
            primary_hidden: vec![0],
            ..ok.clone()
        },
        HypernetConfig {
            noise_std: -0.1,
            ..ok.clone()
        },
        HypernetConfig {
            noise_std: f64::NAN,
            ..ok.clone()
        },
        HypernetConfig {
            noise_std: 1e9,
            ..ok.clone()
        },
        HypernetConfig {
            eval_gamma: -0.5,
            ..ok.clone()
        },
        HypernetConfig {
            eval_gamma: 1.5,
            ..ok.clone()
        },
        HypernetConfig {
            eval_gamma: f64::NAN,
            ..ok.clone()
        },
    ];
    for config in bad {
        assert!(
            matches!(config.validate(), Err(NnError::BadConfig(_))),
            "{config:?}"
        );
    }
    assert!(ok.init(0, 10, &Device::flex()).is_err());
    assert!(ok.init(64, 0, &Device::flex()).is_err());
    // Unknown parametrisation names and unknown keys are rejected when parsing.
    assert!(toml::from_str::<HypernetConfig>("parametrization = \"fancy\"").is_err());
    assert!(toml::from_str::<HypernetConfig>("widths = [3]").is_err());
    let parsed: HypernetConfig = toml::from_str("parametrization = \"default\"").unwrap();
    assert_eq!(parsed.encoding(), HyperEncoding::None);
    assert_eq!(parsed.init_kind(), HyperInit::Pytorch);
}
