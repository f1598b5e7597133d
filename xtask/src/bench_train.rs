//! `cargo xtask bench-train`: training speed of o1p-trainer's optimizer step (forward +
//! backward + AdamW) against PyTorch on the CPU, on the same model shape, batch, sequence
//! length and thread count.
//!
//! ```text
//! cargo xtask bench-train                        # demo model and SmolLM2-135M shape, 1 thread
//! cargo xtask bench-train --skip-135m --skip-torch
//! ```
//!
//! Ours: `o1p_trainer::train` itself on synthetic sequences of exactly `--seq-len` tokens
//! (`--prompt-len` of prompt), one micro-batch of `--batch` sequences per step, the default
//! O1-Pruner objective (sequence ratio, eps 0.2, reference log-probs precomputed before the
//! loop), global-norm clipping at 10 and AdamW; the first `--warmup` steps are not timed. Step
//! times come from the run's `metrics.jsonl` (each step's response tokens over its
//! `tokens_per_second`), so they cover exactly the loop's step: building the batch, forward,
//! backward, clipping, the AdamW update and the host-side statistics.
//!
//! PyTorch (`xtask/python/bench_train.py`, when `--python` imports torch and transformers):
//! the same shape built by transformers (the demo model's own weights, random weights for the
//! 135M shape), the same tokens, the same loss written in torch (log-softmax, gather,
//! sequence ratio against precomputed reference log-probs, clipped objective), `backward()`,
//! `clip_grad_norm_(10)`, `torch.optim.AdamW.step()`.
//!
//! Tokens per second count every position of the batch (`batch x seq_len`). Both sides run
//! with `--threads` threads (ours: `RAYON_NUM_THREADS`, set by re-running this command with
//! it; torch: `set_num_threads`), one after the other.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::tensor::DType;
use o1p_model::{Backend, ModelConfig, weights};
use o1p_trainer::loss::PolicyLossConfig;
use o1p_trainer::{Objective, OptimConfig, StepMetrics, TrainExample, TrainSettings, train};
use serde_json::Value;

use crate::bench_models::{python_has_torch, run_python_json, smollm2_config};

/// Flags of `bench-train`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Scratch directory (run directories and the 135M config for PyTorch).
    #[arg(long, default_value = "target/bench-train")]
    pub out: PathBuf,
    /// The demo model directory.
    #[arg(long, default_value = "assets/demo-model")]
    pub demo_model: PathBuf,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence (prompt + response).
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Prompt tokens per sequence (masked out of the loss).
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    /// Timed steps on the demo model.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Sequences per step on the 135M shape.
    #[arg(long, default_value_t = 2)]
    pub batch_135m: usize,
    /// Tokens per sequence on the 135M shape.
    #[arg(long, default_value_t = 256)]
    pub seq_len_135m: usize,
    /// Timed steps on the 135M shape (each is ~1000x the demo's work).
    #[arg(long, default_value_t = 2)]
    pub steps_135m: usize,
    /// Untimed steps first (allocation, caches).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Threads of both sides.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Skip the SmolLM2-135M shape.
    #[arg(long)]
    pub skip_135m: bool,
    /// Skip PyTorch even when it is installed.
    #[arg(long)]
    pub skip_torch: bool,
    /// Python interpreter with torch and transformers.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

/// One model shape to time.
struct Case {
    name: &'static str,
    /// The demo model's directory, or `None` for random weights of `config`.
    weights: Option<PathBuf>,
    config: ModelConfig,
    batch: usize,
    seq_len: usize,
    steps: usize,
}

/// Runs the benchmark and prints a table.
pub fn run(args: &Args) -> Result<()> {
    // Burn's CPU backend threads through rayon, whose pool size is read once from the
    // environment: re-run this command with it set rather than mutating our own environment.
    let wanted = args.threads.to_string();
    if std::env::var("RAYON_NUM_THREADS").ok().as_deref() != Some(wanted.as_str()) {
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("RAYON_NUM_THREADS", &wanted)
            .status()
            .context("re-running bench-train with RAYON_NUM_THREADS set")?;
        if !status.success() {
            bail!("bench-train failed ({status})");
        }
        return Ok(());
    }
    if args.prompt_len == 0 || args.prompt_len + 2 > args.seq_len.min(args.seq_len_135m) {
        bail!("--prompt-len must be at least 1 and leave at least 2 response tokens");
    }

    let mut cases = vec![Case {
        name: "demo-qwen2",
        weights: Some(args.demo_model.clone()),
        config: ModelConfig::from_file(args.demo_model.join("config.json"))?,
        batch: args.batch,
        seq_len: args.seq_len,
        steps: args.steps,
    }];
    if !args.skip_135m {
        cases.push(Case {
            name: "smollm2-135m-shape",
            weights: None,
            config: smollm2_config()?,
            batch: args.batch_135m,
            seq_len: args.seq_len_135m,
            steps: args.steps_135m,
        });
    }
    let torch = !args.skip_torch && python_has_torch(&args.python);
    if !args.skip_torch && !torch {
        eprintln!(
            "torch/transformers not importable by {}: no PyTorch column, no ratio",
            args.python
        );
    }

    println!(
        "threads {} (ours: RAYON_NUM_THREADS; torch: set_num_threads), tokens = batch x seq_len, \
         warmup {} step(s) untimed; the CPU may be shared with other jobs",
        args.threads, args.warmup
    );
    println!(
        "{:<20} {:>9} {:>5} {:>7} {:>6} {:>11} {:>12} {:>11} {:>12} {:>8}",
        "model",
        "params",
        "batch",
        "seq_len",
        "steps",
        "ours s/step",
        "ours tok/s",
        "torch s/st",
        "torch tok/s",
        "ours/pt"
    );
    for case in &cases {
        let ours = time_ours(args, case)?;
        let theirs = if torch {
            Some(time_torch(args, case)?)
        } else {
            None
        };
        let tokens = (case.batch * case.seq_len) as f64;
        let fmt = |s: Option<f64>, f: &dyn Fn(f64) -> String| s.map_or("-".to_string(), f);
        println!(
            "{:<20} {:>8.2}M {:>5} {:>7} {:>6} {:>11.3} {:>12.1} {:>11} {:>12} {:>8}",
            case.name,
            ours.params as f64 / 1e6,
            case.batch,
            case.seq_len,
            case.steps,
            ours.seconds,
            tokens / ours.seconds,
            fmt(theirs, &|s| format!("{s:.3}")),
            fmt(theirs, &|s| format!("{:.1}", tokens / s)),
            fmt(theirs, &|s| format!("{:.2}x", s / ours.seconds)),
        );
    }
    Ok(())
}

/// Mean step time of ours, and the parameter count.
struct Ours {
    seconds: f64,
    params: usize,
}

fn time_ours(args: &Args, case: &Case) -> Result<Ours> {
    let device = Backend::Flex.autodiff_device()?;
    let model = match &case.weights {
        Some(dir) => o1p_model::load_pretrained(dir, &device, DType::F32)?.0,
        None => {
            let mut init = weights::RandomInit::new(0, 0.02);
            weights::build_model(&case.config, &mut init, &device, DType::F32)?
        }
    };
    let params = burn::module::Module::num_params(&model);
    let steps = args.warmup + case.steps;
    let examples = examples(args, case, steps);
    let settings = TrainSettings {
        optim: OptimConfig {
            lr: 1e-5,
            warmup_ratio: 0.0,
            batch_size: case.batch,
            token_budget: case.batch * case.seq_len,
            epochs: 1,
            max_seq_len: case.seq_len,
            ..Default::default()
        },
        stop_after: Some(steps),
        ..Default::default()
    };
    let run_dir = args.out.join(format!("run-{}", case.name));
    let _ = std::fs::remove_dir_all(&run_dir);
    train(
        model,
        &case.config,
        examples,
        Objective::Policy(PolicyLossConfig::default()),
        &settings,
        &run_dir,
    )?;
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl"))?;
    let lines: Vec<StepMetrics> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("reading the run's metrics")?;
    if lines.len() != steps {
        bail!("{} steps logged, {steps} expected", lines.len());
    }
    let response_tokens = (case.batch * (case.seq_len - args.prompt_len)) as f64;
    let timed: Vec<f64> = lines[args.warmup..]
        .iter()
        .map(|m| response_tokens / m.tokens_per_second)
        .collect();
    Ok(Ours {
        seconds: timed.iter().sum::<f64>() / timed.len() as f64,
        params,
    })
}

/// `steps * batch` sequences of exactly `seq_len` tokens with alternating advantages.
fn examples(args: &Args, case: &Case, steps: usize) -> Vec<TrainExample> {
    let vocab = case.config.vocab_size;
    (0..steps * case.batch)
        .map(|i| {
            let ids: Vec<u32> = token_ids(i, case.seq_len, vocab);
            TrainExample {
                problem_id: format!("b{i}"),
                prompt_ids: ids[..args.prompt_len].to_vec(),
                response_ids: ids[args.prompt_len..].to_vec(),
                advantage: if i % 2 == 0 { 1.0 } else { -1.0 },
                reward: 0.0,
                sample_index: 0,
                components: Vec::new(),
            }
        })
        .collect()
}

/// The tokens of sequence `i` (the Python side builds the same ones).
fn token_ids(i: usize, len: usize, vocab: usize) -> Vec<u32> {
    (0..len)
        .map(|j| ((i * 131 + j * 7 + 3) % vocab) as u32)
        .collect()
}

/// Mean step time of PyTorch.
fn time_torch(args: &Args, case: &Case) -> Result<f64> {
    let dir = match &case.weights {
        Some(dir) => dir.clone(),
        None => {
            // Only the config: the script builds random weights of this shape itself.
            let dir = args.out.join(case.name);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join("config.json"),
                serde_json::to_vec_pretty(&case.config.to_hf_json("float32"))?,
            )?;
            dir
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bench_train.py");
    let mut cmd = Command::new(&args.python);
    cmd.arg(&script)
        .arg(&dir)
        .args(["--batch", &case.batch.to_string()])
        .args(["--seq-len", &case.seq_len.to_string()])
        .args(["--prompt-len", &args.prompt_len.to_string()])
        .args(["--steps", &case.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--threads", &args.threads.to_string()]);
    if case.weights.is_none() {
        cmd.arg("--random-weights");
    }
    let v: Value = run_python_json(&mut cmd, &script)?;
    v["mean_step_seconds"]
        .as_f64()
        .context("no mean_step_seconds in the script's output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_sequences_have_the_requested_shape() {
        let ids = token_ids(5, 40, 61);
        assert_eq!(ids.len(), 40);
        assert!(ids.iter().all(|&t| t < 61));
        assert_ne!(token_ids(0, 8, 61), token_ids(1, 8, 61));
    }
}
