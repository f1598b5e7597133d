//! `cargo xtask bench-serve`: throughput of the `serve` example when many clients ask at
//! once (continuous batching) against the same requests asked one at a time, on the same
//! server in the same run.
//!
//! ```text
//! cargo xtask bench-serve                          # demo model, then SmolLM2-135M (GGUF asset)
//! cargo xtask bench-serve --requests 64 --skip-gguf
//! ```
//!
//! Per model: builds and starts `serve` (`--batch-size` rows, as many waiting requests as
//! there are requests), sends one untimed warm-up request, then `--requests` completion
//! requests (each its own prompt and seed, temperature 1, so lengths vary as in pre-sampling)
//! first one at a time, then all at once from as many client threads. Reported: wall time and
//! generated tokens/s of each, the ratio, and whether the two runs gave the same completions
//! (each request is seeded, so they must). The models: the embedded demo model
//! (`assets/demo-model`, prompts of demo problems) and the SmolLM2-135M-Instruct GGUF of
//! the assets (`$O1P_ASSETS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, dequantised to f32;
//! chat-free arithmetic prompts). Threads: the server's Burn backend uses
//! `RAYON_NUM_THREADS` (all cores when unset); run on a quiet machine.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Flags of `cargo xtask bench-serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Requests per run (each run sends all of them).
    #[arg(long, default_value_t = 64)]
    pub requests: usize,
    /// Rows of the server's batch (`serve --batch-size`).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Most tokens per request on the demo model.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Most tokens per request on the SmolLM2-135M model (~100x the work per token).
    #[arg(long, default_value_t = 48)]
    pub max_tokens_gguf: usize,
    /// The SmolLM2-135M GGUF (default: the assets' copy when O1P_ASSETS is set, else
    /// `.assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`).
    #[arg(long)]
    pub gguf: Option<PathBuf>,
    /// Only the demo model.
    #[arg(long)]
    pub skip_gguf: bool,
}

/// One run's outcome.
struct Run {
    wall: Duration,
    tokens: usize,
    /// Every request's completion text, in request order.
    texts: Vec<String>,
}

impl Run {
    fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.wall.as_secs_f64()
    }
}

/// The server child; killed on drop.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `serve`, times each model, prints the table.
pub fn run(args: &Args) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--example", "serve"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the serve example failed");
    }
    let mut models = vec![(
        "demo",
        root.join("assets/demo-model"),
        args.max_tokens,
        demo_prompts(args.requests),
    )];
    if !args.skip_gguf {
        let gguf = args.gguf.clone().unwrap_or_else(|| {
            std::env::var_os("O1P_ASSETS")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".assets"))
                .join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
        if gguf.exists() {
            models.push((
                "smollm2-135m",
                gguf,
                args.max_tokens_gguf,
                arithmetic_prompts(args.requests),
            ));
        } else {
            eprintln!(
                "{} not found (scripts/fetch-assets.sh): demo model only",
                gguf.display()
            );
        }
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "requests: {}, batch size {}, backend threads: {threads}",
        args.requests, args.batch_size
    );
    println!(
        "{:<14} {:>7} {:>12} {:>12} {:>14} {:>14} {:>7} {:>10}",
        "model",
        "tokens",
        "one-by-one s",
        "concurrent s",
        "one-by-one t/s",
        "concurrent t/s",
        "ratio",
        "identical"
    );
    for (name, model, max_tokens, prompts) in models {
        let served = start(&root, &model, args)?;
        let body = |i: usize| {
            json!({"prompt": prompts[i], "max_tokens": max_tokens, "temperature": 1.0,
                   "seed": 1000 + i})
        };
        post(&served.url, &body(0)).context("warm-up request")?;
        let started = Instant::now();
        let answers = (0..prompts.len())
            .map(|i| post(&served.url, &body(i)))
            .collect::<Result<Vec<_>>>()?;
        let one_by_one = summarize(started.elapsed(), answers);
        let started = Instant::now();
        let answers = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..prompts.len())
                .map(|i| {
                    let (url, body) = (&served.url, body(i));
                    scope.spawn(move || post(url, &body))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect::<Result<Vec<_>>>()
        })?;
        let concurrent = summarize(started.elapsed(), answers);
        println!(
            "{:<14} {:>7} {:>12.1} {:>12.1} {:>14.1} {:>14.1} {:>6.2}x {:>10}",
            name,
            one_by_one.tokens,
            one_by_one.wall.as_secs_f64(),
            concurrent.wall.as_secs_f64(),
            one_by_one.tokens_per_s(),
            concurrent.tokens_per_s(),
            concurrent.tokens_per_s() / one_by_one.tokens_per_s(),
            if one_by_one.texts == concurrent.texts {
                "yes"
            } else {
                "NO"
            },
        );
    }
    Ok(())
}

/// Starts `serve` on a free port and waits for its first line.
fn start(root: &Path, model: &Path, args: &Args) -> Result<Served> {
    let binary = root.join("target/release/examples/serve");
    let mut child = Command::new(&binary)
        .args(["--model", &model.display().to_string(), "--port", "0"])
        .args(["--batch-size", &args.batch_size.to_string()])
        .args(["--max-queued", &args.requests.max(1).to_string()])
        .args(["--idle-timeout", "600"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("serve's stdout")?;
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("serve's first line was {line:?}"))?
        .to_string();
    Ok(Served { child, url })
}

/// One completion request; its `(completion tokens, text)`.
fn post(url: &str, body: &Value) -> Result<(usize, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into();
    let answer: Value = agent
        .post(&format!("{url}/v1/completions"))
        .send_json(body)?
        .body_mut()
        .read_json()?;
    let tokens = answer["usage"]["completion_tokens"]
        .as_u64()
        .with_context(|| format!("no usage in {answer}"))?;
    let text = answer["choices"][0]["text"].as_str().unwrap_or_default();
    Ok((tokens as usize, text.to_string()))
}

fn summarize(wall: Duration, answers: Vec<(usize, String)>) -> Run {
    Run {
        wall,
        tokens: answers.iter().map(|a| a.0).sum(),
        texts: answers.into_iter().map(|a| a.1).collect(),
    }
}

/// Prompts of `n` demo problems (one to four steps), rendered as the demo model was trained.
fn demo_prompts(n: usize) -> Vec<String> {
    let template = o1p_data::demo::prompt_template();
    o1p_data::demo::generate_problems(n, 7, &o1p_data::demo::DemoConfig::default())
        .iter()
        .map(|p| {
            template
                .render_raw(&p.question)
                .expect("the demo template renders")
        })
        .collect()
}

/// `n` short arithmetic word problems for a general model.
fn arithmetic_prompts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (a, b) = (3 + i * 7 % 50, 2 + i * 11 % 40);
            format!("Question: Sam has {a} apples and buys {b} more. How many apples does Sam have now? Think step by step.\nAnswer:")
        })
        .collect()
}
