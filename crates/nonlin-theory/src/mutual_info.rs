//! Adaptive mutual-information estimators and the information plane (Chelombiev, Houghton and
//! O'Donnell, "Adaptive Estimators Show Information Compression in Deep Neural Networks",
//! arXiv:1902.09037): `I(X;T)` and `I(T;Y)` of every hidden layer T over training, with the
//! activations binned by entropy-based adaptive binning (EBAB) or by the fixed-width baseline.
//!
//! For a deterministic net on distinct inputs the binned `H(T|X) = 0`, so (in bits, over the joint
//! bin pattern of the whole layer)
//! `I(X;T) = H(T)` and `I(T;Y) = H(T) - sum_y p(y) H(T | Y = y)`.
//! EBAB bins (per layer, per recorded epoch): the sorted unique activation values of the layer
//! `u_0 < ... < u_{U-1}` (the lowest edge removed), edges `[low, u_{floor(kU/B)} for k < B, u_{U-1}]`
//! with `low = 0` for non-negative activations and `-1.000001` otherwise; a value's bin is the
//! number of edges at or below it (`numpy.digitize`). The baseline bins every activation on `B`
//! fixed edges `linspace(-1, 1, B)` (the original IDNNs code), which lumps all ReLU values above 1
//! into one bin.
//!
//! Set-up (notes section 6.4): all 4096 12-bit inputs, 80% of them for training (the information is
//! measured on the training rows), net 12-10-7-5-4-3-2 with softmax output, He-scaled truncated
//! normal weights, zero biases, Adam (lr 4e-4) on the mean cross-entropy in batches of 256; each
//! variant is an activation, optionally with L2 (`relu+l2`: penalty `l2 * sum ||W||^2 / 2` on every
//! weight matrix but the last).
//!
//! UNCONFIRMED (config fields or documented): the label rule (the notes': a fixed random quadratic
//! form of the +-1 bits `s^T A s`, above its median is class 1; Tishby's exact rule is not
//! reproduced), the L2 form (`tf.nn.l2_loss`, i.e. halved), and the baseline's value below -1
//! (its own bin). The KDE estimator of the paper is not implemented.
//!
//! On a trained run folder (`nonlin probe mutual_info RUN_DIR`): a classification run of an `mlp`
//! (a typed error names the mismatch otherwise). The information plane of every hidden layer is
//! measured on the run's training rows (up to `--rows`, distinct inputs assumed as above) with
//! both estimators (`bins` bins), at the run's initialisation (rebuilt from its seed) and at its
//! saved checkpoint: a run folder keeps only its latest checkpoint, so "over training" is these
//! two points. Beside them: `H(Y)`, the bound `log2(rows)`, the trained network's test accuracy
//! on the run's test rows (computed in f64 from its weights) and the run's logged one.

use std::collections::HashMap;

use nonlin_data::Rng;
use nonlin_nn::Model;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::linalg::to_rows;
use crate::kernels::{DenseNet, Matrix, ScalarActivation, gaussian};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "mutual_info";

/// Configuration of the information-plane probe (notes section 6.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MutualInfoConfig {
    /// Runs: an activation name, `+l2` for the L2-regularised variant (`relu+l2`).
    pub variants: Vec<String>,
    /// Input bits (2^bits inputs).
    pub bits: usize,
    /// Hidden widths (the paper's net "1": 10-7-5-4-3).
    pub hidden: Vec<usize>,
    /// Fraction of the inputs used for training (and for the information).
    pub train_fraction: f64,
    pub epochs: usize,
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// L2 penalty of the `+l2` variants (paper's CLI default 0.015).
    pub l2: f64,
    /// Bins per layer (`num_of_bins`, paper 30).
    pub bins: usize,
    /// The information is measured every this many epochs.
    pub record_every: usize,
    /// Initial weights: truncated normal (redrawn beyond 2 std) with std `init_gain / sqrt(fan_in)`.
    pub init_gain: f64,
    /// Initial value of every bias (UNCONFIRMED; 0 in the IDNNs code as we read it).
    pub bias_init: f64,
}

impl Default for MutualInfoConfig {
    fn default() -> Self {
        Self {
            variants: vec!["tanh".into(), "relu".into(), "relu+l2".into()],
            bits: 12,
            hidden: vec![10, 7, 5, 4, 3],
            train_fraction: 0.8,
            epochs: 3000,
            batch: 256,
            lr: 4e-4,
            l2: 0.015,
            bins: 30,
            record_every: 20,
            init_gain: 1.0,
            bias_init: 0.0,
        }
    }
}

/// EBAB edges of a layer's activations (all units pooled): `[low, u_{floor(kU/B)}, u_{U-1}]`.
pub fn ebab_edges(values: &[f64], bins: usize, low: f64) -> Vec<f64> {
    let mut unique: Vec<f64> = values.iter().copied().filter(|&v| v != low).collect();
    unique.sort_by(f64::total_cmp);
    unique.dedup();
    let mut edges = vec![low];
    if let Some(&last) = unique.last() {
        let u = unique.len() as f64;
        edges.extend((0..bins).map(|k| unique[(k as f64 * (u / bins as f64)) as usize]));
        edges.push(last);
    }
    edges
}

/// The fixed-width baseline: `bins` edges `linspace(-1, 1, bins)`.
pub fn fixed_edges(bins: usize) -> Vec<f64> {
    (0..bins).map(|k| -1.0 + 2.0 * k as f64 / (bins - 1) as f64).collect()
}

/// `(I(X;T), I(T;Y))` in bits of a layer `[n, width]` on distinct inputs with labels `labels`,
/// each value binned by the number of `edges` at or below it.
pub fn binned_information(layer: &Matrix, labels: &[usize], edges: &[f64]) -> (f64, f64) {
    let n = layer.nrows();
    let mut patterns: HashMap<Vec<u16>, Vec<usize>> = HashMap::new();
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    for i in 0..n {
        let key: Vec<u16> = (0..layer.ncols())
            .map(|j| edges.partition_point(|&e| e <= layer[(i, j)]) as u16)
            .collect();
        patterns.entry(key).or_insert_with(|| vec![0; classes])[labels[i]] += 1;
    }
    let entropy = |counts: &mut dyn Iterator<Item = usize>, total: usize| -> f64 {
        counts
            .filter(|&c| c > 0)
            .map(|c| {
                let p = c as f64 / total as f64;
                -p * p.log2()
            })
            .sum()
    };
    let h_t = entropy(&mut patterns.values().map(|c| c.iter().sum()), n);
    let mut h_t_given_y = 0.0;
    for y in 0..classes {
        let ny = labels.iter().filter(|&&l| l == y).count();
        if ny > 0 {
            h_t_given_y += ny as f64 / n as f64 * entropy(&mut patterns.values().map(|c| c[y]), ny);
        }
    }
    (h_t, h_t - h_t_given_y)
}

/// The data set: every `bits`-bit input (0/1) and its label, `s^T A s > median` for the +-1 bits
/// `s` and a random symmetric `A` (zero diagonal).
pub fn quadratic_bits(bits: usize, rng: &mut Rng) -> (Matrix, Vec<usize>) {
    let n = 1usize << bits;
    let mut a = Matrix::zeros(bits, bits);
    for i in 0..bits {
        for j in 0..i {
            let v = gaussian(rng);
            a[(i, j)] = v;
            a[(j, i)] = v;
        }
    }
    let x = Matrix::from_fn(n, bits, |i, j| ((i >> j) & 1) as f64);
    let score: Vec<f64> = (0..n)
        .map(|i| {
            let s = |j: usize| 2.0 * x[(i, j)] - 1.0;
            (0..bits).map(|p| (0..bits).map(|q| s(p) * a[(p, q)] * s(q)).sum::<f64>()).sum()
        })
        .collect();
    let mut sorted = score.clone();
    sorted.sort_by(f64::total_cmp);
    let median = 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    (x, score.iter().map(|&s| usize::from(s > median)).collect())
}

/// Mean cross-entropy of softmax logits and `d loss / d logits` (`(softmax - onehot) / n`).
pub fn softmax_cross_entropy(logits: &Matrix, labels: &[usize]) -> (f64, Matrix) {
    let (n, c) = (logits.nrows(), logits.ncols());
    let mut grad = Matrix::zeros(n, c);
    let mut loss = 0.0;
    for i in 0..n {
        let max = (0..c).map(|j| logits[(i, j)]).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = (0..c).map(|j| (logits[(i, j)] - max).exp()).sum();
        loss += z.ln() + max - logits[(i, labels[i])];
        for j in 0..c {
            let p = (logits[(i, j)] - max).exp() / z;
            grad[(i, j)] = (p - f64::from(u8::from(j == labels[i]))) / n as f64;
        }
    }
    (loss / n as f64, grad)
}

/// Adam (TensorFlow defaults beta1 0.9, beta2 0.999, eps 1e-8) over the layers of a [`DenseNet`].
pub(crate) struct Adam {
    lr: f64,
    t: i32,
    m: Vec<(Matrix, Vec<f64>)>,
    v: Vec<(Matrix, Vec<f64>)>,
}

impl Adam {
    pub(crate) fn new(net: &DenseNet, lr: f64) -> Self {
        let zeros: Vec<_> = net
            .layers
            .iter()
            .map(|l| (Matrix::zeros(l.fan_out(), l.fan_in()), vec![0.0; l.fan_out()]))
            .collect();
        Self { lr, t: 0, m: zeros.clone(), v: zeros }
    }

    pub(crate) fn step(&mut self, net: &mut DenseNet, grads: &[(Matrix, Option<Vec<f64>>)]) {
        let (b1, b2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
        self.t += 1;
        let lr_t = self.lr * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t));
        let update = |p: &mut f64, g: f64, m: &mut f64, v: &mut f64| {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr_t * *m / (v.sqrt() + eps);
        };
        for (l, layer) in net.layers.iter_mut().enumerate() {
            let (gw, gb) = &grads[l];
            let (mw, mb) = &mut self.m[l];
            let (vw, vb) = &mut self.v[l];
            for i in 0..layer.fan_out() {
                for j in 0..layer.fan_in() {
                    update(&mut layer.weight[(i, j)], gw[(i, j)], &mut mw[(i, j)], &mut vw[(i, j)]);
                }
            }
            if let (Some(b), Some(gb)) = (&mut layer.bias, gb) {
                for o in 0..b.len() {
                    update(&mut b[o], gb[o], &mut mb[o], &mut vb[o]);
                }
            }
        }
    }
}

/// One recorded epoch: per hidden layer `(I(X;T), I(T;Y))` by EBAB and by the fixed baseline.
#[derive(Debug, Clone)]
struct Record {
    epoch: usize,
    ebab: Vec<(f64, f64)>,
    fixed: Vec<(f64, f64)>,
}

/// One trained variant.
struct Run {
    records: Vec<Record>,
    train_accuracy: f64,
    test_accuracy: f64,
}

fn accuracy(net: &DenseNet, x: &Matrix, labels: &[usize]) -> f64 {
    let out = net.forward(x);
    let right = (0..x.nrows())
        .filter(|&i| {
            let best = (0..out.ncols()).max_by(|&a, &b| out[(i, a)].total_cmp(&out[(i, b)]));
            best == Some(labels[i])
        })
        .count();
    right as f64 / x.nrows() as f64
}

fn rows(x: &Matrix, idx: &[usize]) -> Matrix {
    Matrix::from_fn(idx.len(), x.ncols(), |i, j| x[(idx[i], j)])
}

impl MutualInfoConfig {
    /// Trains one variant and records the information of every hidden layer.
    fn train(&self, variant: &str, data: (&Matrix, &[usize], &Matrix, &[usize]), rng: &mut Rng) -> Result<Run, TheoryError> {
        let (x, y, x_test, y_test) = data;
        let (act, l2) = match variant.strip_suffix("+l2") {
            Some(a) => (a, self.l2),
            None => (variant, 0.0),
        };
        let activation = ScalarActivation::from_spec(act)?;
        let mut widths = vec![self.bits];
        widths.extend(&self.hidden);
        widths.push(2);
        let mut net = DenseNet::standard_init(&widths, 1.0, 0.0, true, activation.clone(), rng);
        for layer in &mut net.layers {
            // truncated normal (redrawn beyond 2 std), std init_gain / sqrt(fan_in)
            let std = self.init_gain / (layer.fan_in() as f64).sqrt();
            layer.bias = Some(vec![self.bias_init; layer.fan_out()]);
            layer.weight = Matrix::from_fn(layer.fan_out(), layer.fan_in(), |_, _| loop {
                let z = gaussian(rng);
                if z.abs() <= 2.0 {
                    break std * z;
                }
            });
        }
        let low = if activation.value(-1.0) >= 0.0 { 0.0 } else { -1.000001 };
        let fixed = fixed_edges(self.bins);
        let mut adam = Adam::new(&net, self.lr);
        let mut order: Vec<usize> = (0..x.nrows()).collect();
        let mut records = Vec::new();
        let layers = net.layers.len();
        for epoch in 0..=self.epochs {
            if epoch % self.record_every == 0 || epoch == self.epochs {
                let trace = net.trace(x);
                let mut record = Record { epoch, ebab: Vec::new(), fixed: Vec::new() };
                for t in &trace.inputs[1..] {
                    let edges = ebab_edges(&to_rows(t), self.bins, low);
                    record.ebab.push(binned_information(t, y, &edges));
                    record.fixed.push(binned_information(t, y, &fixed));
                }
                records.push(record);
            }
            if epoch == self.epochs {
                break;
            }
            rng.shuffle(&mut order);
            for batch in order.chunks(self.batch) {
                let xb = rows(x, batch);
                let yb: Vec<usize> = batch.iter().map(|&i| y[i]).collect();
                let trace = net.trace(&xb);
                let (_, top) = softmax_cross_entropy(&trace.output, &yb);
                let mut grads = net.gradients(&trace, top);
                for (l, (gw, _)) in grads.iter_mut().enumerate().take(layers - 1) {
                    *gw += &net.layers[l].weight * l2;
                }
                adam.step(&mut net, &grads);
            }
        }
        Ok(Run { records, train_accuracy: accuracy(&net, x, y), test_accuracy: accuracy(&net, x_test, y_test) })
    }
}

fn key(variant: &str) -> String {
    variant.replace('+', "_")
}

impl Probe for MutualInfoConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        non_empty(NAME, "variants", &self.variants)?;
        for v in &self.variants {
            ScalarActivation::from_spec(v.strip_suffix("+l2").unwrap_or(v)).map_err(|e| TheoryError::config(NAME, "variants", e.to_string()))?;
        }
        in_range(NAME, "bits", self.bits, 2, 16)?;
        non_empty(NAME, "hidden", &self.hidden)?;
        if self.hidden.iter().any(|&w| w == 0 || w > 10_000) {
            return Err(TheoryError::config(NAME, "hidden", "every width must be in 1..=10000"));
        }
        if !(self.train_fraction > 0.0 && self.train_fraction <= 1.0) {
            return Err(TheoryError::config(NAME, "train_fraction", format!("must lie in (0, 1], got {}", self.train_fraction)));
        }
        in_range(NAME, "epochs", self.epochs, 0, 10_000_000)?;
        in_range(NAME, "batch", self.batch, 1, 1 << 20)?;
        positive(NAME, "lr", self.lr)?;
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(TheoryError::config(NAME, "l2", format!("must be a finite number >= 0, got {}", self.l2)));
        }
        in_range(NAME, "bins", self.bins, 2, 60_000)?;
        in_range(NAME, "record_every", self.record_every, 1, 10_000_000)?;
        positive(NAME, "init_gain", self.init_gain)?;
        if !(self.bias_init.is_finite() && self.bias_init.abs() <= 1e3) {
            return Err(TheoryError::config(NAME, "bias_init", format!("must be a finite number in [-1000, 1000], got {}", self.bias_init)));
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.variants {
            let v = key(v);
            for what in [
                "last.ity_final",
                "last.ity_max",
                "last.ixt_final",
                "last.ixt_max",
                "last.compression",
                "bound_violations",
                "dpi_violation_frac",
                "ebab.first.ixt_frac",
                "fixed.first.ixt_frac",
                "ebab.last.ixt_frac",
                "fixed.last.ixt_frac",
                "fixed.last.compression",
                "train_accuracy",
                "test_accuracy",
                "l2_extra_compression",
            ] {
                out.push(format!("{v}.{what}"));
            }
        }
        out.extend(["h_y", "max_ixt"].map(String::from));
        out.extend(["run.h_y", "run.max_ixt", "run.rows", "run.layers", "run.model_accuracy", "run.logged_test_accuracy", "run.bound_violations"].map(String::from));
        for when in ["init", "final"] {
            for estimator in ["ebab", "fixed"] {
                for l in 1..=RUN_LAYERS {
                    out.push(format!("run.{when}.{estimator}.layer{l}.ixt"));
                    out.push(format!("run.{when}.{estimator}.layer{l}.ity"));
                }
            }
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        if input.model.is_some() {
            return self.on_run(input);
        }
        let mut report = ProbeReport::default();
        let mut rng = Rng::seed(input.seed);
        let (x_all, y_all) = quadratic_bits(self.bits, &mut rng);
        let mut order: Vec<usize> = (0..x_all.nrows()).collect();
        rng.shuffle(&mut order);
        let n_train = ((x_all.nrows() as f64 * self.train_fraction).round() as usize).clamp(1, x_all.nrows());
        let (train, test) = order.split_at(n_train);
        let test = if test.is_empty() { train } else { test };
        let (x, x_test) = (rows(&x_all, train), rows(&x_all, test));
        let y: Vec<usize> = train.iter().map(|&i| y_all[i]).collect();
        let y_test: Vec<usize> = test.iter().map(|&i| y_all[i]).collect();
        let p1 = y.iter().sum::<usize>() as f64 / y.len() as f64;
        let h_y = if p1 > 0.0 && p1 < 1.0 { -p1 * p1.log2() - (1.0 - p1) * (1.0 - p1).log2() } else { 0.0 };
        let max_ixt = (n_train as f64).log2();
        report.set("h_y", h_y);
        report.set("max_ixt", max_ixt);
        let mut table = ReportTable::new(
            "information",
            "last hidden layer (EBAB): fitting, compression, accuracy",
            ["variant", "I(T;Y) final", "I(X;T) max", "I(X;T) final", "compression", "fixed-bin compression", "train acc", "test acc"],
        );
        let mut compression = HashMap::new();
        for variant in &self.variants {
            let run = self.train(variant, (&x, &y, &x_test, &y_test), &mut rng)?;
            let v = key(variant);
            let hidden = self.hidden.len();
            let last = |r: &Record, fixed: bool| if fixed { r.fixed[hidden - 1] } else { r.ebab[hidden - 1] };
            let fin = run.records.last().expect("recorded at the end");
            let ixt_max = run.records.iter().map(|r| last(r, false).0).fold(f64::NEG_INFINITY, f64::max);
            let ity_max = run.records.iter().map(|r| last(r, false).1).fold(f64::NEG_INFINITY, f64::max);
            let fixed_max = run.records.iter().map(|r| last(r, true).0).fold(f64::NEG_INFINITY, f64::max);
            let (ixt_final, ity_final) = last(fin, false);
            let tol = 1e-9;
            let mut violations = 0;
            let mut dpi = 0;
            for r in &run.records {
                for (l, &(ixt, ity)) in r.ebab.iter().enumerate() {
                    if ity < -tol || ity > h_y + tol || ity > ixt + tol || ixt > max_ixt + tol {
                        violations += 1;
                    }
                    if l > 0 && ixt > r.ebab[l - 1].0 + 0.05 {
                        dpi += 1;
                    }
                }
            }
            let frac = |fixed: bool, layer: usize| {
                run.records.iter().map(|r| if fixed { r.fixed[layer].0 } else { r.ebab[layer].0 }).sum::<f64>() / (run.records.len() as f64 * max_ixt)
            };
            report.set(format!("{v}.last.ity_final"), ity_final);
            report.set(format!("{v}.last.ity_max"), ity_max);
            report.set(format!("{v}.last.ixt_final"), ixt_final);
            report.set(format!("{v}.last.ixt_max"), ixt_max);
            report.set(format!("{v}.last.compression"), ixt_max - ixt_final);
            report.set(format!("{v}.fixed.last.compression"), fixed_max - last(fin, true).0);
            report.set(format!("{v}.bound_violations"), f64::from(violations));
            report.set(format!("{v}.dpi_violation_frac"), f64::from(dpi) / (run.records.len() * hidden.saturating_sub(1).max(1)) as f64);
            report.set(format!("{v}.ebab.first.ixt_frac"), frac(false, 0));
            report.set(format!("{v}.fixed.first.ixt_frac"), frac(true, 0));
            report.set(format!("{v}.ebab.last.ixt_frac"), frac(false, hidden - 1));
            report.set(format!("{v}.fixed.last.ixt_frac"), frac(true, hidden - 1));
            report.set(format!("{v}.train_accuracy"), run.train_accuracy);
            report.set(format!("{v}.test_accuracy"), run.test_accuracy);
            compression.insert(variant.clone(), ixt_max - ixt_final);
            table.push([
                variant.clone(),
                format!("{ity_final:.3}"),
                format!("{ixt_max:.3}"),
                format!("{ixt_final:.3}"),
                format!("{:.3}", ixt_max - ixt_final),
                format!("{:.3}", fixed_max - last(fin, true).0),
                format!("{:.4}", run.train_accuracy),
                format!("{:.4}", run.test_accuracy),
            ]);
            for (estimator, fixed) in [("ebab", false), ("fixed", true)] {
                let mut plane = SeriesGroup::new(
                    &format!("plane_{v}_{estimator}"),
                    &format!("information plane, {variant}, {estimator} bins (one point per {} epochs)", self.record_every),
                    "I(X;T) (bits)",
                    "I(T;Y) (bits)",
                );
                for l in 0..hidden {
                    plane = plane.line(format!("layer {}", l + 1), run.records.iter().map(|r| if fixed { r.fixed[l] } else { r.ebab[l] }).collect());
                }
                report.series.push(plane);
            }
            let mut over_time = SeriesGroup::new(&format!("ixt_{v}"), &format!("I(X;T) per layer over training, {variant}, EBAB"), "epoch", "I(X;T) (bits)");
            for l in 0..hidden {
                over_time = over_time.line(format!("layer {}", l + 1), run.records.iter().map(|r| (r.epoch as f64, r.ebab[l].0)).collect());
            }
            report.series.push(over_time);
        }
        for variant in &self.variants {
            if let Some(base) = variant.strip_suffix("+l2")
                && let (Some(with), Some(without)) = (compression.get(variant), compression.get(base))
            {
                report.set(format!("{}.l2_extra_compression", key(variant)), with - without);
            }
        }
        report.tables.push(table);
        report.notes.push(format!(
            "All {} inputs of {} bits, label s^T A s > median (H(Y) = {h_y:.4} bits), {} training rows (I(X;T) <= {max_ixt:.2} bits); net {}-{}-2, Adam lr {}, batch {}, {} epochs, L2 {} on the `+l2` variants; {} EBAB bins per layer every {} epochs. Compression = max over training of I(X;T_last) minus its final value.",
            x_all.nrows(),
            self.bits,
            n_train,
            self.bits,
            self.hidden.iter().map(ToString::to_string).collect::<Vec<_>>().join("-"),
            self.lr,
            self.batch,
            self.epochs,
            self.l2,
            self.bins,
            self.record_every
        ));
        Ok(report)
    }
}

/// Hidden layers a run-folder report names in its metric list (it reports every layer).
const RUN_LAYERS: usize = 8;

impl MutualInfoConfig {
    /// `(I(X;T), I(T;Y))` of every hidden layer of `model` on `x`, by EBAB and by fixed bins.
    fn run_plane(&self, model: &Model, x: &Matrix, y: &[usize]) -> Result<Vec<[(f64, f64); 2]>, TheoryError> {
        let net = DenseNet::of_model(model, NAME)?;
        let trace = net.trace(x);
        let fixed = fixed_edges(self.bins);
        Ok(trace.inputs[1..]
            .iter()
            .zip(&net.activations)
            .map(|(t, activation)| {
                let low = if activation.value(-1.0) >= 0.0 { 0.0 } else { -1.000001 };
                let edges = ebab_edges(&to_rows(t), self.bins, low);
                [binned_information(t, y, &edges), binned_information(t, y, &fixed)]
            })
            .collect())
    }

    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        let net = DenseNet::of_model(model, NAME)?;
        let test_labels = crate::probe::labels_of(data, NAME)?;
        let train = run.train.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "it needs the run's training rows".into() })?;
        let y: Vec<usize> = crate::probe::labels_of(train, NAME)?.iter().map(|&l| l as usize).collect();
        if net.activations.is_empty() {
            return Err(TheoryError::Model { probe: NAME, reason: "the run's mlp has no hidden layer".into() });
        }
        let x = &train.inputs;
        let n = x.nrows();
        let classes = y.iter().copied().max().map_or(0, |m| m + 1);
        let h_y: f64 = (0..classes)
            .map(|c| y.iter().filter(|&&l| l == c).count() as f64 / n as f64)
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.log2())
            .sum();
        let mut report = ProbeReport::default();
        report.set("run.h_y", h_y);
        report.set("run.max_ixt", (n as f64).log2());
        report.set("run.rows", n as f64);
        report.set("run.layers", net.activations.len() as f64);
        report.set("run.model_accuracy", net.accuracy(&data.inputs, test_labels));
        report.set("run.logged_test_accuracy", run.final_metrics.get("test_accuracy").copied().unwrap_or(f64::NAN));
        let mut planes = vec![("final", self.run_plane(model, x, &y)?)];
        if let Some(initial) = run.initial {
            planes.insert(0, ("init", self.run_plane(initial, x, &y)?));
        }
        let mut table = ReportTable::new("run_information", "the run's hidden layers on its training rows: I(X;T) and I(T;Y) in bits", ["when", "layer", "EBAB I(X;T)", "EBAB I(T;Y)", "fixed I(X;T)", "fixed I(T;Y)"]);
        let mut violations = 0usize;
        for (when, plane) in &planes {
            for (l, pair) in plane.iter().enumerate() {
                for (estimator, (ixt, ity)) in ["ebab", "fixed"].iter().zip(pair) {
                    report.set(format!("run.{when}.{estimator}.layer{}.ixt", l + 1), *ixt);
                    report.set(format!("run.{when}.{estimator}.layer{}.ity", l + 1), *ity);
                    // I(T;Y) <= min(I(X;T), H(Y)) and I(X;T) <= log2 n hold for any binning
                    let tol = 1e-9;
                    violations += usize::from(*ity > ixt + tol || *ity > h_y + tol || *ixt > (n as f64).log2() + tol);
                }
                table.push([when.to_string(), (l + 1).to_string(), format!("{:.3}", pair[0].0), format!("{:.3}", pair[0].1), format!("{:.3}", pair[1].0), format!("{:.3}", pair[1].1)]);
            }
        }
        report.set("run.bound_violations", violations as f64);
        report.tables.push(table);
        for (e, estimator) in ["ebab", "fixed"].iter().enumerate() {
            let mut group = SeriesGroup::new(&format!("run_plane_{estimator}"), &format!("the run's information plane ({estimator}): initialisation to end, per layer"), "I(X;T) (bits)", "I(T;Y) (bits)");
            for l in 0..net.activations.len() {
                group = group.line(format!("layer {}", l + 1), planes.iter().map(|(_, p)| p[l][e]).collect());
            }
            report.series.push(group);
        }
        report.notes.push(format!(
            "Run: {} hidden layers, {n} training rows, {classes} classes (H(Y) = {h_y:.3} bits, I(X;T) <= log2 n = {:.3} bits), {} bins. The points are the model at initialisation (rebuilt from the run's seed){} and at its checkpoint.",
            net.activations.len(),
            (n as f64).log2(),
            self.bins,
            if run.initial.is_some() { "" } else { " (not available: imported weights)" }
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::linalg::from_rows;

    /// EBAB edges by hand: values {0, 0, 1, 2, 3, 4, 5, 6} with low 0 and B = 3: the unique
    /// non-low values are [1..6] (U = 6), indices floor(k * 6/3) = 0, 2, 4 -> 1, 3, 5, then the
    /// maximum 6: edges [0, 1, 3, 5, 6].
    #[test]
    fn ebab_edges_by_hand() {
        let v = [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(ebab_edges(&v, 3, 0.0), vec![0.0, 1.0, 3.0, 5.0, 6.0]);
        assert_eq!(fixed_edges(3), vec![-1.0, 0.0, 1.0]);
    }

    /// Four distinct one-unit codes: H(T) = 2 bits; labels [0, 0, 1, 1]: I(T;Y) = 1 bit. Two
    /// codes merged per class (values 0.1, 0.2 and 0.8, 0.9 with edges [-1, 0, 0.5, 1]): H(T) = 1
    /// and I(T;Y) = 1. All codes in one bin: both 0.
    #[test]
    fn binned_information_by_hand() {
        let t = from_rows(4, 1, &[0.1, 0.2, 0.8, 0.9]);
        let labels = [0, 0, 1, 1];
        let (ixt, ity) = binned_information(&t, &labels, &[0.0, 0.15, 0.5, 0.85, 1.0]);
        assert!((ixt - 2.0).abs() < 1e-12 && (ity - 1.0).abs() < 1e-12, "{ixt} {ity}");
        let (ixt, ity) = binned_information(&t, &labels, &[-1.0, 0.0, 0.5, 1.0]);
        assert!((ixt - 1.0).abs() < 1e-12 && (ity - 1.0).abs() < 1e-12, "{ixt} {ity}");
        let (ixt, ity) = binned_information(&t, &labels, &[2.0]);
        assert!(ixt.abs() < 1e-12 && ity.abs() < 1e-12);
        // labels independent of the bins: [0, 1, 0, 1] with the two-bin split gives I(T;Y) = 0
        let (_, ity) = binned_information(&t, &[0, 1, 0, 1], &[-1.0, 0.0, 0.5, 1.0]);
        assert!(ity.abs() < 1e-12);
    }

    /// The fixed [-1, 1] bins lump every ReLU value above 1 into one bin; EBAB separates them.
    #[test]
    fn fixed_bins_lump_large_relu_values() {
        let t = from_rows(4, 1, &[1.5, 2.5, 4.0, 7.0]);
        let labels = [0, 0, 1, 1];
        assert!(binned_information(&t, &labels, &fixed_edges(30)).0.abs() < 1e-12);
        let edges = ebab_edges(&[1.5, 2.5, 4.0, 7.0], 30, 0.0);
        assert!((binned_information(&t, &labels, &edges).0 - 2.0).abs() < 1e-12);
    }

    /// The softmax cross-entropy gradient and the net's backprop against central differences in
    /// f64, for every weight and bias.
    #[test]
    fn cross_entropy_gradients_match_finite_differences() {
        let mut rng = Rng::seed(3);
        let x = Matrix::from_fn(5, 3, |_, _| gaussian(&mut rng));
        let labels = [0, 1, 1, 0, 1];
        for act in ["tanh", "relu"] {
            let mut net = DenseNet::standard_init(&[3, 4, 3, 2], 1.0, 0.5, true, ScalarActivation::from_spec(act).unwrap(), &mut rng);
            let trace = net.trace(&x);
            let grads = net.gradients(&trace, softmax_cross_entropy(&trace.output, &labels).1);
            let h = 1e-6;
            for (l, grad) in grads.iter().enumerate() {
                for (i, j) in [(0, 0), (1, 2), (net.layers[l].fan_out() - 1, 1)] {
                    let w = net.layers[l].weight[(i, j)];
                    net.layers[l].weight[(i, j)] = w + h;
                    let up = softmax_cross_entropy(&net.forward(&x), &labels).0;
                    net.layers[l].weight[(i, j)] = w - h;
                    let down = softmax_cross_entropy(&net.forward(&x), &labels).0;
                    net.layers[l].weight[(i, j)] = w;
                    let fd = (up - down) / (2.0 * h);
                    assert!((fd - grad.0[(i, j)]).abs() < 1e-7, "{act} W{l}[{i},{j}]: {fd} vs {}", grad.0[(i, j)]);
                }
                let b = net.layers[l].bias.as_ref().unwrap()[1];
                net.layers[l].bias.as_mut().unwrap()[1] = b + h;
                let up = softmax_cross_entropy(&net.forward(&x), &labels).0;
                net.layers[l].bias.as_mut().unwrap()[1] = b - h;
                let down = softmax_cross_entropy(&net.forward(&x), &labels).0;
                net.layers[l].bias.as_mut().unwrap()[1] = b;
                let fd = (up - down) / (2.0 * h);
                assert!((fd - grad.1.as_ref().unwrap()[1]).abs() < 1e-7, "{act} b{l}: {fd}");
            }
        }
    }

    /// The label rule splits the 4096 inputs in half (ties of s and -s stay on one side).
    #[test]
    fn labels_are_balanced() {
        let (x, y) = quadratic_bits(12, &mut Rng::seed(0));
        assert_eq!(x.nrows(), 4096);
        let ones = y.iter().sum::<usize>();
        assert!((1900..=2200).contains(&ones), "{ones}");
    }

    /// Notes 6.4 checks 1 and 2 at a smaller scale: the bounds hold at every record, and the last
    /// hidden layer of a ReLU net fits the labels (I(T;Y) well above 0).
    #[test]
    fn short_run_respects_the_bounds() {
        let config = MutualInfoConfig { variants: vec!["relu".into()], epochs: 200, record_every: 50, ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        let n = &report.numbers;
        assert_eq!(n["relu.bound_violations"], 0.0);
        assert!(n["relu.last.ity_final"] > 0.3, "{}", n["relu.last.ity_final"]);
        assert!((n["max_ixt"] - 3277f64.log2()).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = MutualInfoConfig::default();
        for (field, c) in [
            ("variants", MutualInfoConfig { variants: vec![], ..ok.clone() }),
            ("variants", MutualInfoConfig { variants: vec!["nope+l2".into()], ..ok.clone() }),
            ("bits", MutualInfoConfig { bits: 40, ..ok.clone() }),
            ("hidden", MutualInfoConfig { hidden: vec![], ..ok.clone() }),
            ("hidden", MutualInfoConfig { hidden: vec![0], ..ok.clone() }),
            ("train_fraction", MutualInfoConfig { train_fraction: f64::NAN, ..ok.clone() }),
            ("train_fraction", MutualInfoConfig { train_fraction: 0.0, ..ok.clone() }),
            ("batch", MutualInfoConfig { batch: 0, ..ok.clone() }),
            ("lr", MutualInfoConfig { lr: -1.0, ..ok.clone() }),
            ("l2", MutualInfoConfig { l2: f64::INFINITY, ..ok.clone() }),
            ("bins", MutualInfoConfig { bins: 1, ..ok.clone() }),
            ("record_every", MutualInfoConfig { record_every: 0, ..ok.clone() }),
            ("init_gain", MutualInfoConfig { init_gain: 0.0, ..ok.clone() }),
            ("bias_init", MutualInfoConfig { bias_init: f64::NAN, ..ok.clone() }),
            ("bias_init", MutualInfoConfig { bias_init: 1e9, ..ok.clone() }),
        ] {
            assert!(c.validate().unwrap_err().to_string().contains(field), "{field}");
        }
    }
}
