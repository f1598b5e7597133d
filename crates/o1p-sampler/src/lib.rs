//! Generation for O1-Pruner: many sequences decoded together with a KV cache.
//!
//! [`generate`] is the native Burn decoder loop. Prompts of different lengths are left-padded
//! with explicit position ids and a key-padding mask, so a sequence gets the same tokens alone
//! and inside a batch; finished rows leave the batch (and the cache) at once. Every sequence
//! samples from its own seeded RNG, so its tokens do not depend on what it was batched with —
//! which is what makes pre-sampling resumable with identical results.
#![deny(missing_docs)]

mod generate;

pub use generate::{Completion, FinishReason, SamplingParams, generate, prompt_logprobs};
