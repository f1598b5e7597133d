//! [`HttpPool`]: a [`Generator`] over several OpenAI-compatible servers, so a fleet of vLLM
//! or SGLang servers needs no load balancer in front of it.
//!
//! The calls of a [`Generator::generate`] call (one per sample with [`SeedMode::PerSample`])
//! go into one queue; each server has `concurrency` workers that take calls from it, so a
//! faster server takes more of them, and a batch runs in parallel on all the servers. Every
//! call carries its sample's seed, so which server answers it does not change the sample
//! (the servers must run the same model with the same software; see below).
//!
//! A server that stops answering (connection refused or reset, no answer within
//! [`HttpConfig::timeout`], HTTP 408 / 429 / 5xx) is marked down: its failed calls go back
//! to the queue for the other servers, and it gets no call until its backoff has passed
//! ([`HttpConfig::backoff`], doubled after each further failure up to
//! [`HttpConfig::max_backoff`]); then one call probes it, and an answer brings it back.
//! Only when every server has failed more than [`HttpConfig::max_retries`] attempts in a row
//! does the call fail, with [`GenerateError::NoServerAnswers`] naming each server and its
//! last error. Other errors (a client error such as HTTP 400, an answer that is not the
//! completions schema) fail the call at once, as with one [`HttpGenerator`].
//!
//! Before its first call, and again after it was down, a server is asked for its models
//! (`GET /v1/models`); a server listing other models than the first one that answered is
//! [`GenerateError::ModelMismatch`]. (A server without that route is not checked.)
//!
//! [`HttpPool::progress`] and [`HttpPool::server_stats`] give samples/s and tokens/s per
//! server; an `info` line with them is logged every 30 s while calls complete.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use o1p_model::Tokenizer;
use serde_json::Value;

use crate::error::{GenerateError, ServerFailure};
use crate::generate::SamplingParams;
use crate::generator::{Generated, Generator, Prompt, Request};
use crate::http::{Attempt, HttpConfig, HttpGenerator, SeedMode, calls_of};

/// Longest a worker sleeps before it looks at the queue again (it is woken sooner whenever
/// a call completes, fails or goes back to the queue).
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// Interval of the throughput log line.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// A [`Generator`] that spreads calls over several OpenAI-compatible servers.
///
/// ```
/// use o1p_sampler::{Generator, HttpConfig, HttpPool};
/// let urls = ["http://127.0.0.1:8001".to_string(), "http://127.0.0.1:8002/v1".to_string()];
/// let pool = HttpPool::new(&urls, HttpConfig::new(""), None).unwrap();
/// assert_eq!(pool.len(), 2);
/// assert!(pool.describe().contains("127.0.0.1:8002"));
/// assert!(HttpPool::new(&[], HttpConfig::new(""), None).is_err());
/// let twice = [urls[0].clone(), urls[0].clone()];
/// assert!(HttpPool::new(&twice, HttpConfig::new(""), None).is_err());
/// ```
#[derive(Debug)]
pub struct HttpPool {
    members: Vec<HttpGenerator>,
    state: Mutex<PoolState>,
}

/// What the pool knows of its servers across calls.
#[derive(Debug)]
struct PoolState {
    health: Vec<Health>,
    /// The first server that listed its models, and its sorted model ids.
    models: Option<(String, Vec<String>)>,
    /// When the first call started (the time base of the rates).
    started: Option<Instant>,
    last_log: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Takes calls.
    Up,
    /// Failed; takes no call before `until`.
    Down { until: Instant },
    /// Its backoff has passed and one call is testing it.
    Probing,
}

#[derive(Debug)]
struct Health {
    state: State,
    /// Failed attempts in a row (a failure seen while already down is not counted again:
    /// the in-flight calls of a dying server all fail together).
    failures: u32,
    last_error: String,
    /// Whether its model list was checked since it last came up.
    models_checked: bool,
    samples: u64,
    tokens: u64,
    failed_attempts: u64,
}

/// Throughput and health of one server of an [`HttpPool`].
#[derive(Clone, Debug, PartialEq)]
pub struct ServerStats {
    /// The endpoint.
    pub url: String,
    /// Samples it generated.
    pub samples: u64,
    /// Tokens it generated.
    pub tokens: u64,
    /// Its failed attempts (each one's call went back to the queue).
    pub failed_attempts: u64,
    /// Whether it answered its last attempt (or has not been tried yet).
    pub answering: bool,
    /// Its last error, if any.
    pub last_error: Option<String>,
    /// Wall time since the pool's first call.
    pub elapsed: Duration,
}

impl ServerStats {
    /// Samples per second of wall time.
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Tokens per second of wall time.
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for ServerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} samples, {} tokens, {:.1} samples/s, {:.0} tokens/s",
            self.url,
            self.samples,
            self.tokens,
            self.samples_per_s(),
            self.tokens_per_s()
        )?;
        if self.failed_attempts > 0 {
            write!(f, ", {} failed attempts", self.failed_attempts)?;
        }
        if !self.answering {
            write!(f, ", not answering")?;
        }
        if let Some(error) = self.last_error.as_ref().filter(|_| !self.answering) {
            write!(f, " (last error: {error})")?;
        }
        Ok(())
    }
}

/// The state of one [`Generator::generate`] call, shared by its workers.
struct Work {
    /// Calls not yet taken (a failed call goes back to the front).
    pending: VecDeque<usize>,
    /// Calls not yet answered.
    remaining: usize,
    /// Why the whole call fails, once it does.
    failure: Option<GenerateError>,
}

impl HttpPool {
    /// A pool over `urls`: each server gets a copy of `config` with its own URL (so
    /// `config.concurrency` is the limit per server, and `config.timeout`,
    /// `config.max_retries` and the backoff apply to each). The tokenizer, if given, encodes
    /// text prompts as in [`HttpGenerator::new`]. No URL, an unusable one or one given
    /// twice is an error.
    pub fn new(
        urls: &[String],
        config: HttpConfig,
        tokenizer: Option<Tokenizer>,
    ) -> Result<Self, GenerateError> {
        if urls.is_empty() {
            return Err(GenerateError::InvalidParams(
                "a server pool needs at least one server".into(),
            ));
        }
        let mut members: Vec<HttpGenerator> = Vec::with_capacity(urls.len());
        for url in urls {
            let member = HttpGenerator::new(
                HttpConfig {
                    url: url.clone(),
                    ..config.clone()
                },
                tokenizer.clone(),
            )?;
            if members.iter().any(|m| m.endpoint() == member.endpoint()) {
                return Err(GenerateError::BadUrl {
                    url: url.clone(),
                    problem: format!("{} is given twice", member.endpoint()),
                });
            }
            members.push(member);
        }
        let health = members
            .iter()
            .map(|_| Health {
                state: State::Up,
                failures: 0,
                last_error: String::new(),
                models_checked: false,
                samples: 0,
                tokens: 0,
                failed_attempts: 0,
            })
            .collect();
        Ok(HttpPool {
            members,
            state: Mutex::new(PoolState {
                health,
                models: None,
                started: None,
                last_log: None,
            }),
        })
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the pool has no server (never: [`HttpPool::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The endpoints, in the order given.
    pub fn endpoints(&self) -> Vec<&str> {
        self.members.iter().map(HttpGenerator::endpoint).collect()
    }

    /// Throughput and health of each server, in the order given.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        let state = self.lock_state();
        let elapsed = state.started.map(|s| s.elapsed()).unwrap_or_default();
        self.members
            .iter()
            .zip(&state.health)
            .map(|(member, health)| ServerStats {
                url: member.endpoint().to_string(),
                samples: health.samples,
                tokens: health.tokens,
                failed_attempts: health.failed_attempts,
                answering: health.state == State::Up,
                last_error: (!health.last_error.is_empty()).then(|| health.last_error.clone()),
                elapsed,
            })
            .collect()
    }

    fn lock_state(&self) -> MutexGuard<'_, PoolState> {
        // The state stays consistent under every update, so a panicked worker's poison
        // carries no broken invariant.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self) -> &HttpConfig {
        self.members[0].config()
    }

    /// One worker of server `m`: takes calls from the queue until none is left or the
    /// whole call has failed.
    fn work(
        &self,
        m: usize,
        calls: &[(usize, &[u64])],
        bodies: &[Value],
        work: &Mutex<Work>,
        wake: &Condvar,
        results: &[Mutex<Option<Vec<Generated>>>],
    ) {
        let member = &self.members[m];
        loop {
            let Some(i) = self.take(m, work, wake) else {
                return;
            };
            let check = self.check_models(m);
            let outcome = match check {
                Err(failure) => Err(failure),
                Ok(()) => match member.attempt(&bodies[i]) {
                    Attempt::Answer(value) => member
                        .parse(&value, calls[i].1.len())
                        .map_err(Failure::Fatal),
                    Attempt::Transient(error) => Err(Failure::Transient(error)),
                    Attempt::Broken(error) => {
                        Err(Failure::Fatal(GenerateError::RetriesExhausted {
                            url: member.endpoint().to_string(),
                            attempts: 1,
                            last: error,
                        }))
                    }
                    Attempt::Failed(error) => Err(Failure::Fatal(error)),
                },
            };
            let mut w = work.lock().unwrap_or_else(|e| e.into_inner());
            let mut state = self.lock_state();
            match outcome {
                Ok(generated) => {
                    let health = &mut state.health[m];
                    health.state = State::Up;
                    health.failures = 0;
                    health.samples += generated.len() as u64;
                    health.tokens += generated.iter().map(|g| g.num_tokens as u64).sum::<u64>();
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(generated);
                    }
                    w.remaining -= 1;
                    let now = Instant::now();
                    if state.last_log.is_none_or(|t| now - t >= LOG_EVERY) {
                        state.last_log = Some(now);
                        drop(state);
                        tracing::info!(servers = %self.status(), "server throughput");
                    }
                }
                Err(Failure::Transient(error)) => {
                    w.pending.push_front(i);
                    let config = self.config();
                    let health = &mut state.health[m];
                    health.failed_attempts += 1;
                    if !matches!(health.state, State::Down { .. }) {
                        health.failures += 1;
                        let wait = config
                            .backoff
                            .saturating_mul(1 << (health.failures - 1).min(16))
                            .min(config.max_backoff);
                        health.state = State::Down {
                            until: Instant::now() + wait,
                        };
                        health.models_checked = false;
                        tracing::warn!(
                            url = %member.endpoint(),
                            failures = health.failures,
                            %error,
                            ?wait,
                            "server not answering; its calls go to the other servers"
                        );
                    }
                    health.last_error = error;
                    if state.health.iter().all(|h| h.failures > config.max_retries) {
                        w.failure.get_or_insert(GenerateError::NoServerAnswers {
                            servers: self
                                .members
                                .iter()
                                .zip(&state.health)
                                .map(|(member, h)| ServerFailure {
                                    url: member.endpoint().to_string(),
                                    attempts: h.failures,
                                    last: h.last_error.clone(),
                                })
                                .collect(),
                        });
                    }
                }
                Err(Failure::Fatal(error)) => {
                    // The server answered: it is up, but the call cannot succeed anywhere.
                    let health = &mut state.health[m];
                    health.state = State::Up;
                    w.failure.get_or_insert(error);
                }
            }
            wake.notify_all();
        }
    }

    /// The next call for a worker of server `m`, waiting while the queue is empty (calls in
    /// flight elsewhere may come back) or the server is down; `None` when the work is over.
    fn take(&self, m: usize, work: &Mutex<Work>, wake: &Condvar) -> Option<usize> {
        let mut w = work.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if w.failure.is_some() || w.remaining == 0 {
                return None;
            }
            let mut wait = IDLE_WAIT;
            if !w.pending.is_empty() {
                let mut state = self.lock_state();
                let health = &mut state.health[m];
                let now = Instant::now();
                let ready = match health.state {
                    State::Up => true,
                    State::Probing => false,
                    State::Down { until } if until > now => {
                        wait = wait.min(until - now);
                        false
                    }
                    State::Down { .. } => {
                        // This worker probes; the server's other workers wait for the answer.
                        health.state = State::Probing;
                        true
                    }
                };
                if ready {
                    return w.pending.pop_front();
                }
            }
            w = wake
                .wait_timeout(w, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Checks server `m`'s model list against the first server's, once after it comes up.
    fn check_models(&self, m: usize) -> Result<(), Failure> {
        if self.lock_state().health[m].models_checked {
            return Ok(());
        }
        let member = &self.members[m];
        let listed = member
            .served_models(member.config().timeout)
            .map_err(Failure::Transient)?;
        let mut state = self.lock_state();
        if let Some(models) = listed {
            match &state.models {
                None => state.models = Some((member.endpoint().to_string(), models)),
                Some((other_url, other_models)) if *other_models != models => {
                    return Err(Failure::Fatal(GenerateError::ModelMismatch {
                        url: member.endpoint().to_string(),
                        models,
                        other_url: other_url.clone(),
                        other_models: other_models.clone(),
                    }));
                }
                Some(_) => {}
            }
        }
        state.health[m].models_checked = true;
        Ok(())
    }

    /// One line: samples/s and tokens/s per server.
    fn status(&self) -> String {
        self.server_stats()
            .iter()
            .map(|s| {
                let host = s.url.trim_start_matches("http://");
                let host = host.split('/').next().unwrap_or(host);
                let mut line = format!(
                    "{host} {:.1}/s {:.0} tok/s",
                    s.samples_per_s(),
                    s.tokens_per_s()
                );
                if !s.answering {
                    line.push_str(" (down)");
                }
                line
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why an attempt failed, for the pool's bookkeeping.
enum Failure {
    /// The server may answer later; the call goes to another one.
    Transient(String),
    /// No server can answer this call.
    Fatal(GenerateError),
}

impl Generator for HttpPool {
    fn generate(
        &self,
        requests: &[Request],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError> {
        let seed_mode = self.config().seed_mode;
        let calls = calls_of(requests, seed_mode);
        // Every server gets the same body (same `model` field), built once.
        let bodies = calls
            .iter()
            .map(|c| self.members[0].body(c, params))
            .collect::<Result<Vec<_>, _>>()?;
        let call_keys: Vec<(usize, &[u64])> = calls.iter().map(|c| (c.request, c.seeds)).collect();
        self.lock_state().started.get_or_insert_with(Instant::now);
        let work = Mutex::new(Work {
            pending: (0..calls.len()).collect(),
            remaining: calls.len(),
            failure: None,
        });
        let wake = Condvar::new();
        let results: Vec<Mutex<Option<Vec<Generated>>>> =
            calls.iter().map(|_| Mutex::new(None)).collect();
        if !calls.is_empty() {
            std::thread::scope(|scope| {
                for (m, member) in self.members.iter().enumerate() {
                    for _ in 0..member.config().concurrency.clamp(1, calls.len()) {
                        let (calls, bodies, work, wake, results) =
                            (&call_keys, &bodies, &work, &wake, &results);
                        scope.spawn(move || self.work(m, calls, bodies, work, wake, results));
                    }
                }
            });
        }
        let work = work.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(error) = work.failure {
            return Err(error);
        }
        let mut out: Vec<Vec<Generated>> = requests
            .iter()
            .map(|r| Vec::with_capacity(r.seeds.len()))
            .collect();
        for (&(request, _), slot) in call_keys.iter().zip(results) {
            let generated =
                slot.into_inner().ok().flatten().ok_or_else(|| {
                    GenerateError::InvalidParams("a call was not answered".into())
                })?;
            out[request].extend(generated);
        }
        Ok(out)
    }

    fn check_prompt(&self, prompt: &Prompt) -> Result<(), String> {
        self.members[0].check_prompt(prompt)
    }

    fn check_request(
        &self,
        prompt: &Prompt,
        params: &SamplingParams,
        rows: usize,
    ) -> Result<(), String> {
        self.members[0].check_request(prompt, params, rows)
    }

    fn batch_independent(&self) -> bool {
        self.config().seed_mode == SeedMode::PerSample
    }

    fn describe(&self) -> String {
        format!(
            "{} servers ({}, {} requests in flight each)",
            self.members.len(),
            self.endpoints().join(", "),
            self.config().concurrency.max(1)
        )
    }

    fn progress(&self) -> Option<String> {
        Some(self.status())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::generate::FinishReason;

    /// How a fake server behaves.
    #[derive(Clone, Copy)]
    enum Fake {
        /// Answers every completion (text `s<seed>`) and lists `models`.
        Good { models: &'static str },
        /// Answers `n` completions, then closes every connection and stops listening.
        DiesAfter(usize),
        /// Reads requests and never answers.
        Hangs,
    }

    /// A loopback port nobody listens on.
    fn closed_port() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    fn start(fake: Fake) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let answered = Arc::new(AtomicUsize::new(0));
        let dead = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            // The listener is dropped (new connections refused) once the server is dead.
            while !dead.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (answered, dead) = (answered.clone(), dead.clone());
                        std::thread::spawn(move || serve(stream, fake, &answered, &dead));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        url
    }

    /// Answers the requests of one connection until it closes or the server dies.
    fn serve(stream: TcpStream, fake: Fake, answered: &AtomicUsize, dead: &AtomicBool) {
        stream.set_nonblocking(false).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        loop {
            let mut head = String::new();
            if reader.read_line(&mut head).unwrap_or(0) == 0 {
                return;
            }
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() || dead.load(Ordering::SeqCst) {
                return;
            }
            let answer = if head.starts_with("GET /v1/models") {
                let models = match fake {
                    Fake::Good { models } => models,
                    _ => "m",
                };
                json!({"object": "list", "data": [{"id": models}]})
            } else {
                match fake {
                    Fake::Hangs => {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    Fake::DiesAfter(n) if answered.fetch_add(1, Ordering::SeqCst) >= n => {
                        // Killed: the request in flight and every later one get no answer.
                        dead.store(true, Ordering::SeqCst);
                        return;
                    }
                    _ => {}
                }
                let request: Value = serde_json::from_slice(&body).unwrap();
                let seed = request["seed"].as_u64().unwrap();
                json!({"choices": [{"index": 0, "text": format!("s{seed}"),
                        "finish_reason": "length"}],
                       "usage": {"completion_tokens": seed % 7 + 1}})
            }
            .to_string();
            let sent = write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if sent.is_err() {
                return;
            }
        }
    }

    fn config() -> HttpConfig {
        let mut config = HttpConfig::new("");
        config.concurrency = 2;
        config.max_retries = 2;
        config.backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(50);
        config.timeout = Duration::from_millis(500);
        config.connect_timeout = Duration::from_secs(1);
        config
    }

    fn requests() -> Vec<Request> {
        (0..6)
            .map(|i| Request {
                prompt: Prompt::Text(format!("q{i}")),
                seeds: (0..4).map(|j| 10 * i + j).collect(),
            })
            .collect()
    }

    #[test]
    fn calls_of_dead_and_hung_servers_are_answered_by_the_others() {
        let urls = [
            start(Fake::Good { models: "m" }),
            start(Fake::DiesAfter(3)),
            closed_port(),
            start(Fake::Hangs),
            start(Fake::Good { models: "m" }),
        ];
        let pool = HttpPool::new(&urls, config(), None).unwrap();
        let requests = requests();
        let params = SamplingParams::default();
        // Two calls: the dead servers stay dead across calls.
        for _ in 0..2 {
            let out = pool.generate(&requests, &params).unwrap();
            for (request, generated) in requests.iter().zip(&out) {
                let texts: Vec<String> = generated.iter().map(|g| g.text.clone()).collect();
                let want: Vec<String> = request.seeds.iter().map(|s| format!("s{s}")).collect();
                assert_eq!(texts, want);
                for (g, seed) in generated.iter().zip(&request.seeds) {
                    assert_eq!(g.num_tokens as u64, seed % 7 + 1);
                    assert_eq!(g.finish_reason, FinishReason::Length);
                }
            }
        }
        let stats = pool.server_stats();
        let total: u64 = stats.iter().map(|s| s.samples).sum();
        assert_eq!(total, 2 * 24, "{stats:?}");
        assert_eq!(stats[1].samples, 3, "{stats:?}");
        for dead in &stats[1..4] {
            assert!(!dead.answering && dead.failed_attempts > 0, "{dead}");
        }
        assert!(stats[0].samples > 0 && stats[4].samples > 0, "{stats:?}");
        let line = pool.progress().unwrap();
        assert!(line.contains("(down)") && line.contains("tok/s"), "{line}");
    }

    #[test]
    fn a_fleet_where_no_server_answers_is_an_error_not_a_hang() {
        let urls = [closed_port(), start(Fake::DiesAfter(0)), start(Fake::Hangs)];
        let pool = HttpPool::new(&urls, config(), None).unwrap();
        let started = Instant::now();
        match pool.generate(&requests(), &SamplingParams::default()) {
            Err(GenerateError::NoServerAnswers { servers }) => {
                assert_eq!(servers.len(), 3);
                for (server, url) in servers.iter().zip(&urls) {
                    assert!(server.url.starts_with(url.as_str()), "{server:?}");
                    // More than max_retries (2) in a row each; the quick refusals are tried
                    // again and again while the hung server takes 0.5 s per attempt.
                    assert!(server.attempts >= 3, "{server:?}");
                }
                assert!(servers[2].last.contains("imeout"), "{servers:?}");
            }
            other => panic!("{other:?}"),
        }
        // Three attempts of at most 0.5 s each on the hung server, with short backoffs.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn servers_of_other_models_are_refused() {
        let urls = [
            start(Fake::Good { models: "a" }),
            start(Fake::Good { models: "b" }),
        ];
        let pool = HttpPool::new(&urls, config(), None).unwrap();
        match pool.generate(&requests(), &SamplingParams::default()) {
            Err(e @ GenerateError::ModelMismatch { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains("[\"a\"]") && message.contains("[\"b\"]"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
