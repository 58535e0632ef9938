//! Minimum-norm least squares, `X = argmin ‖A X − B‖_F` of smallest `‖X‖_F`, on the host in f64.
//!
//! A KAN fits spline coefficients to values (efficient-kan's `curve2coeff`, which calls
//! `torch.linalg.lstsq`): at initialisation `G + 1` points for `G + k` coefficients (an
//! underdetermined system, where LAPACK's default `gelsy` returns the minimum-norm solution), and at
//! a grid update many samples for `G + k` coefficients. Both are the pseudo-inverse solution
//! `X = A⁺ B`, computed here from a one-sided Jacobi SVD (Hestenes): rotations orthogonalise the
//! columns of `A`, `A V = U Σ`, and `X = V Σ⁺ Uᵀ B`, dropping singular values below
//! `max(m, n) · ε · σ_max` as NumPy's `lstsq` does. The systems are small (`G + k` columns).

/// The minimum-norm least-squares solution of `A X = B`.
///
/// # Shapes
/// - a: `[m, n]` row-major
/// - b: `[m, r]` row-major
/// - returns: `[n, r]` row-major
///
/// # Panics
/// If the slices do not have the stated lengths.
pub fn lstsq(a: &[f64], m: usize, n: usize, b: &[f64], r: usize) -> Vec<f64> {
    assert_eq!(a.len(), m * n, "A must be {m} x {n}");
    assert_eq!(b.len(), m * r, "B must be {m} x {r}");
    // Columns of A (u) and of V, column-major so a rotation touches two contiguous slices.
    let mut u: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..m).map(|i| a[i * n + j]).collect())
        .collect();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    for _sweep in 0..100 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let alpha = dot(&u[p], &u[p]);
                let beta = dot(&u[q], &u[q]);
                let gamma = dot(&u[p], &u[q]);
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(&mut u, p, q, c, s);
                rotate(&mut v, p, q, c, s);
            }
        }
        if !rotated {
            break;
        }
    }
    let sigma: Vec<f64> = u.iter().map(|col| dot(col, col).sqrt()).collect();
    let largest = sigma.iter().copied().fold(0.0, f64::max);
    let cutoff = m.max(n) as f64 * f64::EPSILON * largest;
    let mut x = vec![0.0; n * r];
    for j in 0..n {
        if sigma[j] <= cutoff || sigma[j] == 0.0 {
            continue;
        }
        // x += v_j (u_j · b) / σ_j², since u holds U σ.
        for k in 0..r {
            let ub: f64 = (0..m).map(|i| u[j][i] * b[i * r + k]).sum();
            let scale = ub / (sigma[j] * sigma[j]);
            for i in 0..n {
                x[i * r + k] += v[j][i] * scale;
            }
        }
    }
    x
}

/// Rotates columns p and q: (c·x_p − s·x_q, s·x_p + c·x_q).
fn rotate(cols: &mut [Vec<f64>], p: usize, q: usize, c: f64, s: f64) {
    let (head, tail) = cols.split_at_mut(q);
    for (xp, xq) in head[p].iter_mut().zip(tail[0].iter_mut()) {
        let (a, b) = (*xp, *xq);
        *xp = c * a - s * b;
        *xq = s * a + c * b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(found: &[f64], expected: &[f64], tol: f64) {
        assert_eq!(found.len(), expected.len());
        for (f, e) in found.iter().zip(expected) {
            assert!(
                (f - e).abs() <= tol,
                "found {found:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn square_system_is_solved_exactly() {
        // [2 1; 1 3] x = [3; 5]: det 5, x = (3·3 − 5)/5 = 0.8, y = (2·5 − 3)/5 = 1.4
        close(
            &lstsq(&[2.0, 1.0, 1.0, 3.0], 2, 2, &[3.0, 5.0], 1),
            &[0.8, 1.4],
            1e-14,
        );
    }

    #[test]
    fn overdetermined_system_is_the_regression_line() {
        // Fit y = c0 + c1 x to (0, 1), (1, 2), (2, 2): the normal equations
        // [3 3; 3 5] c = [5; 6] give c1 = (3·6 − 3·5)/(15 − 9) = 0.5, c0 = (5 − 3·0.5)/3 = 7/6.
        let a = [1.0, 0.0, 1.0, 1.0, 1.0, 2.0];
        close(
            &lstsq(&a, 3, 2, &[1.0, 2.0, 2.0], 1),
            &[7.0 / 6.0, 0.5],
            1e-14,
        );
    }

    #[test]
    fn underdetermined_system_has_the_minimum_norm_solution() {
        // x + y = 2 has the minimum-norm solution (1, 1); x + 2y + 2z = 9 has (1, 2, 2).
        close(&lstsq(&[1.0, 1.0], 1, 2, &[2.0], 1), &[1.0, 1.0], 1e-14);
        close(
            &lstsq(&[1.0, 2.0, 2.0], 1, 3, &[9.0], 1),
            &[1.0, 2.0, 2.0],
            1e-14,
        );
    }

    #[test]
    fn rank_deficient_columns_share_the_weight() {
        // Two equal columns: x + y = 4 at every row; minimum norm gives x = y = 2. Two
        // right-hand sides are solved at once.
        let a = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        close(
            &lstsq(&a, 3, 2, &[4.0, 2.0, 4.0, 2.0, 4.0, 2.0], 2),
            &[2.0, 1.0, 2.0, 1.0],
            1e-13,
        );
        // An all-zero matrix gives the zero solution.
        close(&lstsq(&[0.0; 4], 2, 2, &[1.0, 1.0], 1), &[0.0, 0.0], 0.0);
    }
}
