//! Hebbian associative memories (no gradients): the dense P-body network of Agliari et al.
//! (`dense`) and the multitasking network on diluted patterns (`multitask`).

pub mod dense;
pub mod multitask;
