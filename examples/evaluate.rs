//! Evaluate one or more models on one or more benchmark files and compare them: accuracy, mean
//! tokens and AES against a baseline, per benchmark and on average (the paper's Table 2).
//!
//! ```text
//! cargo run --release --example evaluate -- \
//!     --model base=models/marco-o1 --model pruned=runs/pruned/model \
//!     --data data/gsm8k_test.jsonl --format gsm8k \
//!     --baseline base --out runs/eval
//! ```
//!
//! - `--model [LABEL=]DIR` (repeatable): a Hugging Face model directory with tokenizer.json,
//!   or a llama.cpp `.gguf` file (tokenizer and chat template from its metadata); the label
//!   defaults to the directory or file name. Models are evaluated one after the other.
//! - `--data FILE` (repeatable), `--format gsm8k|math|jsonl|demo`: give `--format` once for
//!   every file, or once per `--data` in the same order. `demo` is a JSONL of o1p-data
//!   `Problem`s (`id`, `question`, `gold`, `difficulty`), as the demo task writes them.
//! - `--prompt paper|fast|demo`: the paper's prompt, the paper's fast-solving prompt baseline,
//!   or the demo's bare `Q: {question}` prompt. Default: `demo` when every file is in the demo
//!   format, `paper` otherwise. `--chat-template` renders it through the tokenizer's chat
//!   template instead of as raw text.
//! - Greedy decoding (the paper's protocol) unless `--temperature` is given; `--samples K`
//!   draws K responses per problem (accuracy is then pass@1, and K >= 4 adds the
//!   length-quartile table and plot).
//!
//! - `--server URL` (repeatable): responses come from OpenAI-compatible `/v1/completions`
//!   servers (vLLM, SGLang, the `serve` example) instead of a model loaded here, exactly as
//!   `presample --server` samples: prompts are rendered and encoded with the `--model`
//!   directory's tokenizer (its weights are not loaded) and sent as token ids, each response's
//!   seed goes with its request, and with several servers the requests are spread over them
//!   (`--concurrency` in flight on each) with failover when one stops answering.
//!   `--server-model NAME` is the `model` field sent: once for every `--model`, or once per
//!   `--model` in the same order (vLLM serves a base model and its LoRA adapters under their
//!   own names). `--server-token-ids` asks for the generated ids (vLLM 0.10.2+, `serve`), so a
//!   response's text and length are those of a native evaluation; without it the server's
//!   text and token count are used. `--api-key` (default `$OPENAI_API_KEY`) and `--timeout`
//!   (seconds per request) as in `presample`.
//!
//! Results go to `--out` (default `runs/evaluate`): `<label>/<benchmark>.jsonl` (one graded
//! response per line; rerunning the same command resumes a killed run and reuses finished
//! responses), `report.json`, `report.md` and the plots (`lengths_*`, `quartiles_*`,
//! `difficulty_*`, as SVG and PNG). The Markdown tables are printed on stdout.
//!
//! Beside each results file, `<label>/<benchmark>.fingerprint.json` records the settings, the
//! problems and the model's hash. A rerun with another model under the same label, changed
//! questions or golds under the same file name, or other settings is refused before anything
//! is written, naming each changed field; `--fresh` removes the results files of the given
//! labels and benchmarks from `--out` and evaluates them again.
//!
//! Exit status: 0 when every problem was evaluated; 2 when records of a data file were
//! malformed or problems were skipped (a prompt longer than the model's context with
//! `--max-new-tokens` added, ...; each listed on stderr, the report covers the rest), as
//! `presample` does, or on a usage error (a flag out of its range); 1 on an error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use o1_pruner::data::fingerprint::model_hash;
use o1_pruner::data::{PromptTemplate, demo};
use o1_pruner::eval::run::{
    Benchmark, BenchmarkFormat, Decoding, EvalConfig, EvalModel, LoadedModel, ReportOptions,
    evaluate, remove_outputs, write_report,
};
use o1_pruner::model::{Backend, Precision, Tokenizer};
use o1_pruner::reward::GradeOptions;
use o1_pruner::sampler::parse;
use o1_pruner::sampler::{Generator, HttpConfig, HttpGenerator, HttpPool};

#[derive(Parser, Debug)]
#[command(about = "Evaluate models on benchmarks and compare them (accuracy, tokens, AES)")]
struct Args {
    /// Model directory or `.gguf` file, optionally labelled: `LABEL=DIR` (repeatable).
    #[arg(long = "model", required = true, value_name = "[LABEL=]DIR")]
    models: Vec<String>,
    /// Benchmark file (repeatable); the benchmark is named after the file stem.
    #[arg(long = "data", required = true, value_name = "FILE")]
    data: Vec<PathBuf>,
    /// Schema of the files: once for all, or once per --data.
    #[arg(
        long = "format",
        value_name = "gsm8k|math|jsonl|demo",
        default_value = "jsonl"
    )]
    formats: Vec<BenchmarkFormat>,
    /// Prompt (default: demo for demo files, paper otherwise).
    #[arg(long, value_enum)]
    prompt: Option<PromptChoice>,
    /// Render prompts through the tokenizer's chat template.
    #[arg(long)]
    chat_template: bool,
    /// Label of the run AES is computed against (default: the first model).
    #[arg(long)]
    baseline: Option<String>,
    /// Run summarised against the baseline at the top of report.json (default: the last
    /// model that is not the baseline).
    #[arg(long)]
    summary: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "runs/evaluate")]
    out: PathBuf,
    /// Most tokens per response (the paper: 8192; >= 1).
    #[arg(long, default_value_t = 8192, value_parser = parse::max_new_tokens)]
    max_new_tokens: usize,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Responses per problem (needs --temperature when more than 1).
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Sampling temperature (> 0); greedy when absent.
    #[arg(long, value_parser = parse::temperature)]
    temperature: Option<f32>,
    /// Nucleus sampling threshold (with --temperature), in (0, 1].
    #[arg(long, default_value_t = 1.0, value_parser = parse::top_p)]
    top_p: f32,
    /// Base seed of the samplers (with --temperature).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Grade like the O1-Pruner reference code (first \boxed{}, no last-number fallback).
    #[arg(long)]
    reference_grading: bool,
    /// Burn backend.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Weight precision: f32, bf16 or f16. bf16 halves the weights' memory
    /// (R1-Distill-Qwen-7B: 15 GB instead of 30); logits are read back in f32 either way.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// OpenAI-compatible server to generate with instead of loading the model (repeatable:
    /// requests are spread over every server given). --model then supplies the tokenizer.
    #[arg(long, value_name = "URL")]
    server: Vec<String>,
    /// With --server: the `model` field sent, once or once per --model.
    #[arg(long = "server-model", value_name = "NAME", requires = "server")]
    server_models: Vec<String>,
    /// With --server: requests in flight at once on each server.
    #[arg(long, visible_alias = "server-concurrency", default_value_t = 8)]
    concurrency: usize,
    /// With --server: bearer token (default: $OPENAI_API_KEY, if set).
    #[arg(long, requires = "server")]
    api_key: Option<String>,
    /// With --server: time limit of one request in seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// With --server: ask for the generated token ids (vLLM 0.10.2+, the `serve` example).
    #[arg(long, requires = "server")]
    server_token_ids: bool,
    /// Start over: remove the results of the given labels on the given benchmarks from --out
    /// first (their .jsonl, .meta.json and .fingerprint.json files; nothing else).
    #[arg(long)]
    fresh: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PromptChoice {
    /// The paper's system and user prompts.
    Paper,
    /// The paper's prompt plus the fast-solving suffix (the prompt baseline).
    Fast,
    /// The demo task's `Q: {question}` prompt.
    Demo,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
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

/// `LABEL=DIR` or `DIR` (an existing directory is always taken whole, so a path containing
/// `=` still works).
fn parse_model(spec: &str) -> anyhow::Result<(String, PathBuf)> {
    let whole = PathBuf::from(spec);
    let (label, dir) = match spec.split_once('=') {
        Some((label, dir)) if !whole.is_dir() => (Some(label.to_string()), PathBuf::from(dir)),
        _ => (None, whole),
    };
    let label = match label {
        Some(l) if !l.trim().is_empty() => l,
        Some(_) => bail!("--model {spec}: empty label"),
        None => dir
            .canonicalize()
            .unwrap_or_else(|_| dir.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("--model {spec}: cannot name it; use LABEL=DIR"))?,
    };
    Ok((label, dir))
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let models = args
        .models
        .iter()
        .map(|m| parse_model(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (i, (label, _)) in models.iter().enumerate() {
        if models[..i].iter().any(|(l, _)| l == label) {
            bail!("two models are labelled {label:?}; give them labels with LABEL=DIR");
        }
    }
    let baseline = args.baseline.clone().unwrap_or_else(|| models[0].0.clone());
    if !models.iter().any(|(l, _)| *l == baseline) {
        bail!("--baseline {baseline:?} is not one of the --model labels");
    }

    let formats = match args.formats.len() {
        1 => vec![args.formats[0]; args.data.len()],
        n if n == args.data.len() => args.formats.clone(),
        n => bail!(
            "give --format once or once per --data ({n} formats for {} files)",
            args.data.len()
        ),
    };
    let mut skipped_records = 0;
    let mut benchmarks = Vec::with_capacity(args.data.len());
    for (path, &format) in args.data.iter().zip(&formats) {
        let (benchmark, report) = Benchmark::load_with_report(path, format)
            .with_context(|| format!("loading {}", path.display()))?;
        if !report.skipped.is_empty() {
            eprintln!("{report}");
            skipped_records += report.skipped.len();
        }
        benchmarks.push(benchmark);
    }

    let all_demo = formats.iter().all(|&f| f == BenchmarkFormat::Problems);
    let prompt = match args.prompt {
        Some(PromptChoice::Demo) => demo::prompt_template(),
        Some(PromptChoice::Fast) => PromptTemplate::default().with_fast_solving(true),
        Some(PromptChoice::Paper) => PromptTemplate::default(),
        None if all_demo => demo::prompt_template(),
        None => PromptTemplate::default(),
    };
    let decoding = match args.temperature {
        None if args.samples > 1 => bail!("--samples {} needs --temperature", args.samples),
        None => Decoding::Greedy,
        Some(temperature) => Decoding::Sample {
            samples: args.samples,
            temperature,
            top_p: args.top_p,
            top_k: 0,
            seed: args.seed,
        },
    };
    let config = EvalConfig {
        prompt,
        chat_template: args.chat_template,
        decoding,
        max_new_tokens: args.max_new_tokens,
        batch_size: args.batch_size,
        grade: if args.reference_grading {
            GradeOptions::reference_code()
        } else {
            GradeOptions::default()
        },
        ..EvalConfig::default()
    };
    config.validate()?;

    if args.fresh {
        for (label, _) in &models {
            for b in &benchmarks {
                for path in remove_outputs(&args.out, label, &b.name)? {
                    eprintln!("--fresh: removed {}", path.display());
                }
            }
        }
    }
    let served = match args.server_models.len() {
        0 => vec!["default".to_string(); models.len()],
        1 => vec![args.server_models[0].clone(); models.len()],
        n if n == models.len() => args.server_models.clone(),
        n => bail!(
            "give --server-model once or once per --model ({n} names for {} models)",
            models.len()
        ),
    };
    let in_flight = args.server.len() * args.concurrency.max(1);
    if !args.server.is_empty() && args.batch_size < in_flight {
        eprintln!(
            "note: --batch-size {} keeps at most {} requests in flight; {} servers x --concurrency {} could take {in_flight}",
            args.batch_size,
            args.batch_size,
            args.server.len(),
            args.concurrency
        );
    }
    let device = args.backend.device()?;
    let mut runs = Vec::with_capacity(models.len());
    for ((label, dir), served) in models.iter().zip(&served) {
        let run = if args.server.is_empty() {
            // One model in memory at a time.
            let loaded = LoadedModel::from_dir(dir, &device, args.dtype)
                .with_context(|| format!("loading model {label:?} from {}", dir.display()))?;
            evaluate(&loaded.as_eval(label), &benchmarks, &config, &args.out)
        } else {
            let tokenizer = Tokenizer::from_dir(dir)
                .with_context(|| format!("tokenizer of {label:?} from {}", dir.display()))?;
            let http = |url: &String| {
                let mut http = HttpConfig::new(url).with_api_key_or_env(args.api_key.clone());
                http.model = served.clone();
                http.concurrency = args.concurrency;
                http.return_token_ids = args.server_token_ids;
                http.timeout = std::time::Duration::from_secs(args.timeout);
                http
            };
            let generator: Box<dyn Generator> = match args.server.as_slice() {
                [url] => Box::new(HttpGenerator::new(http(url), Some(tokenizer.clone()))?),
                urls => Box::new(HttpPool::new(
                    urls,
                    http(&urls[0]),
                    Some(tokenizer.clone()),
                )?),
            };
            let hash =
                model_hash(dir).with_context(|| format!("fingerprint of {}", dir.display()))?;
            let model = EvalModel::with_generator(label, generator.as_ref(), &tokenizer)
                .with_model_hash(hash, dir)
                .with_served_model(served);
            evaluate(&model, &benchmarks, &config, &args.out)
        }
        .with_context(|| format!("evaluating {label:?}"))?;
        for b in &run.benchmarks {
            for s in &b.skipped {
                eprintln!(
                    "{label} / {}: skipped problem {}: {}",
                    b.benchmark, s.problem_id, s.reason
                );
            }
            skipped_records += b.skipped.len();
            let timing = b.timing.map_or(String::new(), |t| {
                format!(", {:.1} s, {:.0} tokens/s", t.wall_time_s, t.tokens_per_s)
            });
            eprintln!(
                "{label} / {}: {} responses ({} reused){timing}",
                b.benchmark,
                b.records.len(),
                b.reused,
            );
        }
        runs.push(run);
    }

    let options = ReportOptions {
        summary: args.summary.clone(),
        ..ReportOptions::new(baseline)
    };
    let written = write_report(&args.out, &runs, &options)?;
    println!("{}", written.markdown);
    for f in &written.files {
        eprintln!("wrote {}", f.display());
    }
    Ok(if skipped_records == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
