//! A text corpus and its character- or byte-level vocabulary.
//!
//! The character vocabulary is the sorted set of distinct characters of a corpus (as in Karpathy's
//! char-rnn and nanoGPT's `shakespeare_char`), so id `k` is the `k`-th smallest character; the byte
//! vocabulary is the 256 byte values, id = byte, and covers any text.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::DataError;
use crate::gzip::read_maybe_gzip;

/// A whole text held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCorpus {
    /// The text.
    pub text: String,
}

impl TextCorpus {
    /// Read a UTF-8 text file, gzip (detected by its first bytes) or plain.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = read_maybe_gzip(path)?;
        let text = String::from_utf8(bytes).map_err(|e| DataError::NotText {
            path: path.to_path_buf(),
            valid_up_to: e.utf8_error().valid_up_to(),
        })?;
        Ok(TextCorpus { text })
    }

    /// Number of characters (not bytes).
    pub fn char_count(&self) -> usize {
        self.text.chars().count()
    }
}

/// How a [`Vocab`] maps text to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Symbols {
    /// Id `k` is `chars[k]`; `index` maps back.
    Chars {
        chars: Vec<char>,
        index: BTreeMap<char, u32>,
    },
    /// Id = byte of the UTF-8 encoding.
    Bytes,
}

/// A mapping between text and token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    symbols: Symbols,
}

impl Vocab {
    /// The sorted distinct characters of `text`.
    pub fn chars_of(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        Vocab {
            symbols: Symbols::Chars { chars, index },
        }
    }

    /// The 256 byte values; encodes any text as its UTF-8 bytes.
    pub fn bytes() -> Self {
        Vocab {
            symbols: Symbols::Bytes,
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match &self.symbols {
            Symbols::Chars { chars, .. } => chars.len(),
            Symbols::Bytes => 256,
        }
    }

    /// True for the vocabulary of an empty text.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The characters of a character vocabulary in id order; `None` for the byte vocabulary.
    pub fn chars(&self) -> Option<&[char]> {
        match &self.symbols {
            Symbols::Chars { chars, .. } => Some(chars),
            Symbols::Bytes => None,
        }
    }

    /// Token ids of `text`; a character outside a character vocabulary is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        match &self.symbols {
            Symbols::Chars { index, .. } => text
                .chars()
                .enumerate()
                .map(|(position, ch)| {
                    index.get(&ch).copied().ok_or(DataError::UnknownChar {
                        ch,
                        position,
                        vocab_len: self.len(),
                    })
                })
                .collect(),
            Symbols::Bytes => Ok(text.bytes().map(u32::from).collect()),
        }
    }

    /// The text of `ids`; an id `>= len()` is an error. Byte sequences that are not UTF-8 (a
    /// sampled model may produce them) decode with U+FFFD replacement characters.
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let vocab_len = self.len();
        let check = |(position, &id): (usize, &u32)| {
            if (id as usize) < vocab_len {
                Ok(id)
            } else {
                Err(DataError::UnknownToken {
                    id,
                    position,
                    vocab_len,
                })
            }
        };
        match &self.symbols {
            Symbols::Chars { chars, .. } => ids
                .iter()
                .enumerate()
                .map(|p| check(p).map(|id| chars[id as usize]))
                .collect(),
            Symbols::Bytes => {
                let bytes = ids
                    .iter()
                    .enumerate()
                    .map(|p| check(p).map(|id| id as u8))
                    .collect::<Result<Vec<u8>, _>>()?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_vocab_by_hand() {
        // Distinct characters of "hello" sorted: e h l o -> ids 0 1 2 3.
        let v = Vocab::chars_of("hello");
        assert_eq!(v.len(), 4);
        assert_eq!(v.chars().unwrap(), &['e', 'h', 'l', 'o']);
        assert_eq!(v.encode("hole").unwrap(), vec![1, 3, 2, 0]);
        assert_eq!(v.decode(&[1, 0, 2, 2, 3]).unwrap(), "hello");
    }

    #[test]
    fn unknown_char_and_token_are_errors() {
        let v = Vocab::chars_of("ab");
        assert!(matches!(
            v.encode("abc"),
            Err(DataError::UnknownChar {
                ch: 'c',
                position: 2,
                vocab_len: 2
            })
        ));
        assert!(matches!(
            v.decode(&[0, 2]),
            Err(DataError::UnknownToken {
                id: 2,
                position: 1,
                vocab_len: 2
            })
        ));
        assert!(matches!(
            Vocab::bytes().decode(&[256]),
            Err(DataError::UnknownToken { id: 256, .. })
        ));
    }

    #[test]
    fn byte_vocab_round_trips_any_text() {
        let v = Vocab::bytes();
        assert_eq!(v.len(), 256);
        // 'é' is the two UTF-8 bytes 0xc3 0xa9.
        assert_eq!(v.encode("aé").unwrap(), vec![97, 0xc3, 0xa9]);
        assert_eq!(v.decode(&[97, 0xc3, 0xa9]).unwrap(), "aé");
        assert_eq!(v.decode(&[0xc3]).unwrap(), "\u{fffd}");
    }

    #[test]
    fn corpus_reads_plain_gzip_and_rejects_binary() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("p.txt");
        std::fs::write(&plain, "to be\n").unwrap();
        let packed = dir.path().join("p.txt.gz");
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all("to be\n".as_bytes()).unwrap();
        std::fs::write(&packed, e.finish().unwrap()).unwrap();
        assert_eq!(TextCorpus::read(&plain).unwrap().text, "to be\n");
        assert_eq!(TextCorpus::read(&packed).unwrap().char_count(), 6);
        let bin = dir.path().join("bin");
        std::fs::write(&bin, [b'o', b'k', 0xff]).unwrap();
        assert!(matches!(
            TextCorpus::read(&bin),
            Err(DataError::NotText { valid_up_to: 2, .. })
        ));
    }

    #[test]
    fn shakespeare_when_present() {
        let Some(dir) = crate::testdata::require_shared("shakespeare") else {
            return;
        };
        let corpus = TextCorpus::read(&dir.join("shakespeare.txt.gz")).unwrap();
        // Numbers from ../shared/data/README.md.
        assert_eq!(corpus.char_count(), 5_057_321);
        let v = Vocab::chars_of(&corpus.text);
        assert_eq!(v.len(), 84);
        let head: String = corpus.text.chars().take(2000).collect();
        assert_eq!(v.decode(&v.encode(&head).unwrap()).unwrap(), head);
    }
}
