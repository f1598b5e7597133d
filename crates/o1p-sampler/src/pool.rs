//! [`HttpPool`]: a [`Generator`] over several OpenAI-compatible servers, so a fleet of vLLM
//! or SGLang servers needs no load balancer in front of it.
//!
//! The calls of a [`Generator::generate`] call (one per sample with [`SeedMode::PerSample`])
//! go into one queue; each server has `concurrency` worker threads that take calls from it,
//! so a faster server takes more of them, and a batch runs in parallel on all the servers.
//! Every call carries its sample's seed, so which server answers it does not change the
//! sample (the servers must run the same model with the same software; see below).
//!
//! A server is used once it has answered a probe, `GET /v1/models` (any answer but a
//! transient failure counts; a model list is compared with the first server's, and a
//! different one is [`GenerateError::ModelMismatch`]). A server that stops answering
//! (connection refused or reset, no answer within [`HttpConfig::timeout`], HTTP 408 / 429 /
//! 5xx) is marked down: its failed call, and its other calls still in flight, go back to the
//! queue for the other servers at once, and it gets no call until its backoff has passed
//! ([`HttpConfig::backoff`], doubled after each further failure up to
//! [`HttpConfig::max_backoff`]) and it has answered a new probe. Only when every server has
//! failed more than [`HttpConfig::max_retries`] times in a row (calls and probes) does the
//! call fail, with [`GenerateError::NoServerAnswers`] naming each server and its last error.
//! Other errors (a client error such as HTTP 400, an answer that is not the completions
//! schema) fail the call at once, as with one [`HttpGenerator`].
//!
//! The workers outlive the calls: a call returns as soon as every sample is answered, even
//! while a hung server still holds copies of some of its requests (their answers, when they
//! come, are dropped). They stop when the pool is dropped, each after its current request.
//!
//! [`HttpPool::server_stats`] and [`Generator::progress`] give samples/s and tokens/s per
//! server; an `info` line with them is logged every 30 s while calls complete.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use o1p_model::Tokenizer;
use serde_json::Value;

use crate::error::{GenerateError, ServerFailure};
use crate::generate::SamplingParams;
use crate::generator::{Generated, Generator, Prompt, Request};
use crate::http::{Attempt, HttpConfig, HttpGenerator, SeedMode, calls_of};

/// Longest a waiting thread sleeps before it looks again (it is woken sooner whenever a
/// call completes, fails or goes back to the queue).
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
    shared: Arc<Shared>,
    /// One generate call at a time: the queue holds one call's requests.
    calling: Mutex<()>,
}

/// What the pool's workers and callers share.
#[derive(Debug)]
struct Shared {
    members: Vec<HttpGenerator>,
    state: Mutex<PoolState>,
    /// Wakes the workers: calls were queued, or a server came up.
    wake: Condvar,
    /// Wakes the caller: a call was answered, or the batch failed.
    done: Condvar,
}

#[derive(Debug)]
struct PoolState {
    health: Vec<Health>,
    /// The first server that listed its models, and its sorted model ids.
    models: Option<(String, Vec<String>)>,
    /// When the first call started (the time base of the rates); the workers are started
    /// then.
    started: Option<Instant>,
    last_log: Option<Instant>,
    /// The requests of the current generate call.
    batch: Option<Batch>,
    /// Numbers the generate calls, so that a late answer to an earlier call is dropped.
    batch_id: u64,
    /// An error found outside a call (a probe's model mismatch), for the next call.
    fatal: Option<GenerateError>,
    /// Set when the pool is dropped.
    shutdown: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Takes calls.
    Up,
    /// Not yet probed, or failed: takes no call; probed again from `until` on.
    Down { until: Instant },
    /// One of its workers is probing it.
    Probing,
    /// Serves another model than the others: never used.
    Refused,
}

#[derive(Debug)]
struct Health {
    state: State,
    /// Failed attempts and probes in a row (a failure seen while already down is not
    /// counted again: the in-flight calls of a dying server all fail together).
    failures: u32,
    last_error: String,
    samples: u64,
    tokens: u64,
    failed_attempts: u64,
}

impl Health {
    /// Books an answer: the server is up (unless refused for its model) and its failures
    /// in a row end.
    fn answered(&mut self) {
        if self.state != State::Refused {
            self.state = State::Up;
        }
        self.failures = 0;
    }
}

/// The requests of one generate call.
#[derive(Debug)]
struct Batch {
    id: u64,
    /// The JSON body of each call.
    bodies: Vec<Value>,
    /// Completions each call asks for.
    n: Vec<usize>,
    /// Calls waiting for a worker.
    pending: VecDeque<usize>,
    /// Whether each call is in `pending`.
    queued: Vec<bool>,
    /// The servers each call is in flight on.
    on: Vec<Vec<usize>>,
    results: Vec<Option<Vec<Generated>>>,
    /// Calls not yet answered.
    remaining: usize,
    /// Why the whole call fails, once it does.
    failure: Option<GenerateError>,
}

impl Batch {
    /// Puts call `i` back in the queue unless it is answered or already there.
    fn requeue(&mut self, i: usize) {
        if self.results[i].is_none() && !self.queued[i] {
            self.queued[i] = true;
            self.pending.push_front(i);
        }
    }
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
    /// Its failed requests: calls (each went back to the queue) and probes.
    pub failed_attempts: u64,
    /// Whether it answered its last probe or call (false before it was first probed).
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

impl HttpPool {
    /// A pool over `urls`: each server gets a copy of `config` with its own URL (so
    /// `config.concurrency` is the limit per server, and `config.timeout`,
    /// `config.max_retries` and the backoff apply to each). The tokenizer, if given, encodes
    /// text prompts as in [`HttpGenerator::new`]. No URL, an unusable one or one given
    /// twice is an error. Nothing is sent before the first call.
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
        let now = Instant::now();
        let health = members
            .iter()
            .map(|_| Health {
                state: State::Down { until: now },
                failures: 0,
                last_error: String::new(),
                samples: 0,
                tokens: 0,
                failed_attempts: 0,
            })
            .collect();
        Ok(HttpPool {
            shared: Arc::new(Shared {
                members,
                state: Mutex::new(PoolState {
                    health,
                    models: None,
                    started: None,
                    last_log: None,
                    batch: None,
                    batch_id: 0,
                    fatal: None,
                    shutdown: false,
                }),
                wake: Condvar::new(),
                done: Condvar::new(),
            }),
            calling: Mutex::new(()),
        })
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.shared.members.len()
    }

    /// Whether the pool has no server (never: [`HttpPool::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.shared.members.is_empty()
    }

    /// The endpoints, in the order given.
    pub fn endpoints(&self) -> Vec<&str> {
        self.shared
            .members
            .iter()
            .map(HttpGenerator::endpoint)
            .collect()
    }

    /// Throughput and health of each server, in the order given.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        self.shared.server_stats()
    }

    fn config(&self) -> &HttpConfig {
        self.shared.members[0].config()
    }

    /// Starts `concurrency` workers per server (once).
    fn start_workers(&self, state: &mut PoolState) {
        if state.started.is_some() {
            return;
        }
        state.started = Some(Instant::now());
        for (m, member) in self.shared.members.iter().enumerate() {
            for _ in 0..member.config().concurrency.max(1) {
                let shared = Arc::clone(&self.shared);
                std::thread::spawn(move || shared.work(m));
            }
        }
    }
}

impl Drop for HttpPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Every update leaves the state consistent, so a panicked thread's poison carries
        // no broken invariant.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        condvar: &Condvar,
        guard: MutexGuard<'a, PoolState>,
        timeout: Duration,
    ) -> MutexGuard<'a, PoolState> {
        condvar
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    fn server_stats(&self) -> Vec<ServerStats> {
        let state = self.lock();
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

    /// One line: samples/s and tokens/s per server.
    fn status(&self) -> String {
        self.status_of(&self.lock())
    }

    /// A worker of server `m`: probes the server when it is down and its backoff has
    /// passed, takes calls while it is up, until the pool is dropped.
    fn work(&self, m: usize) {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return;
            }
            let now = Instant::now();
            let mut wait = IDLE_WAIT;
            match state.health[m].state {
                // Probed only while there is work: a pool between calls sends nothing.
                State::Down { until } if until <= now && state.batch.is_some() => {
                    state.health[m].state = State::Probing;
                    drop(state);
                    let probe = self.members[m].served_models(self.members[m].config().timeout);
                    state = self.lock();
                    self.probed(&mut state, m, probe);
                    // Its workers may now take calls; a failure may end the batch.
                    self.wake.notify_all();
                    self.done.notify_all();
                    continue;
                }
                State::Down { until } if until > now => wait = wait.min(until - now),
                State::Up => {
                    if let Some((id, i, body, n)) = take(&mut state, m) {
                        drop(state);
                        let result = self.attempt(m, &body, n);
                        let requeued = result.is_err();
                        state = self.lock();
                        self.answered(&mut state, m, id, i, result);
                        if requeued {
                            self.wake.notify_all();
                        }
                        self.done.notify_all();
                        continue;
                    }
                }
                State::Down { .. } | State::Probing | State::Refused => {}
            }
            state = Self::wait(&self.wake, state, wait);
        }
    }

    /// One attempt on server `m` of a call with JSON body `body` asking for `n` completions.
    fn attempt(&self, m: usize, body: &Value, n: usize) -> Result<Vec<Generated>, Failure> {
        let member = &self.members[m];
        match member.attempt(body) {
            Attempt::Answer(value) => member.parse(&value, n).map_err(Failure::Fatal),
            Attempt::Transient(error) => Err(Failure::Transient(error)),
            Attempt::Broken(error) => Err(Failure::Fatal(GenerateError::RetriesExhausted {
                url: member.endpoint().to_string(),
                attempts: 1,
                last: error,
            })),
            Attempt::Failed(error) => Err(Failure::Fatal(error)),
        }
    }

    /// Books the answer (or failure) of call `i` of batch `id` on server `m`.
    fn answered(
        &self,
        state: &mut PoolState,
        m: usize,
        id: u64,
        i: usize,
        result: Result<Vec<Generated>, Failure>,
    ) {
        let current = state.batch.as_ref().is_some_and(|b| b.id == id);
        if current
            && let Some(batch) = state.batch.as_mut()
            && let Some(at) = batch.on[i].iter().position(|&s| s == m)
        {
            batch.on[i].swap_remove(at);
        }
        match result {
            Ok(generated) => {
                state.health[m].answered();
                let Some(batch) = state.batch.as_mut().filter(|_| current) else {
                    return;
                };
                if batch.results[i].is_some() {
                    return;
                }
                let health = &mut state.health[m];
                health.samples += generated.len() as u64;
                health.tokens += generated.iter().map(|g| g.num_tokens as u64).sum::<u64>();
                batch.results[i] = Some(generated);
                batch.remaining -= 1;
                let now = Instant::now();
                if state.last_log.is_none_or(|t| now - t >= LOG_EVERY) {
                    state.last_log = Some(now);
                    tracing::info!(servers = %self.status_of(state), "server throughput");
                }
            }
            Err(Failure::Transient(error)) => {
                if current && let Some(batch) = state.batch.as_mut() {
                    batch.requeue(i);
                }
                self.failed(state, m, error);
            }
            Err(Failure::Fatal(error)) => {
                // The server answered: it is up, but the call cannot succeed anywhere.
                state.health[m].answered();
                if let Some(batch) = state.batch.as_mut().filter(|_| current) {
                    batch.failure.get_or_insert(error);
                }
            }
        }
    }

    /// Books a probe of server `m`.
    fn probed(&self, state: &mut PoolState, m: usize, probe: Result<Option<Vec<String>>, String>) {
        let url = self.members[m].endpoint().to_string();
        match probe {
            Err(error) => self.failed(state, m, error),
            Ok(listed) => {
                if let Some(models) = listed {
                    match &state.models {
                        None => state.models = Some((url.clone(), models)),
                        Some((other_url, other_models)) if *other_models != models => {
                            let error = GenerateError::ModelMismatch {
                                url,
                                models,
                                other_url: other_url.clone(),
                                other_models: other_models.clone(),
                            };
                            tracing::error!(%error, "server refused");
                            state.health[m].state = State::Refused;
                            match state.batch.as_mut() {
                                Some(batch) => {
                                    batch.failure.get_or_insert(error);
                                }
                                None => {
                                    state.fatal.get_or_insert(error);
                                }
                            }
                            return;
                        }
                        Some(_) => {}
                    }
                }
                state.health[m].state = State::Up;
            }
        }
    }

    /// Marks server `m` down after a failure (counted once per outage), sends its calls in
    /// flight back to the queue, and fails the batch when no server answers any more.
    fn failed(&self, state: &mut PoolState, m: usize, error: String) {
        let config = self.members[m].config();
        let health = &mut state.health[m];
        health.failed_attempts += 1;
        if !matches!(health.state, State::Down { .. } | State::Refused) {
            health.failures += 1;
            let wait = config
                .backoff
                .saturating_mul(1 << (health.failures - 1).min(16))
                .min(config.max_backoff);
            health.state = State::Down {
                until: Instant::now() + wait,
            };
            tracing::warn!(
                url = %self.members[m].endpoint(),
                failures = health.failures,
                %error,
                ?wait,
                "server not answering; its calls go to the other servers"
            );
        }
        health.last_error = error;
        let Some(batch) = state.batch.as_mut() else {
            return;
        };
        for i in 0..batch.on.len() {
            if batch.on[i].contains(&m) {
                batch.requeue(i);
            }
        }
        let exhausted = state
            .health
            .iter()
            .all(|h| h.state == State::Refused || h.failures > config.max_retries);
        if exhausted {
            batch.failure.get_or_insert(GenerateError::NoServerAnswers {
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

    /// [`Shared::status`] under a held lock.
    fn status_of(&self, state: &PoolState) -> String {
        let elapsed = state
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or_default()
            .max(1e-9);
        self.members
            .iter()
            .zip(&state.health)
            .map(|(member, h)| {
                let host = member.endpoint().trim_start_matches("http://");
                let host = host.split('/').next().unwrap_or(host);
                let down = if h.state == State::Up { "" } else { " (down)" };
                format!(
                    "{host} {:.1}/s {:.0} tok/s{down}",
                    h.samples as f64 / elapsed,
                    h.tokens as f64 / elapsed
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The next call of the current batch for server `m` (its batch id, index, body and number
/// of completions), unless the batch is over or has failed.
fn take(state: &mut PoolState, m: usize) -> Option<(u64, usize, Value, usize)> {
    let batch = state.batch.as_mut()?;
    if batch.failure.is_some() {
        return None;
    }
    while let Some(i) = batch.pending.pop_front() {
        batch.queued[i] = false;
        if batch.results[i].is_none() {
            batch.on[i].push(m);
            return Some((batch.id, i, batch.bodies[i].clone(), batch.n[i]));
        }
    }
    None
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
        let _calling = self.calling.lock().unwrap_or_else(|e| e.into_inner());
        let calls = calls_of(requests, self.config().seed_mode);
        // Every server gets the same body (same `model` field), built once.
        let bodies = calls
            .iter()
            .map(|c| self.shared.members[0].body(c, params))
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = self.shared.lock();
        if let Some(error) = state.fatal.take() {
            return Err(error);
        }
        self.start_workers(&mut state);
        state.batch_id += 1;
        state.batch = Some(Batch {
            id: state.batch_id,
            bodies,
            n: calls.iter().map(|c| c.seeds.len()).collect(),
            pending: (0..calls.len()).collect(),
            queued: vec![true; calls.len()],
            on: vec![Vec::new(); calls.len()],
            results: vec![None; calls.len()],
            remaining: calls.len(),
            failure: None,
        });
        self.shared.wake.notify_all();
        loop {
            let batch = state.batch.as_ref().expect("the batch of this call");
            if batch.remaining == 0 || batch.failure.is_some() {
                break;
            }
            state = Shared::wait(&self.shared.done, state, IDLE_WAIT);
        }
        let batch = state.batch.take().expect("the batch of this call");
        drop(state);
        if let Some(error) = batch.failure {
            return Err(error);
        }
        let mut out: Vec<Vec<Generated>> = requests
            .iter()
            .map(|r| Vec::with_capacity(r.seeds.len()))
            .collect();
        for (call, result) in calls.iter().zip(batch.results) {
            let generated = result
                .ok_or_else(|| GenerateError::InvalidParams("a call was not answered".into()))?;
            out[call.request].extend(generated);
        }
        Ok(out)
    }

    fn check_prompt(&self, prompt: &Prompt) -> Result<(), String> {
        self.shared.members[0].check_prompt(prompt)
    }

    fn check_request(
        &self,
        prompt: &Prompt,
        params: &SamplingParams,
        rows: usize,
    ) -> Result<(), String> {
        self.shared.members[0].check_request(prompt, params, rows)
    }

    fn batch_independent(&self) -> bool {
        self.config().seed_mode == SeedMode::PerSample
    }

    fn describe(&self) -> String {
        format!(
            "{} servers ({}, {} requests in flight each)",
            self.len(),
            self.endpoints().join(", "),
            self.config().concurrency.max(1)
        )
    }

    fn progress(&self) -> Option<String> {
        Some(self.shared.status())
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
        /// As `Good`, but takes 5 ms per completion, so that the other servers of a test
        /// are up (they answer their probes at once) before its calls are all done.
        Slow,
        /// Answers `n` completions, then closes every connection and stops listening.
        DiesAfter(usize),
        /// Answers its model list, but never a completion.
        Hangs,
        /// Answers nothing (a stopped process whose socket still accepts).
        Silent,
        /// Never answers its first completion request, and 503 to every later one.
        HangsOnceThenBusy,
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
            if matches!(fake, Fake::Silent) {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            let answer = if head.starts_with("GET /v1/models") {
                let models = match fake {
                    Fake::Good { models } => models,
                    Fake::Slow => "m",
                    _ => "m",
                };
                json!({"object": "list", "data": [{"id": models}]})
            } else {
                match fake {
                    Fake::Hangs => {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    Fake::HangsOnceThenBusy => {
                        if answered.fetch_add(1, Ordering::SeqCst) == 0 {
                            std::thread::sleep(Duration::from_secs(60));
                            return;
                        }
                        let busy = "{}";
                        let sent = write!(
                            out,
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{busy}",
                            busy.len()
                        );
                        if sent.is_err() {
                            return;
                        }
                        continue;
                    }
                    Fake::Slow => std::thread::sleep(Duration::from_millis(5)),
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
            start(Fake::Slow),
            start(Fake::DiesAfter(3)),
            closed_port(),
            start(Fake::Hangs),
            start(Fake::Slow),
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
        // Its third answer may come after its fourth call killed it.
        assert!(stats[1].samples <= 3, "{stats:?}");
        for dead in &stats[1..3] {
            assert!(!dead.answering && dead.failed_attempts > 0, "{dead}");
        }
        // The hung server answers its probes, so it is tried again (and times out) each call.
        assert!(stats[3].failed_attempts >= 2, "{}", stats[3]);
        assert!(stats[0].samples > 0 && stats[4].samples > 0, "{stats:?}");
        let line = pool.progress().unwrap();
        assert!(line.contains("(down)") && line.contains("tok/s"), "{line}");
    }

    #[test]
    fn a_server_that_answers_nothing_gets_no_call_and_is_not_waited_for() {
        let urls = [start(Fake::Silent), start(Fake::Good { models: "m" })];
        let mut config = config();
        config.timeout = Duration::from_secs(30);
        let pool = HttpPool::new(&urls, config, None).unwrap();
        let started = Instant::now();
        for _ in 0..2 {
            let out = pool
                .generate(&requests(), &SamplingParams::default())
                .unwrap();
            assert_eq!(out.iter().flatten().count(), 24);
        }
        // Its probe hangs (up to the 30 s timeout) in the background; no call waits for it.
        assert!(started.elapsed() < Duration::from_secs(10));
        let stats = pool.server_stats();
        assert_eq!((stats[0].samples, stats[1].samples), (0, 48), "{stats:?}");
        assert!(!stats[0].answering);
    }

    #[test]
    fn a_server_marked_down_has_its_calls_in_flight_answered_by_the_others() {
        let urls = [start(Fake::HangsOnceThenBusy), start(Fake::Slow)];
        let mut config = config();
        config.timeout = Duration::from_secs(30);
        let pool = HttpPool::new(&urls, config, None).unwrap();
        let started = Instant::now();
        let out = pool
            .generate(&requests(), &SamplingParams::default())
            .unwrap();
        assert_eq!(out.iter().flatten().count(), 24);
        // Its second call's 503 marks it down, and the call hanging there is answered by the
        // other server instead of after the 30 s timeout.
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(pool.server_stats()[0].failed_attempts > 0);
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
