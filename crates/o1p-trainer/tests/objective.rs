//! The objectives against their closed forms, and what one optimizer step does.

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use o1p_model::{Backend, CausalLm, ModelConfig, weights};
use o1p_trainer::loss::{
    Aggregation, PolicyLossConfig, RatioMode, StepTotals, dpo_loss, policy_loss, sft_loss, tensor2,
};
use o1p_trainer::{Objective, OptimConfig, TrainExample, TrainSettings, train};

/// The backend under test: flex by default, `O1P_TEST_BACKEND=wgpu|tch` in CI's backend steps.
fn dev() -> Device {
    let name = std::env::var("O1P_TEST_BACKEND").unwrap_or_else(|_| "flex".into());
    name.parse::<Backend>().unwrap().device().unwrap()
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

/// Hand-built batch: 2 sequences, 3 positions; row 1 has 2 response tokens.
fn batch(device: &Device) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
    let logp = tensor2(vec![-1.0, -0.5, -2.0, -0.3, -0.2, 0.0], 2, 3, device);
    let ref_lp = tensor2(vec![-1.2, -0.4, -1.5, -0.5, -0.5, 0.0], 2, 3, device);
    let mask = tensor2(vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0], 2, 3, device);
    (logp, ref_lp, mask)
}

fn closed_form(ratio: RatioMode, agg: Aggregation, adv: [f64; 2], eps: f64) -> f64 {
    let logp = [[-1.0, -0.5, -2.0], [-0.3, -0.2, 0.0]];
    let refl = [[-1.2, -0.4, -1.5], [-0.5, -0.5, 0.0]];
    let lens = [3usize, 2];
    let clip = |r: f64, a: f64| (r * a).min(r.clamp(1.0 - eps, 1.0 + eps) * a);
    let mut per_seq_token_mean = 0.0;
    let mut token_sum = 0.0;
    for i in 0..2 {
        let diffs: Vec<f64> = (0..lens[i]).map(|t| logp[i][t] - refl[i][t]).collect();
        let terms: Vec<f64> = match ratio {
            RatioMode::Sequence => vec![clip(diffs.iter().sum::<f64>().exp(), adv[i]); lens[i]],
            RatioMode::TokenMean => {
                vec![clip((diffs.iter().sum::<f64>() / lens[i] as f64).exp(), adv[i]); lens[i]]
            }
            RatioMode::PerToken => diffs.iter().map(|d| clip(d.exp(), adv[i])).collect(),
        };
        per_seq_token_mean += terms.iter().sum::<f64>() / lens[i] as f64;
        token_sum += terms.iter().sum::<f64>();
    }
    -match agg {
        Aggregation::SequenceMean => per_seq_token_mean / 2.0,
        Aggregation::TokenMean => token_sum / 5.0,
        Aggregation::Constant(c) => token_sum / (2.0 * c as f64),
    }
}

#[test]
fn policy_loss_equals_closed_form_for_every_mode() {
    let device = dev();
    let totals = StepTotals {
        sequences: 2,
        tokens: 5,
    };
    for adv in [[1.5f64, -0.7], [-2.0, 0.4]] {
        for ratio in [
            RatioMode::Sequence,
            RatioMode::TokenMean,
            RatioMode::PerToken,
        ] {
            for agg in [
                Aggregation::SequenceMean,
                Aggregation::TokenMean,
                Aggregation::Constant(4.0),
            ] {
                let (logp, ref_lp, mask) = batch(&device);
                let a = Tensor::<1>::from_floats([adv[0] as f32, adv[1] as f32], &device);
                let cfg = PolicyLossConfig {
                    eps: 0.2,
                    ratio,
                    aggregation: agg,
                    kl_coef: 0.0,
                };
                let (loss, _) = policy_loss(logp, ref_lp, mask, a, &cfg, totals);
                let expected = closed_form(ratio, agg, adv, 0.2);
                assert!(
                    (scalar(loss) - expected).abs() < 1e-5,
                    "{ratio:?} {agg:?} {adv:?}: expected {expected}"
                );
            }
        }
    }
}

#[test]
fn clipping_stops_the_gradient_on_the_clipped_side() {
    let device = dev().autodiff();
    let totals = StepTotals {
        sequences: 1,
        tokens: 1,
    };
    let grad_of = |logp0: f32, adv: f32| {
        let logp = tensor2(vec![logp0], 1, 1, &device).require_grad();
        let ref_lp = tensor2(vec![0.0], 1, 1, &device);
        let mask = tensor2(vec![1.0], 1, 1, &device);
        let a = Tensor::<1>::from_floats([adv], &device);
        let (loss, stats) = policy_loss(
            logp.clone(),
            ref_lp,
            mask,
            a,
            &PolicyLossConfig::default(),
            totals,
        );
        let grads = loss.backward();
        let g: f32 = logp.grad(&grads).map(|g| g.into_scalar()).unwrap_or(0.0);
        (g, stats.clipped)
    };
    // r = e^0.5 > 1.2 with a positive advantage: clipped, no gradient.
    assert_eq!(grad_of(0.5, 1.0), (0.0, 1));
    // r = e^-0.5 < 0.8 with a negative advantage: clipped, no gradient.
    assert_eq!(grad_of(-0.5, -1.0), (0.0, 1));
    // r = e^0.5 with a negative advantage: unclipped side is smaller, gradient -A*r flows.
    let (g, c) = grad_of(0.5, -1.0);
    assert!((g - 0.5f32.exp()).abs() < 1e-5 && c == 0, "{g}");
    // Inside the range both sides agree: d(-r*A)/dlogp = -A*r.
    let (g, _) = grad_of(0.1, 2.0);
    assert!((g + 2.0 * 0.1f32.exp()).abs() < 1e-5, "{g}");
}

#[test]
fn sft_and_dpo_equal_their_closed_forms() {
    let device = dev();
    let (logp, ref_lp, mask) = batch(&device);
    let sft = scalar(sft_loss(
        logp.clone(),
        mask.clone(),
        StepTotals {
            sequences: 2,
            tokens: 5,
        },
    ));
    assert!((sft - (3.5 + 0.5) / 5.0).abs() < 1e-6);
    let (loss, _) = dpo_loss(
        logp,
        ref_lp,
        mask,
        0.1,
        StepTotals {
            sequences: 1,
            tokens: 5,
        },
    );
    let chosen = (-3.5f64) - (-3.1);
    let rejected = (-0.5f64) - (-1.0);
    let z = 0.1 * (chosen - rejected);
    let expected = (1.0 + (-z).exp()).ln();
    assert!((scalar(loss) - expected).abs() < 1e-6, "{expected}");
}

fn tiny_model(device: &Device) -> (CausalLm, ModelConfig) {
    let config = ModelConfig::qwen2(20, 16, 32, 2, 2, 1);
    let mut init = weights::RandomInit::new(5, 0.2);
    (
        weights::build_model(&config, &mut init, device, DType::F32).unwrap(),
        config,
    )
}

fn examples() -> Vec<TrainExample> {
    let ex = |resp: Vec<u32>, adv: f32| TrainExample {
        problem_id: "p".into(),
        prompt_ids: vec![1, 2, 3],
        response_ids: resp,
        advantage: adv,
        reward: adv,
    };
    vec![
        ex(vec![4, 5, 6], 1.0),
        ex(vec![7, 8, 9, 10], -1.0),
        ex(vec![11, 12], 0.5),
        ex(vec![13, 14, 15], -0.5),
    ]
}

fn settings(batch_size: usize, token_budget: usize, last: Option<usize>) -> TrainSettings {
    TrainSettings {
        optim: OptimConfig {
            lr: 1e-2,
            warmup_ratio: 0.0,
            batch_size,
            token_budget,
            epochs: 1,
            max_seq_len: 64,
            trainable_last_layers: last,
            max_grad_norm: 0.0,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn seq_logprob(model: &CausalLm, e: &TrainExample) -> f32 {
    let ids: Vec<u32> = e
        .prompt_ids
        .iter()
        .chain(&e.response_ids)
        .copied()
        .collect();
    let lps = o1p_sampler::prompt_logprobs(model, &ids);
    lps[e.prompt_ids.len() - 1..].iter().sum()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("o1p-trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn one_step_raises_positive_and_lowers_negative_advantage_samples() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    let ex = examples();
    let before: Vec<f32> = ex.iter().map(|e| seq_logprob(&model.valid(), e)).collect();
    let (trained, _) = train(
        model,
        &config,
        ex.clone(),
        Objective::Policy(PolicyLossConfig::default()),
        &settings(4, 10_000, None),
        &tmp("direction"),
    )
    .unwrap();
    let after: Vec<f32> = ex
        .iter()
        .map(|e| seq_logprob(&trained.valid(), e))
        .collect();
    assert!(
        after[0] > before[0] && after[2] > before[2],
        "{before:?} -> {after:?}"
    );
    assert!(
        after[1] < before[1] && after[3] < before[3],
        "{before:?} -> {after:?}"
    );
}

fn flat_params(model: &CausalLm) -> Vec<(String, Vec<f32>)> {
    weights::named_tensors(&model.valid())
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.convert_dtype(DType::F32).try_into_vec::<f32>().unwrap(),
            )
        })
        .collect()
}

#[test]
fn frozen_layers_do_not_change() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    let before = flat_params(&model);
    let (trained, _) = train(
        model,
        &config,
        examples(),
        Objective::Policy(PolicyLossConfig::default()),
        &settings(4, 10_000, Some(1)),
        &tmp("freeze"),
    )
    .unwrap();
    let after = flat_params(&trained);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        let trainable = name.starts_with("model.layers.1.");
        assert_eq!(a == b, !trainable, "{name} changed: {}", a != b);
    }
}

#[test]
fn accumulating_micro_batches_equals_one_batch() {
    let device = dev().autodiff();
    for objective in [
        Objective::Policy(PolicyLossConfig::default()),
        Objective::Sft,
    ] {
        let (model, config) = tiny_model(&device);
        let (one, _) = train(
            model,
            &config,
            examples(),
            objective,
            &settings(4, 10_000, None),
            &tmp("acc1"),
        )
        .unwrap();
        let (model, _) = tiny_model(&device);
        // A budget of 7 tokens forces one sequence per micro-batch: 4 micro-batches.
        let (four, _) = train(
            model,
            &config,
            examples(),
            objective,
            &settings(4, 7, None),
            &tmp("acc4"),
        )
        .unwrap();
        for ((name, a), (_, b)) in flat_params(&one).iter().zip(&flat_params(&four)) {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(d < 1e-5, "{objective:?} {name}: {d}");
        }
    }
}

#[test]
fn resuming_from_a_checkpoint_reaches_the_same_model() {
    let device = dev().autodiff();
    let many: Vec<TrainExample> = (0..4).flat_map(|_| examples()).collect();
    let mut s = settings(2, 10_000, None);
    s.checkpoint_every = 3;
    let (model, config) = tiny_model(&device);
    let (straight, _) = train(
        model,
        &config,
        many.clone(),
        Objective::Policy(PolicyLossConfig::default()),
        &s,
        &tmp("straight"),
    )
    .unwrap();

    let dir = tmp("resumed");
    let (model, _) = tiny_model(&device);
    let mut interrupted = s.clone();
    interrupted.stop_after = Some(4); // checkpoint at 3, then "crash" after step 4
    train(
        model,
        &config,
        many.clone(),
        Objective::Policy(PolicyLossConfig::default()),
        &interrupted,
        &dir,
    )
    .unwrap();
    let (model, _) = tiny_model(&device);
    let (resumed, report) = train(
        model,
        &config,
        many,
        Objective::Policy(PolicyLossConfig::default()),
        &s,
        &dir,
    )
    .unwrap();
    assert_eq!(report.resumed_from, 3);
    for ((name, a), (_, b)) in flat_params(&straight).iter().zip(&flat_params(&resumed)) {
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-6, "{name}: {d}");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        8,
        "one metrics line per step, none duplicated"
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    let mut many: Vec<TrainExample> = (0..2).flat_map(|_| examples()).collect();
    let mut s = settings(2, 10_000, None);
    s.checkpoint_every = 2;
    let dir = tmp("nan");
    // A clean run writes its checkpoint at step 2 and stops; the rerun resumes there with
    // NaN advantages, so its first step (3) has a NaN loss and must not touch the checkpoint.
    let mut clean = s.clone();
    clean.stop_after = Some(2);
    train(
        model,
        &config,
        many.clone(),
        Objective::Policy(PolicyLossConfig::default()),
        &clean,
        &dir,
    )
    .unwrap();
    let saved = std::fs::read(dir.join("checkpoint/model/model.safetensors")).unwrap();
    for e in many.iter_mut() {
        e.advantage = f32::NAN;
    }
    let (model, _) = tiny_model(&device);
    let err = train(
        model,
        &config,
        many,
        Objective::Policy(PolicyLossConfig::default()),
        &s,
        &dir,
    )
    .unwrap_err();
    assert!(
        matches!(err, o1p_trainer::TrainError::NonFinite { step: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("checkpoint"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("checkpoint/model/model.safetensors")).unwrap(),
        saved
    );
}

#[test]
fn exported_model_reloads_to_identical_logits() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    let (trained, _) = train(
        model,
        &config,
        examples(),
        Objective::Sft,
        &settings(4, 10_000, None),
        &tmp("export-run"),
    )
    .unwrap();
    let dir = tmp("export");
    o1p_trainer::export(
        &trained,
        &config,
        std::path::Path::new("/nonexistent"),
        &dir,
    )
    .unwrap();
    let (reloaded, _) = o1p_model::load_pretrained(&dir, &dev(), DType::F32).unwrap();
    let e = &examples()[0];
    assert_eq!(seq_logprob(&trained.valid(), e), seq_logprob(&reloaded, e));
}
