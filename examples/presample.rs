//! Pre-sample K graded solutions per problem from a reference model (step 1 of O1-Pruner).
//!
//! ```text
//! cargo run --release --example presample -- --model DIR|FILE.gguf --data FILE [--format gsm8k|math|jsonl]
//!     --out DIR [--k 16] [--temperature 0.5] [--top-p 0.8] [--top-k 0] [--max-new-tokens 8192]
//!     [--batch-size 16] [--seed 0] [--backend flex|wgpu|tch] [--dtype f32|bf16|f16]
//!     [--server URL... [--server-model NAME] [--concurrency 8] [--grouped] [--server-token-ids]
//!      [--api-key KEY] [--timeout 600]]
//!     [--prompt-style auto|raw|chat] [--system TEXT | --no-system] [--user TEXT]
//!     [--fast-solving] [--stop STRING]... [--keep-token-ids | --no-token-ids] [--no-progress] [--fresh]
//!     [--shard I/N]
//! cargo run --release --example presample -- --merge SHARD_DIR... --out DIR [--fresh]
//! ```
//!
//! Each record keeps the generated token ids, EOS included (the default; `--keep-token-ids` is
//! accepted and changes nothing), so the trainer trains exactly what was generated, the stop
//! included. `--no-token-ids` stores text only: the trainer then re-tokenizes each response
//! and appends EOS where the sample ended on it.
//!
//! With `--server`, samples come from an OpenAI-compatible `/v1/completions` server (vLLM,
//! SGLang, llama.cpp, or this project's `serve` example); `--model` is then optional and used
//! only for its tokenizer and chat template. `--prompt-style auto` uses the model's chat
//! template when tokenizer_config.json (or the `.gguf` metadata) has one, raw text otherwise.
//!
//! # Several servers
//! `--server` may be given several times: the requests of each batch are spread over the
//! servers, at most `--concurrency` (alias `--server-concurrency`) in flight on each, a faster
//! server taking more (see `o1p_sampler::HttpPool`). Keep `--batch-size` at least servers x
//! concurrency, or some servers wait. A server that stops answering (connection refused or
//! reset, no answer within `--timeout`, HTTP 429 / 5xx) has its requests retried on the
//! others and is itself probed again (`GET /v1/models`) after a backoff (0.5 s, doubling up to
//! 10 s); the run fails only when every server has failed 5 times in a row, naming each
//! server and its last error. Each sample's seed goes with its request, so the files are the same as with
//! one server; the servers must serve the same model (their `/v1/models` lists must agree;
//! with vLLM, `--server-model` names it). Which servers are used is not part of the run's
//! fingerprint: a run resumes with another fleet. The end of the run reports samples/s and
//! tokens/s per server, as does the progress bar.
//!
//! The output directory holds (see `o1p_sampler::presample`):
//! - `samples.jsonl`: one sample record per line, problems in input order, samples 0..K;
//! - `reference_stats.json`: per-problem reference statistics, a JSON array in problem order;
//! - `presample.json`: the settings; rerunning into the directory with other settings fails.
//! - `fingerprint.json`: settings, problems and the model's hash (see `o1p_data::fingerprint`).
//!
//! Rerunning the same command after an interruption (even kill -9) resumes and ends with the
//! same files as an uninterrupted run. A rerun with other settings, other problems (even under
//! the same ids) or another model is refused before anything is written, naming each changed
//! field; `--fresh` removes this step's files from `--out` and starts over. Exit status: 0 when
//! every problem was sampled, 2 when some problems or data records were skipped (listed on
//! stderr: malformed records, no gold answer, a prompt longer than the model's context with
//! --max-new-tokens added, ...) or on a usage error (a flag out of its range), 1 on an error.
//!
//! # Several machines
//! `--shard I/N` (I from 0) samples only the I-th of N disjoint parts of the problems into its
//! own `--out`: blocks of whole problems that fill whole batches, dealt round robin (see
//! `o1p_sampler::shard`), with the seeds and batches of an unsharded run. Run the same
//! command with `--shard 0/N` ... `--shard N-1/N` (same flags otherwise, `--batch-size`
//! included) on N machines, copy the N directories to one, and `--merge DIR_0 ... --out POOL`
//! writes the four files an unsharded run with the same flags would have written, byte for
//! byte. The merge refuses, naming the directory and the field, shards made with other
//! settings, data or model, a missing or duplicated shard, shards of different N, and a shard
//! whose run has not finished (rerun its command: it resumes). A shard directory rerun with
//! another `--shard` (or none) is refused like any changed setting. Every shard checks every
//! problem, so each lists the problems skipped (and exits with 2 when there are some).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use o1_pruner::data::fingerprint::{RunFingerprint, model_hash};
use o1_pruner::data::{
    ChatTemplate, Format, OnBadItem, PromptRenderer, PromptTemplate, load_problems,
};
use o1_pruner::model::{Backend, Precision, Pretrained, Tokenizer};
use o1_pruner::sampler::presample::{PresampleConfig, presample, remove_outputs};
use o1_pruner::sampler::shard::{Shard, merge_shards};
use o1_pruner::sampler::{
    Generator, HttpConfig, HttpGenerator, HttpPool, NativeGenerator, SamplingParams, SeedMode,
    parse,
};

#[derive(Parser, Debug)]
#[command(about = "Pre-sample K graded solutions per problem (resumable)")]
struct Args {
    /// Hugging Face model directory (config.json, safetensors, tokenizer.json) or a llama.cpp
    /// `.gguf` file (tokenizer and chat template from its metadata). Optional with --server,
    /// where only its tokenizer and chat template are used.
    #[arg(long, required_unless_present_any = ["server", "merge"])]
    model: Option<PathBuf>,
    /// Problems file (JSONL or a JSON array).
    #[arg(long, required_unless_present = "merge")]
    data: Option<PathBuf>,
    /// Schema of the problems file: gsm8k, math or jsonl ({"id","question","answer"}).
    #[arg(long, default_value = "jsonl")]
    format: Format,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Samples per problem.
    #[arg(long, default_value_t = 16)]
    k: usize,
    /// Sampling temperature, finite and >= 0 (0: greedy).
    #[arg(long, default_value_t = 0.5, value_parser = parse::temperature)]
    temperature: f32,
    /// Nucleus sampling threshold, in (0, 1].
    #[arg(long, default_value_t = 0.8, value_parser = parse::top_p)]
    top_p: f32,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Most tokens per sample (>= 1). A problem whose prompt plus this exceeds the model's
    /// context (max_position_embeddings), or whose prefill would exceed the memory bound, is
    /// skipped with the reason.
    #[arg(long, default_value_t = 8192, value_parser = parse::max_new_tokens)]
    max_new_tokens: usize,
    /// Samples per generator call.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Base seed (each sample's seed derives from it, the problem id and the sample index).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Burn backend of the native sampler.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Weight precision of the native sampler: f32, bf16 or f16. bf16 halves the weights' memory
    /// (R1-Distill-Qwen-7B: 15 GB instead of 30); logits are read back in f32 either way.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// OpenAI-compatible server (http://host:port[/v1]) to sample from instead. Repeatable:
    /// requests are spread over all the servers given, and a server that stops answering has
    /// its requests retried on the others.
    #[arg(long, value_name = "URL")]
    server: Vec<String>,
    /// The `model` field sent to the server.
    #[arg(long, default_value = "default")]
    server_model: String,
    /// Requests in flight at once with --server, on each server.
    #[arg(long, visible_alias = "server-concurrency", default_value_t = 8)]
    concurrency: usize,
    /// With --server: one request with n samples per prompt instead of one per sample
    /// (fewer requests; samples then depend on their group, so a resume may differ).
    #[arg(long)]
    grouped: bool,
    /// With --server: bearer token for the server (default: $OPENAI_API_KEY, if set).
    #[arg(long)]
    api_key: Option<String>,
    /// With --server: time limit of one request in seconds (long generations take minutes).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// With --server: ask for the generated token ids (vLLM 0.10.2+, the `serve` example), so
    /// the records store what the server generated, EOS included.
    #[arg(long)]
    server_token_ids: bool,
    /// How prompts become text.
    #[arg(long, default_value = "auto", value_parser = ["auto", "raw", "chat"])]
    prompt_style: String,
    /// System prompt (default: the paper's).
    #[arg(long, conflicts_with = "no_system")]
    system: Option<String>,
    /// Send no system prompt.
    #[arg(long)]
    no_system: bool,
    /// User prompt with a {question} placeholder (default: the paper's).
    #[arg(long)]
    user: Option<String>,
    /// Append the paper's fast-solving sentence to each question.
    #[arg(long)]
    fast_solving: bool,
    /// Stop string (repeatable, not empty).
    #[arg(long, value_parser = parse::stop)]
    stop: Vec<String>,
    /// Store generated token ids in each record (the default; kept for older scripts).
    #[arg(long, conflicts_with = "no_token_ids")]
    keep_token_ids: bool,
    /// Store only the response text, not the generated token ids (the trainer re-tokenizes it).
    #[arg(long)]
    no_token_ids: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Start over: remove the files of an earlier pre-sampling run from --out first
    /// (samples.jsonl, reference_stats.json, presample.json, fingerprint.json; nothing else).
    #[arg(long)]
    fresh: bool,
    /// Sample only shard I of N (I from 0) of the problems into --out, for a run split over
    /// N machines; merge the N directories with --merge.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Merge the directories of the N shards of one run (any order) into --out, which then
    /// holds the files of an unsharded run. Takes no sampling flags.
    #[arg(
        long,
        num_args = 1..,
        value_name = "SHARD_DIR",
        conflicts_with_all = [
            "shard", "model", "data", "format", "k", "temperature", "top_p", "top_k",
            "max_new_tokens", "batch_size", "seed", "backend", "dtype", "server",
            "server_model", "concurrency", "grouped", "api_key", "timeout",
            "server_token_ids", "prompt_style", "system", "no_system", "user",
            "fast_solving", "stop", "keep_token_ids", "no_token_ids",
        ]
    )]
    merge: Vec<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.merge.is_empty() {
        return merge(&args);
    }
    let data = args
        .data
        .as_ref()
        .context("--data is required without --merge")?;
    let loaded = load_problems(data, &args.format.mapping(), OnBadItem::Skip)?;
    if !loaded.report.skipped.is_empty() {
        eprintln!("{}", loaded.report);
    }
    let tokenizer = match &args.model {
        Some(dir) => Pretrained::tokenizer_of(dir)
            .with_context(|| format!("tokenizer of {}", dir.display()))?,
        None => None,
    };
    let renderer = renderer(&args.prompt_style, tokenizer.as_ref())?;
    let mut template = PromptTemplate::default().with_fast_solving(args.fast_solving);
    if args.no_system {
        template.system = None;
    } else if let Some(system) = &args.system {
        template.system = Some(system.clone());
    }
    if let Some(user) = &args.user {
        template.user = user.clone();
    }
    let config = PresampleConfig {
        k: args.k,
        params: SamplingParams {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_p: args.top_p,
            top_k: args.top_k,
            stop_strings: args.stop.clone(),
            ..Default::default()
        },
        seed: args.seed,
        batch_size: args.batch_size,
        template,
        // `--keep-token-ids` is the default; the two flags conflict.
        keep_token_ids: args.keep_token_ids || !args.no_token_ids,
        progress: !args.no_progress,
        fingerprint: inputs(&args)?,
        shard: args.shard,
        ..Default::default()
    };
    let pool = match args.server.as_slice() {
        urls @ [_, _, ..] => {
            let in_flight = urls.len() * args.concurrency.max(1);
            if args.batch_size < in_flight {
                eprintln!(
                    "note: --batch-size {} keeps at most {} requests in flight; {} servers x --concurrency {} could take {in_flight}",
                    args.batch_size,
                    args.batch_size,
                    urls.len(),
                    args.concurrency
                );
            }
            Some(HttpPool::new(
                urls,
                http_config(&args, &urls[0]),
                tokenizer.clone(),
            )?)
        }
        _ => None,
    };
    let single: Option<Box<dyn Generator>> = match (&pool, args.server.first()) {
        (Some(_), _) => None,
        (None, Some(url)) => Some(Box::new(HttpGenerator::new(
            http_config(&args, url),
            tokenizer,
        )?)),
        (None, None) => {
            let dir = args
                .model
                .as_ref()
                .context("--model is required without --server")?;
            Some(Box::new(
                NativeGenerator::from_dir(dir, args.backend, args.dtype, args.batch_size)
                    .with_context(|| format!("loading {}", dir.display()))?,
            ))
        }
    };
    let generator: &dyn Generator = match (&pool, &single) {
        (Some(pool), _) => pool,
        (None, Some(single)) => single.as_ref(),
        (None, None) => bail!("no generator"),
    };
    if args.fresh {
        for path in remove_outputs(&args.out)? {
            eprintln!("--fresh: removed {}", path.display());
        }
    }
    let summary = presample(&loaded.problems, &renderer, generator, &config, &args.out)?;
    for s in &summary.skipped {
        eprintln!("skipped problem {}: {}", s.problem_id, s.reason);
    }
    if let Some(pool) = &pool {
        for server in pool.server_stats() {
            eprintln!("server {server}");
        }
    }
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    if let Some(shard) = args.shard {
        eprint!("shard {shard}: ");
    }
    eprintln!(
        "{} problems, {} records written, {} reused, {:.0} tokens/s -> {} and {}",
        summary.problems,
        summary.written,
        summary.reused,
        summary.generated_tokens as f64 / secs,
        summary.samples_path.display(),
        summary.stats_path.display()
    );
    Ok(
        if summary.skipped.is_empty() && loaded.report.skipped.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        },
    )
}

/// The client settings of one server (the same for every server of a pool).
fn http_config(args: &Args, url: &str) -> HttpConfig {
    let mut http = HttpConfig::new(url).with_api_key_or_env(args.api_key.clone());
    http.model = args.server_model.clone();
    http.concurrency = args.concurrency;
    http.return_token_ids = args.server_token_ids;
    http.timeout = std::time::Duration::from_secs(args.timeout);
    if args.grouped {
        http.seed_mode = SeedMode::Grouped;
    }
    http
}

/// `--merge`: the shard directories into one pool.
fn merge(args: &Args) -> anyhow::Result<ExitCode> {
    if args.fresh {
        // --fresh must never remove a shard's own files.
        let out = std::fs::canonicalize(&args.out).ok();
        if let Some(dir) = args
            .merge
            .iter()
            .find(|d| out.is_some() && std::fs::canonicalize(d).ok() == out)
        {
            bail!(
                "--out {} is the shard directory {}: merge into another directory",
                args.out.display(),
                dir.display()
            );
        }
        for path in remove_outputs(&args.out)? {
            eprintln!("--fresh: removed {}", path.display());
        }
    }
    let summary = merge_shards(&args.merge, &args.out)?;
    eprintln!(
        "merged {} shards: {} problems, {} records -> {} and {}",
        summary.shards,
        summary.problems,
        summary.records,
        summary.samples_path.display(),
        summary.stats_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The inputs that decide the samples beside the settings and the problems: the model (its
/// cheap hash) and, with --server, the served model's name.
fn inputs(args: &Args) -> anyhow::Result<RunFingerprint> {
    let mut fp = RunFingerprint::default();
    // The problems' hash is the driver's; this only names the file in messages.
    if let Some(data) = &args.data {
        fp.sources
            .insert("problems".into(), data.display().to_string());
    }
    if let Some(model) = &args.model {
        let hash =
            model_hash(model).with_context(|| format!("fingerprint of {}", model.display()))?;
        fp.set_from("model", hash, model);
    }
    // The served model's name, not the servers: a run resumes on another fleet.
    if !args.server.is_empty() {
        fp.set("server_model", args.server_model.clone());
    }
    Ok(fp)
}

fn renderer(style: &str, tokenizer: Option<&Tokenizer>) -> anyhow::Result<PromptRenderer> {
    let template = tokenizer.and_then(|t| t.chat_template().map(|c| (t, c)));
    match (style, template) {
        ("raw", _) | ("auto", None) => Ok(PromptRenderer::Raw),
        ("chat" | "auto", Some((tok, source))) => {
            let text =
                |t: &Option<(u32, String)>| t.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
            Ok(PromptRenderer::Chat(ChatTemplate::new(
                source,
                &text(&tok.special().bos),
                &text(&tok.special().eos),
            )?))
        }
        ("chat", None) => {
            bail!(
                "--prompt-style chat needs a tokenizer_config.json with a chat_template (or a .gguf with tokenizer.chat_template)"
            )
        }
        (other, _) => bail!("unknown prompt style {other}"),
    }
}
