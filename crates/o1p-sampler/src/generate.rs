//! Sampling settings, batched generation over the [`Batcher`], and the token samplers.

use burn::tensor::{Bool, Int, Tensor, TensorData};
pub use o1p_data::FinishReason;
use o1p_model::{CausalLm, Tokenizer, token_logprobs};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

use crate::batcher::{BatchEvent, Batcher};

/// How to pick the next token.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Most tokens generated per sequence.
    pub max_new_tokens: usize,
    /// Softmax temperature; `0` means greedy (argmax).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f32,
    /// Keep only the `top_k` most likely tokens; `0` disables.
    pub top_k: usize,
    /// Token ids that end a sequence (kept as its last token).
    pub stop_ids: Vec<u32>,
    /// Strings that end a sequence once the decoded completion contains one (needs a tokenizer).
    pub stop_strings: Vec<String>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            stop_ids: Vec::new(),
            stop_strings: Vec::new(),
        }
    }
}

/// One generated continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The new tokens (the stop token included when there is one).
    pub token_ids: Vec<u32>,
    /// Log-probability of each new token under the model at temperature 1 (the reference
    /// log-probs O1-Pruner's ratio needs, recorded for free while sampling).
    pub logprobs: Vec<f32>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// Generates one completion per prompt, decoding them as one batch.
///
/// `seeds[i]` seeds prompt `i`'s own sampler; greedy decoding ignores it. `tokenizer` is needed
/// only for stop strings. `pad_id` may be any id in the vocabulary: padded positions are masked.
///
/// # Panics
/// If `seeds.len() != prompts.len()` or a prompt is empty (callers validate user input first).
pub fn generate(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    seeds: &[u64],
    params: &SamplingParams,
    tokenizer: Option<&Tokenizer>,
) -> Vec<Completion> {
    generate_with(model, prompts, seeds, params, tokenizer, &mut |_| {})
}

/// What [`generate_with`] reports after each forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// 0 for the prompt pass (prefill), then 1, 2, ... for each decoding step.
    pub index: usize,
    /// Rows in the batch during this pass.
    pub rows: usize,
}

/// [`generate`], calling `on_step` after each forward pass (prefill, then every decoding
/// step) with the number of rows it ran; benchmarks time decoding steps with it.
///
/// ```
/// use o1p_model::{Backend, CausalLm, ModelConfig};
/// use o1p_sampler::{SamplingParams, generate_with};
/// let model = CausalLm::random(&ModelConfig::qwen2(16, 8, 16, 1, 2, 1), 0, &Backend::Flex.device().unwrap());
/// let params = SamplingParams { max_new_tokens: 3, ..Default::default() };
/// let mut steps = Vec::new();
/// let out = generate_with(&model, &[vec![1, 2]], &[0], &params, None, &mut |s| steps.push(s.index));
/// assert_eq!(out[0].token_ids.len(), 3);
/// assert_eq!(steps, [0, 1, 2]);
/// ```
///
/// # Panics
/// As [`generate`].
pub fn generate_with(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    seeds: &[u64],
    params: &SamplingParams,
    tokenizer: Option<&Tokenizer>,
    on_step: &mut dyn FnMut(Step),
) -> Vec<Completion> {
    assert_eq!(prompts.len(), seeds.len(), "one seed per prompt");
    assert!(prompts.iter().all(|p| !p.is_empty()), "empty prompt");
    // Every prompt is admitted at the first step: one prefill pass, then rows leave as
    // they finish (the batcher's static case).
    let mut batcher = Batcher::new(model, tokenizer, prompts.len());
    let params = Arc::new(params.clone());
    for (i, (prompt, &seed)) in prompts.iter().zip(seeds).enumerate() {
        batcher.submit(i as u64, prompt.clone(), seed, Arc::clone(&params));
    }
    let mut done: Vec<Option<Completion>> = vec![None; prompts.len()];
    let mut events = Vec::new();
    let mut decoding_steps = 0;
    while !batcher.is_idle() {
        let report = batcher.step(&mut events);
        if report.prefill_rows > 0 {
            on_step(Step {
                index: 0,
                rows: report.prefill_rows,
            });
        }
        if report.decode_rows > 0 {
            decoding_steps += 1;
            on_step(Step {
                index: decoding_steps,
                rows: report.decode_rows,
            });
        }
        for event in events.drain(..) {
            if let BatchEvent::Finished { id, completion } = event {
                done[id as usize] = Some(completion);
            }
        }
    }
    done.into_iter()
        .map(|c| c.expect("every row finishes"))
        .collect()
}

/// `log p(prompt[i] | prompt[..i])` for `i >= 1` (the first token has no prediction).
///
/// # Panics
/// If the prompt is empty.
pub fn prompt_logprobs(model: &CausalLm, prompt: &[u32]) -> Vec<f32> {
    assert!(!prompt.is_empty(), "empty prompt");
    let device = model.model.embed_tokens.weight.device();
    let n = prompt.len();
    if n == 1 {
        return Vec::new();
    }
    let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
    let input =
        Tensor::<2, Int>::from_data(TensorData::new(ids[..n - 1].to_vec(), [1, n - 1]), &device);
    let targets =
        Tensor::<2, Int>::from_data(TensorData::new(ids[1..].to_vec(), [1, n - 1]), &device);
    let logits = model.forward(input, None, None, None);
    token_logprobs(logits, targets)
        .into_data()
        .convert_dtype(burn::tensor::DType::F32)
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// The key-padding mask of rows whose first `pads[i]` of `width` positions are padding
/// (`true`: not to be attended to).
pub(crate) fn mask_tensor(
    pads: &[usize],
    width: usize,
    device: &burn::tensor::Device,
) -> Tensor<2, Bool> {
    let flat: Vec<bool> = pads
        .iter()
        .flat_map(|&pad| (0..width).map(move |j| j < pad))
        .collect();
    Tensor::from_data(TensorData::new(flat, [pads.len(), width]), device)
}

pub(crate) fn hits_stop_string(
    generated: &[u32],
    params: &SamplingParams,
    tokenizer: Option<&Tokenizer>,
) -> bool {
    let Some(tok) = tokenizer else { return false };
    if params.stop_strings.is_empty() {
        return false;
    }
    // Only the tail can contain a string that was just completed; decoding the last few tokens
    // keeps this O(1) per step instead of O(length).
    let longest = params
        .stop_strings
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    let tail_start = generated.len().saturating_sub(longest + 4);
    match tok.decode(&generated[tail_start..], false) {
        Ok(text) => params
            .stop_strings
            .iter()
            .any(|s| text.contains(s.as_str())),
        Err(_) => false,
    }
}

/// Picks a token from one row of logits; returns it with its temperature-1 log-probability.
pub(crate) fn pick_token(
    logits: &[f32],
    params: &SamplingParams,
    rng: &mut ChaCha8Rng,
) -> (u32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_z = max as f64
        + logits
            .iter()
            .map(|&l| ((l - max) as f64).exp())
            .sum::<f64>()
            .ln();
    let logprob = |t: usize| (logits[t] as f64 - log_z) as f32;

    if params.temperature <= 0.0 {
        // Greedy; ties go to the lowest id, as torch.argmax does.
        let best = logits
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |acc, (i, &l)| if l > acc.1 { (i, l) } else { acc },
            )
            .0;
        return (best as u32, logprob(best));
    }

    let inv_t = 1.0 / params.temperature as f64;
    let mut candidates: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i, ((l - max) as f64 * inv_t).exp()))
        .collect();
    // Sorting by probability, ties by id, makes the draw reproducible across platforms.
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if params.top_k > 0 {
        candidates.truncate(params.top_k);
    }
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    if params.top_p < 1.0 {
        let mut cumulative = 0.0;
        let mut keep = 0;
        for c in &candidates {
            cumulative += c.1 / total;
            keep += 1;
            if cumulative >= params.top_p as f64 {
                break;
            }
        }
        candidates.truncate(keep.max(1));
    }
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let mut u = rng.random::<f64>() * total;
    for &(id, p) in &candidates {
        if u < p {
            return (id as u32, logprob(id));
        }
        u -= p;
    }
    let last = candidates.last().map_or(0, |c| c.0);
    (last as u32, logprob(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_takes_argmax_and_reports_its_logprob() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (t, lp) = pick_token(&[0.0, 2.0, 1.0], &SamplingParams::default(), &mut rng);
        assert_eq!(t, 1);
        let z = (1.0f64 + 2f64.exp() + 1f64.exp()).ln();
        assert!((lp as f64 - (2.0 - z)).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_nucleus() {
        let logits = [0.0, 5.0, 4.9, -3.0];
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 1,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            assert_eq!(pick_token(&logits, &params, &mut rng).0, 1);
        }
        let params = SamplingParams {
            temperature: 1.0,
            top_p: 0.9,
            ..Default::default()
        };
        for _ in 0..200 {
            let t = pick_token(&logits, &params, &mut rng).0;
            assert!(t == 1 || t == 2, "token {t} is outside the nucleus");
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = 0.25, 0.75
        let params = SamplingParams {
            temperature: 1.0,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let ones = (0..4000)
            .filter(|_| pick_token(&logits, &params, &mut rng).0 == 1)
            .count();
        let frac = ones as f64 / 4000.0;
        assert!((frac - 0.75).abs() < 0.03, "{frac}");
    }
}
