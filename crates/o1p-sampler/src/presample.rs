//! The pre-sampling driver: step 1 of O1-Pruner.
//!
//! For every problem, K samples from the reference model, graded with o1p-reward and
//! appended to a [`SampleStore`], then the per-problem [`ReferenceStats`] (`Lbar_ref`,
//! `Abar_ref`, ...) written atomically.
//!
//! # Output directory
//! - `samples.jsonl`: one [`SampleRecord`] per line, in canonical order: problems in input
//!   order, samples `0..K` within a problem.
//! - `reference_stats.json`: a JSON array of [`ProblemReference`] (`problem_id`, `gold`,
//!   `difficulty` where known, plus the fields of [`ReferenceStats`]), in problem order;
//!   written when every sample exists.
//! - `presample.json`: the settings that decide the samples ([`Settings`]); a rerun with
//!   other settings into the same directory is refused rather than mixing two runs.
//! - `fingerprint.json`: the run's [`RunFingerprint`] (step `presample`): the settings, the
//!   problems ([`o1p_data::fingerprint::problems_hash`]) and what the caller adds in
//!   [`PresampleConfig::fingerprint`] (the model's hash). It is checked before anything is
//!   written: a rerun with other settings, other problems (changed questions or golds, a
//!   subset) or another model is refused naming each changed field, and samples without a
//!   fingerprint file are an error. The batch size and `keep_token_ids` are not part of it
//!   (they decide no sample), so a rerun after an out-of-memory error can lower the batch. [`remove_outputs`] clears the directory for `--fresh`.
//!
//! # Resuming
//! Sample `j` of problem `p` is drawn with the seed [`sample_seed`]`(seed, p.id, j)`, so it
//! does not depend on the order or company it is generated in. The (problem, sample) list is
//! cut into fixed *canonical batches* of `batch_size`; each batch is generated and then its
//! records are appended in order, each flushed. After a kill the store holds a canonical
//! prefix (its torn last line is dropped on open); a rerun skips complete batches, recomputes
//! the interrupted batch as a whole (so the arithmetic, padding included, is exactly that of
//! an uninterrupted run) and appends only its missing records. The final files are then
//! byte-identical to those of an uninterrupted run with the same settings and batch size.
//!
//! # Shards
//! With [`PresampleConfig::shard`] set to shard `I/N`, only the problems of that shard are
//! sampled (blocks of whole problems filling whole canonical batches, round robin; see
//! [`crate::shard`]), with the seeds and batches of the unsharded run, and the directory's
//! files describe that shard alone (its fingerprint adds `shard` and `batch_size`).
//! [`crate::shard::merge_shards`] combines the N shard directories into the files of an
//! unsharded run. Every shard checks every problem (the split is of the problems that pass),
//! so each reports all the skipped ones.
//!
//! # Bad inputs
//! A problem without a gold answer, whose prompt cannot be rendered or that the generator
//! refuses (empty, unknown token ids, longer than the model's context or the prefill memory
//! bound with `max_new_tokens` added, see [`crate::LengthLimits`]) is reported in
//! [`PresampleSummary::skipped`] and left out; nothing panics. Invalid sampling settings
//! ([`SamplingParams::validate`]) are an error before anything is written.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use o1p_data::fingerprint::{FINGERPRINT_FILE, RunFingerprint, problems_hash};
use o1p_data::{
    Durability, FinishReason, Problem, PromptRenderer, PromptTemplate, SampleRecord, SampleStore,
    write_json_atomic,
};
use o1p_reward::{GradeOptions, ReferenceStats, SampleOutcome, grade_sample};
use serde::{Deserialize, Serialize};

use crate::error::PresampleError;
use crate::generate::SamplingParams;
use crate::generator::{Generated, Generator, Prompt, Request};
use crate::shard::{BATCH_SIZE_FIELD, SHARD_FIELD, Shard, block_problems};

/// File name of the sample store inside the output directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// File name of the per-problem reference statistics.
pub const STATS_FILE: &str = "reference_stats.json";
/// File name of the run settings.
pub const SETTINGS_FILE: &str = "presample.json";

/// How to pre-sample.
#[derive(Clone, Debug)]
pub struct PresampleConfig {
    /// Samples per problem (the paper: 16 for Marco-o1, 12 for QwQ).
    pub k: usize,
    /// Temperature, top-p, max new tokens, stop strings (the paper: 0.5, 0.8, 8192).
    pub params: SamplingParams,
    /// Base seed; each sample's seed is [`sample_seed`] of it.
    pub seed: u64,
    /// Samples per generator call (one canonical batch).
    pub batch_size: usize,
    /// System and user prompt.
    pub template: PromptTemplate,
    /// How answers are extracted and compared.
    pub grade: GradeOptions,
    /// Store the generated token ids in each record (when the generator knows them; default
    /// on). They include the EOS token when a sample ended on one, which the response text
    /// leaves out, so training on them teaches the model to stop; without them the trainer
    /// re-tokenizes the text.
    pub keep_token_ids: bool,
    /// How hard each record is pushed to disk.
    pub durability: Durability,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// What else decides the samples, added to the run's fingerprint: the model's hash
    /// ([`o1p_data::fingerprint::model_hash`]) and any caller-side input. The driver adds the
    /// settings and the problems itself. Default: nothing.
    pub fingerprint: RunFingerprint,
    /// Sample only this part of the problems (see [`crate::shard`]); `None` (the default):
    /// all of them.
    pub shard: Option<Shard>,
}

impl Default for PresampleConfig {
    /// The paper's sampling (K = 16, temperature 0.5, top-p 0.8, 8192 new tokens), seed 0,
    /// batches of 16, the paper's prompt, default grading, token ids kept.
    fn default() -> Self {
        PresampleConfig {
            k: 16,
            params: SamplingParams {
                max_new_tokens: 8192,
                temperature: 0.5,
                top_p: 0.8,
                ..Default::default()
            },
            seed: 0,
            batch_size: 16,
            template: PromptTemplate::default(),
            grade: GradeOptions::default(),
            keep_token_ids: true,
            durability: Durability::Flush,
            progress: true,
            fingerprint: RunFingerprint::default(),
            shard: None,
        }
    }
}

/// What decides the samples of a run; saved as `presample.json` and compared on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Samples per problem.
    pub k: usize,
    /// Base seed.
    pub seed: u64,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus threshold.
    pub top_p: f32,
    /// Top-k (0: off).
    pub top_k: usize,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Stop strings.
    pub stop_strings: Vec<String>,
    /// Prompt template.
    pub template: PromptTemplate,
    /// `"raw"` or `"chat"`.
    pub prompt_style: String,
    /// Grading options.
    pub grade: GradeOptions,
    /// Whether token ids are stored.
    pub keep_token_ids: bool,
}

impl Settings {
    fn new(config: &PresampleConfig, renderer: &PromptRenderer) -> Self {
        Settings {
            k: config.k,
            seed: config.seed,
            temperature: config.params.temperature,
            top_p: config.params.top_p,
            top_k: config.params.top_k,
            max_new_tokens: config.params.max_new_tokens,
            stop_strings: config.params.stop_strings.clone(),
            template: config.template.clone(),
            prompt_style: match renderer {
                PromptRenderer::Raw => "raw".into(),
                PromptRenderer::Chat(_) => "chat".into(),
            },
            grade: config.grade.clone(),
            keep_token_ids: config.keep_token_ids,
        }
    }
}

/// One line of `reference_stats.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemReference {
    /// The problem.
    pub problem_id: String,
    /// The gold answer its samples were graded against, so that rewards reading it need not
    /// reopen the problems file (absent in pools written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
    /// The problem's numeric difficulty, where the data has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<f64>,
    /// Its reference statistics over the K samples.
    #[serde(flatten)]
    pub stats: ReferenceStats,
}

/// A problem left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedProblem {
    /// Its id.
    pub problem_id: String,
    /// What was wrong.
    pub reason: String,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct PresampleSummary {
    /// Problems sampled.
    pub problems: usize,
    /// Problems left out.
    pub skipped: Vec<SkippedProblem>,
    /// Records found in the store at start and kept.
    pub reused: usize,
    /// Records written by this run.
    pub written: usize,
    /// Tokens generated by this run (recomputed samples included).
    pub generated_tokens: usize,
    /// Wall time of the generation loop.
    pub elapsed: Duration,
    /// The sample store.
    pub samples_path: PathBuf,
    /// The reference statistics file.
    pub stats_path: PathBuf,
}

/// The seed of sample `index` of problem `problem_id`: a fixed mix (FNV-1a of the id, then
/// SplitMix64) that is the same on every platform and below 2^63 (servers parse seeds as
/// signed integers).
///
/// ```
/// use o1p_sampler::presample::sample_seed;
/// assert_eq!(sample_seed(0, "a", 0), sample_seed(0, "a", 0));
/// assert_ne!(sample_seed(0, "a", 0), sample_seed(0, "a", 1));
/// assert_ne!(sample_seed(0, "a", 0), sample_seed(1, "a", 0));
/// assert!(sample_seed(7, "b", 3) < 1 << 63);
/// ```
pub fn sample_seed(seed: u64, problem_id: &str, index: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in problem_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(splitmix64(seed ^ h) ^ index as u64) >> 1
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A problem that passed the checks, with its rendered prompt.
struct Ready<'a> {
    problem: &'a Problem,
    prompt: String,
}

/// Pre-samples `problems` into `out_dir` (created if needed), resuming what is there.
///
/// ```
/// use o1p_data::{Problem, PromptRenderer, PromptTemplate};
/// use o1p_model::{Backend, CausalLm, ModelConfig};
/// use o1p_sampler::{NativeGenerator, SamplingParams, presample::{presample, PresampleConfig}};
/// let model = CausalLm::random(&ModelConfig::qwen2(16, 8, 16, 1, 2, 1), 0, &Backend::Flex.device().unwrap());
/// let dir = tempfile::tempdir().unwrap();
/// let problems = vec![Problem { id: "p".into(), question: "q".into(), gold: "1".into(),
///     difficulty: None, level: None, subject: None, source: None }];
/// // Without a tokenizer every text prompt is reported and skipped, not a panic.
/// let config = PresampleConfig { k: 2, progress: false, ..Default::default() };
/// let summary = presample(&problems, &PromptRenderer::Raw, &NativeGenerator::new(model, None, 2),
///     &config, dir.path()).unwrap();
/// assert_eq!(summary.problems, 0);
/// assert_eq!(summary.skipped.len(), 1);
/// ```
pub fn presample(
    problems: &[Problem],
    renderer: &PromptRenderer,
    generator: &dyn Generator,
    config: &PresampleConfig,
    out_dir: &Path,
) -> Result<PresampleSummary, PresampleError> {
    if config.k == 0 {
        return Err(PresampleError::InvalidConfig("k must be at least 1".into()));
    }
    if config.batch_size == 0 {
        return Err(PresampleError::InvalidConfig(
            "batch size must be at least 1".into(),
        ));
    }
    config
        .template
        .validate()
        .map_err(|e| PresampleError::InvalidConfig(e.to_string()))?;
    config
        .params
        .validate()
        .map_err(|e| PresampleError::InvalidConfig(e.to_string()))?;
    let settings = Settings::new(config, renderer);
    let mut fingerprint = RunFingerprint::new("presample");
    fingerprint
        .settings("", &settings)?
        // Whether ids are stored decides no sample; it may change on resume (see below).
        .remove(KEEP_TOKEN_IDS)
        .set("problems", problems_hash(problems))
        .extend(&config.fingerprint);
    if let Some(shard) = config.shard {
        Shard::new(shard.index, shard.count).map_err(PresampleError::InvalidConfig)?;
        // The split depends on the batch size, so a shard may not change it on resume.
        fingerprint
            .set(SHARD_FIELD, shard.to_string())
            .set(BATCH_SIZE_FIELD, config.batch_size.to_string());
    }
    let has_records = [SAMPLES_FILE, STATS_FILE, SETTINGS_FILE]
        .iter()
        .any(|f| out_dir.join(f).exists());
    fingerprint.check_or_record(&out_dir.join(FINGERPRINT_FILE), has_records)?;
    std::fs::create_dir_all(out_dir).map_err(|source| PresampleError::Io {
        path: out_dir.to_path_buf(),
        error: source,
    })?;
    check_settings(&out_dir.join(SETTINGS_FILE), &settings)?;

    let (mut ready, skipped) = prepare(problems, config, renderer, generator);
    if let Some(shard) = config.shard {
        // Every shard checks every problem, so all agree on the list being split.
        let block = block_problems(config.k, config.batch_size);
        let mut position = 0usize;
        ready.retain(|_| {
            position += 1;
            shard.owns_block((position - 1) / block)
        });
    }
    let samples_path = out_dir.join(SAMPLES_FILE);
    let (mut store, existing) = SampleStore::open_with(&samples_path, config.durability)?;
    let wanted: HashSet<(&str, usize)> = ready
        .iter()
        .flat_map(|r| (0..config.k).map(move |j| (r.problem.id.as_str(), j)))
        .collect();
    // Record outcomes by key; the first record of a key wins (a later duplicate cannot come
    // from this driver, which never writes a key twice).
    let mut done: HashMap<(String, usize), SampleOutcome> = HashMap::new();
    let mut foreign = 0usize;
    for r in &existing {
        if !wanted.contains(&(r.problem_id.as_str(), r.sample_index)) {
            foreign += 1;
            continue;
        }
        let key = (r.problem_id.clone(), r.sample_index);
        if done.contains_key(&key) {
            tracing::warn!(problem = %r.problem_id, sample = r.sample_index, "duplicate record in the store; keeping the first");
            continue;
        }
        done.insert(key, outcome(r.num_tokens, r.correct, r.finish_reason));
    }
    if foreign > 0 {
        tracing::warn!(
            records = foreign,
            "records in the store match no (problem, sample) of this run; they are ignored"
        );
    }
    let reused = done.len();
    let items: Vec<(usize, usize)> = (0..ready.len())
        .flat_map(|p| (0..config.k).map(move |j| (p, j)))
        .collect();
    tracing::info!(
        generator = %generator.describe(),
        problems = ready.len(),
        skipped = skipped.len(),
        samples = items.len(),
        already_done = reused,
        "pre-sampling"
    );

    let bar = progress_bar(config.progress, items.len() as u64, reused as u64);
    let start = Instant::now();
    let mut written = 0usize;
    let mut generated_tokens = 0usize;
    let mut generated_samples = 0usize;
    for batch in items.chunks(config.batch_size) {
        let missing: Vec<(usize, usize)> = batch
            .iter()
            .copied()
            .filter(|&(p, j)| !done.contains_key(&(ready[p].problem.id.clone(), j)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        // A generator whose samples depend on their batch recomputes the whole canonical
        // batch, so a resumed batch sees the same arithmetic as in an uninterrupted run.
        let todo: &[(usize, usize)] = if generator.batch_independent() {
            &missing
        } else {
            batch
        };
        let results = run_batch(&ready, todo, generator, config)?;
        for (&(p, j), generated) in todo.iter().zip(results) {
            generated_tokens += generated.num_tokens;
            generated_samples += 1;
            let problem = ready[p].problem;
            let key = (problem.id.clone(), j);
            if done.contains_key(&key) {
                continue;
            }
            let record = record_of(&ready[p], j, generated, config);
            store.append(&record)?;
            written += 1;
            done.insert(
                key,
                outcome(record.num_tokens, record.correct, record.finish_reason),
            );
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let mut message = format!(
            "{:.1} samples/s, {:.0} tokens/s",
            generated_samples as f64 / secs,
            generated_tokens as f64 / secs
        );
        if let Some(servers) = generator.progress() {
            message.push_str(" | ");
            message.push_str(&servers);
        }
        bar.set_message(message);
        tracing::debug!(written, generated_tokens, "batch done");
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed();

    let stats: Vec<ProblemReference> = ready
        .iter()
        .filter_map(|r| {
            let outcomes: Vec<SampleOutcome> = (0..config.k)
                .filter_map(|j| done.get(&(r.problem.id.clone(), j)).copied())
                .collect();
            ReferenceStats::from_samples(&outcomes).map(|stats| ProblemReference {
                problem_id: r.problem.id.clone(),
                gold: Some(r.problem.gold.clone()),
                difficulty: r.problem.difficulty,
                stats,
            })
        })
        .collect();
    let stats_path = out_dir.join(STATS_FILE);
    write_json_atomic(&stats_path, &stats)?;
    let secs = elapsed.as_secs_f64().max(1e-9);
    tracing::info!(
        written,
        reused,
        generated_tokens,
        seconds = secs,
        samples_per_s = generated_samples as f64 / secs,
        tokens_per_s = generated_tokens as f64 / secs,
        "pre-sampling done"
    );
    Ok(PresampleSummary {
        problems: ready.len(),
        skipped,
        reused,
        written,
        generated_tokens,
        elapsed,
        samples_path,
        stats_path,
    })
}

pub(crate) fn outcome(num_tokens: usize, correct: bool, finish: FinishReason) -> SampleOutcome {
    SampleOutcome {
        length: num_tokens,
        correct,
        truncated: finish == FinishReason::Length,
    }
}

/// The files [`presample`] writes into its output directory.
pub const OUTPUT_FILES: [&str; 4] = [SAMPLES_FILE, STATS_FILE, SETTINGS_FILE, FINGERPRINT_FILE];

/// Removes what [`presample`] wrote into `out_dir` (and nothing else), for `--fresh`; returns
/// the paths removed.
pub fn remove_outputs(out_dir: &Path) -> Result<Vec<PathBuf>, PresampleError> {
    Ok(o1p_data::fingerprint::remove_outputs(
        out_dir,
        &OUTPUT_FILES,
    )?)
}

/// The settings field that may change on resume ([`Settings::keep_token_ids`]).
const KEEP_TOKEN_IDS: &str = "keep_token_ids";

/// Writes the settings file, or checks that the one there matches (every field but
/// `keep_token_ids`, which decides no sample).
fn check_settings(path: &Path, settings: &Settings) -> Result<(), PresampleError> {
    let requested = serde_json::to_value(settings)
        .map_err(|e| PresampleError::InvalidConfig(format!("settings: {e}")))?;
    match std::fs::read(path) {
        Ok(bytes) => {
            let existing: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| PresampleError::SettingsMismatch {
                    path: path.to_path_buf(),
                    field: "<file>".into(),
                    existing: format!("unreadable JSON ({e})"),
                    requested: "valid settings".into(),
                })?;
            if let (Some(old), Some(new)) = (existing.as_object(), requested.as_object()) {
                for (field, value) in new {
                    let before = old.get(field).cloned().unwrap_or(serde_json::Value::Null);
                    if field == KEEP_TOKEN_IDS && &before != value {
                        // Storing ids or not changes no sample, and the trainer reads records
                        // of both kinds: a run started before ids were kept by default resumes.
                        tracing::warn!(
                            file = %path.display(),
                            existing = %before,
                            requested = %value,
                            "keep_token_ids differs from the run being resumed; records written from now on follow the new setting"
                        );
                        continue;
                    }
                    if &before != value {
                        return Err(PresampleError::SettingsMismatch {
                            path: path.to_path_buf(),
                            field: field.clone(),
                            existing: before.to_string(),
                            requested: value.to_string(),
                        });
                    }
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_json_atomic(path, &requested)?;
            Ok(())
        }
        Err(source) => Err(PresampleError::Io {
            path: path.to_path_buf(),
            error: source,
        }),
    }
}

/// Renders and checks every problem; the bad ones are reported and left out.
fn prepare<'a>(
    problems: &'a [Problem],
    config: &PresampleConfig,
    renderer: &PromptRenderer,
    generator: &dyn Generator,
) -> (Vec<Ready<'a>>, Vec<SkippedProblem>) {
    let mut ready = Vec::with_capacity(problems.len());
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for problem in problems {
        let result = if problem.gold.trim().is_empty() {
            Err("no gold answer".to_string())
        } else if !seen.insert(problem.id.as_str()) {
            Err("duplicate problem id".to_string())
        } else if problem.question.trim().is_empty() {
            Err("empty question".to_string())
        } else {
            render(problem, &config.template, renderer).and_then(|prompt| {
                // Prompt length is checked here, per problem, so an over-long one is skipped
                // instead of aborting the batch it would land in.
                generator
                    .check_request(
                        &Prompt::Text(prompt.clone()),
                        &config.params,
                        config.batch_size,
                    )
                    .map(|()| prompt)
            })
        };
        match result {
            Ok(prompt) => ready.push(Ready { problem, prompt }),
            Err(reason) => {
                tracing::warn!(problem = %problem.id, %reason, "skipping problem");
                skipped.push(SkippedProblem {
                    problem_id: problem.id.clone(),
                    reason,
                });
            }
        }
    }
    (ready, skipped)
}

fn render(
    problem: &Problem,
    template: &PromptTemplate,
    renderer: &PromptRenderer,
) -> Result<String, String> {
    template
        .render(&problem.question, renderer)
        .map_err(|e| format!("cannot render the prompt: {e}"))
}

/// Generates `todo` (consecutive samples of one problem share a request).
fn run_batch(
    ready: &[Ready<'_>],
    todo: &[(usize, usize)],
    generator: &dyn Generator,
    config: &PresampleConfig,
) -> Result<Vec<Generated>, PresampleError> {
    let mut requests: Vec<Request> = Vec::new();
    let mut last_problem = None;
    for &(p, j) in todo {
        let seed = sample_seed(config.seed, &ready[p].problem.id, j);
        match requests.last_mut() {
            Some(r) if last_problem == Some(p) => r.seeds.push(seed),
            _ => {
                requests.push(Request {
                    prompt: Prompt::Text(ready[p].prompt.clone()),
                    seeds: vec![seed],
                });
                last_problem = Some(p);
            }
        }
    }
    let out: Vec<Generated> = generator
        .generate(&requests, &config.params)?
        .into_iter()
        .flatten()
        .collect();
    if out.len() != todo.len() {
        return Err(PresampleError::Generate(
            crate::error::GenerateError::InvalidParams(format!(
                "the generator returned {} completions for {} samples",
                out.len(),
                todo.len()
            )),
        ));
    }
    Ok(out)
}

fn record_of(
    ready: &Ready<'_>,
    sample_index: usize,
    generated: Generated,
    config: &PresampleConfig,
) -> SampleRecord {
    let truncated = generated.finish_reason == FinishReason::Length;
    let grade = grade_sample(
        &ready.problem.gold,
        &generated.text,
        truncated,
        &config.grade,
    );
    SampleRecord {
        problem_id: ready.problem.id.clone(),
        sample_index,
        prompt: ready.prompt.clone(),
        response: generated.text,
        token_ids: if config.keep_token_ids {
            generated.token_ids
        } else {
            None
        },
        num_tokens: generated.num_tokens,
        finish_reason: generated.finish_reason,
        extracted: grade.extracted,
        correct: grade.correct,
    }
}

fn progress_bar(enabled: bool, total: u64, done: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} samples  {msg}  [{elapsed_precise} < {eta_precise}]",
    ) {
        bar.set_style(style);
    }
    bar.set_position(done);
    bar
}
