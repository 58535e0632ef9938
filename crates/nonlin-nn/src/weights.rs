//! Weights in and out of modules: safetensors bytes, Burn's parameter ids (which key optimizer
//! state and which safetensors does not keep), parameter paths (the names in a safetensors file
//! and what parameter groups match), and import of weights trained elsewhere with a name map.
//!
//! The safetensors names of a module are its field path, dot-separated, with list indices and the
//! registry enum's variant: an `Mlp` inside the runner's `Model` saves `Mlp.layers.0.weight`,
//! `Mlp.layers.0.bias`, ...; `docs/architecture.md` lists every model's names. Burn stores a
//! linear layer's weight as `[in, out]` (PyTorch: `[out, in]`); [`ImportMap::pytorch`] transposes.

use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::Tensor;

use crate::NnError;

/// The module's parameters as safetensors bytes.
pub fn to_safetensors<M: Module>(model: &M) -> Result<Vec<u8>, NnError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model
        .save_into(&mut store)
        .map_err(|e| weights_error("saving", format!("{e:?}")))?;
    store
        .get_bytes()
        .map_err(|e| weights_error("saving", format!("{e:?}")))
}

/// Loads safetensors bytes written by [`to_safetensors`] into `model`; every parameter must be
/// present and fit. The parameter ids are left as the model's own (see [`restore_param_ids`]).
pub fn from_safetensors<M: Module>(mut model: M, bytes: Vec<u8>) -> Result<M, NnError> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = model
        .load_from(&mut store)
        .map_err(|e| weights_error("loading", format!("{e:?}")))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        return Err(weights_error(
            "loading",
            format!(
                "the weights do not fit the model: errors {:?}, missing {:?}",
                result.errors, result.missing
            ),
        ));
    }
    Ok(model)
}

/// How to read a safetensors file written by other code.
#[derive(Debug, Clone, Default)]
pub struct ImportMap {
    /// `(pattern, replacement)` pairs applied in order to every name in the file (regular
    /// expressions; `$1` refers to a group), e.g. `("^blocks\\.(\\d+)\\.", "Mlp.layers.$1.")`.
    pub rename: Vec<(String, String)>,
    /// The file comes from PyTorch: transpose linear weights and accept names without the
    /// registry enum's variant.
    pub pytorch: bool,
    /// Accept a file that lacks some of the model's parameters (they keep their values).
    pub allow_partial: bool,
}

/// Initialises `model` from a safetensors file written by other code, renaming its tensors with
/// `map`. Names the model needs but the file lacks, and shapes that do not fit, are errors that
/// list them (unless `allow_partial`).
pub fn import_safetensors<M: Module>(
    mut model: M,
    path: &Path,
    map: &ImportMap,
) -> Result<M, NnError> {
    if !path.is_file() {
        return Err(NnError::Weights {
            what: format!("importing {}", path.display()),
            reason: "no such file".into(),
        });
    }
    let mut store = SafetensorsStore::from_file(path)
        .allow_partial(map.allow_partial)
        .skip_enum_variants(map.pytorch);
    for (pattern, replacement) in &map.rename {
        regex_check(pattern).map_err(|reason| NnError::Weights {
            what: format!("importing {}", path.display()),
            reason,
        })?;
        store = store.with_key_remapping(pattern, replacement.clone());
    }
    if map.pytorch {
        store = store.with_from_adapter(PyTorchToBurnAdapter);
    }
    let result = model.load_from(&mut store).map_err(|e| NnError::Weights {
        what: format!("importing {}", path.display()),
        reason: format!("{e:?}"),
    })?;
    if !result.errors.is_empty() || (!map.allow_partial && !result.missing.is_empty()) {
        return Err(NnError::Weights {
            what: format!("importing {}", path.display()),
            reason: format!(
                "the file does not fit the model: errors {:?}; missing {:?}; the model's names are {:?}",
                result.errors,
                result.missing,
                param_paths(&model)
                    .into_iter()
                    .map(|p| p.path)
                    .collect::<Vec<_>>()
            ),
        });
    }
    Ok(model)
}

/// A regular expression the store will accept, checked here so a bad pattern is an error rather
/// than the store's panic.
fn regex_check(pattern: &str) -> Result<(), String> {
    burn::module::ParamGroup::from_regex(pattern)
        .map(|_| ())
        .map_err(|e| format!("bad rename pattern `{pattern}`: {e:?}"))
}

fn weights_error(what: &str, reason: String) -> NnError {
    NnError::Weights {
        what: what.to_string(),
        reason,
    }
}

/// One float parameter: its id, its dotted path, and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    pub id: ParamId,
    pub path: String,
    pub shape: Vec<usize>,
}

/// The number of trainable values of a module: its float parameters without batch-norm running
/// statistics (`running_mean`, `running_var`), which `Module::num_params` counts but PyTorch's
/// `parameters()` does not (the counts papers report).
pub fn trainable_param_count<M: Module>(model: &M) -> usize {
    param_paths(model)
        .iter()
        .filter(|p| !(p.path.ends_with("running_mean") || p.path.ends_with("running_var")))
        .map(|p| p.shape.iter().product::<usize>())
        .sum()
}

/// The float parameters of a module in visiting order, with their paths and shapes.
pub fn param_paths<M: Module>(model: &M) -> Vec<ParamInfo> {
    struct Paths {
        stack: Vec<String>,
        found: Vec<ParamInfo>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.found.push(ParamInfo {
                id: param.id,
                path: self.stack.join("."),
                shape: param.val().dims().to_vec(),
            });
        }
    }
    let mut paths = Paths {
        stack: Vec::new(),
        found: Vec::new(),
    };
    model.visit(&mut paths);
    paths.found
}

/// Number of trainable values: float parameters that take gradients on the module's (autodiff)
/// device, as PyTorch's `sum(p.numel() for p in model.parameters())`. Values saved with the
/// module but never trained (a KAN's knots, S-KAN's selection masks) are left out.
pub fn trainable_params<M: Module>(model: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if value.is_require_grad() {
                self.0 += value.shape().num_elements();
            }
        }
    }
    let mut count = Count(0);
    model.visit(&mut count);
    count.0
}

/// The values of the float parameters whose paths satisfy `keep`, in visiting order, as
/// `(path, values)` with the values flattened in row-major order (for reports and claims on
/// learned parameters, such as CRReLU's ε).
pub fn param_values<M: Module>(model: &M, keep: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<f64>)> {
    struct Values<'a> {
        stack: Vec<String>,
        keep: &'a dyn Fn(&str) -> bool,
        found: Vec<(String, Vec<f64>)>,
    }
    impl ModuleVisitor for Values<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = self.stack.join(".");
            if (self.keep)(&path) {
                let values = param
                    .val()
                    .into_data()
                    .try_into_vec_as::<f64>()
                    .unwrap_or_default();
                self.found.push((path, values));
            }
        }
    }
    let mut visitor = Values {
        stack: Vec::new(),
        keep,
        found: Vec::new(),
    };
    model.visit(&mut visitor);
    visitor.found
}

/// The ids of the module's float parameters, in visiting order.
pub fn param_ids<M: Module>(model: &M) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

/// Gives the module's float parameters the ids in `ids` (visiting order). Optimizer state is
/// keyed by these ids, so a module rebuilt in a new process needs them back to resume.
pub fn restore_param_ids<M: Module>(model: M, ids: &[u64]) -> Result<M, NnError> {
    struct Assign<'a> {
        ids: &'a [u64],
        next: usize,
    }
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(&id) = self.ids.get(self.next) else {
                return param;
            };
            self.next += 1;
            let (_, value, mapper) = param.consume();
            Param::from_mapped_value(ParamId::from(id), value, mapper)
        }
    }
    let count = param_ids(&model).len();
    if count != ids.len() {
        return Err(weights_error(
            "restoring parameter ids",
            format!("{} ids for a module with {count} parameters", ids.len()),
        ));
    }
    let mut assign = Assign { ids, next: 0 };
    Ok(model.map(&mut assign))
}

/// A module's weights and parameter ids, as a rule's own modules are checkpointed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleState {
    /// The module's name within its owner (a file name stem: letters, digits, `_`, `-`).
    pub name: String,
    pub safetensors: Vec<u8>,
    pub param_ids: Vec<u64>,
}

impl ModuleState {
    /// Captures `module` under `name`.
    pub fn capture<M: Module>(name: &str, module: &M) -> Result<Self, NnError> {
        Ok(Self {
            name: name.to_string(),
            safetensors: to_safetensors(module)?,
            param_ids: param_ids(module),
        })
    }

    /// Loads the weights and ids into `module` (built with the same config).
    pub fn restore<M: Module>(&self, module: M) -> Result<M, NnError> {
        let module = from_safetensors(module, self.safetensors.clone())?;
        restore_param_ids(module, &self.param_ids)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::{InputSpec, MlpConfig, Model, ModelConfig, ModelIo};

    #[test]
    fn round_trip_keeps_values_and_ids() {
        let device = Device::flex();
        let a = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let state = ModuleState::capture("m", &a).unwrap();
        let b = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        assert_ne!(param_ids(&a), param_ids(&b));
        let b = state.restore(b).unwrap();
        assert_eq!(param_ids(&a), param_ids(&b));
        let x = Tensor::<2>::from_floats([[0.1, 0.2, 0.3]], &device);
        assert_eq!(a.forward(x.clone()).into_data(), b.forward(x).into_data());
        let wrong = MlpConfig::new(vec![5]).init(3, 2, &device).unwrap();
        assert!(state.restore(wrong).is_err());
    }

    #[test]
    fn registry_models_name_their_parameters() {
        let device = Device::flex();
        let io = ModelIo {
            input: InputSpec::Real { shape: vec![3] },
            output: vec![2],
        };
        let config: ModelConfig = ModelConfig::Mlp(MlpConfig::new(vec![4]));
        let model: Model = config.build(&io, &device).unwrap();
        let paths: Vec<String> = param_paths(&model).into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "Mlp.layers.0.weight",
                "Mlp.layers.0.bias",
                "Mlp.layers.1.weight",
                "Mlp.layers.1.bias"
            ]
        );
        // The names docs/architecture.md lists for the other models.
        let names = |config: &str, io: &ModelIo| -> Vec<String> {
            let config: ModelConfig = toml::from_str(config).unwrap();
            param_paths(&config.build(io, &device).unwrap())
                .into_iter()
                .map(|p| p.path)
                .collect()
        };
        let image = ModelIo {
            input: InputSpec::Real {
                shape: vec![1, 8, 8],
            },
            output: vec![10],
        };
        assert_eq!(
            names("kind = \"conv_net\"\nactivation = \"prelu\"", &image),
            [
                "ConvNet.convs.0.weight",
                "ConvNet.convs.0.bias",
                "ConvNet.convs.1.weight",
                "ConvNet.convs.1.bias",
                "ConvNet.activations.0.Prelu.slope",
                "ConvNet.activations.1.Prelu.slope",
                "ConvNet.head.weight",
                "ConvNet.head.bias"
            ]
        );
        let tokens = ModelIo {
            input: InputSpec::Tokens {
                vocab: 5,
                context: 3,
            },
            output: vec![5],
        };
        let lm = names("kind = \"context_mlp\"\nhidden = [4]", &tokens);
        assert_eq!(lm[0], "ContextMlp.embedding.weight");
        assert_eq!(lm[1], "ContextMlp.mlp.layers.0.weight");
    }

    /// A file with other names (as another framework writes them) loads through a rename map,
    /// and a PyTorch-layout file (linear weights `[out, in]`) through `pytorch`.
    #[test]
    fn import_with_a_name_map() {
        let device = Device::flex();
        let source = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        std::fs::write(&path, to_safetensors(&source).unwrap()).unwrap();
        // The file says `layers.k.*`; pretend the target calls them `net.k.*` by renaming twice.
        let target = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let map = ImportMap {
            rename: vec![("^layers\\.".into(), "layers.".into())],
            ..ImportMap::default()
        };
        let target = import_safetensors(target, &path, &map).unwrap();
        let x = Tensor::<2>::from_floats([[0.5, -0.2, 0.3]], &device);
        assert_eq!(
            source.forward(x.clone()).into_data(),
            target.forward(x).into_data()
        );
        // A map that loses names is an error listing what is missing.
        let bad = ImportMap {
            rename: vec![("^layers\\.".into(), "blocks.".into())],
            ..ImportMap::default()
        };
        let other = MlpConfig::new(vec![4]).init(3, 2, &device).unwrap();
        let err = import_safetensors(other, &path, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        let missing = import_safetensors(
            MlpConfig::new(vec![4]).init(3, 2, &device).unwrap(),
            &dir.path().join("nope.safetensors"),
            &ImportMap::default(),
        );
        assert!(missing.is_err());
    }
}
