//! Errors of the trainer.

use std::path::PathBuf;

/// What can stop a training run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading or writing a run file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run config is invalid (unknown key, bad value, bad combination).
    #[error("{path}: {problem}")]
    Config {
        /// The config file (or `<preset>`).
        path: PathBuf,
        /// What is wrong and what to do instead.
        problem: String,
    },
    /// The model crate failed (loading, saving).
    #[error(transparent)]
    Model(#[from] o1p_model::ModelError),
    /// The data crate failed (sample store, problems).
    #[error(transparent)]
    Data(#[from] o1p_data::DataError),
    /// The loss or the gradient became NaN or infinite; the step is not applied and the last
    /// checkpoint is left intact.
    #[error(
        "step {step}: the {quantity} is {value} (not finite); stopping. The last good checkpoint in {checkpoint} is intact; lower the learning rate or check the data"
    )]
    NonFinite {
        /// The optimizer step.
        step: usize,
        /// What is not finite: `loss` or `gradient norm`.
        quantity: &'static str,
        /// Its value.
        value: f32,
        /// Where the last checkpoint lives.
        checkpoint: PathBuf,
    },
    /// Sampling an on-policy round failed.
    #[error("on-policy sampling: {0}")]
    Sample(#[from] o1p_sampler::PresampleError),
    /// Nothing to train on.
    #[error("no training examples: {0}")]
    NoExamples(String),
    /// A saved optimizer state could not be read or written.
    #[error("{path}: optimizer state: {problem}")]
    OptimizerState {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}
