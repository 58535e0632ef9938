//! Numeric tables read from CSV files: an optional header row, then rows of numbers.
//!
//! Cells are separated by commas, one row per line, and every row has as many cells as the first.
//! Quoting is not interpreted (a quoted cell holding a comma is not supported), except that one
//! pair of double quotes around a header name is removed. Cells are trimmed and parsed as `f64`
//! (`3`, `-2.5e-3`, `nan`, `inf`): NaN is a value here, for the caller to reject with its own
//! error, but an empty cell is an error. Blank lines after the last row are ignored. A UTF-8 byte
//! order mark is skipped, and gzip input is detected by its first bytes.

use std::path::Path;

use crate::error::DataError;
use crate::gzip::read_maybe_gzip;

/// Whether the first row of a CSV file names the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderMode {
    /// The first row is a header when any of its non-empty cells is not a number (so `,a,b` is a
    /// header and `1,,3` a data row with an empty cell). A header whose names all read as numbers
    /// (`1,2,3`) is taken for data: use [`HeaderMode::Yes`] for such files.
    #[default]
    Auto,
    /// The first row is a header.
    Yes,
    /// There is no header; the first row is data.
    No,
}

/// A table of numbers read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvMatrix {
    /// The column names of the header row, when the file has one.
    pub columns: Option<Vec<String>>,
    /// Number of data rows (at least 1).
    pub rows: usize,
    /// Number of columns (at least 1).
    pub cols: usize,
    /// The cells row by row: `values[r * cols + c]` is row `r`, column `c`, counting from 0.
    pub values: Vec<f64>,
}

impl CsvMatrix {
    /// The cells of data row `r` (counting from 0, header excluded).
    ///
    /// # Panics
    /// If `r >= rows`, like indexing a slice.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }
}

/// Read a numeric CSV file, gzip-compressed or plain; see the module documentation for the format.
pub fn read_csv_matrix(path: &Path, header: HeaderMode) -> Result<CsvMatrix, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::NotText {
        path: path.to_path_buf(),
        valid_up_to: e.utf8_error().valid_up_to(),
    })?;
    parse_csv_matrix(&text, path, header)
}

/// Parse numeric CSV text; `path_for_errors` names the source in error messages.
pub fn parse_csv_matrix(
    text: &str,
    path_for_errors: &Path,
    header: HeaderMode,
) -> Result<CsvMatrix, DataError> {
    let path = || path_for_errors.to_path_buf();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let Some(last) = lines.iter().rposition(|line| !line.trim().is_empty()) else {
        return Err(DataError::NoRows { path: path() });
    };
    let lines = &lines[..=last];
    let first: Vec<&str> = lines[0].split(',').map(str::trim).collect();
    let has_header = match header {
        HeaderMode::Yes => true,
        HeaderMode::No => false,
        HeaderMode::Auto => first
            .iter()
            .any(|cell| !cell.is_empty() && parse_number(cell).is_none()),
    };
    let cols = first.len();
    let columns = has_header.then(|| first.iter().map(|name| unquote(name)).collect());
    let first_data_line = usize::from(has_header);

    let mut values = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(first_data_line) {
        let line_no = i + 1;
        if line.trim().is_empty() {
            return Err(DataError::BlankLine {
                path: path(),
                line: line_no,
            });
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != cols {
            return Err(DataError::WrongColumnCount {
                path: path(),
                line: line_no,
                expected: cols,
                found: cells.len(),
            });
        }
        for (c, cell) in cells.iter().enumerate() {
            if cell.is_empty() {
                return Err(DataError::EmptyCell {
                    path: path(),
                    line: line_no,
                    column: c + 1,
                });
            }
            let value = parse_number(cell).ok_or_else(|| DataError::BadCell {
                path: path(),
                line: line_no,
                column: c + 1,
                cell: cell.to_string(),
            })?;
            values.push(value);
        }
    }
    let rows = values.len() / cols;
    if rows == 0 {
        return Err(DataError::NoRows { path: path() });
    }
    Ok(CsvMatrix {
        columns,
        rows,
        cols,
        values,
    })
}

/// A trimmed cell as a number: Rust's `f64` syntax, which also reads `nan`, `NaN`, `inf` and
/// `infinity` in any case.
fn parse_number(cell: &str) -> Option<f64> {
    cell.parse().ok()
}

/// A header name without one pair of surrounding double quotes.
fn unquote(name: &str) -> String {
    name.strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, header: HeaderMode) -> Result<CsvMatrix, DataError> {
        parse_csv_matrix(text, Path::new("t.csv"), header)
    }

    #[test]
    fn header_is_detected_and_rows_are_row_major() {
        let m = parse("a,b\n1,2\n3.5,-4e1\n", HeaderMode::Auto).unwrap();
        assert_eq!(m.columns, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!((m.rows, m.cols), (2, 2));
        // -4e1 = -40.
        assert_eq!(m.values, vec![1.0, 2.0, 3.5, -40.0]);
        assert_eq!(m.row(1), &[3.5, -40.0]);
        // One name that is not a number is enough to make a header; names may be empty (the index
        // column of a pandas file).
        let m = parse("x,2\n1,2\n", HeaderMode::Auto).unwrap();
        assert_eq!(m.columns, Some(vec!["x".to_string(), "2".to_string()]));
        assert_eq!(m.rows, 1);
        let m = parse(",x\n0,2\n", HeaderMode::Auto).unwrap();
        assert_eq!(m.columns, Some(vec![String::new(), "x".to_string()]));
    }

    #[test]
    fn numeric_first_row_is_data_unless_told() {
        let m = parse("1,2\n3,4\n", HeaderMode::Auto).unwrap();
        assert_eq!((m.columns, m.rows), (None, 2));
        let m = parse("1,2\n3,4\n", HeaderMode::Yes).unwrap();
        assert_eq!(m.columns, Some(vec!["1".to_string(), "2".to_string()]));
        assert_eq!((m.rows, m.values), (1, vec![3.0, 4.0]));
        // Told there is no header, a name is a bad cell.
        assert!(matches!(
            parse("a,b\n1,2\n", HeaderMode::No),
            Err(DataError::BadCell {
                line: 1,
                column: 1,
                ..
            })
        ));
    }

    #[test]
    fn nan_is_a_value_so_a_nan_row_is_data() {
        let m = parse("nan,NaN\n1,inf\n", HeaderMode::Auto).unwrap();
        assert_eq!((m.columns, m.rows), (None, 2));
        assert!(m.values[0].is_nan() && m.values[1].is_nan());
        assert_eq!(m.values[3], f64::INFINITY);
    }

    #[test]
    fn whitespace_crlf_bom_quotes_and_trailing_blank_lines() {
        let text = "\u{feff} \"a\" , b\r\n 1 , 2 \r\n\r\n  \n";
        let m = parse(text, HeaderMode::Auto).unwrap();
        assert_eq!(m.columns, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!((m.rows, m.values), (1, vec![1.0, 2.0]));
        // No final newline at all.
        assert_eq!(parse("7", HeaderMode::Auto).unwrap().values, vec![7.0]);
    }

    #[test]
    fn ragged_rows_name_the_line() {
        let e = parse("a,b\n1,2\n3,4,5\n", HeaderMode::Auto).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongColumnCount {
                    line: 3,
                    expected: 2,
                    found: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("t.csv line 3 has 3 columns, expected 2"),
            "{e}"
        );
    }

    #[test]
    fn bad_and_empty_cells_name_line_and_column() {
        let e = parse("1,2\n3,x\n", HeaderMode::Auto).unwrap_err();
        match &e {
            DataError::BadCell {
                path,
                line,
                column,
                cell,
            } => {
                assert_eq!(path, Path::new("t.csv"));
                assert_eq!((*line, *column, cell.as_str()), (2, 2, "x"));
            }
            other => panic!("expected BadCell, got {other}"),
        }
        assert!(e.to_string().contains("t.csv line 2, column 2"), "{e}");
        // Two commas in a row, and a trailing comma.
        let e = parse("1,,3\n", HeaderMode::Auto).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::EmptyCell {
                    line: 1,
                    column: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("t.csv line 1, column 2: the cell is empty"),
            "{e}"
        );
        let e = parse("a,b,c\n1,2,\n", HeaderMode::Auto).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::EmptyCell {
                    line: 2,
                    column: 3,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn blank_line_inside_the_table_is_an_error() {
        let e = parse("1,2\n\n3,4\n", HeaderMode::Auto).unwrap_err();
        assert!(matches!(e, DataError::BlankLine { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("t.csv line 2 is blank"), "{e}");
    }

    #[test]
    fn files_without_data_rows() {
        for text in ["", "\n \n", "a,b\n", "a,b\n\n"] {
            let e = parse(text, HeaderMode::Auto).unwrap_err();
            assert!(matches!(e, DataError::NoRows { .. }), "{text:?}: {e}");
            assert!(e.to_string().contains("t.csv holds no data rows"), "{e}");
        }
        assert!(matches!(
            parse("1,2\n", HeaderMode::Yes),
            Err(DataError::NoRows { .. })
        ));
    }

    #[test]
    fn reads_plain_and_gzip_files() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("m.csv");
        std::fs::write(&plain, "u,v\n0.5,1\n").unwrap();
        let packed = dir.path().join("m.csv.gz");
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"u,v\n0.5,1\n").unwrap();
        std::fs::write(&packed, e.finish().unwrap()).unwrap();
        let a = read_csv_matrix(&plain, HeaderMode::Auto).unwrap();
        let b = read_csv_matrix(&packed, HeaderMode::Auto).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.values, vec![0.5, 1.0]);

        let binary = dir.path().join("b.csv");
        std::fs::write(&binary, [b'1', b',', 0xff]).unwrap();
        assert!(matches!(
            read_csv_matrix(&binary, HeaderMode::Auto),
            Err(DataError::NotText { valid_up_to: 2, .. })
        ));
        let e = read_csv_matrix(&dir.path().join("missing.csv"), HeaderMode::Auto).unwrap_err();
        assert!(e.to_string().contains("missing.csv"), "{e}");
    }
}
