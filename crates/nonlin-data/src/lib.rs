//! Data sets and seeded synthetic tasks for nonlin, in pure Rust (no tensor engine).
//!
//! Loaders return a [`Dataset`] (row-major `f32` samples, `u32` labels); [`split_indices`] and
//! [`Batches`] cut it reproducibly from a seed with the checkpointable [`Rng`]. Real data is found
//! by [`locate`] and fetched by [`fetch_files`]; the 8x8 digits ship inside the crate. Arrays and
//! tables come from `.npy` files ([`read_npy`], [`write_npy_f32`]) and numeric CSV files
//! ([`read_csv_matrix`]). [`smooth_regression`] is a seeded regression task, [`MarkovRecall`] a seeded
//! length-extrapolation task (order-2 Markov chain plus associative recall), and [`BigramModel`]
//! the next-token baseline a language model has to beat.

pub mod atomic;
mod batching;
mod bigram;
mod csv_table;
mod dataset;
mod digits;
mod error;
mod fetch;
mod function_fit;
mod gzip;
mod locate;
mod markov_recall;
mod mnist;
mod modular;
mod npy;
mod rng;
mod sbm;
mod smooth;
mod spirals;
mod split;
pub mod testdata;
mod text;

pub use batching::{Batches, epoch_batches};
pub use bigram::{BigramModel, bigram_cross_entropy};
pub use csv_table::{CsvMatrix, HeaderMode, parse_csv_matrix, read_csv_matrix};
pub use dataset::{Batch, Dataset, Targets};
pub use digits::{load_digits, parse_digits_csv};
pub use error::DataError;
pub use fetch::{MNIST_DEFAULT_URL, RemoteFile, fetch_files, mnist_files, sha256_file};
pub use function_fit::{FitFunction, bessel_j0, function_fit};
pub use locate::{
    DATA_ENV_VAR, DATA_SETS, DataSetSpec, DataSetStatus, Presence, RootSource, SearchRoot,
    available, locate, locate_in, search_roots,
};
pub use markov_recall::{MarkovRecall, MarkovRecallConfig};
pub use mnist::{
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IdxImages, MnistPart, load_mnist, read_idx_images,
    read_idx_labels,
};
pub use modular::modular_addition;
pub use npy::{NpyArray, NpyData, parse_npy, read_npy, write_npy_f32, write_npy_f64};
pub use rng::{Rng, RngState, derive_seed};
pub use sbm::{SbmConfig, SbmGraph};
pub use smooth::{SmoothFunction, smooth_regression};
pub use spirals::two_spirals;
pub use split::split_indices;
pub use text::{TextCorpus, Vocab};
