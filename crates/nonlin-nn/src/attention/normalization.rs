//! How attention scores become weights, chosen by name: `softmax`, `lssa` and `lssar`.
//!
//! LSSA and LSSAR are from Gao, Spratling (and Gionfrida in v5), "Softplus Attention with
//! Re-weighting Boosts Length Extrapolation in Large Language Models", arXiv 2501.13428. Softmax is
//! read as a positive map followed by an L1 normalisation; LSSA keeps the normalisation and swaps
//! the exponential for Softplus, with a length-dependent scale on the scores; LSSAR sharpens the
//! normalised weights with a power:
//!
//! ```text
//! LSSA:   A_ij  = softplus(c(N_i) s_ij) / sum_j' softplus(c(N_i) s_ij'),   c(N) = ln N / ln N_train
//! LSSAR:  A'_ij = relu(N_i A_ij - o)^p  / sum_j' relu(N_i A_ij' - o)^p
//! ```
//!
//! `s_ij` is the scaled dot product `q_i . k_j / sqrt(d_head)`, `N_i` the number of keys row `i`
//! sees (`i + 1` under a causal mask), and masked entries contribute exactly 0 to both sums.
//!
//! UNCONFIRMED (the official code, iminfine/freeattn, could not be read), each a spec parameter:
//! - `c(N) = ln N / ln base` with `base` = the model's training length unless given (`base=...`):
//!   the entropy-invariance factor of the literature, equal to 1 at the training length.
//! - The re-weighting's exact form: a power `p` (default 2) of `N_i A_ij` after an offset `o`
//!   (default 0). With `o = 0` it is `A^p` renormalised (the factor `N_i` cancels; it keeps the
//!   powered values near 1 instead of underflowing for long rows).

use std::fmt;
use std::str::FromStr;

use burn::tensor::activation::{relu, softmax, softplus};
use burn::tensor::{Bool, Tensor, TensorData};

use crate::NnError;
use crate::activation::ActivationSpec;

/// Largest re-weighting power accepted: `x^p` of weights in [0, N] overflows f32 beyond this for
/// rows of a few thousand keys.
const MAX_POWER: f64 = 16.0;

/// A score normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreNorm {
    /// `softmax(s_i)` over the visible keys.
    Softmax,
    /// Length-scaled Softplus attention; `base` is `N_train` in `c(N) = ln N / ln N_train`
    /// (`None`: the model's training length).
    Lssa { base: Option<f64> },
    /// LSSA followed by the power re-weighting with exponent `p` and offset `o`.
    Lssar {
        base: Option<f64>,
        p: f64,
        offset: f64,
    },
}

impl ScoreNorm {
    /// The spec names, for error messages.
    pub const NAMES: &'static [&'static str] = &["softmax", "lssa", "lssar"];

    /// Fills in the training length where the spec left `base` open.
    pub fn with_train_length(self, train_length: usize) -> Self {
        let base = |b: Option<f64>| b.or(Some(train_length as f64));
        match self {
            ScoreNorm::Softmax => self,
            ScoreNorm::Lssa { base: b } => ScoreNorm::Lssa { base: base(b) },
            ScoreNorm::Lssar { base: b, p, offset } => ScoreNorm::Lssar {
                base: base(b),
                p,
                offset,
            },
        }
    }

    /// `c(N)`, the LSSA scale of a row that sees `n` keys (1 for softmax).
    pub fn length_scale(&self, n: usize) -> f64 {
        match self {
            ScoreNorm::Softmax => 1.0,
            ScoreNorm::Lssa { base } | ScoreNorm::Lssar { base, .. } => {
                (n as f64).ln() / base.expect("the base is set when the model is built").ln()
            }
        }
    }

    /// Normalises every row of masked scores.
    ///
    /// # Shapes
    /// - scores: `[batch, heads, queries, keys]`
    /// - masked: `[queries, keys]`, true where a query must not see a key
    /// - visible: `queries` counts, `N_i` = the keys row `i` sees
    /// - output: `[batch, heads, queries, keys]`, rows summing to 1, masked entries exactly 0
    pub fn apply(
        &self,
        scores: Tensor<4>,
        masked: Tensor<2, Bool>,
        visible: &[usize],
    ) -> Tensor<4> {
        // broadcast over batch and heads by the fill itself, not materialised
        let masked: Tensor<4, Bool> = masked.unsqueeze_dims::<4>(&[0, 1]);
        match *self {
            ScoreNorm::Softmax => softmax(scores.mask_fill(masked, f64::NEG_INFINITY), 3),
            ScoreNorm::Lssa { .. } => self.lssa(scores, Some(masked), visible),
            ScoreNorm::Lssar { p, offset, .. } => {
                let a = self.lssa(scores, Some(masked), visible);
                reweight(a, visible, p, offset)
            }
        }
    }

    /// Normalises rows that see every key: the slow reference path, one query row at a time.
    ///
    /// # Shapes
    /// - scores: `[batch, heads, 1, n]`, the scores of one row against its `n` visible keys
    /// - output: `[batch, heads, 1, n]`
    pub fn apply_row(&self, scores: Tensor<4>) -> Tensor<4> {
        let n = scores.dims()[3];
        match *self {
            ScoreNorm::Softmax => softmax(scores, 3),
            ScoreNorm::Lssa { .. } => self.lssa(scores, None, &[n]),
            ScoreNorm::Lssar { p, offset, .. } => {
                reweight(self.lssa(scores, None, &[n]), &[n], p, offset)
            }
        }
    }

    fn lssa(
        &self,
        scores: Tensor<4>,
        masked: Option<Tensor<4, Bool>>,
        visible: &[usize],
    ) -> Tensor<4> {
        let scale = row_column(visible.iter().map(|&n| self.length_scale(n)), &scores);
        let mut a = softplus(scores * scale, 1.0);
        if let Some(masked) = masked {
            a = a.mask_fill(masked, 0.0);
        }
        let total = a.clone().sum_dim(3);
        a / total
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("score_norm: {reason}")));
        let base_ok = |base: Option<f64>| match base {
            Some(b) if !(b.is_finite() && b > 1.0 && b <= 1e9) => bad(format!(
                "base (N_train) must be a length in (1, 1e9], got {b}"
            )),
            _ => Ok(()),
        };
        match *self {
            ScoreNorm::Softmax => Ok(()),
            ScoreNorm::Lssa { base } => base_ok(base),
            ScoreNorm::Lssar { base, p, offset } => {
                base_ok(base)?;
                if !(p.is_finite() && (1.0..=MAX_POWER).contains(&p)) {
                    return bad(format!("the power p must be in [1, {MAX_POWER}], got {p}"));
                }
                if !(offset.is_finite() && (0.0..1.0).contains(&offset)) {
                    // The largest N_i A_ij of a row is at least 1 (their mean is 1), so an
                    // offset below 1 always leaves a positive weight.
                    return bad(format!("the offset o must be in [0, 1), got {offset}"));
                }
                Ok(())
            }
        }
    }
}

/// The LSSAR re-weighting of normalised weights `a`.
fn reweight(a: Tensor<4>, visible: &[usize], p: f64, offset: f64) -> Tensor<4> {
    let n = row_column(visible.iter().map(|&n| n as f64), &a);
    let mut b = a * n;
    if offset > 0.0 {
        b = relu(b - offset);
    }
    let b = b.powf_scalar(p);
    let total = b.clone().sum_dim(3);
    b / total
}

/// Per-row values as a `[1, 1, rows, 1]` tensor in `like`'s dtype and device.
fn row_column(values: impl Iterator<Item = f64>, like: &Tensor<4>) -> Tensor<4> {
    let values: Vec<f64> = values.collect();
    let rows = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [rows]), &like.device())
        .cast(like.dtype())
        .reshape([1, 1, rows, 1])
}

impl FromStr for ScoreNorm {
    type Err = NnError;

    /// `softmax`, `lssa`, `lssa(base=64)`, `lssar`, `lssar(p=3, offset=0.5, base=64)`.
    fn from_str(text: &str) -> Result<Self, NnError> {
        let spec: ActivationSpec = text
            .parse()
            .map_err(|e: NnError| NnError::BadConfig(format!("score_norm `{text}`: {e}")))?;
        let known = |params: &[&str]| {
            spec.expect_params(params)
                .map_err(|e| NnError::BadConfig(format!("score_norm: {e}")))
        };
        let base = spec.params().get("base").copied();
        let norm = match spec.name() {
            "softmax" => {
                known(&[])?;
                ScoreNorm::Softmax
            }
            "lssa" => {
                known(&["base"])?;
                ScoreNorm::Lssa { base }
            }
            "lssar" => {
                known(&["base", "p", "offset"])?;
                ScoreNorm::Lssar {
                    base,
                    p: spec.param("p", 2.0),
                    offset: spec.param("offset", 0.0),
                }
            }
            other => {
                return Err(NnError::BadConfig(format!(
                    "unknown score_norm `{other}`; known: {}",
                    Self::NAMES.join(", ")
                )));
            }
        };
        norm.validate()?;
        Ok(norm)
    }
}

impl fmt::Display for ScoreNorm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = |b: &Option<f64>| b.map(|b| format!("base={b}"));
        match self {
            ScoreNorm::Softmax => write!(f, "softmax"),
            ScoreNorm::Lssa { base: b } => match base(b) {
                Some(b) => write!(f, "lssa({b})"),
                None => write!(f, "lssa"),
            },
            ScoreNorm::Lssar { base: b, p, offset } => {
                let mut parts = vec![format!("p={p}"), format!("offset={offset}")];
                parts.extend(base(b));
                write!(f, "lssar({})", parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn causal(t: usize, device: &Device) -> (Tensor<2, Bool>, Vec<usize>) {
        (
            Tensor::<2, Bool>::tril_mask([t, t], 0, device),
            (1..=t).collect(),
        )
    }

    fn values(x: Tensor<4>) -> Vec<f64> {
        x.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    #[test]
    fn parses_names_and_parameters() {
        assert_eq!("softmax".parse::<ScoreNorm>().unwrap(), ScoreNorm::Softmax);
        assert_eq!(
            "lssa(base=64)".parse::<ScoreNorm>().unwrap(),
            ScoreNorm::Lssa { base: Some(64.0) }
        );
        assert_eq!(
            "lssar(p=3)".parse::<ScoreNorm>().unwrap(),
            ScoreNorm::Lssar {
                base: None,
                p: 3.0,
                offset: 0.0
            }
        );
        let round = "lssar(p=4, offset=0.5, base=32)"
            .parse::<ScoreNorm>()
            .unwrap();
        assert_eq!(round.to_string().parse::<ScoreNorm>().unwrap(), round);
    }

    /// Zero, negative, NaN, huge and empty values of every parameter are errors.
    #[test]
    fn bad_specs_are_errors() {
        for bad in [
            "",
            "sofmax",
            "softmax(p=2)",
            "lssa(base=1)",
            "lssa(base=0)",
            "lssa(base=-4)",
            "lssa(base=1e12)",
            "lssa(base=nan)",
            "lssar(p=0)",
            "lssar(p=-1)",
            "lssar(p=0.5)",
            "lssar(p=1e6)",
            "lssar(p=nan)",
            "lssar(offset=-0.1)",
            "lssar(offset=1)",
            "lssar(offset=nan)",
            "lssar(q=2)",
        ] {
            assert!(bad.parse::<ScoreNorm>().is_err(), "`{bad}` parsed");
        }
    }

    /// c(N) = ln N / ln N_train: 1 at the training length, 2 at its square, 0 for one key.
    #[test]
    fn length_scale_is_one_at_the_training_length() {
        let norm = "lssa".parse::<ScoreNorm>().unwrap().with_train_length(64);
        assert!((norm.length_scale(64) - 1.0).abs() < 1e-12);
        assert!((norm.length_scale(4096) - 2.0).abs() < 1e-12);
        assert_eq!(norm.length_scale(1), 0.0);
        assert_eq!(ScoreNorm::Softmax.length_scale(1000), 1.0);
    }

    /// One row by hand: scores (0, 1) of a row that sees 2 keys, N_train = 2 so c = 1.
    /// softplus(0) = ln 2 = 0.693147, softplus(1) = ln(1 + e) = 1.313262, sum 2.006409:
    /// A = (0.345467, 0.654533). LSSAR with p = 2: (0.119347, 0.428414) / 0.547761 =
    /// (0.217882, 0.782118). Softmax: (1, e) / (1 + e) = (0.268941, 0.731059).
    #[test]
    fn hand_computed_rows() {
        let device = Device::flex();
        let scores =
            Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 1, 1, 2]), &device);
        let check = |norm: &str, expected: [f64; 2]| {
            let norm = norm.parse::<ScoreNorm>().unwrap().with_train_length(2);
            let out = values(norm.apply_row(scores.clone()));
            for (o, e) in out.iter().zip(expected) {
                assert!((o - e).abs() < 1e-5, "{norm}: {out:?} vs {expected:?}");
            }
        };
        check("softmax", [0.268941, 0.731059]);
        check("lssa", [0.345467, 0.654533]);
        check("lssar(p=2)", [0.217882, 0.782118]);
        // offset 0.5: N A = (0.690933, 1.309067) - 0.5 = (0.190933, 0.809067), squared
        // (0.036455, 0.654589), / 0.691045 = (0.052754, 0.947246)
        check("lssar(p=2, offset=0.5)", [0.052754, 0.947246]);
    }

    /// Rows sum to 1, masked entries are exactly 0, and p = 1 is LSSA.
    #[test]
    fn rows_sum_to_one_and_masks_are_exact() {
        let device = Device::flex();
        let t = 7;
        let scores = Tensor::<4>::random(
            [2, 3, t, t],
            burn::tensor::Distribution::Normal(0.0, 2.0),
            &device,
        );
        let (masked, visible) = causal(t, &device);
        for spec in ["softmax", "lssa", "lssar(p=3)", "lssar(p=2, offset=0.9)"] {
            let norm = spec.parse::<ScoreNorm>().unwrap().with_train_length(4);
            let w = values(norm.apply(scores.clone(), masked.clone(), &visible));
            for row in w.chunks(t) {
                let sum: f64 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{spec}: {sum}");
            }
            for (k, row) in w.chunks(t).enumerate() {
                let i = k % t;
                assert!(
                    row[i + 1..].iter().all(|&v| v == 0.0),
                    "{spec} row {i}: {row:?}"
                );
                assert!(
                    row[..=i]
                        .iter()
                        .all(|&v| v > 0.0 || spec.contains("offset")),
                    "{spec}"
                );
            }
        }
        let lssa = "lssa".parse::<ScoreNorm>().unwrap().with_train_length(4);
        let p1 = "lssar(p=1)"
            .parse::<ScoreNorm>()
            .unwrap()
            .with_train_length(4);
        let a = values(lssa.apply(scores.clone(), masked.clone(), &visible));
        let b = values(p1.apply(scores, masked, &visible));
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    /// The masked (fused) normalisation equals the row-by-row one on each row's visible keys.
    #[test]
    fn masked_rows_equal_rows_alone() {
        let device = Device::flex();
        let t = 6;
        let scores = Tensor::<4>::random(
            [1, 2, t, t],
            burn::tensor::Distribution::Normal(0.0, 1.5),
            &device,
        );
        let (masked, visible) = causal(t, &device);
        for spec in ["softmax", "lssa", "lssar(p=4, offset=0.3)"] {
            let norm = spec.parse::<ScoreNorm>().unwrap().with_train_length(t);
            let all = values(norm.apply(scores.clone(), masked.clone(), &visible));
            for i in 0..t {
                let row = scores.clone().slice([0..1, 0..2, i..i + 1, 0..i + 1]);
                let alone = values(norm.apply_row(row));
                for h in 0..2 {
                    for j in 0..=i {
                        let a = all[(h * t + i) * t + j];
                        let b = alone[h * (i + 1) + j];
                        assert!((a - b).abs() < 1e-6, "{spec} h{h} i{i} j{j}: {a} vs {b}");
                    }
                }
            }
        }
    }

    /// Entropy of a peaked row (Gaussian scores plus one key 6 higher) as rows grow: at the
    /// training length c = 1 and LSSA equals the unscaled softplus normalisation; beyond it c > 1
    /// sharpens the row, so its entropy is below the unscaled one's (which grows like ln N, by
    /// ln 16 = 2.77 nats from 64 to 1024 keys).
    #[test]
    fn length_scale_sharpens_long_rows() {
        let device = Device::flex();
        let entropy = |norm: ScoreNorm, n: usize| -> f64 {
            let mut rng = nonlin_rng(n as u64);
            let mut s: Vec<f32> = (0..n).map(|_| rng()).collect();
            s[n / 3] += 6.0;
            let scores = Tensor::<4>::from_data(TensorData::new(s, [1, 1, 1, n]), &device);
            let w = values(norm.apply_row(scores));
            -w.iter()
                .filter(|&&p| p > 0.0)
                .map(|p| p * p.ln())
                .sum::<f64>()
        };
        let lssa = "lssa".parse::<ScoreNorm>().unwrap().with_train_length(64);
        // c = 1 at every length: the base equal to the row's length
        let flat = |n: usize| ScoreNorm::Lssa {
            base: Some(n as f64),
        };
        assert!((entropy(lssa, 64) - entropy(flat(64), 64)).abs() < 1e-9);
        let (e, f) = (entropy(lssa, 1024), entropy(flat(1024), 1024));
        assert!(e < f - 0.05, "lssa {e} vs unscaled {f}");
        assert!(
            f - entropy(flat(64), 64) > 2.0,
            "unscaled entropy should grow like ln N"
        );
    }

    /// A tiny deterministic standard-normal-ish source (sum of uniforms), for the test above.
    fn nonlin_rng(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        move || {
            let mut sum = 0.0f32;
            for _ in 0..12 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                sum += (state >> 40) as f32 / (1u64 << 24) as f32;
            }
            sum - 6.0
        }
    }

    /// Finite-difference gradients in f64 of the masked normalisations with respect to the
    /// scores.
    #[test]
    fn gradients_match_finite_differences() {
        let t = 4;
        let scores: Vec<f64> = (0..2 * t * t)
            .map(|k| ((k as f64 * 0.731).sin() * 2.0) + 0.1)
            .collect();
        for spec in ["softmax", "lssa", "lssar(p=2)", "lssar(p=3, offset=0.4)"] {
            let norm = spec.parse::<ScoreNorm>().unwrap().with_train_length(3);
            let report = check_gradients(
                |x, device| {
                    let s: Tensor<4> = x[0].clone().reshape([1, 2, t, t]);
                    let (masked, visible) = causal(t, device);
                    norm.apply(s, masked, &visible).reshape([2 * t * t])
                },
                std::slice::from_ref(&scores),
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "{spec}: {report}");
        }
    }
}
