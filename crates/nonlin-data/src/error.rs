//! The one error type of `nonlin-data`.
//!
//! Every variant names the file (or data set, or URL) it is about and says what was expected, so a
//! message printed by the command line is enough to fix the problem without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong while locating, fetching, reading or slicing a data set.
/// The dtypes `parse_npy` reads, as they appear in a `.npy` header's `descr` (the error for any
/// other lists them).
pub(crate) const READABLE_DTYPES: &[&str] = &["<f4", "<f8", "<i4", "<i8", "|u1", "<u4", "<u8"];

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading, writing or decompressing a file failed at the operating-system level.
    #[error("Could not read or write {}: {source}.", path.display())]
    Io {
        /// The file or folder being accessed.
        path: PathBuf,
        /// What the operating system (or the gzip decoder) reported.
        #[source]
        source: std::io::Error,
    },

    /// A binary file does not start with the magic number of the expected format.
    #[error(
        "{} is not the expected kind of file: its magic number is {found:#010x}, expected {expected:#010x}.",
        path.display()
    )]
    BadMagic {
        /// The file read.
        path: PathBuf,
        /// The magic number the format requires.
        expected: u32,
        /// The first four bytes of the file, big-endian.
        found: u32,
    },

    /// A file holds fewer bytes than its header (or the format) promises.
    #[error(
        "{} is truncated: it should hold {expected_bytes} bytes but holds only {found_bytes}.",
        path.display()
    )]
    Truncated {
        /// The file read (after decompression, if it was gzip).
        path: PathBuf,
        /// Bytes the header promises.
        expected_bytes: u64,
        /// Bytes actually present.
        found_bytes: u64,
    },

    /// A file holds more bytes than its header promises (usually a wrong or concatenated file).
    #[error(
        "{} has trailing data: its header promises {expected_bytes} bytes but it holds {found_bytes}.",
        path.display()
    )]
    TrailingBytes {
        /// The file read (after decompression, if it was gzip).
        path: PathBuf,
        /// Bytes the header promises.
        expected_bytes: u64,
        /// Bytes actually present.
        found_bytes: u64,
    },

    /// An image file and its label file disagree on the number of samples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels; they must be the same split.",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Images in the image file.
        n_images: usize,
        /// Labels in the label file.
        n_labels: usize,
    },

    /// A CSV cell is not a number in the allowed range.
    #[error(
        "{} line {line}, column {column}: the cell {cell:?} is not a valid value.",
        path.display()
    )]
    BadCell {
        /// The CSV file.
        path: PathBuf,
        /// Line number, counting from 1.
        line: usize,
        /// Column number, counting from 1.
        column: usize,
        /// The offending cell, as written.
        cell: String,
    },

    /// A CSV line has the wrong number of cells.
    #[error(
        "{} line {line} has {found} columns, expected {expected}.",
        path.display()
    )]
    WrongColumnCount {
        /// The CSV file.
        path: PathBuf,
        /// Line number, counting from 1.
        line: usize,
        /// Columns every line must have.
        expected: usize,
        /// Columns this line has.
        found: usize,
    },

    /// A CSV cell is empty (two commas in a row, or a trailing comma).
    #[error(
        "{} line {line}, column {column}: the cell is empty; every cell must hold a number (write nan for a missing value).",
        path.display()
    )]
    EmptyCell {
        /// The CSV file.
        path: PathBuf,
        /// Line number, counting from 1.
        line: usize,
        /// Column number, counting from 1.
        column: usize,
    },

    /// A CSV file has a blank line before its last row.
    #[error(
        "{} line {line} is blank; blank lines are allowed only after the last row.",
        path.display()
    )]
    BlankLine {
        /// The CSV file.
        path: PathBuf,
        /// Line number, counting from 1.
        line: usize,
    },

    /// A table file holds no data rows (it is empty, blank, or only a header).
    #[error("{} holds no data rows.", path.display())]
    NoRows {
        /// The file read.
        path: PathBuf,
    },

    /// A file does not start with the `.npy` magic string `\x93NUMPY`.
    #[error(
        "{} is not a .npy file: it starts with {found}, expected the magic string \\x93NUMPY.",
        path.display()
    )]
    NpyMagic {
        /// The file read.
        path: PathBuf,
        /// Its first bytes (up to six), escaped like a Python byte string.
        found: String,
    },

    /// A `.npy` file has a format version this crate does not read.
    #[error(
        "{} uses .npy format version {major}.{minor}; versions 1.0, 2.0 and 3.0 are supported.",
        path.display()
    )]
    NpyVersion {
        /// The file read.
        path: PathBuf,
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },

    /// The header of a `.npy` file is not the Python dict literal the format prescribes.
    #[error("{} has an unreadable .npy header ({problem}); the header is {header:?}.", path.display())]
    NpyHeader {
        /// The file read.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// The header text (trailing padding removed).
        header: String,
    },

    /// The header of a `.npy` file lacks one of `descr`, `fortran_order` and `shape`.
    #[error(
        "The .npy header of {} has no {key:?} entry; it must have 'descr', 'fortran_order' and 'shape'.",
        path.display()
    )]
    NpyMissingKey {
        /// The file read.
        path: PathBuf,
        /// The missing key.
        key: String,
    },

    /// A `.npy` file holds values of a type this crate does not read.
    #[error(
        "{} holds dtype {dtype}, which is not supported; supported dtypes are {}.",
        path.display(),
        READABLE_DTYPES.join(", ")
    )]
    NpyDtype {
        /// The file read.
        path: PathBuf,
        /// The `descr` of its header, as written.
        dtype: String,
    },

    /// A `.npy` file stores big-endian values.
    #[error(
        "{} stores big-endian values (dtype {dtype}); only little-endian is supported. Re-save it with \
         np.save(path, a.astype(a.dtype.newbyteorder('<'))).",
        path.display()
    )]
    NpyBigEndian {
        /// The file read.
        path: PathBuf,
        /// The `descr` of its header, as written.
        dtype: String,
    },

    /// A `.npy` file stores its array in Fortran (column-major) order.
    #[error(
        "{} stores its array in Fortran (column-major) order; only C order is supported. Re-save it \
         with np.save(path, np.ascontiguousarray(a)).",
        path.display()
    )]
    NpyFortranOrder {
        /// The file read.
        path: PathBuf,
    },

    /// An unsigned 64-bit value of a `.npy` file does not fit in the `i64` it is widened to.
    #[error(
        "{}: element {index} (flat, counting from 0) is {value}, which does not fit in an i64.",
        path.display()
    )]
    NpyIntegerOverflow {
        /// The file read.
        path: PathBuf,
        /// Flat index of the element in C order.
        index: usize,
        /// The value found.
        value: u64,
    },

    /// A label is not below the number of classes.
    #[error(
        "{}: the label of sample {sample} (counting from 0) is {label}, but there are only {classes} classes.",
        path.display()
    )]
    LabelOutOfRange {
        /// The file holding the labels.
        path: PathBuf,
        /// Index of the sample, counting from 0 (line `sample + 1` of a CSV file).
        sample: usize,
        /// The label found.
        label: u32,
        /// Labels must be below this.
        classes: usize,
    },

    /// A data set holds NaN or an infinity.
    #[error("Data set {name} holds a non-finite value (NaN or infinity) at flat index {index}.")]
    NonFinite {
        /// The data set.
        name: String,
        /// Flat index into its `x`.
        index: usize,
    },

    /// A data set's arrays do not fit together (e.g. `x.len() != len * sample_len`).
    #[error("Data set {name} is inconsistent: {what}.")]
    Inconsistent {
        /// The data set.
        name: String,
        /// What does not fit.
        what: String,
    },

    /// A data set was looked for in every configured place and found in none.
    #[error(
        "Could not find {what}; searched {}. Pass --data-dir, set NONLIN_DATA, or run `nonlin data fetch`.",
        searched_list(searched)
    )]
    NotFound {
        /// What was looked for.
        what: String,
        /// Every place searched, in order.
        searched: Vec<PathBuf>,
    },

    /// A download failed (connection, timeout, HTTP status).
    #[error("Downloading {url} failed: {message}.")]
    Download {
        /// The full URL.
        url: String,
        /// What went wrong.
        message: String,
    },

    /// Downloaded (or present) bytes do not have the expected SHA-256.
    #[error(
        "{} has SHA-256 {found}, expected {expected}; the file was not kept.",
        path.display()
    )]
    HashMismatch {
        /// The file the bytes were meant for.
        path: PathBuf,
        /// Expected hex digest.
        expected: String,
        /// Hex digest of the bytes received.
        found: String,
    },

    /// A text file is not valid UTF-8.
    #[error(
        "{} is not UTF-8 text: the first invalid byte is at offset {valid_up_to}.",
        path.display()
    )]
    NotText {
        /// The file read (after decompression).
        path: PathBuf,
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },

    /// A character to encode is not in the vocabulary.
    #[error(
        "The character {ch:?} at position {position} is not in the vocabulary of {vocab_len} symbols."
    )]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position in the string, in characters, counting from 0.
        position: usize,
        /// Symbols in the vocabulary.
        vocab_len: usize,
    },

    /// A token id to decode is not below the vocabulary size.
    #[error("Token id {id} at position {position} is not below the vocabulary size {vocab_len}.")]
    UnknownToken {
        /// The id.
        id: u32,
        /// Its position in the sequence, counting from 0.
        position: usize,
        /// Symbols in the vocabulary.
        vocab_len: usize,
    },

    /// An argument is out of its allowed range (split fractions, batch size, modulus, ...).
    #[error("Invalid argument: {what}.")]
    Invalid {
        /// Which argument, its value, and what is allowed.
        what: String,
    },
}

/// `a, b and c` for the `NotFound` message; `nowhere (no place configured)` when empty.
fn searched_list(searched: &[PathBuf]) -> String {
    if searched.is_empty() {
        return "nowhere (no place configured)".to_string();
    }
    searched
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl DataError {
    /// Shorthand for [`DataError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`DataError::Invalid`].
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        DataError::Invalid { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_numbers() {
        let e = DataError::BadMagic {
            path: PathBuf::from("/d/train-images-idx3-ubyte"),
            expected: 0x803,
            found: 0x801,
        };
        let m = e.to_string();
        assert!(m.contains("/d/train-images-idx3-ubyte"), "{m}");
        assert!(m.contains("0x00000803") && m.contains("0x00000801"), "{m}");

        let e = DataError::CountMismatch {
            images: "a.idx".into(),
            labels: "b.idx".into(),
            n_images: 3,
            n_labels: 2,
        };
        let m = e.to_string();
        assert!(
            m.contains("a.idx holds 3 images") && m.contains("b.idx holds 2 labels"),
            "{m}"
        );
    }

    #[test]
    fn not_found_lists_every_place() {
        let e = DataError::NotFound {
            what: "data set mnist".into(),
            searched: vec!["/x".into(), "/y".into()],
        };
        let m = e.to_string();
        assert!(m.contains("/x, /y"), "{m}");
        let e = DataError::NotFound {
            what: "data set mnist".into(),
            searched: vec![],
        };
        assert!(e.to_string().contains("nowhere"));
    }
}
