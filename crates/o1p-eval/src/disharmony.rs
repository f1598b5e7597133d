//! "Length disharmony", the evidence behind the method.
//!
//! - [`length_quartiles`] (the paper's Table 1): sample each problem n times, split its samples
//!   into four length quartiles, shortest first, and pool accuracy per quartile over problems.
//!   If shorter quartiles are at least as accurate, the model spends tokens it does not need.
//! - [`difficulty_breakdown`]: mean length and accuracy per difficulty bucket (MATH level or
//!   reference-accuracy bin); [`compare_difficulty`] puts a run before and after pruning side
//!   by side. A model whose length does not track difficulty over-thinks easy problems.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::metrics::group_by_problem;
use crate::record::EvalRecord;

/// Accuracy and length per length quartile, pooled over problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuartileReport {
    /// Accuracy in `[0, 1]` of each quartile, shortest first; `NaN`-free: a quartile with no
    /// samples (impossible once a problem is used) would be 0.
    pub accuracy: [f64; 4],
    /// Mean length in tokens of each quartile.
    pub mean_tokens: [f64; 4],
    /// Samples in each quartile over all used problems.
    pub counts: [usize; 4],
    /// Problems with at least 4 samples, which were split.
    pub problems_used: usize,
    /// Problems with fewer than 4 samples, which cannot fill four quartiles and were skipped.
    pub problems_skipped: usize,
}

/// The quartile (0 = shortest) of the sample at `rank` (0-based, by length) among `n` samples:
/// `floor(4 * rank / n)`. For n divisible by 4 each quartile gets n/4 samples; otherwise sizes
/// differ by at most one, with the extra samples in the lower quartiles (n = 5: 2, 1, 1, 1;
/// n = 6: 2, 1, 2, 1; n = 7: 2, 2, 2, 1).
pub fn quartile_of_rank(rank: usize, n: usize) -> usize {
    (4 * rank / n).min(3)
}

/// Splits each problem's samples into four length quartiles and pools accuracy per quartile.
///
/// Samples are ranked by `num_tokens`; equal lengths are ranked by `sample_index`, so the
/// split is deterministic. Quartile sizes follow [`quartile_of_rank`]. Accuracy per quartile is
/// pooled (correct samples / samples in that quartile over all problems), which with equal n
/// per problem equals the mean over problems. Problems with fewer than 4 samples are skipped
/// and counted. Errors if no problem has 4 samples, or on a repeated (problem, sample) pair.
///
/// ```
/// # use o1p_eval::{EvalRecord, length_quartiles};
/// // One problem, 8 samples: the two shortest are right, the rest wrong.
/// let recs: Vec<EvalRecord> = (0..8).map(|i| EvalRecord { problem_id: "p".into(),
///     sample_index: i, correct: i < 2, extracted: Some("1".into()), num_tokens: 100 + i,
///     finish_reason: "eos".into(), level: None, difficulty: None,
///     reference_accuracy: None }).collect();
/// let q = length_quartiles(&recs).unwrap();
/// assert_eq!(q.accuracy, [1.0, 0.0, 0.0, 0.0]);
/// assert_eq!(q.counts, [2, 2, 2, 2]);
/// ```
pub fn length_quartiles(records: &[EvalRecord]) -> Result<QuartileReport> {
    let groups = group_by_problem(records)?;
    let mut correct = [0usize; 4];
    let mut tokens = [0usize; 4];
    let mut counts = [0usize; 4];
    let mut used = 0;
    let mut skipped = 0;
    for mut samples in groups {
        let n = samples.len();
        if n < 4 {
            skipped += 1;
            continue;
        }
        used += 1;
        samples.sort_by_key(|r| (r.num_tokens, r.sample_index));
        for (rank, r) in samples.iter().enumerate() {
            let q = quartile_of_rank(rank, n);
            counts[q] += 1;
            tokens[q] += r.num_tokens;
            correct[q] += usize::from(r.correct);
        }
    }
    if used == 0 {
        return Err(EvalError::Empty {
            what: "length quartiles (no problem has 4 or more samples)",
        });
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(QuartileReport {
        accuracy: std::array::from_fn(|q| ratio(correct[q], counts[q])),
        mean_tokens: std::array::from_fn(|q| ratio(tokens[q], counts[q])),
        counts,
        problems_used: used,
        problems_skipped: skipped,
    })
}

impl QuartileReport {
    /// A Markdown table: one row per quartile, shortest first.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| length quartile | accuracy % | mean tokens | samples |\n");
        s.push_str("|---|---:|---:|---:|\n");
        for q in 0..4 {
            let name = match q {
                0 => "Q1 (shortest)",
                1 => "Q2",
                2 => "Q3",
                _ => "Q4 (longest)",
            };
            s.push_str(&format!(
                "| {name} | {:.1} | {:.0} | {} |\n",
                100.0 * self.accuracy[q],
                self.mean_tokens[q],
                self.counts[q]
            ));
        }
        s
    }
}

/// How to bucket problems by difficulty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DifficultyGrouping {
    /// By the record's `level` label (e.g. MATH "Level 1" .. "Level 5"), in natural order.
    Level,
    /// By the record's numeric `difficulty` (e.g. the synthetic task's number of steps): one
    /// bucket per distinct value, easiest (smallest) first.
    Difficulty,
    /// By the record's `reference_accuracy` in `bins` equal-width bins over `[0, 1]`, from
    /// hardest (low reference accuracy) to easiest; the last bin includes 1.0.
    ReferenceAccuracy {
        /// Number of bins (at least 1).
        bins: usize,
    },
}

/// Length and accuracy of the problems in one difficulty bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyRow {
    /// The bucket's label: the level, a bin like `"[0.25, 0.50)"`, or `"unknown"`.
    pub label: String,
    /// Problems in the bucket.
    pub num_problems: usize,
    /// Responses in the bucket.
    pub num_responses: usize,
    /// Accuracy in `[0, 1]`, mean over the bucket's problems of their pass@1.
    pub accuracy: f64,
    /// Mean length in tokens over the bucket's responses.
    pub mean_tokens: f64,
}

/// Rows of [`difficulty_breakdown`] in difficulty order; problems missing the grouping field
/// form a last `"unknown"` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyBreakdown {
    /// The grouping used.
    pub grouping: DifficultyGrouping,
    /// One row per non-empty bucket.
    pub rows: Vec<DifficultyRow>,
}

/// Sort key putting "Level 2" before "Level 10": the text before a trailing number, then the
/// number. Labels without one sort by text, after numbered ones of the same prefix.
fn natural_key(label: &str) -> (String, u64, String) {
    let digits = label.len() - label.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, number) = label.split_at(label.len() - digits);
    match number.parse::<u64>() {
        Ok(n) => (prefix.to_string(), n, String::new()),
        Err(_) => (label.to_string(), u64::MAX, label.to_string()),
    }
}

const UNKNOWN: &str = "unknown";

/// Maps a finite f64 to a u64 with the same order (sign-magnitude to offset binary), so
/// numeric difficulties sort correctly inside the bucket map's integer key.
fn monotone_key(x: f64) -> u64 {
    let bits = (x + 0.0).to_bits(); // + 0.0 turns -0.0 into 0.0
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Mean length and accuracy per difficulty bucket of one run. A problem's bucket comes from
/// its first sample's field (all samples of a problem carry the same problem metadata).
///
/// ```
/// # use o1p_eval::{EvalRecord, DifficultyGrouping, difficulty_breakdown};
/// let rec = |p: &str, lvl: &str, n: usize| EvalRecord { problem_id: p.into(), sample_index: 0,
///     correct: true, extracted: Some("1".into()), num_tokens: n, finish_reason: "eos".into(),
///     level: Some(lvl.into()), difficulty: None, reference_accuracy: None };
/// let b = difficulty_breakdown(&[rec("a", "Level 10", 900), rec("b", "Level 2", 300)],
///                              &DifficultyGrouping::Level).unwrap();
/// assert_eq!(b.rows[0].label, "Level 2");
/// assert_eq!(b.rows[1].mean_tokens, 900.0);
/// ```
pub fn difficulty_breakdown(
    records: &[EvalRecord],
    grouping: &DifficultyGrouping,
) -> Result<DifficultyBreakdown> {
    if records.is_empty() {
        return Err(EvalError::Empty {
            what: "a difficulty breakdown",
        });
    }
    if let DifficultyGrouping::ReferenceAccuracy { bins: 0 } = grouping {
        return Err(EvalError::InvalidConfig(
            "reference-accuracy grouping needs at least 1 bin".into(),
        ));
    }
    // Bucket key: (order key, label). BTreeMap keeps buckets in difficulty order.
    struct Acc {
        label: String,
        problems: usize,
        responses: usize,
        accuracy_sum: f64,
        tokens: usize,
    }
    let mut buckets: BTreeMap<(u8, (String, u64, String)), Acc> = BTreeMap::new();
    for samples in group_by_problem(records)? {
        let first = samples[0];
        let (order, label) = match grouping {
            DifficultyGrouping::Level => match &first.level {
                Some(level) => ((0, natural_key(level)), level.clone()),
                None => ((1, natural_key(UNKNOWN)), UNKNOWN.to_string()),
            },
            DifficultyGrouping::Difficulty => match first.difficulty {
                // Order by the value's bits mapped to a monotone integer; label as written.
                Some(d) if d.is_finite() => (
                    (0, (String::new(), monotone_key(d), String::new())),
                    format!("{d}"),
                ),
                _ => ((1, natural_key(UNKNOWN)), UNKNOWN.to_string()),
            },
            DifficultyGrouping::ReferenceAccuracy { bins } => match first.reference_accuracy {
                Some(a) if a.is_finite() => {
                    let bin = ((a.clamp(0.0, 1.0) * *bins as f64) as usize).min(bins - 1);
                    let lo = bin as f64 / *bins as f64;
                    let hi = (bin + 1) as f64 / *bins as f64;
                    let close = if bin + 1 == *bins { ']' } else { ')' };
                    (
                        (0, (String::new(), bin as u64, String::new())),
                        format!("[{lo:.2}, {hi:.2}{close}"),
                    )
                }
                _ => ((1, natural_key(UNKNOWN)), UNKNOWN.to_string()),
            },
        };
        let acc = buckets.entry(order).or_insert(Acc {
            label,
            problems: 0,
            responses: 0,
            accuracy_sum: 0.0,
            tokens: 0,
        });
        acc.problems += 1;
        acc.responses += samples.len();
        acc.accuracy_sum +=
            samples.iter().filter(|r| r.correct).count() as f64 / samples.len() as f64;
        acc.tokens += samples.iter().map(|r| r.num_tokens).sum::<usize>();
    }
    Ok(DifficultyBreakdown {
        grouping: grouping.clone(),
        rows: buckets
            .into_values()
            .map(|a| DifficultyRow {
                label: a.label,
                num_problems: a.problems,
                num_responses: a.responses,
                accuracy: a.accuracy_sum / a.problems as f64,
                mean_tokens: a.tokens as f64 / a.responses as f64,
            })
            .collect(),
    })
}

/// One bucket before and after pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyComparisonRow {
    /// The bucket's label.
    pub label: String,
    /// The bucket in the run before pruning, if it has problems there.
    pub before: Option<DifficultyRow>,
    /// The bucket in the run after pruning, if it has problems there.
    pub after: Option<DifficultyRow>,
    /// `(before - after) / before` of mean tokens, when both exist and before > 0.
    pub length_reduction: Option<f64>,
}

/// Breakdowns of two runs (e.g. the base model and the pruned one) aligned by bucket, in the
/// order of `before`'s buckets followed by any only `after` has.
pub fn compare_difficulty(
    before: &[EvalRecord],
    after: &[EvalRecord],
    grouping: &DifficultyGrouping,
) -> Result<Vec<DifficultyComparisonRow>> {
    let b = difficulty_breakdown(before, grouping)?;
    let a = difficulty_breakdown(after, grouping)?;
    let mut rows: Vec<DifficultyComparisonRow> = b
        .rows
        .into_iter()
        .map(|row| DifficultyComparisonRow {
            label: row.label.clone(),
            before: Some(row),
            after: None,
            length_reduction: None,
        })
        .collect();
    for row in a.rows {
        match rows.iter_mut().find(|r| r.label == row.label) {
            Some(r) => r.after = Some(row),
            None => rows.push(DifficultyComparisonRow {
                label: row.label.clone(),
                before: None,
                after: Some(row),
                length_reduction: None,
            }),
        }
    }
    for r in &mut rows {
        if let (Some(b), Some(a)) = (&r.before, &r.after)
            && b.mean_tokens > 0.0
        {
            r.length_reduction = Some((b.mean_tokens - a.mean_tokens) / b.mean_tokens);
        }
    }
    Ok(rows)
}

/// A Markdown table of [`compare_difficulty`] rows.
pub fn difficulty_comparison_markdown(rows: &[DifficultyComparisonRow]) -> String {
    let mut s = String::from(
        "| difficulty | problems | accuracy % before | accuracy % after | mean tokens before | mean tokens after | length reduction % |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let opt = |x: Option<f64>, digits: usize| match x {
        Some(v) => format!("{v:.digits$}"),
        None => "-".to_string(),
    };
    for r in rows {
        let problems = r
            .before
            .as_ref()
            .or(r.after.as_ref())
            .map_or(0, |x| x.num_problems);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.label,
            problems,
            opt(r.before.as_ref().map(|x| 100.0 * x.accuracy), 1),
            opt(r.after.as_ref().map(|x| 100.0 * x.accuracy), 1),
            opt(r.before.as_ref().map(|x| x.mean_tokens), 0),
            opt(r.after.as_ref().map(|x| x.mean_tokens), 0),
            opt(r.length_reduction.map(|x| 100.0 * x), 1),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: &str, i: usize, ok: bool, n: usize) -> EvalRecord {
        EvalRecord {
            problem_id: p.into(),
            sample_index: i,
            correct: ok,
            extracted: Some("1".into()),
            num_tokens: n,
            finish_reason: "eos".into(),
            level: None,
            difficulty: None,
            reference_accuracy: None,
        }
    }

    #[test]
    fn quartile_sizes_for_awkward_n() {
        let sizes = |n: usize| {
            let mut s = [0; 4];
            for r in 0..n {
                s[quartile_of_rank(r, n)] += 1;
            }
            s
        };
        assert_eq!(sizes(4), [1, 1, 1, 1]);
        assert_eq!(sizes(5), [2, 1, 1, 1]);
        assert_eq!(sizes(6), [2, 1, 2, 1]);
        assert_eq!(sizes(7), [2, 2, 2, 1]);
        assert_eq!(sizes(16), [4, 4, 4, 4]);
    }

    /// A synthetic Table 1: 3 problems x 8 samples, written in shuffled sample order, where
    /// accuracy falls with length. Quartile accuracies are worked out by hand.
    #[test]
    fn synthetic_sample_set_shows_disharmony() {
        let mut records = Vec::new();
        for p in 0..3 {
            // Lengths descend with sample index, so ranking must re-sort them.
            for i in 0..8 {
                let len = 1000 - 100 * i + p;
                // Correct: the 4 shortest of every problem, plus the 5th shortest for p0.
                let rank = 7 - i;
                let ok = rank < 4 || (p == 0 && rank == 4);
                records.push(rec(&format!("p{p}"), i, ok, len));
            }
        }
        records.reverse();
        let q = length_quartiles(&records).unwrap();
        assert_eq!(q.counts, [6, 6, 6, 6]);
        assert_eq!(q.problems_used, 3);
        assert_eq!(q.accuracy[0], 1.0);
        assert_eq!(q.accuracy[1], 1.0);
        assert!((q.accuracy[2] - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(q.accuracy[3], 0.0);
        assert!(q.mean_tokens.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ties_in_length_are_broken_by_sample_index_and_small_problems_skipped() {
        // Four equal lengths: sample 0 goes to Q1, sample 3 to Q4.
        let mut records: Vec<EvalRecord> = (0..4).map(|i| rec("tie", i, i == 3, 50)).collect();
        records.push(rec("small", 0, true, 10));
        let q = length_quartiles(&records).unwrap();
        assert_eq!(q.accuracy, [0.0, 0.0, 0.0, 1.0]);
        assert_eq!((q.problems_used, q.problems_skipped), (1, 1));
        assert!(length_quartiles(&[rec("small", 0, true, 10)]).is_err());
    }

    #[test]
    fn quartile_markdown_is_stable() {
        let records: Vec<EvalRecord> = (0..4).map(|i| rec("p", i, i < 2, 100 * (i + 1))).collect();
        let md = length_quartiles(&records).unwrap().to_markdown();
        assert_eq!(
            md,
            "| length quartile | accuracy % | mean tokens | samples |\n\
             |---|---:|---:|---:|\n\
             | Q1 (shortest) | 100.0 | 100 | 1 |\n\
             | Q2 | 100.0 | 200 | 1 |\n\
             | Q3 | 0.0 | 300 | 1 |\n\
             | Q4 (longest) | 0.0 | 400 | 1 |\n"
        );
    }

    fn leveled(
        p: &str,
        level: Option<&str>,
        ref_acc: Option<f64>,
        ok: bool,
        n: usize,
    ) -> EvalRecord {
        EvalRecord {
            level: level.map(str::to_string),
            reference_accuracy: ref_acc,
            ..rec(p, 0, ok, n)
        }
    }

    #[test]
    fn breakdown_by_level_and_by_reference_accuracy() {
        let before = vec![
            leveled("a", Some("Level 1"), Some(0.9), true, 800),
            leveled("b", Some("Level 1"), Some(1.0), true, 600),
            leveled("c", Some("Level 3"), Some(0.1), false, 1000),
            leveled("d", None, None, true, 500),
        ];
        let by_level = difficulty_breakdown(&before, &DifficultyGrouping::Level).unwrap();
        let labels: Vec<&str> = by_level.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["Level 1", "Level 3", "unknown"]);
        assert_eq!(by_level.rows[0].num_problems, 2);
        assert_eq!(by_level.rows[0].mean_tokens, 700.0);
        assert_eq!(by_level.rows[1].accuracy, 0.0);

        let grouping = DifficultyGrouping::ReferenceAccuracy { bins: 4 };
        let by_ref = difficulty_breakdown(&before, &grouping).unwrap();
        let labels: Vec<&str> = by_ref.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["[0.00, 0.25)", "[0.75, 1.00]", "unknown"]);
        assert_eq!(by_ref.rows[1].num_problems, 2);

        let after = vec![
            leveled("a", Some("Level 1"), Some(0.9), true, 400),
            leveled("b", Some("Level 1"), Some(1.0), true, 300),
            leveled("c", Some("Level 3"), Some(0.1), true, 900),
        ];
        let cmp = compare_difficulty(&before, &after, &DifficultyGrouping::Level).unwrap();
        assert_eq!(cmp.len(), 3);
        assert_eq!(cmp[0].length_reduction, Some(0.5));
        assert!((cmp[1].length_reduction.unwrap() - 0.1).abs() < 1e-12);
        assert!(cmp[2].after.is_none() && cmp[2].length_reduction.is_none());
        let md = difficulty_comparison_markdown(&cmp);
        assert!(md.contains("| Level 1 | 2 | 100.0 | 100.0 | 700 | 350 | 50.0 |"));
        assert!(md.contains("| unknown | 1 | 100.0 | - | 500 | - | - |"));

        assert!(
            difficulty_breakdown(&before, &DifficultyGrouping::ReferenceAccuracy { bins: 0 })
                .is_err()
        );
    }

    #[test]
    fn breakdown_by_numeric_difficulty_sorts_numerically() {
        let with = |p: &str, d: Option<f64>, n: usize| EvalRecord {
            difficulty: d,
            ..rec(p, 0, true, n)
        };
        let records = vec![
            with("a", Some(10.0), 1000),
            with("b", Some(2.0), 200),
            with("c", Some(-1.5), 50),
            with("d", Some(2.0), 400),
            with("e", None, 7),
        ];
        let b = difficulty_breakdown(&records, &DifficultyGrouping::Difficulty).unwrap();
        let labels: Vec<&str> = b.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["-1.5", "2", "10", "unknown"]);
        assert_eq!(b.rows[1].mean_tokens, 300.0);
    }
}
