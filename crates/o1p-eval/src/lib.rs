//! Evaluation for O1-Pruner: turn graded responses into the numbers and pictures the paper
//! reports.
//!
//! A generation driver ([`run`]) writes one [`EvalRecord`] per response to a JSONL file, and
//! everything else here works from those records (only [`run`] touches models and Burn).
//!
//! - [`record`]: the record type and its crash-tolerant JSONL files ([`JsonlWriter::resume`]).
//! - [`metrics`]: accuracy (greedy or pass@1), maj@k, lengths, truncation and no-answer rates,
//!   bootstrap intervals ([`bootstrap`]) and the caller's timing.
//! - [`aes`](mod@aes): the Accuracy-Efficiency Score against a baseline, exactly as the paper defines
//!   it (alpha 1, beta 3, gamma 5; the gamma branch when accuracy falls).
//! - [`disharmony`]: accuracy per length quartile (the paper's Table 1) and length per
//!   difficulty, before and after pruning.
//! - [`report`]: several labelled runs on several benchmarks in one table per benchmark plus
//!   an average, as Markdown and JSON (with the quickstart's two-run summary).
//! - [`run`]: the driver: evaluate a model on benchmark files with o1p-sampler (greedy or k
//!   samples, batched, resumable), then write report.json, report.md and the plots.
//! - [`plot`]: length histograms, accuracy per quartile and length per difficulty, as SVG or
//!   PNG, drawn by plotters with an embedded font (no system font libraries needed).
//!
//! ```
//! use o1p_eval::*;
//! let rec = |p: &str, ok: bool, n: usize| EvalRecord { problem_id: p.into(), sample_index: 0,
//!     correct: ok, extracted: Some("1".into()), num_tokens: n, finish_reason: "eos".into(),
//!     level: None, difficulty: None, reference_accuracy: None };
//! let opts = MetricsOptions::default();
//! let base = compute_metrics(&[rec("a", true, 900), rec("b", false, 1100)], &opts)?;
//! let pruned = compute_metrics(&[rec("a", true, 500), rec("b", true, 700)], &opts)?;
//! let s = aes(base.accuracy, base.mean_tokens, pruned.accuracy, pruned.mean_tokens,
//!             &AesWeights::default())?;
//! // 40 % shorter and accuracy 50 % -> 100 % (dA = +1): 0.4 + 3 * 1.0.
//! assert!((s.aes - 3.4).abs() < 1e-12);
//! # Ok::<(), EvalError>(())
//! ```
#![deny(missing_docs)]

pub mod aes;
pub mod bootstrap;
pub mod disharmony;
pub mod error;
pub mod metrics;
pub mod plot;
pub mod record;
pub mod report;
pub mod run;

pub use aes::{AesScore, AesWeights, aes, mean_aes};
pub use bootstrap::{BootstrapConfig, ConfidenceInterval, bootstrap_ci};
pub use disharmony::{
    DifficultyBreakdown, DifficultyComparisonRow, DifficultyGrouping, DifficultyRow,
    QuartileReport, compare_difficulty, difficulty_breakdown, difficulty_comparison_markdown,
    length_quartiles, quartile_of_rank,
};
pub use error::{EvalError, Result};
pub use metrics::{Metrics, MetricsOptions, RunTiming, compute_metrics, majority_vote};
pub use plot::{
    AccuracyLengthPoint, PlotFormat, PlotSize, plot_accuracy_vs_length, plot_length_by_difficulty,
    plot_length_histograms, plot_quartile_accuracy,
};
pub use record::{
    EvalRecord, FINISH_EOS, FINISH_LENGTH, FINISH_STOP, JsonlContents, JsonlWriter, RecordKey,
    completed_keys, read_jsonl, read_jsonl_detailed, write_jsonl,
};
pub use report::{
    AverageRow, BenchmarkMetrics, BenchmarkRow, Report, RunReport, RunResults, SummaryPoint,
    TwoRunSummary,
};
