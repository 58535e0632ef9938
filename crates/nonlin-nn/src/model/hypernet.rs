//! Hypernetworks in the default and the Magnitude Invariant Parametrization (MIP), Gonzalez
//! Ortiz, Guttag, Dalca, ICLR 2024, arXiv 2304.07645 (official code: JJGO/hyperlight).
//!
//! A hypernetwork `h` maps a scalar input `gamma` (here: the weight of an input-noise term in
//! the training loss, drawn uniformly per batch) to the flat parameter vector `theta` of a
//! primary MLP, which then classifies the batch with those weights:
//!
//! ```text
//! theta(gamma) = theta_0 + W_out phi(e(gamma))        phi: LeakyReLU(0.01) MLP
//! default: e(gamma) = gamma,                          PyTorch-default init, theta_0 = output bias
//! MIP:     e(gamma) = [cos(pi gamma / 2), sin(pi gamma / 2)]   (unit norm for gamma in [0, 1])
//!          theta_0 ~ Kaiming-normal (fan-in, LeakyReLU gain) per predicted weight, 0 per bias;
//!          hidden layers Kaiming-normal fan-out (LeakyReLU gain), biases 0;
//!          W_out Kaiming-normal fan-out with gain 1 (std 1 / sqrt(|theta|))
//! ```
//!
//! In the default form the prediction is proportional to the input magnitude (with small biases,
//! `h(k gamma) ~ k h(gamma)`); MIP removes this with the constant-norm encoding and the residual
//! around independently initialised primary weights `theta_0`. The official code keeps
//! `theta_0` implicit as the output layer's bias (issue JJGO/hyperlight#6); here it is an
//! explicit parameter `theta0`, and the same structure serves both parametrisations (in the
//! default one `theta0` is the output layer's ordinary bias, initialised like one).
//!
//! Choices (documented, config fields): the output matrix is initialised as one fan-out Kaiming
//! block over all of `theta` as in hyperlight at commit 030c8fb (the notes describe a
//! slice-by-slice variant); `encoding` and `init` can be set apart from `parametrization` for
//! the ablations; the primary MLP uses ReLU (UNCONFIRMED); the input-noise scale `noise_std`
//! (UNCONFIRMED, 0.5 on pixels in [0, 1]) and the `gamma` used at evaluation, `eval_gamma`
//! (UNCONFIRMED, 0.5), are fields. During training (on an autodiff device) each forward call
//! draws one `gamma ~ U[0, 1]` for the whole batch and feeds `x + gamma * noise_std * eps`; at
//! evaluation it feeds the clean `x` at `eval_gamma`. With every evaluation the runner logs the
//! training objective at gamma 0, 0.5 and 1 on a fixed batch of training items (one fixed noise
//! draw, `PROBE_NOISE_SEED`) and its spread, max - min (`probe_labelled`): the notes' second
//! target compares that spread between parametrisations (spread as max - min is a choice). Freezing `theta_0` and loading it from a
//! trained model (`HyperNet.from_existing`) are not implemented.

use burn::module::{Module, Param};
use burn::tensor::activation::{leaky_relu, log_softmax, relu};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::layer::SplitMix;

/// Negative slope of the hypernetwork's LeakyReLU (PyTorch's default, hyperlight's activation).
const SLOPE: f64 = 0.01;

/// Seed of the input noise in [`Network::probe_labelled`]'s loss at several gammas.
pub const PROBE_NOISE_SEED: u64 = 0x5EED_4D1F;

/// Which parametrisation the hypernetwork uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parametrization {
    /// Raw input, PyTorch-default initialisation.
    Default,
    /// cos|sin encoding, residual around Kaiming-initialised `theta_0`, fan-out init.
    Mip,
}

/// How the hypernetwork's input is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HyperEncoding {
    /// `gamma` itself.
    None,
    /// `[cos(pi gamma / 2), sin(pi gamma / 2)]` (MIP's default).
    CosSin,
    /// `[gamma, 1 - gamma]`.
    ZOneMinusZ,
}

impl HyperEncoding {
    /// Encoded width per scalar input.
    pub fn width(self) -> usize {
        match self {
            HyperEncoding::None => 1,
            _ => 2,
        }
    }

    /// Encodes a column of inputs.
    ///
    /// # Shapes
    /// - gamma: `[rows, 1]`
    /// - output: `[rows, width()]`
    pub fn encode(self, gamma: Tensor<2>) -> Tensor<2> {
        match self {
            HyperEncoding::None => gamma,
            HyperEncoding::CosSin => {
                let z = gamma * (std::f64::consts::PI / 2.0);
                Tensor::cat(vec![z.clone().cos(), z.sin()], 1)
            }
            HyperEncoding::ZOneMinusZ => {
                Tensor::cat(vec![gamma.clone(), gamma.neg().add_scalar(1.0)], 1)
            }
        }
    }
}

/// How the hypernetwork's parameters are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HyperInit {
    /// PyTorch's `nn.Linear` default: weights and biases `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    Pytorch,
    /// MIP: Kaiming-normal fan-out, zero biases, Kaiming `theta_0` (see the file header).
    Mip,
}

/// Configuration of a [`Hypernet`] (`kind = "hypernet"`); input and output widths come from
/// the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypernetConfig {
    /// Hidden widths of the hypernetwork `h` (hyperlight's `hidden_sizes`; notes: `[16, 64]`).
    #[serde(default = "hyper_hidden")]
    pub hidden: Vec<usize>,
    /// Hidden widths of the primary MLP whose weights `h` predicts (notes: `[64]`).
    #[serde(default = "primary_hidden")]
    pub primary_hidden: Vec<usize>,
    /// The parametrisation: `"default"` or `"mip"`.
    #[serde(default = "mip")]
    pub parametrization: Parametrization,
    /// Overrides the parametrisation's input encoding (ablations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<HyperEncoding>,
    /// Overrides the parametrisation's initialisation (ablations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<HyperInit>,
    /// Scale of the input noise whose weight is `gamma` (UNCONFIRMED).
    #[serde(default = "half")]
    pub noise_std: f64,
    /// The `gamma` at which the model is evaluated (UNCONFIRMED), in [0, 1].
    #[serde(default = "half")]
    pub eval_gamma: f64,
}

fn hyper_hidden() -> Vec<usize> {
    vec![16, 64]
}
fn primary_hidden() -> Vec<usize> {
    vec![64]
}
fn mip() -> Parametrization {
    Parametrization::Mip
}
fn half() -> f64 {
    0.5
}

impl HypernetConfig {
    /// A hypernetwork with the notes' widths in parametrisation `p`.
    pub fn new(parametrization: Parametrization) -> Self {
        Self {
            hidden: hyper_hidden(),
            primary_hidden: primary_hidden(),
            parametrization,
            encoding: None,
            init: None,
            noise_std: 0.5,
            eval_gamma: 0.5,
        }
    }

    /// The input encoding in effect.
    pub fn encoding(&self) -> HyperEncoding {
        self.encoding.unwrap_or(match self.parametrization {
            Parametrization::Default => HyperEncoding::None,
            Parametrization::Mip => HyperEncoding::CosSin,
        })
    }

    /// The initialisation in effect.
    pub fn init_kind(&self) -> HyperInit {
        self.init.unwrap_or(match self.parametrization {
            Parametrization::Default => HyperInit::Pytorch,
            Parametrization::Mip => HyperInit::Mip,
        })
    }

    /// Builds the hypernetwork for a primary MLP from `input` to `output` features.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<Hypernet, NnError> {
        self.validate()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!(
                "hypernet primary widths must be positive: input {input}, output {output}"
            )));
        }
        let mut primary = vec![input];
        primary.extend(&self.primary_hidden);
        primary.push(output);
        let shapes: Vec<(usize, usize)> = primary.windows(2).map(|w| (w[0], w[1])).collect();
        let theta_len: usize = shapes.iter().map(|(i, o)| i * o + o).sum();
        let encoding = self.encoding();
        let kind = self.init_kind();
        let gain = (2.0 / (1.0 + SLOPE * SLOPE)).sqrt();

        let mut widths = vec![encoding.width()];
        widths.extend(&self.hidden);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in widths.windows(2) {
            let (fan_in, fan_out) = (w[0], w[1]);
            let (weight, bias) = match kind {
                HyperInit::Pytorch => {
                    let b = 1.0 / (fan_in as f64).sqrt();
                    (
                        uniform([fan_in, fan_out], b, device),
                        uniform([fan_out], b, device),
                    )
                }
                HyperInit::Mip => (
                    normal([fan_in, fan_out], gain / (fan_out as f64).sqrt(), device),
                    Tensor::zeros([fan_out], device),
                ),
            };
            weights.push(Param::from_tensor(weight));
            biases.push(Param::from_tensor(bias));
        }
        let last = *widths.last().expect("widths holds the encoded input");
        let (out_weight, theta0) = match kind {
            HyperInit::Pytorch => {
                let b = 1.0 / (last as f64).sqrt();
                (
                    uniform([last, theta_len], b, device),
                    uniform([theta_len], b, device),
                )
            }
            HyperInit::Mip => {
                let parts = shapes
                    .iter()
                    .flat_map(|&(i, o)| {
                        [
                            normal([i * o], gain / (i as f64).sqrt(), device),
                            Tensor::zeros([o], device),
                        ]
                    })
                    .collect();
                (
                    normal([last, theta_len], 1.0 / (theta_len as f64).sqrt(), device),
                    Tensor::cat(parts, 0),
                )
            }
        };
        Ok(Hypernet {
            weights,
            biases,
            out_weight: Param::from_tensor(out_weight),
            theta0: Param::from_tensor(theta0),
            encoding,
            shapes,
            noise_std: self.noise_std,
            eval_gamma: self.eval_gamma,
        })
    }
}

fn uniform<const D: usize>(shape: [usize; D], bound: f64, device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}

fn normal<const D: usize>(shape: [usize; D], std: f64, device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, std), device)
}

impl ModelSpec for HypernetConfig {
    type Model = Hypernet;

    fn validate(&self) -> Result<(), NnError> {
        let bad = |m: String| Err(NnError::BadConfig(format!("hypernet {m}")));
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return bad(format!(
                "hidden widths must be non-empty and positive, got {:?}",
                self.hidden
            ));
        }
        if self.primary_hidden.contains(&0) {
            return bad(format!(
                "primary_hidden widths must be positive, got {:?}",
                self.primary_hidden
            ));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0 && self.noise_std <= 1e3) {
            return bad(format!(
                "noise_std must be finite, non-negative and at most 1e3, got {}",
                self.noise_std
            ));
        }
        if !(0.0..=1.0).contains(&self.eval_gamma) {
            return bad(format!(
                "eval_gamma must be in [0, 1], got {}",
                self.eval_gamma
            ));
        }
        Ok(())
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Hypernet, NnError> {
        let input: usize = io.real_input("hypernet")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

/// A hypernetwork with the primary MLP it parametrises.
#[derive(Module, Debug)]
pub struct Hypernet {
    /// Hidden weights of `h`, `[fan_in, fan_out]`.
    pub weights: Vec<Param<Tensor<2>>>,
    /// Hidden biases of `h`.
    pub biases: Vec<Param<Tensor<1>>>,
    /// `W_out`: `[last hidden, |theta|]`.
    pub out_weight: Param<Tensor<2>>,
    /// `theta_0`: the independent primary weights (the residual's base), `[|theta|]`.
    pub theta0: Param<Tensor<1>>,
    #[module(skip)]
    encoding: HyperEncoding,
    /// The primary MLP's layers as `(fan_in, fan_out)`.
    #[module(skip)]
    shapes: Vec<(usize, usize)>,
    #[module(skip)]
    noise_std: f64,
    #[module(skip)]
    eval_gamma: f64,
}

impl Hypernet {
    /// The predicted primary parameters `theta(gamma)`, flat: per layer the `[fan_in, fan_out]`
    /// weight row-major, then its bias.
    ///
    /// # Shapes
    /// - gamma: `[1, 1]`
    /// - output: `[1, |theta|]`
    pub fn theta(&self, gamma: Tensor<2>) -> Tensor<2> {
        let mut h = self.encoding.encode(gamma);
        for (w, b) in self.weights.iter().zip(&self.biases) {
            h = leaky_relu(h.matmul(w.val()) + b.val().unsqueeze(), SLOPE);
        }
        h.matmul(self.out_weight.val()) + self.theta0.val().unsqueeze()
    }

    /// The primary MLP run with the weights predicted at `gamma`.
    ///
    /// # Shapes
    /// - x: `[batch, input]`
    /// - gamma: `[1, 1]`
    /// - output: `[batch, output]`
    pub fn forward_at(&self, x: Tensor<2>, gamma: Tensor<2>) -> Tensor<2> {
        let theta = self.theta(gamma);
        let mut h = x;
        let mut offset = 0;
        let last = self.shapes.len() - 1;
        for (l, &(i, o)) in self.shapes.iter().enumerate() {
            let w = theta
                .clone()
                .slice([0..1, offset..offset + i * o])
                .reshape([i, o]);
            offset += i * o;
            let b = theta.clone().slice([0..1, offset..offset + o]);
            offset += o;
            h = h.matmul(w) + b;
            if l < last {
                h = relu(h);
            }
        }
        h
    }
}

impl Network for Hypernet {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("hypernet")?;
        let device = x.device();
        // Training is decided by where the parameters live, not the batch: the runner evaluates an
        // inference copy (`Module::valid`) on batches that may still sit on the autodiff device.
        if self.out_weight.val().device().is_autodiff() {
            // Training: one gamma ~ U[0, 1] per batch weights the input noise.
            let gamma = Tensor::<2>::random([1, 1], Distribution::Uniform(0.0, 1.0), &device);
            let eps = x.random_like(Distribution::Normal(0.0, 1.0));
            let noisy = x + eps * gamma.clone() * self.noise_std;
            Ok(self.forward_at(noisy, gamma))
        } else {
            let gamma = Tensor::<2>::full([1, 1], self.eval_gamma, &device);
            Ok(self.forward_at(x, gamma))
        }
    }

    fn probe(&self, input: &ModelInput) -> Result<Vec<(String, f64)>, NnError> {
        let device = input.real("hypernet")?.device();
        Ok([("0", 0.0), ("0.5", 0.5), ("1", 1.0)]
            .into_iter()
            .map(|(name, g)| {
                let theta = self.theta(Tensor::full([1, 1], g, &device));
                let norm = theta.powi_scalar(2).sum().sqrt().into_scalar::<f64>();
                (format!("hypernet_theta_norm_gamma{name}"), norm)
            })
            .collect())
    }

    /// The training objective at `gamma` in {0, 0.5, 1}: the cross-entropy of the primary net
    /// with the weights `theta(gamma)` on `x + gamma * noise_std * eps`, `eps` a standard normal
    /// draw from a fixed seed ([`PROBE_NOISE_SEED`], the same for every model and evaluation), and
    /// the spread of the three (max - min): the notes' second target compares it between
    /// parametrisations.
    fn probe_labelled(
        &self,
        input: &ModelInput,
        labels: Tensor<1, Int>,
    ) -> Result<Vec<(String, f64)>, NnError> {
        let x = input.real("hypernet")?;
        let device = x.device();
        let dims = x.dims();
        let mut rng = SplitMix::new(PROBE_NOISE_SEED);
        let eps: Vec<f32> = (0..dims[0] * dims[1]).map(|_| rng.normal() as f32).collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, dims), &device);
        let mut out = Vec::new();
        let mut losses = Vec::new();
        for (name, g) in [("0", 0.0), ("0.5", 0.5), ("1", 1.0)] {
            let noisy = x.clone() + eps.clone() * (g * self.noise_std);
            let logits = self.forward_at(noisy, Tensor::full([1, 1], g, &device));
            let picked = log_softmax(logits, 1).gather(1, labels.clone().unsqueeze_dim(1));
            let loss = -picked.mean().into_scalar::<f64>();
            losses.push(loss);
            out.push((format!("hypernet_loss_gamma{name}"), loss));
        }
        let max = losses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = losses.iter().copied().fold(f64::INFINITY, f64::min);
        out.push(("hypernet_loss_spread".into(), max - min));
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
