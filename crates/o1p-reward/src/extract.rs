//! Final-answer extraction from a model response.
//!
//! In order of preference:
//! 1. `\boxed{...}` / `\fbox{...}` (also `\boxed 5`), nested braces honoured; the last one by
//!    default, the first one with [`BoxedPolicy::First`] (the O1-Pruner reference code's
//!    behaviour). If the chosen box is never closed, nothing is extracted (the reason says
//!    truncated or unbalanced) rather than falling back to an earlier, intermediate box.
//!    Boxes right before the last one that are only joined to it by "and", commas or spacing
//!    (`\boxed{1} and \boxed{2}`) are one answer, `1, 2`. A final answer stated after the
//!    last box ("... The final answer is $10,455$.") wins over it.
//! 2. Minerva style "Final Answer: The final answer is X. I hope it is correct." and any
//!    "final answer is X"; in a prose sentence, the value after its last "is"
//!    ("The largest $n$ is 34.").
//! 3. GSM8K style "#### X".
//! 4. "The answer is X" / "Answer: X".
//! 5. Optionally ([`GradeOptions::last_number_fallback`]), the last `$...$` math span or
//!    the last number of the response, whichever ends later.
//!
//! Every scan is linear in the response length; nothing recurses on the input.

use crate::normalize::matching_brace;
use serde::{Deserialize, Serialize};

/// Which `\boxed{}` to take when a response has several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxedPolicy {
    /// The last box (default): long chains of thought box intermediate results first.
    #[default]
    Last,
    /// The first box, as the O1-Pruner reference code does.
    First,
}

/// How answers are extracted and graded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradeOptions {
    /// Which `\boxed{}` to take. Default: [`BoxedPolicy::Last`].
    pub boxed: BoxedPolicy,
    /// When no box and no answer phrase is found, take the last number (or `$...$` span).
    /// Default: `true`.
    pub last_number_fallback: bool,
}

impl Default for GradeOptions {
    fn default() -> Self {
        GradeOptions {
            boxed: BoxedPolicy::Last,
            last_number_fallback: true,
        }
    }
}

impl GradeOptions {
    /// The O1-Pruner reference code's extraction: the first box, no last-number fallback.
    pub fn reference_code() -> Self {
        GradeOptions {
            boxed: BoxedPolicy::First,
            last_number_fallback: false,
        }
    }
}

/// Why no answer could be extracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NoAnswer {
    /// Nothing that looks like a final answer.
    #[error("no final answer found")]
    NotFound,
    /// An answer marker was found but what it marks is empty (`\boxed{}`).
    #[error("the final answer is empty")]
    Empty,
    /// The response was cut off (the caller says so) before a complete answer.
    #[error("the response was truncated before a complete final answer")]
    Truncated,
    /// A `\boxed{` is never closed and the response was not reported truncated.
    #[error("\\boxed{{ is never closed")]
    UnbalancedBraces,
}

/// Where an extracted answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnswerSource {
    /// `\boxed{...}` or `\fbox{...}`.
    Boxed,
    /// "The final answer is X".
    FinalAnswer,
    /// GSM8K "#### X".
    Hashes,
    /// "The answer is X" / "Answer: X".
    AnswerIs,
    /// The last number or `$...$` span (fallback).
    LastNumber,
}

/// Extracts the final answer of `response`.
///
/// ```
/// use o1p_reward::{extract_answer, GradeOptions, NoAnswer};
/// let opts = GradeOptions::default();
/// assert_eq!(extract_answer("so \\boxed{\\frac{1}{2}}.", &opts).unwrap(), "\\frac{1}{2}");
/// assert_eq!(extract_answer("48/2 = 24\n#### 24", &opts).unwrap(), "24");
/// assert_eq!(extract_answer("\\boxed{}", &opts), Err(NoAnswer::Empty));
/// assert_eq!(extract_answer("\\boxed{\\frac{1}{2", &opts), Err(NoAnswer::UnbalancedBraces));
/// ```
pub fn extract_answer(response: &str, opts: &GradeOptions) -> Result<String, NoAnswer> {
    extract_with_source(response, false, opts).map(|(a, _)| a)
}

/// Like [`extract_answer`], for a response the sampler reports as truncated (it hit the
/// token limit): a missing or unclosed answer is reported as [`NoAnswer::Truncated`].
/// Also returns where the answer came from.
///
/// ```
/// use o1p_reward::{extract_with_source, AnswerSource, GradeOptions, NoAnswer};
/// let opts = GradeOptions::default();
/// assert_eq!(extract_with_source("#### 7", false, &opts), Ok(("7".to_string(), AnswerSource::Hashes)));
/// assert_eq!(extract_with_source("so 2+2 = 4", false, &opts), Ok(("4".to_string(), AnswerSource::LastNumber)));
/// // The sampler hit the limit: no guess from mid-reasoning numbers.
/// assert_eq!(extract_with_source("so 2+2 = 4, wait", true, &opts), Err(NoAnswer::Truncated));
/// ```
pub fn extract_with_source(
    response: &str,
    truncated: bool,
    opts: &GradeOptions,
) -> Result<(String, AnswerSource), NoAnswer> {
    let cut = |e: NoAnswer| {
        if truncated && e != NoAnswer::Empty {
            NoAnswer::Truncated
        } else {
            e
        }
    };
    let final_phrase = final_answer_phrase(response);
    match boxed_answer(response, opts.boxed) {
        Some(Ok((a, end))) => {
            // "... \boxed{255} ... Final Answer: The final answer is $10,455$.": a final
            // answer stated after the last box is the final answer.
            if opts.boxed == BoxedPolicy::Last
                && let Some((at, v)) = &final_phrase
                && *at >= end
                && !looks_like_prose(v)
            {
                return nonempty(v.clone()).map(|a| (a, AnswerSource::FinalAnswer));
            }
            return nonempty(a).map(|a| (a, AnswerSource::Boxed));
        }
        Some(Err(e)) => return Err(cut(e)),
        None => {}
    }
    if let Some((_, a)) = final_phrase {
        return nonempty(a).map(|a| (a, AnswerSource::FinalAnswer));
    }
    if let Some(idx) = response.rfind("####") {
        let rest = &response[idx + 4..];
        let line = rest.lines().next().unwrap_or("");
        return nonempty(clean_value(line)).map(|a| (a, AnswerSource::Hashes));
    }
    for phrase in ["answer is", "answer:"] {
        if let Some(a) = after_phrase(response, phrase) {
            return nonempty(a).map(|a| (a, AnswerSource::AnswerIs));
        }
    }
    // A truncated response has no final answer: its last number is mid-reasoning.
    if opts.last_number_fallback
        && !truncated
        && let Some(a) = last_math(response)
    {
        return Ok((a, AnswerSource::LastNumber));
    }
    Err(cut(NoAnswer::NotFound))
}

fn nonempty(a: String) -> Result<String, NoAnswer> {
    let t = a.trim();
    let inner = t.trim_matches(|c: char| c == '$' || c.is_whitespace() || c == '{' || c == '}');
    if inner.is_empty() {
        Err(NoAnswer::Empty)
    } else {
        Ok(t.to_string())
    }
}

/// The content of the last `\boxed{...}` (or `\fbox{...}`) of `text`, nested braces
/// honoured. `None` if there is no box or the last box is never closed. This is what
/// MATH solutions use to mark their gold answer.
///
/// ```
/// assert_eq!(o1p_reward::last_boxed("so \\boxed{\\frac{a}{b}} and"), Some("\\frac{a}{b}".into()));
/// assert_eq!(o1p_reward::last_boxed("\\boxed{1} then \\boxed{2"), None);
/// assert_eq!(o1p_reward::last_boxed("no box"), None);
/// ```
pub fn last_boxed(text: &str) -> Option<String> {
    boxed(text, BoxedPolicy::Last)?.ok()
}

/// The content of the first `\boxed{...}` of `text` (the reference code's choice).
///
/// ```
/// assert_eq!(o1p_reward::first_boxed("\\boxed{1} then \\boxed{2}"), Some("1".into()));
/// ```
pub fn first_boxed(text: &str) -> Option<String> {
    boxed(text, BoxedPolicy::First)?.ok()
}

const BOX_COMMANDS: [&str; 2] = ["\\boxed", "\\fbox"];

/// Finds the chosen box: `None` if there is none, `Some(Err)` if it is never closed.
fn boxed(text: &str, policy: BoxedPolicy) -> Option<Result<String, NoAnswer>> {
    box_at(text, text.len(), policy).map(|r| r.map(|(_, content, _)| content))
}

/// Most boxes joined into one answer (`\boxed{1} and \boxed{2}`).
const MAX_JOINED_BOXES: usize = 64;

/// The final boxed answer and the byte offset where it ends. With [`BoxedPolicy::Last`],
/// boxes right before the last one that are only joined to it by "and", commas, spacing or
/// math delimiters (`\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}`) are one
/// answer, their contents listed with commas; boxes separated by other words are
/// intermediate results and stay out.
pub(crate) fn boxed_answer(
    text: &str,
    policy: BoxedPolicy,
) -> Option<Result<(String, usize), NoAnswer>> {
    let (start, last, end) = match box_at(text, text.len(), policy)? {
        Ok(found) => found,
        Err(e) => return Some(Err(e)),
    };
    if policy == BoxedPolicy::First {
        return Some(Ok((last, end)));
    }
    let mut parts = vec![last];
    let mut next = start;
    while parts.len() < MAX_JOINED_BOXES {
        let Some(Ok((s, content, e))) = box_at(text, next, BoxedPolicy::Last) else {
            break;
        };
        if e > next || !joins_boxes(&text[e..next]) {
            break;
        }
        parts.push(content);
        next = s;
    }
    parts.reverse();
    Some(Ok((parts.join(", "), end)))
}

/// Whether the text between two boxes only joins them: nothing but punctuation, spacing
/// and delimiters (`\boxed{1}, \boxed{2}`), or an "and" / "or" with at most three other
/// words (`\text{ for part (a) and }`). A sentence end or other words ("first \boxed{1},
/// finally \boxed{2}") separate an intermediate result from the answer.
fn joins_boxes(gap: &str) -> bool {
    if gap.len() > 80 {
        return false;
    }
    let mut plain = String::with_capacity(gap.len());
    let b = gap.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j == i + 1 && j < b.len() {
                j += 1; // \( \) \[ \] \, \\
            }
            plain.push(' ');
            i = j;
            continue;
        }
        let c = gap[i..].chars().next().unwrap_or(' ');
        plain.push(if matches!(c, '$' | '{' | '}' | '&') {
            ' '
        } else {
            c
        });
        i += c.len_utf8();
    }
    // A sentence end or a blank line (a new paragraph) separates results.
    if plain.contains(". ") || plain.trim_end().ends_with('.') || plain.contains("\n\n") {
        return false;
    }
    let mut joined = false;
    let mut others = 0;
    for w in plain.split(|c: char| c.is_whitespace() || c == ',') {
        match w.to_ascii_lowercase().as_str() {
            "" => {}
            "and" | "or" => joined = true,
            _ => others += 1,
        }
    }
    others == 0 || (joined && others <= 3)
}

/// The box found searching from `before` (backwards for [`BoxedPolicy::Last`], forwards
/// from the start for [`BoxedPolicy::First`]): its start, content and end. `None` if there
/// is none, `Some(Err)` if it is never closed.
fn box_at(
    text: &str,
    before: usize,
    policy: BoxedPolicy,
) -> Option<Result<(usize, String, usize), NoAnswer>> {
    let text_before = &text[..before];
    let found = BOX_COMMANDS
        .iter()
        .filter_map(|cmd| {
            let idx = match policy {
                BoxedPolicy::Last => text_before.rfind(cmd),
                BoxedPolicy::First => text_before.find(cmd),
            }?;
            Some((idx, idx + cmd.len()))
        })
        .reduce(|a, b| match policy {
            BoxedPolicy::Last => {
                if b.0 > a.0 {
                    b
                } else {
                    a
                }
            }
            BoxedPolicy::First => {
                if b.0 < a.0 {
                    b
                } else {
                    a
                }
            }
        });
    let (start, after) = found?;
    let rest = &text[after..];
    let skip = rest.len() - rest.trim_start().len();
    let open = after + skip;
    match text.as_bytes().get(open) {
        Some(b'{') => Some(match matching_brace(text, open) {
            Some(close) => Ok((start, text[open + 1..close - 1].to_string(), close)),
            None => Err(NoAnswer::UnbalancedBraces),
        }),
        None => Some(Err(NoAnswer::UnbalancedBraces)),
        // `\boxed 5`: up to the next space or `$`.
        Some(_) if skip > 0 => {
            let word: String = text[open..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '$')
                .collect();
            let end = open + word.len();
            Some(Ok((
                start,
                word.trim_end_matches(['.', ',']).to_string(),
                end,
            )))
        }
        // `\boxedx`: another command, not a box.
        Some(_) => None,
    }
}

/// The value after the last occurrence of `phrase` (ASCII case-insensitive).
fn after_phrase(text: &str, phrase: &str) -> Option<String> {
    let idx = rfind_ascii_ci(text, phrase)?;
    let rest = text[idx + phrase.len()..].trim_start_matches([' ', ':', '\t', '*']);
    let v = take_value(rest);
    if v.trim().is_empty() { None } else { Some(v) }
}

/// "Final Answer: The volume of $ABCDEFGH$ is 120." / "The final answer is $10,455$.":
/// where the last "final answer" starts and the value it states.
fn final_answer_phrase(text: &str) -> Option<(usize, String)> {
    let idx = rfind_ascii_ci(text, "final answer")?;
    let mut rest = text[idx + "final answer".len()..].trim_start_matches([' ', ':', '\t', '*']);
    if rest.len() >= 2
        && rest.as_bytes()[..2].eq_ignore_ascii_case(b"is")
        && rest
            .as_bytes()
            .get(2)
            .is_none_or(|c| !c.is_ascii_alphanumeric())
    {
        rest = &rest[2..];
    } else if !text[..idx].to_ascii_lowercase().ends_with("the ")
        && rest.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
    {
        // "... which is my final answer to ..." is not a statement of the answer.
        return None;
    }
    // "The final answer is:\n\n$$0$$": the value may start on a later line.
    let v =
        take_value(rest.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '*'));
    if v.trim().is_empty() {
        None
    } else {
        Some((idx, v))
    }
}

fn rfind_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len())
        .rev()
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// The answer right after a phrase: a `$...$` / `\(...\)` / `\[...\]` span, or the rest of
/// the sentence; if that sentence is prose, the first math span or number in it.
fn take_value(rest: &str) -> String {
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        if let Some(body) = rest.strip_prefix(open)
            && let Some(end) = body.find(close)
        {
            return body[..end].trim().to_string();
        }
    }
    let line = rest.lines().next().unwrap_or("");
    let sentence = cut_sentence(line);
    let v = clean_value(sentence);
    if looks_like_prose(&v) {
        // "The largest $n$ is 34": the value follows the last "is" / "=", not the first
        // math span (which names what is asked).
        if let Some(stated) = stated_value(sentence) {
            return stated;
        }
        if let Some(span) = first_math_span(sentence) {
            return span;
        }
        if let Some((a, b)) = numbers(sentence).next() {
            return sentence[a..b].to_string();
        }
    }
    v
}

/// The value after the last " is " / " are " / " equals " / " = " of a prose sentence, if
/// what follows is a math span or a number rather than more prose.
fn stated_value(sentence: &str) -> Option<String> {
    let at = [" is ", " are ", " equals ", " = "]
        .iter()
        .filter_map(|w| rfind_ascii_ci(sentence, w).map(|i| i + w.len()))
        .max()?;
    let rest = sentence[at..].trim_start();
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)")] {
        if let Some(body) = rest.strip_prefix(open)
            && let Some(end) = body.find(close)
        {
            let v = body[..end].trim();
            return (!v.is_empty()).then(|| v.to_string());
        }
    }
    // Inside a math span ("that \( L_u - L_v = 0 \)"), the span ends the value.
    let rest = ["\\)", "\\]", "$"]
        .iter()
        .filter_map(|close| rest.find(close))
        .min()
        .map_or(rest, |i| &rest[..i]);
    let v = clean_value(rest);
    if !v.is_empty() && !looks_like_prose(&v) {
        return Some(v);
    }
    numbers(rest).next().map(|(a, b)| rest[a..b].to_string())
}

/// Cuts at a sentence end: ". " followed by anything, " I hope", or a trailing ".".
fn cut_sentence(line: &str) -> &str {
    let mut end = line.len();
    if let Some(i) = rfind_ascii_ci(line, " i hope") {
        end = end.min(i);
    }
    let b = line.as_bytes();
    for i in 0..end {
        if b[i] == b'.' && (i + 1 == b.len() || b[i + 1] == b' ') {
            end = i;
            break;
        }
    }
    &line[..end]
}

fn clean_value(s: &str) -> String {
    let t = s.trim().trim_end_matches(['.', ',', ';']).trim();
    // Quoted: `"$12$ and $13$"`, also with escaped quotes.
    let t = t
        .strip_prefix("\\\"")
        .and_then(|x| x.strip_suffix("\\\""))
        .or_else(|| t.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
        .unwrap_or(t);
    t.trim().trim_matches(['$', '*']).trim().to_string()
}

/// A value that contains a word of four or more letters outside LaTeX commands.
fn looks_like_prose(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 1;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            continue;
        }
        if b[i].is_ascii_alphabetic() {
            let s = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            if i - s >= 4 {
                return true;
            }
            continue;
        }
        i += 1;
    }
    false
}

fn first_math_span(s: &str) -> Option<String> {
    let start = s.find('$')?;
    let body = &s[start + 1..];
    let end = body.find('$')?;
    let v = body[..end].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Numbers in order, as byte ranges: optional minus, digits with optional thousands
/// separators, optional decimals, optional `/digits` (a plain fraction). Like math-verify,
/// a number only counts when it starts a word: after whitespace, `=`, `:`, `$`, `*` or at the
/// start, so exponents and indices (`^1999`, `x_1`, `{100}`) are never taken for answers.
fn numbers(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = s.as_bytes();
    let anchor = |p: usize| {
        p == 0
            || matches!(
                b[p - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'=' | b':' | b'$' | b'*'
            )
    };
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            // A digit, or a bare decimal point before one (`.4`).
            let leading_point = b[i] == b'.'
                && b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_digit());
            if b[i].is_ascii_digit() || leading_point {
                let mut start = i;
                if start > 0 && b[start - 1] == b'-' {
                    start -= 1;
                }
                let end = number_end(b, i);
                i = end;
                if anchor(start) {
                    return Some((start, end));
                }
                if start < i && b[start] == b'-' && anchor(start + 1) {
                    return Some((start + 1, end));
                }
                continue;
            }
            i += 1;
        }
        None
    })
}

fn number_end(b: &[u8], mut i: usize) -> usize {
    let digits = |b: &[u8], mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let first = i;
    i = digits(b, i);
    let group = |b: &[u8], i: usize, sep: u8| {
        i + 3 < b.len()
            && b[i] == sep
            && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
            && b.get(i + 4)
                .is_none_or(|c| !c.is_ascii_digit() && *c != b'/')
    };
    // Thousands groups: ,ddd (or, after one to three digits, a space and ddd: `1 000`)
    // not followed by a digit.
    let sep = if (1..=3).contains(&(i - first)) && group(b, i, b' ') {
        b' '
    } else {
        b','
    };
    while group(b, i, sep) {
        i += 4;
    }
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i = digits(b, i + 1);
    }
    if i + 1 < b.len() && b[i] == b'/' && b[i + 1].is_ascii_digit() {
        i = digits(b, i + 1);
    }
    i
}

/// The last `$...$` (or `\(...\)`, `\[...\]`) span or the last number of `text`, whichever
/// ends later. Scans backwards from the end, so it is linear in the response length.
fn last_math(text: &str) -> Option<String> {
    let span = last_dollar_span(text);
    let number = last_number(text);
    match (span, number) {
        (Some((s_end, s)), Some((n_end, n))) => Some(if n_end > s_end { n } else { s }),
        (Some((_, s)), None) => Some(s),
        (None, Some((_, n))) => Some(n),
        // A response that is just a short formula (`\frac{10}{9}`) is its own answer.
        (None, None) => {
            let t = text.trim();
            let latex = t.starts_with('\\') || t.starts_with("-\\");
            (latex && t.len() <= 64 && !t.contains('\n') && !looks_like_prose(t))
                .then(|| t.to_string())
        }
    }
}

fn last_dollar_span(text: &str) -> Option<(usize, String)> {
    let mut best: Option<(usize, String)> = None;
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        let Some(c) = text.rfind(close) else { continue };
        // An escaped `\$` (a price) never opens a span.
        let mut o = text[..c].rfind(open);
        while open == "$"
            && let Some(i) = o
            && i > 0
            && text.as_bytes()[i - 1] == b'\\'
        {
            o = text[..i].rfind(open);
        }
        let Some(o) = o else {
            continue;
        };
        let body = text[o + open.len()..c]
            .trim()
            .trim_matches('$')
            .trim()
            .trim_start_matches('=')
            .trim();
        if body.is_empty() || body.len() > 500 {
            continue;
        }
        let end = c + close.len();
        if best.as_ref().is_none_or(|(e, _)| end > *e) {
            best = Some((end, body.to_string()));
        }
    }
    best
}

fn last_number(text: &str) -> Option<(usize, String)> {
    numbers(text)
        .last()
        .map(|(a, b)| (b, text[a..b].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> Result<String, NoAnswer> {
        extract_answer(s, &GradeOptions::default())
    }

    #[test]
    fn boxed_variants() {
        assert_eq!(
            ex("\\boxed{\\frac{\\sqrt{3}}{2}}").unwrap(),
            "\\frac{\\sqrt{3}}{2}"
        );
        assert_eq!(ex("first \\boxed{1}, finally \\boxed{2}.").unwrap(), "2");
        assert_eq!(ex("\\fbox{7}").unwrap(), "7");
        assert_eq!(ex("$\\boxed 5$").unwrap(), "5");
        assert_eq!(ex("\\boxed{\\{1,2\\}}").unwrap(), "\\{1,2\\}");
        assert_eq!(ex("\\boxed{[0, \\infty)}").unwrap(), "[0, \\infty)");
        let first = GradeOptions {
            boxed: BoxedPolicy::First,
            ..GradeOptions::default()
        };
        assert_eq!(
            extract_answer("\\boxed{1} \\boxed{2}", &first).unwrap(),
            "1"
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(ex("\\boxed{}"), Err(NoAnswer::Empty));
        assert_eq!(ex("\\boxed{ }"), Err(NoAnswer::Empty));
        assert_eq!(
            ex("\\boxed{1} and \\boxed{2"),
            Err(NoAnswer::UnbalancedBraces)
        );
        assert_eq!(ex("\\boxed"), Err(NoAnswer::UnbalancedBraces));
        assert_eq!(ex("I do not know."), Err(NoAnswer::NotFound));
        assert_eq!(ex(""), Err(NoAnswer::NotFound));
        assert_eq!(
            extract_with_source(
                "so the answer is \\boxed{\\frac{1}{",
                true,
                &GradeOptions::default()
            ),
            Err(NoAnswer::Truncated)
        );
        assert_eq!(
            extract_with_source("Let me think", true, &GradeOptions::default()),
            Err(NoAnswer::Truncated)
        );
    }

    #[test]
    fn phrases() {
        assert_eq!(
            ex("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.").unwrap(),
            "\\frac{3}{4}"
        );
        assert_eq!(
            ex("Final Answer: The final answer is 12. I hope it is correct.").unwrap(),
            "12"
        );
        assert_eq!(ex("So the answer is 42.").unwrap(), "42");
        assert_eq!(ex("Answer: (B)").unwrap(), "(B)");
        assert_eq!(ex("#### 1,234\n").unwrap(), "1,234");
        assert_eq!(
            ex("The answer is that there are 29 strings.").unwrap(),
            "29"
        );
        assert_eq!(ex("The answer is 3.5 meters.").unwrap(), "3.5");
    }

    #[test]
    fn fallback() {
        assert_eq!(ex("so we get 3 apples and 17 pears").unwrap(), "17");
        assert_eq!(ex("total is -12.5").unwrap(), "-12.5");
        assert_eq!(ex("about 1,000,000 people").unwrap(), "1,000,000");
        assert_eq!(ex("it is $\\frac{1}{2}$.").unwrap(), "\\frac{1}{2}");
        assert_eq!(ex("x = 3/4").unwrap(), "3/4");
        let off = GradeOptions {
            last_number_fallback: false,
            ..GradeOptions::default()
        };
        assert_eq!(extract_answer("so 17", &off), Err(NoAnswer::NotFound));
    }
}
