//! Criticality and finite-width corrections (Roberts, Yaida and Hanin, "The Principles of Deep
//! Learning Theory", arXiv:2106.10165): the kernel recursion of a deep MLP with
//! `b ~ N(0, C_b)`, `W ~ N(0, C_W / n)`,
//!
//! `K^(l+1) = C_b + C_W <phi(z)^2>_{K^(l)}`,
//!
//! the susceptibilities `chi_par(K) = C_W <phi' phi z>_K / K` and `chi_perp(K) = C_W <phi'^2>_K`,
//! criticality `chi_par(K*) = chi_perp(K*) = 1` at a fixed point `K*`, and the leading finite-width
//! correction: the four-point vertex `V^(l+1) = C_W^2 (<phi^4> - <phi^2>^2)_{K^(l)} + chi_par^2 V^(l)`,
//! `V^(1) = 0`, whose excess kurtosis of one pre-activation is `3 V / (n K^2)` (for ReLU at
//! criticality `V/K^2 = 5 (L - 1)`, so the correction is controlled by `L / n`).
//!
//! Critical `(C_b, C_W)` for any activation: `chi_perp = chi_par = 1` means
//! `<phi' phi z>_K = K <phi'^2>_K`; its roots in K are bracketed on a log grid and refined by
//! bisection, then `C_W = 1/<phi'^2>_{K*}` and `C_b = K* - C_W <phi^2>_{K*}` (kept when C_b >= 0).
//! Activations where the equation holds for every K are scale-invariant (ReLU family: a marginal
//! line); with no root but `phi(0) = 0` the activation is in the K* = 0 class (tanh), critical at
//! `C_b = 0`, `C_W = 1/phi'(0)^2`, where `K^(l) ~ 1/(-a1 l)` with
//! `a1 = phi'''(0)/phi'(0) + (3/4) (phi''(0)/phi'(0))^2`.
//!
//! The probe (notes section 2.4): (a) susceptibilities at chosen points, (b) the critical table of
//! every registered activation (or one, `activation`), (c) kernel depth profiles, (d) the
//! excess kurtosis of a finite-width net's pre-activation over random initialisations beside the
//! vertex recursion (6000 inits, bootstrap 95% intervals).

use nonlin_data::Rng;
use nonlin_nn::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::{Duals, ScalarActivation};
use crate::{Probe, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "criticality";

/// Configuration of the criticality probe (notes section 2.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CriticalityConfig {
    /// The activation of the critical table (absent: every registered activation).
    pub activation: Option<String>,
    /// Gauss-Hermite nodes of the Gaussian expectations (>= 100; the notes use 200).
    pub nodes: usize,
    /// Smallest K of the root search grid.
    pub k_min: f64,
    /// Largest K of the root search grid.
    pub k_max: f64,
    /// Points of the log-spaced root search grid.
    pub k_points: usize,
    /// K at which ReLU's susceptibilities are checked (C_W = 2).
    pub relu_k: Vec<f64>,
    /// The small K at which tanh's susceptibilities (C_W = 1) are checked.
    pub tanh_small_k: f64,
    /// Activation of the kernel depth profile.
    pub profile_activation: String,
    /// C_W values of the depth profile (C_b = 0).
    pub profile_cw: Vec<f64>,
    /// K^(0) of the depth profile: the profile reports K^(l) after l applications of the
    /// recursion from it (the notes' table counts layers this way: "from K = 1, l = 10" is ten
    /// steps of the recursion).
    pub profile_k0: f64,
    /// Layers reported in the depth profile.
    pub profile_layers: Vec<usize>,
    /// Activations of the finite-width kurtosis experiment (each at its critical C_W, C_b = 0).
    pub kurtosis_activations: Vec<String>,
    /// Widths n of the kurtosis experiment.
    pub kurtosis_widths: Vec<usize>,
    /// Depths L of the kurtosis experiment (the pre-activation of layer L).
    pub kurtosis_depths: Vec<usize>,
    /// Random initialisations per width.
    pub inits: usize,
    /// n_0, the input dimension (the input is all ones, |x|^2 = n_0).
    pub input_dim: usize,
    /// Bootstrap resamples for the kurtosis intervals.
    pub bootstrap: usize,
}

impl Default for CriticalityConfig {
    fn default() -> Self {
        Self {
            activation: None,
            nodes: 200,
            k_min: 1e-3,
            k_max: 100.0,
            k_points: 160,
            relu_k: vec![1.0, 7.3],
            tanh_small_k: 1e-8,
            profile_activation: "tanh".into(),
            profile_cw: vec![0.7, 1.0, 1.5],
            profile_k0: 1.0,
            profile_layers: vec![10, 50, 100],
            kurtosis_activations: vec!["relu".into(), "tanh".into()],
            kurtosis_widths: vec![32, 64],
            kurtosis_depths: vec![4, 8, 16],
            inits: 6000,
            input_dim: 16,
            bootstrap: 200,
        }
    }
}

/// The universality class of an activation's criticality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriticalClass {
    /// `chi_par = chi_perp` at every K (ReLU family): critical on a line, any K.
    ScaleInvariant,
    /// A nonzero fixed point K* with C_b >= 0.
    FixedPoint,
    /// The K* = 0 class (tanh): critical at C_b = 0, C_W = 1/phi'(0)^2.
    ZeroFixedPoint,
    /// No critical initialisation with C_b >= 0.
    None,
}

impl CriticalClass {
    pub fn label(self) -> &'static str {
        match self {
            Self::ScaleInvariant => "scale-invariant (any K)",
            Self::FixedPoint => "K* > 0",
            Self::ZeroFixedPoint => "K* = 0",
            Self::None => "none with C_b >= 0",
        }
    }
}

/// Critical initialisation of one activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Critical {
    pub class: CriticalClass,
    pub c_b: f64,
    pub c_w: f64,
    /// NaN when any K works or none does.
    pub k_star: f64,
    /// For the K* = 0 class, `a1` of the power law `K ~ 1/(-a1 l)`.
    pub a1: f64,
    /// Roots with C_b < 0 that were rejected (K*, C_b).
    pub rejected: Vec<(f64, f64)>,
}

/// The Gaussian-expectation machinery of one activation.
pub struct Criticality {
    pub duals: Duals,
}

impl Criticality {
    /// For an activation spec, with `nodes` Gauss-Hermite nodes.
    pub fn new(spec: &str, nodes: usize) -> Result<Self, TheoryError> {
        Ok(Self { duals: Duals::with_nodes(ScalarActivation::from_spec(spec)?, nodes, 2)? })
    }

    /// `(chi_par, chi_perp)` at K for `C_W`.
    pub fn susceptibilities(&self, k: f64, c_w: f64) -> (f64, f64) {
        let m = self.duals.moments(k);
        (c_w * m.dphi_phi_z / k, c_w * m.dphi2)
    }

    /// `K^(l)` for l = 0..=layers from `K^(0) = k0`.
    pub fn profile(&self, k0: f64, c_b: f64, c_w: f64, layers: usize) -> Vec<f64> {
        let mut out = vec![k0];
        while out.len() <= layers {
            let k = *out.last().expect("non-empty");
            out.push(c_b + c_w * self.duals.moments(k).phi2);
        }
        out
    }

    /// The predicted excess kurtosis `3 V^(l) / (n K^(l)^2)` for l = 1..=layers.
    pub fn kurtosis_prediction(&self, k1: f64, c_b: f64, c_w: f64, width: usize, layers: usize) -> Vec<f64> {
        let mut k = k1;
        let mut v = 0.0;
        let mut out = vec![0.0];
        while out.len() < layers {
            let m = self.duals.moments(k);
            let chi_par = c_w * m.dphi_phi_z / k;
            v = c_w * c_w * (m.phi4 - m.phi2 * m.phi2) + chi_par * chi_par * v;
            k = c_b + c_w * m.phi2;
            out.push(3.0 * v / (width as f64 * k * k));
        }
        out
    }

    /// `g(K) = <phi' phi z>_K - K <phi'^2>_K`, zero where `chi_par = chi_perp`.
    fn gap(&self, k: f64) -> f64 {
        let m = self.duals.moments(k);
        m.dphi_phi_z - k * m.dphi2
    }

    /// Critical `(C_b, C_W)` by root finding on `[k_min, k_max]` with `points` grid points.
    pub fn critical(&self, k_min: f64, k_max: f64, points: usize) -> Critical {
        let grid: Vec<f64> = (0..points)
            .map(|i| (k_min.ln() + (k_max.ln() - k_min.ln()) * i as f64 / (points - 1) as f64).exp())
            .collect();
        let gaps: Vec<f64> = grid.iter().map(|&k| self.gap(k)).collect();
        let scale: Vec<f64> = grid.iter().map(|&k| k * self.duals.moments(k).dphi2).collect();
        let scale_invariant = gaps.iter().zip(&scale).all(|(g, s)| g.abs() <= 1e-9 * s.abs().max(1e-300));
        if scale_invariant {
            let c_w = 1.0 / self.duals.moments(1.0).dphi2;
            return Critical { class: CriticalClass::ScaleInvariant, c_b: 0.0, c_w, k_star: f64::NAN, a1: f64::NAN, rejected: Vec::new() };
        }
        let mut accepted: Option<(f64, f64, f64)> = None;
        let mut rejected = Vec::new();
        for i in 1..points {
            if gaps[i - 1] == 0.0 || gaps[i - 1].signum() != gaps[i].signum() {
                let k = self.bisect(grid[i - 1], grid[i]);
                let m = self.duals.moments(k);
                let c_w = 1.0 / m.dphi2;
                let c_b = k - c_w * m.phi2;
                if c_b >= -1e-9 {
                    accepted.get_or_insert((k, c_b.max(0.0), c_w));
                } else {
                    rejected.push((k, c_b));
                }
            }
        }
        if let Some((k, c_b, c_w)) = accepted {
            return Critical { class: CriticalClass::FixedPoint, c_b, c_w, k_star: k, a1: f64::NAN, rejected };
        }
        let act = &self.duals.activation;
        let (phi0, d1) = act.eval(0.0, 0);
        if phi0.abs() < 1e-12 && d1.abs() > 1e-12 {
            // phi'' and phi''' at 0 by central differences of phi'
            let h = 1e-3;
            let d = |x: f64| act.derivative(x);
            let d2 = (d(h) - d(-h)) / (2.0 * h);
            let d3 = (d(h) - 2.0 * d(0.0) + d(-h)) / (h * h);
            let a1 = d3 / d1 + 0.75 * (d2 / d1).powi(2);
            return Critical { class: CriticalClass::ZeroFixedPoint, c_b: 0.0, c_w: 1.0 / (d1 * d1), k_star: 0.0, a1, rejected };
        }
        Critical { class: CriticalClass::None, c_b: f64::NAN, c_w: f64::NAN, k_star: f64::NAN, a1: f64::NAN, rejected }
    }

    fn bisect(&self, mut lo: f64, mut hi: f64) -> f64 {
        let mut g_lo = self.gap(lo);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let g = self.gap(mid);
            if g == 0.0 {
                return mid;
            }
            if g.signum() == g_lo.signum() {
                lo = mid;
                g_lo = g;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-14 * hi {
                break;
            }
        }
        0.5 * (lo + hi)
    }
}

/// Excess kurtosis `m4/m2^2 - 3` of samples (central moments).
pub fn excess_kurtosis(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let (mut m2, mut m4) = (0.0, 0.0);
    for &x in xs {
        let d = (x - mean) * (x - mean);
        m2 += d;
        m4 += d * d;
    }
    (m4 / n) / (m2 / n).powi(2) - 3.0
}

/// Standard normals two at a time (both Box-Muller outputs).
struct Normals<'a> {
    rng: &'a mut Rng,
    spare: Option<f64>,
}

impl Normals<'_> {
    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.rng.uniform_f64();
        let u2 = self.rng.uniform_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// Pre-activation of neuron 0 at each of `layers` layers over `inits` random initialisations of
/// a width-`n` MLP (`C_b = 0`, `W ~ N(0, C_W/fan_in)`, input all ones of dimension `n0`):
/// `[layer][init]`.
pub fn simulate_preactivations(act: &ScalarActivation, c_w: f64, n: usize, n0: usize, layers: usize, inits: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut normals = Normals { rng, spare: None };
    let mut out = vec![Vec::with_capacity(inits); layers];
    let mut z = vec![0.0; n];
    let mut a = vec![0.0; n];
    for _ in 0..inits {
        // layer 1: z = W x with x = 1, so z_i ~ N(0, C_W |x|^2 / n0) = N(0, C_W)
        let std0 = (c_w / n0 as f64).sqrt();
        for zi in z.iter_mut() {
            let mut s = 0.0;
            for _ in 0..n0 {
                s += normals.next();
            }
            *zi = std0 * s;
        }
        out[0].push(z[0]);
        let std = (c_w / n as f64).sqrt();
        for layer in out.iter_mut().skip(1) {
            for (ai, &zi) in a.iter_mut().zip(&z) {
                *ai = act.value(zi);
            }
            for zi in z.iter_mut() {
                let mut s = 0.0;
                for &aj in &a {
                    s += normals.next() * aj;
                }
                *zi = std * s;
            }
            layer.push(z[0]);
        }
    }
    out
}

fn registry_names(config: &CriticalityConfig) -> Vec<String> {
    match &config.activation {
        Some(a) => vec![a.clone()],
        None => Activation::NAMES.iter().map(|s| s.to_string()).collect(),
    }
}

/// The name an activation spec goes by in metric names (`leaky_relu(negative_slope=0.2)` stays
/// as written).
fn key(spec: &str) -> String {
    spec.replace(' ', "")
}

impl Probe for CriticalityConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        in_range(NAME, "nodes", self.nodes, 100, 2000)?;
        in_range(NAME, "k_points", self.k_points, 2, 100_000)?;
        positive(NAME, "k_min", self.k_min)?;
        positive(NAME, "k_max", self.k_max)?;
        if self.k_min >= self.k_max {
            return Err(TheoryError::config(NAME, "k_max", "must exceed k_min"));
        }
        for &k in &self.relu_k {
            positive(NAME, "relu_k", k)?;
        }
        positive(NAME, "tanh_small_k", self.tanh_small_k)?;
        positive(NAME, "profile_k0", self.profile_k0)?;
        for &c in &self.profile_cw {
            positive(NAME, "profile_cw", c)?;
        }
        non_empty(NAME, "profile_layers", &self.profile_layers)?;
        if self.profile_layers.iter().any(|&l| l == 0 || l > 1_000_000) {
            return Err(TheoryError::config(NAME, "profile_layers", "must be in 1..=1000000"));
        }
        in_range(NAME, "inits", self.inits, 0, 10_000_000)?;
        in_range(NAME, "input_dim", self.input_dim, 1, 100_000)?;
        in_range(NAME, "bootstrap", self.bootstrap, 0, 100_000)?;
        if self.kurtosis_widths.iter().any(|&n| n == 0 || n > 100_000) {
            return Err(TheoryError::config(NAME, "kurtosis_widths", "must be in 1..=100000"));
        }
        if self.kurtosis_depths.iter().any(|&l| !(2..=10_000).contains(&l)) {
            return Err(TheoryError::config(NAME, "kurtosis_depths", "must be in 2..=10000"));
        }
        if self.inits > 0 && self.inits < 10 && !self.kurtosis_widths.is_empty() {
            return Err(TheoryError::config(NAME, "inits", "needs at least 10 initialisations for a kurtosis (or 0 to skip)"));
        }
        for spec in registry_names(self).iter().chain(&self.kurtosis_activations).chain(std::iter::once(&self.profile_activation)) {
            ScalarActivation::from_spec(spec).map_err(|e| TheoryError::config(NAME, "activation", e.to_string()))?;
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = ["model.critical_c_w", "model.critical_c_b"].map(String::from).to_vec();
        for l in 0..16 {
            out.push(format!("model.layer{l}.c_w"));
            out.push(format!("model.layer{l}.c_b"));
        }
        for k in &self.relu_k {
            out.push(format!("relu.chi_par.k{k}"));
            out.push(format!("relu.chi_perp.k{k}"));
        }
        out.push("tanh.chi_par.small_k".into());
        out.push("tanh.chi_perp.small_k".into());
        for name in registry_names(self) {
            for what in ["c_b", "c_w", "k_star", "critical"] {
                out.push(format!("{}.{what}", key(&name)));
            }
        }
        out.push("table_seconds".into());
        for c in &self.profile_cw {
            for l in &self.profile_layers {
                out.push(format!("profile.cw{c}.l{l}"));
            }
        }
        for act in &self.kurtosis_activations {
            for n in &self.kurtosis_widths {
                for l in &self.kurtosis_depths {
                    for what in ["kurtosis", "kurtosis_lo", "kurtosis_hi", "predicted", "linear", "resummed"] {
                        out.push(format!("{what}.{}.n{n}.l{l}", key(act)));
                    }
                }
            }
        }
        if self.kurtosis_activations.len() >= 2 {
            let (a, b) = (key(&self.kurtosis_activations[0]), key(&self.kurtosis_activations[1]));
            for n in &self.kurtosis_widths {
                for l in &self.kurtosis_depths {
                    out.push(format!("kurtosis_ratio.{a}_over_{b}.n{n}.l{l}"));
                }
            }
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let mut report = ProbeReport::default();
        if let Some(model) = input.model {
            return self.model_initialisation(model);
        }
        self.susceptibilities(&mut report)?;
        self.table(&mut report)?;
        self.profiles(&mut report)?;
        if self.inits > 0 && !self.kurtosis_widths.is_empty() {
            self.kurtosis(input.seed, &mut report)?;
        }
        Ok(report)
    }
}

impl CriticalityConfig {
    /// A trained (or freshly initialised) MLP: its per-layer `C_W = fan_in Var(W)` and
    /// `C_b = Var(b)` beside the critical values of its activation.
    fn model_initialisation(&self, model: &nonlin_nn::Model) -> Result<ProbeReport, TheoryError> {
        let nonlin_nn::Model::Mlp(mlp) = model else {
            return Err(TheoryError::Model { probe: NAME, reason: "only `mlp` models have the layer structure of the recursion".into() });
        };
        let mut report = ProbeReport::default();
        let net = crate::kernels::DenseNet::from_mlp(mlp)?;
        let act = net.activations.first().cloned().unwrap_or(ScalarActivation::Identity);
        let crit = Criticality { duals: Duals::with_nodes(act, self.nodes, 2)? }.critical(self.k_min, self.k_max, self.k_points);
        report.set("model.critical_c_w", crit.c_w);
        report.set("model.critical_c_b", crit.c_b);
        let mut table = ReportTable::new("model_initialisation", "the model's C_W = fan_in Var(W) and C_b = Var(b) per layer, beside its activation's critical values", ["layer", "fan in", "C_W", "C_b", "critical C_W", "critical C_b"]);
        for (l, layer) in net.layers.iter().enumerate() {
            let w: Vec<f64> = (0..layer.fan_out()).flat_map(|i| (0..layer.fan_in()).map(move |j| (i, j))).map(|(i, j)| layer.weight[(i, j)]).collect();
            let var = |v: &[f64]| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
            };
            let c_w = var(&w) * layer.fan_in() as f64;
            let c_b = layer.bias.as_ref().map_or(0.0, |b| var(b));
            report.set(format!("model.layer{l}.c_w"), c_w);
            report.set(format!("model.layer{l}.c_b"), c_b);
            table.push([l.to_string(), layer.fan_in().to_string(), format!("{c_w:.4}"), format!("{c_b:.4}"), format!("{:.4}", crit.c_w), format!("{:.4}", crit.c_b)]);
        }
        report.tables.push(table);
        report.notes.push(format!("Activation class: {}. Burn's default (PyTorch-like) initialisation gives C_W = 1/3 (Kaiming uniform with a = sqrt 5); training moves it.", crit.class.label()));
        Ok(report)
    }

    /// (a) ReLU at C_W = 2 and tanh at C_W = 1, small K.
    fn susceptibilities(&self, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let relu = Criticality::new("relu", self.nodes)?;
        for &k in &self.relu_k {
            let (par, perp) = relu.susceptibilities(k, 2.0);
            report.set(format!("relu.chi_par.k{k}"), par);
            report.set(format!("relu.chi_perp.k{k}"), perp);
        }
        let tanh = Criticality::new("tanh", self.nodes)?;
        let (par, perp) = tanh.susceptibilities(self.tanh_small_k, 1.0);
        report.set("tanh.chi_par.small_k", par);
        report.set("tanh.chi_perp.small_k", perp);
        Ok(())
    }

    /// (b) The critical table.
    fn table(&self, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let start = std::time::Instant::now();
        let mut table = ReportTable::new("critical", "critical initialisation (C_b, C_W) and fixed point K*", ["activation", "class", "C_b", "C_W", "K*", "note"]);
        for name in registry_names(self) {
            let c = Criticality::new(&name, self.nodes)?.critical(self.k_min, self.k_max, self.k_points);
            let k = key(&name);
            report.set(format!("{k}.c_b"), c.c_b);
            report.set(format!("{k}.c_w"), c.c_w);
            report.set(format!("{k}.k_star"), c.k_star);
            report.set(format!("{k}.critical"), f64::from(u8::from(c.class != CriticalClass::None)));
            let note = match c.class {
                CriticalClass::ZeroFixedPoint => format!("K^(l) ~ 1/({:.3} l), a1 = {:.3}", -c.a1, c.a1),
                _ if !c.rejected.is_empty() => format!(
                    "roots with C_b < 0 rejected: {}",
                    c.rejected.iter().map(|(k, b)| format!("K = {k:.4}, C_b = {b:.4}")).collect::<Vec<_>>().join("; ")
                ),
                _ => String::new(),
            };
            let show = |v: f64| if v.is_nan() { "—".to_string() } else { format!("{v:.5}") };
            table.push([name.clone(), c.class.label().to_string(), show(c.c_b), show(c.c_w), if c.class == CriticalClass::ScaleInvariant { "any".into() } else { show(c.k_star) }, note]);
        }
        report.set("table_seconds", start.elapsed().as_secs_f64());
        report.tables.push(table);
        report.notes.push(format!(
            "(b) Roots of <phi' phi z>_K = K <phi'^2>_K on a {}-point log grid over K in [{}, {}], refined by bisection; {}-node Gauss-Hermite.",
            self.k_points, self.k_min, self.k_max, self.nodes
        ));
        Ok(())
    }

    /// (c) Kernel depth profiles.
    fn profiles(&self, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let act = Criticality::new(&self.profile_activation, self.nodes)?;
        let layers = *self.profile_layers.iter().max().expect("validated non-empty");
        let mut group = SeriesGroup::new("kernel_profile", &format!("K^(l) of {} from K^(0) = {}, C_b = 0", self.profile_activation, self.profile_k0), "layer l", "K^(l)").log_y();
        let mut table = ReportTable::new("kernel_profile", &format!("K^(l) of {} by C_W", self.profile_activation), std::iter::once("C_W".to_string()).chain(self.profile_layers.iter().map(|l| format!("l = {l}"))));
        for &c_w in &self.profile_cw {
            let k = act.profile(self.profile_k0, 0.0, c_w, layers);
            let mut row = vec![format!("{c_w}")];
            for &l in &self.profile_layers {
                report.set(format!("profile.cw{c_w}.l{l}"), k[l]);
                row.push(format!("{:.5}", k[l]));
            }
            table.push(row);
            group = group.line(format!("C_W = {c_w}"), k.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect());
        }
        report.tables.push(table);
        report.series.push(group);
        Ok(())
    }

    /// (d) Finite-width excess kurtosis against the vertex recursion.
    fn kurtosis(&self, seed: u64, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let layers = *self.kurtosis_depths.iter().max().expect("checked");
        let mut rng = Rng::seed(seed);
        let mut table = ReportTable::new("kurtosis", "excess kurtosis of one pre-activation (95% bootstrap interval) vs the vertex recursion", ["activation", "n", "L", "L/n", "measured", "interval", "3V/(nK^2)", "15(L-1)/n", "3(e^{5(L-1)/n} - 1)"]);
        let mut group = SeriesGroup::new("kurtosis", "excess kurtosis vs L/n: measured (points) and predicted", "L / n", "excess kurtosis");
        let mut measured: std::collections::BTreeMap<(String, usize, usize), f64> = Default::default();
        for spec in &self.kurtosis_activations {
            let crit = Criticality::new(spec, self.nodes)?;
            let c = crit.critical(self.k_min, self.k_max, self.k_points);
            let c_w = if c.c_w.is_finite() { c.c_w } else { 1.0 };
            let k1 = c_w; // |x|^2 / n0 = 1
            for &n in &self.kurtosis_widths {
                let samples = simulate_preactivations(&crit.duals.activation, c_w, n, self.input_dim, layers, self.inits, &mut rng);
                let predicted = crit.kurtosis_prediction(k1, 0.0, c_w, n, layers);
                let (mut line_m, mut line_p) = (Vec::new(), Vec::new());
                for &l in &self.kurtosis_depths {
                    let xs = &samples[l - 1];
                    let k = excess_kurtosis(xs);
                    let (lo, hi) = bootstrap_interval(xs, self.bootstrap, &mut rng);
                    let linear = 15.0 * (l - 1) as f64 / n as f64;
                    let resummed = 3.0 * ((5.0 * (l - 1) as f64 / n as f64).exp() - 1.0);
                    let a = key(spec);
                    report.set(format!("kurtosis.{a}.n{n}.l{l}"), k);
                    report.set(format!("kurtosis_lo.{a}.n{n}.l{l}"), lo);
                    report.set(format!("kurtosis_hi.{a}.n{n}.l{l}"), hi);
                    report.set(format!("predicted.{a}.n{n}.l{l}"), predicted[l - 1]);
                    report.set(format!("linear.{a}.n{n}.l{l}"), linear);
                    report.set(format!("resummed.{a}.n{n}.l{l}"), resummed);
                    measured.insert((a, n, l), k);
                    let r = l as f64 / n as f64;
                    table.push([spec.clone(), n.to_string(), l.to_string(), format!("{r:.4}"), format!("{k:.3}"), format!("[{lo:.3}, {hi:.3}]"), format!("{:.3}", predicted[l - 1]), format!("{linear:.3}"), format!("{resummed:.3}")]);
                    line_m.push((r, k));
                    line_p.push((r, predicted[l - 1]));
                }
                group = group.line(format!("{spec} n = {n} measured"), line_m).line(format!("{spec} n = {n} 3V/(nK^2)"), line_p);
            }
        }
        if self.kurtosis_activations.len() >= 2 {
            let (a, b) = (key(&self.kurtosis_activations[0]), key(&self.kurtosis_activations[1]));
            for &n in &self.kurtosis_widths {
                for &l in &self.kurtosis_depths {
                    let ratio = measured[&(a.clone(), n, l)] / measured[&(b.clone(), n, l)];
                    report.set(format!("kurtosis_ratio.{a}_over_{b}.n{n}.l{l}"), ratio);
                }
            }
        }
        report.tables.push(table);
        report.series.push(group);
        report.notes.push(format!(
            "(d) Input all ones (|x|^2 = n_0 = {}), C_b = 0 and each activation's critical C_W, {} random initialisations per width, pre-activation of neuron 0 at layer L (all depths read off one depth-{} net); interval from {} bootstrap resamples.",
            self.input_dim, self.inits, layers, self.bootstrap
        ));
        Ok(())
    }
}

/// The 2.5% and 97.5% percentiles of the excess kurtosis over bootstrap resamples.
fn bootstrap_interval(xs: &[f64], resamples: usize, rng: &mut Rng) -> (f64, f64) {
    if resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            let sample: Vec<f64> = (0..xs.len()).map(|_| xs[rng.below(xs.len())]).collect();
            excess_kurtosis(&sample)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notes 2.4(a): ReLU at C_W = 2 has chi_par = chi_perp = 1 +- 1e-12 at K = 1 and 7.3; tanh at
    /// C_W = 1 tends to 1 as K -> 0 (tolerance 1e-6).
    #[test]
    fn susceptibilities_match_the_notes() {
        let relu = Criticality::new("relu", 200).unwrap();
        for k in [1.0, 7.3] {
            let (par, perp) = relu.susceptibilities(k, 2.0);
            assert!((par - 1.0).abs() < 1e-12 && (perp - 1.0).abs() < 1e-12, "{k}: {par} {perp}");
        }
        let tanh = Criticality::new("tanh", 200).unwrap();
        let (par, perp) = tanh.susceptibilities(1e-6, 1.0);
        assert!((par - 1.0).abs() < 1e-5 && (perp - 1.0).abs() < 1e-5, "{par} {perp}");
    }

    /// Notes 2.3/2.4(b): GELU (C_b, C_W, K*) = (0.17292, 1.98306, 3.5616); SWISH (0.55514, 1.98800,
    /// 14.320), to 1e-3.
    #[test]
    fn critical_points_of_gelu_and_swish() {
        for (spec, c_b, c_w, k) in [("gelu", 0.17292, 1.98306, 3.5616), ("silu", 0.55514, 1.98800, 14.320)] {
            let c = Criticality::new(spec, 200).unwrap().critical(1e-3, 100.0, 160);
            assert_eq!(c.class, CriticalClass::FixedPoint, "{spec}");
            assert!((c.c_b - c_b).abs() < 1e-3, "{spec}: C_b {}", c.c_b);
            assert!((c.c_w - c_w).abs() < 1e-3, "{spec}: C_W {}", c.c_w);
            assert!((c.k_star - k).abs() < 1e-3 * k.max(1.0), "{spec}: K* {}", c.k_star);
        }
    }

    /// ReLU is scale-invariant at C_W = 2 (leaky: 2/(1 + a^2)); tanh is in the K* = 0 class with
    /// a1 = -2; the sigmoid has no critical point with C_b >= 0.
    #[test]
    fn universality_classes() {
        let crit = |s: &str| Criticality::new(s, 200).unwrap().critical(1e-3, 100.0, 160);
        let relu = crit("relu");
        assert_eq!(relu.class, CriticalClass::ScaleInvariant);
        assert!((relu.c_w - 2.0).abs() < 1e-12);
        // 2 / (1 + 0.2^2) = 2 / 1.04 = 1.9230769
        let leaky = crit("leaky_relu(negative_slope=0.2)");
        assert!((leaky.c_w - 2.0 / 1.04).abs() < 1e-12);
        let tanh = crit("tanh");
        assert_eq!(tanh.class, CriticalClass::ZeroFixedPoint);
        assert!((tanh.c_w - 1.0).abs() < 1e-12 && (tanh.a1 + 2.0).abs() < 1e-4, "{}", tanh.a1);
        assert_eq!(crit("sigmoid").class, CriticalClass::None);
    }

    /// Notes 2.4(c): tanh from K = 1: C_W = 0.7 gives 0.0042 after 10 steps; C_W = 1 gives 0.0522,
    /// 0.0102, 0.00507 after 10, 50, 100 (l K = 0.507 at l = 100); C_W = 1.5 gives 0.293, 0.287.
    #[test]
    fn tanh_depth_profiles() {
        let tanh = Criticality::new("tanh", 200).unwrap();
        let p = |c_w: f64| tanh.profile(1.0, 0.0, c_w, 100);
        assert!((p(0.7)[10] - 0.0042).abs() < 1e-4);
        let one = p(1.0);
        assert!((one[10] - 0.0522).abs() < 1e-4 && (one[50] - 0.0102).abs() < 1e-4 && (one[100] - 0.00507).abs() < 1e-5);
        let big = p(1.5);
        assert!((big[10] - 0.293).abs() < 1e-3 && (big[100] - 0.287).abs() < 1e-3);
    }

    /// The vertex recursion for ReLU at criticality: V/K^2 = 5 (L - 1), so 3V/(nK^2) = 15(L-1)/n;
    /// n = 64, L = 4: 45/64 = 0.703.
    #[test]
    fn relu_vertex_recursion_is_linear_in_depth() {
        let relu = Criticality::new("relu", 200).unwrap();
        let p = relu.kurtosis_prediction(2.0, 0.0, 2.0, 64, 16);
        for l in [4usize, 8, 16] {
            assert!((p[l - 1] - 15.0 * (l - 1) as f64 / 64.0).abs() < 1e-10, "{l}: {}", p[l - 1]);
        }
    }

    /// Hand-computed excess kurtosis: samples {-1, 1} have m4/m2^2 = 1, so -2; the simulation of a
    /// linear (identity) net is Gaussian at every width, excess kurtosis about 0.
    #[test]
    fn kurtosis_estimates() {
        assert!((excess_kurtosis(&[-1.0, 1.0, -1.0, 1.0]) + 2.0).abs() < 1e-15);
        let mut rng = Rng::seed(5);
        let xs = simulate_preactivations(&ScalarActivation::Identity, 1.0, 16, 4, 3, 20_000, &mut rng);
        // a product of Gaussian matrices is not Gaussian, but at depth 1 the output is: |k| < 0.1
        assert!(excess_kurtosis(&xs[0]).abs() < 0.1);
    }

    /// On a freshly initialised Burn MLP: Kaiming-uniform with a = sqrt(5) has Var(W) =
    /// 1/(3 fan_in), so C_W is about 1/3 (within sampling noise), against ReLU's critical 2.
    #[test]
    fn a_models_initialisation_beside_criticality() {
        let device = burn::tensor::Device::flex();
        nonlin_nn::engine::seed(&device, 3);
        let mlp = nonlin_nn::MlpConfig::new(vec![256, 256]).init(64, 10, &device).unwrap();
        let model = nonlin_nn::Model::Mlp(mlp);
        let report = CriticalityConfig::default().run(&ProbeInput { seed: 0, model: Some(&model), data: None, run: None }).unwrap();
        assert!((report.numbers["model.layer1.c_w"] - 1.0 / 3.0).abs() < 0.02, "{}", report.numbers["model.layer1.c_w"]);
        assert!((report.numbers["model.critical_c_w"] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = CriticalityConfig::default();
        assert!(ok.validate().is_ok());
        let cases: Vec<(&str, CriticalityConfig)> = vec![
            ("nodes", CriticalityConfig { nodes: 10, ..ok.clone() }),
            ("k_min", CriticalityConfig { k_min: 0.0, ..ok.clone() }),
            ("k_min", CriticalityConfig { k_min: f64::NAN, ..ok.clone() }),
            ("k_max", CriticalityConfig { k_max: 1e-4, ..ok.clone() }),
            ("k_max", CriticalityConfig { k_max: f64::INFINITY, ..ok.clone() }),
            ("profile_cw", CriticalityConfig { profile_cw: vec![-1.0], ..ok.clone() }),
            ("profile_layers", CriticalityConfig { profile_layers: vec![], ..ok.clone() }),
            ("kurtosis_depths", CriticalityConfig { kurtosis_depths: vec![1], ..ok.clone() }),
            ("inits", CriticalityConfig { inits: usize::MAX, ..ok.clone() }),
            ("activation", CriticalityConfig { activation: Some("nope".into()), ..ok.clone() }),
        ];
        for (field, config) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
