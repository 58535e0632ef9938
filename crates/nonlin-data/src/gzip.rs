//! Reading files that may or may not be gzip-compressed.
//!
//! A gzip stream starts with the two bytes `1f 8b` (RFC 1952, section 2.3.1); files are detected by
//! those bytes, never by their extension, so a renamed or decompressed copy reads the same.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `bytes` start like a gzip stream.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The decompressed bytes when `bytes` are gzip, else `bytes` unchanged. `path` names the source in
/// errors.
pub(crate) fn decompress_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| DataError::io(path, e))?;
    Ok(out)
}

/// The contents of `path`, decompressed when it is gzip.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decompress_if_gzip(bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.gz"); // misleading extension on purpose
        let packed = dir.path().join("b.bin");
        std::fs::write(&plain, b"hello").unwrap();
        std::fs::write(&packed, gz(b"hello")).unwrap();
        assert_eq!(read_maybe_gzip(&plain).unwrap(), b"hello");
        assert_eq!(read_maybe_gzip(&packed).unwrap(), b"hello");
    }

    #[test]
    fn corrupt_gzip_and_missing_file_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        let mut bytes = gz(b"some text that compresses");
        bytes.truncate(bytes.len() - 6);
        std::fs::write(&bad, bytes).unwrap();
        let e = read_maybe_gzip(&bad).unwrap_err();
        assert!(
            matches!(&e, DataError::Io { path, .. } if path == &bad),
            "{e}"
        );
        let missing = dir.path().join("missing");
        let e = read_maybe_gzip(&missing).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
