//! Feature emergence and grokking on modular addition (Tian, "Provable Scaling Laws of Feature
//! Emergence from Learning Dynamics of Grokking", arXiv:2509.21519, "Li_2"): the energy whose local
//! maxima are the features a hidden unit learns, how they depend on the amount of data, and a real
//! grokking run.
//!
//! Model: one-hot `a, b in Z_M`, hidden `h = W_a e_a + W_b e_b` (no bias), activation `x^2`, output
//! `W_c sigma(h)` (no bias). With a ridge top layer, a hidden unit `w = (w_a, w_b)` on the unit
//! sphere ascends the energy **`E(w) = 1/2 || Y~^T sigma(X w) ||^2`**, `Y~ = onehot(a + b) - 1/M`
//! over the training pairs (the notes' reconstruction; UNCONFIRMED as the paper's normalisation).
//! Its maxima on all M^2 pairs are single-frequency Fourier features with the same frequency in
//! both halves and energy M/4 (5.75 at M = 23: `w_a = w_b = cos(2 pi k a / M + phi) / sqrt(M)`);
//! with too few pairs the maxima stop being Fourier (memorisation).
//!
//! (a) projected gradient ascent on the sphere from random starts; (b) the same on random subsets
//! of the pairs; (c) training the full net (CE, full batch, AdamW with decoupled weight decay,
//! torch Linear init `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, `fan_in = 2M` for the hidden layer).
//! Power fraction of a half: the power of its top frequency pair `(k, M - k)` over its total power.
//!
//! On a trained run folder (`nonlin probe grokking RUN_DIR`): a run of an `mlp` on the
//! `modular_addition` data set (a typed error names the mismatch otherwise), whose first layer
//! `[hidden, 2M]` holds the learned embeddings `w_a = W_1[:, :M]`, `w_b = W_1[:, M:]` of every
//! hidden unit. The probe reads the run's logged train and test accuracy series (the steps at which
//! each first reaches `grok_accuracy`, and the delay between them) and reports the Fourier power
//! fraction of every unit's two embeddings at the run's initialisation (rebuilt from its seed) and
//! at its end: the mean over units and halves, the fraction of units whose both halves exceed
//! `fourier_threshold`, and the fraction whose halves share their top frequency. Beside them: the
//! trained network's test accuracy on the run's test rows (f64, from its weights) and the logged.
//!
//! UNCONFIRMED (config fields): the ascent's step rule (the notes give none; a step that is halved
//! until the energy does not decrease and grown by 1.1 after each step, from `ascent_lr`); the
//! weight-decay form (decoupled, AdamW: with the repo's coupled Adam decay the notes saw no
//! grokking at M = 23).

use nonlin_data::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::{DenseNet, Matrix, gaussian};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "grokking";

/// Configuration of the grokking probe (notes section 7.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrokkingConfig {
    /// The modulus M.
    pub modulus: usize,
    /// Random starts of the energy ascent.
    pub starts: usize,
    /// Ascent steps per start.
    pub ascent_steps: usize,
    /// Initial ascent step.
    pub ascent_lr: f64,
    /// Fractions of the M^2 pairs for the data-threshold analysis (b).
    pub fractions: Vec<f64>,
    /// Training fractions of the grokking runs (c); empty: no training.
    pub train_fractions: Vec<f64>,
    /// Hidden units of the trained net.
    pub hidden: usize,
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW (decoupled) weight decay.
    pub weight_decay: f64,
    /// Accuracies are recorded every this many epochs.
    pub record_every: usize,
    /// Test accuracy that counts as generalised (for the grokking delay).
    pub grok_accuracy: f64,
    /// Power fraction above which a trained unit counts as Fourier-dominated.
    pub fourier_threshold: f64,
}

impl Default for GrokkingConfig {
    fn default() -> Self {
        Self {
            modulus: 23,
            starts: 8,
            ascent_steps: 3000,
            ascent_lr: 1.0,
            fractions: vec![0.9, 0.8, 0.7, 0.6, 0.5, 0.3],
            train_fractions: vec![0.5, 0.3],
            hidden: 128,
            epochs: 15000,
            lr: 1e-3,
            weight_decay: 1.0,
            record_every: 50,
            grok_accuracy: 0.8,
            fourier_threshold: 0.6,
        }
    }
}

/// The power of the top frequency pair `(k, M - k)` of `u` over its total power, and that k.
pub fn power_fraction(u: &[f64]) -> (f64, usize) {
    let m = u.len();
    let power = |k: usize| {
        let (mut re, mut im) = (0.0, 0.0);
        for (j, v) in u.iter().enumerate() {
            let t = std::f64::consts::TAU * (k * j) as f64 / m as f64;
            re += v * t.cos();
            im -= v * t.sin();
        }
        re * re + im * im
    };
    let spectrum: Vec<f64> = (0..m).map(power).collect();
    let total: f64 = spectrum.iter().sum();
    let (mut best, mut k_best) = (0.0, 1);
    for k in 1..=(m - 1) / 2 {
        let p = spectrum[k] + spectrum[m - k];
        if p > best {
            (best, k_best) = (p, k);
        }
    }
    (if total > 0.0 { best / total } else { 0.0 }, k_best)
}

/// The energy over a set of pairs.
pub struct Energy {
    m: usize,
    pairs: Vec<(usize, usize)>,
}

impl Energy {
    pub fn new(m: usize, pairs: Vec<(usize, usize)>) -> Self {
        Self { m, pairs }
    }

    /// `v_c = sum_i Y~_ic h_i^2` for `h_i = w_a[a_i] + w_b[b_i]`.
    fn v(&self, w: &[f64]) -> Vec<f64> {
        let m = self.m;
        let mut v = vec![0.0; m];
        let mut total = 0.0;
        for &(a, b) in &self.pairs {
            let h = w[a] + w[m + b];
            v[(a + b) % m] += h * h;
            total += h * h;
        }
        v.iter().map(|x| x - total / m as f64).collect()
    }

    /// `E(w) = 1/2 ||v||^2`.
    pub fn value(&self, w: &[f64]) -> f64 {
        0.5 * self.v(w).iter().map(|x| x * x).sum::<f64>()
    }

    /// `dE/dw`: `dE/dh_i = 2 h_i (v_{y_i} - mean v)`, summed into the a- and b-halves.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let m = self.m;
        let v = self.v(w);
        let mean = v.iter().sum::<f64>() / m as f64;
        let mut g = vec![0.0; 2 * m];
        for &(a, b) in &self.pairs {
            let h = w[a] + w[m + b];
            let d = 2.0 * h * (v[(a + b) % m] - mean);
            g[a] += d;
            g[m + b] += d;
        }
        g
    }

    /// Projected gradient ascent on the unit sphere from `w`; returns the end point and energy.
    pub fn ascend(&self, mut w: Vec<f64>, steps: usize, lr0: f64) -> (Vec<f64>, f64) {
        let normalise = |w: &mut Vec<f64>| {
            let n = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            w.iter_mut().for_each(|x| *x /= n);
        };
        normalise(&mut w);
        let mut e = self.value(&w);
        let mut lr = lr0;
        for _ in 0..steps {
            let mut g = self.gradient(&w);
            let radial: f64 = g.iter().zip(&w).map(|(a, b)| a * b).sum();
            g.iter_mut().zip(&w).for_each(|(gi, wi)| *gi -= radial * wi);
            loop {
                let mut next: Vec<f64> = w.iter().zip(&g).map(|(a, b)| a + lr * b).collect();
                normalise(&mut next);
                let e_next = self.value(&next);
                if e_next >= e || lr < 1e-12 {
                    (w, e) = (next, e_next);
                    break;
                }
                lr *= 0.5;
            }
            lr *= 1.1;
        }
        (w, e)
    }
}

/// A start's result: energy, power fractions of both halves, and whether their k agree.
#[derive(Debug, Clone, Copy)]
struct Feature {
    energy: f64,
    power: f64,
    same_k: bool,
}

fn feature(energy: &Energy, m: usize, steps: usize, lr: f64, rng: &mut Rng) -> Feature {
    let start: Vec<f64> = (0..2 * m).map(|_| gaussian(rng)).collect();
    let (w, e) = energy.ascend(start, steps, lr);
    let (pa, ka) = power_fraction(&w[..m]);
    let (pb, kb) = power_fraction(&w[m..]);
    Feature { energy: e, power: pa.min(pb), same_k: ka == kb }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

fn pct(f: f64) -> String {
    format!("f{}", (f * 100.0).round() as i64)
}

/// The result of one training run.
struct Run {
    curve: Vec<(f64, f64, f64)>,
    train_full_epoch: Option<usize>,
    grok_epoch: Option<usize>,
    test_final: f64,
    fourier_units: f64,
}

impl GrokkingConfig {
    /// Trains the two-layer x^2 net on a random `fraction` of the pairs.
    fn train(&self, fraction: f64, rng: &mut Rng) -> Run {
        let (m, hdim) = (self.modulus, self.hidden);
        let mut pairs: Vec<(usize, usize)> = (0..m).flat_map(|a| (0..m).map(move |b| (a, b))).collect();
        rng.shuffle(&mut pairs);
        let n_train = ((pairs.len() as f64 * fraction) as usize).clamp(1, pairs.len() - 1);
        let (train, test) = pairs.split_at(n_train);
        let uniform = |rows: usize, cols: usize, fan_in: usize, rng: &mut Rng| {
            let bound = 1.0 / (fan_in as f64).sqrt();
            Matrix::from_fn(rows, cols, |_, _| bound * (2.0 * rng.uniform_f64() - 1.0))
        };
        // W_in = [W_a | W_b] as one Linear(2M, hidden)
        let mut params = [uniform(hdim, 2 * m, 2 * m, rng), uniform(m, hdim, hdim, rng)];
        let mut moments = [(Matrix::zeros(hdim, 2 * m), Matrix::zeros(hdim, 2 * m)), (Matrix::zeros(m, hdim), Matrix::zeros(m, hdim))];
        let hidden = |w_in: &Matrix, set: &[(usize, usize)]| Matrix::from_fn(set.len(), hdim, |i, u| w_in[(u, set[i].0)] + w_in[(u, m + set[i].1)]);
        let accuracy = |params: &[Matrix; 2], set: &[(usize, usize)]| {
            let h = hidden(&params[0], set);
            let f = h.map(|x| x * x);
            let logits = &f * params[1].transpose();
            let right = (0..set.len())
                .filter(|&i| {
                    let best = (0..m).max_by(|&a, &b| logits[(i, a)].total_cmp(&logits[(i, b)])).expect("M > 0");
                    best == (set[i].0 + set[i].1) % m
                })
                .count();
            right as f64 / set.len() as f64
        };
        let (b1, b2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
        let mut run = Run { curve: Vec::new(), train_full_epoch: None, grok_epoch: None, test_final: 0.0, fourier_units: 0.0 };
        let n = train.len() as f64;
        for epoch in 0..=self.epochs {
            if epoch % self.record_every == 0 || epoch == self.epochs {
                let (tr, te) = (accuracy(&params, train), accuracy(&params, test));
                run.curve.push((epoch as f64, tr, te));
                if tr >= 1.0 && run.train_full_epoch.is_none() {
                    run.train_full_epoch = Some(epoch);
                }
                if te >= self.grok_accuracy && run.grok_epoch.is_none() {
                    run.grok_epoch = Some(epoch);
                }
                run.test_final = te;
            }
            if epoch == self.epochs {
                break;
            }
            let h = hidden(&params[0], train);
            let f = h.map(|x| x * x);
            let logits = &f * params[1].transpose();
            let mut g = Matrix::zeros(train.len(), m);
            for i in 0..train.len() {
                let max = (0..m).map(|c| logits[(i, c)]).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = (0..m).map(|c| (logits[(i, c)] - max).exp()).sum();
                let y = (train[i].0 + train[i].1) % m;
                for c in 0..m {
                    g[(i, c)] = ((logits[(i, c)] - max).exp() / z - f64::from(u8::from(c == y))) / n;
                }
            }
            let grad_c = g.transpose() * &f;
            let df = &g * &params[1];
            let mut grad_in = Matrix::zeros(hdim, 2 * m);
            for (i, &(a, b)) in train.iter().enumerate() {
                for u in 0..hdim {
                    let d = 2.0 * h[(i, u)] * df[(i, u)];
                    grad_in[(u, a)] += d;
                    grad_in[(u, m + b)] += d;
                }
            }
            let t = (epoch + 1) as i32;
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            for (p, (grad, (mo, ve))) in params.iter_mut().zip([grad_in, grad_c].iter().zip(moments.iter_mut())) {
                for r in 0..p.nrows() {
                    for c in 0..p.ncols() {
                        let gv = grad[(r, c)];
                        p[(r, c)] *= 1.0 - self.lr * self.weight_decay;
                        mo[(r, c)] = b1 * mo[(r, c)] + (1.0 - b1) * gv;
                        ve[(r, c)] = b2 * ve[(r, c)] + (1.0 - b2) * gv * gv;
                        p[(r, c)] -= self.lr / bc1 * mo[(r, c)] / (ve[(r, c)].sqrt() / bc2.sqrt() + eps);
                    }
                }
            }
        }
        let fourier = (0..hdim).filter(|&u| power_fraction(&(0..m).map(|a| params[0][(u, a)]).collect::<Vec<_>>()).0 > self.fourier_threshold).count();
        run.fourier_units = fourier as f64 / hdim as f64;
        run
    }
}

impl Probe for GrokkingConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        in_range(NAME, "modulus", self.modulus, 3, 1000)?;
        in_range(NAME, "starts", self.starts, 1, 100_000)?;
        in_range(NAME, "ascent_steps", self.ascent_steps, 0, 10_000_000)?;
        positive(NAME, "ascent_lr", self.ascent_lr)?;
        non_empty(NAME, "fractions", &self.fractions)?;
        for (field, list) in [("fractions", &self.fractions), ("train_fractions", &self.train_fractions)] {
            if list.iter().any(|f| !(*f > 0.0 && *f < 1.0)) {
                return Err(TheoryError::config(NAME, field, "every fraction must lie in (0, 1)"));
            }
        }
        in_range(NAME, "hidden", self.hidden, 1, 100_000)?;
        in_range(NAME, "epochs", self.epochs, 0, 100_000_000)?;
        positive(NAME, "lr", self.lr)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0 && self.weight_decay * self.lr < 1.0) {
            return Err(TheoryError::config(NAME, "weight_decay", format!("must be finite, >= 0 and below 1 / lr, got {}", self.weight_decay)));
        }
        in_range(NAME, "record_every", self.record_every, 1, 100_000_000)?;
        for (field, v) in [("grok_accuracy", self.grok_accuracy), ("fourier_threshold", self.fourier_threshold)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(TheoryError::config(NAME, field, format!("must lie in (0, 1], got {v}")));
            }
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = ["energy.max", "energy.min", "energy.min_power", "energy.same_k", "energy.theory"].map(String::from).into();
        for f in &self.fractions {
            let p = pct(*f);
            out.push(format!("threshold.{p}.pairs"));
            out.push(format!("threshold.{p}.median_power"));
            out.push(format!("threshold.{p}.fourier_starts"));
        }
        for f in &self.train_fractions {
            let p = pct(*f);
            for what in ["train_full_epoch", "grok_epoch", "delay", "test_final", "fourier_units"] {
                out.push(format!("train.{p}.{what}"));
            }
        }
        for what in ["modulus", "hidden_units", "steps", "train_fit_step", "grok_step", "delay", "final_train_accuracy", "final_test_accuracy", "model_accuracy", "logged_test_accuracy"] {
            out.push(format!("run.{what}"));
        }
        for when in ["init", "final"] {
            for what in ["mean_power", "fourier_units", "same_k"] {
                out.push(format!("run.{when}.{what}"));
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
        let m = self.modulus;
        let all: Vec<(usize, usize)> = (0..m).flat_map(|a| (0..m).map(move |b| (a, b))).collect();
        // (a) the energy landscape on all pairs
        let energy = Energy::new(m, all.clone());
        let feats: Vec<Feature> = (0..self.starts).map(|_| feature(&energy, m, self.ascent_steps, self.ascent_lr, &mut rng)).collect();
        report.set("energy.max", feats.iter().map(|f| f.energy).fold(f64::NEG_INFINITY, f64::max));
        report.set("energy.min", feats.iter().map(|f| f.energy).fold(f64::INFINITY, f64::min));
        report.set("energy.min_power", feats.iter().map(|f| f.power).fold(f64::INFINITY, f64::min));
        report.set("energy.same_k", feats.iter().filter(|f| f.same_k).count() as f64);
        report.set("energy.theory", m as f64 / 4.0);
        // (b) the data threshold
        let mut table = ReportTable::new("threshold", "energy maxima on a random subset of the pairs (median over starts of the smaller power fraction)", ["fraction", "pairs", "pairs / (M ln M)", "median power", "Fourier starts (> 0.9)", "same k"]);
        let mut curve = Vec::new();
        for &f in &self.fractions {
            let mut pairs = all.clone();
            rng.shuffle(&mut pairs);
            pairs.truncate((all.len() as f64 * f) as usize);
            let count = pairs.len();
            let energy = Energy::new(m, pairs);
            let feats: Vec<Feature> = (0..self.starts).map(|_| feature(&energy, m, self.ascent_steps, self.ascent_lr, &mut rng)).collect();
            let mut powers: Vec<f64> = feats.iter().map(|x| x.power).collect();
            let med = median(&mut powers);
            let fourier = feats.iter().filter(|x| x.power > 0.9).count();
            let p = pct(f);
            report.set(format!("threshold.{p}.pairs"), count as f64);
            report.set(format!("threshold.{p}.median_power"), med);
            report.set(format!("threshold.{p}.fourier_starts"), fourier as f64);
            table.push([format!("{f}"), count.to_string(), format!("{:.2}", count as f64 / (m as f64 * (m as f64).ln())), format!("{med:.3}"), format!("{fourier} / {}", self.starts), format!("{} / {}", feats.iter().filter(|x| x.same_k).count(), self.starts)]);
            curve.push((count as f64, med));
        }
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        report.tables.push(table);
        report.series.push(SeriesGroup::new("threshold", &format!("median power fraction of the energy maxima vs training pairs (M = {m})"), "training pairs", "median power fraction").line("median over starts", curve));
        // (c) grokking runs
        if !self.train_fractions.is_empty() {
            let mut table = ReportTable::new("grokking", "training the x^2 net (AdamW): train 100% epoch, test accuracy, Fourier units", ["train fraction", "train 100% at epoch", "test >= grok accuracy at epoch", "delay", "final test accuracy", "Fourier-dominated units"]);
            let mut acc = SeriesGroup::new("grokking_curves", &format!("train and test accuracy over training (M = {m}, hidden {})", self.hidden), "epoch", "accuracy");
            for &f in &self.train_fractions {
                let run = self.train(f, &mut rng);
                let p = pct(f);
                let full = run.train_full_epoch.map_or(f64::NAN, |e| e as f64);
                let grok = run.grok_epoch.map_or(f64::NAN, |e| e as f64);
                // delay 0 when either never happened
                let delay = if full.is_finite() && grok.is_finite() { grok / full.max(1.0) } else { 0.0 };
                report.set(format!("train.{p}.train_full_epoch"), if full.is_finite() { full } else { self.epochs as f64 + 1.0 });
                report.set(format!("train.{p}.grok_epoch"), if grok.is_finite() { grok } else { self.epochs as f64 + 1.0 });
                report.set(format!("train.{p}.delay"), delay);
                report.set(format!("train.{p}.test_final"), run.test_final);
                report.set(format!("train.{p}.fourier_units"), run.fourier_units);
                let show = |v: f64| if v.is_finite() { format!("{v}") } else { "never".into() };
                table.push([format!("{f}"), show(full), show(grok), format!("{delay:.1}"), format!("{:.4}", run.test_final), format!("{:.3}", run.fourier_units)]);
                acc = acc.line(format!("train, fraction {f}"), run.curve.iter().map(|c| (c.0, c.1)).collect()).line(format!("test, fraction {f}"), run.curve.iter().map(|c| (c.0, c.2)).collect());
            }
            report.tables.push(table);
            report.series.push(acc);
        }
        report.notes.push(format!(
            "(a, b) E(w) = 1/2 ||Y~^T (X w)^2||^2 on the unit sphere in R^{}, {} random starts, {} ascent steps; theory maximum M/4 = {}. (c) x^2 net, hidden {}, CE full batch, AdamW lr {} with decoupled weight decay {}, {} epochs; train/test split of the M^2 pairs by fraction; delay = first epoch with test accuracy >= {} over the first epoch with train accuracy 100% (0: one of them never happened; their epochs then read epochs + 1); Fourier units: a-half power fraction > {}.",
            2 * m,
            self.starts,
            self.ascent_steps,
            m as f64 / 4.0,
            self.hidden,
            self.lr,
            self.weight_decay,
            self.epochs,
            self.grok_accuracy,
            self.fourier_threshold
        ));
        Ok(report)
    }
}

/// The first step of a series at or above `level` (NaN if it never gets there).
fn first_reaching(series: &[(f64, f64)], level: f64) -> f64 {
    series.iter().find(|p| p.1 >= level).map_or(f64::NAN, |p| p.0)
}

/// Per hidden unit of a first layer `[hidden, 2M]`: the power fractions and top frequencies of
/// its two embeddings.
pub fn embedding_spectra(w: &Matrix, m: usize) -> Vec<[(f64, usize); 2]> {
    (0..w.nrows())
        .map(|h| {
            let a: Vec<f64> = (0..m).map(|j| w[(h, j)]).collect();
            let b: Vec<f64> = (0..m).map(|j| w[(h, m + j)]).collect();
            [power_fraction(&a), power_fraction(&b)]
        })
        .collect()
}

impl GrokkingConfig {
    /// Mean power fraction, Fourier-dominated units and same-frequency units of a first layer.
    fn embedding_numbers(&self, w: &Matrix, m: usize) -> (f64, f64, f64) {
        let spectra = embedding_spectra(w, m);
        let units = spectra.len().max(1) as f64;
        let mean = spectra.iter().map(|[a, b]| a.0 + b.0).sum::<f64>() / (2.0 * units);
        let fourier = spectra.iter().filter(|[a, b]| a.0 > self.fourier_threshold && b.0 > self.fourier_threshold).count() as f64 / units;
        let same = spectra.iter().filter(|[a, b]| a.1 == b.1).count() as f64 / units;
        (mean, fourier, same)
    }

    /// The run-folder mode (see the module header).
    fn on_run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let (model, data, run) = input.run_folder(NAME)?;
        if run.dataset != "modular_addition" {
            return Err(TheoryError::Model { probe: NAME, reason: format!("it reads a run on `modular_addition`; the run's data set is `{}`", run.dataset) });
        }
        let net = DenseNet::of_model(model, NAME)?;
        let labels = crate::probe::labels_of(data, NAME)?;
        let width = net.layers[0].fan_in();
        if width % 2 != 0 || width < 4 {
            return Err(TheoryError::Model { probe: NAME, reason: format!("the first layer takes {width} inputs, not one_hot(a) ++ one_hot(b)") });
        }
        let m = width / 2;
        let mut report = ProbeReport::default();
        let mut table = ReportTable::new("run_embeddings", "Fourier power of the learned embeddings (first layer), per hidden unit pooled", ["when", "mean power fraction", "Fourier units", "same top frequency"]);
        let mut models = vec![("final", model)];
        if let Some(initial) = run.initial {
            models.insert(0, ("init", initial));
        }
        for (when, model) in models {
            let w = &DenseNet::of_model(model, NAME)?.layers[0].weight;
            let (mean, fourier, same) = self.embedding_numbers(w, m);
            report.set(format!("run.{when}.mean_power"), mean);
            report.set(format!("run.{when}.fourier_units"), fourier);
            report.set(format!("run.{when}.same_k"), same);
            table.push([when.to_string(), format!("{mean:.4}"), format!("{fourier:.3}"), format!("{same:.3}")]);
        }
        let (train_acc, test_acc) = (run.series("train/accuracy"), run.series("test/accuracy"));
        let fit = first_reaching(train_acc, self.grok_accuracy);
        let grok = first_reaching(test_acc, self.grok_accuracy);
        for (k, v) in [
            ("modulus", m as f64),
            ("hidden_units", net.layers[0].fan_out() as f64),
            ("steps", run.steps as f64),
            ("train_fit_step", fit),
            ("grok_step", grok),
            ("delay", grok - fit),
            ("final_train_accuracy", train_acc.last().map_or(f64::NAN, |p| p.1)),
            ("final_test_accuracy", test_acc.last().map_or(f64::NAN, |p| p.1)),
            ("model_accuracy", net.accuracy(&data.inputs, labels)),
            ("logged_test_accuracy", run.final_metrics.get("test_accuracy").copied().unwrap_or(f64::NAN)),
        ] {
            report.set(format!("run.{k}"), v);
        }
        report.tables.push(table);
        report.series.push(SeriesGroup::new("run_accuracy", "the run: train and test accuracy", "step", "accuracy").line("train", train_acc.to_vec()).line("test", test_acc.to_vec()));
        let spectra = embedding_spectra(&net.layers[0].weight, m);
        let mut units = ReportTable::new("run_units", "per hidden unit at the end: power fraction and top frequency of w_a and w_b", ["unit", "power a", "k a", "power b", "k b"]);
        for (h, [a, b]) in spectra.iter().enumerate() {
            units.push([h.to_string(), format!("{:.3}", a.0), a.1.to_string(), format!("{:.3}", b.0), b.1.to_string()]);
        }
        report.tables.push(units);
        report.notes.push(format!(
            "Run: M = {m}, {} hidden units, {} steps. Train accuracy first reached {} at step {fit}, test accuracy at step {grok} (NaN: never).",
            net.layers[0].fan_out(),
            run.steps,
            self.grok_accuracy
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first layer whose unit 0 embeds a and b by the same cosine (frequency 2) and whose unit 1
    /// embeds them by different ones (1 and 3): both Fourier, one with the same frequency.
    #[test]
    fn embedding_spectra_of_known_layers() {
        let m = 7;
        let cos = |k: usize, j: usize| (std::f64::consts::TAU * (k * j) as f64 / m as f64).cos();
        let w = Matrix::from_fn(2, 2 * m, |h, j| match (h, j < m) {
            (0, _) => cos(2, j % m),
            (_, true) => cos(1, j),
            (_, false) => cos(3, j - m),
        });
        let spectra = embedding_spectra(&w, m);
        assert_eq!((spectra[0][0].1, spectra[0][1].1, spectra[1][0].1, spectra[1][1].1), (2, 2, 1, 3));
        assert!(spectra.iter().flatten().all(|(p, _)| (p - 1.0).abs() < 1e-12));
        let (mean, fourier, same) = GrokkingConfig::default().embedding_numbers(&w, m);
        assert!((mean - 1.0).abs() < 1e-12 && fourier == 1.0 && same == 0.5);
        assert_eq!(first_reaching(&[(1.0, 0.2), (5.0, 0.85), (9.0, 0.9)], 0.8), 5.0);
        assert!(first_reaching(&[(1.0, 0.2)], 0.8).is_nan());
    }

    /// A pure cosine of frequency 3 has all its power in the pair (3, M - 3); a constant has none
    /// outside k = 0.
    #[test]
    fn power_fraction_by_hand() {
        let m = 23;
        let u: Vec<f64> = (0..m).map(|a| (std::f64::consts::TAU * 3.0 * a as f64 / m as f64 + 0.4).cos()).collect();
        let (p, k) = power_fraction(&u);
        assert!((p - 1.0).abs() < 1e-12 && k == 3, "{p} {k}");
        assert!(power_fraction(&vec![1.0; m]).0.abs() < 1e-12);
    }

    /// The Fourier feature `w_a = w_b = cos(2 pi k a / M) / sqrt(M)` (unit norm) has energy M/4:
    /// v_c = M (1/M) cos(2 pi k c / M) = cos(.), E = 1/2 sum_c cos^2 = M/4 (5.75 at M = 23). The
    /// gradient matches central differences.
    #[test]
    fn fourier_feature_energy_and_gradient() {
        let m = 23;
        let all: Vec<(usize, usize)> = (0..m).flat_map(|a| (0..m).map(move |b| (a, b))).collect();
        let e = Energy::new(m, all);
        let w: Vec<f64> = (0..2 * m).map(|i| (std::f64::consts::TAU * 2.0 * (i % m) as f64 / m as f64).cos() / (m as f64).sqrt()).collect();
        assert!((e.value(&w) - 5.75).abs() < 1e-9, "{}", e.value(&w));
        let mut rng = Rng::seed(2);
        let w: Vec<f64> = (0..2 * m).map(|_| gaussian(&mut rng)).collect();
        let g = e.gradient(&w);
        for i in [0, 7, m, 2 * m - 1] {
            let mut up = w.clone();
            up[i] += 1e-6;
            let mut down = w.clone();
            down[i] -= 1e-6;
            let fd = (e.value(&up) - e.value(&down)) / 2e-6;
            assert!((fd - g[i]).abs() < 1e-5 * g[i].abs().max(1.0), "{i}: {fd} vs {}", g[i]);
        }
    }

    /// Notes 7.4(a): every start converges to a single-frequency feature with the same k in both
    /// halves (power 1.000) and energy 5.74 (M/4 = 5.75). Two starts here.
    #[test]
    fn energy_maxima_are_fourier_features() {
        let config = GrokkingConfig { starts: 2, fractions: vec![0.9], train_fractions: vec![], ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        let n = &report.numbers;
        assert!((n["energy.min"] - 5.75).abs() < 0.02, "{}", n["energy.min"]);
        assert!(n["energy.min_power"] > 0.999, "{}", n["energy.min_power"]);
        assert_eq!(n["energy.same_k"], 2.0);
        assert!(n["threshold.f90.median_power"] > 0.9, "{}", n["threshold.f90.median_power"]);
    }

    /// Notes 7.4(b): at 30% of the pairs the maxima are not Fourier (median power ~0.12).
    #[test]
    fn few_pairs_give_memorising_features() {
        let config = GrokkingConfig { starts: 3, fractions: vec![0.3], train_fractions: vec![], ascent_steps: 1500, ..Default::default() };
        let n = config.run(&ProbeInput::seeded(1)).unwrap().numbers;
        assert!(n["threshold.f30.median_power"] < 0.5, "{}", n["threshold.f30.median_power"]);
        assert_eq!(n["threshold.f30.pairs"], 158.0);
    }

    /// A short training run fits its training pairs (train accuracy reaches 100%).
    #[test]
    fn short_training_fits_the_training_pairs() {
        let config = GrokkingConfig { modulus: 11, starts: 1, ascent_steps: 10, fractions: vec![0.5], train_fractions: vec![0.5], hidden: 32, epochs: 600, record_every: 50, ..Default::default() };
        let n = config.run(&ProbeInput::seeded(0)).unwrap().numbers;
        assert!(n["train.f50.train_full_epoch"] <= 600.0, "{}", n["train.f50.train_full_epoch"]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = GrokkingConfig::default();
        for (field, c) in [
            ("modulus", GrokkingConfig { modulus: 2, ..ok.clone() }),
            ("starts", GrokkingConfig { starts: 0, ..ok.clone() }),
            ("ascent_lr", GrokkingConfig { ascent_lr: f64::NAN, ..ok.clone() }),
            ("fractions", GrokkingConfig { fractions: vec![], ..ok.clone() }),
            ("fractions", GrokkingConfig { fractions: vec![1.0], ..ok.clone() }),
            ("train_fractions", GrokkingConfig { train_fractions: vec![0.0], ..ok.clone() }),
            ("hidden", GrokkingConfig { hidden: 0, ..ok.clone() }),
            ("lr", GrokkingConfig { lr: -1.0, ..ok.clone() }),
            ("weight_decay", GrokkingConfig { weight_decay: 1e9, ..ok.clone() }),
            ("weight_decay", GrokkingConfig { weight_decay: -1.0, ..ok.clone() }),
            ("record_every", GrokkingConfig { record_every: 0, ..ok.clone() }),
            ("grok_accuracy", GrokkingConfig { grok_accuracy: 0.0, ..ok.clone() }),
            ("fourier_threshold", GrokkingConfig { fourier_threshold: 2.0, ..ok.clone() }),
        ] {
            assert!(c.validate().unwrap_err().to_string().contains(field), "{field}");
        }
    }
}
