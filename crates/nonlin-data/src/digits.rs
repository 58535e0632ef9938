//! The UCI 8x8 handwritten digits, shipped inside the crate.
//!
//! Alpaydin and Kaynak, "Optical Recognition of Handwritten Digits" (UCI ML repository, 1998), the
//! 1,797-image copy that scikit-learn ships (CC BY 4.0). Each CSV line holds 64 pixel counts in
//! `0..=16` (a 4x4 block count of a 32x32 bitmap) and then the label; pixels are scaled
//! `x = count / 16`. The 57 KB gzip file is embedded, so the default job needs no download.

use std::path::Path;

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::gzip::decompress_if_gzip;

/// The gzip CSV, byte for byte the file `digits/digits.csv.gz` of the shared data folder.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../assets/digits.csv.gz");
/// How errors in the embedded file name it.
const EMBEDDED_PATH: &str = "nonlin-data/assets/digits.csv.gz (embedded)";

/// Pixels per image: 8 x 8.
const PIXELS: usize = 64;
/// Largest pixel count: each pixel counts set bits in a 4x4 block.
const MAX_PIXEL: f32 = 16.0;
/// The ten digits.
const CLASSES: usize = 10;

/// The 1,797 embedded digits: `sample_shape [1, 8, 8]`, pixels in `[0, 1]`, 10 classes.
pub fn load_digits() -> Result<Dataset, DataError> {
    let path = Path::new(EMBEDDED_PATH);
    let bytes = decompress_if_gzip(DIGITS_CSV_GZ.to_vec(), path)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::NotText {
        path: path.to_path_buf(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })?;
    parse_digits_csv(&text, path)
}

/// Parse digits CSV text: 64 pixel counts in `0..=16` then a label in `0..10` per line, no header.
/// `path_for_errors` names the source in error messages.
pub fn parse_digits_csv(text: &str, path_for_errors: &Path) -> Result<Dataset, DataError> {
    let path = || path_for_errors.to_path_buf();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != PIXELS + 1 {
            return Err(DataError::WrongColumnCount {
                path: path(),
                line: line_no,
                expected: PIXELS + 1,
                found: cells.len(),
            });
        }
        for (c, cell) in cells[..PIXELS].iter().enumerate() {
            let v: f32 = cell
                .parse()
                .ok()
                .filter(|v: &f32| (0.0..=MAX_PIXEL).contains(v))
                .ok_or_else(|| DataError::BadCell {
                    path: path(),
                    line: line_no,
                    column: c + 1,
                    cell: cell.to_string(),
                })?;
            x.push(v / MAX_PIXEL);
        }
        let label_cell = cells[PIXELS];
        let label: u32 = label_cell.parse().map_err(|_| DataError::BadCell {
            path: path(),
            line: line_no,
            column: PIXELS + 1,
            cell: label_cell.to_string(),
        })?;
        if label as usize >= CLASSES {
            return Err(DataError::LabelOutOfRange {
                path: path(),
                sample: i,
                label,
                classes: CLASSES,
            });
        }
        y.push(label);
    }
    Dataset::new("digits", x, vec![1, 8, 8], y, CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn row(pixel: &str, label: &str) -> String {
        let mut cells = vec![pixel.to_string(); PIXELS];
        cells.push(label.to_string());
        cells.join(",")
    }

    #[test]
    fn two_hand_made_rows() {
        let text = format!("{}\n{}\n", row("8", "3"), row("16", "0"));
        let d = parse_digits_csv(&text, Path::new("t.csv")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.sample_shape, vec![1, 8, 8]);
        assert_eq!(d.labels().unwrap(), &[3, 0]);
        // 8 / 16 = 0.5 and 16 / 16 = 1.
        assert_eq!(d.sample(0)[0], 0.5);
        assert_eq!(d.sample(1)[63], 1.0);
    }

    #[test]
    fn non_numeric_cell_is_a_bad_cell() {
        let mut cells = vec!["0"; PIXELS + 1];
        cells[4] = "x";
        let text = format!("{}\n{}\n", row("0", "1"), cells.join(","));
        let e = parse_digits_csv(&text, Path::new("d.csv")).unwrap_err();
        match &e {
            DataError::BadCell {
                path,
                line,
                column,
                cell,
            } => {
                assert_eq!(path, Path::new("d.csv"));
                assert_eq!((*line, *column, cell.as_str()), (2, 5, "x"));
            }
            other => panic!("expected BadCell, got {other}"),
        }
        // Out of 0..=16 is also a bad cell, and so is a fractional label.
        assert!(matches!(
            parse_digits_csv(&row("17", "1"), Path::new("d.csv")),
            Err(DataError::BadCell {
                line: 1,
                column: 1,
                ..
            })
        ));
        assert!(matches!(
            parse_digits_csv(&row("1", "1.5"), Path::new("d.csv")),
            Err(DataError::BadCell { column: 65, .. })
        ));
    }

    #[test]
    fn wrong_column_count() {
        let text = format!("{}\n{}\n", row("0", "1"), "1,2,3");
        assert!(matches!(
            parse_digits_csv(&text, Path::new("d.csv")),
            Err(DataError::WrongColumnCount {
                line: 2,
                expected: 65,
                found: 3,
                ..
            })
        ));
    }

    #[test]
    fn label_out_of_range() {
        let text = format!("{}\n{}\n{}\n", row("0", "1"), row("0", "9"), row("0", "10"));
        assert!(matches!(
            parse_digits_csv(&text, Path::new("d.csv")),
            Err(DataError::LabelOutOfRange {
                sample: 2,
                label: 10,
                classes: 10,
                ..
            })
        ));
    }

    #[test]
    fn embedded_file_is_the_shared_one() {
        // SHA-256 of digits/digits.csv.gz from ../shared/data/README.md.
        let hex: String = Sha256::digest(DIGITS_CSV_GZ)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
        );
    }

    #[test]
    fn embedded_digits() {
        let d = load_digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.sample_shape, vec![1, 8, 8]);
        assert_eq!(d.classes(), Some(10));
        // The first line is "0,0,5,13,9,1,0,0,..,0" with label 0: pixel 2 is 5 / 16.
        assert_eq!(d.labels().unwrap()[0], 0);
        assert_eq!(d.sample(0)[2], 5.0 / 16.0);
        assert_eq!(d.sample(0)[3], 13.0 / 16.0);
        // Per-class counts of the scikit-learn copy (count the 65th column of the CSV).
        let counts = d.class_counts();
        assert_eq!(
            counts,
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert_eq!(counts.iter().sum::<usize>(), 1797);
    }
}
