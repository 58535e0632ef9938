//! Attention: the score normalisations chosen by name (softmax, LSSA, LSSAR), rotary positions,
//! the ways a query meets a key (separate `W_Q`, `W_K`; one collapsed `W_QK`; a symmetric form),
//! multi-head self-attention with a fused path and a slow row-by-row reference, and the
//! un-normalised strictly causal linear attention of BDH in parallel, chunked and recurrent forms.

mod linear_causal;
mod normalization;
mod rope;
mod self_attention;
mod similarity;

pub use linear_causal::{
    LinearAttentionState, linear_attention_chunked, linear_attention_parallel,
};
pub use normalization::ScoreNorm;
pub use rope::Rope;
pub use self_attention::{SelfAttention, SelfAttentionConfig};
pub use similarity::{QkKind, QueryKey};
