//! Atomic file writes for run folders: the workspace's one implementation lives in
//! `nonlin_data::atomic` (temporary file, fsync, rename, fsync of the folder).

pub use nonlin_data::atomic::write_atomic;
