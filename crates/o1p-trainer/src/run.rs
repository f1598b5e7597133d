//! A whole run from a [`TrainConfig`]: load the model and the pool, build the method's training
//! set (off-policy) or run the on-policy rounds, train, and export the result in Hugging Face
//! layout (`<out>/model`) with the tokenizer files copied beside it, so the sampler, the
//! evaluator and transformers all load it. A LoRA run also writes its adapter in PEFT's layout
//! (`<out>/adapter`); `<out>/model` then holds the adapter merged into the base weights.
//!
//! Before anything is written, the run's [`fingerprint`] (every setting of the config, the
//! model's cheap hash, the pool's content, on-policy the problems file's content) is checked
//! against `<out>/fingerprint.json`: a rerun with other settings or inputs is refused naming
//! each changed field, so `run.toml`, the checkpoint and the model stay as they were.
//! [`remove_outputs`] clears the run's own files for `--fresh`.

use std::path::{Path, PathBuf};

use o1p_data::fingerprint::{FINGERPRINT_FILE, RunFingerprint, file_hash, model_hash};

use burn::tensor::Device;
use o1p_model::{Backend, Pretrained, weights};

use o1p_data::{OnBadItem, load_problems};

use o1p_reward::Scorer;

use crate::config::{Method, TrainConfig, TrainMode, TrainPrecision};
use crate::data::{self, PoolSample};
use crate::error::{Result, TrainError};
use crate::on_policy::{OnPolicySpec, round_problems, train_on_policy};
use crate::pool::{self, load_pool};
use crate::train::{Objective, TrainReport, TrainSettings, train};

/// Tokenizer and config files copied next to an exported model.
const TOKENIZER_FILES: [&str; 3] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// The files and directories a run writes into its `out` directory.
pub const RUN_OUTPUTS: [&str; 12] = [
    FINGERPRINT_FILE,
    "run.toml",
    "metrics.jsonl",
    REWARDS_FILE,
    "ref_logprobs.json",
    "train_report.json",
    "checkpoint",
    "checkpoint.tmp",
    "checkpoint.old",
    "model",
    "rounds",
    ADAPTER_DIR,
];

/// Where a LoRA run writes its adapter, in PEFT's layout (its merged model goes to `model`).
pub const ADAPTER_DIR: &str = "adapter";

/// Every training example's reward, advantage and reward terms, one JSON object a line
/// (off-policy O1-Pruner runs; on-policy rounds write one per round in `rounds/NNNN/`).
pub const REWARDS_FILE: &str = "rewards.jsonl";

/// Settings that trade memory or speed only; left out of the fingerprint so that a rerun after
/// an out-of-memory error may lower them.
const SPEED_SETTINGS: [&str; 4] = [
    "checkpoint_every",
    "gradient_checkpointing",
    "optim.token_budget",
    "on_policy.decode_batch",
];

/// What decides the result of `config` (step `train`): every setting but the paths and
/// [`SPEED_SETTINGS`], the model's cheap hash (`model`), the pool's content (`pool`: its
/// samples.jsonl and, when present, reference_stats.json), and on-policy the problems file's
/// content (`on_policy.problems`).
pub fn fingerprint(config: &TrainConfig) -> Result<RunFingerprint> {
    fingerprint_with(config, None)
}

/// [`fingerprint`] of a run whose reward is `custom` instead of the `[reward]` kind: the
/// kind's keys are replaced by `reward.scorer`, the scorer's description (its name, terms,
/// weights and normalisations; a term's own parameters are known to it alone).
pub fn fingerprint_with(config: &TrainConfig, custom: Option<&Scorer>) -> Result<RunFingerprint> {
    let mut fp = RunFingerprint::new("train");
    fp.settings("", config)?;
    if let Some(scorer) = custom {
        let spec_keys: Vec<String> = fp
            .fields
            .keys()
            .filter(|k| k.starts_with("reward.") && k.as_str() != "reward.samples_per_problem")
            .cloned()
            .collect();
        for key in spec_keys {
            fp.remove(&key);
        }
        fp.set("reward.scorer", scorer.describe());
    }
    for key in ["model", "samples", "out", "on_policy.problems"]
        .iter()
        .chain(&SPEED_SETTINGS)
    {
        fp.remove(key);
    }
    if config.mode == TrainMode::OffPolicy {
        let on_policy: Vec<String> = fp
            .fields
            .keys()
            .filter(|k| k.starts_with("on_policy."))
            .cloned()
            .collect();
        for key in on_policy {
            fp.remove(&key);
        }
    }
    fp.set_from("model", model_hash(&config.model)?, &config.model);
    let samples = pool::samples_file(&config.samples);
    let mut pool_value = format!("samples.jsonl {}", file_hash(&samples)?);
    let stats = pool::pool_dir(&config.samples).join(o1p_sampler::presample::STATS_FILE);
    if stats.is_file() {
        pool_value.push_str(&format!(", reference_stats.json {}", file_hash(&stats)?));
    }
    fp.set_from("pool", pool_value, &config.samples);
    if config.mode == TrainMode::OnPolicy
        && let Some(problems) = &config.on_policy.problems
    {
        fp.set_from("on_policy.problems", file_hash(problems)?, problems);
    }
    Ok(fp)
}

/// The autodiff device of `config`'s backend, with Burn's gradient checkpointing when
/// `gradient_checkpointing` is set. Everything of the run (model, batches, reference) lives
/// on it: tensors with different checkpointing strategies cannot be combined.
pub fn training_device(config: &TrainConfig) -> Result<Device> {
    let backend: Backend = config.backend.parse()?;
    let device = backend.autodiff_device()?;
    Ok(if config.gradient_checkpointing {
        device.gradient_checkpointing()
    } else {
        device
    })
}

/// Removes what a run wrote into `out` ([`RUN_OUTPUTS`], nothing else), for `--fresh`;
/// returns the paths removed.
pub fn remove_outputs(out: &Path) -> Result<Vec<PathBuf>> {
    Ok(o1p_data::fingerprint::remove_outputs(out, &RUN_OUTPUTS)?)
}

/// Runs `config` end to end and returns the report; the trained model is in `<out>/model`.
///
/// A rerun into an `out` whose recorded fingerprint differs is refused before anything is
/// written ([`o1p_data::DataError::FingerprintMismatch`] in [`TrainError::Data`]); so is an
/// `out` with run files but no fingerprint.
pub fn run(config: &TrainConfig, progress: bool) -> Result<TrainReport> {
    run_scored(config, &config.reward.scorer(), false, progress)
}

/// Runs `config` end to end with your own reward: `scorer` replaces the `[reward]` kind and
/// its normalisation (`reward.samples_per_problem` still applies), off- and on-policy. The
/// run directory records the scorer's description in its fingerprint and `run.toml`, and
/// `rewards.jsonl` holds every example's reward terms.
///
/// ```no_run
/// use o1p_reward::{LengthHarmonizing, Normalization, Scorer};
/// use o1p_trainer::{TrainConfig, run_with_reward};
///
/// let config = TrainConfig::preset("demo", "assets/demo-model".into(), "runs/presample".into(),
///     "runs/my-reward".into())?;
/// let scorer = Scorer::sum("lh_only", Normalization::None)
///     .with(1.0, LengthHarmonizing::paper(2.0), Normalization::None);
/// let report = run_with_reward(&config, &scorer, true)?;
/// println!("{} steps, final loss {}", report.steps, report.final_loss);
/// # Ok::<(), o1p_trainer::TrainError>(())
/// ```
pub fn run_with_reward(
    config: &TrainConfig,
    scorer: &Scorer,
    progress: bool,
) -> Result<TrainReport> {
    run_scored(config, scorer, true, progress)
}

fn run_scored(
    config: &TrainConfig,
    scorer: &Scorer,
    custom: bool,
    progress: bool,
) -> Result<TrainReport> {
    let has_records = RUN_OUTPUTS[1..]
        .iter()
        .any(|name| config.out.join(name).exists());
    fingerprint_with(config, custom.then_some(scorer))?
        .check_or_record(&config.out.join(FINGERPRINT_FILE), has_records)?;
    if config.method == Method::O1Pruner {
        tracing::info!(reward = %scorer.describe(), "rewarding samples");
    }
    // Only once the directory is known to be this run's: what a killed run left half-written.
    crate::train::remove_stale_temporaries(&config.out)?;
    let device = training_device(config)?;
    let precision: TrainPrecision = config.dtype.parse().map_err(|problem| TrainError::Config {
        path: config.out.join("run.toml"),
        problem,
    })?;
    if !device.supports_dtype(precision.compute.dtype()) {
        return Err(o1p_model::ModelError::Backend {
            backend: config.backend.clone(),
            problem: format!(
                "no {} tensors on this device, so dtype = \"{}\" cannot compute (use f32)",
                precision.compute, config.dtype
            ),
        }
        .into());
    }
    let dtype = precision.load_dtype();
    let mut opened = Pretrained::open(&config.model, &device, dtype)?;
    let tokenizer = opened.take_tokenizer()?;
    let (model, model_config) = (opened.model, opened.config);
    let pool = load_pool(&config.samples, &tokenizer)?;
    let settings = TrainSettings {
        optim: config.optim.clone(),
        seed: config.seed,
        checkpoint_every: config.checkpoint_every,
        reference: config.reference,
        dtype,
        progress,
        stop_after: None,
        lora: config.lora.clone(),
        mixed_precision: precision.mixed.then_some(precision.compute),
    };
    let (trained, report) = match config.mode {
        TrainMode::OffPolicy => {
            let (examples, objective) = training_set_with(config, &pool, scorer);
            if examples.is_empty() {
                return Err(TrainError::NoExamples(format!(
                    "{} holds no usable samples for {:?} (e.g. no correct samples for SFT/DPO)",
                    config.samples.display(),
                    config.method
                )));
            }
            write_run_config(config, custom.then_some(scorer))?;
            if matches!(objective, Objective::Policy(_)) {
                write_rewards(&config.out.join(REWARDS_FILE), &examples, scorer)?;
            }
            train(
                model,
                &model_config,
                examples,
                objective,
                &settings,
                &config.out,
            )?
        }
        TrainMode::OnPolicy => {
            let path = config
                .on_policy
                .problems
                .as_ref()
                .ok_or_else(|| TrainError::Config {
                    path: config.out.join("run.toml"),
                    problem: "on_policy.problems is required on-policy".into(),
                })?;
            let loaded = load_problems(path, &config.on_policy.format.mapping(), OnBadItem::Skip)?;
            let stats = pool::reference_stats(&config.samples, &pool)?;
            let prompts = pool::pool_prompts(&config.samples)?;
            let (problems, missing) = round_problems(&prompts, &stats, &loaded.problems);
            if !missing.is_empty() {
                tracing::warn!(
                    problems = missing.len(),
                    first = %missing[0],
                    file = %path.display(),
                    "pool problems without a gold answer in the problems file are left out of the rounds"
                );
            }
            if problems.is_empty() {
                return Err(TrainError::NoExamples(format!(
                    "none of the {} problems of {} has a gold answer in {} (problem ids must match; same file and --format as pre-sampling)",
                    prompts.len(),
                    config.samples.display(),
                    path.display()
                )));
            }
            write_run_config(config, custom.then_some(scorer))?;
            let presampled = pool::presample_settings(&config.samples)?;
            let spec = OnPolicySpec::from_config(config, presampled.as_ref());
            train_on_policy(
                model,
                &model_config,
                &tokenizer,
                &problems,
                &spec,
                scorer,
                &settings,
                &config.out,
            )?
        }
    };
    export(
        &trained,
        &model_config,
        &config.model,
        &config.out.join("model"),
    )?;
    if let Some(spec) = &config.lora {
        o1p_model::lora::save_adapter(
            &trained,
            spec,
            &config.model.display().to_string(),
            config.out.join(ADAPTER_DIR),
        )?;
    }
    o1p_data::write_json_atomic(config.out.join("train_report.json"), &report)?;
    Ok(report)
}

/// Creates the run directory and records the resolved config in it (`run.toml`); with a
/// `custom` scorer, a comment says that it, not `[reward]`'s kind, rewarded the samples.
fn write_run_config(config: &TrainConfig, custom: Option<&Scorer>) -> Result<()> {
    std::fs::create_dir_all(&config.out).map_err(crate::error::io(&config.out))?;
    let mut text = config.to_toml();
    if let Some(scorer) = custom {
        text = format!(
            "# Rewarded by a scorer passed through the API, not by [reward]'s kind and\n# normalization: {}\n{text}",
            scorer.describe()
        );
    }
    o1p_data::write_atomic(config.out.join("run.toml"), text.as_bytes())?;
    Ok(())
}

/// Writes every example's reward, advantage and terms (by term name) as JSON lines.
pub(crate) fn write_rewards(
    path: &Path,
    examples: &[data::TrainExample],
    scorer: &Scorer,
) -> Result<()> {
    let names = term_keys(scorer);
    let mut text = String::new();
    for e in examples {
        let components: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .cloned()
            .zip(e.components.iter().map(|&v| serde_json::Value::from(v)))
            .collect();
        let line = serde_json::json!({
            "problem_id": e.problem_id,
            "sample_index": e.sample_index,
            "reward": e.reward,
            "advantage": e.advantage,
            "components": components,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    o1p_data::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// The scorer's term names as JSON keys: a name used twice gets `_2`, `_3`, ... after it.
fn term_keys(scorer: &Scorer) -> Vec<String> {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    scorer
        .term_names()
        .into_iter()
        .map(|name| {
            let n = seen.entry(name).or_insert(0);
            *n += 1;
            if *n == 1 {
                name.to_string()
            } else {
                format!("{name}_{n}")
            }
        })
        .collect()
}

/// The examples and objective of the configured method, from the pool (the O1-Pruner
/// objective rewarded by the `[reward]` table).
pub fn training_set(
    config: &TrainConfig,
    pool: &[PoolSample],
) -> (Vec<data::TrainExample>, Objective) {
    training_set_with(config, pool, &config.reward.scorer())
}

/// [`training_set`] with the O1-Pruner objective's samples rewarded by `scorer`.
pub fn training_set_with(
    config: &TrainConfig,
    pool: &[PoolSample],
    scorer: &Scorer,
) -> (Vec<data::TrainExample>, Objective) {
    match config.method {
        Method::O1Pruner => (
            data::scored_examples(pool, scorer, config.reward.samples_per_problem, config.seed),
            Objective::Policy(config.loss),
        ),
        Method::Sft { per_problem } => (
            data::shortest_correct_examples(pool, per_problem),
            Objective::Sft,
        ),
        Method::Dpo { beta, per_problem } => (
            data::preference_pairs(pool, per_problem),
            Objective::Dpo { beta },
        ),
    }
}

/// Saves a trained model in Hugging Face layout and copies the tokenizer files of `source`.
pub fn export(
    model: &o1p_model::CausalLm,
    config: &o1p_model::ModelConfig,
    source: &Path,
    dir: &Path,
) -> Result<()> {
    use burn::module::Module;
    weights::save_pretrained(&model.valid(), config, dir)?;
    // A GGUF source keeps its tokenizer in its metadata: write it out as tokenizer files, so
    // the export is a complete Hugging Face directory like one trained from a folder.
    if o1p_model::is_gguf(source) {
        let tokenizer = o1p_model::Tokenizer::from_dir(source)?;
        o1p_model::gguf::save_tokenizer_files(&tokenizer, config, dir)?;
        return Ok(());
    }
    for name in TOKENIZER_FILES {
        let from = source.join(name);
        if from.is_file() {
            std::fs::copy(&from, dir.join(name)).map_err(crate::error::io(&from))?;
        }
    }
    Ok(())
}
