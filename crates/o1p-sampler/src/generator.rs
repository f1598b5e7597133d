//! The [`Generator`] trait ("prompts in, completions out") and its native Burn implementation.
//!
//! Pre-sampling only needs text and token counts back, so it talks to this trait; whether the
//! tokens come from [`generate`] in this process ([`NativeGenerator`]) or from a vLLM /
//! SGLang / llama.cpp server ([`crate::HttpGenerator`]) is the user's choice.

use std::path::Path;
use std::sync::Arc;

use o1p_model::{Backend, CausalLm, Precision, Pretrained, Tokenizer};

use crate::batcher::{BatchEvent, Batcher};
use crate::error::GenerateError;
use crate::generate::{Completion, FinishReason, SamplingParams};
use crate::limits::LengthLimits;

/// A prompt: text (tokenized by whoever generates) or token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Text, exactly as the model should see it (chat template already applied).
    Text(String),
    /// Token ids of the model's tokenizer.
    Ids(Vec<u32>),
}

/// One prompt and the seeds of its samples: `seeds.len()` completions are wanted, sample `j`
/// drawn with `seeds[j]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The prompt.
    pub prompt: Prompt,
    /// One seed per wanted completion.
    pub seeds: Vec<u64>,
}

/// One completion as a [`Generator`] returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// The completion's text: special tokens, the EOS token and a matched stop string (and
    /// anything after it) excluded, as OpenAI-compatible servers return it.
    pub text: String,
    /// Generated token ids, when the generator knows them (the stop token included).
    pub token_ids: Option<Vec<u32>>,
    /// Number of generated tokens, the stop token included: the L(y) of the method.
    pub num_tokens: usize,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Log-probability of each generated token, when the generator knows them.
    pub logprobs: Option<Vec<f32>>,
}

/// Prompts in, completions out.
///
/// ```
/// use o1p_model::{Backend, CausalLm, ModelConfig};
/// use o1p_sampler::{Generator, NativeGenerator, Prompt, Request, SamplingParams};
/// let model = CausalLm::random(&ModelConfig::qwen2(16, 8, 16, 1, 2, 1), 0, &Backend::Flex.device().unwrap());
/// let generator = NativeGenerator::new(model, None, 4);
/// let params = SamplingParams { max_new_tokens: 5, temperature: 0.7, ..Default::default() };
/// let requests = [Request { prompt: Prompt::Ids(vec![1, 2, 3]), seeds: vec![1, 2, 3] }];
/// let out = generator.generate(&requests, &params).unwrap();
/// assert_eq!(out[0].len(), 3);
/// assert!(out[0].iter().all(|g| g.num_tokens == 5));
/// assert!(generator.check_prompt(&Prompt::Ids(vec![])).is_err());
/// ```
pub trait Generator {
    /// Completions for each request, in request order, `request.seeds.len()` per request
    /// in seed order.
    fn generate(
        &self,
        requests: &[Request],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError>;

    /// Checks a prompt before it is used, so a caller can skip a bad one and go on instead
    /// of failing a whole batch. `Err` says what is wrong.
    fn check_prompt(&self, _prompt: &Prompt) -> Result<(), String> {
        Ok(())
    }

    /// [`Generator::check_prompt`], plus whether the prompt fits the generator's limits
    /// (context, memory) when `params.max_new_tokens` are generated in calls of `rows`
    /// samples. `Err` says what is wrong and names the limit.
    fn check_request(
        &self,
        prompt: &Prompt,
        _params: &SamplingParams,
        _rows: usize,
    ) -> Result<(), String> {
        self.check_prompt(prompt)
    }

    /// Whether a sample's result is independent of which other samples share its call.
    /// When false, a resumed pre-sampling run recomputes whole canonical batches so that
    /// every sample sees exactly the same arithmetic as in an uninterrupted run.
    fn batch_independent(&self) -> bool {
        false
    }

    /// A short description for logs (model directory, server URL).
    fn describe(&self) -> String;

    /// A one-line throughput report beyond the caller's totals, for progress displays (a
    /// pool of servers: samples/s and tokens/s per server); `None` (the default) when there
    /// is nothing more to say.
    fn progress(&self) -> Option<String> {
        None
    }
}

/// The in-process generator: a [`Batcher`] on a Burn model, `batch_size` sequences at a time.
#[derive(Debug)]
pub struct NativeGenerator {
    model: CausalLm,
    tokenizer: Option<Tokenizer>,
    batch_size: usize,
    stop_ids: Vec<u32>,
    limits: LengthLimits,
    origin: String,
}

impl NativeGenerator {
    /// Wraps a model (and its tokenizer, needed for text prompts and text output). Stop ids
    /// default to the tokenizer's; `batch_size` 0 is taken as 1.
    pub fn new(model: CausalLm, tokenizer: Option<Tokenizer>, batch_size: usize) -> Self {
        let stop_ids = tokenizer
            .as_ref()
            .map(|t| t.special().stop_ids.clone())
            .unwrap_or_default();
        let limits = LengthLimits::of_model(&model, None);
        NativeGenerator {
            model,
            tokenizer,
            batch_size: batch_size.max(1),
            stop_ids,
            limits,
            origin: "<memory>".into(),
        }
    }

    /// Loads a Hugging Face model directory: weights (in `precision`) and config.json, and
    /// tokenizer.json when present. Stop ids are the tokenizer's, else config.json's eos ids.
    ///
    /// `dir` may also be a llama.cpp `.gguf` file: its weights are dequantised and its
    /// tokenizer and chat template come from its metadata, which always carries them.
    pub fn from_dir(
        dir: impl AsRef<Path>,
        backend: Backend,
        precision: Precision,
        batch_size: usize,
    ) -> Result<Self, GenerateError> {
        let dir = dir.as_ref();
        let device = backend.device()?;
        let opened = Pretrained::open(dir, &device, precision.dtype())?;
        let mut generator = NativeGenerator::new(opened.model, opened.tokenizer, batch_size);
        generator.limits.context = Some(opened.config.max_position_embeddings);
        generator.stop_ids = opened.stop_ids;
        generator.origin = dir.display().to_string();
        Ok(generator)
    }

    /// Replaces the ids every generation stops on (added to [`SamplingParams::stop_ids`]).
    pub fn with_stop_ids(mut self, stop_ids: Vec<u32>) -> Self {
        self.stop_ids = stop_ids;
        self
    }

    /// Replaces the context and memory limits prompts are checked against (by default the
    /// model's heads, the default memory bound, and the context of config.json when loaded
    /// with [`NativeGenerator::from_dir`]).
    pub fn with_limits(mut self, limits: LengthLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits prompts are checked against.
    pub fn limits(&self) -> &LengthLimits {
        &self.limits
    }

    /// Checks prompt ids against the limits for a call of `rows` samples.
    fn check_length(
        &self,
        ids: &[u32],
        params: &SamplingParams,
        rows: usize,
    ) -> Result<(), String> {
        self.limits
            .check(ids.len(), params.max_new_tokens, rows.min(self.batch_size))
            .map_err(|e| e.to_string())
    }

    /// The ids every generation stops on.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The model.
    pub fn model(&self) -> &CausalLm {
        &self.model
    }

    /// The tokenizer, if one was given.
    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        self.tokenizer.as_ref()
    }

    /// Sequences decoded together.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The token ids of a prompt, validated against the model.
    pub fn encode(&self, prompt: &Prompt) -> Result<Vec<u32>, String> {
        let ids = match prompt {
            Prompt::Ids(ids) => ids.clone(),
            Prompt::Text(text) => {
                let tok = self
                    .tokenizer
                    .as_ref()
                    .ok_or("a text prompt needs a tokenizer (tokenizer.json)")?;
                tok.encode_prompt(text).map_err(|e| e.to_string())?
            }
        };
        if ids.is_empty() {
            return Err("the prompt is empty".into());
        }
        let vocab = self.model.vocab_size();
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(format!(
                "token id {bad} is outside the vocabulary (size {vocab})"
            ));
        }
        Ok(ids)
    }

    /// A [`Batcher`] over this model, `batch_size` rows at most: for callers that feed
    /// sequences as they come (the `serve` example) or stream tokens. Submit with
    /// [`NativeGenerator::with_stop_ids_of_model`]'s params and turn each finished sequence
    /// into text with [`NativeGenerator::generated`].
    pub fn batcher(&self) -> Batcher<'_> {
        Batcher::new(&self.model, self.tokenizer.as_ref(), self.batch_size)
    }

    /// `params` plus the ids this generator always stops on ([`NativeGenerator::stop_ids`]).
    pub fn with_stop_ids_of_model(&self, params: &SamplingParams) -> SamplingParams {
        let mut params = params.clone();
        for &id in &self.stop_ids {
            if !params.stop_ids.contains(&id) {
                params.stop_ids.push(id);
            }
        }
        params
    }

    /// A finished sequence as [`Generator::generate`] returns it: its text (see
    /// [`Generated::text`]), token ids, count and log-probabilities.
    pub fn generated(
        &self,
        completion: Completion,
        params: &SamplingParams,
    ) -> Result<Generated, GenerateError> {
        let text = self.text_of(&completion.token_ids, completion.finish_reason, params)?;
        Ok(Generated {
            text,
            num_tokens: completion.token_ids.len(),
            token_ids: Some(completion.token_ids),
            finish_reason: completion.finish_reason,
            logprobs: Some(completion.logprobs),
        })
    }

    /// Text of a completion: EOS token dropped, special tokens skipped, cut at the first stop
    /// string.
    fn text_of(
        &self,
        ids: &[u32],
        finish: FinishReason,
        params: &SamplingParams,
    ) -> Result<String, GenerateError> {
        let Some(tok) = &self.tokenizer else {
            return Ok(String::new());
        };
        let body = match finish {
            FinishReason::Eos => &ids[..ids.len().saturating_sub(1)],
            _ => ids,
        };
        let mut text = tok.decode(body, true)?;
        if finish == FinishReason::Stop {
            cut_at_stop(&mut text, &params.stop_strings);
        }
        Ok(text)
    }
}

/// Truncates `text` at the earliest occurrence of any stop string.
pub(crate) fn cut_at_stop(text: &mut String, stops: &[String]) {
    if let Some(at) = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
    {
        text.truncate(at);
    }
}

impl Generator for NativeGenerator {
    fn generate(
        &self,
        requests: &[Request],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError> {
        params
            .validate()
            .map_err(|e| GenerateError::InvalidParams(e.to_string()))?;
        let total_rows = requests.iter().map(|r| r.seeds.len()).sum();
        let mut encoded = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let ids = self
                .encode(&request.prompt)
                .and_then(|ids| self.check_length(&ids, params, total_rows).map(|()| ids))
                .map_err(|problem| GenerateError::BadPrompt { index, problem })?;
            encoded.push(ids);
        }
        let params = self.with_stop_ids_of_model(params);
        // One (prompt, seed) row per sample, `batch_size` decoding at a time: a row that
        // finishes hands its place to the next one at the next step (continuous batching), so
        // samples of very different lengths keep the batch full. The order rows join in
        // depends only on the inputs, so a call's results do too.
        let rows: Vec<(usize, u64)> = requests
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.seeds.iter().map(move |&s| (i, s)))
            .collect();
        let mut batcher = self.batcher();
        let params = Arc::new(params);
        for (row, &(i, seed)) in rows.iter().enumerate() {
            batcher.submit(row as u64, encoded[i].clone(), seed, Arc::clone(&params));
        }
        let mut completions: Vec<Option<Completion>> = vec![None; rows.len()];
        let mut events = Vec::new();
        while !batcher.is_idle() {
            batcher.step(&mut events);
            for event in events.drain(..) {
                if let BatchEvent::Finished { id, completion } = event {
                    completions[id as usize] = Some(completion);
                }
            }
        }
        let mut out: Vec<Vec<Generated>> = requests
            .iter()
            .map(|r| Vec::with_capacity(r.seeds.len()))
            .collect();
        for (&(i, _), c) in rows.iter().zip(completions) {
            out[i].push(self.generated(c.expect("every row finishes"), &params)?);
        }
        Ok(out)
    }

    fn check_prompt(&self, prompt: &Prompt) -> Result<(), String> {
        self.encode(prompt).map(|_| ())
    }

    fn check_request(
        &self,
        prompt: &Prompt,
        params: &SamplingParams,
        rows: usize,
    ) -> Result<(), String> {
        let ids = self.encode(prompt)?;
        self.check_length(&ids, params, rows)
    }

    fn describe(&self) -> String {
        format!("native model {}", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_at_stop_takes_the_earliest_match() {
        let mut t = String::from("a END b STOP c");
        cut_at_stop(&mut t, &["STOP".into(), "END".into()]);
        assert_eq!(t, "a ");
        let mut t = String::from("abc");
        cut_at_stop(&mut t, &["".into()]);
        assert_eq!(t, "abc");
    }
}
