//! What a generation request may ask for: valid sampling settings, and a prompt that fits the
//! model's context and a memory bound. Every binary (generate, presample, evaluate, serve)
//! checks through here, so they agree on the ranges and the messages.
//!
//! # Why a memory bound
//! Prefill runs the whole prompt through attention at once. Its largest allocation is the
//! score tensor `[batch, heads, prompt, prompt]` in f32 (plus a `[prompt, prompt]` boolean
//! mask), which grows with the square of the prompt: a 20 KB prompt is about 20,500 tokens of
//! the demo model's character-level tokenizer, and its 4 heads need
//! `4 * 20,500^2 * 4 bytes = 6.7 GB` for the scores alone, which aborted the process. The KV
//! cache, by contrast, grows linearly and is bounded by the context check.

use o1p_model::CausalLm;

use crate::generate::SamplingParams;

/// Default bound on the prefill attention working set of one batch, in bytes (4 GiB).
///
/// R1-Distill-Qwen-7B (28 heads) in batches of 16 stays under it up to prompts of about 1,500
/// tokens; the demo model (4 heads) at batch 1 up to about 15,900 tokens (its context, 2,048,
/// refuses longer prompts first). Raise it with [`LengthLimits::with_memory_limit`].
pub const DEFAULT_PREFILL_MEMORY_LIMIT: u64 = 4 << 30;

/// A sampling setting out of its range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{key} = {value}: {allowed}")]
pub struct SamplingError {
    /// The setting, as [`SamplingParams`] names it (`temperature`, `top_p`,
    /// `max_new_tokens`, `stop`).
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// The allowed range, in words.
    pub allowed: &'static str,
}

impl SamplingError {
    /// The command-line flag of the setting (`--temperature`, `--top-p`, ...).
    pub fn flag(&self) -> &'static str {
        match self.key {
            "temperature" => "--temperature",
            "top_p" => "--top-p",
            "max_new_tokens" => "--max-new-tokens",
            _ => "--stop",
        }
    }
}

const TEMPERATURE_RANGE: &str = "must be a finite number >= 0 (0 is greedy)";
const TOP_P_RANGE: &str = "must be a number in (0, 1]";
const MAX_NEW_TOKENS_RANGE: &str = "must be at least 1";
const STOP_RANGE: &str = "a stop string must not be empty";

fn check_temperature(t: f32) -> Result<(), SamplingError> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(SamplingError {
            key: "temperature",
            value: t.to_string(),
            allowed: TEMPERATURE_RANGE,
        })
    }
}

fn check_top_p(p: f32) -> Result<(), SamplingError> {
    if p > 0.0 && p <= 1.0 {
        Ok(())
    } else {
        Err(SamplingError {
            key: "top_p",
            value: p.to_string(),
            allowed: TOP_P_RANGE,
        })
    }
}

fn check_max_new_tokens(n: usize) -> Result<(), SamplingError> {
    if n >= 1 {
        Ok(())
    } else {
        Err(SamplingError {
            key: "max_new_tokens",
            value: n.to_string(),
            allowed: MAX_NEW_TOKENS_RANGE,
        })
    }
}

fn check_stop(s: &str) -> Result<(), SamplingError> {
    if s.is_empty() {
        Err(SamplingError {
            key: "stop",
            value: "\"\"".into(),
            allowed: STOP_RANGE,
        })
    } else {
        Ok(())
    }
}

impl SamplingParams {
    /// Checks every setting: temperature finite and >= 0 (0 is greedy), top-p in (0, 1],
    /// at least one new token, no empty stop string (it would match after the first token).
    ///
    /// ```
    /// use o1p_sampler::SamplingParams;
    /// assert!(SamplingParams::default().validate().is_ok());
    /// let nan = SamplingParams { temperature: f32::NAN, ..Default::default() };
    /// assert_eq!(nan.validate().unwrap_err().key, "temperature");
    /// let empty_stop = SamplingParams { stop_strings: vec![String::new()], ..Default::default() };
    /// assert_eq!(empty_stop.validate().unwrap_err().flag(), "--stop");
    /// ```
    pub fn validate(&self) -> Result<(), SamplingError> {
        check_temperature(self.temperature)?;
        check_top_p(self.top_p)?;
        check_max_new_tokens(self.max_new_tokens)?;
        self.stop_strings.iter().try_for_each(|s| check_stop(s))
    }
}

/// Parsers for clap's `value_parser`, so a bad value is a usage error naming the flag.
pub mod parse {
    fn number<T: std::str::FromStr>(s: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        s.trim().parse::<T>().map_err(|e| e.to_string())
    }

    /// `--temperature`: a finite number >= 0 (0 is greedy).
    pub fn temperature(s: &str) -> Result<f32, String> {
        let t = number(s)?;
        super::check_temperature(t).map_err(|e| e.allowed.to_string())?;
        Ok(t)
    }

    /// `--top-p`: a number in (0, 1].
    pub fn top_p(s: &str) -> Result<f32, String> {
        let p = number(s)?;
        super::check_top_p(p).map_err(|e| e.allowed.to_string())?;
        Ok(p)
    }

    /// `--max-new-tokens`: at least 1.
    pub fn max_new_tokens(s: &str) -> Result<usize, String> {
        let n = number(s)?;
        super::check_max_new_tokens(n).map_err(|e| e.allowed.to_string())?;
        Ok(n)
    }

    /// `--stop`: a non-empty string.
    pub fn stop(s: &str) -> Result<String, String> {
        super::check_stop(s).map_err(|e| e.allowed.to_string())?;
        Ok(s.to_string())
    }
}

/// Why a prompt cannot be generated from: it does not fit the context, or its prefill would
/// need more memory than the bound.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LengthError {
    /// Prompt plus new tokens exceed the model's context.
    #[error(
        "the prompt ({prompt} tokens) plus max_new_tokens ({max_new_tokens}) exceeds the model's context of {context} tokens (max_position_embeddings)"
    )]
    Context {
        /// Prompt tokens.
        prompt: usize,
        /// Tokens asked for.
        max_new_tokens: usize,
        /// The model's `max_position_embeddings`.
        context: usize,
    },
    /// The prefill attention of the batch would need more memory than the bound.
    #[error(
        "the prompt ({prompt} tokens) in a batch of {batch} needs about {needed_mib} MiB for prefill attention, above the limit of {limit_mib} MiB; shorten the prompt or lower the batch size"
    )]
    Memory {
        /// Prompt tokens.
        prompt: usize,
        /// Sequences prefilled together.
        batch: usize,
        /// Estimated bytes, in MiB.
        needed_mib: u64,
        /// The bound, in MiB.
        limit_mib: u64,
    },
}

/// The context and memory bounds of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthLimits {
    /// Longest prompt + completion (`max_position_embeddings`); `None`: unknown, unchecked.
    pub context: Option<usize>,
    /// Query heads of the model's attention (the score tensor has one plane per head).
    pub heads: usize,
    /// Bound on [`prefill_bytes`] of one batch.
    pub memory_limit: u64,
}

/// Estimated bytes of the prefill attention of `batch` prompts `prompt` tokens long over a
/// model with `heads` query heads: the f32 scores `[batch, heads, prompt, prompt]` and the
/// boolean mask `[batch, prompt, prompt]` (the largest allocations of the prefill, and the
/// only ones that grow with the square of the prompt).
///
/// ```
/// // The 20 KB prompt of the issue on the demo model (4 heads): 6.7 GB of scores + 0.4 GB of mask.
/// assert_eq!(o1p_sampler::prefill_bytes(4, 1, 20_500) / 100_000_000, 71);
/// ```
pub fn prefill_bytes(heads: usize, batch: usize, prompt: usize) -> u64 {
    let square = (prompt as u64).saturating_mul(prompt as u64);
    square
        .saturating_mul(batch as u64)
        .saturating_mul(4 * heads as u64 + 1)
}

impl LengthLimits {
    /// The limits of `model`, with its context (`max_position_embeddings`) when known.
    pub fn of_model(model: &CausalLm, context: Option<usize>) -> Self {
        let heads = model
            .model
            .layers
            .first()
            .map_or(1, |l| l.self_attn.num_heads);
        LengthLimits {
            context,
            heads,
            memory_limit: DEFAULT_PREFILL_MEMORY_LIMIT,
        }
    }

    /// The same limits with another memory bound (bytes).
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Checks a prompt of `prompt` tokens, generated `max_new_tokens` further, prefilled in a
    /// batch of `batch` rows of its length.
    ///
    /// ```
    /// use o1p_sampler::{LengthError, LengthLimits};
    /// let limits = LengthLimits { context: Some(2048), heads: 4, memory_limit: 4 << 30 };
    /// assert!(limits.check(1000, 1048, 16).is_ok());
    /// assert!(matches!(limits.check(1000, 1049, 1), Err(LengthError::Context { .. })));
    /// let unbounded = LengthLimits { context: None, ..limits };
    /// assert!(matches!(unbounded.check(20_500, 1, 1), Err(LengthError::Memory { .. })));
    /// ```
    pub fn check(
        &self,
        prompt: usize,
        max_new_tokens: usize,
        batch: usize,
    ) -> Result<(), LengthError> {
        if let Some(context) = self.context
            && prompt.saturating_add(max_new_tokens) > context
        {
            return Err(LengthError::Context {
                prompt,
                max_new_tokens,
                context,
            });
        }
        let needed = prefill_bytes(self.heads, batch.max(1), prompt);
        if needed > self.memory_limit {
            return Err(LengthError::Memory {
                prompt,
                batch: batch.max(1),
                needed_mib: needed.div_ceil(1 << 20),
                limit_mib: self.memory_limit >> 20,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_sampling_setting_is_named_with_its_range() {
        let ok = SamplingParams::default();
        let cases: [(SamplingParams, &str, &str); 8] = [
            (
                SamplingParams {
                    temperature: f32::NAN,
                    ..ok.clone()
                },
                "temperature",
                "--temperature",
            ),
            (
                SamplingParams {
                    temperature: -0.5,
                    ..ok.clone()
                },
                "temperature",
                "--temperature",
            ),
            (
                SamplingParams {
                    temperature: f32::INFINITY,
                    ..ok.clone()
                },
                "temperature",
                "--temperature",
            ),
            (
                SamplingParams {
                    top_p: 0.0,
                    ..ok.clone()
                },
                "top_p",
                "--top-p",
            ),
            (
                SamplingParams {
                    top_p: 1.5,
                    ..ok.clone()
                },
                "top_p",
                "--top-p",
            ),
            (
                SamplingParams {
                    top_p: f32::NAN,
                    ..ok.clone()
                },
                "top_p",
                "--top-p",
            ),
            (
                SamplingParams {
                    max_new_tokens: 0,
                    ..ok.clone()
                },
                "max_new_tokens",
                "--max-new-tokens",
            ),
            (
                SamplingParams {
                    stop_strings: vec!["x".into(), String::new()],
                    ..ok.clone()
                },
                "stop",
                "--stop",
            ),
        ];
        for (params, key, flag) in cases {
            let err = params.validate().unwrap_err();
            assert_eq!((err.key, err.flag()), (key, flag), "{params:?}");
            assert!(err.to_string().contains(key), "{err}");
        }
        let greedy = SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            ..ok
        };
        assert!(greedy.validate().is_ok(), "temperature 0 stays greedy");
        assert_eq!(parse::temperature("0"), Ok(0.0));
        assert!(parse::temperature("nan").unwrap_err().contains(">= 0"));
        assert!(parse::top_p("1.5").unwrap_err().contains("(0, 1]"));
        assert!(parse::max_new_tokens("0").is_err());
        assert!(parse::stop("").is_err());
    }

    #[test]
    fn the_memory_bound_scales_with_batch_and_the_square_of_the_prompt() {
        let limits = LengthLimits {
            context: None,
            heads: 28,
            memory_limit: DEFAULT_PREFILL_MEMORY_LIMIT,
        };
        assert!(limits.check(1500, 8192, 16).is_ok());
        let err = limits.check(1600, 8192, 16).unwrap_err();
        assert!(err.to_string().contains("4096 MiB"), "{err}");
        assert!(limits.check(1600, 8192, 8).is_ok());
        assert_eq!(prefill_bytes(4, 1, usize::MAX), u64::MAX, "no overflow");
    }
}
