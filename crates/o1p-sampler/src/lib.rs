//! Generation and pre-sampling for O1-Pruner.
//!
//! - [`Batcher`] is the native Burn decoder loop, with continuous batching: sequences join
//!   the running batch at the next step and leave it when done. Prompts of different lengths
//!   are left-padded with explicit position ids and a key-padding mask, so a sequence gets
//!   the same tokens alone and inside a batch. Every sequence samples from its own seeded
//!   RNG, so its tokens do not depend on what it was batched with, which is what makes
//!   pre-sampling resumable with identical results. [`generate`] is a batcher given every
//!   prompt at once.
//! - [`Generator`] is "prompts in, completions out": [`NativeGenerator`] runs a [`Batcher`]
//!   in this process, [`HttpGenerator`] calls an OpenAI-compatible `/v1/completions` server
//!   (vLLM, SGLang, llama.cpp, or the `serve` example of this project); [`HttpPool`] spreads
//!   the calls over several such servers and moves a dead server's calls to the others.
//! - [`presample`](presample::presample) is step 1 of the method: K graded samples per
//!   problem in a crash-safe store, then the per-problem reference statistics; a rerun after
//!   a kill resumes and ends with byte-identical files.
//! - [`shard`] splits a pre-sampling run over several machines (`PresampleConfig::shard`)
//!   and merges the shards into the pool an unsharded run writes.
//! - [`server`] is the small HTTP/1.1 server under the `serve` example (idle timeout and
//!   connection cap).
//! - [`testing`] builds a character-level tokenizer and a tiny random model directory for
//!   tests and benchmarks.
//!
//! ```
//! use o1p_model::{Backend, CausalLm, ModelConfig};
//! use o1p_sampler::{SamplingParams, generate};
//! let model = CausalLm::random(&ModelConfig::qwen2(32, 16, 32, 1, 2, 1), 0, &Backend::Flex.device().unwrap());
//! let params = SamplingParams { max_new_tokens: 4, ..Default::default() };
//! let out = generate(&model, &[vec![1, 2, 3], vec![4]], &[0, 1], &params, None);
//! assert_eq!(out.len(), 2);
//! assert!(out.iter().all(|c| c.token_ids.len() == 4));
//! ```
#![deny(missing_docs)]

mod batcher;
mod error;
mod generate;
mod generator;
mod http;
mod limits;
mod pool;
pub mod presample;
pub mod server;
pub mod shard;
pub mod testing;

pub use batcher::{BatchEvent, Batcher, SequenceId, StepReport};
pub use error::{GenerateError, PresampleError, ServerFailure};
pub use generate::{
    Completion, FinishReason, SamplingParams, Step, generate, generate_with, prompt_logprobs,
};
pub use generator::{Generated, Generator, NativeGenerator, Prompt, Request};
pub use http::{HttpConfig, HttpGenerator, SeedMode};
pub use limits::{
    DEFAULT_PREFILL_MEMORY_LIMIT, LengthError, LengthLimits, SamplingError, parse, prefill_bytes,
};
pub use pool::{HttpPool, ServerStats};
