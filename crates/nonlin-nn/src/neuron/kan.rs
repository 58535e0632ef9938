//! The Kolmogorov–Arnold layer with B-spline edges (Liu et al., "KAN: Kolmogorov-Arnold
//! Networks", arXiv:2404.19756), in the efficient formulation of efficient-kan
//! (Blealtan/efficient-kan, `src/efficient_kan/kan.py`), whose parameter names and layouts it keeps.
//!
//! Every edge `i → j` carries its own function, a base nonlinearity plus a B-spline:
//!
//! `y_j = Σ_i w_b[j,i]·b(x_i) + w_s[j,i]·Σ_m c[j,i,m]·B_m(x_i)`
//!
//! computed as two matrix products, `b(x)·W_bᵀ + flatten(B(x))·flatten(c ⊙ w_s)ᵀ`. `b` is SiLU by
//! default (any registered activation); `B_m` are the `G + k` B-splines of order `k` on a grid of
//! `G` intervals on `grid_range` extended by `k` knots each side (one knot row per input,
//! [`bspline`](super::bspline)). Inputs outside an input's knots see only the base branch.
//!
//! Names and layouts (efficient-kan's state dict): `base_weight` `[out, in]` (w_b),
//! `spline_weight` `[out, in, G + k]` (c), `spline_scaler` `[out, in]` (w_s, absent when
//! `standalone_scale_spline` is off), `grid` `[in, G + 2k + 1]` (the knots: saved and loaded, never
//! trained). A state dict of efficient-kan saved as safetensors therefore loads through
//! [`crate::weights::import_safetensors`] with at most a rename of the prefix.
//!
//! Initialisation as efficient-kan: `w_b` and `w_s` Kaiming-uniform with `a = √5·scale` (bound
//! `1/√in` at scale 1); `c` the minimum-norm least-squares fit of the spline to uniform noise
//! `(U − ½)·scale_noise/G` at the `G + 1` interior knots.
//!
//! Grid update from samples ([`KanLayer::update_grid`]): new knots blended between the samples'
//! quantiles and a uniform grid over their range (`grid_eps`), and the coefficients refitted by
//! least squares. Deviation, a config choice ([`Refit`]): efficient-kan refits the *scaled*
//! coefficients `c ⊙ w_s` into `c`, so with `standalone_scale_spline` on its update multiplies the
//! spline branch by `w_s` a second time and does not preserve the function; nonlin refits `c`
//! itself by default (`Refit::Preserve`, the KAN paper's intent and pykan's behaviour), and
//! reproduces efficient-kan exactly with `Refit::EfficientKan`.
//!
//! Regularisation ([`KanLayer::regularization_loss`]): efficient-kan's surrogate on the weights,
//! `λ_a·Σ_{j,i} mean_m |c[j,i,m]| + λ_e·H(p)` with `p` the normalised L1 values and `H` their
//! entropy (not the paper's sample-based L1).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{DType, Device, Distribution, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::bspline;
use super::least_squares::lstsq;
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// The largest grid size and spline order accepted: far beyond any published KAN, small enough
/// that a typo cannot allocate the machine away.
const MAX_GRID_SIZE: usize = 4096;
const MAX_SPLINE_ORDER: usize = 16;

/// Configuration of a [`KanLayer`] (efficient-kan's `KANLinear` arguments and defaults).
#[derive(Config, Debug)]
pub struct KanLayerConfig {
    /// Inputs of the layer.
    pub in_features: usize,
    /// Outputs of the layer.
    pub out_features: usize,
    /// G, the number of grid intervals on `grid_range`; efficient-kan default 5.
    #[config(default = 5)]
    pub grid_size: usize,
    /// k, the order of the B-splines (3: cubic); efficient-kan default 3.
    #[config(default = 3)]
    pub spline_order: usize,
    /// Scale of the noise the spline coefficients are fitted to at init; default 0.1.
    #[config(default = 0.1)]
    pub scale_noise: f64,
    /// Scale of the base weights' Kaiming bound (`a = √5·scale_base`); default 1.
    #[config(default = 1.0)]
    pub scale_base: f64,
    /// Scale of the spline scalers' Kaiming bound (`a = √5·scale_spline`), or of the coefficients
    /// without standalone scalers; default 1.
    #[config(default = 1.0)]
    pub scale_spline: f64,
    /// Whether each edge has its own learnable spline scale w_s (`spline_scaler`); default on.
    #[config(default = true)]
    pub standalone_scale_spline: bool,
    /// b, the base nonlinearity, any registered activation spec; efficient-kan default SiLU.
    #[config(default = "String::from(\"silu\")")]
    pub base_activation: String,
    /// ε of the grid update: weight of the uniform grid against the quantiles; default 0.02.
    #[config(default = 0.02)]
    pub grid_eps: f64,
    /// `[a, b]`, the range the initial grid covers; default `[-1, 1]`.
    #[config(default = "[-1.0, 1.0]")]
    pub grid_range: [f64; 2],
}

/// What a grid update refits (see the file header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refit {
    /// Refit `c` so the layer computes (nearly) the same function on the samples.
    #[default]
    Preserve,
    /// Refit `c ⊙ w_s` into `c`, exactly as efficient-kan's `update_grid`.
    EfficientKan,
}

/// A Kolmogorov–Arnold layer with B-spline edges.
#[derive(Module, Debug)]
pub struct KanLayer {
    /// w_b, the base weights: `[out, in]`.
    pub base_weight: Param<Tensor<2>>,
    /// c, the spline coefficients: `[out, in, G + k]`.
    pub spline_weight: Param<Tensor<3>>,
    /// w_s, the spline scales: `[out, in]`, when standalone scales are on.
    pub spline_scaler: Option<Param<Tensor<2>>>,
    /// The knots, one row per input: `[in, G + 2k + 1]`; moved by grid updates, never trained.
    pub grid: Param<Tensor<2>>,
    /// b, the base nonlinearity.
    pub base_activation: Activation,
    /// k.
    pub spline_order: usize,
    /// ε of grid updates.
    pub grid_eps: f64,
}

/// The Kaiming-uniform bound of PyTorch's `kaiming_uniform_(w, a)` with fan-in `fan_in`:
/// `√3 · √(2 / (1 + a²)) / √fan_in`.
pub(crate) fn kaiming_bound(a: f64, fan_in: usize) -> f64 {
    3f64.sqrt() * (2.0 / (1.0 + a * a)).sqrt() / (fan_in as f64).sqrt()
}

impl KanLayerConfig {
    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |field: &str, reason: String| {
            Err(NnError::BadConfig(format!("kan layer {field}: {reason}")))
        };
        if self.in_features == 0 || self.out_features == 0 {
            return bad(
                "widths",
                format!(
                    "must be positive, got {} -> {}",
                    self.in_features, self.out_features
                ),
            );
        }
        if self.grid_size == 0 || self.grid_size > MAX_GRID_SIZE {
            return bad(
                "grid_size",
                format!("must be in 1..={MAX_GRID_SIZE}, got {}", self.grid_size),
            );
        }
        // efficient-kan fits the initial coefficients at grid.T[k:-k], which is empty for k = 0.
        if self.spline_order == 0 || self.spline_order > MAX_SPLINE_ORDER {
            return bad(
                "spline_order",
                format!(
                    "must be in 1..={MAX_SPLINE_ORDER}, got {}",
                    self.spline_order
                ),
            );
        }
        for (field, value) in [
            ("scale_noise", self.scale_noise),
            ("scale_base", self.scale_base),
            ("scale_spline", self.scale_spline),
        ] {
            if !(value.is_finite() && (0.0..=1e6).contains(&value)) {
                return bad(
                    field,
                    format!("must be finite and in [0, 1e6], got {value}"),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.grid_eps) {
            return bad(
                "grid_eps",
                format!("must be in [0, 1], got {}", self.grid_eps),
            );
        }
        let [a, b] = self.grid_range;
        if !(a.is_finite() && b.is_finite() && a < b && (b - a) < 1e12) {
            return bad(
                "grid_range",
                format!("must be finite with a < b, got [{a}, {b}]"),
            );
        }
        crate::activation::validate(&self.base_activation)
    }

    /// Builds the layer with efficient-kan's initialisation, drawing from the engine's RNG.
    pub fn init(&self, device: &Device) -> Result<KanLayer, NnError> {
        self.validate()?;
        let (n_in, n_out) = (self.in_features, self.out_features);
        let (g, k) = (self.grid_size, self.spline_order);
        let knots = bspline::uniform_knots(g, k, self.grid_range);
        let bound = kaiming_bound(5f64.sqrt() * self.scale_base, n_in);
        let base_weight =
            Tensor::<2>::random([n_out, n_in], Distribution::Uniform(-bound, bound), device);
        // Noise (U − ½)·scale_noise/G at the G + 1 interior knots, [G + 1, in, out].
        let noise = Tensor::<3>::random([g + 1, n_in, n_out], Distribution::Default, device)
            .sub_scalar(0.5)
            .mul_scalar(self.scale_noise / g as f64);
        let noise = host(noise);
        let interior: Vec<f64> = (0..g + 1)
            .flat_map(|p| std::iter::repeat_n(knots[k + p], n_in))
            .collect();
        let grid_rows: Vec<f64> = (0..n_in).flat_map(|_| knots.iter().copied()).collect();
        let scale = if self.standalone_scale_spline {
            1.0
        } else {
            self.scale_spline
        };
        let coeff: Vec<f64> =
            fit_coefficients(&interior, g + 1, n_in, &noise, n_out, &grid_rows, k)
                .into_iter()
                .map(|c| c * scale)
                .collect();
        let spline_weight = tensor(coeff, [n_out, n_in, g + k], device);
        let spline_scaler = self.standalone_scale_spline.then(|| {
            let bound = kaiming_bound(5f64.sqrt() * self.scale_spline, n_in);
            Tensor::<2>::random([n_out, n_in], Distribution::Uniform(-bound, bound), device)
        });
        let grid = tensor(grid_rows, [n_in, knots.len()], device);
        self.from_tensors(base_weight, spline_weight, spline_scaler, grid, device)
    }

    /// Builds the layer from given values (an import, a gradient check): `[out, in]`,
    /// `[out, in, G + k]`, `[out, in]` (when standalone scales are on) and `[in, G + 2k + 1]`.
    pub fn from_tensors(
        &self,
        base_weight: Tensor<2>,
        spline_weight: Tensor<3>,
        spline_scaler: Option<Tensor<2>>,
        grid: Tensor<2>,
        device: &Device,
    ) -> Result<KanLayer, NnError> {
        self.validate()?;
        let (n_in, n_out) = (self.in_features, self.out_features);
        let coeffs = self.grid_size + self.spline_order;
        let shape = |what: &'static str, expected: Vec<usize>, found: Vec<usize>| {
            if expected == found {
                Ok(())
            } else {
                Err(NnError::Shape {
                    block: what,
                    expected: format!("{expected:?}"),
                    found,
                })
            }
        };
        shape(
            "kan base_weight",
            vec![n_out, n_in],
            base_weight.dims().to_vec(),
        )?;
        shape(
            "kan spline_weight",
            vec![n_out, n_in, coeffs],
            spline_weight.dims().to_vec(),
        )?;
        shape(
            "kan grid",
            vec![n_in, coeffs + self.spline_order + 1],
            grid.dims().to_vec(),
        )?;
        match (&spline_scaler, self.standalone_scale_spline) {
            (Some(s), true) => shape("kan spline_scaler", vec![n_out, n_in], s.dims().to_vec())?,
            (None, false) => {}
            _ => {
                return Err(NnError::BadConfig(
                    "kan layer: spline_scaler must be given exactly when standalone_scale_spline is on".into(),
                ));
            }
        }
        let spec: ActivationSpec = self.base_activation.parse()?;
        Ok(KanLayer {
            base_weight: learnable(base_weight),
            spline_weight: learnable(spline_weight),
            spline_scaler: spline_scaler.map(learnable),
            grid: Param::from_tensor(grid).set_require_grad(false),
            base_activation: Activation::new(&spec, &ActivationInit::features(device, n_in))?,
            spline_order: self.spline_order,
            grid_eps: self.grid_eps,
        })
    }
}

impl KanLayer {
    /// Inputs of the layer.
    pub fn in_features(&self) -> usize {
        self.base_weight.dims()[1]
    }

    /// Outputs of the layer.
    pub fn out_features(&self) -> usize {
        self.base_weight.dims()[0]
    }

    /// G, the number of grid intervals.
    pub fn grid_size(&self) -> usize {
        self.grid.dims()[1] - 1 - 2 * self.spline_order
    }

    /// # Shapes
    /// - input: `[..., in]`
    /// - output: `[..., out]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let rows: usize = dims[..D - 1].iter().product();
        let x = input.reshape([rows, self.in_features()]);
        let y = self.forward_rows(x);
        let mut out = dims;
        out[D - 1] = self.out_features();
        y.reshape(out)
    }

    /// # Shapes
    /// - x: `[rows, in]`
    /// - output: `[rows, out]`
    fn forward_rows(&self, x: Tensor<2>) -> Tensor<2> {
        let [rows, n_in] = x.dims();
        let dtype = x.dtype();
        let base_weight = self.base_weight.val().cast(dtype);
        let base = self
            .base_activation
            .forward(x.clone())
            .matmul(base_weight.transpose());
        let bases = self
            .spline_bases(x)
            .reshape([rows, n_in * self.coefficients()]);
        let coeff = self
            .scaled_spline_weight()
            .cast(dtype)
            .reshape([self.out_features(), n_in * self.coefficients()]);
        base + bases.matmul(coeff.transpose())
    }

    /// G + k, the coefficients of one edge.
    fn coefficients(&self) -> usize {
        self.spline_weight.dims()[2]
    }

    /// The B-spline bases of every input on its own knots (the grid takes no gradient).
    ///
    /// # Shapes
    /// - x: `[rows, in]`
    /// - output: `[rows, in, G + k]`
    pub fn spline_bases(&self, x: Tensor<2>) -> Tensor<3> {
        let grid = self.grid.val().cast(x.dtype()).detach();
        bspline::bases(x, grid, self.spline_order)
    }

    /// c ⊙ w_s, the coefficients the forward pass uses: `[out, in, G + k]`.
    pub fn scaled_spline_weight(&self) -> Tensor<3> {
        let c = self.spline_weight.val();
        match &self.spline_scaler {
            Some(s) => c.clone() * s.val().cast(c.dtype()).unsqueeze_dim::<3>(2),
            None => c,
        }
    }

    /// efficient-kan's regularisation of this layer: `λ_a·Σ l + λ_e·H(l / Σ l)` with
    /// `l[j,i] = mean_m |c[j,i,m]|` and `H(p) = −Σ p ln p`. An edge whose coefficients are all 0
    /// makes the entropy NaN, as in efficient-kan.
    ///
    /// # Shapes
    /// - output: `[1]`
    pub fn regularization_loss(&self, activation: f64, entropy: f64) -> Tensor<1> {
        let l1 = self.spline_weight.val().abs().mean_dim(2); // [out, in, 1]
        let total = l1.clone().sum();
        let p = l1 / total.clone().unsqueeze::<3>();
        let h = (p.clone() * p.log()).sum().neg();
        total * activation + h * entropy
    }

    /// Moves the knots to the samples' distribution and refits the coefficients (efficient-kan's
    /// `update_grid`; see the file header for `refit`). `margin` widens the uniform part of the
    /// grid beyond the samples' range (efficient-kan: 0.01). Parameter ids are kept, so optimizer
    /// state carries over as in efficient-kan.
    ///
    /// # Shapes
    /// - x: `[batch, in]`, batch ≥ 1
    pub fn update_grid(self, x: Tensor<2>, margin: f64, refit: Refit) -> Result<Self, NnError> {
        let grid_size = self.grid_size();
        self.regrid(x, grid_size, margin, refit, false)
    }

    /// Grid extension (pykan's `refine`): a layer of `grid_size` intervals whose knots follow the
    /// samples (as [`KanLayer::update_grid`]) and whose coefficients are the least-squares fit of
    /// this layer's splines at the samples. The coefficients change shape, so they get new
    /// parameter ids (an optimizer starts them afresh, as pykan starts a new model).
    ///
    /// # Shapes
    /// - x: `[batch, in]`, batch ≥ 1
    pub fn extend_grid(self, x: Tensor<2>, grid_size: usize, margin: f64) -> Result<Self, NnError> {
        if grid_size == 0 || grid_size > MAX_GRID_SIZE {
            return Err(NnError::BadConfig(format!(
                "kan grid extension: grid_size must be in 1..={MAX_GRID_SIZE}, got {grid_size}"
            )));
        }
        self.regrid(x, grid_size, margin, Refit::Preserve, true)
    }

    fn regrid(
        mut self,
        x: Tensor<2>,
        grid_size: usize,
        margin: f64,
        refit: Refit,
        new_ids: bool,
    ) -> Result<Self, NnError> {
        let [batch, n_in] = x.dims();
        if batch == 0 || n_in != self.in_features() {
            return Err(NnError::Shape {
                block: "kan grid update",
                expected: format!("[batch >= 1, {}]", self.in_features()),
                found: vec![batch, n_in],
            });
        }
        if !(margin.is_finite() && margin >= 0.0) {
            return Err(NnError::BadConfig(format!(
                "kan grid update: margin must be finite and >= 0, got {margin}"
            )));
        }
        let n_out = self.out_features();
        let k = self.spline_order;
        let old_coeffs = self.coefficients();
        let samples = host(x);
        if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
            return Err(NnError::BadConfig(format!(
                "kan grid update: sample {} of input {} is not finite",
                i / n_in,
                i % n_in
            )));
        }
        // Each edge's current spline values at the samples: target[i][b][o].
        let old_bases = host_bases(&samples, batch, n_in, &host(self.grid.val()), k);
        let coeff = host(match refit {
            Refit::Preserve => self.spline_weight.val(),
            Refit::EfficientKan => self.scaled_spline_weight(),
        });
        let mut target = vec![0.0; n_in * batch * n_out];
        for i in 0..n_in {
            for b in 0..batch {
                let basis = &old_bases[(b * n_in + i) * old_coeffs..][..old_coeffs];
                for o in 0..n_out {
                    let c = &coeff[(o * n_in + i) * old_coeffs..][..old_coeffs];
                    target[(i * batch + b) * n_out + o] =
                        basis.iter().zip(c).map(|(u, v)| u * v).sum();
                }
            }
        }
        // New knots from each input's samples.
        let mut grid_rows = Vec::with_capacity(n_in * (grid_size + 2 * k + 1));
        for i in 0..n_in {
            let mut column: Vec<f64> = (0..batch).map(|b| samples[b * n_in + i]).collect();
            grid_rows.extend(bspline::knots_from_samples(
                &mut column,
                grid_size,
                k,
                self.grid_eps,
                margin,
            ));
        }
        // Target laid out [batch, in, out] for the fit.
        let mut y = vec![0.0; batch * n_in * n_out];
        for i in 0..n_in {
            for b in 0..batch {
                for o in 0..n_out {
                    y[(b * n_in + i) * n_out + o] = target[(i * batch + b) * n_out + o];
                }
            }
        }
        let coeffs = grid_size + k;
        let fitted = fit_coefficients(&samples, batch, n_in, &y, n_out, &grid_rows, k);
        let device = self.grid.device();
        let grid = tensor(grid_rows, [n_in, grid_size + 2 * k + 1], &device);
        let weights = tensor(fitted, [n_out, n_in, coeffs], &device);
        if new_ids {
            self.grid = Param::from_tensor(grid).set_require_grad(false);
            self.spline_weight = Param::from_tensor(weights);
        } else {
            self.grid = replace(self.grid, grid);
            self.spline_weight = replace(self.spline_weight, weights);
        }
        Ok(self)
    }
}

/// A trainable parameter of `value`; a value already in an autodiff graph (a gradient check
/// builds the layer from its inputs) is kept as it is, so the graph reaches it.
pub(crate) fn learnable<const D: usize>(value: Tensor<D>) -> Param<Tensor<D>> {
    if value.is_tracked() {
        Param::initialized(burn::module::ParamId::new(), value)
    } else {
        Param::from_tensor(value)
    }
}

/// The parameter with a new value of the same kind, keeping its id and gradient setting.
pub(crate) fn replace<const D: usize>(
    param: Param<Tensor<D>>,
    value: Tensor<D>,
) -> Param<Tensor<D>> {
    param.map(|old| {
        let value = value.cast(old.dtype());
        if old.is_require_grad() {
            value.require_grad()
        } else {
            value
        }
    })
}

/// A tensor's values in f64 on the host.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f64>()
        .expect("float tensors convert to f64")
}

/// An f32 tensor of the given values on `device` (parameters are f32 like PyTorch's).
pub(crate) fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    let t: Tensor<D> = Tensor::from_data(TensorData::new(values, shape), (device, DType::F64));
    t.cast(DType::F32)
}

/// The bases of every sample on its input's knots, in f64 on the host: `[batch, in, knots − 1 − k]`.
fn host_bases(
    samples: &[f64],
    batch: usize,
    n_in: usize,
    grid_rows: &[f64],
    order: usize,
) -> Vec<f64> {
    let device = Device::flex();
    let knots = grid_rows.len() / n_in;
    let x = Tensor::<2>::from_data(
        TensorData::new(samples.to_vec(), [batch, n_in]),
        (&device, DType::F64),
    );
    let grid = Tensor::<2>::from_data(
        TensorData::new(grid_rows.to_vec(), [n_in, knots]),
        (&device, DType::F64),
    );
    host(bspline::bases(x, grid, order))
}

/// efficient-kan's `curve2coeff`: per input `i`, the minimum-norm least-squares coefficients
/// that make the splines on that input's knots pass through `y[:, i, :]` at `x[:, i]`.
///
/// # Shapes
/// - x: `[batch, in]`; y: `[batch, in, out]`; grid_rows: `[in, knots]`
/// - returns: `[out, in, knots − 1 − order]`
fn fit_coefficients(
    x: &[f64],
    batch: usize,
    n_in: usize,
    y: &[f64],
    n_out: usize,
    grid_rows: &[f64],
    order: usize,
) -> Vec<f64> {
    let knots = grid_rows.len() / n_in;
    let coeffs = knots - 1 - order;
    let bases = host_bases(x, batch, n_in, grid_rows, order);
    let mut result = vec![0.0; n_out * n_in * coeffs];
    for i in 0..n_in {
        let a: Vec<f64> = (0..batch)
            .flat_map(|b| bases[(b * n_in + i) * coeffs..][..coeffs].iter().copied())
            .collect();
        let rhs: Vec<f64> = (0..batch)
            .flat_map(|b| y[(b * n_in + i) * n_out..][..n_out].iter().copied())
            .collect();
        let solution = lstsq(&a, batch, coeffs, &rhs, n_out); // [coeffs, out]
        for m in 0..coeffs {
            for o in 0..n_out {
                result[(o * n_in + i) * coeffs + m] = solution[m * n_out + o];
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn f64_tensor<const D: usize>(
        values: Vec<f64>,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), (device, DType::F64))
    }

    /// One input, one output, G = 1 and k = 1 on [0, 1]: knots −1, 0, 1, 2 and two hat bases,
    /// B_0 peaking at 0 and B_1 at 1. With an identity base, w_b = 2, c = (3, 5), w_s = 0.5:
    /// at x = 0.25, base 2·0.25 = 0.5 and spline 0.5·(3·0.75 + 5·0.25) = 1.75, so y = 2.25;
    /// at x = 1.5 (inside the extended grid), 3 + 0.5·(5·0.5) = 4.25; at x = 3 (outside every
    /// knot), only the base: 6.
    #[test]
    fn hand_computed_layer() {
        let device = Device::flex();
        let config = KanLayerConfig::new(1, 1)
            .with_grid_size(1)
            .with_spline_order(1)
            .with_grid_range([0.0, 1.0])
            .with_base_activation("identity".into());
        let layer = config
            .from_tensors(
                f64_tensor(vec![2.0], [1, 1], &device),
                f64_tensor(vec![3.0, 5.0], [1, 1, 2], &device),
                Some(f64_tensor(vec![0.5], [1, 1], &device)),
                f64_tensor(vec![-1.0, 0.0, 1.0, 2.0], [1, 4], &device),
                &device,
            )
            .unwrap();
        let y = host(layer.forward(f64_tensor(vec![0.25, 1.5, 3.0], [3, 1], &device)));
        for (found, expected) in y.iter().zip([2.25, 4.25, 6.0]) {
            assert!((found - expected).abs() < 1e-12, "{y:?}");
        }
        // Leading axes are kept: [2, 1, 1] in, [2, 1, 1] out.
        let y3 = layer.forward(f64_tensor(vec![0.25, 3.0], [2, 1, 1], &device));
        assert_eq!(y3.dims(), [2, 1, 1]);
    }

    /// efficient-kan's KANLinear(2, 5): 10 base weights, 2·5·8 = 80 coefficients, 10 scales;
    /// the grid is 2 rows of 12 knots. Base weights and scales lie within the Kaiming bound
    /// 1/√2; the initial splines are the noise they were fitted to, so at the G + 1 interior
    /// knots they are at most scale_noise/(2G) = 0.01 in size.
    #[test]
    fn shapes_and_initialisation() {
        let device = Device::flex();
        let layer = KanLayerConfig::new(2, 5).init(&device).unwrap();
        assert_eq!(layer.base_weight.dims(), [5, 2]);
        assert_eq!(layer.spline_weight.dims(), [5, 2, 8]);
        assert_eq!(layer.spline_scaler.as_ref().unwrap().dims(), [5, 2]);
        assert_eq!(layer.grid.dims(), [2, 12]);
        assert_eq!(layer.num_params(), 10 + 80 + 10 + 24);
        assert_eq!(layer.grid_size(), 5);
        let bound = 1.0 / 2f64.sqrt();
        for w in host(layer.base_weight.val())
            .into_iter()
            .chain(host(layer.spline_scaler.as_ref().unwrap().val()))
        {
            assert!(w.abs() <= bound + 1e-7, "{w}");
        }
        let knots = bspline::uniform_knots(5, 3, [-1.0, 1.0]);
        let interior: Vec<f64> = knots[3..9].iter().flat_map(|&t| [t, t]).collect();
        let bases = host(layer.spline_bases(f64_tensor(interior, [6, 2], &device)));
        let c = host(layer.spline_weight.val());
        let mut largest: f64 = 0.0;
        for b in 0..6 {
            for i in 0..2 {
                for o in 0..5 {
                    let v: f64 = (0..8)
                        .map(|m| bases[(b * 2 + i) * 8 + m] * c[(o * 2 + i) * 8 + m])
                        .sum();
                    largest = largest.max(v.abs());
                }
            }
        }
        assert!(largest <= 0.01 + 1e-6 && largest > 1e-4, "{largest}");
        // The grid is not trained.
        let trained = KanLayerConfig::new(2, 5)
            .init(&device.clone().autodiff())
            .unwrap();
        assert!(!trained.grid.val().is_require_grad());
        assert!(trained.spline_weight.val().is_require_grad());
    }

    /// c = [[1, −3]] and [[0.5, 0.5]] (out 2, in 1, two coefficients): l = (2, 0.5), Σ l = 2.5,
    /// p = (0.8, 0.2), H = −(0.8 ln 0.8 + 0.2 ln 0.2) = 0.500402; with λ_a = 1, λ_e = 1 the loss
    /// is 3.000402, and with λ_a = 2, λ_e = 0.5 it is 5.250201.
    #[test]
    fn regularization_by_hand() {
        let device = Device::flex();
        let config = KanLayerConfig::new(1, 2)
            .with_grid_size(1)
            .with_spline_order(1);
        let layer = config
            .from_tensors(
                f64_tensor(vec![0.0, 0.0], [2, 1], &device),
                f64_tensor(vec![1.0, -3.0, 0.5, 0.5], [2, 1, 2], &device),
                Some(f64_tensor(vec![1.0, 1.0], [2, 1], &device)),
                f64_tensor(vec![-3.0, -1.0, 1.0, 3.0], [1, 4], &device),
                &device,
            )
            .unwrap();
        let h = -(0.8f64 * 0.8f64.ln() + 0.2 * 0.2f64.ln());
        let reg = host(layer.regularization_loss(1.0, 1.0))[0];
        assert!((reg - (2.5 + h)).abs() < 1e-12, "{reg}");
        assert!((reg - 3.000402).abs() < 1e-6, "{reg}");
        let reg = host(layer.regularization_loss(2.0, 0.5))[0];
        assert!((reg - (5.0 + 0.5 * h)).abs() < 1e-12, "{reg}");
    }

    /// Gradients of the inputs and of every learnable parameter (w_b, c, w_s) in f64, with inputs
    /// inside the grid, in its extension and outside it (where only the base branch remains).
    #[test]
    fn gradcheck_inputs_and_parameters() {
        let device = Device::flex();
        let config = KanLayerConfig::new(3, 2).with_grid_size(4);
        let reference = config.init(&device).unwrap();
        let params = [
            host(reference.base_weight.val()),
            host(reference.spline_weight.val())
                .into_iter()
                .enumerate()
                .map(|(i, c)| c + 0.3 * ((i as f64) * 0.7).sin())
                .collect(),
            host(reference.spline_scaler.as_ref().unwrap().val()),
        ];
        let x = vec![
            -0.93, 0.12, 0.71, //
            -1.37, 1.83, -0.41, // in the extension beyond [-1, 1]
            2.9, -3.4, 0.05, // outside every knot
            0.33, -0.58, 0.97,
        ];
        let grid = host(reference.grid.val());
        let report = check_gradients(
            |inputs, device| {
                let layer = config
                    .from_tensors(
                        inputs[1].clone().reshape([2, 3]),
                        inputs[2].clone().reshape([2, 3, 7]),
                        Some(inputs[3].clone().reshape([2, 3])),
                        f64_tensor(grid.clone(), [3, 11], device),
                        device,
                    )
                    .unwrap();
                layer
                    .forward(inputs[0].clone().reshape([4, 3]))
                    .reshape([8])
            },
            &[x, params[0].clone(), params[1].clone(), params[2].clone()],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
        // Without standalone scales, and with the regulariser's gradient.
        let plain = KanLayerConfig::new(3, 2)
            .with_grid_size(4)
            .with_standalone_scale_spline(false);
        let report = check_gradients(
            |inputs, device| {
                let layer = plain
                    .from_tensors(
                        f64_tensor(params[0].clone(), [2, 3], device),
                        inputs[0].clone().reshape([2, 3, 7]),
                        None,
                        f64_tensor(grid.clone(), [3, 11], device),
                        device,
                    )
                    .unwrap();
                layer.regularization_loss(1.0, 2.0)
            },
            std::slice::from_ref(&params[1]),
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    /// A grid update moves the knots to the samples and keeps the function on them (Refit::Preserve);
    /// efficient-kan's refit multiplies the spline branch by w_s a second time.
    #[test]
    fn grid_update_preserves_the_function() {
        let device = Device::flex();
        let layer = KanLayerConfig::new(2, 3).init(&device).unwrap();
        // Larger coefficients than at init, so the spline branch matters.
        let c: Vec<f64> = (0..3 * 2 * 8).map(|i| ((i as f64) * 1.3).sin()).collect();
        let layer = KanLayer {
            spline_weight: replace(layer.spline_weight, tensor(c, [3, 2, 8], &device)),
            ..layer
        };
        let xs: Vec<f64> = (0..400)
            .map(|i| 0.8 * ((i as f64) * 0.37).sin() + 0.05 * ((i as f64) * 2.1).cos())
            .collect();
        let x = f64_tensor(xs, [200, 2], &device).cast(DType::F32);
        let before = host(layer.forward(x.clone()));
        let ids = (layer.grid.id, layer.spline_weight.id);
        let updated = layer
            .clone()
            .update_grid(x.clone(), 0.01, Refit::Preserve)
            .unwrap();
        assert_eq!((updated.grid.id, updated.spline_weight.id), ids);
        let after = host(updated.forward(x.clone()));
        let worst = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        // The samples lie in [-0.85, 0.85]; the new knots are a cubic spline basis on that range,
        // which reproduces the old cubic pieces up to the fit error of their breakpoints.
        assert!(worst < 0.05, "{worst}");
        let grid = host(updated.grid.val());
        assert!(
            grid[3] > -0.9 && grid[3] < -0.8 && grid[8] > 0.8 && grid[8] < 0.9,
            "{grid:?}"
        );
        let efficient = layer
            .update_grid(x.clone(), 0.01, Refit::EfficientKan)
            .unwrap();
        let doubled = host(efficient.forward(x));
        let off = before
            .iter()
            .zip(&doubled)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(off > 10.0 * worst, "{off} vs {worst}");
    }

    /// Grid extension to 10 intervals keeps the function on the samples and gives new ids to the
    /// coefficients, whose shape changed.
    #[test]
    fn grid_extension_refines_the_grid() {
        let device = Device::flex();
        let layer = KanLayerConfig::new(1, 2).init(&device).unwrap();
        let xs: Vec<f64> = (0..300).map(|i| -1.0 + 2.0 * i as f64 / 299.0).collect();
        let x = f64_tensor(xs, [300, 1], &device).cast(DType::F32);
        let before = host(layer.forward(x.clone()));
        let id = layer.spline_weight.id;
        let fine = layer.extend_grid(x.clone(), 10, 0.01).unwrap();
        assert_eq!(fine.spline_weight.dims(), [2, 1, 13]);
        assert_eq!(fine.grid_size(), 10);
        assert_ne!(fine.spline_weight.id, id);
        let after = host(fine.forward(x));
        let worst = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "{worst}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let base = || KanLayerConfig::new(2, 3);
        let cases = [
            ("widths", KanLayerConfig::new(0, 3)),
            ("widths", KanLayerConfig::new(2, 0)),
            ("grid_size", base().with_grid_size(0)),
            ("grid_size", base().with_grid_size(1 << 40)),
            ("spline_order", base().with_spline_order(0)),
            ("spline_order", base().with_spline_order(99)),
            ("scale_noise", base().with_scale_noise(f64::NAN)),
            ("scale_noise", base().with_scale_noise(-0.1)),
            ("scale_base", base().with_scale_base(1e300)),
            ("scale_spline", base().with_scale_spline(f64::INFINITY)),
            ("grid_eps", base().with_grid_eps(1.5)),
            ("grid_eps", base().with_grid_eps(f64::NAN)),
            ("grid_range", base().with_grid_range([1.0, -1.0])),
            ("grid_range", base().with_grid_range([f64::NAN, 1.0])),
            ("grid_range", base().with_grid_range([0.0, 0.0])),
        ];
        for (field, config) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
            assert!(config.init(&Device::flex()).is_err());
        }
        for bad in ["", "nope", "relu(x=1)"] {
            assert!(
                base().with_base_activation(bad.into()).validate().is_err(),
                "{bad}"
            );
        }
        let device = Device::flex();
        let layer = base().init(&device).unwrap();
        let x = Tensor::<2>::zeros([4, 3], &device);
        assert!(layer.clone().update_grid(x, 0.01, Refit::Preserve).is_err());
        let x = Tensor::<2>::zeros([4, 2], &device);
        assert!(
            layer
                .clone()
                .update_grid(x.clone(), f64::NAN, Refit::Preserve)
                .is_err()
        );
        assert!(layer.extend_grid(x, 0, 0.01).is_err());
    }
}
