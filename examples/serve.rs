//! Serve the native sampler on OpenAI-compatible `/v1/completions` and `/v1/chat/completions`
//! endpoints.
//!
//! ```text
//! cargo run --release --example serve -- --model DIR|FILE.gguf [--port 8000] [--backend flex|wgpu|tch]
//!     [--batch-size 16] [--dtype f32|bf16|f16] [--served-model-name NAME] [--idle-timeout SECS]
//!     [--keep-alive-timeout SECS] [--max-connections N] [--max-queued N]
//! ```
//!
//! Binds 127.0.0.1 only (no authentication: not for the open network). `--port 0` picks a
//! free port; the first line on stdout is always `listening on http://127.0.0.1:PORT`.
//! Requests are served one at a time; the n samples of a request are decoded as one batch.
//! A client connection idle for `--keep-alive-timeout` seconds (default 30) is closed, and
//! at most `--max-connections` (default 128) are open at once: more are answered 503. At
//! most `--max-queued` requests (default 64) wait for their turn; one more is answered 429
//! at once, so a client (or `presample --server` with several servers) retries it later or
//! elsewhere. A waiting request whose client has gone (closed the connection: a timeout, a
//! retry on another server) is dropped when its turn comes instead of generated.
//! A prompt whose tokens plus `max_tokens` exceed the model's context
//! (`max_position_embeddings`), or whose prefill would exceed the memory bound, is answered
//! 400 naming the limit, as are sampling settings out of range (`temperature` >= 0, `top_p`
//! in (0, 1], `max_tokens` >= 1, no empty `stop` string).
//!
//! `POST /v1/completions` takes `prompt` (a string, a list of token ids, or a list of either),
//! `n`, `max_tokens` (default 16), `temperature` (default 1), `top_p`, `top_k`, `seed`, `stop`
//! (a string or a list), `logprobs` (any integer: the sampled tokens' log-probabilities) and
//! `return_token_ids`. Sample `j` of a prompt is drawn with `seed` for `j = 0` and a seed
//! derived from `(seed, j)` after that, so an `n = 1` request with seed s gives exactly what
//! the in-process sampler gives with seed s. The answer follows OpenAI's schema: `choices[]`
//! with `index`, `text`, `logprobs`, `finish_reason` ("stop" or "length") and vLLM's
//! `stop_reason` (the matched stop string, null at EOS), then `usage`. `GET /v1/models` and
//! `GET /health` are there for clients that probe them.
//!
//! `POST /v1/chat/completions` takes `messages` (`role` and string `content`), renders them
//! with the model's chat template (from `tokenizer_config.json` or the GGUF metadata;
//! without one it answers 400) and samples as above (`max_completion_tokens` is read as
//! `max_tokens`; `logprobs: true` gives OpenAI's `logprobs.content[]`). Its answer is a
//! `chat.completion` with `choices[].message`.
//!
//! `stream: true` on either endpoint answers with server-sent events as OpenAI and vLLM do:
//! `data: {chunk}` events (`text_completion` chunks with `text`, or `chat.completion.chunk`
//! with `delta`: first the role, then the content, then `finish_reason`), a usage chunk when
//! `stream_options.include_usage` is true, and `data: [DONE]`. The events are written when
//! the request's generation is done: the wire format is the streaming one, so streaming
//! clients work unchanged, but the first token arrives with the last. `--idle-timeout` makes the server
//! exit after that many seconds without a request (tests use it so that a server never
//! outlives them).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use o1_pruner::data::{ChatMessage, ChatTemplate};
use o1_pruner::model::{self, Backend, Precision, Pretrained};
use o1_pruner::sampler::presample::sample_seed;
use o1_pruner::sampler::server::{HttpResponse, Server, ServerConfig};
use o1_pruner::sampler::{
    FinishReason, Generator, NativeGenerator, Prompt, Request, SamplingParams,
};
use serde_json::{Value, json};

/// Request bodies larger than this are refused (a prompt of a million characters is a bug).
const MAX_BODY_BYTES: u64 = 16 << 20;

#[derive(Parser, Debug)]
#[command(about = "OpenAI-compatible /v1/completions server over the native sampler")]
struct Args {
    /// Hugging Face model directory with tokenizer.json, or a llama.cpp `.gguf` file
    /// (tokenizer from its metadata).
    #[arg(long)]
    model: PathBuf,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Burn backend.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Weight precision: f32, bf16 or f16. bf16 halves the weights' memory
    /// (R1-Distill-Qwen-7B: 15 GB instead of 30); logits are read back in f32 either way.
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Name reported by /v1/models and in responses (default: the directory name, or the
    /// file name without `.gguf`).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Exit after this many seconds without a request (0: never).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// Close a client connection after this many seconds without a new request on it
    /// (0: never). A connection waiting for its answer is not idle.
    #[arg(long, default_value_t = 30)]
    keep_alive_timeout: u64,
    /// Most client connections open at once (each is a thread); more are answered 503.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Most requests waiting for their turn; more are answered 429 (retry later).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    max_queued: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if Pretrained::tokenizer_of(&args.model)?.is_none() {
        anyhow::bail!(
            "{}/tokenizer.json is missing: the server needs a tokenizer to return text",
            args.model.display()
        );
    }
    let generator =
        NativeGenerator::from_dir(&args.model, args.backend, args.dtype, args.batch_size)
            .with_context(|| format!("loading {}", args.model.display()))?;
    let name = args.served_model_name.clone().unwrap_or_else(|| {
        let path = &args.model;
        let name = if model::is_gguf(path) {
            path.file_stem()
        } else {
            path.file_name()
        };
        name.map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    let config = ServerConfig {
        idle_timeout: (args.keep_alive_timeout > 0)
            .then(|| Duration::from_secs(args.keep_alive_timeout)),
        max_connections: args.max_connections as usize,
        max_body_bytes: MAX_BODY_BYTES,
        max_queued: args.max_queued as usize,
    };
    let server = Server::bind(args.port, config)
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = server.local_addr().port();
    // The first stdout line is the contract with scripts and tests that pass --port 0.
    println!("listening on http://127.0.0.1:{port}");
    use std::io::Write;
    std::io::stdout().flush()?;

    let chat = chat_template(&generator);
    let idle = (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout));
    let mut last_request = Instant::now();
    let mut counter = 0u64;
    loop {
        let exchange = match idle {
            Some(limit) => {
                let left = limit.saturating_sub(last_request.elapsed());
                if left.is_zero() {
                    tracing::info!("idle timeout reached; exiting");
                    return Ok(());
                }
                match server.recv_timeout(left) {
                    Some(r) => r,
                    None => continue,
                }
            }
            None => server.recv().context("the listener stopped")?,
        };
        last_request = Instant::now();
        if exchange.client_gone() {
            tracing::info!(path = %exchange.path(), "client gone before its turn; request dropped");
            continue;
        }
        counter += 1;
        let (method, path) = (exchange.method().to_string(), exchange.path().to_string());
        let served = Served {
            generator: &generator,
            chat: chat.as_ref(),
            name: &name,
        };
        let reply = route(&method, &path, exchange.body(), &served, counter);
        tracing::debug!(%method, %path, status = reply.status, "request");
        exchange.respond(reply);
    }
}

/// What answers a request: the sampler, the chat template (if the model has one), the name.
struct Served<'a> {
    generator: &'a NativeGenerator,
    chat: Option<&'a ChatTemplate>,
    name: &'a str,
}

/// The model's chat template, if its tokenizer carries one that compiles.
fn chat_template(generator: &NativeGenerator) -> Option<ChatTemplate> {
    let tokenizer = generator.tokenizer()?;
    let source = tokenizer.chat_template()?;
    let text = |t: &Option<(u32, String)>| t.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    let special = tokenizer.special();
    match ChatTemplate::new(source, &text(&special.bos), &text(&special.eos)) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "the chat template does not compile; /v1/chat/completions answers 400");
            None
        }
    }
}

fn route(method: &str, path: &str, body: &str, served: &Served<'_>, counter: u64) -> HttpResponse {
    let json = |status: u16, v: Value| HttpResponse::json(status, v.to_string());
    let chat = match (method, path) {
        ("GET", "/health") => return json(200, json!({"status": "ok"})),
        ("GET", "/v1/models") => {
            return json(
                200,
                json!({"object": "list", "data": [{"id": served.name, "object": "model", "owned_by": "o1-pruner"}]}),
            );
        }
        ("POST", "/v1/completions") => false,
        ("POST", "/v1/chat/completions") => true,
        _ => return json(404, error_json(&format!("no route for {method} {path}"))),
    };
    match answer(body, chat, served, counter) {
        Ok(reply) => reply,
        Err(Failure::Client(message)) => json(400, error_json(&message)),
        Err(Failure::Server(message)) => json(500, error_json(&message)),
    }
}

/// Why a completion request failed: the client's fault (400) or ours (500).
enum Failure {
    Client(String),
    Server(String),
}

/// The request fields this server reads.
struct CompletionRequest {
    prompts: Vec<Prompt>,
    n: usize,
    params: SamplingParams,
    seed: u64,
    logprobs: bool,
    return_token_ids: bool,
    /// Answer with server-sent events.
    stream: bool,
    /// Add a usage chunk to the stream (`stream_options.include_usage`).
    stream_usage: bool,
}

/// A chat request's prompt: its `messages` rendered with the chat template.
fn chat_prompt(
    obj: &serde_json::Map<String, Value>,
    template: Option<&ChatTemplate>,
) -> Result<Vec<Prompt>, String> {
    let template = template.ok_or(
        "this model has no chat template (tokenizer_config.json `chat_template`): use /v1/completions",
    )?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("messages must be a non-empty list")?;
    let messages = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let field = |key: &str| {
                m.get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("messages[{i}].{key} must be a string"))
            };
            Ok(ChatMessage::new(field("role")?, field("content")?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let text = template
        .render(&messages, true)
        .map_err(|e| format!("the chat template failed on these messages: {e}"))?;
    Ok(vec![Prompt::Text(text)])
}

/// A completion request's prompts: `prompt` as a string, token ids, or a list of either.
fn completion_prompts(obj: &serde_json::Map<String, Value>) -> Result<Vec<Prompt>, String> {
    Ok(match obj.get("prompt") {
        Some(Value::String(s)) => vec![Prompt::Text(s.clone())],
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            vec![Prompt::Ids(ids_of(items)?)]
        }
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(Prompt::Text(s.clone())),
                Value::Array(ids) => ids_of(ids).map(Prompt::Ids),
                _ => Err("prompt list items must be strings or token id lists".to_string()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("prompt must be a string, a token id list or a list of them".into()),
    })
}

/// The request's settings, for `prompts` (read by the endpoint). Chat reads
/// `max_completion_tokens` as `max_tokens`.
fn parse_request(
    obj: &serde_json::Map<String, Value>,
    prompts: Vec<Prompt>,
) -> Result<CompletionRequest, String> {
    let uint = |key: &str, default: u64| -> Result<u64, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("{key} must be a non-negative integer")),
        }
    };
    let float = |key: &str, default: f64| -> Result<f64, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{key} must be a number")),
        }
    };
    let n = uint("n", 1)? as usize;
    if n == 0 || n > 1024 {
        return Err("n must be between 1 and 1024".into());
    }
    let temperature = float("temperature", 1.0)?;
    let top_p = float("top_p", 1.0)?;
    // vLLM uses -1 for "no top-k".
    let top_k = match obj.get("top_k").and_then(Value::as_i64) {
        Some(k) if k > 0 => k as usize,
        _ => 0,
    };
    let stop_strings = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or("stop must hold strings")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("stop must be a string or a list of strings".into()),
    };
    let seed = match obj.get("seed") {
        None | Some(Value::Null) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        Some(v) => v.as_u64().ok_or("seed must be a non-negative integer")?,
    };
    let max_tokens = match obj.get("max_completion_tokens") {
        Some(v) if !v.is_null() => uint("max_completion_tokens", 16)?,
        _ => uint("max_tokens", 16)?,
    };
    let params = SamplingParams {
        max_new_tokens: max_tokens as usize,
        temperature: temperature as f32,
        top_p: top_p as f32,
        top_k,
        stop_ids: Vec::new(),
        stop_strings,
    };
    // The sampler's ranges, under this API's names (max_new_tokens is `max_tokens` here).
    params.validate().map_err(|e| {
        let key = if e.key == "max_new_tokens" {
            "max_tokens"
        } else {
            e.key
        };
        format!("{key} = {}: {}", e.value, e.allowed)
    })?;
    Ok(CompletionRequest {
        prompts,
        n,
        params,
        seed,
        logprobs: matches!(obj.get("logprobs"), Some(v) if !v.is_null() && v != &json!(false)),
        return_token_ids: obj.get("return_token_ids") == Some(&json!(true)),
        stream: obj.get("stream") == Some(&json!(true)),
        stream_usage: obj
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            == Some(&json!(true)),
    })
}

fn ids_of(items: &[Value]) -> Result<Vec<u32>, String> {
    items
        .iter()
        .map(|x| {
            x.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| format!("bad token id {x}"))
        })
        .collect()
}

/// One generated sample, as both endpoints report it.
struct Choice {
    text: String,
    ids: Vec<u32>,
    /// `(token text, log-probability)` of each generated token, when asked for.
    logprobs: Option<Vec<(String, f32)>>,
    finish_reason: &'static str,
    stop_reason: Value,
}

/// The samples of a request, prompt by prompt, and the token counts of `usage`.
struct Generation {
    choices: Vec<Choice>,
    prompt_tokens: usize,
    completion_tokens: usize,
}

/// Parses, generates and formats one request of either endpoint.
fn answer(
    body: &str,
    chat: bool,
    served: &Served<'_>,
    counter: u64,
) -> Result<HttpResponse, Failure> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| Failure::Client(format!("body is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Failure::Client("body is not a JSON object".into()))?;
    let prompts = if chat {
        chat_prompt(obj, served.chat)
    } else {
        completion_prompts(obj)
    }
    .map_err(Failure::Client)?;
    let req = parse_request(obj, prompts).map_err(Failure::Client)?;
    let generation = generate(&req, served.generator)?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let head = Head {
        id: format!("{}-{counter}", if chat { "chatcmpl" } else { "cmpl" }),
        created,
        model: served.name.to_string(),
    };
    Ok(match (chat, req.stream) {
        (false, false) => {
            HttpResponse::json(200, completion_json(&head, &req, &generation).to_string())
        }
        (true, false) => HttpResponse::json(200, chat_json(&head, &generation).to_string()),
        (chat, true) => HttpResponse::event_stream(events(&head, chat, &req, &generation)),
    })
}

fn generate(req: &CompletionRequest, generator: &NativeGenerator) -> Result<Generation, Failure> {
    let mut prompt_tokens = 0;
    let rows = req.n * req.prompts.len();
    for (i, p) in req.prompts.iter().enumerate() {
        let ids = generator
            .encode(p)
            .map_err(|e| Failure::Client(format!("prompt {i}: {e}")))?;
        // Context (max_position_embeddings) and prefill memory: a client error, named.
        generator
            .check_request(p, &req.params, rows)
            .map_err(|e| Failure::Client(format!("prompt {i}: {e}")))?;
        prompt_tokens += ids.len();
    }
    // Sample 0 uses the seed itself, so n = 1 with seed s matches the in-process sampler.
    let seeds: Vec<u64> = (0..req.n)
        .map(|j| {
            if j == 0 {
                req.seed
            } else {
                sample_seed(req.seed, "", j)
            }
        })
        .collect();
    let requests: Vec<Request> = req
        .prompts
        .iter()
        .map(|p| Request {
            prompt: p.clone(),
            seeds: seeds.clone(),
        })
        .collect();
    let generated = generator
        .generate(&requests, &req.params)
        .map_err(|e| Failure::Server(e.to_string()))?;
    let tok = generator.tokenizer();
    let mut choices = Vec::new();
    let mut completion_tokens = 0;
    for g in generated.into_iter().flatten() {
        completion_tokens += g.num_tokens;
        let ids = g.token_ids.clone().unwrap_or_default();
        let stop_reason = match g.finish_reason {
            FinishReason::Stop => {
                let full = tok
                    .and_then(|t| t.decode(&ids, true).ok())
                    .unwrap_or_default();
                req.params
                    .stop_strings
                    .iter()
                    .filter_map(|s| full.find(s.as_str()).map(|at| (at, s)))
                    .min()
                    .map(|(_, s)| json!(s))
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        let logprobs = match (&g.logprobs, req.logprobs) {
            (Some(lp), true) => Some(
                ids.iter()
                    .zip(lp)
                    .map(|(&t, &l)| {
                        let text = tok
                            .and_then(|k| k.decode(&[t], false).ok())
                            .unwrap_or_default();
                        (text, l)
                    })
                    .collect(),
            ),
            _ => None,
        };
        choices.push(Choice {
            text: g.text,
            ids,
            logprobs,
            finish_reason: match g.finish_reason {
                FinishReason::Length => "length",
                FinishReason::Eos | FinishReason::Stop => "stop",
            },
            stop_reason,
        });
    }
    Ok(Generation {
        choices,
        prompt_tokens,
        completion_tokens,
    })
}

/// The fields every answer and chunk starts with.
struct Head {
    id: String,
    created: u64,
    model: String,
}

fn usage(g: &Generation) -> Value {
    json!({
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens,
        "total_tokens": g.prompt_tokens + g.completion_tokens,
    })
}

/// OpenAI's legacy `logprobs` object of a completion choice.
fn completion_logprobs(c: &Choice) -> Value {
    match &c.logprobs {
        Some(lp) => json!({
            "tokens": lp.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            "token_logprobs": lp.iter().map(|(_, l)| l).collect::<Vec<_>>(),
            "top_logprobs": null,
            "text_offset": null,
        }),
        None => Value::Null,
    }
}

/// The chat `logprobs` object: `content[]` of `{token, logprob, bytes, top_logprobs}`.
fn chat_logprobs(c: &Choice) -> Value {
    match &c.logprobs {
        Some(lp) => json!({
            "content": lp.iter().map(|(t, l)| json!({
                "token": t, "logprob": l, "bytes": t.as_bytes(), "top_logprobs": [],
            })).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    }
}

fn completion_json(head: &Head, req: &CompletionRequest, g: &Generation) -> Value {
    let choices: Vec<Value> = g
        .choices
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let mut choice = json!({
                "index": index,
                "text": c.text,
                "logprobs": completion_logprobs(c),
                "finish_reason": c.finish_reason,
                "stop_reason": c.stop_reason,
            });
            if req.return_token_ids {
                choice["token_ids"] = json!(c.ids);
            }
            choice
        })
        .collect();
    json!({
        "id": head.id,
        "object": "text_completion",
        "created": head.created,
        "model": head.model,
        "choices": choices,
        "usage": usage(g),
    })
}

fn chat_json(head: &Head, g: &Generation) -> Value {
    let choices: Vec<Value> = g
        .choices
        .iter()
        .enumerate()
        .map(|(index, c)| {
            json!({
                "index": index,
                "message": {"role": "assistant", "content": c.text},
                "logprobs": chat_logprobs(c),
                "finish_reason": c.finish_reason,
                "stop_reason": c.stop_reason,
            })
        })
        .collect();
    json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "choices": choices,
        "usage": usage(g),
    })
}

/// The server-sent events of a streamed answer: per choice, its content, then its
/// `finish_reason`; a usage chunk if asked; `[DONE]`.
fn events(head: &Head, chat: bool, req: &CompletionRequest, g: &Generation) -> String {
    let object = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let chunk = |choices: Value| {
        json!({
            "id": head.id, "object": object, "created": head.created, "model": head.model,
            "choices": choices,
        })
    };
    let mut chunks: Vec<Value> = Vec::new();
    for (index, c) in g.choices.iter().enumerate() {
        if chat {
            chunks.push(chunk(json!([{"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}])));
            chunks.push(chunk(json!([{"index": index, "delta": {"content": c.text}, "logprobs": chat_logprobs(c), "finish_reason": null}])));
            chunks.push(chunk(json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": c.finish_reason, "stop_reason": c.stop_reason}])));
        } else {
            let mut text = json!({"index": index, "text": c.text, "logprobs": completion_logprobs(c), "finish_reason": null});
            if req.return_token_ids {
                text["token_ids"] = json!(c.ids);
            }
            chunks.push(chunk(json!([text])));
            chunks.push(chunk(json!([{"index": index, "text": "", "logprobs": null, "finish_reason": c.finish_reason, "stop_reason": c.stop_reason}])));
        }
    }
    if req.stream_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage(g);
        chunks.push(last);
    }
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!("data: {c}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    body
}

fn error_json(message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error"}})
}
