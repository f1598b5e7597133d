//! Self-consistency of the decoder on random weights: the KV cache, padding and saving must not
//! change any number. (Parity with transformers lives in tests/parity.rs.)

use burn::module::Module;
use burn::tensor::{Bool, DType, Int, Tensor, TensorData};
use o1p_model::{Backend, CausalLm, ModelConfig, load_pretrained, token_logprobs, weights};

fn device() -> burn::tensor::Device {
    let name = std::env::var("O1P_TEST_BACKEND").unwrap_or_else(|_| "flex".into());
    name.parse::<Backend>().unwrap().device().unwrap()
}

fn config() -> ModelConfig {
    // GQA (4 query heads over 2 kv heads), biases (Qwen2), tied head.
    ModelConfig::qwen2(50, 32, 64, 2, 4, 2)
}

fn model(device: &burn::tensor::Device) -> CausalLm {
    // A larger init std than 0.02 so that logits are far from uniform and any error shows.
    let mut init = weights::RandomInit::new(3, 0.2);
    weights::build_model(&config(), &mut init, device, DType::F32).unwrap()
}

fn ints(rows: &[Vec<i64>], device: &burn::tensor::Device) -> Tensor<2, Int> {
    let (b, t) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [b, t]), device)
}

fn to_vec(t: Tensor<3>) -> Vec<f32> {
    t.into_data()
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .expect("f32 data")
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: max abs diff {worst} > {tol}");
}

#[test]
fn kv_cache_decoding_equals_full_forward() {
    let device = device();
    let model = model(&device);
    let seq: Vec<i64> = vec![3, 17, 5, 44, 9, 21, 30, 2];
    let full = to_vec(model.forward(ints(std::slice::from_ref(&seq), &device), None, None, None));

    let mut cache = model.new_cache();
    let mut pieces = Vec::new();
    // A 3-token prefill, then one token at a time.
    pieces.extend(to_vec(model.forward(
        ints(&[seq[..3].to_vec()], &device),
        None,
        None,
        Some(&mut cache),
    )));
    for &tok in &seq[3..] {
        pieces.extend(to_vec(model.forward(
            ints(&[vec![tok]], &device),
            None,
            None,
            Some(&mut cache),
        )));
    }
    assert_eq!(cache.len(), seq.len());
    assert_close(&full, &pieces, 1e-4, "cached vs full");
}

#[test]
fn left_and_right_padded_batches_equal_single_sequences() {
    let device = device();
    let model = model(&device);
    let a: Vec<i64> = vec![4, 8, 15, 16, 23, 42];
    let b: Vec<i64> = vec![7, 1, 2];
    let single_a = to_vec(model.forward(ints(std::slice::from_ref(&a), &device), None, None, None));
    let single_b = to_vec(model.forward(ints(std::slice::from_ref(&b), &device), None, None, None));
    let vocab = 50;

    // Left padding: b is preceded by 3 pads; its positions start at 0 at its first real token.
    let tokens = ints(&[a.clone(), vec![0, 0, 0, 7, 1, 2]], &device);
    let positions = ints(&[vec![0, 1, 2, 3, 4, 5], vec![0, 0, 0, 0, 1, 2]], &device);
    let pad = Tensor::<2, Bool>::from_data(
        TensorData::new(
            vec![
                false, false, false, false, false, false, true, true, true, false, false, false,
            ],
            [2, 6],
        ),
        &device,
    );
    let out = to_vec(model.forward(tokens, Some(positions), Some(pad), None));
    assert_close(&out[..6 * vocab], &single_a, 1e-4, "left-padded row a");
    assert_close(
        &out[(6 + 3) * vocab..],
        &single_b,
        1e-4,
        "left-padded row b",
    );

    // Right padding: b is followed by pads; causal masking alone protects the real tokens.
    let tokens = ints(&[a, vec![7, 1, 2, 0, 0, 0]], &device);
    let out = to_vec(model.forward(tokens, None, None, None));
    assert_close(
        &out[6 * vocab..(6 + 3) * vocab],
        &single_b,
        1e-4,
        "right-padded row b",
    );
}

#[test]
fn left_padded_batch_decodes_with_cache_like_single() {
    let device = device();
    let model = model(&device);
    // Row b alone: prefill then two steps.
    let mut cache = model.new_cache();
    let alone1 = model.forward_last(
        ints(&[vec![7, 1, 2]], &device),
        None,
        None,
        Some(&mut cache),
    );
    let alone2 = model.forward_last(ints(&[vec![5]], &device), None, None, Some(&mut cache));
    // Row b inside a left-padded batch with a longer row a.
    let mut cache = model.new_cache();
    let tokens = ints(&[vec![4, 8, 15, 16], vec![0, 7, 1, 2]], &device);
    let positions = ints(&[vec![0, 1, 2, 3], vec![0, 0, 1, 2]], &device);
    let mut pad = vec![false, false, false, false, true, false, false, false];
    let mask = |pad: &Vec<bool>, n: usize| {
        Tensor::<2, Bool>::from_data(TensorData::new(pad.clone(), [2, n]), &device)
    };
    let batch1 = model.forward_last(
        tokens,
        Some(positions),
        Some(mask(&pad, 4)),
        Some(&mut cache),
    );
    pad = vec![
        false, false, false, false, false, true, false, false, false, false,
    ];
    let batch2 = model.forward_last(
        ints(&[vec![9], vec![5]], &device),
        Some(ints(&[vec![4], vec![3]], &device)),
        Some(mask(&pad, 5)),
        Some(&mut cache),
    );
    let row = |t: Tensor<2>| {
        t.slice([1..2, 0..50])
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 data")
    };
    assert_close(
        &row(batch1),
        &alone1.into_data().try_to_vec::<f32>().expect("f32 data"),
        1e-4,
        "prefill",
    );
    assert_close(
        &row(batch2),
        &alone2.into_data().try_to_vec::<f32>().expect("f32 data"),
        1e-4,
        "step",
    );
}

#[test]
fn save_then_load_round_trips_exactly() {
    let device = device();
    let model = model(&device);
    let dir = std::env::temp_dir().join(format!("o1p-roundtrip-{}", std::process::id()));
    weights::save_pretrained(&model, &config(), &dir).unwrap();
    let (reloaded, cfg) = load_pretrained(&dir, &device, DType::F32).unwrap();
    assert!(cfg.tie_word_embeddings);
    let tokens = ints(&[vec![1, 2, 3, 4, 5]], &device);
    let a = to_vec(model.forward(tokens.clone(), None, None, None));
    let b = to_vec(reloaded.forward(tokens, None, None, None));
    assert_eq!(a, b);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bf16_load_stays_close_to_f32() {
    let device = device();
    if !device.supports_dtype(DType::BF16) {
        eprintln!("skipping: this backend has no bf16");
        return;
    }
    let model = model(&device);
    let dir = std::env::temp_dir().join(format!("o1p-bf16-{}", std::process::id()));
    weights::save_pretrained(&model, &config(), &dir).unwrap();
    let (bf16, _) = load_pretrained(&dir, &device, DType::BF16).unwrap();
    let tokens = ints(&[vec![1, 2, 3, 4, 5]], &device);
    let a = to_vec(model.forward(tokens.clone(), None, None, None));
    let b = to_vec(bf16.forward(tokens, None, None, None));
    assert_close(&a, &b, 0.5, "bf16 vs f32 logits");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let device = device();
    let dir = std::env::temp_dir().join(format!("o1p-broken-{}", std::process::id()));
    weights::save_pretrained(&model(&device), &config(), &dir).unwrap();
    // Claim 3 layers where the file has 2.
    let mut raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    raw["num_hidden_layers"] = 3.into();
    std::fs::write(dir.join("config.json"), raw.to_string()).unwrap();
    let err = load_pretrained(&dir, &device, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing tensor `model.layers.2."), "{err}");
    // Claim a wider hidden layer.
    raw["num_hidden_layers"] = 2.into();
    raw["intermediate_size"] = 65.into();
    std::fs::write(dir.join("config.json"), raw.to_string()).unwrap();
    let err = load_pretrained(&dir, &device, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gate_proj.weight") && err.contains("[64, 32]"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn token_logprobs_gathers_log_softmax() {
    let device = device();
    let logits = Tensor::<3>::from_data(
        TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0, 0.0, 0.0], [1, 2, 3]),
        &device,
    );
    let targets = ints(&[vec![2, 0]], &device);
    let lp = token_logprobs(logits, targets)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 data");
    let z0 = (1.0f32 + 1f32.exp() + 2f32.exp()).ln();
    let z1 = (3f32.exp() + 2.0).ln();
    assert!(
        (lp[0] - (2.0 - z0)).abs() < 1e-5 && (lp[1] - (3.0 - z1)).abs() < 1e-5,
        "{lp:?}"
    );
}

#[test]
fn sharded_checkpoints_load_like_single_files() {
    let device = device();
    let model = model(&device);
    let dir = std::env::temp_dir().join(format!("o1p-sharded-{}", std::process::id()));
    weights::save_pretrained(&model, &config(), &dir).unwrap();
    // Split model.safetensors into two shards plus an index, as transformers does for big models.
    let tensors = weights::named_tensors(&model);
    let names: Vec<&String> = tensors.keys().collect();
    let (first, second) = names.split_at(names.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = part
            .iter()
            .map(|&name| {
                let data = &tensors[name];
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    data.shape().to_vec(),
                    data.as_bytes(),
                )
                .unwrap();
                weight_map.insert(name.clone(), file.into());
                (name.clone(), view)
            })
            .collect();
        std::fs::write(dir.join(file), safetensors::serialize(views, None).unwrap()).unwrap();
    }
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let (reloaded, _) = load_pretrained(&dir, &device, DType::F32).unwrap();
    let tokens = ints(&[vec![1, 2, 3, 4, 5]], &device);
    assert_eq!(
        to_vec(model.forward(tokens.clone(), None, None, None)),
        to_vec(reloaded.forward(tokens, None, None, None))
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The decoder of `config()` with a tied head, or with its own `lm_head` (and a bias-free
/// output as Qwen2 checkpoints have).
fn model_with_head(tied: bool, device: &burn::tensor::Device) -> CausalLm {
    let mut config = config();
    config.tie_word_embeddings = tied;
    let mut init = weights::RandomInit::new(5, 0.2);
    weights::build_model(&config, &mut init, device, DType::F32).unwrap()
}

fn flat2(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .expect("f32 data")
}

#[test]
fn chunked_target_logprobs_equal_full_logits() {
    let device = device();
    let rows = [vec![1, 7, 3, 49, 0, 12, 5], vec![4, 4, 30, 2, 8, 41, 9]];
    let targets = [vec![7, 3, 49, 0, 12, 5, 1], vec![4, 30, 2, 8, 41, 9, 0]];
    for tied in [true, false] {
        let model = model_with_head(tied, &device);
        let hidden = model.hidden_states(ints(&rows, &device), None, None, None);
        let full = flat2(token_logprobs(
            model.logits(hidden.clone()),
            ints(&targets, &device),
        ));
        // 1 and 3 positions split rows and cross the row boundary; 100 is one chunk.
        for chunk in [1, 3, 14, 100] {
            let chunked =
                flat2(model.target_logprobs(hidden.clone(), ints(&targets, &device), chunk));
            assert_close(
                &chunked,
                &full,
                1e-5,
                &format!("tied {tied}, chunk {chunk}"),
            );
        }
    }
}

#[test]
fn chunked_target_logprobs_give_the_full_logits_gradients() {
    let device = device().autodiff();
    let rows = [vec![1, 7, 3, 49, 0, 12], vec![4, 4, 30, 2, 8, 41]];
    let targets = [vec![7, 3, 49, 0, 12, 5], vec![4, 30, 2, 8, 41, 9]];
    // A nonlinear loss with per-position weights, so that every position's upstream gradient
    // differs (a sum of log-probs would not tell positions apart).
    let weights = Tensor::<2>::from_data(
        TensorData::new(
            vec![
                0.5f32, -1.0, 2.0, 0.0, 1.5, 0.25, -0.5, 1.0, 0.75, 3.0, -2.0, 1.0,
            ],
            [2, 6],
        ),
        &device,
    );
    let loss = |logp: Tensor<2>| (logp * weights.clone() * 0.1).exp().sum();
    for tied in [true, false] {
        for head_frozen in [true, false] {
            let what = format!("tied {tied}, head frozen {head_frozen}");
            let gradients = |chunk: Option<usize>| {
                let mut model = model_with_head(tied, &device);
                if head_frozen {
                    model.model.embed_tokens = model.model.embed_tokens.no_grad();
                    model.lm_head = model.lm_head.map(|h| h.no_grad());
                }
                let hidden = model.hidden_states(ints(&rows, &device), None, None, None);
                let logp = match chunk {
                    Some(c) => model.target_logprobs(hidden, ints(&targets, &device), c),
                    None => token_logprobs(model.logits(hidden), ints(&targets, &device)),
                };
                let values = flat2(logp.clone().inner());
                let grads = loss(logp).backward();
                let layer = &model.model.layers[0];
                let mut out = vec![
                    values,
                    to_grad(layer.self_attn.q_proj.weight.val().grad(&grads)),
                    to_grad(layer.mlp.up_proj.weight.val().grad(&grads)),
                    to_grad(model.model.norm.weight.val().grad(&grads)),
                ];
                if !head_frozen {
                    out.push(to_grad(model.model.embed_tokens.weight.val().grad(&grads)));
                    if let Some(head) = &model.lm_head {
                        out.push(to_grad(head.weight.val().grad(&grads)));
                    }
                }
                out
            };
            let full = gradients(None);
            for chunk in [1, 5, 100] {
                let chunked = gradients(Some(chunk));
                assert_eq!(chunked.len(), full.len());
                for (i, (a, b)) in chunked.iter().zip(&full).enumerate() {
                    assert!(
                        a.iter().any(|v| *v != 0.0),
                        "{what}: quantity {i} is all zero"
                    );
                    assert_close(a, b, 1e-5, &format!("{what}, chunk {chunk}, quantity {i}"));
                }
            }
        }
    }
}

fn to_grad<const D: usize>(grad: Option<Tensor<D>>) -> Vec<f32> {
    grad.expect("a gradient")
        .into_data()
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .expect("f32 data")
}
