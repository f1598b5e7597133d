//! The training loop. It reads top to bottom like nanoGPT's train.py: prepare the data order
//! and the reference log-probs, resume if a checkpoint exists, then one loop of
//! (set lr -> micro-batches forward/backward, accumulated -> clip -> step -> log -> checkpoint).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, Device};
use o1p_model::{CausalLm, LoraConfig, ModelConfig, Precision, lora, mixed, weights};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::batch::{self, BatchTensors};
use crate::config::{OptimConfig, ReferenceMode};
use crate::data::TrainExample;
use crate::error::{Result, TrainError, io};
use crate::loss::{PolicyLossConfig, PolicyStats, StepTotals, dpo_loss, policy_loss, sft_loss};
use crate::schedule::{LossScale, clip_global_norm, lr_at, scale_grads};

/// The objective of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// O1-Pruner's clipped off-policy objective (advantages = the examples' advantages).
    Policy(PolicyLossConfig),
    /// Supervised fine-tuning on the examples' responses.
    Sft,
    /// DPO; examples come in (chosen, rejected) pairs.
    Dpo {
        /// Inverse temperature.
        beta: f32,
    },
}

impl Objective {
    fn unit(&self) -> usize {
        if matches!(self, Objective::Dpo { .. }) {
            2
        } else {
            1
        }
    }
    fn needs_reference(&self) -> bool {
        !matches!(self, Objective::Sft)
    }
}

/// Everything about a run that is not the model, the data or the objective.
#[derive(Clone, Debug)]
pub struct TrainSettings {
    /// Optimisation and batching.
    pub optim: OptimConfig,
    /// Seed of the data order.
    pub seed: u64,
    /// Checkpoint every N steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Where reference log-probs come from.
    pub reference: ReferenceMode,
    /// Parameter dtype for checkpoints reloaded on resume (f32 under mixed precision).
    pub dtype: DType,
    /// Mixed precision: the dtype the passes compute in, over f32 masters of the trainable
    /// parameters ([`o1p_model::mixed`]); `None` computes in the parameters' own dtype.
    pub mixed_precision: Option<Precision>,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop after this many steps (for tests of resumption); `None` runs to the end.
    pub stop_after: Option<usize>,
    /// Train LoRA adapters on the frozen model instead of (some of) its weights.
    pub lora: Option<LoraConfig>,
}

impl Default for TrainSettings {
    /// The library's defaults: f32, reference log-probs precomputed, data order seed 0, a
    /// checkpoint only at the end, no progress bar, run to the end.
    fn default() -> Self {
        TrainSettings {
            optim: OptimConfig::default(),
            seed: 0,
            checkpoint_every: 0,
            reference: ReferenceMode::Precomputed,
            dtype: DType::F32,
            progress: false,
            stop_after: None,
            lora: None,
            mixed_precision: None,
        }
    }
}

/// What a finished run reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// Optimizer steps taken in total.
    pub steps: usize,
    /// Training sequences after the cutoff.
    pub examples: usize,
    /// Sequences whose response was cut at `max_seq_len`.
    pub truncated: usize,
    /// Sequences dropped because nothing of their response fit.
    pub dropped: usize,
    /// Loss of the last step.
    pub final_loss: f64,
    /// Wall time of this process's part of the run, seconds.
    pub wall_seconds: f64,
    /// Response tokens trained on per second (forward + backward + AdamW).
    pub tokens_per_second: f64,
    /// Step the run resumed from (0 for a fresh run).
    pub resumed_from: usize,
    /// On-policy rounds finished (0 off-policy).
    #[serde(default)]
    pub rounds: usize,
}

/// One line of `metrics.jsonl` (names follow trl's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Loss of the step.
    pub loss: f64,
    /// Mean raw reward of the step's sequences.
    pub reward: f64,
    /// Std of the raw rewards.
    pub reward_std: f64,
    /// Mean advantage used.
    pub advantage: f64,
    /// Mean importance ratio.
    pub ratio_mean: f64,
    /// Fraction of ratios on the clipped side.
    pub clip_ratio: f64,
    /// Mean k3 KL to the reference per response token.
    pub kl: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Response tokens per second.
    pub tokens_per_second: f64,
    /// Mean response length of the step's sequences.
    #[serde(rename = "completions/mean_length")]
    pub mean_length: f64,
    /// Fraction of the run's sequences cut at the cutoff.
    #[serde(rename = "completions/clipped_ratio")]
    pub truncated_fraction: f64,
    /// Loss scale after the step (`dtype = "f16-mixed"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// The step's gradients overflowed in f16 and it was skipped (`f16-mixed` only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// The checkpoint's bookkeeping (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct CheckpointState {
    step: usize,
    total_steps: usize,
    seed: u64,
    /// The data order of the whole run, as unit indices.
    order: Vec<usize>,
    examples: usize,
    /// The f16 loss scale at this step (`f16-mixed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loss_scale: Option<LossScale>,
}

/// Trains `model` (on an autodiff device) on `examples` and returns the trained model.
///
/// The run directory receives `metrics.jsonl`, `ref_logprobs.json` (precomputed reference) and
/// `checkpoint/` (model in Hugging Face layout, optimizer state, `state.json`), replaced
/// atomically every `checkpoint_every` steps. Called again with the same arguments after a
/// crash, it resumes from the checkpoint and reaches the same final model.
pub fn train(
    model: CausalLm,
    model_config: &ModelConfig,
    mut examples: Vec<TrainExample>,
    objective: Objective,
    settings: &TrainSettings,
    run_dir: &Path,
) -> Result<(CausalLm, TrainReport)> {
    let started = Instant::now();
    let o = &settings.optim;
    let device = model.model.embed_tokens.weight.device();
    std::fs::create_dir_all(run_dir).map_err(io(run_dir))?;

    // --- data: cutoff, then a seeded order of units (a DPO pair is one unit) over all epochs.
    let unit = objective.unit();
    let (truncated, dropped) = batch::apply_cutoff(&mut examples, o.max_seq_len, unit == 2);
    if examples.is_empty() {
        return Err(TrainError::NoExamples(format!(
            "nothing left after the cutoff of {} tokens ({dropped} dropped)",
            o.max_seq_len
        )));
    }
    let units = examples.len() / unit;
    let mut order = Vec::with_capacity(units * o.epochs);
    for epoch in 0..o.epochs {
        let mut idx: Vec<usize> = (0..units).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(
            settings.seed.wrapping_add(epoch as u64),
        ));
        order.extend(idx);
    }
    // As Hugging Face's Trainer batches: a step never spans two epochs (the last step of an
    // epoch takes what is left of it), so a pool smaller than a batch is one step per epoch.
    let steps_per_epoch = units.div_ceil(o.batch_size);
    let total_steps = steps_per_epoch * o.epochs;
    let step_units = |step: usize| {
        let (epoch, k) = (step / steps_per_epoch, step % steps_per_epoch);
        let start = epoch * units + k * o.batch_size;
        start..epoch * units + ((k + 1) * o.batch_size).min(units)
    };
    let warmup = (o.warmup_ratio * total_steps as f64).ceil() as usize;

    // --- what trains, in what precision; the reference is this policy at step 0.
    let initial = trainable(model, settings)?;
    let reference_model = initial.valid();
    let ref_logprobs = match (objective.needs_reference(), settings.reference) {
        (true, ReferenceMode::Precomputed) => Some(precomputed_reference(
            &reference_model,
            &examples,
            o.token_budget,
            &run_dir.join("ref_logprobs.json"),
        )?),
        _ => None,
    };

    // --- model, optimizer, and resumption.
    let mut optim = new_optimizer(o);
    let checkpoint_dir = run_dir.join("checkpoint");
    let mut start = 0;
    let state = CheckpointState {
        step: 0,
        total_steps,
        seed: settings.seed,
        order: order.clone(),
        examples: examples.len(),
        loss_scale: None,
    };
    let mut loss_scale =
        (settings.mixed_precision == Some(Precision::F16)).then(LossScale::default);
    let mut model = match load_checkpoint_state::<CheckpointState>(run_dir)? {
        Some((saved, dir)) => {
            if saved.order != state.order || saved.examples != state.examples {
                return Err(TrainError::Config {
                    path: dir.join("state.json"),
                    problem: "the checkpoint belongs to a different run (data or seed changed); use a new --out".into(),
                });
            }
            let restored;
            (restored, optim) = restore(&dir, initial, model_config, settings, &device)?;
            start = saved.step;
            loss_scale = saved.loss_scale.or(loss_scale);
            tracing::info!(step = start, "resuming from checkpoint");
            restored
        }
        None => initial,
    };
    // Precomputed log-probs leave the reference model nothing to do: only a frozen copy
    // stays alive through the loop.
    let reference_model =
        (settings.reference == ReferenceMode::FrozenCopy).then_some(reference_model);
    let mut metrics = MetricsFile::open(run_dir, start, None)?;

    let bar = progress_bar(settings.progress, total_steps, start);
    let mut report = TrainReport {
        examples: examples.len(),
        truncated,
        dropped,
        resumed_from: start,
        ..Default::default()
    };
    let mut trained_tokens = 0usize;
    let last = settings
        .stop_after
        .map_or(total_steps, |n| n.min(total_steps));
    let truncated_fraction = truncated as f64 / (examples.len() + dropped).max(1) as f64;

    // --- the loop.
    for step in start..last {
        let step_started = Instant::now();
        let lr = lr_at(step, total_steps, warmup, o.lr, o.lr * o.min_lr_ratio);
        let rows: Vec<usize> = order[step_units(step)]
            .iter()
            .flat_map(|&u| (u * unit)..(u * unit + unit))
            .collect();
        let step_examples: Vec<TrainExample> = rows.iter().map(|&i| examples[i].clone()).collect();
        let step_refs: Option<Vec<Vec<f32>>> = ref_logprobs
            .as_ref()
            .map(|r| rows.iter().map(|&i| r[i].clone()).collect());
        seed_step_draws(&model, settings, step);
        let (next, outcome) = optimizer_step(
            model,
            &mut optim,
            &step_examples,
            step_refs.as_deref(),
            reference_model.as_ref(),
            objective,
            o,
            lr,
            loss_scale.as_mut(),
        )
        .map_err(|bad| bad.error(step + 1, checkpoint_dir.clone()))?;
        model = next;
        trained_tokens += outcome.tokens;
        let mut m = outcome.metrics(
            step + 1,
            &step_examples,
            lr,
            step_started.elapsed().as_secs_f64(),
            truncated_fraction,
        );
        m.loss_scale = loss_scale.map(|s| f64::from(s.scale));
        metrics.write(&m)?;
        tracing::debug!(step = step + 1, loss = m.loss, m.grad_norm, lr, "step");
        report.final_loss = m.loss;
        report.steps = step + 1;
        if let Some(bar) = &bar {
            bar.set_position((step + 1) as u64);
            bar.set_message(format!("loss {:.4}", m.loss));
        }

        let done = step + 1 == total_steps;
        if !done && settings.checkpoint_every > 0 && (step + 1) % settings.checkpoint_every == 0 {
            save_checkpoint(
                &model,
                model_config,
                &optim,
                &CheckpointState {
                    step: step + 1,
                    loss_scale,
                    ..state.clone()
                },
                settings.lora.as_ref(),
                run_dir,
            )?;
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.tokens_per_second = trained_tokens as f64 / report.wall_seconds.max(1e-9);
    Ok((model, report))
}

/// AdamW with the run's hyper-parameters (the learning rate is given per step).
///
/// Burn's AdamW computes what `torch.optim.AdamW` does: `p *= 1 - lr * wd`, then
/// `p -= lr * m_hat / (sqrt(v_hat) + eps)` with bias-corrected moments; only its default
/// epsilon differs (1e-5 against PyTorch's 1e-8), so the epsilon is always set.
pub(crate) fn new_optimizer(o: &OptimConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(o.beta1)
        .with_beta_2(o.beta2)
        .with_epsilon(o.epsilon)
        .with_weight_decay(o.weight_decay)
        .init()
}

/// The model as training starts from `initial`: with LoRA, the frozen model carrying new
/// adapters (seeded by the run's seed); otherwise all of it, or only its last
/// `trainable_last_layers` layers, trainable; then, under mixed precision, frozen weights
/// cast to the compute dtype and f32 masters for the trainable ones.
pub(crate) fn trainable(initial: CausalLm, settings: &TrainSettings) -> Result<CausalLm> {
    let model = match &settings.lora {
        Some(spec) => lora::attach_new(initial, spec, settings.seed)?,
        None => freeze_layers(initial, settings.optim.trainable_last_layers),
    };
    Ok(match settings.mixed_precision {
        Some(compute) => mixed::to_mixed(model, compute),
        None => model,
    })
}

/// Reloads the model and the optimizer state of the checkpoint in `dir`: with LoRA, the
/// checkpoint's adapter factors in place of `initial`'s (from [`trainable`]); otherwise its
/// full model, prepared as [`trainable`] prepares one.
pub(crate) fn restore(
    dir: &Path,
    initial: CausalLm,
    model_config: &ModelConfig,
    settings: &TrainSettings,
    device: &Device,
) -> Result<(CausalLm, ModuleOptimizer)> {
    let o = &settings.optim;
    let model = if settings.lora.is_some() {
        lora::load_factors(initial, dir.join("adapter"))?
    } else {
        // Dropped first: the checkpoint's weights replace the initial ones.
        drop(initial);
        let mut source = weights::Checkpoint::open(dir.join("model"))?;
        let reloaded = weights::build_model(model_config, &mut source, device, settings.dtype)?;
        let model = freeze_layers(reloaded, o.trainable_last_layers);
        match settings.mixed_precision {
            Some(compute) => mixed::to_mixed(model, compute),
            None => model,
        }
    };
    let path = dir.join("optimizer.bpk");
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let optim = new_optimizer(o)
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| TrainError::OptimizerState {
            path,
            problem: format!("{e:?}"),
        })?;
    Ok((model, optim))
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StepOutcome {
    /// The step's loss (sum over its micro-batches, each scaled by the step's totals).
    pub loss: f64,
    /// Ratio and KL statistics of the policy loss.
    pub stats: PolicyStats,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Response tokens of the step.
    pub tokens: usize,
    /// The step overflowed in f16 and was skipped (loss scaling).
    pub skipped: bool,
}

impl StepOutcome {
    /// The step's `metrics.jsonl` line.
    pub(crate) fn metrics(
        &self,
        step: usize,
        examples: &[TrainExample],
        lr: f64,
        seconds: f64,
        truncated_fraction: f64,
    ) -> StepMetrics {
        let s = &self.stats;
        let (reward, reward_std) = mean_std(
            &examples
                .iter()
                .map(|e| f64::from(e.reward))
                .collect::<Vec<_>>(),
        );
        StepMetrics {
            step,
            loss: self.loss,
            reward,
            reward_std,
            advantage: mean_std(
                &examples
                    .iter()
                    .map(|e| f64::from(e.advantage))
                    .collect::<Vec<_>>(),
            )
            .0,
            ratio_mean: if s.ratio_count > 0 {
                s.ratio_sum / s.ratio_count as f64
            } else {
                1.0
            },
            clip_ratio: if s.ratio_count > 0 {
                s.clipped as f64 / s.ratio_count as f64
            } else {
                0.0
            },
            kl: s.kl_sum / self.tokens.max(1) as f64,
            grad_norm: self.grad_norm,
            lr,
            tokens_per_second: self.tokens as f64 / seconds.max(1e-9),
            mean_length: self.tokens as f64 / examples.len().max(1) as f64,
            truncated_fraction,
            loss_scale: None,
            skipped: self.skipped,
        }
    }
}

/// Seeds the device's random draws for optimizer step `step` (0-based, counted over the whole
/// run) from the run's seed: LoRA dropout's masks are the only draws a step makes, so a
/// resumed run draws exactly what the uninterrupted run drew. Nothing to do without dropout.
pub(crate) fn seed_step_draws(model: &CausalLm, settings: &TrainSettings, step: usize) {
    if settings.lora.as_ref().is_some_and(|l| l.dropout > 0.0) {
        let mixed = (settings.seed ^ 0x6c6f_7261_2d64_726f)
            .wrapping_add((step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        model.model.embed_tokens.weight.device().seed(mixed);
    }
}

/// One optimizer step on `examples` (all of the step's sequences): micro-batches under the
/// token budget, forward and backward each, gradients accumulated, global-norm clipping, one
/// AdamW update at `lr`. `refs` holds the reference (or old-policy) log-probs of each
/// example's response tokens; without them `reference` computes them per micro-batch.
/// (Callers give one of the two whenever the objective needs a reference.) `Err` carries a
/// non-finite loss or gradient norm; the model is then not updated and the checkpoint on disk
/// is left as it was.
#[allow(clippy::too_many_arguments)]
pub(crate) fn optimizer_step(
    mut model: CausalLm,
    optim: &mut ModuleOptimizer,
    examples: &[TrainExample],
    refs: Option<&[Vec<f32>]>,
    reference: Option<&CausalLm>,
    objective: Objective,
    o: &OptimConfig,
    lr: f64,
    loss_scale: Option<&mut LossScale>,
) -> std::result::Result<(CausalLm, StepOutcome), NonFiniteStep> {
    let scale = loss_scale.as_ref().map_or(1.0, |s| s.scale);
    let device = model.model.embed_tokens.weight.device();
    let unit = objective.unit();
    let totals = StepTotals {
        sequences: examples.len() / unit,
        tokens: examples.iter().map(|e| e.response_ids.len()).sum(),
    };
    // Gradients of all micro-batches are summed; each loss is already scaled by the step's
    // totals, so the sum equals the loss of the whole step as one batch.
    let lengths: Vec<usize> = examples.iter().map(TrainExample::len).collect();
    let mut accumulated = GradientsAccumulator::<CausalLm>::new();
    let mut outcome = StepOutcome {
        tokens: totals.tokens,
        ..Default::default()
    };
    for micro in batch::pack(&lengths, unit, o.token_budget) {
        let mut t = batch::tensors(examples, &micro, refs, &device);
        if t.ref_logp.is_none()
            && objective.needs_reference()
            && let Some(reference) = reference
        {
            t.ref_logp = Some(reference_batch(reference, &t, &device));
        }
        // Log-probs chunk by chunk over positions: the [batch, seq, vocab] logits never exist.
        let hidden = model.hidden_states(t.tokens.clone(), None, None, None);
        let logp =
            model.target_logprobs(hidden, t.targets.clone(), model.logprob_chunk_positions());
        let loss = match objective {
            Objective::Policy(cfg) => {
                let ref_logp = t.ref_logp.clone().expect("reference log-probs");
                let (loss, s) = policy_loss(
                    logp,
                    ref_logp,
                    t.mask.clone(),
                    t.advantages.clone(),
                    &cfg,
                    totals,
                );
                let acc = &mut outcome.stats;
                acc.ratio_sum += s.ratio_sum;
                acc.ratio_count += s.ratio_count;
                acc.clipped += s.clipped;
                acc.kl_sum += s.kl_sum;
                loss
            }
            Objective::Sft => sft_loss(logp, t.mask.clone(), totals),
            Objective::Dpo { beta } => {
                let ref_logp = t.ref_logp.clone().expect("reference log-probs");
                dpo_loss(logp, ref_logp, t.mask.clone(), beta, totals).0
            }
        };
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(NonFiniteStep {
                quantity: "loss",
                value,
            });
        }
        outcome.loss += f64::from(value);
        let loss = if scale == 1.0 { loss } else { loss * scale };
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        accumulated.accumulate(&model, grads);
    }
    let mut grads = accumulated.grads();
    if scale != 1.0 {
        scale_grads(&model, &mut grads, 1.0 / scale);
    }
    outcome.grad_norm = clip_global_norm(&model, &mut grads, o.max_grad_norm);
    // f16 gradients overflow now and then by design of loss scaling: the step is skipped
    // and the scale lowered, as PyTorch's GradScaler does.
    if let Some(loss_scale) = loss_scale {
        let finite = outcome.grad_norm.is_finite();
        loss_scale.update(finite);
        if !finite {
            tracing::warn!(
                scale = loss_scale.scale,
                "f16 gradients overflowed: step skipped, loss scale halved"
            );
            outcome.skipped = true;
            return Ok((model, outcome));
        }
    }
    // A NaN norm compares false against max_grad_norm, and AdamW would write NaN into every
    // parameter it touches: a finite loss does not make the step safe.
    if !outcome.grad_norm.is_finite() {
        return Err(NonFiniteStep {
            quantity: "gradient norm",
            value: outcome.grad_norm as f32,
        });
    }
    model = optim.step(lr, model, grads);
    Ok((model, outcome))
}

/// What made [`optimizer_step`] refuse to update: a non-finite loss or gradient norm.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NonFiniteStep {
    /// `loss` or `gradient norm`.
    pub quantity: &'static str,
    /// The value.
    pub value: f32,
}

impl NonFiniteStep {
    /// The run's error for optimizer step `step` (1-based).
    pub(crate) fn error(self, step: usize, checkpoint: PathBuf) -> TrainError {
        TrainError::NonFinite {
            step,
            quantity: self.quantity,
            value: self.value,
            checkpoint,
        }
    }
}

/// Keeps only the last `n` decoder layers trainable (embedding, final norm and head frozen too,
/// as in LLaMA-Factory's freeze tuning). `None` trains everything.
pub fn freeze_layers(mut model: CausalLm, trainable_last: Option<usize>) -> CausalLm {
    let Some(n) = trainable_last else {
        return model;
    };
    let layers = model.model.layers.len();
    let first_trainable = layers.saturating_sub(n);
    model.model.embed_tokens = model.model.embed_tokens.no_grad();
    model.model.norm = model.model.norm.no_grad();
    model.lm_head = model.lm_head.map(|h| h.no_grad());
    model.model.layers = model
        .model
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i < first_trainable { l.no_grad() } else { l })
        .collect();
    model
}

/// Reference log-probs of every example's response tokens, computed once with `reference`
/// and cached in the JSON file `path` (reused when the examples are unchanged).
pub(crate) fn precomputed_reference(
    reference: &CausalLm,
    examples: &[TrainExample],
    token_budget: usize,
    path: &Path,
) -> Result<Vec<Vec<f32>>> {
    if let Some(cached) = cached_reference(path, examples) {
        return Ok(cached);
    }
    let device = reference.model.embed_tokens.weight.device();
    let lengths: Vec<usize> = examples.iter().map(TrainExample::len).collect();
    let mut out = vec![Vec::new(); examples.len()];
    for micro in batch::pack(&lengths, 1, token_budget) {
        let t = batch::tensors(examples, &micro, None, &device);
        let lp = reference_batch(reference, &t, &device);
        let width = lp.dims()[1];
        let host = lp
            .into_data()
            .convert_dtype(DType::F32)
            .try_into_vec::<f32>()
            .unwrap_or_default();
        for (row, &i) in micro.iter().enumerate() {
            let p = examples[i].prompt_ids.len();
            let r = examples[i].response_ids.len();
            let at = row * width;
            // Target position j predicts token j + 1; the response starts at token p. Without a
            // prompt nothing predicts the first response token (it is masked out of the loss):
            // it gets a 0 placeholder so that every response token keeps its slot.
            out[i] = if p == 0 {
                std::iter::once(0.0)
                    .chain(host[at..at + r.saturating_sub(1)].iter().copied())
                    .collect()
            } else {
                host[at + p - 1..at + p - 1 + r].to_vec()
            };
        }
    }
    let cached = CachedReference {
        fingerprint: fingerprint(examples),
        logprobs: out,
    };
    let bytes = serde_json::to_vec(&cached).unwrap_or_default();
    o1p_data::write_atomic(path, &bytes)?;
    Ok(cached.logprobs)
}

/// The log-probs cached in `path` by [`precomputed_reference`], if they were computed for
/// exactly these examples.
pub(crate) fn cached_reference(path: &Path, examples: &[TrainExample]) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let cached = serde_json::from_slice::<CachedReference>(&bytes).ok()?;
    (cached.fingerprint == fingerprint(examples) && cached.logprobs.len() == examples.len())
        .then_some(cached.logprobs)
}

#[derive(Serialize, Deserialize)]
struct CachedReference {
    fingerprint: u64,
    logprobs: Vec<Vec<f32>>,
}

fn fingerprint(examples: &[TrainExample]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |v: u64| h = (h ^ v).wrapping_mul(0x0000_0100_0000_01b3);
    for e in examples {
        feed(e.prompt_ids.len() as u64);
        e.prompt_ids
            .iter()
            .chain(&e.response_ids)
            .for_each(|&t| feed(u64::from(t)));
        feed(u64::MAX);
    }
    h
}

/// Reference log-probs of a micro-batch (masked to response targets).
fn reference_batch(
    reference: &CausalLm,
    t: &BatchTensors,
    device: &Device,
) -> burn::tensor::Tensor<2> {
    let tokens = t.tokens.clone().to_device(device).inner();
    let targets = t.targets.clone().to_device(device).inner();
    let hidden = reference.hidden_states(tokens, None, None, None);
    let lp = reference.target_logprobs(hidden, targets, reference.logprob_chunk_positions())
        * t.mask.clone().inner();
    lp.detach()
}

/// Removes what an interrupted run (killed, or out of disk space) left half-written in
/// `run_dir`: `checkpoint.tmp/` (the checkpoint being written, never the complete
/// `checkpoint/` or `checkpoint.old/`), and the temporary files of atomic writes in the run
/// directory and in `model/`. Only this crate's own temporary names are touched; each
/// removal is logged.
pub(crate) fn remove_stale_temporaries(run_dir: &Path) -> Result<()> {
    let mut removed = Vec::new();
    let tmp = run_dir.join("checkpoint.tmp");
    if tmp.is_dir() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        removed.push(tmp);
    }
    removed.extend(o1p_data::remove_stale_temporaries(run_dir)?);
    let model_dir = run_dir.join("model");
    removed.extend(o1p_data::remove_stale_temporaries(&model_dir)?);
    removed.extend(weights::remove_stale_temporaries(&model_dir)?);
    for path in removed {
        tracing::warn!(path = %path.display(), "removed a temporary left by an interrupted run");
    }
    Ok(())
}

/// Writes model, optimizer state and `state` (as `state.json`) to `run_dir/checkpoint`. With
/// `lora`, only the adapter is written (`adapter/`, PEFT layout): the frozen weights are the
/// run's input model.
pub(crate) fn save_checkpoint<S: Serialize>(
    model: &CausalLm,
    config: &ModelConfig,
    optim: &ModuleOptimizer,
    state: &S,
    lora: Option<&LoraConfig>,
    run_dir: &Path,
) -> Result<()> {
    // Written to checkpoint.tmp, then swapped in by renames: a crash at any point leaves either
    // the old or the new checkpoint complete (load_checkpoint_state falls back to .old).
    let tmp = run_dir.join("checkpoint.tmp");
    let current = run_dir.join("checkpoint");
    let old = run_dir.join("checkpoint.old");
    let _ = std::fs::remove_dir_all(&tmp);
    match lora {
        Some(spec) => lora::save_adapter(model, spec, "", tmp.join("adapter"))?,
        // Stored values: a mixed-precision run resumes from its f32 masters.
        None => weights::save_stored(model, config, tmp.join("model"))?,
    }
    let bytes = optim.into_bytes().map_err(|e| TrainError::OptimizerState {
        path: tmp.join("optimizer.bpk"),
        problem: format!("{e:?}"),
    })?;
    o1p_data::write_atomic(tmp.join("optimizer.bpk"), &bytes)?;
    o1p_data::write_json_atomic(tmp.join("state.json"), state)?;
    let _ = std::fs::remove_dir_all(&old);
    if current.exists() {
        std::fs::rename(&current, &old).map_err(io(&current))?;
    }
    std::fs::rename(&tmp, &current).map_err(io(&tmp))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// The `state.json` of the run's checkpoint (or of `checkpoint.old`, left by a crash in the
/// middle of a swap) and the directory it sits in.
pub(crate) fn load_checkpoint_state<S: DeserializeOwned>(
    run_dir: &Path,
) -> Result<Option<(S, PathBuf)>> {
    for name in ["checkpoint", "checkpoint.old"] {
        let dir = run_dir.join(name);
        let path = dir.join("state.json");
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let state: S = serde_json::from_slice(&bytes).map_err(|e| TrainError::Config {
                path: path.clone(),
                problem: e.to_string(),
            })?;
            return Ok(Some((state, dir)));
        }
    }
    Ok(None)
}

/// `metrics.jsonl`, opened for appending after dropping the lines a resumed run repeats.
pub(crate) struct MetricsFile {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsFile {
    /// Opens `run_dir/metrics.jsonl`, keeping only lines of steps up to `step` and, when
    /// `rounds` is given, round lines of rounds up to it: what a checkpoint at that point had
    /// already logged. The rest belongs to the part of a crashed run that is repeated.
    pub(crate) fn open(run_dir: &Path, step: usize, rounds: Option<usize>) -> Result<Self> {
        let path = run_dir.join("metrics.jsonl");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let kept: String = text
                .lines()
                .filter(|l| {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                        return false;
                    };
                    let step_ok = v
                        .get("step")
                        .and_then(serde_json::Value::as_u64)
                        .is_some_and(|s| s as usize <= step);
                    let round_ok =
                        match (v.get("round").and_then(serde_json::Value::as_u64), rounds) {
                            (Some(r), Some(done)) => r as usize <= done,
                            (Some(_), None) => false,
                            (None, _) => true,
                        };
                    step_ok && round_ok
                })
                .map(|l| format!("{l}\n"))
                .collect();
            o1p_data::write_atomic(&path, kept.as_bytes())?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(MetricsFile { path, file })
    }

    /// Appends one JSON line and flushes it.
    pub(crate) fn write<T: Serialize>(&mut self, line: &T) -> Result<()> {
        let text = serde_json::to_string(line).unwrap_or_default();
        writeln!(self.file, "{text}").map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))
    }
}

pub(crate) fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var.sqrt())
}

pub(crate) fn progress_bar(
    show: bool,
    total: usize,
    start: usize,
) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "train [{bar:30}] {pos}/{len} steps {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(start as u64);
    Some(bar)
}
