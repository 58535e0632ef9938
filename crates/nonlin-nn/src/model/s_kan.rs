//! S-KAN, the activation-space selectable Kolmogorov–Arnold network (Yang et al., arXiv:2408.08338):
//! a stack of [`SKanLayer`]s, `S-KAN(x) = Ψ_{L−1} ∘ … ∘ Ψ_0 (x)`, each node weighing a pool of
//! activation spaces by softmax selection weights.
//!
//! The three training phases (UNCONFIRMED schedule, see `neuron::s_kan`): all spaces train until
//! step `select_at`; then every node keeps its `keep` best spaces (largest β); from step
//! `prune_at` it keeps the best one, and spaces no node of a layer uses are dropped from the
//! computation. Without `select_at`/`prune_at` the mixture trains throughout. The phases run
//! through the runner's [`Network::before_step`] hook; the masks are saved with the weights, so a
//! resumed or reloaded model keeps its selection. With `final_temperature`, the selection
//! softmax's temperature falls geometrically through the selective phase (UNCONFIRMED: a
//! workbench choice so that pruning removes little weight, as in annealed differentiable
//! architecture search).
//!
//! Names: `SKan.layers.{l}.base_weight`, `.selection` (β `[out, K]`), `.mask`, and each space's
//! parameters under `.spaces.{k}.{Space}.…` (e.g. `SKan.layers.0.spaces.1.Chebyshev.coefficients`).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::neuron::function_space::{FunctionSpace, SpaceConfig};
use crate::neuron::s_kan::{SKanLayer, SKanLayerConfig};

/// The selection phases of an S-KAN model (shared by `s_kan` and `s_conv_kan`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    pub select_at: Option<u64>,
    pub prune_at: Option<u64>,
    pub keep: usize,
    /// τ of the selection softmax before the selective phase.
    pub temperature: f64,
    /// τ reached at `prune_at`, geometrically from `select_at` on.
    pub final_temperature: Option<f64>,
}

pub(crate) fn two() -> usize {
    2
}

impl Phases {
    /// Checks that the phases come in order and `keep` is positive (a `keep` at or above the
    /// pool's size keeps every space, so arms that shrink the pool need not change it).
    pub fn validate(&self) -> Result<(), NnError> {
        if self.keep == 0 || self.keep > 1024 {
            return Err(NnError::BadConfig(format!(
                "s_kan keep must be in 1..=1024, got {}",
                self.keep
            )));
        }
        if let (Some(select), Some(prune)) = (self.select_at, self.prune_at)
            && prune <= select
        {
            return Err(NnError::BadConfig(format!(
                "s_kan prune_at ({prune}) must come after select_at ({select})"
            )));
        }
        if let Some(t) = self.final_temperature {
            if !(t.is_finite() && t > 0.0 && t <= 1e6) {
                return Err(NnError::BadConfig(format!(
                    "s_kan final_temperature must be in (0, 1e6], got {t}"
                )));
            }
            if self.select_at.is_none() || self.prune_at.is_none() {
                return Err(NnError::BadConfig(
                    "s_kan final_temperature anneals between select_at and prune_at; give both"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// τ before `step`: constant, or geometric from `temperature` at `select_at` to
    /// `final_temperature` at `prune_at`.
    pub fn temperature_at(&self, step: u64) -> f64 {
        match (self.final_temperature, self.select_at, self.prune_at) {
            (Some(end), Some(select), Some(prune)) if step >= select => {
                let progress = ((step - select) as f64 / (prune - select) as f64).min(1.0);
                self.temperature * (end / self.temperature).powf(progress)
            }
            _ => self.temperature,
        }
    }

    /// The layers after the phase change due before `step`, if any.
    pub(crate) fn apply(&self, step: u64, layers: Vec<SKanLayer>) -> Vec<SKanLayer> {
        let keep = if Some(step) == self.prune_at {
            Some(1)
        } else if Some(step) == self.select_at {
            Some(self.keep)
        } else {
            None
        };
        let started = self.select_at.or(self.prune_at).is_some_and(|s| step >= s);
        let temperature = self.temperature_at(step);
        layers
            .into_iter()
            .map(|layer| {
                let mut layer = match keep {
                    Some(k) => layer.keep_top(k),
                    // After a reload the cache of used spaces is rebuilt from the saved masks.
                    None if started => layer.refresh(),
                    None => layer,
                };
                layer.temperature = temperature;
                layer
            })
            .collect()
    }
}

/// Configuration of an [`SKan`] (`kind = "s_kan"`); input and output widths come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SKanConfig {
    /// Widths of the hidden layers (empty: one layer from input to output).
    pub hidden: Vec<usize>,
    /// The pool and its sizes (`[model.space]`).
    #[serde(default)]
    pub space: SpaceConfig,
    /// Step at which every node keeps only its `keep` best spaces (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_at: Option<u64>,
    /// Step at which every node keeps only its best space (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_at: Option<u64>,
    /// m, the spaces a node keeps at `select_at` (default 2; at most the pool).
    #[serde(default = "two")]
    pub keep: usize,    /// τ at `prune_at`: during the selective phase the temperature falls geometrically from
    /// `space.temperature` to this, so the selection is nearly one-hot when the rest is pruned
    /// (absent: constant temperature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_temperature: Option<f64>,
}

/// An activation-space selectable KAN.
#[derive(Module, Debug)]
pub struct SKan {
    layers: Vec<SKanLayer>,
    #[module(skip)]
    phases: Phases,
}

impl SKanConfig {
    /// An S-KAN with these hidden widths, the default pool and no phases.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            space: SpaceConfig::new(),
            select_at: None,
            prune_at: None,
            keep: two(),
            final_temperature: None,
        }
    }

    /// The phases this config asks for.
    pub fn phases(&self) -> Phases {
        Phases {
            select_at: self.select_at,
            prune_at: self.prune_at,
            keep: self.keep,
            temperature: self.space.temperature,
            final_temperature: self.final_temperature,
        }
    }

    /// Builds the network from `input` to `output` features on `device`.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<SKan, NnError> {
        self.validate()?;
        if input == 0 || output == 0 {
            return Err(NnError::BadConfig(format!(
                "s_kan widths must be positive: input {input}, output {output}"
            )));
        }
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        widths.push(output);
        let layers = widths
            .windows(2)
            .map(|w| {
                SKanLayerConfig::new(w[0], w[1])
                    .with_space(self.space.clone())
                    .init(device)
            })
            .collect::<Result<_, _>>()?;
        Ok(SKan {
            layers,
            phases: self.phases(),
        })
    }
}

impl ModelSpec for SKanConfig {
    type Model = SKan;

    fn validate(&self) -> Result<(), NnError> {
        if self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "s_kan hidden widths must be positive, got {:?}",
                self.hidden
            )));
        }
        self.space.validate()?;
        self.phases().validate()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<SKan, NnError> {
        let input: usize = io.real_input("s_kan")?.iter().product();
        self.init(input, io.output_width(), device)
    }
}

impl SKan {
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(input, |x, layer| layer.forward(x))
    }

    /// The layers, input to output.
    pub fn layers(&self) -> &[SKanLayer] {
        &self.layers
    }

    /// The spaces each node of each layer still uses.
    pub fn selected(&self) -> Vec<Vec<Vec<FunctionSpace>>> {
        self.layers.iter().map(SKanLayer::selected).collect()
    }
}

impl Network for SKan {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        Ok(self.forward(input.real("s_kan")?))
    }

    fn before_step(mut self, step: u64, _input: &ModelInput) -> Result<Self, NnError> {
        let layers = std::mem::take(&mut self.layers);
        self.layers = self.phases.apply(step, layers);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InputSpec;
    use crate::weights::param_paths;

    fn io() -> ModelIo {
        ModelIo {
            input: InputSpec::Real { shape: vec![2] },
            output: vec![1],
        }
    }

    #[test]
    fn builds_from_toml_with_names() {
        let device = Device::flex();
        let text = "kind = \"s_kan\"\nhidden = [5]\nselect_at = 10\nprune_at = 20\n[space]\nspaces = [\"chebyshev\", \"rbf\"]\nrbf_centers = 6";
        let config: crate::ModelConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        let model = config.build(&io(), &device).unwrap();
        let names: Vec<String> = param_paths(&model).into_iter().map(|p| p.path).collect();
        for name in [
            "SKan.layers.0.base_weight",
            "SKan.layers.0.selection",
            "SKan.layers.0.mask",
            "SKan.layers.0.spaces.0.Chebyshev.coefficients",
            "SKan.layers.1.spaces.1.Rbf.coefficients",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
        let y = model
            .forward_input(&ModelInput::Real(Tensor::zeros([3, 2], &device)))
            .unwrap();
        assert_eq!(y.dims(), [3, 1]);
    }

    /// The phases fire at their steps, and only then.
    #[test]
    fn phases_follow_the_steps() {
        let device = Device::flex();
        let mut config = SKanConfig::new(vec![3]);
        config.select_at = Some(5);
        config.prune_at = Some(9);
        let model = config.init(2, 1, &device).unwrap();
        let input = ModelInput::Real(Tensor::zeros([4, 2], &device));
        let count = |m: &SKan| m.selected()[0].iter().map(Vec::len).collect::<Vec<_>>();
        let model = model.before_step(4, &input).unwrap();
        assert_eq!(count(&model), vec![5, 5, 5]);
        let model = model.before_step(5, &input).unwrap();
        assert_eq!(count(&model), vec![2, 2, 2]);
        let model = model.before_step(7, &input).unwrap();
        assert_eq!(count(&model), vec![2, 2, 2]);
        let model = model.before_step(9, &input).unwrap();
        assert_eq!(count(&model), vec![1, 1, 1]);
        assert_eq!(model.selected()[1], vec![vec![FunctionSpace::Bspline]]);
    }

    /// A model saved after pruning and loaded into a fresh one (as a checkpoint is) keeps its
    /// selection: the next `before_step` rebuilds the cache of used spaces from the loaded masks,
    /// and the outputs are the saved model's.
    #[test]
    fn phases_survive_a_reload() {
        let device = Device::flex();
        let mut config = SKanConfig::new(vec![3]);
        config.select_at = Some(2);
        config.prune_at = Some(4);
        let input = ModelInput::Real(Tensor::from_data(
            burn::tensor::TensorData::new(vec![0.3f32, -0.8, 0.1, 0.6], [2, 2]),
            &device,
        ));
        let mut model = config.init(2, 1, &device).unwrap();
        for step in 0..6 {
            model = model.before_step(step, &input).unwrap();
        }
        let bytes = crate::weights::to_safetensors(&model).unwrap();
        let fresh = config.init(2, 1, &device).unwrap();
        assert!(fresh.selected()[0].iter().all(|n| n.len() == 5));
        let loaded = crate::weights::from_safetensors(fresh, bytes)
            .unwrap()
            .before_step(6, &input)
            .unwrap();
        assert_eq!(loaded.selected(), model.selected());
        assert_eq!(loaded.layers[0].active_spaces(), model.layers[0].active_spaces());
        let out = |m: &SKan| crate::neuron::kan::host(m.forward_input(&input).unwrap());
        assert_eq!(out(&loaded), out(&model));
    }

    /// τ = 1 until step 100, then 1·(0.01)^((t − 100)/100): 0.1 at 150, 0.01 from 200 on.
    #[test]
    fn temperature_anneals_through_the_selective_phase() {
        let mut config = SKanConfig::new(vec![2]);
        config.select_at = Some(100);
        config.prune_at = Some(200);
        config.final_temperature = Some(0.01);
        let phases = config.phases();
        for (step, tau) in [(0, 1.0), (99, 1.0), (100, 1.0), (150, 0.1), (200, 0.01), (900, 0.01)] {
            assert!((phases.temperature_at(step) - tau).abs() < 1e-12, "{step}");
        }
        let device = Device::flex();
        let model = config.init(2, 1, &device).unwrap();
        let input = ModelInput::Real(Tensor::zeros([1, 2], &device));
        let model = model.before_step(150, &input).unwrap();
        assert!((model.layers[0].temperature - 0.1).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_are_errors() {
        let cases = [
            "kind = \"s_kan\"\nhidden = [4]\nfinal_temperature = 0.1",
            "kind = \"s_kan\"\nhidden = [4]\nselect_at = 1\nprune_at = 2\nfinal_temperature = 0.0",
            "kind = \"s_kan\"\nhidden = [0]",
            "kind = \"s_kan\"\nhidden = [4]\nkeep = 0",
            "kind = \"s_kan\"\nhidden = [4]\nkeep = 5000",
            "kind = \"s_kan\"\nhidden = [4]\nselect_at = 10\nprune_at = 10",
            "kind = \"s_kan\"\nhidden = [4]\n[space]\nspaces = []",
            "kind = \"s_kan\"\nhidden = [4]\n[space]\ntemperature = 0.0",
        ];
        for text in cases {
            let config: crate::ModelConfig = toml::from_str(text).unwrap();
            assert!(config.validate().is_err(), "{text}");
        }
        for typo in [
            "kind = \"s_kan\"\nhidden = [4]\nkepp = 2",
            "kind = \"s_kan\"\nhidden = [4]\n[space]\nspace = [\"rbf\"]",
            "kind = \"s_kan\"\nhidden = [4]\n[space]\nspaces = [\"legendre\"]",
        ] {
            assert!(toml::from_str::<crate::ModelConfig>(typo).is_err(), "{typo}");
        }
    }
}
