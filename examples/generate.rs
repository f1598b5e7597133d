//! Generate a continuation of one prompt with a Hugging Face checkpoint or a GGUF file.
//!
//! ```text
//! cargo run --release --example generate -- --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3)
//!     [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
//!     [--backend flex|wgpu|tch] [--dtype f32|bf16|f16] [--json]
//! ```
//!
//! Greedy unless `--temperature` is given. Exit status: 0 on success, 2 on a usage error (a
//! flag out of its range), 1 on an error (a prompt that does not fit the model's context with
//! `--max-new-tokens` added is one). `--prompt-ids` needs no tokenizer files; a `.gguf`
//! file carries its tokenizer in its metadata. With
//! `--json`, stdout is exactly one JSON object:
//! `{"prompt_ids": [...], "generated_ids": [...], "text": string|null,
//!   "prompt_logprobs": [null, lp_1, ..., lp_{n-1}]}`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use o1_pruner::model::{Backend, Precision, Pretrained};
use o1_pruner::sampler::{LengthLimits, SamplingParams, generate, parse, prompt_logprobs};

#[derive(Parser, Debug)]
#[command(about = "Generate text with a Qwen2 / Llama checkpoint")]
struct Args {
    /// Hugging Face model directory (config.json + safetensors [+ tokenizer.json]), or a
    /// llama.cpp `.gguf` file (weights dequantised on load, tokenizer from its metadata).
    #[arg(long)]
    model: PathBuf,
    /// Prompt text (needs tokenizer.json in the model directory).
    #[arg(
        long,
        conflicts_with = "prompt_ids",
        required_unless_present = "prompt_ids"
    )]
    prompt: Option<String>,
    /// Prompt as comma-separated token ids.
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Most tokens to generate (>= 1; prompt + this must fit the model's context).
    #[arg(long, default_value_t = 64, value_parser = parse::max_new_tokens)]
    max_new_tokens: usize,
    /// Sampling temperature, finite and >= 0; greedy when absent or 0.
    #[arg(long, value_parser = parse::temperature)]
    temperature: Option<f32>,
    /// Nucleus sampling threshold, in (0, 1].
    #[arg(long, default_value_t = 1.0, value_parser = parse::top_p)]
    top_p: f32,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Burn backend.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Weight precision: f32, bf16 or f16. bf16 halves the weights' memory
    /// (R1-Distill-Qwen-7B: 15 GB instead of 30); logits are read back in f32 either way.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let Pretrained {
        model,
        config,
        tokenizer,
        stop_ids,
        ..
    } = Pretrained::open(&args.model, &device, args.dtype.dtype())
        .with_context(|| format!("loading {}", args.model.display()))?;
    let prompt_ids = match (&args.prompt, &args.prompt_ids) {
        (_, Some(ids)) => ids.clone(),
        (Some(text), None) => {
            let Some(tok) = &tokenizer else {
                bail!(
                    "--prompt needs {}/tokenizer.json; use --prompt-ids",
                    args.model.display()
                )
            };
            tok.encode(text, tok.special().add_bos)?
        }
        (None, None) => bail!("give --prompt or --prompt-ids"),
    };
    if prompt_ids.is_empty() {
        bail!("the prompt is empty");
    }
    if let Some(&bad) = prompt_ids
        .iter()
        .find(|&&t| t as usize >= config.vocab_size)
    {
        bail!(
            "token id {bad} is outside the vocabulary (size {})",
            config.vocab_size
        );
    }
    // Prompt + new tokens must fit the context, and the prefill the memory bound.
    LengthLimits::of_model(&model, Some(config.max_position_embeddings))
        .check(prompt_ids.len(), args.max_new_tokens, 1)
        .context("the prompt is too long")?;
    let params = SamplingParams {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature.unwrap_or(0.0),
        top_p: args.top_p,
        stop_ids,
        ..Default::default()
    };
    let completion = generate(
        &model,
        std::slice::from_ref(&prompt_ids),
        &[args.seed],
        &params,
        tokenizer.as_ref(),
    )
    .pop()
    .context("no completion")?;
    let text = match &tokenizer {
        Some(tok) => Some(tok.decode(&completion.token_ids, true)?),
        None => None,
    };
    if args.json {
        let mut lps: Vec<Option<f32>> = vec![None];
        lps.extend(prompt_logprobs(&model, &prompt_ids).into_iter().map(Some));
        let out = serde_json::json!({
            "prompt_ids": prompt_ids,
            "generated_ids": completion.token_ids,
            "text": text,
            "prompt_logprobs": lps,
        });
        println!("{out}");
    } else {
        match text {
            Some(t) => println!("{t}"),
            None => println!("{:?}", completion.token_ids),
        }
    }
    Ok(())
}
