//! The bytes of a rule's checkpointed state: a JSON record of its counters and flags followed by
//! opaque blobs (optimizer states), each with its length.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::LearnError;

/// Packs `record` and `blobs` into one byte string.
pub(crate) fn pack<T: Serialize>(record: &T, blobs: &[Vec<u8>]) -> Result<Vec<u8>, LearnError> {
    let json = serde_json::to_vec(record).map_err(|e| LearnError::State {
        rule: "state".into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for part in std::iter::once(&json).chain(blobs) {
        out.extend((part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Unpacks what [`pack`] wrote: the record and the blobs.
pub(crate) fn unpack<T: DeserializeOwned>(
    rule: &str,
    bytes: &[u8],
) -> Result<(T, Vec<Vec<u8>>), LearnError> {
    let bad = |reason: String| LearnError::State {
        rule: rule.to_string(),
        reason,
    };
    let mut parts = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(bad("truncated state".into()));
        }
        let (len, tail) = rest.split_at(8);
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
        if tail.len() < len {
            return Err(bad("truncated state".into()));
        }
        let (part, tail) = tail.split_at(len);
        parts.push(part.to_vec());
        rest = tail;
    }
    if parts.is_empty() {
        return Err(bad("empty state".into()));
    }
    let record = serde_json::from_slice(&parts[0]).map_err(|e| bad(e.to_string()))?;
    Ok((record, parts.split_off(1)))
}

/// Unpacks a state of a record and exactly one blob (a rule with one optimizer).
pub(crate) fn unpack_one<T: DeserializeOwned>(
    rule: &str,
    bytes: &[u8],
) -> Result<(T, Vec<u8>), LearnError> {
    let (record, mut blobs) = unpack(rule, bytes)?;
    if blobs.len() != 1 {
        return Err(LearnError::State {
            rule: rule.to_string(),
            reason: format!("expected 1 optimizer state, found {}", blobs.len()),
        });
    }
    Ok((record, blobs.remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let record = (7u64, Some(0.1f64), vec![true, false]);
        let blobs = vec![vec![1u8, 2, 3], vec![], vec![9; 20]];
        let bytes = pack(&record, &blobs).unwrap();
        let (back, parts): ((u64, Option<f64>, Vec<bool>), _) = unpack("r", &bytes).unwrap();
        assert_eq!(back, record);
        assert_eq!(parts, blobs);
        assert!(unpack::<(u64, Option<f64>, Vec<bool>)>("r", &bytes[..bytes.len() - 1]).is_err());
        assert!(unpack::<u64>("r", &[]).is_err());
        let (back, blob): (u64, _) = unpack_one("r", &pack(&3u64, &[vec![5]]).unwrap()).unwrap();
        assert_eq!((back, blob), (3, vec![5]));
        let err = unpack_one::<u64>("r", &pack(&3u64, &[vec![5], vec![6]]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("found 2"), "{err}");
    }
}
