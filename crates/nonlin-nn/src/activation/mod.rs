//! Activations, selectable by name everywhere a model takes one.
//!
//! Each activation is one file holding a Burn module with `from_spec` and `forward`; one line in
//! the `registry!` list below declares the file and registers it by its file name. A spec is a name with optional
//! numeric parameters: `"relu"`, `"leaky_relu(negative_slope=0.2)"`, `"softplus(beta=2)"`.

mod spec;

pub use spec::ActivationSpec;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::NnError;

/// What an activation may need when it is built: the device for learnable parameters and the
/// width of the layer it follows (for per-channel parameters).
#[derive(Debug, Clone)]
pub struct ActivationInit<'a> {
    pub device: &'a Device,
    pub width: usize,
}

/// Declares the registry: one line per activation, `file_name => Type`. The line declares the
/// module `file_name.rs`, re-exports its `Type`, and registers it under the name `file_name`.
macro_rules! registry {
    ($($file:ident => $variant:ident),* $(,)?) => {
        $(mod $file; pub use $file::$variant;)*

        /// Any registered activation, as one module so models can hold and save it.
        #[derive(Module, Debug)]
        pub enum Activation {
            $(#[doc = concat!("`", stringify!($file), "`")] $variant($variant),)*
        }

        impl Activation {
            /// Every registered name, in registry order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($file)),*];

            /// Builds the activation a spec names.
            pub fn new(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
                match spec.name() {
                    $(stringify!($file) => Ok(Activation::$variant($variant::from_spec(spec, init)?)),)*
                    other => Err(NnError::UnknownActivation {
                        name: other.to_string(),
                        known: Self::NAMES.join(", "),
                    }),
                }
            }

            /// Applies the activation elementwise (or as its definition says).
            ///
            /// # Shapes
            /// - input: `[..., width]`
            /// - output: `[..., width]`
            pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
                match self {
                    $(Activation::$variant(a) => a.forward(input),)*
                }
            }
        }
    };
}

registry! {
    relu => Relu,
    leaky_relu => LeakyRelu,
    gelu => Gelu,
    silu => Silu,
    tanh => Tanh,
    sigmoid => Sigmoid,
    softplus => Softplus,
    identity => Identity,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// Evaluates the named activation on `xs` in f32 on the CPU.
    pub(crate) fn eval(spec: &str, xs: &[f32]) -> Vec<f32> {
        let device = Device::flex();
        let spec: ActivationSpec = spec.parse().unwrap();
        let act = Activation::new(
            &spec,
            &ActivationInit {
                device: &device,
                width: xs.len(),
            },
        )
        .unwrap();
        let x = Tensor::<1>::from_floats(xs, &device);
        act.forward(x).into_data().try_to_vec::<f32>().unwrap()
    }

    pub(crate) fn assert_close(found: &[f32], expected: &[f32], tol: f32) {
        assert_eq!(found.len(), expected.len());
        for (i, (f, e)) in found.iter().zip(expected).enumerate() {
            assert!((f - e).abs() <= tol, "index {i}: found {f}, expected {e}");
        }
    }

    /// The error of building the activation a spec names.
    fn build_error(spec: &str) -> String {
        let device = Device::flex();
        let spec: ActivationSpec = spec.parse().unwrap();
        let init = ActivationInit {
            device: &device,
            width: 1,
        };
        Activation::new(&spec, &init).unwrap_err().to_string()
    }

    #[test]
    fn unknown_names_list_the_registry() {
        let text = build_error("swishy");
        assert!(
            text.contains("swishy") && text.contains("relu") && text.contains("softplus"),
            "{text}"
        );
    }

    #[test]
    fn unknown_parameters_are_errors() {
        let text = build_error("relu(alpha=1)");
        assert!(text.contains("alpha"), "{text}");
        assert!(build_error("softplus(beta=0)").contains("beta must be positive"));
    }

    /// Every registered activation passes a finite-difference gradient check in f64. Inputs stay
    /// away from 0, where relu and leaky_relu have a kink.
    #[test]
    fn every_activation_passes_gradcheck_in_f64() {
        let xs: Vec<f64> = vec![-2.3, -1.1, -0.37, -0.05, 0.04, 0.29, 0.8, 1.7, 3.2];
        for name in Activation::NAMES {
            let spec: ActivationSpec = name.parse().unwrap();
            let report = check_gradients(
                |inputs, device| {
                    let act = Activation::new(
                        &spec,
                        &ActivationInit {
                            device,
                            width: xs.len(),
                        },
                    )
                    .unwrap();
                    act.forward(inputs[0].clone())
                },
                std::slice::from_ref(&xs),
                &GradCheckConfig::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(report.passed(), "{name}: {report}");
        }
    }
}
