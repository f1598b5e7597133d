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
//! Requests are served concurrently by continuous batching: the samples of every request in
//! progress decode in one batch of at most `--batch-size` rows, a request's samples join it
//! at the next step once rows are free and leave it as each is done. A request waits (in
//! arrival order) only while the batch is full; at most `--max-queued` requests (default 64)
//! wait, and one more is answered 429 at once, so a client (or `presample --server` with
//! several servers) retries it later or elsewhere. A request whose client has gone (closed
//! the connection: a timeout, a retry on another server, a stream closed by its reader) is
//! cancelled, waiting or in the middle of its generation, and its rows go to the others.
//! A client connection idle for `--keep-alive-timeout` seconds (default 30) is closed, and
//! at most `--max-connections` (default 128) are open at once: more are answered 503.
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
//! `stream: true` on either endpoint answers with server-sent events as OpenAI and vLLM do,
//! token by token as they are generated: `data: {chunk}` events (`text_completion` chunks
//! with `text`, or `chat.completion.chunk` with `delta`: first the role, then the content
//! pieces, then `finish_reason`), a usage chunk when `stream_options.include_usage` is true,
//! and `data: [DONE]`. A piece carries the text of the tokens since the last one (held back
//! while it could still be the start of a stop string, or an incomplete UTF-8 character) and,
//! when asked, their log-probabilities and token ids. `GET /metrics` reports the running,
//! waiting, finished and cancelled requests and the token totals in Prometheus' text format.
//! `--idle-timeout` makes the server exit after that many seconds without a request (tests
//! use it so that a server never outlives them).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use o1_pruner::data::{ChatMessage, ChatTemplate};
use o1_pruner::model::{self, Backend, Precision, Pretrained, Tokenizer};
use o1_pruner::sampler::presample::sample_seed;
use o1_pruner::sampler::server::{Exchange, HttpResponse, ResponseStream, Server, ServerConfig};
use o1_pruner::sampler::{
    BatchEvent, Batcher, FinishReason, Generated, Generator, NativeGenerator, Prompt,
    SamplingParams, SequenceId,
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
    let served = Served {
        generator: &generator,
        chat: chat.as_ref(),
        name: &name,
    };
    let mut engine = Engine::new(&served, args.max_queued as usize);
    let idle = (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout));
    let mut last_request = Instant::now();
    loop {
        // Block for a request only when nothing is being generated.
        let next = if engine.is_idle() {
            match idle {
                Some(limit) => {
                    let left = limit.saturating_sub(last_request.elapsed());
                    if left.is_zero() {
                        tracing::info!("idle timeout reached; exiting");
                        return Ok(());
                    }
                    server.recv_timeout(left)
                }
                None => Some(server.recv().context("the listener stopped")?),
            }
        } else {
            last_request = Instant::now();
            server.try_recv()
        };
        if let Some(exchange) = next {
            last_request = Instant::now();
            engine.take(exchange);
            while let Some(exchange) = server.try_recv() {
                engine.take(exchange);
            }
        }
        engine.step();
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

/// How often the clients of requests in progress are looked at (a socket peek each).
const GONE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The requests in progress over one continuous batch: takes requests as they arrive, starts
/// them as rows free up, steps the batch, streams each request's pieces or answers it whole
/// once its samples are done, and cancels the requests whose clients have gone.
struct Engine<'a> {
    served: &'a Served<'a>,
    batcher: Batcher<'a>,
    /// Parsed requests waiting for free rows, in arrival order.
    waiting: VecDeque<Job>,
    max_waiting: usize,
    /// Requests generating, by number.
    running: HashMap<u64, Job>,
    /// The request and choice of each sequence in the batcher.
    owners: HashMap<SequenceId, (u64, usize)>,
    next_sequence: SequenceId,
    /// Requests taken so far (numbers the response ids).
    taken: u64,
    events: Vec<BatchEvent>,
    last_gone_check: Instant,
    metrics: Metrics,
}

/// Totals reported by `GET /metrics`.
#[derive(Default)]
struct Metrics {
    finished: u64,
    cancelled: u64,
    prompt_tokens: u64,
    generation_tokens: u64,
}

/// One completion request: what it asked and where its answer goes.
struct Job {
    /// The request's number (in its response id).
    number: u64,
    chat: bool,
    req: CompletionRequest,
    head: Head,
    /// Token ids of each prompt.
    prompt_ids: Vec<Vec<u32>>,
    /// `req.params` plus the model's stop ids, as the batcher samples with them.
    params: Arc<SamplingParams>,
    reply: Option<Reply>,
    /// Per choice: prompt by prompt, then sample by sample.
    choices: Vec<ChoiceState>,
    unfinished: usize,
    /// A streamed piece could not be sent, or a sample could not be turned into text.
    failed: Option<String>,
}

/// Where a request's answer goes: its exchange (answered whole, or not started), or its
/// event stream once started.
enum Reply {
    Whole(Exchange),
    Stream(ResponseStream),
}

impl Job {
    fn client_gone(&self) -> bool {
        match &self.reply {
            Some(Reply::Whole(e)) => e.client_gone(),
            Some(Reply::Stream(s)) => s.client_gone(),
            None => true,
        }
    }

    fn prompt_tokens(&self) -> usize {
        self.prompt_ids.iter().map(Vec::len).sum::<usize>() * self.req.n
    }

    fn chunk(&self, choices: Value) -> Value {
        let object = if self.chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        json!({
            "id": self.head.id, "object": object, "created": self.head.created,
            "model": self.head.model, "choices": choices,
        })
    }

    /// Sends one server-sent event; a failed send marks the job failed (the client has gone).
    fn send(&mut self, payload: String) {
        if let Some(Reply::Stream(stream)) = &self.reply
            && !stream.send(format!("data: {payload}\n\n"))
        {
            self.failed = Some("the client closed the stream".into());
        }
    }
}

/// A choice of a request in progress.
#[derive(Default)]
struct ChoiceState {
    sequence: SequenceId,
    /// Streaming: the tokens so far and their log-probabilities.
    ids: Vec<u32>,
    logprobs: Vec<f32>,
    text: IncrementalText,
    /// Tokens already carried by a sent piece.
    reported: usize,
    /// Bytes of `text.decoded` sent.
    sent: usize,
    /// The finished sample.
    done: Option<Choice>,
    /// Whether its `finish_reason` chunk went out.
    closed: bool,
}

/// Detokenizes a growing token sequence a few tokens at a time (vLLM's prefix / read
/// offsets): the newest tokens are decoded together with the ones just before them, so a
/// tokenizer that marks word starts or splits a character over tokens decodes as the whole
/// sequence does; text ending in an incomplete character waits for the next token.
#[derive(Default)]
struct IncrementalText {
    prefix_offset: usize,
    read_offset: usize,
    decoded: String,
}

impl IncrementalText {
    fn advance(&mut self, ids: &[u32], tok: &Tokenizer) {
        if ids.len() <= self.read_offset {
            return;
        }
        let decode = |range: &[u32]| tok.decode(range, true).unwrap_or_default();
        let prefix = decode(&ids[self.prefix_offset..self.read_offset]);
        let full = decode(&ids[self.prefix_offset..]);
        if full.len() > prefix.len() && full.starts_with(&prefix) && !full.ends_with('\u{FFFD}') {
            self.decoded.push_str(&full[prefix.len()..]);
            self.prefix_offset = self.read_offset;
            self.read_offset = ids.len();
        }
    }
}

impl<'a> Engine<'a> {
    fn new(served: &'a Served<'a>, max_waiting: usize) -> Self {
        Engine {
            served,
            batcher: served.generator.batcher(),
            waiting: VecDeque::new(),
            max_waiting,
            running: HashMap::new(),
            owners: HashMap::new(),
            next_sequence: 0,
            taken: 0,
            events: Vec::new(),
            last_gone_check: Instant::now(),
            metrics: Metrics::default(),
        }
    }

    /// Nothing to generate: no request waiting or running.
    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Answers a request that needs no generation at once; queues a completion request
    /// (429 when `max_waiting` wait already) or answers why it is refused.
    fn take(&mut self, exchange: Exchange) {
        if exchange.client_gone() {
            tracing::info!(path = %exchange.path(), "client gone before its turn; request dropped");
            return;
        }
        self.taken += 1;
        let json = |status: u16, v: Value| HttpResponse::json(status, v.to_string());
        let (method, path) = (exchange.method().to_string(), exchange.path().to_string());
        let chat = match (method.as_str(), path.as_str()) {
            ("GET", "/health") => return exchange.respond(json(200, json!({"status": "ok"}))),
            ("GET", "/v1/models") => {
                return exchange.respond(json(
                    200,
                    json!({"object": "list", "data": [{"id": self.served.name, "object": "model", "owned_by": "o1-pruner"}]}),
                ));
            }
            ("GET", "/metrics") => return exchange.respond(self.metrics()),
            ("POST", "/v1/completions") => false,
            ("POST", "/v1/chat/completions") => true,
            _ => {
                let message = format!("no route for {method} {path}");
                return exchange.respond(json(404, error_json(&message)));
            }
        };
        let job = match self.parse(exchange.body(), chat) {
            Ok(job) => job,
            Err(message) => return exchange.respond(json(400, error_json(&message))),
        };
        if self.waiting.len() >= self.max_waiting {
            let message = format!(
                "{} requests are waiting already (the server's limit); retry later",
                self.max_waiting
            );
            tracing::warn!(limit = self.max_waiting, "queue full; answering 429");
            return exchange.respond(HttpResponse::error(429, &message));
        }
        self.waiting.push_back(Job {
            reply: Some(Reply::Whole(exchange)),
            ..job
        });
    }

    /// Reads and checks a completion request of either endpoint; `Err` says what is wrong
    /// with it (answered 400).
    fn parse(&self, body: &str, chat: bool) -> Result<Job, String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let obj = v.as_object().ok_or("body is not a JSON object")?;
        let prompts = if chat {
            chat_prompt(obj, self.served.chat)
        } else {
            completion_prompts(obj)
        }?;
        let req = parse_request(obj, prompts)?;
        let generator = self.served.generator;
        let rows = req.n * req.prompts.len();
        let mut prompt_ids = Vec::with_capacity(req.prompts.len());
        for (i, p) in req.prompts.iter().enumerate() {
            let ids = generator
                .encode(p)
                .map_err(|e| format!("prompt {i}: {e}"))?;
            // Context (max_position_embeddings) and prefill memory: a client error, named.
            generator
                .check_request(p, &req.params, rows)
                .map_err(|e| format!("prompt {i}: {e}"))?;
            prompt_ids.push(ids);
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let head = Head {
            id: format!("{}-{}", if chat { "chatcmpl" } else { "cmpl" }, self.taken),
            created,
            model: self.served.name.to_string(),
        };
        Ok(Job {
            number: self.taken,
            chat,
            params: Arc::new(generator.with_stop_ids_of_model(&req.params)),
            req,
            head,
            prompt_ids,
            reply: None,
            choices: Vec::new(),
            unfinished: 0,
            failed: None,
        })
    }

    /// One round: drops requests whose clients have gone, starts waiting requests while
    /// the batch has free rows, runs one batch step and hands its tokens to their requests.
    fn step(&mut self) {
        if self.last_gone_check.elapsed() >= GONE_CHECK_INTERVAL {
            self.last_gone_check = Instant::now();
            self.drop_gone_clients();
        }
        self.start_waiting();
        if self.batcher.is_idle() {
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        self.batcher.step(&mut events);
        let mut touched = BTreeSet::new();
        for event in events.drain(..) {
            match event {
                BatchEvent::Token { id, token, logprob } => {
                    self.metrics.generation_tokens += 1;
                    let Some(&(number, c)) = self.owners.get(&id) else {
                        continue;
                    };
                    let job = self
                        .running
                        .get_mut(&number)
                        .expect("owners name running jobs");
                    if job.req.stream {
                        job.choices[c].ids.push(token);
                        job.choices[c].logprobs.push(logprob);
                        touched.insert(number);
                    }
                }
                BatchEvent::Finished { id, completion } => {
                    let Some((number, c)) = self.owners.remove(&id) else {
                        continue;
                    };
                    let job = self
                        .running
                        .get_mut(&number)
                        .expect("owners name running jobs");
                    let generator = self.served.generator;
                    match generator.generated(completion, &job.params) {
                        Ok(g) => {
                            job.choices[c].done =
                                Some(choice_of(g, &job.req, generator.tokenizer()))
                        }
                        Err(e) => job.failed = Some(e.to_string()),
                    }
                    job.unfinished -= 1;
                    touched.insert(number);
                }
            }
        }
        self.events = events;
        for number in touched {
            self.advance(number);
        }
    }

    /// Moves waiting requests into the batcher while it has rows to spare.
    fn start_waiting(&mut self) {
        let capacity = self.served.generator.batch_size();
        while self.batcher.running() + self.batcher.waiting() < capacity {
            let Some(mut job) = self.waiting.pop_front() else {
                break;
            };
            let n = job.req.n;
            // Sample 0 uses the seed itself, so n = 1 with seed s matches the in-process
            // sampler.
            let seeds: Vec<u64> = (0..n)
                .map(|j| {
                    if j == 0 {
                        job.req.seed
                    } else {
                        sample_seed(job.req.seed, "", j)
                    }
                })
                .collect();
            let number = job.number;
            for ids in &job.prompt_ids {
                for &seed in &seeds {
                    let sequence = self.next_sequence;
                    self.next_sequence += 1;
                    self.batcher
                        .submit(sequence, ids.clone(), seed, Arc::clone(&job.params));
                    self.owners.insert(sequence, (number, job.choices.len()));
                    job.choices.push(ChoiceState {
                        sequence,
                        ..Default::default()
                    });
                }
            }
            job.unfinished = job.choices.len();
            self.metrics.prompt_tokens += job.prompt_tokens() as u64;
            if job.req.stream {
                let Some(Reply::Whole(exchange)) = job.reply.take() else {
                    unreachable!("a waiting job holds its exchange")
                };
                job.reply = Some(Reply::Stream(exchange.stream("text/event-stream")));
                if job.chat {
                    for index in 0..job.choices.len() {
                        let role = job.chunk(json!([{"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]));
                        job.send(role.to_string());
                    }
                }
            }
            self.running.insert(number, job);
        }
    }

    /// Streams what a request's new tokens make, answers it once all its choices are done,
    /// and cancels it if it failed.
    fn advance(&mut self, number: u64) {
        let Some(job) = self.running.get_mut(&number) else {
            return;
        };
        if job.req.stream {
            stream_pieces(job, self.served.generator);
        }
        if job.failed.is_some() {
            self.cancel(number);
            return;
        }
        if job.unfinished > 0 {
            return;
        }
        let mut job = self.running.remove(&number).expect("looked up above");
        self.metrics.finished += 1;
        let choices: Vec<Choice> = job
            .choices
            .iter_mut()
            .filter_map(|c| c.done.take())
            .collect();
        let generation = Generation {
            completion_tokens: choices.iter().map(|c| c.ids.len()).sum(),
            prompt_tokens: job.prompt_ids.iter().map(Vec::len).sum(),
            choices,
        };
        match job.reply.take() {
            Some(Reply::Whole(exchange)) => {
                let body = if job.chat {
                    chat_json(&job.head, &generation)
                } else {
                    completion_json(&job.head, &job.req, &generation)
                };
                exchange.respond(HttpResponse::json(200, body.to_string()));
            }
            Some(Reply::Stream(stream)) => {
                job.reply = Some(Reply::Stream(stream));
                if job.req.stream_usage {
                    let mut last = job.chunk(json!([]));
                    last["usage"] = usage(&generation);
                    job.send(last.to_string());
                }
                job.send("[DONE]".into());
            }
            None => {}
        }
    }

    /// Drops waiting requests whose clients have gone and cancels running ones.
    fn drop_gone_clients(&mut self) {
        self.waiting.retain(|job| {
            let gone = job.client_gone();
            if gone {
                tracing::info!(request = %job.head.id, "client gone while waiting; request dropped");
            }
            !gone
        });
        let gone: Vec<u64> = self
            .running
            .iter()
            .filter(|(_, job)| job.client_gone())
            .map(|(&number, _)| number)
            .collect();
        for number in gone {
            self.running
                .get_mut(&number)
                .expect("listed above")
                .failed
                .get_or_insert_with(|| "the client has gone".into());
            self.cancel(number);
        }
    }

    /// Removes a running request and its sequences from the batch.
    fn cancel(&mut self, number: u64) {
        let Some(job) = self.running.remove(&number) else {
            return;
        };
        for c in job.choices.iter().filter(|c| c.done.is_none()) {
            self.batcher.cancel(c.sequence);
            self.owners.remove(&c.sequence);
        }
        self.metrics.cancelled += 1;
        let why = job.failed.as_deref().unwrap_or("cancelled");
        tracing::info!(request = %job.head.id, reason = why, "request cancelled");
        if let Some(Reply::Whole(exchange)) = job.reply {
            exchange.respond(HttpResponse::error(500, why));
        }
    }

    /// `GET /metrics`: Prometheus' text format.
    fn metrics(&self) -> HttpResponse {
        let m = &self.metrics;
        let rows = [
            (
                "requests_running",
                "gauge",
                "Requests being generated.",
                self.running.len() as u64,
            ),
            (
                "requests_waiting",
                "gauge",
                "Requests waiting for free rows of the batch.",
                self.waiting.len() as u64,
            ),
            (
                "sequences_running",
                "gauge",
                "Rows of the batch decoding now.",
                self.batcher.running() as u64,
            ),
            (
                "requests_finished_total",
                "counter",
                "Requests answered.",
                m.finished,
            ),
            (
                "requests_cancelled_total",
                "counter",
                "Requests cancelled (client gone) before their end.",
                m.cancelled,
            ),
            (
                "prompt_tokens_total",
                "counter",
                "Prompt tokens of the requests started.",
                m.prompt_tokens,
            ),
            (
                "generation_tokens_total",
                "counter",
                "Tokens generated.",
                m.generation_tokens,
            ),
        ];
        let mut body = String::new();
        for (name, kind, help, value) in rows {
            body.push_str(&format!(
                "# HELP o1p_{name} {help}\n# TYPE o1p_{name} {kind}\no1p_{name} {value}\n"
            ));
        }
        HttpResponse {
            status: 200,
            body,
            content_type: "text/plain; version=0.0.4",
        }
    }
}

/// Sends the pieces a streamed request's new tokens make: per choice, the text decoded since
/// the last piece (minus what could still be the start of a stop string) with those tokens'
/// log-probabilities and ids when asked; for a finished choice, the rest of its text and its
/// `finish_reason` chunk.
fn stream_pieces(job: &mut Job, generator: &NativeGenerator) {
    let Some(tok) = generator.tokenizer() else {
        return;
    };
    let hold = job
        .req
        .params
        .stop_strings
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .saturating_sub(1);
    for index in 0..job.choices.len() {
        let c = &mut job.choices[index];
        if c.closed {
            continue;
        }
        let (piece, tokens, finish) = match &c.done {
            Some(done) => {
                let sent = &c.text.decoded[..c.sent];
                let rest = done.text.strip_prefix(sent).unwrap_or_else(|| {
                    tracing::warn!(
                        "streamed text diverged from the final text; its rest is dropped"
                    );
                    ""
                });
                let tokens = c.reported..done.ids.len();
                c.closed = true;
                (
                    rest.to_string(),
                    tokens,
                    Some((done.finish_reason, done.stop_reason.clone())),
                )
            }
            None => {
                // The EOS token is the last one and has no text.
                let end = c.ids.len()
                    - usize::from(
                        c.ids
                            .last()
                            .is_some_and(|t| job.params.stop_ids.contains(t)),
                    );
                c.text.advance(&c.ids[..end], tok);
                let mut safe = c.text.decoded.len().saturating_sub(hold).max(c.sent);
                while !c.text.decoded.is_char_boundary(safe) {
                    safe -= 1;
                }
                if safe <= c.sent {
                    continue;
                }
                let piece = c.text.decoded[c.sent..safe].to_string();
                c.sent = safe;
                (piece, c.reported..end, None)
            }
        };
        // The piece's tokens, and their log-probabilities when asked (sliced, not copied
        // whole: a long stream would copy every earlier token again at each step).
        let c = &job.choices[index];
        let (token_ids, piece_logprobs): (Vec<u32>, Option<Vec<(String, f32)>>) = match &c.done {
            Some(done) => (
                done.ids[tokens.clone()].to_vec(),
                job.req.logprobs.then(|| {
                    done.logprobs
                        .as_ref()
                        .map(|lp| lp[tokens.clone()].to_vec())
                        .unwrap_or_default()
                }),
            ),
            None => (
                c.ids[tokens.clone()].to_vec(),
                job.req.logprobs.then(|| {
                    c.ids[tokens.clone()]
                        .iter()
                        .zip(&c.logprobs[tokens.clone()])
                        .map(|(&t, &l)| (tok.decode(&[t], false).unwrap_or_default(), l))
                        .collect()
                }),
            ),
        };
        job.choices[index].reported = tokens.end;
        if !piece.is_empty()
            || (!token_ids.is_empty() && (job.req.logprobs || job.req.return_token_ids))
        {
            let content = if job.chat {
                let lp = chat_logprobs(piece_logprobs.as_deref());
                json!([{"index": index, "delta": {"content": piece}, "logprobs": lp, "finish_reason": null}])
            } else {
                let lp = completion_logprobs(piece_logprobs.as_deref());
                let mut choice =
                    json!({"index": index, "text": piece, "logprobs": lp, "finish_reason": null});
                if job.req.return_token_ids {
                    choice["token_ids"] = json!(token_ids);
                }
                json!([choice])
            };
            let chunk = job.chunk(content);
            job.send(chunk.to_string());
        }
        if let Some((finish_reason, stop_reason)) = finish {
            let end = if job.chat {
                json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": finish_reason, "stop_reason": stop_reason}])
            } else {
                json!([{"index": index, "text": "", "logprobs": null, "finish_reason": finish_reason, "stop_reason": stop_reason}])
            };
            let chunk = job.chunk(end);
            job.send(chunk.to_string());
        }
    }
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

/// A finished sample as both endpoints report it.
fn choice_of(g: Generated, req: &CompletionRequest, tok: Option<&Tokenizer>) -> Choice {
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
    Choice {
        text: g.text,
        ids,
        logprobs,
        finish_reason: match g.finish_reason {
            FinishReason::Length => "length",
            FinishReason::Eos | FinishReason::Stop => "stop",
        },
        stop_reason,
    }
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

/// OpenAI's legacy `logprobs` object of a completion choice (or of a streamed piece).
fn completion_logprobs(logprobs: Option<&[(String, f32)]>) -> Value {
    match logprobs {
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
fn chat_logprobs(logprobs: Option<&[(String, f32)]>) -> Value {
    match logprobs {
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
                "logprobs": completion_logprobs(c.logprobs.as_deref()),
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
                "logprobs": chat_logprobs(c.logprobs.as_deref()),
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

fn error_json(message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error"}})
}
