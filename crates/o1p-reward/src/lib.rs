//! Answer grading and the length-reward family of O1-Pruner.
//!
//! Pure Rust: no Burn, no tensors. Two halves:
//!
//! - **Grading.** [`extract_answer`] takes the final answer out of a model response
//!   (`\boxed{}` last or first, "final answer is", GSM8K `####`, "the answer is", a
//!   last-number fallback) and says *why* when it cannot ([`NoAnswer`]).
//!   [`is_equivalent`] compares it with the gold answer (numbers with separators, decimals,
//!   fractions, mixed numbers, percentages, radicals, `\pi`, scientific notation, units and
//!   degrees stripped, `x = 5` vs `5`, tuples, intervals with their ends, sets in any order,
//!   matrices, choice letters, and algebraic expressions compared at random points).
//!   [`grade`] does both and reports a [`GradeReason`]. An empty answer is never correct.
//!   Everything is bounded in time and input size and never panics.
//! - **Rewards.** The [`Reward`] trait maps a [`RewardContext`] (length, truncation, the
//!   grader's verdict, the group's [`ReferenceStats`]) to `Option<f32>`. Implementations:
//!   O1-Pruner's [`LengthHarmonizing`] (paper and reference-code forms), [`KimiLength`],
//!   [`DapoOverlong`], [`Cosine`], [`L1Exact`], [`L1Max`], [`AroraZanette`],
//!   [`ShorterBetter`], [`ThinkPruneCap`]; combinators [`SuccessGated`] and [`WeightedSum`];
//!   [`Normalization`] and [`score`] to normalise a batch.
//!
//! ```
//! use o1p_reward::*;
//!
//! let opts = GradeOptions::default();
//! let group = [
//!     ("Thus $x = \\boxed{\\frac{3}{2}}$.", 120),
//!     ("Wait, let me double-check... the answer is \\boxed{1.5}", 480),
//!     ("So \\boxed{2}.", 90),
//! ];
//! let grades: Vec<Grade> = group.iter().map(|(r, _)| grade("3/2", r, &opts)).collect();
//! assert_eq!(grades.iter().map(|g| g.correct).collect::<Vec<_>>(), [true, true, false]);
//!
//! let outcomes: Vec<SampleOutcome> = group.iter().zip(&grades)
//!     .map(|((_, len), g)| SampleOutcome { length: *len, correct: g.correct, truncated: false })
//!     .collect();
//! let stats = ReferenceStats::from_samples(&outcomes).unwrap();
//! let lh = LengthHarmonizing::paper(2.0);
//! let rewards: Vec<Option<f32>> = group.iter().zip(&grades).map(|((resp, len), g)| {
//!     lh.reward(&RewardContext { problem_id: "p0", gold: "3/2", response: resp, length: *len,
//!         truncated: false, correct: g.correct, difficulty: None, reference: &stats })
//! }).collect();
//! // The short correct sample is rewarded most.
//! assert!(rewards[0] > rewards[1] && rewards[0] > rewards[2]);
//! ```
#![deny(missing_docs)]

mod equiv;
mod expr;
mod extract;
mod grade;
mod normalize;
mod reward;

pub use equiv::is_equivalent;
pub use extract::{
    AnswerSource, BoxedPolicy, GradeOptions, NoAnswer, extract_answer, extract_with_source,
    first_boxed, last_boxed,
};
pub use grade::{Grade, GradeReason, grade, grade_sample};
pub use reward::{
    AroraZanette, Component, Correctness, Cosine, DapoOverlong, DynReward, FnReward, KimiLength,
    L1Exact, L1Max, LengthHarmonizing, Normalization, ReferenceStats, Reward, RewardContext,
    RewardKind, RewardSpec, SampleOutcome, Scored, Scorer, ShorterBetter, SuccessGated,
    TargetLength, ThinkPruneCap, WeightedSum, score, z_scores,
};

/// Upper bound on the answer length analysed by [`is_equivalent`]; longer answers only
/// match character for character.
pub const MAX_ANSWER_BYTES: usize = normalize::MAX_ANSWER_BYTES;
