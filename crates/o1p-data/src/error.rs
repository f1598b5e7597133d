//! Typed errors. Every error that concerns a file names the file, and where it concerns one
//! record, the line (JSONL) or the item (JSON array) too, so a user can open the file and look.

use std::fmt;
use std::path::PathBuf;

/// Where a record sits in its file: a 1-based line of a JSONL file or a 0-based item of a JSON
/// array (serde_json does not report per-item lines for arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// 1-based line number in a JSONL file.
    Line(usize),
    /// 0-based index into a JSON array.
    Item(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Item(n) => write!(f, "item {n}"),
        }
    }
}

/// Why one record could not become a [`crate::Problem`]. In lenient loading these are
/// collected in a [`crate::LoadReport`]; in strict loading the first one becomes
/// [`DataError::Item`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemError {
    /// The line is not valid JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The line is not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The record is JSON but not an object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// A required field is absent or null.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field has a type the loader cannot use.
    #[error("field `{field}` should be {expected}")]
    WrongType {
        /// The field name.
        field: String,
        /// What was expected, e.g. "a string".
        expected: String,
    },
    /// No gold answer could be found (empty answer, no `####`, no `\boxed{}`).
    #[error("no gold answer")]
    NoGold,
    /// The id was already used by an earlier record of the same file.
    #[error("duplicate id `{0}`")]
    DuplicateId(String),
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// An I/O error on `path`.
    #[error("{path}: {error}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file holds no records at all.
    #[error("{path}: the file is empty")]
    Empty {
        /// The file concerned.
        path: PathBuf,
    },
    /// A whole-file JSON document (a JSON array) could not be parsed.
    #[error("{path}: line {line}: malformed JSON: {message}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// serde_json's message.
        message: String,
    },
    /// One record is bad and loading was strict (or the record sits in the middle of a
    /// sample store, where it cannot be a torn write).
    #[error("{path}: {location}: {error}")]
    Item {
        /// The file concerned.
        path: PathBuf,
        /// Where in the file.
        location: Location,
        /// What is wrong with the record.
        error: ItemError,
    },
    /// A chat template failed to compile or render (including `raise_exception` calls).
    #[error("chat template: {0}")]
    Template(String),
    /// A tokenizer_config.json lacks something a chat template needs.
    #[error("tokenizer config: {0}")]
    TokenizerConfig(String),
    /// An argument is out of its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A rerun into a run directory whose recorded fingerprint differs (see
    /// [`crate::fingerprint`]); nothing was written.
    #[error("{}", crate::fingerprint::mismatch_message(dir, file, changes))]
    FingerprintMismatch {
        /// The run directory.
        dir: PathBuf,
        /// The recorded fingerprint file.
        file: PathBuf,
        /// Every field that differs, old -> new.
        changes: Vec<crate::fingerprint::FieldChange>,
    },
    /// A run directory holds records of an earlier run but no fingerprint file, so where they
    /// came from is unknown; nothing was written.
    #[error(
        "{dir}: holds files of an earlier run but no {file}, so what made them is unknown; rerun with --fresh to start over in {dir}, or choose another --out"
    )]
    MissingFingerprint {
        /// The run directory.
        dir: PathBuf,
        /// The fingerprint file that should be there.
        file: PathBuf,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
