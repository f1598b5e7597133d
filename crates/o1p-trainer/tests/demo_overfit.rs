//! The whole method in one fast test: a small O1-Pruner run on the embedded demo model
//! (`assets/demo-model`) drives its response length down on the training problems while its
//! accuracy there does not fall.
//!
//! Nothing here depends on the numbers of one demo model: the base model is measured in the
//! test itself, on the same problems with the same decoding, and the trained model is compared
//! with it.
//!
//! Accuracy is measured two ways. Greedy accuracy is what the paper reports, but on 24
//! problems it is a coarse, jumpy measure: a borderline 2-step problem flips with any weight
//! update (a run at lr 1e-4 that shortened responses by only 11 % flipped 2 of 24), so the
//! greedy check allows 2 problems. Sampled accuracy (8 samples per problem at the pool's
//! temperature, the same seeds before and after) averages over the policy the objective
//! actually optimises; it must not fall by more than one problem's worth of samples.
//!
//! Greedy length moves in whole reflection blocks: the demo model writes 2 or 3 blocks, and
//! dropping one is ~20 % of the tokens, so the greedy check asks for 15 % (one block fewer on
//! most problems) and the sampled check, which moves smoothly, for 10 %. Measured on the
//! committed demo model (1000 steps, 88.8 % greedy): off-policy greedy 88.5 -> 70.2 tokens,
//! 23 -> 24 solved, sampled 69.9 -> 58.8 tokens, 165 -> 174 of 192 correct; on-policy greedy
//! 88.5 -> 70.2 tokens, 23 -> 21 solved, sampled 165 -> 160. On the earlier 750-step model
//! (71 %) off-policy gave greedy -37 to -61 % over 3 problem seeds.
//!
//! The second test runs the same budget on-policy (3 rounds of fresh samples from the current
//! policy, one epoch each), the pool providing only the reference statistics.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::DType;
use o1p_data::demo::{self, DemoConfig};
use o1p_data::{FinishReason, Problem, PromptRenderer};
use o1p_model::{Backend, CausalLm, ModelConfig, Tokenizer, load_pretrained};
use o1p_sampler::presample::{PresampleConfig, presample};
use o1p_sampler::{Generator, NativeGenerator, Prompt, Request, SamplingParams};
use o1p_trainer::loss::{PolicyLossConfig, RatioMode};
use o1p_trainer::on_policy::round_problems;
use o1p_trainer::pool::{load_pool, pool_prompts, reference_stats};
use o1p_trainer::{
    Objective, OnPolicySpec, OptimConfig, RewardConfig, TrainReport, TrainSettings, data, train,
    train_on_policy,
};

/// Training problems: 1- and 2-step demo problems ("easy"), seed 7.
const PROBLEMS: usize = 24;
const PROBLEM_SEED: u64 = 7;
/// Samples per problem in the pool.
const K: usize = 4;
/// Sampling temperature of the pool and of the sampled accuracy.
const TEMPERATURE: f32 = 0.8;
/// Samples per problem of the sampled accuracy.
const EVAL_SAMPLES: usize = 8;
/// Most new tokens; demo responses are ~70-100 tokens.
const MAX_NEW_TOKENS: usize = 200;

fn demo_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-model")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("o1p-overfit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// What decoding every problem `n` times gave.
#[derive(Debug, Clone, Copy)]
struct Measured {
    mean_tokens: f64,
    solved: usize,
}

/// Decodes every problem `n` times (greedy when `temperature` is 0) with fixed seeds.
fn measure(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    problems: &[Problem],
    n: usize,
    temperature: f32,
) -> Measured {
    let generator = NativeGenerator::new(model.clone(), Some(tokenizer.clone()), 96);
    let template = demo::prompt_template();
    let requests: Vec<Request> = problems
        .iter()
        .map(|p| Request {
            prompt: Prompt::Text(template.render_raw(&p.question).unwrap()),
            seeds: (0..n as u64).map(|j| 1000 + j).collect(),
        })
        .collect();
    let params = SamplingParams {
        max_new_tokens: MAX_NEW_TOKENS,
        temperature,
        ..Default::default()
    };
    let out = generator.generate(&requests, &params).unwrap();
    let mut tokens = 0;
    let mut solved = 0;
    for (p, samples) in problems.iter().zip(&out) {
        for g in samples {
            tokens += g.num_tokens;
            let truncated = g.finish_reason == FinishReason::Length;
            let grade = o1p_reward::grade_sample(&p.gold, &g.text, truncated, &Default::default());
            solved += usize::from(grade.correct);
        }
    }
    Measured {
        mean_tokens: tokens as f64 / (n * problems.len()) as f64,
        solved,
    }
}

/// The demo model, its tokenizer, the training problems and the base model's measurements.
struct Base {
    model: CausalLm,
    config: ModelConfig,
    tokenizer: Tokenizer,
    problems: Vec<Problem>,
    greedy: Measured,
    sampled: Measured,
}

fn base() -> Base {
    let dir = demo_model_dir();
    let device = Backend::Flex.device().unwrap().autodiff();
    let (model, config) = load_pretrained(&dir, &device, DType::F32).unwrap();
    let tokenizer = Tokenizer::from_dir(&dir).unwrap();
    let easy = DemoConfig {
        min_steps: 1,
        max_steps: 2,
        ..DemoConfig::default()
    };
    let problems = demo::generate_problems(PROBLEMS, PROBLEM_SEED, &easy);
    let greedy = measure(&model.valid(), &tokenizer, &problems, 1, 0.0);
    let sampled = measure(
        &model.valid(),
        &tokenizer,
        &problems,
        EVAL_SAMPLES,
        TEMPERATURE,
    );
    Base {
        model,
        config,
        tokenizer,
        problems,
        greedy,
        sampled,
    }
}

/// Pre-sampling: K samples per problem from the base model, into a fresh directory.
fn presample_pool(base: &Base, name: &str) -> PathBuf {
    let pool_dir = tmp(name);
    let presample_config = PresampleConfig {
        k: K,
        params: SamplingParams {
            max_new_tokens: MAX_NEW_TOKENS,
            temperature: TEMPERATURE,
            top_p: 1.0,
            ..Default::default()
        },
        seed: 0,
        batch_size: PROBLEMS * K,
        template: demo::prompt_template(),
        keep_token_ids: true,
        progress: false,
        ..Default::default()
    };
    let generator = NativeGenerator::new(
        base.model.valid(),
        Some(base.tokenizer.clone()),
        PROBLEMS * K,
    );
    presample(
        &base.problems,
        &PromptRenderer::Raw,
        &generator,
        &presample_config,
        &pool_dir,
    )
    .unwrap();
    pool_dir
}

/// The paper's reward (Eq. 7: no clipping, no normalisation, lambda 2). The reference code's
/// dataset z-score kept sampled accuracy flat or lowered it on this demo; the raw reward
/// raised it.
fn paper_reward() -> RewardConfig {
    RewardConfig::length_harmonizing(2.0, None)
}

/// A high learning rate: an overfit, on purpose.
fn settings(epochs: usize) -> TrainSettings {
    TrainSettings {
        optim: OptimConfig {
            lr: 1.5e-4,
            warmup_ratio: 0.1,
            batch_size: 16,
            token_budget: 8192,
            epochs,
            max_seq_len: 512,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The reference code's per-token-mean ratio, clipped at eps 0.2.
fn loss() -> PolicyLossConfig {
    PolicyLossConfig {
        ratio: RatioMode::TokenMean,
        ..Default::default()
    }
}

/// Measures `trained` as the base was measured, prints both, and checks that the length fell
/// by a clear margin while accuracy did not fall beyond the noise described in the module
/// docs.
fn check(label: &str, base: &Base, trained: &CausalLm, report: &TrainReport) {
    let greedy_before = base.greedy;
    let sampled_before = base.sampled;
    let greedy_after = measure(trained, &base.tokenizer, &base.problems, 1, 0.0);
    let sampled_after = measure(
        trained,
        &base.tokenizer,
        &base.problems,
        EVAL_SAMPLES,
        TEMPERATURE,
    );
    eprintln!(
        "{label}: {PROBLEMS} training problems, {} steps at {:.0} tokens/s\n\
         greedy:  {:.1} -> {:.1} tokens, {} -> {} solved\n\
         sampled: {:.1} -> {:.1} tokens, {} -> {} of {} correct",
        report.steps,
        report.tokens_per_second,
        greedy_before.mean_tokens,
        greedy_after.mean_tokens,
        greedy_before.solved,
        greedy_after.solved,
        sampled_before.mean_tokens,
        sampled_after.mean_tokens,
        sampled_before.solved,
        sampled_after.solved,
        PROBLEMS * EVAL_SAMPLES,
    );
    assert!(
        greedy_after.mean_tokens <= 0.85 * greedy_before.mean_tokens,
        "{label}: greedy length fell only from {:.1} to {:.1} tokens",
        greedy_before.mean_tokens,
        greedy_after.mean_tokens
    );
    assert!(
        sampled_after.mean_tokens <= 0.9 * sampled_before.mean_tokens,
        "{label}: sampled length fell only from {:.1} to {:.1} tokens",
        sampled_before.mean_tokens,
        sampled_after.mean_tokens
    );
    assert!(
        greedy_after.solved + 2 >= greedy_before.solved,
        "{label}: greedy accuracy fell from {} to {} of {PROBLEMS}",
        greedy_before.solved,
        greedy_after.solved
    );
    assert!(
        sampled_after.solved + EVAL_SAMPLES >= sampled_before.solved,
        "{label}: sampled accuracy fell from {} to {} of {}",
        sampled_before.solved,
        sampled_after.solved,
        PROBLEMS * EVAL_SAMPLES
    );
}

#[test]
fn o1_pruner_shortens_the_demo_model_without_losing_accuracy() {
    let base = base();
    let pool_dir = presample_pool(&base, "pool");

    // Off-policy, as the paper's code: 3 epochs over the pool.
    let pool = load_pool(&pool_dir, &base.tokenizer).unwrap();
    let examples = data::scored_examples(&pool, &paper_reward().scorer(), 0, 0);
    assert_eq!(examples.len(), PROBLEMS * K);
    let (trained, report) = train(
        base.model.clone(),
        &base.config,
        examples,
        Objective::Policy(loss()),
        &settings(3),
        &tmp("run"),
    )
    .unwrap();
    check("off-policy", &base, &trained.valid(), &report);
}

#[test]
fn on_policy_rounds_shorten_the_demo_model_without_losing_accuracy() {
    let base = base();
    let pool_dir = presample_pool(&base, "pool-on-policy");
    // The pool only provides the reference statistics and the prompts; 3 rounds of K fresh
    // samples per problem from the current policy, one epoch each: as many steps as the
    // off-policy test.
    let pool = load_pool(&pool_dir, &base.tokenizer).unwrap();
    let stats = reference_stats(&pool_dir, &pool).unwrap();
    let prompts = pool_prompts(&pool_dir).unwrap();
    let (problems, missing) = round_problems(&prompts, &stats, &base.problems);
    assert!(missing.is_empty());
    let spec = OnPolicySpec {
        rounds: 3,
        samples_per_round: K,
        problems_per_round: 0,
        sampling: SamplingParams {
            max_new_tokens: MAX_NEW_TOKENS,
            temperature: TEMPERATURE,
            ..Default::default()
        },
        decode_batch: PROBLEMS * K,
        grade: Default::default(),
        // Each round's update is clipped around that round's sampler, not the initial model,
        // so three rounds may drift further than one pass off-policy: with lambda 2 greedy
        // accuracy fell 3 problems and sampled accuracy stayed flat; lambda 3 weighs
        // accuracy a little more (measured: greedy -51 % tokens, -2 problems; sampled +1).
        loss: loss(),
    };
    let scorer = RewardConfig::length_harmonizing(3.0, None).scorer();
    let run_dir = tmp("on-policy-run");
    let (trained, report) = train_on_policy(
        base.model.clone(),
        &base.config,
        &base.tokenizer,
        &problems,
        &spec,
        &scorer,
        &settings(1),
        &run_dir,
    )
    .unwrap();
    assert_eq!(report.rounds, 3);
    // What Eq. 7 optimises directly: the policy's own sampled length, round after round.
    let rounds: Vec<f64> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("round").is_some())
        .map(|v| v["completions/mean_length"].as_f64().unwrap())
        .collect();
    eprintln!("on-policy mean sampled length per round: {rounds:?}");
    assert!(rounds[2] < rounds[0], "{rounds:?}");
    check("on-policy", &base, &trained.valid(), &report);
}
