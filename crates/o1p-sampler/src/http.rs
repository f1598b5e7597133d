//! [`HttpGenerator`]: a [`Generator`] that calls an OpenAI-compatible `/v1/completions`
//! server (vLLM, SGLang, llama.cpp's server, or this project's `serve` example), so the
//! expensive pre-sampling step can run on a GPU cluster.
//!
//! Each call is retried on transient failures (connection errors, timeouts, HTTP 408 / 429 /
//! 5xx) with exponential backoff; other HTTP errors fail at once with the server's message.
//! Calls run `concurrency` at a time on plain threads: servers batch concurrent requests
//! themselves (continuous batching), so many small requests cost about as much as one big one.
//!
//! Plain `http://` only: this build carries no TLS stack (put a local proxy in front of an
//! `https://` endpoint).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use o1p_model::Tokenizer;
use serde_json::{Value, json};

use crate::error::GenerateError;
use crate::generate::{FinishReason, SamplingParams};
use crate::generator::{Generated, Generator, Prompt, Request};

/// How the seeds of one request's samples reach the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeedMode {
    /// One call per sample with `n = 1` and that sample's own seed: a sample's text depends
    /// only on its seed (on a deterministic server), so a resumed run reproduces it.
    #[default]
    PerSample,
    /// One call per prompt with `n` samples and the first sample's seed (the server derives
    /// the others): fewer requests, but a sample depends on which samples it was requested with.
    Grouped,
}

/// Settings of an [`HttpGenerator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Server address: `http://host:port`, optionally ending in `/v1` or `/v1/completions`.
    pub url: String,
    /// The `model` field of each request (vLLM wants the served model's name).
    pub model: String,
    /// Bearer token sent as `Authorization`, if the server wants one.
    pub api_key: Option<String>,
    /// Time limit of one whole request (long generations take minutes). Default 600 s.
    pub timeout: Duration,
    /// Time limit for connecting. Default 10 s.
    pub connect_timeout: Duration,
    /// Retries after the first attempt of a call. Default 4.
    pub max_retries: u32,
    /// Wait before the first retry; doubled on each further retry. Default 500 ms.
    pub backoff: Duration,
    /// Longest wait between two attempts. Default 10 s.
    pub max_backoff: Duration,
    /// Calls in flight at once. Default 8.
    pub concurrency: usize,
    /// How samples and seeds map onto calls.
    pub seed_mode: SeedMode,
    /// Ask for each completion's token ids (`"return_token_ids": true`, honoured by vLLM 0.10.2+
    /// and the `serve` example; OpenAI's own API rejects it). With them a sample keeps the ids
    /// the server generated, EOS included, instead of being re-tokenized from its text. Default
    /// off.
    pub return_token_ids: bool,
}

impl HttpConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        HttpConfig {
            url: url.into(),
            model: "default".into(),
            api_key: None,
            timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            concurrency: 8,
            seed_mode: SeedMode::PerSample,
            return_token_ids: false,
        }
    }

    /// Sets the bearer token: `key` when given, else `$OPENAI_API_KEY` when set and not
    /// empty (the convention of OpenAI's own clients), else none.
    ///
    /// ```
    /// use o1p_sampler::HttpConfig;
    /// let c = HttpConfig::new("http://h:8000").with_api_key_or_env(Some("k".into()));
    /// assert_eq!(c.api_key.as_deref(), Some("k"));
    /// ```
    pub fn with_api_key_or_env(mut self, key: Option<String>) -> Self {
        self.api_key = key.or_else(|| {
            std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
        });
        self
    }
}

/// A [`Generator`] backed by an OpenAI-compatible completions server.
///
/// ```
/// use o1p_sampler::{HttpConfig, HttpGenerator, Generator};
/// let g = HttpGenerator::new(HttpConfig::new("http://127.0.0.1:8000/v1"), None).unwrap();
/// assert_eq!(g.endpoint(), "http://127.0.0.1:8000/v1/completions");
/// assert!(HttpGenerator::new(HttpConfig::new("ftp://x"), None).is_err());
/// ```
#[derive(Debug)]
pub struct HttpGenerator {
    config: HttpConfig,
    endpoint: String,
    agent: ureq::Agent,
    tokenizer: Option<Tokenizer>,
}

/// The result of one call, filled in by whichever worker thread made it.
type Slot = Mutex<Option<Result<Vec<Generated>, GenerateError>>>;

/// One HTTP call: which request it serves and which of its seeds.
pub(crate) struct Call<'a> {
    /// Position of the request in the generator call.
    pub(crate) request: usize,
    /// Its prompt.
    pub(crate) prompt: &'a Prompt,
    /// The seeds of the samples this call asks for.
    pub(crate) seeds: &'a [u64],
}

/// The outcome of one attempt of a call.
pub(crate) enum Attempt {
    /// The server answered 200 with JSON.
    Answer(Value),
    /// A failure that may pass: no connection, no answer within the timeout, a torn body,
    /// HTTP 408 / 429 / 5xx.
    Transient(String),
    /// A transport failure that retrying does not fix (a malformed request, say).
    Broken(String),
    /// An answer that retrying does not change (a client error, a body that is not JSON).
    Failed(GenerateError),
}

/// The calls that serve `requests`: one per sample ([`SeedMode::PerSample`]) or one per
/// request ([`SeedMode::Grouped`]), in request order.
pub(crate) fn calls_of(requests: &[Request], seed_mode: SeedMode) -> Vec<Call<'_>> {
    requests
        .iter()
        .enumerate()
        .flat_map(|(request, r)| {
            let per_call = match seed_mode {
                SeedMode::PerSample => 1,
                SeedMode::Grouped => r.seeds.len().max(1),
            };
            r.seeds.chunks(per_call).map(move |seeds| Call {
                request,
                prompt: &r.prompt,
                seeds,
            })
        })
        .collect()
}

impl HttpGenerator {
    /// A generator for `config.url`. The tokenizer, if given, turns text prompts into token ids
    /// before they are sent (with the native sampler's BOS rule), so a server that adds special
    /// tokens by default (vLLM) cannot put a second BOS in front of a chat-templated prompt; it
    /// also counts the tokens of a completion when the server reports no per-completion count
    /// (grouped calls without logprobs).
    pub fn new(config: HttpConfig, tokenizer: Option<Tokenizer>) -> Result<Self, GenerateError> {
        let endpoint = endpoint_of(&config.url)?;
        let agent_config = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            // Statuses are classified here (retry or not), with the body as the message.
            .http_status_as_error(false)
            .build();
        Ok(HttpGenerator {
            endpoint,
            agent: ureq::Agent::new_with_config(agent_config),
            config,
            tokenizer,
        })
    }

    /// The full `/v1/completions` URL called.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    pub(crate) fn body(
        &self,
        call: &Call<'_>,
        params: &SamplingParams,
    ) -> Result<Value, GenerateError> {
        let prompt = match (call.prompt, &self.tokenizer) {
            (Prompt::Text(t), Some(tok)) => {
                json!(tok.encode_prompt(t).map_err(|e| GenerateError::BadPrompt {
                    index: call.request,
                    problem: e.to_string(),
                })?)
            }
            (Prompt::Text(t), None) => json!(t),
            (Prompt::Ids(ids), _) => json!(ids),
        };
        let mut body = json!({
            "model": self.config.model,
            "prompt": prompt,
            "n": call.seeds.len(),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": call.seeds.first().copied().unwrap_or(0),
        });
        let obj = body.as_object_mut().expect("a JSON object literal");
        if params.top_k > 0 {
            // Not in OpenAI's schema, but vLLM, SGLang and llama.cpp all read it.
            obj.insert("top_k".into(), json!(params.top_k));
        }
        if !params.stop_strings.is_empty() {
            obj.insert("stop".into(), json!(params.stop_strings));
        }
        if self.config.return_token_ids {
            obj.insert("return_token_ids".into(), json!(true));
        }
        if call.seeds.len() > 1 {
            // Per-completion token counts come with the logprobs; `usage` only has the total.
            obj.insert("logprobs".into(), json!(1));
        }
        Ok(body)
    }

    /// One call with retries.
    fn call(&self, call: &Call<'_>, params: &SamplingParams) -> Result<Value, GenerateError> {
        let body = self.body(call, params)?;
        let attempts = self.config.max_retries + 1;
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = self
                    .config
                    .backoff
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(self.config.max_backoff);
                tracing::warn!(url = %self.endpoint, attempt, error = %last, ?wait, "retrying");
                std::thread::sleep(wait);
            }
            match self.attempt(&body) {
                Attempt::Answer(value) => return Ok(value),
                Attempt::Transient(error) => last = error,
                Attempt::Broken(error) => {
                    return Err(GenerateError::RetriesExhausted {
                        url: self.endpoint.clone(),
                        attempts: attempt + 1,
                        last: error,
                    });
                }
                Attempt::Failed(error) => return Err(error),
            }
        }
        Err(GenerateError::RetriesExhausted {
            url: self.endpoint.clone(),
            attempts,
            last,
        })
    }

    /// One attempt of a call whose JSON body is `body`, without retrying.
    pub(crate) fn attempt(&self, body: &Value) -> Attempt {
        let mut req = self.agent.post(&self.endpoint);
        if let Some(key) = &self.config.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = match req.send_json(body) {
            Ok(r) => r,
            Err(e) if is_transient(&e) => return Attempt::Transient(e.to_string()),
            Err(e) => return Attempt::Broken(e.to_string()),
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => return Attempt::Transient(format!("reading the body: {e}")),
        };
        if status == 200 {
            return match serde_json::from_str(&text) {
                Ok(value) => Attempt::Answer(value),
                Err(e) => Attempt::Failed(GenerateError::Schema {
                    url: self.endpoint.clone(),
                    problem: format!("not JSON ({e}): {}", clip(&text)),
                }),
            };
        }
        if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
            return Attempt::Transient(format!("HTTP {status}: {}", clip(&text)));
        }
        Attempt::Failed(GenerateError::Status {
            url: self.endpoint.clone(),
            status,
            body: clip(&text),
        })
    }

    /// The ids of the models the server lists at `GET /v1/models`, asked with a time limit
    /// of `timeout`: `Ok(None)` when the server has no such route or answers something else
    /// than a model list (nothing to compare), `Err` on a transient failure (as in
    /// [`Attempt::Transient`]).
    pub(crate) fn served_models(&self, timeout: Duration) -> Result<Option<Vec<String>>, String> {
        let url = format!("{}/models", self.endpoint.trim_end_matches("/completions"));
        let mut req = self.agent.get(&url);
        if let Some(key) = &self.config.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = match req.config().timeout_global(Some(timeout)).build().call() {
            Ok(r) => r,
            Err(e) if is_transient(&e) => return Err(e.to_string()),
            Err(_) => return Ok(None),
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => return Err(format!("reading the body: {e}")),
        };
        if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
            return Err(format!("HTTP {status}: {}", clip(&text)));
        }
        if status != 200 {
            return Ok(None);
        }
        let ids = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            v.get("data")?
                .as_array()?
                .iter()
                .map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
                .collect::<Option<Vec<String>>>()
        });
        Ok(ids.map(|mut ids| {
            ids.sort();
            ids
        }))
    }

    pub(crate) fn parse(&self, value: &Value, n: usize) -> Result<Vec<Generated>, GenerateError> {
        let schema = |problem: String| GenerateError::Schema {
            url: self.endpoint.clone(),
            problem,
        };
        let choices = value
            .get("choices")
            .and_then(Value::as_array)
            .ok_or_else(|| schema("no choices array".into()))?;
        if choices.len() != n {
            return Err(schema(format!("{} choices for n = {n}", choices.len())));
        }
        let mut ordered: Vec<(u64, &Value)> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    c.get("index").and_then(Value::as_u64).unwrap_or(i as u64),
                    c,
                )
            })
            .collect();
        ordered.sort_by_key(|(i, _)| *i);
        let total_tokens = value
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64);
        let mut out = Vec::with_capacity(n);
        for (index, choice) in ordered {
            let text = choice
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| schema(format!("choice {index} has no text")))?
                .to_string();
            let finish_reason = match choice.get("finish_reason").and_then(Value::as_str) {
                Some("length") => FinishReason::Length,
                // vLLM sets stop_reason to the matched stop string, null for EOS.
                Some("stop") => match choice.get("stop_reason") {
                    Some(Value::String(_)) => FinishReason::Stop,
                    _ => FinishReason::Eos,
                },
                other => {
                    return Err(schema(format!(
                        "choice {index}: finish_reason {other:?} is neither \"stop\" nor \"length\""
                    )));
                }
            };
            let token_ids: Option<Vec<u32>> = choice
                .get("token_ids")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            let logprobs: Option<Vec<f32>> = choice
                .pointer("/logprobs/token_logprobs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
                        .collect()
                });
            let num_tokens = match (&token_ids, &logprobs, total_tokens) {
                (Some(ids), _, _) => ids.len(),
                (None, Some(lps), _) => lps.len(),
                (None, None, Some(total)) if n == 1 => total as usize,
                _ => match &self.tokenizer {
                    Some(tok) => tok.encode(&text, false)?.len(),
                    None => {
                        return Err(schema(format!(
                            "choice {index}: no token count (no token_ids, logprobs or usage)"
                        )));
                    }
                },
            };
            out.push(Generated {
                text,
                token_ids,
                num_tokens,
                finish_reason,
                logprobs,
            });
        }
        Ok(out)
    }
}

impl Generator for HttpGenerator {
    fn generate(
        &self,
        requests: &[Request],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError> {
        let calls = calls_of(requests, self.config.seed_mode);
        let results: Vec<Slot> = calls.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let workers = self.config.concurrency.clamp(1, calls.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    // Stop taking work after a failure: the whole call fails anyway.
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(call) = calls.get(i) else { break };
                        let result = self
                            .call(call, params)
                            .and_then(|v| self.parse(&v, call.seeds.len()));
                        if result.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(result);
                        }
                    }
                });
            }
        });
        let mut out: Vec<Vec<Generated>> = requests
            .iter()
            .map(|r| Vec::with_capacity(r.seeds.len()))
            .collect();
        for (call, slot) in calls.iter().zip(results) {
            let result = slot.into_inner().ok().flatten();
            match result {
                Some(Ok(generated)) => out[call.request].extend(generated),
                Some(Err(e)) => return Err(e),
                // Skipped after another call failed; that failure is reported below.
                None => {}
            }
        }
        if failed.load(Ordering::Relaxed) {
            return Err(GenerateError::InvalidParams(
                "a call failed without reporting an error".into(),
            ));
        }
        Ok(out)
    }

    fn batch_independent(&self) -> bool {
        self.config.seed_mode == SeedMode::PerSample
    }

    fn describe(&self) -> String {
        format!("server {}", self.endpoint)
    }
}

fn is_transient(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Timeout(_)
            | ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
    )
}

fn clip(text: &str) -> String {
    const MAX: usize = 500;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

fn endpoint_of(url: &str) -> Result<String, GenerateError> {
    let bad = |problem: &str| GenerateError::BadUrl {
        url: url.to_string(),
        problem: problem.to_string(),
    };
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") {
        return Err(bad(
            "this build has no TLS; use http:// (a local proxy can forward to https)",
        ));
    }
    let Some(rest) = trimmed.strip_prefix("http://") else {
        return Err(bad("must start with http://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("no host"));
    }
    Ok(if trimmed.ends_with("/v1/completions") {
        trimmed.to_string()
    } else if trimmed.ends_with("/v1") {
        format!("{trimmed}/completions")
    } else {
        format!("{trimmed}/v1/completions")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for (url, want) in [
            ("http://h:1", "http://h:1/v1/completions"),
            ("http://h:1/", "http://h:1/v1/completions"),
            ("http://h:1/v1", "http://h:1/v1/completions"),
            ("http://h:1/v1/completions", "http://h:1/v1/completions"),
        ] {
            assert_eq!(endpoint_of(url).unwrap(), want);
        }
        for bad in ["https://h", "h:1", "http://", ""] {
            assert!(endpoint_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_vllm_style_choices() {
        let g = HttpGenerator::new(HttpConfig::new("http://h:1"), None).unwrap();
        let v = json!({"choices": [
            {"index": 1, "text": "b", "finish_reason": "stop", "stop_reason": "###",
             "logprobs": {"token_logprobs": [-0.5, -1.0]}},
            {"index": 0, "text": "a", "finish_reason": "length", "logprobs": {"token_logprobs": [-0.1]}}
        ], "usage": {"completion_tokens": 3}});
        let out = g.parse(&v, 2).unwrap();
        assert_eq!(out[0].text, "a");
        assert_eq!(out[0].finish_reason, FinishReason::Length);
        assert_eq!(out[1].finish_reason, FinishReason::Stop);
        assert_eq!(out[1].num_tokens, 2);
        let one = json!({"choices": [{"text": "x", "finish_reason": "stop", "stop_reason": null}],
                         "usage": {"completion_tokens": 7}});
        let out = g.parse(&one, 1).unwrap();
        assert_eq!(
            (out[0].num_tokens, out[0].finish_reason),
            (7, FinishReason::Eos)
        );
        assert!(g.parse(&json!({"choices": []}), 1).is_err());
        assert!(
            g.parse(
                &json!({"choices": [{"text": "x", "finish_reason": "abort"}]}),
                1
            )
            .is_err()
        );
        assert!(g.parse(&json!({"choices": [{"text": "x", "finish_reason": "stop"}, {"text": "y", "finish_reason": "stop"}]}), 2).is_err());
    }

    #[test]
    fn text_prompts_go_out_as_ids_with_one_bos_when_a_tokenizer_is_known() {
        // The demo tokenizer asks for a BOS (`<bos>`, id 1) in front of every prompt.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-model");
        let tok = Tokenizer::from_dir(&dir).unwrap();
        let bos = tok.special().bos.clone().unwrap().0;
        let with_tok =
            HttpGenerator::new(HttpConfig::new("http://h:1"), Some(tok.clone())).unwrap();
        let without = HttpGenerator::new(HttpConfig::new("http://h:1"), None).unwrap();
        let params = SamplingParams::default();
        for text in ["Q: 1+2?\n", "<bos>Q: 1+2?\n"] {
            let prompt = Prompt::Text(text.into());
            let call = Call {
                request: 0,
                prompt: &prompt,
                seeds: &[1],
            };
            let ids: Vec<u32> =
                serde_json::from_value(with_tok.body(&call, &params).unwrap()["prompt"].clone())
                    .unwrap();
            assert_eq!(ids[0], bos, "{text}");
            assert_ne!(ids[1], bos, "{text}: a second BOS");
            assert_eq!(without.body(&call, &params).unwrap()["prompt"], json!(text));
        }
    }

    #[test]
    fn the_api_key_goes_out_as_a_bearer_token() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the JSON body (its closing brace ends the request).
            while !request.ends_with(b"}") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"choices":[{"index":0,"text":"ok","finish_reason":"stop"}],"usage":{"completion_tokens":1}}"#;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            String::from_utf8_lossy(&request).to_lowercase()
        });
        let mut config = HttpConfig::new(url);
        config.api_key = Some("secret-key".into());
        config.max_retries = 0;
        let g = HttpGenerator::new(config, None).unwrap();
        let req = [Request {
            prompt: Prompt::Text("x".into()),
            seeds: vec![1],
        }];
        let out = g.generate(&req, &SamplingParams::default()).unwrap();
        assert_eq!(out[0][0].text, "ok");
        let request = server.join().unwrap();
        assert!(
            request.contains("authorization: bearer secret-key"),
            "{request}"
        );
    }

    #[test]
    fn connection_refused_is_retried_then_reported() {
        // Port 9 (discard) on loopback is closed on any sane test machine.
        let mut config = HttpConfig::new("http://127.0.0.1:9");
        config.max_retries = 2;
        config.backoff = Duration::from_millis(1);
        let g = HttpGenerator::new(config, None).unwrap();
        let req = [Request {
            prompt: Prompt::Text("x".into()),
            seeds: vec![1],
        }];
        match g.generate(&req, &SamplingParams::default()) {
            Err(GenerateError::RetriesExhausted { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("{other:?}"),
        }
    }
}
