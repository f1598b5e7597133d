//! Training items built from the pre-sampled pool: O1-Pruner's rewarded samples, and the SFT
//! and DPO baselines of the paper, all from the same pool.

use std::collections::BTreeMap;

use o1p_reward::{
    LengthHarmonizing, Normalization, ReferenceStats, Reward, RewardContext, SampleOutcome,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One pre-sampled solution, tokenized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolSample {
    /// The problem it solves.
    pub problem_id: String,
    /// Its index among the problem's K samples.
    pub sample_index: usize,
    /// Prompt token ids (chat template applied).
    pub prompt_ids: Vec<u32>,
    /// Response token ids (the eos token included when the sample ended on one).
    pub response_ids: Vec<u32>,
    /// The grader's verdict.
    pub correct: bool,
    /// Whether sampling hit the length cap.
    pub truncated: bool,
}

/// One sequence to train on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainExample {
    /// The problem it solves.
    pub problem_id: String,
    /// Prompt token ids.
    pub prompt_ids: Vec<u32>,
    /// Response token ids (the trained part).
    pub response_ids: Vec<u32>,
    /// The advantage used by the loss (the normalised reward; 0 for SFT).
    pub advantage: f32,
    /// The raw reward before normalisation (for metrics).
    pub reward: f32,
}

impl TrainExample {
    /// Prompt plus response length.
    pub fn len(&self) -> usize {
        self.prompt_ids.len() + self.response_ids.len()
    }

    /// Whether the example holds no tokens at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How O1-Pruner turns the pool into rewarded training samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardConfig {
    /// Weight of the accuracy term (paper: 2 for Marco-o1, 5 for QwQ).
    pub lambda: f32,
    /// Clip each reward to `[lo, hi]` before normalising (reference code: `[-2, 4]`).
    pub clip: Option<(f32, f32)>,
    /// Normalisation of the rewards of the training set (reference code: dataset z-score).
    pub normalization: Normalization,
    /// Samples per problem used for training, out of K (reference code: 2; 0 = all K).
    /// The reference statistics always use all K.
    pub samples_per_problem: usize,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            lambda: 2.0,
            clip: None,
            normalization: Normalization::None,
            samples_per_problem: 0,
        }
    }
}

/// Groups the pool by problem, in problem-id order (deterministic whatever the file order).
pub fn group_by_problem(pool: &[PoolSample]) -> BTreeMap<&str, Vec<&PoolSample>> {
    let mut groups: BTreeMap<&str, Vec<&PoolSample>> = BTreeMap::new();
    for s in pool {
        groups.entry(s.problem_id.as_str()).or_default().push(s);
    }
    for g in groups.values_mut() {
        g.sort_by_key(|s| s.sample_index);
    }
    groups
}

/// The reference statistics of every problem (over all of its K samples).
pub fn reference_stats(pool: &[PoolSample]) -> BTreeMap<String, ReferenceStats> {
    group_by_problem(pool)
        .into_iter()
        .filter_map(|(id, group)| {
            let outcomes: Vec<SampleOutcome> = group.iter().map(|s| outcome(s)).collect();
            ReferenceStats::from_samples(&outcomes).map(|st| (id.to_string(), st))
        })
        .collect()
}

fn outcome(s: &PoolSample) -> SampleOutcome {
    SampleOutcome {
        length: s.response_ids.len(),
        correct: s.correct,
        truncated: s.truncated,
    }
}

/// O1-Pruner's training set: every problem's samples rewarded with the length-harmonizing
/// reward against its own reference statistics, `samples_per_problem` of them kept (after a
/// seeded shuffle), and the kept rewards normalised.
pub fn length_harmonizing_examples(
    pool: &[PoolSample],
    config: &RewardConfig,
    seed: u64,
) -> Vec<TrainExample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kept: Vec<TrainExample> = Vec::new();
    for group in group_by_problem(pool).into_values() {
        let outcomes: Vec<SampleOutcome> = group.iter().map(|s| outcome(s)).collect();
        let Some(stats) = ReferenceStats::from_samples(&outcomes) else {
            continue;
        };
        let mut rewarded: Vec<TrainExample> = group
            .iter()
            .filter_map(|s| rewarded(s, &stats, config))
            .collect();
        if config.samples_per_problem > 0 && rewarded.len() > config.samples_per_problem {
            rewarded.shuffle(&mut rng);
            rewarded.truncate(config.samples_per_problem);
        }
        kept.extend(rewarded);
    }
    normalize(kept, config.normalization)
}

/// On-policy samples rewarded against *given* reference statistics (the pre-sampled pool's,
/// never the samples' own), then normalised over all of them. Samples of problems without
/// statistics, and empty responses, are left out. `config.samples_per_problem` is not used:
/// every sample is kept.
pub fn rewarded_examples(
    samples: &[PoolSample],
    stats: &BTreeMap<String, ReferenceStats>,
    config: &RewardConfig,
) -> Vec<TrainExample> {
    let kept: Vec<TrainExample> = samples
        .iter()
        .filter_map(|s| rewarded(s, stats.get(&s.problem_id)?, config))
        .collect();
    normalize(kept, config.normalization)
}

/// The length-harmonizing reward of one sample, as a training example (advantage = reward
/// until normalised); `None` for an empty response or a reward that does not apply.
fn rewarded(s: &PoolSample, stats: &ReferenceStats, config: &RewardConfig) -> Option<TrainExample> {
    if s.response_ids.is_empty() {
        return None;
    }
    let reward = LengthHarmonizing {
        lambda: config.lambda,
        clip: config.clip,
    };
    let ctx = RewardContext {
        problem_id: &s.problem_id,
        gold: "",
        response: "",
        length: s.response_ids.len(),
        truncated: s.truncated,
        correct: s.correct,
        reference: stats,
    };
    let r = reward.reward(&ctx)?;
    Some(TrainExample {
        problem_id: s.problem_id.clone(),
        prompt_ids: s.prompt_ids.clone(),
        response_ids: s.response_ids.clone(),
        advantage: r,
        reward: r,
    })
}

/// Replaces each advantage by its normalised reward (groups = problems).
fn normalize(examples: Vec<TrainExample>, normalization: Normalization) -> Vec<TrainExample> {
    let pairs: Vec<(&str, Option<f32>)> = examples
        .iter()
        .map(|e| (e.problem_id.as_str(), Some(e.reward)))
        .collect();
    let normalized = normalization.apply(&pairs);
    examples
        .into_iter()
        .zip(normalized)
        .map(|(mut e, a)| {
            e.advantage = a.unwrap_or(0.0);
            e
        })
        .collect()
}

/// The paper's SFT baseline: per problem, the `per_problem` shortest correct samples.
pub fn shortest_correct_examples(pool: &[PoolSample], per_problem: usize) -> Vec<TrainExample> {
    let mut out = Vec::new();
    for (id, group) in group_by_problem(pool) {
        out.extend(
            shortest_correct(&group, per_problem)
                .into_iter()
                .map(|s| unrewarded(id, s)),
        );
    }
    out
}

/// The paper's DPO baseline: chosen = each of the `per_problem` shortest correct samples,
/// rejected = the problem's longest sample. Returned flat: `[chosen_0, rejected_0, ...]`.
pub fn preference_pairs(pool: &[PoolSample], per_problem: usize) -> Vec<TrainExample> {
    let mut out = Vec::new();
    for (id, group) in group_by_problem(pool) {
        let Some(longest) = group
            .iter()
            .max_by_key(|s| (s.response_ids.len(), std::cmp::Reverse(s.sample_index)))
        else {
            continue;
        };
        for chosen in shortest_correct(&group, per_problem) {
            if chosen.sample_index == longest.sample_index
                || chosen.response_ids.len() >= longest.response_ids.len()
            {
                continue; // nothing to prefer
            }
            out.push(unrewarded(id, chosen));
            out.push(unrewarded(id, longest));
        }
    }
    out
}

/// The `n` shortest complete correct samples of a group (ties by sample index).
fn shortest_correct<'a>(group: &[&'a PoolSample], n: usize) -> Vec<&'a PoolSample> {
    let mut correct: Vec<&PoolSample> = group
        .iter()
        .copied()
        .filter(|s| s.correct && !s.truncated)
        .collect();
    correct.sort_by_key(|s| (s.response_ids.len(), s.sample_index));
    correct.truncate(n);
    correct
}

/// A training example that carries no reward (SFT and DPO).
fn unrewarded(problem_id: &str, s: &PoolSample) -> TrainExample {
    TrainExample {
        problem_id: problem_id.to_string(),
        prompt_ids: s.prompt_ids.clone(),
        response_ids: s.response_ids.clone(),
        advantage: 0.0,
        reward: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(problem: &str, i: usize, len: usize, correct: bool) -> PoolSample {
        PoolSample {
            problem_id: problem.into(),
            sample_index: i,
            prompt_ids: vec![1, 2],
            response_ids: vec![7; len],
            correct,
            truncated: false,
        }
    }

    #[test]
    fn rewards_follow_the_paper_formula_per_problem() {
        let pool = vec![
            s("a", 0, 100, true),
            s("a", 1, 300, false),
            s("b", 0, 50, true),
        ];
        let ex = length_harmonizing_examples(&pool, &RewardConfig::default(), 0);
        // a: mean length 200, mean accuracy 0.5, lambda 2.
        assert!((ex[0].advantage - (200.0 / 100.0 - 1.0 + 2.0 * 0.5)).abs() < 1e-6);
        assert!((ex[1].advantage - (200.0 / 300.0 - 1.0 - 2.0 * 0.5)).abs() < 1e-6);
        assert!((ex[2].advantage - 0.0).abs() < 1e-6);
    }

    #[test]
    fn reference_code_form_keeps_m_samples_and_z_scores_them() {
        let pool: Vec<PoolSample> = (0..8).map(|i| s("a", i, 10 + 10 * i, i % 2 == 0)).collect();
        let config = RewardConfig {
            clip: Some((-2.0, 4.0)),
            normalization: Normalization::DatasetZScore,
            samples_per_problem: 2,
            ..Default::default()
        };
        let ex = length_harmonizing_examples(&pool, &config, 3);
        assert_eq!(ex.len(), 2);
        let mean: f32 = ex.iter().map(|e| e.advantage).sum::<f32>() / 2.0;
        assert!(mean.abs() < 1e-5);
        assert!(ex.iter().all(|e| e.reward <= 4.0 && e.reward >= -2.0));
    }

    #[test]
    fn on_policy_rewards_use_the_given_reference_not_the_samples() {
        let pool = vec![s("a", 0, 100, true), s("a", 1, 300, false)];
        let stats = reference_stats(&pool); // Lbar 200, Abar 0.5
        // On-policy samples all shorter than the reference: their own mean would be 50.
        let fresh = vec![
            s("a", 0, 40, true),
            s("a", 1, 60, true),
            s("zz", 0, 5, true),
        ];
        let ex = rewarded_examples(&fresh, &stats, &RewardConfig::default());
        assert_eq!(ex.len(), 2, "a problem without statistics is left out");
        assert!((ex[0].reward - (200.0 / 40.0 - 1.0 + 2.0 * 0.5)).abs() < 1e-6);
        assert!((ex[1].reward - (200.0 / 60.0 - 1.0 + 2.0 * 0.5)).abs() < 1e-6);
    }

    #[test]
    fn baselines_pick_shortest_correct_and_longest() {
        let pool = vec![
            s("a", 0, 30, true),
            s("a", 1, 10, true),
            s("a", 2, 90, false),
            s("a", 3, 20, true),
        ];
        let sft = shortest_correct_examples(&pool, 2);
        assert_eq!(
            sft.iter().map(|e| e.response_ids.len()).collect::<Vec<_>>(),
            vec![10, 20]
        );
        let dpo = preference_pairs(&pool, 2);
        let lens: Vec<usize> = dpo.iter().map(|e| e.response_ids.len()).collect();
        assert_eq!(lens, vec![10, 90, 20, 90]);
    }
}
