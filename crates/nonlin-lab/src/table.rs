//! Result tables rendered three ways: aligned text for a terminal, a GitHub Markdown pipe table for
//! reports, and RFC 4180 CSV for spreadsheets and pandas.
//!
//! A column whose non-empty body cells all parse as numbers (`f64`, so `NaN` and `inf` count) is
//! right-aligned in the text and Markdown forms, so that digits line up. Rows shorter than the
//! widest row are padded with empty cells; rows are never cut.

/// A table of strings: formatting numbers is the caller's choice (precision, `±`, units).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row.
    pub fn push_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    /// Columns separated by two spaces, a dashed rule under the header, numeric columns
    /// right-aligned, no trailing spaces. Line breaks inside a cell become spaces, since a
    /// terminal table has one line per row.
    pub fn to_text(&self) -> String {
        let ncols = self.ncols();
        let flat = |s: &str| s.replace("\r\n", " ").replace(['\n', '\r'], " ");
        let headers: Vec<String> = (0..ncols).map(|c| flat(cell(&self.headers, c))).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| (0..ncols).map(|c| flat(cell(r, c))).collect())
            .collect();
        let widths: Vec<usize> = (0..ncols)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([headers[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..ncols).map(|c| self.is_numeric(c)).collect();

        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if numeric[c] {
                        format!("{s:>w$}", w = widths[c])
                    } else {
                        format!("{s:<w$}", w = widths[c])
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut out = String::new();
        if ncols == 0 {
            return out;
        }
        out.push_str(&line(&headers));
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown pipe table; `|` in a cell is escaped as `\|` and a line break
    /// becomes `<br>`, the only ways to keep either inside one cell. Numeric columns get `---:`.
    pub fn to_markdown(&self) -> String {
        let ncols = self.ncols();
        let mut out = String::new();
        if ncols == 0 {
            return out;
        }
        let esc = |s: &str| {
            s.replace('|', "\\|")
                .replace("\r\n", "<br>")
                .replace(['\n', '\r'], "<br>")
        };
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = (0..ncols).map(|c| esc(cell(cells, c))).collect();
            format!("| {} |\n", parts.join(" | "))
        };
        out.push_str(&line(&self.headers));
        let rule: Vec<&str> = (0..ncols)
            .map(|c| if self.is_numeric(c) { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }

    /// RFC 4180 CSV: a field containing a comma, a double quote, CR or LF is wrapped in double
    /// quotes with inner quotes doubled. Records end in `\n` rather than the RFC's CRLF, which every
    /// common reader (Python's `csv`, pandas, spreadsheets) accepts and which diffs cleanly.
    pub fn to_csv(&self) -> String {
        let ncols = self.ncols();
        let mut out = String::new();
        if ncols == 0 {
            return out;
        }
        let line = |cells: &[String]| -> String {
            let parts: Vec<String> = (0..ncols).map(|c| csv_field(cell(cells, c))).collect();
            format!("{}\n", parts.join(","))
        };
        out.push_str(&line(&self.headers));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }

    fn ncols(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0)
    }

    fn is_numeric(&self, c: usize) -> bool {
        let mut any = false;
        for r in &self.rows {
            let s = cell(r, c).trim();
            if s.is_empty() {
                continue;
            }
            if s.parse::<f64>().is_err() {
                return false;
            }
            any = true;
        }
        any
    }
}

fn cell(row: &[String], c: usize) -> &str {
    row.get(c).map(String::as_str).unwrap_or("")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Table {
        let mut t = Table::new(["arm", "acc", "note"]);
        t.push_row(["relu", "0.91", "baseline"]);
        t.push_row(["crrelu", "0.935", "eps=0.01"]);
        t.push_row(["gelu", "NaN", ""]);
        t
    }

    #[test]
    fn text_aligns_numbers_right() {
        // Widths: arm 6 ("crrelu"), acc 5 ("0.935"), note 8 ("baseline"); "acc" is numeric.
        let want = "\
arm       acc  note
------  -----  --------
relu     0.91  baseline
crrelu  0.935  eps=0.01
gelu      NaN
";
        assert_eq!(results().to_text(), want);
    }

    #[test]
    fn text_pads_short_rows_and_flattens_newlines() {
        let mut t = Table::new(["a", "b"]);
        t.push_row(["x\ny"]);
        t.push_row(["1", "2", "extra"]);
        let want = "\
a    b
---  -  -----
x y
1    2  extra
";
        assert_eq!(t.to_text(), want);
    }

    #[test]
    fn markdown_escapes_pipes() {
        let mut t = results();
        t.push_row(["a|b", "1", "two\nlines"]);
        let want = "\
| arm | acc | note |
| --- | ---: | --- |
| relu | 0.91 | baseline |
| crrelu | 0.935 | eps=0.01 |
| gelu | NaN |  |
| a\\|b | 1 | two<br>lines |
";
        assert_eq!(t.to_markdown(), want);
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let mut t = Table::new(["name", "value"]);
        t.push_row(["plain", "1.5"]);
        t.push_row(["a,b", "say \"hi\""]);
        t.push_row(["two\nlines", ""]);
        let want = "name,value\nplain,1.5\n\"a,b\",\"say \"\"hi\"\"\"\n\"two\nlines\",\n";
        assert_eq!(t.to_csv(), want);
    }

    #[test]
    fn empty_table_renders_nothing() {
        let t = Table::default();
        assert_eq!(t.to_text(), "");
        assert_eq!(t.to_markdown(), "");
        assert_eq!(t.to_csv(), "");
        // Headers only: no numeric columns, no body.
        let t = Table::new(["x"]);
        assert_eq!(t.to_text(), "x\n-\n");
        assert_eq!(t.to_markdown(), "| x |\n| --- |\n");
        assert_eq!(t.to_csv(), "x\n");
    }
}
