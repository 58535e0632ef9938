//! Reading and writing NumPy `.npy` arrays.
//!
//! The format is NumPy Enhancement Proposal 1 ("A Simple File Format for NumPy Arrays") as
//! implemented by `numpy.lib.format`: the magic string `\x93NUMPY`, a major and a minor version
//! byte, the header length (`u16` little-endian in version 1.0, `u32` in 2.0 and 3.0), the header,
//! then the values in C order. The header is a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, padded with spaces and ended by
//! `\n` so the data starts at a multiple of 64 bytes; it is Latin-1 in versions 1.0 and 2.0 and
//! UTF-8 in 3.0.
//!
//! Floats read as `f32` or `f64`; integer dtypes widen to `i64` (token ids, labels). Big-endian
//! values and Fortran order are refused with a typed error rather than reordered. Writers produce
//! the bytes `np.save` produces for the same C-order array, so files can be compared by hash.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::DataError;
use crate::gzip::read_maybe_gzip;

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The data starts at a multiple of this many bytes (NumPy's `ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;
/// NumPy pads the header so the first axis can grow to this many digits in place when rows are
/// appended (NumPy's `GROWTH_AXIS_MAX_DIGITS`); copying it keeps written files identical to NumPy's.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Parentheses and brackets nest at most this deep in a header; a real header nests two deep, and
/// the bound keeps a hostile file from exhausting the stack.
const MAX_NESTING: usize = 32;

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Length of each axis; empty for a 0-d array (one value).
    pub shape: Vec<usize>,
    /// The values in C (row-major) order; `data.len()` is the product of `shape`.
    pub data: NpyData,
}

/// The values of an [`NpyArray`], by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// From dtype `<f4`.
    F32(Vec<f32>),
    /// From dtype `<f8`.
    F64(Vec<f64>),
    /// From any integer dtype (`<i4`, `<i8`, `|u1`, `<u4`, `<u8`), widened.
    I64(Vec<i64>),
}

impl NpyData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NpyArray {
    /// Number of values (the product of `shape`; 1 for a 0-d array).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when some axis has length 0.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as `f32`: `f64` rounds to the nearest `f32` (and overflows to infinity),
    /// integers beyond 2^24 in magnitude round to the nearest representable `f32`.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as `f64`: exact for floats, and for integers up to 2^53 in magnitude.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// Read a `.npy` file (gzip-compressed or plain, detected by its first bytes).
///
/// NaN and infinities are returned as they are; whether they are errors is the caller's choice.
pub fn read_npy(path: &Path) -> Result<NpyArray, DataError> {
    let bytes = read_maybe_gzip(path)?;
    parse_npy(&bytes, path)
}

/// Parse the bytes of a `.npy` file; `name` names the source in errors.
pub fn parse_npy(bytes: &[u8], name: &Path) -> Result<NpyArray, DataError> {
    let path = || name.to_path_buf();
    let truncated = |expected: u64| DataError::Truncated {
        path: path(),
        expected_bytes: expected,
        found_bytes: bytes.len() as u64,
    };
    // The shortest prefix that holds the header length: magic, two version bytes, a u16.
    let shortest_prefix = MAGIC.len() as u64 + 4;
    if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Err(truncated(shortest_prefix));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(DataError::NpyMagic {
            path: path(),
            found: escape_bytes(&bytes[..bytes.len().min(MAGIC.len())]),
        });
    }
    let [major, minor] = match bytes.get(6..8) {
        Some(&[major, minor]) => [major, minor],
        _ => return Err(truncated(shortest_prefix)),
    };
    let (length_bytes, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) | (3, 0) => (4, major == 3),
        _ => {
            return Err(DataError::NpyVersion {
                path: path(),
                major,
                minor,
            });
        }
    };
    let header_start = 8 + length_bytes;
    let header_len = match bytes.get(8..header_start) {
        Some(&[a, b]) => usize::from(u16::from_le_bytes([a, b])),
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => return Err(truncated(header_start as u64)),
    };
    let data_start = header_start.saturating_add(header_len);
    let header_bytes = bytes
        .get(header_start..data_start)
        .ok_or_else(|| truncated(header_start as u64 + header_len as u64))?;
    let header = if utf8 {
        String::from_utf8(header_bytes.to_vec()).map_err(|e| DataError::NpyHeader {
            path: path(),
            problem: format!(
                "a version 3.0 header must be UTF-8, but byte {} is not",
                e.utf8_error().valid_up_to()
            ),
            header: String::from_utf8_lossy(header_bytes).trim_end().to_string(),
        })?
    } else {
        // Latin-1: every byte is the code point of the same number.
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    let layout = Layout::from_header(&header, name)?;

    let data_bytes = layout
        .shape
        .iter()
        .try_fold(layout.dtype.item_size(), |n, &axis| n.checked_mul(axis))
        .ok_or_else(|| DataError::NpyHeader {
            path: path(),
            problem: format!(
                "the shape {:?} holds more bytes than this machine can address",
                layout.shape
            ),
            header: header.trim_end().to_string(),
        })?;
    let data = &bytes[data_start..];
    let expected = (data_start as u64).saturating_add(data_bytes as u64);
    if data.len() < data_bytes {
        return Err(truncated(expected));
    }
    if data.len() > data_bytes {
        return Err(DataError::TrailingBytes {
            path: path(),
            expected_bytes: expected,
            found_bytes: bytes.len() as u64,
        });
    }
    Ok(NpyArray {
        data: layout.dtype.decode(data, name)?,
        shape: layout.shape,
    })
}

/// Write `data` (C order) as a `.npy` file of dtype `<f4` and shape `shape`, atomically.
///
/// The bytes are those `np.save` writes: a version 1.0 header (2.0 if the header would not fit),
/// padded so the data starts at a multiple of 64 bytes. `shape` `[]` writes a 0-d array of one
/// value. The product of `shape` must equal `data.len()`.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), DataError> {
    write_npy(path, shape, data)
}

/// Write `data` (C order) as a `.npy` file of dtype `<f8` and shape `shape`, atomically; see
/// [`write_npy_f32`].
pub fn write_npy_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<(), DataError> {
    write_npy(path, shape, data)
}

/// A value type the writers can store.
trait NpyElement: Copy {
    /// The dtype in the header.
    const DESCR: &'static str;
    /// Append the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<(), DataError> {
    let count = shape
        .iter()
        .try_fold(1usize, |n, &axis| n.checked_mul(axis));
    if count != Some(data.len()) {
        return Err(DataError::invalid(format!(
            "writing {}: the shape {shape:?} does not hold the {} values given",
            path.display(),
            data.len()
        )));
    }
    let mut bytes = npy_header(T::DESCR, shape).ok_or_else(|| {
        DataError::invalid(format!(
            "writing {}: a shape of {} axes does not fit in a .npy header",
            path.display(),
            shape.len()
        ))
    })?;
    bytes.reserve(std::mem::size_of_val(data));
    for &v in data {
        v.put(&mut bytes);
    }
    write_atomic(path, &bytes)
}

/// Magic, version, header length and padded header, as `np.save` writes them for a C-order array
/// of dtype `descr`; `None` if the header does not fit even a version 2.0 length field.
fn npy_header(descr: &str, shape: &[usize]) -> Option<Vec<u8>> {
    let axes: Vec<String> = shape.iter().map(ToString::to_string).collect();
    // Python's tuple repr: `()`, `(3,)`, `(2, 3)`.
    let shape_repr = match axes.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", axes.join(", ")),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = axes.first() {
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first.len())));
    }
    // Like NumPy, pad with 1 to 64 spaces before the final newline, so the data is aligned.
    let padded_len = |length_bytes: usize| {
        let unpadded = MAGIC.len() + 2 + length_bytes + dict.len() + 1;
        dict.len() + (ARRAY_ALIGN - unpadded % ARRAY_ALIGN) + 1
    };
    let (version, length_field) = match u16::try_from(padded_len(2)) {
        Ok(len) => (1u8, len.to_le_bytes().to_vec()),
        Err(_) => (
            2u8,
            u32::try_from(padded_len(4)).ok()?.to_le_bytes().to_vec(),
        ),
    };
    let header_len = padded_len(length_field.len());
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + length_field.len() + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&length_field);
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + header_len - dict.len() - 1, b' ');
    out.push(b'\n');
    Some(out)
}

/// Write `bytes` to `path` so that readers see the old file or the whole new one, never a part: a
/// temporary file in the same folder is written, synced, and renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    // Two writers in one process (threads) must not share a temporary name.
    static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or_else(|| {
        DataError::invalid(format!("{} does not name a file to write", path.display()))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        // Best effort: the temporary file may not exist if creating it failed.
        let _ = std::fs::remove_file(&temp);
        return Err(DataError::io(path, e));
    }
    // Make the rename durable; not every platform lets a folder be opened and synced, and the file
    // is already whole under its name, so a failure here is not an error.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `bytes` as a Python byte-string literal, e.g. `b"PK\x03\x04"`.
fn escape_bytes(bytes: &[u8]) -> String {
    let inner: String = bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("b\"{inner}\"")
}

/// An element type this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    I4,
    I8,
    U1,
    U4,
    U8,
}

impl Dtype {
    /// The dtype of a header's `descr` string, e.g. `<f4`.
    fn from_descr(descr: &str, path: &Path) -> Result<Self, DataError> {
        let unsupported = || DataError::NpyDtype {
            path: path.to_path_buf(),
            dtype: format!("{descr:?}"),
        };
        let mut chars = descr.chars();
        let byte_order = chars.next();
        let dtype = match chars.as_str() {
            "f4" => Dtype::F4,
            "f8" => Dtype::F8,
            "i4" => Dtype::I4,
            "i8" => Dtype::I8,
            "u1" => Dtype::U1,
            "u4" => Dtype::U4,
            "u8" => Dtype::U8,
            _ => return Err(unsupported()),
        };
        match byte_order {
            // A single byte has no byte order; NumPy writes `|` but any marker means the same.
            Some('|' | '<' | '>' | '=') if dtype.item_size() == 1 => Ok(dtype),
            Some('<') => Ok(dtype),
            Some('>') => Err(DataError::NpyBigEndian {
                path: path.to_path_buf(),
                dtype: format!("{descr:?}"),
            }),
            // `=` (native) and `|` are never written by NumPy for multi-byte types.
            _ => Err(unsupported()),
        }
    }

    /// Bytes per value.
    fn item_size(self) -> usize {
        match self {
            Dtype::U1 => 1,
            Dtype::F4 | Dtype::I4 | Dtype::U4 => 4,
            Dtype::F8 | Dtype::I8 | Dtype::U8 => 8,
        }
    }

    /// The values of `data`, whose length is a multiple of [`Dtype::item_size`].
    fn decode(self, data: &[u8], path: &Path) -> Result<NpyData, DataError> {
        let chunks = data.chunks_exact(self.item_size());
        Ok(match self {
            Dtype::F4 => NpyData::F32(chunks.map(|c| f32::from_le_bytes(le(c))).collect()),
            Dtype::F8 => NpyData::F64(chunks.map(|c| f64::from_le_bytes(le(c))).collect()),
            Dtype::I4 => NpyData::I64(
                chunks
                    .map(|c| i64::from(i32::from_le_bytes(le(c))))
                    .collect(),
            ),
            Dtype::I8 => NpyData::I64(chunks.map(|c| i64::from_le_bytes(le(c))).collect()),
            Dtype::U1 => NpyData::I64(data.iter().map(|&b| i64::from(b)).collect()),
            Dtype::U4 => NpyData::I64(
                chunks
                    .map(|c| i64::from(u32::from_le_bytes(le(c))))
                    .collect(),
            ),
            Dtype::U8 => NpyData::I64(
                chunks
                    .enumerate()
                    .map(|(index, c)| {
                        let value = u64::from_le_bytes(le(c));
                        i64::try_from(value).map_err(|_| DataError::NpyIntegerOverflow {
                            path: path.to_path_buf(),
                            index,
                            value,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A chunk of `chunks_exact(N)` as an array (the length is guaranteed by the iterator).
fn le<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut bytes = [0u8; N];
    bytes.copy_from_slice(chunk);
    bytes
}

/// What a header says about the data that follows it.
#[derive(Debug)]
struct Layout {
    dtype: Dtype,
    shape: Vec<usize>,
}

impl Layout {
    /// Parse and check a header's dict. Keys other than the three of the format are ignored.
    fn from_header(header: &str, path: &Path) -> Result<Self, DataError> {
        let bad = |problem: String| DataError::NpyHeader {
            path: path.to_path_buf(),
            problem,
            header: header.trim_end().to_string(),
        };
        let Literal::Dict(entries) = Literal::parse(header).map_err(bad)? else {
            return Err(bad("it is not a dict".into()));
        };
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| matches!(k, Literal::Str(s) if s == key))
                .map(|(_, v)| v)
                .ok_or_else(|| DataError::NpyMissingKey {
                    path: path.to_path_buf(),
                    key: key.to_string(),
                })
        };
        let (descr, fortran_order, shape) = (get("descr")?, get("fortran_order")?, get("shape")?);
        let dtype = match descr {
            Literal::Str(s) => Dtype::from_descr(s, path)?,
            Literal::List(_) => {
                return Err(DataError::NpyDtype {
                    path: path.to_path_buf(),
                    dtype: "a structured dtype (a list of named fields)".into(),
                });
            }
            other => {
                return Err(bad(format!(
                    "'descr' is {}, expected a string",
                    other.kind()
                )));
            }
        };
        match fortran_order {
            Literal::Bool(false) => {}
            Literal::Bool(true) => {
                return Err(DataError::NpyFortranOrder {
                    path: path.to_path_buf(),
                });
            }
            other => {
                return Err(bad(format!(
                    "'fortran_order' is {}, expected True or False",
                    other.kind()
                )));
            }
        }
        let shape = match shape {
            Literal::Tuple(axes) => axes
                .iter()
                .map(|axis| match axis {
                    Literal::Int(n) => usize::try_from(*n).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>(),
            _ => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "'shape' is {}, expected a tuple of non-negative integers",
                shape.kind()
            ))
        })?;
        Ok(Layout { dtype, shape })
    }
}

/// The subset of Python literals that `.npy` headers use.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    /// Parse `text`, a single literal with optional surrounding whitespace.
    fn parse(text: &str) -> Result<Literal, String> {
        let mut parser = LiteralParser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_whitespace();
        match parser.peek() {
            None => Ok(value),
            Some(c) => Err(format!(
                "unexpected {c:?} after the end of the dict, at character {}",
                parser.pos
            )),
        }
    }

    /// What kind of value this is, for error messages: `the string '<f4'`, `a list`, ...
    fn kind(&self) -> String {
        match self {
            Literal::Str(s) => format!("the string {s:?}"),
            Literal::Int(n) => format!("the integer {n}"),
            Literal::Bool(b) => format!("the boolean {}", if *b { "True" } else { "False" }),
            Literal::None => "None".into(),
            Literal::Tuple(_) => "a tuple".into(),
            Literal::List(_) => "a list".into(),
            Literal::Dict(_) => "a dict".into(),
        }
    }
}

/// A recursive-descent parser over the characters of a header.
struct LiteralParser {
    chars: Vec<char>,
    pos: usize,
}

impl LiteralParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            Some(c) => format!("expected {wanted} at character {}, found {c:?}", self.pos),
            None => format!("the header ends where {wanted} should be"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_NESTING {
            return Err(format!("values nest deeper than {MAX_NESTING} levels"));
        }
        self.skip_whitespace();
        match self.peek() {
            Some(quote @ ('\'' | '"')) => self.string(quote),
            Some('(') => {
                let (items, trailing_comma) = self.sequence(')', depth)?;
                // As in Python, `(3)` is the integer 3 and `(3,)` a tuple of one.
                match <[Literal; 1]>::try_from(items) {
                    Ok([item]) if !trailing_comma => Ok(item),
                    Ok([item]) => Ok(Literal::Tuple(vec![item])),
                    Err(items) => Ok(Literal::Tuple(items)),
                }
            }
            Some('[') => Ok(Literal::List(self.sequence(']', depth)?.0)),
            Some('{') => self.dict(depth),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.integer(),
            Some(c) if c.is_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(char::is_alphanumeric) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    _ => Err(format!("unknown name {word:?} at character {start}")),
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }

    /// A quoted string; backslash escapes the next character (`\n` and `\t` as in Python).
    fn string(&mut self, quote: char) -> Result<Literal, String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!(
                    "the string opened at character {start} is not closed"
                ));
            };
            self.pos += 1;
            match c {
                '\\' => {
                    let Some(escaped) = self.peek() else { continue };
                    self.pos += 1;
                    s.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c if c == quote => return Ok(Literal::Str(s)),
                c => s.push(c),
            }
        }
    }

    /// A decimal integer with an optional sign; the `L` suffix of Python 2 longs (written by old
    /// NumPy versions in shapes such as `(2L, 3L)`) is accepted.
    fn integer(&mut self) -> Result<Literal, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        digits
            .parse()
            .map(Literal::Int)
            .map_err(|_| format!("{digits:?} at character {start} is not a 64-bit integer"))
    }

    /// Comma-separated values up to `close`; also says whether a comma came before `close`.
    fn sequence(&mut self, close: char, depth: usize) -> Result<(Vec<Literal>, bool), String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            if self.peek() == Some(close) {
                self.pos += 1;
                let trailing_comma = !items.is_empty();
                return Ok((items, trailing_comma));
            }
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok((items, false));
                }
                _ => return Err(self.unexpected(&format!("',' or {close:?}"))),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Literal, String> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_whitespace();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Literal::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.skip_whitespace();
            if self.peek() != Some(':') {
                return Err(self.unexpected("':'"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(Literal::Dict(entries));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1.0 file: magic, version `01 00`, the header length as a little-endian u16, the
    /// header, then `data`. Headers need no padding to be read; NumPy pads only when writing.
    fn v1(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// A version 1.0 file with the standard header for `descr` and `shape` (a Python tuple).
    fn v1_simple(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        v1(
            &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n"),
            data,
        )
    }

    fn parse(bytes: &[u8]) -> Result<NpyArray, DataError> {
        parse_npy(bytes, Path::new("t.npy"))
    }

    #[test]
    fn version_1_f32_byte_by_byte() {
        // 93 'NUMPY' | major 01, minor 00 | header length 0x003a = 58 as a little-endian u16 |
        // the 58 header characters (57 of dict and a newline) | three f32 little-endian:
        // 1.5 = 0x3fc00000, -2.0 = 0xc0000000, 0.25 = 0x3e800000.
        let mut bytes = b"\x93NUMPY\x01\x00\x3a\x00".to_vec();
        bytes.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n");
        bytes.extend_from_slice(b"\x00\x00\xc0\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e");
        let a = parse(&bytes).unwrap();
        assert_eq!(a.shape, vec![3]);
        assert_eq!(a.data, NpyData::F32(vec![1.5, -2.0, 0.25]));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn version_2_f64_byte_by_byte() {
        // Version 2.0 (`02 00`) has a u32 header length: 0x0000003a = 58. Then two f64:
        // 1.5 = 0x3ff8000000000000, -0.5 = 0xbfe0000000000000, little-endian.
        let mut bytes = b"\x93NUMPY\x02\x00\x3a\x00\x00\x00".to_vec();
        bytes.extend_from_slice(b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n");
        bytes
            .extend_from_slice(b"\x00\x00\x00\x00\x00\x00\xf8\x3f\x00\x00\x00\x00\x00\x00\xe0\xbf");
        let a = parse(&bytes).unwrap();
        assert_eq!(a.shape, vec![2]);
        assert_eq!(a.data, NpyData::F64(vec![1.5, -0.5]));
    }

    #[test]
    fn version_3_u32_byte_by_byte() {
        // Version 3.0 (`03 00`) is 2.0 with a UTF-8 header. Two u32: 7 and 4294967295 = 2^32 - 1.
        let mut bytes = b"\x93NUMPY\x03\x00\x3a\x00\x00\x00".to_vec();
        bytes.extend_from_slice(b"{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }\n");
        bytes.extend_from_slice(b"\x07\x00\x00\x00\xff\xff\xff\xff");
        let a = parse(&bytes).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![7, 4_294_967_295]));
    }

    #[test]
    fn integer_dtypes_widen_to_i64() {
        // <i8: -2 = 0xffff_ffff_ffff_fffe, 258 = 0x0102.
        let a = parse(&v1_simple(
            "<i8",
            "(2,)",
            b"\xfe\xff\xff\xff\xff\xff\xff\xff\x02\x01\x00\x00\x00\x00\x00\x00",
        ))
        .unwrap();
        assert_eq!(a.data, NpyData::I64(vec![-2, 258]));
        // <i4: -1 = 0xffff_ffff, 65536 = 0x0001_0000; in a 1x2 matrix.
        let a = parse(&v1_simple(
            "<i4",
            "(1, 2)",
            b"\xff\xff\xff\xff\x00\x00\x01\x00",
        ))
        .unwrap();
        assert_eq!(
            (a.shape, a.data),
            (vec![1, 2], NpyData::I64(vec![-1, 65_536]))
        );
        // |u1: one byte each; 255 stays 255 (unsigned).
        let a = parse(&v1_simple("|u1", "(3,)", b"\x00\x07\xff")).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![0, 7, 255]));
        // <u8: 2^63 - 1 = 0x7fff_ffff_ffff_ffff is the largest that fits.
        let a = parse(&v1_simple(
            "<u8",
            "(1,)",
            b"\xff\xff\xff\xff\xff\xff\xff\x7f",
        ))
        .unwrap();
        assert_eq!(a.data, NpyData::I64(vec![i64::MAX]));
        // 2^63 - 1 rounds to 2^63 in f32 (24-bit significand).
        assert_eq!(a.to_f32(), vec![2f32.powi(63)]);
    }

    #[test]
    fn u64_beyond_i64_is_an_overflow_error() {
        // 2^63 = 0x8000_0000_0000_0000 is element 1.
        let data = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80";
        let e = parse(&v1_simple("<u8", "(2,)", data)).unwrap_err();
        assert!(
            matches!(e, DataError::NpyIntegerOverflow { index: 1, value, .. } if value == 1 << 63),
            "{e}"
        );
    }

    #[test]
    fn zero_d_and_empty_arrays() {
        // Shape `()` holds one value: 1.5 as f64.
        let a = parse(&v1_simple("<f8", "()", b"\x00\x00\x00\x00\x00\x00\xf8\x3f")).unwrap();
        assert_eq!(a.shape, Vec::<usize>::new());
        assert_eq!(a.to_f32(), vec![1.5]);
        // Shape `(0, 3)` holds none, and no data bytes follow.
        let a = parse(&v1_simple("<f4", "(0, 3)", b"")).unwrap();
        assert_eq!(a.shape, vec![0, 3]);
        assert!(a.is_empty());
        assert_eq!(a.data, NpyData::F32(vec![]));
    }

    #[test]
    fn nan_and_infinity_are_values_not_errors() {
        // f32 NaN = 0x7fc00000, +inf = 0x7f800000.
        let a = parse(&v1_simple(
            "<f4",
            "(2,)",
            b"\x00\x00\xc0\x7f\x00\x00\x80\x7f",
        ))
        .unwrap();
        let v = a.to_f64();
        assert!(v[0].is_nan() && v[1] == f64::INFINITY);
    }

    #[test]
    fn header_parsing_edge_cases() {
        // Double quotes, no spaces, keys in another order, an extra key, Python 2 `L` suffixes.
        let header =
            "{\"shape\":(2L,1L),\"fortran_order\":False,\"descr\":\"|u1\",'x':[1,(None,)]}";
        let a = parse(&v1(header, b"\x01\x02")).unwrap();
        assert_eq!(a.shape, vec![2, 1]);
        assert_eq!(a.data, NpyData::I64(vec![1, 2]));
        assert_eq!(
            Literal::parse("(3)").unwrap(),
            Literal::Int(3),
            "as in Python, (3) is not a tuple"
        );
        assert_eq!(
            Literal::parse(" ('a\\'b', -4, True,) ").unwrap(),
            Literal::Tuple(vec![
                Literal::Str("a'b".into()),
                Literal::Int(-4),
                Literal::Bool(true)
            ])
        );
    }

    #[test]
    fn writer_matches_numpy_byte_for_byte() {
        // np.save of np.zeros((2, 3), np.float32) with NumPy 2.4: the 58-character dict, 21 - 1 = 20
        // spaces of room for the first axis to grow, then 39 spaces and a newline so that the
        // 10-byte prefix and the 118-byte header end at 128 = 2 * 64.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.npy");
        write_npy_f32(&path, &[2, 3], &[0.0; 6]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut expected = b"\x93NUMPY\x01\x00\x76\x00".to_vec(); // 0x76 = 118
        expected.extend_from_slice(dict.as_bytes());
        expected.extend_from_slice(" ".repeat(118 - dict.len() - 1).as_bytes());
        expected.push(b'\n');
        expected.extend_from_slice(&[0u8; 24]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn round_trips_keep_shape_and_bits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.npy");
        let cases: [(&[usize], usize); 5] = [
            (&[2, 3], 6),
            (&[], 1),
            (&[0, 3], 0),
            (&[5], 5),
            (&[1, 1, 2, 1], 2),
        ];
        for (shape, n) in cases {
            let f32s: Vec<f32> = (0..n).map(|i| i as f32 * 0.3 - 1.0).collect();
            write_npy_f32(&path, shape, &f32s).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let data_start = bytes.len() - 4 * n;
            assert_eq!(data_start % ARRAY_ALIGN, 0, "shape {shape:?}");
            assert_eq!(bytes[data_start - 1], b'\n');
            let a = read_npy(&path).unwrap();
            assert_eq!((a.shape.as_slice(), a.data), (shape, NpyData::F32(f32s)));

            let f64s: Vec<f64> = (0..n).map(|i| (i as f64).sqrt() - 0.1).collect();
            write_npy_f64(&path, shape, &f64s).unwrap();
            let a = read_npy(&path).unwrap();
            assert_eq!((a.shape.as_slice(), a.data), (shape, NpyData::F64(f64s)));
        }
        let special = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN_POSITIVE,
        ];
        write_npy_f64(&path, &[5], &special).unwrap();
        let NpyData::F64(back) = read_npy(&path).unwrap().data else {
            panic!("expected f64 data");
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&special));
        // Only the final file is left: the temporary one was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.npy")]);
    }

    #[test]
    fn long_shapes_switch_to_version_2() {
        // 30,000 axes of length 1 take "1, " each: a 90,000-character header, beyond a u16 length.
        let header = npy_header("<f4", &[1; 30_000]).unwrap();
        assert_eq!(&header[6..8], &[2, 0]);
        assert_eq!(header.len() % ARRAY_ALIGN, 0);
        let mut bytes = header;
        bytes.extend_from_slice(&2.5f32.to_le_bytes());
        assert_eq!(parse(&bytes).unwrap().to_f32(), vec![2.5]);
    }

    #[test]
    fn reads_gzip_compressed_files() {
        use flate2::{Compression, write::GzEncoder};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy.gz");
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(&v1_simple("|u1", "(1,)", b"\x05")).unwrap();
        std::fs::write(&path, e.finish().unwrap()).unwrap();
        assert_eq!(read_npy(&path).unwrap().data, NpyData::I64(vec![5]));
    }

    #[test]
    fn write_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npy");
        let e = write_npy_f32(&path, &[2, 3], &[0.0; 5]).unwrap_err();
        assert!(matches!(e, DataError::Invalid { .. }), "{e}");
        assert!(
            e.to_string().contains("w.npy") && e.to_string().contains("[2, 3]"),
            "{e}"
        );
        assert!(!path.exists());
        let missing = dir.path().join("no-such-folder").join("w.npy");
        let e = write_npy_f64(&missing, &[1], &[1.0]).unwrap_err();
        assert!(
            matches!(&e, DataError::Io { path, .. } if path == &missing),
            "{e}"
        );
    }

    #[test]
    fn bad_magic_and_short_files() {
        let e = parse(b"PK\x03\x04 a zip file").unwrap_err();
        match &e {
            DataError::NpyMagic { path, found } => {
                assert_eq!(path, Path::new("t.npy"));
                assert_eq!(found, "b\"PK\\x03\\x04 a\"");
            }
            other => panic!("expected NpyMagic, got {other}"),
        }
        // An empty file and one cut inside the magic or the length are truncated, not foreign.
        for cut in [0, 3, 7, 9] {
            let bytes = &v1_simple("<f4", "(1,)", b"\x00\x00\x00\x00")[..cut];
            assert!(
                matches!(parse(bytes), Err(DataError::Truncated { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn unsupported_versions() {
        for (major, minor) in [(4u8, 0u8), (1, 1), (0, 0)] {
            let mut bytes = v1_simple("<f4", "(1,)", b"\x00\x00\x00\x00");
            bytes[6] = major;
            bytes[7] = minor;
            let e = parse(&bytes).unwrap_err();
            assert!(
                matches!(e, DataError::NpyVersion { major: a, minor: b, .. } if (a, b) == (major, minor)),
                "{e}"
            );
            assert!(e.to_string().contains("1.0, 2.0 and 3.0"), "{e}");
        }
    }

    #[test]
    fn truncated_header_and_data() {
        // The header length says 58 but the file ends 20 bytes into the header.
        let full = v1_simple("<f4", "(3,)", &[0; 12]);
        assert!(matches!(
            parse(&full[..30]),
            Err(DataError::Truncated {
                expected_bytes: 68,
                found_bytes: 30,
                ..
            })
        ));
        // 10 + 58 = 68 header bytes, then 3 * 4 = 12 data bytes expected; 8 present.
        let e = parse(&full[..76]).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected_bytes: 80,
                    found_bytes: 76,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("t.npy is truncated"), "{e}");
        let mut long = full.clone();
        long.push(0);
        assert!(matches!(
            parse(&long),
            Err(DataError::TrailingBytes {
                expected_bytes: 80,
                found_bytes: 81,
                ..
            })
        ));
    }

    #[test]
    fn unreadable_headers() {
        let cases = [
            "{'descr': '<f4', 'shape': (2,",
            "{'descr': '<f4' 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra",
            "{'descr: '<f4'}",
            "[1, 2]",
            "",
            &format!("{}1{}", "(".repeat(100), ")".repeat(100)),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        ];
        for header in cases {
            let e = parse(&v1(header, b"")).unwrap_err();
            assert!(matches!(e, DataError::NpyHeader { .. }), "{header:?}: {e}");
            assert!(
                e.to_string()
                    .contains("t.npy has an unreadable .npy header"),
                "{e}"
            );
        }
    }

    #[test]
    fn wrong_types_in_the_header() {
        let cases = [
            (
                "{'descr': 4, 'fortran_order': False, 'shape': (1,)}",
                "'descr' is the integer 4",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
                "'fortran_order' is the integer 0",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
                "'shape' is a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
                "'shape' is a list",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
                "'shape' is the integer 2",
            ),
        ];
        for (header, says) in cases {
            let e = parse(&v1(header, &[0; 4])).unwrap_err();
            assert!(matches!(e, DataError::NpyHeader { .. }), "{header}: {e}");
            assert!(e.to_string().contains(says), "{header}: {e}");
        }
    }

    #[test]
    fn missing_keys() {
        for (header, key) in [
            ("{'fortran_order': False, 'shape': (1,)}", "descr"),
            ("{'descr': '<f4', 'shape': (1,)}", "fortran_order"),
            ("{'descr': '<f4', 'fortran_order': False}", "shape"),
        ] {
            let e = parse(&v1(header, &[0; 4])).unwrap_err();
            assert!(
                matches!(&e, DataError::NpyMissingKey { key: k, .. } if k == key),
                "{header}: {e}"
            );
            assert!(e.to_string().contains("t.npy"), "{e}");
        }
    }

    #[test]
    fn unsupported_dtypes_name_the_supported_ones() {
        for descr in ["<f2", "<c16", "|b1", "<U5", "=f4", "|f4", "f4", ""] {
            let e = parse(&v1_simple(descr, "(1,)", &[0; 16])).unwrap_err();
            assert!(matches!(e, DataError::NpyDtype { .. }), "{descr}: {e}");
            let m = e.to_string();
            assert!(m.contains(&format!("{descr:?}")), "{m}");
            assert!(m.contains("<f4, <f8, <i4, <i8, |u1, <u4, <u8"), "{m}");
        }
        let structured =
            "{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (1,)}";
        let e = parse(&v1(structured, &[0; 8])).unwrap_err();
        assert!(e.to_string().contains("structured dtype"), "{e}");
        // One-byte types have no byte order, so any marker reads.
        let a = parse(&v1_simple("<u1", "(1,)", b"\x09")).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![9]));
    }

    #[test]
    fn big_endian_is_refused() {
        for descr in [">f4", ">f8", ">i8", ">u4"] {
            let e = parse(&v1_simple(descr, "(1,)", &[0; 8])).unwrap_err();
            assert!(matches!(e, DataError::NpyBigEndian { .. }), "{descr}: {e}");
            assert!(e.to_string().contains("big-endian"), "{e}");
        }
    }

    #[test]
    fn fortran_order_is_refused() {
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
        let e = parse(&v1(header, &[0; 16])).unwrap_err();
        assert!(matches!(e, DataError::NpyFortranOrder { .. }), "{e}");
        assert!(e.to_string().contains("Fortran"), "{e}");
    }

    #[test]
    fn version_3_header_must_be_utf8() {
        // The same bytes as version 1.0 read as Latin-1, so only 3.0 rejects the byte 0xe9.
        let header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'n': '\xe9'}";
        let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 4]);
        let e = parse(&bytes).unwrap_err();
        assert!(e.to_string().contains("must be UTF-8"), "{e}");
        bytes[6] = 2;
        assert_eq!(parse(&bytes).unwrap().to_f32(), vec![0.0]);
    }
}
