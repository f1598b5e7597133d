//! Rewards by name: the `[reward]` table of a run config, and the [`Scorer`] that turns a
//! training set's contexts into rewards.
//!
//! A [`RewardSpec`] names one reward of the family (`kind`) with its parameters, optionally
//! success-gated; `kind = "weighted_sum"` lists components, each with a weight and its own
//! normalisation. In TOML:
//!
//! ```toml
//! [reward]
//! kind = "weighted_sum"
//! normalization = "group_z_score"      # of the total (a key of the run config, not the spec)
//!
//! [[reward.components]]
//! kind = "correctness"
//!
//! [[reward.components]]
//! kind = "cosine"
//! max_length = 512
//! weight = 0.5
//! normalization = "dataset_z_score"    # this component, before the sum
//! success_gated = true
//! ```
//!
//! A [`Scorer`] is what training needs: per-sample component values, each component
//! normalised over the kept samples, the weighted sum (the *raw* reward), then the total's
//! normalisation (the *advantage*). A user's own [`Reward`] becomes a scorer with
//! [`Scorer::new`], or a term of one with [`Scorer::with`].

use std::hash::Hash;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::{
    AroraZanette, Correctness, Cosine, DapoOverlong, DynReward, KimiLength, L1Exact, L1Max,
    LengthHarmonizing, Normalization, Reward, RewardContext, ShorterBetter, SuccessGated,
    TargetLength, ThinkPruneCap, finite,
};

/// One reward of the family by name, with its parameters (`kind` in TOML). Defaults are the
/// published ones; lengths without a published default (`max_length`, `target`, `limit`)
/// are required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardKind {
    /// O1-Pruner: `Lbar_ref / L - 1 + lambda (c - Abar_ref)`, optionally clipped.
    LengthHarmonizing {
        /// Weight of the accuracy term (paper: 2 for Marco-o1, 5 for QwQ).
        #[serde(default = "default_lambda")]
        lambda: f32,
        /// Clip to `[lo, hi]` (reference code: `[-2, 4]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<(f32, f32)>,
    },
    /// `c`: 1 if correct, else 0.
    Correctness {},
    /// Kimi k1.5's group length term (add `correctness` with a `weighted_sum`).
    KimiLength {},
    /// DAPO's soft overlong penalty (0 up to `max_length - cache`, -1 beyond `max_length`).
    DapoOverlong {
        /// The generation limit (DAPO: 20,480).
        #[serde(default = "dapo_max")]
        max_length: usize,
        /// The soft-penalty buffer before it (DAPO: 4,096).
        #[serde(default = "dapo_cache")]
        cache: usize,
    },
    /// The cosine length-scaled reward (Yeo et al.).
    Cosine {
        /// Length at which the cosine reaches its far end.
        max_length: usize,
        /// Reward of a correct sample of length 0.
        #[serde(default = "two")]
        correct_at_zero: f32,
        /// Reward of a correct sample of length `max_length`.
        #[serde(default = "one")]
        correct_at_max: f32,
        /// Reward of a wrong sample of length 0.
        #[serde(default = "minus_ten")]
        wrong_at_zero: f32,
        /// Reward of a wrong sample of length `max_length`.
        #[serde(default)]
        wrong_at_max: f32,
        /// Reward of a truncated sample or one past `max_length`.
        #[serde(default = "minus_ten")]
        exceed: f32,
    },
    /// L1 / LCPO exact: `c - alpha |target - L|`.
    L1Exact {
        /// The target length in tokens.
        target: usize,
        /// Penalty per token off target (L1: 0.0003).
        #[serde(default = "l1_alpha")]
        alpha: f32,
    },
    /// L1 / LCPO max: `c * clip(alpha (target - L) + delta, 0, 1)`.
    L1Max {
        /// The length budget in tokens.
        target: usize,
        /// Slope (L1: 0.0003).
        #[serde(default = "l1_alpha")]
        alpha: f32,
        /// Offset (L1: 0.5).
        #[serde(default = "half")]
        delta: f32,
    },
    /// Arora & Zanette: `c (1 - alpha sigmoid(z))`, z over the group's correct lengths.
    AroraZanette {
        /// Penalty scale (paper: 0.1).
        #[serde(default = "tenth")]
        alpha: f32,
    },
    /// ShorterBetter: `alpha c - beta |SOL - L|`.
    ShorterBetter {
        /// Weight of correctness (paper: 2).
        #[serde(default = "two")]
        alpha: f32,
        /// Penalty per token from the shortest correct length (paper: 0.001).
        #[serde(default = "milli")]
        beta: f32,
    },
    /// ThinkPrune: `c` when complete within `limit` tokens, else 0.
    Thinkprune {
        /// The length limit in tokens.
        limit: usize,
    },
    /// `sum_i weight_i * component_i`, each component normalised on its own first.
    WeightedSum {
        /// The terms, in order.
        components: Vec<Component>,
    },
}

fn default_lambda() -> f32 {
    2.0
}
fn dapo_max() -> usize {
    20480
}
fn dapo_cache() -> usize {
    4096
}
fn one() -> f32 {
    1.0
}
fn two() -> f32 {
    2.0
}
fn minus_ten() -> f32 {
    -10.0
}
fn l1_alpha() -> f32 {
    0.0003
}
fn half() -> f32 {
    0.5
}
fn tenth() -> f32 {
    0.1
}
fn milli() -> f32 {
    0.001
}

impl Default for RewardKind {
    /// O1-Pruner's reward as the paper states it (lambda 2, no clip).
    fn default() -> Self {
        RewardKind::LengthHarmonizing {
            lambda: 2.0,
            clip: None,
        }
    }
}

impl RewardKind {
    /// The `kind` names, in the order of the enum.
    pub const NAMES: [&'static str; 11] = [
        "length_harmonizing",
        "correctness",
        "kimi_length",
        "dapo_overlong",
        "cosine",
        "l1_exact",
        "l1_max",
        "arora_zanette",
        "shorter_better",
        "thinkprune",
        "weighted_sum",
    ];

    /// This kind's `kind` name.
    pub fn name(&self) -> &'static str {
        let i = match self {
            RewardKind::LengthHarmonizing { .. } => 0,
            RewardKind::Correctness {} => 1,
            RewardKind::KimiLength {} => 2,
            RewardKind::DapoOverlong { .. } => 3,
            RewardKind::Cosine { .. } => 4,
            RewardKind::L1Exact { .. } => 5,
            RewardKind::L1Max { .. } => 6,
            RewardKind::AroraZanette { .. } => 7,
            RewardKind::ShorterBetter { .. } => 8,
            RewardKind::Thinkprune { .. } => 9,
            RewardKind::WeightedSum { .. } => 10,
        };
        Self::NAMES[i]
    }
}

/// A reward by name: its kind and parameters, and whether wrong samples get 0 instead.
///
/// Read from a table whose keys are `kind` (default `"length_harmonizing"`), the kind's
/// parameters and `success_gated` ([`RewardSpec::from_table`]); unknown kinds and keys are
/// errors naming them.
///
/// ```
/// use o1p_reward::{RewardKind, RewardSpec};
/// let spec: RewardSpec = serde_json::from_str(r#"{"kind": "cosine", "max_length": 512}"#).unwrap();
/// assert_eq!(spec.kind.name(), "cosine");
/// assert!(!spec.success_gated);
/// let err = serde_json::from_str::<RewardSpec>(r#"{"kind": "cosine", "max_len": 512}"#).unwrap_err();
/// assert!(err.to_string().contains("max_len"), "{err}");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RewardSpec {
    /// Which reward, with its parameters.
    pub kind: RewardKind,
    /// Wrong samples get 0 (the kind's value for correct ones only).
    pub success_gated: bool,
}

impl RewardSpec {
    /// Reads a spec from a table (`kind`, its parameters, `success_gated`); the error names
    /// the bad key or kind.
    pub fn from_table(mut table: Table) -> Result<Self, String> {
        let success_gated = match table.remove("success_gated") {
            None => false,
            Some(Value::Boolean(b)) => b,
            Some(other) => return Err(format!("success_gated must be true or false, got {other}")),
        };
        table
            .entry("kind")
            .or_insert_with(|| Value::String("length_harmonizing".into()));
        let kind_name = table
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind: RewardKind = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                let e = e.message().to_string();
                match kind_name {
                    Some(k) if RewardKind::NAMES.contains(&k.as_str()) => {
                        format!("kind = \"{k}\": {e}")
                    }
                    _ => format!("kind: {e}"),
                }
            })?;
        Ok(RewardSpec {
            kind,
            success_gated,
        })
    }

    /// The table [`RewardSpec::from_table`] reads (`success_gated` only when set).
    pub fn to_table(&self) -> Table {
        let mut table = match Value::try_from(&self.kind) {
            Ok(Value::Table(t)) => t,
            _ => Table::new(),
        };
        if self.success_gated {
            table.insert("success_gated".into(), Value::Boolean(true));
        }
        table
    }

    /// Checks the numbers: finite weights and parameters, lengths >= 1, `lambda >= 0`, a
    /// non-empty `clip`, a non-empty sum. `Err` is `key = value: what it must be`, the key
    /// under `prefix` (`reward.lambda`, `reward.components[1].max_length`).
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        let key = |k: &str| format!("{prefix}.{k}");
        let finite = |k: &str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(format!("{} = {v}: must be a finite number", key(k)))
            }
        };
        let at_least_one = |k: &str, v: usize| {
            if v >= 1 {
                Ok(())
            } else {
                Err(format!("{} = {v}: must be at least 1", key(k)))
            }
        };
        let non_negative = |k: &str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{} = {v}: must be a finite number >= 0", key(k)))
            }
        };
        match &self.kind {
            RewardKind::LengthHarmonizing { lambda, clip } => {
                non_negative("lambda", *lambda)?;
                if let Some((lo, hi)) = clip {
                    finite("clip[0]", *lo)?;
                    finite("clip[1]", *hi)?;
                    if lo >= hi {
                        return Err(format!("{} [{lo}, {hi}] is empty", key("clip")));
                    }
                }
            }
            RewardKind::Correctness {} | RewardKind::KimiLength {} => {}
            RewardKind::DapoOverlong { max_length, cache } => {
                at_least_one("max_length", *max_length)?;
                at_least_one("cache", *cache)?;
                if cache > max_length {
                    return Err(format!(
                        "{} = {cache}: must be at most max_length = {max_length}",
                        key("cache")
                    ));
                }
            }
            RewardKind::Cosine {
                max_length,
                correct_at_zero,
                correct_at_max,
                wrong_at_zero,
                wrong_at_max,
                exceed,
            } => {
                at_least_one("max_length", *max_length)?;
                finite("correct_at_zero", *correct_at_zero)?;
                finite("correct_at_max", *correct_at_max)?;
                finite("wrong_at_zero", *wrong_at_zero)?;
                finite("wrong_at_max", *wrong_at_max)?;
                finite("exceed", *exceed)?;
            }
            RewardKind::L1Exact { target, alpha } => {
                at_least_one("target", *target)?;
                non_negative("alpha", *alpha)?;
            }
            RewardKind::L1Max {
                target,
                alpha,
                delta,
            } => {
                at_least_one("target", *target)?;
                non_negative("alpha", *alpha)?;
                finite("delta", *delta)?;
            }
            RewardKind::AroraZanette { alpha } => non_negative("alpha", *alpha)?,
            RewardKind::ShorterBetter { alpha, beta } => {
                non_negative("alpha", *alpha)?;
                non_negative("beta", *beta)?;
            }
            RewardKind::Thinkprune { limit } => at_least_one("limit", *limit)?,
            RewardKind::WeightedSum { components } => {
                if components.is_empty() {
                    return Err(format!(
                        "{}: a weighted_sum needs at least one component ([[{}]])",
                        key("components"),
                        key("components")
                    ));
                }
                for (i, c) in components.iter().enumerate() {
                    let at = format!("{prefix}.components[{i}]");
                    if !c.weight.is_finite() {
                        return Err(format!(
                            "{at}.weight = {}: must be a finite number",
                            c.weight
                        ));
                    }
                    c.reward.check(&at)?;
                }
            }
        }
        Ok(())
    }

    /// A scorer for this spec: one term, or one per component of a weighted sum (each with its
    /// normalisation); `normalization` is the total's.
    pub fn scorer(&self, normalization: Normalization) -> Scorer {
        let mut scorer = match &self.kind {
            RewardKind::WeightedSum { components } if !self.success_gated => {
                let mut s = Scorer::sum("weighted_sum", normalization);
                for c in components {
                    s = s.with_boxed(c.weight, c.reward.build(), c.normalization);
                }
                s
            }
            _ => Scorer {
                name: String::new(),
                terms: vec![Term {
                    weight: 1.0,
                    reward: self.build(),
                    normalization: Normalization::None,
                }],
                normalization,
            },
        };
        scorer.name = scorer_name(self);
        scorer
    }

    /// This spec as one per-sample [`Reward`]. A weighted sum's per-component normalisation
    /// needs the whole training set and is left to [`RewardSpec::scorer`]: here the components
    /// are summed as they are.
    pub fn build(&self) -> DynReward {
        let inner: DynReward = match &self.kind {
            RewardKind::LengthHarmonizing { lambda, clip } => Box::new(LengthHarmonizing {
                lambda: *lambda,
                clip: *clip,
            }),
            RewardKind::Correctness {} => Box::new(Correctness),
            RewardKind::KimiLength {} => Box::new(KimiLength),
            RewardKind::DapoOverlong { max_length, cache } => {
                Box::new(DapoOverlong::new(*max_length, *cache))
            }
            RewardKind::Cosine {
                max_length,
                correct_at_zero,
                correct_at_max,
                wrong_at_zero,
                wrong_at_max,
                exceed,
            } => Box::new(Cosine {
                max_length: *max_length,
                correct_at_zero: *correct_at_zero,
                correct_at_max: *correct_at_max,
                wrong_at_zero: *wrong_at_zero,
                wrong_at_max: *wrong_at_max,
                exceed: *exceed,
            }),
            RewardKind::L1Exact { target, alpha } => Box::new(L1Exact {
                alpha: *alpha,
                target: TargetLength::Fixed(*target),
            }),
            RewardKind::L1Max {
                target,
                alpha,
                delta,
            } => Box::new(L1Max {
                alpha: *alpha,
                delta: *delta,
                target: TargetLength::Fixed(*target),
            }),
            RewardKind::AroraZanette { alpha } => Box::new(AroraZanette { alpha: *alpha }),
            RewardKind::ShorterBetter { alpha, beta } => Box::new(ShorterBetter {
                alpha: *alpha,
                beta: *beta,
            }),
            RewardKind::Thinkprune { limit } => Box::new(ThinkPruneCap { limit: *limit }),
            RewardKind::WeightedSum { components } => {
                let mut sum = super::WeightedSum::new("weighted_sum");
                for c in components {
                    sum = sum.with(c.weight, c.reward.build());
                }
                Box::new(sum)
            }
        };
        if self.success_gated {
            Box::new(SuccessGated::new(inner))
        } else {
            inner
        }
    }
}

/// The TOML name of a normalisation.
fn normalization_name(n: Normalization) -> &'static str {
    match n {
        Normalization::None => "none",
        Normalization::DatasetZScore => "dataset_z_score",
        Normalization::GroupZScore => "group_z_score",
    }
}

/// `kind`, or `gated_<kind>`.
fn scorer_name(spec: &RewardSpec) -> String {
    if spec.success_gated {
        format!("gated_{}", spec.kind.name())
    } else {
        spec.kind.name().to_string()
    }
}

impl Serialize for RewardSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_table().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RewardSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = Table::deserialize(deserializer)?;
        RewardSpec::from_table(table).map_err(serde::de::Error::custom)
    }
}

/// One term of a `weighted_sum`: a reward spec, its weight (default 1) and its own
/// normalisation over the training set before the sum (default none).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The weight.
    pub weight: f32,
    /// The reward.
    pub reward: RewardSpec,
    /// Normalisation of this component before the sum.
    pub normalization: Normalization,
}

impl Serialize for Component {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = self.reward.to_table();
        table.insert("weight".into(), Value::Float(f64::from(self.weight)));
        if self.normalization != Normalization::None {
            table.insert(
                "normalization".into(),
                Value::String(normalization_name(self.normalization).into()),
            );
        }
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = Table::deserialize(deserializer)?;
        let weight = match table.remove("weight") {
            None => 1.0,
            Some(Value::Float(w)) => w as f32,
            Some(Value::Integer(w)) => w as f32,
            Some(v) => {
                return Err(D::Error::custom(format!(
                    "weight must be a number, got {v}"
                )));
            }
        };
        let normalization = match table.remove("normalization") {
            None => Normalization::None,
            Some(v) => v.try_into().map_err(|e: toml::de::Error| {
                D::Error::custom(format!("normalization: {}", e.message()))
            })?,
        };
        let reward = RewardSpec::from_table(table).map_err(D::Error::custom)?;
        Ok(Component {
            weight,
            reward,
            normalization,
        })
    }
}

/// One weighted, separately normalised term of a [`Scorer`].
struct Term {
    weight: f32,
    reward: DynReward,
    normalization: Normalization,
}

/// Turns the contexts of a training set into rewards: each term's per-sample values
/// ([`Scorer::components`]), each term normalised over the set, their weighted sum (the raw
/// reward), and the sum's normalisation (the advantage) ([`Scorer::combine`]).
///
/// ```
/// use o1p_reward::{Correctness, LengthHarmonizing, Normalization, ReferenceStats, RewardContext, SampleOutcome, Scorer};
/// let s = |length, correct| SampleOutcome { length, correct, truncated: false };
/// let stats = ReferenceStats::from_samples(&[s(100, true), s(300, false)]).unwrap();
/// let ctx = |length, correct| RewardContext {
///     problem_id: "p", gold: "1", response: "", length, truncated: false, correct,
///     difficulty: None, reference: &stats,
/// };
/// let scorer = Scorer::sum("lh_plus_c", Normalization::None)
///     .with(1.0, LengthHarmonizing::paper(2.0), Normalization::None)
///     .with(0.5, Correctness, Normalization::None);
/// let scored = scorer.score(&[ctx(100, true), ctx(300, false)]);
/// // LH: 200/100 - 1 + 2 (1 - 0.5) = 2; plus 0.5 * 1.
/// assert_eq!(scored[0].reward, Some(2.5));
/// assert_eq!(scored[0].components, vec![Some(2.0), Some(1.0)]);
/// ```
pub struct Scorer {
    name: String,
    terms: Vec<Term>,
    normalization: Normalization,
}

/// What a [`Scorer`] gave one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Each term's raw value (before its normalisation), in term order.
    pub components: Vec<Option<f32>>,
    /// The weighted sum of the normalised terms; `None` if any term skipped the sample.
    pub reward: Option<f32>,
    /// The reward after the total's normalisation.
    pub advantage: Option<f32>,
}

impl Scorer {
    /// One reward as it is, its total normalised by `normalization`.
    pub fn new(reward: impl Reward + Send + Sync + 'static, normalization: Normalization) -> Self {
        Scorer {
            name: reward.name().to_string(),
            terms: vec![Term {
                weight: 1.0,
                reward: Box::new(reward),
                normalization: Normalization::None,
            }],
            normalization,
        }
    }

    /// An empty weighted sum named `name` (add terms with [`Scorer::with`]).
    pub fn sum(name: impl Into<String>, normalization: Normalization) -> Self {
        Scorer {
            name: name.into(),
            terms: Vec::new(),
            normalization,
        }
    }

    /// Adds `weight * reward`, the reward normalised by `normalization` over the set first.
    pub fn with(
        self,
        weight: f32,
        reward: impl Reward + Send + Sync + 'static,
        normalization: Normalization,
    ) -> Self {
        self.with_boxed(weight, Box::new(reward), normalization)
    }

    /// [`Scorer::with`] for a boxed reward.
    pub fn with_boxed(
        mut self,
        weight: f32,
        reward: DynReward,
        normalization: Normalization,
    ) -> Self {
        self.terms.push(Term {
            weight,
            reward,
            normalization,
        });
        self
    }

    /// The name used in logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The terms' reward names, in order.
    pub fn term_names(&self) -> Vec<&str> {
        self.terms.iter().map(|t| t.reward.name()).collect()
    }

    /// One line naming the scorer, its terms with their weights and normalisations, and the
    /// total's normalisation (`lh_plus_hesitation: 1 * length_harmonizing + 0.5 *
    /// hesitation_penalty (group_z_score); total: none`).
    pub fn describe(&self) -> String {
        let norm = normalization_name;
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let mut term = format!("{} * {}", t.weight, t.reward.name());
                if t.normalization != Normalization::None {
                    term.push_str(&format!(" ({})", norm(t.normalization)));
                }
                term
            })
            .collect();
        format!(
            "{}: {}; total: {}",
            self.name,
            terms.join(" + "),
            norm(self.normalization)
        )
    }

    /// The normalisation of the total.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// Each term's raw value for one sample (non-finite values become `None`).
    pub fn components(&self, ctx: &RewardContext<'_>) -> Vec<Option<f32>> {
        self.terms
            .iter()
            .map(|t| t.reward.reward(ctx).filter(|r| r.is_finite()))
            .collect()
    }

    /// The rewards and advantages of a set of samples, given each sample's group (problem) and
    /// [`Scorer::components`]. Terms and the total are normalised over exactly these samples.
    pub fn combine<G: Eq + Hash>(&self, rows: &[(G, Vec<Option<f32>>)]) -> Vec<Scored> {
        let mut normalised: Vec<Vec<Option<f32>>> = vec![Vec::new(); rows.len()];
        for (t, term) in self.terms.iter().enumerate() {
            let column: Vec<(&G, Option<f32>)> = rows
                .iter()
                .map(|(g, values)| (g, values.get(t).copied().flatten()))
                .collect();
            for (row, v) in normalised.iter_mut().zip(term.normalization.apply(&column)) {
                row.push(v);
            }
        }
        let totals: Vec<(&G, Option<f32>)> = rows
            .iter()
            .zip(&normalised)
            .map(|((g, _), values)| {
                let mut total = 0.0f64;
                for (term, v) in self.terms.iter().zip(values) {
                    match v {
                        Some(v) => total += f64::from(term.weight) * f64::from(*v),
                        None => return (g, None),
                    }
                }
                (g, finite(total))
            })
            .collect();
        let advantages = self.normalization.apply(&totals);
        rows.iter()
            .zip(totals)
            .zip(advantages)
            .map(|(((_, components), (_, reward)), advantage)| Scored {
                components: components.clone(),
                reward,
                advantage,
            })
            .collect()
    }

    /// [`Scorer::components`] then [`Scorer::combine`] over `contexts` (groups are problem
    /// ids).
    pub fn score(&self, contexts: &[RewardContext<'_>]) -> Vec<Scored> {
        let rows: Vec<(&str, Vec<Option<f32>>)> = contexts
            .iter()
            .map(|c| (c.problem_id, self.components(c)))
            .collect();
        self.combine(&rows)
    }
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scorer({})", self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReferenceStats, SampleOutcome};

    fn parse(text: &str) -> Result<RewardSpec, String> {
        let table: Table = toml::from_str(text).map_err(|e| e.to_string())?;
        RewardSpec::from_table(table)
    }

    /// Every kind, with all of its parameters spelled out.
    const EVERY_KIND: [&str; 11] = [
        "kind = \"length_harmonizing\"\nlambda = 5.0\nclip = [-2.0, 4.0]",
        "kind = \"correctness\"",
        "kind = \"kimi_length\"",
        "kind = \"dapo_overlong\"\nmax_length = 256\ncache = 64",
        "kind = \"cosine\"\nmax_length = 256\ncorrect_at_zero = 2.0\ncorrect_at_max = 1.0\nwrong_at_zero = -10.0\nwrong_at_max = 0.0\nexceed = -10.0",
        "kind = \"l1_exact\"\ntarget = 100\nalpha = 0.0003",
        "kind = \"l1_max\"\ntarget = 100\nalpha = 0.0003\ndelta = 0.5",
        "kind = \"arora_zanette\"\nalpha = 0.1",
        "kind = \"shorter_better\"\nalpha = 2.0\nbeta = 0.001",
        "kind = \"thinkprune\"\nlimit = 128",
        "kind = \"weighted_sum\"\nsuccess_gated = false\n[[components]]\nkind = \"correctness\"\n[[components]]\nkind = \"cosine\"\nmax_length = 64\nweight = 0.5\nnormalization = \"group_z_score\"\nsuccess_gated = true",
    ];

    #[test]
    fn every_kind_parses_from_toml_and_round_trips() {
        for (text, name) in EVERY_KIND.iter().zip(RewardKind::NAMES) {
            let spec = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.kind.name(), name);
            spec.check("reward").unwrap();
            let written = toml::to_string(&spec.to_table()).unwrap();
            assert_eq!(parse(&written).unwrap(), spec, "{written}");
            // The built reward carries the family's name (gated or summed as asked).
            let built = spec.build();
            let expected = if name == "kimi_length" || name == "weighted_sum" {
                name
            } else {
                built.name()
            };
            assert_eq!(built.name(), expected);
        }
        // No `kind`: today's keys, today's reward.
        let spec = parse("lambda = 3.0").unwrap();
        assert_eq!(
            spec.kind,
            RewardKind::LengthHarmonizing {
                lambda: 3.0,
                clip: None
            }
        );
        let gated = parse("kind = \"shorter_better\"\nsuccess_gated = true").unwrap();
        assert_eq!(gated.build().name(), "gated_shorter_better");
    }

    #[test]
    fn unknown_kinds_keys_and_bad_values_are_named() {
        let err = parse("kind = \"kimi\"").unwrap_err();
        assert!(err.contains("kimi") && err.contains("kimi_length"), "{err}");
        let err = parse("kind = \"cosine\"\nmax_len = 5").unwrap_err();
        assert!(err.contains("cosine") && err.contains("max_len"), "{err}");
        let err = parse("kind = \"cosine\"").unwrap_err();
        assert!(err.contains("max_length"), "{err}");
        let err = parse("kind = \"correctness\"\nlambda = 2.0").unwrap_err();
        assert!(err.contains("lambda"), "{err}");
        let err = parse("success_gated = 1").unwrap_err();
        assert!(err.contains("success_gated"), "{err}");
        let err = parse("kind = \"weighted_sum\"\n[[components]]\nkind = \"cosine\"\nmax_length = 8\nweight = \"x\"").unwrap_err();
        assert!(err.contains("weight"), "{err}");
        let checks = [
            ("lambda = -1.0", "reward.lambda = -1"),
            ("clip = [4.0, -2.0]", "reward.clip [4, -2] is empty"),
            (
                "kind = \"dapo_overlong\"\nmax_length = 8\ncache = 9",
                "reward.cache = 9",
            ),
            ("kind = \"thinkprune\"\nlimit = 0", "reward.limit = 0"),
            (
                "kind = \"weighted_sum\"\ncomponents = []",
                "reward.components",
            ),
            (
                "kind = \"weighted_sum\"\n[[components]]\nkind = \"cosine\"\nmax_length = 0",
                "reward.components[0].max_length = 0",
            ),
            (
                "kind = \"weighted_sum\"\n[[components]]\nkind = \"correctness\"\nweight = nan",
                "reward.components[0].weight = NaN",
            ),
        ];
        for (text, needle) in checks {
            let err = parse(text).unwrap().check("reward").unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    fn stats() -> ReferenceStats {
        let s = |length, correct| SampleOutcome {
            length,
            correct,
            truncated: false,
        };
        ReferenceStats::from_samples(&[s(100, true), s(300, false)]).unwrap()
    }

    fn ctx<'a>(
        problem: &'a str,
        length: usize,
        correct: bool,
        r: &'a ReferenceStats,
    ) -> RewardContext<'a> {
        RewardContext {
            problem_id: problem,
            gold: "1",
            response: "",
            length,
            truncated: false,
            correct,
            difficulty: None,
            reference: r,
        }
    }

    #[test]
    fn a_sum_normalises_each_component_before_weighing_it() {
        let r = stats();
        let spec = parse(
            "kind = \"weighted_sum\"\n[[components]]\nkind = \"correctness\"\nweight = 2.0\n[[components]]\nkind = \"length_harmonizing\"\nlambda = 0.0\nnormalization = \"dataset_z_score\"",
        )
        .unwrap();
        let scorer = spec.scorer(Normalization::GroupZScore);
        assert_eq!(scorer.term_names(), ["correctness", "length_harmonizing"]);
        let contexts = [
            ctx("a", 100, true, &r),
            ctx("a", 300, false, &r),
            ctx("b", 200, true, &r),
        ];
        let scored = scorer.score(&contexts);
        // LH with lambda 0: 200/L - 1 = 1, -1/3, 0; z-scored over the three samples.
        let lh = [1.0f64, -1.0 / 3.0, 0.0];
        let mean = lh.iter().sum::<f64>() / 3.0;
        let std = (lh.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        for (i, (c, l)) in [(1.0, lh[0]), (0.0, lh[1]), (1.0, lh[2])]
            .iter()
            .enumerate()
        {
            let want = 2.0 * c + (l - mean) / std;
            assert!(
                (f64::from(scored[i].reward.unwrap()) - want).abs() < 1e-5,
                "{i}"
            );
            assert!((f64::from(scored[i].components[1].unwrap()) - l).abs() < 1e-6);
        }
        // The total is then z-scored within each problem: b is alone, so 0; a's two are +-1.
        assert_eq!(scored[2].advantage, Some(0.0));
        assert!((scored[0].advantage.unwrap() - 1.0).abs() < 1e-5);
        assert!((scored[1].advantage.unwrap() + 1.0).abs() < 1e-5);
    }

    #[test]
    fn success_gating_zeroes_wrong_samples_of_any_kind() {
        let r = stats();
        let spec = parse("kind = \"length_harmonizing\"\nsuccess_gated = true").unwrap();
        let scorer = spec.scorer(Normalization::None);
        assert_eq!(scorer.name(), "gated_length_harmonizing");
        let scored = scorer.score(&[ctx("a", 100, true, &r), ctx("a", 300, false, &r)]);
        assert_eq!(scored[0].reward, Some(2.0)); // 200/100 - 1 + 2 * 0.5
        assert_eq!(scored[1].reward, Some(0.0));
    }
}
