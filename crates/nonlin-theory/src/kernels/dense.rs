//! A dense network in f64 with hand-written backprop: the probes' "tiny autodiff-free MLP".
//! Layer l computes `z = s_l W a + beta_l b` (`W` `[out, in]`), then the activation on every
//! layer but the last. NTK parametrisation is `s_l = 1/sqrt(n_l)`, `beta_l = beta`, all weights
//! N(0, 1) (Jacot et al., arXiv:1806.07572); standard parametrisation is `s_l = beta_l = 1` with
//! the variance in the weights (Burn's `Linear`, PyTorch's `nn.Linear`).
//!
//! The factorised empirical NTK: the per-sample gradient of a dense layer is an outer product,
//! `d f / d W_l = s_l delta_l a_l^T`, so
//! `Theta(x, x') = sum_l (delta_l(x).delta_l(x')) (s_l^2 a_l(x).a_l(x') + beta_l^2)`, a sum over
//! layers of elementwise products of Gram matrices.

use nonlin_data::Rng;
use nonlin_nn::Mlp;

use super::gaussian;
use super::linalg::{Matrix, from_rows, to_rows};
use super::scalar_activation::ScalarActivation;
use crate::TheoryError;

/// One dense layer.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    /// `[out, in]`.
    pub weight: Matrix,
    /// `[out]`, or none.
    pub bias: Option<Vec<f64>>,
    /// `s_l`, multiplying `W a`.
    pub weight_scale: f64,
    /// `beta_l`, multiplying `b`.
    pub bias_scale: f64,
}

impl DenseLayer {
    pub fn fan_in(&self) -> usize {
        self.weight.ncols()
    }
    pub fn fan_out(&self) -> usize {
        self.weight.nrows()
    }
}

/// A dense network: activation after every layer but the last.
#[derive(Debug, Clone)]
pub struct DenseNet {
    pub layers: Vec<DenseLayer>,
    /// The activation after each hidden layer (one fewer than the layers).
    pub activations: Vec<ScalarActivation>,
}

/// The forward pass kept for backprop: layer inputs `a_l` (`a_0 = x`), pre-activations `z_l`,
/// activation derivatives at `z_l` (hidden layers), and the output.
#[derive(Debug, Clone)]
pub struct Trace {
    pub inputs: Vec<Matrix>,
    pub pre: Vec<Matrix>,
    pub derivs: Vec<Matrix>,
    pub output: Matrix,
}

impl DenseNet {
    /// NTK parametrisation, widths `[n_0, n_1, ..., n_L]`, weights and biases N(0, 1).
    pub fn ntk_init(
        widths: &[usize],
        beta: f64,
        activation: ScalarActivation,
        rng: &mut Rng,
    ) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| DenseLayer {
                weight: Matrix::from_fn(w[1], w[0], |_, _| gaussian(rng)),
                bias: Some((0..w[1]).map(|_| gaussian(rng)).collect()),
                weight_scale: 1.0 / (w[0] as f64).sqrt(),
                bias_scale: beta,
            })
            .collect::<Vec<_>>();
        let activations = vec![activation; layers.len() - 1];
        Self {
            layers,
            activations,
        }
    }

    /// Standard parametrisation: `W ~ N(0, sigma_w^2 / fan_in)`, `b ~ N(0, sigma_b^2)` (none when
    /// `bias` is false).
    pub fn standard_init(
        widths: &[usize],
        sigma_w: f64,
        sigma_b: f64,
        bias: bool,
        activation: ScalarActivation,
        rng: &mut Rng,
    ) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| {
                let std = sigma_w / (w[0] as f64).sqrt();
                DenseLayer {
                    weight: Matrix::from_fn(w[1], w[0], |_, _| std * gaussian(rng)),
                    bias: bias.then(|| (0..w[1]).map(|_| sigma_b * gaussian(rng)).collect()),
                    weight_scale: 1.0,
                    bias_scale: 1.0,
                }
            })
            .collect::<Vec<_>>();
        let activations = vec![activation; layers.len() - 1];
        Self {
            layers,
            activations,
        }
    }

    /// The dense layers of a Burn [`Mlp`] (standard parametrisation; Burn stores `[in, out]`).
    pub fn from_mlp(mlp: &Mlp) -> Result<Self, TheoryError> {
        let activations = mlp
            .activations()
            .iter()
            .map(ScalarActivation::from_module)
            .collect();
        let mut layers = Vec::new();
        for linear in mlp.layers() {
            let w = linear
                .weight
                .val()
                .into_data()
                .try_into_vec_as::<f64>()
                .map_err(|e| TheoryError::Model {
                    probe: "dense",
                    reason: format!("unreadable weight: {e:?}"),
                })?;
            let [fan_in, fan_out] = linear.weight.val().dims();
            let weight = Matrix::from_fn(fan_out, fan_in, |o, i| w[i * fan_out + o]);
            let bias = match &linear.bias {
                Some(b) => Some(b.val().into_data().try_into_vec_as::<f64>().map_err(|e| {
                    TheoryError::Model {
                        probe: "dense",
                        reason: format!("unreadable bias: {e:?}"),
                    }
                })?),
                None => None,
            };
            layers.push(DenseLayer {
                weight,
                bias,
                weight_scale: 1.0,
                bias_scale: 1.0,
            });
        }
        Ok(Self {
            layers,
            activations,
        })
    }

    /// The dense layers of a model that is an `mlp`; for any other model kind, an error that
    /// names `probe` and the kind it got.
    pub fn of_model(model: &nonlin_nn::Model, probe: &'static str) -> Result<Self, TheoryError> {
        match model {
            nonlin_nn::Model::Mlp(mlp) => Self::from_mlp(mlp),
            other => Err(TheoryError::Model {
                probe,
                reason: format!(
                    "it reads the dense layers of an `mlp` model; the run's model is `{}`",
                    other.name()
                ),
            }),
        }
    }

    /// The fraction of rows of `x` whose largest output is their label (first maximum wins,
    /// as `argmax` does).
    ///
    /// # Shapes
    /// - `x`: `[n, n_0]`, `labels`: `[n]`
    pub fn accuracy(&self, x: &Matrix, labels: &[u32]) -> f64 {
        let out = self.forward(x);
        let hits = (0..out.nrows())
            .filter(|&i| argmax_row(&out, i) == labels[i] as usize)
            .count();
        hits as f64 / out.nrows().max(1) as f64
    }

    /// The mean over rows and outputs of the squared error against `y` (`[n, n_L]`).
    pub fn mse(&self, x: &Matrix, y: &Matrix) -> f64 {
        let out = self.forward(x);
        let mut sum = 0.0;
        for i in 0..out.nrows() {
            for j in 0..out.ncols() {
                sum += (out[(i, j)] - y[(i, j)]).powi(2);
            }
        }
        sum / (out.nrows() * out.ncols()).max(1) as f64
    }

    /// Widths `[n_0, ..., n_L]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.layers[0].fan_in()];
        w.extend(self.layers.iter().map(DenseLayer::fan_out));
        w
    }

    /// The forward pass on the rows of `x` (`[n, n_0]`), keeping what backprop needs.
    pub fn trace(&self, x: &Matrix) -> Trace {
        let last = self.layers.len() - 1;
        let mut a = x.clone();
        let mut trace = Trace {
            inputs: Vec::new(),
            pre: Vec::new(),
            derivs: Vec::new(),
            output: Matrix::zeros(0, 0),
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let mut z = &a * layer.weight.transpose() * layer.weight_scale;
            if let Some(b) = &layer.bias {
                for j in 0..z.ncols() {
                    let shift = layer.bias_scale * b[j];
                    for i in 0..z.nrows() {
                        z[(i, j)] += shift;
                    }
                }
            }
            trace.inputs.push(a);
            if l == last {
                trace.pre.push(z.clone());
                trace.output = z;
                break;
            }
            let (values, derivs) = self.activations[l].eval_rows(&to_rows(&z), z.ncols());
            a = from_rows(z.nrows(), z.ncols(), &values);
            trace.derivs.push(from_rows(z.nrows(), z.ncols(), &derivs));
            trace.pre.push(z);
        }
        trace
    }

    /// Outputs `[n, n_L]`.
    pub fn forward(&self, x: &Matrix) -> Matrix {
        self.trace(x).output
    }

    /// The backprop deltas `d loss / d z_l` for output-side deltas `top` (`[n, n_L]`), first
    /// layer first.
    pub fn deltas(&self, trace: &Trace, top: Matrix) -> Vec<Matrix> {
        let mut deltas = vec![top];
        for l in (0..self.layers.len() - 1).rev() {
            let next = &self.layers[l + 1];
            let back = deltas.last().expect("non-empty") * &next.weight * next.weight_scale;
            let d = &trace.derivs[l];
            deltas.push(Matrix::from_fn(back.nrows(), back.ncols(), |i, j| {
                back[(i, j)] * d[(i, j)]
            }));
        }
        deltas.reverse();
        deltas
    }

    /// The empirical NTK of output `output` between the rows of `xa` and `xb`, by the
    /// factorised per-layer form.
    pub fn ntk_cross(&self, xa: &Matrix, xb: &Matrix, output: usize) -> Matrix {
        let (ta, tb) = (self.trace(xa), self.trace(xb));
        let (da, db) = (
            self.output_deltas(&ta, output),
            self.output_deltas(&tb, output),
        );
        self.combine(&ta, &da, &tb, &db)
    }

    /// The empirical NTK of output `output` on the rows of `x` (one forward and one backward
    /// pass, shared by both sides of the kernel).
    pub fn ntk(&self, x: &Matrix, output: usize) -> Matrix {
        let trace = self.trace(x);
        let deltas = self.output_deltas(&trace, output);
        self.combine(&trace, &deltas, &trace, &deltas)
    }

    /// [`DenseNet::ntk`] in single precision (weights and activations rounded to f32, products
    /// in f32, the kernel returned in f64): twice the SIMD width, for large nets where 1e-6
    /// relative accuracy is enough. A test checks it against the f64 form.
    pub fn ntk_f32(&self, x: &Matrix, output: usize) -> Matrix {
        type M32 = faer::Mat<f32>;
        let last = self.layers.len() - 1;
        let n = x.nrows();
        let weights: Vec<M32> = self
            .layers
            .iter()
            .map(|l| {
                M32::from_fn(l.fan_out(), l.fan_in(), |i, j| {
                    (l.weight[(i, j)] * l.weight_scale) as f32
                })
            })
            .collect();
        let mut inputs: Vec<M32> = vec![M32::from_fn(n, x.ncols(), |i, j| x[(i, j)] as f32)];
        let mut derivs: Vec<M32> = Vec::new();
        for (l, layer) in self.layers.iter().enumerate().take(last) {
            let mut z = inputs.last().expect("non-empty") * weights[l].transpose();
            if let Some(b) = &layer.bias {
                for j in 0..z.ncols() {
                    let shift = (layer.bias_scale * b[j]) as f32;
                    for i in 0..n {
                        z[(i, j)] += shift;
                    }
                }
            }
            let zs: Vec<f64> = (0..n * z.ncols())
                .map(|k| f64::from(z[(k / z.ncols(), k % z.ncols())]))
                .collect();
            let (values, ds) = self.activations[l].eval_rows(&zs, z.ncols());
            let w = z.ncols();
            inputs.push(M32::from_fn(n, w, |i, j| values[i * w + j] as f32));
            derivs.push(M32::from_fn(n, w, |i, j| ds[i * w + j] as f32));
        }
        let out = self.layers[last].fan_out();
        let mut deltas = vec![M32::from_fn(
            n,
            out,
            |_, j| if j == output { 1.0 } else { 0.0 },
        )];
        for l in (0..last).rev() {
            let back = deltas.last().expect("non-empty") * &weights[l + 1];
            let d = &derivs[l];
            deltas.push(M32::from_fn(n, back.ncols(), |i, j| {
                back[(i, j)] * d[(i, j)]
            }));
        }
        deltas.reverse();
        let mut theta = Matrix::zeros(n, n);
        for (l, layer) in self.layers.iter().enumerate() {
            let dd = &deltas[l] * deltas[l].transpose();
            let aa = &inputs[l] * inputs[l].transpose();
            let s2 = layer.weight_scale * layer.weight_scale;
            let b2 = if layer.bias.is_some() {
                layer.bias_scale * layer.bias_scale
            } else {
                0.0
            };
            for j in 0..n {
                for i in 0..n {
                    theta[(i, j)] += f64::from(dd[(i, j)]) * (s2 * f64::from(aa[(i, j)]) + b2);
                }
            }
        }
        theta
    }

    /// Deltas of output `output` (a one-hot top gradient).
    fn output_deltas(&self, trace: &Trace, output: usize) -> Vec<Matrix> {
        let out = self.layers.last().expect("a net has layers").fan_out();
        let n = trace.output.nrows();
        self.deltas(
            trace,
            Matrix::from_fn(n, out, |_, j| if j == output { 1.0 } else { 0.0 }),
        )
    }

    /// `sum_l (D_a D_b^T) * (s_l^2 A_a A_b^T + beta_l^2)`, elementwise per layer.
    fn combine(&self, ta: &Trace, da: &[Matrix], tb: &Trace, db: &[Matrix]) -> Matrix {
        let mut theta = Matrix::zeros(ta.output.nrows(), tb.output.nrows());
        for (l, layer) in self.layers.iter().enumerate() {
            let dd = &da[l] * db[l].transpose();
            let aa = &ta.inputs[l] * tb.inputs[l].transpose();
            let s2 = layer.weight_scale * layer.weight_scale;
            let b2 = if layer.bias.is_some() {
                layer.bias_scale * layer.bias_scale
            } else {
                0.0
            };
            for j in 0..theta.ncols() {
                for i in 0..theta.nrows() {
                    theta[(i, j)] += dd[(i, j)] * (s2 * aa[(i, j)] + b2);
                }
            }
        }
        theta
    }

    /// Per-sample gradients of output `output`, one row per sample, parameters in layer order
    /// (weights row-major, then bias): the slow reference of the factorised NTK.
    pub fn per_sample_gradients(&self, x: &Matrix, output: usize) -> Matrix {
        let trace = self.trace(x);
        let out = self.layers.last().expect("a net has layers").fan_out();
        let deltas = self.deltas(
            &trace,
            Matrix::from_fn(x.nrows(), out, |_, j| if j == output { 1.0 } else { 0.0 }),
        );
        let count: usize = self
            .layers
            .iter()
            .map(|l| l.fan_in() * l.fan_out() + l.bias.as_ref().map_or(0, Vec::len))
            .sum();
        let mut g = Matrix::zeros(x.nrows(), count);
        for i in 0..x.nrows() {
            let mut p = 0;
            for (l, layer) in self.layers.iter().enumerate() {
                for o in 0..layer.fan_out() {
                    for k in 0..layer.fan_in() {
                        g[(i, p)] =
                            layer.weight_scale * deltas[l][(i, o)] * trace.inputs[l][(i, k)];
                        p += 1;
                    }
                }
                if layer.bias.is_some() {
                    for o in 0..layer.fan_out() {
                        g[(i, p)] = layer.bias_scale * deltas[l][(i, o)];
                        p += 1;
                    }
                }
            }
        }
        g
    }

    /// Parameter gradients for the output-side gradient `top` (`d loss / d output`, `[n, n_L]`)
    /// of the forward pass `trace`: per layer, `(d loss / d W` `[out, in]`, `d loss / d b)`.
    pub fn gradients(&self, trace: &Trace, top: Matrix) -> Vec<(Matrix, Option<Vec<f64>>)> {
        let deltas = self.deltas(trace, top);
        self.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let w = deltas[l].transpose() * &trace.inputs[l] * layer.weight_scale;
                let b = layer.bias.as_ref().map(|b| {
                    (0..b.len())
                        .map(|o| {
                            (0..deltas[l].nrows())
                                .map(|i| deltas[l][(i, o)])
                                .sum::<f64>()
                                * layer.bias_scale
                        })
                        .collect()
                });
                (w, b)
            })
            .collect()
    }

    /// One full-batch gradient-descent step on `loss = 1/2 sum_i ||f(x_i) - y_i||^2`; returns the
    /// loss before the step.
    pub fn gd_step(&mut self, x: &Matrix, y: &Matrix, lr: f64) -> f64 {
        let trace = self.trace(x);
        let residual = &trace.output - y;
        let loss = 0.5 * residual.norm_l2().powi(2);
        let deltas = self.deltas(&trace, residual);
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let grad_w = deltas[l].transpose() * &trace.inputs[l] * layer.weight_scale;
            layer.weight -= grad_w * lr;
            if let Some(b) = &mut layer.bias {
                for (o, bo) in b.iter_mut().enumerate() {
                    let g: f64 = (0..deltas[l].nrows())
                        .map(|i| deltas[l][(i, o)])
                        .sum::<f64>()
                        * layer.bias_scale;
                    *bo -= lr * g;
                }
            }
        }
        loss
    }
}

/// The column of the largest entry of row `i` (the first on ties).
pub fn argmax_row(m: &Matrix, i: usize) -> usize {
    let mut best = 0;
    for j in 1..m.ncols() {
        if m[(i, j)] > m[(i, best)] {
            best = j;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::linalg::gram;

    fn inputs() -> Matrix {
        from_rows(
            4,
            3,
            &[
                0.3, -1.0, 0.5, 1.2, 0.1, -0.4, -0.7, 0.8, 0.2, 0.0, 0.5, 1.5,
            ],
        )
    }

    /// The factorised NTK equals the Gram matrix of explicit per-sample gradients.
    #[test]
    fn factorised_ntk_equals_the_gram_of_per_sample_gradients() {
        let mut rng = Rng::seed(1);
        for act in ["tanh", "relu", "gelu"] {
            let net = DenseNet::ntk_init(
                &[3, 7, 5, 2],
                0.1,
                ScalarActivation::from_spec(act).unwrap(),
                &mut rng,
            );
            let fast = net.ntk(&inputs(), 1);
            let slow = gram(&net.per_sample_gradients(&inputs(), 1));
            assert!((&fast - &slow).norm_l2() < 1e-12 * slow.norm_l2(), "{act}");
        }
    }

    /// The single-precision NTK agrees with the f64 one to f32 rounding (about 1e-6 relative).
    #[test]
    fn single_precision_ntk_agrees() {
        let mut rng = Rng::seed(9);
        let net = DenseNet::ntk_init(&[3, 64, 64, 2], 0.1, ScalarActivation::Relu, &mut rng);
        let (a, b) = (net.ntk(&inputs(), 1), net.ntk_f32(&inputs(), 1));
        let err = (&a - &b).norm_l2() / a.norm_l2();
        assert!(err < 1e-5 && err > 0.0, "{err}");
    }

    /// Per-sample gradients match central finite differences of the output.
    #[test]
    fn per_sample_gradients_match_finite_differences() {
        let mut rng = Rng::seed(2);
        let net =
            DenseNet::standard_init(&[3, 4, 2], 1.0, 0.5, true, ScalarActivation::Tanh, &mut rng);
        let x = inputs();
        let g = net.per_sample_gradients(&x, 0);
        let h = 1e-6;
        // parameter 5 is W_0[1][2]; parameter 12 + 1 = bias 1 of layer 0
        for (p, layer, what) in [(5usize, 0usize, (1usize, 2usize)), (13, 0, (1, usize::MAX))] {
            let mut plus = net.clone();
            let mut minus = net.clone();
            match what.1 {
                usize::MAX => {
                    plus.layers[layer].bias.as_mut().unwrap()[what.0] += h;
                    minus.layers[layer].bias.as_mut().unwrap()[what.0] -= h;
                }
                c => {
                    plus.layers[layer].weight[(what.0, c)] += h;
                    minus.layers[layer].weight[(what.0, c)] -= h;
                }
            }
            let (fp, fm) = (plus.forward(&x), minus.forward(&x));
            for i in 0..4 {
                let fd = (fp[(i, 0)] - fm[(i, 0)]) / (2.0 * h);
                assert!(
                    (fd - g[(i, p)]).abs() < 1e-8,
                    "param {p} sample {i}: {fd} vs {}",
                    g[(i, p)]
                );
            }
        }
    }

    /// A GD step lowers the loss by about lr * ||grad||^2 for a small lr.
    #[test]
    fn gradient_descent_lowers_the_loss() {
        let mut rng = Rng::seed(3);
        let mut net = DenseNet::ntk_init(&[3, 16, 1], 0.1, ScalarActivation::Relu, &mut rng);
        let y = from_rows(4, 1, &[0.5, -0.2, 0.1, 0.3]);
        let first = net.gd_step(&inputs(), &y, 0.1);
        for _ in 0..200 {
            net.gd_step(&inputs(), &y, 0.1);
        }
        let last = net.gd_step(&inputs(), &y, 0.1);
        assert!(last < 1e-3 * first, "{first} -> {last}");
    }
}
