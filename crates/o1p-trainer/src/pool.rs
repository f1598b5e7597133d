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
/// were stored without token ids) with the model's tokenizer. Each sample's gold answer and
/// difficulty come from `reference_stats.json` beside it when it records them.
pub fn load_pool(samples: &Path, tokenizer: &Tokenizer) -> Result<Vec<PoolSample>> {
    let records: Vec<SampleRecord> = SampleStore::read(samples_file(samples))?;
    let mut pool = to_pool_samples(records, tokenizer)?;
    let references = read_references(samples)?.unwrap_or_default();
    let facts: BTreeMap<&str, &ProblemReference> = references
        .iter()
        .map(|p| (p.problem_id.as_str(), p))
        .collect();
    for s in &mut pool {
        if let Some(p) = facts.get(s.problem_id.as_str()) {
            s.gold = p.gold.clone().unwrap_or_default();
            s.difficulty = p.difficulty;
        }
    }
    Ok(pool)
}

/// Sample records as training samples: each distinct prompt encoded once (with the sampler's
/// BOS rule), responses from their stored token ids or, without them, from their text.
///
/// Stored ids are what the sampler generated, the EOS token included when the sample ended on
/// one, so the policy is trained to stop where it stopped. A response text has its EOS
/// stripped: a record without ids that finished on EOS gets the tokenizer's EOS id appended
/// (one that stopped on a stop string or at the length cap gets nothing, since no token
/// ended it). Re-tokenized records are counted and reported once: their ids may differ from
/// what was generated.
pub(crate) fn to_pool_samples(
    records: Vec<SampleRecord>,
    tokenizer: &Tokenizer,
) -> Result<Vec<PoolSample>> {
    let total = records.len();
    let mut retokenized = 0usize;
    let eos = eos_id(tokenizer);
    let mut prompt_cache: std::collections::HashMap<String, Vec<u32>> = Default::default();
    let pool = records
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
                None => {
                    retokenized += 1;
                    let mut ids = tokenizer.encode(&r.response, false)?;
                    if r.finish_reason == FinishReason::Eos
                        && let Some(eos) = eos
                    {
                        ids.push(eos);
                    }
                    ids
                }
            };
            Ok(PoolSample {
                problem_id: r.problem_id,
                sample_index: r.sample_index,
                prompt_ids,
                response_ids,
                response: r.response,
                gold: String::new(),
                difficulty: None,
                correct: r.correct,
                truncated: r.finish_reason == FinishReason::Length,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if retokenized > 0 {
        tracing::warn!(
            "{retokenized} of {total} records had no token ids and were re-tokenized from their text{}; presample keeps the generated ids by default",
            if eos.is_some() {
                " (EOS appended where the sample ended on it)"
            } else {
                " (the tokenizer names no EOS token: samples that ended on EOS are trained without it)"
            }
        );
    }
    Ok(pool)
}

/// The id a sample that finished on EOS ended with: the tokenizer's eos token, else the first
/// id generation stops on.
fn eos_id(tokenizer: &Tokenizer) -> Option<u32> {
    let special = tokenizer.special();
    special
        .eos
        .as_ref()
        .map(|(id, _)| *id)
        .or_else(|| special.stop_ids.first().copied())
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
    Ok(match read_references(samples)? {
        Some(list) => list.into_iter().map(|p| (p.problem_id, p.stats)).collect(),
        None => data::reference_stats(pool),
    })
}

/// Pre-sampling's `reference_stats.json` beside the samples, if there is one.
fn read_references(samples: &Path) -> Result<Option<Vec<ProblemReference>>> {
    let path = pool_dir(samples).join(STATS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| TrainError::Config {
            path: path.clone(),
            problem: format!("not a reference statistics file: {e}"),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Method, TrainConfig};

    fn demo_tokenizer() -> Tokenizer {
        Tokenizer::from_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-model"))
            .unwrap()
    }

    fn record(index: usize, response: &str, finish: FinishReason, correct: bool) -> SampleRecord {
        SampleRecord {
            problem_id: "p".into(),
            sample_index: index,
            prompt: "Q: 2+3=?\n".into(),
            response: response.into(),
            token_ids: None,
            num_tokens: 0,
            finish_reason: finish,
            extracted: None,
            correct,
        }
    }

    #[test]
    fn records_without_ids_that_ended_on_eos_train_their_eos() {
        let tok = demo_tokenizer();
        let eos = tok.special().eos.as_ref().unwrap().0;
        let text = "2+3=5. Answer: 5";
        let mut with_ids = record(2, text, FinishReason::Eos, true);
        let generated = [tok.encode(text, false).unwrap(), vec![eos]].concat();
        with_ids.token_ids = Some(generated.clone());
        let records = vec![
            record(0, text, FinishReason::Eos, true),
            record(1, "2+3=", FinishReason::Length, false),
            with_ids,
            record(3, "2+3=6 Answer: 6", FinishReason::Stop, false),
        ];
        let pool = to_pool_samples(records, &tok).unwrap();
        assert_eq!(pool[0].response_ids, generated, "re-tokenized + EOS");
        assert_ne!(pool[1].response_ids.last(), Some(&eos), "cut at the cap");
        assert_eq!(pool[2].response_ids, generated, "stored ids as generated");
        assert_ne!(pool[3].response_ids.last(), Some(&eos), "a stop string");

        // Both O1-Pruner and SFT then train the EOS as the last response target.
        let preset = |name| TrainConfig::preset(name, "m".into(), "s".into(), "o".into()).unwrap();
        for config in [preset("demo"), preset("marco-o1-7b-sft")] {
            let (examples, _) = crate::run::training_set(&config, &pool);
            let first = examples
                .iter()
                .find(|e| e.response_ids == generated)
                .unwrap_or_else(|| panic!("{:?}: no example of sample 0", config.method));
            let t = crate::batch::tensors(
                std::slice::from_ref(first),
                &[0],
                None,
                &burn::tensor::Device::flex(),
            );
            let targets = t
                .targets
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap();
            let mask = t.mask.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(targets.last(), Some(&i64::from(eos)), "{:?}", config.method);
            assert_eq!(mask.last(), Some(&1.0), "{:?}", config.method);
            assert!(matches!(
                config.method,
                Method::O1Pruner | Method::Sft { .. }
            ));
        }
    }
}
