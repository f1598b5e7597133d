//! The `serve` example on a free loopback port, driven by the HttpGenerator: the same seeds
//! give the same completions as the in-process sampler, per-sample and grouped; client errors
//! come back as typed errors; pre-sampling through the server writes the same files as
//! pre-sampling in process; pre-sampling over three servers, one killed mid-run, writes what
//! one server writes. The server is killed when the test ends, and exits by itself after 60
//! idle seconds should the test die first.

mod support;
use support::example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use o1_pruner::data::{PromptRenderer, demo};
use o1_pruner::model::{Backend, Precision};
use o1_pruner::sampler::presample::{PresampleConfig, presample, sample_seed};
use o1_pruner::sampler::{
    GenerateError, Generated, Generator, HttpConfig, HttpGenerator, HttpPool, NativeGenerator,
    PresampleError, Prompt, Request, SamplingParams, SeedMode, testing,
};

/// The server child; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(model: &Path) -> Server {
    start_with(model, &[])
}

fn start_with(model: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(example("serve"))
        .args(["--model", &model.display().to_string()])
        .args(["--port", "0", "--idle-timeout", "60", "--batch-size", "4"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server { child, url }
}

fn params() -> SamplingParams {
    SamplingParams {
        max_new_tokens: 24,
        temperature: 0.9,
        top_p: 0.95,
        stop_strings: vec!["=".into()],
        ..Default::default()
    }
}

fn summary(g: &[Generated]) -> Vec<(String, usize, o1_pruner::data::FinishReason)> {
    g.iter()
        .map(|x| (x.text.clone(), x.num_tokens, x.finish_reason))
        .collect()
}

#[test]
fn http_generator_against_the_serve_example() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let server = start(&model);
    let native = NativeGenerator::from_dir(&model, Backend::Flex, Precision::F32, 4).unwrap();

    let prompts: Vec<Prompt> = demo::generate_problems(3, 2, &demo::DemoConfig::default())
        .into_iter()
        .map(|p| Prompt::Text(format!("Q: {}\n", p.question)))
        .collect();
    let requests: Vec<Request> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| Request {
            prompt: p.clone(),
            seeds: (0..3).map(|j| 100 * i as u64 + j).collect(),
        })
        .collect();
    let want = native.generate(&requests, &params()).unwrap();
    let reasons: Vec<_> = want.iter().flatten().map(|g| g.finish_reason).collect();
    assert!(
        reasons.contains(&o1_pruner::data::FinishReason::Stop),
        "{reasons:?}"
    );

    // One request per sample, each with its own seed: exactly the native completions.
    let mut config = HttpConfig::new(server.url.clone());
    config.concurrency = 4;
    let http = HttpGenerator::new(config.clone(), None).unwrap();
    let got = http.generate(&requests, &params()).unwrap();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(summary(w), summary(g));
    }

    // One request with n = 3: the server seeds sample j > 0 from (seed, j).
    config.seed_mode = SeedMode::Grouped;
    let grouped = HttpGenerator::new(config.clone(), None).unwrap();
    let seed = 77;
    let group = [Request {
        prompt: prompts[0].clone(),
        seeds: vec![seed, 0, 0],
    }];
    let got = grouped.generate(&group, &params()).unwrap();
    let derived = [Request {
        prompt: prompts[0].clone(),
        seeds: vec![seed, sample_seed(seed, "", 1), sample_seed(seed, "", 2)],
    }];
    let want = native.generate(&derived, &params()).unwrap();
    assert_eq!(summary(&want[0]), summary(&got[0]));

    // A client error is not retried and comes back with the server's message.
    let bad = [Request {
        prompt: Prompt::Ids(vec![100_000]),
        seeds: vec![1],
    }];
    match http.generate(&bad, &params()) {
        Err(GenerateError::Status { status, body, .. }) => {
            assert_eq!(status, 400);
            assert!(body.contains("outside the vocabulary"), "{body}");
        }
        other => panic!("{other:?}"),
    }

    // Pre-sampling through the server writes exactly what pre-sampling in process writes
    // (text only here: the server is not asked for ids).
    let problems = demo::generate_problems(4, 5, &demo::DemoConfig::default());
    let cfg = PresampleConfig {
        k: 3,
        params: SamplingParams {
            stop_strings: Vec::new(),
            ..params()
        },
        batch_size: 4,
        template: demo::prompt_template(),
        keep_token_ids: false,
        progress: false,
        ..Default::default()
    };
    let (a, b) = (root.path().join("native"), root.path().join("http"));
    presample(&problems, &PromptRenderer::Raw, &native, &cfg, &a).unwrap();
    presample(&problems, &PromptRenderer::Raw, &http, &cfg, &b).unwrap();
    for f in ["samples.jsonl", "reference_stats.json", "presample.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }

    // With token ids asked for, the pool keeps the server's ids (EOS included), identical to
    // the ids the native sampler keeps.
    let cfg = PresampleConfig {
        keep_token_ids: true,
        ..cfg
    };
    // The serve example answers one connection's requests at a time; the earlier generators'
    // idle keep-alive connections would otherwise hold it while the new generator waits.
    drop((http, grouped));
    config.seed_mode = SeedMode::PerSample;
    config.return_token_ids = true;
    let http_ids = HttpGenerator::new(config, None).unwrap();
    let (a, b) = (root.path().join("native-ids"), root.path().join("http-ids"));
    presample(&problems, &PromptRenderer::Raw, &native, &cfg, &a).unwrap();
    presample(&problems, &PromptRenderer::Raw, &http_ids, &cfg, &b).unwrap();
    let samples = std::fs::read_to_string(b.join("samples.jsonl")).unwrap();
    assert!(samples.contains("\"token_ids\":["), "{samples}");
    assert_eq!(
        std::fs::read_to_string(a.join("samples.jsonl")).unwrap(),
        samples
    );
}

/// The address `host:port` of a server URL `http://host:port`.
fn addr_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// One request on its own connection (`Connection: close`): the status and the body.
fn request(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = request_with_head(addr, method, path, body);
    (status, body)
}

/// [`request`], with the response's head (status line and headers) too.
fn request_with_head(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, head.to_string(), body.to_string())
}

/// The `data:` payloads of a server-sent-event stream, in order (`[DONE]` included).
fn sse_payloads(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                .to_string()
        })
        .collect()
}

/// Chat completions render the messages with the model's chat template and sample exactly
/// what a completion of the rendered prompt gives; `stream: true` on either endpoint answers
/// with OpenAI's server-sent events (content in `delta`s / `text`s, a `finish_reason` chunk, a
/// usage chunk when asked, `[DONE]`), whose pieces join into the non-streamed answer.
#[test]
fn chat_completions_and_streams_follow_openais_wire_format() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 1, 16, 8).unwrap();
    // A template that renders "<content>=" for one user message.
    std::fs::write(
        model.join("tokenizer_config.json"),
        json!({"eos_token": "<eos>", "pad_token": "<eos>", "add_bos_token": false,
               "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}={% endif %}"})
        .to_string(),
    )
    .unwrap();
    let server = start(&model);
    let addr = addr_of(&server.url);
    let settings = json!({"max_tokens": 12, "temperature": 0.9, "seed": 3, "n": 2});
    let with = |mut body: serde_json::Value, extra: &serde_json::Value| {
        for (k, v) in extra
            .as_object()
            .unwrap()
            .iter()
            .chain(settings.as_object().unwrap())
        {
            body[k] = v.clone();
        }
        body.to_string()
    };
    let chat = json!({"messages": [{"role": "user", "content": "12+3"}]});
    let completion = json!({"prompt": "12+3="});

    let (status, answer) = request(
        &addr,
        "POST",
        "/v1/chat/completions",
        &with(chat.clone(), &json!({})),
    );
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["object"], "chat.completion");
    let chat_texts: Vec<String> = (0..2)
        .map(|i| {
            assert_eq!(answer["choices"][i]["message"]["role"], "assistant");
            answer["choices"][i]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let (_, plain) = request(
        &addr,
        "POST",
        "/v1/completions",
        &with(completion.clone(), &json!({})),
    );
    let plain: serde_json::Value = serde_json::from_str(&plain).unwrap();
    for (i, text) in chat_texts.iter().enumerate() {
        assert_eq!(
            plain["choices"][i]["text"].as_str().unwrap(),
            text,
            "choice {i}"
        );
    }

    // Streamed chat: role, content, finish_reason per choice, then usage, then [DONE].
    let streamed = with(
        chat,
        &json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let (status, head, body) = request_with_head(&addr, "POST", "/v1/chat/completions", &streamed);
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    let payloads = sse_payloads(&body);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let mut joined = vec![String::new(); 2];
    let mut finished = 0;
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        for choice in c["choices"].as_array().unwrap() {
            let i = choice["index"].as_u64().unwrap() as usize;
            joined[i].push_str(choice["delta"]["content"].as_str().unwrap_or(""));
            finished += usize::from(!choice["finish_reason"].is_null());
        }
    }
    assert_eq!(joined, chat_texts);
    assert_eq!(finished, 2);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage, &answer["usage"], "usage chunk");

    // Streamed completion: text pieces join into the same texts.
    let (_, _, body) = request_with_head(
        &addr,
        "POST",
        "/v1/completions",
        &with(completion, &json!({"stream": true})),
    );
    let payloads = sse_payloads(&body);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let mut joined = vec![String::new(); 2];
    for p in &payloads[..payloads.len() - 1] {
        let c: serde_json::Value = serde_json::from_str(p).unwrap();
        assert_eq!(c["object"], "text_completion");
        for choice in c["choices"].as_array().unwrap() {
            joined[choice["index"].as_u64().unwrap() as usize]
                .push_str(choice["text"].as_str().unwrap());
        }
    }
    assert_eq!(joined, chat_texts);
}

/// A connection that asked `/health` with keep-alive and was answered 200 (so it holds a
/// server slot and stays open); `None` if it was refused.
fn keep_alive_health(addr: &str) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    status_line.contains(" 200 ").then_some(s)
}

/// Bad settings and prompts too long for the model's context are answered 400 naming the
/// setting or the limit; idle connections are closed after --keep-alive-timeout, and beyond
/// --max-connections a connection is answered 503. Everything stays on 127.0.0.1.
#[test]
fn serve_refuses_bad_requests_and_bounds_idle_connections() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 1, 16, 8).unwrap();
    let server = start_with(
        &model,
        &["--keep-alive-timeout", "2", "--max-connections", "3"],
    );
    let addr = addr_of(&server.url);

    let long = "1+".repeat(1500);
    let cases = [
        (json!({"prompt": "1+1=", "stop": ""}), "stop"),
        (json!({"prompt": "1+1=", "stop": ["=", ""]}), "stop"),
        (json!({"prompt": "1+1=", "max_tokens": 0}), "max_tokens"),
        (json!({"prompt": "1+1=", "top_p": 1.5}), "top_p"),
        (json!({"prompt": "1+1=", "temperature": -1}), "temperature"),
        (
            json!({"prompt": long, "max_tokens": 16}),
            "context of 2048 tokens (max_position_embeddings)",
        ),
    ];
    for (body, needle) in cases {
        let (status, answer) = request(&addr, "POST", "/v1/completions", &body.to_string());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains(needle), "{body}: {answer}");
    }
    // A model without a chat template: chat completions are refused, naming it.
    let chat = json!({"messages": [{"role": "user", "content": "1+1"}]});
    let (status, answer) = request(&addr, "POST", "/v1/chat/completions", &chat.to_string());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("chat template"), "{answer}");
    let ok = json!({"prompt": "1+1=", "max_tokens": 4, "seed": 1});
    assert_eq!(
        request(&addr, "POST", "/v1/completions", &ok.to_string()).0,
        200
    );

    // Three idle connections fill the cap: a fourth is answered 503 at once. Each idle one
    // is known to hold a slot only once it has been answered 200: the thread of a connection
    // that was just closed (the requests above) can still hold its slot for a moment, and a
    // connection opened then is refused instead. Those are retried.
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..50 {
        if idle.len() == 3 {
            break;
        }
        if let Some(s) = keep_alive_health(&addr) {
            idle.push(s);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(idle.len(), 3, "the idle connections were not accepted");
    let (status, answer) = request(&addr, "GET", "/health", "");
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("limit 3"), "{answer}");
    // After the keep-alive timeout (2 s) the server closes them, which frees the slots.
    let started = Instant::now();
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        assert!(s.read_to_end(&mut rest).is_ok(), "still open after 10 s");
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    let healthy = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        request(&addr, "GET", "/health", "").0 == 200
    });
    assert!(healthy, "slots were not freed");
}

/// Client settings for the pool tests: short backoffs, so that a dead fleet is seen in
/// well under a second.
fn pool_config() -> HttpConfig {
    let mut config = HttpConfig::new("");
    config.concurrency = 2;
    config.return_token_ids = true;
    config.timeout = Duration::from_secs(20);
    config.backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(100);
    config.max_retries = 3;
    config
}

/// Three `serve` instances, one killed mid-run, write the pool one server writes, byte for
/// byte; once every server is gone the run stops with a typed error naming each server.
#[test]
fn presample_over_three_servers_with_one_killed_equals_one_server() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let (a, b, c) = (start(&model), start(&model), start(&model));
    let problems = demo::generate_problems(8, 11, &demo::DemoConfig::default());
    let cfg = PresampleConfig {
        k: 3,
        params: params(),
        batch_size: 6,
        template: demo::prompt_template(),
        progress: false,
        ..Default::default()
    };

    let one_dir = root.path().join("one");
    let mut one = pool_config();
    one.url = a.url.clone();
    let one = HttpGenerator::new(one, None).unwrap();
    presample(&problems, &PromptRenderer::Raw, &one, &cfg, &one_dir).unwrap();
    drop(one);

    let urls = [a.url.clone(), b.url.clone(), c.url.clone()];
    let pool = HttpPool::new(&urls, pool_config(), None).unwrap();
    let many_dir = root.path().join("many");
    // The third server is killed (its child process) once it has answered two samples,
    // while its next requests are in flight.
    let victim = std::sync::Mutex::new(Some(c));
    let finished = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::SeqCst) {
                if pool.server_stats()[2].samples >= 2 {
                    // Dropping the server kills the child and waits for it.
                    drop(victim.lock().unwrap().take());
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let result = presample(&problems, &PromptRenderer::Raw, &pool, &cfg, &many_dir);
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    });
    result.unwrap();
    assert!(
        victim.lock().unwrap().is_none(),
        "the third server was never killed"
    );
    let stats = pool.server_stats();
    let total: u64 = stats.iter().map(|s| s.samples).sum();
    assert_eq!(total, 8 * 3, "{stats:?}");
    assert!(stats.iter().all(|s| s.samples > 0), "{stats:?}");
    // The killed server's calls failed and were answered by the others.
    assert!(
        stats[2].failed_attempts > 0 && !stats[2].answering,
        "{stats:?}"
    );
    for f in [
        "samples.jsonl",
        "reference_stats.json",
        "presample.json",
        "fingerprint.json",
    ] {
        assert_eq!(
            std::fs::read(one_dir.join(f)).unwrap(),
            std::fs::read(many_dir.join(f)).unwrap(),
            "{f}"
        );
    }

    // No server left: a typed error naming each one, after the retries, not a hang.
    drop((a, b));
    let started = Instant::now();
    let dead = HttpPool::new(&urls, pool_config(), None).unwrap();
    match presample(
        &problems,
        &PromptRenderer::Raw,
        &dead,
        &cfg,
        &root.path().join("dead"),
    ) {
        Err(PresampleError::Generate(GenerateError::NoServerAnswers { servers })) => {
            assert_eq!(servers.len(), 3);
            assert!(servers.iter().all(|s| s.attempts > 3), "{servers:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The `presample` example with `--server` three times writes the files `--server` once
/// writes, and a run resumes with another fleet: the servers are not in the fingerprint.
#[test]
fn presample_example_takes_several_servers() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let servers = [start(&model), start(&model), start(&model)];
    let data = root.path().join("problems.jsonl");
    let lines: Vec<String> = demo::generate_problems(6, 3, &demo::DemoConfig::default())
        .iter()
        .map(|p| json!({"id": p.id, "question": p.question, "answer": p.gold}).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let run = |out: &Path, urls: &[&Server], extra: &[&str]| {
        let mut cmd = Command::new(example("presample"));
        cmd.arg("--data").arg(&data).arg("--out").arg(out);
        for server in urls {
            cmd.args(["--server", &server.url]);
        }
        cmd.args(["--k", "3", "--batch-size", "6", "--max-new-tokens", "16"])
            .args([
                "--temperature",
                "0.9",
                "--no-system",
                "--user",
                "Q: {question}\n",
            ])
            .args(["--no-progress", "--server-token-ids"])
            .args(extra)
            .env("RUST_LOG", "warn");
        support::run_ok(&mut cmd)
    };
    let (one, many) = (root.path().join("one"), root.path().join("many"));
    run(&one, &[&servers[0]], &[]);
    let out = run(
        &many,
        &servers.iter().collect::<Vec<_>>(),
        &["--server-concurrency", "2"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for server in &servers {
        assert!(
            stderr.contains(&format!("server {}/v1/completions: ", server.url)),
            "{stderr}"
        );
    }
    assert!(stderr.contains("tokens/s"), "{stderr}");
    for f in [
        "samples.jsonl",
        "reference_stats.json",
        "presample.json",
        "fingerprint.json",
    ] {
        assert_eq!(
            std::fs::read(one.join(f)).unwrap(),
            std::fs::read(many.join(f)).unwrap(),
            "{f}"
        );
    }
    // The one-server run's directory, rerun on two other servers: nothing left to sample.
    let out = run(&one, &[&servers[1], &servers[2]], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 records written, 18 reused"), "{stderr}");
}

/// The `evaluate` example through two `serve` instances writes the records a native
/// evaluation writes, response for response (sampled, two per problem, seeds sent with the
/// requests); without token ids from the server the grades and lengths still agree.
#[test]
fn evaluate_through_servers_equals_native_evaluation() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let servers = [start(&model), start(&model)];
    let data = root.path().join("problems.jsonl");
    let lines: Vec<String> = demo::generate_problems(5, 7, &demo::DemoConfig::default())
        .iter()
        .map(|p| json!({"id": p.id, "question": p.question, "gold": p.gold}).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let evaluate = |out: &Path, extra: &[&str]| {
        let mut cmd = Command::new(example("evaluate"));
        cmd.arg("--model")
            .arg(format!("m={}", model.display()))
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(out)
            .args(["--format", "demo", "--max-new-tokens", "12"])
            .args(["--samples", "2", "--temperature", "0.9", "--seed", "3"])
            .args(["--batch-size", "4"])
            .args(extra)
            .env("RUST_LOG", "warn");
        cmd
    };
    let run = |out: &Path, extra: &[&str]| support::run_ok(&mut evaluate(out, extra));
    let native = root.path().join("native");
    let served = root.path().join("served");
    let plain = root.path().join("plain");
    run(&native, &[]);
    let urls: Vec<&str> = servers
        .iter()
        .flat_map(|s| ["--server", s.url.as_str()])
        .collect();
    run(
        &served,
        &[&urls[..], &["--server-token-ids", "--concurrency", "2"]].concat(),
    );
    run(&plain, &urls);
    let records = |dir: &Path| std::fs::read_to_string(dir.join("m/problems.jsonl")).unwrap();
    assert_eq!(records(&native).lines().count(), 10);
    assert_eq!(records(&native), records(&served));
    let graded = |dir: &Path| -> Vec<(String, u64, bool, u64)> {
        records(dir)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["problem_id"].as_str().unwrap().to_string(),
                    v["sample_index"].as_u64().unwrap(),
                    v["correct"].as_bool().unwrap(),
                    v["num_tokens"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(graded(&native), graded(&plain));
    // The served model's name is part of the fingerprint: another name is refused.
    let out = evaluate(&plain, &[&urls[..], &["--server-model", "other"]].concat())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("server_model"),
        "{stderr}"
    );
}

/// 64 clients at once, each with its own seeded request: every one is answered (the queue
/// holds them; none is refused) with exactly the completion it gets alone.
#[test]
fn sixty_four_concurrent_requests_get_their_sequential_answers() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let server = start(&model);
    let addr = addr_of(&server.url);
    let body = |i: u64| {
        json!({"prompt": format!("Q: {}+{}\n", i % 7, i % 5), "max_tokens": 12,
               "temperature": 0.9, "seed": 1000 + i, "return_token_ids": true})
        .to_string()
    };
    let answer = |(status, body): (u16, String)| -> serde_json::Value {
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["choices"].clone()
    };
    let sequential: Vec<serde_json::Value> = (0..64)
        .map(|i| answer(request(&addr, "POST", "/v1/completions", &body(i))))
        .collect();
    let concurrent: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let (addr, body) = (addr.clone(), body(i));
                scope.spawn(move || request(&addr, "POST", "/v1/completions", &body))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| answer(h.join().unwrap()))
            .collect()
    });
    assert_eq!(sequential, concurrent);
    assert!(sequential.iter().any(|c| c != &sequential[0]));
}

/// A metric of `GET /metrics` (Prometheus' text format).
fn metric(addr: &str, name: &str) -> u64 {
    let (status, body) = request(addr, "GET", "/metrics", "");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("o1p_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no o1p_{name} in {body}"))
}

/// Polls a metric until it has `value`; false after 10 s.
fn metric_reaches(addr: &str, name: &str, value: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if metric(addr, name) == value {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Streams go out token by token (one piece per generated token, with its log-probability
/// and id, over a keep-alive connection read by an HTTP client library), and a request whose
/// client goes away is cancelled in the middle of its generation, streamed or not, its rows
/// freed for the others.
#[test]
fn streams_go_token_by_token_and_gone_clients_are_cancelled_mid_generation() {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 2, 32, 8).unwrap();
    let server = start(&model);
    let addr = addr_of(&server.url);
    let url = format!("{}/v1/completions", server.url.trim_end_matches('/'));
    let agent = ureq::Agent::new_with_defaults();

    // The whole answer, then the same request streamed.
    let body = json!({"prompt": "12+3=", "max_tokens": 10, "temperature": 0.9, "seed": 5, "n": 2,
                      "logprobs": 1, "return_token_ids": true});
    let whole: serde_json::Value = agent
        .post(&url)
        .send_json(&body)
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let mut streamed_body = body.clone();
    streamed_body["stream"] = json!(true);
    let mut response = agent.post(&url).send_json(&streamed_body).unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let mut pieces = vec![Vec::new(); 2];
    let mut ids = vec![Vec::new(); 2];
    let mut logprobs = vec![Vec::new(); 2];
    for p in &payloads[..payloads.len() - 1] {
        let c: serde_json::Value = serde_json::from_str(p).unwrap();
        let choice = &c["choices"][0];
        let i = choice["index"].as_u64().unwrap() as usize;
        if choice["finish_reason"].is_null() {
            pieces[i].push(choice["text"].as_str().unwrap().to_string());
            ids[i].extend(choice["token_ids"].as_array().unwrap().iter().cloned());
            logprobs[i].extend(
                choice["logprobs"]["token_logprobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
    }
    for i in 0..2 {
        let expected = &whole["choices"][i];
        assert_eq!(pieces[i].concat(), expected["text"].as_str().unwrap());
        assert_eq!(ids[i], expected["token_ids"].as_array().unwrap().clone());
        assert_eq!(
            logprobs[i],
            expected["logprobs"]["token_logprobs"]
                .as_array()
                .unwrap()
                .clone()
        );
        // One piece per token: a token of this tokenizer is one character; EOS has none (its
        // id and log-probability come in a piece of empty text).
        let visible = ids[i].len() - usize::from(expected["finish_reason"] == "stop");
        let texts: Vec<&String> = pieces[i].iter().filter(|p| !p.is_empty()).collect();
        assert_eq!(texts.len(), visible, "choice {i}: {:?}", pieces[i]);
    }

    // A long request: 64 samples of up to 1,500 tokens on 4 rows. Its first piece arrives
    // while it runs; the client then goes away and the request is cancelled.
    let long = json!({"prompt": "1+1=", "max_tokens": 1500, "temperature": 1.0, "seed": 1, "n": 64,
                      "stream": true});
    let mut response = agent.post(&url).send_json(&long).unwrap();
    let mut reader = BufReader::new(response.body_mut().as_reader());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("data: {"), "{first}");
    assert_eq!(metric(&addr, "requests_running"), 1);
    drop(reader);
    drop(response);
    drop(agent);
    assert!(
        metric_reaches(&addr, "requests_cancelled_total", 1),
        "the stream was not cancelled"
    );
    assert_eq!(metric(&addr, "sequences_running"), 0);
    let generated = metric(&addr, "generation_tokens_total");
    assert!(
        generated < 64 * 1500,
        "{generated} tokens: it ran to the end"
    );

    // The same without streaming: the client sends the request and hangs up.
    let mut s = TcpStream::connect(&addr).unwrap();
    let plain =
        json!({"prompt": "1+1=", "max_tokens": 1500, "temperature": 1.0, "seed": 2, "n": 64});
    let plain = plain.to_string();
    write!(
        s,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{plain}",
        plain.len()
    )
    .unwrap();
    assert!(
        metric_reaches(&addr, "requests_running", 1),
        "never started"
    );
    drop(s);
    assert!(
        metric_reaches(&addr, "requests_cancelled_total", 2),
        "the request was not cancelled"
    );
    assert_eq!(metric(&addr, "sequences_running"), 0);
    assert!(metric(&addr, "generation_tokens_total") < generated + 64 * 1500);
    // The server goes on answering.
    let (status, _) = request(
        &addr,
        "POST",
        "/v1/completions",
        &json!({"prompt": "1+1=", "max_tokens": 3}).to_string(),
    );
    assert_eq!(status, 200);
    assert_eq!(metric(&addr, "requests_finished_total"), 3);
}
