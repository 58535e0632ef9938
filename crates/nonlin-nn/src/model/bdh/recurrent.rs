//! BDH's recurrent form (arXiv 2509.26507, the BDH-GPU state `rho`): one token at a time, each
//! layer keeping `rho = sum_{tau < t} RoPE_tau(x_s,tau) (x) x_tau` (`[h, N, d]`), read before it is
//! written, so position `t` sees exactly the positions before it, as the parallel form's
//! `tril(-1)` mask says. The work per token is constant (`O(L h N d)`), where the official
//! `generate` re-runs the whole prefix for every new token.

use burn::tensor::activation::relu;
use burn::tensor::{Int, Tensor, TensorData};

use super::Bdh;
use crate::NnError;
use crate::attention::LinearAttentionState;
use crate::model::TokenStream;

/// A sequence being fed to a [`Bdh`] one token at a time.
pub struct BdhStream<'a> {
    model: &'a Bdh,
    states: Vec<LinearAttentionState>,
    position: usize,
}

impl<'a> BdhStream<'a> {
    /// An empty sequence.
    pub fn new(model: &'a Bdh) -> Self {
        let device = model.encoder.val().device();
        let (h, n, d) = (model.heads(), model.neurons_per_head(), model.width());
        Self {
            model,
            states: (0..model.n_layer)
                .map(|_| LinearAttentionState::new(h, n, d, &device))
                .collect(),
            position: 0,
        }
    }

    /// Tokens fed so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Layer `l`'s attention state `rho`, `[h, N, d]`.
    pub fn state(&self, layer: usize) -> &Tensor<3> {
        self.states[layer].rho()
    }
}

impl TokenStream for BdhStream<'_> {
    /// # Shapes
    /// - output: `[vocab]`
    fn feed(&mut self, token: u32) -> Result<Tensor<1>, NnError> {
        let m = self.model;
        let vocab = m.embed.weight.dims()[0];
        if token as usize >= vocab {
            return Err(NnError::Shape {
                block: "bdh",
                expected: format!("a token below {vocab}"),
                found: vec![token as usize],
            });
        }
        let device = m.encoder.val().device();
        let (h, n, d) = (m.heads(), m.neurons_per_head(), m.width());
        let token = Tensor::<2, Int>::from_data(TensorData::new(vec![i64::from(token)], [1, 1]), &device);
        let mut x: Tensor<4> = m.ln(m.embed.forward(token)).unsqueeze_dim(1); // [1, 1, 1, d]
        let (cos, sin) = m.rope.tables(self.position, 1, &x);
        let encoder: Tensor<4> = m.encoder.val().unsqueeze_dim(0);
        let encoder_v: Tensor<4> = m.encoder_v.val().unsqueeze_dim(0);
        let decoder: Tensor<4> = m.decoder.val().unsqueeze_dims(&[0, 1]);
        for state in &mut self.states {
            let x_sparse = relu(x.clone().matmul(encoder.clone())); // [1, h, 1, n]
            let q: Tensor<3> = m
                .rope
                .apply_with(x_sparse.clone(), cos.clone(), sin.clone())
                .reshape([h, 1, n]);
            let read = state.step(q.clone(), q, x.clone().reshape([1, 1, d])); // [h, 1, d]
            let y_sparse = relu(m.ln(read.reshape([1, h, 1, d])).matmul(encoder_v.clone()));
            let xy = x_sparse * y_sparse;
            let y = xy.swap_dims(1, 2).reshape([1, 1, 1, h * n]).matmul(decoder.clone());
            x = m.ln(x + m.ln(y));
        }
        self.position += 1;
        Ok(x.reshape([1, d]).matmul(m.lm_head.val()).reshape([vocab]))
    }
}
