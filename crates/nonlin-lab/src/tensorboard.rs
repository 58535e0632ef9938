//! TensorBoard event files for scalar curves, written and read without TensorFlow.
//!
//! An event file is a sequence of TFRecords (`tensorflow/core/lib/io/record_writer.cc`):
//!
//! ```text
//! u64 length (little-endian) | u32 masked_crc32c(length bytes) | data[length] | u32 masked_crc32c(data)
//! masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8   (wrapping u32 arithmetic)
//! ```
//!
//! and each record's data is a protobuf `Event` (`tensorflow/core/util/event.proto`), of which we use
//!
//! ```text
//! Event   { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
//! Summary { repeated Value value = 1; }
//! Value   { string tag = 1; float simple_value = 2; }
//! ```
//!
//! The protobuf subset is encoded by hand (varints, length-delimited fields, fixed64 doubles, fixed32
//! floats); the reader skips any field it does not know by its wire type, so files written by
//! TensorFlow or PyTorch's `SummaryWriter` read back too, as far as their `simple_value` scalars go
//! (TF2's tensor-valued scalars are skipped).
//!
//! Cross-check: no Python `tensorboard`/`tensorflow` was installed when this was written, so the format
//! is pinned by the CRC32C check values (RFC 3720 §B.4) and a hand-encoded `Event` in the tests.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One scalar read back from an event file.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarEvent {
    pub tag: String,
    pub step: i64,
    pub value: f32,
    /// Seconds since the Unix epoch when the scalar was written.
    pub wall_time: f64,
}

/// Why an event file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TbError {
    #[error("reading TensorBoard event file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: record at byte {offset} is truncated (needs {needed} bytes, {available} left)"
    )]
    Truncated {
        path: PathBuf,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error(
        "{path}: CRC32C mismatch in the {part} of the record at byte {offset} (stored {stored:#010x}, computed {computed:#010x})"
    )]
    Crc {
        path: PathBuf,
        offset: u64,
        /// `"length"` or `"data"`.
        part: &'static str,
        stored: u32,
        computed: u32,
    },
    #[error("{path}: record at byte {offset} is not a valid Event protobuf: {reason}")]
    Protobuf {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

/// Appends scalar summaries to one TensorBoard event file.
///
/// Records are buffered; call [`EventWriter::flush`] (e.g. once per epoch) to make them visible to a
/// running TensorBoard. Dropping the writer flushes too, ignoring errors.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file
    /// `dir/events.out.tfevents.<unix_secs>.<hostname or "nonlin">` in it, whose first record carries
    /// `file_version = "brain.Event:2"` (TensorBoard uses it to recognise the format).
    ///
    /// If two writers start in the same second in the same directory, the later file gets a `.1`,
    /// `.2`, … suffix rather than clobbering the first; TensorBoard loads any file whose name
    /// contains `tfevents`.
    pub fn create(dir: &Path) -> io::Result<EventWriter> {
        std::fs::create_dir_all(dir)?;
        let wall_time = now_secs();
        let base = format!("events.out.tfevents.{}.{}", wall_time as u64, hostname());
        let mut suffix = 0u32;
        let (file, path) = loop {
            let name = if suffix == 0 {
                base.clone()
            } else {
                format!("{base}.{suffix}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (file, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && suffix < 1000 => suffix += 1,
                Err(e) => return Err(e),
            }
        };
        let mut writer = EventWriter {
            out: BufWriter::new(file),
            path,
        };
        let event = encode_event(wall_time, 0, EventBody::FileVersion("brain.Event:2"));
        writer.write_record(&event)?;
        // The header is flushed at once so that a file that exists is always a valid event file.
        writer.out.flush()?;
        Ok(writer)
    }

    /// The path of the event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one scalar `value` for `tag` at `step`, stamped with the current wall time.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        let event = encode_event(now_secs(), step, EventBody::Scalar { tag, value });
        self.write_record(&event)
    }

    /// Pushes buffered records to the operating system.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc32c(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc32c(data).to_le_bytes())
    }
}

/// Reads every `simple_value` scalar from the event file at `path`, in file order.
///
/// Both CRCs of every record are checked; a corrupted or truncated record is an error rather than a
/// silently shortened curve. (A file still being written may end in a partial record; read it again
/// after the writer flushes.)
pub fn read_scalars(path: &Path) -> Result<Vec<ScalarEvent>, TbError> {
    let bytes = std::fs::read(path).map_err(|source| TbError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut scalars = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let offset = pos as u64;
        let truncated = |needed: usize| TbError::Truncated {
            path: path.to_path_buf(),
            offset,
            needed: needed as u64,
            available: (bytes.len() - pos) as u64,
        };
        let crc_err = |part, stored, computed| TbError::Crc {
            path: path.to_path_buf(),
            offset,
            part,
            stored,
            computed,
        };
        if bytes.len() - pos < 12 {
            return Err(truncated(12));
        }
        let len_bytes = &bytes[pos..pos + 8];
        let stored = read_u32_le(&bytes[pos + 8..pos + 12]);
        let computed = masked_crc32c(len_bytes);
        if stored != computed {
            return Err(crc_err("length", stored, computed));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("slice of 8"));
        // The length CRC passed, so `len` is what the writer meant; a file shorter than it is cut off.
        let needed = 12u64.saturating_add(len).saturating_add(4);
        if needed > (bytes.len() - pos) as u64 {
            return Err(truncated(needed as usize));
        }
        let len = len as usize;
        let data = &bytes[pos + 12..pos + 12 + len];
        let stored = read_u32_le(&bytes[pos + 12 + len..pos + 16 + len]);
        let computed = masked_crc32c(data);
        if stored != computed {
            return Err(crc_err("data", stored, computed));
        }
        decode_event(data, &mut scalars).map_err(|reason| TbError::Protobuf {
            path: path.to_path_buf(),
            offset,
            reason,
        })?;
        pos += 16 + len;
    }
    Ok(scalars)
}

fn read_u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("slice of 4"))
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The host name for the file name, restricted to characters that are safe in a path.
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if clean.is_empty() {
        "nonlin".to_string()
    } else {
        clean
    }
}

// ---------------------------------------------------------------------------------------------
// CRC32C (Castagnoli), as TFRecord uses it.

/// Reflected form of the Castagnoli polynomial 0x1EDC6F41.
const CASTAGNOLI_REFLECTED: u32 = 0x82F6_3B78;

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CASTAGNOLI_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TFRecord masks its CRCs because a CRC of data that itself contains CRCs is weak.
fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    // rotate_right(15) is the format's ((crc >> 15) | (crc << 17)).
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

// ---------------------------------------------------------------------------------------------
// Minimal protobuf encoding of `Event`.

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

enum EventBody<'a> {
    FileVersion(&'a str),
    Scalar { tag: &'a str, value: f32 },
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

fn put_len_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn encode_event(wall_time: f64, step: i64, body: EventBody<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_key(&mut out, 1, WIRE_FIXED64);
    out.extend_from_slice(&wall_time.to_le_bytes());
    // proto3 omits default values; TensorFlow's writer does the same for step 0.
    if step != 0 {
        put_key(&mut out, 2, WIRE_VARINT);
        // int64 is encoded as the two's-complement u64 (10 bytes when negative), not zigzag.
        put_varint(&mut out, step as u64);
    }
    match body {
        EventBody::FileVersion(version) => put_len_delimited(&mut out, 3, version.as_bytes()),
        EventBody::Scalar { tag, value } => {
            let mut value_msg = Vec::with_capacity(tag.len() + 8);
            put_len_delimited(&mut value_msg, 1, tag.as_bytes());
            put_key(&mut value_msg, 2, WIRE_FIXED32);
            value_msg.extend_from_slice(&value.to_le_bytes());
            let mut summary = Vec::with_capacity(value_msg.len() + 4);
            put_len_delimited(&mut summary, 1, &value_msg);
            put_len_delimited(&mut out, 5, &summary);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Minimal protobuf decoding: a cursor over one message's bytes.

/// A field's payload, by wire type.
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Len(&'a [u8]),
    Fixed32([u8; 4]),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!(
                "field needs {n} bytes at byte {} of a {}-byte message",
                self.pos,
                self.buf.len()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.take(1)?[0];
            v |= ((b & 0x7F) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".to_string())
    }

    /// The next `(field number, payload)`, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let payload = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(self.take(8)?.try_into().expect("slice of 8")),
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| format!("length {n} too large"))?;
                Field::Len(self.take(n)?)
            }
            5 => Field::Fixed32(self.take(4)?.try_into().expect("slice of 4")),
            // 3 and 4 are the deprecated group markers, which no Event field uses.
            w => return Err(format!("unsupported wire type {w} for field {field}")),
        };
        Ok(Some((field, payload)))
    }
}

fn wrong_wire(message: &str, field: u64) -> String {
    format!("{message} field {field} has an unexpected wire type")
}

/// Decodes one `Event`, pushing each `simple_value` in its summary to `scalars`.
fn decode_event(data: &[u8], scalars: &mut Vec<ScalarEvent>) -> Result<(), String> {
    let mut cur = Cursor::new(data);
    let mut wall_time = 0.0;
    let mut step = 0i64;
    let mut values: Vec<(String, f32)> = Vec::new();
    while let Some((field, payload)) = cur.next_field()? {
        match (field, payload) {
            (1, Field::Fixed64(b)) => wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => step = v as i64,
            (5, Field::Len(summary)) => decode_summary(summary, &mut values)?,
            (1 | 2 | 5, _) => return Err(wrong_wire("Event", field)),
            _ => {} // file_version, graph_def, log_message, …
        }
    }
    // Fields may come in any order, so wall_time and step are known only at the end of the message.
    scalars.extend(values.into_iter().map(|(tag, value)| ScalarEvent {
        tag,
        step,
        value,
        wall_time,
    }));
    Ok(())
}

fn decode_summary(data: &[u8], values: &mut Vec<(String, f32)>) -> Result<(), String> {
    let mut cur = Cursor::new(data);
    while let Some((field, payload)) = cur.next_field()? {
        match (field, payload) {
            (1, Field::Len(value)) => {
                let mut vcur = Cursor::new(value);
                let mut tag = String::new();
                let mut simple = None;
                while let Some((vfield, vpayload)) = vcur.next_field()? {
                    match (vfield, vpayload) {
                        (1, Field::Len(b)) => {
                            tag = String::from_utf8(b.to_vec())
                                .map_err(|_| "Summary.Value tag is not UTF-8".to_string())?;
                        }
                        (2, Field::Fixed32(b)) => simple = Some(f32::from_le_bytes(b)),
                        (1 | 2, _) => return Err(wrong_wire("Summary.Value", vfield)),
                        _ => {} // image, histo, tensor, metadata, …
                    }
                }
                if let Some(value) = simple {
                    values.push((tag, value));
                }
            }
            (1, _) => return Err(wrong_wire("Summary", field)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // The standard CRC-32C check value (CRC catalogue, "CRC-32/ISCSI").
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 §B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn mask_rotates_and_offsets() {
        // crc("") = 0, so the mask is just the offset 0xa282ead8.
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
        // 0xE3069283 rotated right by 15 = 0x2507C60D; + 0xa282ead8 = 0xC78AB0E5.
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn varint_encoding() {
        let enc = |v| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(1), [0x01]);
        // 300 = 0b10_0101100 → [1_0101100, 0_0000010]
        assert_eq!(enc(300), [0xAC, 0x02]);
        // -1 as int64 takes the full 10 bytes.
        assert_eq!(
            enc(-1i64 as u64),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
    }

    #[test]
    fn event_encoding_by_hand() {
        // wall_time 1.0: key (1<<3)|1 = 0x09, then 1.0f64 LE = 00 00 00 00 00 00 F0 3F
        // step 2:        key (2<<3)|0 = 0x10, varint 0x02
        // file_version:  key (3<<3)|2 = 0x1A, length 13, "brain.Event:2"
        let mut want = vec![0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x10, 0x02, 0x1A, 13];
        want.extend_from_slice(b"brain.Event:2");
        assert_eq!(
            encode_event(1.0, 2, EventBody::FileVersion("brain.Event:2")),
            want
        );

        // Scalar "a" = 1.0 at step 0 (step omitted):
        // Value   = 0A 01 'a' 15 00 00 80 3F   (3 + 1 + 4 = 8 bytes; 1.0f32 LE = 00 00 80 3F)
        // Summary = 0A 08 <Value>              (2 + 8 = 10 bytes)
        // Event   = 09 <wall_time> 2A 0A <Summary>
        let mut want = vec![0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0x0A, 0x0A, 0x08];
        want.extend_from_slice(&[0x0A, 0x01, b'a', 0x15, 0x00, 0x00, 0x80, 0x3F]);
        assert_eq!(
            encode_event(
                0.0,
                0,
                EventBody::Scalar {
                    tag: "a",
                    value: 1.0
                }
            ),
            want
        );
    }

    #[test]
    fn decoder_skips_unknown_fields() {
        // An Event with unknown fields of every wire type before a summary:
        // field 9 varint (0x48 0x96 0x01), field 10 fixed64, field 11 len "xyz", field 12 fixed32.
        let mut data = vec![
            0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5A, 3, b'x', b'y', b'z',
        ];
        data.extend_from_slice(&[0x65, 9, 9, 9, 9]);
        data.extend(encode_event(
            5.0,
            7,
            EventBody::Scalar {
                tag: "loss",
                value: 0.5,
            },
        ));
        let mut out = Vec::new();
        decode_event(&data, &mut out).unwrap();
        assert_eq!(
            out,
            vec![ScalarEvent {
                tag: "loss".into(),
                step: 7,
                value: 0.5,
                wall_time: 5.0
            }]
        );
        // A group wire type (3) is rejected, not misparsed.
        assert!(decode_event(&[0x4B], &mut out).is_err());
    }

    fn write_three(dir: &Path) -> PathBuf {
        let mut w = EventWriter::create(dir).unwrap();
        w.scalar("train/loss", 1, 2.5).unwrap();
        w.scalar("train/loss", 2, 1.25).unwrap();
        w.scalar("val/acc", -3, 0.75).unwrap();
        w.flush().unwrap();
        w.path().to_path_buf()
    }

    #[test]
    fn write_then_read_three_scalars() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_three(dir.path());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("events.out.tfevents."), "{name}");

        let got = read_scalars(&path).unwrap();
        let short: Vec<_> = got
            .iter()
            .map(|e| (e.tag.as_str(), e.step, e.value))
            .collect();
        assert_eq!(
            short,
            [
                ("train/loss", 1, 2.5),
                ("train/loss", 2, 1.25),
                ("val/acc", -3, 0.75)
            ]
        );
        assert!(got.iter().all(|e| e.wall_time > 1.5e9));

        // A second writer in the same second gets its own file.
        let second = EventWriter::create(dir.path()).unwrap();
        assert_ne!(second.path(), path);
    }

    #[test]
    fn flipped_byte_is_a_crc_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_three(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip a byte in the last record's data: its value's last byte sits 4 bytes (the CRC) from the end.
        let i = bytes.len() - 5;
        bytes[i] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        match read_scalars(&path) {
            Err(TbError::Crc { part: "data", .. }) => {}
            other => panic!("expected a data CRC error, got {other:?}"),
        }

        // A flipped length byte is caught by the length CRC instead.
        bytes[i] ^= 0x01;
        bytes[0] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        match read_scalars(&path) {
            Err(TbError::Crc {
                part: "length",
                offset: 0,
                ..
            }) => {}
            other => panic!("expected a length CRC error, got {other:?}"),
        }
    }

    #[test]
    fn truncated_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_three(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        // Cut inside the last record's data, and inside a header.
        for cut in [bytes.len() - 3, 5] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            match read_scalars(&path) {
                Err(TbError::Truncated { .. }) => {}
                other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
            }
        }
        let missing = dir.path().join("nope");
        assert!(matches!(read_scalars(&missing), Err(TbError::Io { .. })));
    }
}
