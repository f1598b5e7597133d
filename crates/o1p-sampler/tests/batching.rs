//! A sequence decoded inside a padded batch gets the same tokens as alone, under greedy decoding
//! and under seeded sampling, and finished rows leave the batch without disturbing the others.

use burn::tensor::DType;
use o1p_model::{Backend, CausalLm, ModelConfig, weights};
use o1p_sampler::{FinishReason, SamplingParams, generate};

fn model() -> CausalLm {
    let device = Backend::Flex.device().unwrap();
    let mut init = weights::RandomInit::new(11, 0.3);
    weights::build_model(
        &ModelConfig::qwen2(40, 32, 64, 2, 4, 2),
        &mut init,
        &device,
        DType::F32,
    )
    .unwrap()
}

fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![1, 2, 3, 4, 5, 6, 7],
        vec![9, 8],
        vec![3, 3, 3, 3],
        vec![20],
    ]
}

fn check_batch_equals_single(params: &SamplingParams) {
    let model = model();
    let prompts = prompts();
    let seeds: Vec<u64> = (0..prompts.len() as u64).map(|i| 100 + i).collect();
    let batched = generate(&model, &prompts, &seeds, params, None);
    for (i, prompt) in prompts.iter().enumerate() {
        let alone = generate(
            &model,
            std::slice::from_ref(prompt),
            &seeds[i..=i],
            params,
            None,
        );
        assert_eq!(alone[0].token_ids, batched[i].token_ids, "prompt {i}");
        assert_eq!(
            alone[0].finish_reason, batched[i].finish_reason,
            "prompt {i}"
        );
        for (a, b) in alone[0].logprobs.iter().zip(&batched[i].logprobs) {
            assert!((a - b).abs() < 1e-4, "prompt {i}: logprob {a} vs {b}");
        }
    }
}

#[test]
fn greedy_batch_equals_greedy_single() {
    check_batch_equals_single(&SamplingParams {
        max_new_tokens: 12,
        ..Default::default()
    });
}

#[test]
fn seeded_sampling_is_independent_of_the_batch() {
    check_batch_equals_single(&SamplingParams {
        max_new_tokens: 12,
        temperature: 0.8,
        top_p: 0.9,
        top_k: 20,
        ..Default::default()
    });
}

#[test]
fn rows_that_hit_eos_leave_the_batch_early() {
    let model = model();
    let prompts = prompts();
    let seeds = vec![0; prompts.len()];
    let params = SamplingParams {
        max_new_tokens: 10,
        ..Default::default()
    };
    let free = generate(&model, &prompts, &seeds, &params, None);
    // Make the 3rd greedy token of row 1 a stop id: row 1 must stop there, others go on as
    // before unless they emit that id too.
    let stop = free[1].token_ids[2];
    let params = SamplingParams {
        stop_ids: vec![stop],
        ..params
    };
    let stopped = generate(&model, &prompts, &seeds, &params, None);
    for (i, (f, s)) in free.iter().zip(&stopped).enumerate() {
        let cut = f.token_ids.iter().position(|&t| t == stop);
        match cut {
            Some(k) => {
                assert_eq!(s.token_ids, f.token_ids[..=k].to_vec(), "row {i}");
                assert_eq!(s.finish_reason, FinishReason::Eos);
            }
            None => {
                assert_eq!(s.token_ids, f.token_ids, "row {i}");
                assert_eq!(s.finish_reason, FinishReason::Length);
            }
        }
    }
}
