//! Un-normalised, strictly causal linear attention, as BDH uses it (Kosowski et al., "The Dragon
//! Hatchling", arXiv 2509.26507; pathwaycom/bdh, `bdh.py`): no softmax, no scaling, and a token
//! does not see itself,
//!
//! ```text
//! out_t = sum_{tau < t} (q_t . k_tau) v_tau
//! ```
//!
//! Three forms of the same function:
//! - parallel: `tril(Q K^T, -1) V`, `O(T^2 N)` and a `[T, T]` score matrix per head;
//! - chunked: chunks of `C` tokens, each the parallel form inside the chunk plus a read of the
//!   state `rho = sum_{tau < chunk start} k_tau (x) v_tau` (`[N, D]` per head) carried across
//!   chunks: `O(T C N + T N D)`, with `[C, C]` scores only;
//! - recurrent ([`LinearAttentionState`]): one token at a time, read `out_t = q_t^T rho` and then
//!   write `rho += k_t (x) v_t`, constant work per token (BDH-GPU's state `rho`).

use burn::tensor::{Device, Tensor};

/// The parallel form.
///
/// # Shapes
/// - q, k: `[batch, heads, seq, n]`
/// - v: `[batch, heads or 1, seq, d]`
/// - output: `[batch, heads, seq, d]`
pub fn linear_attention_parallel(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    q.matmul(k.swap_dims(2, 3)).tril(-1).matmul(v)
}

/// The chunked form, chunks of `chunk` tokens (the last may be shorter).
///
/// # Shapes
/// - q, k: `[batch, heads, seq, n]`
/// - v: `[batch, heads or 1, seq, d]`
/// - output: `[batch, heads, seq, d]`
///
/// # Panics
/// If `chunk` is 0 (configs are validated before this is reached).
pub fn linear_attention_chunked(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    chunk: usize,
) -> Tensor<4> {
    assert!(chunk > 0, "chunks of at least one token");
    let [b, h, t, n] = q.dims();
    let [_, hv, _, d] = v.dims();
    if t <= chunk {
        return linear_attention_parallel(q, k, v);
    }
    let mut state: Option<Tensor<4>> = None; // [b, h, n, d]
    let mut outputs = Vec::with_capacity(t.div_ceil(chunk));
    for start in (0..t).step_by(chunk) {
        let end = (start + chunk).min(t);
        let qc = q.clone().slice([0..b, 0..h, start..end, 0..n]);
        let kc = k.clone().slice([0..b, 0..h, start..end, 0..n]);
        let vc = v.clone().slice([0..b, 0..hv, start..end, 0..d]);
        let mut out = linear_attention_parallel(qc.clone(), kc.clone(), vc.clone());
        if let Some(rho) = &state {
            out = out + qc.matmul(rho.clone());
        }
        if end < t {
            let write = kc.swap_dims(2, 3).matmul(vc);
            state = Some(match state {
                Some(rho) => rho + write,
                None => write,
            });
        }
        outputs.push(out);
    }
    Tensor::cat(outputs, 2)
}

/// The recurrent form's state for one sequence: `rho`, `[heads, n, d]`.
#[derive(Debug, Clone)]
pub struct LinearAttentionState {
    rho: Tensor<3>,
}

impl LinearAttentionState {
    /// The empty state.
    pub fn new(heads: usize, n: usize, d: usize, device: &Device) -> Self {
        Self {
            rho: Tensor::zeros([heads, n, d], device),
        }
    }

    /// Reads the output of one token, then writes its key and value.
    ///
    /// # Shapes
    /// - q, k: `[heads, 1, n]`
    /// - v: `[heads or 1, 1, d]`
    /// - output: `[heads, 1, d]`
    pub fn step(&mut self, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>) -> Tensor<3> {
        let out = q.matmul(self.rho.clone());
        self.rho = self.rho.clone() + k.swap_dims(1, 2).matmul(v);
        out
    }

    /// The state `rho`.
    ///
    /// # Shapes
    /// - output: `[heads, n, d]`
    pub fn rho(&self) -> &Tensor<3> {
        &self.rho
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    /// By hand: one head, n = 1, d = 1, q = k = (1, 2, 3), v = (10, 20, 30). out_0 = 0,
    /// out_1 = q_1 k_0 v_0 = 2 * 1 * 10 = 20, out_2 = 3 (1 * 10 + 2 * 20) = 150.
    #[test]
    fn hand_computed() {
        let device = Device::flex();
        let q = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 1, 3, 1]),
            &device,
        );
        let v = Tensor::<4>::from_data(
            TensorData::new(vec![10.0f32, 20.0, 30.0], [1, 1, 3, 1]),
            &device,
        );
        assert_eq!(
            values(linear_attention_parallel(q.clone(), q, v)),
            vec![0.0, 20.0, 150.0]
        );
    }

    /// Parallel, chunked (several chunk sizes) and recurrent forms agree.
    #[test]
    fn the_three_forms_agree() {
        let device = Device::flex();
        let (b, h, t, n, d) = (2, 3, 11, 6, 4);
        let q = Tensor::<4>::random([b, h, t, n], Distribution::Uniform(0.0, 1.0), &device);
        let k = Tensor::<4>::random([b, h, t, n], Distribution::Uniform(0.0, 1.0), &device);
        let v = Tensor::<4>::random([b, 1, t, d], Distribution::Normal(0.0, 1.0), &device);
        let parallel = values(linear_attention_parallel(q.clone(), k.clone(), v.clone()));
        let scale = parallel.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for chunk in [1, 3, 4, 11, 20] {
            let chunked = values(linear_attention_chunked(
                q.clone(),
                k.clone(),
                v.clone(),
                chunk,
            ));
            for (a, c) in parallel.iter().zip(&chunked) {
                assert!((a - c).abs() <= 1e-5 * scale, "chunk {chunk}");
            }
        }
        for s in 0..b {
            let mut state = LinearAttentionState::new(h, n, d, &device);
            for i in 0..t {
                let qi = q
                    .clone()
                    .slice([s..s + 1, 0..h, i..i + 1, 0..n])
                    .reshape([h, 1, n]);
                let ki = k
                    .clone()
                    .slice([s..s + 1, 0..h, i..i + 1, 0..n])
                    .reshape([h, 1, n]);
                let vi = v
                    .clone()
                    .slice([s..s + 1, 0..1, i..i + 1, 0..d])
                    .reshape([1, 1, d]);
                let out = values(state.step(qi, ki, vi));
                for head in 0..h {
                    for j in 0..d {
                        let a = parallel[((s * h + head) * t + i) * d + j];
                        assert!((a - out[head * d + j]).abs() <= 1e-5 * scale, "token {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (t, n, d) = (5, 3, 2);
        let make = |len: usize, phase: f64| -> Vec<f64> {
            (0..len).map(|k| (k as f64 * 0.53 + phase).sin()).collect()
        };
        for chunk in [0, 2] {
            let report = check_gradients(
                |x, _| {
                    let q: Tensor<4> = x[0].clone().reshape([1, 1, t, n]);
                    let k: Tensor<4> = x[1].clone().reshape([1, 1, t, n]);
                    let v: Tensor<4> = x[2].clone().reshape([1, 1, t, d]);
                    let out = if chunk == 0 {
                        linear_attention_parallel(q, k, v)
                    } else {
                        linear_attention_chunked(q, k, v, chunk)
                    };
                    out.reshape([t * d])
                },
                &[make(t * n, 0.1), make(t * n, 0.7), make(t * d, 1.3)],
                &GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.passed(), "chunk {chunk}: {report}");
        }
    }
}
