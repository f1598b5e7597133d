//! The comparison report: several labelled runs (baseline, fast prompt, SFT, DPO, O1-Pruner,
//! ...) on one or more benchmarks, scored against one baseline run, as Markdown and JSON.
//!
//! JSON layout (`report.json`):
//!
//! ```text
//! {
//!   "baseline": {"label", "accuracy", "mean_tokens"},   // only with a two-run summary
//!   "pruned":   {"label", "accuracy", "mean_tokens"},   //   (see Report::with_summary)
//!   "aes": 0.41, "length_reduction": 0.38,              //
//!   "baseline_label": "base", "weights": {...},
//!   "benchmarks": ["MATH", ...],
//!   "runs": [{"label", "per_benchmark": [{"benchmark", "accuracy", "mean_tokens",
//!             "length_reduction", "aes", "metrics": {...}}], "average": {...}}]
//! }
//! ```
//!
//! Accuracies are fractions in `[0, 1]`; Markdown shows percentages. An AES that is undefined
//! (baseline accuracy or length of 0 on a benchmark) is `null` in JSON and `n/a` in Markdown,
//! and makes the run's average AES undefined too, rather than failing the whole report.

use serde::{Deserialize, Serialize};

use crate::aes::{AesWeights, aes, mean_aes};
use crate::error::{EvalError, Result};
use crate::metrics::Metrics;

/// Metrics of one run on one benchmark, the input of [`Report::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkMetrics {
    /// Benchmark name, e.g. `"GSM8K"`.
    pub benchmark: String,
    /// The run's metrics on it.
    pub metrics: Metrics,
}

/// All benchmarks of one labelled run, the input of [`Report::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// The run's label, e.g. `"O1-Pruner"`.
    pub label: String,
    /// Its results, one per benchmark.
    pub benchmarks: Vec<BenchmarkMetrics>,
}

/// One cell group of a benchmark table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRow {
    /// Benchmark name.
    pub benchmark: String,
    /// Accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Mean tokens per response.
    pub mean_tokens: f64,
    /// `(L_base - L) / L_base`; `None` when the baseline length is 0.
    pub length_reduction: Option<f64>,
    /// AES against the baseline on this benchmark; `None` when undefined.
    pub aes: Option<f64>,
    /// The full metrics.
    pub metrics: Metrics,
}

/// A run's row of the Average table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AverageRow {
    /// Mean over benchmarks of accuracy.
    pub accuracy: f64,
    /// Mean over benchmarks of mean tokens.
    pub mean_tokens: f64,
    /// Length reduction of the averaged lengths, `(avg L_base - avg L) / avg L_base`, as the
    /// paper's "554 (-40.5 %)".
    pub length_reduction: Option<f64>,
    /// Mean of the per-benchmark AES (the paper's average); `None` if any is undefined.
    pub aes: Option<f64>,
    /// Sum of the benchmarks' wall times, if every benchmark has one.
    pub wall_time_s: Option<f64>,
}

/// One run in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's label.
    pub label: String,
    /// One row per benchmark, in the report's benchmark order.
    pub per_benchmark: Vec<BenchmarkRow>,
    /// The average over benchmarks.
    pub average: AverageRow,
}

/// Accuracy and length of one run, as `report.json`'s `"baseline"` and `"pruned"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPoint {
    /// The run's label.
    pub label: String,
    /// Accuracy in `[0, 1]` (average over benchmarks).
    pub accuracy: f64,
    /// Mean tokens (average over benchmarks).
    pub mean_tokens: f64,
}

/// The two-run summary the quickstart prints and writes at the top level of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoRunSummary {
    /// The base model.
    pub baseline: SummaryPoint,
    /// The pruned model.
    pub pruned: SummaryPoint,
    /// The pruned run's average AES (`null` if undefined).
    pub aes: Option<f64>,
    /// `(base - pruned) / base` of mean tokens, as a fraction (`null` if base is 0).
    pub length_reduction: Option<f64>,
}

impl TwoRunSummary {
    /// The summary of one benchmark's two runs, without building a [`Report`].
    ///
    /// ```
    /// # use o1p_eval::{AesWeights, EvalRecord, MetricsOptions, TwoRunSummary, compute_metrics};
    /// let rec = |p: &str, ok: bool, n: usize| EvalRecord { problem_id: p.into(),
    ///     sample_index: 0, correct: ok, extracted: Some("1".into()), num_tokens: n,
    ///     finish_reason: "eos".into(), level: None, difficulty: None, reference_accuracy: None };
    /// let opts = MetricsOptions::default();
    /// let base = compute_metrics(&[rec("a", true, 400), rec("b", false, 600)], &opts).unwrap();
    /// let pruned = compute_metrics(&[rec("a", true, 200), rec("b", false, 300)], &opts).unwrap();
    /// let s = TwoRunSummary::from_metrics("base", &base, "pruned", &pruned,
    ///                                     &AesWeights::default());
    /// assert_eq!((s.length_reduction, s.aes), (Some(0.5), Some(0.5)));
    /// let json = serde_json::to_value(&s).unwrap();
    /// assert_eq!(json["pruned"]["mean_tokens"], 250.0);
    /// ```
    pub fn from_metrics(
        baseline_label: &str,
        baseline: &Metrics,
        pruned_label: &str,
        pruned: &Metrics,
        weights: &AesWeights,
    ) -> Self {
        TwoRunSummary {
            baseline: SummaryPoint {
                label: baseline_label.to_string(),
                accuracy: baseline.accuracy,
                mean_tokens: baseline.mean_tokens,
            },
            pruned: SummaryPoint {
                label: pruned_label.to_string(),
                accuracy: pruned.accuracy,
                mean_tokens: pruned.mean_tokens,
            },
            aes: aes(
                baseline.accuracy,
                baseline.mean_tokens,
                pruned.accuracy,
                pruned.mean_tokens,
                weights,
            )
            .ok()
            .map(|s| s.aes),
            length_reduction: reduction(baseline.mean_tokens, pruned.mean_tokens),
        }
    }
}

/// The comparison report. Build it with [`Report::build`]; render with
/// [`Report::to_markdown`] and [`Report::to_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Optional two-run summary, flattened to the top level of the JSON.
    #[serde(flatten)]
    pub summary: Option<TwoRunSummary>,
    /// Label of the run every AES is computed against.
    pub baseline_label: String,
    /// The AES weights used.
    pub weights: AesWeights,
    /// Benchmarks, in the baseline run's order.
    pub benchmarks: Vec<String>,
    /// Every run, in input order (the baseline included).
    pub runs: Vec<RunReport>,
}

fn reduction(base: f64, len: f64) -> Option<f64> {
    (base > 0.0).then(|| (base - len) / base)
}

impl Report {
    /// Scores every run against the run labelled `baseline_label` on each of the baseline's
    /// benchmarks. Errors: no runs, repeated labels, an unknown baseline label, or a run
    /// missing one of the baseline's benchmarks. Benchmarks only some non-baseline runs have
    /// are left out of the report (with a warning), since they have no baseline to score
    /// against.
    ///
    /// ```
    /// # use o1p_eval::*;
    /// # let rec = |p: &str, ok: bool, n: usize| EvalRecord { problem_id: p.into(),
    /// #     sample_index: 0, correct: ok, extracted: Some("1".into()), num_tokens: n,
    /// #     finish_reason: "eos".into(), level: None, difficulty: None, reference_accuracy: None };
    /// # let opts = MetricsOptions::default();
    /// let run = |label: &str, len: usize| RunResults { label: label.into(), benchmarks: vec![
    ///     BenchmarkMetrics { benchmark: "demo".into(), metrics: compute_metrics(
    ///         &[rec("a", true, len), rec("b", false, len)], &opts).unwrap() }] };
    /// let report = Report::build(&[run("base", 800), run("pruned", 400)], "base",
    ///                            &AesWeights::default()).unwrap()
    ///     .with_summary("pruned").unwrap();
    /// let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    /// assert_eq!(json["length_reduction"], 0.5);
    /// assert_eq!(json["baseline"]["accuracy"], 0.5);
    /// assert!(report.to_markdown().contains("| pruned | 50.0 | 400 | 50.0 | 0.50 | - |"));
    /// ```
    pub fn build(runs: &[RunResults], baseline_label: &str, weights: &AesWeights) -> Result<Self> {
        if runs.is_empty() {
            return Err(EvalError::Empty { what: "a report" });
        }
        for (i, r) in runs.iter().enumerate() {
            if runs[..i].iter().any(|o| o.label == r.label) {
                return Err(EvalError::InvalidConfig(format!(
                    "run label {:?} is used twice",
                    r.label
                )));
            }
        }
        let base = runs
            .iter()
            .find(|r| r.label == baseline_label)
            .ok_or_else(|| EvalError::UnknownRun {
                label: baseline_label.to_string(),
                available: runs
                    .iter()
                    .map(|r| r.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if base.benchmarks.is_empty() {
            return Err(EvalError::Empty {
                what: "a report (the baseline run has no benchmarks)",
            });
        }
        let benchmarks: Vec<String> = base
            .benchmarks
            .iter()
            .map(|b| b.benchmark.clone())
            .collect();

        let mut reports = Vec::with_capacity(runs.len());
        for run in runs {
            for extra in run
                .benchmarks
                .iter()
                .filter(|b| !benchmarks.contains(&b.benchmark))
            {
                tracing::warn!(
                    run = %run.label,
                    benchmark = %extra.benchmark,
                    "benchmark not in the baseline run; left out of the report"
                );
            }
            let mut rows = Vec::with_capacity(benchmarks.len());
            for (name, base_m) in benchmarks.iter().zip(&base.benchmarks) {
                let m = run
                    .benchmarks
                    .iter()
                    .find(|b| &b.benchmark == name)
                    .ok_or_else(|| EvalError::MissingBenchmark {
                        label: run.label.clone(),
                        benchmark: name.clone(),
                    })?;
                let base_m = &base_m.metrics;
                let score = aes(
                    base_m.accuracy,
                    base_m.mean_tokens,
                    m.metrics.accuracy,
                    m.metrics.mean_tokens,
                    weights,
                );
                if let Err(e) = &score {
                    tracing::warn!(run = %run.label, benchmark = %name, "AES undefined: {e}");
                }
                rows.push(BenchmarkRow {
                    benchmark: name.clone(),
                    accuracy: m.metrics.accuracy,
                    mean_tokens: m.metrics.mean_tokens,
                    length_reduction: reduction(base_m.mean_tokens, m.metrics.mean_tokens),
                    aes: score.ok().map(|s| s.aes),
                    metrics: m.metrics.clone(),
                });
            }
            reports.push(RunReport {
                label: run.label.clone(),
                average: average_row(&rows, &base.benchmarks),
                per_benchmark: rows,
            });
        }
        Ok(Report {
            summary: None,
            baseline_label: baseline_label.to_string(),
            weights: *weights,
            benchmarks,
            runs: reports,
        })
    }

    /// The run labelled `label`, if present.
    pub fn run(&self, label: &str) -> Option<&RunReport> {
        self.runs.iter().find(|r| r.label == label)
    }

    /// The two-run summary of the baseline against the run labelled `pruned_label`, from their
    /// averages over benchmarks.
    pub fn summary_for(&self, pruned_label: &str) -> Result<TwoRunSummary> {
        let unknown = |label: &str| EvalError::UnknownRun {
            label: label.to_string(),
            available: self
                .runs
                .iter()
                .map(|r| r.label.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let base = self
            .run(&self.baseline_label)
            .ok_or_else(|| unknown(&self.baseline_label))?;
        let pruned = self
            .run(pruned_label)
            .ok_or_else(|| unknown(pruned_label))?;
        Ok(TwoRunSummary {
            baseline: SummaryPoint {
                label: base.label.clone(),
                accuracy: base.average.accuracy,
                mean_tokens: base.average.mean_tokens,
            },
            pruned: SummaryPoint {
                label: pruned.label.clone(),
                accuracy: pruned.average.accuracy,
                mean_tokens: pruned.average.mean_tokens,
            },
            aes: pruned.average.aes,
            length_reduction: pruned.average.length_reduction,
        })
    }

    /// Adds the two-run summary (baseline vs `pruned_label`) that puts `"baseline"`,
    /// `"pruned"`, `"aes"` and `"length_reduction"` at the top level of the JSON.
    pub fn with_summary(mut self, pruned_label: &str) -> Result<Self> {
        self.summary = Some(self.summary_for(pruned_label)?);
        Ok(self)
    }

    /// Pretty-printed JSON (the `report.json` format, see the module docs).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| EvalError::Serialize {
            what: "report",
            error: source,
        })
    }

    /// Markdown: one table per benchmark, then an Average table when there is more than one
    /// benchmark. Deterministic for equal input (fixed decimals, input order).
    pub fn to_markdown(&self) -> String {
        let w = &self.weights;
        let mut s = format!(
            "## Results against `{}`\n\nAES weights: alpha {}, beta {}, gamma {}. \
             Length reduction and AES are relative to the baseline.\n",
            self.baseline_label, w.alpha, w.beta, w.gamma
        );
        for (i, name) in self.benchmarks.iter().enumerate() {
            s.push_str(&format!("\n### {name}\n\n"));
            table(
                &mut s,
                self.runs.iter().map(|r| {
                    let row = &r.per_benchmark[i];
                    Cells {
                        label: &r.label,
                        accuracy: row.accuracy,
                        mean_tokens: row.mean_tokens,
                        length_reduction: row.length_reduction,
                        aes: row.aes,
                        wall_time_s: row.metrics.timing.map(|t| t.wall_time_s),
                    }
                }),
            );
        }
        if self.benchmarks.len() > 1 {
            s.push_str(&format!(
                "\n### Average over {} benchmarks\n\n",
                self.benchmarks.len()
            ));
            table(
                &mut s,
                self.runs.iter().map(|r| Cells {
                    label: &r.label,
                    accuracy: r.average.accuracy,
                    mean_tokens: r.average.mean_tokens,
                    length_reduction: r.average.length_reduction,
                    aes: r.average.aes,
                    wall_time_s: r.average.wall_time_s,
                }),
            );
        }
        s
    }
}

fn average_row(rows: &[BenchmarkRow], base: &[BenchmarkMetrics]) -> AverageRow {
    let n = rows.len() as f64;
    let mean_tokens = rows.iter().map(|r| r.mean_tokens).sum::<f64>() / n;
    let base_tokens = base.iter().map(|b| b.metrics.mean_tokens).sum::<f64>() / n;
    let per_benchmark_aes: Option<Vec<f64>> = rows.iter().map(|r| r.aes).collect();
    AverageRow {
        accuracy: rows.iter().map(|r| r.accuracy).sum::<f64>() / n,
        mean_tokens,
        length_reduction: reduction(base_tokens, mean_tokens),
        aes: per_benchmark_aes.and_then(|v| mean_aes(&v).ok()),
        wall_time_s: rows
            .iter()
            .map(|r| r.metrics.timing.map(|t| t.wall_time_s))
            .sum(),
    }
}

struct Cells<'a> {
    label: &'a str,
    accuracy: f64,
    mean_tokens: f64,
    length_reduction: Option<f64>,
    aes: Option<f64>,
    wall_time_s: Option<f64>,
}

fn table<'a>(s: &mut String, rows: impl Iterator<Item = Cells<'a>>) {
    s.push_str("| run | accuracy % | mean tokens | length reduction % | AES | wall time s |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    for c in rows {
        s.push_str(&format!(
            "| {} | {:.1} | {:.0} | {} | {} | {} |\n",
            c.label,
            100.0 * c.accuracy,
            c.mean_tokens,
            c.length_reduction
                .map_or("n/a".into(), |x| format!("{:.1}", 100.0 * x)),
            c.aes.map_or("n/a".into(), |x| format!("{x:.2}")),
            c.wall_time_s.map_or("-".into(), |x| format!("{x:.1}")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::RunTiming;

    /// Metrics with only the fields the report reads set meaningfully.
    fn metrics(accuracy: f64, mean_tokens: f64, wall: Option<f64>) -> Metrics {
        Metrics {
            num_problems: 100,
            num_responses: 100,
            min_samples_per_problem: 1,
            max_samples_per_problem: 1,
            accuracy,
            maj_at_k: accuracy,
            mean_tokens,
            mean_tokens_correct: Some(mean_tokens),
            num_correct: (accuracy * 100.0).round() as usize,
            num_truncated: 0,
            truncation_rate: 0.0,
            num_no_answer: 0,
            no_answer_rate: 0.0,
            accuracy_ci: None,
            mean_tokens_ci: None,
            timing: wall.map(|w| RunTiming::from_wall_time(w, (mean_tokens * 100.0) as usize)),
        }
    }

    fn run(label: &str, rows: &[(&str, f64, f64)]) -> RunResults {
        RunResults {
            label: label.into(),
            benchmarks: rows
                .iter()
                .map(|&(b, acc, len)| BenchmarkMetrics {
                    benchmark: b.into(),
                    metrics: metrics(acc, len, Some(10.0)),
                })
                .collect(),
        }
    }

    fn paper_like_runs() -> Vec<RunResults> {
        vec![
            run(
                "baseline",
                &[("MATH", 0.80, 1000.0), ("GSM8K", 0.90, 500.0)],
            ),
            run(
                "fast prompt",
                &[("MATH", 0.76, 950.0), ("GSM8K", 0.90, 450.0)],
            ),
            run(
                "O1-Pruner",
                &[("MATH", 0.84, 600.0), ("GSM8K", 0.90, 284.0)],
            ),
        ]
    }

    #[test]
    fn markdown_snapshot() {
        let report = Report::build(&paper_like_runs(), "baseline", &AesWeights::default()).unwrap();
        // fast prompt, MATH: dL = 0.05, dA = -0.05 -> 0.05 - 0.25 = -0.20; GSM8K: dL = 0.1,
        // dA = 0 -> 0.10; average AES -0.05; average length 700 vs 750 -> 6.7 %.
        // O1-Pruner, MATH: dL = 0.4, dA = 0.05 -> 0.55; GSM8K: dL = 0.432 -> 0.43; mean 0.491;
        // average length 442 vs 750 -> 41.1 %.
        let expected = "\
## Results against `baseline`

AES weights: alpha 1, beta 3, gamma 5. Length reduction and AES are relative to the baseline.

### MATH

| run | accuracy % | mean tokens | length reduction % | AES | wall time s |
|---|---:|---:|---:|---:|---:|
| baseline | 80.0 | 1000 | 0.0 | 0.00 | 10.0 |
| fast prompt | 76.0 | 950 | 5.0 | -0.20 | 10.0 |
| O1-Pruner | 84.0 | 600 | 40.0 | 0.55 | 10.0 |

### GSM8K

| run | accuracy % | mean tokens | length reduction % | AES | wall time s |
|---|---:|---:|---:|---:|---:|
| baseline | 90.0 | 500 | 0.0 | 0.00 | 10.0 |
| fast prompt | 90.0 | 450 | 10.0 | 0.10 | 10.0 |
| O1-Pruner | 90.0 | 284 | 43.2 | 0.43 | 10.0 |

### Average over 2 benchmarks

| run | accuracy % | mean tokens | length reduction % | AES | wall time s |
|---|---:|---:|---:|---:|---:|
| baseline | 85.0 | 750 | 0.0 | 0.00 | 20.0 |
| fast prompt | 83.0 | 700 | 6.7 | -0.05 | 20.0 |
| O1-Pruner | 87.0 | 442 | 41.1 | 0.49 | 20.0 |
";
        assert_eq!(report.to_markdown(), expected);
    }

    #[test]
    fn json_has_quickstart_keys_and_round_trips() {
        let report = Report::build(&paper_like_runs(), "baseline", &AesWeights::default())
            .unwrap()
            .with_summary("O1-Pruner")
            .unwrap();
        let json = report.to_json().unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let num = |x: &serde_json::Value| x.as_f64().unwrap();
        assert!((num(&v["baseline"]["accuracy"]) - 0.85).abs() < 1e-12);
        assert_eq!(v["baseline"]["mean_tokens"], 750.0);
        assert_eq!(v["pruned"]["mean_tokens"], 442.0);
        assert!((num(&v["pruned"]["accuracy"]) - 0.87).abs() < 1e-12);
        assert_eq!(v["pruned"]["label"], "O1-Pruner");
        assert!((num(&v["aes"]) - 0.491).abs() < 1e-12);
        assert!((num(&v["length_reduction"]) - 308.0 / 750.0).abs() < 1e-12);
        assert_eq!(v["benchmarks"], serde_json::json!(["MATH", "GSM8K"]));
        assert_eq!(v["runs"].as_array().unwrap().len(), 3);
        assert_eq!(v["runs"][1]["per_benchmark"][0]["benchmark"], "MATH");
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);

        // Without a summary the quickstart keys are absent, and it still round-trips.
        let plain = Report::build(&paper_like_runs(), "baseline", &AesWeights::default()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&plain.to_json().unwrap()).unwrap();
        assert!(v.get("baseline").is_none() && v.get("aes").is_none());
        let back: Report = serde_json::from_str(&plain.to_json().unwrap()).unwrap();
        assert_eq!(back, plain);
    }

    #[test]
    fn undefined_aes_renders_as_n_a_instead_of_failing() {
        let runs = vec![
            run("base", &[("hard", 0.0, 100.0)]),
            run("pruned", &[("hard", 0.1, 50.0)]),
        ];
        let report = Report::build(&runs, "base", &AesWeights::default())
            .unwrap()
            .with_summary("pruned")
            .unwrap();
        assert_eq!(report.run("pruned").unwrap().average.aes, None);
        assert!(
            report
                .to_markdown()
                .contains("| pruned | 10.0 | 50 | 50.0 | n/a | 10.0 |")
        );
        let v: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
        assert!(v["aes"].is_null());
        // One benchmark: no Average table.
        assert!(!report.to_markdown().contains("Average"));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let w = AesWeights::default();
        assert!(matches!(
            Report::build(&[], "b", &w),
            Err(EvalError::Empty { .. })
        ));
        let runs = paper_like_runs();
        assert!(matches!(
            Report::build(&runs, "nope", &w),
            Err(EvalError::UnknownRun { .. })
        ));
        let mut missing = paper_like_runs();
        missing[2].benchmarks.pop();
        assert!(matches!(
            Report::build(&missing, "baseline", &w),
            Err(EvalError::MissingBenchmark { ref benchmark, .. }) if benchmark == "GSM8K"
        ));
        let mut dup = paper_like_runs();
        dup[1].label = "baseline".into();
        assert!(matches!(
            Report::build(&dup, "baseline", &w),
            Err(EvalError::InvalidConfig(_))
        ));
        let report = Report::build(&runs, "baseline", &w).unwrap();
        assert!(report.summary_for("nope").is_err());
    }
}
