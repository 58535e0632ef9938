//! PReLU: max(0, x) + a * min(0, x) with a learnable slope `a` (He et al., "Delving Deep into
//! Rectifiers", arXiv:1502.01852). One slope shared by all channels (PyTorch's default) or one per
//! channel (`per_channel=1`), initialised to 0.25 as in the paper.

use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData};

use super::{ActivationInit, ActivationSpec, per_channel};
use crate::NnError;

/// PReLU with a learnable negative slope.
#[derive(Module, Debug)]
pub struct Prelu {
    /// a, the negative slopes: `[1]` shared or `[channels]`.
    pub slope: Param<Tensor<1>>,
    /// Axes after the channel axis in the inputs this activation sees (see [`ActivationInit`]).
    pub spatial_dims: usize,
}

impl Prelu {
    /// Builds it from a spec such as `prelu`, `prelu(init=0.1)` or `prelu(per_channel=1)`.
    pub fn from_spec(spec: &ActivationSpec, init: &ActivationInit<'_>) -> Result<Self, NnError> {
        spec.expect_params(&["init", "per_channel"])?;
        let per_channel = match spec.param("per_channel", 0.0) {
            0.0 => false,
            1.0 => true,
            other => {
                return Err(NnError::BadActivation {
                    spec: spec.to_string(),
                    reason: format!("per_channel must be 0 or 1, got {other}"),
                });
            }
        };
        let count = if per_channel { init.width } else { 1 };
        if count == 0 {
            return Err(NnError::BadActivation {
                spec: spec.to_string(),
                reason: "a per-channel PReLU needs at least one channel".into(),
            });
        }
        let a0 = spec.param("init", 0.25);
        let slope = Tensor::<1>::from_data(TensorData::new(vec![a0 as f32; count], [count]), init.device);
        Ok(Self {
            slope: Param::from_tensor(slope),
            spatial_dims: init.spatial_dims,
        })
    }

    /// # Shapes
    /// - input: `[..., channels, ..spatial]` (channels last unless built after a convolution)
    /// - output: same as the input
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        // Cast to the input's dtype so the activation runs in f64 too (gradient checks).
        let slope = self.slope.val().cast(input.dtype());
        let slope: Tensor<D> = if slope.dims()[0] == 1 {
            slope.reshape([1usize; D])
        } else {
            per_channel(slope, self.spatial_dims)
        };
        let positive = input.clone().clamp_min(0.0);
        let negative = input.clamp_max(0.0);
        positive + negative * slope
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::activation::tests::{assert_close, eval};
    use crate::activation::{Activation, ActivationInit};

    #[test]
    fn hand_computed_values() {
        // a = 0.25: -2 -> -0.5, 3 -> 3; a = 0.1: -2 -> -0.2
        assert_close(&eval("prelu", &[-2.0, 3.0]), &[-0.5, 3.0], 1e-6);
        assert_close(&eval("prelu(init=0.1)", &[-2.0, 3.0]), &[-0.2, 3.0], 1e-6);
    }

    /// After a convolution the slope of channel c must scale channel c (axis 1), not the last
    /// axis (width). Input [1, 3 channels, 2 high, 4 wide] of -1 everywhere, slopes 0.1, 0.2,
    /// 0.3: every value of channel c becomes -slope_c.
    #[test]
    fn per_channel_slopes_follow_the_channel_axis() {
        let device = Device::flex();
        let spec: ActivationSpec = "prelu(per_channel=1)".parse().unwrap();
        let mut act = match Activation::new(&spec, &ActivationInit::channels(&device, 3, 2)).unwrap()
        {
            Activation::Prelu(p) => p,
            _ => unreachable!(),
        };
        act.slope = Param::from_tensor(Tensor::<1>::from_floats([0.1, 0.2, 0.3], &device));
        let x = Tensor::<4>::ones([1, 3, 2, 4], &device).neg();
        let y = act.forward(x).into_data().convert::<f32>();
        let values = y.as_slice::<f32>().unwrap();
        for c in 0..3 {
            for v in &values[c * 8..(c + 1) * 8] {
                assert!((v + 0.1 * (c + 1) as f32).abs() < 1e-6, "channel {c}: {v}");
            }
        }
        // Channels last (after a linear layer): [2 samples, 3 features].
        let lin = Prelu {
            slope: Param::from_tensor(Tensor::<1>::from_floats([0.1, 0.2, 0.3], &device)),
            spatial_dims: 0,
        };
        let y = lin.forward(Tensor::<2>::from_data(TensorData::new(vec![-1.0f32; 6], [2, 3]), &device));
        assert_close(
            y.into_data().convert::<f32>().as_slice::<f32>().unwrap(),
            &[-0.1, -0.2, -0.3, -0.1, -0.2, -0.3],
            1e-6,
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        let device = Device::flex();
        let spec: ActivationSpec = "prelu(per_channel=2)".parse().unwrap();
        let err = Activation::new(&spec, &ActivationInit::features(&device, 4)).unwrap_err();
        assert!(err.to_string().contains("per_channel"), "{err}");
    }
}
