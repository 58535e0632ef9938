//! The graph convolutional network (Kipf and Welling, "Semi-Supervised Classification with Graph
//! Convolutional Networks", ICLR 2017, arXiv 1609.02907), as ForwardGNN trains it (Park et al.,
//! ICLR 2024, arXiv 2403.11004): layer `l` is
//!
//! `H_{l+1} = phi(Â H_l W_l + b_l)`,  `Â = D̃^{-1/2} (A + I) D̃^{-1/2}`,  `D̃_ii = Σ_j (A + I)_ij`,
//!
//! with no activation after the last layer. As in PyTorch Geometric's `GCNConv` (the official
//! code's layer): `W_l` Glorot-uniform, `b_l` zero, the bias added after propagation. The
//! propagation matrix `Â` comes with the input ([`ModelInput::Graph`], built by
//! [`normalized_adjacency`]); the model predicts the asked rows. With `output_layer = false` the
//! stack ends at the last hidden layer (every layer followed by `phi`), as ForwardGNN's
//! forward-learning rules build it: they read the classes off the hidden layers themselves.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{InputSpec, ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// Configuration of a [`Gcn`] (`kind = "gcn"`); input and output widths come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcnConfig {
    /// Widths of the hidden GCN layers (ForwardGNN: 128 each; the BP baseline has one hidden
    /// layer, i.e. 2 GCN layers).
    pub hidden: Vec<usize>,
    /// Activation `phi` after every hidden layer, as a spec (the paper: `"relu"`).
    #[serde(default = "relu")]
    pub activation: String,
    /// A last GCN layer to the number of classes, without activation (true); false ends the
    /// stack at the last hidden layer (ForwardGNN's forward-learning networks: 4 x 128, each
    /// layer followed by ReLU), for rules that predict otherwise.
    #[serde(default = "yes")]
    pub output_layer: bool,
}

fn relu() -> String {
    "relu".into()
}

fn yes() -> bool {
    true
}

/// A stack of GCN layers.
#[derive(Module, Debug)]
pub struct Gcn {
    /// `W_l`, `[in, out]`.
    weights: Vec<Param<Tensor<2>>>,
    /// `b_l`, `[out]`.
    biases: Vec<Param<Tensor<1>>>,
    activations: Vec<Activation>,
}

impl GcnConfig {
    /// Builds the network from `input` to `output` features per node on `device`.
    pub fn init(&self, input: usize, output: usize, device: &Device) -> Result<Gcn, NnError> {
        if input == 0 || output == 0 || self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "gcn widths must be positive: input {input}, hidden {:?}, output {output}",
                self.hidden
            )));
        }
        if !self.output_layer && self.hidden.is_empty() {
            return Err(NnError::BadConfig(
                "gcn without output_layer needs at least one hidden layer".into(),
            ));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let mut widths = vec![input];
        widths.extend(&self.hidden);
        if self.output_layer {
            widths.push(output);
        }
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in widths.windows(2) {
            // Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
            let a = (6.0 / (w[0] + w[1]) as f64).sqrt();
            weights.push(Param::from_tensor(Tensor::random(
                [w[0], w[1]],
                Distribution::Uniform(-a, a),
                device,
            )));
            biases.push(Param::from_tensor(Tensor::zeros([w[1]], device)));
        }
        let activations = self
            .hidden
            .iter()
            .map(|&width| Activation::new(&spec, &ActivationInit::features(device, width)))
            .collect::<Result<_, _>>()?;
        Ok(Gcn {
            weights,
            biases,
            activations,
        })
    }
}

impl ModelSpec for GcnConfig {
    type Model = Gcn;

    fn validate(&self) -> Result<(), NnError> {
        if !self.output_layer && self.hidden.is_empty() {
            return Err(NnError::BadConfig(
                "gcn without output_layer needs at least one hidden layer".into(),
            ));
        }
        if self.hidden.contains(&0) {
            return Err(NnError::BadConfig(format!(
                "gcn hidden widths must be positive, got {:?}",
                self.hidden
            )));
        }
        crate::activation::validate(&self.activation)
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<Gcn, NnError> {
        let InputSpec::Graph { shape, .. } = &io.input else {
            return Err(NnError::BadConfig(format!(
                "gcn reads a graph, but this task feeds it {:?}",
                io.input
            )));
        };
        self.init(shape.iter().product(), io.output_width(), device)
    }
}

impl Gcn {
    /// Number of GCN layers.
    pub fn depth(&self) -> usize {
        self.weights.len()
    }

    /// `W_index`, `[in, out]`.
    pub fn weight(&self, index: usize) -> Tensor<2> {
        self.weights[index].val()
    }

    /// Whether the last layer is an output layer (no activation).
    pub fn has_output_layer(&self) -> bool {
        self.activations.len() < self.weights.len()
    }

    /// Output width of layer `index`.
    pub fn layer_width(&self, index: usize) -> usize {
        self.weights[index].dims()[1]
    }

    /// Layer `index` before its activation: `Â h W + b`.
    ///
    /// # Shapes
    /// - h: `[nodes, in]`, adjacency: `[nodes, nodes]`
    /// - output: `[nodes, out]`
    pub fn layer_pre_activation(
        &self,
        index: usize,
        h: Tensor<2>,
        adjacency: Tensor<2>,
    ) -> Tensor<2> {
        adjacency.matmul(h.matmul(self.weights[index].val())) + self.biases[index].val().unsqueeze()
    }

    /// The activation `phi` of layer `index` (the identity on an output layer).
    ///
    /// # Shapes
    /// - z: `[nodes, out]`, output: `[nodes, out]`
    pub fn layer_activation(&self, index: usize, z: Tensor<2>) -> Tensor<2> {
        match self.activations.get(index) {
            Some(act) => act.forward(z),
            None => z,
        }
    }

    /// Layer `index`: `phi(Â h W + b)` (no `phi` on an output layer).
    ///
    /// # Shapes
    /// - h: `[nodes, in]`, adjacency: `[nodes, nodes]`
    /// - output: `[nodes, out]`
    pub fn layer_forward(&self, index: usize, h: Tensor<2>, adjacency: Tensor<2>) -> Tensor<2> {
        let z = self.layer_pre_activation(index, h, adjacency);
        self.layer_activation(index, z)
    }

    /// Every node's output.
    ///
    /// # Shapes
    /// - features: `[nodes, in]`, adjacency: `[nodes, nodes]`
    /// - output: `[nodes, out]`
    pub fn forward_nodes(&self, features: Tensor<2>, adjacency: Tensor<2>) -> Tensor<2> {
        (0..self.depth()).fold(features, |h, l| self.layer_forward(l, h, adjacency.clone()))
    }
}

impl Network for Gcn {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let ModelInput::Graph {
            features,
            adjacency,
            rows,
        } = input
        else {
            return Err(NnError::BadConfig(
                "gcn reads a graph (ModelInput::Graph), not a batch of samples".into(),
            ));
        };
        Ok(self
            .forward_nodes(features.clone(), adjacency.clone())
            .select(0, rows.clone()))
    }
}

/// The dense symmetric-normalised adjacency with self-loops, `D̃^{-1/2} (A + I) D̃^{-1/2}`, of an
/// undirected graph given by its edges (either direction; repeats and self-loops count once).
///
/// # Shapes
/// - output: `[nodes * nodes]` row-major
pub fn normalized_adjacency(nodes: usize, edges: &[(usize, usize)]) -> Result<Vec<f32>, NnError> {
    let mut a = vec![0.0f32; nodes * nodes];
    for i in 0..nodes {
        a[i * nodes + i] = 1.0;
    }
    for &(i, j) in edges {
        if i >= nodes || j >= nodes {
            return Err(NnError::BadConfig(format!(
                "edge ({i}, {j}) names a node outside 0..{nodes}"
            )));
        }
        a[i * nodes + j] = 1.0;
        a[j * nodes + i] = 1.0;
    }
    let inv_sqrt: Vec<f32> = (0..nodes)
        .map(|i| 1.0 / a[i * nodes..(i + 1) * nodes].iter().sum::<f32>().sqrt())
        .collect();
    for i in 0..nodes {
        for j in 0..nodes {
            a[i * nodes + j] *= inv_sqrt[i] * inv_sqrt[j];
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, TensorData};

    use super::*;

    fn path_graph(device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(normalized_adjacency(3, &[(0, 1), (2, 1)]).unwrap(), [3, 3]),
            device,
        )
    }

    #[test]
    fn normalized_adjacency_of_a_three_node_path() {
        // path 0 - 1 - 2: A + I = [[1,1,0],[1,1,1],[0,1,1]], degrees (2, 3, 2);
        // Â_ij = 1 / sqrt(d_i d_j): 1/2, 1/sqrt(6) = 0.408248, 1/3
        let s6 = 1.0 / 6f32.sqrt();
        let want = [0.5, s6, 0.0, s6, 1.0 / 3.0, s6, 0.0, s6, 0.5];
        let got = normalized_adjacency(3, &[(0, 1), (1, 2), (1, 0), (2, 2)]).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        assert!(normalized_adjacency(3, &[(0, 3)]).is_err());
    }

    #[test]
    fn one_layer_propagates_then_adds_the_bias() {
        let device = Device::default();
        let mut model = GcnConfig {
            hidden: vec![],
            activation: relu(),
            output_layer: true,
        }
        .init(1, 1, &device)
        .unwrap();
        model.weights[0] = Param::from_tensor(Tensor::from_floats([[2.0]], &device));
        model.biases[0] = Param::from_tensor(Tensor::from_floats([1.0], &device));
        let input = ModelInput::Graph {
            features: Tensor::from_floats([[1.0], [2.0], [3.0]], &device),
            adjacency: path_graph(&device),
            rows: Tensor::<1, Int>::from_ints([2, 0, 1], &device),
        };
        // Â x with x = (1, 2, 3): 0.5 + 2/sqrt6 = 1.316497, 1/sqrt6 + 2/3 + 3/sqrt6 = 2.299660,
        // 2/sqrt6 + 1.5 = 2.316497; times W = 2, plus b = 1; rows asked in order (2, 0, 1)
        let out = model.forward_input(&input).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let want = [2.0 * 2.316497 + 1.0, 2.0 * 1.316497 + 1.0, 2.0 * 2.29966 + 1.0];
        for (g, w) in out.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{out:?}");
        }
        // a graph-free batch is refused
        assert!(model.forward_input(&ModelInput::Real(Tensor::ones([3, 1], &device))).is_err());
    }

    #[test]
    fn hidden_layers_apply_the_activation_and_shapes_follow_the_config() {
        let device = Device::default();
        let model = GcnConfig {
            hidden: vec![4, 3],
            activation: relu(),
            output_layer: true,
        }
        .init(5, 2, &device)
        .unwrap();
        assert_eq!(model.depth(), 3);
        let adjacency = path_graph(&device);
        let h = model.layer_forward(0, Tensor::ones([3, 5], &device), adjacency.clone());
        assert_eq!(h.dims(), [3, 4]);
        assert!(h.into_data().try_to_vec::<f32>().unwrap().iter().all(|&v| v >= 0.0));
        let out = model.forward_nodes(Tensor::ones([3, 5], &device), adjacency.clone());
        assert_eq!(out.dims(), [3, 2]);
        // without the output layer: two layers, both followed by the activation
        let model = GcnConfig {
            hidden: vec![4, 3],
            activation: relu(),
            output_layer: false,
        }
        .init(5, 2, &device)
        .unwrap();
        assert_eq!((model.depth(), model.layer_width(1)), (2, 3));
        let out = model.forward_nodes(Tensor::ones([3, 5], &device).neg(), adjacency);
        assert_eq!(out.dims(), [3, 3]);
        assert!(out.into_data().try_to_vec::<f32>().unwrap().iter().all(|&v| v >= 0.0));
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::default();
        let bad = |hidden: Vec<usize>, act: &str| GcnConfig {
            hidden,
            activation: act.into(),
            output_layer: true,
        };
        let headless = GcnConfig {
            hidden: vec![],
            activation: relu(),
            output_layer: false,
        };
        assert!(headless.validate().is_err());
        assert!(headless.init(3, 2, &device).is_err());
        assert!(bad(vec![0], "relu").validate().is_err());
        assert!(bad(vec![4], "no_such_activation").validate().is_err());
        assert!(bad(vec![4], "relu").init(0, 2, &device).is_err());
        assert!(bad(vec![4], "relu").init(3, 0, &device).is_err());
        let io = ModelIo {
            input: InputSpec::Real { shape: vec![3] },
            output: vec![2],
        };
        assert!(bad(vec![4], "relu").build(&io, &device).is_err());
    }
}
