//! Reading the pre-sampled pool (o1p-data's sample store) into tokenized [`PoolSample`]s.

use std::path::Path;

use o1p_data::{FinishReason, SampleRecord, SampleStore};
use o1p_model::Tokenizer;

use crate::data::PoolSample;
use crate::error::Result;

/// Reads `samples.jsonl` (or `<dir>/samples.jsonl`) and tokenizes prompts (and responses that
/// were stored without token ids) with the model's tokenizer.
pub fn load_pool(samples: &Path, tokenizer: &Tokenizer) -> Result<Vec<PoolSample>> {
    let path = if samples.is_dir() {
        samples.join("samples.jsonl")
    } else {
        samples.to_path_buf()
    };
    let records: Vec<SampleRecord> = SampleStore::read(&path)?;
    let add_bos = tokenizer.special().add_bos;
    let mut prompt_cache: std::collections::HashMap<String, Vec<u32>> = Default::default();
    records
        .into_iter()
        .map(|r| {
            let prompt_ids = match prompt_cache.get(&r.prompt) {
                Some(ids) => ids.clone(),
                None => {
                    let ids = tokenizer.encode(&r.prompt, add_bos)?;
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
