//! The one error type of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing a checkpoint, a config or a tokenizer.
///
/// Every variant names the file and, where there is one, the tensor or field at fault, so that a
/// user with a broken checkpoint knows what to look at without a debugger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A JSON file (config.json, tokenizer_config.json, ...) is not valid JSON.
    #[error("{path}: invalid JSON: {error}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        error: serde_json::Error,
    },
    /// config.json lacks a field the decoder needs, or holds a value of the wrong kind.
    #[error("{path}: field `{field}`: {problem}")]
    Config {
        /// The config file (or `<memory>` for a config built in code).
        path: PathBuf,
        /// The JSON field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The architecture named in config.json is not one this crate implements.
    #[error(
        "{path}: unsupported architecture `{architecture}` (supported: Qwen2ForCausalLM, LlamaForCausalLM)"
    )]
    UnsupportedArchitecture {
        /// The config file.
        path: PathBuf,
        /// The `architectures[0]` or `model_type` value found.
        architecture: String,
    },
    /// A safetensors file is malformed.
    #[error("{path}: invalid safetensors file: {problem}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        problem: String,
    },
    /// A tensor the architecture needs is in none of the checkpoint files.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
    },
    /// A tensor has a shape other than the config implies.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The file holding the tensor.
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
        /// The shape in the file.
        found: Vec<usize>,
        /// The shape the config implies.
        expected: Vec<usize>,
    },
    /// A tensor is stored in a dtype this crate does not read.
    #[error("{path}: tensor `{tensor}` has unsupported dtype {dtype}")]
    TensorDtype {
        /// The file holding the tensor.
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
        /// The dtype in the file.
        dtype: String,
    },
    /// A GGUF file is malformed, truncated or uses something this crate does not read.
    #[error("{path}: GGUF: {problem}")]
    Gguf {
        /// The GGUF file.
        path: PathBuf,
        /// What is wrong, naming the metadata key or tensor where there is one.
        problem: String,
    },
    /// The tokenizer files could not be loaded or used.
    #[error("{path}: tokenizer: {problem}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A request the model cannot serve (token id out of vocabulary, empty batch, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The requested backend is not compiled in or could not start.
    #[error("backend `{backend}` is not available: {problem}")]
    Backend {
        /// The backend's name (flex, wgpu, tch).
        backend: String,
        /// Why it cannot be used.
        problem: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn config(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ModelError::Config {
            path: path.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}
