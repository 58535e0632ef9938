//! Representational geometry of tanh and ReLU networks (Alleman, Lindsey and Fusi, "Task
//! structure and nonlinearity jointly determine learned representational geometry",
//! arXiv:2401.13558): centred kernel alignment of a hidden layer's Gram matrix with the input
//! Gram `X X^T` (input alignment) and with the label Gram `y y^T` (output alignment),
//! `CKA(K, L) = <HKH, HLH>_F / (||HKH||_F ||HLH||_F)`, over training.
//!
//! The paper's claim: tanh hidden codes align with the labels, ReLU codes keep more input
//! geometry. The probe's set-up is the notes' (section 5.4): 16 random unit-norm inputs in R^50
//! with balanced random +-1 labels, one hidden layer of 200 units without biases, both layers
//! N(0, 0.01^2) (small initialisation: the rich regime), mean squared error, full-batch gradient
//! descent with lr 0.2 for 8000 steps. The result depends on the regime (bias, init scale): the
//! config exposes them. Given a trained model (a run folder), it reports the alignment of every
//! hidden layer with the inputs and with the one-hot labels on rows of its data instead.
//!
//! UNCONFIRMED (config fields): the paper's task generator, widths and learning rates; the loss is
//! `mean_i (f(x_i) - y_i)^2` (PyTorch's MSELoss), so the step on `1/2 sum_i` is `lr * 2 / n`.

use nonlin_data::Rng;
use nonlin_nn::Model;
use serde::{Deserialize, Serialize};

use crate::error::{in_range, non_empty, positive};
use crate::kernels::linalg::gram;
use crate::kernels::{DenseNet, Matrix, ScalarActivation, cka, gaussian};
use crate::{Probe, ProbeData, ProbeInput, ProbeReport, ReportTable, SeriesGroup, TheoryError};

const NAME: &str = "rep_geometry";

/// Configuration of the representational-geometry probe (notes section 5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepGeometryConfig {
    /// The activations compared (the first two give the `gap_*` numbers).
    pub activations: Vec<String>,
    /// Inputs (conditions).
    pub points: usize,
    /// Input dimension.
    pub dim: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Standard deviation of every initial weight.
    pub init_std: f64,
    /// Hidden-layer bias (trainable, initialised at 0).
    pub bias: bool,
    /// Learning rate of full-batch gradient descent on the mean squared error.
    pub lr: f64,
    pub steps: usize,
    /// CKA is recorded every this many steps.
    pub record_every: usize,
}

impl Default for RepGeometryConfig {
    fn default() -> Self {
        Self {
            activations: vec!["relu".into(), "tanh".into()],
            points: 16,
            dim: 50,
            hidden: 200,
            init_std: 0.01,
            bias: false,
            lr: 0.2,
            steps: 8000,
            record_every: 100,
        }
    }
}

/// Final input and output alignment, final MSE, and the curve `(step, CKA_in, CKA_out)`.
type Trained = (f64, f64, f64, Vec<(f64, f64, f64)>);

/// `(CKA(hidden, X X^T), CKA(hidden, y y^T))` of a representation.
pub fn alignments(hidden: &Matrix, x: &Matrix, y: &Matrix) -> (f64, f64) {
    let k = gram(hidden);
    (cka(&k, &gram(x)), cka(&k, &gram(y)))
}

impl RepGeometryConfig {
    /// Trains one net: final `(CKA_in, CKA_out, MSE)` and the curve `(step, CKA_in, CKA_out)`.
    fn train(&self, act: &str, x: &Matrix, y: &Matrix, rng: &mut Rng) -> Result<Trained, TheoryError> {
        let activation = ScalarActivation::from_spec(act)?;
        let widths = [self.dim, self.hidden, 1];
        let mut net = DenseNet::standard_init(&widths, 1.0, 0.0, false, activation, rng);
        for layer in &mut net.layers {
            let fan_in = layer.fan_in();
            let std = self.init_std;
            layer.weight = Matrix::from_fn(layer.fan_out(), fan_in, |_, _| std * gaussian(rng));
        }
        if self.bias {
            net.layers[0].bias = Some(vec![0.0; self.hidden]);
        }
        let n = x.nrows() as f64;
        let mut curve = Vec::new();
        let mut loss = f64::NAN;
        for step in 0..=self.steps {
            if step % self.record_every == 0 || step == self.steps {
                let trace = net.trace(x);
                let (a_in, a_out) = alignments(&trace.inputs[1], x, y);
                curve.push((step as f64, a_in, a_out));
            }
            if step < self.steps {
                loss = net.gd_step(x, y, self.lr * 2.0 / n) * 2.0 / n;
            }
        }
        let (_, a_in, a_out) = *curve.last().expect("recorded at the end");
        Ok((a_in, a_out, loss, curve))
    }

    /// Alignment of every hidden layer of a trained MLP with its inputs and one-hot labels.
    fn model_alignment(&self, model: &Model, data: Option<&ProbeData>, report: &mut ProbeReport) -> Result<(), TheoryError> {
        let data = data.ok_or_else(|| TheoryError::Model { probe: NAME, reason: "the model's data is needed".into() })?;
        let Model::Mlp(mlp) = model else {
            return Err(TheoryError::Model { probe: NAME, reason: "only `mlp` models expose their hidden layers to this probe".into() });
        };
        let net = DenseNet::from_mlp(mlp)?;
        let trace = net.trace(&data.inputs);
        let labels = data.labels.as_ref().ok_or_else(|| TheoryError::Model { probe: NAME, reason: "the data has no class labels".into() })?;
        let classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
        let y = Matrix::from_fn(labels.len(), classes, |i, c| f64::from(u8::from(labels[i] as usize == c)));
        let mut table = ReportTable::new("model_alignment", "CKA of each hidden layer with the inputs and the labels", ["layer", "CKA(hidden, inputs)", "CKA(hidden, labels)"]);
        for l in 1..trace.inputs.len() {
            let (a_in, a_out) = alignments(&trace.inputs[l], &data.inputs, &y);
            report.set(format!("model.layer{l}.cka_in"), a_in);
            report.set(format!("model.layer{l}.cka_out"), a_out);
            table.push([l.to_string(), format!("{a_in:.4}"), format!("{a_out:.4}")]);
        }
        report.set("model.rows", data.inputs.nrows() as f64);
        report.tables.push(table);
        Ok(())
    }
}

impl Probe for RepGeometryConfig {
    fn validate(&self) -> Result<(), TheoryError> {
        non_empty(NAME, "activations", &self.activations)?;
        for a in &self.activations {
            ScalarActivation::from_spec(a).map_err(|e| TheoryError::config(NAME, "activations", e.to_string()))?;
        }
        in_range(NAME, "points", self.points, 2, 100_000)?;
        in_range(NAME, "dim", self.dim, 1, 100_000)?;
        in_range(NAME, "hidden", self.hidden, 1, 100_000)?;
        in_range(NAME, "steps", self.steps, 0, 100_000_000)?;
        in_range(NAME, "record_every", self.record_every, 1, 100_000_000)?;
        positive(NAME, "init_std", self.init_std)?;
        positive(NAME, "lr", self.lr)
    }

    fn metrics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.activations {
            for what in ["cka_in", "cka_out", "final_mse"] {
                out.push(format!("{a}.{what}"));
            }
        }
        out.extend(["gap_in", "gap_out", "model.rows"].map(String::from));
        for l in 1..=8 {
            out.push(format!("model.layer{l}.cka_in"));
            out.push(format!("model.layer{l}.cka_out"));
        }
        out
    }

    fn run(&self, input: &ProbeInput<'_>) -> Result<ProbeReport, TheoryError> {
        let mut report = ProbeReport::default();
        if let Some(model) = input.model {
            self.model_alignment(model, input.data, &mut report)?;
            return Ok(report);
        }
        let mut rng = Rng::seed(input.seed);
        let mut x = Matrix::from_fn(self.points, self.dim, |_, _| gaussian(&mut rng));
        for i in 0..self.points {
            let norm = (0..self.dim).map(|j| x[(i, j)].powi(2)).sum::<f64>().sqrt();
            for j in 0..self.dim {
                x[(i, j)] /= norm;
            }
        }
        let mut labels: Vec<f64> = (0..self.points).map(|i| if i < self.points / 2 { 1.0 } else { -1.0 }).collect();
        rng.shuffle(&mut labels);
        let y = Matrix::from_fn(self.points, 1, |i, _| labels[i]);
        let mut table = ReportTable::new("alignment", "alignment of the trained hidden layer", ["activation", "CKA(hidden, inputs)", "CKA(hidden, labels)", "final MSE"]);
        let mut group_in = SeriesGroup::new("cka_input", "CKA(hidden Gram, X X^T) over training", "step", "input alignment");
        let mut group_out = SeriesGroup::new("cka_labels", "CKA(hidden Gram, y y^T) over training", "step", "output alignment");
        let mut finals = Vec::new();
        for act in &self.activations {
            let (a_in, a_out, mse, curve) = self.train(act, &x, &y, &mut rng)?;
            report.set(format!("{act}.cka_in"), a_in);
            report.set(format!("{act}.cka_out"), a_out);
            report.set(format!("{act}.final_mse"), mse);
            table.push([act.clone(), format!("{a_in:.4}"), format!("{a_out:.4}"), format!("{mse:.2e}")]);
            group_in = group_in.line(act.clone(), curve.iter().map(|c| (c.0, c.1)).collect());
            group_out = group_out.line(act.clone(), curve.iter().map(|c| (c.0, c.2)).collect());
            finals.push((a_in, a_out));
        }
        if finals.len() >= 2 {
            // ReLU-like first, tanh-like second (the default order): input gap first - second,
            // output gap second - first.
            report.set("gap_in", finals[0].0 - finals[1].0);
            report.set("gap_out", finals[1].1 - finals[0].1);
        }
        report.tables.push(table);
        report.series.push(group_in);
        report.series.push(group_out);
        report.notes.push(format!(
            "{} random unit inputs in R^{}, balanced random +-1 labels, {} hidden units ({} bias), weights N(0, {}^2), MSE, full-batch GD lr {} for {} steps. gap_in = CKA_in({}) - CKA_in({}), gap_out = CKA_out({}) - CKA_out({}).",
            self.points,
            self.dim,
            self.hidden,
            if self.bias { "with" } else { "no" },
            self.init_std,
            self.lr,
            self.steps,
            self.activations[0],
            self.activations.get(1).map_or("-", String::as_str),
            self.activations.get(1).map_or("-", String::as_str),
            self.activations[0]
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A representation equal to the inputs aligns fully with them; one equal to the labels
    /// (a rank-one code) fully with the labels.
    #[test]
    fn alignment_of_known_codes() {
        let x = crate::kernels::linalg::from_rows(4, 2, &[1.0, 0.0, 0.0, 1.0, -1.0, 0.5, 0.3, -0.2]);
        let y = crate::kernels::linalg::from_rows(4, 1, &[1.0, -1.0, 1.0, -1.0]);
        assert!((alignments(&x, &x, &y).0 - 1.0).abs() < 1e-14);
        assert!((alignments(&y, &x, &y).1 - 1.0).abs() < 1e-14);
    }

    /// Notes 5.4: tanh aligns with the labels (CKA_out 1.000 +- 0.000), ReLU keeps more input
    /// geometry (CKA_in 0.494 against tanh's 0.274). One seed, fewer steps: the ordering.
    #[test]
    fn tanh_aligns_with_labels_and_relu_with_inputs() {
        let config = RepGeometryConfig { steps: 3000, record_every: 1000, ..Default::default() };
        let report = config.run(&ProbeInput::seeded(0)).unwrap();
        let n = &report.numbers;
        assert!(n["tanh.cka_out"] > 0.98, "{}", n["tanh.cka_out"]);
        assert!(n["gap_in"] > 0.0 && n["gap_out"] > 0.0, "{n:?}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = RepGeometryConfig::default();
        for (field, c) in [
            ("activations", RepGeometryConfig { activations: vec![], ..ok.clone() }),
            ("activations", RepGeometryConfig { activations: vec!["nope".into()], ..ok.clone() }),
            ("points", RepGeometryConfig { points: 1, ..ok.clone() }),
            ("hidden", RepGeometryConfig { hidden: 0, ..ok.clone() }),
            ("init_std", RepGeometryConfig { init_std: -1.0, ..ok.clone() }),
            ("lr", RepGeometryConfig { lr: f64::NAN, ..ok.clone() }),
            ("record_every", RepGeometryConfig { record_every: 0, ..ok.clone() }),
        ] {
            assert!(c.validate().unwrap_err().to_string().contains(field), "{field}");
        }
    }
}
