//! The objectives against their closed forms, and what one optimizer step does.

use burn::module::Module;
use burn::tensor::{DType, Device, GradientCheckpointingStrategy, Tensor};
use o1p_model::{Backend, CausalLm, LoraConfig, ModelConfig, lora, weights};
use o1p_trainer::loss::{
    Aggregation, PolicyLossConfig, RatioMode, StepTotals, dpo_loss, policy_loss, sft_loss, tensor2,
};
use o1p_trainer::{
    Objective, OptimConfig, TrainExample, TrainPrecision, TrainReport, TrainSettings, train,
};

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
                    dual_clip: None,
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
fn dual_clip_bounds_the_negative_advantage_side() {
    let device = dev().autodiff();
    let totals = StepTotals {
        sequences: 1,
        tokens: 1,
    };
    let run = |logp0: f32, adv: f32, dual_clip: Option<f32>| {
        let logp = tensor2(vec![logp0], 1, 1, &device).require_grad();
        let a = Tensor::<1>::from_floats([adv], &device);
        let config = PolicyLossConfig {
            dual_clip,
            ..Default::default()
        };
        let (loss, stats) = policy_loss(
            logp.clone(),
            tensor2(vec![0.0], 1, 1, &device),
            tensor2(vec![1.0], 1, 1, &device),
            a,
            &config,
            totals,
        );
        let value: f32 = loss.clone().into_scalar();
        let grads = loss.backward();
        let g: f32 = logp.grad(&grads).map(|g| g.into_scalar()).unwrap_or(0.0);
        (value, g, stats.clipped)
    };
    // r = e^2 = 7.39 with A = -1: without a dual clip the loss is r and grows with r.
    let (loss, g, clipped) = run(2.0, -1.0, None);
    assert!((loss - 2f32.exp()).abs() < 1e-4 && (g - 2f32.exp()).abs() < 1e-4);
    assert_eq!(clipped, 0);
    // With c = 3 the objective is c * A: loss 3, no gradient, counted as clipped.
    let (loss, g, clipped) = run(2.0, -1.0, Some(3.0));
    assert!((loss - 3.0).abs() < 1e-5 && g == 0.0, "{loss} {g}");
    assert_eq!(clipped, 1);
    // Below c, and for positive advantages, the dual clip changes nothing.
    assert_eq!(run(0.5, -1.0, Some(3.0)), run(0.5, -1.0, None));
    assert_eq!(run(2.0, 1.0, Some(3.0)), run(2.0, 1.0, None));
    assert_eq!(run(-2.0, 0.5, Some(3.0)), run(-2.0, 0.5, None));
}

#[test]
fn a_row_without_response_tokens_has_a_finite_token_mean_ratio() {
    let device = dev();
    let logp = tensor2(vec![-1.0, -0.5, -0.3, -0.2], 2, 2, &device);
    let ref_lp = tensor2(vec![-1.2, -0.4, -0.5, -0.5], 2, 2, &device);
    let mask = tensor2(vec![1.0, 1.0, 0.0, 0.0], 2, 2, &device);
    let a = Tensor::<1>::from_floats([1.0, -1.0], &device);
    let config = PolicyLossConfig {
        ratio: RatioMode::TokenMean,
        ..Default::default()
    };
    let totals = StepTotals {
        sequences: 2,
        tokens: 2,
    };
    let (loss, stats) = policy_loss(logp, ref_lp, mask, a, &config, totals);
    let loss = scalar(loss);
    assert!(loss.is_finite() && stats.ratio_sum.is_finite(), "{loss}");
    // Row 0: r = exp(mean(0.2, -0.1)) = exp(0.05); row 1 contributes nothing.
    assert!((loss + 0.05f64.exp() / 2.0).abs() < 1e-5, "{loss}");
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
        sample_index: 0,
        components: Vec::new(),
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

/// The tiny model trained with `s` on 16 examples (8 steps, a checkpoint every 3) twice: once
/// straight through, and once stopped after step 4, as a kill would leave it (checkpoint at
/// 3), then rerun into the same directory. Returns the straight model, the resumed one, the
/// rerun's report and the resumed run's directory.
fn straight_and_resumed(
    s: &TrainSettings,
    name: &str,
) -> (CausalLm, CausalLm, TrainReport, std::path::PathBuf) {
    let device = dev().autodiff();
    let many: Vec<TrainExample> = (0..4).flat_map(|_| examples()).collect();
    let mut s = s.clone();
    s.checkpoint_every = 3;
    let run = |settings: &TrainSettings, dir: &std::path::Path| {
        let (model, config) = tiny_model(&device);
        let objective = Objective::Policy(PolicyLossConfig::default());
        train(model, &config, many.clone(), objective, settings, dir).unwrap()
    };
    let (straight, _) = run(&s, &tmp(&format!("{name}-straight")));
    let dir = tmp(&format!("{name}-resumed"));
    let mut interrupted = s.clone();
    interrupted.stop_after = Some(4);
    run(&interrupted, &dir);
    let (resumed, report) = run(&s, &dir);
    assert_eq!(report.resumed_from, 3, "{name}");
    (straight, resumed, report, dir)
}

#[test]
fn resuming_from_a_checkpoint_reaches_the_same_model() {
    let (straight, resumed, _, dir) = straight_and_resumed(&settings(2, 10_000, None), "full");
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
fn a_non_finite_gradient_with_a_finite_loss_stops_the_run() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    // Advantages of 1e37 keep the loss finite (about -1e37) while the gradient's squared norm
    // overflows: the step must not be applied.
    let huge: Vec<TrainExample> = examples()
        .into_iter()
        .map(|mut e| {
            e.advantage = 1e37;
            e
        })
        .collect();
    let err = train(
        model,
        &config,
        huge,
        Objective::Policy(PolicyLossConfig::default()),
        &settings(4, 10_000, None),
        &tmp("nan-grad"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            o1p_trainer::TrainError::NonFinite {
                step: 1,
                quantity: "gradient norm",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("gradient norm"), "{err}");
}

#[test]
fn an_empty_prompt_trains_with_precomputed_reference_log_probs() {
    let device = dev().autodiff();
    let (model, config) = tiny_model(&device);
    let mut ex = examples();
    ex[0].prompt_ids.clear(); // the first response token has no predecessor
    ex[1].prompt_ids.clear();
    ex[1].response_ids.truncate(1); // and this row has no response target at all
    let objective = Objective::Policy(PolicyLossConfig {
        ratio: RatioMode::TokenMean,
        ..Default::default()
    });
    let (trained, report) = train(
        model,
        &config,
        ex,
        objective,
        &settings(4, 10_000, None),
        &tmp("empty-prompt"),
    )
    .unwrap();
    assert!(report.final_loss.is_finite());
    for (name, v) in flat_params(&trained) {
        assert!(v.iter().all(|x| x.is_finite()), "{name}");
    }
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

/// Where the PyTorch parity fixture lives (made by xtask/python/make_trainer_parity.py).
fn parity_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

/// How far one step's parameter changes are from PyTorch's, over the elements PyTorch moved by
/// at least 0.1 lr: the 99th percentile and the maximum of the relative error, and how many
/// moved the other way.
#[derive(Debug, Clone, Copy)]
struct Parity {
    compared: usize,
    p99: f64,
    max: f64,
    sign_flips: usize,
}

fn compare_changes(
    initial: &CausalLm,
    ours: &CausalLm,
    expected: &mut o1p_model::weights::Checkpoint,
    step: usize,
    lr: f64,
) -> Parity {
    use o1p_model::weights::{TensorKind, WeightSource};
    let shapes = weights::named_tensors(&initial.valid());
    let (initial, ours) = (flat_params(initial), flat_params(ours));
    let mut errors = Vec::new();
    let mut sign_flips = 0;
    for ((name, p0), (name2, ours)) in initial.iter().zip(&ours) {
        assert_eq!(name, name2);
        let shape = shapes[name].shape().to_vec();
        let reference = expected
            .tensor(&format!("step{step}.{name}"), &shape, TensorKind::Weight)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .convert_dtype(DType::F32)
            .try_to_vec::<f32>()
            .unwrap();
        for ((&start, &got), &want) in p0.iter().zip(ours).zip(&reference) {
            let want_change = f64::from(want) - f64::from(start);
            let got_change = f64::from(got) - f64::from(start);
            if want_change.abs() < 0.1 * lr {
                continue;
            }
            if got_change.signum() != want_change.signum() {
                sign_flips += 1;
            }
            errors.push((got_change - want_change).abs() / want_change.abs());
        }
    }
    errors.sort_by(f64::total_cmp);
    let compared = errors.len();
    assert!(compared > 0, "step {step}: nothing moved");
    Parity {
        compared,
        p99: errors[((compared as f64 * 0.99).ceil() as usize).min(compared) - 1],
        max: errors[compared - 1],
        sign_flips,
    }
}

/// Two steps of `train()` on the fixture's pool, through the public path (a TOML run config,
/// pool samples, `training_set`), compared after each step with PyTorch's parameters.
fn parity_run(ratio: &str, epsilon: f64, batch_size: usize) -> [Parity; 2] {
    let fixture = parity_fixture();
    let pool_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("pool.json")).unwrap()).unwrap();
    let lr = pool_json["lr"].as_f64().unwrap();
    let text = format!(
        "model = '{model}'\nsamples = '{pool}'\nout = 'unused'\n\
         [reward]\nlambda = {lambda}\nsamples_per_problem = 0\n\
         [loss]\neps = {eps}\nratio = '{ratio}'\n\
         [optim]\nlr = {lr:e}\nepsilon = {epsilon:e}\nmin_lr_ratio = 1.0\nwarmup_ratio = 0.0\n\
         weight_decay = 0.0\nmax_grad_norm = 0.0\nbatch_size = {batch_size}\nepochs = 2\n\
         max_seq_len = 64\n",
        model = fixture.join("model").display(),
        pool = fixture.join("pool.json").display(),
        lambda = pool_json["lambda"].as_f64().unwrap(),
        eps = pool_json["eps"].as_f64().unwrap(),
    );
    let config = o1p_trainer::TrainConfig::from_toml(&text, "parity.toml").unwrap();
    let pool: Vec<o1p_trainer::PoolSample> = pool_json["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| o1p_trainer::PoolSample {
            problem_id: s["problem_id"].as_str().unwrap().into(),
            sample_index: s["sample_index"].as_u64().unwrap() as usize,
            prompt_ids: serde_json::from_value(s["prompt_ids"].clone()).unwrap(),
            response_ids: serde_json::from_value(s["response_ids"].clone()).unwrap(),
            response: String::new(),
            gold: String::new(),
            difficulty: None,
            correct: s["correct"].as_bool().unwrap(),
            truncated: false,
        })
        .collect();
    let (examples, objective) = o1p_trainer::training_set(&config, &pool);
    assert_eq!(examples.len(), pool.len());
    for (sample, want) in pool.iter().zip(pool_json["advantages"].as_array().unwrap()) {
        let e = examples
            .iter()
            .find(|e| e.response_ids == sample.response_ids)
            .unwrap();
        assert!((f64::from(e.advantage) - want.as_f64().unwrap()).abs() < 1e-5);
    }
    let settings = TrainSettings {
        optim: config.optim.clone(),
        seed: config.seed,
        reference: config.reference,
        ..Default::default()
    };
    let device = dev().autodiff();
    let (model, model_config) =
        o1p_model::load_pretrained(&config.model, &device, DType::F32).unwrap();
    let mut expected =
        o1p_model::weights::Checkpoint::open(fixture.join(format!("expected_{ratio}.safetensors")))
            .unwrap();
    let mut out = Vec::new();
    for step in [1, 2] {
        let mut s = settings.clone();
        s.stop_after = Some(step);
        let (trained, report) = train(
            model.clone(),
            &model_config,
            examples.clone(),
            objective,
            &s,
            &tmp(&format!("parity-{ratio}-{epsilon:e}-{batch_size}-{step}")),
        )
        .unwrap();
        assert_eq!(report.steps, step);
        out.push(compare_changes(&model, &trained, &mut expected, step, lr));
    }
    [out[0], out[1]]
}

#[test]
fn two_steps_match_an_independent_pytorch_implementation() {
    // The pool (6 samples) as one batch of 6, and inside a batch of 32: a step never spans
    // two epochs, as in Hugging Face's Trainer, so both are 2 steps of the whole pool.
    for (ratio, batch_size) in [
        ("sequence", 6),
        ("token_mean", 6),
        ("sequence", 32),
        ("token_mean", 32),
    ] {
        let parity = parity_run(ratio, 1e-8, batch_size);
        for (k, p) in parity.iter().enumerate() {
            eprintln!(
                "parity {ratio} batch {batch_size} step {}: {} changes compared, relative error p99 {:.2e}, max {:.2e}, {} sign flips",
                k + 1,
                p.compared,
                p.p99,
                p.max,
                p.sign_flips
            );
            assert!(
                p.p99 <= 1e-3 && p.sign_flips == 0,
                "{ratio} step {}: {p:?}",
                k + 1
            );
        }
        if batch_size == 32 {
            continue;
        }
        // The comparison is sharp enough to see Burn's default epsilon (1e-5).
        let burn_default = parity_run(ratio, 1e-5, batch_size);
        eprintln!("parity {ratio} with epsilon 1e-5: {burn_default:?}");
        assert!(
            burn_default.iter().any(|p| p.p99 > 1e-3),
            "{ratio}: {burn_default:?}"
        );
    }
}

/// Each logged step's loss and gradient norm in `dir/metrics.jsonl`.
fn logged_loss_and_grad_norm(dir: &std::path::Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let m: o1p_trainer::StepMetrics = serde_json::from_str(l).unwrap();
            (m.loss, m.grad_norm)
        })
        .collect()
}

#[test]
fn gradient_checkpointing_trains_to_the_same_numbers() {
    let plain = dev().autodiff();
    let checkpointed = dev().autodiff().gradient_checkpointing();
    // The model built on the device carries the strategy, so the run really checkpoints.
    let strategy = |device: &Device| {
        let (model, _) = tiny_model(device);
        model.model.layers[0]
            .mlp
            .up_proj
            .weight
            .val()
            .gradient_checkpointing_strategy()
    };
    assert_eq!(
        strategy(&plain),
        Some(GradientCheckpointingStrategy::Disabled)
    );
    assert_eq!(
        strategy(&checkpointed),
        Some(GradientCheckpointingStrategy::Balanced)
    );
    for (objective, last) in [
        (Objective::Policy(PolicyLossConfig::default()), None),
        (Objective::Policy(PolicyLossConfig::default()), Some(1)),
        (Objective::Sft, None),
    ] {
        let what = format!("{objective:?}, trainable_last_layers {last:?}");
        let runs: Vec<_> = [(&plain, "gc-off"), (&checkpointed, "gc-on")]
            .into_iter()
            .map(|(device, name)| {
                let (model, config) = tiny_model(device);
                let dir = tmp(name);
                // Batches of 2: two steps, so the second step's gradients see the first update.
                let (trained, _) = train(
                    model,
                    &config,
                    examples(),
                    objective,
                    &settings(2, 10_000, last),
                    &dir,
                )
                .unwrap();
                (flat_params(&trained), logged_loss_and_grad_norm(&dir))
            })
            .collect();
        let ((params_off, steps_off), (params_on, steps_on)) = (&runs[0], &runs[1]);
        assert_eq!(steps_off.len(), 2, "{what}");
        assert_eq!(steps_off.len(), steps_on.len(), "{what}");
        for (i, (off, on)) in steps_off.iter().zip(steps_on).enumerate() {
            assert!(off.1 > 0.0, "{what}: step {i} has no gradient");
            assert!(
                (off.0 - on.0).abs() < 1e-5 && (off.1 - on.1).abs() < 1e-5 * off.1.max(1.0),
                "{what}: step {i}: loss, grad norm {off:?} without checkpointing, {on:?} with"
            );
        }
        for ((name, a), (_, b)) in params_off.iter().zip(params_on) {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(d < 1e-5, "{what} {name}: {d}");
        }
    }
}

#[test]
fn the_run_config_key_selects_gradient_checkpointing() {
    // The fingerprint hashes the model directory and the pool file: both must exist.
    let dir = tmp("gc-config");
    std::fs::create_dir_all(dir.join("model")).unwrap();
    std::fs::write(dir.join("model/config.json"), "{}").unwrap();
    std::fs::write(dir.join("samples.jsonl"), "").unwrap();
    let toml = |extra: &str| {
        let text = format!(
            "model = {:?}\nsamples = {:?}\nout = {:?}\n{extra}",
            dir.join("model"),
            dir.join("samples.jsonl"),
            dir.join("out")
        );
        o1p_trainer::TrainConfig::from_toml(&text, "run.toml").unwrap()
    };
    let default = toml("");
    assert!(!default.gradient_checkpointing);
    let device = o1p_trainer::training_device(&default).unwrap();
    assert_eq!(
        device.gradient_checkpointing_strategy(),
        Some(GradientCheckpointingStrategy::Disabled)
    );
    let on = toml("gradient_checkpointing = true");
    let device = o1p_trainer::training_device(&on).unwrap();
    assert_eq!(
        device.gradient_checkpointing_strategy(),
        Some(GradientCheckpointingStrategy::Balanced)
    );
    // Memory only: a run may turn it on or off and resume.
    let fields = |c| o1p_trainer::fingerprint(c).unwrap().fields;
    assert_eq!(fields(&default), fields(&on));
    // ... while a setting that decides the result does change it.
    assert_ne!(fields(&default), fields(&toml("seed = 7")));
}

/// Every parameter's stored value by parameter id (a LoRA base without its adapter's update,
/// the adapter's factors as parameters of their own).
fn stored_values(model: &CausalLm) -> std::collections::BTreeMap<String, Vec<f32>> {
    use burn::module::{ModuleVisitor, Param};
    struct Collect(std::collections::BTreeMap<String, Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param
                .base()
                .into_data()
                .convert_dtype(DType::F32)
                .try_into_vec::<f32>()
                .unwrap();
            self.0.insert(param.id.to_string(), values);
        }
    }
    let mut collect = Collect(Default::default());
    model.visit(&mut collect);
    collect.0
}

#[test]
fn lora_trains_only_its_adapters_and_resumes_to_the_same_adapter() {
    let device = dev().autodiff();
    let mut s = settings(2, 10_000, None);
    s.lora = Some(LoraConfig {
        rank: 2,
        alpha: 4.0,
        layers: Some(vec![1]),
        ..LoraConfig::default()
    });
    let (model, _) = tiny_model(&device);
    let before = stored_values(&model);
    let first = &examples()[0];
    let logprob_before = seq_logprob(&model.valid(), first);
    let (straight, resumed, _, dir) = straight_and_resumed(&s, "lora");
    let after = stored_values(&straight);
    for (id, values) in &before {
        assert_eq!(
            &after[id], values,
            "parameter {id} of the base model changed"
        );
    }
    assert_eq!(
        after.len(),
        before.len() + 2 * 7,
        "one pair per module of layer 1"
    );
    let adapter = lora::adapter_tensors(&straight);
    assert!(
        adapter
            .iter()
            .filter(|(name, _)| name.contains("lora_B"))
            .all(|(_, b)| b.iter::<f32>().any(|x| x != 0.0)),
        "every B left zero"
    );
    assert!(seq_logprob(&straight.valid(), first) > logprob_before + 1e-3);

    // Killed after step 4 (checkpoint at 3), rerun: the same adapter as the straight run.
    let checkpoint = dir.join("checkpoint");
    assert!(
        checkpoint
            .join("adapter")
            .join(lora::ADAPTER_WEIGHTS_FILE)
            .is_file()
    );
    assert!(
        !checkpoint.join("model").exists(),
        "a LoRA checkpoint holds the adapter only"
    );
    for (name, d) in adapter_differences(&straight, &resumed) {
        assert!(d < 1e-6, "{name}: {d}");
    }
}

/// The largest absolute difference of each adapter tensor (PEFT name) between two models.
fn adapter_differences(a: &CausalLm, b: &CausalLm) -> Vec<(String, f32)> {
    lora::adapter_tensors(a)
        .iter()
        .zip(&lora::adapter_tensors(b))
        .map(|((name, x), (_, y))| {
            let d = x
                .iter::<f32>()
                .zip(y.iter::<f32>())
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            (name.clone(), d)
        })
        .collect()
}

/// LoRA dropout (PEFT's `lora_dropout`) changes what the adapters learn, draws its masks from
/// the run's seed and step (a run killed after step 4 resumes to the same adapter), and leaves
/// passes outside training alone. The only test of this binary that draws from the device's
/// RNG, so no other test interleaves its draws.
#[test]
fn lora_dropout_applies_in_training_and_resumes_to_the_same_adapter() {
    let spec = |dropout: f64| LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout,
        layers: Some(vec![1]),
        ..LoraConfig::default()
    };
    let mut s = settings(2, 10_000, None);
    s.lora = Some(spec(0.3));
    let (straight, resumed, _, _) = straight_and_resumed(&s, "lora-dropout");
    for (name, d) in adapter_differences(&straight, &resumed) {
        assert!(d < 1e-6, "{name}: {d}");
    }
    s.lora = Some(spec(0.0));
    let (plain, _, _, _) = straight_and_resumed(&s, "lora-no-dropout");
    let largest_difference = adapter_differences(&straight, &plain)
        .into_iter()
        .filter(|(name, _)| name.contains("lora_B"))
        .map(|(_, d)| d)
        .fold(0.0f32, f32::max);
    assert!(
        largest_difference > 1e-4,
        "dropout 0.3 trained the adapter dropout 0 trains ({largest_difference})"
    );
    // Outside training the adapters see all of their input: two passes agree.
    let first = &examples()[0];
    assert_eq!(
        seq_logprob(&straight.valid(), first),
        seq_logprob(&straight.valid(), first)
    );
    let bad = LoraConfig {
        dropout: 1.0,
        ..spec(0.0)
    };
    assert!(bad.check(None).unwrap_err().contains("dropout"));
}

/// The fraction of the decoder's projection weights (HF names `*_proj.weight`) whose stored
/// value differs between two models.
fn changed_fraction(before: &CausalLm, after: &CausalLm) -> f64 {
    let a = weights::named_stored_tensors(before);
    let b = weights::named_stored_tensors(after);
    let (mut changed, mut total) = (0usize, 0usize);
    for (name, x) in a.iter().filter(|(n, _)| n.ends_with("_proj.weight")) {
        let x = x.clone().convert_dtype(DType::F32);
        let y = b[name].clone().convert_dtype(DType::F32);
        for (p, q) in x.iter::<f32>().zip(y.iter::<f32>()) {
            total += 1;
            changed += usize::from(p != q);
        }
    }
    changed as f64 / total as f64
}

/// What `dtype = "bf16-mixed"` is for: the paper's lr 2e-7 moves weights of ~0.2 by far less
/// than bf16's spacing there (~1e-3). In pure bf16 the update rounds away; with f32 masters
/// it lands as in f32, while the passes compute in bf16.
#[test]
fn bf16_mixed_precision_lands_updates_that_pure_bf16_rounds_away() {
    let device = dev().autodiff();
    let run = |precision: &str| {
        let p: TrainPrecision = precision.parse().unwrap();
        let mut s = settings(4, 10_000, None);
        s.optim.lr = 2e-7;
        s.optim.epochs = 3;
        s.dtype = p.load_dtype();
        s.mixed_precision = p.mixed.then_some(p.compute);
        let config = ModelConfig::qwen2(20, 16, 32, 2, 2, 1);
        let mut init = weights::RandomInit::new(5, 0.2);
        let model = weights::build_model(&config, &mut init, &device, p.load_dtype()).unwrap();
        let (trained, _) = train(
            model.clone(),
            &config,
            examples(),
            Objective::Policy(PolicyLossConfig::default()),
            &s,
            &tmp(&format!("precision-{precision}")),
        )
        .unwrap();
        (changed_fraction(&model, &trained), trained)
    };
    let (f32_changed, _) = run("f32");
    assert!(f32_changed > 0.95, "f32: {f32_changed}");
    if device.supports_dtype(DType::BF16) {
        let (pure, _) = run("bf16");
        let (mixed, trained) = run("bf16-mixed");
        assert!(pure < 0.05, "pure bf16 rounds the update away: {pure}");
        assert!(mixed > 0.95, "bf16 with f32 masters: {mixed}");
        let q = &trained.model.layers[0].self_attn.q_proj.weight;
        assert_eq!(
            (q.base().dtype(), q.val().dtype()),
            (DType::F32, DType::BF16)
        );
    } else {
        eprintln!("skipping bf16: this backend has none");
    }
    if !device.supports_dtype(DType::F16) {
        eprintln!("skipping f16: this backend has none");
        return;
    }
    // f16 likewise, under dynamic loss scaling: at PyTorch's initial scale (2^16) this
    // model's gradients (norm ~10) overflow f16, so the first step is skipped with the scale
    // halved, as GradScaler does, until one lands (on flex: steps 1 and 2 skipped).
    let (f16_mixed, trained) = run("f16-mixed");
    assert!(f16_mixed > 0.95, "f16 with f32 masters: {f16_mixed}");
    let q = &trained.model.layers[0].self_attn.q_proj.weight;
    assert_eq!(q.val().dtype(), DType::F16);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(tmp_keep("precision-f16-mixed").join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let scales: Vec<f64> = lines
        .iter()
        .map(|l| l["loss_scale"].as_f64().unwrap())
        .collect();
    let skipped: Vec<bool> = lines.iter().map(|l| l["skipped"] == true).collect();
    assert!(skipped[0] && !skipped[2], "{lines:?}");
    let mut scale = 65536.0;
    for (skip, logged) in skipped.iter().zip(&scales) {
        if *skip {
            scale /= 2.0;
        }
        assert_eq!(
            *logged, scale,
            "a skipped step halves the scale, a taken one keeps it"
        );
    }
    assert!(lines[2]["grad_norm"].as_f64().unwrap().is_finite());
}

/// `tmp` without clearing the directory.
fn tmp_keep(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("o1p-trainer-{name}-{}", std::process::id()))
}

/// A mixed-precision run checkpoints its f32 masters (and LoRA its f32 factors) and resumes
/// to the same weights as an uninterrupted run.
#[test]
fn mixed_precision_runs_resume_from_their_f32_masters() {
    let device = dev().autodiff();
    let compute = if device.supports_dtype(DType::BF16) {
        o1p_model::Precision::Bf16
    } else if device.supports_dtype(DType::F16) {
        o1p_model::Precision::F16
    } else {
        eprintln!("skipping: this backend has no 16-bit floats");
        return;
    };
    for lora_spec in [
        None,
        Some(LoraConfig {
            rank: 2,
            alpha: 4.0,
            ..LoraConfig::default()
        }),
    ] {
        let mut s = settings(2, 10_000, None);
        s.mixed_precision = Some(compute);
        s.lora = lora_spec.clone();
        let label = if lora_spec.is_some() { "lora" } else { "full" };
        let (straight, resumed, _, _) = straight_and_resumed(&s, &format!("mixed-{label}"));
        let (a, b) = (stored_values(&straight), stored_values(&resumed));
        assert_eq!(a.len(), b.len(), "{label}");
        for (id, x) in &a {
            let d = x
                .iter()
                .zip(&b[id])
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(d < 1e-6, "{label}: parameter {id}: {d}");
        }
        if lora_spec.is_some() {
            let factors = lora::adapter_tensors(&resumed);
            assert!(
                factors.values().all(|t| t.dtype() == DType::F32),
                "f32 factors"
            );
        }
    }
}
