//! A user-defined reward in its own crate, plugged into `o1p-reward` through its public API.
//!
//! [`HesitationPenalty`] targets the habit O1-Pruner is about: long chains of thought full
//! of "wait, let me double-check". For a correct sample
//!
//! `r = max(0, 1 - beta * m)`, with `m` the number of hesitation markers per 1,000 tokens,
//!
//! and `r = 0` for a wrong one (success-gated, so it never teaches "fail fast"). It composes
//! with the built-in rewards:
//!
//! ```
//! use custom_reward::HesitationPenalty;
//! use o1p_reward::{LengthHarmonizing, Reward, WeightedSum};
//!
//! let reward = WeightedSum::new("lh_plus_hesitation")
//!     .with(1.0, LengthHarmonizing::paper(2.0))
//!     .with(0.5, HesitationPenalty::default());
//! assert_eq!(reward.name(), "lh_plus_hesitation");
//! ```
//!
//! To train with it, pass it to the trainer as a term of a [`o1p_reward::Scorer`] and call
//! `o1p_trainer::run_with_reward` with a run config: `examples/train-hesitation.rs` fine-tunes
//! the demo model that way and compares the hesitation markers of the base and the trained
//! model on held-out problems (`cargo run --release -p custom-reward --example
//! train-hesitation`).
#![deny(missing_docs)]

use o1p_reward::{Reward, RewardContext};

/// Phrases counted as hesitation (lower-case, matched case-insensitively).
pub const DEFAULT_MARKERS: &[&str] = &[
    "wait",
    "double-check",
    "double check",
    "hmm",
    "let me re",
    "on second thought",
];

/// Penalises hesitation markers per 1,000 tokens in correct samples; wrong samples get 0.
#[derive(Clone, Debug, PartialEq)]
pub struct HesitationPenalty {
    /// Penalty per marker per 1,000 tokens.
    pub beta: f32,
    /// The phrases to count (lower-case).
    pub markers: Vec<String>,
}

impl Default for HesitationPenalty {
    fn default() -> Self {
        HesitationPenalty {
            beta: 0.1,
            markers: DEFAULT_MARKERS.iter().map(|m| (*m).to_string()).collect(),
        }
    }
}

impl HesitationPenalty {
    /// Number of marker occurrences in `text` (case-insensitive).
    pub fn count(&self, text: &str) -> usize {
        let lower = text.to_lowercase();
        self.markers
            .iter()
            .map(|m| {
                if m.is_empty() {
                    0
                } else {
                    lower.matches(m.as_str()).count()
                }
            })
            .sum()
    }
}

impl Reward for HesitationPenalty {
    fn name(&self) -> &str {
        "hesitation_penalty"
    }

    fn reward(&self, ctx: &RewardContext<'_>) -> Option<f32> {
        if ctx.length == 0 {
            return None; // rate per token undefined: skip the sample
        }
        if !ctx.correct {
            return Some(0.0);
        }
        let per_k = self.count(ctx.response) as f64 * 1000.0 / ctx.length as f64;
        Some((1.0 - f64::from(self.beta) * per_k).max(0.0) as f32)
    }
}
