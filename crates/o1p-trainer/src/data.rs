//! Training items built from the pre-sampled pool: rewarded samples for the clipped objective
//! (any reward: the `[reward]` kind of the run config, or a user's own [`Scorer`]), and the
//! SFT and DPO baselines of the paper, all from the same pool.

use std::collections::BTreeMap;

use o1p_reward::{Normalization, ReferenceStats, RewardContext, RewardSpec, SampleOutcome, Scorer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// One pre-sampled solution, tokenized, with what a reward may read.
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
    /// The response text as generated.
    #[serde(default)]
    pub response: String,
    /// The problem's gold answer; empty when the pool does not record it (pools written
    /// before pre-sampling kept it in `reference_stats.json`).
    #[serde(default)]
    pub gold: String,
    /// The problem's numeric difficulty, where the data has one.
    #[serde(default)]
    pub difficulty: Option<f64>,
    /// The grader's verdict.
    pub correct: bool,
    /// Whether sampling hit the length cap.
    pub truncated: bool,
}

impl PoolSample {
    /// What a reward sees of this sample, against the problem's reference statistics.
    pub fn context<'a>(&'a self, reference: &'a ReferenceStats) -> RewardContext<'a> {
        RewardContext {
            problem_id: &self.problem_id,
            gold: &self.gold,
            response: &self.response,
            length: self.response_ids.len(),
            truncated: self.truncated,
            correct: self.correct,
            difficulty: self.difficulty,
            reference,
        }
    }
}

/// One sequence to train on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainExample {
    /// The problem it solves.
    pub problem_id: String,
    /// Its index among the problem's samples (0 where it has none).
    #[serde(default)]
    pub sample_index: usize,
    /// Prompt token ids.
    pub prompt_ids: Vec<u32>,
    /// Response token ids (the trained part).
    pub response_ids: Vec<u32>,
    /// The advantage used by the loss (the normalised reward; 0 for SFT).
    pub advantage: f32,
    /// The raw reward before normalisation (for metrics).
    pub reward: f32,
    /// Each reward term's raw value, in the scorer's term order (empty for SFT and DPO).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<f32>,
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

/// The `[reward]` table of a run config: which reward (`kind`, its parameters,
/// `success_gated`; see [`RewardSpec`]), how the rewards of the training set are normalised,
/// and how many samples per problem are kept.
///
/// Without `kind` it is O1-Pruner's length-harmonizing reward, read from the keys it always
/// had (`lambda`, `clip`). Unknown kinds and keys are errors naming them.
///
/// ```
/// use o1p_trainer::RewardConfig;
/// let c: RewardConfig = toml::from_str("kind = \"shorter_better\"\nnormalization = \"group_z_score\"").unwrap();
/// assert_eq!(c.spec.kind.name(), "shorter_better");
/// assert_eq!(c.scorer().name(), "shorter_better");
/// assert!(toml::from_str::<RewardConfig>("kind = \"shorter\"").is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RewardConfig {
    /// The reward by name, with its parameters.
    pub spec: RewardSpec,
    /// Normalisation of the rewards of the training set (reference code: dataset z-score).
    pub normalization: Normalization,
    /// Samples per problem used for training, out of K (reference code: 2; 0 = all K).
    /// The reference statistics always use all K.
    pub samples_per_problem: usize,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig::length_harmonizing(2.0, None)
    }
}

impl RewardConfig {
    /// O1-Pruner's reward with `lambda` and an optional clip, unnormalised, all samples.
    pub fn length_harmonizing(lambda: f32, clip: Option<(f32, f32)>) -> Self {
        RewardConfig {
            spec: RewardSpec {
                kind: o1p_reward::RewardKind::LengthHarmonizing { lambda, clip },
                success_gated: false,
            },
            normalization: Normalization::None,
            samples_per_problem: 0,
        }
    }

    /// The scorer this config describes.
    pub fn scorer(&self) -> Scorer {
        self.spec.scorer(self.normalization)
    }

    /// The accuracy weight `lambda` when the reward is length-harmonizing.
    pub fn lambda(&self) -> Option<f32> {
        match self.spec.kind {
            o1p_reward::RewardKind::LengthHarmonizing { lambda, .. } => Some(lambda),
            _ => None,
        }
    }
}

impl Serialize for RewardConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = self.spec.to_table();
        table.insert(
            "normalization".into(),
            Value::try_from(self.normalization).map_err(serde::ser::Error::custom)?,
        );
        table.insert(
            "samples_per_problem".into(),
            Value::Integer(self.samples_per_problem as i64),
        );
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RewardConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = Table::deserialize(deserializer)?;
        let normalization = match table.remove("normalization") {
            None => Normalization::None,
            Some(v) => v.try_into().map_err(|e: toml::de::Error| {
                D::Error::custom(format!("normalization: {}", e.message()))
            })?,
        };
        let samples_per_problem = match table.remove("samples_per_problem") {
            None => 0,
            Some(Value::Integer(n)) if n >= 0 => n as usize,
            Some(v) => {
                return Err(D::Error::custom(format!(
                    "samples_per_problem must be a whole number >= 0, got {v}"
                )));
            }
        };
        let spec = RewardSpec::from_table(table).map_err(D::Error::custom)?;
        Ok(RewardConfig {
            spec,
            normalization,
            samples_per_problem,
        })
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

/// The off-policy training set of any reward: every problem's samples scored by `scorer`
/// against the problem's reference statistics (over all of its K samples in the pool),
/// `samples_per_problem` of them kept (after a seeded shuffle; 0 keeps all), then each term
/// and the total normalised over the kept samples. Samples a term skips (`None`) and empty
/// responses are left out.
///
/// This is what `prune` does with the `[reward]` table; pass your own [`Scorer`] (built
/// from any [`o1p_reward::Reward`]) to train with it:
///
/// ```
/// use o1p_reward::{FnReward, Normalization, Scorer};
/// use o1p_trainer::{PoolSample, data::scored_examples};
///
/// let sample = |i: usize, len: usize, correct: bool, response: &str| PoolSample {
///     problem_id: "p".into(), sample_index: i, prompt_ids: vec![1], response_ids: vec![7; len],
///     response: response.into(), gold: "5".into(), difficulty: None, correct, truncated: false,
/// };
/// let pool = vec![sample(0, 4, true, "5"), sample(1, 8, true, "Wait... 5")];
/// // Shorter than the problem's mean length is better; "Wait" costs 1.
/// let reward = FnReward::new("short_no_wait", |ctx| {
///     let waits = ctx.response.matches("Wait").count() as f32;
///     Some((ctx.reference.mean_length / ctx.length as f64) as f32 - waits)
/// });
/// let examples = scored_examples(&pool, &Scorer::new(reward, Normalization::None), 0, 0);
/// assert_eq!(examples[0].reward, 1.5);  // 6 / 4
/// assert_eq!(examples[1].reward, -0.25); // 6 / 8 - 1
/// ```
pub fn scored_examples(
    pool: &[PoolSample],
    scorer: &Scorer,
    samples_per_problem: usize,
    seed: u64,
) -> Vec<TrainExample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kept: Vec<(&PoolSample, Vec<f32>)> = Vec::new();
    for group in group_by_problem(pool).into_values() {
        let outcomes: Vec<SampleOutcome> = group.iter().map(|s| outcome(s)).collect();
        let Some(stats) = ReferenceStats::from_samples(&outcomes) else {
            continue;
        };
        let mut scored: Vec<(&PoolSample, Vec<f32>)> = group
            .iter()
            .filter_map(|s| Some((*s, components(s, &stats, scorer)?)))
            .collect();
        if samples_per_problem > 0 && scored.len() > samples_per_problem {
            scored.shuffle(&mut rng);
            scored.truncate(samples_per_problem);
        }
        kept.extend(scored);
    }
    combine(kept, scorer)
}

/// On-policy samples scored against *given* reference statistics (the pre-sampled pool's,
/// never the samples' own), then normalised over all of them. Samples of problems without
/// statistics, empty responses and samples a term skips are left out.
pub fn rewarded_examples(
    samples: &[PoolSample],
    stats: &BTreeMap<String, ReferenceStats>,
    scorer: &Scorer,
) -> Vec<TrainExample> {
    let kept: Vec<(&PoolSample, Vec<f32>)> = samples
        .iter()
        .filter_map(|s| Some((s, components(s, stats.get(&s.problem_id)?, scorer)?)))
        .collect();
    combine(kept, scorer)
}

/// Every term's value for one sample; `None` for an empty response or a skipped term.
fn components(s: &PoolSample, stats: &ReferenceStats, scorer: &Scorer) -> Option<Vec<f32>> {
    if s.response_ids.is_empty() {
        return None;
    }
    scorer.components(&s.context(stats)).into_iter().collect()
}

/// The kept samples' rewards and advantages (terms and total normalised over them, groups =
/// problems), as training examples.
fn combine(kept: Vec<(&PoolSample, Vec<f32>)>, scorer: &Scorer) -> Vec<TrainExample> {
    let rows: Vec<(&str, Vec<Option<f32>>)> = kept
        .iter()
        .map(|(s, c)| (s.problem_id.as_str(), c.iter().map(|&v| Some(v)).collect()))
        .collect();
    kept.into_iter()
        .zip(scorer.combine(&rows))
        .filter_map(|((s, components), scored)| {
            Some(TrainExample {
                problem_id: s.problem_id.clone(),
                sample_index: s.sample_index,
                prompt_ids: s.prompt_ids.clone(),
                response_ids: s.response_ids.clone(),
                advantage: scored.advantage.unwrap_or(0.0),
                reward: scored.reward?,
                components,
            })
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
        sample_index: s.sample_index,
        prompt_ids: s.prompt_ids.clone(),
        response_ids: s.response_ids.clone(),
        advantage: 0.0,
        reward: 0.0,
        components: Vec::new(),
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
            response: String::new(),
            gold: String::new(),
            difficulty: None,
            correct,
            truncated: false,
        }
    }

    fn lh_examples(pool: &[PoolSample], config: &RewardConfig, seed: u64) -> Vec<TrainExample> {
        scored_examples(pool, &config.scorer(), config.samples_per_problem, seed)
    }

    #[test]
    fn rewards_follow_the_paper_formula_per_problem() {
        let pool = vec![
            s("a", 0, 100, true),
            s("a", 1, 300, false),
            s("b", 0, 50, true),
        ];
        let ex = lh_examples(&pool, &RewardConfig::default(), 0);
        // a: mean length 200, mean accuracy 0.5, lambda 2.
        assert!((ex[0].advantage - (200.0 / 100.0 - 1.0 + 2.0 * 0.5)).abs() < 1e-6);
        assert!((ex[1].advantage - (200.0 / 300.0 - 1.0 - 2.0 * 0.5)).abs() < 1e-6);
        assert!((ex[2].advantage - 0.0).abs() < 1e-6);
    }

    #[test]
    fn reference_code_form_keeps_m_samples_and_z_scores_them() {
        let pool: Vec<PoolSample> = (0..8).map(|i| s("a", i, 10 + 10 * i, i % 2 == 0)).collect();
        let config = RewardConfig {
            normalization: Normalization::DatasetZScore,
            samples_per_problem: 2,
            ..RewardConfig::length_harmonizing(2.0, Some((-2.0, 4.0)))
        };
        let ex = lh_examples(&pool, &config, 3);
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
        let ex = rewarded_examples(&fresh, &stats, &RewardConfig::default().scorer());
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
