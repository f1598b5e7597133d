//! Run configuration: one TOML file covers a whole run. Unknown keys are errors.
//!
//! Presets reproduce the paper's recipes ([`TrainConfig::preset`]): `marco-o1-7b` (full
//! fine-tune, lr 2e-7, lambda 2, cutoff 3072), `qwq-32b` (last 48 layers, lr 2e-6, lambda 5,
//! cutoff 4096), both 1 epoch, effective batch 32, warmup 0.1, max grad norm 10, AdamW epsilon
//! 1e-8, and `demo` for the embedded demo model. The paper's baselines have presets of their
//! own, with the reference code's settings: `marco-o1-7b-sft` (lr 1e-6, 2 epochs, cutoff 8192,
//! max grad norm 1), `marco-o1-7b-dpo` (lr 5e-8, 1 epoch), `qwq-32b-sft` (lr 5e-6, last 48
//! layers) and `qwq-32b-dpo` (lr 2e-7, 2 epochs, last 36 layers). All presets train
//! off-policy, as the paper's code does.
//!
//! # Optimisation keys (`[optim]`)
//!
//! AdamW is PyTorch's `torch.optim.AdamW`: `beta1`, `beta2`, `epsilon` (default 1e-8, added
//! to `sqrt(v_hat)`), decoupled `weight_decay`. The learning rate follows Hugging Face's
//! `get_cosine_with_min_lr_schedule_with_warmup`, with `W = ceil(warmup_ratio * steps)`
//! warmup steps and the optimizer step `s` (0-based) using
//!
//! ```text
//! lr(s) = lr * s / W                                          for s < W   (0 at step 0)
//! lr(s) = min + (lr - min) * 0.5 * (1 + cos(pi * (s - W) / max(1, steps - W)))   otherwise
//! ```
//!
//! with `min = lr * min_lr_ratio` and `steps = epochs * ceil(units / batch_size)` off-policy
//! (units: sequences, or DPO pairs): as in the Trainer, a step never spans two epochs.
//!
//! # Reward (`[reward]`)
//!
//! `kind` names the reward (default `"length_harmonizing"`, with today's `lambda` and `clip`),
//! followed by its parameters, `success_gated`, `normalization` and `samples_per_problem`;
//! `kind = "weighted_sum"` lists `[[reward.components]]`. See [`crate::RewardConfig`] and
//! [`o1p_reward::RewardSpec`]. [`crate::run_with_reward`] trains with a reward of your own
//! instead.
//!
//! # LoRA (`[lora]`)
//!
//! A `[lora]` table turns LoRA on: every weight of the model is frozen and a trainable
//! low-rank pair is attached to the listed linear layers (Burn's `LoraAdapter`, see
//! [`o1p_model::lora`]). The run then writes the adapter in PEFT's layout to `<out>/adapter/`
//! (loadable by `peft.PeftModel.from_pretrained` and vLLM's LoRA support) beside the merged
//! model in `<out>/model/`; checkpoints hold only the adapter and its optimizer state.
//!
//! ```toml
//! [lora]
//! rank = 16                # PEFT's r (default 8)
//! alpha = 32.0             # update scaled by alpha / rank (default 16)
//! dropout = 0.0            # on the adapters' input in training, [0, 1) (PEFT: lora_dropout)
//! targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
//! layers = [24, 25, 26, 27]  # optional: only these decoder layers (default: all)
//! ```
//!
//! It excludes `optim.trainable_last_layers` (use `layers`). LoRA's learning rates are
//! typically 1e-5 to 1e-4, far above the full-tuning presets' 2e-7.
//!
//! `[loss] dual_clip = c` (off by default) bounds the objective of a negative-advantage sample
//! at `c * A` (dual-clip PPO), so a ratio far above `1 + eps` stops pushing it down.
//!
//! `mode = "on_policy"` switches to rounds of sampling from the current policy (the paper's
//! Eq. 7 read literally, see [`crate::on_policy`]), configured by the `[on_policy]` table:
//!
//! ```toml
//! model = "assets/demo-model"
//! samples = "runs/presample"          # the pool: its reference statistics stay the reference
//! out = "runs/on-policy"
//! mode = "on_policy"
//!
//! [on_policy]
//! problems = "data/train.jsonl"       # gold answers (the file given to pre-sampling)
//! format = "jsonl"                    # gsm8k | math | jsonl
//! rounds = 4
//! samples_per_round = 4               # m samples per problem and round
//! temperature = 0.8                   # omitted: as recorded in the pool's presample.json
//! max_new_tokens = 256
//! ```

use std::path::{Path, PathBuf};

use o1p_data::Format;
use o1p_model::{LoraConfig, Precision};
use o1p_reward::Normalization;
use serde::{Deserialize, Serialize};

use crate::data::RewardConfig;
use crate::error::{Result, TrainError};
use crate::loss::{PolicyLossConfig, RatioMode};

/// What the run config's `dtype` names: the compute precision, and whether trainable
/// parameters keep f32 master copies (`bf16-mixed`, `f16-mixed`) or live in it (`f32`, `bf16`,
/// `f16`).
///
/// ```
/// use o1p_trainer::TrainPrecision;
/// let p: TrainPrecision = "bf16-mixed".parse().unwrap();
/// assert!(p.mixed);
/// assert_eq!(p.load_dtype(), burn::tensor::DType::F32); // masters are loaded in f32
/// assert_eq!(p.to_string(), "bf16-mixed");
/// assert!("f32-mixed".parse::<TrainPrecision>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainPrecision {
    /// The dtype the forward and backward passes compute in.
    pub compute: Precision,
    /// Trainable parameters keep f32 masters (and f32 AdamW moments).
    pub mixed: bool,
}

impl TrainPrecision {
    /// The dtype the checkpoint is loaded in: f32 under mixed precision (the masters; frozen
    /// weights are cast down after), the compute dtype otherwise.
    pub fn load_dtype(&self) -> burn::tensor::DType {
        if self.mixed {
            burn::tensor::DType::F32
        } else {
            self.compute.dtype()
        }
    }
}

impl std::fmt::Display for TrainPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}",
            self.compute,
            if self.mixed { "-mixed" } else { "" }
        )
    }
}

impl std::str::FromStr for TrainPrecision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let problem =
            || format!("dtype must be f32, bf16-mixed, f16-mixed, bf16 or f16, got `{s}`");
        let (name, mixed) = match s.strip_suffix("-mixed") {
            Some(name) => (name, true),
            None => (s, false),
        };
        let compute: Precision = name.parse().map_err(|_| problem())?;
        if mixed && compute == Precision::F32 {
            return Err(problem());
        }
        Ok(TrainPrecision { compute, mixed })
    }
}

/// Which objective to train with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method", deny_unknown_fields)]
pub enum Method {
    /// O1-Pruner's clipped off-policy length-harmonizing objective.
    #[default]
    O1Pruner,
    /// SFT on the `per_problem` shortest correct samples of each problem.
    Sft {
        /// Samples per problem (paper: 2).
        #[serde(default = "two")]
        per_problem: usize,
    },
    /// DPO with chosen = the shortest correct, rejected = the longest sample.
    Dpo {
        /// Inverse temperature (paper: 0.1).
        #[serde(default = "beta")]
        beta: f32,
        /// Chosen samples per problem (paper: 2).
        #[serde(default = "two")]
        per_problem: usize,
    },
}

fn two() -> usize {
    2
}
fn beta() -> f32 {
    0.1
}

/// Where the reference log-probs come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceMode {
    /// Computed once before training with the initial model and cached in the run directory.
    #[default]
    Precomputed,
    /// Computed per micro-batch by a frozen copy of the initial model (more compute, no cache).
    FrozenCopy,
}

/// Where the training samples come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainMode {
    /// Train on the pre-sampled pool, with the initial model as the ratio's denominator: the
    /// paper's recipe and its reference code.
    #[default]
    OffPolicy,
    /// Rounds of: sample from the current policy, grade, reward against the pool's reference
    /// statistics, update with the clipped objective (old policy = the round's sampler). Only
    /// for the O1-Pruner objective; see [`OnPolicyConfig`].
    OnPolicy,
}

/// The rounds of `mode = "on_policy"` (ignored off-policy).
///
/// Sampling settings left out (`None`) are taken from the pool's `presample.json`, so that
/// on-policy lengths are measured under the same decoding as the reference statistics they
/// are compared with; without that file, the paper's (temperature 0.5, top-p 0.8, top-k off,
/// 8192 new tokens). Stop strings and grading options always come from `presample.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnPolicyConfig {
    /// Problems file with the gold answers (JSONL or a JSON array; the file given to
    /// pre-sampling). Its ids must match the pool's `problem_id`s. Required on-policy.
    pub problems: Option<PathBuf>,
    /// Schema of the problems file: `gsm8k`, `math` or `jsonl`.
    pub format: Format,
    /// Sample-then-update rounds.
    pub rounds: usize,
    /// Samples per problem and round (the m of Eq. 7's expectation).
    pub samples_per_round: usize,
    /// Problems per round, taken in turn from a seeded shuffle of the pool's problems
    /// (0: all of them every round).
    pub problems_per_round: usize,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus threshold.
    pub top_p: Option<f32>,
    /// Top-k (0: off).
    pub top_k: Option<usize>,
    /// Most new tokens per sample.
    pub max_new_tokens: Option<usize>,
    /// Sequences decoded together.
    pub decode_batch: usize,
}

impl Default for OnPolicyConfig {
    fn default() -> Self {
        OnPolicyConfig {
            problems: None,
            format: Format::Jsonl,
            rounds: 4,
            samples_per_round: 4,
            problems_per_round: 0,
            temperature: None,
            top_p: None,
            top_k: None,
            max_new_tokens: None,
            decode_batch: 32,
        }
    }
}

/// Optimisation and batching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine, as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Fraction of the steps spent in linear warmup (`ceil(warmup_ratio * steps)` steps, as
    /// Hugging Face counts them). The schedule is Hugging Face's cosine with warmup, see
    /// [`crate::schedule::lr_at`].
    pub warmup_ratio: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// AdamW beta1.
    pub beta1: f32,
    /// AdamW beta2.
    pub beta2: f32,
    /// AdamW epsilon, added to `sqrt(v_hat)` (PyTorch / Hugging Face: 1e-8; Burn's own
    /// default, 1e-5, damps the first steps when gradients are ~1e-5 per parameter).
    pub epsilon: f32,
    /// Clip the global gradient norm to this (0 disables).
    pub max_grad_norm: f64,
    /// Sequences per optimizer step (the effective batch).
    pub batch_size: usize,
    /// Most padded tokens in one micro-batch; a step is split into micro-batches under it and
    /// their gradients accumulated.
    pub token_budget: usize,
    /// Passes over the training set (on-policy: over each round's samples).
    pub epochs: usize,
    /// Cutoff: prompt + response tokens beyond this are cut from the response (counted).
    pub max_seq_len: usize,
    /// Train only the last N decoder layers (the paper's QwQ "freeze tuning"); `None` trains all.
    pub trainable_last_layers: Option<usize>,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-5,
            min_lr_ratio: 0.0,
            warmup_ratio: 0.1,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            max_grad_norm: 10.0,
            batch_size: 32,
            token_budget: 16_384,
            epochs: 1,
            max_seq_len: 4096,
            trainable_last_layers: None,
        }
    }
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Hugging Face directory of the model to prune (also the reference model).
    pub model: PathBuf,
    /// The pre-sampling output: a `samples.jsonl` file or the directory holding it.
    pub samples: PathBuf,
    /// Run directory: checkpoints, metrics and the exported model (`<out>/model`).
    pub out: PathBuf,
    /// Burn backend (flex, wgpu, tch).
    #[serde(default = "flex")]
    pub backend: String,
    /// Precision ([`TrainPrecision`]): `f32`; `bf16-mixed` or `f16-mixed` (16-bit compute,
    /// f32 master weights and AdamW moments for what trains, frozen weights stored in 16
    /// bits); or pure `bf16` / `f16`, where parameters, gradients and AdamW moments all live in
    /// 16 bits, so updates smaller than about 1/256 of a weight round away (use those only
    /// with learning rates of ~1e-5 and above).
    #[serde(default = "f32_name")]
    pub dtype: String,
    /// Burn's gradient checkpointing (its balanced strategy): the backward pass recomputes
    /// the outputs of memory-bound operations (element-wise arithmetic, exp, activations) from
    /// their inputs instead of keeping them; matmul outputs are kept either way. Less memory,
    /// more compute, the same numbers.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// Seed of data order and sample selection.
    #[serde(default)]
    pub seed: u64,
    /// Write a checkpoint every N optimizer steps (0: only at the end; on-policy runs also
    /// write one at the end of every round).
    #[serde(default = "fifty")]
    pub checkpoint_every: usize,
    /// `off_policy` (default: the pre-sampled pool) or `on_policy` (rounds of sampling).
    #[serde(default)]
    pub mode: TrainMode,
    /// The objective.
    #[serde(default)]
    pub method: Method,
    /// O1-Pruner's reward.
    #[serde(default)]
    pub reward: RewardConfig,
    /// O1-Pruner's clipped loss.
    #[serde(default)]
    pub loss: PolicyLossConfig,
    /// Reference log-probs.
    #[serde(default)]
    pub reference: ReferenceMode,
    /// Optimisation.
    #[serde(default)]
    pub optim: OptimConfig,
    /// On-policy rounds (used when `mode = "on_policy"`).
    #[serde(default)]
    pub on_policy: OnPolicyConfig,
    /// LoRA instead of full or freeze tuning: present, it freezes every weight and trains
    /// adapters on the listed modules (see the module docs). Absent, the run trains as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraConfig>,
}

fn flex() -> String {
    "flex".into()
}
fn f32_name() -> String {
    "f32".into()
}
fn fifty() -> usize {
    50
}

impl TrainConfig {
    /// Reads and validates a TOML run config.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(crate::error::io(path))?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: impl Into<PathBuf>) -> Result<Self> {
        let origin = origin.into();
        let config: TrainConfig = toml::from_str(text).map_err(|e| TrainError::Config {
            path: origin.clone(),
            problem: e.to_string(),
        })?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The names [`TrainConfig::preset`] knows: the paper's O1-Pruner recipes, its SFT and DPO
    /// baselines (settings of the reference code's LLaMA-Factory configs), and the demo.
    pub const PRESETS: [&'static str; 7] = [
        "marco-o1-7b",
        "qwq-32b",
        "marco-o1-7b-sft",
        "marco-o1-7b-dpo",
        "qwq-32b-sft",
        "qwq-32b-dpo",
        "demo",
    ];

    /// A named preset (one of [`TrainConfig::PRESETS`]) for the given paths.
    ///
    /// ```
    /// use o1p_trainer::TrainConfig;
    /// let c = TrainConfig::preset("qwq-32b", "m".into(), "s".into(), "o".into()).unwrap();
    /// assert_eq!(c.optim.trainable_last_layers, Some(48));
    /// assert_eq!(c.reward.lambda(), Some(5.0));
    /// assert_eq!(c.optim.epsilon, 1e-8);
    /// ```
    pub fn preset(name: &str, model: PathBuf, samples: PathBuf, out: PathBuf) -> Result<Self> {
        // Every preset spells out AdamW's epsilon: PyTorch's 1e-8, which the paper's
        // Hugging Face Trainer used (Burn's default is 1e-5).
        let paper_optim = |lr: f64, cutoff: usize, last: Option<usize>| OptimConfig {
            lr,
            warmup_ratio: 0.1,
            epsilon: 1e-8,
            max_grad_norm: 10.0,
            batch_size: 32,
            epochs: 1,
            max_seq_len: cutoff,
            trainable_last_layers: last,
            ..Default::default()
        };
        let reference_reward = |lambda: f32| RewardConfig {
            normalization: Normalization::DatasetZScore,
            samples_per_problem: 2,
            ..RewardConfig::length_harmonizing(lambda, Some((-2.0, 4.0)))
        };
        let reference_loss = PolicyLossConfig {
            ratio: RatioMode::TokenMean,
            ..Default::default()
        };
        let base = TrainConfig {
            model,
            samples,
            out,
            backend: flex(),
            // bf16 compute as the paper trained, with f32 master weights: a 2e-7 step is far
            // below bf16's spacing near typical weights (~1e-4), and in pure bf16 it rounded
            // away (measured: 0.2 % of weights changed after 5 steps at lr 2e-7, 99.9 % in f32).
            dtype: "bf16-mixed".into(),
            gradient_checkpointing: false,
            seed: 42,
            checkpoint_every: 50,
            method: Method::O1Pruner,
            reward: reference_reward(2.0),
            loss: reference_loss,
            reference: ReferenceMode::Precomputed,
            optim: OptimConfig::default(),
            mode: TrainMode::OffPolicy,
            on_policy: OnPolicyConfig::default(),
            lora: None,
        };
        let config = match name {
            "marco-o1-7b" => TrainConfig {
                optim: paper_optim(2e-7, 3072, None),
                ..base
            },
            "qwq-32b" => TrainConfig {
                reward: reference_reward(5.0),
                optim: paper_optim(2e-6, 4096, Some(48)),
                ..base
            },
            // The baselines, as the reference code's LLaMA-Factory configs set them
            // (examples/math/{Marco-sft-shortest,Marco-dpo,QwQ-sft,QwQ-dpo}.yaml): cosine with
            // warmup 0.1 throughout, DPO beta 0.1, 2 samples per problem. Marco's SFT config sets
            // no max_grad_norm (the Trainer's default, 1.0) and a cutoff of 8192.
            "marco-o1-7b-sft" => TrainConfig {
                method: Method::Sft { per_problem: 2 },
                optim: OptimConfig {
                    epochs: 2,
                    max_grad_norm: 1.0,
                    ..paper_optim(1e-6, 8192, None)
                },
                ..base
            },
            "marco-o1-7b-dpo" => TrainConfig {
                method: Method::Dpo {
                    beta: 0.1,
                    per_problem: 2,
                },
                optim: paper_optim(5e-8, 3072, None),
                ..base
            },
            "qwq-32b-sft" => TrainConfig {
                method: Method::Sft { per_problem: 2 },
                optim: paper_optim(5e-6, 4096, Some(48)),
                ..base
            },
            "qwq-32b-dpo" => TrainConfig {
                method: Method::Dpo {
                    beta: 0.1,
                    per_problem: 2,
                },
                optim: OptimConfig {
                    epochs: 2,
                    ..paper_optim(2e-7, 3072, Some(36))
                },
                ..base
            },
            "demo" => TrainConfig {
                dtype: "f32".into(),
                seed: 0,
                checkpoint_every: 10,
                // The paper's raw reward on every sample, with the reference code's token-mean
                // ratio. Measured by the quickstart (1000-step demo model, 512 test problems):
                // the reference code's clip + dataset z-score cost 37 greedy accuracy points at
                // the same lr (90.0 -> 52.9 %), the raw reward 0.5 (-29 % tokens).
                reward: RewardConfig::length_harmonizing(2.0, None),
                // A trust region four times tighter than PPO's 0.2. Chosen on validation seeds
                // 1 and 2 of the quickstart (not its reported seed 0), 2 epochs: eps 0.2 at lr
                // 8e-5 -> -2.7 / -2.5 accuracy points for -41 / -38 % tokens; at lr 1e-4, eps
                // 0.1 -> -1.6 / -0.6 and eps 0.05 -> +0.4 / +1.8, both for about -65 %. The clip
                // stops a sample's update once its per-token ratio leaves [1 - eps, 1 + eps],
                // which keeps the tiny model's arithmetic from drifting while the reflection
                // tokens (the ones the reward moves) still go; a KL penalty instead held back
                // exactly those tokens (kl_coef 1 at lr 1e-4: -35 / -29 %).
                loss: PolicyLossConfig {
                    eps: 0.05,
                    ratio: RatioMode::TokenMean,
                    ..Default::default()
                },
                optim: OptimConfig {
                    lr: 1e-4,
                    warmup_ratio: 0.1,
                    epsilon: 1e-8,
                    max_grad_norm: 10.0,
                    batch_size: 32,
                    token_budget: 8192,
                    epochs: 2,
                    max_seq_len: 512,
                    ..Default::default()
                },
                ..base
            },
            other => {
                return Err(TrainError::Config {
                    path: "<preset>".into(),
                    problem: format!(
                        "unknown preset `{other}` (known: {})",
                        Self::PRESETS.join(", ")
                    ),
                });
            }
        };
        Ok(config)
    }

    /// Rejects values and combinations that cannot work, saying what to do instead.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |problem: String| {
            Err(TrainError::Config {
                path: origin.to_path_buf(),
                problem,
            })
        };
        // Every numeric key against its range first (key and range in the message).
        if let Err(problem) = crate::ranges::check(self) {
            return bad(problem);
        }
        // Constraints between keys, and what is not a number.
        if let Some(c) = self.loss.dual_clip
            && !(c > 1.0 + self.loss.eps && c.is_finite())
        {
            return bad(format!(
                "loss.dual_clip must be a finite bound above 1 + loss.eps = {} (typical: 3), got {c}; leave it out to disable it",
                1.0 + self.loss.eps
            ));
        }
        let precision = match self.dtype.parse::<TrainPrecision>() {
            Ok(p) => p,
            Err(problem) => return bad(problem),
        };
        if !precision.mixed && precision.compute != Precision::F32 && self.optim.lr < 1e-5 {
            tracing::warn!(
                "{}: dtype {} at lr {:e}: parameters have no f32 master copy, so most updates \
                 this small round away; use dtype = \"{}-mixed\"",
                origin.display(),
                self.dtype,
                self.optim.lr,
                self.dtype
            );
        }
        if let Some(lora) = &self.lora {
            if let Err(problem) = lora.check(None) {
                return bad(format!("lora.{problem}"));
            }
            if self.optim.trainable_last_layers.is_some() {
                return bad(
                    "[lora] and optim.trainable_last_layers are two ways to choose what trains; keep one (lora.layers adapts chosen layers only)".into(),
                );
            }
        }
        if self.mode == TrainMode::OnPolicy {
            let p = &self.on_policy;
            if self.method != Method::O1Pruner {
                return bad(
                    "mode = \"on_policy\" trains the O1-Pruner objective only; SFT and DPO are off-policy baselines (remove `mode` or the [method] table)".into(),
                );
            }
            if p.problems.is_none() {
                return bad(
                    "on-policy rounds grade their samples: set on_policy.problems to the problems file given to pre-sampling (gold answers)".into(),
                );
            }
            if self.reference == ReferenceMode::FrozenCopy {
                return bad(
                    "on-policy rounds take the old policy's log-probs once per round (precomputed); remove reference = \"frozen_copy\"".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_kinds_round_trip_through_run_toml_and_bad_ones_name_the_key() {
        let base = "model = 'm'\nsamples = 's'\nout = 'o'\n";
        let tables = [
            "[reward]\nlambda = 5.0\nclip = [-2.0, 4.0]\nnormalization = \"dataset_z_score\"\nsamples_per_problem = 2",
            "[reward]\nkind = \"cosine\"\nmax_length = 512\nsuccess_gated = true",
            "[reward]\nkind = \"weighted_sum\"\nnormalization = \"group_z_score\"\n[[reward.components]]\nkind = \"correctness\"\n[[reward.components]]\nkind = \"l1_max\"\ntarget = 300\nweight = 0.5\nnormalization = \"dataset_z_score\"",
        ];
        for table in tables {
            let c = TrainConfig::from_toml(&format!("{base}{table}"), "run.toml").unwrap();
            let back = TrainConfig::from_toml(&c.to_toml(), "run.toml").unwrap();
            assert_eq!(c, back, "{}", c.to_toml());
        }
        // Today's keys keep their meaning: no kind is length-harmonizing with them.
        let c = TrainConfig::from_toml(&format!("{base}{}", tables[0]), "run.toml").unwrap();
        assert_eq!(c.reward.lambda(), Some(5.0));
        assert_eq!(c.reward.normalization, Normalization::DatasetZScore);
        assert_eq!(c.reward.samples_per_problem, 2);
        for (table, needle) in [
            (
                "[reward]\nkind = \"cosine\"\nmax_length = 8\nlambda = 2.0",
                "lambda",
            ),
            ("[reward]\nkind = \"cosin\"", "cosin"),
            (
                "[reward]\nkind = \"thinkprune\"\nlimit = 0",
                "reward.limit = 0",
            ),
        ] {
            let err = TrainConfig::from_toml(&format!("{base}{table}"), "run.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("run.toml: ") && err.contains(needle),
                "{table}: {err}"
            );
        }
    }

    #[test]
    fn paper_presets_train_in_bf16_mixed_precision_and_bad_dtypes_are_named() {
        for name in TrainConfig::PRESETS {
            let c = TrainConfig::preset(name, "m".into(), "s".into(), "o".into()).unwrap();
            let expected = if name == "demo" { "f32" } else { "bf16-mixed" };
            assert_eq!(c.dtype, expected, "{name}");
        }
        let base = "model = 'm'\nsamples = 's'\nout = 'o'\n";
        for good in ["f32", "bf16", "f16", "bf16-mixed", "f16-mixed"] {
            TrainConfig::from_toml(&format!("{base}dtype = '{good}'\n"), "run.toml").unwrap();
        }
        for bad in ["f32-mixed", "bf16_mixed", "f64"] {
            let err = TrainConfig::from_toml(&format!("{base}dtype = '{bad}'\n"), "run.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(bad) && err.contains("bf16-mixed"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = "model = 'm'\nsamples = 's'\nout = 'o'\nlearning_rate = 1.0\n";
        let err = TrainConfig::from_toml(text, "run.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.toml") && err.contains("learning_rate"),
            "{err}"
        );
        let text = "model = 'm'\nsamples = 's'\nout = 'o'\n[optim]\nlrr = 1.0\n";
        assert!(TrainConfig::from_toml(text, "run.toml").is_err());
    }

    #[test]
    fn presets_round_trip_through_toml() {
        for name in TrainConfig::PRESETS {
            let c = TrainConfig::preset(name, "m".into(), "s".into(), "o".into()).unwrap();
            let text = c.to_toml();
            assert!(text.contains("epsilon = "), "{name}: epsilon is explicit");
            let back = TrainConfig::from_toml(&text, "x").unwrap();
            assert_eq!(c, back, "{name}");
            assert_eq!(c.optim.epsilon, 1e-8, "{name}");
        }
        let marco = TrainConfig::preset("marco-o1-7b", "m".into(), "s".into(), "o".into()).unwrap();
        assert_eq!(
            (
                marco.optim.lr,
                marco.optim.max_seq_len,
                marco.reward.lambda()
            ),
            (2e-7, 3072, Some(2.0))
        );
    }

    #[test]
    fn baseline_presets_carry_the_papers_settings() {
        let p = |name| TrainConfig::preset(name, "m".into(), "s".into(), "o".into()).unwrap();
        let sft = p("marco-o1-7b-sft");
        assert_eq!(sft.method, Method::Sft { per_problem: 2 });
        assert_eq!((sft.optim.lr, sft.optim.epochs), (1e-6, 2));
        let dpo = p("marco-o1-7b-dpo");
        assert!(matches!(dpo.method, Method::Dpo { beta, per_problem: 2 } if beta == 0.1));
        assert_eq!(
            (dpo.optim.lr, dpo.optim.trainable_last_layers),
            (5e-8, None)
        );
        let qwq_dpo = p("qwq-32b-dpo");
        assert!(matches!(qwq_dpo.method, Method::Dpo { .. }));
        assert_eq!(qwq_dpo.optim.trainable_last_layers, Some(36));
        let qwq_sft = p("qwq-32b-sft");
        assert_eq!(qwq_sft.optim.trainable_last_layers, Some(48));
        let err = TrainConfig::preset("nope", "m".into(), "s".into(), "o".into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("marco-o1-7b-sft"), "{err}");
    }

    #[test]
    fn epsilon_and_dual_clip_parse_and_are_validated() {
        let base = "model = 'm'\nsamples = 's'\nout = 'o'\n";
        let c = TrainConfig::from_toml(base, "x").unwrap();
        assert_eq!(c.optim.epsilon, 1e-8, "PyTorch's default");
        assert_eq!(c.loss.dual_clip, None, "dual clip off by default");
        let text = format!("{base}[optim]\nepsilon = 1e-6\n[loss]\ndual_clip = 3.0\n");
        let c = TrainConfig::from_toml(&text, "x").unwrap();
        assert_eq!((c.optim.epsilon, c.loss.dual_clip), (1e-6, Some(3.0)));
        assert_eq!(TrainConfig::from_toml(&c.to_toml(), "x").unwrap(), c);
        for bad in [
            "[optim]\nepsilon = 0.0\n",
            "[optim]\nepsilon = -1e-8\n",
            "[optim]\nepsilon = nan\n",
            "[loss]\ndual_clip = 1.1\n",
            "[loss]\ndual_clip = inf\n",
        ] {
            let err = TrainConfig::from_toml(&format!("{base}{bad}"), "x")
                .unwrap_err()
                .to_string();
            let key = if bad.contains("epsilon") {
                "optim.epsilon"
            } else {
                "loss.dual_clip"
            };
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn on_policy_mode_parses_and_is_validated() {
        let base = "model = 'm'\nsamples = 's'\nout = 'o'\n";
        let c = TrainConfig::from_toml(base, "x").unwrap();
        assert_eq!(c.mode, TrainMode::OffPolicy, "off-policy stays the default");
        let text = format!(
            "{base}mode = 'on_policy'\n[on_policy]\nproblems = 'p.jsonl'\nformat = 'gsm8k'\nrounds = 3\nsamples_per_round = 2\ntemperature = 0.7\nmax_new_tokens = 64\n"
        );
        let c = TrainConfig::from_toml(&text, "x").unwrap();
        assert_eq!(c.mode, TrainMode::OnPolicy);
        assert_eq!((c.on_policy.rounds, c.on_policy.samples_per_round), (3, 2));
        assert_eq!(c.on_policy.format, Format::Gsm8k);
        assert_eq!(c.on_policy.temperature, Some(0.7));
        assert_eq!(c.on_policy.top_p, None, "left to presample.json");
        assert_eq!(TrainConfig::from_toml(&c.to_toml(), "x").unwrap(), c);

        let unknown = format!("{text}roundz = 1\n");
        let err = TrainConfig::from_toml(&unknown, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roundz"), "{err}");
        let no_problems = format!("{base}mode = 'on_policy'\n");
        let err = TrainConfig::from_toml(&no_problems, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("on_policy.problems"), "{err}");
        let sft = format!("{text}[method]\nmethod = 'sft'\n");
        assert!(TrainConfig::from_toml(&sft, "x").is_err());
        let bad_mode = format!("{base}mode = 'online'\n");
        assert!(TrainConfig::from_toml(&bad_mode, "x").is_err());
    }

    #[test]
    fn methods_parse_with_defaults() {
        let text = "model = 'm'\nsamples = 's'\nout = 'o'\n[method]\nmethod = 'dpo'\n";
        let c = TrainConfig::from_toml(text, "x").unwrap();
        assert_eq!(
            c.method,
            Method::Dpo {
                beta: 0.1,
                per_problem: 2
            }
        );
        let bad = "model = 'm'\nsamples = 's'\nout = 'o'\n[loss]\neps = 1.5\n";
        assert!(
            TrainConfig::from_toml(bad, "x")
                .unwrap_err()
                .to_string()
                .contains("eps")
        );
    }
}
