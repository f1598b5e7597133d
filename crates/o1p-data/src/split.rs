//! Deterministic shuffles and train/test splits.
//!
//! The same seed gives the same order on every platform and every release of `rand`: the
//! generator is ChaCha8 and the Fisher–Yates shuffle draws its indices with this crate's own
//! unbiased rejection sampler (see `rng.rs`), never with `rand`'s version-dependent helpers.

use crate::error::{DataError, Result};
use crate::rng;

/// Shuffles `items` in place, reproducibly from `seed`.
///
/// ```
/// let mut a: Vec<u32> = (0..10).collect();
/// let mut b = a.clone();
/// o1p_data::shuffle(&mut a, 7);
/// o1p_data::shuffle(&mut b, 7);
/// assert_eq!(a, b);
/// assert_ne!(a, (0..10).collect::<Vec<_>>());
/// ```
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = rng::seeded(seed);
    for i in (1..items.len()).rev() {
        let j = rng::below(&mut rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A train/test partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<T> {
    /// The training part.
    pub train: Vec<T>,
    /// The held-out part.
    pub test: Vec<T>,
}

/// Shuffles with `seed`, then puts the first `round(len * test_fraction)` items in `test` and
/// the rest in `train`. `test_fraction` must lie in `[0, 1]`.
///
/// ```
/// let split = o1p_data::train_test_split((0..100).collect::<Vec<u32>>(), 0.2, 1).unwrap();
/// assert_eq!((split.train.len(), split.test.len()), (80, 20));
/// ```
pub fn train_test_split<T>(mut items: Vec<T>, test_fraction: f64, seed: u64) -> Result<Split<T>> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(DataError::InvalidArgument(format!(
            "test_fraction must be in [0, 1], got {test_fraction}"
        )));
    }
    shuffle(&mut items, seed);
    let n_test = (items.len() as f64 * test_fraction).round() as usize;
    let train = items.split_off(n_test);
    Ok(Split { train, test: items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_order() {
        // Pinned so that a change of generator or algorithm (which would silently change which
        // problems every user trains on) fails loudly.
        let mut v: Vec<u32> = (0..10).collect();
        shuffle(&mut v, 42);
        assert_eq!(v, PINNED_42);
    }

    const PINNED_42: [u32; 10] = [1, 5, 9, 6, 3, 2, 0, 8, 4, 7];

    #[test]
    fn split_partitions() {
        let s = train_test_split((0..7).collect::<Vec<u32>>(), 0.3, 3).unwrap();
        let mut all: Vec<u32> = s.train.iter().chain(&s.test).copied().collect();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert_eq!(s.test.len(), 2);
        assert!(train_test_split(vec![1], 1.5, 0).is_err());
    }
}
