//! The few dense linear-algebra operations the probes need, in f64, on `faer` (eigen, SVD,
//! Cholesky, LU, products). Probes call these rather than faer directly so an upgrade of faer
//! touches one file.

use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, Side};

use crate::TheoryError;

/// A dense row-major-agnostic f64 matrix (faer's).
pub type Matrix = Mat<f64>;

/// A matrix from row-major values.
///
/// # Shapes
/// - `values`: `rows * cols`, row-major
pub fn from_rows(rows: usize, cols: usize, values: &[f64]) -> Matrix {
    assert_eq!(
        values.len(),
        rows * cols,
        "from_rows: {rows} x {cols} needs {} values",
        rows * cols
    );
    Mat::from_fn(rows, cols, |i, j| values[i * cols + j])
}

/// The matrix as row-major values.
pub fn to_rows(m: &Matrix) -> Vec<f64> {
    let mut out = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            out.push(m[(i, j)]);
        }
    }
    out
}

/// `a b`.
pub fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    a * b
}

/// The Gram matrix `a a^T` of the rows of `a`.
///
/// # Shapes
/// - `a`: `[n, p]`; returns `[n, n]`
pub fn gram(a: &Matrix) -> Matrix {
    a * a.transpose()
}

/// The transpose as a new matrix.
pub fn transpose(a: &Matrix) -> Matrix {
    a.transpose().to_owned()
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix.
pub fn symmetric_eigen(a: &Matrix) -> Result<(Vec<f64>, Matrix), TheoryError> {
    let eig = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| TheoryError::numerical("symmetric eigendecomposition", format!("{e:?}")))?;
    let values = eig.S().column_vector().iter().copied().collect();
    Ok((values, eig.U().to_owned()))
}

/// Singular values, largest first.
pub fn singular_values(a: &Matrix) -> Result<Vec<f64>, TheoryError> {
    let values = a
        .singular_values()
        .map_err(|e| TheoryError::numerical("singular values", format!("{e:?}")))?;
    Ok(values)
}

/// The thin SVD `a = U diag(s) V^T`: `(U, s, V)` with s largest first.
pub fn svd(a: &Matrix) -> Result<(Matrix, Vec<f64>, Matrix), TheoryError> {
    let svd = a
        .thin_svd()
        .map_err(|e| TheoryError::numerical("SVD", format!("{e:?}")))?;
    let s = svd.S().column_vector().iter().copied().collect();
    Ok((svd.U().to_owned(), s, svd.V().to_owned()))
}

/// Solves `a x = b` for symmetric positive-definite `a` by Cholesky.
pub fn solve_spd(a: &Matrix, b: &Matrix) -> Result<Matrix, TheoryError> {
    let llt = a.llt(Side::Lower).map_err(|e| {
        TheoryError::numerical(
            "Cholesky factorisation",
            format!("{e:?} (is the kernel matrix singular?)"),
        )
    })?;
    Ok(llt.solve(b))
}

/// Solves `a x = b` for a square `a` by LU with partial pivoting; an error when the solution is
/// not finite (a singular matrix).
pub fn solve(a: &Matrix, b: &Matrix) -> Result<Matrix, TheoryError> {
    let x = a.partial_piv_lu().solve(b);
    if x.col_iter().all(|c| c.iter().all(|v| v.is_finite())) {
        Ok(x)
    } else {
        Err(TheoryError::numerical(
            "linear solve",
            "the matrix is singular",
        ))
    }
}

/// The inverse of a square matrix by LU.
pub fn inverse(a: &Matrix) -> Matrix {
    a.partial_piv_lu().inverse()
}

/// A random matrix with orthonormal columns (`rows >= cols`), from the QR factorisation of a
/// Gaussian matrix with the signs fixed so the distribution is Haar (Mezzadri 2007).
pub fn random_orthonormal(rows: usize, cols: usize, rng: &mut nonlin_data::Rng) -> Matrix {
    assert!(
        rows >= cols,
        "random_orthonormal: {rows} rows < {cols} columns"
    );
    let g = Mat::from_fn(rows, cols, |_, _| super::gaussian(rng));
    let qr = g.qr();
    let q = qr.compute_thin_Q();
    let r = qr.thin_R();
    Mat::from_fn(rows, cols, |i, j| {
        let sign = if r[(j, j)] < 0.0 { -1.0 } else { 1.0 };
        q[(i, j)] * sign
    })
}

/// Frobenius norm.
pub fn frobenius(a: &Matrix) -> f64 {
    a.norm_l2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_decompositions_agree_with_hand_values() {
        // [[2, 1], [1, 3]] x = [1, 2]: det 5, x = [(3*1 - 1*2)/5, (2*2 - 1*1)/5] = [0.2, 0.6]
        let a = from_rows(2, 2, &[2.0, 1.0, 1.0, 3.0]);
        let b = from_rows(2, 1, &[1.0, 2.0]);
        for x in [solve(&a, &b).unwrap(), solve_spd(&a, &b).unwrap()] {
            assert!((x[(0, 0)] - 0.2).abs() < 1e-14 && (x[(1, 0)] - 0.6).abs() < 1e-14);
        }
        // eigenvalues of [[2,1],[1,3]]: (5 ± sqrt(5))/2 = 1.381966, 3.618034
        let (values, _) = symmetric_eigen(&a).unwrap();
        assert!((values[0] - 1.381_966_011_250_105).abs() < 1e-12);
        assert!((values[1] - 3.618_033_988_749_895).abs() < 1e-12);
        // singular values of diag(3, -2) are 3 and 2
        let d = from_rows(2, 2, &[3.0, 0.0, 0.0, -2.0]);
        let s = singular_values(&d).unwrap();
        assert!((s[0] - 3.0).abs() < 1e-14 && (s[1] - 2.0).abs() < 1e-14);
        let singular = from_rows(2, 2, &[1.0, 2.0, 2.0, 4.0]);
        assert!(solve(&singular, &b).is_err());
    }

    #[test]
    fn random_orthonormal_columns_are_orthonormal() {
        let mut rng = nonlin_data::Rng::seed(3);
        let q = random_orthonormal(7, 4, &mut rng);
        let qtq = q.transpose() * &q;
        for i in 0..4 {
            for j in 0..4 {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((qtq[(i, j)] - expected).abs() < 1e-12);
            }
        }
    }
}
