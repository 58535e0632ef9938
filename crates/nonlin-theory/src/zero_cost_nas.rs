//! Zero-cost proxies and RoBoT (He, Shu, Dai and Low, "Robustifying and Boosting Training-Free
//! Neural Architecture Search", ICLR 2024, arXiv:2403.07591): six training-free scores of an
//! architecture at initialisation, combined as `score(a) = sum_m w_m metric_m(a)` (each metric
//! min-max normalised over the search space, NaN -> 0) with the weights `w in [-1, 1]^6` tuned by
//! Bayesian optimisation (GP-UCB) on the validation accuracy of the top-1 architecture, then a
//! greedy walk down the combined ranking until `T` architectures have been queried.
//!
//! Proxies (on one mini-batch, cross-entropy loss, summed over every dense layer's weights, as in
//! zero-cost-nas): `grad_norm = sum_l ||dL/dW_l||_F`; `snip = sum |W . dL/dW|`;
//! `grasp = sum -(W . H g)` with `g = dL/dW` and `H g` the Hessian-vector product; `fisher =
//! sum_l sum_k 0.5 mean_i (z_ik dL/dz_ik)^2` over every layer's outputs z; `synflow = sum |W .
//! dR/dW|` with every parameter replaced by its absolute value and `R = sum f(1)` on one all-ones
//! input (f64); `jacob_cov = -sum_j (ln(l_j + 1e-5) + 1/(l_j + 1e-5))` over the eigenvalues of
//! the correlation matrix of the per-example input gradients of `sum f(x)`.
//!
//! CPU target (notes section 10.4): a mini search space of MLPs on the 8x8 digits (every
//! per-layer width combination of 1-3 hidden layers from {16, 32, 64}, activations relu, tanh,
//! gelu: 117 nets), ground truth validation accuracy after a short training and test accuracy
//! after a longer one (Adam, batch 32), RoBoT with T = 20 beside single proxies and random search.
//!
//! On a trained run folder (`nonlin probe zero_cost_nas RUN_DIR`): a classification run of an
//! `mlp` (a typed error names the mismatch otherwise). The six proxies of the run's architecture
//! are computed at its initialisation (rebuilt from its seed: what a training-free search would
//! have scored) and at its end, on the first `proxy_batch` training rows, beside its trained test
//! accuracy (computed in f64 from its weights on the test rows, and as the run logged it).
//!
//! Deviations and UNCONFIRMED choices (config fields or documented): no skip connections in the
//! search space (the probes' dense nets have none); `H g` by a central difference of the exact
//! gradient along g (step `1e-4 / ||g||`), tested against the exact Hessian of a softmax layer;
//! the GP uses a Matern-5/2 kernel with a fixed length scale (bayes_opt fits it), noise 1e-6,
//! UCB kappa 2.576 (bayes_opt's default), maximised over random candidates; the first BO query is
//! a random point (bayes_opt with `init_points = 0`); single proxies are scored by their top-1
//! architecture ("average single training-free metric").

use nonlin_data::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kappa_tune::spearman;
use crate::kernels::linalg::{Matrix, solve_spd, symmetric_eigen};
use crate::kernels::{DenseNet, ScalarActivation};
use crate::mutual_info::{Adam, softmax_cross_entropy};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "zero_cost_nas";

/// The proxies, in RoBoT's default order.
pub const PROXIES: [&str; 6] = ["grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov"];

/// Configuration of the zero-cost NAS probe (notes section 10.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZeroCostNasConfig {
    /// Numbers of hidden layers in the search space.
    pub depths: Vec<usize>,
    /// Widths each hidden layer may take.
    pub widths: Vec<usize>,
    pub activations: Vec<String>,
    /// Rows of the mini-batch the proxies see.
    pub proxy_batch: usize,
    /// Epochs after which the validation accuracy (the BO objective) is read.
    pub val_epochs: usize,
    /// Epochs after which the test accuracy (the reported result) is read.
    pub test_epochs: usize,
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Search budget T (queried architectures).
    pub budget: usize,
    /// Independent searches (BO and random search seeds).
    pub searches: usize,
    /// UCB exploration weight kappa.
    pub kappa: f64,
    /// Matern-5/2 length scale of the GP over the weights.
    pub length_scale: f64,
    /// Random candidates over which the acquisition is maximised.
    pub candidates: usize,
}

impl Default for ZeroCostNasConfig {
    fn default() -> Self {
        Self {
            depths: vec![1, 2, 3],
            widths: vec![16, 32, 64],
            activations: vec!["relu".into(), "tanh".into(), "gelu".into()],
            proxy_batch: 64,
            val_epochs: 5,
            test_epochs: 30,
            batch: 32,
            lr: 1e-3,
            budget: 20,
            searches: 10,
            kappa: 2.576,
            length_scale: 0.5,
            candidates: 2000,
        }
    }
}

/// Sum over layers of a function of `(W, dL/dW)`.
fn over_weights(net: &DenseNet, grads: &[(Matrix, Option<Vec<f64>>)], f: impl Fn(f64, f64) -> f64) -> f64 {
    net.layers
        .iter()
        .zip(grads)
        .map(|(l, (g, _))| (0..l.fan_out()).flat_map(|i| (0..l.fan_in()).map(move |j| (i, j))).map(|(i, j)| f(l.weight[(i, j)], g[(i, j)])).sum::<f64>())
        .sum()
}

fn ce_gradients(net: &DenseNet, x: &Matrix, labels: &[usize]) -> Vec<(Matrix, Option<Vec<f64>>)> {
    let trace = net.trace(x);
    let top = softmax_cross_entropy(&trace.output, labels).1;
    net.gradients(&trace, top)
}

/// `grad_norm`: `sum_l ||dL/dW_l||_F`.
pub fn grad_norm(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    ce_gradients(net, x, labels).iter().map(|(g, _)| g.norm_l2()).sum()
}

/// `snip`: `sum |W . dL/dW|`.
pub fn snip(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    let grads = ce_gradients(net, x, labels);
    over_weights(net, &grads, |w, g| (w * g).abs())
}

/// `grasp`: `sum -(W . H g)`, `g = dL/dW` (weights only), `H g` by a central difference of the
/// gradient along g.
pub fn grasp(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    let g = ce_gradients(net, x, labels);
    let norm = g.iter().map(|(m, _)| m.norm_l2().powi(2)).sum::<f64>().sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    let eps = 1e-4 / norm;
    let shifted = |sign: f64| {
        let mut n = net.clone();
        for (layer, (gw, _)) in n.layers.iter_mut().zip(&g) {
            layer.weight += gw * (sign * eps);
        }
        ce_gradients(&n, x, labels)
    };
    let (up, down) = (shifted(1.0), shifted(-1.0));
    let hg: Vec<(Matrix, Option<Vec<f64>>)> = up.iter().zip(&down).map(|((a, _), (b, _))| ((a - b) * (0.5 / eps), None)).collect();
    over_weights(net, &hg, |w, h| -w * h)
}

/// `fisher`: `sum_l sum_k 0.5 mean_i (z_ik dL/dz_ik)^2` over every layer's outputs.
pub fn fisher(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    let trace = net.trace(x);
    let deltas = net.deltas(&trace, softmax_cross_entropy(&trace.output, labels).1);
    let n = x.nrows() as f64;
    trace
        .pre
        .iter()
        .zip(&deltas)
        .map(|(z, d)| (0..z.ncols()).map(|k| 0.5 * (0..z.nrows()).map(|i| (z[(i, k)] * d[(i, k)]).powi(2)).sum::<f64>() / n).sum::<f64>())
        .sum()
}

/// `synflow`: every parameter in absolute value, one all-ones input, `R = sum f(1)`, score
/// `sum |W . dR/dW|`.
pub fn synflow(net: &DenseNet) -> f64 {
    let mut abs = net.clone();
    for layer in &mut abs.layers {
        layer.weight = layer.weight.map(|v| v.abs());
        if let Some(b) = &mut layer.bias {
            b.iter_mut().for_each(|v| *v = v.abs());
        }
    }
    let x = Matrix::from_fn(1, abs.layers[0].fan_in(), |_, _| 1.0);
    let trace = abs.trace(&x);
    let out = trace.output.ncols();
    let grads = abs.gradients(&trace, Matrix::from_fn(1, out, |_, _| 1.0));
    over_weights(&abs, &grads, |w, g| (w * g).abs())
}

/// `jacob_cov`: `-sum (ln(l + 1e-5) + 1/(l + 1e-5))` over the eigenvalues of `corrcoef(J)`, J the
/// per-example input gradients of `sum f(x)`.
pub fn jacob_cov(net: &DenseNet, x: &Matrix) -> Result<f64, TheoryError> {
    let trace = net.trace(x);
    let out = trace.output.ncols();
    let deltas = net.deltas(&trace, Matrix::from_fn(x.nrows(), out, |_, _| 1.0));
    let first = &net.layers[0];
    let j = &deltas[0] * &first.weight * first.weight_scale;
    let (n, d) = (j.nrows(), j.ncols());
    let centred = Matrix::from_fn(n, d, |i, k| j[(i, k)] - (0..d).map(|c| j[(i, c)]).sum::<f64>() / d as f64);
    let cov = &centred * centred.transpose();
    let corr = Matrix::from_fn(n, n, |a, b| cov[(a, b)] / (cov[(a, a)] * cov[(b, b)]).sqrt());
    let (eig, _) = symmetric_eigen(&corr)?;
    Ok(-eig.iter().map(|&l| (l + 1e-5).ln() + 1.0 / (l + 1e-5)).sum::<f64>())
}

/// All six proxies, in [`PROXIES`] order.
pub fn proxies(net: &DenseNet, x: &Matrix, labels: &[usize]) -> Vec<f64> {
    vec![
        grad_norm(net, x, labels),
        snip(net, x, labels),
        grasp(net, x, labels),
        fisher(net, x, labels),
        synflow(net),
        jacob_cov(net, x).unwrap_or(f64::NAN),
    ]
}

/// One architecture of the search space.
#[derive(Debug, Clone)]
struct Arch {
    hidden: Vec<usize>,
    activation: String,
}

impl Arch {
    fn name(&self) -> String {
        format!("{}-{}", self.hidden.iter().map(ToString::to_string).collect::<Vec<_>>().join("x"), self.activation)
    }
}

/// Min-max normalised metric columns (NaN -> 0).
fn normalise(metrics: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let m = metrics[0].len();
    let mut out = metrics.to_vec();
    for c in 0..m {
        let finite: Vec<f64> = metrics.iter().map(|r| r[c]).filter(|v| v.is_finite()).collect();
        let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        for r in &mut out {
            r[c] = if r[c].is_finite() && hi > lo { (r[c] - lo) / (hi - lo) } else { 0.0 };
        }
    }
    out
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).expect("non-empty")
}

fn matern52(a: &[f64], b: &[f64], ell: f64) -> f64 {
    let r = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt() / ell;
    let s = 5f64.sqrt() * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

/// The weights UCB proposes next given observations `(w, y)`.
fn ucb_next(obs: &[(Vec<f64>, f64)], config: &ZeroCostNasConfig, dims: usize, rng: &mut Rng) -> Result<Vec<f64>, TheoryError> {
    let random = |rng: &mut Rng| (0..dims).map(|_| 2.0 * rng.uniform_f64() - 1.0).collect::<Vec<f64>>();
    if obs.is_empty() {
        return Ok(random(rng));
    }
    let n = obs.len();
    let mean = obs.iter().map(|o| o.1).sum::<f64>() / n as f64;
    let k = Matrix::from_fn(n, n, |i, j| matern52(&obs[i].0, &obs[j].0, config.length_scale) + if i == j { 1e-6 } else { 0.0 });
    let y = Matrix::from_fn(n, 1, |i, _| obs[i].1 - mean);
    let alpha = solve_spd(&k, &y)?;
    let mut best = (f64::NEG_INFINITY, random(rng));
    for _ in 0..config.candidates {
        let w = random(rng);
        let kx = Matrix::from_fn(n, 1, |i, _| matern52(&obs[i].0, &w, config.length_scale));
        let mu = mean + (0..n).map(|i| kx[(i, 0)] * alpha[(i, 0)]).sum::<f64>();
        let v = solve_spd(&k, &kx)?;
        let var = (1.0 - (0..n).map(|i| kx[(i, 0)] * v[(i, 0)]).sum::<f64>()).max(0.0);
        let ucb = mu + config.kappa * var.sqrt();
        if ucb > best.0 {
            best = (ucb, w);
        }
    }
    Ok(best.1)
}

/// One RoBoT search: `(test accuracy of the best-validation queried arch, best weights)`.
fn robot(norm: &[Vec<f64>], val: &[f64], test: &[f64], config: &ZeroCostNasConfig, rng: &mut Rng) -> Result<(f64, Vec<f64>), TheoryError> {
    let dims = norm[0].len();
    let top1 = |w: &[f64]| argmax(&norm.iter().map(|r| r.iter().zip(w).map(|(a, b)| a * b).sum()).collect::<Vec<f64>>());
    let mut queried: Vec<usize> = Vec::new();
    let mut obs: Vec<(Vec<f64>, f64)> = Vec::new();
    for _ in 0..config.budget {
        let w = ucb_next(&obs, config, dims, rng)?;
        let a = top1(&w);
        if !queried.contains(&a) {
            queried.push(a);
        }
        obs.push((w, val[a]));
    }
    let best_w = obs[argmax(&obs.iter().map(|o| o.1).collect::<Vec<_>>())].0.clone();
    let scores: Vec<f64> = norm.iter().map(|r| r.iter().zip(&best_w).map(|(a, b)| a * b).sum()).collect();
    let mut ranking: Vec<usize> = (0..norm.len()).collect();
    ranking.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    for a in ranking {
        if queried.len() >= config.budget.min(norm.len()) {
            break;
        }
        if !queried.contains(&a) {
            queried.push(a);
        }
    }
    let best = *queried.iter().max_by(|&&a, &&b| val[a].total_cmp(&val[b])).expect("queried some");
    Ok((test[best], best_w))
}

fn accuracy(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    let out = net.forward(x);
    (0..x.nrows()).filter(|&i| argmax(&(0..out.ncols()).map(|j| out[(i, j)]).collect::<Vec<_>>()) == labels[i]).count() as f64 / x.nrows() as f64
}

type Split = (Matrix, Vec<usize>);

/// The digits (pixels in [0, 1]) split 60 / 20 / 20 into train, validation and test rows.
fn digits(rng: &mut Rng) -> Result<(Split, Split, Split), TheoryError> {
    let data = nonlin_data::load_digits().map_err(|e| TheoryError::numerical("digits", e.to_string()))?;
    let labels = data.labels().ok_or_else(|| TheoryError::numerical("digits", "no labels"))?.to_vec();
    let mut rows: Vec<usize> = (0..data.len()).collect();
    rng.shuffle(&mut rows);
    let d = data.sample_len();
    let take = |idx: &[usize]| -> Split {
        (Matrix::from_fn(idx.len(), d, |i, j| f64::from(data.sample(idx[i])[j])), idx.iter().map(|&i| labels[i] as usize).collect())
    };
    let (a, b) = (rows.len() * 3 / 5, rows.len() * 4 / 5);
    Ok((take(&rows[..a]), take(&rows[a..b]), take(&rows[b..])))
}

impl ZeroCostNasConfig {
    fn space(&self) -> Vec<Arch> {
        let mut out = Vec::new();
        for act in &self.activations {
            for &d in &self.depths {
                let mut combos: Vec<Vec<usize>> = vec![vec![]];
                for _ in 0..d {
                    combos = combos.iter().flat_map(|c| self.widths.iter().map(move |&w| [c.clone(), vec![w]].concat())).collect();
                }
                out.extend(combos.into_iter().map(|hidden| Arch { hidden, activation: act.clone() }));
            }
        }
        out
    }

    /// Trains one architecture: `(validation accuracy at val_epochs, test accuracy at test_epochs)`.
    fn train(&self, mut net: DenseNet, data: &(Split, Split, Split), rng: &mut Rng) -> (f64, f64) {
        let ((x, y), (xv, yv), (xt, yt)) = data;
        let mut adam = Adam::new(&net, self.lr);
        let mut order: Vec<usize> = (0..x.nrows()).collect();
        let mut val = accuracy(&net, xv, yv);
        for epoch in 1..=self.test_epochs.max(self.val_epochs) {
            rng.shuffle(&mut order);
            for batch in order.chunks(self.batch) {
                let xb = Matrix::from_fn(batch.len(), x.ncols(), |i, j| x[(batch[i], j)]);
                let yb: Vec<usize> = batch.iter().map(|&i| y[i]).collect();
                let grads = ce_gradients(&net, &xb, &yb);
                adam.step(&mut net, &grads);
            }
            if epoch == self.val_epochs {
                val = accuracy(&net, xv, yv);
            }
        }
        (val, accuracy(&net, xt, yt))
    }
}

impl Probe for ZeroCostNasConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        non_empty(NAME, "depths", &self.depths)?;
        if self.depths.iter().any(|&d| d == 0 || d > 6) {
            return Err(TheoryError::config(NAME, "depths", "every depth must be in 1..=6"));
        }
        non_empty(NAME, "widths", &self.widths)?;
        if self.widths.iter().any(|&w| w == 0 || w > 4096) {
            return Err(TheoryError::config(NAME, "widths", "every width must be in 1..=4096"));
        }
        non_empty(NAME, "activations", &self.activations)?;
        for a in &self.activations {
            ScalarActivation::from_spec(a).map_err(|e| TheoryError::config(NAME, "activations", e.to_string()))?;
        }
        in_range(NAME, "proxy_batch", self.proxy_batch, 2, 1000)?;
        in_range(NAME, "val_epochs", self.val_epochs, 0, 100_000)?;
        in_range(NAME, "test_epochs", self.test_epochs, 0, 100_000)?;
        in_range(NAME, "batch", self.batch, 1, 100_000)?;
        positive(NAME, "lr", self.lr)?;
        in_range(NAME, "budget", self.budget, 1, 100_000)?;
        in_range(NAME, "searches", self.searches, 1, 10_000)?;
        positive(NAME, "kappa", self.kappa)?;
        positive(NAME, "length_scale", self.length_scale)?;
        in_range(NAME, "candidates", self.candidates, 1, 10_000_000)
    }

    fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = ["robot.test_acc", "random.test_acc", "single.mean_test_acc", "single.best_test_acc", "optimal.test_acc", "robot.spearman", "single.best_spearman", "architectures"]
            .map(String::from)
            .into();
        for p in PROXIES {
            out.push(format!("{p}.spearman"));
            out.push(format!("{p}.test_acc"));
            out.push(format!("run.init.{p}"));
            out.push(format!("run.final.{p}"));
        }
        out.extend(["run.batch_rows", "run.parameters", "run.model_accuracy", "run.logged_test_accuracy"].map(String::from));
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        if input.model.is_some() {
            return self.on_run(input);
        }
        let mut report = ProbeReport::default();
        let mut rng = Rng::seed(input.seed);
        let data = digits(&mut rng)?;
        let space = self.space();
        let batch_rows: Vec<usize> = (0..self.proxy_batch.min(data.0.0.nrows())).collect();
        let xb = Matrix::from_fn(batch_rows.len(), data.0.0.ncols(), |i, j| data.0.0[(batch_rows[i], j)]);
        let yb: Vec<usize> = batch_rows.iter().map(|&i| data.0.1[i]).collect();
        let (mut metrics, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for arch in &space {
            let mut widths = vec![64];
            widths.extend(&arch.hidden);
            widths.push(10);
            let net = DenseNet::standard_init(&widths, 1.0, 0.0, true, ScalarActivation::from_spec(&arch.activation)?, &mut rng);
            metrics.push(proxies(&net, &xb, &yb));
            let (v, t) = self.train(net, &data, &mut rng);
            val.push(v);
            test.push(t);
        }
        let norm = normalise(&metrics);
        let mut table = ReportTable::new("proxies", "each proxy: Spearman with the test accuracy, and its top-1 architecture", ["proxy", "Spearman rho", "top-1 architecture", "its test accuracy"]);
        let (mut single_sum, mut single_best, mut best_rho) = (0.0, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for (c, p) in PROXIES.iter().enumerate() {
            let col: Vec<f64> = norm.iter().map(|r| r[c]).collect();
            let rho = spearman(&col, &test);
            let top = argmax(&col);
            report.set(format!("{p}.spearman"), rho);
            report.set(format!("{p}.test_acc"), test[top]);
            single_sum += test[top];
            single_best = single_best.max(test[top]);
            best_rho = best_rho.max(rho);
            table.push([p.to_string(), format!("{rho:.3}"), space[top].name(), format!("{:.4}", test[top])]);
        }
        let (mut robot_sum, mut robot_rho, mut random_sum) = (0.0, 0.0, 0.0);
        let mut curves = SeriesGroup::new("proxy_vs_accuracy", "normalised proxy (and RoBoT's combination, search 0) against test accuracy", "score", "test accuracy");
        for s in 0..self.searches {
            let (acc, w) = robot(&norm, &val, &test, self, &mut rng)?;
            robot_sum += acc;
            let combined: Vec<f64> = norm.iter().map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum()).collect();
            robot_rho += spearman(&combined, &test);
            if s == 0 {
                let mut pts: Vec<(f64, f64)> = combined.iter().copied().zip(test.iter().copied()).collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                curves = curves.line("RoBoT", pts);
                report.notes.push(format!("RoBoT weights of search 0 ({}): {}", PROXIES.join(", "), w.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", ")));
            }
            let mut pool: Vec<usize> = (0..space.len()).collect();
            rng.shuffle(&mut pool);
            let picked = &pool[..self.budget.min(space.len())];
            let best = *picked.iter().max_by(|&&a, &&b| val[a].total_cmp(&val[b])).expect("non-empty");
            random_sum += test[best];
        }
        for (c, p) in PROXIES.iter().enumerate() {
            let mut pts: Vec<(f64, f64)> = norm.iter().map(|r| r[c]).zip(test.iter().copied()).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            curves = curves.line(*p, pts);
        }
        let k = self.searches as f64;
        report.set("robot.test_acc", robot_sum / k);
        report.set("robot.spearman", robot_rho / k);
        report.set("random.test_acc", random_sum / k);
        report.set("single.mean_test_acc", single_sum / PROXIES.len() as f64);
        report.set("single.best_test_acc", single_best);
        report.set("single.best_spearman", best_rho);
        report.set("optimal.test_acc", test.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        report.set("architectures", space.len() as f64);
        table.push(["RoBoT (mean over searches)".to_string(), format!("{:.3}", robot_rho / k), "-".into(), format!("{:.4}", robot_sum / k)]);
        table.push(["random search".to_string(), "-".into(), "-".into(), format!("{:.4}", random_sum / k)]);
        report.tables.push(table);
        let mut arch_table = ReportTable::new("architectures", "the search space: proxies at init and trained accuracies", ["architecture", "val acc", "test acc"].into_iter().map(String::from).chain(PROXIES.iter().map(|p| p.to_string())).collect::<Vec<_>>());
        for (i, a) in space.iter().enumerate() {
            arch_table.push([a.name(), format!("{:.4}", val[i]), format!("{:.4}", test[i])].into_iter().chain(metrics[i].iter().map(|v| format!("{v:.6e}"))).collect::<Vec<_>>());
        }
        report.tables.push(arch_table);
        report.series.push(curves);
        report.notes.push(format!(
            "{} MLPs on the 8x8 digits (60/20/20 split), hidden layers {:?} with widths {:?}, activations {:?}; proxies on {} training rows at init; Adam lr {} batch {}: validation accuracy after {} epochs, test accuracy after {}. RoBoT: T = {}, GP-UCB (kappa {}, Matern-5/2 length {}), {} searches; random search with the same T.",
            space.len(),
            self.depths,
            self.widths,
            self.activations,
            batch_rows.len(),
            self.lr,
            self.batch,
            self.val_epochs,
            self.test_epochs,
            self.budget,
            self.kappa,
            self.length_scale,
            self.searches
        ));
        Ok(report)
    }
}

impl ZeroCostNasConfig {
    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        let net = DenseNet::of_model(model, NAME)?;
        let test_labels = crate::probe::labels_of(data, NAME)?;
        let train = run.train.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's training rows".into() })?;
        let labels = crate::probe::labels_of(train, NAME)?;
        let rows = self.proxy_batch.min(train.inputs.nrows());
        let xb = train.inputs.subrows(0, rows).to_owned();
        let yb: Vec<usize> = labels[..rows].iter().map(|&l| l as usize).collect();
        let mut report = ProbeReport::default();
        let mut table = ReportTable::new("run_proxies", "zero-cost proxies of the run's architecture at initialisation and at the end", ["proxy", "at initialisation", "trained"]);
        let init = run.initial.map(|m| DenseNet::of_model(m, NAME)).transpose()?;
        let at_init = init.as_ref().map(|n| proxies(n, &xb, &yb));
        let at_end = proxies(&net, &xb, &yb);
        for (i, p) in PROXIES.iter().enumerate() {
            let v0 = at_init.as_ref().map_or(f64::NAN, |v| v[i]);
            report.set(format!("run.init.{p}"), v0);
            report.set(format!("run.final.{p}"), at_end[i]);
            table.push([p.to_string(), format!("{v0:.6e}"), format!("{:.6e}", at_end[i])]);
        }
        let parameters: usize = net.layers.iter().map(|l| l.fan_in() * l.fan_out() + l.bias.as_ref().map_or(0, Vec::len)).sum();
        report.set("run.batch_rows", rows as f64);
        report.set("run.parameters", parameters as f64);
        let accuracy = net.accuracy(&data.inputs, test_labels);
        report.set("run.model_accuracy", accuracy);
        report.set("run.logged_test_accuracy", run.final_metrics.get("test_accuracy").copied().unwrap_or(f64::NAN));
        table.push(["test accuracy (trained)".to_string(), "-".into(), format!("{accuracy:.4}")]);
        report.tables.push(table);
        report.notes.push(format!(
            "Run: an mlp of widths {:?} ({parameters} parameters); proxies on the first {rows} training rows (cross-entropy); at initialisation = the run's seed rebuilt{}.",
            net.widths(),
            if init.is_some() { "" } else { " (not available: imported weights)" }
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::DenseLayer;
    use crate::kernels::linalg::from_rows;

    fn linear_chain(weights: &[Matrix]) -> DenseNet {
        DenseNet {
            layers: weights.iter().map(|w| DenseLayer { weight: w.clone(), bias: None, weight_scale: 1.0, bias_scale: 1.0 }).collect(),
            activations: vec![ScalarActivation::Identity; weights.len() - 1],
        }
    }

    /// synflow of a bias-free linear chain: `R = 1^T |W_2| |W_1| 1`, and each layer's sum
    /// `sum |W . dR/dW|` equals R by homogeneity, so the score is `L R`. W_1 = [[1, -2], [3, 0.5]]
    /// and W_2 = [[-1, 2]]: |W_1| 1 = (3, 3.5), R = 1 * 3 + 2 * 3.5 = 10, score 2 * 10 = 20.
    #[test]
    fn synflow_of_a_linear_chain() {
        let net = linear_chain(&[from_rows(2, 2, &[1.0, -2.0, 3.0, 0.5]), from_rows(1, 2, &[-1.0, 2.0])]);
        assert!((synflow(&net) - 20.0).abs() < 1e-12, "{}", synflow(&net));
    }

    /// One linear layer W = [[1, 0], [0, 2]] (logits W x), one input x = (1, 1), label 0:
    /// logits (1, 2), p = (e^1, e^2)/(e^1 + e^2) = (0.268941, 0.731059), dL/dlogits = p - (1, 0)
    /// = (-0.731059, 0.731059), dL/dW = (p - e_0) x^T = [[-0.731059, -0.731059], [0.731059,
    /// 0.731059]]. grad_norm = ||.||_F = 2 * 0.731059 = 1.462117; snip = |1 * -0.731059| + 0 +
    /// 0 + |2 * 0.731059| = 3 * 0.731059 = 2.193176. fisher: z = (1, 2), dL/dz as above, n = 1:
    /// 0.5 * ((1 * -0.731059)^2 + (2 * 0.731059)^2) = 0.5 * 5 * 0.534447 = 1.336117.
    #[test]
    fn gradient_proxies_by_hand() {
        let net = linear_chain(&[from_rows(2, 2, &[1.0, 0.0, 0.0, 2.0])]);
        let x = from_rows(1, 2, &[1.0, 1.0]);
        let q = (2f64).exp() / ((1f64).exp() + (2f64).exp());
        assert!((grad_norm(&net, &x, &[0]) - 2.0 * q).abs() < 1e-12);
        assert!((snip(&net, &x, &[0]) - 3.0 * q).abs() < 1e-12);
        assert!((fisher(&net, &x, &[0]) - 0.5 * 5.0 * q * q).abs() < 1e-12);
    }

    /// GraSP's finite-difference `H g` against the exact Hessian of a softmax layer:
    /// `H = (1/n) sum_i (diag(p_i) - p_i p_i^T) kron x_i x_i^T` (weights row-major by output).
    #[test]
    fn grasp_matches_the_exact_hessian() {
        let w = from_rows(3, 2, &[0.3, -0.5, 0.8, 0.1, -0.2, 0.4]);
        let net = linear_chain(std::slice::from_ref(&w));
        let x = from_rows(2, 2, &[1.0, -0.5, 0.2, 0.7]);
        let labels = [2, 0];
        let (n, c, d) = (2, 3, 2);
        let g = ce_gradients(&net, &x, &labels)[0].0.clone();
        let logits = net.forward(&x);
        let mut hg = Matrix::zeros(c, d);
        for i in 0..n {
            let z: f64 = (0..c).map(|k| logits[(i, k)].exp()).sum();
            let p: Vec<f64> = (0..c).map(|k| logits[(i, k)].exp() / z).collect();
            for a in 0..c {
                for j in 0..d {
                    let mut s = 0.0;
                    for b in 0..c {
                        for k in 0..d {
                            let m = if a == b { p[a] } else { 0.0 } - p[a] * p[b];
                            s += m * x[(i, j)] * x[(i, k)] * g[(b, k)];
                        }
                    }
                    hg[(a, j)] += s / n as f64;
                }
            }
        }
        let exact: f64 = (0..c).flat_map(|a| (0..d).map(move |j| (a, j))).map(|(a, j)| -w[(a, j)] * hg[(a, j)]).sum();
        let ours = grasp(&net, &x, &labels);
        assert!((ours - exact).abs() < 1e-8 * exact.abs().max(1.0), "{ours} vs {exact}");
    }

    /// jacob_cov of a linear net: every example has the same input gradient `W^T 1`, so corrcoef
    /// is the all-ones n x n matrix, eigenvalues (n, 0, ..., 0). For n = 3:
    /// -[(ln(3 + 1e-5) + 1/(3 + 1e-5)) + 2 (ln(1e-5) + 1e5)].
    #[test]
    fn jacob_cov_of_a_linear_net() {
        let net = linear_chain(&[from_rows(2, 3, &[1.0, -2.0, 0.5, 0.3, 0.0, 1.0])]);
        let x = from_rows(3, 3, &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0, 0.5, 0.5, 0.5]);
        let e = 1e-5f64;
        let expected = -(((3.0 + e).ln() + 1.0 / (3.0 + e)) + 2.0 * (e.ln() + 1.0 / e));
        let ours = jacob_cov(&net, &x).unwrap();
        assert!((ours - expected).abs() < 1e-6 * expected.abs(), "{ours} vs {expected}");
    }

    /// Min-max normalisation by hand, NaN -> 0.
    #[test]
    fn normalisation_by_hand() {
        let m = vec![vec![1.0, f64::NAN], vec![3.0, 2.0], vec![2.0, 4.0]];
        let n = normalise(&m);
        assert_eq!(n, vec![vec![0.0, 0.0], vec![1.0, 0.0], vec![0.5, 1.0]]);
    }

    /// A tiny search end to end: every number finite, RoBoT no worse than random search on
    /// average with this budget (both pick by validation accuracy).
    #[test]
    fn tiny_search_runs() {
        let config = ZeroCostNasConfig { depths: vec![1], widths: vec![8, 16], activations: vec!["relu".into(), "tanh".into()], val_epochs: 1, test_epochs: 2, budget: 2, searches: 3, candidates: 50, ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        assert_eq!(report.numbers["architectures"], 4.0);
        for (k, v) in &report.numbers {
            assert!(v.is_finite(), "{k} = {v}");
        }
        assert!(report.numbers["optimal.test_acc"] >= report.numbers["robot.test_acc"]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = ZeroCostNasConfig::default();
        for (field, c) in [
            ("depths", ZeroCostNasConfig { depths: vec![], ..ok.clone() }),
            ("depths", ZeroCostNasConfig { depths: vec![0], ..ok.clone() }),
            ("widths", ZeroCostNasConfig { widths: vec![0], ..ok.clone() }),
            ("activations", ZeroCostNasConfig { activations: vec!["nope".into()], ..ok.clone() }),
            ("proxy_batch", ZeroCostNasConfig { proxy_batch: 1, ..ok.clone() }),
            ("batch", ZeroCostNasConfig { batch: 0, ..ok.clone() }),
            ("lr", ZeroCostNasConfig { lr: f64::NAN, ..ok.clone() }),
            ("budget", ZeroCostNasConfig { budget: 0, ..ok.clone() }),
            ("searches", ZeroCostNasConfig { searches: 0, ..ok.clone() }),
            ("kappa", ZeroCostNasConfig { kappa: -1.0, ..ok.clone() }),
            ("length_scale", ZeroCostNasConfig { length_scale: 0.0, ..ok.clone() }),
            ("candidates", ZeroCostNasConfig { candidates: 0, ..ok.clone() }),
        ] {
            assert!(c.validate().unwrap_err().to_string().contains(field), "{field}");
        }
    }
}
