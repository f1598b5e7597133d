//! Loading problem files: JSONL or one JSON array, lenient or strict.
//!
//! Whole-file faults (unreadable, empty, a JSON array that does not parse) are errors. Faults
//! of one record (bad JSON line, invalid UTF-8 line, missing field, no gold answer, duplicate
//! id) are skipped and listed in the [`LoadReport`] under [`OnBadItem::Skip`], or returned as
//! [`DataError::Item`] under [`OnBadItem::Fail`]. Nothing here panics on input.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DataError, ItemError, Location, Result};
use crate::problem::{FieldMapping, Problem};

/// What to do with a record that cannot become a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadItem {
    /// Skip it, log a warning and list it in the [`LoadReport`].
    #[default]
    Skip,
    /// Stop with [`DataError::Item`].
    Fail,
}

/// One record that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// Where it sits in the file.
    pub location: Location,
    /// What was wrong with it.
    pub error: ItemError,
}

/// What a load did: how many records it saw, kept and skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The file loaded.
    pub path: PathBuf,
    /// Records seen (blank lines excluded).
    pub total: usize,
    /// Records kept.
    pub loaded: usize,
    /// Records skipped, in file order.
    pub skipped: Vec<SkippedItem>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: loaded {} of {} records",
            self.path.display(),
            self.loaded,
            self.total
        )?;
        for s in &self.skipped {
            write!(f, "\n  skipped {}: {}", s.location, s.error)?;
        }
        Ok(())
    }
}

/// Problems read from a file, with the report of what was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
    /// Counts and skipped records.
    pub report: LoadReport,
}

/// Reads problems from a JSONL file or a JSON-array file (detected by a leading `[`).
///
/// ```
/// use o1p_data::{load_problems, Format, OnBadItem};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("g.jsonl");
/// std::fs::write(&path, "{\"question\":\"2+2?\",\"answer\":\"so #### 4\"}\n{\"question\":\"x\"}\n").unwrap();
/// let loaded = load_problems(&path, &Format::Gsm8k.mapping(), OnBadItem::Skip).unwrap();
/// assert_eq!(loaded.problems[0].gold, "4");
/// assert_eq!(loaded.report.skipped.len(), 1);
/// assert!(load_problems(&path, &Format::Gsm8k.mapping(), OnBadItem::Fail).is_err());
/// ```
pub fn load_problems(
    path: impl AsRef<Path>,
    mapping: &FieldMapping,
    on_bad: OnBadItem,
) -> Result<Loaded> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_problems(&bytes, path, mapping, on_bad)
}

/// Like [`load_problems`], on bytes already in memory; `origin` names them in errors.
pub fn parse_problems(
    bytes: &[u8],
    origin: &Path,
    mapping: &FieldMapping,
    on_bad: OnBadItem,
) -> Result<Loaded> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let records = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(DataError::Empty {
                path: origin.to_path_buf(),
            });
        }
        Some(b'[') => array_records(bytes, origin)?,
        Some(_) => jsonl_records(bytes),
    };
    let mut loader = Loader {
        origin,
        on_bad,
        problems: Vec::new(),
        skipped: Vec::new(),
        seen_ids: HashSet::new(),
    };
    let total = records.len();
    for (index, (location, record)) in records.into_iter().enumerate() {
        let problem = record.and_then(|v| mapping.to_problem(&v, index));
        loader.push(location, problem)?;
    }
    let report = LoadReport {
        path: origin.to_path_buf(),
        total,
        loaded: loader.problems.len(),
        skipped: loader.skipped,
    };
    if report.loaded == 0 {
        tracing::warn!(path = %origin.display(), "no usable problems in the file");
    }
    Ok(Loaded {
        problems: loader.problems,
        report,
    })
}

type Record = (Location, std::result::Result<Value, ItemError>);

/// One record per non-blank line; each line is decoded on its own so one bad line costs only
/// itself.
fn jsonl_records(bytes: &[u8]) -> Vec<Record> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| {
            let value = std::str::from_utf8(line)
                .map_err(|_| ItemError::InvalidUtf8)
                .and_then(|s| {
                    serde_json::from_str(s).map_err(|e| ItemError::MalformedJson(e.to_string()))
                });
            (Location::Line(i + 1), value)
        })
        .collect()
}

/// A JSON array must parse as a whole, so its faults are whole-file errors.
fn array_records(bytes: &[u8], origin: &Path) -> Result<Vec<Record>> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::Item {
        path: origin.to_path_buf(),
        location: Location::Line(
            1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
        ),
        error: ItemError::InvalidUtf8,
    })?;
    let items: Vec<Value> = serde_json::from_str(text).map_err(|e| DataError::Json {
        path: origin.to_path_buf(),
        line: e.line(),
        message: e.to_string(),
    })?;
    if items.is_empty() {
        return Err(DataError::Empty {
            path: origin.to_path_buf(),
        });
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, v)| (Location::Item(i), Ok(v)))
        .collect())
}

struct Loader<'a> {
    origin: &'a Path,
    on_bad: OnBadItem,
    problems: Vec<Problem>,
    skipped: Vec<SkippedItem>,
    seen_ids: HashSet<String>,
}

impl Loader<'_> {
    fn push(
        &mut self,
        location: Location,
        problem: std::result::Result<Problem, ItemError>,
    ) -> Result<()> {
        // Sample records refer to problems by id, so a duplicate would merge two problems'
        // statistics; the first occurrence wins.
        let problem = problem.and_then(|p| {
            if self.seen_ids.insert(p.id.clone()) {
                Ok(p)
            } else {
                Err(ItemError::DuplicateId(p.id))
            }
        });
        match (problem, self.on_bad) {
            (Ok(p), _) => self.problems.push(p),
            (Err(error), OnBadItem::Fail) => {
                return Err(DataError::Item {
                    path: self.origin.to_path_buf(),
                    location,
                    error,
                });
            }
            (Err(error), OnBadItem::Skip) => {
                tracing::warn!(path = %self.origin.display(), %location, %error, "skipping record");
                self.skipped.push(SkippedItem { location, error });
            }
        }
        Ok(())
    }
}
