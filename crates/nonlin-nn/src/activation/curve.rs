//! The shape of an activation: its value f(x) and derivative f'(x) on a grid of inputs, read from
//! a built (possibly trained) module, with the derivative from Burn's autodiff in f64. The
//! activation arena's report draws these curves for every arm, at init and after training.
//!
//! An activation sits in a layer of `width` channels, and some (PolyNorm) normalise across those
//! channels, so a single number has no value of its own. The curve is therefore read from one
//! channel of a whole layer: row j of the input holds the grid point x_j in channel 0 and, in the
//! other `width - 1` channels, fixed reference values evenly spaced over [-√3, √3] (mean 0, unit
//! mean square: a typical pre-activation spread). The curve is channel 0's output and its
//! derivative ∂f(x)_0 / ∂x_0 (the normaliser's dependence on x_0 included). For elementwise
//! activations the reference channels change nothing: the curve is exactly f(x) and f'(x); for
//! per-channel parameters it is channel 0's.

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};

use super::Activation;

/// Where an activation sits in a model: the module, the channels of its layer and the axes after
/// the channel axis (0 after a linear layer, 2 after a 2-D convolution).
#[derive(Debug, Clone, Copy)]
pub struct ActivationSite<'a> {
    pub activation: &'a Activation,
    pub width: usize,
    pub spatial_dims: usize,
}

/// Values and derivatives of an activation at grid points.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationCurve {
    pub x: Vec<f64>,
    pub value: Vec<f64>,
    pub derivative: Vec<f64>,
}

/// `points` evenly spaced points from `lo` to `hi` inclusive (at least two).
pub fn grid(lo: f64, hi: f64, points: usize) -> Vec<f64> {
    let points = points.max(2);
    (0..points)
        .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
        .collect()
}

/// The reference values of channels 1..width: evenly spaced over [-√3, √3].
fn reference_channels(width: usize) -> Vec<f64> {
    let others = width.saturating_sub(1);
    let half = 3f64.sqrt();
    (0..others)
        .map(|k| {
            if others == 1 {
                0.0
            } else {
                -half + 2.0 * half * k as f64 / (others - 1) as f64
            }
        })
        .collect()
}

/// The curve of the activation at `site` at the points `xs` (see the module header for how one
/// channel of a layer is read).
///
/// # Shapes
/// - evaluated input: `[xs.len(), width]`, or `[xs.len(), width, 1, 1]` with two spatial axes
pub fn activation_curve(site: &ActivationSite<'_>, xs: &[f64]) -> ActivationCurve {
    let width = site.width.max(1);
    let rows = xs.len();
    let reference = reference_channels(width);
    let mut data = Vec::with_capacity(rows * width);
    for &x in xs {
        data.push(x);
        data.extend_from_slice(&reference);
    }
    let device = Device::flex().autodiff();
    let act = site.activation.clone().to_device(&device);
    let input = Tensor::<2>::from_data(TensorData::new(data, [rows, width]), (&device, DType::F64))
        .require_grad();
    let output: Tensor<2> = match site.spatial_dims {
        0 => act.forward(input.clone()),
        1 => act
            .forward(input.clone().reshape([rows, width, 1]))
            .reshape([rows, width]),
        2 => act
            .forward(input.clone().reshape([rows, width, 1, 1]))
            .reshape([rows, width]),
        _ => act
            .forward(input.clone().reshape([rows, width, 1, 1, 1]))
            .reshape([rows, width]),
    };
    let channel0 = output.slice([0..rows, 0..1]);
    let value = to_f64(channel0.clone().inner().into_data());
    let grads = channel0.sum().backward();
    let derivative = input
        .grad(&grads)
        .map(|g| {
            let all = to_f64(g.into_data());
            all.chunks(width).map(|row| row[0]).collect()
        })
        .unwrap_or_else(|| vec![0.0; rows]);
    ActivationCurve {
        x: xs.to_vec(),
        value,
        derivative,
    }
}

fn to_f64(data: TensorData) -> Vec<f64> {
    data.try_into_vec_as::<f64>().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{ActivationInit, ActivationSpec};

    fn built(spec: &str, width: usize, spatial_dims: usize) -> Activation {
        let device = Device::flex();
        let spec: ActivationSpec = spec.parse().unwrap();
        Activation::new(
            &spec,
            &ActivationInit::channels(&device, width, spatial_dims),
        )
        .unwrap()
    }

    #[test]
    fn grid_spans_the_interval() {
        // 5 points on [-4, 4]: step 8/4 = 2
        assert_eq!(grid(-4.0, 4.0, 5), vec![-4.0, -2.0, 0.0, 2.0, 4.0]);
    }

    /// Hand-computed values: tanh(1) = 0.7615941560, tanh'(1) = 1 - 0.7615941560² = 0.4199743416;
    /// leaky_relu(-2) with slope 0.01 = -0.02, derivative 0.01.
    #[test]
    fn elementwise_curves_are_the_function_and_its_derivative() {
        let tanh = built("tanh", 4, 0);
        let c = activation_curve(
            &ActivationSite {
                activation: &tanh,
                width: 4,
                spatial_dims: 0,
            },
            &[1.0, -0.5],
        );
        assert!((c.value[0] - 0.761_594_156_0).abs() < 1e-9, "{c:?}");
        assert!((c.derivative[0] - 0.419_974_341_6).abs() < 1e-9, "{c:?}");
        assert!((c.value[1] - (-0.5f64).tanh()).abs() < 1e-9);
        let leaky = built("leaky_relu", 8, 2);
        let c = activation_curve(
            &ActivationSite {
                activation: &leaky,
                width: 8,
                spatial_dims: 2,
            },
            &[-2.0, 3.0],
        );
        assert!((c.value[0] + 0.02).abs() < 1e-9 && (c.derivative[0] - 0.01).abs() < 1e-9);
        assert!((c.value[1] - 3.0).abs() < 1e-9 && (c.derivative[1] - 1.0).abs() < 1e-9);
    }

    /// PolyNorm at init (weights 1/3, bias 0) in a layer of width 3, whose reference channels are
    /// -√3 and √3 (`reference_channels(3)`). At x = 1: the powers x^i of the row are (1, -√3, √3),
    /// (1, 3, 3), (1, -3√3, 3√3) with mean squares 7/3, 19/3, 55/3 (ε = 1e-6 aside), so
    /// f(1) = (1/√(7/3) + 1/√(19/3) + 1/√(55/3)) / 3 = (0.654654 + 0.397360 + 0.233550) / 3
    /// = 0.428521.
    #[test]
    fn polynorm_is_read_in_a_layer_of_reference_channels() {
        let polynorm = built("polynorm", 3, 0);
        let c = activation_curve(
            &ActivationSite {
                activation: &polynorm,
                width: 3,
                spatial_dims: 0,
            },
            &[1.0],
        );
        assert!((c.value[0] - 0.428_521).abs() < 1e-5, "{c:?}");
    }

    /// The autodiff derivative agrees with a central difference of the curve's own values, for
    /// every registered activation (PolyNorm's normaliser included), away from ReLU's kink. The
    /// ramp ADC's derivative is its documented surrogate, f' of the programmed function, which the
    /// central difference of a staircase does not see; its curve must give exactly that surrogate.
    #[test]
    fn derivative_agrees_with_a_central_difference_for_the_whole_registry() {
        let h = 1e-5;
        let xs = [-3.3, -1.7, -0.6, 0.45, 1.2, 2.9];
        let adc = built("ramp_adc(bits=4)", 3, 0);
        let c = activation_curve(
            &ActivationSite {
                activation: &adc,
                width: 3,
                spatial_dims: 0,
            },
            &xs,
        );
        for (x, d) in xs.iter().zip(&c.derivative) {
            assert!(
                (d - (1.0 - x.tanh().powi(2))).abs() < 1e-9,
                "ramp_adc'({x}) = {d}"
            );
        }
        for name in Activation::NAMES.iter().filter(|n| **n != "ramp_adc") {
            for (width, spatial_dims) in [(5, 0), (4, 2)] {
                let act = built(name, width, spatial_dims);
                let site = ActivationSite {
                    activation: &act,
                    width,
                    spatial_dims,
                };
                let c = activation_curve(&site, &xs);
                let plus: Vec<f64> = xs.iter().map(|x| x + h).collect();
                let minus: Vec<f64> = xs.iter().map(|x| x - h).collect();
                let up = activation_curve(&site, &plus).value;
                let down = activation_curve(&site, &minus).value;
                for i in 0..xs.len() {
                    let fd = (up[i] - down[i]) / (2.0 * h);
                    assert!(
                        (fd - c.derivative[i]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "{name} width {width} at {}: autodiff {} vs difference {fd}",
                        xs[i],
                        c.derivative[i]
                    );
                }
            }
        }
    }
}
