//! The S-KAN layer (Yang et al., "Activation Space Selectable Kolmogorov-Arnold Networks",
//! arXiv:2408.08338): every output node weighs a pool of activation spaces
//! ([`function_space`](super::function_space)) and, as training goes on, keeps the best of them.
//!
//! `y_j = Σ_i w_b[j,i]·b(x_i) + Σ_{k∈P} α_{j,k} Σ_i φ^{(k)}_{j,i}(x_i)`, with
//! `α_j = softmax(β_j / τ)` over the spaces still active at node `j`.
//!
//! The paper's text was not available (no official code): per-node softmax selection weights β,
//! the shared base branch, and the three phases — train everything, keep the top `m` spaces per
//! node ([`SKanLayer::keep_top`], m = 2), keep the best one and drop the rest — follow the
//! workbench notes and are UNCONFIRMED; the phases are scheduled by the models
//! (`select_at`, `prune_at`). A dropped space is masked (its α is exactly 0) and, once no node of
//! the layer uses it, no longer computed. Selection logits β start at 0 (uniform α).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::function_space::{FunctionSpace, SpaceConfig, SpaceEdges};
use super::kan::{host, kaiming_bound, replace, tensor};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of an [`SKanLayer`].
#[derive(Config, Debug)]
pub struct SKanLayerConfig {
    /// Inputs of the layer.
    pub in_features: usize,
    /// Outputs (nodes) of the layer.
    pub out_features: usize,
    /// The pool of spaces and their sizes.
    #[config(default = "SpaceConfig::new()")]
    pub space: SpaceConfig,
}

/// A Kolmogorov–Arnold layer whose nodes select among activation spaces.
#[derive(Module, Debug)]
pub struct SKanLayer {
    /// w_b, the base weights `[out, in]`, when the base branch is on.
    pub base_weight: Option<Param<Tensor<2>>>,
    /// b, the base nonlinearity.
    pub base_activation: Activation,
    /// One set of edges per space of the pool, in pool order.
    pub spaces: Vec<SpaceEdges>,
    /// β, the selection logits `[out, K]`.
    pub selection: Param<Tensor<2>>,
    /// 1 where space k is still active at node j, else 0: `[out, K]`; set by the phases, never
    /// trained.
    pub mask: Param<Tensor<2>>,
    /// τ.
    pub temperature: f64,
    /// Which spaces some node still uses (a cache of `mask`, refreshed by [`SKanLayer::keep_top`]
    /// and [`SKanLayer::refresh`]; all true after loading, which only costs time).
    #[module(skip)]
    active: Vec<bool>,
}

impl SKanLayerConfig {
    /// Checks the widths and the pool.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err(NnError::BadConfig(format!(
                "s_kan layer widths must be positive, got {} -> {}",
                self.in_features, self.out_features
            )));
        }
        self.space.validate()
    }

    /// Builds the layer, drawing from the engine's RNG.
    pub fn init(&self, device: &Device) -> Result<SKanLayer, NnError> {
        self.validate()?;
        let (n_in, n_out) = (self.in_features, self.out_features);
        let s = &self.space;
        let base_weight = s.base.then(|| {
            let bound = kaiming_bound(5f64.sqrt() * s.scale_base, n_in);
            Param::from_tensor(Tensor::<2>::random(
                [n_out, n_in],
                Distribution::Uniform(-bound, bound),
                device,
            ))
        });
        let spec: ActivationSpec = s.base_activation.parse()?;
        let spaces = s
            .spaces
            .iter()
            .map(|&space| s.init_space(space, n_in, n_out, device))
            .collect::<Result<Vec<_>, _>>()?;
        let k = spaces.len();
        Ok(SKanLayer {
            base_weight,
            base_activation: Activation::new(&spec, &ActivationInit::features(device, n_in))?,
            spaces,
            selection: Param::from_tensor(Tensor::zeros([n_out, k], device)),
            mask: Param::from_tensor(Tensor::ones([n_out, k], device)).set_require_grad(false),
            temperature: s.temperature,
            active: vec![true; k],
        })
    }
}

impl SKanLayer {
    /// Outputs (nodes) of the layer.
    pub fn out_features(&self) -> usize {
        self.selection.dims()[0]
    }

    /// The pool, in order.
    pub fn pool(&self) -> Vec<FunctionSpace> {
        self.spaces.iter().map(SpaceEdges::space).collect()
    }

    /// α, the selection weights: a softmax of β/τ over each node's active spaces, 0 elsewhere.
    ///
    /// # Shapes
    /// - output: `[out, K]`
    pub fn selection_weights(&self) -> Tensor<2> {
        let beta = self.selection.val();
        let mask = self.mask.val().cast(beta.dtype());
        let inactive = mask.clone().lower_elem(0.5);
        // The largest active logit per node, as a constant (softmax does not depend on it).
        let shift = (beta.clone() + (mask.clone() - 1.0) * 1e30)
            .max_dim(1)
            .detach();
        let z = ((beta - shift) / self.temperature).mask_fill(inactive, 0.0);
        let e = z.exp() * mask;
        e.clone() / e.sum_dim(1)
    }

    /// # Shapes
    /// - input: `[..., in]`
    /// - output: `[..., out]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let rows: usize = dims[..D - 1].iter().product();
        let x = input.reshape([rows, dims[D - 1]]);
        let y = self.forward_rows(x);
        let mut out = dims;
        out[D - 1] = self.out_features();
        y.reshape(out)
    }

    fn forward_rows(&self, x: Tensor<2>) -> Tensor<2> {
        let dtype = x.dtype();
        let alpha = self.selection_weights().cast(dtype); // [out, K]
        let mut y: Option<Tensor<2>> = self.base_weight.as_ref().map(|w| {
            self.base_activation
                .forward(x.clone())
                .matmul(w.val().cast(dtype).transpose())
        });
        for (k, edges) in self.spaces.iter().enumerate() {
            if !self.active[k] {
                continue;
            }
            let weight = alpha.clone().narrow(1, k, 1).transpose(); // [1, out]
            let term = edges.forward(x.clone()) * weight;
            y = Some(match y {
                Some(y) => y + term,
                None => term,
            });
        }
        y.expect("at least one space is active")
    }

    /// Which spaces of the pool some node still computes (the cache the forward pass reads).
    pub fn active_spaces(&self) -> &[bool] {
        &self.active
    }

    /// Which spaces each node still uses.
    pub fn selected(&self) -> Vec<Vec<FunctionSpace>> {
        let pool = self.pool();
        let k = pool.len();
        host(self.mask.val())
            .chunks(k)
            .map(|row| {
                pool.iter()
                    .zip(row)
                    .filter(|(_, m)| **m > 0.5)
                    .map(|(s, _)| *s)
                    .collect()
            })
            .collect()
    }

    /// Keeps, at every node, the `keep` active spaces of largest β (ties: pool order) and masks
    /// the others; parameter ids are kept.
    pub fn keep_top(mut self, keep: usize) -> Self {
        let k = self.spaces.len();
        let beta = host(self.selection.val());
        let mask = host(self.mask.val());
        let mut new_mask = vec![0.0; mask.len()];
        for (j, (b, m)) in beta.chunks(k).zip(mask.chunks(k)).enumerate() {
            let mut order: Vec<usize> = (0..k).filter(|&i| m[i] > 0.5).collect();
            order.sort_by(|&p, &q| b[q].total_cmp(&b[p]).then(p.cmp(&q)));
            for &i in order.iter().take(keep.max(1)) {
                new_mask[j * k + i] = 1.0;
            }
        }
        let device = self.mask.device();
        self.mask = replace(self.mask, tensor(new_mask, [beta.len() / k, k], &device));
        self.refresh()
    }

    /// Recomputes which spaces any node uses from the mask (after loading a checkpoint).
    pub fn refresh(mut self) -> Self {
        let k = self.spaces.len();
        let mask = host(self.mask.val());
        self.active = (0..k)
            .map(|i| mask.chunks(k).any(|row| row[i] > 0.5))
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, TensorData};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};
    use crate::neuron::kan::learnable;

    fn f64_tensor<const D: usize>(
        values: Vec<f64>,
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), (device, DType::F64))
    }

    /// β = (0, ln 3) at one node: α = (1/4, 3/4); with τ = 2, (1/(1+√3), √3/(1+√3)) =
    /// (0.366025, 0.633975); a masked space gets α = 0 and the other 1, whatever its β.
    #[test]
    fn selection_weights_by_hand() {
        let device = Device::flex();
        let config = SKanLayerConfig::new(2, 1).with_space(
            SpaceConfig::new().with_spaces(vec![FunctionSpace::Chebyshev, FunctionSpace::Fourier]),
        );
        let mut layer = config.init(&device).unwrap();
        layer.selection = Param::from_tensor(f64_tensor(vec![0.0, 3f64.ln()], [1, 2], &device));
        let alpha = host(layer.selection_weights());
        assert!((alpha[0] - 0.25).abs() < 1e-12 && (alpha[1] - 0.75).abs() < 1e-12);
        layer.temperature = 2.0;
        let alpha = host(layer.selection_weights());
        assert!((alpha[0] - 0.366_025).abs() < 1e-6, "{alpha:?}");
        layer.mask = Param::from_tensor(f64_tensor(vec![1.0, 0.0], [1, 2], &device));
        layer.selection = Param::from_tensor(f64_tensor(vec![-50.0, 80.0], [1, 2], &device));
        assert_eq!(host(layer.selection_weights()), vec![1.0, 0.0]);
    }

    /// With one space in the pool, α = 1 and the layer is that space's edges plus the base
    /// branch; with the B-spline space it is an efficient-kan layer.
    #[test]
    fn one_space_is_its_kan() {
        let device = Device::flex();
        let config = SKanLayerConfig::new(3, 2)
            .with_space(SpaceConfig::new().with_spaces(vec![FunctionSpace::Bspline]));
        let layer = config.init(&device).unwrap();
        let x = f64_tensor(vec![0.2, -0.7, 1.3, -1.9, 0.0, 0.45], [2, 3], &device).cast(DType::F32);
        let base = layer
            .base_activation
            .forward(x.clone())
            .matmul(layer.base_weight.as_ref().unwrap().val().transpose());
        let expected = host(base + layer.spaces[0].forward(x.clone()));
        let found = host(layer.forward(x));
        for (f, e) in found.iter().zip(&expected) {
            assert!((f - e).abs() < 1e-6);
        }
    }

    /// Top-2 then top-1 selection by β, ties broken by pool order, and the dropped spaces are
    /// no longer computed once no node uses them.
    #[test]
    fn phases_keep_the_best_spaces() {
        let device = Device::flex();
        let layer = SKanLayerConfig::new(2, 2).init(&device).unwrap();
        assert_eq!(layer.pool(), FunctionSpace::ALL.to_vec());
        let layer = SKanLayer {
            selection: replace(
                layer.selection,
                tensor(
                    vec![
                        0.1, 0.9, -0.3, 0.5, 0.2, /* node 1 */ 0.0, 0.0, 0.7, 0.0, 0.0,
                    ],
                    [2, 5],
                    &device,
                ),
            ),
            ..layer
        };
        let id = layer.mask.id;
        let layer = layer.keep_top(2);
        assert_eq!(layer.mask.id, id);
        use FunctionSpace::*;
        assert_eq!(
            layer.selected(),
            vec![vec![Chebyshev, Fourier], vec![Bspline, Rbf]]
        );
        assert_eq!(layer.active, vec![true, true, true, true, false]);
        let layer = layer.keep_top(1);
        assert_eq!(layer.selected(), vec![vec![Chebyshev], vec![Rbf]]);
        assert_eq!(layer.active, vec![false, true, true, false, false]);
        // Only the kept spaces contribute: zeroing the dropped spaces' parameters changes nothing.
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![0.3f32, -0.6, 1.1, 0.2], [2, 2]),
            &device,
        );
        let before = host(layer.forward(x.clone()));
        let alpha = host(layer.selection_weights());
        assert_eq!(
            alpha,
            vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
        );
        let mut pruned = layer;
        pruned.spaces[0] = pruned.spaces[4].clone();
        assert_eq!(host(pruned.forward(x)), before);
    }

    /// Gradients of the inputs, the base weights and the selection logits in f64, with one space
    /// masked at one node.
    #[test]
    fn gradcheck_inputs_base_and_selection() {
        let device = Device::flex();
        let config = SKanLayerConfig::new(3, 2).with_space(SpaceConfig::new().with_spaces(vec![
            FunctionSpace::Chebyshev,
            FunctionSpace::Rbf,
            FunctionSpace::Wavelet,
        ]));
        let template = config.init(&device).unwrap();
        let base = host(template.base_weight.as_ref().unwrap().val());
        let beta = vec![0.3, -0.2, 0.8, -0.5, 0.1, 0.4];
        let x = vec![-1.2, 0.4, 0.9, 0.05, -0.6, 1.7];
        let report = check_gradients(
            |t, dev| {
                let layer = SKanLayer {
                    base_weight: Some(learnable(t[1].clone().reshape([2, 3]))),
                    selection: learnable(t[2].clone().reshape([2, 3])),
                    mask: Param::from_tensor(f64_tensor(
                        vec![1.0, 1.0, 1.0, 1.0, 0.0, 1.0],
                        [2, 3],
                        dev,
                    ))
                    .set_require_grad(false),
                    ..template.clone().to_device(dev)
                };
                layer.forward(t[0].clone().reshape([2, 3])).reshape([4])
            },
            &[x, base, beta],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        assert!(SKanLayerConfig::new(0, 2).init(&device).is_err());
        assert!(SKanLayerConfig::new(2, 0).validate().is_err());
        let empty = SKanLayerConfig::new(2, 2).with_space(SpaceConfig::new().with_spaces(vec![]));
        assert!(
            empty
                .init(&device)
                .unwrap_err()
                .to_string()
                .contains("spaces")
        );
    }
}
