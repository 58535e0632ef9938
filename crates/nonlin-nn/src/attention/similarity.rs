//! How a query meets a key: the bilinear form `s_ij = x_i^T M x_j / sqrt(d_k)` of attention, in the
//! four parameterisations of Bermeitinger, Hrycej, Pavone, Kath, Handschuh, "Reducing the
//! Transformer Architecture to a Minimum", arXiv 2410.13732:
//!
//! - `separate`: `M = W_Q W_K^T` per head from two `d x d_head` projections (the standard form;
//!   `2 d^2` weights, plus biases);
//! - `collapsed`: one free `d x d` matrix `W_QK` per head (`h d^2` weights: fewer than the
//!   separate form only with one head, the paper's "under some conditions");
//! - `symmetric_psd`: `M = T T^T` with `T` lower triangular (`h d(d+1)/2` weights); `M` is
//!   positive semi-definite, so `s_ii >= 0` (a token is never dissimilar to itself), as in the
//!   community re-implementation (Abdennacer-Badaoui/Reducing_the_Transformer_Architecture_to_a_Minimum);
//! - `symmetric_general`: `M = M^T` with its `d(d+1)/2` upper entries free (`h d(d+1)/2` weights;
//!   indefinite in general).
//!
//! Which symmetric form the paper used is UNCONFIRMED: both are offered. The collapsed and
//! symmetric forms read the whole `d`-wide token (`d_k = d`) in every head.
//!
//! Initialisation (UNCONFIRMED, the paper gives none): the collapsed `M` starts as the product
//! `A B^T` of two `d x d_head` matrices drawn like the separate projections, so its scores have
//! the variance of the standard form; the symmetric general `M` starts as the symmetric part of
//! such a product; `T`'s free entries are drawn like a projection's weights.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::layer::Init;

/// The parameterisation of the query-key form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QkKind {
    /// Separate `W_Q` and `W_K` (with biases when the block has them).
    #[default]
    Separate,
    /// One `W_QK` per head.
    Collapsed,
    /// `T T^T` with `T` lower triangular.
    SymmetricPsd,
    /// A symmetric matrix with free upper entries.
    SymmetricGeneral,
}

impl QkKind {
    /// Number of weights of the query-key form for width `d`, `heads` heads and biases or not.
    pub fn param_count(self, d: usize, heads: usize, bias: bool) -> usize {
        match self {
            QkKind::Separate => 2 * (d * d + if bias { d } else { 0 }),
            QkKind::Collapsed => heads * d * d,
            QkKind::SymmetricPsd | QkKind::SymmetricGeneral => heads * d * (d + 1) / 2,
        }
    }
}

/// The query-key form of one attention layer.
#[derive(Module, Debug)]
pub struct QueryKey {
    /// `W_Q`, `[d, d]` (separate form).
    pub query: Option<Linear>,
    /// `W_K`, `[d, d]` (separate form).
    pub key: Option<Linear>,
    /// `W_QK` per head, `[heads, d, d]` (collapsed form).
    pub bilinear: Option<Param<Tensor<3>>>,
    /// The `d(d+1)/2` free entries per head, `[heads, d(d+1)/2]` (symmetric forms), row by row
    /// over the upper triangle (`M`) or the lower triangle (`T`).
    pub triangle: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub kind: QkKind,
    pub heads: usize,
    pub d_model: usize,
}

impl QueryKey {
    /// A fresh form of `kind` for width `d` and `heads` heads.
    pub fn new(
        kind: QkKind,
        d: usize,
        heads: usize,
        bias: bool,
        init: Init,
        device: &Device,
    ) -> Self {
        let dh = d / heads;
        let product = || {
            // A B^T per head, A and B drawn like `d -> d` projections split into heads
            let draw = || -> Tensor<3> {
                init.weight::<2>([d, d], d, device)
                    .reshape([d, heads, dh])
                    .swap_dims(0, 1)
            };
            draw().matmul(draw().swap_dims(1, 2)).detach()
        };
        let mut form = QueryKey {
            query: None,
            key: None,
            bilinear: None,
            triangle: None,
            kind,
            heads,
            d_model: d,
        };
        match kind {
            QkKind::Separate => {
                form.query = Some(init.linear(d, d, bias, device));
                form.key = Some(init.linear(d, d, bias, device));
            }
            QkKind::Collapsed => form.bilinear = Some(Param::from_tensor(product())),
            QkKind::SymmetricGeneral => {
                let m = product();
                let m = (m.clone() + m.swap_dims(1, 2)) / 2.0;
                let upper = index_tensor(&upper_entries(d), device);
                let entries = m.reshape([heads, d * d]).select(1, upper).detach();
                form.triangle = Some(Param::from_tensor(entries));
            }
            QkKind::SymmetricPsd => {
                let m = d * (d + 1) / 2;
                form.triangle = Some(Param::from_tensor(init.weight::<2>([heads, m], d, device)));
            }
        }
        form
    }

    /// Queries and keys whose dot products, times the returned scale, are the scores.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d]`
    /// - queries: `[batch, heads or 1, seq, d_k]`; keys: `[batch, heads, seq, d_k]`
    pub fn forward(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>, f64) {
        let [b, t, d] = x.dims();
        let h = self.heads;
        let dtype = x.dtype();
        let heads = |y: Tensor<3>| -> Tensor<4> { y.reshape([b, t, h, d / h]).swap_dims(1, 2) };
        let shared: Tensor<4> = x.clone().unsqueeze_dim(1); // [b, 1, t, d]
        match self.kind {
            QkKind::Separate => {
                let q = self
                    .query
                    .as_ref()
                    .expect("separate form")
                    .forward(x.clone());
                let k = self.key.as_ref().expect("separate form").forward(x);
                (heads(q), heads(k), 1.0 / ((d / h) as f64).sqrt())
            }
            QkKind::Collapsed => {
                let m = self
                    .bilinear
                    .as_ref()
                    .expect("collapsed form")
                    .val()
                    .cast(dtype);
                let k = shared.clone().matmul(m.swap_dims(1, 2).unsqueeze_dim(0));
                (shared, k, 1.0 / (d as f64).sqrt())
            }
            QkKind::SymmetricGeneral => {
                let m = self.matrix().cast(dtype);
                let k = shared.clone().matmul(m.unsqueeze_dim(0));
                (shared, k, 1.0 / (d as f64).sqrt())
            }
            QkKind::SymmetricPsd => {
                let q = shared.matmul(self.matrix().cast(dtype).unsqueeze_dim(0));
                (q.clone(), q, 1.0 / (d as f64).sqrt())
            }
        }
    }

    /// The symmetric form's matrix: `M` (general) or the triangular factor `T` (PSD).
    ///
    /// # Shapes
    /// - output: `[heads, d, d]`
    pub fn matrix(&self) -> Tensor<3> {
        let d = self.d_model;
        let triangle = self.triangle.as_ref().expect("a symmetric form").val();
        let device = triangle.device();
        let flat = match self.kind {
            QkKind::SymmetricGeneral => {
                triangle.select(1, index_tensor(&symmetric_index(d), &device))
            }
            _ => {
                // the entries of T, with one zero appended for the upper triangle
                let zero = Tensor::<2>::zeros([self.heads, 1], &device).cast(triangle.dtype());
                Tensor::cat(vec![triangle, zero], 1)
                    .select(1, index_tensor(&lower_index(d), &device))
            }
        };
        flat.reshape([self.heads, d, d])
    }
}

/// Flat indices `i * d + j` of the upper triangle (`j >= i`), row by row.
fn upper_entries(d: usize) -> Vec<usize> {
    (0..d)
        .flat_map(|i| (i..d).map(move |j| i * d + j))
        .collect()
}

/// For each entry `(i, j)` of a `d x d` symmetric matrix, its position among the upper entries.
fn symmetric_index(d: usize) -> Vec<usize> {
    // position of (a, b), a <= b, in the row-by-row upper listing: sum_{r<a} (d - r) + (b - a)
    let pos = |a: usize, b: usize| (0..a).map(|r| d - r).sum::<usize>() + (b - a);
    (0..d)
        .flat_map(|i| (0..d).map(move |j| if i <= j { pos(i, j) } else { pos(j, i) }))
        .collect()
}

/// For each entry `(i, j)` of a lower-triangular `d x d` matrix, its position among the lower
/// entries listed row by row, or the index of the appended zero above the diagonal.
fn lower_index(d: usize) -> Vec<usize> {
    let zero = d * (d + 1) / 2;
    (0..d)
        .flat_map(|i| (0..d).map(move |j| if j <= i { i * (i + 1) / 2 + j } else { zero }))
        .collect()
}

fn index_tensor(index: &[usize], device: &Device) -> Tensor<1, Int> {
    let index: Vec<i64> = index.iter().map(|&i| i as i64).collect();
    let n = index.len();
    Tensor::from_data(TensorData::new(index, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index maps on d = 3: upper entries (0,0) (0,1) (0,2) (1,1) (1,2) (2,2) are 0..6, so
    /// the symmetric matrix reads [[0 1 2] [1 3 4] [2 4 5]]; the lower entries (0,0) (1,0) (1,1)
    /// (2,0) (2,1) (2,2) are 0..6 and the zero is 6: [[0 6 6] [1 2 6] [3 4 5]].
    #[test]
    fn index_maps_by_hand() {
        assert_eq!(upper_entries(3), vec![0, 1, 2, 4, 5, 8]);
        assert_eq!(symmetric_index(3), vec![0, 1, 2, 1, 3, 4, 2, 4, 5]);
        assert_eq!(lower_index(3), vec![0, 6, 6, 1, 2, 6, 3, 4, 5]);
    }

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        x.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    /// Scores of every form are `x_i^T M x_j` for the form's matrix: symmetric forms give
    /// symmetric scores, the PSD one a non-negative diagonal.
    #[test]
    fn symmetric_forms_give_symmetric_scores() {
        let device = Device::flex();
        let x = Tensor::<3>::random(
            [2, 5, 6],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        for kind in [QkKind::SymmetricPsd, QkKind::SymmetricGeneral] {
            let form = QueryKey::new(kind, 6, 1, false, Init::PyTorch, &device);
            let (q, k, _) = form.forward(x.clone());
            let s = q.matmul(k.swap_dims(2, 3));
            let st = s.clone().swap_dims(2, 3);
            for (a, b) in values(s.clone()).iter().zip(values(st)) {
                assert!((a - b).abs() < 1e-5, "{kind:?}");
            }
            if kind == QkKind::SymmetricPsd {
                let v = values(s);
                for bt in 0..2 {
                    for i in 0..5 {
                        assert!(v[bt * 25 + i * 6] >= 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn parameter_counts_are_closed_form() {
        let device = Device::flex();
        for (kind, heads, bias) in [
            (QkKind::Separate, 2, true),
            (QkKind::Separate, 1, false),
            (QkKind::Collapsed, 1, false),
            (QkKind::Collapsed, 2, false),
            (QkKind::SymmetricPsd, 1, false),
            (QkKind::SymmetricGeneral, 2, true),
        ] {
            let form = QueryKey::new(kind, 8, heads, bias, Init::PyTorch, &device);
            // separate: 2 (64 + 8 bias); collapsed: h 64; symmetric: h 36
            let expected = match kind {
                QkKind::Separate => 2 * (64 + if bias { 8 } else { 0 }),
                QkKind::Collapsed => heads * 64,
                _ => heads * 36,
            };
            assert_eq!(form.num_params(), expected, "{kind:?}");
            assert_eq!(kind.param_count(8, heads, bias), expected, "{kind:?}");
        }
    }
}
