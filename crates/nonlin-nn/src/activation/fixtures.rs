//! Test fixtures computed by independent NumPy implementations of the papers' equations
//! (`tests/fixtures/activations/make_fixtures.py`, which writes `activations.txt`).
//!
//! The file is plain text: a case opens with `case <name>`, holds `<key> <numbers...>` lines, and
//! ends with `end`; `#` starts a comment line.

use std::collections::BTreeMap;

const TEXT: &str = include_str!("../../tests/fixtures/activations/activations.txt");

/// Every case of the fixture file.
pub(crate) struct Fixture {
    cases: Vec<(String, Case)>,
}

/// One case: named arrays of numbers.
pub(crate) struct Case {
    arrays: BTreeMap<String, Vec<f64>>,
}

impl Fixture {
    /// Parses the committed file (a malformed file is a test failure).
    pub(crate) fn load() -> Self {
        let mut cases = Vec::new();
        let mut current: Option<(String, Case)> = None;
        for (n, line) in TEXT.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let key = words.next().expect("non-empty line");
            match key {
                "case" => {
                    assert!(current.is_none(), "line {}: case inside a case", n + 1);
                    let name = words.next().expect("a case has a name").to_string();
                    current = Some((
                        name,
                        Case {
                            arrays: BTreeMap::new(),
                        },
                    ));
                }
                "end" => cases.push(current.take().expect("end without case")),
                _ => {
                    let values = words
                        .map(|w| {
                            w.parse::<f64>()
                                .unwrap_or_else(|_| panic!("line {}: bad number {w}", n + 1))
                        })
                        .collect();
                    let (_, case) = current.as_mut().expect("values outside a case");
                    case.arrays.insert(key.to_string(), values);
                }
            }
        }
        assert!(current.is_none(), "the last case has no end");
        Self { cases }
    }

    /// The cases of one name (at least one, or the test fails).
    pub(crate) fn cases(&self, name: &str) -> Vec<&Case> {
        let found: Vec<&Case> = self
            .cases
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| c)
            .collect();
        assert!(!found.is_empty(), "no fixture case `{name}`");
        found
    }
}

impl Case {
    /// The array `key` as f32 (the precision the activations run in by default).
    pub(crate) fn values(&self, key: &str) -> Vec<f32> {
        self.values_f64(key).iter().map(|&v| v as f32).collect()
    }

    /// The array `key` in full precision.
    pub(crate) fn values_f64(&self, key: &str) -> Vec<f64> {
        self.arrays
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no `{key}`"))
            .clone()
    }

    /// The one-element array `key`.
    pub(crate) fn scalar(&self, key: &str) -> f64 {
        let v = self.values_f64(key);
        assert_eq!(v.len(), 1, "`{key}` is not a scalar");
        v[0]
    }
}
