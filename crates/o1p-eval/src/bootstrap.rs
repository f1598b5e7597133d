//! Percentile bootstrap over problems.
//!
//! Samples of one problem are not independent (same question, same difficulty), so the unit we
//! resample is the problem, with all its samples: a benchmark of 500 problems is redrawn as 500
//! problems with replacement, the statistic recomputed, and the interval read off the sorted
//! statistics. Seeded ChaCha8 makes the interval reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// How to bootstrap. The default is 1000 resamples, 95 %, seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples (at least 1; 1000 gives stable 95 % bounds to about a tenth of a
    /// point on benchmarks of a few hundred problems).
    pub resamples: usize,
    /// Coverage of the interval, strictly between 0 and 1.
    pub confidence: f64,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

impl BootstrapConfig {
    /// Rejects zero resamples and confidences outside (0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.resamples == 0 {
            return Err(EvalError::InvalidConfig(
                "bootstrap resamples must be at least 1".into(),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(EvalError::InvalidConfig(format!(
                "bootstrap confidence must be in (0, 1), got {}",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// A two-sided interval `[lower, upper]` with its coverage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Coverage, e.g. 0.95.
    pub confidence: f64,
}

/// Percentile-bootstrap interval of `statistic` over `units` (one per problem).
///
/// `statistic` receives a resample as a slice of references to units. Returns an error for an
/// empty `units` or an invalid `config`.
///
/// ```
/// # use o1p_eval::{bootstrap_ci, BootstrapConfig};
/// let per_problem_accuracy = [1.0, 0.0, 1.0, 1.0, 0.5];
/// let mean = |xs: &[&f64]| xs.iter().copied().sum::<f64>() / xs.len() as f64;
/// let ci = bootstrap_ci(&per_problem_accuracy, mean, &BootstrapConfig::default()).unwrap();
/// assert!(ci.lower <= 0.7 && 0.7 <= ci.upper);
/// ```
pub fn bootstrap_ci<T>(
    units: &[T],
    statistic: impl Fn(&[&T]) -> f64,
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval> {
    config.validate()?;
    if units.is_empty() {
        return Err(EvalError::Empty {
            what: "a bootstrap interval",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut resample: Vec<&T> = Vec::with_capacity(units.len());
    let mut stats: Vec<f64> = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        resample.clear();
        resample.extend((0..units.len()).map(|_| &units[rng.random_range(0..units.len())]));
        stats.push(statistic(&resample));
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - config.confidence) / 2.0;
    Ok(ConfidenceInterval {
        lower: quantile(&stats, tail),
        upper: quantile(&stats, 1.0 - tail),
        confidence: config.confidence,
    })
}

/// Linear-interpolation quantile of sorted, non-empty `xs` (numpy's default, "type 7").
fn quantile(xs: &[f64], q: f64) -> f64 {
    let pos = q * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&xs, 0.0), 0.0);
        assert_eq!(quantile(&xs, 1.0), 4.0);
        assert_eq!(quantile(&xs, 0.5), 2.0);
        assert!((quantile(&xs, 0.125) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_interval_and_constant_data_is_degenerate() {
        let units = [3.0, 3.0, 3.0];
        let mean = |xs: &[&f64]| xs.iter().copied().sum::<f64>() / xs.len() as f64;
        let ci = bootstrap_ci(&units, mean, &BootstrapConfig::default()).unwrap();
        assert_eq!((ci.lower, ci.upper), (3.0, 3.0));

        let units: Vec<f64> = (0..50).map(|i| (i % 7) as f64).collect();
        let a = bootstrap_ci(&units, mean, &BootstrapConfig::default()).unwrap();
        let b = bootstrap_ci(&units, mean, &BootstrapConfig::default()).unwrap();
        assert_eq!(a, b);
        assert!(a.lower < a.upper);
    }

    #[test]
    fn bad_config_and_empty_input_are_errors() {
        let mean = |xs: &[&f64]| xs.len() as f64;
        let zero = BootstrapConfig {
            resamples: 0,
            ..Default::default()
        };
        assert!(bootstrap_ci(&[1.0], mean, &zero).is_err());
        let wide = BootstrapConfig {
            confidence: 1.0,
            ..Default::default()
        };
        assert!(bootstrap_ci(&[1.0], mean, &wide).is_err());
        let empty: [f64; 0] = [];
        assert!(matches!(
            bootstrap_ci(&empty, mean, &BootstrapConfig::default()),
            Err(EvalError::Empty { .. })
        ));
    }
}
