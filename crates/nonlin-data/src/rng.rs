//! A small deterministic pseudo-random generator: xoshiro256** seeded through SplitMix64.
//!
//! Blackman and Vigna, "Scrambled Linear Pseudorandom Number Generators" (2018, arXiv:1805.01407).
//! One step is `out = rotl(s1 * 5, 7) * 9`, then the 256-bit state is updated by xor-shifts.
//! The whole state is four `u64`, so a run can checkpoint it ([`Rng::state`], [`RngState`]) and
//! resume with exactly the same stream. Nothing here depends on the platform or on a crate version,
//! so a seed means the same numbers everywhere and forever.

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// One step of SplitMix64 (Steele, Lea and Flood 2014): advances `state` and returns a well-mixed
/// output. Used to expand one `u64` seed into the four words of xoshiro, and to derive seeds.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for stream `stream` of a run seeded with `seed` (an epoch, a worker, a data set).
///
/// Nearby inputs give unrelated outputs, so `derive_seed(s, 0)` and `derive_seed(s, 1)` start
/// independent streams, and `derive_seed(s, k)` can be computed without running streams `0..k`.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut s = seed;
    let a = splitmix64(&mut s);
    let mut t = a ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
    splitmix64(&mut t)
}

/// The complete state of an [`Rng`], for checkpoints (serialises as `{"words":[a,b,c,d]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The four xoshiro256** words; not all zero.
    pub words: [u64; 4],
}

/// xoshiro256**: fast, 256 bits of state, passes BigCrush; not for cryptography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed` (any value, zero included).
    pub fn seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // Four consecutive SplitMix64 outputs are never all zero, so the xoshiro state is valid.
        Rng { s }
    }

    /// The current state; [`Rng::from_state`] of it continues the stream exactly.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Resume from a saved state. The all-zero state is a fixed point of xoshiro (it would only
    /// ever return 0), so it is refused.
    pub fn from_state(words: [u64; 4]) -> Result<Self, DataError> {
        if words == [0; 4] {
            return Err(DataError::invalid(
                "an Rng state of four zero words (xoshiro would return only zeros)",
            ));
        }
        Ok(Rng { s: words })
    }

    /// The state as a serialisable checkpoint.
    pub fn checkpoint(&self) -> RngState {
        RngState { words: self.s }
    }

    /// Resume from a checkpoint made by [`Rng::checkpoint`].
    pub fn restore(state: RngState) -> Result<Self, DataError> {
        Rng::from_state(state.words)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, on the grid of multiples of 2^-24 (every value is exact in `f32`).
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[0, 1)`, on the grid of multiples of 2^-53.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal sample (mean 0, variance 1) by the Box-Muller transform
    /// `sqrt(-2 ln u1) cos(2π u2)`, computed in `f64`. The sine partner is discarded so the
    /// generator state stays four words and checkpoints stay exact.
    pub fn normal_f32(&mut self) -> f32 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform_f64();
        let u2 = self.uniform_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Uniform integer in `0..n`, without modulo bias (Lemire's multiply-and-reject method).
    ///
    /// # Panics
    /// If `n == 0`: the empty range has no element (like indexing an empty slice).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0): the range 0..0 is empty");
        let n = n as u64;
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            // Reject the few low products that would make some outputs more likely.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as usize
    }

    /// Shuffle in place, every permutation equally likely (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        self.shuffle(&mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_output() {
        // First output of SplitMix64 from state 0, as in Vigna's splitmix64.c: 0xe220a8397b1dcdaf.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn xoshiro_step_by_hand() {
        // State [1, 2, 3, 4]: out = rotl(2 * 5, 7) * 9 = (10 << 7) * 9 = 1280 * 9 = 11520.
        // Update: t = 2 << 17; s2 = 3^1 = 2; s3 = 4^2 = 6; s1 = 2^2 = 0; s0 = 1^6 = 7;
        // so the next output is rotl(0 * 5, 7) * 9 = 0.
        let mut r = Rng::from_state([1, 2, 3, 4]).unwrap();
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(
            r.state(),
            [7, 0, 2 ^ (2 << 17), 6u64.rotate_left(45)],
            "s0 = 7, s1 = 0, s2 = 2 ^ t, s3 = rotl(6, 45)"
        );
        assert_eq!(r.next_u64(), 0);
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = Rng::seed(42);
        let mut b = Rng::seed(42);
        let mut c = Rng::seed(43);
        let va: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn restore_from_state_continues_identically() {
        let mut a = Rng::seed(7);
        for _ in 0..13 {
            a.next_u64();
        }
        let saved = a.checkpoint();
        let json = serde_json::to_string(&saved).unwrap();
        let ahead: Vec<u64> = (0..50).map(|_| a.next_u64()).collect();

        let back: RngState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved);
        let mut b = Rng::restore(back).unwrap();
        let again: Vec<u64> = (0..50).map(|_| b.next_u64()).collect();
        assert_eq!(ahead, again);

        let mut c = Rng::from_state(saved.words).unwrap();
        assert_eq!(c.next_u64(), ahead[0]);
    }

    #[test]
    fn all_zero_state_is_refused() {
        assert!(matches!(
            Rng::from_state([0; 4]),
            Err(DataError::Invalid { .. })
        ));
    }

    #[test]
    fn uniform_is_in_range_and_has_mean_one_half() {
        let mut r = Rng::seed(1);
        let n = 100_000;
        let mut sum = 0.0f64;
        for _ in 0..n {
            let u = r.uniform_f32();
            assert!((0.0..1.0).contains(&u));
            sum += u as f64;
        }
        // Standard error of the mean is sqrt(1/12 / n) ≈ 0.0009; allow 5 of them.
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
    }

    #[test]
    fn normal_has_mean_zero_and_variance_one() {
        let mut r = Rng::seed(2);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal_f32() as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: mean 1/sqrt(n) ≈ 0.003, variance sqrt(2/n) ≈ 0.0045.
        assert!(mean.abs() < 0.015, "mean {mean}");
        assert!((var - 1.0).abs() < 0.025, "var {var}");
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::seed(3);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[r.below(6)] += 1;
        }
        // Each count is about 10_000 with standard deviation ≈ 91.
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_permutation_and_deterministic() {
        let p = Rng::seed(9).permutation(100);
        let q = Rng::seed(9).permutation(100);
        assert_eq!(p, q);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(p, (0..100).collect::<Vec<_>>());
        let mut empty: [u8; 0] = [];
        Rng::seed(0).shuffle(&mut empty);
    }

    #[test]
    fn derived_seeds_differ_and_are_stable() {
        assert_eq!(derive_seed(5, 3), derive_seed(5, 3));
        assert_ne!(derive_seed(5, 3), derive_seed(5, 4));
        assert_ne!(derive_seed(5, 3), derive_seed(6, 3));
        assert_ne!(derive_seed(0, 0), 0);
    }
}
