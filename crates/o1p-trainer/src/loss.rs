//! The training objectives, as plain functions of tensors (tested against closed forms).
//!
//! O1-Pruner (METHOD.md, Eq. 7 as run off-policy): with `r = pi_theta(y|x) / pi_ref(y|x)` and
//! the length-harmonizing reward `R` used directly as the advantage,
//!
//! ```text
//! loss = - E[ min( r * R, clip(r, 1 - eps, 1 + eps) * R ) ]
//! ```
//!
//! Every choice the paper and the reference code differ on is a [`PolicyLossConfig`] field:
//! the ratio over the whole sequence (paper) or from the per-token mean log-prob difference
//! (reference code), or per token as PPO implementations do; and how token terms are
//! aggregated (sequence mean, token mean, or a constant normaliser as in Dr. GRPO).
//!
//! All functions take the *step-wide* normaliser ([`StepTotals`]) rather than averaging within
//! the micro-batch, so gradients accumulated over micro-batches equal one big batch exactly.

use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// How the importance ratio `r` is formed from per-token log-probs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioMode {
    /// `r = exp(sum_t logp_t - sum_t ref_t)`: the paper's `pi_theta(y|x) / pi_ref(y|x)`.
    #[default]
    Sequence,
    /// `r = exp(mean_t (logp_t - ref_t))`: the reference code's length-normalised ratio.
    TokenMean,
    /// One ratio per token, `r_t = exp(logp_t - ref_t)`, as PPO/GRPO implementations do.
    PerToken,
}

/// How token-level terms are reduced to one loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Aggregation {
    /// Mean over sequences of each sequence's token mean (the paper; for sequence-level ratios
    /// this is the plain mean over sequences).
    #[default]
    SequenceMean,
    /// Sum over all tokens of the step divided by their number (DAPO's token mean).
    TokenMean,
    /// Sum over all tokens divided by `sequences * constant` (Dr. GRPO's constant normaliser).
    Constant(f32),
}

/// The knobs of the clipped objective.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyLossConfig {
    /// Clip range of the ratio (paper: 0.2).
    pub eps: f32,
    /// How the ratio is formed.
    pub ratio: RatioMode,
    /// How token terms are reduced.
    pub aggregation: Aggregation,
    /// Weight of a k3 KL penalty to the reference (`exp(ref-logp) - (ref-logp) - 1` per token);
    /// 0 disables it (the paper has none).
    pub kl_coef: f32,
    /// Dual-clip bound `c` (Ye et al. 2020), off when `None` (the paper has none). For a
    /// negative advantage the clipped objective `min(r * A, clip(r) * A) = r * A` is linear in
    /// `r` once `r > 1 + eps`, so one sample whose ratio ran away can dominate the step; with a
    /// bound the objective becomes `max(min(r * A, clip(r) * A), c * A)`: flat (no gradient)
    /// beyond `r = c`. Must exceed `1 + eps` (typical: 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual_clip: Option<f32>,
}

impl Default for PolicyLossConfig {
    fn default() -> Self {
        PolicyLossConfig {
            eps: 0.2,
            ratio: RatioMode::Sequence,
            aggregation: Aggregation::SequenceMean,
            kl_coef: 0.0,
            dual_clip: None,
        }
    }
}

/// Totals over a whole optimizer step (all its micro-batches), used as normalisers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTotals {
    /// Sequences (for DPO: pairs) in the step.
    pub sequences: usize,
    /// Response tokens in the step.
    pub tokens: usize,
}

/// Per-micro-batch statistics of the policy loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolicyStats {
    /// Sum of the ratios (per sequence, or per token for [`RatioMode::PerToken`]).
    pub ratio_sum: f64,
    /// Number of ratios summed.
    pub ratio_count: usize,
    /// Ratios on the clipped side of the objective (their gradient is zero).
    pub clipped: usize,
    /// Sum of the k3 KL estimate over response tokens.
    pub kl_sum: f64,
}

/// Log-ratios are clamped to this magnitude before `exp`, which keeps a summed log-ratio over
/// thousands of tokens inside f32's range. The clamp is not a clip of the objective: with
/// `A > 0` the clipped objective is already flat beyond `1 + eps`, but with `A < 0` it is
/// `r * A`, linear in `r` all the way up to `exp(20)` (where the clamp cuts its gradient to
/// 0). Bounding that side is [`PolicyLossConfig::dual_clip`]'s job.
const MAX_LOG_RATIO: f32 = 20.0;

/// The clipped off-policy loss of one micro-batch, scaled so that summing it over the step's
/// micro-batches gives the step's loss.
///
/// # Shapes
/// - logp, ref_logp, mask: `[batch, seq]` (mask is 1 on response tokens, 0 elsewhere)
/// - advantages: `[batch]`
/// - returns a scalar `[1]`
pub fn policy_loss(
    logp: Tensor<2>,
    ref_logp: Tensor<2>,
    mask: Tensor<2>,
    advantages: Tensor<1>,
    config: &PolicyLossConfig,
    totals: StepTotals,
) -> (Tensor<1>, PolicyStats) {
    let [b, _] = logp.dims();
    let lens = mask.clone().sum_dim(1); // [b, 1]
    let diff = (logp.clone() - ref_logp.clone()) * mask.clone();
    let adv = advantages.reshape([b, 1]);
    let (lo, hi) = (1.0 - config.eps, 1.0 + config.eps);
    let clipped_objective = |r: Tensor<2>| {
        let obj = (r.clone() * adv.clone()).min_pair(r.clamp(lo, hi) * adv.clone());
        match config.dual_clip {
            // max(obj, c * min(A, 0)): for A < 0 the floor c * A; for A >= 0 the floor is 0,
            // which never binds (r > 0, so obj >= 0 there).
            Some(c) => {
                let dims = obj.dims();
                let floor = (adv.clone().clamp_max(0.0) * c).expand(dims);
                obj.max_pair(floor)
            }
            None => obj,
        }
    };

    // `objective` holds per-token terms [b, t] (a sequence-level objective repeated on each of
    // its tokens), so one aggregation serves every ratio mode.
    let (objective, ratio) = match config.ratio {
        RatioMode::Sequence | RatioMode::TokenMean => {
            let mut log_r = diff.sum_dim(1); // [b, 1]
            if config.ratio == RatioMode::TokenMean {
                // A row without response tokens (all masked) has log-ratio 0, not 0 / 0.
                log_r = log_r / lens.clone().clamp_min(1.0);
            }
            let r = log_r.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp();
            (clipped_objective(r.clone()) * mask.clone(), r)
        }
        RatioMode::PerToken => {
            let r = diff.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp(); // [b, t]
            (clipped_objective(r.clone()) * mask.clone(), r)
        }
    };
    let mut loss = -aggregate(objective, lens.clone(), config.aggregation, totals);

    let delta = (ref_logp - logp) * mask.clone();
    let kl = (delta.clone().exp() - delta - 1.0) * mask.clone();
    let kl_sum = scalar(kl.clone().sum());
    if config.kl_coef > 0.0 {
        loss = loss + aggregate(kl, lens, config.aggregation, totals) * config.kl_coef;
    }

    // Statistics, on the host: which ratios sit on the clipped side for their advantage's sign.
    let r_host = ratio.into_data().convert_dtype(burn::tensor::DType::F32);
    let r_host: &[f32] = r_host.as_slice().unwrap_or(&[]);
    let adv_host = host_vec(adv);
    let mask_host = host_vec(mask);
    let mut stats = PolicyStats {
        kl_sum,
        ..Default::default()
    };
    let per_seq = r_host.len() == b;
    let t = mask_host.len().checked_div(b).unwrap_or(0);
    for (k, &r) in r_host.iter().enumerate() {
        let (row, live) = if per_seq {
            (k, true)
        } else {
            (k / t.max(1), mask_host[k] > 0.0)
        };
        if !live {
            continue;
        }
        let a = adv_host[row];
        stats.ratio_sum += f64::from(r);
        stats.ratio_count += 1;
        let dual_clipped = config.dual_clip.is_some_and(|c| a < 0.0 && r > c);
        if (a > 0.0 && r > hi) || (a < 0.0 && r < lo) || dual_clipped {
            stats.clipped += 1;
        }
    }
    (loss, stats)
}

/// Supervised fine-tuning: negative log-likelihood of the response tokens, token mean over the
/// step.
///
/// # Shapes
/// - logp, mask: `[batch, seq]` -> `[1]`
pub fn sft_loss(logp: Tensor<2>, mask: Tensor<2>, totals: StepTotals) -> Tensor<1> {
    -(logp * mask).sum() / totals.tokens.max(1) as f32
}

/// DPO (Rafailov et al. 2023): `-log sigmoid(beta * ((c - c_ref) - (r - r_ref)))` on summed
/// response log-probs, averaged over the step's pairs.
///
/// Rows come in pairs: row `2i` is pair `i`'s chosen response, row `2i + 1` its rejected one.
///
/// # Shapes
/// - logp, ref_logp, mask: `[2 * pairs, seq]` -> `([1], rewards margin per pair [pairs])`
pub fn dpo_loss(
    logp: Tensor<2>,
    ref_logp: Tensor<2>,
    mask: Tensor<2>,
    beta: f32,
    totals: StepTotals,
) -> (Tensor<1>, Tensor<1>) {
    let [rows, _] = logp.dims();
    let pairs = rows / 2;
    let seq = ((logp - ref_logp) * mask).sum_dim(1).reshape([pairs, 2]); // [pairs, 2]
    let chosen = seq.clone().slice([0..pairs, 0..1]);
    let rejected = seq.slice([0..pairs, 1..2]);
    let margin = ((chosen - rejected) * beta).reshape([pairs]);
    let loss = -log_sigmoid(margin.clone()).sum() / totals.sequences.max(1) as f32;
    (loss, margin)
}

fn aggregate(
    per_token: Tensor<2>,
    lens: Tensor<2>,
    aggregation: Aggregation,
    totals: StepTotals,
) -> Tensor<1> {
    match aggregation {
        Aggregation::SequenceMean => {
            // Empty responses are filtered out before training; max(1) only guards the division.
            (per_token.sum_dim(1) / lens.clamp_min(1.0)).sum() / totals.sequences.max(1) as f32
        }
        Aggregation::TokenMean => per_token.sum() / totals.tokens.max(1) as f32,
        Aggregation::Constant(c) => per_token.sum() / (totals.sequences.max(1) as f32 * c),
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    host_vec(t.reshape([1, 1]))
        .first()
        .map_or(f64::NAN, |&v| f64::from(v))
}

fn host_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert_dtype(burn::tensor::DType::F32)
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Builds a `[rows, cols]` float tensor from host values (used by the batcher and tests).
pub fn tensor2(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &burn::tensor::Device,
) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}
