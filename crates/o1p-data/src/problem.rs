//! Problem records and the mapping from a dataset's JSON fields onto them.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::boxed::last_boxed;
use crate::error::{DataError, ItemError};

/// One maths problem with its gold answer.
///
/// ```
/// let p: o1p_data::Problem = serde_json::from_str(r#"{"id":"a","question":"1+1?","gold":"2"}"#).unwrap();
/// assert_eq!(p.gold, "2");
/// assert_eq!(p.level, None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Unique within its dataset; sample records refer to it.
    pub id: String,
    /// The question as shown to the model (before any prompt template).
    pub question: String,
    /// The gold final answer (e.g. `"72"`, `"\\frac{1}{2}"`).
    pub gold: String,
    /// A numeric difficulty where known (MATH level, demo step count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<f64>,
    /// The dataset's own level label (MATH: `"Level 3"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Subject (MATH: `"Algebra"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Where the problem comes from (`"gsm8k"`, `"math"`, `"demo"`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// How to read a gold answer out of one JSON field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "field")]
pub enum GoldRule {
    /// The field's value as is (strings trimmed; numbers printed).
    Field(String),
    /// GSM8K: the text after the last `####`, with thousands separators (`1,000`) removed.
    AfterHashes(String),
    /// MATH: the content of the last `\boxed{...}` in the field.
    LastBoxed(String),
}

impl GoldRule {
    fn field(&self) -> &str {
        match self {
            GoldRule::Field(f) | GoldRule::AfterHashes(f) | GoldRule::LastBoxed(f) => f,
        }
    }

    fn apply(&self, value: &Value) -> Option<String> {
        let gold = match (self, value) {
            (GoldRule::Field(_), Value::Number(n)) => n.to_string(),
            (GoldRule::Field(_), Value::String(s)) => s.trim().to_string(),
            (GoldRule::AfterHashes(_), Value::String(s)) => {
                let (_, tail) = s.rsplit_once("####")?;
                strip_digit_commas(tail.trim())
            }
            (GoldRule::LastBoxed(_), Value::String(s)) => last_boxed(s)?,
            _ => return None,
        };
        (!gold.is_empty()).then_some(gold)
    }
}

/// Removes commas that sit between two digits (`"1,234"` -> `"1234"`), keeping others.
fn strip_digit_commas(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = c == ','
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if !between_digits {
            out.push(c);
        }
    }
    out
}

/// Which JSON field feeds which [`Problem`] field. Deserializable, so a config file can
/// describe any dataset; missing keys take the generic defaults of [`FieldMapping::default`].
///
/// ```
/// use o1p_data::{FieldMapping, GoldRule};
/// let m: FieldMapping = serde_json::from_str(
///     r#"{"question": "prompt", "gold": [{"rule": "field", "field": "target"}]}"#,
/// ).unwrap();
/// assert_eq!(m.question, "prompt");
/// assert_eq!(m.gold, vec![GoldRule::Field("target".into())]);
/// assert_eq!(m.id.as_deref(), Some("id"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldMapping {
    /// Field holding the id (string or integer). Records without it get `<id_prefix>-<index>`,
    /// index counting records (blank lines excluded) from 0.
    pub id: Option<String>,
    /// Prefix of generated ids.
    pub id_prefix: String,
    /// Field holding the question (a string). Required.
    pub question: String,
    /// Gold-answer rules, tried in order; the first that yields a non-empty answer wins.
    pub gold: Vec<GoldRule>,
    /// Field holding a numeric difficulty. Without one, a level like `"Level 3"` or `3` gives
    /// difficulty 3.
    pub difficulty: Option<String>,
    /// Field holding the level label (string or number).
    pub level: Option<String>,
    /// Field holding the subject.
    pub subject: Option<String>,
    /// Field holding the source name.
    pub source: Option<String>,
    /// Source name for records without a source field.
    pub default_source: Option<String>,
}

impl Default for FieldMapping {
    /// The generic JSONL schema: `{"id", "question", "answer", "difficulty", "level",
    /// "subject", "source"}`.
    fn default() -> Self {
        FieldMapping {
            id: Some("id".into()),
            id_prefix: "item".into(),
            question: "question".into(),
            gold: vec![GoldRule::Field("answer".into())],
            difficulty: Some("difficulty".into()),
            level: Some("level".into()),
            subject: Some("subject".into()),
            source: Some("source".into()),
            default_source: None,
        }
    }
}

impl FieldMapping {
    /// GSM8K: `{"question", "answer": "... #### 72"}`; ids `gsm8k-<index>`.
    pub fn gsm8k() -> Self {
        FieldMapping {
            id: Some("id".into()),
            id_prefix: "gsm8k".into(),
            question: "question".into(),
            gold: vec![GoldRule::AfterHashes("answer".into())],
            difficulty: None,
            level: None,
            subject: None,
            source: None,
            default_source: Some("gsm8k".into()),
        }
    }

    /// MATH / MATH-500: `{"problem", "solution", "answer", "subject", "level", "unique_id"}`;
    /// gold from `answer`, else the last `\boxed{}` of `solution`.
    pub fn math() -> Self {
        FieldMapping {
            id: Some("unique_id".into()),
            id_prefix: "math".into(),
            question: "problem".into(),
            gold: vec![
                GoldRule::Field("answer".into()),
                GoldRule::LastBoxed("solution".into()),
            ],
            difficulty: None,
            level: Some("level".into()),
            subject: Some("subject".into()),
            source: None,
            default_source: Some("math".into()),
        }
    }

    /// Turns one JSON record into a problem. `index` numbers the records of the file from 0.
    pub(crate) fn to_problem(&self, value: &Value, index: usize) -> Result<Problem, ItemError> {
        let obj = value.as_object().ok_or(ItemError::NotAnObject)?;
        let question = match field(obj, &self.question) {
            None => return Err(ItemError::MissingField(self.question.clone())),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(ItemError::MissingField(self.question.clone()));
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(wrong_type(&self.question, "a string")),
        };
        let gold = self.gold(obj)?;
        let id = match self
            .id
            .as_deref()
            .and_then(|f| field(obj, f).map(|v| (f, v)))
        {
            None => format!("{}-{index}", self.id_prefix),
            Some((f, v)) => scalar(v).ok_or_else(|| wrong_type(f, "a string or number"))?,
        };
        let level = self.optional_scalar(obj, self.level.as_deref())?;
        let difficulty = match self
            .difficulty
            .as_deref()
            .and_then(|f| field(obj, f).map(|v| (f, v)))
        {
            Some((f, v)) => Some(number(v).ok_or_else(|| wrong_type(f, "a number"))?),
            None => level.as_deref().and_then(level_number),
        };
        let subject = self.optional_scalar(obj, self.subject.as_deref())?;
        let source = self
            .optional_scalar(obj, self.source.as_deref())?
            .or_else(|| self.default_source.clone());
        Ok(Problem {
            id,
            question,
            gold,
            difficulty,
            level,
            subject,
            source,
        })
    }

    fn gold(&self, obj: &Map<String, Value>) -> Result<String, ItemError> {
        let mut any_present = false;
        for rule in &self.gold {
            if let Some(v) = field(obj, rule.field()) {
                any_present = true;
                if let Some(g) = rule.apply(v) {
                    return Ok(g);
                }
            }
        }
        match (any_present, self.gold.first()) {
            (false, Some(rule)) => Err(ItemError::MissingField(rule.field().to_string())),
            _ => Err(ItemError::NoGold),
        }
    }

    fn optional_scalar(
        &self,
        obj: &Map<String, Value>,
        name: Option<&str>,
    ) -> Result<Option<String>, ItemError> {
        match name.and_then(|f| field(obj, f).map(|v| (f, v))) {
            None => Ok(None),
            Some((f, v)) => scalar(v)
                .map(Some)
                .ok_or_else(|| wrong_type(f, "a string or number")),
        }
    }
}

/// A present, non-null field.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `"Level 3"` or `"3"` -> 3.0; MATH's `"Level ?"` -> None.
fn level_number(level: &str) -> Option<f64> {
    let l = level.trim();
    l.strip_prefix("Level").unwrap_or(l).trim().parse().ok()
}

fn wrong_type(field: &str, expected: &str) -> ItemError {
    ItemError::WrongType {
        field: field.to_string(),
        expected: expected.to_string(),
    }
}

/// The built-in dataset schemas.
///
/// ```
/// use o1p_data::Format;
/// let f: Format = "gsm8k".parse().unwrap();
/// assert_eq!(f, Format::Gsm8k);
/// assert_eq!(f.mapping().id_prefix, "gsm8k");
/// assert!("csv".parse::<Format>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// See [`FieldMapping::gsm8k`].
    Gsm8k,
    /// See [`FieldMapping::math`] (MATH and MATH-500).
    Math,
    /// See [`FieldMapping::default`].
    Jsonl,
}

impl Format {
    /// The field mapping of this schema.
    pub fn mapping(self) -> FieldMapping {
        match self {
            Format::Gsm8k => FieldMapping::gsm8k(),
            Format::Math => FieldMapping::math(),
            Format::Jsonl => FieldMapping::default(),
        }
    }
}

impl FromStr for Format {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        match s.to_ascii_lowercase().as_str() {
            "gsm8k" => Ok(Format::Gsm8k),
            "math" | "math500" | "math-500" => Ok(Format::Math),
            "jsonl" | "json" => Ok(Format::Jsonl),
            other => Err(DataError::InvalidArgument(format!(
                "unknown format `{other}` (expected gsm8k, math or jsonl)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gsm8k_gold() {
        let m = FieldMapping::gsm8k();
        let p = m
            .to_problem(&json!({"question": "q", "answer": "a\nb #### 1,234"}), 5)
            .unwrap();
        assert_eq!((p.id.as_str(), p.gold.as_str()), ("gsm8k-5", "1234"));
        assert_eq!(p.source.as_deref(), Some("gsm8k"));
        let e = m.to_problem(&json!({"question": "q", "answer": "no hashes"}), 0);
        assert_eq!(e, Err(ItemError::NoGold));
        let e = m.to_problem(&json!({"question": "q"}), 0);
        assert_eq!(e, Err(ItemError::MissingField("answer".into())));
    }

    #[test]
    fn math_gold_fallback_and_level() {
        let m = FieldMapping::math();
        let rec = json!({"problem": "p", "solution": "x \\boxed{\\frac{1}{2}}", "level": "Level 4",
                         "unique_id": "test/algebra/1.json", "subject": "Algebra"});
        let p = m.to_problem(&rec, 0).unwrap();
        assert_eq!(p.gold, "\\frac{1}{2}");
        assert_eq!(p.difficulty, Some(4.0));
        assert_eq!(p.id, "test/algebra/1.json");
        let p = m
            .to_problem(&json!({"problem": "p", "answer": 7, "level": 2}), 0)
            .unwrap();
        assert_eq!(
            (p.gold.as_str(), p.level.as_deref(), p.difficulty),
            ("7", Some("2"), Some(2.0))
        );
    }

    #[test]
    fn type_errors() {
        let m = FieldMapping::default();
        assert_eq!(m.to_problem(&json!([1]), 0), Err(ItemError::NotAnObject));
        assert!(matches!(
            m.to_problem(&json!({"question": 3, "answer": "1"}), 0),
            Err(ItemError::WrongType { .. })
        ));
        assert_eq!(
            m.to_problem(&json!({"question": " ", "answer": "1"}), 0),
            Err(ItemError::MissingField("question".into()))
        );
    }

    #[test]
    fn commas() {
        assert_eq!(strip_digit_commas("1,000,000"), "1000000");
        assert_eq!(strip_digit_commas("(1, 2)"), "(1, 2)");
    }
}
