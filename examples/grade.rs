//! Grade model responses against gold answers, one JSON object per line.
//!
//! ```text
//! cargo run --release --example grade -- [FILE] [--first-boxed] [--no-last-number]
//! ```
//!
//! Reads JSONL from FILE (or stdin when FILE is absent or `-`). Each input line is
//! `{"gold": "...", "response": "..."}` (`gold` may also be a JSON number; an optional
//! `"truncated": true` says the sampler hit the token limit). For each input line, in the
//! same order, it writes exactly one output line:
//!
//! ```text
//! {"extracted": "..." | null, "correct": true|false, "reason": "correct"|"wrong"|"no_answer"|...}
//! ```
//!
//! A line that cannot be graded (invalid JSON, a missing field, invalid UTF-8, or a blank
//! line) gets `{"error": "line N: ...", "line": N}` instead, so output line N always answers
//! input line N, and the run goes on. Exit status: 0 when every line was graded, 1 when some
//! lines got an error line, 2 when reading or writing failed.

use anyhow::Context;
use clap::Parser;
use o1_pruner::reward::{BoxedPolicy, GradeOptions, grade_sample};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

/// Grade JSONL {"gold", "response"} lines; one JSON verdict per input line.
#[derive(Parser, Debug)]
#[command(name = "grade")]
struct Args {
    /// JSONL input file; stdin when absent or "-".
    file: Option<std::path::PathBuf>,
    /// Take the first \boxed{} instead of the last (the O1-Pruner reference code's choice).
    #[arg(long)]
    first_boxed: bool,
    /// Do not fall back to the last number when no boxed answer or answer phrase is found.
    #[arg(long)]
    no_last_number: bool,
}

#[derive(Deserialize)]
struct Input {
    gold: Gold,
    response: String,
    #[serde(default)]
    truncated: bool,
}

/// One output line; fields in the documented order.
#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Verdict {
        extracted: Option<String>,
        correct: bool,
        reason: String,
    },
    Error {
        error: String,
        line: usize,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Gold {
    Text(String),
    Number(serde_json::Number),
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("grade: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let opts = GradeOptions {
        boxed: if args.first_boxed {
            BoxedPolicy::First
        } else {
            BoxedPolicy::Last
        },
        last_number_fallback: !args.no_last_number,
    };
    let input: Box<dyn BufRead> = match args.file.as_deref() {
        None => Box::new(BufReader::new(std::io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::new(std::io::stdin().lock())),
        Some(p) => Box::new(BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let failed = grade_lines(input, &mut out, &opts)?;
    out.flush().context("cannot write output")?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Grades every line of `input`; returns the number of lines that got an error line.
fn grade_lines(
    mut input: impl BufRead,
    out: &mut impl Write,
    opts: &GradeOptions,
) -> anyhow::Result<usize> {
    let mut buf = Vec::new();
    let (mut line_no, mut failed) = (0usize, 0usize);
    loop {
        buf.clear();
        if input
            .read_until(b'\n', &mut buf)
            .context("cannot read input")?
            == 0
        {
            break;
        }
        line_no += 1;
        let verdict = match grade_line(&buf, opts) {
            Ok(v) => v,
            Err(msg) => {
                failed += 1;
                Output::Error {
                    error: format!("line {line_no}: {msg}"),
                    line: line_no,
                }
            }
        };
        serde_json::to_writer(&mut *out, &verdict).context("cannot write output")?;
        out.write_all(b"\n").context("cannot write output")?;
        // Flush per line so that a caller can stream requests through a pipe.
        out.flush().context("cannot write output")?;
    }
    Ok(failed)
}

fn grade_line(raw: &[u8], opts: &GradeOptions) -> Result<Output, String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err("blank line".to_string());
    }
    let input: Input = serde_json::from_str(text).map_err(|e| format!("invalid input: {e}"))?;
    let gold = match input.gold {
        Gold::Text(s) => s,
        Gold::Number(n) => n.to_string(),
    };
    let g = grade_sample(&gold, &input.response, input.truncated, opts);
    Ok(Output::Verdict {
        extracted: g.extracted,
        correct: g.correct,
        reason: g.reason.to_string(),
    })
}
