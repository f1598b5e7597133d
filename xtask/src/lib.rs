//! Developer tasks of the o1-pruner workspace (`cargo xtask <command>`), as a library so that
//! their pieces can be tested.
//!
//! - [`demo_tokenizer`]: the character-level tokenizer of the embedded demo model.
//! - [`bench_sampler`]: `cargo xtask bench-sampler`, generation speed against transformers.
//! - [`train_demo`]: `cargo xtask train-demo`, which pretrains that model from scratch.
#![deny(missing_docs)]

pub mod bench_sampler;
pub mod demo_tokenizer;
pub mod train_demo;
