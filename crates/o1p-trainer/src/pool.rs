//! Reading the pre-sampled pool (o1p-data's sample store) into tokenized [`PoolSample`]s, and
//! the files pre-sampling writes beside it: the reference statistics and the settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use o1p_data::{FinishReason, SampleRecord, SampleStore};
use o1p_model::Tokenizer;
use o1p_reward::ReferenceStats;
use o1p_sampler::presample::{ProblemReference, SETTINGS_FILE, STATS_FILE, Settings};

use crate::data::{self, PoolSample};
use crate::error::{Result, TrainError, io};

/// The sample store of `samples` (a `samples.jsonl` file, or the directory holding one).
pub fn samples_file(samples: &Path) -> PathBuf {
    if samples.is_dir() {
        samples.join(o1p_sampler::presample::SAMPLES_FILE)
    } else {
        samples.to_path_buf()
    }
}

/// The directory pre-sampling wrote `samples` into (where its other files are).
pub(crate) fn pool_dir(samples: &Path) -> PathBuf {
    if samples.is_dir() {
        samples.to_path_buf()
    } else {
        samples
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// Reads `samples.jsonl` (or `<dir>/samples.jsonl`) and tokenizes prompts (and responses that
/// were stored without token ids) with the model's tokenizer.
pub fn load_pool(samples: &Path, tokenizer: &Tokenizer) -> Result<Vec<PoolSample>> {
    let records: Vec<SampleRecord> = SampleStore::read(samples_file(samples))?;
    to_pool_samples(records, tokenizer)
}

/// Sample records as training samples: each distinct prompt encoded once (with the sampler's
/// BOS rule), responses from their stored token ids or, without them, from their text.
pub(crate) fn to_pool_samples(
    records: Vec<SampleRecord>,
    tokenizer: &Tokenizer,
) -> Result<Vec<PoolSample>> {
    let mut prompt_cache: std::collections::HashMap<String, Vec<u32>> = Default::default();
    records
        .into_iter()
        .map(|r| {
            let prompt_ids = match prompt_cache.get(&r.prompt) {
                Some(ids) => ids.clone(),
                None => {
                    let ids = tokenizer.encode_prompt(&r.prompt)?;
                    prompt_cache.insert(r.prompt.clone(), ids.clone());
                    ids
                }
            };
            let response_ids = match r.token_ids {
                Some(ids) => ids,
                None => tokenizer.encode(&r.response, false)?,
            };
            Ok(PoolSample {
                problem_id: r.problem_id,
                sample_index: r.sample_index,
                prompt_ids,
                response_ids,
                correct: r.correct,
                truncated: r.finish_reason == FinishReason::Length,
            })
        })
        .collect()
}

/// The prompt text of every problem of the pool (the first record's; pre-sampling renders one
/// prompt per problem).
pub fn pool_prompts(samples: &Path) -> Result<BTreeMap<String, String>> {
    let records: Vec<SampleRecord> = SampleStore::read(samples_file(samples))?;
    let mut prompts = BTreeMap::new();
    for r in records {
        prompts.entry(r.problem_id).or_insert(r.prompt);
    }
    Ok(prompts)
}

/// The per-problem reference statistics of the pool: pre-sampling's `reference_stats.json`
/// when it sits beside the samples (lengths there are the sampler's token counts), else
/// computed from the pool itself over all K samples of each problem.
pub fn reference_stats(
    samples: &Path,
    pool: &[PoolSample],
) -> Result<BTreeMap<String, ReferenceStats>> {
    let path = pool_dir(samples).join(STATS_FILE);
    if !path.is_file() {
        return Ok(data::reference_stats(pool));
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let list: Vec<ProblemReference> =
        serde_json::from_slice(&bytes).map_err(|e| TrainError::Config {
            path: path.clone(),
            problem: format!("not a reference statistics file: {e}"),
        })?;
    Ok(list.into_iter().map(|p| (p.problem_id, p.stats)).collect())
}

/// The settings pre-sampling recorded beside the samples (`presample.json`), if any.
pub fn presample_settings(samples: &Path) -> Result<Option<Settings>> {
    let path = pool_dir(samples).join(SETTINGS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| TrainError::Config {
            path,
            problem: format!("not a pre-sampling settings file: {e}"),
        })
}
