//! The length-reward family (see `shared/docs/REWARDS.md`). Notation: `L` the sample's
//! length in tokens, `c` = 1 if correct else 0, "group" the K samples of the same problem.

use super::{Correctness, Reward, RewardContext, WeightedSum, finite};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// O1-Pruner's length-harmonizing reward (arXiv 2501.12570):
///
/// `R_LH = Lbar_ref / L - 1 + lambda * (c - Abar_ref)`
///
/// with `Lbar_ref` the mean length and `Abar_ref` the accuracy of the reference group.
/// Paper form: `clip = None` ([`LengthHarmonizing::paper`]). Reference-code form: clip each
/// reward to `[-2, 4]` ([`LengthHarmonizing::reference_code`]), then z-score over the whole
/// dataset with the population std ([`Normalization::DatasetZScore`](crate::Normalization),
/// see [`LengthHarmonizing::default_normalization`] and [`score`](crate::score)).
///
/// `None` when `L = 0`. The paper form is *not* success-gated: a very short wrong sample
/// can outscore a long right one when `lambda` is small (`Lbar/L` is unbounded); that is the
/// paper's formula, kept as is. Gate it with [`SuccessGated`](crate::SuccessGated) and add
/// [`Correctness`] if that matters for your use.
///
/// ```
/// use o1p_reward::{LengthHarmonizing, Reward, RewardContext, ReferenceStats, SampleOutcome};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(200, true), s(600, false)]).unwrap();
/// let ctx = RewardContext { problem_id: "p", gold: "1", response: "", length: 200,
///     truncated: false, correct: true, difficulty: None, reference: &stats };
/// // 400/200 - 1 + 2 * (1 - 0.5) = 2
/// assert_eq!(LengthHarmonizing::paper(2.0).reward(&ctx), Some(2.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LengthHarmonizing {
    /// Weight of the accuracy term (paper: 2 for Marco-o1, 5 for QwQ).
    pub lambda: f32,
    /// Clip the reward to `[lo, hi]` (reference code: `[-2, 4]`).
    pub clip: Option<(f32, f32)>,
}

impl LengthHarmonizing {
    /// The reference code's clip range.
    pub const REFERENCE_CLIP: (f32, f32) = (-2.0, 4.0);

    /// The paper's form: no clip, no normalisation.
    pub fn paper(lambda: f32) -> Self {
        LengthHarmonizing { lambda, clip: None }
    }
    /// The reference code's form: clipped to `[-2, 4]`; z-score it over the dataset.
    pub fn reference_code(lambda: f32) -> Self {
        LengthHarmonizing {
            lambda,
            clip: Some(Self::REFERENCE_CLIP),
        }
    }
    /// `DatasetZScore` for the clipped (reference-code) form, `None` for the paper form.
    pub fn default_normalization(&self) -> crate::Normalization {
        if self.clip.is_some() {
            crate::Normalization::DatasetZScore
        } else {
            crate::Normalization::None
        }
    }
}

impl Default for LengthHarmonizing {
    fn default() -> Self {
        Self::paper(2.0)
    }
}

impl Reward for LengthHarmonizing {
    fn name(&self) -> &str {
        "length_harmonizing"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        if ctx.length == 0 || ctx.reference.k == 0 {
            return None;
        }
        let r = ctx.reference.mean_length / ctx.length as f64 - 1.0
            + f64::from(self.lambda) * (ctx.correctness() - ctx.reference.mean_accuracy);
        let r = match self.clip {
            Some((lo, hi)) => r.clamp(f64::from(lo), f64::from(hi)),
            None => r,
        };
        finite(r)
    }
}

/// Kimi k1.5 length penalty (arXiv 2501.12599), over the group's min and max length:
///
/// `lam = 0.5 - (L - L_min) / (L_max - L_min)`; correct: `lam`; wrong: `min(0, lam)`
///
/// (`lam = 0` when all lengths are equal). This is the *length term only*: Kimi adds it to
/// the correctness reward with a weight. Used alone it lets a short wrong answer (0) beat a
/// long right one (-0.5); use [`KimiLength::with_correctness`]. `None` when the
/// [`ReferenceStats`](crate::ReferenceStats) lack `min_length`/`max_length`.
///
/// ```
/// use o1p_reward::{KimiLength, Reward, RewardContext, ReferenceStats, SampleOutcome};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(100, true), s(300, false)]).unwrap();
/// let ctx = |length, correct| RewardContext { problem_id: "p", gold: "1", response: "",
///     length, truncated: false, correct, difficulty: None, reference: &stats };
/// assert_eq!(KimiLength.reward(&ctx(100, true)), Some(0.5));
/// assert_eq!(KimiLength.reward(&ctx(100, false)), Some(0.0)); // min(0, 0.5)
/// assert_eq!(KimiLength.reward(&ctx(300, false)), Some(-0.5));
/// let kimi = KimiLength::with_correctness(1.0);
/// assert_eq!(kimi.reward(&ctx(300, true)), Some(0.5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KimiLength;

impl KimiLength {
    /// `c + weight * lam`, the way Kimi k1.5 uses the term. With `weight <= 1` a correct
    /// sample (>= 1 - weight/2) always beats a wrong one (<= 0).
    pub fn with_correctness(weight: f32) -> WeightedSum {
        WeightedSum::new("kimi_k1_5")
            .with(1.0, Correctness)
            .with(weight, KimiLength)
    }
}

impl Reward for KimiLength {
    fn name(&self) -> &str {
        "kimi_length"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        let (lo, hi) = (ctx.reference.min_length?, ctx.reference.max_length?);
        let lam = if hi > lo {
            0.5 - (ctx.length as f64 - lo as f64) / (hi as f64 - lo as f64)
        } else {
            0.0
        };
        finite(if ctx.correct { lam } else { lam.min(0.0) })
    }
}

/// DAPO soft overlong punishment (arXiv 2503.14476), with `L_max` the generation limit and
/// `L_c` the soft buffer:
///
/// `0` if `L <= L_max - L_c`; `((L_max - L_c) - L) / L_c` if `L_max - L_c < L <= L_max`;
/// `-1` if `L > L_max`.
///
/// A length-only term added to the correctness reward (DAPO: `L_max = 20480`, `L_c = 4096`).
///
/// ```
/// use o1p_reward::DapoOverlong;
/// let d = DapoOverlong::new(1000, 200);
/// assert_eq!(d.penalty(800), 0.0);
/// assert_eq!(d.penalty(900), -0.5);
/// assert_eq!(d.penalty(1001), -1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DapoOverlong {
    /// `L_max`, the maximum length.
    pub max_length: usize,
    /// `L_c`, the soft punishment buffer.
    pub cache: usize,
}

impl DapoOverlong {
    /// `L_max` and `L_c`.
    pub fn new(max_length: usize, cache: usize) -> Self {
        DapoOverlong { max_length, cache }
    }
    /// The penalty for a length.
    pub fn penalty(&self, length: usize) -> f64 {
        let start = self.max_length.saturating_sub(self.cache);
        if length <= start {
            0.0
        } else if length <= self.max_length {
            (start as f64 - length as f64) / self.cache as f64
        } else {
            -1.0
        }
    }
}

impl Default for DapoOverlong {
    fn default() -> Self {
        DapoOverlong::new(20480, 4096)
    }
}

impl Reward for DapoOverlong {
    fn name(&self) -> &str {
        "dapo_overlong"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        finite(self.penalty(ctx.length))
    }
}

/// Cosine length-scaled reward (Yeo et al., arXiv 2502.03373), with
/// `cos_fn(L; r_0, r_T) = r_T + (r_0 - r_T) * (1 + cos(pi * L / T)) / 2`:
///
/// correct: `cos_fn(L; r0_correct, rT_correct)` (short is better);
/// wrong: `cos_fn(L; r0_wrong, rT_wrong)` (the bounds swapped: short wrong is punished most);
/// truncated or `L > T`: `exceed`.
///
/// Defaults (the paper's): `r0_correct = 2`, `rT_correct = 1`, `r0_wrong = -10`,
/// `rT_wrong = 0`, `exceed = -10`.
///
/// ```
/// use o1p_reward::{Cosine, Reward, RewardContext, ReferenceStats, SampleOutcome};
/// let stats = ReferenceStats::from_samples(&[SampleOutcome { length: 1, correct: true, truncated: false }]).unwrap();
/// let ctx = |length, correct| RewardContext { problem_id: "p", gold: "1", response: "",
///     length, truncated: false, correct, difficulty: None, reference: &stats };
/// let c = Cosine::new(1000);
/// assert_eq!(c.reward(&ctx(0, true)), Some(2.0));
/// assert_eq!(c.reward(&ctx(500, true)), Some(1.5));
/// assert_eq!(c.reward(&ctx(0, false)), Some(-10.0));
/// assert_eq!(c.reward(&ctx(2000, true)), Some(-10.0)); // over the limit
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cosine {
    /// `T`, the maximum length.
    pub max_length: usize,
    /// Reward of a correct answer of length 0.
    pub correct_at_zero: f32,
    /// Reward of a correct answer of length `T`.
    pub correct_at_max: f32,
    /// Reward of a wrong answer of length 0.
    pub wrong_at_zero: f32,
    /// Reward of a wrong answer of length `T`.
    pub wrong_at_max: f32,
    /// Reward of a truncated / over-long sample.
    pub exceed: f32,
}

impl Cosine {
    /// The paper's values for a maximum length `T`.
    pub fn new(max_length: usize) -> Self {
        Cosine {
            max_length,
            correct_at_zero: 2.0,
            correct_at_max: 1.0,
            wrong_at_zero: -10.0,
            wrong_at_max: 0.0,
            exceed: -10.0,
        }
    }
}

impl Reward for Cosine {
    fn name(&self) -> &str {
        "cosine"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        if self.max_length == 0 {
            return None;
        }
        if ctx.truncated || ctx.length > self.max_length {
            return Some(self.exceed);
        }
        let (r0, rt) = if ctx.correct {
            (self.correct_at_zero, self.correct_at_max)
        } else {
            (self.wrong_at_zero, self.wrong_at_max)
        };
        let t = ctx.length as f64 / self.max_length as f64;
        let (r0, rt) = (f64::from(r0), f64::from(rt));
        finite(rt + (r0 - rt) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0)
    }
}

/// The target length of L1 / LCPO: one for all problems or one per problem id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLength {
    /// The same target for every problem.
    Fixed(usize),
    /// A target per `problem_id` (the one written in that problem's prompt).
    PerProblem(HashMap<String, usize>),
}

impl TargetLength {
    /// The target for a problem (`None` if unknown).
    pub fn get(&self, problem_id: &str) -> Option<usize> {
        match self {
            TargetLength::Fixed(n) => Some(*n),
            TargetLength::PerProblem(m) => m.get(problem_id).copied(),
        }
    }
}

/// L1 / LCPO-Exact (arXiv 2503.04697): `r = c - alpha * |n_target - L|`.
/// `None` when the problem has no target. Paper: `alpha = 0.0003`.
///
/// ```
/// use o1p_reward::{L1Exact, L1Max, Reward, RewardContext, ReferenceStats, SampleOutcome, TargetLength};
/// let stats = ReferenceStats::from_samples(&[SampleOutcome { length: 1, correct: true, truncated: false }]).unwrap();
/// let ctx = RewardContext { problem_id: "p", gold: "1", response: "", length: 1002,
///     truncated: false, correct: true, difficulty: None, reference: &stats };
/// let exact = L1Exact { alpha: 0.25, target: TargetLength::Fixed(1000) };
/// assert_eq!(exact.reward(&ctx), Some(0.5)); // 1 - 0.25 * 2
/// let max = L1Max { alpha: 0.25, delta: 0.5, target: TargetLength::Fixed(1004) };
/// assert_eq!(max.reward(&ctx), Some(1.0)); // clip(0.25 * 2 + 0.5, 0, 1)
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct L1Exact {
    /// Penalty per token of deviation.
    pub alpha: f32,
    /// The target length `n_target`.
    pub target: TargetLength,
}

impl L1Exact {
    /// `alpha = 0.0003`.
    pub fn new(target: TargetLength) -> Self {
        L1Exact {
            alpha: 0.0003,
            target,
        }
    }
}

impl Reward for L1Exact {
    fn name(&self) -> &str {
        "l1_exact"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        let n = self.target.get(ctx.problem_id)? as f64;
        finite(ctx.correctness() - f64::from(self.alpha) * (n - ctx.length as f64).abs())
    }
}

/// L1 / LCPO-Max (arXiv 2503.04697): `r = c * clip(alpha * (n_target - L) + delta, 0, 1)`.
/// `None` when the problem has no target. Paper: `alpha = 0.0003`, `delta = 0.5`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct L1Max {
    /// Slope per token.
    pub alpha: f32,
    /// Offset: the reward of a correct answer exactly at the target.
    pub delta: f32,
    /// The target (maximum) length `n_target`.
    pub target: TargetLength,
}

impl L1Max {
    /// `alpha = 0.0003`, `delta = 0.5`.
    pub fn new(target: TargetLength) -> Self {
        L1Max {
            alpha: 0.0003,
            delta: 0.5,
            target,
        }
    }
}

impl Reward for L1Max {
    fn name(&self) -> &str {
        "l1_max"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        let n = self.target.get(ctx.problem_id)? as f64;
        let v = (f64::from(self.alpha) * (n - ctx.length as f64) + f64::from(self.delta))
            .clamp(0.0, 1.0);
        finite(ctx.correctness() * v)
    }
}

/// Arora & Zanette, "Training language models to reason efficiently" (arXiv 2502.04463):
///
/// `r = c * (1 - alpha * sigmoid((L - mean_L) / std_L))`
///
/// with mean and std over the *correct* samples of the group (population std; the
/// normalised length is 0 when std is 0). `alpha` in [0, 1); paper sweeps 0.05 to 0.4.
///
/// ```
/// use o1p_reward::{AroraZanette, Reward, RewardContext, ReferenceStats, SampleOutcome};
/// let s = |length| SampleOutcome { length, correct: true, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(100), s(300)]).unwrap(); // mean 200, std 100
/// let ctx = |length| RewardContext { problem_id: "p", gold: "1", response: "",
///     length, truncated: false, correct: true, difficulty: None, reference: &stats };
/// let az = AroraZanette { alpha: 0.2 };
/// assert_eq!(az.reward(&ctx(200)), Some(0.9)); // 1 - 0.2 * sigmoid(0)
/// assert!(az.reward(&ctx(100)) > az.reward(&ctx(300)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AroraZanette {
    /// Strength of the length penalty.
    pub alpha: f32,
}

impl Default for AroraZanette {
    fn default() -> Self {
        AroraZanette { alpha: 0.1 }
    }
}

impl Reward for AroraZanette {
    fn name(&self) -> &str {
        "arora_zanette"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        if !ctx.correct {
            return Some(0.0);
        }
        let r = ctx.reference;
        let z = match (r.correct_length_mean, r.correct_length_std) {
            (Some(m), Some(s)) if s > 0.0 => (ctx.length as f64 - m) / s,
            _ => 0.0,
        };
        let sigmoid = 1.0 / (1.0 + (-z).exp());
        finite(1.0 - f64::from(self.alpha) * sigmoid)
    }
}

/// ShorterBetter (arXiv 2504.21370): `r = alpha * c - beta * |SOL - L|`, with `SOL` the
/// shortest correct length of the group (the group's mean length if none is correct).
/// Paper: `alpha = 2`, `beta = 0.001`. Not success-gated: a correct answer far from `SOL`
/// can score below a wrong one near it.
///
/// ```
/// use o1p_reward::{ShorterBetter, Reward, RewardContext, ReferenceStats, SampleOutcome};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(300, true), s(900, true)]).unwrap(); // SOL = 300
/// let ctx = |length| RewardContext { problem_id: "p", gold: "1", response: "",
///     length, truncated: false, correct: true, difficulty: None, reference: &stats };
/// assert_eq!(ShorterBetter::default().reward(&ctx(300)), Some(2.0));
/// assert_eq!(ShorterBetter::default().reward(&ctx(900)), Some(1.4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShorterBetter {
    /// Correctness weight.
    pub alpha: f32,
    /// Penalty per token of distance to the sample-optimal length.
    pub beta: f32,
}

impl Default for ShorterBetter {
    fn default() -> Self {
        ShorterBetter {
            alpha: 2.0,
            beta: 0.001,
        }
    }
}

impl Reward for ShorterBetter {
    fn name(&self) -> &str {
        "shorter_better"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        let sol = ctx
            .reference
            .shortest_correct
            .map_or(ctx.reference.mean_length, |l| l as f64);
        finite(
            f64::from(self.alpha) * ctx.correctness()
                - f64::from(self.beta) * (sol - ctx.length as f64).abs(),
        )
    }
}

/// ThinkPrune (arXiv 2504.01296): `r = c` if the sample finished within the limit, else 0
/// (a truncated sample gets nothing, however good its partial work). The limit tightens in
/// rounds: train with one cap, then a lower one ([`ThinkPruneCap::schedule`]).
///
/// ```
/// assert_eq!(o1p_reward::ThinkPruneCap::schedule(4000, 2000, 3), vec![4000, 3000, 2000]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThinkPruneCap {
    /// The token limit of this round.
    pub limit: usize,
}

impl ThinkPruneCap {
    /// `rounds` limits from `initial` to `last`, evenly spaced (ThinkPrune: 4k, 3k, 2k).
    pub fn schedule(initial: usize, last: usize, rounds: usize) -> Vec<usize> {
        match rounds {
            0 => Vec::new(),
            1 => vec![last],
            n => (0..n)
                .map(|i| {
                    let t = i as f64 / (n - 1) as f64;
                    (initial as f64 + (last as f64 - initial as f64) * t).round() as usize
                })
                .collect(),
        }
    }
}

impl Reward for ThinkPruneCap {
    fn name(&self) -> &str {
        "thinkprune"
    }
    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        Some(
            if ctx.correct && !ctx.truncated && ctx.length <= self.limit {
                1.0
            } else {
                0.0
            },
        )
    }
}
