//! Sampling text from a trained token model: temperature, top-k, a seed.
//!
//! A model that predicts every position reads up to `context` of the latest tokens and its last
//! row is the next token's logits; a model that predicts only after a full context (a
//! context-window MLP) reads exactly `context` tokens, the prompt left-padded with a pad token
//! when it is shorter. Each new token costs one forward pass over the window. A model with a
//! recurrent form (`Network::token_stream`, BDH) generates through [`generate_stream`] instead:
//! the prompt is fed once and every new token costs one step of constant work, with no window
//! (the whole sequence is the context).

use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_data::Rng;
use nonlin_nn::{ModelInput, TokenStream};

use crate::LearnError;
use crate::task::Predict;

/// How the next token is drawn from the logits.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Divides the logits; 0 means greedy (arg-max).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (`None`: all).
    pub top_k: Option<usize>,
    pub seed: u64,
}

impl Sampling {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), LearnError> {
        let bad = |reason: String| {
            Err(LearnError::Config {
                what: "sampling".into(),
                reason,
            })
        };
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return bad("top_k must be at least 1".into());
        }
        Ok(())
    }
}

/// Draws a token from `logits` (one per vocabulary entry).
pub fn sample(logits: &[f32], sampling: &Sampling, rng: &mut Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32)
    };
    if sampling.temperature == 0.0 {
        return argmax();
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = sampling.top_k {
        order.truncate(k.max(1));
    }
    let top = logits[order[0]] as f64;
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - top) / sampling.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return argmax();
    }
    let mut u = rng.uniform_f64() * total;
    for (&i, w) in order.iter().zip(&weights) {
        if u < *w {
            return i as u32;
        }
        u -= w;
    }
    order[order.len() - 1] as u32
}

/// Continues `prompt` by `tokens` tokens.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    prompt: &[u32],
    tokens: usize,
    context: usize,
    every_position: bool,
    pad: u32,
    predict: &mut Predict<'_>,
    sampling: &Sampling,
    device: &Device,
) -> Result<Vec<u32>, LearnError> {
    sampling.validate()?;
    let mut rng = Rng::seed(sampling.seed);
    let mut sequence = prompt.to_vec();
    let mut out = Vec::with_capacity(tokens);
    for _ in 0..tokens {
        let start = sequence.len().saturating_sub(context);
        let mut window: Vec<i64> = sequence[start..].iter().map(|&t| i64::from(t)).collect();
        if !every_position || window.is_empty() {
            let missing = context - window.len();
            window.splice(0..0, std::iter::repeat_n(i64::from(pad), missing));
        }
        let len = window.len();
        let input = ModelInput::Tokens(Tensor::<2, Int>::from_data(
            TensorData::new(window, [1, len]),
            device,
        ));
        let logits = predict(&input)?;
        let [rows, vocab] = logits.dims();
        let last = logits
            .slice([rows - 1..rows, 0..vocab])
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| LearnError::Batch(format!("{e:?}")))?;
        let next = sample(&last, sampling, &mut rng);
        sequence.push(next);
        out.push(next);
    }
    Ok(out)
}

/// Continues `prompt` by `tokens` tokens through a model's recurrent form: the prompt (or the
/// pad token, when it is empty) is fed once, then each drawn token is fed back.
pub fn generate_stream(
    prompt: &[u32],
    tokens: usize,
    pad: u32,
    stream: &mut dyn TokenStream,
    sampling: &Sampling,
) -> Result<Vec<u32>, LearnError> {
    sampling.validate()?;
    let mut rng = Rng::seed(sampling.seed);
    let feed = |stream: &mut dyn TokenStream, token: u32| -> Result<Vec<f32>, LearnError> {
        let logits = stream
            .feed(token)
            .map_err(|e| LearnError::Batch(e.to_string()))?;
        logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| LearnError::Batch(format!("{e:?}")))
    };
    let mut logits = Vec::new();
    let padded = [pad];
    for &token in if prompt.is_empty() {
        &padded[..]
    } else {
        prompt
    } {
        logits = feed(stream, token)?;
    }
    let mut out = Vec::with_capacity(tokens);
    for k in 0..tokens {
        let next = sample(&logits, sampling, &mut rng);
        out.push(next);
        if k + 1 < tokens {
            logits = feed(stream, next)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_k_and_temperature() {
        let mut rng = Rng::seed(1);
        let logits = [0.0f32, 3.0, 1.0, 2.9];
        let greedy = Sampling {
            temperature: 0.0,
            top_k: None,
            seed: 0,
        };
        assert_eq!(sample(&logits, &greedy, &mut rng), 1);
        // top-1 is greedy at any temperature
        let top1 = Sampling {
            temperature: 5.0,
            top_k: Some(1),
            seed: 0,
        };
        for _ in 0..20 {
            assert_eq!(sample(&logits, &top1, &mut rng), 1);
        }
        // top-2 only ever picks 1 or 3; with temperature 1 they are near-equally likely
        // (e^3 : e^2.9 = 0.525 : 0.475)
        let top2 = Sampling {
            temperature: 1.0,
            top_k: Some(2),
            seed: 0,
        };
        let picks: Vec<u32> = (0..2000)
            .map(|_| sample(&logits, &top2, &mut rng))
            .collect();
        assert!(picks.iter().all(|&p| p == 1 || p == 3));
        let ones = picks.iter().filter(|&&p| p == 1).count() as f64 / 2000.0;
        assert!((ones - 0.525).abs() < 0.04, "{ones}");
        assert!(
            Sampling {
                temperature: -1.0,
                top_k: None,
                seed: 0
            }
            .validate()
            .is_err()
        );
        assert!(
            Sampling {
                temperature: f64::NAN,
                top_k: None,
                seed: 0
            }
            .validate()
            .is_err()
        );
        assert!(
            Sampling {
                temperature: 1.0,
                top_k: Some(0),
                seed: 0
            }
            .validate()
            .is_err()
        );
    }

    /// A fixed-context model sees the prompt left-padded; an every-position model sees only the
    /// tokens there are.
    #[test]
    fn windows_are_padded_or_not() {
        let device = Device::flex();
        let greedy = Sampling {
            temperature: 0.0,
            top_k: None,
            seed: 0,
        };
        let seen = std::cell::RefCell::new(Vec::<Vec<usize>>::new());
        let mut predict = |input: &ModelInput| {
            let t = input.tokens("test").unwrap();
            seen.borrow_mut().push(t.dims().to_vec());
            // always predict token 2 of a vocabulary of 3
            Ok(Tensor::<2>::from_floats([[0.0, 0.0, 1.0]], &device))
        };
        let out = generate(&[1], 2, 4, false, 0, &mut predict, &greedy, &device).unwrap();
        assert_eq!(out, vec![2, 2]);
        assert_eq!(*seen.borrow(), vec![vec![1, 4], vec![1, 4]]);
        seen.borrow_mut().clear();
        let out = generate(&[1], 2, 4, true, 0, &mut predict, &greedy, &device).unwrap();
        assert_eq!(out, vec![2, 2]);
        assert_eq!(*seen.borrow(), vec![vec![1, 1], vec![1, 2]]);
    }

    /// The recurrent path gives what the windowed path gives when the window holds the whole
    /// sequence: a BDH model sampled both ways, greedy and at temperature 1 with the same seed.
    #[test]
    fn the_recurrent_form_generates_what_the_window_does() {
        use nonlin_nn::{BdhConfig, Network};
        let device = Device::flex();
        let model = BdhConfig {
            n_layer: 2,
            n_embd: 16,
            n_head: 2,
            mlp_internal_dim_multiplier: 4,
            dropout: 0.0,
            init_std: 0.3,
            ..BdhConfig::default()
        }
        .init(11, &device)
        .unwrap();
        for sampling in [
            Sampling {
                temperature: 0.0,
                top_k: None,
                seed: 0,
            },
            Sampling {
                temperature: 1.0,
                top_k: Some(5),
                seed: 7,
            },
        ] {
            let mut predict = |input: &ModelInput| Ok(model.forward_input(input)?);
            let windowed = generate(
                &[3, 1, 4],
                12,
                64,
                true,
                0,
                &mut predict,
                &sampling,
                &device,
            )
            .unwrap();
            let mut stream = model.token_stream().unwrap();
            let recurrent = generate_stream(&[3, 1, 4], 12, 0, stream.as_mut(), &sampling).unwrap();
            assert_eq!(windowed, recurrent, "{sampling:?}");
        }
        // an empty prompt feeds the pad token once
        let mut stream = model.token_stream().unwrap();
        let greedy = Sampling {
            temperature: 0.0,
            top_k: None,
            seed: 0,
        };
        assert_eq!(
            generate_stream(&[], 3, 2, stream.as_mut(), &greedy)
                .unwrap()
                .len(),
            3
        );
    }
}
