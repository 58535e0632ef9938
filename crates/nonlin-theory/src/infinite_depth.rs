//! Infinite-depth NTK classifiers (Radhakrishnan, Belkin and Uhler, "Wide and Deep Neural
//! Networks Achieve Optimality for Classification", arXiv:2204.14126).
//!
//! On the unit sphere with a sphere-normalised dual `phi_hat(xi) = sum_k a_k^2 xi^k`
//! (`sum a_k^2 = 1`), the depth-L NTK follows `S^(l+1) = phi_hat(S^(l))`,
//! `Theta^(l+1) = Theta^(l) phi_hat'(S^(l)) + phi_hat(S^(l))` from `S^(0) = Theta^(0) = x.x'`, and
//! the classifier is `sign(Theta(x, X) Theta(X, X)^{-1} y)`. As L grows it becomes:
//! - **majority vote** when `phi_hat(0) > 0` (ReLU-like): correlations go to a fixed point and the
//!   kernel flattens;
//! - **1-nearest-neighbour** when `phi_hat(0) = phi_hat'(0) = 0`: correlations shrink
//!   super-exponentially and the nearest training point dominates;
//! - a **singular-kernel vote** `sign(sum_j y_j ||x - x_j||^{-alpha})` with
//!   `alpha = 2 ln(1/phi_hat'(0)) / ln phi_hat'(1)` when `phi_hat(0) = 0` and
//!   `0 < phi_hat'(0) < 1 < phi_hat'(1)`.
//!
//! Deep kernels underflow in f64 (at depth 20 in the 1-NN regime), so the recursion of a Hermite
//! dual runs in signed log space; each test row is scaled by its largest entry before leaving log
//! space (the sign of a prediction does not change), and the train kernel is divided by its
//! diagonal. The probe (notes section 4.4) measures agreement of the depth-L classifier with the
//! reference rule on random test points, and tables the regime of every registered activation.
//!
//! On a trained run folder (`nonlin probe infinite_depth RUN_DIR`): a classification run of an
//! `mlp` (a typed error names the mismatch otherwise). Its first hidden activation and its number
//! of hidden layers `L` give the dual and the depth; its training rows (up to `--rows`), projected
//! onto the unit sphere, are the kernel machine's data. Multi-class labels are one-hot columns of
//! the same kernel regression, predicted by argmax (for two classes this is the sign rule above).
//! The probe reports the accuracy on the run's test rows of the depth-`L` NTK classifier and of
//! depths `f L` for `f` in `run_depth_factors` (default 1, 10, 100: towards the limit), of the
//! limit rule of the activation's regime (an activation other than ReLU enters through the first
//! `run_hermite_terms` terms of its Hermite series, renormalised, in log space) (majority class, the nearest training point's class, or
//! the singular-kernel vote `argmax_c sum_{j in c} ||x - x_j||^{-alpha}`), their agreement, and
//! the trained network's own test accuracy on the same rows (computed in f64 from its weights).
//!
//! UNCONFIRMED choices (config fields): the half-space labels are flipped with probability
//! `label_noise` = 0.1; a prediction or reference of exactly 0 counts as +1; the random-label set
//! has exactly round(0.65 n) positives.

use nonlin_data::Rng;
use nonlin_nn::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty};
use crate::kernels::linalg::solve;
use crate::kernels::recursion::SphereDual;
use crate::kernels::{DenseNet, Duals, Matrix, ScalarActivation, gaussian};
use crate::probe::labels_of;
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "infinite_depth";

/// The reference rule a case is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Majority,
    NearestNeighbour,
    SingularVote,
}

/// How a case labels its training points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Labels {
    /// Random labels with this fraction in class +1.
    Random { positive: f64 },
    /// `sign(w.x)` for a random unit `w`, each flipped with probability `noise`.
    HalfSpace { noise: f64 },
}

/// One experiment: an activation given by squared Hermite coefficients (or `relu`), data, depths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Name in metric keys (`relu`, `a2a3`, ...).
    pub name: String,
    /// `a_k^2` of the normalised dual; empty for `activation`.
    #[serde(default)]
    pub hermite: Vec<f64>,
    /// A registered activation spec (used when `hermite` is empty; ReLU uses the arc-cosine form).
    #[serde(default)]
    pub activation: Option<String>,
    /// d, the input dimension (points on S^{d-1}).
    pub dim: usize,
    /// n, training points.
    pub train: usize,
    pub labels: Labels,
    /// L, the depths.
    pub depths: Vec<usize>,
    /// The rules agreement is measured with.
    pub rules: Vec<Rule>,
}

/// Configuration of the infinite-depth probe (notes section 4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfiniteDepthConfig {
    /// Random test points on the sphere.
    pub test_points: usize,
    pub cases: Vec<Case>,
    /// The activation whose regime is tabled (absent: the whole registry).
    pub activation: Option<String>,
    /// On a run folder: the depths `f L` (f in this list, L the run's hidden layers) at which the
    /// NTK classifier is evaluated.
    pub run_depth_factors: Vec<usize>,    /// On a run folder with an activation other than ReLU: Hermite terms of its sphere dual
    /// (`phi_hat = sum_{k < terms} a_k^2 xi^k`, renormalised; the missing mass is reported as
    /// `run.hermite_tail`). Quadrature at every kernel entry is too slow at depth 100 L.
    pub run_hermite_terms: usize,
}

impl Default for InfiniteDepthConfig {
    fn default() -> Self {
        let majority = Case {
            name: "relu".into(),
            hermite: vec![],
            activation: Some("relu".into()),
            dim: 3,
            train: 60,
            labels: Labels::Random { positive: 0.65 },
            depths: vec![10, 100, 1000, 10000],
            rules: vec![Rule::Majority],
        };
        let nn = Case {
            name: "a2a3".into(),
            hermite: vec![0.0, 0.0, 0.5, 0.5],
            activation: None,
            dim: 3,
            train: 60,
            labels: Labels::Random { positive: 0.65 },
            depths: vec![1, 4, 6, 8, 20, 40],
            rules: vec![Rule::NearestNeighbour],
        };
        let singular = Case {
            name: "a1a3".into(),
            hermite: vec![0.0, 0.5, 0.0, 0.5],
            activation: None,
            dim: 5,
            train: 300,
            labels: Labels::HalfSpace { noise: 0.1 },
            depths: vec![1, 5, 10, 40],
            rules: vec![Rule::SingularVote, Rule::NearestNeighbour],
        };
        let singular2 = Case { name: "a1a2".into(), hermite: vec![0.0, 0.3, 0.7], depths: vec![10, 40], ..singular.clone() };
        Self { test_points: 400, cases: vec![majority, nn, singular, singular2], activation: None, run_depth_factors: vec![1, 10, 100], run_hermite_terms: 40 }
    }
}

/// A real number as sign and log-magnitude, for kernels that underflow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignedLog {
    pub sign: f64,
    pub log: f64,
}

impl SignedLog {
    pub const ZERO: SignedLog = SignedLog { sign: 0.0, log: f64::NEG_INFINITY };

    pub fn new(x: f64) -> Self {
        if x == 0.0 { Self::ZERO } else { Self { sign: x.signum(), log: x.abs().ln() } }
    }

    pub fn value(self) -> f64 {
        self.sign * self.log.exp()
    }

    pub fn times(self, o: Self) -> Self {
        if self.sign == 0.0 || o.sign == 0.0 { Self::ZERO } else { Self { sign: self.sign * o.sign, log: self.log + o.log } }
    }

    pub fn plus(self, o: Self) -> Self {
        if self.sign == 0.0 {
            return o;
        }
        if o.sign == 0.0 {
            return self;
        }
        let (big, small) = if self.log >= o.log { (self, o) } else { (o, self) };
        let ratio = (small.log - big.log).exp() * small.sign * big.sign;
        let m = 1.0 + ratio;
        if m == 0.0 { Self::ZERO } else { Self { sign: big.sign * m.signum(), log: big.log + m.abs().ln() } }
    }
}

/// `(phi_hat(s), phi_hat'(s))` of squared Hermite coefficients, in signed log space.
fn hermite_dual_log(a2: &[f64], s: SignedLog) -> (SignedLog, SignedLog) {
    let (mut value, mut deriv) = (SignedLog::ZERO, SignedLog::ZERO);
    let mut power = SignedLog::new(1.0); // s^k
    for (k, &a) in a2.iter().enumerate() {
        if a > 0.0 {
            value = value.plus(SignedLog::new(a).times(power));
        }
        if k + 1 < a2.len() && a2[k + 1] > 0.0 {
            deriv = deriv.plus(SignedLog::new((k + 1) as f64 * a2[k + 1]).times(power));
        }
        power = power.times(s);
    }
    (value, deriv)
}

/// The depth-L NTK `Theta^(L)` of one pair with `x.x' = xi` in signed log space (Hermite duals),
/// or in f64 for other duals.
pub fn deep_ntk_log(xi: f64, depth: usize, dual: &SphereDual) -> SignedLog {
    match dual {
        SphereDual::Hermite(a2) => {
            let (mut s, mut theta) = (SignedLog::new(xi), SignedLog::new(xi));
            for _ in 0..depth {
                let (p, d) = hermite_dual_log(a2, s);
                theta = theta.times(d).plus(p);
                s = p;
            }
            theta
        }
        other => SignedLog::new(crate::kernels::sphere_ntk(xi, depth, other).1),
    }
}

/// Random unit vectors in R^d.
fn sphere_points(n: usize, d: usize, rng: &mut Rng) -> Matrix {
    let mut m = Matrix::from_fn(n, d, |_, _| gaussian(rng));
    for i in 0..n {
        let norm = (0..d).map(|j| m[(i, j)].powi(2)).sum::<f64>().sqrt();
        for j in 0..d {
            m[(i, j)] /= norm;
        }
    }
    m
}

fn sign(x: f64) -> f64 {
    if x >= 0.0 { 1.0 } else { -1.0 }
}

/// Predictions of the depth-L NTK classifier at the rows of `test`.
pub fn classify(train: &Matrix, y: &[f64], test: &Matrix, depth: usize, dual: &SphereDual) -> Result<Vec<f64>, TheoryError> {
    let n = train.nrows();
    let dot = |a: &Matrix, i: usize, b: &Matrix, j: usize| (0..a.ncols()).map(|k| a[(i, k)] * b[(j, k)]).sum::<f64>().clamp(-1.0, 1.0);
    let diag = deep_ntk_log(1.0, depth, dual);
    let k_train = Matrix::from_fn(n, n, |i, j| {
        let v = if i == j { diag } else { deep_ntk_log(dot(train, i, train, j), depth, dual) };
        v.sign * (v.log - diag.log).exp()
    });
    let alpha = solve(&k_train, &Matrix::from_fn(n, 1, |i, _| y[i]))?;
    let mut out = Vec::with_capacity(test.nrows());
    for t in 0..test.nrows() {
        let row: Vec<SignedLog> = (0..n).map(|j| deep_ntk_log(dot(test, t, train, j), depth, dual)).collect();
        let top = row.iter().map(|v| v.log).fold(f64::NEG_INFINITY, f64::max);
        let pred: f64 = row.iter().enumerate().map(|(j, v)| v.sign * (v.log - top).exp() * alpha[(j, 0)]).sum();
        out.push(sign(pred));
    }
    Ok(out)
}

/// The reference rule's predictions at the rows of `test`.
pub fn reference(rule: Rule, train: &Matrix, y: &[f64], test: &Matrix, alpha: f64) -> Vec<f64> {
    let d = train.ncols();
    (0..test.nrows())
        .map(|t| match rule {
            Rule::Majority => sign(y.iter().sum()),
            Rule::NearestNeighbour => {
                let best = (0..train.nrows())
                    .max_by(|&a, &b| {
                        let da: f64 = (0..d).map(|k| test[(t, k)] * train[(a, k)]).sum();
                        let db: f64 = (0..d).map(|k| test[(t, k)] * train[(b, k)]).sum();
                        da.total_cmp(&db)
                    })
                    .expect("a training set is not empty");
                y[best]
            }
            Rule::SingularVote => {
                // sum_j y_j r_j^{-alpha}, scaled by the nearest distance to stay finite
                let dist: Vec<f64> = (0..train.nrows()).map(|j| (0..d).map(|k| (test[(t, k)] - train[(j, k)]).powi(2)).sum::<f64>().sqrt()).collect();
                let nearest = dist.iter().copied().fold(f64::INFINITY, f64::min).max(1e-300);
                sign(dist.iter().zip(y).map(|(r, yj)| yj * (nearest / r).powf(alpha)).sum())
            }
        })
        .collect()
}

/// `(phi_hat(0), phi_hat'(0), phi_hat'(1))` and the regime of a dual.
pub fn regime(dual: &SphereDual) -> (f64, f64, f64, &'static str, f64) {
    let (p0, d0) = dual.eval(0.0);
    let (_, d1) = dual.eval(1.0);
    let tol = 1e-9;
    let alpha = 2.0 * (1.0 / d0).ln() / d1.ln();
    let (name, alpha) = if p0 > tol {
        ("majority vote", f64::NAN)
    } else if d0.abs() <= tol {
        ("1-nearest neighbour", f64::INFINITY)
    } else if d0 < 1.0 && d1 > 1.0 + tol {
        ("singular-kernel vote", alpha)
    } else {
        ("linear (no depth limit)", f64::NAN)
    };
    (p0, d0, d1, name, alpha)
}

fn rule_key(rule: Rule) -> &'static str {
    match rule {
        Rule::Majority => "majority",
        Rule::NearestNeighbour => "nn",
        Rule::SingularVote => "singular",
    }
}

impl Case {
    fn dual(&self) -> Result<SphereDual, TheoryError> {
        if !self.hermite.is_empty() {
            return SphereDual::hermite(&self.hermite);
        }
        let spec = self.activation.as_deref().unwrap_or("relu");
        let act = ScalarActivation::from_spec(spec)?;
        Ok(if act.is_relu() { SphereDual::ArcCosine } else { SphereDual::Quadrature(Box::new(Duals::new(act)?)) })
    }
}

impl Probe for InfiniteDepthConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        in_range(NAME, "test_points", self.test_points, 1, 1_000_000)?;
        for case in &self.cases {
            in_range(NAME, "cases.dim", case.dim, 2, 10_000)?;
            in_range(NAME, "cases.train", case.train, 1, 20_000)?;
            non_empty(NAME, "cases.depths", &case.depths)?;
            non_empty(NAME, "cases.rules", &case.rules)?;
            if case.depths.iter().any(|&l| l > 1_000_000) {
                return Err(TheoryError::config(NAME, "cases.depths", "must be at most 1000000"));
            }
            case.dual().map_err(|e| TheoryError::config(NAME, "cases.hermite", e.to_string()))?;
            match case.labels {
                Labels::Random { positive } if !(0.0..=1.0).contains(&positive) => {
                    return Err(TheoryError::config(NAME, "cases.labels", format!("positive must be in [0, 1], got {positive}")));
                }
                Labels::HalfSpace { noise } if !(0.0..=0.5).contains(&noise) => {
                    return Err(TheoryError::config(NAME, "cases.labels", format!("noise must be in [0, 0.5], got {noise}")));
                }
                _ => {}
            }
            if self.cases.iter().filter(|c| c.name == case.name).count() > 1 {
                return Err(TheoryError::config(NAME, "cases.name", format!("`{}` is used twice", case.name)));
            }
        }
        if let Some(a) = &self.activation {
            ScalarActivation::from_spec(a).map_err(|e| TheoryError::config(NAME, "activation", e.to_string()))?;
        }
        non_empty(NAME, "run_depth_factors", &self.run_depth_factors)?;
        for &f in &self.run_depth_factors {
            in_range(NAME, "run_depth_factors", f, 1, 10_000)?;
        }
        in_range(NAME, "run_hermite_terms", self.run_hermite_terms, 2, 150)?;
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for case in &self.cases {
            out.push(format!("{}.alpha", case.name));
            for rule in &case.rules {
                out.push(format!("{}.{}.rules_agree", case.name, rule_key(*rule)));
                for l in &case.depths {
                    out.push(format!("{}.{}.l{l}", case.name, rule_key(*rule)));
                }
            }
        }
        for name in self.table_names() {
            for what in ["phi0", "dphi0", "dphi1", "alpha"] {
                out.push(format!("regime.{name}.{what}"));
            }
        }
        for what in ["depth", "hermite_tail", "classes", "train_rows", "test_rows", "phi0", "dphi0", "dphi1", "alpha", "ntk_accuracy", "limit_accuracy", "ntk_limit_agreement", "model_accuracy", "model_ntk_agreement", "logged_test_accuracy"] {
            out.push(format!("run.{what}"));
        }
        for f in &self.run_depth_factors {
            out.push(format!("run.ntk_accuracy.x{f}"));
            out.push(format!("run.ntk_limit_agreement.x{f}"));
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        if input.model.is_some() {
            return self.on_run(input);
        }
        let mut report = ProbeReport::default();
        let mut rng = Rng::seed(input.seed);
        for case in &self.cases {
            self.run_case(case, &mut rng, &mut report)?;
        }
        self.regime_table(&mut report)?;
        Ok(report)
    }
}

/// Rows scaled to unit norm (a zero row stays zero).
fn unit_rows(x: &Matrix) -> Matrix {
    let mut m = x.clone();
    for i in 0..m.nrows() {
        let norm = (0..m.ncols()).map(|j| m[(i, j)].powi(2)).sum::<f64>().sqrt();
        if norm > 0.0 {
            for j in 0..m.ncols() {
                m[(i, j)] /= norm;
            }
        }
    }
    m
}

/// The depth-L NTK kernel regression of one-hot labels at the rows of `test`, by argmax: the
/// multi-class form of [`classify`] (same log-space scaling).
///
/// The recursion runs in plain f64 when it cannot underflow (`phi_hat(0) > 0`, or
/// `phi_hat'(0)^depth > 1e-250`: correlations shrink at most geometrically at that rate), and in
/// log space otherwise (the 1-NN regime); both give the same kernel where f64 holds it (tested in
/// `log_space_recursion_matches_plain`).
pub fn classify_classes(train: &Matrix, labels: &[u32], classes: usize, test: &Matrix, depth: usize, dual: &SphereDual) -> Result<Vec<usize>, TheoryError> {
    let n = train.nrows();
    let dot = |a: &Matrix, i: usize, b: &Matrix, j: usize| (0..a.ncols()).map(|k| a[(i, k)] * b[(j, k)]).sum::<f64>().clamp(-1.0, 1.0);
    let (p0, d0) = dual.eval(0.0);
    let plain = p0 > 1e-9 || (d0 > 0.0 && depth as f64 * d0.ln() > -250.0 * std::f64::consts::LN_10);
    let kernel = |xi: f64| if plain { SignedLog::new(crate::kernels::sphere_ntk(xi, depth, dual).1) } else { deep_ntk_log(xi, depth, dual) };
    let diag = kernel(1.0);
    let k_train = Matrix::from_fn(n, n, |i, j| {
        let v = if i == j { diag } else { kernel(dot(train, i, train, j)) };
        v.sign * (v.log - diag.log).exp()
    });
    let onehot = Matrix::from_fn(n, classes, |i, c| f64::from(u8::from(labels[i] as usize == c)));
    let alpha = solve(&k_train, &onehot)?;
    let mut out = Vec::with_capacity(test.nrows());
    for t in 0..test.nrows() {
        let row: Vec<SignedLog> = (0..n).map(|j| kernel(dot(test, t, train, j))).collect();
        let top = row.iter().map(|v| v.log).fold(f64::NEG_INFINITY, f64::max);
        let scores: Vec<f64> = (0..classes).map(|c| row.iter().enumerate().map(|(j, v)| v.sign * (v.log - top).exp() * alpha[(j, c)]).sum()).collect();
        out.push(argmax(&scores));
    }
    Ok(out)
}

/// The index of the largest entry (the first on ties).
fn argmax(v: &[f64]) -> usize {
    (1..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// The multi-class limit rule of a regime at the rows of `test`: the majority class, the nearest
/// training point's class, or the singular-kernel vote; none for a regime without a limit rule.
pub fn reference_classes(regime: &str, alpha: f64, train: &Matrix, labels: &[u32], classes: usize, test: &Matrix) -> Option<Vec<usize>> {
    let d = train.ncols();
    let mut counts = vec![0.0; classes];
    for &l in labels {
        counts[l as usize] += 1.0;
    }
    let majority = argmax(&counts);
    let rule = match regime {
        "majority vote" => Rule::Majority,
        "1-nearest neighbour" => Rule::NearestNeighbour,
        "singular-kernel vote" => Rule::SingularVote,
        _ => return None,
    };
    Some(
        (0..test.nrows())
            .map(|t| match rule {
                Rule::Majority => majority,
                Rule::NearestNeighbour => {
                    let dots: Vec<f64> = (0..train.nrows()).map(|j| (0..d).map(|k| test[(t, k)] * train[(j, k)]).sum()).collect();
                    labels[argmax(&dots)] as usize
                }
                Rule::SingularVote => {
                    let dist: Vec<f64> = (0..train.nrows()).map(|j| (0..d).map(|k| (test[(t, k)] - train[(j, k)]).powi(2)).sum::<f64>().sqrt()).collect();
                    let nearest = dist.iter().copied().fold(f64::INFINITY, f64::min).max(1e-300);
                    let mut votes = vec![0.0; classes];
                    for (r, &l) in dist.iter().zip(labels) {
                        votes[l as usize] += (nearest / r.max(1e-300)).powf(alpha);
                    }
                    argmax(&votes)
                }
            })
            .collect(),
    )
}

fn agree_classes(a: &[usize], b: &[usize]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
}

impl InfiniteDepthConfig {
    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        let net = DenseNet::of_model(model, NAME)?;
        let test_labels = labels_of(data, NAME)?;
        let train = run.train.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's training rows".into() })?;
        let train_labels = labels_of(train, NAME)?;
        let act = net.activations.first().cloned().ok_or_else(|| TheoryError::Model { probe: NAME, reason: "the run's mlp has no hidden layer (no activation, no depth)".into() })?;
        let depth = net.activations.len();
        let (dual, tail) = if act.is_relu() {
            (SphereDual::ArcCosine, 0.0)
        } else {
            let duals = Duals::new(act.clone())?;
            let squares: Vec<f64> = crate::kernels::hermite_coefficients(&duals, self.run_hermite_terms).iter().map(|a| a * a).collect();
            let phi2 = duals.moments(1.0).phi2;
            (SphereDual::hermite(&squares)?, 1.0 - squares.iter().sum::<f64>() / phi2)
        };
        let classes = train_labels.iter().chain(test_labels).copied().max().unwrap_or(0) as usize + 1;
        let (xs, ts) = (unit_rows(&train.inputs), unit_rows(&data.inputs));
        let (p0, d0, d1, regime_name, alpha) = regime(&dual);
        let limit = reference_classes(regime_name, alpha, &xs, train_labels, classes, &ts);
        let truth: Vec<usize> = test_labels.iter().map(|&l| l as usize).collect();
        let model_pred: Vec<usize> = {
            let out = net.forward(&data.inputs);
            (0..out.nrows()).map(|i| crate::kernels::dense::argmax_row(&out, i)).collect()
        };
        let mut report = ProbeReport::default();
        let mut table = ReportTable::new("run_depths", "the run's data: test accuracy of the depth-L NTK classifier and its agreement with the limit rule", ["depth", "NTK accuracy", "agreement with the limit rule"]);
        let mut acc_line = Vec::new();
        let mut agree_line = Vec::new();
        for &f in &self.run_depth_factors {
            let l = f * depth;
            let pred = classify_classes(&xs, train_labels, classes, &ts, l, &dual)?;
            let acc = agree_classes(&pred, &truth);
            let agree = limit.as_ref().map_or(f64::NAN, |r| agree_classes(&pred, r));
            report.set(format!("run.ntk_accuracy.x{f}"), acc);
            report.set(format!("run.ntk_limit_agreement.x{f}"), agree);
            table.push([l.to_string(), format!("{acc:.4}"), format!("{agree:.4}")]);
            acc_line.push(((l as f64).log10(), acc));
            agree_line.push(((l as f64).log10(), agree));
            if f == self.run_depth_factors[0] {
                report.set("run.ntk_accuracy", acc);
                report.set("run.ntk_limit_agreement", agree);
                report.set("run.model_ntk_agreement", agree_classes(&pred, &model_pred));
            }
        }
        let limit_acc = limit.as_ref().map_or(f64::NAN, |r| agree_classes(r, &truth));
        let model_acc = agree_classes(&model_pred, &truth);
        for (k, v) in [("depth", depth as f64), ("hermite_tail", tail), ("classes", classes as f64), ("train_rows", xs.nrows() as f64), ("test_rows", ts.nrows() as f64), ("phi0", p0), ("dphi0", d0), ("dphi1", d1), ("alpha", alpha), ("limit_accuracy", limit_acc), ("model_accuracy", model_acc), ("logged_test_accuracy", run.final_metrics.get("test_accuracy").copied().unwrap_or(f64::NAN))] {
            report.set(format!("run.{k}"), v);
        }
        report.tables.push(table);
        let mut group = SeriesGroup::new("run_depths", "the run's data: NTK classifier by depth", "log10 depth L", "fraction").line("NTK test accuracy", acc_line).line("agreement with the limit rule", agree_line);
        if !(limit_acc.is_nan()) {
            let ends = (self.run_depth_factors.iter().map(|&f| ((f * depth) as f64).log10()).fold(f64::INFINITY, f64::min), self.run_depth_factors.iter().map(|&f| ((f * depth) as f64).log10()).fold(f64::NEG_INFINITY, f64::max));
            group = group.line("limit rule test accuracy", vec![(ends.0, limit_acc), (ends.1, limit_acc)]);
        }
        group = group.line("trained network test accuracy", vec![(0.0, model_acc), ((depth as f64).log10(), model_acc)]);
        report.series.push(group);
        report.notes.push(format!(
            "Run: {} hidden layers of {:?} (limit: {regime_name}), {} training rows and {} test rows on the unit sphere, {classes} classes. Trained network: {:.4} test accuracy on these rows; the depth-{depth} NTK classifier {:.4}; the limit rule {:.4}.",
            depth, act, xs.nrows(), ts.nrows(), model_acc, report.numbers["run.ntk_accuracy"], limit_acc
        ));
        Ok(report)
    }

    fn table_names(&self) -> Vec<String> {
        match &self.activation {
            Some(a) => vec![a.clone()],
            None => Activation::NAMES.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn run_case(&self, case: &Case, rng: &mut Rng, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let dual = case.dual()?;
        let train = sphere_points(case.train, case.dim, rng);
        let y: Vec<f64> = match case.labels {
            Labels::Random { positive } => {
                let pos = (positive * case.train as f64).round() as usize;
                let mut y: Vec<f64> = (0..case.train).map(|i| if i < pos { 1.0 } else { -1.0 }).collect();
                rng.shuffle(&mut y);
                y
            }
            Labels::HalfSpace { noise } => {
                let w: Vec<f64> = (0..case.dim).map(|_| gaussian(rng)).collect();
                (0..case.train)
                    .map(|i| {
                        let s = sign((0..case.dim).map(|k| w[k] * train[(i, k)]).sum());
                        if rng.uniform_f64() < noise { -s } else { s }
                    })
                    .collect()
            }
        };
        let test = sphere_points(self.test_points, case.dim, rng);
        let (_, _, _, _, alpha) = regime(&dual);
        report.set(format!("{}.alpha", case.name), alpha);
        let refs: Vec<(Rule, Vec<f64>)> = case.rules.iter().map(|&r| (r, reference(r, &train, &y, &test, alpha))).collect();
        if refs.len() >= 2 {
            for (rule, r) in &refs {
                let other = &refs.iter().find(|(o, _)| o != rule).expect("two rules").1;
                report.set(format!("{}.{}.rules_agree", case.name, rule_key(*rule)), agreement(r, other));
            }
        } else if let Some((rule, _)) = refs.first() {
            report.set(format!("{}.{}.rules_agree", case.name, rule_key(*rule)), 1.0);
        }
        let mut table = ReportTable::new(&format!("agreement_{}", case.name), &format!("{}: agreement of the depth-L NTK classifier with the reference rules (d = {}, n = {})", case.name, case.dim, case.train), std::iter::once("L".to_string()).chain(case.rules.iter().map(|r| rule_key(*r).to_string())));
        let mut lines: Vec<Vec<(f64, f64)>> = vec![Vec::new(); refs.len()];
        for &l in &case.depths {
            let pred = classify(&train, &y, &test, l, &dual)?;
            let mut row = vec![l.to_string()];
            for (i, (rule, r)) in refs.iter().enumerate() {
                let a = agreement(&pred, r);
                report.set(format!("{}.{}.l{l}", case.name, rule_key(*rule)), a);
                row.push(format!("{a:.3}"));
                lines[i].push(((l as f64).log10(), a));
            }
            table.push(row);
        }
        report.tables.push(table);
        let mut group = SeriesGroup::new(&format!("agreement_{}", case.name), &format!("{}: agreement with the reference rule by depth", case.name), "log10 depth L", "agreement");
        for ((rule, _), points) in refs.iter().zip(lines) {
            group = group.line(rule_key(*rule), points);
        }
        report.series.push(group);
        Ok(())
    }

    fn regime_table(&self, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let mut table = ReportTable::new("regimes", "infinite-depth limit of the NTK classifier by activation", ["activation", "phi_hat(0)", "phi_hat'(0)", "phi_hat'(1)", "limit", "alpha"]);
        for name in self.table_names() {
            let act = ScalarActivation::from_spec(&name)?;
            let dual = if act.is_relu() { SphereDual::ArcCosine } else { SphereDual::Quadrature(Box::new(Duals::new(act)?)) };
            let (p0, d0, d1, limit, alpha) = regime(&dual);
            report.set(format!("regime.{name}.phi0"), p0);
            report.set(format!("regime.{name}.dphi0"), d0);
            report.set(format!("regime.{name}.dphi1"), d1);
            report.set(format!("regime.{name}.alpha"), alpha);
            table.push([name.clone(), format!("{p0:.4}"), format!("{d0:.4}"), format!("{d1:.4}"), limit.to_string(), if alpha.is_finite() { format!("{alpha:.3}") } else { "—".into() }]);
        }
        report.tables.push(table);
        Ok(())
    }
}

fn agreement(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With two classes the one-hot kernel regression predicts what the sign rule predicts
    /// (`f_1 - f_0 = K(x, X) K^{-1} (y_1 - y_0)` with `y_1 - y_0 = +-1`).
    #[test]
    fn multi_class_form_agrees_with_the_sign_rule() {
        let mut rng = Rng::seed(4);
        let train = sphere_points(30, 3, &mut rng);
        let test = sphere_points(50, 3, &mut rng);
        let labels: Vec<u32> = (0..30).map(|i| u32::from(train[(i, 0)] + 0.3 * train[(i, 1)] > 0.0)).collect();
        let y: Vec<f64> = labels.iter().map(|&l| if l == 1 { 1.0 } else { -1.0 }).collect();
        for (depth, dual) in [(3, SphereDual::ArcCosine), (8, SphereDual::hermite(&[0.0, 0.0, 0.5, 0.5]).unwrap())] {
            let signs = classify(&train, &y, &test, depth, &dual).unwrap();
            let classes = classify_classes(&train, &labels, 2, &test, depth, &dual).unwrap();
            for (s, c) in signs.iter().zip(&classes) {
                assert_eq!(usize::from(*s > 0.0), *c);
            }
        }
    }

    /// Limit rules by hand on three training points of the circle: classes 0, 1, 1.
    #[test]
    fn multi_class_limit_rules_by_hand() {
        let train = crate::kernels::linalg::from_rows(3, 2, &[1.0, 0.0, 0.0, 1.0, -1.0, 0.0]);
        let test = crate::kernels::linalg::from_rows(1, 2, &[0.8, 0.6]);
        let labels = [0, 1, 1];
        // majority: class 1 (two of three)
        assert_eq!(reference_classes("majority vote", f64::NAN, &train, &labels, 2, &test), Some(vec![1]));
        // nearest: (1, 0) has dot 0.8 > 0.6 > -0.8
        assert_eq!(reference_classes("1-nearest neighbour", f64::INFINITY, &train, &labels, 2, &test), Some(vec![0]));
        // distances 0.632, 0.894, 1.897; alpha = 2: class 0 votes 1, class 1 (0.632/0.894)^2 +
        // (0.632/1.897)^2 = 0.5 + 0.111 = 0.611: class 0; alpha = 0.1 flattens it: class 1
        assert_eq!(reference_classes("singular-kernel vote", 2.0, &train, &labels, 2, &test), Some(vec![0]));
        assert_eq!(reference_classes("singular-kernel vote", 0.1, &train, &labels, 2, &test), Some(vec![1]));
        assert_eq!(reference_classes("linear (no depth limit)", f64::NAN, &train, &labels, 2, &test), None);
    }

    #[test]
    fn signed_log_arithmetic() {
        // 3 + (-5) = -2; (-2) * 4 = -8; 1e-300 * 1e-300 underflows in f64 but not here
        let (a, b) = (SignedLog::new(3.0), SignedLog::new(-5.0));
        assert!((a.plus(b).value() + 2.0).abs() < 1e-15);
        assert!((SignedLog::new(-2.0).times(SignedLog::new(4.0)).value() + 8.0).abs() < 1e-14);
        let tiny = SignedLog::new(1e-300).times(SignedLog::new(1e-300));
        assert!((tiny.log - (-600.0 * 10f64.ln())).abs() < 1e-9);
        assert_eq!(a.plus(SignedLog::new(-3.0)), SignedLog::ZERO);
    }

    /// The log-space recursion equals the plain one where neither underflows.
    #[test]
    fn log_space_recursion_matches_plain() {
        let dual = SphereDual::hermite(&[0.0, 0.5, 0.0, 0.5]).unwrap();
        for xi in [-0.7, 0.2, 0.9] {
            let plain = crate::kernels::sphere_ntk(xi, 6, &dual).1;
            assert!((deep_ntk_log(xi, 6, &dual).value() - plain).abs() < 1e-12 * plain.abs().max(1.0));
        }
    }

    /// alpha for the notes' singular cases: a1^2 = a3^2 = 1/2 gives 2 ln 2 / ln 2 = 2;
    /// a1^2 = 0.3, a2^2 = 0.7 gives 2 ln(1/0.3) / ln 1.7 = 4.54.
    #[test]
    fn regimes_and_alpha() {
        let (_, _, _, name, alpha) = regime(&SphereDual::hermite(&[0.0, 0.5, 0.0, 0.5]).unwrap());
        assert_eq!(name, "singular-kernel vote");
        assert!((alpha - 2.0).abs() < 1e-12);
        let (_, _, _, _, alpha) = regime(&SphereDual::hermite(&[0.0, 0.3, 0.7]).unwrap());
        assert!((alpha - 4.54).abs() < 5e-3);
        assert_eq!(regime(&SphereDual::ArcCosine).3, "majority vote");
        assert_eq!(regime(&SphereDual::hermite(&[0.0, 0.0, 0.5, 0.5]).unwrap()).3, "1-nearest neighbour");
    }

    /// Notes 4.4(a) and (b) at reduced size: ReLU agrees with the majority at L = 1000 (>= 0.99),
    /// a2^2 = a3^2 = 1/2 with 1-NN at L = 8 (>= 0.99), and deeper (L = 40, log space) still.
    #[test]
    fn deep_limits_are_reached() {
        let config = InfiniteDepthConfig {
            test_points: 150,
            cases: vec![
                Case { depths: vec![1000], ..InfiniteDepthConfig::default().cases[0].clone() },
                Case { depths: vec![8, 40], ..InfiniteDepthConfig::default().cases[1].clone() },
            ],
            activation: Some("tanh".into()),
            ..InfiniteDepthConfig::default()
        };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        assert!(report.numbers["relu.majority.l1000"] >= 0.99, "{}", report.numbers["relu.majority.l1000"]);
        assert!(report.numbers["a2a3.nn.l8"] >= 0.99, "{}", report.numbers["a2a3.nn.l8"]);
        assert!(report.numbers["a2a3.nn.l40"] >= 0.99);
        // tanh is odd with a1^2 < 1 < phi_hat'(1): a singular-kernel limit
        assert!(report.numbers["regime.tanh.alpha"].is_finite());
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = InfiniteDepthConfig::default();
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.cases[1].hermite = vec![-1.0, 0.5];
        assert!(c.validate().unwrap_err().to_string().contains("hermite"));
        let mut c = ok.clone();
        c.cases[0].depths = vec![];
        assert!(c.validate().unwrap_err().to_string().contains("depths"));
        let mut c = ok.clone();
        c.cases[0].labels = Labels::Random { positive: f64::NAN };
        assert!(c.validate().unwrap_err().to_string().contains("labels"));
        let mut c = ok.clone();
        c.cases[0].dim = 0;
        assert!(c.validate().unwrap_err().to_string().contains("dim"));
        let c = InfiniteDepthConfig { test_points: 0, ..ok.clone() };
        assert!(c.validate().unwrap_err().to_string().contains("test_points"));
        let mut c = ok.clone();
        c.cases[1].name = "relu".into();
        assert!(c.validate().unwrap_err().to_string().contains("twice"));
        for terms in [0, 1, 1000] {
            let c = InfiniteDepthConfig { run_hermite_terms: terms, ..ok.clone() };
            assert!(c.validate().unwrap_err().to_string().contains("run_hermite_terms"), "{terms}");
        }
        for factors in [vec![], vec![0], vec![1, 1_000_000]] {
            let c = InfiniteDepthConfig { run_depth_factors: factors.clone(), ..ok.clone() };
            assert!(c.validate().unwrap_err().to_string().contains("run_depth_factors"), "{factors:?}");
        }
    }
}
