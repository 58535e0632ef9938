//! A synthetic length-extrapolation task: token sequences from a fixed random order-2 Markov
//! chain, with associative recall woven in, so that predicting well at any length needs both
//! local statistics (the chain) and retrieval from far back (the recall).
//!
//! The vocabulary is `symbols` chain tokens, then `keys` key tokens, `values` value tokens and
//! one query marker `Q`. A sequence opens with `pairs` key-value pairs `k_1 v_1 .. k_m v_m`
//! (distinct keys, values drawn independently), then runs the chain from two uniform symbols;
//! after each chain token a query block `Q k_i v_i` for a stored pair follows with probability
//! `query_rate`, and the chain resumes where it was. The value after `Q k_i` is fully determined
//! by the opening pairs, however far back they are, so the longer the sequence the longer the
//! distance a model must retrieve over: trained at length T and evaluated at 8T, a model whose
//! attention does not extrapolate loses the recall positions and the chain positions after them.
//!
//! Each transition row `p(. | a, b)` is `softmax(sharpness * z)` with `z` standard normal, drawn
//! once from the task's seed (`sharpness` sets how predictable the chain is). This design is
//! nonlin's own (the softplus-attention notes describe the task, not its constants).

use crate::error::DataError;
use crate::rng::{Rng, derive_seed};

/// The task's constants.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkovRecallConfig {
    /// Chain symbols (tokens `0..symbols`).
    pub symbols: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Distinct values.
    pub values: usize,
    /// Key-value pairs stored at the start of every sequence (at most `keys`).
    pub pairs: usize,
    /// Probability of a query block after a chain token.
    pub query_rate: f64,
    /// How peaked the transition rows are (0: uniform).
    pub sharpness: f64,
    /// Seed of the transition table.
    pub seed: u64,
}

impl Default for MarkovRecallConfig {
    fn default() -> Self {
        Self {
            symbols: 16,
            keys: 8,
            values: 8,
            pairs: 4,
            query_rate: 0.0625,
            sharpness: 2.0,
            seed: 0,
        }
    }
}

/// The generator: a transition table and the token layout.
#[derive(Debug, Clone)]
pub struct MarkovRecall {
    config: MarkovRecallConfig,
    /// `p(c | a, b)` at `(a * symbols + b) * symbols + c`, as cumulative sums per row.
    cumulative: Vec<f64>,
}

impl MarkovRecall {
    /// Draws the transition table from the config's seed.
    pub fn new(config: MarkovRecallConfig) -> Result<Self, DataError> {
        let bad = |what: String| Err(DataError::invalid(format!("markov_recall: {what}")));
        let c = &config;
        if c.symbols < 2 || c.symbols > 4096 {
            return bad(format!("symbols must be in [2, 4096], got {}", c.symbols));
        }
        if c.keys == 0 || c.values == 0 || c.keys > 4096 || c.values > 4096 {
            return bad(format!(
                "keys and values must be in [1, 4096], got {} and {}",
                c.keys, c.values
            ));
        }
        if c.pairs == 0 || c.pairs > c.keys {
            return bad(format!(
                "pairs must be in [1, keys = {}], got {}",
                c.keys, c.pairs
            ));
        }
        if !(c.query_rate.is_finite() && (0.0..1.0).contains(&c.query_rate)) {
            return bad(format!(
                "query_rate must be in [0, 1), got {}",
                c.query_rate
            ));
        }
        if !(c.sharpness.is_finite() && (0.0..=20.0).contains(&c.sharpness)) {
            return bad(format!("sharpness must be in [0, 20], got {}", c.sharpness));
        }
        let s = c.symbols;
        let mut rng = Rng::seed(derive_seed(c.seed, 0x6d61_726b));
        let mut cumulative = Vec::with_capacity(s * s * s);
        for _ in 0..s * s {
            let logits: Vec<f64> = (0..s)
                .map(|_| c.sharpness * rng.normal_f32() as f64)
                .collect();
            let top = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
            let total: f64 = weights.iter().sum();
            let mut acc = 0.0;
            for w in weights {
                acc += w / total;
                cumulative.push(acc);
            }
        }
        Ok(Self { config, cumulative })
    }

    /// The config.
    pub fn config(&self) -> &MarkovRecallConfig {
        &self.config
    }

    /// Tokens in the vocabulary: symbols, keys, values and the query marker.
    pub fn vocab(&self) -> usize {
        let c = &self.config;
        c.symbols + c.keys + c.values + 1
    }

    /// The query marker's id.
    pub fn query_token(&self) -> u32 {
        (self.vocab() - 1) as u32
    }

    /// `p(c | a, b)` of the chain.
    pub fn transition(&self, a: usize, b: usize, c: usize) -> f64 {
        let s = self.config.symbols;
        let row = &self.cumulative[(a * s + b) * s..][..s];
        row[c] - if c == 0 { 0.0 } else { row[c - 1] }
    }

    /// Sequence `index` of `len` tokens from stream `stream` (the task uses one stream per split
    /// and length): a pure function of the config, the stream and the index.
    pub fn sequence(&self, stream: u64, index: u64, len: usize) -> Vec<u32> {
        let c = &self.config;
        let mut rng = Rng::seed(derive_seed(derive_seed(c.seed, stream), index));
        let key0 = c.symbols;
        let value0 = c.symbols + c.keys;
        let mut keys: Vec<usize> = rng.permutation(c.keys);
        keys.truncate(c.pairs);
        let pairs: Vec<(u32, u32)> = keys
            .iter()
            .map(|&k| ((key0 + k) as u32, (value0 + rng.below(c.values)) as u32))
            .collect();
        let mut out = Vec::with_capacity(len + 3);
        for &(k, v) in &pairs {
            out.extend([k, v]);
        }
        let mut a = rng.below(c.symbols);
        let mut b = rng.below(c.symbols);
        out.extend([a as u32, b as u32]);
        while out.len() < len {
            if rng.uniform_f64() < c.query_rate {
                let (k, v) = pairs[rng.below(pairs.len())];
                out.extend([self.query_token(), k, v]);
                continue;
            }
            let s = c.symbols;
            let row = &self.cumulative[(a * s + b) * s..][..s];
            let u = rng.uniform_f64();
            let next = row.iter().position(|&p| u < p).unwrap_or(s - 1);
            out.push(next as u32);
            (a, b) = (b, next);
        }
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(config: MarkovRecallConfig) -> MarkovRecall {
        MarkovRecall::new(config).unwrap()
    }

    /// The layout: pairs first (keys 16..24, values 24..32), query blocks `Q k v` whose value is
    /// the stored one, and only chain symbols elsewhere; vocabulary 16 + 8 + 8 + 1 = 33.
    #[test]
    fn sequences_follow_the_layout() {
        let t = task(MarkovRecallConfig::default());
        assert_eq!(t.vocab(), 33);
        assert_eq!(t.query_token(), 32);
        let mut queries = 0;
        for index in 0..20 {
            let s = t.sequence(1, index, 400);
            assert_eq!(s.len(), 400);
            let stored: Vec<(u32, u32)> = s[..8].chunks(2).map(|p| (p[0], p[1])).collect();
            for &(k, v) in &stored {
                assert!((16..24).contains(&k) && (24..32).contains(&v), "{s:?}");
            }
            let mut keys: Vec<u32> = stored.iter().map(|p| p.0).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 4, "distinct keys");
            let mut i = 8;
            while i < s.len() {
                if s[i] == 32 {
                    queries += 1;
                    if i + 2 < s.len() {
                        let v = stored.iter().find(|p| p.0 == s[i + 1]).map(|p| p.1);
                        assert_eq!(v, Some(s[i + 2]), "the recalled value is the stored one");
                    }
                    i += 3;
                } else {
                    assert!(s[i] < 16, "chain symbol expected at {i}: {s:?}");
                    i += 1;
                }
            }
        }
        // about 392 / (1 + 3 / 16) chain steps per sequence, 1/16 of them followed by a query:
        // roughly 20 per sequence, 400 in all
        assert!((250..550).contains(&queries), "{queries}");
    }

    #[test]
    fn same_seed_same_sequences_other_streams_differ() {
        let a = task(MarkovRecallConfig::default());
        let b = task(MarkovRecallConfig::default());
        assert_eq!(a.sequence(3, 7, 100), b.sequence(3, 7, 100));
        assert_ne!(a.sequence(3, 7, 100), a.sequence(4, 7, 100));
        assert_ne!(a.sequence(3, 7, 100), a.sequence(3, 8, 100));
        // a longer sequence starts with the shorter one
        assert_eq!(a.sequence(3, 7, 300)[..100], a.sequence(3, 7, 100)[..]);
    }

    /// Transition rows are distributions; the empirical chain frequencies follow them.
    #[test]
    fn transitions_are_distributions_and_are_followed() {
        let t = task(MarkovRecallConfig {
            query_rate: 0.0,
            ..MarkovRecallConfig::default()
        });
        for a in 0..16 {
            for b in 0..16 {
                let sum: f64 = (0..16).map(|c| t.transition(a, b, c)).sum();
                assert!((sum - 1.0).abs() < 1e-9);
            }
        }
        // count what follows (a, b) = the most frequent pair in a long sample
        let mut counts = vec![0usize; 16 * 16 * 16];
        for index in 0..50 {
            let s = t.sequence(0, index, 2000);
            for w in s[8..].windows(3) {
                counts[(w[0] as usize * 16 + w[1] as usize) * 16 + w[2] as usize] += 1;
            }
        }
        let (row, _) = (0..256)
            .map(|r| (r, counts[r * 16..][..16].iter().sum::<usize>()))
            .max_by_key(|p| p.1)
            .unwrap();
        let total: usize = counts[row * 16..][..16].iter().sum();
        for c in 0..16 {
            let empirical = counts[row * 16 + c] as f64 / total as f64;
            let p = t.transition(row / 16, row % 16, c);
            assert!(
                (empirical - p).abs() < 4.0 * (p * (1.0 - p) / total as f64).sqrt() + 1e-3,
                "{c}: {empirical} vs {p}"
            );
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let base = MarkovRecallConfig::default();
        for bad in [
            MarkovRecallConfig {
                symbols: 0,
                ..base.clone()
            },
            MarkovRecallConfig {
                symbols: 1,
                ..base.clone()
            },
            MarkovRecallConfig {
                symbols: 1 << 20,
                ..base.clone()
            },
            MarkovRecallConfig {
                keys: 0,
                ..base.clone()
            },
            MarkovRecallConfig {
                values: 0,
                ..base.clone()
            },
            MarkovRecallConfig {
                pairs: 0,
                ..base.clone()
            },
            MarkovRecallConfig {
                pairs: 9,
                ..base.clone()
            },
            MarkovRecallConfig {
                query_rate: -0.1,
                ..base.clone()
            },
            MarkovRecallConfig {
                query_rate: 1.0,
                ..base.clone()
            },
            MarkovRecallConfig {
                query_rate: f64::NAN,
                ..base.clone()
            },
            MarkovRecallConfig {
                sharpness: -1.0,
                ..base.clone()
            },
            MarkovRecallConfig {
                sharpness: f64::NAN,
                ..base.clone()
            },
            MarkovRecallConfig {
                sharpness: 1e9,
                ..base.clone()
            },
        ] {
            assert!(MarkovRecall::new(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
