//! The thin layer between nonlin and its engine (Burn): device selection and CPU threads.
//!
//! Burn's API moves between minor versions, so the rest of nonlin asks this file for a device
//! instead of calling Burn's constructors itself. `cpu` is Burn's pure-Rust `flex` backend;
//! `vulkan[:N]` and `cuda[:N]` exist only when nonlin is built with the matching cargo feature.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor};

use crate::NnError;

/// Where a run executes, as the user writes it: `cpu`, `vulkan`, `vulkan:1`, `cuda`, `cuda:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// Burn's `flex` backend on the CPU (the default, and what tests and CI run).
    #[default]
    Cpu,
    /// Burn's Vulkan runtime (SPIR-V) on the N-th discrete GPU.
    Vulkan(usize),
    /// Burn's CUDA runtime on GPU N.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = NnError;

    fn from_str(text: &str) -> Result<Self, NnError> {
        let bad = |reason: &str| NnError::Device {
            spec: text.to_string(),
            reason: reason.to_string(),
        };
        let (kind, index) = match text.split_once(':') {
            Some((kind, index)) => {
                let index = index
                    .parse::<usize>()
                    .map_err(|_| bad("the index after `:` must be a non-negative integer"))?;
                (kind, Some(index))
            }
            None => (text, None),
        };
        match (kind, index) {
            ("cpu", None) => Ok(DeviceSpec::Cpu),
            ("cpu", Some(_)) => Err(bad("`cpu` takes no index")),
            ("vulkan", index) => Ok(DeviceSpec::Vulkan(index.unwrap_or(0))),
            ("cuda", index) => Ok(DeviceSpec::Cuda(index.unwrap_or(0))),
            _ => Err(bad("expected `cpu`, `vulkan[:N]` or `cuda[:N]`")),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Vulkan(i) => write!(f, "vulkan:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The device, with autodiff enabled, or a clear error when the backend is not compiled in or
    /// no such device answers. A GPU device is probed with one small tensor so a missing driver
    /// is reported here rather than as a panic deep inside a training step.
    pub fn device(&self) -> Result<Device, NnError> {
        let device = self.raw_device()?;
        if !matches!(self, DeviceSpec::Cpu) {
            probe(self, &device)?;
        }
        Ok(device.autodiff())
    }

    fn raw_device(&self) -> Result<Device, NnError> {
        let missing = |feature: &str| NnError::Device {
            spec: self.to_string(),
            reason: format!(
                "this build of nonlin has no `{feature}` support; rebuild with `--features {feature}`"
            ),
        };
        match *self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            #[cfg(feature = "vulkan")]
            DeviceSpec::Vulkan(i) => Ok(Device::vulkan(burn::tensor::DeviceKind::DiscreteGpu(i))),
            #[cfg(not(feature = "vulkan"))]
            DeviceSpec::Vulkan(_) => Err(missing("vulkan")),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => Err(missing("cuda")),
        }
    }

    /// The backends this build can use, for `--help` and error messages.
    pub fn compiled_in() -> Vec<&'static str> {
        let mut kinds = vec!["cpu"];
        if cfg!(feature = "vulkan") {
            kinds.push("vulkan");
        }
        if cfg!(feature = "cuda") {
            kinds.push("cuda");
        }
        kinds
    }
}

/// Creates and reads back one tensor; GPU runtimes panic when no adapter exists, which we turn
/// into an error that names the device.
fn probe(spec: &DeviceSpec, device: &Device) -> Result<(), NnError> {
    let device = device.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::from_floats([1.0, 2.0], &device);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(hook);
    match result {
        Ok(3.0) => Ok(()),
        Ok(v) => Err(NnError::Device {
            spec: spec.to_string(),
            reason: format!("probe computed {v} for 1+2"),
        }),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no message".to_string());
            Err(NnError::Device {
                spec: spec.to_string(),
                reason: format!(
                    "the runtime found no usable GPU (is its driver, e.g. a Vulkan ICD, installed?); it said: {reason}"
                ),
            })
        }
    }
}

/// Sets the number of CPU threads the `flex` backend uses (Rayon's global pool). Call it once,
/// before the first tensor operation; later calls report that the pool already exists. Only a
/// build with the `parallel` feature runs flex kernels on that pool; the default build's kernels
/// are single-threaded (and bitwise reproducible).
pub fn set_cpu_threads(threads: usize) -> Result<(), NnError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| NnError::Device {
            spec: "cpu".into(),
            reason: format!("cannot set {threads} threads: {e}"),
        })
}

/// The number of CPU threads the `flex` backend uses.
pub fn cpu_threads() -> usize {
    rayon::current_num_threads()
}

/// Seeds the engine's random number generator on `device` (parameter initialisers draw from it).
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_specs() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!(
            "vulkan".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Vulkan(0)
        );
        assert_eq!(
            "vulkan:2".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Vulkan(2)
        );
        assert_eq!("cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
        for bad in ["gpu", "cpu:0", "cuda:x", ""] {
            let err = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn cpu_device_works_and_missing_backends_are_errors() {
        let device = DeviceSpec::Cpu.device().unwrap();
        let t = Tensor::<1>::from_floats([1.0, 2.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 3.0);
        if !cfg!(feature = "cuda") {
            let err = DeviceSpec::Cuda(0).device().unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
        if !cfg!(feature = "vulkan") {
            let err = DeviceSpec::Vulkan(0).device().unwrap_err().to_string();
            assert!(err.contains("--features vulkan"), "{err}");
        }
    }
}
