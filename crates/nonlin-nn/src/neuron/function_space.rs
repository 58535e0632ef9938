//! The activation spaces an S-KAN node selects among (Yang et al., "Activation Space Selectable
//! Kolmogorov-Arnold Networks", arXiv:2408.08338): families of learnable univariate edge functions
//! `φ^{(k)}_{j,i}`, each a KAN variant of its own.
//!
//! | space | edge function of input `x` (per edge `j ← i`) | from |
//! |---|---|---|
//! | `bspline` | `w_s·Σ_m c_m B_m(x)`, G + k B-splines of order k on `grid_range` | efficient-kan |
//! | `chebyshev` | `Σ_{d=0..D} c_d T_d(tanh x)` | ChebyKAN |
//! | `rbf` | `Σ_m c_m exp(−((x − μ_m)/h)²)`, M centres evenly on `rbf_range`, `h` their spacing | FastKAN |
//! | `fourier` | `Σ_{h=1..H} a_h cos(hx) + b_h sin(hx)` | FourierKAN |
//! | `wavelet` | `w·ψ((x − t)/s)`, ψ the Mexican hat `2/(√3 π^{1/4})·(u² − 1)·e^{−u²/2}`, learnable `w, s, t` | Wav-KAN |
//!
//! The paper names B-spline, Chebyshev, wavelet and RBF families but its code is not public; which
//! families, their sizes (D = 3, M = 8 on [−2, 2], H = 4) and their initialisations (each the
//! cited implementation's) are UNCONFIRMED workbench choices, all fields of [`SpaceConfig`].
//! Initialisations: B-spline as efficient-kan (noise fit, Kaiming scales); Chebyshev
//! `N(0, (1/(in·(D+1)))²)`; RBF `N(0, 0.1²)`; Fourier `N(0, 1)/(√in·√H)`; wavelet weights
//! Kaiming-uniform (bound 1/√in), scales 1, translations 0.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::bspline;
#[cfg(test)]
use super::kan::learnable;
use super::kan::{KanLayerConfig, kaiming_bound};
use crate::NnError;

/// One family of edge functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionSpace {
    Bspline,
    Chebyshev,
    Rbf,
    Fourier,
    Wavelet,
}

impl FunctionSpace {
    /// Every space, in the order of the table above (the default pool).
    pub const ALL: [FunctionSpace; 5] = [
        FunctionSpace::Bspline,
        FunctionSpace::Chebyshev,
        FunctionSpace::Rbf,
        FunctionSpace::Fourier,
        FunctionSpace::Wavelet,
    ];

    /// The name experiment files use.
    pub fn name(self) -> &'static str {
        match self {
            FunctionSpace::Bspline => "bspline",
            FunctionSpace::Chebyshev => "chebyshev",
            FunctionSpace::Rbf => "rbf",
            FunctionSpace::Fourier => "fourier",
            FunctionSpace::Wavelet => "wavelet",
        }
    }
}

/// The pool of spaces and their sizes, shared by S-KAN's dense and convolutional layers (an
/// experiment's `[model.space]` table; every field has a default, unknown keys are errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpaceConfig {
    /// P, the spaces every node selects among (default: all five, table order).
    pub spaces: Vec<FunctionSpace>,
    /// Whether every edge also has a base branch `w_b·b(x)` outside the selection, as in a KAN
    /// (default true).
    pub base: bool,
    /// b, the base nonlinearity (default silu).
    pub base_activation: String,
    /// Kaiming scale of the base weights (default 1).
    pub scale_base: f64,
    /// G of the B-spline space (default 5).
    pub grid_size: usize,
    /// k of the B-spline space (default 3).
    pub spline_order: usize,
    /// The B-spline grid's range (default [-1, 1]).
    pub grid_range: [f64; 2],
    /// Noise scale of the initial B-spline coefficients (default 0.1).
    pub scale_noise: f64,
    /// Kaiming scale of the B-spline scales w_s (default 1).
    pub scale_spline: f64,
    /// D, the Chebyshev degree (default 3: T_0..T_3).
    pub chebyshev_degree: usize,
    /// M, the number of RBF centres (default 8).
    pub rbf_centers: usize,
    /// The range the RBF centres span evenly (default [-2, 2]).
    pub rbf_range: [f64; 2],
    /// H, the Fourier harmonics (default 4: cos and sin of 1..4).
    pub fourier_harmonics: usize,
    /// τ, the softmax temperature of the selection weights (default 1).
    pub temperature: f64,
}

impl Default for SpaceConfig {
    fn default() -> Self {
        Self {
            spaces: FunctionSpace::ALL.to_vec(),
            base: true,
            base_activation: "silu".into(),
            scale_base: 1.0,
            grid_size: 5,
            spline_order: 3,
            grid_range: [-1.0, 1.0],
            scale_noise: 0.1,
            scale_spline: 1.0,
            chebyshev_degree: 3,
            rbf_centers: 8,
            rbf_range: [-2.0, 2.0],
            fourier_harmonics: 4,
            temperature: 1.0,
        }
    }
}

/// Sizes beyond these are typos, not experiments.
const MAX_SIZE: usize = 4096;

impl SpaceConfig {
    /// The default pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same sizes with this pool.
    pub fn with_spaces(mut self, spaces: Vec<FunctionSpace>) -> Self {
        self.spaces = spaces;
        self
    }

    /// Checks every field, naming the bad one.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |field: &str, reason: String| {
            Err(NnError::BadConfig(format!("s_kan {field}: {reason}")))
        };
        if self.spaces.is_empty() {
            return bad(
                "spaces",
                "the pool is empty; name at least one space".into(),
            );
        }
        for (i, s) in self.spaces.iter().enumerate() {
            if self.spaces[..i].contains(s) {
                return bad("spaces", format!("`{}` is listed twice", s.name()));
            }
        }
        for (field, value, min) in [
            ("chebyshev_degree", self.chebyshev_degree, 0),
            ("rbf_centers", self.rbf_centers, 2),
            ("fourier_harmonics", self.fourier_harmonics, 1),
        ] {
            if !(min..=MAX_SIZE).contains(&value) {
                return bad(field, format!("must be in {min}..={MAX_SIZE}, got {value}"));
            }
        }
        let [a, b] = self.rbf_range;
        if !(a.is_finite() && b.is_finite() && a < b && b - a < 1e12) {
            return bad(
                "rbf_range",
                format!("must be finite with a < b, got [{a}, {b}]"),
            );
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0 && self.temperature <= 1e6) {
            return bad(
                "temperature",
                format!("must be in (0, 1e6], got {}", self.temperature),
            );
        }
        // The B-spline fields and the base activation, through the KAN layer's own checks.
        self.bspline_layer(1, 1).validate()
    }

    /// The efficient-kan layer config the B-spline space and the base branch follow.
    pub(crate) fn bspline_layer(&self, input: usize, output: usize) -> KanLayerConfig {
        KanLayerConfig::new(input, output)
            .with_grid_size(self.grid_size)
            .with_spline_order(self.spline_order)
            .with_grid_range(self.grid_range)
            .with_scale_noise(self.scale_noise)
            .with_scale_base(self.scale_base)
            .with_scale_spline(self.scale_spline)
            .with_base_activation(self.base_activation.clone())
    }

    /// The edges of space `space` from `input` to `output` features.
    pub fn init_space(
        &self,
        space: FunctionSpace,
        input: usize,
        output: usize,
        device: &Device,
    ) -> Result<SpaceEdges, NnError> {
        let normal = |count: usize, std: f64| {
            Tensor::<3>::random(
                [output, input, count],
                Distribution::Normal(0.0, std),
                device,
            )
        };
        Ok(match space {
            FunctionSpace::Bspline => {
                let kan = self.bspline_layer(input, output).init(device)?;
                SpaceEdges::Bspline(BsplineEdges {
                    spline_weight: kan.spline_weight,
                    spline_scaler: kan
                        .spline_scaler
                        .expect("standalone scales are on in S-KAN's B-spline space"),
                    grid: kan.grid,
                    spline_order: kan.spline_order,
                })
            }
            FunctionSpace::Chebyshev => {
                let d = self.chebyshev_degree + 1;
                SpaceEdges::Chebyshev(ChebyshevEdges {
                    coefficients: Param::from_tensor(normal(d, 1.0 / (input * d) as f64)),
                })
            }
            FunctionSpace::Rbf => SpaceEdges::Rbf(RbfEdges {
                coefficients: Param::from_tensor(normal(self.rbf_centers, 0.1)),
                low: self.rbf_range[0],
                high: self.rbf_range[1],
            }),
            FunctionSpace::Fourier => {
                let h = self.fourier_harmonics;
                let std = 1.0 / ((input as f64).sqrt() * (h as f64).sqrt());
                SpaceEdges::Fourier(FourierEdges {
                    coefficients: Param::from_tensor(normal(2 * h, std)),
                })
            }
            FunctionSpace::Wavelet => {
                let bound = kaiming_bound(5f64.sqrt(), input);
                SpaceEdges::Wavelet(WaveletEdges {
                    weight: Param::from_tensor(Tensor::random(
                        [output, input],
                        Distribution::Uniform(-bound, bound),
                        device,
                    )),
                    scale: Param::from_tensor(Tensor::ones([output, input], device)),
                    translation: Param::from_tensor(Tensor::zeros([output, input], device)),
                })
            }
        })
    }
}

/// The edges of one space in one layer: a function of every input for every output, summed over
/// inputs.
#[derive(Module, Debug)]
pub enum SpaceEdges {
    Bspline(BsplineEdges),
    Chebyshev(ChebyshevEdges),
    Rbf(RbfEdges),
    Fourier(FourierEdges),
    Wavelet(WaveletEdges),
}

impl SpaceEdges {
    /// Which space these edges belong to.
    pub fn space(&self) -> FunctionSpace {
        match self {
            SpaceEdges::Bspline(_) => FunctionSpace::Bspline,
            SpaceEdges::Chebyshev(_) => FunctionSpace::Chebyshev,
            SpaceEdges::Rbf(_) => FunctionSpace::Rbf,
            SpaceEdges::Fourier(_) => FunctionSpace::Fourier,
            SpaceEdges::Wavelet(_) => FunctionSpace::Wavelet,
        }
    }

    /// `Σ_i φ_{j,i}(x_i)` for every output `j`.
    ///
    /// # Shapes
    /// - x: `[rows, in]`
    /// - output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            SpaceEdges::Bspline(e) => e.forward(x),
            SpaceEdges::Chebyshev(e) => e.forward(x),
            SpaceEdges::Rbf(e) => e.forward(x),
            SpaceEdges::Fourier(e) => e.forward(x),
            SpaceEdges::Wavelet(e) => e.forward(x),
        }
    }
}

/// `Σ_{i,m} bases[r, i, m] · c[j, i, m]`: a basis expansion per edge as one matrix product.
///
/// # Shapes
/// - bases: `[rows, in, M]`; coefficients: `[out, in, M]`
/// - output: `[rows, out]`
fn expand(bases: Tensor<3>, coefficients: Tensor<3>) -> Tensor<2> {
    let [rows, n_in, m] = bases.dims();
    let out = coefficients.dims()[0];
    let c = coefficients.cast(bases.dtype()).reshape([out, n_in * m]);
    bases.reshape([rows, n_in * m]).matmul(c.transpose())
}

/// B-spline edges (the spline branch of efficient-kan's layer).
#[derive(Module, Debug)]
pub struct BsplineEdges {
    /// c: `[out, in, G + k]`.
    pub spline_weight: Param<Tensor<3>>,
    /// w_s: `[out, in]`.
    pub spline_scaler: Param<Tensor<2>>,
    /// Knots `[in, G + 2k + 1]`, not trained.
    pub grid: Param<Tensor<2>>,
    /// k.
    pub spline_order: usize,
}

impl BsplineEdges {
    /// # Shapes
    /// - x: `[rows, in]`; output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let grid = self.grid.val().cast(x.dtype()).detach();
        let bases = bspline::bases(x, grid, self.spline_order);
        let c = self.spline_weight.val();
        let scaled = c.clone()
            * self
                .spline_scaler
                .val()
                .cast(c.dtype())
                .unsqueeze_dim::<3>(2);
        expand(bases, scaled)
    }
}

/// Chebyshev edges: `T_0..T_D` of `tanh x` by `T_{d+1} = 2t·T_d − T_{d−1}`.
#[derive(Module, Debug)]
pub struct ChebyshevEdges {
    /// c: `[out, in, D + 1]`.
    pub coefficients: Param<Tensor<3>>,
}

impl ChebyshevEdges {
    /// # Shapes
    /// - x: `[rows, in]`; output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let degree = self.coefficients.dims()[2] - 1;
        let t = x.tanh().unsqueeze_dim::<3>(2);
        let mut terms = vec![t.ones_like()];
        if degree >= 1 {
            terms.push(t.clone());
        }
        for d in 2..=degree {
            let next = t.clone() * terms[d - 1].clone() * 2.0 - terms[d - 2].clone();
            terms.push(next);
        }
        expand(Tensor::cat(terms, 2), self.coefficients.val())
    }
}

/// Gaussian RBF edges on evenly spaced centres.
#[derive(Module, Debug)]
pub struct RbfEdges {
    /// c: `[out, in, M]`.
    pub coefficients: Param<Tensor<3>>,
    /// The first and last centre.
    pub low: f64,
    pub high: f64,
}

impl RbfEdges {
    /// # Shapes
    /// - x: `[rows, in]`; output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let m = self.coefficients.dims()[2];
        let h = (self.high - self.low) / (m - 1) as f64;
        let centers: Vec<f64> = (0..m).map(|i| self.low + i as f64 * h).collect();
        let centers = Tensor::<1>::from_data(
            burn::tensor::TensorData::new(centers, [m]),
            (&x.device(), x.dtype()),
        )
        .reshape([1, 1, m]);
        let u = (x.unsqueeze_dim::<3>(2) - centers) / h;
        expand(u.powi_scalar(2).neg().exp(), self.coefficients.val())
    }
}

/// Fourier edges: `cos(hx)` for `h = 1..H`, then `sin(hx)`.
#[derive(Module, Debug)]
pub struct FourierEdges {
    /// (a, b): `[out, in, 2H]`, the cosine coefficients first.
    pub coefficients: Param<Tensor<3>>,
}

impl FourierEdges {
    /// # Shapes
    /// - x: `[rows, in]`; output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let harmonics = self.coefficients.dims()[2] / 2;
        let k: Vec<f64> = (1..=harmonics).map(|h| h as f64).collect();
        let k = Tensor::<1>::from_data(
            burn::tensor::TensorData::new(k, [harmonics]),
            (&x.device(), x.dtype()),
        )
        .reshape([1, 1, harmonics]);
        let kx = x.unsqueeze_dim::<3>(2) * k;
        expand(
            Tensor::cat(vec![kx.clone().cos(), kx.sin()], 2),
            self.coefficients.val(),
        )
    }
}

/// Mexican-hat wavelet edges, each with its own weight, scale and translation.
#[derive(Module, Debug)]
pub struct WaveletEdges {
    /// w: `[out, in]`.
    pub weight: Param<Tensor<2>>,
    /// s: `[out, in]`.
    pub scale: Param<Tensor<2>>,
    /// t: `[out, in]`.
    pub translation: Param<Tensor<2>>,
}

/// `2/(√3 π^{1/4})`, the Mexican hat's normalisation.
const MEXICAN_HAT: f64 = 0.867_325_070_584_078;

impl WaveletEdges {
    /// # Shapes
    /// - x: `[rows, in]`; output: `[rows, out]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let dtype = x.dtype();
        let s = self.scale.val().cast(dtype).unsqueeze_dim::<3>(0); // [1, out, in]
        let t = self.translation.val().cast(dtype).unsqueeze_dim::<3>(0);
        let w = self.weight.val().cast(dtype).unsqueeze_dim::<3>(0);
        let u = (x.unsqueeze_dim::<3>(1) - t) / s; // [rows, out, in]
        let u2 = u.powi_scalar(2);
        let psi = (u2.clone() - 1.0) * (u2 * -0.5).exp() * MEXICAN_HAT;
        (psi * w).sum_dim(2).squeeze_dim::<2>(2)
    }
}

/// The parameters of an edge family rebuilt from given values (gradient checks); 2-D parameters
/// come as `[out, in, 1]`.
#[cfg(test)]
pub(crate) fn with_values(edges: SpaceEdges, values: Vec<Tensor<3>>) -> SpaceEdges {
    let mut values = values.into_iter();
    let mut next3 = || learnable(values.next().expect("one value per parameter"));
    match edges {
        SpaceEdges::Bspline(e) => {
            let c = next3();
            let s = next3();
            SpaceEdges::Bspline(BsplineEdges {
                spline_weight: c,
                spline_scaler: learnable(s.val().squeeze_dim::<2>(2)),
                ..e
            })
        }
        SpaceEdges::Chebyshev(_) => SpaceEdges::Chebyshev(ChebyshevEdges {
            coefficients: next3(),
        }),
        SpaceEdges::Rbf(e) => SpaceEdges::Rbf(RbfEdges {
            coefficients: next3(),
            ..e
        }),
        SpaceEdges::Fourier(_) => SpaceEdges::Fourier(FourierEdges {
            coefficients: next3(),
        }),
        SpaceEdges::Wavelet(_) => {
            let mut two = || learnable(next3().val().squeeze_dim::<2>(2));
            SpaceEdges::Wavelet(WaveletEdges {
                weight: two(),
                scale: two(),
                translation: two(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, TensorData};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};
    use crate::neuron::kan::host;

    fn f64_tensor<const D: usize>(
        values: Vec<f64>,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), (device, DType::F64))
    }

    /// One input, one output, hand-computed at x = 0.5:
    /// - Chebyshev D = 2, c = (1, 2, 3): t = tanh 0.5 = 0.462117, T_2 = 2t² − 1 = −0.572896,
    ///   so 1 + 2·0.462117 + 3·(−0.572895) = 1 + 0.924234 − 1.718686 = 0.205548;
    /// - RBF M = 3 on [−1, 1] (h = 1), c = (1, 2, 4): e^{−2.25} + 2e^{−0.25} + 4e^{−0.25} =
    ///   0.105399 + 6·0.778801 = 4.778204;
    /// - Fourier H = 2, (a_1, a_2, b_1, b_2) = (1, 0, 0, 2): cos 0.5 + 2 sin 1 = 0.877583 +
    ///   1.682942 = 2.560525;
    /// - wavelet w = 2, s = 0.5, t = 0: u = 1, ψ = 0, output 0; at x = 1, u = 2,
    ///   ψ = 0.867325·3·e^{−2} = 0.352139, output 0.704278.
    #[test]
    fn hand_computed_spaces() {
        let device = Device::flex();
        let x = f64_tensor(vec![0.5], [1, 1], &device);
        let cheb = ChebyshevEdges {
            coefficients: Param::from_tensor(f64_tensor(vec![1.0, 2.0, 3.0], [1, 1, 3], &device)),
        };
        let rbf = RbfEdges {
            coefficients: Param::from_tensor(f64_tensor(vec![1.0, 2.0, 4.0], [1, 1, 3], &device)),
            low: -1.0,
            high: 1.0,
        };
        let fourier = FourierEdges {
            coefficients: Param::from_tensor(f64_tensor(
                vec![1.0, 0.0, 0.0, 2.0],
                [1, 1, 4],
                &device,
            )),
        };
        let wavelet = WaveletEdges {
            weight: Param::from_tensor(f64_tensor(vec![2.0], [1, 1], &device)),
            scale: Param::from_tensor(f64_tensor(vec![0.5], [1, 1], &device)),
            translation: Param::from_tensor(f64_tensor(vec![0.0], [1, 1], &device)),
        };
        let t = 0.5f64.tanh();
        let cases = [
            (
                host(cheb.forward(x.clone()))[0],
                1.0 + 2.0 * t + 3.0 * (2.0 * t * t - 1.0),
            ),
            (
                host(rbf.forward(x.clone()))[0],
                (-2.25f64).exp() + 6.0 * (-0.25f64).exp(),
            ),
            (
                host(fourier.forward(x.clone()))[0],
                0.5f64.cos() + 2.0 * 1f64.sin(),
            ),
            (host(wavelet.forward(x))[0], 0.0),
            (
                host(wavelet.forward(f64_tensor(vec![1.0], [1, 1], &device)))[0],
                2.0 * MEXICAN_HAT * 3.0 * (-2f64).exp(),
            ),
        ];
        for (found, expected) in cases {
            assert!((found - expected).abs() < 1e-12, "{found} vs {expected}");
        }
        assert!((cases[0].1 - 0.205_548).abs() < 1e-6);
        assert!((cases[1].1 - 4.778_204).abs() < 1e-6);
        assert!((cases[2].1 - 2.560_525).abs() < 1e-6);
        assert!((cases[4].1 - 0.704_278).abs() < 1e-6);
        assert!(
            (MEXICAN_HAT - 2.0 / (3f64.sqrt() * std::f64::consts::PI.powf(0.25))).abs() < 1e-15
        );
    }

    /// Every space's edges: gradients of the inputs and of every parameter in f64.
    #[test]
    fn gradcheck_every_space() {
        let device = Device::flex();
        let config = SpaceConfig::new();
        let x = vec![-1.3, -0.41, 0.07, 0.52, 0.88, 1.61, -2.4, 0.33, -0.71];
        for space in FunctionSpace::ALL {
            let edges = config.init_space(space, 3, 2, &device).unwrap();
            let params: Vec<Vec<f64>> = match &edges {
                SpaceEdges::Bspline(e) => {
                    vec![host(e.spline_weight.val()), host(e.spline_scaler.val())]
                }
                SpaceEdges::Chebyshev(e) => vec![host(e.coefficients.val())],
                SpaceEdges::Rbf(e) => vec![host(e.coefficients.val())],
                SpaceEdges::Fourier(e) => vec![host(e.coefficients.val())],
                SpaceEdges::Wavelet(e) => vec![
                    host(e.weight.val()),
                    host(e.scale.val()).iter().map(|s| s + 0.2).collect(),
                    vec![0.1, -0.3, 0.25, 0.0, 0.4, -0.15],
                ],
            };
            let shapes: Vec<[usize; 3]> = params
                .iter()
                .map(|p| {
                    if p.len() == 6 {
                        [2, 3, 1]
                    } else {
                        [2, 3, p.len() / 6]
                    }
                })
                .collect();
            let mut inputs = vec![x.clone()];
            inputs.extend(params);
            let report = check_gradients(
                |t, dev| {
                    let values = t[1..]
                        .iter()
                        .zip(&shapes)
                        .map(|(v, s)| v.clone().reshape(*s))
                        .collect();
                    let edges = with_values(config.init_space(space, 3, 2, dev).unwrap(), values);
                    let edges = match edges {
                        // The knots are constants of the check; move them to the check's dtype.
                        SpaceEdges::Bspline(e) => SpaceEdges::Bspline(BsplineEdges {
                            grid: Param::from_tensor(e.grid.val().cast(DType::F64))
                                .set_require_grad(false),
                            ..e
                        }),
                        other => other,
                    };
                    edges.forward(t[0].clone().reshape([3, 3])).reshape([6])
                },
                &inputs,
                &GradCheckConfig::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", space.name()));
            assert!(report.passed(), "{}: {report}", space.name());
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let cases = [
            ("spaces", SpaceConfig::new().with_spaces(vec![])),
            (
                "spaces",
                SpaceConfig::new().with_spaces(vec![FunctionSpace::Rbf, FunctionSpace::Rbf]),
            ),
            (
                "chebyshev_degree",
                SpaceConfig {
                    chebyshev_degree: 1 << 30,
                    ..SpaceConfig::new()
                },
            ),
            (
                "rbf_centers",
                SpaceConfig {
                    rbf_centers: 1,
                    ..SpaceConfig::new()
                },
            ),
            (
                "rbf_centers",
                SpaceConfig {
                    rbf_centers: 0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "fourier_harmonics",
                SpaceConfig {
                    fourier_harmonics: 0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "rbf_range",
                SpaceConfig {
                    rbf_range: [2.0, -2.0],
                    ..SpaceConfig::new()
                },
            ),
            (
                "rbf_range",
                SpaceConfig {
                    rbf_range: [f64::NAN, 2.0],
                    ..SpaceConfig::new()
                },
            ),
            (
                "temperature",
                SpaceConfig {
                    temperature: 0.0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "temperature",
                SpaceConfig {
                    temperature: -1.0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "temperature",
                SpaceConfig {
                    temperature: f64::NAN,
                    ..SpaceConfig::new()
                },
            ),
            (
                "grid_size",
                SpaceConfig {
                    grid_size: 0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "spline_order",
                SpaceConfig {
                    spline_order: 0,
                    ..SpaceConfig::new()
                },
            ),
            (
                "scale_noise",
                SpaceConfig {
                    scale_noise: -1.0,
                    ..SpaceConfig::new()
                },
            ),
        ];
        for (field, config) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(
            SpaceConfig {
                base_activation: "".into(),
                ..SpaceConfig::new()
            }
            .validate()
            .is_err()
        );
        SpaceConfig::new().validate().unwrap();
    }
}
