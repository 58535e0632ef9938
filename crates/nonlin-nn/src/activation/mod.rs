//! Activations, selectable by name everywhere a model takes one.
//!
//! Each activation is one file holding a Burn module with `from_spec` and `forward`; one line in
//! the `registry!` list below declares the file and registers it by its file name. A spec is a name with optional
//! numeric parameters: `"relu"`, `"leaky_relu(negative_slope=0.2)"`, `"softplus(beta=2)"`.

mod curve;
#[cfg(test)]
pub(crate) mod fixtures;
mod spec;

pub use curve::{ActivationCurve, ActivationSite, activation_curve, grid};
pub use spec::ActivationSpec;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::NnError;

/// What an activation may need when it is built: the device for learnable parameters, the
/// number of channels of the layer it follows (for per-channel parameters), and where the channel
/// axis sits in the tensors it will see.
#[derive(Debug, Clone)]
pub struct ActivationInit<'a> {
    pub device: &'a Device,
    /// Channels (features) of the input: the size of its channel axis.
    pub width: usize,
    /// Axes after the channel axis: 0 when channels are last (`[batch, features]`,
    /// `[batch, seq, d_model]`), 2 after a 2-D convolution (`[batch, channels, height, width]`).
    pub spatial_dims: usize,
}

impl<'a> ActivationInit<'a> {
    /// Channels last, as after a linear layer.
    pub fn features(device: &'a Device, width: usize) -> Self {
        Self {
            device,
            width,
            spatial_dims: 0,
        }
    }

    /// Channels at axis 1 of `[batch, channels, ..spatial]`, as after a convolution.
    pub fn channels(device: &'a Device, width: usize, spatial_dims: usize) -> Self {
        Self {
            device,
            width,
            spatial_dims,
        }
    }
}

/// Checks that `text` names a registered activation with valid parameters, without a model
/// around it (what an experiment file is checked with at load time).
pub fn validate(text: &str) -> Result<(), NnError> {
    let spec: ActivationSpec = text.parse()?;
    let device = Device::flex();
    Activation::new(&spec, &ActivationInit::features(&device, 1)).map(|_| ())
}

/// Reshapes a per-channel parameter `[channels]` so it broadcasts over a `D`-dimensional input
/// whose channel axis is followed by `spatial_dims` axes: `[1, .., channels, 1 (x spatial_dims)]`.
///
/// # Panics
/// If the input has too few axes for the layout; models build activations with the layout of the
/// tensors they feed them, so this is an invariant of the model, not user input.
pub fn per_channel<const D: usize>(param: Tensor<1>, spatial_dims: usize) -> Tensor<D> {
    assert!(
        spatial_dims < D,
        "a per-channel parameter with {spatial_dims} spatial axes needs an input of more than {spatial_dims} axes, got {D}"
    );
    let [channels] = param.dims();
    let mut shape = [1usize; D];
    shape[D - 1 - spatial_dims] = channels;
    param.reshape(shape)
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
    prelu => Prelu,
    crrelu => Crrelu,
    polyrelu => PolyRelu,
    polynorm => PolyNorm,
    siaf => Siaf,
    ramp_adc => RampAdc,
}

pub use crrelu::CrreluConfig;
pub use polynorm::PolyNormConfig;
pub use polyrelu::PolyReluConfig;
pub use siaf::SiafConfig;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// Evaluates the named activation on `xs` in f32 on the CPU.
    pub(crate) fn eval(spec: &str, xs: &[f32]) -> Vec<f32> {
        let device = Device::flex();
        let spec: ActivationSpec = spec.parse().unwrap();
        let act = Activation::new(&spec, &ActivationInit::features(&device, xs.len())).unwrap();
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
        let init = ActivationInit::features(&device, 1);
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
    /// away from 0, where relu and leaky_relu have a kink. The ramp ADC is a staircase trained
    /// with a surrogate gradient; its own test checks that surrogate (`ramp_adc.rs`).
    #[test]
    fn every_activation_passes_gradcheck_in_f64() {
        let xs: Vec<f64> = vec![-2.3, -1.1, -0.37, -0.05, 0.04, 0.29, 0.8, 1.7, 3.2];
        for name in Activation::NAMES.iter().filter(|n| **n != "ramp_adc") {
            let spec: ActivationSpec = name.parse().unwrap();
            let report = check_gradients(
                |inputs, device| {
                    let act = Activation::new(&spec, &ActivationInit::features(device, xs.len()))
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
