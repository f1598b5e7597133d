//! Sample records: one generated solution of one problem, with its length and grade.

use serde::{Deserialize, Serialize};

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token.
    Eos,
    /// A stop string matched.
    Stop,
    /// The max-new-tokens cap was hit (the solution is truncated).
    Length,
}

/// One pre-sampled (or evaluated) solution. Stored one per line by [`crate::SampleStore`].
///
/// ```
/// use o1p_data::{FinishReason, SampleRecord};
/// let r = SampleRecord {
///     problem_id: "gsm8k-0".into(), sample_index: 3, prompt: "Q".into(),
///     response: "\\boxed{4}".into(), token_ids: None, num_tokens: 5,
///     finish_reason: FinishReason::Eos, extracted: Some("4".into()), correct: true,
/// };
/// let line = serde_json::to_string(&r).unwrap();
/// assert!(line.contains(r#""finish_reason":"eos""#));
/// assert!(!line.contains("token_ids"));
/// assert_eq!(serde_json::from_str::<SampleRecord>(&line).unwrap(), r);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The [`crate::Problem::id`] this solves.
    pub problem_id: String,
    /// Which of the K samples of the problem (0-based); with the problem id, the record's key.
    pub sample_index: usize,
    /// The prompt text exactly as given to the model.
    pub prompt: String,
    /// The generated text (stop string and EOS excluded).
    pub response: String,
    /// The generated token ids, when kept (omitted from the JSON when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    /// Response length in the model's tokens: the L(y) of the method.
    pub num_tokens: usize,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// The extracted final answer, if one was found.
    pub extracted: Option<String>,
    /// Whether the extracted answer matches the gold answer: the A(x, y) of the method.
    pub correct: bool,
}

impl SampleRecord {
    /// The record's key: (problem id, sample index).
    pub fn key(&self) -> (&str, usize) {
        (&self.problem_id, self.sample_index)
    }
}
