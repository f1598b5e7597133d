//! The crate's one error type.
//!
//! Every variant that comes from a file names the file (and the line, for JSONL), so a message
//! is enough to find the bad input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong in o1p-eval. Bad input is an error, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A JSONL line (not the torn last one, which is dropped) did not parse as a record.
    #[error("{}:{line}: not a valid record: {error}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        error: serde_json::Error,
    },
    /// Serialising a record or report failed (only possible with non-finite floats in
    /// hand-built values; serde_json writes them as `null`, so in practice this is rare).
    #[error("cannot serialise {what}: {error}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// The underlying error.
        error: serde_json::Error,
    },
    /// A metric was asked of an empty set of records.
    #[error("no records to compute {what} from")]
    Empty {
        /// The metric or table that needed data.
        what: &'static str,
    },
    /// The same (problem, sample) pair appears twice in one set of records.
    #[error("problem {problem_id:?} has sample {sample_index} more than once")]
    DuplicateSample {
        /// The problem.
        problem_id: String,
        /// The repeated sample index.
        sample_index: usize,
    },
    /// AES is undefined because a baseline quantity it divides by is zero (or not finite).
    #[error("AES is undefined: baseline {quantity} is {value} (must be finite and > 0)")]
    AesUndefined {
        /// `"accuracy"` or `"mean length"`.
        quantity: &'static str,
        /// The offending baseline value.
        value: f64,
    },
    /// A number that must be finite was NaN or infinite.
    #[error("{what} must be finite, got {value}")]
    NotFinite {
        /// Which input.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A report named a baseline label that none of its runs has.
    #[error("baseline run {label:?} is not among the runs ({available})")]
    UnknownRun {
        /// The label asked for.
        label: String,
        /// The labels present, comma-separated.
        available: String,
    },
    /// A run lacks a benchmark that the baseline run has (needed for the per-benchmark AES).
    #[error("run {label:?} has no results for benchmark {benchmark:?}")]
    MissingBenchmark {
        /// The run.
        label: String,
        /// The benchmark.
        benchmark: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A plot file name has an extension other than `.svg` or `.png`.
    #[error("{}: plot files must end in .svg or .png", path.display())]
    UnsupportedPlotFormat {
        /// The file.
        path: PathBuf,
    },
    /// Loading problems or rendering a prompt failed (o1p-data).
    #[error(transparent)]
    Data(#[from] o1p_data::DataError),
    /// Loading a model or tokenizer, or tokenizing, failed (o1p-model).
    #[error(transparent)]
    Model(#[from] o1p_model::ModelError),
    /// Generating failed (a server that stopped answering, a model that cannot take a batch).
    #[error(transparent)]
    Generate(#[from] o1p_sampler::GenerateError),
    /// A problem's prompt cannot be fed to the model (empty, or a token outside the model's
    /// vocabulary: a tokenizer that does not belong to the model).
    #[error("benchmark {benchmark:?}, problem {problem_id:?}: {problem}")]
    BadPrompt {
        /// The benchmark.
        benchmark: String,
        /// The problem.
        problem_id: String,
        /// What is wrong with its prompt.
        problem: String,
    },
    /// A results file was written with other generation settings than the ones asked for, so
    /// resuming into it would mix two experiments.
    #[error(
        "{}: its records were generated with other settings; use another output \
         directory or delete the file to start over\n  file:      {existing}\n  requested: {requested}",
        path.display()
    )]
    SettingsMismatch {
        /// The results file.
        path: PathBuf,
        /// The settings recorded next to it (JSON).
        existing: String,
        /// The settings of this run (JSON).
        requested: String,
    },
    /// The plotting crate reported an error while drawing.
    #[error("{}: drawing failed: {message}", path.display())]
    Plot {
        /// The file being drawn.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            error: source,
        }
    }
}
