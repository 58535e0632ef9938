//! The empirical NTK of any model, `Theta_hat(x, x') = sum_p df(x)/dp df(x')/dp`, by one reverse
//! pass per sample through Burn's autodiff (the general path; Burn has no vmap or Jacobian, so the
//! Jacobian is built row by row). Dense networks have the fast factorised form in
//! [`super::dense::DenseNet::ntk`]; a test checks the two agree on a Burn `Mlp`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use nonlin_nn::{ModelInput, Network};

use super::linalg::{Matrix, gram};
use crate::TheoryError;

/// The Jacobian of output `output` with respect to every float parameter, one row per row of
/// `inputs` (`[n, input]`), parameters in the module's visiting order.
///
/// # Shapes
/// - inputs: `[n, input]`; returns `[n, parameters]`
pub fn jacobian<M>(model: &M, inputs: &Matrix, output: usize) -> Result<Matrix, TheoryError>
where
    M: Module + Network,
{
    let device = Device::flex().autodiff();
    let model = model.clone().fork(&device).train();
    let (n, d) = (inputs.nrows(), inputs.ncols());
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(n);
    for i in 0..n {
        let x: Vec<f32> = (0..d).map(|k| inputs[(i, k)] as f32).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [1, d]), &device);
        let y = model.forward_input(&ModelInput::Real(x))?;
        let width = y.dims()[1];
        if output >= width {
            return Err(TheoryError::Model {
                probe: "empirical_ntk",
                reason: format!("output {output} of a model with {width} outputs"),
            });
        }
        let f = y.slice([0..1, output..output + 1]).sum();
        let grads = GradientsParams::from_grads(f.backward(), &model);
        let mut collect = Collect {
            grads: &grads,
            row: Vec::new(),
        };
        model.visit(&mut collect);
        rows.push(collect.row);
    }
    let p = rows.first().map_or(0, Vec::len);
    Ok(Matrix::from_fn(n, p, |i, j| rows[i][j]))
}

struct Collect<'a> {
    grads: &'a GradientsParams,
    row: Vec<f64>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let count: usize = param.val().dims().iter().product();
        match self.grads.get::<D>(param.id) {
            Some(g) => self.row.extend(
                g.into_data()
                    .try_into_vec_as::<f64>()
                    .unwrap_or_else(|_| vec![0.0; count]),
            ),
            // A parameter the output does not depend on has a zero gradient.
            None => self.row.extend(std::iter::repeat_n(0.0, count)),
        }
    }
}

/// The empirical NTK of output `output` of any model on the rows of `inputs`, by per-sample
/// reverse passes.
///
/// # Shapes
/// - inputs: `[n, input]`; returns `[n, n]`
pub fn empirical_ntk<M>(model: &M, inputs: &Matrix, output: usize) -> Result<Matrix, TheoryError>
where
    M: Module + Network,
{
    Ok(gram(&jacobian(model, inputs, output)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dense::DenseNet;
    use crate::kernels::linalg::from_rows;
    use nonlin_nn::{MlpConfig, Model};

    /// The reverse-pass NTK of a Burn MLP equals the factorised per-layer form computed from
    /// the same weights (f32 forward passes against f64: agreement to about 1e-5 relative).
    /// Learnable activation parameters (PReLU's slope) add their own term, which the dense
    /// factorisation leaves out: that case is the next test.
    #[test]
    fn reverse_passes_agree_with_the_factorised_form() {
        let device = Device::flex();
        nonlin_nn::engine::seed(&device, 7);
        for act in ["tanh", "relu", "gelu", "leaky_relu(negative_slope=0.2)"] {
            let mlp = MlpConfig::new(vec![6, 5])
                .with_activation(act)
                .init(3, 2, &device)
                .unwrap();
            let x = from_rows(
                4,
                3,
                &[
                    0.3, -1.0, 0.5, 1.2, 0.1, -0.4, -0.7, 0.8, 0.2, 0.0, 0.5, 1.5,
                ],
            );
            let fast = DenseNet::from_mlp(&mlp).unwrap().ntk(&x, 1);
            let model = Model::Mlp(mlp);
            let slow = empirical_ntk(&model, &x, 1).unwrap();
            let err = (&fast - &slow).norm_l2() / slow.norm_l2();
            assert!(err < 1e-5, "{act}: relative difference {err}");
        }
    }

    /// With PReLU the slopes are parameters too: the reverse-pass kernel is the dense kernel plus
    /// the Gram matrix of the slope gradients, so their difference is positive semi-definite and
    /// nonzero.
    #[test]
    fn learnable_activation_parameters_add_a_positive_term() {
        let device = Device::flex();
        nonlin_nn::engine::seed(&device, 8);
        let mlp = MlpConfig::new(vec![6])
            .with_activation("prelu(per_channel=1)")
            .init(3, 1, &device)
            .unwrap();
        let x = from_rows(
            4,
            3,
            &[
                0.3, -1.0, 0.5, 1.2, 0.1, -0.4, -0.7, 0.8, 0.2, 0.0, 0.5, 1.5,
            ],
        );
        let dense = DenseNet::from_mlp(&mlp).unwrap().ntk(&x, 0);
        let full = empirical_ntk(&Model::Mlp(mlp), &x, 0).unwrap();
        let (values, _) = crate::kernels::linalg::symmetric_eigen(&(&full - &dense)).unwrap();
        assert!(values.iter().all(|v| *v > -1e-5), "{values:?}");
        assert!(values.iter().any(|v| *v > 1e-3), "{values:?}");
    }

    #[test]
    fn an_output_out_of_range_is_an_error() {
        let device = Device::flex();
        let mlp = MlpConfig::new(vec![3]).init(2, 1, &device).unwrap();
        let x = from_rows(1, 2, &[0.1, 0.2]);
        assert!(empirical_ntk(&Model::Mlp(mlp), &x, 4).is_err());
    }
}
