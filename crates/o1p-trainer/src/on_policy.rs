//! On-policy O1-Pruner: the paper's Eq. 7 read literally.
//!
//! Eq. 7 takes its expectation over solutions drawn from the policy being trained; the paper's
//! code instead trains once over the pre-sampled pool with the initial model as the ratio's
//! denominator ([`crate::train()`], the default). This module runs the literal reading as
//! rounds; each round
//!
//! 1. samples `m` responses per problem from the **current** policy with o1p-sampler's native
//!    generation (through the resumable pre-sampling driver, so a killed round resumes its
//!    sampling where it stopped);
//! 2. grades them with o1p-reward (the pool's grading options and stop strings);
//! 3. rewards them (the length-harmonizing reward, or the run's `[reward]` kind, or a
//!    [`Scorer`] passed to [`train_on_policy`]) against the **pre-sampled** reference
//!    statistics (`Lbar_ref`, `Abar_ref` of the initial model). They are never recomputed
//!    from on-policy samples: against its own moving average a policy could only ever be
//!    "shorter than itself", and the accuracy constraint would drift with it;
//! 4. updates the policy with the same clipped objective ([`crate::loss::policy_loss`]), the
//!    ratio's denominator ("old" policy) being the policy that sampled the round. Its
//!    log-probs are computed once per round, teacher-forced like the training forward, so the
//!    first update of a round starts at `r = 1` exactly (the sampler's own log-probs come from
//!    a cached, left-padded forward and would differ in the last bits).
//!
//! The optimizer (AdamW moments) carries over from round to round, and one warmup + cosine
//! schedule spans the planned steps of all rounds. `optim.epochs` is the number of passes over
//! each round's samples (PPO epochs).
//!
//! # Run directory
//! - `rounds/NNNN/`: the round's pre-sampling output (`samples.jsonl` with token ids and
//!   verdicts, `presample.json`, and `reference_stats.json`, the *round's own* statistics,
//!   written by the driver and kept for inspection only), `rewards.jsonl` (every example's
//!   reward, advantage and terms) and `old_logprobs.json`;
//! - `checkpoint/`: model, optimizer and `state.json` (round, step within it, global step),
//!   swapped in atomically every `checkpoint_every` steps and at the end of every round;
//! - `metrics.jsonl`: one line per optimizer step ([`crate::StepMetrics`]) and one per round
//!   ([`RoundMetrics`], the line with a `round` field).
//!
//! # Resuming
//! Rerun the same command after a crash (even `kill -9`). A finished round is never redone:
//! its checkpoint is written at its end. In the middle of a round, sampling resumes from the
//! samples already stored; training resumes at the last checkpoint's step, reusing the
//! round's stored samples and old log-probs, and metric lines of repeated steps are dropped.
//! Sampling is seeded per (round, problem, sample) and the checkpoint restores the model
//! bit for bit, so a resumed run ends with the model of an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use o1p_data::{Durability, Problem, PromptRenderer, PromptTemplate, SampleRecord, SampleStore};
use o1p_model::{CausalLm, ModelConfig, Tokenizer};
use o1p_reward::{GradeOptions, ReferenceStats, Scorer};
use o1p_sampler::presample::{PresampleConfig, SAMPLES_FILE, Settings, presample, sample_seed};
use o1p_sampler::{NativeGenerator, SamplingParams};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::batch;
use crate::config::{OptimConfig, TrainConfig};
use crate::data::{self, PoolSample, TrainExample};
use crate::error::{Result, TrainError};
use crate::loss::PolicyLossConfig;
use crate::pool::to_pool_samples;
use crate::schedule::{LossScale, lr_at};
use crate::train::{
    MetricsFile, Objective, TrainReport, TrainSettings, cached_reference, load_checkpoint_state,
    mean_std, new_optimizer, optimizer_step, precomputed_reference, progress_bar, restore,
    save_checkpoint, seed_step_draws, trainable,
};

/// A problem of the on-policy rounds: its prompt exactly as pre-sampling rendered it, its gold
/// answer, and the reference statistics of the pre-sampled pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundProblem {
    /// The pool's problem id.
    pub problem_id: String,
    /// The rendered prompt text (chat template applied), as in the pool's records.
    pub prompt: String,
    /// The gold final answer.
    pub gold: String,
    /// The problem's numeric difficulty, where the problems file has one.
    #[serde(default)]
    pub difficulty: Option<f64>,
    /// `Lbar_ref`, `Abar_ref`, ... of the pre-sampled pool.
    pub reference: ReferenceStats,
}

/// Everything the rounds need besides the model and the [`TrainSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct OnPolicySpec {
    /// Sample-then-update rounds.
    pub rounds: usize,
    /// Samples per problem and round.
    pub samples_per_round: usize,
    /// Problems per round, in turn from a seeded shuffle (0: all, every round).
    pub problems_per_round: usize,
    /// Decoding of the rounds' samples (stop ids are added from the tokenizer).
    pub sampling: SamplingParams,
    /// Sequences decoded together.
    pub decode_batch: usize,
    /// How answers are extracted and compared.
    pub grade: GradeOptions,
    /// The clipped objective.
    pub loss: PolicyLossConfig,
}

impl OnPolicySpec {
    /// The spec of a run config; sampling settings the config leaves out come from the pool's
    /// pre-sampling `settings`, else the paper's (0.5, top-p 0.8, 8192 tokens).
    pub fn from_config(config: &TrainConfig, presampled: Option<&Settings>) -> Self {
        let p = &config.on_policy;
        let paper = PresampleConfig::default().params;
        let from_pool = |f: fn(&Settings) -> f32, default: f32| presampled.map_or(default, f);
        OnPolicySpec {
            rounds: p.rounds,
            samples_per_round: p.samples_per_round,
            problems_per_round: p.problems_per_round,
            sampling: SamplingParams {
                temperature: p
                    .temperature
                    .unwrap_or_else(|| from_pool(|s| s.temperature, paper.temperature)),
                top_p: p
                    .top_p
                    .unwrap_or_else(|| from_pool(|s| s.top_p, paper.top_p)),
                top_k: p
                    .top_k
                    .unwrap_or_else(|| presampled.map_or(paper.top_k, |s| s.top_k)),
                max_new_tokens: p.max_new_tokens.unwrap_or_else(|| {
                    presampled.map_or(paper.max_new_tokens, |s| s.max_new_tokens)
                }),
                stop_ids: Vec::new(),
                stop_strings: presampled.map_or_else(Vec::new, |s| s.stop_strings.clone()),
            },
            decode_batch: p.decode_batch,
            grade: presampled.map_or_else(GradeOptions::default, |s| s.grade.clone()),
            loss: config.loss,
        }
    }
}

/// One line of `metrics.jsonl` per finished round: what the policy that sampled it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundMetrics {
    /// The round (1-based: rounds finished so far).
    pub round: usize,
    /// Optimizer steps taken in total at the end of the round.
    pub step: usize,
    /// On-policy samples drawn.
    pub samples: usize,
    /// Mean sample length in tokens (the stop token included, as `Lbar_ref`).
    #[serde(rename = "completions/mean_length")]
    pub mean_length: f64,
    /// Fraction of samples graded correct.
    pub accuracy: f64,
    /// Mean raw reward (before normalisation).
    pub reward: f64,
    /// Std of the raw rewards.
    pub reward_std: f64,
    /// Fraction of samples cut at `max_new_tokens`.
    #[serde(rename = "completions/clipped_ratio")]
    pub truncated_fraction: f64,
    /// Mean `Lbar_ref` of the sampled problems (per sample), to compare with `mean_length`.
    #[serde(rename = "reference/mean_length")]
    pub reference_mean_length: f64,
    /// Mean `Abar_ref` of the sampled problems (per sample), to compare with `accuracy`.
    #[serde(rename = "reference/accuracy")]
    pub reference_accuracy: f64,
    /// Optimizer steps of the round.
    pub round_steps: usize,
    /// Mean loss of the round's steps (those run by this process, when it resumed mid-round).
    pub loss: f64,
    /// Generated tokens per second while sampling (0 when the samples were already stored).
    pub sampling_tokens_per_second: f64,
}

/// `state.json` of an on-policy checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RoundState {
    /// Rounds finished.
    round: usize,
    /// Optimizer steps done within round `round`.
    round_step: usize,
    /// Optimizer steps done in total.
    step: usize,
    /// Hash of the problems, the spec and the optimisation settings.
    fingerprint: u64,
    /// The f16 loss scale (`f16-mixed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loss_scale: Option<LossScale>,
}

/// The problems of the rounds: the pool's problems (by their prompts) that have a gold answer
/// in `problems` and reference statistics, in problem-id order. Returns them and the ids left
/// out for want of a gold answer or of statistics.
pub fn round_problems(
    prompts: &BTreeMap<String, String>,
    stats: &BTreeMap<String, ReferenceStats>,
    problems: &[Problem],
) -> (Vec<RoundProblem>, Vec<String>) {
    let gold: BTreeMap<&str, (&str, Option<f64>)> = problems
        .iter()
        .map(|p| (p.id.as_str(), (p.gold.as_str(), p.difficulty)))
        .collect();
    let mut kept = Vec::new();
    let mut missing = Vec::new();
    for (id, prompt) in prompts {
        match (gold.get(id.as_str()), stats.get(id)) {
            (Some((g, difficulty)), Some(st)) if !g.trim().is_empty() => kept.push(RoundProblem {
                problem_id: id.clone(),
                prompt: prompt.clone(),
                gold: (*g).to_string(),
                difficulty: *difficulty,
                reference: st.clone(),
            }),
            _ => missing.push(id.clone()),
        }
    }
    (kept, missing)
}

/// Trains `model` (on an autodiff device) with on-policy rounds on `problems`, each round's
/// samples rewarded by `scorer`, and returns the trained model; see the module docs for the
/// round, the run directory and resumption.
#[allow(clippy::too_many_arguments)]
pub fn train_on_policy(
    model: CausalLm,
    model_config: &ModelConfig,
    tokenizer: &Tokenizer,
    problems: &[RoundProblem],
    spec: &OnPolicySpec,
    scorer: &Scorer,
    settings: &TrainSettings,
    run_dir: &Path,
) -> Result<(CausalLm, TrainReport)> {
    let started = Instant::now();
    let o = &settings.optim;
    let device = model.model.embed_tokens.weight.device();
    if problems.is_empty() {
        return Err(TrainError::NoExamples(
            "no problem for on-policy rounds (none with a gold answer and reference statistics)"
                .into(),
        ));
    }
    std::fs::create_dir_all(run_dir).map_err(crate::error::io(run_dir))?;

    // --- the plan: which problems each round samples, and the schedule over all rounds.
    let per_round = match spec.problems_per_round {
        0 => problems.len(),
        n => n.min(problems.len()),
    };
    let mut rotation: Vec<usize> = (0..problems.len()).collect();
    rotation.shuffle(&mut ChaCha8Rng::seed_from_u64(settings.seed));
    let planned_round_steps =
        (per_round * spec.samples_per_round * o.epochs).div_ceil(o.batch_size);
    let total_steps = (spec.rounds * planned_round_steps).max(1);
    let warmup = (o.warmup_ratio * total_steps as f64).ceil() as usize;
    let fingerprint = run_fingerprint(problems, spec, scorer, o, settings.seed);

    // --- model, optimizer, and resumption.
    let mut optim = new_optimizer(o);
    let mut state = RoundState {
        round: 0,
        round_step: 0,
        step: 0,
        fingerprint,
        loss_scale: (settings.mixed_precision == Some(o1p_model::Precision::F16))
            .then(LossScale::default),
    };
    let mut model = match load_checkpoint_state::<RoundState>(run_dir)? {
        Some((saved, dir)) => {
            if saved.fingerprint != fingerprint {
                return Err(TrainError::Config {
                    path: dir.join("state.json"),
                    problem: "the checkpoint belongs to a different run (problems, sampling, reward or optimisation changed); use a new --out".into(),
                });
            }
            let restored;
            (restored, optim) = restore(&dir, model, model_config, settings, &device)?;
            state = RoundState {
                loss_scale: saved.loss_scale.or(state.loss_scale),
                ..saved
            };
            tracing::info!(
                round = state.round,
                step = state.step,
                "resuming on-policy run from checkpoint"
            );
            restored
        }
        None => trainable(model, settings)?,
    };
    remove_stale_rounds(run_dir, state.round)?;
    let mut metrics = MetricsFile::open(run_dir, state.step, Some(state.round))?;
    let bar = progress_bar(settings.progress, total_steps, state.step);
    let mut report = TrainReport {
        resumed_from: state.step,
        rounds: state.round,
        steps: state.step,
        ..Default::default()
    };
    let mut trained_tokens = 0usize;
    let stop_at = settings.stop_after.unwrap_or(usize::MAX);
    let stats: BTreeMap<String, ReferenceStats> = problems
        .iter()
        .map(|p| (p.problem_id.clone(), p.reference.clone()))
        .collect();

    for round in state.round..spec.rounds {
        if state.step >= stop_at {
            break;
        }
        let round_dir = run_dir.join("rounds").join(format!("{round:04}"));
        let round_seed = sample_seed(settings.seed, "on-policy-round", round);
        let chosen: Vec<&RoundProblem> = {
            let mut idx: Vec<usize> = (0..per_round)
                .map(|j| rotation[(round * per_round + j) % problems.len()])
                .collect();
            idx.sort_unstable();
            idx.into_iter().map(|i| &problems[i]).collect()
        };
        if let Some(bar) = &bar {
            bar.set_message(format!("round {}/{}: sampling", round + 1, spec.rounds));
        }

        // 1-2. Samples of the current policy, graded. Stored samples are reused: a round that
        //      was sampling when killed resumes, one that was training is not resampled.
        let t = Instant::now();
        let fresh_tokens = if state.round_step == 0 {
            sample_round(
                sampling_copy(&model, settings.mixed_precision),
                model_config,
                tokenizer,
                &chosen,
                spec,
                round_seed,
                &round_dir,
            )?
        } else {
            0
        };
        let sampling_seconds = t.elapsed().as_secs_f64();
        let mut samples = read_round(&round_dir, tokenizer, spec.samples_per_round * chosen.len())?;
        for s in &mut samples {
            if let Some(p) = chosen.iter().find(|p| p.problem_id == s.problem_id) {
                s.gold = p.gold.clone();
                s.difficulty = p.difficulty;
            }
        }

        // 3. Rewards against the pre-sampled reference statistics.
        let mut examples = data::rewarded_examples(&samples, &stats, scorer);
        crate::run::write_rewards(&round_dir.join(crate::run::REWARDS_FILE), &examples, scorer)?;
        let (truncated, dropped) = batch::apply_cutoff(&mut examples, o.max_seq_len, false);
        report.examples += examples.len();
        report.truncated += truncated;
        report.dropped += dropped;

        // 4. The old policy's log-probs (computed before the round's first update), then the
        //    round's steps.
        let old_path = round_dir.join("old_logprobs.json");
        let old = if state.round_step == 0 {
            precomputed_reference(&model.valid(), &examples, o.token_budget, &old_path)?
        } else {
            cached_reference(&old_path, &examples).ok_or_else(|| TrainError::Config {
                path: old_path.clone(),
                problem: "missing or stale: the round was resumed after updates, so the old policy's log-probs cannot be recomputed; use a new --out".into(),
            })?
        };
        let mut order = Vec::with_capacity(examples.len() * o.epochs);
        for epoch in 0..o.epochs {
            let mut idx: Vec<usize> = (0..examples.len()).collect();
            idx.shuffle(&mut ChaCha8Rng::seed_from_u64(
                round_seed.wrapping_add(epoch as u64),
            ));
            order.extend(idx);
        }
        let round_steps = order.len().div_ceil(o.batch_size);
        let truncated_fraction = truncated as f64 / (examples.len() + dropped).max(1) as f64;
        let mut losses = Vec::with_capacity(round_steps);
        for k in state.round_step..round_steps {
            if state.step >= stop_at {
                break;
            }
            let step_started = Instant::now();
            let lr = lr_at(state.step, total_steps, warmup, o.lr, o.lr * o.min_lr_ratio);
            let rows = &order[k * o.batch_size..((k + 1) * o.batch_size).min(order.len())];
            let step_examples: Vec<TrainExample> =
                rows.iter().map(|&i| examples[i].clone()).collect();
            let step_old: Vec<Vec<f32>> = rows.iter().map(|&i| old[i].clone()).collect();
            seed_step_draws(&model, settings, state.step);
            let (next, outcome) = optimizer_step(
                model,
                &mut optim,
                &step_examples,
                Some(&step_old),
                None,
                Objective::Policy(spec.loss),
                o,
                lr,
                state.loss_scale.as_mut(),
            )
            .map_err(|bad| bad.error(state.step + 1, run_dir.join("checkpoint")))?;
            model = next;
            state.step += 1;
            state.round_step = k + 1;
            trained_tokens += outcome.tokens;
            let mut m = outcome.metrics(
                state.step,
                &step_examples,
                lr,
                step_started.elapsed().as_secs_f64(),
                truncated_fraction,
            );
            m.loss_scale = state.loss_scale.map(|s| f64::from(s.scale));
            metrics.write(&m)?;
            losses.push(m.loss);
            report.final_loss = m.loss;
            report.steps = state.step;
            if let Some(bar) = &bar {
                bar.set_position(state.step as u64);
                bar.set_message(format!(
                    "round {}/{}: loss {:.4}",
                    round + 1,
                    spec.rounds,
                    m.loss
                ));
            }
            if k + 1 < round_steps
                && settings.checkpoint_every > 0
                && state.step.is_multiple_of(settings.checkpoint_every)
            {
                save_checkpoint(
                    &model,
                    model_config,
                    &optim,
                    &state,
                    settings.lora.as_ref(),
                    run_dir,
                )?;
            }
        }
        if state.round_step < round_steps {
            break; // stopped early (`stop_after`)
        }

        // The round is done: log it, then checkpoint, so it is never redone.
        let line = round_metrics(
            round + 1,
            state.step,
            &samples,
            &examples,
            &stats,
            round_steps,
            &losses,
            fresh_tokens as f64 / sampling_seconds.max(1e-9),
        );
        tracing::info!(
            round = round + 1,
            mean_length = line.mean_length,
            accuracy = line.accuracy,
            reward = line.reward,
            "on-policy round done"
        );
        metrics.write(&line)?;
        state.round = round + 1;
        state.round_step = 0;
        save_checkpoint(
            &model,
            model_config,
            &optim,
            &state,
            settings.lora.as_ref(),
            run_dir,
        )?;
        report.rounds = state.round;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.tokens_per_second = trained_tokens as f64 / report.wall_seconds.max(1e-9);
    Ok((model, report))
}

/// The policy as a round samples from it: out of autodiff, LoRA adapters merged once (decoding
/// with them attached would multiply every adapter pair again for every token) and, under
/// mixed precision, every weight in the compute dtype.
fn sampling_copy(model: &CausalLm, mixed_precision: Option<o1p_model::Precision>) -> CausalLm {
    let merged = model.valid().materialize();
    match mixed_precision {
        Some(compute) => o1p_model::mixed::cast_all(merged, compute.dtype()),
        None => merged,
    }
}

/// Samples (or finishes sampling) a round into `round_dir` with `policy`; returns
/// the number of tokens generated by this call.
fn sample_round(
    policy: CausalLm,
    model_config: &ModelConfig,
    tokenizer: &Tokenizer,
    chosen: &[&RoundProblem],
    spec: &OnPolicySpec,
    seed: u64,
    round_dir: &Path,
) -> Result<usize> {
    // The prompt is already rendered: a `{question}` template passes it through unchanged.
    let problems: Vec<Problem> = chosen
        .iter()
        .map(|p| Problem {
            id: p.problem_id.clone(),
            question: p.prompt.clone(),
            gold: p.gold.clone(),
            difficulty: None,
            level: None,
            subject: None,
            source: None,
        })
        .collect();
    let config = PresampleConfig {
        k: spec.samples_per_round,
        params: spec.sampling.clone(),
        seed,
        batch_size: spec.decode_batch,
        template: PromptTemplate {
            system: None,
            user: o1p_data::QUESTION_PLACEHOLDER.to_string(),
            fast_solving: false,
        },
        grade: spec.grade.clone(),
        keep_token_ids: true,
        durability: Durability::Flush,
        progress: false,
        // The round's model is the policy in memory; the run's own fingerprint covers it.
        fingerprint: Default::default(),
        shard: None,
    };
    // LoRA adapters merged once for the round: decoding with them attached would multiply
    // every adapter pair again for every token.
    let mut generator = NativeGenerator::new(policy, Some(tokenizer.clone()), spec.decode_batch);
    if generator.stop_ids().is_empty() {
        generator = generator.with_stop_ids(model_config.eos_token_ids.clone());
    }
    let summary = presample(
        &problems,
        &PromptRenderer::Raw,
        &generator,
        &config,
        round_dir,
    )?;
    for s in &summary.skipped {
        tracing::warn!(problem = %s.problem_id, reason = %s.reason, "on-policy round skipped a problem");
    }
    Ok(summary.generated_tokens)
}

/// The stored samples of a round as training samples (prompt ids as the sampler encoded them).
fn read_round(round_dir: &Path, tokenizer: &Tokenizer, expected: usize) -> Result<Vec<PoolSample>> {
    let path = round_dir.join(SAMPLES_FILE);
    let records: Vec<SampleRecord> = SampleStore::read(&path)?;
    if records.len() > expected {
        return Err(TrainError::Config {
            path,
            problem: format!(
                "{} samples where the round has {expected}; the directory belongs to another run, use a new --out",
                records.len()
            ),
        });
    }
    // The round's samples come from the native sampler with their ids kept; one without
    // them was written by something else.
    if let Some(r) = records.iter().find(|r| r.token_ids.is_none()) {
        return Err(TrainError::Config {
            path: path.clone(),
            problem: format!(
                "sample {} of {} has no token ids",
                r.sample_index, r.problem_id
            ),
        });
    }
    to_pool_samples(records, tokenizer)
}

#[allow(clippy::too_many_arguments)]
fn round_metrics(
    round: usize,
    step: usize,
    samples: &[PoolSample],
    examples: &[TrainExample],
    stats: &BTreeMap<String, ReferenceStats>,
    round_steps: usize,
    losses: &[f64],
    sampling_tokens_per_second: f64,
) -> RoundMetrics {
    let n = samples.len().max(1) as f64;
    let of = |f: &dyn Fn(&PoolSample) -> f64| samples.iter().map(f).sum::<f64>() / n;
    let reference = |s: &PoolSample| stats.get(&s.problem_id);
    let (reward, reward_std) = mean_std(
        &examples
            .iter()
            .map(|e| f64::from(e.reward))
            .collect::<Vec<_>>(),
    );
    RoundMetrics {
        round,
        step,
        samples: samples.len(),
        mean_length: of(&|s| s.response_ids.len() as f64),
        accuracy: of(&|s| f64::from(u8::from(s.correct))),
        reward,
        reward_std,
        truncated_fraction: of(&|s| f64::from(u8::from(s.truncated))),
        reference_mean_length: of(&|s| reference(s).map_or(0.0, |r| r.mean_length)),
        reference_accuracy: of(&|s| reference(s).map_or(0.0, |r| r.mean_accuracy)),
        round_steps,
        loss: mean_std(losses).0,
        sampling_tokens_per_second,
    }
}

/// Removes round directories after round `current`: they can only be left by another run
/// (a round is sampled after the previous one's checkpoint).
fn remove_stale_rounds(run_dir: &Path, current: usize) -> Result<()> {
    let rounds = run_dir.join("rounds");
    let Ok(entries) = std::fs::read_dir(&rounds) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        let stale = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|r| r > current);
        if stale {
            tracing::warn!(dir = %path.display(), "removing a round directory of another run");
            std::fs::remove_dir_all(&path).map_err(crate::error::io(&path))?;
        }
    }
    Ok(())
}

/// FNV-1a over everything that decides the run's samples and updates.
fn run_fingerprint(
    problems: &[RoundProblem],
    spec: &OnPolicySpec,
    scorer: &Scorer,
    o: &OptimConfig,
    seed: u64,
) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    };
    for p in problems {
        feed(serde_json::to_string(p).unwrap_or_default().as_bytes());
    }
    feed(format!("{spec:?}").as_bytes());
    feed(scorer.describe().as_bytes());
    feed(format!("{o:?}").as_bytes());
    feed(&seed.to_le_bytes());
    h
}
