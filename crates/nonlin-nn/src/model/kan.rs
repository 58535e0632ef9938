//! A Kolmogorov–Arnold network (Liu et al., "KAN: Kolmogorov-Arnold Networks", arXiv:2404.19756):
//! a stack of [`KanLayer`]s, `KAN(x) = Φ_{L−1} ∘ … ∘ Φ_0 (x)`, each `Φ_l` a layer of learnable
//! B-spline edge functions, as efficient-kan's `KAN(layers_hidden)`.
//!
//! Widths: `hidden` are the widths between input and output; efficient-kan's
//! `KAN([2, 5, 1])` is `hidden = [5]` on data with 2 inputs and 1 output. Its state dict
//! (`layers.{l}.base_weight`, `.spline_weight`, `.spline_scaler`, `.grid`) loads with
//! [`Kan::import_efficient_kan`], or from an experiment with
//! `[init_from] rename = [["^layers\\.", "Kan.layers."]]`.
//!
//! Training hooks (called by the runner through [`Network`]): the grid of every layer follows the
//! training batch every `update_grid_every` steps before step `update_grid_until` (efficient-kan's
//! `forward(x, update_grid=True)`: each layer's grid from its own input, layer by layer); and
//! `regularization > 0` adds `λ·Σ_l (λ_a·L1_l + λ_e·H_l)` (efficient-kan's
//! `regularization_loss`) to the training loss.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::neuron::kan::{KanLayer, KanLayerConfig, Refit};
use crate::weights::{ImportMap, import_safetensors};

/// Configuration of a [`Kan`] (`kind = "kan"`); input and output widths come from the data.
/// Defaults are efficient-kan's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KanConfig {
    /// Widths of the hidden layers, in order (empty: one KAN layer from input to output).
    pub hidden: Vec<usize>,
    /// G, grid intervals per input (default 5).
    #[serde(default = "grid_size")]
    pub grid_size: usize,
    /// k, B-spline order (default 3).
    #[serde(default = "spline_order")]
    pub spline_order: usize,
    /// Noise scale of the initial spline coefficients (default 0.1).
    #[serde(default = "scale_noise")]
    pub scale_noise: f64,
    /// Kaiming scale of the base weights (default 1).
    #[serde(default = "one")]
    pub scale_base: f64,
    /// Kaiming scale of the spline scalers (default 1).
    #[serde(default = "one")]
    pub scale_spline: f64,
    /// Whether every edge has a learnable spline scale (default true).
    #[serde(default = "yes")]
    pub standalone_scale_spline: bool,
    /// b, the base nonlinearity, any registered activation (default silu).
    #[serde(default = "silu")]
    pub base_activation: String,
    /// ε of grid updates (default 0.02).
    #[serde(default = "grid_eps")]
    pub grid_eps: f64,
    /// `[a, b]`, the initial grid's range (default [-1, 1]).
    #[serde(default = "grid_range")]
    pub grid_range: [f64; 2],
    /// Update every layer's grid from the training batch every this many steps (0: never).
    #[serde(default)]
    pub update_grid_every: u64,
    /// No grid updates from this step on (absent: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_grid_until: Option<u64>,
    /// Margin of the uniform part of an updated grid beyond the samples' range (default 0.01).
    #[serde(default = "margin")]
    pub grid_margin: f64,
    /// What a grid update refits: `preserve` (default) or `efficient_kan` (see `neuron::kan`).
    #[serde(default)]
    pub refit: Refit,
    /// λ, weight of the regulariser in the training loss (default 0: off).
    #[serde(default)]
    pub regularization: f64,
    /// λ_a, weight of the L1 term inside the regulariser (default 1).
    #[serde(default = "one")]
    pub regularize_activation: f64,
    /// λ_e, weight of the entropy term inside the regulariser (default 1).
    #[serde(default = "one")]
    pub regularize_entropy: f64,
}

fn grid_size() -> usize {
    5
}
fn spline_order() -> usize {
    3
}
fn scale_noise() -> f64 {
    0.1
}
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn silu() -> String {
    "silu".into()
}
fn grid_eps() -> f64 {
    0.02
}
fn grid_range() -> [f64; 2] {
    [-1.0, 1.0]
}
fn margin() -> f64 {
    0.01
}

/// A Kolmogorov–Arnold network.
#[derive(Module, Debug)]
pub struct Kan {
    layers: Vec<KanLayer>,
    update_grid_every: u64,
    update_grid_until: u64,
    grid_margin: f64,
    efficient_kan_refit: bool,
    regularization: f64,
    regularize_activation: f64,
    regularize_entropy: f64,
}

impl KanConfig {
    /// A KAN with these hidden widths and efficient-kan's defaults.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            grid_size: grid_size(),
            spline_order: spline_order(),
            scale_noise: scale_noise(),
            scale_base: one(),
            scale_spline: one(),
            standalone_scale_spline: yes(),
            base_activation: silu(),
            grid_eps: grid_eps(),
            grid_range: grid_range(),
            update_grid_every: 0,
            update_grid_until: None,
            grid_margin: margin(),
            refit: Refit::default(),
            regularization: 0.0,
            regularize_activation: one(),
            regularize_entropy: one(),
        }
    }

    /// The config of the layer from `input` to `output` features.
    pub fn layer(&self, input: usize, output: usize) -> KanLayerConfig {
        KanLayerConfig::new(input, output)
            .with_grid_size(self.grid_size)
            .with_spline_order(self.spline_order)
            .with_scale_noise(self.scale_noise)
            .with_scale_base(self.scale_base)
            .with_scale_spline(self.scale_spline)
            .with_standalone_scale_spline(self.standalone_scale_spline)
            .with_base_activation(self.base_activation.clone())
            .with_grid_eps(self.grid_eps)
            .with_grid_range(self.grid_range)
    }

    /// Builds the network from `input` to `output` features on `device`.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<Kan, NnError> {
        self.validate()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!(
                "kan widths must be positive: input {input}, output {output}"
            )));
        }
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        widths.push(output);
        let layers = widths
            .windows(2)
            .map(|w| self.layer(w[0], w[1]).init(device))
            .collect::<Result<_, _>>()?;
        Ok(Kan {
            layers,
            update_grid_every: self.update_grid_every,
            update_grid_until: self.update_grid_until.unwrap_or(u64::MAX),
            grid_margin: self.grid_margin,
            efficient_kan_refit: self.refit == Refit::EfficientKan,
            regularization: self.regularization,
            regularize_activation: self.regularize_activation,
            regularize_entropy: self.regularize_entropy,
        })
    }
}

impl ModelSpec for KanConfig {
    type Model = Kan;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "kan hidden widths must be positive, got {:?}",
                self.hidden
            )));
        }
        // The layer's own checks, on a stand-in 1 -> 1 layer.
        self.layer(1, 1).validate()?;
        if !(self.grid_margin.is_finite() && (0.0..=1e6).contains(&self.grid_margin)) {
            return Err(NnError::BadConfig(format!(
                "kan grid_margin must be finite and in [0, 1e6], got {}",
                self.grid_margin
            )));
        }
        for (field, value) in [
            ("regularization", self.regularization),
            ("regularize_activation", self.regularize_activation),
            ("regularize_entropy", self.regularize_entropy),
        ] {
            if !(value.is_finite() && (0.0..=1e6).contains(&value)) {
                return Err(NnError::BadConfig(format!(
                    "kan {field} must be finite and in [0, 1e6], got {value}"
                )));
            }
        }
        if self.update_grid_until == Some(0) && self.update_grid_every > 0 {
            return Err(NnError::BadConfig(
                "kan update_grid_until = 0 leaves no step for the grid updates update_grid_every asks for".into(),
            ));
        }
        Ok(())
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Kan, NnError> {
        let input: usize = io.real_input("kan")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

impl Kan {
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(input, |x, layer| layer.forward(x))
    }

    /// The layers, input to output.
    pub fn layers(&self) -> &[KanLayer] {
        &self.layers
    }

    /// Updates every layer's grid from `input`, layer by layer (efficient-kan's
    /// `forward(x, update_grid=True)`), with the config's margin and refit.
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    pub fn update_grid(mut self, input: Tensor<2>) -> Result<Self, NnError> {
        let refit = if self.efficient_kan_refit {
            Refit::EfficientKan
        } else {
            Refit::Preserve
        };
        let mut x = input.detach();
        let layers = std::mem::take(&mut self.layers);
        for layer in layers {
            let layer = layer.update_grid(x.clone(), self.grid_margin, refit)?;
            x = layer.forward(x).detach();
            self.layers.push(layer);
        }
        Ok(self)
    }

    /// Grid extension of every layer to `grid_size` intervals from `input` (pykan's `refine`);
    /// see [`KanLayer::extend_grid`].
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    pub fn extend_grid(mut self, input: Tensor<2>, grid_size: usize) -> Result<Self, NnError> {
        let mut x = input.detach();
        let layers = std::mem::take(&mut self.layers);
        for layer in layers {
            let old = layer.clone();
            let layer = layer.extend_grid(x.clone(), grid_size, self.grid_margin)?;
            x = old.forward(x).detach();
            self.layers.push(layer);
        }
        Ok(self)
    }

    /// Loads an efficient-kan state dict saved as safetensors (`layers.{l}.base_weight`, ...),
    /// which must match this network's widths, grid size and order.
    pub fn import_efficient_kan(self, path: &Path) -> Result<Self, NnError> {
        import_safetensors(self, path, &ImportMap::default())
    }
}

impl Network for Kan {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward(input.real("kan")?))
    }

    fn regularization(&self) -> Option<Tensor<1>> {
        (self.regularization > 0.0).then(|| {
            self.layers
                .iter()
                .map(|l| l.regularization_loss(self.regularize_activation, self.regularize_entropy))
                .reduce(|a, b| a + b)
                .expect("a kan has at least one layer")
                * self.regularization
        })
    }

    fn before_step(self, step: u64, input: &ModelInput) -> Result<Self, NnError> {
        if self.update_grid_every > 0
            && step < self.update_grid_until
            && step.is_multiple_of(self.update_grid_every)
        {
            let x = input.real("kan")?;
            self.update_grid(x)
        } else {
            Ok(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, TensorData};

    use super::*;
    use crate::model::InputSpec;
    use crate::neuron::kan::host;
    use crate::weights::{param_paths, to_safetensors};

    fn io(input: usize, output: usize) -> ModelIo {
        ModelIo {
            input: InputSpec::Real {
                shape: vec![input],
            },
            output: vec![output],
        }
    }

    /// efficient-kan's KAN([2, 5, 1]): 150 trainable values (100 + 50), plus 2·12 + 5·12 knots.
    #[test]
    fn widths_names_and_parameter_count() {
        let device = Device::flex();
        let kan = KanConfig::new(vec![5]).build(&io(2, 1), &device).unwrap();
        assert_eq!(kan.layers().len(), 2);
        assert_eq!(kan.num_params(), 150 + 24 + 60);
        let y = kan.forward(Tensor::zeros([7, 2], &device));
        assert_eq!(y.dims(), [7, 1]);
        // Trained values only (the knots are saved but not trained), as PyTorch counts them.
        let trained = KanConfig::new(vec![5])
            .build(&io(2, 1), &device.clone().autodiff())
            .unwrap();
        assert_eq!(crate::weights::trainable_params(&trained), 150);
        let names: Vec<String> = param_paths(&kan).into_iter().map(|p| p.path).collect();
        for name in [
            "layers.0.base_weight",
            "layers.0.spline_weight",
            "layers.0.spline_scaler",
            "layers.0.grid",
            "layers.1.grid",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
    }

    /// A network saved under efficient-kan's names loads back through `import_efficient_kan`.
    #[test]
    fn import_round_trip() {
        let device = Device::flex();
        let a = KanConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kan.safetensors");
        std::fs::write(&path, to_safetensors(&a).unwrap()).unwrap();
        let b = KanConfig::new(vec![4])
            .init(3, 2, &device)
            .unwrap()
            .import_efficient_kan(&path)
            .unwrap();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, -0.5, 2.0, 0.7, 0.3, -1.4], [2, 3]),
            &device,
        );
        assert_eq!(host(a.forward(x.clone())), host(b.forward(x)));
        let wrong = KanConfig::new(vec![5]).init(3, 2, &device).unwrap();
        assert!(wrong.import_efficient_kan(&path).is_err());
    }

    /// The grid follows the batch at the scheduled steps only, and the regulariser is the sum
    /// of the layers' terms times λ.
    #[test]
    fn training_hooks() {
        let device = Device::flex();
        let mut config = KanConfig::new(vec![3]);
        config.update_grid_every = 10;
        config.update_grid_until = Some(25);
        config.regularization = 0.5;
        let kan = config.init(2, 1, &device).unwrap();
        let x: Vec<f32> = (0..64).map(|i| 0.3 * ((i as f32) * 0.9).sin()).collect();
        let input = ModelInput::Real(Tensor::from_data(TensorData::new(x, [32, 2]), &device));
        let grid = |k: &Kan| host(k.layers[0].grid.val());
        let initial = grid(&kan);
        let kan = kan.before_step(3, &input).unwrap();
        assert_eq!(grid(&kan), initial);
        let kan = kan.before_step(20, &input).unwrap();
        let moved = grid(&kan);
        assert_ne!(moved, initial);
        assert!(moved[3] > -0.31 && moved[8] < 0.31, "{moved:?}");
        let kan = kan.before_step(30, &input).unwrap();
        assert_eq!(grid(&kan), moved);
        let reg = host(kan.regularization().unwrap())[0];
        let sum: f64 = kan
            .layers
            .iter()
            .map(|l| host(l.regularization_loss(1.0, 1.0))[0])
            .sum();
        assert!((reg - 0.5 * sum).abs() < 1e-5, "{reg} vs {sum}");
        assert!(
            KanConfig::new(vec![3])
                .init(2, 1, &device)
                .unwrap()
                .regularization()
                .is_none()
        );
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let base = || KanConfig::new(vec![4]);
        let mut cases = vec![KanConfig::new(vec![0])];
        let mut c = base();
        c.grid_size = 0;
        cases.push(c);
        let mut c = base();
        c.spline_order = 0;
        cases.push(c);
        let mut c = base();
        c.grid_margin = f64::NAN;
        cases.push(c);
        let mut c = base();
        c.grid_margin = -1.0;
        cases.push(c);
        let mut c = base();
        c.regularization = -0.1;
        cases.push(c);
        let mut c = base();
        c.regularize_entropy = f64::INFINITY;
        cases.push(c);
        let mut c = base();
        c.update_grid_every = 5;
        c.update_grid_until = Some(0);
        cases.push(c);
        let mut c = base();
        c.base_activation = "".into();
        cases.push(c);
        for c in cases {
            assert!(c.validate().is_err(), "{c:?}");
            assert!(c.init(2, 1, &device).is_err(), "{c:?}");
        }
        assert!(base().init(0, 1, &device).is_err());
        let text = "kind = \"kan\"\nhidden = [5]\ngrid_size = 0";
        let config: crate::ModelConfig = toml::from_str(text).unwrap();
        assert!(config.validate().unwrap_err().to_string().contains("grid_size"));
        let typo = toml::from_str::<crate::ModelConfig>("kind = \"kan\"\nhidden = [5]\ngrid = 3");
        assert!(typo.unwrap_err().to_string().contains("grid"));
        // f64 inputs run through the whole network (gradient checks use them).
        let kan = base().init(2, 1, &device).unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f64, -0.2], [1, 2]), (&device, DType::F64));
        assert_eq!(kan.forward(x).dtype(), DType::F64);
    }
}
