//! The evaluation driver: generate with a model on benchmark files, grade every response and
//! append one [`EvalRecord`] per response to a resumable JSONL file.
//!
//! This is the only part of the crate that runs a model (through o1p-sampler's `Generator`,
//! as pre-sampling does: in this process or on servers); the rest works from the records it
//! writes.
//!
//! # Flow
//! ```text
//! Benchmark::load(file, format)           problems (o1p-data)
//! EvalModel / LoadedModel::from_dir       model + tokenizer + stop ids
//! EvalModel::with_generator               or a server / pool of servers + tokenizer
//! evaluate(model, benchmarks, config, out)
//!   per benchmark: out/<label>/<benchmark>.jsonl    one line per response, appended as it ends
//!                  out/<label>/<benchmark>.meta.json  settings + accumulated wall time / tokens
//!                  out/<label>/<benchmark>.fingerprint.json  what made the records
//!   -> ModelRun { BenchmarkRun { records, timing, reused, generated } }
//! build_report / write_report(out, runs, options)   report.json, report.md, plots
//! ```
//!
//! ```no_run
//! use o1p_eval::run::*;
//! # fn main() -> o1p_eval::Result<()> {
//! let device = o1p_model::Backend::Flex.device()?;
//! let gsm8k = Benchmark::load("data/gsm8k_test.jsonl", BenchmarkFormat::Gsm8k)?;
//! let config = EvalConfig { max_new_tokens: 1024, ..EvalConfig::default() }; // greedy
//! let mut runs = Vec::new();
//! for (label, dir) in [("base", "models/base"), ("pruned", "runs/pruned/model")] {
//!     let model = LoadedModel::from_dir(dir, &device, o1p_model::Precision::F32)?;
//!     runs.push(evaluate(&model.as_eval(label), &[gsm8k.clone()], &config, "runs/eval")?);
//! }
//! let written = write_report("runs/eval", &runs, &ReportOptions::new("base"))?;
//! println!("{}", written.markdown);
//! # Ok(()) }
//! ```
//!
//! # Resuming and re-scoring
//! A killed run is resumed by running it again with the same output directory: records already
//! in the JSONL file are kept (a line torn by the kill is cut off), only the missing
//! (problem, sample) pairs are generated, and the accumulated wall time and token counts carry
//! over through the meta file. Because every sample draws from its own seed
//! ([`sample_seed`]) and a sequence's tokens do not depend on what it is batched with, the
//! resumed run ends with the records an uninterrupted one would have written.
//!
//! Each results file has a fingerprint beside it (`<benchmark>.fingerprint.json`, see
//! [`o1p_data::fingerprint`]): the settings that determine the records, the problems (a hash
//! of ids, questions and golds) and the model (its cheap hash, when the [`EvalModel`] knows
//! it: [`LoadedModel`] does). A rerun whose fingerprint differs — other settings, another
//! model under the same label, changed questions or golds — is refused before anything is
//! written, naming each changed field; records without a fingerprint are an error too.
//! [`remove_outputs`] clears one label's files of one benchmark (`--fresh`).
//!
//! Each line also carries the decoded response, so [`rescore`] can grade again with other
//! [`GradeOptions`] without generating again; [`read_jsonl`] ignores the extra field.
//!
//! # Conventions
//! - A response's length (`num_tokens`) counts every generated token, the stop token included
//!   (as vLLM's `len(output.token_ids)` does), so it matches what throughput counts.
//! - Raw prompts are encoded with the tokenizer's `add_bos_token` setting; chat-template
//!   prompts without adding one, because templates write the bos token themselves (as
//!   transformers' `apply_chat_template` does).
//! - Work is done and appended in canonical order (problems in benchmark order, each one's
//!   samples in index order), so what a killed run leaves is a prefix of the uninterrupted
//!   file and the resumed file is byte-for-byte the uninterrupted one. (Sorting by prompt
//!   length would save some padding, but prompts are short next to long chains of thought.)

mod outputs;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use o1p_data::fingerprint::{RunFingerprint, problems_hash};
use o1p_data::{
    ChatTemplate, FieldMapping, Format, GoldRule, LoadReport, OnBadItem, Problem, PromptRenderer,
    PromptTemplate, load_problems,
};
use o1p_model::{CausalLm, ModelConfig, Precision, Pretrained, Tokenizer};
use o1p_reward::{GradeOptions, grade_sample};
use o1p_sampler::presample::SkippedProblem;
use o1p_sampler::{
    FinishReason, GenerateError, Generated, Generator, LengthLimits, NativeGenerator, Prompt,
    Request, SamplingParams,
};
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::metrics::{MetricsOptions, RunTiming, compute_metrics};
use crate::record::{
    EvalRecord, FINISH_EOS, FINISH_LENGTH, FINISH_STOP, JsonlWriter, RecordKey, read_jsonl,
};
use crate::report::{BenchmarkMetrics, RunResults};

pub use outputs::{
    Analysis, DifficultyEntry, DisharmonyRun, QUARTILE_MIN_SAMPLES, QuartileEntry, ReportOptions,
    WrittenReport, auto_grouping, build_report, difficulty_before_after, length_disharmony,
    write_report,
};

/// One benchmark: a name (used in reports and file names) and its problems.
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmark {
    /// The name, e.g. `"gsm8k_test"`.
    pub name: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
    /// The file they were loaded from ([`Benchmark::load`]); named in fingerprint messages.
    pub source: Option<PathBuf>,
}

/// The file schemas [`Benchmark::load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkFormat {
    /// GSM8K (`question`, `answer` with `#### 72`).
    Gsm8k,
    /// MATH / MATH-500 (`problem`, `answer` or the last box of `solution`, `level`).
    Math,
    /// The generic JSONL schema (`id`, `question`, `answer`, `difficulty`, `level`).
    Jsonl,
    /// [`Problem`]s as serde writes them (`id`, `question`, `gold`, `difficulty`, `level`):
    /// the demo task's problem files.
    Problems,
}

impl std::str::FromStr for BenchmarkFormat {
    type Err = EvalError;

    /// `gsm8k`, `math`, `jsonl`, or `problems` (alias `demo`).
    ///
    /// ```
    /// use o1p_eval::run::BenchmarkFormat;
    /// assert_eq!("demo".parse::<BenchmarkFormat>().unwrap(), BenchmarkFormat::Problems);
    /// assert!("csv".parse::<BenchmarkFormat>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "problems" | "demo" => Ok(BenchmarkFormat::Problems),
            other => match other.parse::<Format>() {
                Ok(Format::Gsm8k) => Ok(BenchmarkFormat::Gsm8k),
                Ok(Format::Math) => Ok(BenchmarkFormat::Math),
                Ok(Format::Jsonl) => Ok(BenchmarkFormat::Jsonl),
                Err(_) => Err(EvalError::InvalidConfig(format!(
                    "unknown benchmark format `{s}` (expected gsm8k, math, jsonl or demo)"
                ))),
            },
        }
    }
}

impl BenchmarkFormat {
    /// The o1p-data field mapping of this schema.
    pub fn mapping(self) -> FieldMapping {
        match self {
            BenchmarkFormat::Gsm8k => Format::Gsm8k.mapping(),
            BenchmarkFormat::Math => Format::Math.mapping(),
            BenchmarkFormat::Jsonl => Format::Jsonl.mapping(),
            BenchmarkFormat::Problems => FieldMapping {
                gold: vec![GoldRule::Field("gold".into())],
                ..FieldMapping::default()
            },
        }
    }
}

impl Benchmark {
    /// A benchmark from problems already in memory. Errors on no problems or a repeated id
    /// (records are keyed by problem id).
    pub fn new(name: impl Into<String>, problems: Vec<Problem>) -> Result<Self> {
        let name = name.into();
        if problems.is_empty() {
            return Err(EvalError::Empty {
                what: "a benchmark (no problems)",
            });
        }
        let mut seen = HashSet::new();
        if let Some(dup) = problems.iter().find(|p| !seen.insert(p.id.as_str())) {
            return Err(EvalError::InvalidConfig(format!(
                "benchmark {name:?} has problem id {:?} more than once",
                dup.id
            )));
        }
        Ok(Benchmark {
            name,
            problems,
            source: None,
        })
    }

    /// Loads a problem file; the benchmark is named after the file stem. Bad records are
    /// skipped with a warning (as o1p-data's loader reports them), never fatal.
    pub fn load(path: impl AsRef<Path>, format: BenchmarkFormat) -> Result<Self> {
        Self::load_with_report(path, format).map(|(benchmark, _)| benchmark)
    }

    /// [`Benchmark::load`], also returning the loader's report of the skipped records (the
    /// `evaluate` example exits with status 2 when there are any, as `presample` does).
    pub fn load_with_report(
        path: impl AsRef<Path>,
        format: BenchmarkFormat,
    ) -> Result<(Self, LoadReport)> {
        let path = path.as_ref();
        let loaded = load_problems(path, &format.mapping(), OnBadItem::Skip)?;
        if !loaded.report.skipped.is_empty() {
            tracing::warn!("{}", loaded.report);
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "benchmark".into());
        let mut benchmark = Benchmark::new(name, loaded.problems)?;
        benchmark.source = Some(path.to_path_buf());
        Ok((benchmark, loaded.report))
    }
}

/// How responses are decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Decoding {
    /// Greedy decoding, one response per problem: the paper's evaluation protocol.
    Greedy,
    /// `samples` responses per problem at a temperature (pass@1 is their mean accuracy).
    Sample {
        /// Responses per problem (at least 1).
        samples: usize,
        /// Softmax temperature (> 0).
        temperature: f32,
        /// Nucleus threshold in `(0, 1]`.
        top_p: f32,
        /// Keep only the `top_k` likeliest tokens; 0 disables.
        top_k: usize,
        /// Base seed; each (problem, sample) pair gets [`sample_seed`] of it.
        seed: u64,
    },
}

impl Default for Decoding {
    /// [`Decoding::Greedy`].
    fn default() -> Self {
        Decoding::Greedy
    }
}

impl Decoding {
    /// `samples` responses per problem at `temperature`, no top-p / top-k, seed 0.
    ///
    /// ```
    /// use o1p_eval::run::Decoding;
    /// assert_eq!(Decoding::sample(16, 0.5).samples(), 16);
    /// assert_eq!(Decoding::Greedy.samples(), 1);
    /// ```
    pub fn sample(samples: usize, temperature: f32) -> Self {
        Decoding::Sample {
            samples,
            temperature,
            top_p: 1.0,
            top_k: 0,
            seed: 0,
        }
    }

    /// Responses per problem.
    pub fn samples(&self) -> usize {
        match self {
            Decoding::Greedy => 1,
            Decoding::Sample { samples, .. } => *samples,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Decoding::Sample {
            samples,
            temperature,
            top_p,
            ..
        } = self
        {
            if *samples == 0 {
                return Err(EvalError::InvalidConfig(
                    "sampling needs at least 1 sample per problem".into(),
                ));
            }
            if !(temperature.is_finite() && *temperature > 0.0) {
                return Err(EvalError::InvalidConfig(format!(
                    "sampling temperature must be > 0 (got {temperature}); use greedy decoding \
                     for temperature 0"
                )));
            }
            if !(*top_p > 0.0 && *top_p <= 1.0) {
                return Err(EvalError::InvalidConfig(format!(
                    "top_p must be in (0, 1], got {top_p}"
                )));
            }
        }
        Ok(())
    }
}

/// Settings of an evaluation. [`Default`] is the paper's protocol: its prompt, raw text,
/// greedy, 8192 new tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The prompt. Default: the paper's ([`PromptTemplate::default`]).
    pub prompt: PromptTemplate,
    /// Render prompts through the tokenizer's chat template instead of as raw text.
    /// Default: `false`.
    pub chat_template: bool,
    /// Greedy or sampled. Default: greedy.
    pub decoding: Decoding,
    /// Most tokens per response; a response that hits it is truncated. Default: 8192 (the
    /// paper's cap).
    pub max_new_tokens: usize,
    /// Sequences decoded together. Results do not depend on it. Default: 8.
    pub batch_size: usize,
    /// Extra strings that end a response (the tokenizer's stop ids always do). Default: none.
    pub stop_strings: Vec<String>,
    /// Answer extraction and grading. Default: [`GradeOptions::default`].
    pub grade: GradeOptions,
    /// Draw a progress bar per benchmark (on stderr, only when it is a terminal).
    /// Default: `true`.
    pub progress: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            prompt: PromptTemplate::default(),
            chat_template: false,
            decoding: Decoding::Greedy,
            max_new_tokens: 8192,
            batch_size: 8,
            stop_strings: Vec::new(),
            grade: GradeOptions::default(),
            progress: true,
        }
    }
}

impl EvalConfig {
    /// Checks the settings, saying what to change.
    ///
    /// ```
    /// use o1p_eval::run::{Decoding, EvalConfig};
    /// assert!(EvalConfig::default().validate().is_ok());
    /// let bad = EvalConfig { decoding: Decoding::sample(4, 0.0), ..EvalConfig::default() };
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(EvalError::InvalidConfig(
                "batch size must be at least 1".into(),
            ));
        }
        if self.max_new_tokens == 0 {
            return Err(EvalError::InvalidConfig(
                "max_new_tokens must be at least 1".into(),
            ));
        }
        self.prompt.validate()?;
        self.decoding.validate()?;
        sampling_params(&[], self)
            .validate()
            .map_err(|e| EvalError::InvalidConfig(e.to_string()))
    }

    /// The settings that determine the records, as stored in the meta file and compared on
    /// resume (batch size and progress do not change results, so they are left out).
    fn fingerprint(&self, stop_ids: &[u32]) -> serde_json::Value {
        let mut settings = serde_json::json!({
            "prompt": self.prompt,
            "chat_template": self.chat_template,
            "decoding": self.decoding,
            "max_new_tokens": self.max_new_tokens,
            "stop_ids": stop_ids,
            "stop_strings": self.stop_strings,
            "grade": self.grade,
        });
        // Sampled runs name their seed rule: records drawn with evaluation's earlier rule of
        // its own are refused on resume instead of mixed with these (greedy runs use no seed).
        if matches!(self.decoding, Decoding::Sample { .. }) {
            settings["seed_rule"] = "presample".into();
        }
        settings
    }
}

/// A model to evaluate: a label for reports and file names, the model, its tokenizer and
/// the token ids that end a response.
///
/// A tokenizer is required: prompts are text and responses are graded as text.
#[derive(Debug, Clone)]
pub struct EvalModel<'a> {
    label: String,
    engine: Engine<'a>,
    tokenizer: &'a Tokenizer,
    stop_ids: Vec<u32>,
    max_positions: Option<usize>,
    /// The model's cheap hash and where it was read from (see [`EvalModel::with_model_hash`]).
    model_hash: Option<(String, PathBuf)>,
    /// The served model's name, for a generator behind a server (see
    /// [`EvalModel::with_served_model`]).
    served_model: Option<String>,
}

/// What generates an [`EvalModel`]'s responses.
#[derive(Clone, Copy)]
enum Engine<'a> {
    /// A model in this process, wrapped in a [`NativeGenerator`] per benchmark.
    Native(&'a CausalLm),
    /// Any generator: a server or a pool of servers ([`o1p_sampler::HttpPool`]), or a
    /// user's own.
    Generator(&'a dyn Generator),
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Native(_) => f.write_str("Native"),
            Engine::Generator(g) => write!(f, "Generator({})", g.describe()),
        }
    }
}

impl<'a> EvalModel<'a> {
    /// A loaded model and tokenizer; responses stop on the tokenizer's stop ids (its eos
    /// token plus the eos ids of generation_config.json and config.json).
    pub fn new(label: impl Into<String>, model: &'a CausalLm, tokenizer: &'a Tokenizer) -> Self {
        EvalModel {
            label: label.into(),
            engine: Engine::Native(model),
            tokenizer,
            stop_ids: tokenizer.special().stop_ids.clone(),
            max_positions: None,
            model_hash: None,
            served_model: None,
        }
    }

    /// Responses from `generator` (e.g. a vLLM server or a pool of them, as `presample
    /// --server` uses), prompts rendered and encoded with `tokenizer` (the served model's),
    /// which also decodes the responses when the generator returns token ids. Prompts are
    /// sent as token ids, so the server sees exactly the prompt a native evaluation feeds
    /// the model; each response's seed goes with its request.
    pub fn with_generator(
        label: impl Into<String>,
        generator: &'a dyn Generator,
        tokenizer: &'a Tokenizer,
    ) -> Self {
        EvalModel {
            label: label.into(),
            engine: Engine::Generator(generator),
            tokenizer,
            stop_ids: tokenizer.special().stop_ids.clone(),
            max_positions: None,
            model_hash: None,
            served_model: None,
        }
    }

    /// Records the served model's name in the fingerprint of every results file (as
    /// `presample --server` does): the servers themselves are not part of it, so a run
    /// resumes on another fleet serving the same model.
    pub fn with_served_model(mut self, name: impl Into<String>) -> Self {
        self.served_model = Some(name.into());
        self
    }

    /// Sets the model's context (`max_position_embeddings`): a problem whose prompt plus
    /// `max_new_tokens` exceeds it is skipped with the reason instead of generated.
    pub fn with_max_positions(mut self, max_positions: usize) -> Self {
        self.max_positions = Some(max_positions);
        self
    }

    /// Records the model's hash ([`o1p_data::fingerprint::model_hash`] of `source`) in the
    /// fingerprint of every results file, so that another model evaluated later under the
    /// same label is refused instead of reusing these records. Without it (a model built in
    /// memory) the fingerprint holds the settings and problems only.
    pub fn with_model_hash(mut self, hash: impl Into<String>, source: impl Into<PathBuf>) -> Self {
        self.model_hash = Some((hash.into(), source.into()));
        self
    }

    /// Replaces the stop ids.
    pub fn with_stop_ids(mut self, stop_ids: Vec<u32>) -> Self {
        self.stop_ids = stop_ids;
        self
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The stop ids.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }
}

/// A model directory loaded for evaluation (f32 weights).
#[derive(Debug)]
pub struct LoadedModel {
    /// The decoder.
    pub model: CausalLm,
    /// Its config.json.
    pub config: ModelConfig,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// The directory or `.gguf` file it was loaded from.
    pub source: PathBuf,
    /// Its cheap hash ([`o1p_data::fingerprint::model_hash`]).
    pub model_hash: String,
}

impl LoadedModel {
    /// Loads `dir` (config.json, safetensors, tokenizer.json) onto `device`, weights in
    /// `precision`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device, precision: Precision) -> Result<Self> {
        let dir = dir.as_ref();
        let model_hash = o1p_data::fingerprint::model_hash(dir)?;
        let mut opened = Pretrained::open(dir, device, precision.dtype())?;
        // Prompts are text and responses are graded as text.
        let tokenizer = opened.take_tokenizer()?;
        Ok(LoadedModel {
            tokenizer,
            model: opened.model,
            config: opened.config,
            source: dir.to_path_buf(),
            model_hash,
        })
    }

    /// The model under `label`. Stop ids: the tokenizer's, or config.json's eos ids when the
    /// tokenizer names none.
    pub fn as_eval(&self, label: impl Into<String>) -> EvalModel<'_> {
        let m = EvalModel::new(label, &self.model, &self.tokenizer)
            .with_max_positions(self.config.max_position_embeddings)
            .with_model_hash(self.model_hash.clone(), self.source.clone());
        if m.stop_ids.is_empty() {
            m.with_stop_ids(self.config.eos_token_ids.clone())
        } else {
            m
        }
    }
}

/// One model's results on one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkRun {
    /// The benchmark's name.
    pub benchmark: String,
    /// The JSONL file holding the records.
    pub path: PathBuf,
    /// One record per (problem, sample), in benchmark order then sample order.
    pub records: Vec<EvalRecord>,
    /// Wall time and throughput, accumulated over every session that generated into the file;
    /// `None` when unknown (records from elsewhere, or a file without its meta file).
    pub timing: Option<RunTiming>,
    /// Records found in the file from an earlier session.
    pub reused: usize,
    /// Records generated in this session.
    pub generated: usize,
    /// Problems left out in this session, and why (a prompt longer than the model's context
    /// with `max_new_tokens` added, or above the prefill memory bound).
    pub skipped: Vec<SkippedProblem>,
}

impl BenchmarkRun {
    /// Records obtained elsewhere (e.g. [`read_jsonl`] of another tool's output), without
    /// timing, to score them with [`build_report`] like a run of this module.
    pub fn from_records(benchmark: impl Into<String>, records: Vec<EvalRecord>) -> Self {
        BenchmarkRun {
            benchmark: benchmark.into(),
            path: PathBuf::new(),
            reused: records.len(),
            generated: 0,
            records,
            timing: None,
            skipped: Vec::new(),
        }
    }
}

/// One model's results on every benchmark: the input of [`build_report`].
///
/// From records to a report:
///
/// ```
/// use o1p_eval::EvalRecord;
/// use o1p_eval::run::{BenchmarkRun, ModelRun, ReportOptions, build_report};
/// let rec = |p: &str, ok: bool, n: usize| EvalRecord { problem_id: p.into(), sample_index: 0,
///     correct: ok, extracted: Some("1".into()), num_tokens: n, finish_reason: "eos".into(),
///     level: None, difficulty: None, reference_accuracy: None };
/// let run = |label: &str, records| ModelRun { label: label.into(),
///     benchmarks: vec![BenchmarkRun::from_records("gsm8k", records)] };
/// let runs = [run("base", vec![rec("a", true, 800), rec("b", false, 1200)]),
///             run("pruned", vec![rec("a", true, 500), rec("b", false, 700)])];
/// let report = build_report(&runs, &ReportOptions::new("base")).unwrap();
/// let s = report.summary.as_ref().unwrap();
/// assert_eq!((s.pruned.label.as_str(), s.pruned.mean_tokens), ("pruned", 600.0));
/// assert!((s.length_reduction.unwrap() - 0.4).abs() < 1e-12);
/// assert!((s.aes.unwrap() - 0.4).abs() < 1e-12); // equal accuracy: AES = dL
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRun {
    /// The model's label.
    pub label: String,
    /// One entry per benchmark, in the order given.
    pub benchmarks: Vec<BenchmarkRun>,
}

impl ModelRun {
    /// Metrics per benchmark (with each benchmark's timing), ready for
    /// [`Report::build`](crate::Report::build).
    pub fn results(&self, bootstrap: Option<crate::BootstrapConfig>) -> Result<RunResults> {
        let benchmarks = self
            .benchmarks
            .iter()
            .map(|b| {
                let options = MetricsOptions {
                    bootstrap,
                    timing: b.timing,
                };
                Ok(BenchmarkMetrics {
                    benchmark: b.benchmark.clone(),
                    metrics: compute_metrics(&b.records, &options)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RunResults {
            label: self.label.clone(),
            benchmarks,
        })
    }

    /// The run on `benchmark`, if present.
    pub fn benchmark(&self, benchmark: &str) -> Option<&BenchmarkRun> {
        self.benchmarks.iter().find(|b| b.benchmark == benchmark)
    }
}

/// The seed of each (problem, sample) pair: pre-sampling's rule, so that a sample of an
/// evaluation and of a pre-sampling run with the same base seed, problem id and index are the
/// same draw, and a seed sent to a server stays below 2^63.
pub use o1p_sampler::presample::sample_seed;

/// The serde name of a finish reason ("eos", "stop", "length"), as records store it.
fn finish_reason_str(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Eos => FINISH_EOS,
        FinishReason::Stop => FINISH_STOP,
        FinishReason::Length => FINISH_LENGTH,
    }
}

/// A file-name-safe version of a label or benchmark name.
pub(crate) fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." would name directories, not files.
    if s.trim_matches('.').is_empty() {
        format!("_{s}")
    } else {
        s
    }
}

/// Where the records of `label` on `benchmark` live under `out_dir`.
///
/// ```
/// let p = o1p_eval::run::records_path("runs", "base model", "gsm8k");
/// assert_eq!(p, std::path::Path::new("runs/base_model/gsm8k.jsonl"));
/// ```
pub fn records_path(out_dir: impl AsRef<Path>, label: &str, benchmark: &str) -> PathBuf {
    out_dir
        .as_ref()
        .join(file_stem(label))
        .join(format!("{}.jsonl", file_stem(benchmark)))
}

fn meta_path(records: &Path) -> PathBuf {
    records.with_extension("meta.json")
}

fn fingerprint_path(records: &Path) -> PathBuf {
    records.with_extension("fingerprint.json")
}

/// Removes the files of `label` on `benchmark` under `out_dir` (records, meta and fingerprint
/// files; nothing else), for `--fresh`; returns the paths removed.
pub fn remove_outputs(out_dir: &Path, label: &str, benchmark: &str) -> Result<Vec<PathBuf>> {
    let records = records_path(out_dir, label, benchmark);
    let names: Vec<String> = [
        records.clone(),
        meta_path(&records),
        fingerprint_path(&records),
    ]
    .iter()
    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let dir = records.parent().unwrap_or(out_dir);
    Ok(o1p_data::fingerprint::remove_outputs(dir, &names)?)
}

/// What sits next to a JSONL file: the settings that produced it and the accumulated cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunMeta {
    settings: serde_json::Value,
    wall_time_s: f64,
    generated_tokens: usize,
}

fn read_meta(path: &Path) -> Result<Option<RunMeta>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| EvalError::Json {
                path: path.to_path_buf(),
                line: 1,
                error: source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EvalError::io(path, e)),
    }
}

fn write_meta(path: &Path, meta: &RunMeta) -> Result<()> {
    o1p_data::write_json_atomic(path, meta).map_err(EvalError::from)
}

/// A record plus the decoded response: one line of a results file. Readers that want only
/// the record ([`read_jsonl`]) ignore `response`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResultLine {
    #[serde(flatten)]
    record: EvalRecord,
    #[serde(default)]
    response: Option<String>,
}

/// Evaluates `model` on every benchmark in turn (see [`evaluate_benchmark`]).
pub fn evaluate(
    model: &EvalModel<'_>,
    benchmarks: &[Benchmark],
    config: &EvalConfig,
    out_dir: impl AsRef<Path>,
) -> Result<ModelRun> {
    let mut names = HashSet::new();
    if let Some(dup) = benchmarks
        .iter()
        .find(|b| !names.insert(file_stem(&b.name)))
    {
        return Err(EvalError::InvalidConfig(format!(
            "two benchmarks share the name {:?}; rename one file",
            dup.name
        )));
    }
    let runs = benchmarks
        .iter()
        .map(|b| evaluate_benchmark(model, b, config, out_dir.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    Ok(ModelRun {
        label: model.label.clone(),
        benchmarks: runs,
    })
}

/// Evaluates `model` on one benchmark, resuming `out_dir/<label>/<benchmark>.jsonl` if it
/// exists: every (problem, sample) pair already there is kept, the rest is generated in
/// batches and appended as each batch finishes.
///
/// Errors: invalid settings, a prompt the model cannot take, settings that differ from the
/// ones the existing file was written with, I/O.
pub fn evaluate_benchmark(
    model: &EvalModel<'_>,
    benchmark: &Benchmark,
    config: &EvalConfig,
    out_dir: &Path,
) -> Result<BenchmarkRun> {
    config.validate()?;
    let path = records_path(out_dir, &model.label, &benchmark.name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| EvalError::io(parent, e))?;
    }
    let meta_file = meta_path(&path);
    let settings = config.fingerprint(&model.stop_ids);

    let mut fingerprint = RunFingerprint::new("evaluate");
    fingerprint.settings("", &settings)?;
    match &benchmark.source {
        Some(file) => fingerprint.set_from("problems", problems_hash(&benchmark.problems), file),
        None => fingerprint.set("problems", problems_hash(&benchmark.problems)),
    };
    if let Some((hash, source)) = &model.model_hash {
        fingerprint.set_from("model", hash.clone(), source);
    }
    if let Some(name) = &model.served_model {
        fingerprint.set("server_model", name.clone());
    }
    let has_records = meta_file.exists() || std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
    fingerprint.check_or_record(&fingerprint_path(&path), has_records)?;

    let (mut writer, existing) = JsonlWriter::resume(&path)?;
    let previous = read_meta(&meta_file)?;
    let mut meta = match previous {
        Some(m) if !existing.is_empty() && m.settings != settings => {
            return Err(EvalError::SettingsMismatch {
                path,
                existing: m.settings.to_string(),
                requested: settings.to_string(),
            });
        }
        Some(m) if !existing.is_empty() => m,
        _ => {
            if !existing.is_empty() {
                tracing::warn!(
                    file = %path.display(),
                    "no meta file next to the records; assuming they used the same settings"
                );
            }
            RunMeta {
                settings,
                wall_time_s: 0.0,
                generated_tokens: 0,
            }
        }
    };
    write_meta(&meta_file, &meta)?;

    let k = config.decoding.samples();
    let index: HashMap<&str, usize> = benchmark
        .problems
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    // Keep what belongs to this job, once per key; anything else is reported, not scored.
    let mut done: HashMap<RecordKey, EvalRecord> = HashMap::new();
    for r in existing {
        if !index.contains_key(r.problem_id.as_str()) || r.sample_index >= k {
            tracing::warn!(
                file = %path.display(),
                problem = %r.problem_id,
                sample = r.sample_index,
                "record not part of this evaluation; ignored"
            );
            continue;
        }
        let key = r.key();
        if done.contains_key(&key) {
            tracing::warn!(file = %path.display(), problem = %r.problem_id,
                sample = r.sample_index, "duplicate record; keeping the first");
            continue;
        }
        done.insert(key, r);
    }
    let reused = done.len();

    let pending: Vec<(usize, usize)> = benchmark
        .problems
        .iter()
        .enumerate()
        .flat_map(|(p, problem)| {
            let done = &done;
            (0..k)
                .filter(move |&s| {
                    !done.contains_key(&RecordKey {
                        problem_id: problem.id.clone(),
                        sample_index: s,
                    })
                })
                .map(move |s| (p, s))
        })
        .collect();

    let progress = progress_bar(
        config.progress,
        format!("{} / {}", model.label, benchmark.name),
        benchmark.problems.len() * k,
    );
    progress.set_position(reused as u64);
    let native;
    let generator: &dyn Generator = match model.engine {
        Engine::Generator(g) => g,
        Engine::Native(m) => {
            // `config.batch_size` rows per call, so batches are composed as before the
            // generator existed and the records are the same to the last bit.
            native =
                NativeGenerator::new(m.clone(), Some(model.tokenizer.clone()), config.batch_size)
                    .with_stop_ids(model.stop_ids.clone())
                    .with_limits(LengthLimits::of_model(m, model.max_positions));
            &native
        }
    };
    let params = sampling_params(&model.stop_ids, config);
    let (prompts, skipped) = if pending.is_empty() {
        (HashMap::new(), Vec::new())
    } else {
        encode_prompts(model, generator, &params, benchmark, config, &pending)?
    };
    let pending: Vec<(usize, usize)> = pending
        .into_iter()
        .filter(|(p, _)| prompts.contains_key(p))
        .collect();
    let generated = pending.len();
    if !pending.is_empty() {
        let seed = match config.decoding {
            Decoding::Greedy => 0,
            Decoding::Sample { seed, .. } => seed,
        };
        for batch in pending.chunks(config.batch_size) {
            let started = Instant::now();
            // One request per response, each with its own seed: a server pool spreads them,
            // and the native generator decodes them as one batch.
            let requests: Vec<Request> = batch
                .iter()
                .map(|&(p, s)| Request {
                    prompt: Prompt::Ids(prompts[&p].clone()),
                    seeds: vec![sample_seed(seed, &benchmark.problems[p].id, s)],
                })
                .collect();
            let completions = generator.generate(&requests, &params)?;
            if completions.len() != batch.len() || completions.iter().any(|c| c.len() != 1) {
                return Err(GenerateError::Schema {
                    url: generator.describe(),
                    problem: format!(
                        "{} answers for {} requests of one response each",
                        completions.iter().map(Vec::len).sum::<usize>(),
                        batch.len()
                    ),
                }
                .into());
            }
            let mut tokens = 0;
            for (&(p, s), mut completion) in batch.iter().zip(completions) {
                let completion = completion.remove(0);
                let line = score(
                    model.tokenizer,
                    &benchmark.problems[p],
                    s,
                    &completion,
                    config,
                )?;
                tokens += completion.num_tokens;
                writer.append_serialized(&line)?;
                done.insert(line.record.key(), line.record);
            }
            meta.wall_time_s += started.elapsed().as_secs_f64();
            meta.generated_tokens += tokens;
            // Saved per batch so that a killed run keeps the cost of what it wrote.
            write_meta(&meta_file, &meta)?;
            progress.inc(batch.len() as u64);
            if let Some(servers) = generator.progress() {
                progress.set_message(servers);
            } else if meta.wall_time_s > 0.0 {
                progress.set_message(format!(
                    "{:.0} tok/s",
                    meta.generated_tokens as f64 / meta.wall_time_s
                ));
            }
        }
    }
    progress.finish_and_clear();

    let mut records = Vec::with_capacity(done.len());
    for p in &benchmark.problems {
        for s in 0..k {
            let key = RecordKey {
                problem_id: p.id.clone(),
                sample_index: s,
            };
            records.extend(done.remove(&key));
        }
    }
    Ok(BenchmarkRun {
        benchmark: benchmark.name.clone(),
        path,
        records,
        timing: Some(RunTiming::from_wall_time(
            meta.wall_time_s,
            meta.generated_tokens,
        )),
        reused,
        generated,
        skipped,
    })
}

/// Loads a finished (or partial) run from its files without generating: the records of
/// `label` on each named benchmark under `out_dir`, with the timing from the meta files.
pub fn load_run(out_dir: impl AsRef<Path>, label: &str, benchmarks: &[&str]) -> Result<ModelRun> {
    let runs = benchmarks
        .iter()
        .map(|&name| {
            let path = records_path(out_dir.as_ref(), label, name);
            let records = read_jsonl(&path)?;
            let timing = read_meta(&meta_path(&path))?
                .map(|m| RunTiming::from_wall_time(m.wall_time_s, m.generated_tokens));
            Ok(BenchmarkRun {
                benchmark: name.to_string(),
                path,
                reused: records.len(),
                generated: 0,
                records,
                timing,
                skipped: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ModelRun {
        label: label.to_string(),
        benchmarks: runs,
    })
}

/// Grades the responses stored in a results file again, against `benchmark`'s gold answers
/// and with `grade` options, without generating. Records whose line has no response, or whose
/// problem is not in `benchmark`, are kept as they are (with a warning).
pub fn rescore(
    path: impl AsRef<Path>,
    benchmark: &Benchmark,
    grade: &GradeOptions,
) -> Result<Vec<EvalRecord>> {
    let path = path.as_ref();
    let gold: HashMap<&str, &str> = benchmark
        .problems
        .iter()
        .map(|p| (p.id.as_str(), p.gold.as_str()))
        .collect();
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    // Same tolerance as read_jsonl: an unterminated, unparsable last line is a torn write.
    let ends_clean = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let mut line: ResultLine = match serde_json::from_str(raw) {
            Ok(l) => l,
            Err(_) if i + 1 == lines.len() && !ends_clean => {
                tracing::warn!(file = %path.display(), line = i + 1, "dropping torn last line");
                continue;
            }
            Err(source) => {
                return Err(EvalError::Json {
                    path: path.to_path_buf(),
                    line: i + 1,
                    error: source,
                });
            }
        };
        match (
            line.response.as_deref(),
            gold.get(line.record.problem_id.as_str()),
        ) {
            (Some(response), Some(gold)) => {
                let g = grade_sample(gold, response, line.record.is_truncated(), grade);
                line.record.correct = g.correct;
                line.record.extracted = g.extracted;
            }
            _ => tracing::warn!(
                file = %path.display(),
                problem = %line.record.problem_id,
                "cannot re-grade (no stored response or unknown problem); kept as is"
            ),
        }
        out.push(line.record);
    }
    Ok(out)
}

fn progress_bar(enabled: bool, prefix: String, total: usize) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    // A bad template is a programming error, but a progress bar is not worth a failure.
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} responses, {elapsed_precise} (eta {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix);
    bar
}

fn sampling_params(stop_ids: &[u32], config: &EvalConfig) -> SamplingParams {
    let (temperature, top_p, top_k) = match config.decoding {
        Decoding::Greedy => (0.0, 1.0, 0),
        Decoding::Sample {
            temperature,
            top_p,
            top_k,
            ..
        } => (temperature, top_p, top_k),
    };
    SamplingParams {
        max_new_tokens: config.max_new_tokens,
        temperature,
        top_p,
        top_k,
        stop_ids: stop_ids.to_vec(),
        stop_strings: config.stop_strings.clone(),
    }
}

/// Prompt token ids by problem index.
type PromptIds = HashMap<usize, Vec<u32>>;

/// Token ids of the prompt of every problem that has pending samples, checked so that the
/// sampler (which panics on an empty prompt) and the embedding never see a bad one. A prompt
/// that does not fit the model's context or the prefill memory bound is left out and
/// returned as skipped, with the reason.
fn encode_prompts(
    model: &EvalModel<'_>,
    generator: &dyn Generator,
    params: &SamplingParams,
    benchmark: &Benchmark,
    config: &EvalConfig,
    pending: &[(usize, usize)],
) -> Result<(PromptIds, Vec<SkippedProblem>)> {
    let tokenizer = model.tokenizer;
    let renderer = if config.chat_template {
        let source = tokenizer.chat_template().ok_or_else(|| {
            EvalError::InvalidConfig(format!(
                "model {:?}: its tokenizer has no chat template; evaluate without the chat \
                 template option",
                model.label
            ))
        })?;
        let text =
            |t: &Option<(u32, String)>| t.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
        let special = tokenizer.special();
        let template = ChatTemplate::new(source, &text(&special.bos), &text(&special.eos))?;
        PromptRenderer::Chat(template)
    } else {
        PromptRenderer::Raw
    };
    // Only a model in this process knows its vocabulary; a server checks its own.
    let vocab = match model.engine {
        Engine::Native(m) => m.vocab_size(),
        Engine::Generator(_) => usize::MAX,
    };
    let mut prompts = HashMap::new();
    let mut skipped: Vec<SkippedProblem> = Vec::new();
    for &(p, _) in pending {
        if prompts.contains_key(&p)
            || skipped
                .last()
                .is_some_and(|s| s.problem_id == benchmark.problems[p].id)
        {
            continue;
        }
        let problem = &benchmark.problems[p];
        let bad = |problem_text: String| EvalError::BadPrompt {
            benchmark: benchmark.name.clone(),
            problem_id: problem.id.clone(),
            problem: problem_text,
        };
        let text = config.prompt.render(&problem.question, &renderer)?;
        // The sampler's and the trainer's rule, so a model is evaluated on the prompt ids it
        // was pre-sampled and trained on.
        let ids = tokenizer.encode_prompt(&text)?;
        if ids.is_empty() {
            return Err(bad("the prompt encodes to no tokens".into()));
        }
        if let Some(&t) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(bad(format!(
                "token id {t} is outside the model's vocabulary of {vocab} (does the tokenizer \
                 belong to this model?)"
            )));
        }
        if let Err(reason) =
            generator.check_request(&Prompt::Ids(ids.clone()), params, config.batch_size)
        {
            tracing::warn!(benchmark = %benchmark.name, problem = %problem.id, %reason,
                "skipping problem");
            skipped.push(SkippedProblem {
                problem_id: problem.id.clone(),
                reason,
            });
            continue;
        }
        prompts.insert(p, ids);
    }
    Ok((prompts, skipped))
}

fn score(
    tokenizer: &Tokenizer,
    problem: &Problem,
    sample_index: usize,
    completion: &Generated,
    config: &EvalConfig,
) -> Result<ResultLine> {
    // Decoded from the ids when the generator returns them (special tokens skipped, a stop
    // string kept), else the server's text.
    let response = match &completion.token_ids {
        Some(ids) => tokenizer.decode(ids, true)?,
        None => completion.text.clone(),
    };
    let finish_reason = finish_reason_str(completion.finish_reason);
    let grade = grade_sample(
        &problem.gold,
        &response,
        finish_reason == FINISH_LENGTH,
        &config.grade,
    );
    Ok(ResultLine {
        record: EvalRecord {
            problem_id: problem.id.clone(),
            sample_index,
            correct: grade.correct,
            extracted: grade.extracted,
            num_tokens: completion.num_tokens,
            finish_reason: finish_reason.to_string(),
            level: problem.level.clone(),
            difficulty: problem.difficulty,
            reference_accuracy: None,
        },
        response: Some(response),
    })
}

/// Sets each record's `reference_accuracy` from a map of problem id to the reference model's
/// mean accuracy (pre-sampling), for the breakdown by reference accuracy. Records of problems
/// missing from the map keep theirs.
///
/// ```
/// # use o1p_eval::EvalRecord;
/// use o1p_eval::run::attach_reference_accuracy;
/// let mut recs = vec![EvalRecord { problem_id: "p".into(), sample_index: 0, correct: true,
///     extracted: None, num_tokens: 5, finish_reason: "eos".into(), level: None,
///     difficulty: None, reference_accuracy: None }];
/// attach_reference_accuracy(&mut recs, &[("p".to_string(), 0.75)].into());
/// assert_eq!(recs[0].reference_accuracy, Some(0.75));
/// ```
pub fn attach_reference_accuracy(records: &mut [EvalRecord], reference: &HashMap<String, f64>) {
    for r in records {
        if let Some(&a) = reference.get(&r.problem_id) {
            r.reference_accuracy = Some(a);
        }
    }
}
