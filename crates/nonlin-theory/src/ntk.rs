//! The neural tangent kernel (Jacot, Gabriel and Hongler, "Neural Tangent Kernel: Convergence
//! and Generalization in Neural Networks", arXiv:1806.07572).
//!
//! In NTK parametrisation (`a~^(l+1) = W a^(l) / sqrt(n_l) + beta b`, all weights N(0, 1)) the
//! empirical kernel `Theta_hat(x, x') = sum_p df(x)/dp df(x')/dp` converges as the width grows to
//! the deterministic `Theta^(L)` of the recursion `Theta^(l+1) = Theta^(l) Sigmadot^(l+1) +
//! Sigma^(l+1)` (see [`crate::kernels::recursion`]), and gradient flow on the squared loss trains
//! the infinite-width net to the kernel regressor
//!
//! `f_inf(x) = f_0(x) + Theta(x, X) Theta(X, X)^{-1} (Y - f_0(X))`.
//!
//! The probe (notes section 3.4): (a) analytic values on the unit circle; (b) the relative
//! Frobenius error of the empirical NTK against the analytic one by width, and the slope of
//! log(error) against log(width) (about -1/2); (c) full-batch gradient descent on 4 points against
//! `f_inf` on 101 test angles, and the kernel drift `||Theta_T - Theta_0|| / ||Theta_0||` by width.
//! Given a trained model (a run folder), it reports the model's empirical NTK on rows of its data
//! instead of (b) and (c): trace, top eigenvalue, condition number, alignment with the labels, and
//! the agreement of the factorised form with per-sample reverse passes.
//!
//! UNCONFIRMED (config fields): beta = 0.1; the 33 inputs are the angles `2 pi i / 33`; the 101
//! test angles are evenly spaced over `[-pi, pi]`; training minimises `1/2 sum_i (f(x_i) - y_i)^2`.

use nonlin_data::Rng;
use nonlin_nn::Model;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::linalg::{solve, symmetric_eigen};
use crate::kernels::{DenseNet, Duals, Matrix, ScalarActivation, cka, empirical_ntk::empirical_ntk, ntk_parametrisation};
use crate::{Probe, ProbeData, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "ntk";

/// Configuration of the NTK probe (notes section 3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NtkConfig {
    /// The activation (any registered spec).
    pub activation: String,
    /// L, the number of weight layers.
    pub depth: usize,
    /// beta, the bias scale of the NTK parametrisation (paper 0.1, UNCONFIRMED).
    pub beta: f64,
    /// Inputs on the unit circle for the convergence study.
    pub circle_points: usize,
    /// Widths of the convergence study.
    pub widths: Vec<usize>,
    /// Random initialisations per width (the error is their mean).
    pub inits: usize,
    /// Training angles of the kernel-regression check.
    pub train_angles: Vec<f64>,
    /// Their targets.
    pub train_targets: Vec<f64>,
    /// Learning rate of full-batch gradient descent.
    pub lr: f64,
    /// Gradient-descent steps.
    pub steps: usize,
    /// Test angles, evenly spaced over [-pi, pi].
    pub test_points: usize,
    /// Widths of the kernel-regression check.
    pub regression_widths: Vec<usize>,
    /// Rows of a trained model's data whose NTK is computed.
    pub model_rows: usize,
}

impl Default for NtkConfig {
    fn default() -> Self {
        Self {
            activation: "relu".into(),
            depth: 4,
            beta: 0.1,
            circle_points: 33,
            widths: vec![50, 200, 800, 3200],
            inits: 5,
            train_angles: vec![-2.5, -1.0, 0.3, 1.7],
            train_targets: vec![0.4, -0.3, 0.5, -0.2],
            lr: 1.0,
            steps: 3000,
            test_points: 101,
            regression_widths: vec![256, 1024],
            model_rows: 64,
        }
    }
}

/// Points `(cos g, sin g)` on the unit circle.
pub fn circle(angles: &[f64]) -> Matrix {
    Matrix::from_fn(angles.len(), 2, |i, j| if j == 0 { angles[i].cos() } else { angles[i].sin() })
}

/// Slope of the least-squares line through `(x, y)`.
pub fn fitted_slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

impl NtkConfig {
    fn duals(&self) -> Result<Duals, TheoryError> {
        Duals::new(ScalarActivation::from_spec(&self.activation)?)
    }

    fn widths_of(&self, n: usize) -> Vec<usize> {
        let mut w = vec![2];
        w.extend(std::iter::repeat_n(n, self.depth - 1));
        w.push(1);
        w
    }

    /// (a) Analytic values at x0, x0 rotated by pi/2, and -x0.
    fn analytic(&self, duals: &Duals, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let x = circle(&[0.0, std::f64::consts::FRAC_PI_2, std::f64::consts::PI]);
        let k = ntk_parametrisation(&x, self.depth, self.beta, duals)?;
        report.set("analytic.theta_same", k.ntk[(0, 0)]);
        report.set("analytic.theta_orthogonal", k.ntk[(0, 1)]);
        report.set("analytic.theta_opposite", k.ntk[(0, 2)]);
        let angles: Vec<f64> = (0..=180).map(|i| -std::f64::consts::PI + std::f64::consts::TAU * i as f64 / 180.0).collect();
        let mut pts = vec![[1.0, 0.0]];
        pts.extend(angles.iter().map(|g| [g.cos(), g.sin()]));
        let xs = Matrix::from_fn(pts.len(), 2, |i, j| pts[i][j]);
        let k = ntk_parametrisation(&xs, self.depth, self.beta, duals)?;
        report.series.push(
            SeriesGroup::new("analytic_ntk", &format!("analytic NTK Theta(x0, x(gamma)), depth {}, beta {}", self.depth, self.beta), "angle gamma", "Theta")
                .line("NTK", angles.iter().enumerate().map(|(i, &g)| (g, k.ntk[(0, i + 1)])).collect())
                .line("NNGP", angles.iter().enumerate().map(|(i, &g)| (g, k.nngp[(0, i + 1)])).collect()),
        );
        Ok(())
    }

    /// (b) Empirical against analytic NTK by width.
    fn convergence(&self, duals: &Duals, rng: &mut Rng, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let angles: Vec<f64> = (0..self.circle_points).map(|i| std::f64::consts::TAU * i as f64 / self.circle_points as f64).collect();
        let x = circle(&angles);
        let analytic = ntk_parametrisation(&x, self.depth, self.beta, duals)?.ntk;
        let norm = analytic.norm_l2();
        let act = ScalarActivation::from_spec(&self.activation)?;
        let mut table = ReportTable::new("ntk_convergence", "relative Frobenius error of the empirical NTK (mean over inits)", ["width", "error", "error * sqrt(width)"]);
        let mut points = Vec::new();
        let mut scaled_min = f64::INFINITY;
        let mut scaled_max = 0.0f64;
        for &n in &self.widths {
            let mut total = 0.0;
            for _ in 0..self.inits {
                let net = DenseNet::ntk_init(&self.widths_of(n), self.beta, act.clone(), rng);
                total += (&net.ntk(&x, 0) - &analytic).norm_l2() / norm;
            }
            let err = total / self.inits as f64;
            let scaled = err * (n as f64).sqrt();
            report.set(format!("rel_error.n{n}"), err);
            scaled_min = scaled_min.min(scaled);
            scaled_max = scaled_max.max(scaled);
            table.push([n.to_string(), format!("{err:.4}"), format!("{scaled:.3}")]);
            points.push(((n as f64).log10(), err.log10()));
        }
        let slope = fitted_slope(&points);
        report.set("rel_error.slope", slope);
        report.set("rel_error.scaled_min", scaled_min);
        report.set("rel_error.scaled_max", scaled_max);
        report.tables.push(table);
        report.series.push(
            SeriesGroup::new("ntk_error_vs_width", "relative error of the empirical NTK vs width (log-log)", "log10 width", "log10 relative error")
                .line("measured", points.clone())
                .line("slope -1/2 through the first point", points.iter().map(|&(lx, _)| (lx, points[0].1 - 0.5 * (lx - points[0].0))).collect()),
        );
        report.notes.push(format!(
            "(b) {} inputs on the unit circle (angles 2 pi i / {}), depth {}, beta {}, {} inits per width; fitted slope of log error against log width {slope:.3}.",
            self.circle_points, self.circle_points, self.depth, self.beta, self.inits
        ));
        Ok(())
    }

    /// (c) Gradient descent against the kernel regressor.
    fn regression(&self, duals: &Duals, rng: &mut Rng, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let train = circle(&self.train_angles);
        let y = Matrix::from_fn(self.train_targets.len(), 1, |i, _| self.train_targets[i]);
        let test_angles: Vec<f64> = (0..self.test_points)
            .map(|i| -std::f64::consts::PI + std::f64::consts::TAU * i as f64 / (self.test_points - 1).max(1) as f64)
            .collect();
        let test = circle(&test_angles);
        let m = train.nrows();
        // Analytic kernels on [train; test].
        let all = Matrix::from_fn(m + test.nrows(), 2, |i, j| if i < m { train[(i, j)] } else { test[(i - m, j)] });
        let k = ntk_parametrisation(&all, self.depth, self.beta, duals)?.ntk;
        let k_train = Matrix::from_fn(m, m, |i, j| k[(i, j)]);
        let k_test = Matrix::from_fn(test.nrows(), m, |i, j| k[(m + i, j)]);
        let act = ScalarActivation::from_spec(&self.activation)?;
        let mut table = ReportTable::new("kernel_regression", "trained net vs the kernel regressor f_inf", ["width", "max |f_T - f_inf|", "final train loss", "NTK drift"]);
        let mut group = SeriesGroup::new("kernel_regression", "trained network vs kernel regression on the test angles", "angle", "f(x)");
        let mut devs = Vec::new();
        for &n in &self.regression_widths {
            let mut net = DenseNet::ntk_init(&self.widths_of(n), self.beta, act.clone(), rng);
            let f0_train = net.forward(&train);
            let f0_test = net.forward(&test);
            let theta0 = net.ntk(&train, 0);
            let alpha = solve(&k_train, &(&y - &f0_train))?;
            let f_inf = &f0_test + &k_test * &alpha;
            let mut loss = f64::NAN;
            for _ in 0..self.steps {
                loss = net.gd_step(&train, &y, self.lr);
            }
            let f_t = net.forward(&test);
            let dev = (0..test.nrows()).map(|i| (f_t[(i, 0)] - f_inf[(i, 0)]).abs()).fold(0.0, f64::max);
            let drift = (&net.ntk(&train, 0) - &theta0).norm_l2() / theta0.norm_l2();
            report.set(format!("regression.max_dev.n{n}"), dev);
            report.set(format!("regression.train_loss.n{n}"), loss);
            report.set(format!("regression.drift.n{n}"), drift);
            table.push([n.to_string(), format!("{dev:.4}"), format!("{loss:.3e}"), format!("{drift:.4}")]);
            group = group
                .line(format!("trained, width {n}"), test_angles.iter().enumerate().map(|(i, &g)| (g, f_t[(i, 0)])).collect())
                .line(format!("f_inf, width {n}"), test_angles.iter().enumerate().map(|(i, &g)| (g, f_inf[(i, 0)])).collect());
            devs.push(dev);
        }
        if devs.len() >= 2 {
            report.set("regression.dev_ratio", devs[0] / devs[devs.len() - 1]);
        }
        report.tables.push(table);
        report.series.push(group);
        report.notes.push(format!(
            "(c) train angles {:?}, targets {:?}, full-batch GD on 1/2 sum (f - y)^2 with lr {} for {} steps; f_inf uses the analytic NTK and the same net's f_0; dev_ratio is the first width's deviation over the last's.",
            self.train_angles, self.train_targets, self.lr, self.steps
        ));
        Ok(())
    }

    /// A trained model's empirical NTK on rows of its data.
    fn model_kernel(&self, model: &Model, data: Option<&ProbeData>, rng: &mut Rng, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let data = data.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "the model's data is needed (rows to evaluate the kernel on)".into() })?;
        let n = data.inputs.nrows().min(self.model_rows);
        let rows: Vec<usize> = {
            let mut all: Vec<usize> = (0..data.inputs.nrows()).collect();
            rng.shuffle(&mut all);
            all.truncate(n);
            all
        };
        let x = Matrix::from_fn(n, data.inputs.ncols(), |i, j| data.inputs[(rows[i], j)]);
        let theta = match model {
            Model::Mlp(mlp) => {
                let dense = DenseNet::from_mlp(mlp)?;
                let fast = dense.ntk(&x, 0);
                // The slow reference on a few rows: per-sample reverse passes through Burn.
                let few = n.min(8);
                let xs = Matrix::from_fn(few, x.ncols(), |i, j| x[(i, j)]);
                let slow = empirical_ntk(model, &xs, 0)?;
                let fast_few = Matrix::from_fn(few, few, |i, j| fast[(i, j)]);
                report.set("model.reverse_vs_factorised", (&slow - &fast_few).norm_l2() / slow.norm_l2());
                fast
            }
            other => empirical_ntk(other, &x, 0)?,
        };
        let (values, _) = symmetric_eigen(&theta)?;
        let top = values.last().copied().unwrap_or(f64::NAN);
        let bottom = values.first().copied().unwrap_or(f64::NAN);
        report.set("model.rows", n as f64);
        report.set("model.ntk_trace", (0..n).map(|i| theta[(i, i)]).sum());
        report.set("model.ntk_top_eigenvalue", top);
        report.set("model.ntk_condition", top / bottom.abs().max(f64::MIN_POSITIVE));
        if let Some(labels) = &data.labels {
            let target = Matrix::from_fn(n, n, |i, j| if labels[rows[i]] == labels[rows[j]] { 1.0 } else { 0.0 });
            report.set("model.ntk_label_alignment", cka(&theta, &target));
        }
        report.series.push(
            SeriesGroup::new("model_ntk_spectrum", "eigenvalues of the model's empirical NTK (output 0), largest first", "index", "eigenvalue")
                .log_y()
                .line("eigenvalue", values.iter().rev().enumerate().map(|(i, &v)| (i as f64, v)).collect()),
        );
        report.notes.push(format!("Empirical NTK of output 0 of the given model on {n} random rows of its test split."));
        Ok(())
    }
}

impl Probe for NtkConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        ScalarActivation::from_spec(&self.activation).map_err(|e| TheoryError::config(NAME, "activation", e.to_string()))?;
        in_range(NAME, "depth", self.depth, 1, 1000)?;
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(TheoryError::config(NAME, "beta", format!("must be a number >= 0, got {}", self.beta)));
        }
        in_range(NAME, "circle_points", self.circle_points, 2, 10_000)?;
        in_range(NAME, "inits", self.inits, 1, 10_000)?;
        in_range(NAME, "steps", self.steps, 0, 10_000_000)?;
        in_range(NAME, "test_points", self.test_points, 2, 100_000)?;
        in_range(NAME, "model_rows", self.model_rows, 1, 100_000)?;
        non_empty(NAME, "widths", &self.widths)?;
        if self.widths.iter().chain(&self.regression_widths).any(|&w| w == 0 || w > 100_000) {
            return Err(TheoryError::config(NAME, "widths", "every width must be in 1..=100000"));
        }
        positive(NAME, "lr", self.lr)?;
        non_empty(NAME, "train_angles", &self.train_angles)?;
        if self.train_angles.len() != self.train_targets.len() {
            return Err(TheoryError::config(NAME, "train_targets", format!("{} targets for {} angles", self.train_targets.len(), self.train_angles.len())));
        }
        if self.train_angles.iter().chain(&self.train_targets).any(|v| !v.is_finite()) {
            return Err(TheoryError::config(NAME, "train_angles", "angles and targets must be finite"));
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = ["analytic.theta_same", "analytic.theta_orthogonal", "analytic.theta_opposite"].map(String::from).to_vec();
        for n in &self.widths {
            out.push(format!("rel_error.n{n}"));
        }
        out.extend(["rel_error.slope", "rel_error.scaled_min", "rel_error.scaled_max", "regression.dev_ratio"].map(String::from));
        for n in &self.regression_widths {
            for what in ["max_dev", "train_loss", "drift"] {
                out.push(format!("regression.{what}.n{n}"));
            }
        }
        out.extend(
            ["model.rows", "model.ntk_trace", "model.ntk_top_eigenvalue", "model.ntk_condition", "model.ntk_label_alignment", "model.reverse_vs_factorised"].map(String::from),
        );
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let mut report = ProbeReport::default();
        let duals = self.duals()?;
        let mut rng = Rng::seed(input.seed);
        self.analytic(&duals, &mut report)?;
        match input.model {
            Some(model) => self.model_kernel(model, input.data, &mut rng, &mut report)?,
            None => {
                self.convergence(&duals, &mut rng, &mut report)?;
                self.regression(&duals, &mut rng, &mut report)?;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notes 3.4(a): Theta(x0, x0) = 0.2825, Theta(x0, x0 rotated by pi/2) = 0.0927,
    /// Theta(x0, -x0) = 0.0644, to 1e-4.
    #[test]
    fn analytic_values_match_the_notes() {
        let mut report = ProbeReport::default();
        let config = NtkConfig::default();
        config.analytic(&config.duals().unwrap(), &mut report).unwrap();
        assert!((report.numbers["analytic.theta_same"] - 0.2825).abs() < 1e-4);
        assert!((report.numbers["analytic.theta_orthogonal"] - 0.0927).abs() < 1e-4);
        assert!((report.numbers["analytic.theta_opposite"] - 0.0644).abs() < 1e-4);
    }

    /// Notes 3.4(b): relative error 0.256 at width 200 and 0.086 at width 800 (mean of 5 inits).
    /// The mean of 5 is itself noisy (width 50 gives 0.28-0.51 across seeds here, 0.458 in the
    /// notes), so: both within 35% of the notes' and a 4x wider net halves the error (1/sqrt(n))
    /// within a factor 1.5.
    #[test]
    fn empirical_ntk_converges_like_one_over_sqrt_width() {
        let config = NtkConfig { widths: vec![200, 800], ..Default::default() };
        let mut report = ProbeReport::default();
        config.convergence(&config.duals().unwrap(), &mut Rng::seed(0), &mut report).unwrap();
        let (e200, e800) = (report.numbers["rel_error.n200"], report.numbers["rel_error.n800"]);
        assert!((e200 - 0.256).abs() < 0.35 * 0.256, "{e200}");
        assert!((e800 - 0.086).abs() < 0.35 * 0.086, "{e800}");
        assert!((e200 / e800 - 2.0).abs() < 1.0, "{}", e200 / e800);
    }

    /// Notes 3.4(c) at a small width: after training, the net is within 0.1 of f_inf (width 256
    /// gives 0.069 in the notes) and fits the 4 points.
    #[test]
    fn training_matches_kernel_regression() {
        let config = NtkConfig { regression_widths: vec![256], steps: 3000, ..Default::default() };
        let mut report = ProbeReport::default();
        config.regression(&config.duals().unwrap(), &mut Rng::seed(1), &mut report).unwrap();
        assert!(report.numbers["regression.max_dev.n256"] <= 0.1, "{}", report.numbers["regression.max_dev.n256"]);
        assert!(report.numbers["regression.train_loss.n256"] < 1e-12);
    }

    /// A least-squares line through exact points: slope 2.
    #[test]
    fn slopes() {
        assert!((fitted_slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-15);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = NtkConfig::default();
        assert!(ok.validate().is_ok());
        let cases: Vec<(&str, NtkConfig)> = vec![
            ("activation", NtkConfig { activation: "nope".into(), ..ok.clone() }),
            ("depth", NtkConfig { depth: 0, ..ok.clone() }),
            ("beta", NtkConfig { beta: -0.1, ..ok.clone() }),
            ("beta", NtkConfig { beta: f64::NAN, ..ok.clone() }),
            ("widths", NtkConfig { widths: vec![], ..ok.clone() }),
            ("widths", NtkConfig { widths: vec![0], ..ok.clone() }),
            ("widths", NtkConfig { regression_widths: vec![usize::MAX], ..ok.clone() }),
            ("lr", NtkConfig { lr: 0.0, ..ok.clone() }),
            ("train_targets", NtkConfig { train_targets: vec![1.0], ..ok.clone() }),
            ("train_angles", NtkConfig { train_angles: vec![f64::INFINITY; 4], ..ok.clone() }),
        ];
        for (field, config) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
