//! Developer tasks of the o1-pruner workspace (`cargo xtask <command>`), as a library so that
//! their pieces can be tested.
//!
//! - [`demo_tokenizer`]: the character-level tokenizer of the embedded demo model.
//! - [`bench_sampler`]: `cargo xtask bench-sampler`, generation speed against transformers.
//! - [`bench_serve`]: `cargo xtask bench-serve`, the `serve` example's throughput under
//!   concurrent requests against the same requests one at a time.
//! - [`bench_memory`]: `cargo xtask bench-memory`, peak memory and step speed at the 1.5B
//!   shape against PyTorch + PEFT.
//! - [`bench_train`]: `cargo xtask bench-train`, training-step speed against PyTorch.
//! - [`train_demo`]: `cargo xtask train-demo`, which pretrains that model from scratch.
#![deny(missing_docs)]

pub mod bench_memory;
mod bench_models;
pub mod bench_sampler;
pub mod bench_serve;
pub mod bench_train;
pub mod demo_tokenizer;
pub mod train_demo;
