//! Centred kernel alignment (Cristianini et al. 2002; Kornblith et al., arXiv:1905.00414):
//! `CKA(K, L) = <HKH, HLH>_F / (||HKH||_F ||HLH||_F)` with the centring matrix
//! `H = I - 11^T/n`. With linear kernels `K = X X^T` this is linear CKA.

use super::linalg::{Matrix, gram};

/// `H K H` for a square kernel matrix.
pub fn centre(k: &Matrix) -> Matrix {
    let n = k.nrows();
    let row: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| k[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let col: Vec<f64> = (0..n)
        .map(|j| (0..n).map(|i| k[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let all = row.iter().sum::<f64>() / n as f64;
    Matrix::from_fn(n, n, |i, j| k[(i, j)] - row[i] - col[j] + all)
}

/// CKA of two `[n, n]` kernel matrices; 0 when either centred kernel vanishes.
pub fn cka(k: &Matrix, l: &Matrix) -> f64 {
    assert_eq!(k.nrows(), l.nrows(), "cka: kernels of different sizes");
    let (kc, lc) = (centre(k), centre(l));
    let mut dot = 0.0;
    for i in 0..kc.nrows() {
        for j in 0..kc.ncols() {
            dot += kc[(i, j)] * lc[(i, j)];
        }
    }
    let norms = kc.norm_l2() * lc.norm_l2();
    if norms == 0.0 { 0.0 } else { dot / norms }
}

/// Linear CKA of two representations of the same `n` points (`[n, p]` and `[n, q]`).
pub fn linear_cka(x: &Matrix, y: &Matrix) -> f64 {
    cka(&gram(x), &gram(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::linalg::from_rows;

    #[test]
    fn hand_computed_alignment() {
        // x = [1, 2, 3] and y = [1, 3, 2] as 1-D features: centred x = [-1, 0, 1], y = [-1, 1, 0];
        // linear CKA = (x.y)^2 / (|x|^2 |y|^2) = 1^2 / (2 * 2) = 0.25
        let x = from_rows(3, 1, &[1.0, 2.0, 3.0]);
        let y = from_rows(3, 1, &[1.0, 3.0, 2.0]);
        assert!((linear_cka(&x, &y) - 0.25).abs() < 1e-15);
        // invariant to scaling and an offset; 1 with itself
        let z = from_rows(3, 1, &[7.0, 12.0, 17.0]);
        assert!((linear_cka(&x, &z) - 1.0).abs() < 1e-14);
        assert!((linear_cka(&y, &y) - 1.0).abs() < 1e-14);
        // a constant representation aligns with nothing
        let c = from_rows(3, 1, &[2.0, 2.0, 2.0]);
        assert_eq!(linear_cka(&x, &c), 0.0);
    }
}
