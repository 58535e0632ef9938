//! Deep linear networks: exact learning dynamics (Saxe, McClelland and Ganguli, "Exact solutions
//! to the nonlinear dynamics of learning in deep linear neural networks", arXiv:1312.6120).
//!
//! With whitened inputs (`Sigma11 = I`) and `Sigma31 = U S V^T`, decoupled balanced initial
//! conditions `W1 = R diag(a) V^T`, `W2 = U diag(a) R^T` make every mode evolve alone; the mode
//! strength `u = a^2` follows `tau du/dt = 2 u (s - u)`, solved by
//!
//! `u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)`, reaching `uf` at
//! `t = (tau / 2s) ln[uf (s - u0) / (u0 (s - uf))]`, with `tau = 1 / lr` (time in steps).
//!
//! The probe has three parts (notes section 1.4):
//! (a) the closed form beside plain gradient descent, per mode (times to 99% of s, curves);
//! (b) a depth sweep of `1/2 ||A - W_D ... W_1||_F^2` from random orthogonal against scaled
//!     Gaussian initialisation: steps until the loss falls below `loss_drop` of its start, best
//!     learning rate of a grid, worst of `sweep_seeds` seeds;
//! (c) the gradient-norm ratio `||dL/dh_1|| / ||dL/dh_D||` of a deep tanh net, orthogonal with gain
//!     g against Gaussian with variance g^2/N.
//!
//! On a trained run folder (`nonlin probe deep_linear RUN_DIR`) the probe reads a run of an `mlp`
//! whose activations are all `identity` on a regression task (a typed error names the mismatch
//! otherwise): from the run's training rows it forms `Sigma31 = Y^T X / n` of the centred rows
//! (the paper's `E[y x^T]` has no biases; the run's biases absorb the means) and its SVD, and
//! per mode `alpha` (at most 8) reports `s_alpha`, the strength `u_alpha = u_alpha^T W_tot v_alpha` of the end-to-end map `W_tot = W_D ... W_1` at the
//! run's initialisation (rebuilt from its seed) and at its end, and the closed-form prediction from
//! the initial strength after the run's steps: `tau du/dt = D u^{2-2/D} (s - u)` (the `u(t)`
//! above for D = 2, integrated by RK4 otherwise), with `tau = o / (2 lr)` because the run's loss
//! is the MSE averaged over its `o` outputs (`2/o` times the paper's `1/2 ||.||^2`). Beside it: the
//! run's logged training loss and the closed-form loss `(tr Sigma33 - sum_a (2 s_a u_a - u_a^2)) / o`
//! (centred `Sigma33`: the loss with the means fitted).
//! The closed form assumes whitened inputs, no biases, plain gradient descent and a small
//! balanced start; the probe reports `run.whitening_error = ||Sigma11 - I||_F / sqrt(N1)` and the
//! run's optimiser so a reader sees how far the run is from those assumptions.
//!
//! UNCONFIRMED choices, all config fields: the learning-rate grid of (b) (the notes write
//! "{0.5, 0.3, ..., 0.002}"; we take the 1-2-3-5 ladder 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01,
//! 0.005, 0.003, 0.002); a run that diverges (non-finite loss, or above 1e6 times its start) counts
//! as not reaching the threshold; (c) averages the norms over `grad_inputs` random inputs and
//! back-propagates a random Gaussian top-layer gradient.

use nonlin_data::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::linalg::random_orthonormal;
use crate::kernels::{DenseNet, Matrix, ScalarActivation, gaussian};
use crate::{Probe, ProbeData, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "deep_linear";

/// Configuration of the deep-linear probe; defaults are the notes' set-up (section 1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeepLinearConfig {
    /// N1, input units of the closed-form check.
    pub inputs: usize,
    /// N2, hidden units of the closed-form check.
    pub hidden: usize,
    /// N3, output units of the closed-form check.
    pub outputs: usize,
    /// s_a, the singular values of Sigma31 (the remaining modes are 0).
    pub strengths: Vec<f64>,
    /// a0, the initial per-layer strength of every mode (u0 = a0^2).
    pub init_strength: f64,
    /// lr = 1/tau of the closed-form check.
    pub lr: f64,
    /// Gradient steps of the closed-form check.
    pub steps: usize,
    /// uf / s, the fraction of s whose time is compared.
    pub reach: f64,
    /// d, the width of every layer in the depth sweep.
    pub sweep_dim: usize,
    /// D, the depths (weight matrices) of the sweep.
    pub depths: Vec<usize>,
    /// The learning rates tried at every depth.
    pub sweep_lrs: Vec<f64>,
    /// Seeds per (depth, init, lr); the worst counts.
    pub sweep_seeds: usize,
    /// Step cap of the sweep.
    pub max_steps: usize,
    /// The sweep stops when the loss falls below this fraction of its start.
    pub loss_drop: f64,
    /// Depth of the tanh gradient-norm probe (0: skip it).
    pub grad_depth: usize,
    /// Width of the tanh gradient-norm probe.
    pub grad_width: usize,
    /// Gains g of the gradient-norm probe.
    pub gains: Vec<f64>,
    /// Random inputs the gradient norms are averaged over.
    pub grad_inputs: usize,
}

impl Default for DeepLinearConfig {
    fn default() -> Self {
        Self {
            inputs: 8,
            hidden: 16,
            outputs: 8,
            strengths: vec![3.0, 2.0, 1.0, 0.5],
            init_strength: 1e-3,
            lr: 0.01,
            steps: 2000,
            reach: 0.99,
            sweep_dim: 16,
            depths: vec![1, 2, 4, 8, 16, 32],
            sweep_lrs: vec![0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.003, 0.002],
            sweep_seeds: 2,
            max_steps: 6000,
            loss_drop: 1e-3,
            grad_depth: 50,
            grad_width: 256,
            gains: vec![0.9, 1.0, 1.1, 1.3],
            grad_inputs: 8,
        }
    }
}

/// The closed-form strength `u(t)` of a mode of strength `s` from `u0`, time in steps of `lr`.
pub fn closed_form_strength(s: f64, u0: f64, lr: f64, t: f64) -> f64 {
    let e = (2.0 * s * t * lr).exp();
    if e.is_infinite() {
        return s;
    }
    s * e / (e - 1.0 + s / u0)
}

/// The closed-form time (in steps) for a mode to grow from `u0` to `uf`.
pub fn closed_form_time(s: f64, u0: f64, uf: f64, lr: f64) -> f64 {
    (1.0 / (2.0 * s * lr)) * (uf * (s - u0) / (u0 * (s - uf))).ln()
}

/// The depth-D balanced dynamics `tau du/dt = D u^{2 - 2/D} (s - u)` integrated by RK4 in steps
/// of `dt` (in units of tau), until `u >= reach s` or `t_max`: the time it took.
pub fn depth_balanced_time(depth: usize, s: f64, u0: f64, reach: f64, t_max: f64) -> f64 {
    let d = depth as f64;
    let rate = |u: f64| d * u.max(0.0).powf(2.0 - 2.0 / d) * (s - u);
    let (mut u, mut t, dt) = (u0, 0.0, 1e-3);
    while u < reach * s && t < t_max {
        let k1 = rate(u);
        let k2 = rate(u + 0.5 * dt * k1);
        let k3 = rate(u + 0.5 * dt * k2);
        let k4 = rate(u + dt * k3);
        u += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        t += dt;
    }
    t
}

/// Outcome of one depth-sweep run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRun {
    /// Steps until the loss fell below the threshold, if it did within the cap.
    pub steps: Option<usize>,
}

/// The initialisation of the depth sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepInit {
    /// Random orthogonal `d x d` per layer.
    Orthogonal,
    /// Entries N(0, 1/d).
    Gaussian,
}

/// Trains `W_D ... W_1` on `1/2 ||A - W_D...W_1||^2` by gradient descent from `init`.
pub fn depth_sweep_run(
    teacher: &Matrix,
    depth: usize,
    init: SweepInit,
    lr: f64,
    max_steps: usize,
    loss_drop: f64,
    rng: &mut Rng,
) -> SweepRun {
    let d = teacher.nrows();
    let mut weights: Vec<Matrix> = (0..depth)
        .map(|_| match init {
            SweepInit::Orthogonal => random_orthonormal(d, d, rng),
            SweepInit::Gaussian => {
                let std = 1.0 / (d as f64).sqrt();
                Matrix::from_fn(d, d, |_, _| std * gaussian(rng))
            }
        })
        .collect();
    let identity = Matrix::identity(d, d);
    let mut start = None;
    for step in 0..=max_steps {
        // below[l] = W_{l-1} ... W_1 (identity for l = 0); the product is below[D]
        let mut below = vec![identity.clone()];
        for w in &weights {
            let next = w * below.last().expect("non-empty");
            below.push(next);
        }
        let error = teacher - &below[depth];
        let loss = 0.5 * error.norm_l2().powi(2);
        let start_loss = *start.get_or_insert(loss);
        if !loss.is_finite() || loss > 1e6 * start_loss {
            return SweepRun { steps: None };
        }
        if loss < loss_drop * start_loss {
            return SweepRun { steps: Some(step) };
        }
        if step == max_steps {
            break;
        }
        // above = W_D ... W_{l+1}, built from the top down while updating
        let mut above = identity.clone();
        for l in (0..depth).rev() {
            let grad = above.transpose() * &error * below[l].transpose();
            let old = weights[l].clone();
            weights[l] += grad * lr;
            above = &above * &old;
        }
    }
    SweepRun { steps: None }
}

/// `(||dL/dh_1||, ||dL/dh_D||)` averaged over random inputs for a deep tanh net whose layers are
/// orthogonal times `gain` or Gaussian with variance `gain^2 / N`.
fn gradient_norms(depth: usize, width: usize, gain: f64, orthogonal: bool, inputs: usize, rng: &mut Rng) -> (f64, f64) {
    let weights: Vec<Matrix> = (0..depth)
        .map(|_| {
            if orthogonal {
                random_orthonormal(width, width, rng) * gain
            } else {
                let std = gain / (width as f64).sqrt();
                Matrix::from_fn(width, width, |_, _| std * gaussian(rng))
            }
        })
        .collect();
    let (mut first, mut last) = (0.0, 0.0);
    for _ in 0..inputs {
        // h_1 = W_1 x, h_{l+1} = W_{l+1} tanh(h_l)
        let x = Matrix::from_fn(width, 1, |_, _| gaussian(rng));
        let mut h = vec![&weights[0] * &x];
        for w in &weights[1..] {
            let a = h.last().expect("non-empty").as_ref().map(|v| v.tanh());
            h.push(w * a);
        }
        let mut delta = Matrix::from_fn(width, 1, |_, _| gaussian(rng));
        last += delta.norm_l2();
        for l in (1..depth).rev() {
            let back = weights[l].transpose() * &delta;
            delta = Matrix::from_fn(width, 1, |i, _| back[(i, 0)] * (1.0 - h[l - 1][(i, 0)].tanh().powi(2)));
        }
        first += delta.norm_l2();
    }
    (first / inputs as f64, last / inputs as f64)
}

fn gain_key(g: f64) -> String {
    format!("g{g}")
}

impl Probe for DeepLinearConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        for (field, v) in [("inputs", self.inputs), ("hidden", self.hidden), ("outputs", self.outputs), ("sweep_dim", self.sweep_dim)] {
            in_range(NAME, field, v, 1, 4096)?;
        }
        in_range(NAME, "steps", self.steps, 1, 10_000_000)?;
        in_range(NAME, "max_steps", self.max_steps, 1, 10_000_000)?;
        in_range(NAME, "sweep_seeds", self.sweep_seeds, 1, 1000)?;
        in_range(NAME, "grad_depth", self.grad_depth, 0, 10_000)?;
        in_range(NAME, "grad_width", self.grad_width, 1, 8192)?;
        in_range(NAME, "grad_inputs", self.grad_inputs, 1, 100_000)?;
        non_empty(NAME, "strengths", &self.strengths)?;
        non_empty(NAME, "depths", &self.depths)?;
        non_empty(NAME, "sweep_lrs", &self.sweep_lrs)?;
        if self.strengths.len() > self.inputs.min(self.outputs).min(self.hidden) {
            return Err(TheoryError::config(NAME, "strengths", "more modes than min(inputs, hidden, outputs)"));
        }
        for &s in &self.strengths {
            positive(NAME, "strengths", s)?;
        }
        positive(NAME, "init_strength", self.init_strength)?;
        positive(NAME, "lr", self.lr)?;
        positive(NAME, "loss_drop", self.loss_drop)?;
        for &lr in &self.sweep_lrs {
            positive(NAME, "sweep_lrs", lr)?;
        }
        for &g in &self.gains {
            positive(NAME, "gains", g)?;
        }
        if self.depths.iter().any(|&d| d == 0 || d > 1000) {
            return Err(TheoryError::config(NAME, "depths", "must be in 1..=1000"));
        }
        if !(self.reach > 0.0 && self.reach < 1.0) {
            return Err(TheoryError::config(NAME, "reach", format!("must be in (0, 1), got {}", self.reach)));
        }
        let u0 = self.init_strength.powi(2);
        if self.strengths.iter().any(|&s| u0 >= self.reach * s) {
            return Err(TheoryError::config(NAME, "init_strength", "a0^2 must lie below reach * s for every mode"));
        }
        if self.loss_drop >= 1.0 {
            return Err(TheoryError::config(NAME, "loss_drop", "must be below 1"));
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for i in 1..=self.strengths.len() {
            for what in ["t_theory", "t_sim", "t_gap", "max_gap_over_s"] {
                out.push(format!("mode{i}.{what}"));
            }
        }
        for init in ["orthogonal", "gaussian"] {
            for d in &self.depths {
                out.push(format!("{init}.d{d}.steps"));
                out.push(format!("{init}.d{d}.reached"));
                out.push(format!("{init}.d{d}.lr"));
            }
            out.push(format!("{init}.max_steps"));
        }
        for d in &self.depths {
            out.push(format!("ratio.d{d}"));
        }
        out.push("gaussian.reached_deep".into());
        for what in RUN_NUMBERS {
            out.push(format!("run.{what}"));
        }
        for a in 1..=RUN_MODES {
            for what in ["s", "u_init", "u_final", "u_theory", "t_theory"] {
                out.push(format!("run.mode{a}.{what}"));
            }
        }
        out.push("min_ratio_deep".into());
        if self.grad_depth > 0 {
            for g in &self.gains {
                out.push(format!("grad_ratio.orthogonal.{}", gain_key(*g)));
                out.push(format!("grad_ratio.gaussian.{}", gain_key(*g)));
            }
            out.push("grad_ratio.best_orthogonal_gain".into());
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        if input.model.is_some() {
            return self.on_run(input);
        }
        let mut report = ProbeReport::default();
        let mut rng = Rng::seed(input.seed);
        self.closed_form_check(&mut rng, &mut report);
        self.depth_sweep(&mut rng, &mut report);
        if self.grad_depth > 0 {
            self.gradient_probe(&mut rng, &mut report);
        }
        Ok(report)
    }
}

/// Modes a run-folder report lists at most.
const RUN_MODES: usize = 8;
/// The run-folder numbers besides the per-mode ones.
const RUN_NUMBERS: [&str; 9] = [
    "depth",
    "modes",
    "steps",
    "whitening_error",
    "logged_train_loss",
    "final_train_mse",
    "final_test_mse",
    "theory_train_loss",
    "relative_mode_error",
];

/// The strength after `t` (in units of tau) of `tau du/dt = D u^{2-2/D} (s - u)` from `u0`: the
/// closed form for `D = 2`, RK4 in steps of at most `1e-3` otherwise.
pub fn depth_strength(depth: usize, s: f64, u0: f64, t: f64) -> f64 {
    if depth == 2 {
        // closed_form_strength takes time in steps of lr: t steps of lr 1 is t tau.
        return closed_form_strength(s, u0, 1.0, t);
    }
    let d = depth as f64;
    let rate = |u: f64| d * u.max(0.0).powf(2.0 - 2.0 / d) * (s - u);
    let n = (t / 1e-3).ceil().max(1.0) as usize;
    let dt = t / n as f64;
    let mut u = u0;
    for _ in 0..n {
        let k1 = rate(u);
        let k2 = rate(u + 0.5 * dt * k1);
        let k3 = rate(u + 0.5 * dt * k2);
        let k4 = rate(u + dt * k3);
        u += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    u
}

/// The end-to-end map `W_D ... W_1` (`[outputs, inputs]`) of a dense net.
fn end_to_end(net: &DenseNet) -> Matrix {
    let mut w = net.layers[0].weight.clone();
    for layer in &net.layers[1..] {
        w = &layer.weight * &w;
    }
    w
}

/// `u^T W v` for columns `a` of `u` and `v`.
fn mode_strength(w: &Matrix, u: &Matrix, v: &Matrix, a: usize) -> f64 {
    let mut sum = 0.0;
    for i in 0..w.nrows() {
        for j in 0..w.ncols() {
            sum += u[(i, a)] * w[(i, j)] * v[(j, a)];
        }
    }
    sum
}

impl DeepLinearConfig {
    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        let net = DenseNet::of_model(model, NAME)?;
        if let Some(l) = net.activations.iter().position(|a| !matches!(a, ScalarActivation::Identity)) {
            return Err(TheoryError::Model {
                probe: NAME,
                reason: format!("a deep linear net has `identity` activations only; hidden layer {} uses {:?}", l + 1, net.activations[l]),
            });
        }
        let regression = |d: &ProbeData| {
            d.targets.clone().ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs a regression run (target values); the run's data has class labels".into() })
        };
        let train = run.train.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's training rows".into() })?;
        let (x, y) = (&train.inputs, regression(train)?);
        let initial = run.initial.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's initial model (a run started from imported weights has none)".into() })?;
        let net0 = DenseNet::of_model(initial, NAME)?;
        let n = x.nrows() as f64;
        let (inputs, outputs) = (x.ncols(), y.ncols());
        // Centred statistics: the run's biases absorb the means, the end-to-end map sees the rest.
        let centred = |m: &Matrix| {
            let means: Vec<f64> = (0..m.ncols()).map(|j| (0..m.nrows()).map(|i| m[(i, j)]).sum::<f64>() / n).collect();
            Matrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] - means[j])
        };
        let (xc, yc) = (centred(x), centred(&y));
        let sigma31 = crate::kernels::linalg::transpose(&yc) * &xc * (1.0 / n);
        let sigma11 = crate::kernels::linalg::gram(&crate::kernels::linalg::transpose(&xc)) * (1.0 / n);
        let whitening = Matrix::from_fn(inputs, inputs, |i, j| sigma11[(i, j)] - f64::from(u8::from(i == j)));
        let trace33 = (0..yc.nrows()).map(|i| (0..outputs).map(|j| yc[(i, j)].powi(2)).sum::<f64>()).sum::<f64>() / n;
        let (u, s, v) = crate::kernels::linalg::svd(&sigma31)?;
        let (w0, w1) = (end_to_end(&net0), end_to_end(&net));
        let depth = net.layers.len();
        let lr_eff = 2.0 * run.lr / outputs as f64;
        let t_end = run.steps as f64 * lr_eff;
        let modes = s.iter().filter(|&&v| v > 1e-12 * s[0].max(1e-300)).count().min(RUN_MODES);
        let mut report = ProbeReport::default();
        let mut table = ReportTable::new("run_modes", "modes of the run's input-output correlation: strength at initialisation, at the end, and the closed form's", ["mode", "s", "u(0)", "u(T) run", "u(T) closed form", "steps to 99% s (theory)"]);
        let mut curves = SeriesGroup::new("run_modes", "mode strength u(t): closed form (lines) and the run (start and end)", "step", "u");
        let (mut theory_gain, mut err, mut norm) = (0.0, 0.0, 0.0);
        for (a, &sa) in s.iter().enumerate().take(modes) {
            let (u0, uf) = (mode_strength(&w0, &u, &v, a), mode_strength(&w1, &u, &v, a));
            // The closed form starts from a positive strength: a mode the initialisation points
            // against grows from its magnitude (the sign of a mode is a convention of the SVD).
            let start = u0.abs().max(1e-12);
            let ut = depth_strength(depth, sa, start, t_end);
            let t99 = if depth == 2 && start < 0.99 * sa { closed_form_time(sa, start, 0.99 * sa, lr_eff) } else { depth_balanced_time(depth, sa, start, 0.99, 1e6) / lr_eff };
            let k = format!("run.mode{}", a + 1);
            report.set(format!("{k}.s"), sa);
            report.set(format!("{k}.u_init"), u0);
            report.set(format!("{k}.u_final"), uf);
            report.set(format!("{k}.u_theory"), ut);
            report.set(format!("{k}.t_theory"), t99);
            table.push([(a + 1).to_string(), format!("{sa:.4}"), format!("{u0:.4}"), format!("{uf:.4}"), format!("{ut:.4}"), format!("{t99:.0}")]);
            let points = (0..=100).map(|i| {
                let step = run.steps as f64 * f64::from(i) / 100.0;
                (step, depth_strength(depth, sa, start, step * lr_eff))
            });
            curves = curves.line(format!("mode {} closed form", a + 1), points.collect());
            curves = curves.line(format!("mode {} run", a + 1), vec![(0.0, u0), (run.steps as f64, uf)]);
            theory_gain += 2.0 * sa * ut - ut * ut;
            err += (uf - ut).powi(2);
            norm += sa * sa;
        }
        report.set("run.depth", depth as f64);
        report.set("run.modes", modes as f64);
        report.set("run.steps", run.steps as f64);
        report.set("run.whitening_error", crate::kernels::linalg::frobenius(&whitening) / (inputs as f64).sqrt());
        report.set("run.logged_train_loss", run.series("train/loss").last().map_or(f64::NAN, |p| p.1));
        report.set("run.final_train_mse", net.mse(x, &y));
        report.set("run.final_test_mse", net.mse(&data.inputs, &regression(data)?));
        report.set("run.theory_train_loss", (trace33 - theory_gain) / outputs as f64);
        report.set("run.relative_mode_error", (err / norm.max(1e-300)).sqrt());
        report.tables.push(table);
        report.series.push(curves);
        let logged = run.series("train/loss");
        if !logged.is_empty() {
            let theory: Vec<(f64, f64)> = (0..=100)
                .map(|i| {
                    let step = run.steps as f64 * f64::from(i) / 100.0;
                    let gain: f64 = (0..modes)
                        .map(|a| {
                            let ut = depth_strength(depth, s[a], mode_strength(&w0, &u, &v, a).abs().max(1e-12), step * lr_eff);
                            2.0 * s[a] * ut - ut * ut
                        })
                        .sum();
                    (step, (trace33 - gain) / outputs as f64)
                })
                .collect();
            report.series.push(SeriesGroup::new("run_loss", "training loss: the run's log and the closed form", "step", "MSE").line("run (logged)", logged.to_vec()).line("closed form", theory));
        }
        report.notes.push(format!(
            "Run: {} weight layers, {} modes, {} steps of {} at lr {} (tau = {:.3} steps). The closed form assumes whitened inputs (here ||Sigma11 - I||_F / sqrt(N1) = {:.3}), no biases, plain gradient descent and a small balanced start.",
            depth,
            modes,
            run.steps,
            run.optimizer,
            run.lr,
            1.0 / lr_eff,
            crate::kernels::linalg::frobenius(&whitening) / (inputs as f64).sqrt()
        ));
        Ok(report)
    }

    /// Part (a): the closed form beside gradient descent, per mode.
    fn closed_form_check(&self, rng: &mut Rng, report: &mut ProbeReport) {
        let modes = self.inputs.min(self.outputs);
        let u = random_orthonormal(self.outputs, modes, rng);
        let v = random_orthonormal(self.inputs, modes, rng);
        let r = random_orthonormal(self.hidden, modes, rng);
        let s: Vec<f64> = (0..modes).map(|a| self.strengths.get(a).copied().unwrap_or(0.0)).collect();
        let sigma31 = Matrix::from_fn(self.outputs, self.inputs, |i, j| (0..modes).map(|a| u[(i, a)] * s[a] * v[(j, a)]).sum());
        let a0 = self.init_strength;
        let diag = Matrix::from_fn(modes, modes, |i, j| if i == j { a0 } else { 0.0 });
        let mut w1 = &r * &diag * v.transpose();
        let mut w2 = &u * &diag * r.transpose();
        let strength = |w2: &Matrix, w1: &Matrix, a: usize| {
            let p = w2 * w1;
            let mut total = 0.0;
            for i in 0..self.outputs {
                for j in 0..self.inputs {
                    total += u[(i, a)] * p[(i, j)] * v[(j, a)];
                }
            }
            total
        };
        let k = self.strengths.len();
        let mut sim: Vec<Vec<(f64, f64)>> = vec![Vec::with_capacity(self.steps + 1); k];
        for step in 0..=self.steps {
            for (a, curve) in sim.iter_mut().enumerate() {
                curve.push((step as f64, strength(&w2, &w1, a)));
            }
            if step == self.steps {
                break;
            }
            let error = &sigma31 - &w2 * &w1;
            let g1 = w2.transpose() * &error;
            let g2 = &error * w1.transpose();
            w1 += g1 * self.lr;
            w2 += g2 * self.lr;
        }
        let u0 = a0 * a0;
        let mut table = ReportTable::new("mode_times", "time to reach uf = reach * s (steps)", ["mode", "s", "theory", "simulation", "gap", "max |u_sim - u_theory| / s"]);
        let mut group = SeriesGroup::new("learning_curves", "mode strength u(t) / s: closed form (dashed pairs) beside gradient descent", "step", "u / s");
        for (a, curve) in sim.iter().enumerate() {
            let s_a = self.strengths[a];
            let t_theory = closed_form_time(s_a, u0, self.reach * s_a, self.lr);
            let t_sim = curve.iter().find(|(_, u)| *u >= self.reach * s_a).map_or(f64::INFINITY, |(t, _)| *t);
            let max_gap = curve
                .iter()
                .map(|(t, u)| (u - closed_form_strength(s_a, u0, self.lr, *t)).abs() / s_a)
                .fold(0.0, f64::max);
            let i = a + 1;
            report.set(format!("mode{i}.t_theory"), t_theory);
            report.set(format!("mode{i}.t_sim"), t_sim);
            report.set(format!("mode{i}.t_gap"), (t_sim - t_theory).abs());
            report.set(format!("mode{i}.max_gap_over_s"), max_gap);
            table.push([i.to_string(), format!("{s_a}"), format!("{t_theory:.1}"), format!("{t_sim}"), format!("{:.1}", (t_sim - t_theory).abs()), format!("{max_gap:.4}")]);
            let stride = (self.steps / 400).max(1);
            group = group
                .line(format!("s = {s_a} simulation"), curve.iter().step_by(stride).map(|(t, u)| (*t, u / s_a)).collect())
                .line(
                    format!("s = {s_a} closed form"),
                    curve.iter().step_by(stride).map(|(t, _)| (*t, closed_form_strength(s_a, u0, self.lr, *t) / s_a)).collect(),
                );
        }
        report.series.push(group);
        report.tables.push(table);
        report.notes.push(format!(
            "(a) {}-{}-{} linear net, Sigma11 = I, Sigma31 = U diag{:?} V^T, decoupled balanced init a0 = {}, plain GD lr = {} (tau = {}) for {} steps.",
            self.inputs, self.hidden, self.outputs, self.strengths, self.init_strength, self.lr, 1.0 / self.lr, self.steps
        ));
    }

    /// Part (b): steps to learn a random teacher by depth and initialisation.
    fn depth_sweep(&self, rng: &mut Rng, report: &mut ProbeReport) {
        let d = self.sweep_dim;
        let std = 1.0 / (d as f64).sqrt();
        let teacher = Matrix::from_fn(d, d, |_, _| std * gaussian(rng));
        let seeds: Vec<u64> = (0..self.sweep_seeds).map(|_| rng.next_u64()).collect();
        let mut table = ReportTable::new("depth_sweep", "steps until the loss is below loss_drop of its start (best lr, worst seed)", ["depth", "orthogonal", "lr", "gaussian", "lr"]);
        let best_steps = |init: SweepInit, depth: usize| -> (Option<usize>, f64) {
            let mut best: (Option<usize>, f64) = (None, f64::NAN);
            for &lr in &self.sweep_lrs {
                let mut worst = Some(0);
                for &seed in &seeds {
                    let mut r = Rng::seed(seed ^ (depth as u64) << 8);
                    let run = depth_sweep_run(&teacher, depth, init, lr, self.max_steps, self.loss_drop, &mut r);
                    worst = match (worst, run.steps) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                    if worst.is_none() {
                        break;
                    }
                }
                if let Some(w) = worst
                    && best.0.is_none_or(|b| w < b)
                {
                    best = (Some(w), lr);
                }
            }
            best
        };
        let cap = self.max_steps as f64;
        let (mut ortho_max, mut gauss_max, mut min_ratio_deep, mut gauss_reached_deep) = (0.0f64, 0.0f64, f64::INFINITY, 0.0);
        let mut curve_o = Vec::new();
        let mut curve_g = Vec::new();
        for &depth in &self.depths {
            let (o, o_lr) = best_steps(SweepInit::Orthogonal, depth);
            let (g, g_lr) = best_steps(SweepInit::Gaussian, depth);
            let (os, gs) = (o.map_or(cap, |v| v as f64), g.map_or(cap, |v| v as f64));
            for (init, steps, reached, lr) in [("orthogonal", os, o.is_some(), o_lr), ("gaussian", gs, g.is_some(), g_lr)] {
                report.set(format!("{init}.d{depth}.steps"), steps);
                report.set(format!("{init}.d{depth}.reached"), f64::from(u8::from(reached)));
                report.set(format!("{init}.d{depth}.lr"), lr);
            }
            let ratio = gs / os.max(1.0);
            report.set(format!("ratio.d{depth}"), ratio);
            ortho_max = ortho_max.max(os);
            gauss_max = gauss_max.max(gs);
            if depth >= 8 {
                min_ratio_deep = min_ratio_deep.min(ratio);
                gauss_reached_deep += f64::from(u8::from(g.is_some()));
            }
            let show = |s: Option<usize>| s.map_or(format!(">{}", self.max_steps), |v| v.to_string());
            table.push([depth.to_string(), show(o), format!("{o_lr}"), show(g), format!("{g_lr}")]);
            curve_o.push((depth as f64, os));
            curve_g.push((depth as f64, gs));
        }
        report.set("orthogonal.max_steps", ortho_max);
        report.set("gaussian.max_steps", gauss_max);
        report.set("gaussian.reached_deep", gauss_reached_deep);
        report.set("min_ratio_deep", if min_ratio_deep.is_finite() { min_ratio_deep } else { f64::NAN });
        report.tables.push(table);
        report.series.push(
            SeriesGroup::new("depth_sweep", "steps to learn (capped at max_steps) by depth", "depth D", "steps")
                .log_y()
                .line("orthogonal", curve_o)
                .line("gaussian var 1/d", curve_g),
        );
        report.notes.push(format!(
            "(b) d = {d}, teacher A ~ N(0, 1/d), loss 1/2 ||A - W_D...W_1||_F^2; best lr of {:?}, worst of {} seeds, cap {} steps (a run that never reaches the threshold counts as the cap; min_ratio_deep is over D >= 8).",
            self.sweep_lrs, self.sweep_seeds, self.max_steps
        ));
    }

    /// Part (c): gradient-norm ratios of a deep tanh net.
    fn gradient_probe(&self, rng: &mut Rng, report: &mut ProbeReport) {
        let mut table = ReportTable::new("gradient_ratio", "||dL/dh_1|| / ||dL/dh_D|| of a deep tanh net", ["gain", "orthogonal", "gaussian"]);
        let (mut best_gain, mut best_dist) = (f64::NAN, f64::INFINITY);
        for &g in &self.gains {
            let (f, l) = gradient_norms(self.grad_depth, self.grad_width, g, true, self.grad_inputs, rng);
            let ortho = f / l;
            let (f, l) = gradient_norms(self.grad_depth, self.grad_width, g, false, self.grad_inputs, rng);
            let gauss = f / l;
            report.set(format!("grad_ratio.orthogonal.{}", gain_key(g)), ortho);
            report.set(format!("grad_ratio.gaussian.{}", gain_key(g)), gauss);
            if ortho.ln().abs() < best_dist {
                best_dist = ortho.ln().abs();
                best_gain = g;
            }
            table.push([format!("{g}"), format!("{ortho:.4}"), format!("{gauss:.4}")]);
        }
        report.set("grad_ratio.best_orthogonal_gain", best_gain);
        report.tables.push(table);
        report.notes.push(format!(
            "(c) tanh net of depth {} and width {}, random Gaussian top gradient, norms averaged over {} inputs; best_orthogonal_gain is the gain whose ratio is closest to 1.",
            self.grad_depth, self.grad_width, self.grad_inputs
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-folder mode's strength: D = 2 is the closed form; D = 1 is the linear ODE
    /// `du/dt = s - u`, so from u0 = 0.1 with s = 2 at t = 1: `2 - 1.9 e^{-1} = 1.30103...`.
    #[test]
    fn depth_strength_by_hand() {
        assert!((depth_strength(2, 3.0, 1e-3, 0.7) - closed_form_strength(3.0, 1e-3, 1.0, 0.7)).abs() < 1e-15);
        let u = depth_strength(1, 2.0, 0.1, 1.0);
        assert!((u - (2.0 - 1.9 * (-1.0f64).exp())).abs() < 1e-10, "{u}");
        // deeper nets wait longer from a small start, then rise to s
        assert!(depth_strength(4, 1.0, 1e-3, 3.0) < depth_strength(2, 1.0, 1e-3, 3.0));
        assert!((depth_strength(4, 1.0, 1e-3, 1e4) - 1.0).abs() < 1e-9);
    }

    /// The notes' theory column (section 1.4a): s = 3, 2, 1, 0.5 from u0 = 1e-6 to 0.99 s with
    /// tau = 100: t = (100/(2s)) ln(99 s / 1e-6 ...) = 325, 478, 921, 1772.
    #[test]
    fn closed_form_times_match_the_notes() {
        for (s, expected) in [(3.0, 325.0), (2.0, 478.0), (1.0, 921.0), (0.5, 1772.0)] {
            let t = closed_form_time(s, 1e-6, 0.99 * s, 0.01);
            assert!((t - expected).abs() < 1.0, "s = {s}: {t}");
            // the curve passes 0.99 s at that time
            assert!((closed_form_strength(s, 1e-6, 0.01, t) - 0.99 * s).abs() < 1e-9);
        }
    }

    /// Simulation against theory (notes 1.4a): |t_sim - t_theory| <= 1% + 3 steps for every mode.
    #[test]
    fn gradient_descent_follows_the_closed_form() {
        let config = DeepLinearConfig { depths: vec![1], sweep_lrs: vec![0.5], grad_depth: 0, ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        for (i, expected_sim) in [(1, 327.0), (2, 479.0), (3, 922.0), (4, 1773.0)] {
            let t_th = report.numbers[&format!("mode{i}.t_theory")];
            let t_sim = report.numbers[&format!("mode{i}.t_sim")];
            assert!((t_sim - t_th).abs() <= 0.01 * t_th + 3.0, "mode {i}: {t_sim} vs {t_th}");
            assert!((t_sim - expected_sim).abs() <= 2.0, "mode {i}: {t_sim} vs the notes' {expected_sim}");
        }
    }

    /// Depth 1 from an orthogonal start with lr 0.5 halves the error every step; the loss (its
    /// square) falls below 1e-3 once 0.25^k < 1e-3, at k = 5 (the notes' table).
    #[test]
    fn depth_one_takes_five_steps() {
        let mut rng = Rng::seed(4);
        let teacher = Matrix::from_fn(16, 16, |_, _| gaussian(&mut rng) / 4.0);
        let run = depth_sweep_run(&teacher, 1, SweepInit::Orthogonal, 0.5, 100, 1e-3, &mut rng);
        assert_eq!(run.steps, Some(5));
    }

    /// Deep Gaussian products have exponentially spread singular values, so learning stalls;
    /// orthogonal products stay O(1). At D = 16 (notes: orthogonal 219 steps, Gaussian > 6000).
    #[test]
    fn orthogonal_beats_gaussian_at_depth_sixteen() {
        let config = DeepLinearConfig {
            steps: 10,
            depths: vec![16],
            sweep_lrs: vec![0.05, 0.03],
            sweep_seeds: 1,
            max_steps: 1500,
            grad_depth: 0,
            ..Default::default()
        };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        assert_eq!(report.numbers["orthogonal.d16.reached"], 1.0);
        assert!(report.numbers["orthogonal.d16.steps"] < 500.0);
        assert_eq!(report.numbers["gaussian.d16.reached"], 0.0);
        assert!(report.numbers["ratio.d16"] >= 3.0);
    }

    /// The depth-D balanced ODE: at D = 2 it is the one-hidden-layer sigmoid, so its time matches
    /// the closed form (in units of tau).
    #[test]
    fn depth_two_ode_matches_the_closed_form() {
        let t = depth_balanced_time(2, 2.0, 1e-3, 0.99, 100.0);
        let expected = closed_form_time(2.0, 1e-3, 1.98, 1.0);
        assert!((t - expected).abs() < 2e-3, "{t} vs {expected}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = DeepLinearConfig::default();
        assert!(ok.validate().is_ok());
        let cases: Vec<(&str, DeepLinearConfig)> = vec![
            ("hidden", DeepLinearConfig { hidden: 0, ..ok.clone() }),
            ("strengths", DeepLinearConfig { strengths: vec![], ..ok.clone() }),
            ("strengths", DeepLinearConfig { strengths: vec![-1.0], ..ok.clone() }),
            ("strengths", DeepLinearConfig { strengths: vec![f64::NAN], ..ok.clone() }),
            ("lr", DeepLinearConfig { lr: 0.0, ..ok.clone() }),
            ("lr", DeepLinearConfig { lr: f64::INFINITY, ..ok.clone() }),
            ("reach", DeepLinearConfig { reach: 1.0, ..ok.clone() }),
            ("depths", DeepLinearConfig { depths: vec![0], ..ok.clone() }),
            ("depths", DeepLinearConfig { depths: vec![], ..ok.clone() }),
            ("steps", DeepLinearConfig { steps: usize::MAX, ..ok.clone() }),
            ("init_strength", DeepLinearConfig { init_strength: 10.0, ..ok.clone() }),
            ("sweep_lrs", DeepLinearConfig { sweep_lrs: vec![-0.1], ..ok.clone() }),
            ("gains", DeepLinearConfig { gains: vec![0.0], ..ok.clone() }),
        ];
        for (field, config) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
