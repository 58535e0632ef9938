//! Permutation learning with ensembles of wide networks (Giapitzakis, Back de Luca and
//! Fountoulakis, "Exact Learning of Permutations for Nonzero Binary Inputs with Logarithmic
//! Training Size and Quadratic Ensemble Complexity", arXiv:2502.16763).
//!
//! A two-layer ReLU net (standard parametrisation, first layer N(0, 1/k)) is trained on the k
//! pairs `(e_i, P e_i)`; in the infinite-width limit its output-layer term dominates the NTK, so
//! the trained net is a Gaussian process with mean `k(x, X) K^{-1} Y` and variance
//! `k(x, x) - k(x, X) K^{-1} k(X, x)` per output, with `k = k1(cos theta) / k` the degree-1
//! arc-cosine kernel on unit inputs ([`crate::kernels::standard_last_layer`]). For a normalised
//! 2-hot input the mean is `g_on` on its two target coordinates and `g_off < 0` elsewhere, so an
//! ensemble of m nets rounded at 0 permutes it exactly with probability
//! `Phi(g_on sqrt(m) / sigma)^2 Phi(|g_off| sqrt(m) / sigma)^(k-2)`; the probe reports the smallest
//! m reaching each target (notes section 9.4, target 1: the GP table).
//!
//! On a trained run folder (`nonlin probe permutation_ntk RUN_DIR`): a run of a one-hidden-layer
//! `mlp` (a typed error names the mismatch otherwise). The infinite-width GP of that architecture
//! is the last-layer kernel of its activation (`k(x, x') = E[phi(u) phi(v)]`, `(u, v)` of
//! covariance `C_W x.x'/n_0 + C_b`), with `C_W = fan_in Var(W_1)` and `C_b = Var(b_1)` read from
//! the run's initialisation (rebuilt from its seed; the trained weights when there is none). The
//! GP is conditioned on the run's training rows (one-hot labels, or the regression targets), with
//! a jitter of `1e-8` times the mean diagonal, and predicts the run's test rows: its test accuracy
//! (or MSE) beside the trained network's (f64, from its weights) and the run's logged one, their
//! agreement, and, as the paper's ensemble formula, the smallest ensemble of independent nets
//! (outputs `N(mean, std^2 / m)`, `std^2 = C_W2 (k(x, x) - k(x, X) K^{-1} k(X, x))`) whose
//! averaged argmax equals the GP's with mean probability `targets`, by the independent pairwise
//! approximation `prod_{c != top} Phi((mu_top - mu_c) sqrt(m / 2) / std)`.
//!
//! UNCONFIRMED: the notes' table rounds the ensemble size to the first m whose probability reaches
//! the target; Phi is computed with `erfc` for accuracy in the tails.

use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty};
use crate::kernels::linalg::solve;
use crate::kernels::{DenseLayer, DenseNet, Duals, Matrix, ScalarActivation, standard_last_layer};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "permutation_ntk";

/// Configuration of the permutation-ensemble probe (notes section 9.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PermutationNtkConfig {
    /// k, the permutation sizes.
    pub sizes: Vec<usize>,
    /// Ones per test input (the repo's `nnz`, default 2).
    pub ones: usize,
    /// Target probabilities of exact recovery.
    pub targets: Vec<f64>,
    /// k of the trained finite ensembles (target 2; empty: skip training).
    pub train_sizes: Vec<usize>,
    /// Hidden width of every trained net.
    pub width: usize,
    /// Nets trained per k.
    pub models: usize,
    /// Learning rate as a multiple of k / width (the NTK of this standard-parametrised net grows
    /// with the width; UNCONFIRMED: the notes only say "chosen to converge in <= 5000 steps").
    pub lr_scale: f64,
    /// Step cap per net; training stops earlier once `1/2 sum (f - y)^2` is below `tolerance`.
    pub max_steps: usize,
    pub tolerance: f64,
}

impl Default for PermutationNtkConfig {
    fn default() -> Self {
        Self {
            sizes: vec![4, 5, 6, 8, 10, 15, 20, 25, 30],
            ones: 2,
            targets: vec![0.9, 0.999],
            train_sizes: vec![],
            width: 2048,
            models: 150,
            lr_scale: 0.5,
            max_steps: 5000,
            tolerance: 1e-12,
        }
    }
}

/// The GP of one permutation size: on/off means, posterior std, and ensemble sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct PermutationGp {
    pub g_on: f64,
    pub g_off: f64,
    pub std: f64,
}

/// Standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

impl PermutationGp {
    /// The GP of size k for test inputs with `ones` ones.
    pub fn new(k: usize, ones: usize) -> Result<Self, TheoryError> {
        let duals = Duals::with_nodes(ScalarActivation::Relu, 2, 2)?;
        let train = Matrix::identity(k, k);
        let norm = (ones as f64).sqrt();
        let test = Matrix::from_fn(1, k, |_, j| if j < ones { 1.0 / norm } else { 0.0 });
        let kk = standard_last_layer(&train, &train, 1.0, 0.0, &duals);
        let kx = standard_last_layer(&test, &train, 1.0, 0.0, &duals);
        let kxx = standard_last_layer(&test, &test, 1.0, 0.0, &duals)[(0, 0)];
        let w = solve(&kk, &kx.transpose().to_owned())?;
        // Output j's mean is w at the training point that maps to j: on for the `ones` inputs.
        let g_on = w[(0, 0)];
        let g_off = if k > ones { w[(k - 1, 0)] } else { f64::NAN };
        let var = kxx - (0..k).map(|i| kx[(0, i)] * w[(i, 0)]).sum::<f64>();
        Ok(Self { g_on, g_off, std: var.max(0.0).sqrt() })
    }

    /// Probability that an ensemble of m nets rounds a test input exactly.
    pub fn success(&self, k: usize, ones: usize, m: usize) -> f64 {
        let s = self.std / (m as f64).sqrt();
        let on = phi(self.g_on / s).powi(ones as i32);
        let off = if k > ones { phi(-self.g_off / s).powi((k - ones) as i32) } else { 1.0 };
        on * off
    }

    /// The smallest ensemble reaching `target`.
    pub fn ensemble_size(&self, k: usize, ones: usize, target: f64) -> usize {
        let mut m = 1;
        while self.success(k, ones, m) < target && m < 10_000_000 {
            m += 1;
        }
        m
    }
}

fn target_key(t: f64) -> String {
    format!("p{}", t * 100.0)
}

impl Probe for PermutationNtkConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        non_empty(NAME, "sizes", &self.sizes)?;
        in_range(NAME, "ones", self.ones, 1, 1000)?;
        if self.sizes.iter().any(|&k| k <= self.ones || k > 2000) {
            return Err(TheoryError::config(NAME, "sizes", format!("every size must exceed `ones` ({}) and be at most 2000", self.ones)));
        }
        non_empty(NAME, "targets", &self.targets)?;
        if self.train_sizes.iter().any(|&k| k <= self.ones || k > 64) {
            return Err(TheoryError::config(NAME, "train_sizes", "every size must exceed `ones` and be at most 64"));
        }
        in_range(NAME, "width", self.width, 1, 1_000_000)?;
        in_range(NAME, "models", self.models, 1, 100_000)?;
        in_range(NAME, "max_steps", self.max_steps, 1, 10_000_000)?;
        crate::error::positive(NAME, "lr_scale", self.lr_scale)?;
        crate::error::positive(NAME, "tolerance", self.tolerance)?;
        if self.targets.iter().any(|t| !(*t > 0.0 && *t < 1.0)) {
            return Err(TheoryError::config(NAME, "targets", "must lie in (0, 1)"));
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for k in &self.sizes {
            for what in ["g_on", "g_off", "std"] {
                out.push(format!("k{k}.{what}"));
            }
            for t in &self.targets {
                out.push(format!("k{k}.models_{}", target_key(*t)));
            }
        }
        for what in ["hidden_width", "c_w", "c_b", "c_w2", "train_rows", "test_rows", "gp_accuracy", "model_accuracy", "gp_model_agreement", "gp_test_mse", "model_test_mse", "gp_mean_std", "logged_test_accuracy", "logged_test_mse"] {
            out.push(format!("run.{what}"));
        }
        for t in &self.targets {
            out.push(format!("run.models_{}", target_key(*t)));
        }
        for k in &self.train_sizes {
            for what in ["models_p90", "models_all", "gp_p90", "gp_all", "ratio_p90", "ratio_all", "acc_at_2x_gp", "acc_final", "max_steps_used"] {
                out.push(format!("train.k{k}.{what}"));
            }
        }
        out
    }

    fn random(&self) -> bool {
        !self.train_sizes.is_empty()
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        if input.model.is_some() {
            return self.on_run(input);
        }
        let mut report = ProbeReport::default();
        if !self.train_sizes.is_empty() {
            self.train_ensembles(input.seed, &mut report)?;
        }
        let mut header = vec!["k".to_string(), "g_on".into(), "g_off".into(), "posterior std".into()];
        header.extend(self.targets.iter().map(|t| format!("m ({}%)", t * 100.0)));
        let mut table = ReportTable::new("ensemble_sizes", "infinite-width GP of the trained ensemble: means, std, and models needed", header);
        let mut lines: Vec<Vec<(f64, f64)>> = vec![Vec::new(); self.targets.len()];
        for &k in &self.sizes {
            let gp = PermutationGp::new(k, self.ones)?;
            report.set(format!("k{k}.g_on"), gp.g_on);
            report.set(format!("k{k}.g_off"), gp.g_off);
            report.set(format!("k{k}.std"), gp.std);
            let mut row = vec![k.to_string(), format!("{:.4}", gp.g_on), format!("{:.4}", gp.g_off), format!("{:.4}", gp.std)];
            for (i, &t) in self.targets.iter().enumerate() {
                let m = gp.ensemble_size(k, self.ones, t);
                report.set(format!("k{k}.models_{}", target_key(t)), m as f64);
                row.push(m.to_string());
                lines[i].push((k as f64, m as f64));
            }
            table.push(row);
        }
        report.tables.push(table);
        let mut group = SeriesGroup::new("ensemble_sizes", "ensemble size for exact recovery of 2-hot inputs (GP prediction)", "k", "models");
        for (t, points) in self.targets.iter().zip(lines) {
            group = group.line(format!("{}%", t * 100.0), points);
        }
        report.series.push(group);
        report.notes.push(format!("Test inputs with {} ones, normalised; training set the k basis vectors; kernel k1(cos theta)/k (ReLU, first layer N(0, 1/k), no first-layer bias).", self.ones));
        Ok(report)
    }
}

/// `(fan_in Var(W), Var(b))` of a dense layer (population variances).
fn layer_scales(layer: &DenseLayer) -> (f64, f64) {
    let var = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64
    };
    let w: Vec<f64> = (0..layer.fan_out()).flat_map(|o| (0..layer.fan_in()).map(move |i| (o, i))).map(|(o, i)| layer.weight[(o, i)]).collect();
    (var(&w) * layer.fan_in() as f64, layer.bias.as_deref().map_or(0.0, var))
}

impl PermutationNtkConfig {
    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        let net = DenseNet::of_model(model, NAME)?;
        if net.layers.len() != 2 {
            return Err(TheoryError::Model { probe: NAME, reason: format!("its GP is that of a one-hidden-layer net; the run's mlp has {} hidden layers", net.layers.len() - 1) });
        }
        let train = run.train.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's training rows".into() })?;
        let init = match run.initial {
            Some(m) => DenseNet::of_model(m, NAME)?,
            None => net.clone(),
        };
        let (c_w, c_b) = layer_scales(&init.layers[0]);
        let (c_w2, _) = layer_scales(&init.layers[1]);
        let duals = Duals::new(net.activations[0].clone())?;
        let (x, t) = (&train.inputs, &data.inputs);
        let outputs = net.layers[1].fan_out();
        let y = match (&train.labels, &train.targets) {
            (Some(l), _) => Matrix::from_fn(l.len(), outputs, |i, c| f64::from(u8::from(l[i] as usize == c))),
            (None, Some(v)) => v.clone(),
            (None, None) => return Err(TheoryError::Model { probe: NAME, reason: "the run's training rows have neither labels nor targets".into() }),
        };
        let mut kk = standard_last_layer(x, x, c_w, c_b, &duals);
        let jitter = 1e-8 * (0..kk.nrows()).map(|i| kk[(i, i)]).sum::<f64>() / kk.nrows().max(1) as f64;
        for i in 0..kk.nrows() {
            kk[(i, i)] += jitter;
        }
        let kx = standard_last_layer(t, x, c_w, c_b, &duals);
        let weights = solve(&kk, &kx.transpose().to_owned())?;
        let mean = weights.transpose() * &y;
        let std: Vec<f64> = (0..t.nrows())
            .map(|r| {
                let kxx = standard_last_layer(&t.subrows(r, 1).to_owned(), &t.subrows(r, 1).to_owned(), c_w, c_b, &duals)[(0, 0)];
                let explained: f64 = (0..x.nrows()).map(|j| kx[(r, j)] * weights[(j, r)]).sum();
                (c_w2 * (kxx - explained).max(0.0)).sqrt()
            })
            .collect();
        let model_out = net.forward(t);
        let mut report = ProbeReport::default();
        for (k, v) in [("hidden_width", net.layers[0].fan_out() as f64), ("c_w", c_w), ("c_b", c_b), ("c_w2", c_w2), ("train_rows", x.nrows() as f64), ("test_rows", t.nrows() as f64), ("gp_mean_std", std.iter().sum::<f64>() / std.len().max(1) as f64)] {
            report.set(format!("run.{k}"), v);
        }
        let mut table = ReportTable::new("run_gp", "the run's architecture: infinite-width GP beside the trained network on the test rows", ["quantity", "GP", "trained network"]);
        if let Some(labels) = &data.labels {
            let argmax = |m: &Matrix, i: usize| crate::kernels::dense::argmax_row(m, i);
            let n = t.nrows().max(1) as f64;
            let gp_acc = (0..t.nrows()).filter(|&i| argmax(&mean, i) == labels[i] as usize).count() as f64 / n;
            let model_acc = (0..t.nrows()).filter(|&i| argmax(&model_out, i) == labels[i] as usize).count() as f64 / n;
            let agree = (0..t.nrows()).filter(|&i| argmax(&mean, i) == argmax(&model_out, i)).count() as f64 / n;
            report.set("run.gp_accuracy", gp_acc);
            report.set("run.model_accuracy", model_acc);
            report.set("run.gp_model_agreement", agree);
            report.set("run.logged_test_accuracy", run.final_metrics.get("test_accuracy").copied().unwrap_or(f64::NAN));
            table.push(["test accuracy".to_string(), format!("{gp_acc:.4}"), format!("{model_acc:.4}")]);
            // The ensemble formula: P(argmax of the m-net average = the GP's), per row.
            let success = |m: usize| {
                (0..t.nrows())
                    .map(|i| {
                        let top = argmax(&mean, i);
                        let s = std[i].max(1e-300) / (m as f64 / 2.0).sqrt();
                        (0..outputs).filter(|&c| c != top).map(|c| phi((mean[(i, top)] - mean[(i, c)]) / s)).product::<f64>()
                    })
                    .sum::<f64>()
                    / n
            };
            let mut curve = Vec::new();
            for &target in &self.targets {
                let mut m = 1;
                while success(m) < target && m < 1_000_000 {
                    m = (m * 2).max(m + 1);
                }
                // back off to the first m reaching the target by bisection on [m/2, m]
                let (mut lo, mut hi) = (m / 2, m);
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    if success(mid) >= target { hi = mid } else { lo = mid }
                }
                let m = if success(lo.max(1)) >= target { lo.max(1) } else { hi };
                report.set(format!("run.models_{}", target_key(target)), m as f64);
                curve.push((target, m as f64));
                table.push([format!("ensemble size for {}% agreement", target * 100.0), m.to_string(), "-".into()]);
            }
            report.series.push(SeriesGroup::new("run_ensemble", "ensemble size for the GP's argmax, by target probability", "target", "models").line("GP formula", curve));
        }
        if let Some(targets) = &data.targets {
            let mse = |m: &Matrix| {
                let mut sum = 0.0;
                for i in 0..m.nrows() {
                    for j in 0..m.ncols() {
                        sum += (m[(i, j)] - targets[(i, j)]).powi(2);
                    }
                }
                sum / (m.nrows() * m.ncols()).max(1) as f64
            };
            let (gp, trained) = (mse(&mean), mse(&model_out));
            report.set("run.gp_test_mse", gp);
            report.set("run.model_test_mse", trained);
            report.set("run.logged_test_mse", run.final_metrics.get("test_mse").copied().unwrap_or(f64::NAN));
            table.push(["test MSE".to_string(), format!("{gp:.5}"), format!("{trained:.5}")]);
        }
        report.tables.push(table);
        report.notes.push(format!(
            "Run: one hidden layer of {} {:?} units; C_W = {c_w:.4}, C_b = {c_b:.4} at initialisation (last layer C_W = {c_w2:.4}); GP on {} training rows.",
            net.layers[0].fan_out(),
            net.activations[0],
            x.nrows()
        ));
        Ok(report)
    }

    /// Target 2: ensembles of trained two-layer ReLU nets on the k basis pairs, their exact
    /// accuracy on every normalised 2-hot input by ensemble size, beside the GP prediction.
    fn train_ensembles(&self, seed: u64, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let mut rng = nonlin_data::Rng::seed(seed);
        let mut table = ReportTable::new("trained_ensembles", "trained ensembles: models needed for exact recovery of every 2-hot input", ["k", "width", "models for 90%", "GP 90%", "models for 100%", "GP 99.9% / all", "accuracy at 2 x GP 90%", "accuracy with all models"]);
        let mut group = SeriesGroup::new("trained_accuracy", "exact accuracy on all 2-hot inputs vs ensemble size (trained nets)", "models", "accuracy");
        for &k in &self.train_sizes {
            let perm = rng.permutation(k);
            let x = Matrix::identity(k, k);
            let y = Matrix::from_fn(k, k, |i, j| f64::from(u8::from(perm[i] == j)));
            // every input with `ones` ones (C(k, ones) of them), normalised
            let mut tests: Vec<Vec<usize>> = Vec::new();
            let mut stack = vec![(0usize, Vec::new())];
            while let Some((start, chosen)) = stack.pop() {
                if chosen.len() == self.ones {
                    tests.push(chosen);
                    continue;
                }
                for i in start..k {
                    let mut c = chosen.clone();
                    c.push(i);
                    stack.push((i + 1, c));
                }
            }
            let norm = (self.ones as f64).sqrt();
            let xt = Matrix::from_fn(tests.len(), k, |t, j| if tests[t].contains(&j) { 1.0 / norm } else { 0.0 });
            let target = Matrix::from_fn(tests.len(), k, |t, j| f64::from(u8::from(tests[t].iter().any(|&i| perm[i] == j))));
            let mut sum = Matrix::zeros(tests.len(), k);
            let mut curve = Vec::with_capacity(self.models);
            let lr = self.lr_scale * k as f64 / self.width as f64;
            let mut steps_used = 0usize;
            for _ in 0..self.models {
                let mut net = crate::kernels::DenseNet::standard_init(&[k, self.width, k], 1.0, 0.0, true, ScalarActivation::Relu, &mut rng);
                let mut step = 0;
                while step < self.max_steps && net.gd_step(&x, &y, lr) > self.tolerance {
                    step += 1;
                }
                steps_used = steps_used.max(step);
                sum += net.forward(&xt);
                let exact = (0..tests.len())
                    .filter(|&t| (0..k).all(|j| f64::from(u8::from(sum[(t, j)] > 0.0)) == target[(t, j)]))
                    .count();
                curve.push(exact as f64 / tests.len() as f64);
            }
            let gp = PermutationGp::new(k, self.ones)?;
            let (gp90, gp_all) = (gp.ensemble_size(k, self.ones, 0.9), gp.ensemble_size(k, self.ones, 0.999));
            let first = |level: f64| curve.iter().position(|&a| a >= level).map_or(f64::INFINITY, |m| (m + 1) as f64);
            let (m90, m_all) = (first(0.9), first(1.0));
            let at_2x = curve.get(2 * gp90 - 1).copied().unwrap_or(f64::NAN);
            let last = *curve.last().expect("at least one model");
            report.set(format!("train.k{k}.models_p90"), m90);
            report.set(format!("train.k{k}.models_all"), m_all);
            report.set(format!("train.k{k}.gp_p90"), gp90 as f64);
            report.set(format!("train.k{k}.gp_all"), gp_all as f64);
            report.set(format!("train.k{k}.ratio_p90"), m90 / gp90 as f64);
            report.set(format!("train.k{k}.ratio_all"), m_all / gp_all as f64);
            report.set(format!("train.k{k}.acc_at_2x_gp"), at_2x);
            report.set(format!("train.k{k}.acc_final"), last);
            report.set(format!("train.k{k}.max_steps_used"), steps_used as f64);
            let show = |v: f64| if v.is_finite() { format!("{v}") } else { format!("> {}", self.models) };
            table.push([k.to_string(), self.width.to_string(), show(m90), gp90.to_string(), show(m_all), gp_all.to_string(), format!("{at_2x:.4}"), format!("{last:.4}")]);
            group = group
                .line(format!("k = {k} trained"), curve.iter().enumerate().map(|(m, &a)| ((m + 1) as f64, a)).collect())
                .line(format!("k = {k} GP per-input success"), (1..=self.models).map(|m| (m as f64, gp.success(k, self.ones, m))).collect());
        }
        report.tables.push(table);
        report.series.push(group);
        report.notes.push(format!(
            "Trained nets: Linear(k, {w}) -> ReLU -> Linear({w}, k), W ~ N(0, 1/fan_in), biases 0 and trained, full-batch GD on 1/2 sum (f - y)^2 with lr = {} k / width until the loss is below {} (at most {} steps); accuracy is exact recovery of all C(k, {}) normalised inputs by the ensemble mean rounded at 0. The GP's per-input success is the expected accuracy.",
            self.lr_scale, self.tolerance, self.max_steps, self.ones, w = self.width
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes' table (section 9.4, target 1): g_on, g_off, posterior std, and the ensemble
    /// sizes for 90% / 99.9%, to +-2 models (means and std to the printed digits).
    #[test]
    fn gp_table_matches_the_notes() {
        let rows = [
            (5usize, 0.602, -0.0395, 0.114, 28usize, 96usize),
            (10, 0.618, -0.0233, 0.079, 58, 156),
            (15, 0.625, -0.0165, 0.064, 89, 219),
            (20, 0.628, -0.0128, 0.056, 121, 284),
            (25, 0.631, -0.0104, 0.050, 155, 351),
            (30, 0.632, -0.0088, 0.045, 190, 419),
        ];
        for (k, on, off, std, m90, m999) in rows {
            let gp = PermutationGp::new(k, 2).unwrap();
            assert!((gp.g_on - on).abs() < 1e-3, "k {k}: g_on {}", gp.g_on);
            assert!((gp.g_off - off).abs() < 1e-4, "k {k}: g_off {}", gp.g_off);
            assert!((gp.std - std).abs() < 1e-3, "k {k}: std {}", gp.std);
            let (a, b) = (gp.ensemble_size(k, 2, 0.9), gp.ensemble_size(k, 2, 0.999));
            assert!(a.abs_diff(m90) <= 2, "k {k}: {a} vs {m90}");
            assert!(b.abs_diff(m999) <= 2, "k {k}: {b} vs {m999}");
        }
    }

    /// Target 2 at a small scale: k = 4 at width 512, 40 nets: every net fits its 4 pairs, and
    /// the ensemble recovers the inputs once it is a few times the GP size (21 at 90%).
    #[test]
    fn trained_ensembles_follow_the_gp() {
        let config = PermutationNtkConfig { sizes: vec![4], train_sizes: vec![4], width: 512, models: 60, ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        let n = &report.numbers;
        assert!(n["train.k4.max_steps_used"] < 5000.0, "{}", n["train.k4.max_steps_used"]);
        assert!(n["train.k4.acc_final"] >= 0.8, "{}", n["train.k4.acc_final"]);
        assert!(n["train.k4.ratio_p90"] < 3.0, "{}", n["train.k4.ratio_p90"]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = PermutationNtkConfig::default();
        assert!(ok.validate().is_ok());
        for (field, c) in [
            ("sizes", PermutationNtkConfig { sizes: vec![], ..ok.clone() }),
            ("sizes", PermutationNtkConfig { sizes: vec![2], ..ok.clone() }),
            ("ones", PermutationNtkConfig { ones: 0, ..ok.clone() }),
            ("targets", PermutationNtkConfig { targets: vec![1.0], ..ok.clone() }),
            ("targets", PermutationNtkConfig { targets: vec![f64::NAN], ..ok.clone() }),
            ("train_sizes", PermutationNtkConfig { train_sizes: vec![1], ..ok.clone() }),
            ("width", PermutationNtkConfig { width: 0, ..ok.clone() }),
            ("lr_scale", PermutationNtkConfig { lr_scale: 0.0, ..ok.clone() }),
        ] {
            assert!(c.validate().unwrap_err().to_string().contains(field), "{field}");
        }
    }
}
