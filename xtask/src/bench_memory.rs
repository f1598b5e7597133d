//! `cargo xtask bench-memory`: peak memory and tokens/s of one training step at the
//! DeepSeek-R1-Distill-Qwen-1.5B shape, ours against PyTorch + PEFT in the same run.
//!
//! Builds `prune` (release) and hands over to `xtask/python/bench_memory.py`, which writes the
//! random checkpoint and pools, runs each row on both sides under the same memory poller and
//! prints the table of ratios (its docstring lists the rows and what is measured). The Python
//! side needs torch, transformers and peft.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Flags of `cargo xtask bench-memory`; everything after `--` goes to the Python driver.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Passed to xtask/python/bench_memory.py (e.g. --layers 28 --seq-lens 1024).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub driver_args: Vec<String>,
}

/// Builds `prune` and runs the driver.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--example", "prune"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the prune example failed");
    }
    let status = Command::new("python3")
        .arg(root.join("xtask/python/bench_memory.py"))
        .args(&args.driver_args)
        .current_dir(&root)
        .status()
        .context("running python3 (torch, transformers and peft are needed)")?;
    if !status.success() {
        bail!("xtask/python/bench_memory.py failed ({status})");
    }
    Ok(())
}
