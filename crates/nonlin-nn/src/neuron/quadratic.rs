//! The quadratic neuron and its ReLinear initialisation, from "On Expressivity and Trainability
//! of Quadratic Networks" (Fan, Li, Wang, Lai, Wang; arXiv:2110.06081, IEEE TNNLS):
//!
//! ```text
//! y = (W_r x + b_r) ⊙ (W_g x + b_g) + W_b (x ⊙ x) + b_b
//! ```
//!
//! three parallel linear maps of the same shape (r, g, b in the official code, `FengleiFan/
//! ReLinear`), the inner product of a conventional neuron replaced by a quadratic form. ReLinear
//! initialises the quadratic parts so that the network starts out exactly as its conventional
//! counterpart: r gets Kaiming-normal weights (std √(2/fan_in)) and the default bias, g weight 0
//! and bias 1, b weight 0 and bias 0, so y = W_r x + b_r at step 0. Its second half, "shrink the
//! gradients" of the quadratic terms, is a learning-rate multiplier on g and b: experiments put
//! them in a parameter group (`params = ["*.g.*", "*.b.*"], lr_scale = 1e-3`), grouped by these
//! explicit field names rather than the official substring tests (which also caught `linear.`).
//!
//! The compact variant of the official code drops g: y = W_r x + b_r + W_b (x ⊙ x) + b_b.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// How the three maps start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuadraticInit {
    /// ReLinear: r Kaiming-normal (std √(2/fan_in)) with the default bias, g = (0, 1), b = (0, 0):
    /// the layer equals the linear map r at initialisation.
    Relinear,
    /// The default (PyTorch-like, U(±1/√fan_in)) initialisation of all three maps.
    Random,
}

/// Configuration of a [`QuadraticLinear`].
#[derive(Config, Debug)]
pub struct QuadraticLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output neurons.
    pub d_output: usize,
    /// The initialisation; the paper's ReLinear by default.
    #[config(default = "QuadraticInit::Relinear")]
    pub init: QuadraticInit,
    /// The compact variant without g: y = r(x) + b(x ⊙ x).
    #[config(default = false)]
    pub compact: bool,
}

impl QuadraticLinearConfig {
    /// Checks that both widths are positive.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.d_input == 0 || self.d_output == 0 {
            return Err(NnError::BadConfig(format!(
                "a quadratic layer needs positive widths, got {} -> {}",
                self.d_input, self.d_output
            )));
        }
        Ok(())
    }

    /// Builds the layer on `device`.
    pub fn init(&self, device: &Device) -> Result<QuadraticLinear, NnError> {
        self.validate()?;
        let (i, o) = (self.d_input, self.d_output);
        let plain = || LinearConfig::new(i, o).init(device);
        let constant = |weight: f64, bias: f64| {
            let mut layer = LinearConfig::new(i, o)
                .with_initializer(Initializer::Constant { value: weight })
                .init(device);
            layer.bias = Some(Initializer::Constant { value: bias }.init_with(
                [o],
                Some(i),
                Some(o),
                device,
            ));
            layer
        };
        let (r, g, b) = match self.init {
            QuadraticInit::Relinear => {
                let mut r = plain();
                // PyTorch's kaiming_normal_ defaults: fan_in, gain √2
                let std = (2.0 / i as f64).sqrt();
                r.weight = Initializer::Normal { mean: 0.0, std }.init_with(
                    [i, o],
                    Some(i),
                    Some(o),
                    device,
                );
                (r, constant(0.0, 1.0), constant(0.0, 0.0))
            }
            QuadraticInit::Random => (plain(), plain(), plain()),
        };
        Ok(QuadraticLinear {
            r,
            g: (!self.compact).then_some(g),
            b,
        })
    }
}

/// A layer of quadratic neurons.
#[derive(Module, Debug)]
pub struct QuadraticLinear {
    /// W_r, b_r: the linear part.
    pub r: Linear,
    /// W_g, b_g: the second factor of the product (absent in the compact variant).
    pub g: Option<Linear>,
    /// W_b, b_b: the map of the squared inputs.
    pub b: Linear,
}

impl QuadraticLinear {
    /// (W_r x + b_r) ⊙ (W_g x + b_g) + W_b (x ⊙ x) + b_b.
    ///
    /// # Shapes
    /// - input: `[..., d_input]`
    /// - output: `[..., d_output]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let linear = self.r.forward(input.clone());
        let product = match &self.g {
            Some(g) => linear * g.forward(input.clone()),
            None => linear,
        };
        product + self.b.forward(input.clone() * input)
    }
}

/// The quadratic neuron as an expression of tensors (weights `[in, out]`, biases `[out]`; no g
/// when `wg` is `None`), for gradient checks and the slow reference of the layer.
///
/// # Shapes
/// - x: `[batch, in]`
/// - output: `[batch, out]`
pub fn quadratic(
    x: Tensor<2>,
    (wr, br): (Tensor<2>, Tensor<1>),
    g: Option<(Tensor<2>, Tensor<1>)>,
    (wb, bb): (Tensor<2>, Tensor<1>),
) -> Tensor<2> {
    let linear = x.clone().matmul(wr) + br.unsqueeze();
    let product = match g {
        Some((wg, bg)) => linear * (x.clone().matmul(wg) + bg.unsqueeze()),
        None => linear,
    };
    product + (x.clone() * x).matmul(wb) + bb.unsqueeze()
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::activation::fixtures::Fixture;
    use crate::activation::tests::assert_close;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    fn set(layer: &mut Linear, w: Vec<f32>, b: Vec<f32>, device: &Device) {
        let [i, o] = layer.weight.dims();
        layer.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [i, o]), device));
        layer.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [o]),
            device,
        )));
    }

    /// Two inputs, one neuron: W_r = (1, 2), b_r = 0.5; W_g = (−1, 1), b_g = 2; W_b = (3, 0),
    /// b_b = −1. At x = (1, 2): r = 1 + 4 + 0.5 = 5.5, g = −1 + 2 + 2 = 3, b = 3·1 + 0·4 − 1 = 2;
    /// y = 5.5·3 + 2 = 18.5. Compact (no g): 5.5 + 2 = 7.5.
    #[test]
    fn hand_computed_values() {
        let device = Device::flex();
        let mut layer = QuadraticLinearConfig::new(2, 1).init(&device).unwrap();
        set(&mut layer.r, vec![1.0, 2.0], vec![0.5], &device);
        set(
            layer.g.as_mut().unwrap(),
            vec![-1.0, 1.0],
            vec![2.0],
            &device,
        );
        set(&mut layer.b, vec![3.0, 0.0], vec![-1.0], &device);
        let x = Tensor::<2>::from_floats([[1.0, 2.0]], &device);
        assert_close(
            &layer
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            &[18.5],
            1e-6,
        );
        layer.g = None;
        assert_close(
            &layer.forward(x).into_data().try_to_vec::<f32>().unwrap(),
            &[7.5],
            1e-6,
        );
    }

    /// ReLinear: at initialisation the layer is exactly its linear part r, and the r weights
    /// have the Kaiming-normal spread √(2/fan_in) = √(2/256) = 0.0884 (within 5% on 256 × 256).
    #[test]
    fn relinear_starts_as_the_linear_part() {
        let device = Device::flex();
        let layer = QuadraticLinearConfig::new(256, 256).init(&device).unwrap();
        let x = Tensor::<2>::random(
            [8, 256],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let quad = layer.forward(x.clone()).into_data();
        let lin = layer.r.forward(x).into_data();
        quad.assert_approx_eq::<f32>(&lin, burn::tensor::Tolerance::absolute(1e-6));
        let w = layer
            .r
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        assert!((std / (2.0f32 / 256.0).sqrt() - 1.0).abs() < 0.05, "{std}");
        let g = layer.g.as_ref().unwrap();
        assert!(
            g.weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
                .iter()
                .all(|v| *v == 0.0)
        );
        assert!(
            g.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
                .iter()
                .all(|v| *v == 1.0)
        );
    }

    /// The layer and the tensor expression agree, and the values and gradients of both agree
    /// with an independent NumPy implementation (`tests/fixtures/activations/make_fixtures.py`).
    #[test]
    fn matches_the_numpy_reference() {
        let device = Device::flex().autodiff();
        for case in Fixture::load().cases("quadratic") {
            let shape = case.values_f64("shape");
            let (n, i, o) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
            let t2 = |k: &str, s: [usize; 2]| {
                Tensor::<2>::from_data(TensorData::new(case.values(k), s), &device).require_grad()
            };
            let t1 = |k: &str| {
                Tensor::<1>::from_floats(case.values(k).as_slice(), &device).require_grad()
            };
            let (x, wr, wg, wb) = (
                t2("x", [n, i]),
                t2("wr", [i, o]),
                t2("wg", [i, o]),
                t2("wb", [i, o]),
            );
            let (br, bg, bb) = (t1("br"), t1("bg"), t1("bb"));
            let y = quadratic(
                x.clone(),
                (wr.clone(), br.clone()),
                Some((wg.clone(), bg.clone())),
                (wb.clone(), bb.clone()),
            );
            assert_close(
                &y.clone().into_data().try_to_vec::<f32>().unwrap(),
                &case.values("y"),
                1e-4,
            );
            let grads = y.sum().backward();
            let g2 = |t: &Tensor<2>| {
                t.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            };
            let g1 = |t: &Tensor<1>| {
                t.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            };
            assert_close(&g2(&x), &case.values("grad_x"), 1e-4);
            assert_close(&g2(&wr), &case.values("grad_wr"), 1e-4);
            assert_close(&g2(&wg), &case.values("grad_wg"), 1e-4);
            assert_close(&g2(&wb), &case.values("grad_wb"), 1e-4);
            assert_close(&g1(&br), &case.values("grad_br"), 1e-4);
            assert_close(&g1(&bg), &case.values("grad_bg"), 1e-4);
            assert_close(&g1(&bb), &case.values("grad_bb"), 1e-4);
            // the module computes the same expression
            let plain = Device::flex();
            let mut layer = QuadraticLinearConfig::new(i, o).init(&plain).unwrap();
            set(&mut layer.r, case.values("wr"), case.values("br"), &plain);
            set(
                layer.g.as_mut().unwrap(),
                case.values("wg"),
                case.values("bg"),
                &plain,
            );
            set(&mut layer.b, case.values("wb"), case.values("bb"), &plain);
            let xs = Tensor::<2>::from_data(TensorData::new(case.values("x"), [n, i]), &plain);
            assert_close(
                &layer.forward(xs).into_data().try_to_vec::<f32>().unwrap(),
                &case.values("y"),
                1e-4,
            );
        }
    }

    /// Finite differences in f64 of the input and of all six weights and biases, with and
    /// without g.
    #[test]
    fn gradcheck_of_input_and_every_parameter() {
        let x = vec![0.3, -1.2, 0.8, 0.5, 1.1, -0.4];
        let w = |s: f64| {
            (0..6)
                .map(|k| s * ((k as f64 * 0.7).sin()))
                .collect::<Vec<_>>()
        };
        for compact in [false, true] {
            let report = check_gradients(
                |t, _| {
                    let m = |k: usize| -> Tensor<2> { t[k].clone().reshape([3, 2]) };
                    let x: Tensor<2> = t[0].clone().reshape([2, 3]);
                    let g = (!compact).then(|| (m(3), t[4].clone()));
                    quadratic(x, (m(1), t[2].clone()), g, (m(5), t[6].clone())).flatten(0, 1)
                },
                &[
                    x.clone(),
                    w(0.9),
                    vec![0.1, -0.2],
                    w(-0.5),
                    vec![1.0, 0.7],
                    w(0.3),
                    vec![0.0, 0.05],
                ],
                &GradCheckConfig::default(),
            );
            match (compact, report) {
                // without g, inputs 3 and 4 receive no gradient: the check says so
                (true, Err(e)) => assert!(e.to_string().contains("input 3"), "{e}"),
                (false, Ok(r)) => assert!(r.passed(), "{r}"),
                (c, r) => panic!("compact {c}: {r:?}"),
            }
        }
        // the compact form checked on its own five tensors
        let report = check_gradients(
            |t, _| {
                let m = |k: usize| -> Tensor<2> { t[k].clone().reshape([3, 2]) };
                quadratic(
                    t[0].clone().reshape([2, 3]),
                    (m(1), t[2].clone()),
                    None,
                    (m(3), t[4].clone()),
                )
                .flatten(0, 1)
            },
            &[x, w(0.9), vec![0.1, -0.2], w(0.3), vec![0.0, 0.05]],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn bad_widths_are_errors() {
        assert!(QuadraticLinearConfig::new(0, 3).validate().is_err());
        assert!(QuadraticLinearConfig::new(3, 0).validate().is_err());
        assert!(
            QuadraticLinearConfig::new(0, 3)
                .init(&Device::flex())
                .is_err()
        );
    }
}
