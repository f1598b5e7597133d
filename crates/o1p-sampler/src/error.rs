//! Typed errors of generation and pre-sampling.

use std::path::PathBuf;

/// Why a [`crate::Generator`] could not produce completions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A prompt cannot be generated from (empty, unknown token id, text without a tokenizer).
    #[error("prompt {index}: {problem}")]
    BadPrompt {
        /// Position of the request in the call.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// The sampling parameters are unusable (for instance a request with no seeds).
    #[error("invalid sampling parameters: {0}")]
    InvalidParams(String),
    /// Loading the model or tokenizer failed, or the tokenizer failed on a prompt or completion.
    #[error(transparent)]
    Model(#[from] o1p_model::ModelError),
    /// The server answered with an HTTP error status that retrying does not fix.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The endpoint called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (servers put their error message there).
        body: String,
    },
    /// Every attempt failed with a transient error (connection, timeout, 429, 5xx).
    #[error("{url}: gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// The endpoint called.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last: String,
    },
    /// The server's answer does not follow the OpenAI completions schema.
    #[error("{url}: unexpected response: {problem}")]
    Schema {
        /// The endpoint called.
        url: String,
        /// What was missing or malformed.
        problem: String,
    },
    /// No server of an [`crate::HttpPool`] answers: every one failed its last attempts in a
    /// row (refused or reset connections, no answer within the timeout, HTTP 408 / 429 / 5xx).
    #[error("no server answers: {}", failures(.servers))]
    NoServerAnswers {
        /// Each server, its failed attempts in a row and its last error.
        servers: Vec<ServerFailure>,
    },
    /// Two servers of an [`crate::HttpPool`] list different models at `/v1/models`: samples
    /// of one run must all come from one model.
    #[error(
        "{url} serves {models:?} but {other_url} serves {other_models:?}: all the servers of a run must serve the same model"
    )]
    ModelMismatch {
        /// The server whose list differs.
        url: String,
        /// Its model ids.
        models: Vec<String>,
        /// The server it was compared with (the first one that listed its models).
        other_url: String,
        /// That server's model ids.
        other_models: Vec<String>,
    },
    /// The server URL is unusable.
    #[error("invalid server URL {url:?}: {problem}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        problem: String,
    },
}

/// A server of an [`crate::HttpPool`] that stopped answering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFailure {
    /// The endpoint.
    pub url: String,
    /// Attempts that failed in a row.
    pub attempts: u32,
    /// The last error seen.
    pub last: String,
}

fn failures(servers: &[ServerFailure]) -> String {
    servers
        .iter()
        .map(|s| {
            format!(
                "{} failed {} attempts in a row (last: {})",
                s.url, s.attempts, s.last
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why pre-sampling stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresampleError {
    /// Reading or writing the output directory failed (the store, the stats, the settings).
    #[error(transparent)]
    Data(#[from] o1p_data::DataError),
    /// The generator failed (after its own retries); samples written so far are kept.
    #[error("generation failed: {0}")]
    Generate(GenerateError),
    /// The output directory holds a run with other settings; resuming it would mix samples.
    #[error(
        "{path}: the output directory was made with {field} = {existing}, this run has {requested}; use another --out or the same settings"
    )]
    SettingsMismatch {
        /// The settings file.
        path: PathBuf,
        /// The setting that differs.
        field: String,
        /// Its value in the existing run.
        existing: String,
        /// Its value in this run.
        requested: String,
    },
    /// The configuration is unusable (k = 0, batch size 0, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Filesystem error outside the sample store.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

// By hand rather than `#[from]`, which would also make the error the `source()` of this one
// and print its message twice in a `{:#}` chain (it is already part of this message).
impl From<GenerateError> for PresampleError {
    fn from(e: GenerateError) -> Self {
        PresampleError::Generate(e)
    }
}
