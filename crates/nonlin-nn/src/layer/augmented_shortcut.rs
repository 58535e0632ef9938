//! The augmented shortcut (AS) of "PanGu-π: Enhancing Language Model Architectures via
//! Nonlinearity Compensation" (Wang et al., arXiv:2312.17276, §4.1), after "Augmented Shortcuts
//! for Vision Transformers" (Tang et al., 2021):
//!
//! ```text
//! AugMSA(Z) = MSA(Z) + Z + Σ_{i=1..T} T_i(Z),    T_i(Z) = W_up,i · σ(W_down,i · Z)
//! ```
//!
//! Each branch T_i is a bottleneck of two fully connected layers, d → d/r → d, with GELU between
//! them, costing 2Nd²/r; the paper chooses r = 32 (its ablation: 1, 1/4, 1/16, 1/32, 1/64 of d
//! give C-Eval 36.5, 36.7, 36.5, 36.3, 35.5, against 35.0 without AS). This layer computes the
//! branches Σ T_i(Z); the model adds MSA(Z) and the identity Z.
//!
//! Choice (documented, a config field): the second FC of each branch starts at zero (the notes'
//! suggestion), so a model with AS starts as the same model without it; `zero_init = false`
//! keeps Burn's default initialisation (used by the random-initialisation collapse check).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::NnError;

/// Configuration of an [`AugmentedShortcut`].
#[derive(Config, Debug)]
pub struct AugmentedShortcutConfig {
    /// d, the width of the features.
    pub d_model: usize,
    /// r, the bottleneck reduction (hidden width d/r); paper default 32.
    #[config(default = 32)]
    pub reduction: usize,
    /// T, the number of parallel branches; paper default 1.
    #[config(default = 1)]
    pub branches: usize,
    /// Whether the second FC of each branch starts at zero (AS starts switched off).
    #[config(default = true)]
    pub zero_init: bool,
    /// Standard deviation of a normal initialisation of every weight, replacing the default
    /// (and `zero_init`) when given; biases start at zero then.
    pub init_std: Option<f64>,
}

impl AugmentedShortcutConfig {
    /// Checks that d/r is at least 1 and T is positive.
    pub fn validate(&self) -> Result<(), NnError> {
        if self.d_model == 0 || self.reduction == 0 || self.reduction > self.d_model {
            return Err(NnError::BadConfig(format!(
                "augmented shortcut: the bottleneck d/r needs 1 <= r <= d, got d {} and r {}",
                self.d_model, self.reduction
            )));
        }
        if self.branches == 0 || self.branches > 64 {
            return Err(NnError::BadConfig(format!(
                "augmented shortcut: branches must be in 1..=64, got {}",
                self.branches
            )));
        }
        if let Some(std) = self.init_std
            && !(std.is_finite() && std > 0.0)
        {
            return Err(NnError::BadConfig(format!(
                "augmented shortcut: init_std must be positive, got {std}"
            )));
        }
        Ok(())
    }

    /// Builds the branches on `device`.
    pub fn init(&self, device: &Device) -> Result<AugmentedShortcut, NnError> {
        self.validate()?;
        let hidden = self.d_model / self.reduction;
        let linear = |input, output, zero: bool| {
            let config = LinearConfig::new(input, output);
            match self.init_std {
                Some(std) => config
                    .with_initializer(Initializer::Normal { mean: 0.0, std })
                    .init(device)
                    .zero_bias(),
                None if zero => config.with_initializer(Initializer::Zeros).init(device),
                None => config.init(device),
            }
        };
        let branches = (0..self.branches)
            .map(|_| Bottleneck {
                down: linear(self.d_model, hidden, false),
                up: linear(hidden, self.d_model, self.zero_init),
            })
            .collect();
        Ok(AugmentedShortcut { branches })
    }
}

/// Sets a linear layer's bias to zero.
trait ZeroBias {
    fn zero_bias(self) -> Self;
}

impl ZeroBias for Linear {
    fn zero_bias(mut self) -> Self {
        if let Some(bias) = self.bias.take() {
            self.bias = Some(bias.map(|b| b.zeros_like()));
        }
        self
    }
}

/// One branch: d → d/r → d with GELU between.
#[derive(Module, Debug)]
struct Bottleneck {
    down: Linear,
    up: Linear,
}

/// The augmented shortcut branches Σ_i T_i(Z).
#[derive(Module, Debug)]
pub struct AugmentedShortcut {
    branches: Vec<Bottleneck>,
}

impl AugmentedShortcut {
    /// Σ_i W_up,i GELU(W_down,i Z).
    ///
    /// # Shapes
    /// - input: `[..., d_model]`
    /// - output: `[..., d_model]`
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let mut out: Option<Tensor<D>> = None;
        for b in &self.branches {
            let t = b.up.forward(burn::tensor::activation::gelu(
                b.down.forward(input.clone()),
            ));
            out = Some(match out {
                Some(acc) => acc + t,
                None => t,
            });
        }
        out.expect("at least one branch")
    }

    /// T, the number of branches.
    pub fn branches(&self) -> usize {
        self.branches.len()
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::gradcheck::{GradCheckConfig, check_gradients};

    /// Zero-initialised, the branches add nothing; the parameter count is
    /// T · (d·d/r + d/r + d/r·d + d) = 2 · (8·2 + 2 + 2·8 + 8) = 2 · 42 = 84 for d = 8, r = 4.
    #[test]
    fn starts_switched_off_with_the_paper_count() {
        let device = Device::flex();
        let layer = AugmentedShortcutConfig::new(8)
            .with_reduction(4)
            .with_branches(2)
            .init(&device)
            .unwrap();
        assert_eq!(layer.num_params(), 84);
        let y = layer.forward(Tensor::<3>::ones([2, 3, 8], &device));
        assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![0.0; 48]);
    }

    /// One branch by hand: d = 2, r = 2 (hidden 1), W_down = [[1], [2]] (Burn's [in, out]),
    /// b_down = 0, W_up = [[3, -1]], b_up = [0.5, 0]. For z = (1, 0.5): down = 1 + 1 = 2,
    /// GELU(2) = 2Φ(2) = 1.9544997, up = (3·1.9544997 + 0.5, −1.9544997) = (6.3634992, −1.9544997).
    #[test]
    fn one_branch_by_hand() {
        let device = Device::flex();
        let mut layer = AugmentedShortcutConfig::new(2)
            .with_reduction(2)
            .init(&device)
            .unwrap();
        let b = &mut layer.branches[0];
        b.down.weight = Param::from_tensor(Tensor::from_floats([[1.0], [2.0]], &device));
        b.down.bias = Some(Param::from_tensor(Tensor::from_floats([0.0], &device)));
        b.up.weight = Param::from_tensor(Tensor::from_floats([[3.0, -1.0]], &device));
        b.up.bias = Some(Param::from_tensor(Tensor::from_floats([0.5, 0.0], &device)));
        let y = layer.forward(Tensor::<2>::from_floats([[1.0, 0.5]], &device));
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        assert!(
            (y[0] - 6.363_499).abs() < 1e-5 && (y[1] + 1.954_499_7).abs() < 1e-5,
            "{y:?}"
        );
    }

    /// Finite differences in f64 of the input and of every weight of a branch (built from the
    /// checked tensors inside the op).
    #[test]
    fn gradcheck_of_input_and_weights() {
        let report = check_gradients(
            |inputs, device| {
                let x: Tensor<2> = inputs[0].clone().reshape([2, 4]);
                let down: Tensor<2> = inputs[1].clone().reshape([4, 2]);
                let up: Tensor<2> = inputs[2].clone().reshape([2, 4]);
                let _ = device;
                let h =
                    burn::tensor::activation::gelu(x.matmul(down) + inputs[3].clone().unsqueeze());
                (h.matmul(up) + inputs[4].clone().unsqueeze()).flatten(0, 1)
            },
            &[
                vec![0.3, -1.2, 0.8, 0.1, 1.5, 0.4, -0.6, 2.0],
                vec![0.2, -0.4, 0.7, 0.1, -0.3, 0.5, 0.6, -0.2],
                vec![0.9, -0.1, 0.3, 0.4, -0.8, 0.2, 0.5, 0.6],
                vec![0.1, -0.2],
                vec![0.0, 0.1, -0.1, 0.2],
            ],
            &GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.passed(), "{report}");
        // and the layer computes exactly that expression
        let device = Device::flex();
        let mut layer = AugmentedShortcutConfig::new(4)
            .with_reduction(2)
            .init(&device)
            .unwrap();
        let t = |v: Vec<f32>, s: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v, s), &device);
        let b = &mut layer.branches[0];
        b.down.weight =
            Param::from_tensor(t(vec![0.2, -0.4, 0.7, 0.1, -0.3, 0.5, 0.6, -0.2], [4, 2]));
        b.down.bias = Some(Param::from_tensor(Tensor::from_floats(
            [0.1, -0.2],
            &device,
        )));
        b.up.weight = Param::from_tensor(t(vec![0.9, -0.1, 0.3, 0.4, -0.8, 0.2, 0.5, 0.6], [2, 4]));
        b.up.bias = Some(Param::from_tensor(Tensor::from_floats(
            [0.0, 0.1, -0.1, 0.2],
            &device,
        )));
        let x = t(vec![0.3, -1.2, 0.8, 0.1, 1.5, 0.4, -0.6, 2.0], [2, 4]);
        let by_layer = layer.forward(x.clone());
        let h = burn::tensor::activation::gelu(
            x.matmul(t(vec![0.2, -0.4, 0.7, 0.1, -0.3, 0.5, 0.6, -0.2], [4, 2]))
                + Tensor::<2>::from_floats([[0.1, -0.2]], &device),
        );
        let by_hand = h.matmul(t(vec![0.9, -0.1, 0.3, 0.4, -0.8, 0.2, 0.5, 0.6], [2, 4]))
            + Tensor::<2>::from_floats([[0.0, 0.1, -0.1, 0.2]], &device);
        by_layer
            .into_data()
            .assert_approx_eq::<f32>(&by_hand.into_data(), Default::default());
    }

    #[test]
    fn bad_configs_are_errors() {
        for (d, r, t) in [(0, 1, 1), (8, 0, 1), (8, 16, 1), (8, 4, 0), (8, 4, 65)] {
            let c = AugmentedShortcutConfig::new(d)
                .with_reduction(r)
                .with_branches(t);
            assert!(c.validate().is_err(), "d {d} r {r} T {t}");
        }
        for std in [0.0, -1.0, f64::NAN] {
            assert!(
                AugmentedShortcutConfig::new(8)
                    .with_reduction(4)
                    .with_init_std(Some(std))
                    .validate()
                    .is_err()
            );
        }
    }
}
