//! Initialisations that a rule applies to the model it trains, where the reference code of its
//! paper initialises the network differently from the model's default (PyTorch-style uniform
//! weights and biases). A rule applies them once, before its first update, so a resumed run
//! (whose model comes from a checkpoint) is never initialised again.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Distribution, Tensor};

/// How one parameter tensor is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// Uniform in `[-bound, bound]`.
    Uniform(f64),
    /// Normal with mean 0 and standard deviation `std`.
    Normal(f64),
    /// All zeros.
    Zeros,
}

impl Init {
    /// PyTorch's `kaiming_uniform_(w, nonlinearity="relu")` (mode fan_in): gain sqrt(2), bound
    /// `gain * sqrt(3 / fan_in) = sqrt(6 / fan_in)`. The `a` argument is ignored for relu.
    pub fn kaiming_uniform_relu(fan_in: usize) -> Self {
        Init::Uniform((6.0 / fan_in as f64).sqrt())
    }

    /// PyTorch's `xavier_uniform_`: bound `sqrt(6 / (fan_in + fan_out))`.
    pub fn xavier_uniform(fan_in: usize, fan_out: usize) -> Self {
        Init::Uniform((6.0 / (fan_in + fan_out) as f64).sqrt())
    }
}

/// Redraws every float parameter of `module` for which `choose(path, shape)` names an
/// initialisation, keeping its id and gradient setting; the others are left as they are. Paths
/// are the dotted module paths of `nonlin_nn::weights::param_paths` (`Mlp.layers.0.weight`).
pub(crate) fn reinit<M: Module>(module: M, choose: &dyn Fn(&str, &[usize]) -> Option<Init>) -> M {
    struct Redraw<'a> {
        path: Vec<String>,
        choose: &'a dyn Fn(&str, &[usize]) -> Option<Init>,
    }
    impl ModuleMapper for Redraw<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let path = self.path.join(".");
            let shape = param.val().dims();
            let Some(init) = (self.choose)(&path, &shape) else {
                return param;
            };
            param.map(|old| {
                let device = old.device();
                let grad = old.is_require_grad();
                let new = match init {
                    Init::Uniform(b) => {
                        Tensor::<D>::random(shape, Distribution::Uniform(-b, b), &device)
                    }
                    Init::Normal(std) => {
                        Tensor::<D>::random(shape, Distribution::Normal(0.0, std), &device)
                    }
                    Init::Zeros => Tensor::<D>::zeros(shape, &device),
                };
                new.set_require_grad(grad)
            })
        }
    }
    let mut redraw = Redraw {
        path: Vec::new(),
        choose,
    };
    module.map(&mut redraw)
}

/// The index of an MLP's linear layer and whether the parameter is its weight (`true`) or bias,
/// from a path `Mlp.layers.{i}.weight|bias`.
pub(crate) fn mlp_layer(path: &str) -> Option<(usize, bool)> {
    let rest = path.strip_prefix("Mlp.layers.")?;
    let (index, kind) = rest.split_once('.')?;
    let index = index.parse().ok()?;
    match kind {
        "weight" => Some((index, true)),
        "bias" => Some((index, false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use nonlin_nn::weights::{param_ids, param_paths};
    use nonlin_nn::{InputSpec, MlpConfig, Model, ModelConfig, ModelIo};

    use super::*;

    #[test]
    fn redraws_the_chosen_parameters_and_keeps_ids() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let io = ModelIo {
            input: InputSpec::Real { shape: vec![300] },
            output: vec![10],
        };
        let model = ModelConfig::Mlp(MlpConfig::new(vec![400]))
            .build(&io, &device)
            .unwrap();
        let ids = param_ids(&model);
        let model = reinit(model, &|path, shape| match mlp_layer(path) {
            Some((0, true)) => Some(Init::kaiming_uniform_relu(shape[0])),
            Some((0, false)) => Some(Init::Zeros),
            Some((1, true)) => Some(Init::Normal(0.01)),
            _ => None,
        });
        assert_eq!(param_ids(&model), ids);
        assert_eq!(param_paths(&model)[0].path, "Mlp.layers.0.weight");
        let Model::Mlp(mlp) = model else {
            unreachable!()
        };
        let w0 = mlp.layers()[0].weight.val();
        assert!(w0.is_require_grad());
        let w0: Vec<f32> = w0.into_data().try_to_vec::<f32>().unwrap();
        // bound sqrt(6 / 300) = 0.1414; the default init's bound is 1/sqrt(300) = 0.0577
        let max = w0.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= 0.14143 && max > 0.13, "{max}");
        let b0: Vec<f32> = mlp.layers()[0]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(b0.iter().all(|&b| b == 0.0));
        // N(0, 0.01) over 4000 draws: the sample std is within 5% of 0.01
        let w1: Vec<f32> = mlp.layers()[1]
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let var = w1.iter().map(|v| (v * v) as f64).sum::<f64>() / w1.len() as f64;
        assert!((var.sqrt() - 0.01).abs() < 5e-4, "{}", var.sqrt());
        // untouched: the output bias keeps its default draw (not all zero)
        let b1: Vec<f32> = mlp.layers()[1]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(b1.iter().any(|&b| b != 0.0));
    }

    #[test]
    fn mlp_paths() {
        assert_eq!(mlp_layer("Mlp.layers.3.weight"), Some((3, true)));
        assert_eq!(mlp_layer("Mlp.layers.0.bias"), Some((0, false)));
        assert_eq!(mlp_layer("Mlp.activations.0.Prelu.slope"), None);
        assert_eq!(mlp_layer("ConvNet.head.weight"), None);
    }
}
