//! The [`Reward`] trait, the per-problem [`ReferenceStats`], combinators and normalisation.
//!
//! A reward is a pure function of a [`RewardContext`]: the sample's length in tokens, its
//! truncation flag, the grader's verdict (`correct`, graded once by the caller with
//! [`grade`](crate::grade)) and the statistics of its group (the K samples of the same
//! problem). It returns `Some(r)` or `None` for "skip this sample" (for instance a length of
//! zero where the formula divides by it).

mod family;
mod spec;

pub use spec::{Component, RewardKind, RewardSpec, Scored, Scorer};

pub use family::{
    AroraZanette, Cosine, DapoOverlong, KimiLength, L1Exact, L1Max, LengthHarmonizing,
    ShorterBetter, TargetLength, ThinkPruneCap,
};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;

/// One pre-sampled solution, reduced to what the rewards need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SampleOutcome {
    /// Length in tokens of the model's tokenizer.
    pub length: usize,
    /// The grader's verdict.
    pub correct: bool,
    /// The sample hit the token limit.
    pub truncated: bool,
}

/// Statistics of the reference policy's K samples of one problem.
///
/// ```
/// use o1p_reward::{ReferenceStats, SampleOutcome};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let r = ReferenceStats::from_samples(&[s(100, true), s(300, true), s(800, false)]).unwrap();
/// assert_eq!(r.k, 3);
/// assert_eq!(r.mean_length, 400.0);
/// assert!((r.mean_accuracy - 2.0 / 3.0).abs() < 1e-12);
/// assert_eq!((r.shortest_correct, r.longest_correct), (Some(100), Some(300)));
/// assert_eq!((r.correct_length_mean, r.correct_length_std), (Some(200.0), Some(100.0)));
/// assert_eq!((r.min_length, r.max_length), (Some(100), Some(800)));
/// assert_eq!(ReferenceStats::from_samples(&[]), None);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceStats {
    /// Number of samples K.
    pub k: usize,
    /// Mean length over all K samples (`Lbar_ref`).
    pub mean_length: f64,
    /// Fraction of correct samples (`Abar_ref`).
    pub mean_accuracy: f64,
    /// Length of the shortest correct sample.
    pub shortest_correct: Option<usize>,
    /// Length of the longest correct sample.
    pub longest_correct: Option<usize>,
    /// Mean length of the correct samples.
    pub correct_length_mean: Option<f64>,
    /// Population standard deviation of the correct samples' lengths.
    pub correct_length_std: Option<f64>,
    /// Shortest length over all K samples (Kimi k1.5 uses the group's min and max).
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Longest length over all K samples.
    #[serde(default)]
    pub max_length: Option<usize>,
}

impl ReferenceStats {
    /// Statistics of one group. `None` for an empty group.
    pub fn from_samples(samples: &[SampleOutcome]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let k = samples.len();
        let mean_length = samples.iter().map(|s| s.length as f64).sum::<f64>() / k as f64;
        let correct: Vec<f64> = samples
            .iter()
            .filter(|s| s.correct)
            .map(|s| s.length as f64)
            .collect();
        let mean_accuracy = correct.len() as f64 / k as f64;
        let (correct_length_mean, correct_length_std) = if correct.is_empty() {
            (None, None)
        } else {
            let m = correct.iter().sum::<f64>() / correct.len() as f64;
            let var = correct.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / correct.len() as f64;
            (Some(m), Some(var.sqrt()))
        };
        let correct_lengths = samples.iter().filter(|s| s.correct).map(|s| s.length);
        Some(ReferenceStats {
            k,
            mean_length,
            mean_accuracy,
            shortest_correct: correct_lengths.clone().min(),
            longest_correct: correct_lengths.max(),
            correct_length_mean,
            correct_length_std,
            min_length: samples.iter().map(|s| s.length).min(),
            max_length: samples.iter().map(|s| s.length).max(),
        })
    }
}

/// Everything a reward may look at for one sample.
#[derive(Clone, Copy, Debug)]
pub struct RewardContext<'a> {
    /// Identifier of the problem (the group key).
    pub problem_id: &'a str,
    /// The gold answer.
    pub gold: &'a str,
    /// The full response text.
    pub response: &'a str,
    /// Response length in tokens.
    pub length: usize,
    /// The response hit the token limit.
    pub truncated: bool,
    /// The grader's verdict (grade once, pass it in).
    pub correct: bool,
    /// The problem's numeric difficulty where the data has one (MATH level, demo steps).
    pub difficulty: Option<f64>,
    /// Statistics of the problem's reference group.
    pub reference: &'a ReferenceStats,
}

impl RewardContext<'_> {
    /// `1.0` if correct, else `0.0`.
    pub fn correctness(&self) -> f64 {
        if self.correct { 1.0 } else { 0.0 }
    }
}

/// A reward: a pure function of a [`RewardContext`].
///
/// Implement it in your own crate to plug a new reward into the trainer:
///
/// ```
/// use o1p_reward::{Reward, RewardContext, ReferenceStats, SampleOutcome};
///
/// /// 1 for a correct answer shorter than the group's mean, 0.5 if longer, 0 if wrong.
/// struct ShortAndRight;
///
/// impl Reward for ShortAndRight {
///     fn name(&self) -> &str {
///         "short_and_right"
///     }
///     fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
///         if !ctx.correct {
///             return Some(0.0);
///         }
///         Some(if (ctx.length as f64) < ctx.reference.mean_length { 1.0 } else { 0.5 })
///     }
/// }
///
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(100, true), s(300, false)]).unwrap();
/// let ctx = RewardContext {
///     problem_id: "p1", gold: "4", response: "\\boxed{4}", length: 100,
///     truncated: false, correct: true, difficulty: None, reference: &stats,
/// };
/// assert_eq!(ShortAndRight.reward(&ctx), Some(1.0));
/// ```
pub trait Reward {
    /// A short snake_case name used in logs and metrics (`rewards/<name>/mean`).
    fn name(&self) -> &str;
    /// The reward of one sample, or `None` to skip it (the formula is undefined).
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32>;
}

impl<R: Reward + ?Sized> Reward for &R {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        (**self).reward(ctx)
    }
}

impl<R: Reward + ?Sized> Reward for Box<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        (**self).reward(ctx)
    }
}

impl<R: Reward + ?Sized> Reward for std::sync::Arc<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        (**self).reward(ctx)
    }
}

/// Converts an `f64` result to the reward type, mapping non-finite values to `None`.
pub(crate) fn finite(x: f64) -> Option<f32> {
    let y = x as f32;
    y.is_finite().then_some(y)
}

/// A reward from a closure.
///
/// ```
/// use o1p_reward::{FnReward, Reward};
/// let r = FnReward::new("correct", |ctx| Some(if ctx.correct { 1.0 } else { 0.0 }));
/// assert_eq!(r.name(), "correct");
/// ```
pub struct FnReward<F> {
    name: String,
    f: F,
}

impl<F: Fn(&RewardContext<'_>) -> Option<f32>> FnReward<F> {
    /// Wraps `f` under `name`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnReward {
            name: name.into(),
            f,
        }
    }
}

impl<F: Fn(&RewardContext<'_>) -> Option<f32>> Reward for FnReward<F> {
    fn name(&self) -> &str {
        &self.name
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        (self.f)(ctx)
    }
}

/// The plain correctness reward: `r = c` (1 if correct, 0 otherwise).
///
/// ```
/// use o1p_reward::{Correctness, Reward};
/// assert_eq!(Correctness.name(), "correctness");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Correctness;

impl Reward for Correctness {
    fn name(&self) -> &str {
        "correctness"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        Some(if ctx.correct { 1.0 } else { 0.0 })
    }
}

/// Success gating: `r = inner(y)` if `y` is correct, else `wrong` (default 0).
///
/// Gating keeps a length term from teaching "fail fast" on hard problems: a wrong answer
/// gets nothing from being short. It does not by itself stop a short wrong answer from
/// outscoring a long right one when the inner reward can fall below `wrong` on correct
/// samples (length-harmonizing can reach -1): add [`Correctness`] with a
/// [`WeightedSum`], or use [`SuccessGated::with_correctness`].
///
/// ```
/// use o1p_reward::{LengthHarmonizing, Reward, SuccessGated};
/// let gated = SuccessGated::new(LengthHarmonizing::paper(2.0));
/// assert_eq!(gated.name(), "gated_length_harmonizing");
/// ```
pub struct SuccessGated<R> {
    inner: R,
    /// The reward of a wrong sample.
    pub wrong: f32,
    name: String,
}

impl<R: Reward> SuccessGated<R> {
    /// Gates `inner`; wrong samples get 0.
    pub fn new(inner: R) -> Self {
        let name = format!("gated_{}", inner.name());
        SuccessGated {
            inner,
            wrong: 0.0,
            name,
        }
    }
    /// Sets the reward of a wrong sample.
    pub fn with_wrong(mut self, wrong: f32) -> Self {
        self.wrong = wrong;
        self
    }
    /// The inner reward.
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: Reward + Send + Sync + 'static> SuccessGated<R> {
    /// `c + gated(inner)`: correctness plus the gated term.
    pub fn with_correctness(self) -> WeightedSum {
        let name = format!("correctness_plus_{}", self.name);
        WeightedSum::new(name)
            .with(1.0, Correctness)
            .with(1.0, self)
    }
}

impl<R: Reward> Reward for SuccessGated<R> {
    fn name(&self) -> &str {
        &self.name
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        if ctx.correct {
            self.inner.reward(ctx)
        } else {
            Some(self.wrong)
        }
    }
}

/// A boxed reward that can be shared across threads.
pub type DynReward = Box<dyn Reward + Send + Sync>;

/// Weighted sum `r = sum_i w_i * r_i`. If any term skips the sample (`None`), so does the sum.
///
/// ```
/// use o1p_reward::{Correctness, DapoOverlong, Reward, WeightedSum};
/// let r = WeightedSum::new("dapo").with(1.0, Correctness).with(1.0, DapoOverlong::new(4096, 1024));
/// assert_eq!(r.name(), "dapo");
/// assert_eq!(r.terms().len(), 2);
/// ```
pub struct WeightedSum {
    name: String,
    terms: Vec<(f32, DynReward)>,
}

impl WeightedSum {
    /// An empty sum (rewards 0) named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        WeightedSum {
            name: name.into(),
            terms: Vec::new(),
        }
    }
    /// Adds `weight * reward`.
    pub fn with(mut self, weight: f32, reward: impl Reward + Send + Sync + 'static) -> Self {
        self.terms.push((weight, Box::new(reward)));
        self
    }
    /// The terms, in order.
    pub fn terms(&self) -> &[(f32, DynReward)] {
        &self.terms
    }
}

impl Reward for WeightedSum {
    fn name(&self) -> &str {
        &self.name
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        let mut total = 0.0f64;
        for (w, r) in &self.terms {
            total += f64::from(*w) * f64::from(r.reward(ctx)?);
        }
        finite(total)
    }
}

/// How rewards are normalised before they are used as advantages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Use the rewards as they are (the paper's form).
    #[default]
    None,
    /// `(r - mean) / std` over the whole dataset, population std (the reference code).
    DatasetZScore,
    /// `(r - mean) / std` within each group (GRPO-style), population std.
    GroupZScore,
}

impl Normalization {
    /// Normalises `rewards`, given as (group id, reward) pairs. Skipped samples (`None`) stay
    /// `None` and do not enter the statistics. Where the std is 0 (all equal, or a group of
    /// one) the normalised rewards are 0.
    ///
    /// ```
    /// use o1p_reward::Normalization;
    /// let r = [("a", Some(1.0)), ("a", Some(3.0)), ("b", Some(10.0)), ("b", None)];
    /// assert_eq!(Normalization::GroupZScore.apply(&r), vec![Some(-1.0), Some(1.0), Some(0.0), None]);
    /// assert_eq!(Normalization::None.apply(&r)[2], Some(10.0));
    /// ```
    pub fn apply<G: Eq + Hash>(&self, rewards: &[(G, Option<f32>)]) -> Vec<Option<f32>> {
        match self {
            Normalization::None => rewards.iter().map(|(_, r)| *r).collect(),
            Normalization::DatasetZScore => {
                z_scores(&rewards.iter().map(|(_, r)| *r).collect::<Vec<_>>())
            }
            Normalization::GroupZScore => {
                let mut groups: HashMap<&G, Vec<usize>> = HashMap::new();
                for (i, (g, _)) in rewards.iter().enumerate() {
                    groups.entry(g).or_default().push(i);
                }
                let mut out = vec![None; rewards.len()];
                for idx in groups.values() {
                    let vals: Vec<Option<f32>> = idx.iter().map(|&i| rewards[i].1).collect();
                    for (&i, z) in idx.iter().zip(z_scores(&vals)) {
                        out[i] = z;
                    }
                }
                out
            }
        }
    }
}

/// Z-scores with the population standard deviation; `None` entries are skipped and kept.
///
/// ```
/// let z = o1p_reward::z_scores(&[Some(1.0), Some(2.0), Some(3.0), None]);
/// assert!((z[0].unwrap() + 1.2247449).abs() < 1e-6);
/// assert_eq!(z[3], None);
/// ```
pub fn z_scores(values: &[Option<f32>]) -> Vec<Option<f32>> {
    let present: Vec<f64> = values
        .iter()
        .flatten()
        .map(|&v| f64::from(v))
        .filter(|v| v.is_finite())
        .collect();
    if present.is_empty() {
        return values.iter().map(|_| None).collect();
    }
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let std = (present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    values
        .iter()
        .map(|v| {
            let v = f64::from((*v)?);
            if !v.is_finite() {
                return None;
            }
            Some(if std > 1e-12 {
                ((v - mean) / std) as f32
            } else {
                0.0
            })
        })
        .collect()
}

/// Scores every context with `reward`, then normalises (groups are `problem_id`s).
/// Non-finite rewards become `None`.
///
/// ```
/// use o1p_reward::{score, LengthHarmonizing, Normalization, ReferenceStats, RewardContext, SampleOutcome};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(100, true), s(300, false)]).unwrap();
/// let ctx = |length, correct| RewardContext {
///     problem_id: "p", gold: "1", response: "", length, truncated: false, correct, difficulty: None, reference: &stats,
/// };
/// let lh = LengthHarmonizing::reference_code(2.0);
/// let r = score(&lh, &[ctx(100, true), ctx(300, false)], lh.default_normalization());
/// assert!(r[0].unwrap() > 0.0 && r[1].unwrap() < 0.0);
/// ```
pub fn score<R: Reward + ?Sized>(
    reward: &R,
    contexts: &[RewardContext<'_>],
    normalization: Normalization,
) -> Vec<Option<f32>> {
    let raw: Vec<(&str, Option<f32>)> = contexts
        .iter()
        .map(|c| (c.problem_id, reward.reward(c).filter(|r| r.is_finite())))
        .collect();
    normalization.apply(&raw)
}
