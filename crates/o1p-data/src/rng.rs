//! Seeded randomness that gives the same numbers on every platform and every `rand` release.
//!
//! ChaCha8 is a portable stream; but `rand`'s own `shuffle` and `random_range` algorithms may
//! change between releases. Shuffles and splits decide which problems are trained on, so we
//! derive integers and floats from the raw `u64` stream ourselves.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A ChaCha8 generator seeded from a `u64` (rand_chacha's documented portable seeding).
pub(crate) fn seeded(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A uniform integer in `0..n` (`n > 0`), unbiased by rejection.
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    debug_assert!(n > 0);
    // Reject the top partial block so that every residue is equally likely.
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// A uniform float in `[0, 1)` with 53 bits of precision.
pub(crate) fn unit(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut impl RngCore, p: f64) -> bool {
    unit(rng) < p
}

/// An index drawn with the given non-negative weights (not all zero).
pub(crate) fn weighted(rng: &mut impl RngCore, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = unit(rng) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    // Rounding can leave x a hair above the last bucket.
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}
