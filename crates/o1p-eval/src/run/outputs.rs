//! From runs to what people read: the comparison report, the length-disharmony tables and
//! the plots, written into one directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Benchmark, file_stem};
use super::{BenchmarkRun, Decoding, EvalConfig, EvalModel, ModelRun, evaluate_benchmark};
use crate::aes::AesWeights;
use crate::bootstrap::BootstrapConfig;
use crate::disharmony::{
    DifficultyBreakdown, DifficultyComparisonRow, DifficultyGrouping, QuartileReport,
    compare_difficulty, difficulty_breakdown, difficulty_comparison_markdown, length_quartiles,
};
use crate::error::{EvalError, Result};
use crate::plot::{
    PlotFormat, PlotSize, plot_length_by_difficulty, plot_length_histograms, plot_quartile_accuracy,
};
use crate::record::EvalRecord;
use crate::report::Report;

/// Fewest samples per problem for a length-quartile split (one per quartile).
pub const QUARTILE_MIN_SAMPLES: usize = 4;

/// Bins of the length histograms.
const HISTOGRAM_BINS: usize = 30;

/// Settings of [`build_report`] and [`write_report`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Label of the run every AES is computed against.
    pub baseline: String,
    /// Run compared with the baseline in report.json's top-level summary (`"baseline"`,
    /// `"pruned"`, `"aes"`, `"length_reduction"`). `None`: the last run that is not the
    /// baseline (the baseline itself when it is the only run).
    pub summary: Option<String>,
    /// AES weights. Default: alpha 1, beta 3, gamma 5.
    pub weights: AesWeights,
    /// Bootstrap intervals for accuracy and mean length; `None` skips them.
    /// Default: [`BootstrapConfig::default`].
    pub bootstrap: Option<BootstrapConfig>,
    /// Image formats of every plot. Default: SVG and PNG.
    pub plot_formats: Vec<PlotFormat>,
    /// Difficulty buckets of the before/after breakdown; `None` picks one from the records
    /// ([`auto_grouping`]).
    pub grouping: Option<DifficultyGrouping>,
}

impl ReportOptions {
    /// Defaults, against the run labelled `baseline`.
    pub fn new(baseline: impl Into<String>) -> Self {
        ReportOptions {
            baseline: baseline.into(),
            summary: None,
            weights: AesWeights::default(),
            bootstrap: Some(BootstrapConfig::default()),
            plot_formats: vec![PlotFormat::Svg, PlotFormat::Png],
            grouping: None,
        }
    }
}

/// The difficulty grouping the records support: MATH-style levels if any record has one,
/// else the numeric difficulty, else reference-accuracy quartile bins; `None` if they carry
/// none of these.
///
/// ```
/// # use o1p_eval::{EvalRecord, DifficultyGrouping};
/// # use o1p_eval::run::auto_grouping;
/// let r = EvalRecord { problem_id: "p".into(), sample_index: 0, correct: true,
///     extracted: None, num_tokens: 5, finish_reason: "eos".into(), level: None,
///     difficulty: Some(2.0), reference_accuracy: None };
/// assert_eq!(auto_grouping(&[r]), Some(DifficultyGrouping::Difficulty));
/// ```
pub fn auto_grouping(records: &[EvalRecord]) -> Option<DifficultyGrouping> {
    if records.iter().any(|r| r.level.is_some()) {
        Some(DifficultyGrouping::Level)
    } else if records.iter().any(|r| r.difficulty.is_some()) {
        Some(DifficultyGrouping::Difficulty)
    } else if records.iter().any(|r| r.reference_accuracy.is_some()) {
        Some(DifficultyGrouping::ReferenceAccuracy { bins: 4 })
    } else {
        None
    }
}

/// The comparison report of `runs` against `options.baseline`, with the two-run summary.
pub fn build_report(runs: &[ModelRun], options: &ReportOptions) -> Result<Report> {
    let results = runs
        .iter()
        .map(|r| r.results(options.bootstrap))
        .collect::<Result<Vec<_>>>()?;
    let report = Report::build(&results, &options.baseline, &options.weights)?;
    let summary = match &options.summary {
        Some(label) => label.clone(),
        None => runs
            .iter()
            .rev()
            .find(|r| r.label != options.baseline)
            .map_or_else(|| options.baseline.clone(), |r| r.label.clone()),
    };
    report.with_summary(&summary)
}

/// Accuracy per length quartile of one model on one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuartileEntry {
    /// The model.
    pub label: String,
    /// The benchmark.
    pub benchmark: String,
    /// The split.
    pub quartiles: QuartileReport,
}

/// Length per difficulty of one model against the baseline on one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyEntry {
    /// The model compared with the baseline.
    pub label: String,
    /// The benchmark.
    pub benchmark: String,
    /// The buckets used.
    pub grouping: DifficultyGrouping,
    /// Baseline (before) and this model (after), bucket by bucket.
    pub rows: Vec<DifficultyComparisonRow>,
}

/// The length-disharmony analyses that [`write_report`] adds to the report, under
/// `"analysis"` in report.json.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Analysis {
    /// One entry per (model, benchmark) sampled at least [`QUARTILE_MIN_SAMPLES`] times per
    /// problem.
    pub length_quartiles: Vec<QuartileEntry>,
    /// One entry per (non-baseline model, benchmark) whose records carry a difficulty.
    pub difficulty: Vec<DifficultyEntry>,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenReport {
    /// The comparison report (report.json without `"analysis"`).
    pub report: Report,
    /// Quartile and difficulty analyses.
    pub analysis: Analysis,
    /// The text of report.md.
    pub markdown: String,
    /// Every file written: report.json, report.md, then the plots.
    pub files: Vec<PathBuf>,
}

/// Writes into `out_dir`: `report.json` (the [`Report`] plus `"analysis"`), `report.md` (its
/// tables, then the quartile and difficulty tables) and, per benchmark and format, plots:
/// `lengths_<benchmark>` (length histograms of every run), `quartiles_<benchmark>` (when runs
/// have >= 4 samples per problem) and `difficulty_<benchmark>` (when records carry a
/// difficulty).
pub fn write_report(
    out_dir: impl AsRef<Path>,
    runs: &[ModelRun],
    options: &ReportOptions,
) -> Result<WrittenReport> {
    let out_dir = out_dir.as_ref();
    std::fs::create_dir_all(out_dir).map_err(|e| EvalError::io(out_dir, e))?;
    let report = build_report(runs, options)?;
    let analysis = analyse(runs, options)?;

    let mut markdown = format!("# Evaluation\n\n{}", report.to_markdown());
    if !analysis.length_quartiles.is_empty() {
        markdown.push_str("\n## Accuracy per length quartile (within each problem)\n");
        for q in &analysis.length_quartiles {
            markdown.push_str(&format!(
                "\n### {} on {}\n\n{}",
                q.label,
                q.benchmark,
                q.quartiles.to_markdown()
            ));
        }
    }
    if !analysis.difficulty.is_empty() {
        markdown.push_str(&format!(
            "\n## Length by difficulty, `{}` (before) against each run (after)\n",
            options.baseline
        ));
        for d in &analysis.difficulty {
            markdown.push_str(&format!(
                "\n### {} on {}\n\n{}",
                d.label,
                d.benchmark,
                difficulty_comparison_markdown(&d.rows)
            ));
        }
    }

    let mut json = serde_json::to_value(&report).map_err(|source| EvalError::Serialize {
        what: "report",
        error: source,
    })?;
    if let Some(obj) = json.as_object_mut() {
        let analysis_json =
            serde_json::to_value(&analysis).map_err(|source| EvalError::Serialize {
                what: "analysis",
                error: source,
            })?;
        obj.insert("analysis".into(), analysis_json);
    }
    let report_json = out_dir.join("report.json");
    o1p_data::write_json_atomic(&report_json, &json)?;
    let report_md = out_dir.join("report.md");
    o1p_data::write_atomic(&report_md, markdown.as_bytes())?;
    let mut files = vec![report_json, report_md];
    files.extend(plot_all(out_dir, runs, &report, &analysis, options)?);
    Ok(WrittenReport {
        report,
        analysis,
        markdown,
        files,
    })
}

fn analyse(runs: &[ModelRun], options: &ReportOptions) -> Result<Analysis> {
    let mut analysis = Analysis::default();
    for run in runs {
        for b in &run.benchmarks {
            if let Some(q) = quartiles_if_sampled(&b.records)? {
                analysis.length_quartiles.push(QuartileEntry {
                    label: run.label.clone(),
                    benchmark: b.benchmark.clone(),
                    quartiles: q,
                });
            }
        }
    }
    let Some(base) = runs.iter().find(|r| r.label == options.baseline) else {
        return Ok(analysis);
    };
    for run in runs.iter().filter(|r| r.label != options.baseline) {
        for before in &base.benchmarks {
            let Some(after) = run.benchmark(&before.benchmark) else {
                continue;
            };
            let grouping = match &options.grouping {
                Some(g) => g.clone(),
                None => match auto_grouping(&before.records) {
                    Some(g) => g,
                    None => continue,
                },
            };
            let rows = compare_difficulty(&before.records, &after.records, &grouping)?;
            analysis.difficulty.push(DifficultyEntry {
                label: run.label.clone(),
                benchmark: before.benchmark.clone(),
                grouping,
                rows,
            });
        }
    }
    Ok(analysis)
}

/// The quartile split when every problem has at least [`QUARTILE_MIN_SAMPLES`] samples.
fn quartiles_if_sampled(records: &[EvalRecord]) -> Result<Option<QuartileReport>> {
    let mut per_problem: std::collections::HashMap<&str, usize> = Default::default();
    for r in records {
        *per_problem.entry(&r.problem_id).or_default() += 1;
    }
    if per_problem.is_empty() || per_problem.values().any(|&n| n < QUARTILE_MIN_SAMPLES) {
        return Ok(None);
    }
    length_quartiles(records).map(Some)
}

fn ext(format: PlotFormat) -> &'static str {
    match format {
        PlotFormat::Svg => "svg",
        PlotFormat::Png => "png",
    }
}

fn plot_all(
    out_dir: &Path,
    runs: &[ModelRun],
    report: &Report,
    analysis: &Analysis,
    options: &ReportOptions,
) -> Result<Vec<PathBuf>> {
    let size = PlotSize::default();
    let mut files = Vec::new();
    for bench in &report.benchmarks {
        let stem = file_stem(bench);
        let lengths: Vec<(&str, Vec<usize>)> = runs
            .iter()
            .filter_map(|r| {
                r.benchmark(bench).map(|b| {
                    (
                        r.label.as_str(),
                        b.records.iter().map(|x| x.num_tokens).collect(),
                    )
                })
            })
            .collect();
        let length_refs: Vec<(&str, &[usize])> =
            lengths.iter().map(|(l, v)| (*l, v.as_slice())).collect();
        let quartiles: Vec<(&str, &QuartileReport)> = analysis
            .length_quartiles
            .iter()
            .filter(|q| &q.benchmark == bench)
            .map(|q| (q.label.as_str(), &q.quartiles))
            .collect();
        let breakdowns = difficulty_breakdowns(runs, bench, options)?;
        let breakdown_refs: Vec<(&str, &DifficultyBreakdown)> =
            breakdowns.iter().map(|(l, b)| (*l, b)).collect();
        for &format in &options.plot_formats {
            let path = out_dir.join(format!("lengths_{stem}.{}", ext(format)));
            plot_length_histograms(&path, &length_refs, HISTOGRAM_BINS, size)?;
            files.push(path);
            if !quartiles.is_empty() {
                let path = out_dir.join(format!("quartiles_{stem}.{}", ext(format)));
                plot_quartile_accuracy(&path, &quartiles, size)?;
                files.push(path);
            }
            if !breakdown_refs.is_empty() {
                let path = out_dir.join(format!("difficulty_{stem}.{}", ext(format)));
                plot_length_by_difficulty(&path, &breakdown_refs, size)?;
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Each run's breakdown on `bench`, in the grouping chosen from the baseline's records (so
/// every line uses the same buckets); empty when the records carry no difficulty.
fn difficulty_breakdowns<'a>(
    runs: &'a [ModelRun],
    bench: &str,
    options: &ReportOptions,
) -> Result<Vec<(&'a str, DifficultyBreakdown)>> {
    let base_records = runs
        .iter()
        .find(|r| r.label == options.baseline)
        .and_then(|r| r.benchmark(bench))
        .map(|b| b.records.as_slice())
        .unwrap_or_default();
    let grouping = match options
        .grouping
        .clone()
        .or_else(|| auto_grouping(base_records))
    {
        Some(g) => g,
        None => return Ok(Vec::new()),
    };
    runs.iter()
        .filter_map(|r| r.benchmark(bench).map(|b| (r.label.as_str(), b)))
        .filter(|(_, b)| !b.records.is_empty())
        .map(|(label, b)| Ok((label, difficulty_breakdown(&b.records, &grouping)?)))
        .collect()
}

/// One model's length-disharmony measurement on one benchmark (the paper's Table 1).
#[derive(Debug, Clone, PartialEq)]
pub struct DisharmonyRun {
    /// The sampled run (its records are in the usual results file, resumable).
    pub run: BenchmarkRun,
    /// Accuracy per length quartile within each problem.
    pub quartiles: QuartileReport,
    /// Length and accuracy per difficulty bucket, when the problems carry a difficulty.
    pub by_difficulty: Option<DifficultyBreakdown>,
}

/// Samples every problem `samples` times at `temperature` (top-p, top-k and seed from
/// `config.decoding` when it already samples) and splits each problem's samples into length
/// quartiles. The records go to the usual results file, so this resumes like any evaluation;
/// give the model a label of its own (e.g. `"base-t0.7"`) to keep them apart from its greedy
/// run. Errors on fewer than [`QUARTILE_MIN_SAMPLES`] samples.
pub fn length_disharmony(
    model: &EvalModel<'_>,
    benchmark: &Benchmark,
    samples: usize,
    temperature: f32,
    config: &EvalConfig,
    out_dir: impl AsRef<Path>,
) -> Result<DisharmonyRun> {
    if samples < QUARTILE_MIN_SAMPLES {
        return Err(EvalError::InvalidConfig(format!(
            "length quartiles need at least {QUARTILE_MIN_SAMPLES} samples per problem, got \
             {samples}"
        )));
    }
    let (top_p, top_k, seed) = match config.decoding {
        Decoding::Sample {
            top_p, top_k, seed, ..
        } => (top_p, top_k, seed),
        Decoding::Greedy => (1.0, 0, 0),
    };
    let config = EvalConfig {
        decoding: Decoding::Sample {
            samples,
            temperature,
            top_p,
            top_k,
            seed,
        },
        ..config.clone()
    };
    let run = evaluate_benchmark(model, benchmark, &config, out_dir.as_ref())?;
    let quartiles = length_quartiles(&run.records)?;
    let by_difficulty = auto_grouping(&run.records)
        .map(|g| difficulty_breakdown(&run.records, &g))
        .transpose()?;
    Ok(DisharmonyRun {
        run,
        quartiles,
        by_difficulty,
    })
}

/// Length and accuracy per difficulty bucket before (e.g. the base model) and after (the
/// pruned one) on the same benchmark, in `grouping` or, when `None`, the one the `before`
/// records support ([`auto_grouping`]). Errors when no grouping is available.
///
/// ```
/// # use o1p_eval::EvalRecord;
/// use o1p_eval::run::{BenchmarkRun, difficulty_before_after};
/// let rec = |p: &str, steps: f64, n: usize| EvalRecord { problem_id: p.into(),
///     sample_index: 0, correct: true, extracted: Some("1".into()), num_tokens: n,
///     finish_reason: "eos".into(), level: None, difficulty: Some(steps),
///     reference_accuracy: None };
/// let before = BenchmarkRun::from_records("demo", vec![rec("a", 1.0, 80), rec("b", 4.0, 100)]);
/// let after = BenchmarkRun::from_records("demo", vec![rec("a", 1.0, 20), rec("b", 4.0, 60)]);
/// let (_, rows) = difficulty_before_after(&before, &after, None).unwrap();
/// assert_eq!(rows[0].length_reduction, Some(0.75)); // the easy problem lost most
/// assert_eq!(rows[1].length_reduction, Some(0.4));
/// ```
pub fn difficulty_before_after(
    before: &BenchmarkRun,
    after: &BenchmarkRun,
    grouping: Option<&DifficultyGrouping>,
) -> Result<(DifficultyGrouping, Vec<DifficultyComparisonRow>)> {
    let grouping = match grouping {
        Some(g) => g.clone(),
        None => auto_grouping(&before.records).ok_or_else(|| {
            EvalError::InvalidConfig(
                "the records carry no level, difficulty or reference accuracy to group by".into(),
            )
        })?,
    };
    let rows = compare_difficulty(&before.records, &after.records, &grouping)?;
    Ok((grouping, rows))
}
