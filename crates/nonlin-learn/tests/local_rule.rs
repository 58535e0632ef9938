//! The `LearningRule` contract fits layer-local rules: a rule that trains two blocks, each on its
//! own local loss through its own head, with the input of block 2 detached from block 1. The
//! test checks that no gradient of block 2's loss reaches block 1, and that both losses fall.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nonlin_learn::{
    LearnError, LearningRule, Metrics, OptimizerConfig, RuleState, Target, TensorBatch,
};
use nonlin_nn::{ModelInput, Network, NnError};

#[derive(Module, Debug)]
struct TwoBlocks {
    block1: Linear,
    block2: Linear,
}

impl Network for TwoBlocks {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("two_blocks")?;
        Ok(self.block2.forward(relu(self.block1.forward(x))))
    }
}

/// A block and its local classifier head, updated together by one optimizer.
#[derive(Module, Debug)]
struct Local {
    block: Linear,
    head: Linear,
}

/// Trains each block on its own loss. Owns the heads and one optimizer per block.
struct TwoLocalLosses {
    heads: Option<(Linear, Linear)>,
    optimizers: (ModuleOptimizer, ModuleOptimizer),
    /// Gradient tensors of block 1 found in block 2's loss, at the last step.
    leaked: usize,
}

impl TwoLocalLosses {
    fn new(device: &Device) -> Self {
        let config = OptimizerConfig::default();
        Self {
            heads: Some((
                LinearConfig::new(8, 2).init(device),
                LinearConfig::new(8, 2).init(device),
            )),
            optimizers: (config.build().unwrap(), config.build().unwrap()),
            leaked: 0,
        }
    }
}

impl LearningRule<TwoBlocks> for TwoLocalLosses {
    fn name(&self) -> &str {
        "two_local_losses"
    }

    fn step(
        &mut self,
        model: TwoBlocks,
        batch: &TensorBatch,
        lr: f64,
    ) -> Result<(TwoBlocks, Metrics), LearnError> {
        let (head1, head2) = self
            .heads
            .take()
            .expect("heads are put back after every step");
        let x = batch.features("two_local_losses")?;
        let y = batch.labels("two_local_losses")?;
        let ce = CrossEntropyLossConfig::new().init(&x.device());

        let h1 = relu(model.block1.forward(x));
        let loss1 = ce.forward(head1.forward(h1.clone()), y.clone());
        let input2 = h1.detach();
        let h2 = relu(model.block2.forward(input2));
        let loss2 = ce.forward(head2.forward(h2), y);

        let mut grads1 = loss1.backward();
        let mut grads2 = loss2.backward();
        self.leaked = GradientsParams::from_module(&mut grads2, &model.block1).len();

        let local1 = Local {
            block: model.block1,
            head: head1,
        };
        let local2 = Local {
            block: model.block2,
            head: head2,
        };
        let g1 = GradientsParams::from_module(&mut grads1, &local1);
        let g2 = GradientsParams::from_module(&mut grads2, &local2);
        let local1 = self.optimizers.0.step(lr, local1, g1);
        let local2 = self.optimizers.1.step(lr, local2, g2);
        self.heads = Some((local1.head, local2.head));

        let metrics = Metrics::from([
            ("loss_block1".to_string(), loss1.into_scalar::<f64>()),
            ("loss_block2".to_string(), loss2.into_scalar::<f64>()),
        ]);
        Ok((
            TwoBlocks {
                block1: local1.block,
                block2: local2.block,
            },
            metrics,
        ))
    }

    fn save_state(&self) -> Result<RuleState, LearnError> {
        Ok(RuleState::default())
    }

    fn load_state(&mut self, _state: RuleState) -> Result<(), LearnError> {
        Ok(())
    }
}

fn batch(device: &Device) -> TensorBatch {
    let xs: Vec<f32> = (0..64 * 4).map(|i| ((i as f32) * 0.37).sin()).collect();
    let ys: Vec<i64> = (0..64)
        .map(|i| i64::from(xs[i * 4] + xs[i * 4 + 1] > 0.0))
        .collect();
    TensorBatch {
        input: ModelInput::Real(Tensor::from_data(TensorData::new(xs, [64, 4]), device)),
        target: Target::Classes(Tensor::<1, Int>::from_data(
            TensorData::new(ys, [64]),
            device,
        )),
    }
}

fn model(device: &Device) -> TwoBlocks {
    TwoBlocks {
        block1: LinearConfig::new(4, 8).init(device),
        block2: LinearConfig::new(8, 8).init(device),
    }
}

#[test]
fn no_gradient_crosses_the_detach_and_both_local_losses_fall() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let batch = batch(&device);
    let mut rule = TwoLocalLosses::new(&device);
    let mut net = model(&device);
    let mut first = Metrics::new();
    let mut last = Metrics::new();
    for step in 0..150 {
        let (next, metrics) = rule.step(net, &batch, 0.01).unwrap();
        net = next;
        assert_eq!(
            rule.leaked, 0,
            "step {step}: block 2's loss sent a gradient into block 1"
        );
        if step == 0 {
            first = metrics.clone();
        }
        last = metrics;
    }
    for key in ["loss_block1", "loss_block2"] {
        assert!(
            last[key] < 0.7 * first[key],
            "{key}: {} -> {}",
            first[key],
            last[key]
        );
    }
}

#[test]
fn without_the_detach_the_check_sees_the_leak() {
    // The negative control: the same measurement on block 2's loss without the detach finds
    // gradients in block 1, so the assertion above is able to fail.
    let device = Device::flex().autodiff();
    let batch = batch(&device);
    let net = model(&device);
    let head2 = LinearConfig::new(8, 2).init(&device);
    let x = batch.features("test").unwrap();
    let y = batch.labels("test").unwrap();
    let h1 = relu(net.block1.forward(x));
    let h2 = relu(net.block2.forward(h1));
    let loss2 = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(head2.forward(h2), y);
    let mut grads = loss2.backward();
    let leaked = GradientsParams::from_module(&mut grads, &net.block1).len();
    assert_eq!(
        leaked, 2,
        "weight and bias of block 1 should receive gradient from loss 2"
    );
}
