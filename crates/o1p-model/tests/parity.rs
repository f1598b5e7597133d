//! Parity with Hugging Face transformers on the committed tiny random checkpoints
//! (tests/fixtures, made by xtask/python/make_model_fixtures.py): logits within 1e-4, identical
//! greedy tokens, per-token log-probs, a left-padded batch, both config.json dialects, and a
//! save -> load round trip.

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};
use o1p_model::{Backend, CausalLm, ModelConfig, load_pretrained, token_logprobs, weights};
#[path = "support/reference_json.rs"]
mod reference_json;
use reference_json::{floats, ids};
use serde_json::Value;

const FIXTURES: [&str; 4] = ["qwen2_tied", "qwen2_untied_mha", "llama_gqa", "llama3_rope"];
const TOL: f32 = 1e-4;

fn device() -> Device {
    let name = std::env::var("O1P_TEST_BACKEND").unwrap_or_else(|_| "flex".into());
    name.parse::<Backend>().unwrap().device().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name).join("reference.json")).unwrap()).unwrap()
}

fn tokens(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device)
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data()
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn greedy(model: &CausalLm, prompt: &[i64], n: usize, device: &Device) -> Vec<i64> {
    let mut cache = model.new_cache();
    let mut out = Vec::new();
    let mut input = prompt.to_vec();
    for _ in 0..n {
        let logits = model.forward_last(
            tokens(&[input.clone()], device),
            None,
            None,
            Some(&mut cache),
        );
        let next = logits
            .argmax(1)
            .into_data()
            .convert_dtype(DType::I64)
            .try_to_vec::<i64>()
            .unwrap()[0];
        out.push(next);
        input = vec![next];
    }
    out
}

fn check_fixture(name: &str, model: &CausalLm, device: &Device) {
    let r = reference(name);
    for (i, prompt) in r["prompts"].as_array().unwrap().iter().enumerate() {
        let prompt = ids(prompt);
        let logits = host(model.forward(
            tokens(std::slice::from_ref(&prompt), device),
            None,
            None,
            None,
        ));
        let d = max_diff(&logits, &floats(&r["logits"][i]));
        assert!(d < TOL, "{name} prompt {i}: logits differ by {d}");

        let n = prompt.len();
        let lp = token_logprobs(
            model.forward(
                tokens(&[prompt[..n - 1].to_vec()], device),
                None,
                None,
                None,
            ),
            tokens(&[prompt[1..].to_vec()], device),
        );
        let lp = lp.into_data().try_to_vec::<f32>().unwrap();
        let d = max_diff(&lp, &floats(&r["logprobs"][i]));
        assert!(d < TOL, "{name} prompt {i}: log-probs differ by {d}");

        let expected = ids(&r["greedy"][i]);
        assert_eq!(
            greedy(model, &prompt, expected.len(), device),
            expected,
            "{name} prompt {i}: greedy tokens"
        );
    }

    // The left-padded batch, with transformers' own position ids and mask.
    let batch = &r["batch_left_padded"];
    let input: Vec<Vec<i64>> = batch["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let positions: Vec<Vec<i64>> = batch["position_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let mask: Vec<bool> = batch["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| ids(row).into_iter().map(|m| m == 0))
        .collect();
    let (b, t) = (input.len(), input[0].len());
    let pad = Tensor::<2, Bool>::from_data(TensorData::new(mask.clone(), [b, t]), device);
    let logits = host(model.forward(
        tokens(&input, device),
        Some(tokens(&positions, device)),
        Some(pad),
        None,
    ));
    let vocab = logits.len() / (b * t);
    for row in 0..b {
        let real: Vec<f32> = (0..t)
            .filter(|&j| !mask[row * t + j])
            .flat_map(|j| logits[(row * t + j) * vocab..(row * t + j + 1) * vocab].to_vec())
            .collect();
        let d = max_diff(&real, &floats(&batch["logits"][row]));
        assert!(d < TOL, "{name} padded row {row}: logits differ by {d}");
    }
}

#[test]
fn matches_transformers_on_every_fixture() {
    let device = device();
    for name in FIXTURES {
        let (model, _) = load_pretrained(fixture(name), &device, DType::F32).unwrap();
        check_fixture(name, &model, &device);
    }
}

#[test]
fn transformers4_config_dialect_loads_the_same_model() {
    let device = device();
    for name in FIXTURES {
        let config = ModelConfig::from_file(fixture(name).join("config.v4.json")).unwrap();
        let mut checkpoint = weights::Checkpoint::open(fixture(name)).unwrap();
        let model = weights::build_model(&config, &mut checkpoint, &device, DType::F32).unwrap();
        check_fixture(name, &model, &device);
    }
}

#[test]
fn saved_checkpoints_reload_to_identical_logits() {
    let device = device();
    for name in FIXTURES {
        let (model, config) = load_pretrained(fixture(name), &device, DType::F32).unwrap();
        let dir =
            std::env::temp_dir().join(format!("o1p-parity-save-{name}-{}", std::process::id()));
        weights::save_pretrained(&model, &config, &dir).unwrap();
        // The same tensor names as transformers wrote (tied heads have no lm_head.weight).
        let original = weights::Checkpoint::open(fixture(name)).unwrap();
        let saved = weights::Checkpoint::open(&dir).unwrap();
        let mut a: Vec<&str> = original.names().collect();
        let mut b: Vec<&str> = saved.names().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{name}: tensor names");
        let (reloaded, _) = load_pretrained(&dir, &device, DType::F32).unwrap();
        check_fixture(name, &reloaded, &device);
        std::fs::remove_dir_all(dir).ok();
    }
}
