//! The run's metric records: an append-only `metrics.jsonl` that survives crashes, and a
//! `metrics.csv` view of it for spreadsheets.
//!
//! `metrics.jsonl` is the source of truth: one JSON object per line, each written with a single
//! `write` call straight to the file (no user-space buffer), so a crashed process loses at most the
//! line being written. (A power cut can still lose what the OS had not written to disk; syncing
//! every record would cost more than the records are worth.)
//!
//! `metrics.csv` is derived, and appended to the same way: one `write` per row, so a run of 10^4
//! evaluations costs linear work, not a rewrite per epoch. Columns are `arm,seed,epoch,step,split`,
//! then the union of metric names in sorted order; a metric a record lacks is an empty cell. Metric
//! names may appear part-way through a run (a `val` metric first logged at epoch 1), so a record
//! that brings a new name rewrites the whole CSV from the records in memory, atomically (a temp
//! file renamed over it), with the new header; that happens a few times early in a run. Opening
//! the log (fresh or resumed) and [`MetricsLog::retain`] rewrite it too, since a crash can leave
//! the CSV with a torn last row: the jsonl is what the CSV must show.
//!
//! Non-finite values (a diverged loss) are kept: JSON has no NaN, so they are written as the
//! strings `"NaN"`, `"inf"`, `"-inf"`, and read back from those or from `null` (NaN).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::Table;

/// File name of the append-only log inside the run directory.
pub const JSONL_NAME: &str = "metrics.jsonl";
/// File name of the CSV view inside the run directory.
pub const CSV_NAME: &str = "metrics.csv";

/// The metrics of one arm and seed at one step, on one split.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricRecord {
    pub arm: String,
    pub seed: u64,
    pub epoch: usize,
    pub step: u64,
    /// `"train"`, `"val"` or `"test"`.
    pub split: String,
    /// Metric name → value, e.g. `"loss" → 0.42`.
    #[serde(with = "non_finite")]
    pub values: BTreeMap<String, f64>,
}

/// Why the metrics log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("metrics log {path}, line {line}: not a metric record: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Appends metric records to `metrics.jsonl` in a run directory and keeps them in memory for the
/// CSV and for plots.
pub struct MetricsLog {
    dir: PathBuf,
    jsonl: File,
    records: Vec<MetricRecord>,
    /// `metrics.csv` open for appending; `None` after a failed append, until a rewrite.
    csv: Option<File>,
    /// The CSV's metric columns: the union of the records' metric names, sorted.
    csv_metrics: Vec<String>,
    /// How many times `metrics.csv` was rewritten whole (a test checks that it stays rare).
    csv_rewrites: usize,
}

impl MetricsLog {
    /// Opens the log in `dir`, creating the directory if needed.
    ///
    /// With `resume = false` a fresh log is started, replacing any `metrics.jsonl` already there.
    /// With `resume = true` the existing records are read back so the run continues them; a final
    /// line without its newline (the process died mid-write) is dropped and cut from the file, or
    /// kept if it happens to be a complete record. A missing file resumes as an empty log.
    pub fn open(dir: &Path, resume: bool) -> Result<MetricsLog, MetricsError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MetricsError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(JSONL_NAME);
        let mut records = Vec::new();
        let jsonl = if resume {
            let mut file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(io_err(&path))?;
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let parsed = parse_jsonl(&bytes, &path)?;
            records = parsed.records;
            if parsed.keep_len < bytes.len() as u64 {
                file.set_len(parsed.keep_len).map_err(io_err(&path))?;
            }
            if parsed.needs_newline {
                file.write_all(b"\n").map_err(io_err(&path))?;
            }
            file
        } else {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err(&path))?
        };
        let mut log = MetricsLog {
            dir: dir.to_path_buf(),
            jsonl,
            records,
            csv: None,
            csv_metrics: Vec::new(),
            csv_rewrites: 0,
        };
        // A resumed CSV may end in a torn row; the records are what it must show.
        log.rewrite_csv()?;
        Ok(log)
    }

    /// Appends one record to `metrics.jsonl` and its row to `metrics.csv` (both written through
    /// to the OS before returning), and to the in-memory list. A record with a metric the CSV
    /// has no column for yet rewrites the CSV with the new header instead.
    pub fn append(&mut self, record: MetricRecord) -> Result<(), MetricsError> {
        let mut line = serde_json::to_string(&record).map_err(|source| MetricsError::Json {
            path: self.jsonl_path(),
            line: self.records.len() + 1,
            source,
        })?;
        line.push('\n');
        // One write_all of the whole line: with O_APPEND and no buffering, a crash leaves at most
        // this line partial, which `open(.., resume = true)` cuts away.
        self.jsonl
            .write_all(line.as_bytes())
            .and_then(|()| self.jsonl.flush())
            .map_err(|source| MetricsError::Io {
                path: self.jsonl_path(),
                source,
            })?;
        let new_column = record
            .values
            .keys()
            .any(|m| self.csv_metrics.binary_search(m).is_err());
        let row = (!new_column).then(|| csv_row(&record, &self.csv_metrics));
        self.records.push(record);
        match (row, &mut self.csv) {
            // One write_all of the whole row, as for the jsonl line.
            (Some(row), Some(csv)) => csv.write_all(row.as_bytes()).map_err(|source| {
                // The row may be torn; the next append or write_csv rewrites the file.
                self.csv = None;
                MetricsError::Io {
                    path: self.csv_path(),
                    source,
                }
            }),
            _ => self.rewrite_csv(),
        }
    }

    /// Keeps only the records `keep` accepts and rewrites `metrics.jsonl` atomically. A resumed
    /// run uses it to drop what was logged after the checkpoint it restarts from, so the log holds
    /// each step once.
    pub fn retain(&mut self, keep: impl Fn(&MetricRecord) -> bool) -> Result<(), MetricsError> {
        let path = self.jsonl_path();
        let io_err = |source| MetricsError::Io {
            path: path.clone(),
            source,
        };
        self.records.retain(|r| keep(r));
        let mut text = String::new();
        for (i, record) in self.records.iter().enumerate() {
            let line = serde_json::to_string(record).map_err(|source| MetricsError::Json {
                path: path.clone(),
                line: i + 1,
                source,
            })?;
            text.push_str(&line);
            text.push('\n');
        }
        crate::atomic::write_atomic(&path, text.as_bytes()).map_err(io_err)?;
        self.jsonl = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err)?;
        self.rewrite_csv()
    }

    /// All records so far, including those read back on resume, in write order.
    pub fn records(&self) -> &[MetricRecord] {
        &self.records
    }

    /// Path of `metrics.jsonl`.
    pub fn jsonl_path(&self) -> PathBuf {
        self.dir.join(JSONL_NAME)
    }

    /// Path of `metrics.csv`.
    pub fn csv_path(&self) -> PathBuf {
        self.dir.join(CSV_NAME)
    }

    /// The CSV text of all records (see the module doc for the columns).
    pub fn csv_text(&self) -> String {
        to_csv(&self.records)
    }

    /// Brings `metrics.csv` up to date. Rows are appended as records arrive, so this has work to
    /// do only after a failed append, when it rewrites the file from all records (atomically:
    /// readers see the old file or the new one). Cheap enough to call once per epoch.
    pub fn write_csv(&self) -> Result<(), MetricsError> {
        if self.csv.is_some() {
            return Ok(());
        }
        let path = self.csv_path();
        crate::atomic::write_atomic(&path, self.csv_text().as_bytes())
            .map_err(|source| MetricsError::Io { path, source })
    }

    /// Rewrites `metrics.csv` from all records, atomically, with the columns they need, and
    /// reopens it for appending.
    fn rewrite_csv(&mut self) -> Result<(), MetricsError> {
        let path = self.csv_path();
        let io_err = |source| MetricsError::Io {
            path: path.clone(),
            source,
        };
        self.csv = None;
        self.csv_metrics = metric_names(&self.records);
        let text = csv_table(&self.records, &self.csv_metrics).to_csv();
        crate::atomic::write_atomic(&path, text.as_bytes()).map_err(io_err)?;
        self.csv = Some(
            OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_err)?,
        );
        self.csv_rewrites += 1;
        Ok(())
    }

    /// Makes sure the CSV is whole and syncs both files to disk.
    pub fn finish(self) -> Result<Vec<MetricRecord>, MetricsError> {
        self.jsonl.sync_all().map_err(|source| MetricsError::Io {
            path: self.jsonl_path(),
            source,
        })?;
        self.write_csv()?;
        if let Some(csv) = &self.csv {
            csv.sync_all().map_err(|source| MetricsError::Io {
                path: self.csv_path(),
                source,
            })?;
        }
        Ok(self.records)
    }
}

/// Reads every complete record of a `metrics.jsonl`. A final line without its newline is ignored
/// unless it parses (a run still writing may be mid-line); blank lines are skipped; any other line
/// that is not a record is an error naming its line number.
pub fn read_jsonl(path: &Path) -> Result<Vec<MetricRecord>, MetricsError> {
    let bytes = std::fs::read(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_jsonl(&bytes, path)?.records)
}

/// The `(step, value)` points of one metric for one arm, seed and split, sorted by step, for
/// plotting. Records without the metric are skipped. If a step appears more than once (a run
/// resumed from a checkpoint older than its last log line re-logs those steps), the record written
/// last wins, since it belongs to the run's history as it finally stands.
pub fn series(
    records: &[MetricRecord],
    arm: &str,
    seed: u64,
    split: &str,
    metric: &str,
) -> Vec<(f64, f64)> {
    let mut by_step: BTreeMap<u64, f64> = BTreeMap::new();
    for r in records {
        if r.arm == arm
            && r.seed == seed
            && r.split == split
            && let Some(&v) = r.values.get(metric)
        {
            by_step.insert(r.step, v);
        }
    }
    by_step
        .into_iter()
        .map(|(step, v)| (step as f64, v))
        .collect()
}

/// The CSV text of `records`: `arm,seed,epoch,step,split`, then every metric name in sorted order.
pub fn to_csv(records: &[MetricRecord]) -> String {
    csv_table(records, &metric_names(records)).to_csv()
}

/// Every metric name of `records`, sorted, once.
fn metric_names(records: &[MetricRecord]) -> Vec<String> {
    let names: BTreeSet<&String> = records.iter().flat_map(|r| r.values.keys()).collect();
    names.into_iter().cloned().collect()
}

/// `records` as a table with the metric columns `metrics`.
fn csv_table<'a>(records: impl IntoIterator<Item = &'a MetricRecord>, metrics: &[String]) -> Table {
    let mut table = Table::new(["arm", "seed", "epoch", "step", "split"]);
    table.headers.extend(metrics.iter().cloned());
    for r in records {
        let mut row = vec![
            r.arm.clone(),
            r.seed.to_string(),
            r.epoch.to_string(),
            r.step.to_string(),
            r.split.clone(),
        ];
        // f64's Display is the shortest string that parses back to the same value.
        row.extend(
            metrics
                .iter()
                .map(|m| r.values.get(m).map(|v| v.to_string()).unwrap_or_default()),
        );
        table.rows.push(row);
    }
    table
}

/// The CSV line of one record, exactly as [`to_csv`] writes it under the columns `metrics`.
fn csv_row(record: &MetricRecord, metrics: &[String]) -> String {
    let table = csv_table([record], metrics);
    let header_len = Table::new(table.headers.clone()).to_csv().len();
    table.to_csv().split_off(header_len)
}

struct Parsed {
    records: Vec<MetricRecord>,
    /// Bytes of the file worth keeping: everything but an unparseable final partial line.
    keep_len: u64,
    /// The final line was a complete record missing only its newline.
    needs_newline: bool,
}

fn parse_jsonl(bytes: &[u8], path: &Path) -> Result<Parsed, MetricsError> {
    let mut records = Vec::new();
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let (line, terminated, next) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[start..start + i], true, start + i + 1),
            None => (&bytes[start..], false, bytes.len()),
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            start = next;
            continue;
        }
        match serde_json::from_slice::<MetricRecord>(line) {
            Ok(r) => {
                records.push(r);
                if !terminated {
                    return Ok(Parsed {
                        records,
                        keep_len: bytes.len() as u64,
                        needs_newline: true,
                    });
                }
            }
            Err(_) if !terminated => {
                return Ok(Parsed {
                    records,
                    keep_len: start as u64,
                    needs_newline: false,
                });
            }
            Err(source) => {
                return Err(MetricsError::Json {
                    path: path.to_path_buf(),
                    line: line_no,
                    source,
                });
            }
        }
        start = next;
    }
    Ok(Parsed {
        records,
        keep_len: bytes.len() as u64,
        needs_newline: false,
    })
}

/// Serde for metric values that keeps NaN and ±∞, which plain JSON numbers cannot hold: they are
/// written as the strings `"NaN"`, `"inf"`, `"-inf"` and read back from those or from `null`
/// (NaN). `#[serde(with = "non_finite")]` is for a map of metrics, `non_finite::scalar` for one
/// `f64` field.
pub(crate) mod non_finite {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
        Null,
    }

    impl Wire {
        fn encode(v: f64) -> Wire {
            if v.is_finite() {
                Wire::Number(v)
            } else {
                Wire::Text(v.to_string()) // "NaN", "inf", "-inf"
            }
        }

        fn decode(self) -> Result<f64, String> {
            match self {
                Wire::Number(v) => Ok(v),
                Wire::Null => Ok(f64::NAN),
                Wire::Text(s) => match s.as_str() {
                    "NaN" | "nan" => Ok(f64::NAN),
                    "inf" | "Infinity" | "+inf" => Ok(f64::INFINITY),
                    "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                    _ => Err(format!(
                        "expected a number, \"NaN\", \"inf\" or \"-inf\", got {s:?}"
                    )),
                },
            }
        }
    }

    pub fn serialize<S: Serializer>(
        values: &BTreeMap<String, f64>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        let wire: BTreeMap<&str, Wire> = values
            .iter()
            .map(|(k, &v)| (k.as_str(), Wire::encode(v)))
            .collect();
        wire.serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<BTreeMap<String, f64>, D::Error> {
        let wire = BTreeMap::<String, Wire>::deserialize(de)?;
        wire.into_iter()
            .map(|(k, w)| {
                let v = w
                    .decode()
                    .map_err(|e| serde::de::Error::custom(format!("metric {k:?}: {e}")))?;
                Ok((k, v))
            })
            .collect()
    }

    /// The same encoding for a single `f64` field: `#[serde(with = "non_finite::scalar")]`.
    pub mod scalar {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        use super::Wire;

        pub fn serialize<S: Serializer>(v: &f64, ser: S) -> Result<S::Ok, S::Error> {
            Wire::encode(*v).serialize(ser)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<f64, D::Error> {
            Wire::deserialize(de)?
                .decode()
                .map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(split: &str, epoch: usize, step: u64, values: &[(&str, f64)]) -> MetricRecord {
        MetricRecord {
            arm: "crrelu".into(),
            seed: 7,
            epoch,
            step,
            split: split.into(),
            values: values.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
        }
    }

    #[test]
    fn jsonl_line_format() {
        let line = serde_json::to_string(&rec("train", 0, 10, &[("loss", 0.5)])).unwrap();
        assert_eq!(
            line,
            r#"{"arm":"crrelu","seed":7,"epoch":0,"step":10,"split":"train","values":{"loss":0.5}}"#
        );
    }

    #[test]
    fn write_resume_after_partial_line_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), false).unwrap();
        log.append(rec("train", 0, 10, &[("loss", 0.5)])).unwrap();
        log.append(rec("val", 0, 10, &[("acc", 0.75), ("loss", 0.625)]))
            .unwrap();
        drop(log);

        // A crash mid-write leaves a partial line.
        let path = dir.path().join(JSONL_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"arm":"crrelu","seed":7,"ep"#).unwrap();
        drop(f);

        let mut log = MetricsLog::open(dir.path(), true).unwrap();
        assert_eq!(log.records().len(), 2);
        // The partial line is cut from the file, so the next record starts on a fresh line.
        log.append(rec("train", 1, 20, &[("loss", 0.25)])).unwrap();
        let csv = log.csv_text();
        let records = log.finish().unwrap();

        assert_eq!(read_jsonl(&path).unwrap(), records);
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], rec("train", 1, 20, &[("loss", 0.25)]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(!text.contains(r#""ep{"#));

        // Columns: the five keys, then acc and loss (sorted); train rows have no acc.
        let want = "\
arm,seed,epoch,step,split,acc,loss
crrelu,7,0,10,train,,0.5
crrelu,7,0,10,val,0.75,0.625
crrelu,7,1,20,train,,0.25
";
        assert_eq!(csv, want);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CSV_NAME)).unwrap(),
            want
        );
        // No temporary file is left beside the two logs.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [CSV_NAME, JSONL_NAME]);
    }

    #[test]
    fn fresh_open_replaces_and_resume_of_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::open(&dir.path().join("run"), true).unwrap();
        assert!(log.records().is_empty());
        let mut log = MetricsLog::open(dir.path(), false).unwrap();
        log.append(rec("train", 0, 1, &[("loss", 1.0)])).unwrap();
        drop(log);
        let log = MetricsLog::open(dir.path(), false).unwrap();
        assert!(log.records().is_empty());
        assert!(read_jsonl(&log.jsonl_path()).unwrap().is_empty());
    }

    #[test]
    fn complete_last_line_without_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_string(&rec("test", 2, 30, &[("acc", 0.5)])).unwrap();
        std::fs::write(dir.path().join(JSONL_NAME), &line).unwrap();
        let mut log = MetricsLog::open(dir.path(), true).unwrap();
        log.append(rec("test", 3, 40, &[("acc", 0.625)])).unwrap();
        let got = read_jsonl(&log.jsonl_path()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].step, 30);
        assert_eq!(got[1].step, 40);
    }

    #[test]
    fn corrupt_middle_line_is_an_error_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_string(&rec("train", 0, 1, &[("loss", 1.0)])).unwrap();
        let path = dir.path().join(JSONL_NAME);
        std::fs::write(&path, format!("{good}\n\nnot json\n{good}\n")).unwrap();
        match read_jsonl(&path) {
            Err(MetricsError::Json { line: 3, .. }) => {}
            other => panic!("expected a JSON error on line 3, got {other:?}"),
        }
        assert!(matches!(
            MetricsLog::open(dir.path(), true),
            Err(MetricsError::Json { line: 3, .. })
        ));
    }

    #[test]
    fn non_finite_values_round_trip() {
        let r = rec(
            "train",
            0,
            1,
            &[
                ("a", f64::NAN),
                ("b", f64::INFINITY),
                ("c", f64::NEG_INFINITY),
                ("d", 1.5),
            ],
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.ends_with(r#""values":{"a":"NaN","b":"inf","c":"-inf","d":1.5}}"#),
            "{line}"
        );
        let back: MetricRecord = serde_json::from_str(&line).unwrap();
        assert!(back.values["a"].is_nan());
        assert_eq!(back.values["b"], f64::INFINITY);
        assert_eq!(back.values["c"], f64::NEG_INFINITY);
        // null (what a plain serializer writes for NaN) reads as NaN.
        let null = line.replace(r#""NaN""#, "null");
        let back: MetricRecord = serde_json::from_str(&null).unwrap();
        assert!(back.values["a"].is_nan());
        assert!(serde_json::from_str::<MetricRecord>(&line.replace("NaN", "oops")).is_err());
        assert_eq!(
            to_csv(&[r]).lines().nth(1),
            Some("crrelu,7,0,1,train,NaN,inf,-inf,1.5")
        );
    }

    fn csv_on_disk(log: &MetricsLog) -> String {
        std::fs::read_to_string(log.csv_path()).unwrap()
    }

    #[test]
    fn csv_rows_are_appended_without_rewriting_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), false).unwrap();
        // The first train and val records bring the columns; rewrites happen only for them.
        log.append(rec("train", 0, 1, &[("loss", 1.0)])).unwrap();
        log.append(rec("val", 0, 1, &[("acc", 0.5), ("loss", 1.0)]))
            .unwrap();
        let rewrites = log.csv_rewrites;
        assert_eq!(rewrites, 3); // open, loss, acc
        for step in 2..2000u64 {
            let x = 1.0 / step as f64;
            log.append(rec("train", 0, step, &[("loss", x)])).unwrap();
            if step % 10 == 0 {
                log.append(rec("val", 0, step, &[("acc", 1.0 - x), ("loss", x)]))
                    .unwrap();
                log.write_csv().unwrap(); // what the runner does each epoch: no rewrite either
            }
        }
        // Every row is on disk as it is appended (no write_csv needed), and the file is the
        // whole-log CSV, built without a single further rewrite.
        assert_eq!(log.csv_rewrites, rewrites);
        let text = log.csv_text();
        assert_eq!(text.lines().count(), 1 + 2 + 1998 + 199);
        assert!(
            csv_on_disk(&log) == text,
            "metrics.csv differs from csv_text()"
        );
        log.finish().unwrap();
        let on_disk = std::fs::read_to_string(dir.path().join(CSV_NAME)).unwrap();
        assert!(on_disk == text, "finish changed metrics.csv");
    }

    #[test]
    fn a_metric_appearing_late_gets_a_column_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), false).unwrap();
        log.append(rec("train", 0, 1, &[("loss", 0.5)])).unwrap();
        log.append(rec("train", 0, 2, &[("loss", 0.25)])).unwrap();
        let rewrites = log.csv_rewrites;
        log.append(rec("train", 1, 3, &[("grad_norm", 2.0), ("loss", 0.125)]))
            .unwrap();
        assert_eq!(log.csv_rewrites, rewrites + 1);
        log.append(rec("train", 1, 4, &[("loss", 0.0625)])).unwrap();
        assert_eq!(log.csv_rewrites, rewrites + 1);
        // grad_norm sorts before loss; the rows before it (and one after) have an empty cell.
        let want = "\
arm,seed,epoch,step,split,grad_norm,loss
crrelu,7,0,1,train,,0.5
crrelu,7,0,2,train,,0.25
crrelu,7,1,3,train,2,0.125
crrelu,7,1,4,train,,0.0625
";
        assert_eq!(csv_on_disk(&log), want);
    }

    #[test]
    fn resume_and_retain_regenerate_a_torn_csv() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), false).unwrap();
        for step in 1..=3 {
            log.append(rec("train", 0, step, &[("loss", 1.0 / step as f64)]))
                .unwrap();
        }
        drop(log);
        // A crash mid-row leaves a torn last line in the CSV (the jsonl is whole).
        let csv = dir.path().join(CSV_NAME);
        let mut f = OpenOptions::new().append(true).open(&csv).unwrap();
        f.write_all(b"crrelu,7,0,4,tr").unwrap();
        drop(f);

        let mut log = MetricsLog::open(dir.path(), true).unwrap();
        assert_eq!(csv_on_disk(&log), log.csv_text());
        log.append(rec("train", 1, 4, &[("loss", 0.25)])).unwrap();
        assert_eq!(csv_on_disk(&log), log.csv_text());
        assert_eq!(log.records().len(), 4);

        // A resumed run drops what came after its checkpoint; the CSV follows.
        std::fs::write(&csv, "arm,seed\ntorn,").unwrap();
        log.retain(|r| r.step <= 2).unwrap();
        assert_eq!(csv_on_disk(&log), log.csv_text());
        log.append(rec("val", 0, 2, &[("acc", 0.5)])).unwrap();
        let want = "\
arm,seed,epoch,step,split,acc,loss
crrelu,7,0,1,train,,1
crrelu,7,0,2,train,,0.5
crrelu,7,0,2,val,0.5,
";
        assert_eq!(csv_on_disk(&log), want);
    }

    #[test]
    fn series_filters_sorts_and_keeps_last_duplicate() {
        let mut other_seed = rec("train", 0, 5, &[("loss", 9.0)]);
        other_seed.seed = 8;
        let records = vec![
            rec("train", 0, 10, &[("loss", 1.0)]),
            rec("train", 0, 20, &[("loss", 0.5)]),
            rec("val", 0, 20, &[("loss", 0.75)]),
            other_seed,
            rec("train", 0, 15, &[("acc", 0.5)]), // no loss: skipped
            // Resumed from a checkpoint at step 10: step 20 is logged again.
            rec("train", 1, 20, &[("loss", 0.25)]),
            rec("train", 1, 30, &[("loss", 0.125)]),
        ];
        assert_eq!(
            series(&records, "crrelu", 7, "train", "loss"),
            [(10.0, 1.0), (20.0, 0.25), (30.0, 0.125)]
        );
        assert!(series(&records, "relu", 7, "train", "loss").is_empty());
    }
}
