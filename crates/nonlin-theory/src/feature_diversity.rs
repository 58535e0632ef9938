//! Feature diversity across depth: the collapse measure of "PanGu-π: Enhancing Language Model
//! Architectures via Nonlinearity Compensation" (Wang et al., arXiv:2312.17276, §3) and the
//! effective dimension of its feature analysis.
//!
//! For a feature matrix Z (N tokens × d features) the diversity is the distance to the subspace
//! of matrices whose rows are all equal,
//!
//! ```text
//! d_M(Z) = ‖Z − 1·mean_rows(Z)‖_F
//! ```
//!
//! Stacked self-attention shrinks it layer after layer (the paper bounds the factor per layer by
//! √λ·H·s·υ₁ < 1): the tokens' features collapse onto one vector. [`relative_diversity`] divides
//! by ‖Z‖_F so that layers of different scale compare. The effective dimension d(q) is the number
//! of principal components needed to explain a fraction q of the variance of the rows (the paper
//! reports d(0.8) per layer).

/// A row-major matrix of features: `rows` tokens or samples of `cols` features.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    pub values: &'a [f64],
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Features<'a> {
    /// Wraps `values` as `[rows, cols]`.
    ///
    /// # Panics
    /// If `values.len() != rows * cols`.
    pub fn new(values: &'a [f64], rows: usize, cols: usize) -> Self {
        assert_eq!(values.len(), rows * cols, "features of {rows} x {cols}");
        Self { values, rows, cols }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }

    /// The mean over rows of each column.
    pub fn column_means(&self) -> Vec<f64> {
        let mut mean = vec![0.0; self.cols];
        for i in 0..self.rows {
            for (m, v) in mean.iter_mut().zip(self.row(i)) {
                *m += v;
            }
        }
        let n = self.rows.max(1) as f64;
        mean.iter_mut().for_each(|m| *m /= n);
        mean
    }
}

/// d_M(Z) = ‖Z − 1·mean_rows(Z)‖_F.
pub fn diversity(z: Features<'_>) -> f64 {
    let mean = z.column_means();
    (0..z.rows)
        .map(|i| {
            z.row(i)
                .iter()
                .zip(&mean)
                .map(|(v, m)| (v - m).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        .sqrt()
}

/// d_M(Z) / ‖Z‖_F, in [0, 1]: 0 when every row is the same, 1 when the rows average to 0.
/// A zero matrix has relative diversity 0.
pub fn relative_diversity(z: Features<'_>) -> f64 {
    let norm = z.values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 {
        0.0
    } else {
        diversity(z) / norm
    }
}

/// The variances of the principal components of the rows (eigenvalues of their covariance),
/// largest first.
pub fn principal_variances(z: Features<'_>) -> Vec<f64> {
    let d = z.cols;
    let mean = z.column_means();
    let mut cov = vec![0.0; d * d];
    let mut centred = vec![0.0; d];
    for i in 0..z.rows {
        for (c, (v, m)) in centred.iter_mut().zip(z.row(i).iter().zip(&mean)) {
            *c = v - m;
        }
        for a in 0..d {
            let ca = centred[a];
            if ca == 0.0 {
                continue;
            }
            for b in a..d {
                cov[a * d + b] += ca * centred[b];
            }
        }
    }
    let scale = 1.0 / (z.rows.max(2) - 1) as f64;
    for a in 0..d {
        for b in a..d {
            cov[a * d + b] *= scale;
            cov[b * d + a] = cov[a * d + b];
        }
    }
    let mut values = symmetric_eigenvalues(cov, d);
    values.sort_by(|a, b| b.total_cmp(a));
    values
}

/// d(q): the fewest principal components whose variances add up to at least `fraction` of the
/// total (0 for features without variance).
///
/// # Panics
/// If `fraction` is not in (0, 1].
pub fn effective_dimension(z: Features<'_>, fraction: f64) -> usize {
    assert!(
        fraction > 0.0 && fraction <= 1.0,
        "the explained fraction must be in (0, 1], got {fraction}"
    );
    let values = principal_variances(z);
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut sum = 0.0;
    for (k, v) in values.iter().enumerate() {
        sum += v.max(0.0);
        // a relative slack of 1e-12 keeps exact ties (3 of 6 = 0.5) from failing on rounding
        if sum >= fraction * total * (1.0 - 1e-12) {
            return k + 1;
        }
    }
    values.len()
}

/// Eigenvalues of a symmetric `n × n` matrix (row-major) by cyclic Jacobi rotations, to a
/// relative off-diagonal size of 1e-14.
pub fn symmetric_eigenvalues(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n, "a symmetric matrix of {n} x {n}");
    let total: f64 = a.iter().map(|v| v * v).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q].powi(2))
            .sum();
        if off <= 1e-28 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i * n + i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Z = [[1, 2], [3, 4]]: column means [2, 3], centred rows ±[1, 1], so d_M = sqrt(4) = 2;
    /// ‖Z‖_F = sqrt(1 + 4 + 9 + 16) = sqrt(30) = 5.4772256, relative 2 / 5.4772256 = 0.3651484.
    #[test]
    fn diversity_by_hand() {
        let z = Features::new(&[1.0, 2.0, 3.0, 4.0], 2, 2);
        assert!((diversity(z) - 2.0).abs() < 1e-12);
        assert!((relative_diversity(z) - 0.365_148_4).abs() < 1e-7);
        // collapsed: every row equal
        let same = Features::new(&[0.5, -1.0, 0.5, -1.0, 0.5, -1.0], 3, 2);
        assert_eq!(diversity(same), 0.0);
        assert_eq!(relative_diversity(same), 0.0);
        assert_eq!(relative_diversity(Features::new(&[0.0; 4], 2, 2)), 0.0);
        // rows averaging to zero: relative diversity 1
        let balanced = Features::new(&[1.0, -2.0, -1.0, 2.0], 2, 2);
        assert!((relative_diversity(balanced) - 1.0).abs() < 1e-12);
    }

    /// Rows ±a·e1, ±b·e2, ±c·e3 with a² = 3, b² = 2, c² = 1: zero mean, covariance
    /// diag(2a², 2b², 2c²)/5 = diag(1.2, 0.8, 0.4); the first component explains 3/6 = 0.5, the
    /// first two 5/6 = 0.833: d(0.5) = 1, d(0.8) = 2, d(0.9) = 3.
    #[test]
    fn effective_dimension_by_hand() {
        let (a, b, c) = (3f64.sqrt(), 2f64.sqrt(), 1.0);
        #[rustfmt::skip]
        let z = [
            a, 0.0, 0.0,  -a, 0.0, 0.0,
            0.0, b, 0.0,  0.0, -b, 0.0,
            0.0, 0.0, c,  0.0, 0.0, -c,
        ];
        let z = Features::new(&z, 6, 3);
        let v = principal_variances(z);
        for (found, want) in v.iter().zip([1.2, 0.8, 0.4]) {
            assert!((found - want).abs() < 1e-12, "{v:?}");
        }
        assert_eq!(effective_dimension(z, 0.5), 1);
        assert_eq!(effective_dimension(z, 0.8), 2);
        assert_eq!(effective_dimension(z, 0.9), 3);
        // rows on one line: one component explains everything
        let line = Features::new(&[1.0, 2.0, 2.0, 4.0, -1.0, -2.0], 3, 2);
        assert_eq!(effective_dimension(line, 0.99), 1);
        assert_eq!(
            effective_dimension(Features::new(&[1.0, 1.0], 2, 1), 0.8),
            0
        );
    }

    /// Eigenvalues of a fixed symmetric 4 × 4 matrix agree with NumPy's
    /// (`np.linalg.eigvalsh([[4,1,-2,2],[1,2,0,1],[-2,0,3,-2],[2,1,-2,-1]])` =
    /// [-2.1975170, 1.0843645, 2.2685314, 6.8446211]).
    #[test]
    fn jacobi_matches_numpy() {
        #[rustfmt::skip]
        let m = vec![
            4.0, 1.0, -2.0, 2.0,
            1.0, 2.0, 0.0, 1.0,
            -2.0, 0.0, 3.0, -2.0,
            2.0, 1.0, -2.0, -1.0,
        ];
        let mut v = symmetric_eigenvalues(m, 4);
        v.sort_by(f64::total_cmp);
        for (found, want) in v
            .iter()
            .zip([-2.197_517_0, 1.084_364_5, 2.268_531_4, 6.844_621_1])
        {
            assert!((found - want).abs() < 1e-6, "{v:?}");
        }
    }

    /// The notes' deterministic theory check on nonlin's decoder at initialisation: 12
    /// attention-only layers, N = 32 tokens, d = 64, H = 4, weights N(0, 1/d), no norms, full
    /// attention, inputs the embeddings of random tokens. Without shortcuts the relative
    /// diversity of layer 12 is at least 10x below the identity-shortcut stack's; one AS branch
    /// (r = 4) keeps at least the identity stack's.
    #[test]
    fn attention_stacks_collapse_without_shortcuts() {
        use burn::tensor::{Device, Int, Tensor, TensorData};
        use nonlin_nn::model::PanguLmConfig;

        let device = Device::flex();
        let stack = |residual: bool, branches: usize| PanguLmConfig {
            d_model: 64,
            layers: 12,
            heads: 4,
            attention_only: true,
            norm: false,
            residual,
            causal: false,
            shortcut_branches: branches,
            shortcut_reduction: 4,
            init_std: Some(0.125),
            ..PanguLmConfig::default()
        };
        let ids: Vec<i64> = (0..4 * 32).map(|i| (i * 37 + 11) % 50).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [4, 32]), &device);
        let r12 = |config: PanguLmConfig| {
            nonlin_nn::engine::seed(&device, 7);
            let model = config.init(50, 32, &device).unwrap();
            let z = model
                .residual_stream(tokens.clone())
                .unwrap()
                .pop()
                .unwrap();
            let values = z.into_data().try_into_vec_as::<f64>().unwrap();
            (0..4)
                .map(|g| {
                    relative_diversity(Features::new(
                        &values[g * 32 * 64..(g + 1) * 32 * 64],
                        32,
                        64,
                    ))
                })
                .sum::<f64>()
                / 4.0
        };
        let (none, identity, augmented) = (
            r12(stack(false, 0)),
            r12(stack(true, 0)),
            r12(stack(true, 1)),
        );
        assert!(
            none <= 0.1 * identity,
            "no shortcut {none} vs identity {identity}"
        );
        assert!(
            augmented >= identity,
            "AS {augmented} vs identity {identity}"
        );
        assert!(
            identity > 0.1,
            "the identity stack keeps its diversity: {identity}"
        );
    }

    #[test]
    #[should_panic(expected = "fraction")]
    fn a_fraction_outside_the_unit_interval_panics() {
        effective_dimension(Features::new(&[1.0, 2.0], 2, 1), 1.5);
    }
}
