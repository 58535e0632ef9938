//! MNIST handwritten digits in the IDX format, plain or gzip-compressed.
//!
//! LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to Document Recognition"
//! (1998); file format from <http://yann.lecun.com/exdb/mnist/>. An IDX file is a big-endian header
//! (magic `0x00000803` then `count, rows, cols` for images; magic `0x00000801` then `count` for
//! labels) followed by one unsigned byte per pixel or label. Pixels are scaled `x = byte / 255`.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::gzip::read_maybe_gzip;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// MNIST has ten classes, the digits 0 to 9.
const MNIST_CLASSES: usize = 10;

/// Which of the two official MNIST splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistPart {
    /// 60,000 training images.
    Train,
    /// 10,000 test images (`t10k-*`).
    Test,
}

impl MnistPart {
    /// File stems (without `.gz`) of the images and labels of this part.
    pub fn file_stems(self) -> (&'static str, &'static str) {
        match self {
            MnistPart::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            MnistPart::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            MnistPart::Train => "mnist-train",
            MnistPart::Test => "mnist-test",
        }
    }
}

/// The contents of an IDX image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` bytes, image after image, row-major.
    pub pixels: Vec<u8>,
}

/// The big-endian `u32` at word `k` of `bytes`; the caller has checked the length.
fn be_u32(bytes: &[u8], k: usize) -> u32 {
    u32::from_be_bytes([
        bytes[4 * k],
        bytes[4 * k + 1],
        bytes[4 * k + 2],
        bytes[4 * k + 3],
    ])
}

/// Check the magic and header length, and that the body holds exactly `dims` bytes; returns the
/// header words after the magic.
fn parse_idx(
    bytes: &[u8],
    path: &Path,
    magic: u32,
    header_words: usize,
) -> Result<Vec<usize>, DataError> {
    if bytes.len() >= 4 && be_u32(bytes, 0) != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found: be_u32(bytes, 0),
        });
    }
    let header_len = 4 * (1 + header_words);
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_bytes: header_len as u64,
            found_bytes: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = (1..=header_words)
        .map(|k| be_u32(bytes, k) as usize)
        .collect();
    let expected = header_len as u64 + dims.iter().map(|&d| d as u64).product::<u64>();
    let found = bytes.len() as u64;
    if found < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_bytes: expected,
            found_bytes: found,
        });
    }
    if found > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected_bytes: expected,
            found_bytes: found,
        });
    }
    Ok(dims)
}

/// Read an IDX image file (magic `0x00000803`), gzip or plain.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let dims = parse_idx(&bytes, path, IDX_IMAGES_MAGIC, 3)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: bytes[16..].to_vec(),
    })
}

/// Read an IDX label file (magic `0x00000801`), gzip or plain.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gzip(path)?;
    parse_idx(&bytes, path, IDX_LABELS_MAGIC, 1)?;
    Ok(bytes[8..].to_vec())
}

/// `dir/stem.gz` if it exists, else `dir/stem` if it exists, else `NotFound` listing both.
fn find_idx_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let candidates = [dir.join(format!("{stem}.gz")), dir.join(stem)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| DataError::NotFound {
            what: format!("the MNIST file {stem}(.gz)"),
            searched: candidates.to_vec(),
        })
}

/// Load one MNIST split from `dir`, which holds the four standard files (each `.gz` or not).
///
/// Pixels become `f32` in `[0, 1]`, `sample_shape` is `[1, rows, cols]` (`[1, 28, 28]` for the
/// real files), `classes` is 10.
pub fn load_mnist(dir: &Path, part: MnistPart) -> Result<Dataset, DataError> {
    let (image_stem, label_stem) = part.file_stems();
    let images_path = find_idx_file(dir, image_stem)?;
    let labels_path = find_idx_file(dir, label_stem)?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images: images.count,
            n_labels: labels.len(),
        });
    }
    if let Some((sample, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= MNIST_CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path,
            sample,
            label: label as u32,
            classes: MNIST_CLASSES,
        });
    }
    let x = images.pixels.iter().map(|&p| p as f32 / 255.0).collect();
    Dataset::new(
        part.name(),
        x,
        vec![1, images.rows, images.cols],
        labels.iter().map(|&l| l as u32).collect(),
        MNIST_CLASSES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [IDX_IMAGES_MAGIC, count, rows, cols] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(pixels);
        b
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Two 2x3 images with pixel bytes 0, 5, 10, .., 50 and the last one 255; labels as given.
    fn write_tiny(dir: &Path, gzip: bool, labels: &[u8]) {
        let mut pixels: Vec<u8> = (0..12).map(|i| i * 5).collect();
        pixels[11] = 255;
        let imgs = idx_images(2, 2, 3, &pixels);
        let labs = idx_labels(labels);
        let (imgs, labs, ext) = if gzip {
            (gz(&imgs), gz(&labs), ".gz")
        } else {
            (imgs, labs, "")
        };
        std::fs::write(dir.join(format!("train-images-idx3-ubyte{ext}")), imgs).unwrap();
        std::fs::write(dir.join(format!("train-labels-idx1-ubyte{ext}")), labs).unwrap();
    }

    #[test]
    fn tiny_raw_and_gzip_files_parse_to_the_right_values() {
        for gzip in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_tiny(dir.path(), gzip, &[3, 7]);
            let d = load_mnist(dir.path(), MnistPart::Train).unwrap();
            assert_eq!(d.len(), 2);
            assert_eq!(d.sample_shape, vec![1, 2, 3]);
            assert_eq!(d.classes(), Some(10));
            assert_eq!(d.labels().unwrap(), &[3, 7]);
            // Byte 5 -> 5 / 255; byte 255 -> 1.
            assert_eq!(d.x[0], 0.0);
            assert_eq!(d.x[1], 5.0 / 255.0);
            assert_eq!(d.x[11], 1.0);
            assert_eq!(d.name, "mnist-train");
        }
    }

    #[test]
    fn read_idx_images_reports_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("imgs");
        std::fs::write(&p, idx_images(1, 2, 2, &[1, 2, 3, 4])).unwrap();
        let imgs = read_idx_images(&p).unwrap();
        assert_eq!((imgs.count, imgs.rows, imgs.cols), (1, 2, 2));
        assert_eq!(imgs.pixels, vec![1, 2, 3, 4]);
    }

    #[test]
    fn wrong_magic_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels-given-as-images");
        std::fs::write(&p, gz(&idx_labels(&[1, 2]))).unwrap();
        let e = read_idx_images(&p).unwrap_err();
        match &e {
            DataError::BadMagic {
                path,
                expected,
                found,
            } => {
                assert_eq!(path, &p);
                assert_eq!((*expected, *found), (0x803, 0x801));
            }
            other => panic!("expected BadMagic, got {other}"),
        }
        assert!(e.to_string().contains("labels-given-as-images"));
    }

    #[test]
    fn truncated_and_trailing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short");
        // Header promises 2 * 2 * 2 = 8 pixels after 16 header bytes = 24; only 5 pixels given.
        std::fs::write(&p, idx_images(2, 2, 2, &[0; 5])).unwrap();
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::Truncated {
                expected_bytes: 24,
                found_bytes: 21,
                ..
            })
        ));
        // A header cut short: 6 bytes of a 16-byte header.
        std::fs::write(&p, &idx_images(2, 2, 2, &[])[..6]).unwrap();
        assert!(matches!(
            read_idx_images(&p),
            Err(DataError::Truncated {
                expected_bytes: 16,
                found_bytes: 6,
                ..
            })
        ));
        std::fs::write(&p, &idx_labels(&[1, 2, 3])[..9]).unwrap();
        assert!(matches!(
            read_idx_labels(&p),
            Err(DataError::Truncated {
                expected_bytes: 11,
                found_bytes: 9,
                ..
            })
        ));
        let mut long = idx_labels(&[1, 2, 3]);
        long.push(0);
        std::fs::write(&p, long).unwrap();
        assert!(matches!(
            read_idx_labels(&p),
            Err(DataError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), true, &[3, 7, 1]);
        let e = load_mnist(dir.path(), MnistPart::Train).unwrap_err();
        assert!(
            matches!(
                &e,
                DataError::CountMismatch {
                    n_images: 2,
                    n_labels: 3,
                    ..
                }
            ),
            "{e}"
        );
        let m = e.to_string();
        assert!(
            m.contains("train-images-idx3-ubyte.gz") && m.contains("train-labels-idx1-ubyte.gz")
        );
    }

    #[test]
    fn label_eleven_is_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), false, &[3, 11]);
        let e = load_mnist(dir.path(), MnistPart::Train).unwrap_err();
        match &e {
            DataError::LabelOutOfRange {
                path,
                sample,
                label,
                classes,
            } => {
                assert!(path.ends_with("train-labels-idx1-ubyte"));
                assert_eq!((*sample, *label, *classes), (1, 11, 10));
            }
            other => panic!("expected LabelOutOfRange, got {other}"),
        }
    }

    #[test]
    fn missing_files_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_mnist(dir.path(), MnistPart::Test).unwrap_err();
        match e {
            DataError::NotFound { searched, .. } => {
                assert_eq!(searched.len(), 2);
                assert!(searched[0].ends_with("t10k-images-idx3-ubyte.gz"));
            }
            other => panic!("expected NotFound, got {other}"),
        }
    }

    #[test]
    fn real_mnist_when_present() {
        let Some(dir) = crate::testdata::require_shared("mnist") else {
            return;
        };
        let train = load_mnist(&dir, MnistPart::Train).unwrap();
        assert_eq!(train.len(), 60_000);
        assert_eq!(train.sample_shape, vec![1, 28, 28]);
        // Counts from ../shared/data/README.md.
        assert_eq!(
            train.class_counts(),
            vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert!(train.x.iter().all(|v| (0.0..=1.0).contains(v)));
        let test = load_mnist(&dir, MnistPart::Test).unwrap();
        assert_eq!(test.len(), 10_000);
        assert_eq!(
            test.class_counts(),
            vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
    }
}
