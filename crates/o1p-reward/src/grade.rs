//! Grading: extraction plus equivalence, with the reason for the verdict.

use crate::equiv::is_equivalent;
use crate::extract::{
    AnswerSource, BoxedPolicy, GradeOptions, NoAnswer, boxed_answer, extract_with_source,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a response got its verdict. `Display` gives the snake_case word used in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GradeReason {
    /// The extracted answer is equivalent to the gold answer.
    Correct,
    /// An answer was extracted and it is not equivalent to the gold answer.
    Wrong,
    /// No final answer was found in the response.
    NoAnswer,
    /// The marked answer is empty (`\boxed{}`); never correct.
    EmptyAnswer,
    /// The response was reported truncated and has no complete final answer.
    Truncated,
    /// A `\boxed{` is never closed.
    UnbalancedBraces,
    /// The gold answer is empty, so nothing can be correct (a data error to report).
    EmptyGold,
}

impl GradeReason {
    /// The snake_case word (`"correct"`, `"no_answer"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            GradeReason::Correct => "correct",
            GradeReason::Wrong => "wrong",
            GradeReason::NoAnswer => "no_answer",
            GradeReason::EmptyAnswer => "empty_answer",
            GradeReason::Truncated => "truncated",
            GradeReason::UnbalancedBraces => "unbalanced_braces",
            GradeReason::EmptyGold => "empty_gold",
        }
    }
}

impl fmt::Display for GradeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<NoAnswer> for GradeReason {
    fn from(e: NoAnswer) -> Self {
        match e {
            NoAnswer::Empty => GradeReason::EmptyAnswer,
            NoAnswer::Truncated => GradeReason::Truncated,
            NoAnswer::UnbalancedBraces => GradeReason::UnbalancedBraces,
            NoAnswer::NotFound => GradeReason::NoAnswer,
        }
    }
}

/// The verdict on one response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// The extracted final answer, if any.
    pub extracted: Option<String>,
    /// Whether it is equivalent to the gold answer. Always `false` without an answer.
    pub correct: bool,
    /// Why.
    pub reason: GradeReason,
    /// Where the answer came from (`None` when nothing was extracted).
    pub source: Option<AnswerSource>,
}

/// Grades `response` against `gold`.
///
/// `gold` is the bare gold answer (`"72"`, `"\frac{1}{2}"`); a full MATH solution (its last
/// `\boxed{}` is used) or a GSM8K answer field (after `####`) are accepted too.
///
/// ```
/// use o1p_reward::{grade, GradeOptions, GradeReason};
/// let opts = GradeOptions::default();
/// let g = grade("\\frac{1}{2}", "... so the answer is $\\boxed{0.5}$.", &opts);
/// assert!(g.correct);
/// assert_eq!(g.extracted.as_deref(), Some("0.5"));
/// let g = grade("(1,2]", "\\boxed{[1,2)}", &opts);
/// assert_eq!((g.correct, g.reason), (false, GradeReason::Wrong));
/// let g = grade("", "\\boxed{}", &opts);
/// assert!(!g.correct);
/// ```
pub fn grade(gold: &str, response: &str, opts: &GradeOptions) -> Grade {
    grade_sample(gold, response, false, opts)
}

/// Like [`grade`], for a sample the sampler reports as `truncated` (it hit the token
/// limit). A truncated sample with no complete answer gets [`GradeReason::Truncated`]
/// rather than a plain "no answer", so it can be reported; one whose final answer was
/// written before the cut is graded normally.
///
/// ```
/// use o1p_reward::{grade_sample, GradeOptions, GradeReason};
/// let g = grade_sample("5", "Let me check once more: 2+", true, &GradeOptions::default());
/// assert_eq!((g.correct, g.reason), (false, GradeReason::Truncated));
/// ```
pub fn grade_sample(gold: &str, response: &str, truncated: bool, opts: &GradeOptions) -> Grade {
    let gold = gold_answer(gold);
    match extract_with_source(response, truncated, opts) {
        Err(e) => Grade {
            extracted: None,
            correct: false,
            reason: e.into(),
            source: None,
        },
        Ok((answer, source)) => {
            let (correct, reason) = if gold.trim().is_empty() {
                (false, GradeReason::EmptyGold)
            } else if is_equivalent(&gold, &answer)
                || stated_result(&gold, &answer).is_some_and(|r| is_equivalent(&gold, r))
            {
                (true, GradeReason::Correct)
            } else {
                (false, GradeReason::Wrong)
            };
            Grade {
                extracted: Some(answer),
                correct,
                reason,
                source: Some(source),
            }
        }
    }
}

/// "L_u - L_v = 0", "3^{105} + 4^{105} \pmod{13} = 0", "P - 1 = n": a response that states
/// its result at the end of an equation, graded against a gold that is not an equation (so
/// `a + 3z = 0` as a gold still needs the equation, not `0`). The part after the last
/// top-level `=` or `\equiv`, without a trailing `\pmod{..}`.
fn stated_result<'a>(gold: &str, answer: &'a str) -> Option<&'a str> {
    if gold.contains('=') || gold.contains("\\equiv") {
        return None;
    }
    let b = answer.as_bytes();
    let mut depth = 0i64;
    let mut at = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'=' if depth == 0 && (i == 0 || !matches!(b[i - 1], b'<' | b'>' | b'!')) => {
                at = Some(i + 1);
            }
            b'\\' if depth == 0 && answer[i..].starts_with("\\equiv") => {
                at = Some(i + "\\equiv".len());
            }
            _ => {}
        }
    }
    let rest = &answer[at?..];
    let rest = ["\\pmod", "\\mod", "(mod", "\\bmod"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map_or(rest, |i| &rest[..i]);
    let rest = rest.trim();
    (!rest.is_empty()).then_some(rest)
}

/// The gold answer inside a full solution, read as from a response: its final boxes
/// (`\boxed{1} and \boxed{2}` is the list of both), a GSM8K answer (`#### 72`) or a stated
/// final answer ("Final Answer: The final answer is $28\%$."). A bare gold is used as is.
fn gold_answer(gold: &str) -> std::borrow::Cow<'_, str> {
    if (gold.contains("\\boxed") || gold.contains("\\fbox"))
        && let Some(Ok((b, _))) = boxed_answer(gold, BoxedPolicy::Last)
    {
        return b.into();
    }
    if let Some(idx) = gold.rfind("####") {
        return gold[idx + 4..].trim().to_string().into();
    }
    let lower = gold.to_ascii_lowercase();
    if ["final answer", "answer is", "answer:"]
        .iter()
        .any(|p| lower.contains(p))
    {
        let phrases_only = GradeOptions {
            boxed: BoxedPolicy::Last,
            last_number_fallback: false,
        };
        if let Ok((a, _)) = extract_with_source(gold, false, &phrases_only) {
            return a.into();
        }
    }
    gold.into()
}
