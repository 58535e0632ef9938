//! The network of NoProp (Li, Teh, Pascanu, "NoProp: Training Neural Networks without
//! Back-propagation or Forward-propagation", arXiv 2503.24322): denoising blocks that each map
//! an image `x` and a noisy label embedding `z` to class logits, a label embedding `W_embed`
//! (`[classes, d]`) and an output layer on `z`. A block's denoised embedding is the convex
//! combination of the class embeddings its logits select,
//!
//! `u_hat_t(z, x) = softmax(block_t(x, z)) W_embed`.
//!
//! The NoProp rules (`noprop_dt`, `noprop_ct`, `noprop_fm`) train the blocks with local losses and
//! predict through a denoising chain. This model's own forward pass is the paper's backprop
//! baseline built from the same blocks: `z_0 = 0` (UNCONFIRMED: the paper does not say where the
//! chain starts), `z_t = (1 - a_t) z_{t-1} + a_t u_hat_t(z_{t-1}, x)` with `a_t = tanh(w_t)`
//! learnable (`w_t` starts at atanh(1/2), UNCONFIRMED), logits `Linear_out(z_T)`, trained end to
//! end by `rule = "backprop"`.
//!
//! A block (paper: "image path: conv embedding module + FC; z path: FC net with skip connections;
//! concat -> FC layers -> logits"; the exact widths of its Fig. 6 are UNCONFIRMED):
//! - image path, `image = "mlp"`: linear layers with the activation (`image_hidden`, the notes'
//!   CPU blocks: 128, 128); `image = "conv"`: the CNN of the NoProp reproduction
//!   DanielHalachev/NoProp ("as in the paper"): conv3x3 32 -> phi -> maxpool -> dropout, conv3x3
//!   64 -> phi -> dropout, conv3x3 128 -> phi -> maxpool -> dropout, global average pool, linear
//!   to `image_features`;
//! - z path: `h = phi(W_1 z)`, then `h + W_3 phi(W_2 h)` (one skip connection), width
//!   `label_hidden`;
//! - time path (blocks conditioned on a continuous time, NoProp-CT and -FM): a sinusoidal
//!   embedding of `t` in `[0, 1]` (`time_embedding` sines and cosines of `1000 t` at frequencies
//!   `10000^(-k / (n/2))`), then `phi(W t_emb)` of width `label_hidden`;
//! - the paths concatenated, then linear layers with the activation (`fuse_hidden`), then a
//!   linear layer to the class logits.
//!
//! Label embeddings: `one_hot` (d = classes, the identity, fixed), `learned` (d =
//! `embedding_dim`, orthogonal rows when d >= classes, trained), `prototype` (d = the image size,
//! trained; the NoProp rules set it to one training image per class before their first update).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{ModelInput, ModelIo, ModelSpec, Network};
use crate::NnError;
use crate::activation::{Activation, ActivationInit, ActivationSpec};

/// How class labels are embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelEmbedding {
    /// The identity (d = classes), not trained.
    #[default]
    OneHot,
    /// Trained, d = `embedding_dim`, orthogonal rows at the start when d >= classes.
    Learned,
    /// Trained, d = image size, set to one training image per class.
    Prototype,
}

/// The image path of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImagePath {
    /// Fully connected layers on the flat image.
    #[default]
    Mlp,
    /// Three convolutions, pooling, dropout, global average pool, linear.
    Conv,
}

/// Configuration of a [`NopropNet`] (`kind = "noprop_net"`). Defaults: the notes' CPU blocks
/// for the 8x8 digits (image 64 -> 128 -> 128, z -> 128, concat -> 128 -> logits), T = 10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopropNetConfig {
    /// T, the number of denoising blocks (NoProp-DT: 10; NoProp-CT and -FM use one block
    /// conditioned on time).
    #[serde(default = "ten")]
    pub blocks: usize,
    /// Sines and cosines of the time embedding; 0: blocks not conditioned on time (DT).
    #[serde(default)]
    pub time_embedding: usize,
    #[serde(default)]
    pub embedding: LabelEmbedding,
    /// d of a learned embedding (paper: 20).
    #[serde(default = "twenty")]
    pub embedding_dim: usize,
    #[serde(default)]
    pub image: ImagePath,
    /// Widths of the fully connected image path.
    #[serde(default = "hidden")]
    pub image_hidden: Vec<usize>,
    /// Channels of the three convolutions of the conv image path.
    #[serde(default = "conv_channels")]
    pub conv_channels: Vec<usize>,
    /// Output width of the conv image path.
    #[serde(default = "width")]
    pub image_features: usize,
    /// Dropout probability of the conv image path (training only).
    #[serde(default = "dropout")]
    pub dropout: f64,
    /// Width of the z path (and of the time path).
    #[serde(default = "width")]
    pub label_hidden: usize,
    /// Widths of the layers after the concatenation.
    #[serde(default = "fuse")]
    pub fuse_hidden: Vec<usize>,
    /// The activation everywhere in a block.
    #[serde(default = "relu")]
    pub activation: String,
}

fn ten() -> usize {
    10
}
fn twenty() -> usize {
    20
}
fn hidden() -> Vec<usize> {
    vec![128, 128]
}
fn conv_channels() -> Vec<usize> {
    vec![32, 64, 128]
}
fn width() -> usize {
    128
}
fn dropout() -> f64 {
    0.2
}
fn fuse() -> Vec<usize> {
    vec![128]
}
fn relu() -> String {
    "relu".into()
}

impl Default for NopropNetConfig {
    fn default() -> Self {
        Self {
            blocks: ten(),
            time_embedding: 0,
            embedding: LabelEmbedding::OneHot,
            embedding_dim: twenty(),
            image: ImagePath::Mlp,
            image_hidden: hidden(),
            conv_channels: conv_channels(),
            image_features: width(),
            dropout: dropout(),
            label_hidden: width(),
            fuse_hidden: fuse(),
            activation: relu(),
        }
    }
}

/// A stack of linear layers, each followed by the activation.
#[derive(Module, Debug)]
struct Dense {
    layers: Vec<Linear>,
    activations: Vec<Activation>,
}

impl Dense {
    fn new(input: usize, widths: &[usize], spec: &ActivationSpec, device: &Device) -> Result<Self, NnError> {
        let mut layers = Vec::new();
        let mut activations = Vec::new();
        let mut from = input;
        for &w in widths {
            layers.push(LinearConfig::new(from, w).init(device));
            activations.push(Activation::new(spec, &ActivationInit::features(device, w))?);
            from = w;
        }
        Ok(Self {
            layers,
            activations,
        })
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for (l, a) in self.layers.iter().zip(&self.activations) {
            h = a.forward(l.forward(h));
        }
        h
    }
}

/// The conv image path.
#[derive(Module, Debug)]
struct ConvPath {
    convs: Vec<Conv2d>,
    activations: Vec<Activation>,
    pool: MaxPool2d,
    dropout: Dropout,
    global: AdaptiveAvgPool2d,
    project: Linear,
    shape: [usize; 3],
}

impl ConvPath {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let [c, h, w] = self.shape;
        let mut y = x.reshape([batch, c, h, w]);
        let last = self.convs.len() - 1;
        for (i, (conv, act)) in self.convs.iter().zip(&self.activations).enumerate() {
            y = act.forward(conv.forward(y));
            if i == 0 || i == last {
                y = self.pool.forward(y);
            }
            y = self.dropout.forward(y);
        }
        let y = self.global.forward(y).flatten::<2>(1, 3);
        self.project.forward(y)
    }
}

/// The image path of a block.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a handful of blocks per model: the size does not matter
enum ImageEncoder {
    Mlp(Dense),
    Conv(ConvPath),
}

/// One denoising block: image path, z path with a skip connection, optional time path, fused.
#[derive(Module, Debug)]
pub struct DenoiseBlock {
    image: ImageEncoder,
    z_in: Linear,
    z_inner: Linear,
    z_out: Linear,
    z_activations: Vec<Activation>,
    time: Option<Linear>,
    time_activation: Option<Activation>,
    fuse: Dense,
    logits: Linear,
}

impl DenoiseBlock {
    /// # Shapes
    /// - x: `[batch, image features]`, z: `[batch, d]`, time: `[batch, time_embedding]`
    /// - returns: `[batch, classes]` logits
    fn forward(&self, x: Tensor<2>, z: Tensor<2>, time: Option<Tensor<2>>) -> Tensor<2> {
        let fx = match &self.image {
            ImageEncoder::Mlp(dense) => dense.forward(x),
            ImageEncoder::Conv(conv) => conv.forward(x),
        };
        let h = self.z_activations[0].forward(self.z_in.forward(z));
        let inner = self.z_activations[1].forward(self.z_inner.forward(h.clone()));
        let fz = h + self.z_out.forward(inner);
        let mut parts = vec![fx, fz];
        if let (Some(layer), Some(act), Some(t)) = (&self.time, &self.time_activation, time) {
            parts.push(act.forward(layer.forward(t)));
        }
        self.logits.forward(self.fuse.forward(Tensor::cat(parts, 1)))
    }
}

/// The NoProp network: denoising blocks, label embedding, output layer, and the mixing weights
/// of the backprop baseline.
#[derive(Module, Debug)]
pub struct NopropNet {
    blocks: Vec<DenoiseBlock>,
    /// `W_embed`, `[classes, d]`.
    embed: Param<Tensor<2>>,
    /// `Linear_out`: `z_T` to class logits.
    output: Linear,
    /// `w_t` of the baseline's `a_t = tanh(w_t)`, one per block.
    mix: Param<Tensor<1>>,
    /// Whether `W_embed` is a prototype embedding (set from training images by the rules).
    prototype: bool,
    time_embedding: usize,
    classes: usize,
    features: usize,
}

impl NopropNetConfig {
    fn check(&self) -> Result<(), NnError> {
        let bad = |reason: String| Err(NnError::BadConfig(format!("noprop_net {reason}")));
        if !(1..=1000).contains(&self.blocks) {
            return bad(format!("blocks must be in 1..=1000, got {}", self.blocks));
        }
        if self.time_embedding % 2 == 1 || self.time_embedding > 4096 {
            return bad(format!(
                "time_embedding must be an even number up to 4096, got {}",
                self.time_embedding
            ));
        }
        if self.embedding == LabelEmbedding::Learned && !(1..=65536).contains(&self.embedding_dim) {
            return bad(format!(
                "embedding_dim must be in 1..=65536, got {}",
                self.embedding_dim
            ));
        }
        for (name, widths) in [
            ("image_hidden", &self.image_hidden),
            ("fuse_hidden", &self.fuse_hidden),
        ] {
            if widths.contains(&0) {
                return bad(format!("{name} widths must be positive, got {widths:?}"));
            }
        }
        if self.image == ImagePath::Conv
            && (self.conv_channels.len() < 2 || self.conv_channels.contains(&0))
        {
            return bad(format!(
                "conv_channels must hold at least two positive numbers, got {:?}",
                self.conv_channels
            ));
        }
        if self.label_hidden == 0 || self.image_features == 0 {
            return bad("label_hidden and image_features must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        crate::activation::validate(&self.activation)
    }

    /// The embedding width `d` for images of `features` values and `classes` classes.
    pub fn embedding_width(&self, features: usize, classes: usize) -> usize {
        match self.embedding {
            LabelEmbedding::OneHot => classes,
            LabelEmbedding::Learned => self.embedding_dim,
            LabelEmbedding::Prototype => features,
        }
    }

    /// Builds the network for images shaped `shape` (`[features]` or `[channels, h, w]`) and
    /// `classes` classes.
    pub fn init(&self, shape: &[usize], classes: usize, device: &Device) -> Result<NopropNet, NnError> {
        self.check()?;
        let features: usize = shape.iter().product();
        if features == 0 || classes < 2 {
            return Err(NnError::BadConfig(format!(
                "noprop_net needs inputs and at least two classes, got {shape:?} and {classes}"
            )));
        }
        let spec: ActivationSpec = self.activation.parse()?;
        let d = self.embedding_width(features, classes);
        let blocks = (0..self.blocks)
            .map(|_| self.block(shape, features, d, classes, &spec, device))
            .collect::<Result<Vec<_>, _>>()?;
        let embed = match self.embedding {
            LabelEmbedding::OneHot => Param::from_tensor(Tensor::eye(classes, device)).set_require_grad(false),
            LabelEmbedding::Learned => Param::from_tensor(orthogonal_rows(classes, d, device)),
            // Replaced by training images before the first update; small random rows until then.
            LabelEmbedding::Prototype => Param::from_tensor(Tensor::random(
                [classes, d],
                Distribution::Normal(0.0, 1.0),
                device,
            )),
        };
        Ok(NopropNet {
            blocks,
            embed,
            output: LinearConfig::new(d, classes).init(device),
            mix: Param::from_tensor(Tensor::full([self.blocks], 0.5f64.atanh(), device)),
            prototype: self.embedding == LabelEmbedding::Prototype,
            time_embedding: self.time_embedding,
            classes,
            features,
        })
    }

    fn block(
        &self,
        shape: &[usize],
        features: usize,
        d: usize,
        classes: usize,
        spec: &ActivationSpec,
        device: &Device,
    ) -> Result<DenoiseBlock, NnError> {
        let (image, image_width) = match self.image {
            ImagePath::Mlp => (
                ImageEncoder::Mlp(Dense::new(features, &self.image_hidden, spec, device)?),
                self.image_hidden.last().copied().unwrap_or(features),
            ),
            ImagePath::Conv => {
                let [c, h, w]: [usize; 3] = shape.try_into().map_err(|_| {
                    NnError::BadConfig(format!(
                        "noprop_net image = \"conv\" needs images [channels, height, width], got {shape:?}"
                    ))
                })?;
                if h < 4 || w < 4 {
                    return Err(NnError::BadConfig(format!(
                        "noprop_net image = \"conv\" pools twice: {h}x{w} is too small"
                    )));
                }
                let mut convs = Vec::new();
                let mut activations = Vec::new();
                let mut from = c;
                for &out in &self.conv_channels {
                    convs.push(
                        Conv2dConfig::new([from, out], [3, 3])
                            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                            .init(device),
                    );
                    activations.push(Activation::new(spec, &ActivationInit::channels(device, out, 2))?);
                    from = out;
                }
                (
                    ImageEncoder::Conv(ConvPath {
                        convs,
                        activations,
                        pool: MaxPool2dConfig::new([2, 2]).init(),
                        dropout: DropoutConfig::new(self.dropout).init(),
                        global: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
                        project: LinearConfig::new(from, self.image_features).init(device),
                        shape: [c, h, w],
                    }),
                    self.image_features,
                )
            }
        };
        let lh = self.label_hidden;
        let act = |w| Activation::new(spec, &ActivationInit::features(device, w));
        let timed = self.time_embedding > 0;
        let fuse_in = image_width + lh + if timed { lh } else { 0 };
        Ok(DenoiseBlock {
            image,
            z_in: LinearConfig::new(d, lh).init(device),
            z_inner: LinearConfig::new(lh, lh).init(device),
            z_out: LinearConfig::new(lh, lh).init(device),
            z_activations: vec![act(lh)?, act(lh)?],
            time: timed.then(|| LinearConfig::new(self.time_embedding, lh).init(device)),
            time_activation: if timed { Some(act(lh)?) } else { None },
            fuse: Dense::new(fuse_in, &self.fuse_hidden, spec, device)?,
            logits: LinearConfig::new(self.fuse_hidden.last().copied().unwrap_or(fuse_in), classes)
                .init(device),
        })
    }
}

/// `[rows, cols]` with orthonormal rows when rows <= cols (Gram-Schmidt on Gaussian rows), else
/// Gaussian rows scaled to unit norm.
fn orthogonal_rows(rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let g: Vec<f32> = Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, 1.0), device)
        .into_data()
        .try_to_vec()
        .expect("f32 data");
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut v: Vec<f64> = g[r * cols..(r + 1) * cols].iter().map(|&x| x as f64).collect();
        if rows <= cols {
            for u in &out {
                let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
        out.push(v.into_iter().map(|a| a / norm).collect());
    }
    let flat: Vec<f32> = out.into_iter().flatten().map(|a| a as f32).collect();
    Tensor::from_data(burn::tensor::TensorData::new(flat, [rows, cols]), device)
}

/// The sinusoidal embedding of times `t` in `[0, 1]`: `n / 2` sines then `n / 2` cosines of
/// `1000 t * 10000^(-k / (n / 2))`.
///
/// # Shapes
/// - t: `[batch]`
/// - returns: `[batch, n]`
pub fn time_embedding(t: Tensor<1>, n: usize) -> Tensor<2> {
    let half = n / 2;
    let device = t.device();
    let freqs: Vec<f32> = (0..half)
        .map(|k| (-(10000f64.ln()) * k as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device).unsqueeze_dim::<2>(0);
    let angles = t.mul_scalar(1000.0).unsqueeze_dim::<2>(1) * freqs;
    Tensor::cat(vec![angles.clone().sin(), angles.cos()], 1)
}

impl NopropNet {
    /// Number of denoising blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Values per image.
    pub fn input_features(&self) -> usize {
        self.features
    }

    /// Whether `W_embed` is a prototype embedding, to be set from training images.
    pub fn has_prototype_embedding(&self) -> bool {
        self.prototype
    }

    /// Sines and cosines of the time embedding (0: blocks without time).
    pub fn time_embedding_width(&self) -> usize {
        self.time_embedding
    }

    /// `W_embed`, `[classes, d]`.
    pub fn embedding(&self) -> Tensor<2> {
        self.embed.val()
    }

    /// The same network with `W_embed` replaced (prototype initialisation).
    pub fn with_embedding(mut self, embedding: Tensor<2>) -> Self {
        let grad = self.embed.val().is_require_grad();
        self.embed = self.embed.map(|_| embedding.set_require_grad(grad));
        self
    }

    /// Block `t`'s class logits for images `x`, embeddings `z` and (for time-conditioned blocks)
    /// times `time` in [0, 1].
    ///
    /// # Shapes
    /// - x: `[batch, features]`, z: `[batch, d]`, time: `[batch]`
    /// - returns: `[batch, classes]`
    pub fn block_logits(&self, t: usize, x: Tensor<2>, z: Tensor<2>, time: Option<Tensor<1>>) -> Tensor<2> {
        let time = time
            .filter(|_| self.time_embedding > 0)
            .map(|t| time_embedding(t, self.time_embedding));
        self.blocks[t].forward(x, z, time)
    }

    /// The denoised embedding `softmax(logits) W_embed` of block `t`.
    ///
    /// # Shapes
    /// - returns: `[batch, d]`
    pub fn denoise(&self, t: usize, x: Tensor<2>, z: Tensor<2>, time: Option<Tensor<1>>) -> Tensor<2> {
        softmax(self.block_logits(t, x, z, time), 1).matmul(self.embedding())
    }

    /// `Linear_out(z)`: class logits from an embedding.
    pub fn output_logits(&self, z: Tensor<2>) -> Tensor<2> {
        self.output.forward(z)
    }

    /// The blocks as a module (for gradients of one block).
    pub fn block(&self, t: usize) -> &DenoiseBlock {
        &self.blocks[t]
    }

    /// The output layer.
    pub fn output_layer(&self) -> &Linear {
        &self.output
    }

    /// The backprop baseline: the blocks chained from `z_0 = 0` with learnable mixing.
    ///
    /// # Shapes
    /// - x: `[batch, features]`
    /// - returns: `[batch, classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let d = self.embed.val().dims()[1];
        let mut z = Tensor::<2>::zeros([batch, d], &x.device());
        let mix = self.mix.val().tanh();
        for t in 0..self.blocks.len() {
            let a = mix.clone().narrow(0, t, 1).unsqueeze_dim::<2>(0);
            let time = (self.time_embedding > 0)
                .then(|| Tensor::<1>::full([batch], (t + 1) as f64 / self.blocks.len() as f64, &x.device()));
            let u = self.denoise(t, x.clone(), z.clone(), time);
            z = z.clone() - z * a.clone() + u * a;
        }
        self.output_logits(z)
    }
}

impl ModelSpec for NopropNetConfig {
    type Model = NopropNet;

    fn validate(&self) -> Result<(), NnError> {
        self.check()
    }

    fn build(&self, io: &ModelIo, device: &Device) -> Result<NopropNet, NnError> {
        let shape = io.real_input("noprop_net")?.to_vec();
        self.init(&shape, io.output_width(), device)
    }
}

impl Network for NopropNet {
    fn forward_input(&self, input: &ModelInput) -> Result<Tensor<2>, NnError> {
        let x = input.real("noprop_net")?;
        let [batch, features] = x.dims();
        if features != self.features {
            return Err(NnError::Shape {
                block: "noprop_net",
                expected: format!("[batch, {}]", self.features),
                found: vec![batch, features],
            });
        }
        Ok(self.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_every_variant() {
        let device = Device::flex();
        let x = Tensor::<2>::ones([3, 64], &device);
        for (config, d) in [
            (NopropNetConfig::default(), 10),
            (
                NopropNetConfig {
                    embedding: LabelEmbedding::Learned,
                    blocks: 1,
                    time_embedding: 16,
                    ..NopropNetConfig::default()
                },
                20,
            ),
            (
                NopropNetConfig {
                    embedding: LabelEmbedding::Prototype,
                    image: ImagePath::Conv,
                    conv_channels: vec![4, 6, 8],
                    blocks: 2,
                    ..NopropNetConfig::default()
                },
                64,
            ),
        ] {
            let net = config.init(&[1, 8, 8], 10, &device).unwrap();
            assert_eq!(net.embedding().dims(), [10, d]);
            let z = Tensor::<2>::zeros([3, d], &device);
            let time = Tensor::<1>::full([3], 0.5, &device);
            assert_eq!(net.block_logits(0, x.clone(), z.clone(), Some(time.clone())).dims(), [3, 10]);
            // the denoised embedding is a convex combination of the class embeddings: with the
            // one-hot embedding its entries are probabilities summing to 1
            let u = net.denoise(0, x.clone(), z, Some(time));
            assert_eq!(u.dims(), [3, d]);
            if d == 10 {
                let sums: Vec<f32> = u.sum_dim(1).into_data().try_to_vec().unwrap();
                assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
            }
            assert_eq!(net.forward_input(&ModelInput::Real(x.clone())).unwrap().dims(), [3, 10]);
        }
    }

    #[test]
    fn learned_embedding_rows_are_orthonormal() {
        let device = Device::flex();
        let e = orthogonal_rows(10, 20, &device);
        let gram: Vec<f32> = e.clone().matmul(e.transpose()).into_data().try_to_vec().unwrap();
        for i in 0..10 {
            for j in 0..10 {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((gram[i * 10 + j] - expected).abs() < 1e-5, "{i} {j}: {}", gram[i * 10 + j]);
            }
        }
    }

    /// The time embedding at t = 0: sines 0, cosines 1; at t = 0.001 the first pair is
    /// (sin 1, cos 1) = (0.841471, 0.540302).
    #[test]
    fn time_embedding_by_hand() {
        let device = Device::flex();
        let e: Vec<f32> = time_embedding(Tensor::from_floats([0.0, 0.001], &device), 4)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(&e[..4], &[0.0, 0.0, 1.0, 1.0]);
        // frequencies 1 and 10000^(-1/2) = 0.01: angles 1 and 0.01
        let expected = [1f32.sin(), 0.01f32.sin(), 1f32.cos(), 0.01f32.cos()];
        for (a, b) in e[4..].iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{e:?}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let d = NopropNetConfig::default;
        let bad = |c: NopropNetConfig| c.validate().is_err();
        assert!(bad(NopropNetConfig { blocks: 0, ..d() }));
        assert!(bad(NopropNetConfig { blocks: 100_000, ..d() }));
        assert!(bad(NopropNetConfig { time_embedding: 3, ..d() }));
        assert!(bad(NopropNetConfig { embedding: LabelEmbedding::Learned, embedding_dim: 0, ..d() }));
        assert!(bad(NopropNetConfig { image_hidden: vec![0], ..d() }));
        assert!(bad(NopropNetConfig { fuse_hidden: vec![4, 0], ..d() }));
        assert!(bad(NopropNetConfig { image: ImagePath::Conv, conv_channels: vec![4], ..d() }));
        assert!(bad(NopropNetConfig { label_hidden: 0, ..d() }));
        assert!(bad(NopropNetConfig { dropout: 1.0, ..d() }));
        assert!(bad(NopropNetConfig { dropout: f64::NAN, ..d() }));
        assert!(bad(NopropNetConfig { activation: "nope".into(), ..d() }));
        let device = Device::flex();
        let conv = NopropNetConfig { image: ImagePath::Conv, ..d() };
        assert!(conv.init(&[64], 10, &device).is_err());
        assert!(d().init(&[64], 1, &device).is_err());
    }
}
