//! A long short-term memory cell (Hochreiter and Schmidhuber 1997, in PyTorch's formulation, the
//! recurrent network of the crossbar ramp-ADC paper, arXiv:2411.18271), whose five nonlinearities
//! can be in-memory ramp ADCs ([`RampAdc`]):
//!
//! ```text
//! (i, f, g, o) = split₄(x W_ih + b_ih + h W_hh + b_hh)
//! c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')
//! ```
//!
//! Gate order i, f, g, o and the initialisation U(−1/√H, 1/√H) of every weight and bias are
//! PyTorch's `nn.LSTM`; weights are stored `[in, 4H]` (Burn's layout, the transpose of PyTorch's
//! `weight_ih_l0`). With ADCs, each of the five nonlinearities (σ of i, f, o; tanh of g and of c')
//! is its own converter programmed for its function (documented choice: one ramp per gate, shared
//! by the gate's columns; each with its own device variation); the products and the sum stay
//! digital, as in the paper.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use super::ramp_adc::{AdcFunction, RampAdc, RampAdcConfig};
use crate::NnError;

/// Configuration of an [`LstmCell`].
#[derive(Debug, Clone, PartialEq)]
pub struct LstmCellConfig {
    /// Input features per step.
    pub d_input: usize,
    /// H, hidden units.
    pub d_hidden: usize,
}

impl LstmCellConfig {
    /// A cell with `d_input` inputs and `d_hidden` units.
    pub fn new(d_input: usize, d_hidden: usize) -> Self {
        Self { d_input, d_hidden }
    }

    /// Builds the cell with PyTorch's initialisation U(−1/√H, 1/√H).
    pub fn init(&self, device: &Device) -> Result<LstmCell, NnError> {
        if self.d_input == 0 || self.d_hidden == 0 {
            return Err(NnError::BadConfig(format!(
                "an LSTM cell needs positive widths, got {} -> {}",
                self.d_input, self.d_hidden
            )));
        }
        let k = 1.0 / (self.d_hidden as f64).sqrt();
        let u = Initializer::Uniform { min: -k, max: k };
        let g = 4 * self.d_hidden;
        Ok(LstmCell {
            weight_ih: u.init([self.d_input, g], device),
            weight_hh: u.init([self.d_hidden, g], device),
            bias_ih: u.init([g], device),
            bias_hh: u.init([g], device),
        })
    }
}

/// The five nonlinearities of a cell: exact, or ramp ADCs (σ_i, σ_f, tanh_g, σ_o, tanh_c).
#[derive(Debug, Clone)]
pub enum Nonlinearities {
    /// Exact σ and tanh.
    Float,
    /// One programmed ADC per nonlinearity, in the order i, f, g, o, cell.
    Adc(Box<[RampAdc; 5]>),
}

impl Nonlinearities {
    /// Programs the five ADCs from one config (streams 0..5 of its seed).
    pub fn adc(config: &RampAdcConfig) -> Result<Self, NnError> {
        use AdcFunction::{Sigmoid, Tanh};
        let f = [Sigmoid, Sigmoid, Tanh, Sigmoid, Tanh];
        let adcs = [0, 1, 2, 3, 4].map(|k| config.build(f[k], k as u64));
        let [a, b, c, d, e] = adcs;
        Ok(Self::Adc(Box::new([a?, b?, c?, d?, e?])))
    }

    fn apply<const D: usize>(&self, k: usize, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Float => {
                let f = [
                    AdcFunction::Sigmoid,
                    AdcFunction::Sigmoid,
                    AdcFunction::Tanh,
                    AdcFunction::Sigmoid,
                    AdcFunction::Tanh,
                ];
                f[k].apply(x)
            }
            Self::Adc(adcs) => adcs[k].forward(x),
        }
    }
}

/// An LSTM cell's parameters.
#[derive(Module, Debug)]
pub struct LstmCell {
    /// W_ih, `[in, 4H]`.
    pub weight_ih: Param<Tensor<2>>,
    /// W_hh, `[H, 4H]`.
    pub weight_hh: Param<Tensor<2>>,
    /// b_ih, `[4H]`.
    pub bias_ih: Param<Tensor<1>>,
    /// b_hh, `[4H]`.
    pub bias_hh: Param<Tensor<1>>,
}

impl LstmCell {
    /// Runs the cell over a sequence from zero state and returns the last hidden state.
    ///
    /// # Shapes
    /// - input: `[batch, steps, in]`
    /// - output: `[batch, H]`
    pub fn forward(&self, input: Tensor<3>, nl: &Nonlinearities) -> Tensor<2> {
        lstm_sequence(
            input,
            self.weight_ih.val(),
            self.weight_hh.val(),
            self.bias_ih.val(),
            self.bias_hh.val(),
            nl,
        )
    }
}

/// One step of the cell from explicit weights (what the gradient checks differentiate).
///
/// # Shapes
/// - x: `[batch, in]`; h, c: `[batch, H]`; w_ih `[in, 4H]`, w_hh `[H, 4H]`, biases `[4H]`
/// - output: (h', c'), `[batch, H]` each
pub fn lstm_step(
    x: Tensor<2>,
    (h, c): (Tensor<2>, Tensor<2>),
    (w_ih, w_hh, b_ih, b_hh): (&Tensor<2>, &Tensor<2>, &Tensor<1>, &Tensor<1>),
    nl: &Nonlinearities,
) -> (Tensor<2>, Tensor<2>) {
    let hidden = h.dims()[1];
    let gates = x.matmul(w_ih.clone())
        + b_ih.clone().unsqueeze()
        + h.matmul(w_hh.clone())
        + b_hh.clone().unsqueeze();
    let mut parts = gates.chunk(4, 1).into_iter();
    let mut next = |k: usize| nl.apply(k, parts.next().expect("four gates"));
    let (i, f, g, o) = (next(0), next(1), next(2), next(3));
    debug_assert_eq!(i.dims()[1], hidden);
    let c = f * c + i * g;
    let h = o * nl.apply(4, c.clone());
    (h, c)
}

/// The cell over a sequence from zero state; the last hidden state.
///
/// # Shapes
/// - input: `[batch, steps, in]`; output `[batch, H]`
pub fn lstm_sequence(
    input: Tensor<3>,
    w_ih: Tensor<2>,
    w_hh: Tensor<2>,
    b_ih: Tensor<1>,
    b_hh: Tensor<1>,
    nl: &Nonlinearities,
) -> Tensor<2> {
    let [batch, steps, features] = input.dims();
    let hidden = w_hh.dims()[0];
    let device = input.device();
    let zeros = Tensor::<2>::zeros([batch, hidden], (&device, input.dtype()));
    let mut state = (zeros.clone(), zeros);
    for t in 0..steps {
        let x = input
            .clone()
            .slice([0..batch, t..t + 1, 0..features])
            .reshape([batch, features]);
        state = lstm_step(x, state, (&w_ih, &w_hh, &b_ih, &b_hh), nl);
    }
    state.0
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// Deterministic values for the fixture: v_k = 0.5 sin(0.37 k + phase) (the same formula in
    /// `tests/fixtures/lstm/make_lstm_fixture.py`).
    fn wave(n: usize, phase: f64) -> Vec<f64> {
        (0..n)
            .map(|k| 0.5 * (0.37 * k as f64 + phase).sin())
            .collect()
    }

    /// Against PyTorch's `nn.LSTM` (the script beside the fixture): batch 2, 3 steps, 4 inputs,
    /// H = 3, weights from [`wave`] (PyTorch layout [4H, in], transposed here), last hidden state.
    #[test]
    fn matches_pytorch_lstm() {
        let device = Device::flex();
        let (b, s, i, h) = (2usize, 3usize, 4usize, 3usize);
        let t2 = |v: Vec<f64>, rows: usize, cols: usize| {
            // PyTorch [4H, cols] row-major → ours [cols, 4H]
            Tensor::<2>::from_data(
                TensorData::new(v, [rows, cols]),
                (&device, burn::tensor::DType::F64),
            )
            .transpose()
        };
        let w_ih = t2(wave(4 * h * i, 0.1), 4 * h, i);
        let w_hh = t2(wave(4 * h * h, 0.7), 4 * h, h);
        let b_ih = Tensor::<1>::from_data(
            TensorData::new(wave(4 * h, 1.3), [4 * h]),
            (&device, burn::tensor::DType::F64),
        );
        let b_hh = Tensor::<1>::from_data(
            TensorData::new(wave(4 * h, 2.9), [4 * h]),
            (&device, burn::tensor::DType::F64),
        );
        let x = Tensor::<3>::from_data(
            TensorData::new(
                wave(b * s * i, 0.0)
                    .iter()
                    .map(|v| 4.0 * v)
                    .collect::<Vec<_>>(),
                [b, s, i],
            ),
            (&device, burn::tensor::DType::F64),
        );
        let out = lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, &Nonlinearities::Float);
        let got = out.into_data().try_into_vec_as::<f64>().unwrap();
        let want = include_str!("../../tests/fixtures/lstm/lstm.txt")
            .split_whitespace()
            .map(|v| v.parse::<f64>().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
    }

    /// Finite differences in f64 of the inputs and of all four weights of a 2-step sequence.
    #[test]
    fn gradcheck_of_inputs_and_weights() {
        let (b, s, i, h) = (2usize, 2usize, 3usize, 2usize);
        let report = check_gradients(
            |t, _device| {
                let x: Tensor<3> = t[0].clone().reshape([b, s, i]);
                let w_ih: Tensor<2> = t[1].clone().reshape([i, 4 * h]);
                let w_hh: Tensor<2> = t[2].clone().reshape([h, 4 * h]);
                lstm_sequence(
                    x,
                    w_ih,
                    w_hh,
                    t[3].clone(),
                    t[4].clone(),
                    &Nonlinearities::Float,
                )
                .flatten(0, 1)
            },
            &[
                wave(b * s * i, 0.2).iter().map(|v| 3.0 * v).collect(),
                wave(i * 4 * h, 0.5),
                wave(h * 4 * h, 1.1),
                wave(4 * h, 1.9),
                wave(4 * h, 2.3),
            ],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
    }

    /// PyTorch's initialisation: every weight and bias within ±1/√H, and shapes.
    #[test]
    fn init_range_and_bad_widths() {
        let device = Device::flex();
        let cell = LstmCellConfig::new(8, 16).init(&device).unwrap();
        assert_eq!(cell.weight_ih.dims(), [8, 64]);
        assert_eq!(cell.weight_hh.dims(), [16, 64]);
        let w = cell
            .weight_hh
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(w.iter().all(|v| v.abs() <= 0.25) && w.iter().any(|v| v.abs() > 0.2));
        assert!(LstmCellConfig::new(0, 4).init(&device).is_err());
        assert!(LstmCellConfig::new(4, 0).init(&device).is_err());
    }

    /// With 8-bit ADCs the cell's output is within a few LSB of the float cell's; at 1 bit it is not.
    #[test]
    fn adc_cell_approaches_the_float_cell_with_bits() {
        let device = Device::flex();
        let cell = LstmCellConfig::new(4, 8).init(&device).unwrap();
        let x = Tensor::<3>::from_data(
            TensorData::new(
                wave(5 * 6 * 4, 0.3)
                    .iter()
                    .map(|v| *v as f32 * 4.0)
                    .collect::<Vec<_>>(),
                [5, 6, 4],
            ),
            &device,
        );
        let float = cell.forward(x.clone(), &Nonlinearities::Float);
        let err = |bits: usize| {
            let nl = Nonlinearities::adc(&RampAdcConfig {
                bits,
                ..RampAdcConfig::default()
            })
            .unwrap();
            (cell.forward(x.clone(), &nl) - float.clone())
                .abs()
                .max()
                .into_scalar::<f32>()
        };
        let (e8, e1) = (err(8), err(1));
        assert!(e8 < 0.05, "8 bits: {e8}");
        assert!(e1 > 0.1, "1 bit: {e1}");
    }
}
