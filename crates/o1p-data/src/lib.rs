//! Data for O1-Pruner: problems, prompts, sample records and the synthetic demo task.
//!
//! - [`Problem`]s are loaded from JSONL or JSON-array files through a [`FieldMapping`]
//!   (built in: [`Format::Gsm8k`], [`Format::Math`], [`Format::Jsonl`]); bad records are
//!   skipped and listed in a [`LoadReport`], or fail with a [`DataError`] naming file and line.
//!   [`shuffle`] and [`train_test_split`] are seeded and identical on every platform.
//! - [`PromptTemplate`] holds the paper's prompts (and the fast-solving variant) and renders
//!   them as raw text or through a model's Hugging Face [`ChatTemplate`].
//! - [`SampleRecord`]s of pre-sampling live in a crash-safe, append-only [`SampleStore`];
//!   [`write_atomic`] replaces other output files atomically.
//! - [`fingerprint`] records what made a run directory (settings, input hashes, the model's
//!   cheap hash) so that a rerun with other inputs is refused instead of resumed.
//! - [`demo`] generates the synthetic long-thought arithmetic task of the embedded demo.
//!
//! This crate knows nothing about models or tensors (no Burn dependency).
//!
//! ```
//! use o1p_data::{demo, PromptTemplate};
//! let problems = demo::generate_problems(4, 7, &demo::DemoConfig::default());
//! let prompt = demo::prompt_template().render_raw(&problems[0].question).unwrap();
//! assert!(prompt.starts_with("Q: "));
//! let chat = PromptTemplate::default().messages("What is 2+2?").unwrap();
//! assert_eq!(chat[1].content, "Solve the problem: What is 2+2?");
//! ```
#![deny(missing_docs)]

mod atomic;
mod boxed;
mod chat;
pub mod demo;
mod error;
pub mod fingerprint;
mod load;
mod problem;
mod prompt;
mod rng;
mod sample;
mod split;
mod store;

pub use atomic::{
    is_atomic_temporary, remove_stale_temporaries, write_atomic, write_atomic_with,
    write_json_atomic,
};
pub use chat::{ChatMessage, ChatTemplate};
pub use error::{DataError, ItemError, Location, Result};
pub use load::{LoadReport, Loaded, OnBadItem, SkippedItem, load_problems, parse_problems};
pub use problem::{FieldMapping, Format, GoldRule, Problem};
pub use prompt::{
    FAST_SOLVING_SUFFIX, PAPER_SYSTEM, PAPER_USER, PromptRenderer, PromptTemplate,
    QUESTION_PLACEHOLDER,
};
pub use sample::{FinishReason, SampleRecord};
pub use split::{Split, shuffle, train_test_split};
pub use store::{Durability, JsonlStore, SampleStore};
