//! Which Burn CPU backend runs nonlin's step. `flex` is what nonlin ships (`DeviceSpec::Cpu`); the
//! others exist only in builds with the matching cargo feature of this crate, each in its own
//! target dir, because they change the engine's features.

use std::str::FromStr;

use nonlin::burn::tensor::Device;
use nonlin::nn::DeviceSpec;

use crate::measurement::BenchError;

/// A Burn CPU backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's pure-Rust `flex` backend, through nonlin's own device selection.
    Flex,
    /// burn-ndarray (feature `ndarray`, optionally with a BLAS).
    NdArray,
    /// The CubeCL CPU runtime (feature `cubecl-cpu`).
    CubeclCpu,
}

impl FromStr for Backend {
    type Err = BenchError;

    fn from_str(text: &str) -> Result<Self, BenchError> {
        let backend = match text {
            "flex" => Backend::Flex,
            "ndarray" => Backend::NdArray,
            "cubecl-cpu" => Backend::CubeclCpu,
            _ => {
                return Err(BenchError::new(format!(
                    "unknown backend `{text}`: expected flex, ndarray or cubecl-cpu"
                )));
            }
        };
        let compiled = match backend {
            Backend::Flex => true,
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::CubeclCpu => cfg!(feature = "cubecl-cpu"),
        };
        if !compiled {
            return Err(BenchError::new(format!(
                "backend `{text}` is not in this build; rebuild mlp_train with `--features {text}` in a separate CARGO_TARGET_DIR"
            )));
        }
        Ok(backend)
    }
}

impl Backend {
    /// The device with autodiff, as nonlin's training step needs it.
    pub fn device(self) -> Result<Device, BenchError> {
        match self {
            Backend::Flex => Ok(DeviceSpec::Cpu.device()?),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn-ndarray is deprecated upstream; measured here as a comparison only
            Backend::NdArray => Ok(Device::ndarray().autodiff()),
            #[cfg(feature = "cubecl-cpu")]
            Backend::CubeclCpu => Ok(Device::cpu().autodiff()),
            #[allow(unreachable_patterns)] // FromStr only builds compiled-in backends
            _ => Err(BenchError::new(format!(
                "backend {self:?} is not in this build"
            ))),
        }
    }

    /// The row label: backend, the engine features that change its speed, and whether the step
    /// is the lean variant (no accuracy).
    pub fn engine_name(self, lean: bool) -> String {
        let mut name = String::from(match self {
            Backend::Flex => "nonlin-flex",
            Backend::NdArray => "nonlin-ndarray",
            Backend::CubeclCpu => "nonlin-cubecl-cpu",
        });
        if cfg!(feature = "ndarray-openblas") && self == Backend::NdArray {
            name.push_str("+openblas");
        }
        if cfg!(feature = "ndarray-netlib") && self == Backend::NdArray {
            name.push_str("+netlib");
        }
        // `ndarray` turns on burn's `rayon` and `simd`, which reach flex too.
        if cfg!(any(feature = "flex-parallel", feature = "ndarray")) && self == Backend::Flex {
            name.push_str("+rayon+simd");
        }
        if lean {
            name.push_str(" (no accuracy)");
        }
        name
    }
}
