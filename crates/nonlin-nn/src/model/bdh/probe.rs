//! Probes of BDH's interpretability claims (arXiv 2509.26507; learning-rules.md 1.3-1.4):
//!
//! - activation densities: the fraction of the `n` neurons active per token, for `x_s` (after
//!   the encoder's ReLU; about 1/2 at initialisation) and for `xy = x_s * y_s` (about 1/4), per
//!   layer and averaged over layers and tokens;
//! - the neuron-interaction graph `G = E D_x` (`n x n`, rank `d`: how neuron `i`'s output, through
//!   the decoder `E` and the encoder `D_x`, drives neuron `j`), whose positive part the paper
//!   reports heavy-tailed and modular. The statistics (nonlin's choice, UNCONFIRMED as the
//!   paper's): the fraction of positive off-diagonal entries; the coefficient of variation,
//!   excess kurtosis and top-1% share of the weighted out-degrees `k_i = sum_j max(G_ij, 0)`; and
//!   Newman's modularity of the symmetrised positive graph split by its leading modularity
//!   eigenvector.

use burn::tensor::Tensor;

use super::Bdh;
use crate::NnError;
use crate::model::ModelInput;

/// Statistics of a weighted directed graph's positive part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphStats {
    /// Off-diagonal entries above 0, as a fraction of `n (n - 1)`.
    pub positive_fraction: f64,
    /// std / mean of the positive out-degrees.
    pub degree_cv: f64,
    /// Excess kurtosis of the positive out-degrees (0 for a Gaussian; large for heavy tails).
    pub degree_kurtosis: f64,
    /// Share of the total positive degree held by the top 1% of nodes (at least one node).
    pub top_share: f64,
    /// Modularity `Q` of the two-way split by the leading eigenvector of the modularity matrix
    /// of `(A + A^T) / 2`, `A = max(G, 0)` off the diagonal.
    pub modularity: f64,
}

/// The statistics of the `n x n` row-major matrix `g` (`g[i * n + j]`: edge `i -> j`).
pub fn graph_stats(g: &[f64], n: usize) -> GraphStats {
    assert_eq!(g.len(), n * n, "an n x n matrix");
    let positive = |i: usize, j: usize| if i == j { 0.0 } else { g[i * n + j].max(0.0) };
    let edges = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| i != j && g[i * n + j] > 0.0)
        .count();
    let pairs = (n * n.saturating_sub(1)).max(1);
    let degrees: Vec<f64> = (0..n).map(|i| (0..n).map(|j| positive(i, j)).sum()).collect();
    let mean = degrees.iter().sum::<f64>() / n as f64;
    let m2 = degrees.iter().map(|k| (k - mean).powi(2)).sum::<f64>() / n as f64;
    let m4 = degrees.iter().map(|k| (k - mean).powi(4)).sum::<f64>() / n as f64;
    let mut sorted = degrees.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top = n.div_ceil(100).max(1);
    let total: f64 = sorted.iter().sum();
    GraphStats {
        positive_fraction: edges as f64 / pairs as f64,
        degree_cv: if mean > 0.0 { m2.sqrt() / mean } else { f64::NAN },
        degree_kurtosis: if m2 > 0.0 { m4 / (m2 * m2) - 3.0 } else { f64::NAN },
        top_share: if total > 0.0 { sorted[..top].iter().sum::<f64>() / total } else { f64::NAN },
        modularity: modularity(n, |i, j| 0.5 * (positive(i, j) + positive(j, i))),
    }
}

/// Modularity of the leading-eigenvector split of the symmetric graph `s` (Newman 2006).
fn modularity(n: usize, s: impl Fn(usize, usize) -> f64) -> f64 {
    let s: Vec<f64> = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| s(i, j)).collect();
    let k: Vec<f64> = (0..n).map(|i| s[i * n..(i + 1) * n].iter().sum()).collect();
    let two_m: f64 = k.iter().sum();
    if two_m <= 0.0 {
        return f64::NAN;
    }
    // B v = S v - k (k . v) / 2m, shifted by c I (c >= the spectral radius of B) so power
    // iteration finds B's largest, not largest-magnitude, eigenvalue
    let b_times = |v: &[f64]| -> Vec<f64> {
        let kv: f64 = k.iter().zip(v).map(|(a, b)| a * b).sum::<f64>() / two_m;
        (0..n)
            .map(|i| s[i * n..(i + 1) * n].iter().zip(v).map(|(a, b)| a * b).sum::<f64>() - k[i] * kv)
            .collect()
    };
    let shift = (0..n)
        .map(|i| (0..n).map(|j| (s[i * n + j] - k[i] * k[j] / two_m).abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.618_033_988_749_895).fract() - 0.5).collect();
    for _ in 0..500 {
        let bv = b_times(&v);
        let next: Vec<f64> = bv.iter().zip(&v).map(|(a, b)| a + shift * b).collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        let next: Vec<f64> = next.iter().map(|x| x / norm).collect();
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if change < 1e-12 {
            break;
        }
    }
    let signs: Vec<f64> = v.iter().map(|&x| if x < 0.0 { -1.0 } else { 1.0 }).collect();
    let bs = b_times(&signs);
    signs.iter().zip(&bs).map(|(a, b)| a * b).sum::<f64>() / (2.0 * two_m)
}

/// The densities of a batch and, for models of at most `graph_probe_max_neurons` neurons, the
/// graph statistics, as named numbers.
pub(crate) fn probe(model: &Bdh, input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
    let (_, activity) = model.forward_layers(input.tokens("bdh")?, true);
    let density = |t: Tensor<4>| -> f64 { t.greater_elem(0.0).float().mean().into_scalar::<f64>() };
    let mut out = Vec::new();
    let (mut x_all, mut xy_all) = (0.0, 0.0);
    for (l, layer) in activity.into_iter().enumerate() {
        let x = density(layer.x_sparse);
        let xy = density(layer.xy_sparse);
        out.push((format!("x_density_layer{l}"), x));
        out.push((format!("xy_density_layer{l}"), xy));
        x_all += x;
        xy_all += xy;
    }
    let layers = model.n_layer as f64;
    out.push(("x_density".into(), x_all / layers));
    out.push(("xy_density".into(), xy_all / layers));
    let n = model.heads() * model.neurons_per_head();
    if n <= model.graph_probe_max_neurons {
        let d = model.width();
        let encoder: Tensor<2> = model.encoder.val().swap_dims(0, 1).reshape([d, n]);
        let g: Vec<f64> = model
            .decoder
            .val()
            .matmul(encoder)
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .map_err(|e| NnError::BadConfig(format!("bdh graph probe: {e:?}")))?;
        let stats = graph_stats(&g, n);
        out.extend([
            ("graph_positive_fraction".to_string(), stats.positive_fraction),
            ("graph_degree_cv".to_string(), stats.degree_cv),
            ("graph_degree_kurtosis".to_string(), stats.degree_kurtosis),
            ("graph_top1pct_share".to_string(), stats.top_share),
            ("graph_modularity".to_string(), stats.modularity),
        ]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two triangles {0, 1, 2} and {3, 4, 5}, weight 1 inside, -1 across: 12 of the 30
    /// off-diagonal entries are positive (0.4); every out-degree is 2 (cv 0, top share 1/6);
    /// m = 6 edges, each triangle holds 3 of them and half of the degree, so the split into the
    /// triangles has Q = 2 (3/6 - (6/12)^2) = 0.5.
    #[test]
    fn two_triangles_by_hand() {
        let n = 6;
        let g: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                if i / 3 == j / 3 { 1.0 } else { -1.0 }
            })
            .collect();
        let s = graph_stats(&g, n);
        assert!((s.positive_fraction - 0.4).abs() < 1e-12);
        assert!(s.degree_cv.abs() < 1e-12);
        assert!((s.top_share - 1.0 / 6.0).abs() < 1e-12);
        assert!((s.modularity - 0.5).abs() < 1e-9, "{s:?}");
    }

    /// A star (node 0 -> everyone, weight 1) on 200 nodes: the hub holds all of the degree, so
    /// the top 1% (2 nodes) hold everything. Degrees 199 and 199 zeros: mean 0.995, variance
    /// (198.005^2 + 199 * 0.995^2) / 200 = 197.014975, cv sqrt(197.014975) / 0.995 = 14.106736;
    /// fourth moment (198.005^4 + 199 * 0.995^4) / 200, excess kurtosis 195.005025.
    #[test]
    fn a_star_is_heavy_tailed() {
        let n = 200;
        let mut g = vec![0.0; n * n];
        g[1..n].fill(1.0);
        let s = graph_stats(&g, n);
        assert!((s.top_share - 1.0).abs() < 1e-12);
        assert!((s.degree_cv - 14.106736).abs() < 1e-6, "{s:?}");
        assert!((s.degree_kurtosis - 195.005025).abs() < 1e-6, "{s:?}");
    }
}
