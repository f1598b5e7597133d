//! Metrics of one run on one benchmark: accuracy (pass@1), maj@k, lengths, truncation,
//! no-answer rate, bootstrap intervals and the caller's timing.
//!
//! Conventions (the paper's, made explicit):
//! - accuracy is the mean over problems of the fraction of that problem's samples graded
//!   correct: greedy (k = 1) accuracy and pass@1 over k samples are the same number;
//! - mean tokens is the mean over all responses (with equal k per problem this equals the mean
//!   of per-problem means);
//! - rates (truncation, no answer) are over responses.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::bootstrap::{BootstrapConfig, ConfidenceInterval, bootstrap_ci};
use crate::error::{EvalError, Result};
use crate::record::EvalRecord;

/// Wall time of an evaluation and its generation throughput, measured by the caller (this crate
/// never runs a model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunTiming {
    /// Seconds from the first prompt to the last token.
    pub wall_time_s: f64,
    /// Generated tokens per second over that time.
    pub tokens_per_s: f64,
}

impl RunTiming {
    /// Timing from the wall time and the number of generated tokens. A zero wall time gives
    /// a throughput of 0 rather than infinity.
    ///
    /// ```
    /// # use o1p_eval::RunTiming;
    /// let t = RunTiming::from_wall_time(2.0, 500);
    /// assert_eq!(t.tokens_per_s, 250.0);
    /// ```
    pub fn from_wall_time(wall_time_s: f64, generated_tokens: usize) -> Self {
        let tokens_per_s = if wall_time_s > 0.0 {
            generated_tokens as f64 / wall_time_s
        } else {
            0.0
        };
        RunTiming {
            wall_time_s,
            tokens_per_s,
        }
    }
}

/// Options of [`compute_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricsOptions {
    /// Bootstrap settings for the accuracy and mean-length intervals; `None` skips them.
    pub bootstrap: Option<BootstrapConfig>,
    /// Timing to copy into the metrics.
    pub timing: Option<RunTiming>,
}

/// Metrics of one run on one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Distinct problems.
    pub num_problems: usize,
    /// Responses (records).
    pub num_responses: usize,
    /// Fewest samples any problem has.
    pub min_samples_per_problem: usize,
    /// Most samples any problem has (the k of maj@k).
    pub max_samples_per_problem: usize,
    /// Accuracy in `[0, 1]`: greedy accuracy, or pass@1 averaged over k samples.
    pub accuracy: f64,
    /// Majority-vote accuracy in `[0, 1]` (equals `accuracy` when k = 1); see [`majority_vote`].
    pub maj_at_k: f64,
    /// Mean response length in tokens, over all responses.
    pub mean_tokens: f64,
    /// Mean length of the correct responses; `None` if none is correct.
    pub mean_tokens_correct: Option<f64>,
    /// Responses graded correct.
    pub num_correct: usize,
    /// Responses cut off by the token cap.
    pub num_truncated: usize,
    /// `num_truncated / num_responses`.
    pub truncation_rate: f64,
    /// Responses with no extracted answer.
    pub num_no_answer: usize,
    /// `num_no_answer / num_responses`.
    pub no_answer_rate: f64,
    /// Bootstrap interval of `accuracy` (problems resampled).
    pub accuracy_ci: Option<ConfidenceInterval>,
    /// Bootstrap interval of `mean_tokens` (problems resampled).
    pub mean_tokens_ci: Option<ConfidenceInterval>,
    /// The caller's timing of the run, if given.
    pub timing: Option<RunTiming>,
}

/// Per-problem sums: the unit of the bootstrap.
#[derive(Debug, Clone, Copy)]
struct ProblemSums {
    samples: usize,
    correct: usize,
    tokens: usize,
}

impl ProblemSums {
    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples as f64
    }
}

/// Groups records by problem (problems in id order, samples by `sample_index`), rejecting a
/// repeated (problem, sample) pair.
pub(crate) fn group_by_problem(records: &[EvalRecord]) -> Result<Vec<Vec<&EvalRecord>>> {
    let mut by_problem: BTreeMap<&str, Vec<&EvalRecord>> = BTreeMap::new();
    for r in records {
        by_problem.entry(&r.problem_id).or_default().push(r);
    }
    let mut groups = Vec::with_capacity(by_problem.len());
    for (_, mut samples) in by_problem {
        samples.sort_by_key(|r| r.sample_index);
        if let Some(w) = samples
            .windows(2)
            .find(|w| w[0].sample_index == w[1].sample_index)
        {
            return Err(EvalError::DuplicateSample {
                problem_id: w[0].problem_id.clone(),
                sample_index: w[0].sample_index,
            });
        }
        groups.push(samples);
    }
    Ok(groups)
}

/// The majority-voted answer of one problem's samples and whether it counts as correct.
///
/// Rules: samples without an extracted answer do not vote (a problem where none has an answer
/// is wrong); answers are compared after trimming whitespace; a tie in votes goes to the answer
/// that appears first in `sample_index` order; the voted answer is correct if at least half of
/// the samples that gave it were graded correct (they agree unless the grader is inconsistent).
///
/// ```
/// # use o1p_eval::{EvalRecord, majority_vote};
/// let rec = |i: usize, ans: &str, ok: bool| EvalRecord { problem_id: "p".into(),
///     sample_index: i, correct: ok, extracted: Some(ans.into()), num_tokens: 10,
///     finish_reason: "eos".into(), level: None, difficulty: None, reference_accuracy: None };
/// let samples = [rec(0, "3", false), rec(1, "4", true), rec(2, "4", true)];
/// let refs: Vec<&EvalRecord> = samples.iter().collect();
/// assert_eq!(majority_vote(&refs), Some(("4".to_string(), true)));
/// ```
pub fn majority_vote(samples: &[&EvalRecord]) -> Option<(String, bool)> {
    struct Tally {
        votes: usize,
        correct: usize,
        first: usize,
    }
    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for r in samples {
        let Some(answer) = r.extracted.as_deref() else {
            continue;
        };
        let t = tallies.entry(answer.trim()).or_insert(Tally {
            votes: 0,
            correct: 0,
            first: r.sample_index,
        });
        t.votes += 1;
        t.correct += usize::from(r.correct);
        t.first = t.first.min(r.sample_index);
    }
    tallies
        .into_iter()
        // Most votes wins; among equals, the earliest first appearance (smallest index).
        .max_by(|(_, a), (_, b)| a.votes.cmp(&b.votes).then(b.first.cmp(&a.first)))
        .map(|(answer, t)| (answer.to_string(), 2 * t.correct >= t.votes))
}

/// Computes [`Metrics`] of one run on one benchmark.
///
/// Errors: no records, or a (problem, sample) pair repeated.
///
/// ```
/// # use o1p_eval::{EvalRecord, MetricsOptions, compute_metrics};
/// let rec = |p: &str, ok: bool, n: usize| EvalRecord { problem_id: p.into(), sample_index: 0,
///     correct: ok, extracted: Some("1".into()), num_tokens: n, finish_reason: "eos".into(),
///     level: None, difficulty: None, reference_accuracy: None };
/// let m = compute_metrics(&[rec("a", true, 100), rec("b", false, 300)],
///                         &MetricsOptions::default()).unwrap();
/// assert_eq!((m.accuracy, m.mean_tokens, m.mean_tokens_correct), (0.5, 200.0, Some(100.0)));
/// ```
pub fn compute_metrics(records: &[EvalRecord], options: &MetricsOptions) -> Result<Metrics> {
    if records.is_empty() {
        return Err(EvalError::Empty { what: "metrics" });
    }
    let groups = group_by_problem(records)?;
    let sums: Vec<ProblemSums> = groups
        .iter()
        .map(|g| ProblemSums {
            samples: g.len(),
            correct: g.iter().filter(|r| r.correct).count(),
            tokens: g.iter().map(|r| r.num_tokens).sum(),
        })
        .collect();

    let n = records.len();
    let num_correct = records.iter().filter(|r| r.correct).count();
    let num_truncated = records.iter().filter(|r| r.is_truncated()).count();
    let num_no_answer = records.iter().filter(|r| r.extracted.is_none()).count();
    let correct_tokens: usize = records
        .iter()
        .filter(|r| r.correct)
        .map(|r| r.num_tokens)
        .sum();
    let maj_correct = groups
        .iter()
        .filter(|g| majority_vote(g).is_some_and(|(_, ok)| ok))
        .count();

    let accuracy_of = |ps: &[&ProblemSums]| -> f64 {
        ps.iter().map(|p| p.accuracy()).sum::<f64>() / ps.len() as f64
    };
    let mean_tokens_of = |ps: &[&ProblemSums]| -> f64 {
        let tokens: usize = ps.iter().map(|p| p.tokens).sum();
        let samples: usize = ps.iter().map(|p| p.samples).sum();
        tokens as f64 / samples as f64
    };
    let all: Vec<&ProblemSums> = sums.iter().collect();
    let (accuracy_ci, mean_tokens_ci) = match &options.bootstrap {
        Some(cfg) => (
            Some(bootstrap_ci(&sums, accuracy_of, cfg)?),
            Some(bootstrap_ci(&sums, mean_tokens_of, cfg)?),
        ),
        None => (None, None),
    };

    Ok(Metrics {
        num_problems: groups.len(),
        num_responses: n,
        min_samples_per_problem: groups.iter().map(Vec::len).min().unwrap_or(0),
        max_samples_per_problem: groups.iter().map(Vec::len).max().unwrap_or(0),
        accuracy: accuracy_of(&all),
        maj_at_k: maj_correct as f64 / groups.len() as f64,
        mean_tokens: mean_tokens_of(&all),
        mean_tokens_correct: (num_correct > 0).then(|| correct_tokens as f64 / num_correct as f64),
        num_correct,
        num_truncated,
        truncation_rate: num_truncated as f64 / n as f64,
        num_no_answer,
        no_answer_rate: num_no_answer as f64 / n as f64,
        accuracy_ci,
        mean_tokens_ci,
        timing: options.timing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FINISH_EOS, FINISH_LENGTH};

    fn rec(p: &str, i: usize, ans: Option<&str>, ok: bool, n: usize, fin: &str) -> EvalRecord {
        EvalRecord {
            problem_id: p.into(),
            sample_index: i,
            correct: ok,
            extracted: ans.map(str::to_string),
            num_tokens: n,
            finish_reason: fin.into(),
            level: None,
            difficulty: None,
            reference_accuracy: None,
        }
    }

    /// Two problems, four samples each, with every quantity worked out by hand.
    #[test]
    fn hand_computed_pass_at_1_maj_at_k_and_rates() {
        let records = vec![
            // p1: answers 7,7,8,None; correct answer 7. pass@1 = 2/4, maj = 7 (correct).
            rec("p1", 0, Some("7"), true, 100, FINISH_EOS),
            rec("p1", 1, Some(" 7 "), true, 200, FINISH_EOS),
            rec("p1", 2, Some("8"), false, 300, FINISH_EOS),
            rec("p1", 3, None, false, 1000, FINISH_LENGTH),
            // p2: answers 1,2,2,1 (tie); 2 is correct. pass@1 = 2/4; tie goes to "1"
            // (first seen at sample 0), which is wrong.
            rec("p2", 3, Some("1"), false, 50, FINISH_EOS),
            rec("p2", 0, Some("1"), false, 50, FINISH_EOS),
            rec("p2", 1, Some("2"), true, 150, FINISH_EOS),
            rec("p2", 2, Some("2"), true, 150, FINISH_EOS),
        ];
        let m = compute_metrics(&records, &MetricsOptions::default()).unwrap();
        assert_eq!(m.num_problems, 2);
        assert_eq!(m.num_responses, 8);
        assert_eq!(
            (m.min_samples_per_problem, m.max_samples_per_problem),
            (4, 4)
        );
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.maj_at_k, 0.5);
        assert_eq!(m.mean_tokens, 2000.0 / 8.0);
        assert_eq!(
            m.mean_tokens_correct,
            Some((100 + 200 + 150 + 150) as f64 / 4.0)
        );
        assert_eq!((m.num_truncated, m.truncation_rate), (1, 0.125));
        assert_eq!((m.num_no_answer, m.no_answer_rate), (1, 0.125));
        assert!(m.accuracy_ci.is_none());
    }

    #[test]
    fn pass_at_1_weights_problems_equally() {
        // p1 has 1 sample (correct), p2 has 3 (one correct): (1 + 1/3) / 2.
        let records = vec![
            rec("p1", 0, Some("1"), true, 10, FINISH_EOS),
            rec("p2", 0, Some("1"), true, 10, FINISH_EOS),
            rec("p2", 1, Some("2"), false, 10, FINISH_EOS),
            rec("p2", 2, Some("3"), false, 10, FINISH_EOS),
        ];
        let m = compute_metrics(&records, &MetricsOptions::default()).unwrap();
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
        // The tie among three single votes goes to sample 0's answer, which is correct.
        assert_eq!(m.maj_at_k, 1.0);
        assert_eq!(m.mean_tokens_correct, Some(10.0));
    }

    #[test]
    fn no_answers_cannot_win_a_vote_and_no_correct_gives_none() {
        let records = vec![
            rec("p1", 0, None, false, 10, FINISH_LENGTH),
            rec("p1", 1, None, false, 10, FINISH_LENGTH),
        ];
        let m = compute_metrics(&records, &MetricsOptions::default()).unwrap();
        assert_eq!(
            (m.accuracy, m.maj_at_k, m.mean_tokens_correct),
            (0.0, 0.0, None)
        );
        assert_eq!(m.truncation_rate, 1.0);
    }

    #[test]
    fn bootstrap_intervals_bracket_the_estimates_and_are_seeded() {
        let records: Vec<EvalRecord> = (0..40)
            .map(|p| {
                rec(
                    &format!("p{p:02}"),
                    0,
                    Some("1"),
                    p % 3 != 0,
                    100 + 10 * p,
                    FINISH_EOS,
                )
            })
            .collect();
        let opts = MetricsOptions {
            bootstrap: Some(BootstrapConfig::default()),
            timing: Some(RunTiming::from_wall_time(4.0, 1000)),
        };
        let m = compute_metrics(&records, &opts).unwrap();
        let acc = m.accuracy_ci.unwrap();
        let len = m.mean_tokens_ci.unwrap();
        assert!(acc.lower < m.accuracy && m.accuracy < acc.upper);
        assert!(len.lower < m.mean_tokens && m.mean_tokens < len.upper);
        assert_eq!(acc.confidence, 0.95);
        assert_eq!(m.timing.unwrap().tokens_per_s, 250.0);
        assert_eq!(compute_metrics(&records, &opts).unwrap(), m);
    }

    #[test]
    fn empty_and_duplicate_inputs_are_typed_errors() {
        assert!(matches!(
            compute_metrics(&[], &MetricsOptions::default()),
            Err(EvalError::Empty { .. })
        ));
        let dup = vec![
            rec("p1", 2, Some("1"), true, 10, FINISH_EOS),
            rec("p1", 2, Some("1"), true, 10, FINISH_EOS),
        ];
        let err = compute_metrics(&dup, &MetricsOptions::default()).unwrap_err();
        assert!(matches!(
            err,
            EvalError::DuplicateSample { ref problem_id, sample_index: 2 } if problem_id == "p1"
        ));
    }
}
