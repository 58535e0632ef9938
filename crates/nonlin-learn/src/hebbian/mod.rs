//! Hebbian associative memories (no gradients): the dense P-body network of Agliari et al.
//! (`dense`).

pub mod dense;
