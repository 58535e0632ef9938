//! B-spline bases on a knot grid, the learnable part of a Kolmogorov–Arnold layer (Liu et al.,
//! "KAN: Kolmogorov-Arnold Networks", arXiv:2404.19756; the layout of efficient-kan).
//!
//! Order-0 bases are the indicators of `[t_m, t_{m+1})`; order `p` follows Cox–de Boor:
//!
//! `B_{m,p}(x) = (x − t_m)/(t_{m+p} − t_m) · B_{m,p−1}(x) + (t_{m+p+1} − x)/(t_{m+p+1} − t_{m+1}) · B_{m+1,p−1}(x)`.
//!
//! A grid of `G` intervals on `[a, b]` extended by `k` knots of the same spacing on each side has
//! `G + 2k + 1` knots and carries `G + k` bases of order `k`; they sum to 1 on `[a, b]` and are all
//! 0 outside `[t_0, t_{G+2k})`, so a spline is exactly 0 for inputs far outside its grid.
//!
//! [`bases`] is the fast path (all bases of a batch at once, on tensors, differentiable in `x`);
//! [`cox_de_boor`] is the slow reference (one basis function at one point, by the recursion as
//! written); a test checks that they agree. [`knots_from_samples`] is efficient-kan's grid update.

use burn::tensor::Tensor;

/// `G + 2k + 1` knots of `G` equal intervals on `range` extended by `k` knots each side:
/// `t_m = a + (m − k)·h` with `h = (b − a)/G` (efficient-kan's `arange(−k, G + k + 1)·h + a`).
pub fn uniform_knots(grid_size: usize, order: usize, range: [f64; 2]) -> Vec<f64> {
    let h = (range[1] - range[0]) / grid_size as f64;
    (0..grid_size + 2 * order + 1)
        .map(|m| (m as f64 - order as f64) * h + range[0])
        .collect()
}

/// Number of bases of order `order` on a grid of `grid_size` intervals: `G + k`.
pub fn basis_count(grid_size: usize, order: usize) -> usize {
    grid_size + order
}

/// Every B-spline basis of order `order` at every input, each input on its own knot row.
///
/// The knots of one row must increase; equal neighbours divide 0 by 0 (NaN), as in efficient-kan.
///
/// # Shapes
/// - x: `[batch, in]`
/// - grid: `[in, knots]` (knots = G + 2k + 1)
/// - output: `[batch, in, knots − 1 − order]` (= G + k)
pub fn bases(x: Tensor<2>, grid: Tensor<2>, order: usize) -> Tensor<3> {
    let knots = grid.dims()[1];
    let x = x.unsqueeze_dim::<3>(2); // [batch, in, 1]
    let t = grid.unsqueeze_dim::<3>(0); // [1, in, knots]
    let lower = t.clone().narrow(2, 0, knots - 1);
    let upper = t.clone().narrow(2, 1, knots - 1);
    let inside = x
        .clone()
        .greater_equal(lower)
        .bool_and(x.clone().lower(upper));
    let mut b = inside.float().cast(x.dtype());
    for p in 1..=order {
        let n = knots - 1 - p;
        let t_m = t.clone().narrow(2, 0, n);
        let t_mp = t.clone().narrow(2, p, n);
        let t_m1 = t.clone().narrow(2, 1, n);
        let t_mp1 = t.clone().narrow(2, p + 1, n);
        // The reciprocals depend on the grid alone: [1, in, n] instead of [batch, in, n] divisions.
        let left = (x.clone() - t_m.clone()) * (t_mp - t_m).recip();
        let right = (t_mp1.clone() - x.clone()) * (t_mp1 - t_m1).recip();
        b = left * b.clone().narrow(2, 0, n) + right * b.narrow(2, 1, n);
    }
    b
}

/// `B_{m,p}(x)` on `knots` by the Cox–de Boor recursion, term by term (the slow reference).
///
/// # Panics
/// If `m + p + 1` is past the last knot.
pub fn cox_de_boor(knots: &[f64], m: usize, p: usize, x: f64) -> f64 {
    assert!(
        m + p + 1 < knots.len(),
        "B_{{{m},{p}}} needs knots up to index {}",
        m + p + 1
    );
    if p == 0 {
        return if knots[m] <= x && x < knots[m + 1] {
            1.0
        } else {
            0.0
        };
    }
    let left = (x - knots[m]) / (knots[m + p] - knots[m]) * cox_de_boor(knots, m, p - 1, x);
    let right = (knots[m + p + 1] - x) / (knots[m + p + 1] - knots[m + 1])
        * cox_de_boor(knots, m + 1, p - 1, x);
    left + right
}

/// The knots of a grid fitted to the samples of one input (efficient-kan's `update_grid`).
///
/// `G + 1` points are blended between the samples' quantiles (the "adaptive" grid: the sorted
/// samples at indices `linspace(0, n − 1, G + 1)` truncated to integers as PyTorch does) and a
/// uniform grid over `[min − margin, max + margin]`: `t = ε·uniform + (1 − ε)·adaptive`; the
/// result is extended by `k` knots of the uniform step on each side.
///
/// `samples` is sorted in place; it must not be empty.
pub fn knots_from_samples(
    samples: &mut [f64],
    grid_size: usize,
    order: usize,
    grid_eps: f64,
    margin: f64,
) -> Vec<f64> {
    assert!(!samples.is_empty(), "a grid needs at least one sample");
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let (first, last) = (samples[0], samples[n - 1]);
    let step = (last - first + 2.0 * margin) / grid_size as f64;
    let interior: Vec<f64> = torch_linspace_indices(n - 1, grid_size + 1)
        .into_iter()
        .enumerate()
        .map(|(g, index)| {
            let uniform = g as f64 * step + first - margin;
            grid_eps * uniform + (1.0 - grid_eps) * samples[index]
        })
        .collect();
    let mut knots = Vec::with_capacity(grid_size + 2 * order + 1);
    knots.extend((1..=order).rev().map(|j| interior[0] - step * j as f64));
    knots.extend_from_slice(&interior);
    knots.extend((1..=order).map(|j| interior[grid_size] + step * j as f64));
    knots
}

/// `torch.linspace(0, end, steps, dtype=int64)` on the CPU: the value is computed in double from
/// the nearer end and truncated toward zero.
fn torch_linspace_indices(end: usize, steps: usize) -> Vec<usize> {
    if steps == 1 {
        return vec![0];
    }
    let step = end as f64 / (steps - 1) as f64;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            let value = if i < halfway {
                step * i as f64
            } else {
                end as f64 - step * (steps - i - 1) as f64
            };
            value as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, Device, TensorData};

    use super::*;

    fn f64_tensor<const D: usize>(values: Vec<f64>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(
            TensorData::new(values, shape),
            (&Device::flex(), DType::F64),
        )
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data().try_into_vec_as::<f64>().unwrap()
    }

    #[test]
    fn uniform_knots_follow_efficient_kan() {
        // G = 5, k = 3 on [-1, 1]: h = 0.4, knots -1 + (m - 3) 0.4 for m = 0..=11.
        let t = uniform_knots(5, 3, [-1.0, 1.0]);
        assert_eq!(t.len(), 12);
        let expected = [
            -2.2, -1.8, -1.4, -1.0, -0.6, -0.2, 0.2, 0.6, 1.0, 1.4, 1.8, 2.2,
        ];
        for (a, b) in t.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{t:?}");
        }
        assert_eq!(basis_count(5, 3), 8);
    }

    /// Order 1 on the integer knots 0, 1, 2 is the hat function: B_{0,1}(x) = x on [0, 1),
    /// 2 − x on [1, 2), 0 elsewhere. Order 2 on 0..=3 is the quadratic B-spline: x²/2 on [0, 1),
    /// (−2x² + 6x − 3)/2 on [1, 2), (3 − x)²/2 on [2, 3): at 0.5 → 0.125, at 1.5 → 0.75, at
    /// 2.5 → 0.125.
    #[test]
    fn hand_computed_bases() {
        let hat = [0.0, 1.0, 2.0];
        for (x, y) in [
            (0.25, 0.25),
            (1.0, 1.0),
            (1.5, 0.5),
            (2.0, 0.0),
            (-0.1, 0.0),
        ] {
            assert!((cox_de_boor(&hat, 0, 1, x) - y).abs() < 1e-15, "hat({x})");
        }
        let quad = [0.0, 1.0, 2.0, 3.0];
        for (x, y) in [(0.5, 0.125), (1.5, 0.75), (2.5, 0.125), (3.0, 0.0)] {
            assert!((cox_de_boor(&quad, 0, 2, x) - y).abs() < 1e-15, "quad({x})");
        }
        // The fast path on the same knots: one input, bases of order 2 (one basis).
        let x = f64_tensor(vec![0.5, 1.5, 2.5, 3.0], [4, 1]);
        let grid = f64_tensor(quad.to_vec(), [1, 4]);
        let b = values(bases(x, grid, 2));
        assert_eq!(b.len(), 4);
        for (found, expected) in b.iter().zip([0.125, 0.75, 0.125, 0.0]) {
            assert!((found - expected).abs() < 1e-15, "{b:?}");
        }
    }

    /// The fast path equals the recursion on non-uniform knots, for points inside, outside, and
    /// exactly on knots, for orders 0 to 4, one knot row per input.
    #[test]
    fn fast_bases_match_the_reference() {
        let rows = [
            vec![-2.0, -1.3, -0.9, -0.2, 0.1, 0.35, 0.8, 1.6, 2.0, 2.9, 3.1],
            uniform_knots(4, 3, [-1.0, 1.0]),
        ];
        let knots = rows[0].len();
        let points = [
            -3.0, -2.0, -1.31, -0.9, -0.5, 0.0, 0.1, 0.2999, 0.8, 1.0, 1.55, 2.0, 2.5, 3.05, 3.1,
            4.0,
        ];
        let batch = points.len();
        // Input 0 reads points[b], input 1 reads points[batch - 1 - b].
        let x: Vec<f64> = (0..batch)
            .flat_map(|b| [points[b], points[batch - 1 - b]])
            .collect();
        for order in 0..=4 {
            let grid = f64_tensor(rows.concat(), [2, knots]);
            let fast = values(bases(f64_tensor(x.clone(), [batch, 2]), grid, order));
            let count = knots - 1 - order;
            assert_eq!(fast.len(), batch * 2 * count);
            for b in 0..batch {
                for (i, row) in rows.iter().enumerate() {
                    for m in 0..count {
                        let slow = cox_de_boor(row, m, order, x[b * 2 + i]);
                        let found = fast[(b * 2 + i) * count + m];
                        assert!(
                            (found - slow).abs() < 1e-12,
                            "order {order}, x {}, input {i}, basis {m}: {found} vs {slow}",
                            x[b * 2 + i]
                        );
                    }
                }
            }
        }
    }

    /// G + k bases that sum to 1 inside [a, b] (partition of unity) and vanish outside the
    /// extended grid.
    #[test]
    fn partition_of_unity_inside_the_grid() {
        for (g, k) in [(5, 3), (3, 1), (10, 2), (1, 4)] {
            let knots = uniform_knots(g, k, [-1.0, 1.0]);
            let xs: Vec<f64> = (0..=40).map(|i| -1.0 + i as f64 * 0.05).collect();
            let grid = f64_tensor(knots.clone(), [1, knots.len()]);
            let b = values(bases(
                f64_tensor(xs.clone(), [xs.len(), 1]),
                grid.clone(),
                k,
            ));
            assert_eq!(b.len(), xs.len() * basis_count(g, k));
            for (row, x) in b.chunks(basis_count(g, k)).zip(&xs) {
                let sum: f64 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-12, "G {g}, k {k}, x {x}: {sum}");
            }
            let last = *knots.last().unwrap();
            let far = [knots[0] - 0.1, last, last + 1.0];
            let outside = values(bases(f64_tensor(far.to_vec(), [3, 1]), grid, k));
            assert!(outside.iter().all(|v| *v == 0.0), "{outside:?}");
        }
    }

    #[test]
    fn linspace_indices_as_torch() {
        // torch.linspace(0, 999, 6, dtype=torch.int64) = [0, 199, 399, 599, 799, 999]
        assert_eq!(
            torch_linspace_indices(999, 6),
            vec![0, 199, 399, 599, 799, 999]
        );
        // torch.linspace(0, 9, 4, dtype=torch.int64) = [0, 3, 6, 9]
        assert_eq!(torch_linspace_indices(9, 4), vec![0, 3, 6, 9]);
        // torch.linspace(0, 6, 5, dtype=torch.int64) = [0, 1, 3, 4, 6]: 1.5 -> 1, 6 - 1.5 = 4.5 -> 4
        assert_eq!(torch_linspace_indices(6, 5), vec![0, 1, 3, 4, 6]);
        assert_eq!(torch_linspace_indices(0, 1), vec![0]);
    }

    /// Samples 0, 1, ..., 10 (unsorted), G = 2, k = 1, ε = 0.02, margin 0.01: uniform step
    /// (10 + 0.02)/2 = 5.01; adaptive points 0, 5, 10; uniform points −0.01, 5.0, 10.01; blended
    /// −0.0002, 5.0, 10.0002; extended by one step: −5.0102 and 15.0102.
    #[test]
    fn knots_from_samples_by_hand() {
        let mut samples: Vec<f64> = (0..=10).rev().map(f64::from).collect();
        let t = knots_from_samples(&mut samples, 2, 1, 0.02, 0.01);
        let expected = [-5.0102, -0.0002, 5.0, 10.0002, 15.0102];
        assert_eq!(t.len(), 5);
        for (a, b) in t.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{t:?}");
        }
    }
}
