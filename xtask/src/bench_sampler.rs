//! `cargo xtask bench-sampler`: generation speed of the native sampler, and of Hugging Face
//! transformers' `generate()` on the same weights when Python has torch and transformers.
//!
//! ```text
//! cargo xtask bench-sampler                      # demo-sized Qwen2 and SmolLM2-135M shape
//! cargo xtask bench-sampler --skip-135m --skip-hf
//! ```
//!
//! For each model (random weights, saved with save_pretrained so that transformers loads the
//! very same tensors): greedy decoding of exactly `--new-tokens` tokens (no EOS stop) after one
//! `--prompt-len` prompt repeated over the batch, at batch 1 and batch 16, after an untimed
//! warm-up. Reported: end-to-end tokens/s (prefill included, comparable with transformers'
//! `generate()`), decode-only tokens/s, and the ratio to transformers. Then, on the demo-sized
//! model, one long generation (`--long-tokens`) at batch 1, comparing the mean time of the
//! first and last 32 decoding steps: with a KV cache each step costs one position plus
//! attention over the cache, so the late steps may only be slower by that attention cost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::tensor::DType;
use o1p_model::{Backend, CausalLm, ModelConfig, weights};
use o1p_sampler::{SamplingParams, generate_with};
use serde_json::Value;

use crate::bench_models::{python_has_torch, run_python_json, smollm2_config};

/// Flags of `bench-sampler`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where the random checkpoints are written (reused when present).
    #[arg(long, default_value = "target/bench-sampler")]
    pub out: PathBuf,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    /// Tokens generated per row on the demo-sized model.
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Tokens generated per row on the 135M model (fewer: it is ~100x the work per token).
    #[arg(long, default_value_t = 24)]
    pub new_tokens_135m: usize,
    /// Length of the long generation for the per-token cost check.
    #[arg(long, default_value_t = 512)]
    pub long_tokens: usize,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub batches: Vec<usize>,
    /// Skip the SmolLM2-135M-shaped model.
    #[arg(long)]
    pub skip_135m: bool,
    /// Skip transformers even when it is installed.
    #[arg(long)]
    pub skip_hf: bool,
    /// torch threads for transformers; default: RAYON_NUM_THREADS when set (the native
    /// sampler's thread count), else torch's default. Compare at equal thread counts: on a
    /// shared machine torch's spinning pool collapses when it has fewer cores than threads.
    #[arg(long)]
    pub hf_threads: Option<usize>,
    /// Python interpreter with torch and transformers.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

/// One timed generation.
#[derive(Debug, Clone, Copy)]
struct Timing {
    batch: usize,
    new_tokens: usize,
    total: Duration,
    /// From the end of the prefill to the last step.
    decode: Duration,
}

impl Timing {
    fn tokens_per_s(&self) -> f64 {
        (self.batch * self.new_tokens) as f64 / self.total.as_secs_f64()
    }
    fn decode_tokens_per_s(&self) -> f64 {
        (self.batch * (self.new_tokens - 1)) as f64 / self.decode.as_secs_f64()
    }
}

/// Runs the benchmark and prints a table.
pub fn run(args: &Args) -> Result<()> {
    let mut models = vec![("demo-qwen2", tiny_config(), args.new_tokens)];
    if !args.skip_135m {
        models.push((
            "smollm2-135m-shape",
            smollm2_config()?,
            args.new_tokens_135m,
        ));
    }
    let hf = !args.skip_hf && python_has_torch(&args.python);
    if !args.skip_hf && !hf {
        eprintln!(
            "transformers/torch not importable by {}: native numbers only",
            args.python
        );
    }
    let device = Backend::Flex.device()?;
    println!(
        "{:<20} {:>5} {:>6} {:>12} {:>14} {:>12} {:>8}",
        "model", "batch", "tokens", "native tok/s", "native dec/s", "hf tok/s", "ratio"
    );
    for (name, config, new_tokens) in &models {
        let dir = args.out.join(name);
        let model = load_or_create(&dir, config, &device)?;
        let prompt: Vec<u32> = (0..args.prompt_len)
            .map(|i| ((i * 7 + 3) % config.vocab_size) as u32)
            .collect();
        let native: Vec<Timing> = args
            .batches
            .iter()
            .map(|&b| time_native(&model, &prompt, b, *new_tokens))
            .collect();
        let hf_rates = if hf {
            hf_generate(args, &dir, &prompt, *new_tokens)?
        } else {
            Vec::new()
        };
        for (i, t) in native.iter().enumerate() {
            let hf_rate = hf_rates.get(i).copied();
            println!(
                "{:<20} {:>5} {:>6} {:>12.1} {:>14.1} {:>12} {:>8}",
                name,
                t.batch,
                t.new_tokens,
                t.tokens_per_s(),
                t.decode_tokens_per_s(),
                hf_rate.map_or("-".into(), |r| format!("{r:.1}")),
                hf_rate.map_or("-".into(), |r| format!("{:.2}x", t.tokens_per_s() / r)),
            );
        }
        if let [one, .., many] = native.as_slice() {
            println!(
                "{:<20} batch {} vs 1: {:.1}x the tokens/s",
                name,
                many.batch,
                many.tokens_per_s() / one.tokens_per_s()
            );
        }
    }
    long_generation(args, &device)
}

/// Mean step time of the first and last 32 decoding steps of one long generation.
fn long_generation(args: &Args, device: &burn::tensor::Device) -> Result<()> {
    let n = args.long_tokens;
    if n < 80 {
        bail!("--long-tokens must be at least 80");
    }
    let model = load_or_create(&args.out.join("demo-qwen2"), &tiny_config(), device)?;
    let prompt: Vec<u32> = (0..args.prompt_len).map(|i| (i % 60) as u32 + 1).collect();
    let params = greedy(n);
    let mut stamps = Vec::with_capacity(n);
    generate_with(&model, &[prompt], &[0], &params, None, &mut |_| {
        stamps.push(Instant::now())
    });
    // stamps[0] ends the prefill; stamps[s] ends decoding step s.
    let steps: Vec<f64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let first = mean(&steps[..32]);
    let last = mean(&steps[steps.len() - 32..]);
    println!(
        "long generation (demo-qwen2, batch 1, {n} tokens): first 32 steps {first:.3} ms/token, \
         last 32 steps {last:.3} ms/token ({:.2}x)",
        last / first
    );
    Ok(())
}

fn greedy(n: usize) -> SamplingParams {
    SamplingParams {
        max_new_tokens: n,
        ..Default::default()
    }
}

fn time_native(model: &CausalLm, prompt: &[u32], batch: usize, n: usize) -> Timing {
    let prompts = vec![prompt.to_vec(); batch];
    let seeds = vec![0; batch];
    // Warm-up: first calls allocate and fill caches of the backend.
    generate_with(model, &prompts, &seeds, &greedy(2), None, &mut |_| {});
    let start = Instant::now();
    let mut prefill_end = start;
    let mut last = start;
    generate_with(model, &prompts, &seeds, &greedy(n), None, &mut |s| {
        last = Instant::now();
        if s.index == 0 {
            prefill_end = last;
        }
    });
    Timing {
        batch,
        new_tokens: n,
        total: last - start,
        decode: last - prefill_end,
    }
}

fn load_or_create(
    dir: &Path,
    config: &ModelConfig,
    device: &burn::tensor::Device,
) -> Result<CausalLm> {
    if dir.join("model.safetensors").is_file() {
        let (model, saved) = o1p_model::load_pretrained(dir, device, DType::F32)?;
        if saved.hidden_size == config.hidden_size
            && saved.num_hidden_layers == config.num_hidden_layers
            && saved.vocab_size == config.vocab_size
        {
            return Ok(model);
        }
    }
    let mut init = weights::RandomInit::new(0, 0.02);
    let model = weights::build_model(config, &mut init, device, DType::F32)?;
    weights::save_pretrained(&model, config, dir)
        .with_context(|| format!("saving {}", dir.display()))?;
    Ok(model)
}

/// The demo-sized Qwen2: 4 layers, width 128, 4 heads (2 KV), vocab 64.
fn tiny_config() -> ModelConfig {
    ModelConfig::qwen2(64, 128, 384, 4, 4, 2)
}

/// tokens/s of transformers' generate() for each batch size.
fn hf_generate(args: &Args, dir: &Path, prompt: &[u32], n: usize) -> Result<Vec<f64>> {
    let threads = args.hf_threads.unwrap_or_else(|| {
        std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bench_hf_generate.py");
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let mut cmd = Command::new(&args.python);
    cmd.arg(&script)
        .args(["--threads", &threads.to_string()])
        .arg(dir)
        .args(["--prompt-ids", &ids.join(",")])
        .args(["--new-tokens", &n.to_string()]);
    for b in &args.batches {
        cmd.args(["--batch", &b.to_string()]);
    }
    let v: Value = run_python_json(&mut cmd, &script)?;
    let rates = v["results"]
        .as_array()
        .context("no results")?
        .iter()
        .map(|r| r["tokens_per_s"].as_f64().unwrap_or(f64::NAN))
        .collect();
    Ok(rates)
}
