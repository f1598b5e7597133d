//! Parity with Hugging Face transformers on the committed tiny random checkpoints
//! (tests/fixtures, made by xtask/python/make_model_fixtures.py): logits within 1e-4, identical
//! greedy tokens, per-token log-probs, a left-padded batch, both config.json dialects, and a
//! save -> load round trip.

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};
use o1p_model::{
    Backend, CausalLm, LoraConfig, ModelConfig, load_pretrained, lora, token_logprobs, weights,
};
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

// --- LoRA adapters against PEFT (fixtures/lora, made by xtask/python/make_lora_fixtures.py).

const LORA_FIXTURES: [&str; 2] = ["all_linear", "q_v_last_layer"];

/// Log-probs of each next token of every LoRA reference sequence under `model`.
fn sequence_logprobs(model: &CausalLm, device: &Device) -> Vec<f32> {
    let r = reference("lora");
    let mut out = Vec::new();
    for seq in r["sequences"].as_array().unwrap() {
        let seq = ids(seq);
        let logits = model.forward(
            tokens(&[seq[..seq.len() - 1].to_vec()], device),
            None,
            None,
            None,
        );
        let targets = tokens(&[seq[1..].to_vec()], device);
        out.extend(
            token_logprobs(logits, targets)
                .into_data()
                .convert_dtype(DType::F32)
                .try_to_vec::<f32>()
                .unwrap(),
        );
    }
    out
}

fn lora_fixture(adapter: &str) -> PathBuf {
    fixture("lora").join(adapter)
}

#[test]
fn peft_adapters_give_peft_logprobs_attached_merged_and_reexported() {
    let device = device();
    let r = reference("lora");
    let base_path = fixture(r["base"].as_str().unwrap().rsplit('/').next().unwrap());
    for name in LORA_FIXTURES {
        let expected = floats(&r["adapters"][name]["logprobs"]);
        let (base, config) = load_pretrained(&base_path, &device, DType::F32).unwrap();
        let base_lp = sequence_logprobs(&base, &device);
        assert!(max_diff(&base_lp, &floats(&r["adapters"][name]["base_logprobs"])) < TOL);
        let (adapted, lora_config) = lora::load_adapter(base.clone(), lora_fixture(name)).unwrap();
        let got = sequence_logprobs(&adapted, &device);
        assert!(
            max_diff(&got, &expected) < TOL,
            "{name}: {}",
            max_diff(&got, &expected)
        );
        assert!(
            max_diff(&base_lp, &expected) > 0.05,
            "{name}: the adapter changes log-probs"
        );

        // Merged into the base weights and saved as a plain checkpoint: same log-probs.
        let dir = std::env::temp_dir().join(format!("o1p-lora-{name}-{}", std::process::id()));
        weights::save_pretrained(&adapted, &config, dir.join("model")).unwrap();
        let merged = weights::Checkpoint::open(dir.join("model")).unwrap();
        assert!(
            merged.names().all(|n| !n.contains("lora")),
            "{name}: merged names"
        );
        let (merged, _) = load_pretrained(dir.join("model"), &device, DType::F32).unwrap();
        let merged_lp = sequence_logprobs(&merged, &device);
        assert!(max_diff(&merged_lp, &expected) < TOL, "{name}: merged");

        // Written back in PEFT's layout: PEFT's tensors, names and settings, exactly.
        lora::save_adapter(&adapted, &lora_config, "base", dir.join("adapter")).unwrap();
        let mut theirs =
            weights::Checkpoint::open(lora_fixture(name).join(lora::ADAPTER_WEIGHTS_FILE)).unwrap();
        let mut ours =
            weights::Checkpoint::open(dir.join("adapter").join(lora::ADAPTER_WEIGHTS_FILE))
                .unwrap();
        let mut names: Vec<String> = theirs.names().map(str::to_string).collect();
        let mut our_names: Vec<String> = ours.names().map(str::to_string).collect();
        names.sort();
        our_names.sort();
        assert_eq!(names, our_names, "{name}: tensor names");
        use o1p_model::weights::{TensorKind, WeightSource};
        for n in &names {
            let shape = theirs_shape(&lora_fixture(name), n);
            let a = theirs.tensor(n, &shape, TensorKind::Weight).unwrap();
            let b = ours.tensor(n, &shape, TensorKind::Weight).unwrap();
            assert_eq!(a.as_bytes(), b.as_bytes(), "{name}: {n}");
        }
        let (_, reread) = lora::load_adapter(base, dir.join("adapter")).unwrap();
        assert_eq!(reread, lora_config);
        std::fs::remove_dir_all(dir).ok();
    }
}

/// A tensor's shape as its safetensors header records it.
fn theirs_shape(dir: &Path, tensor: &str) -> Vec<usize> {
    let bytes = std::fs::read(dir.join(lora::ADAPTER_WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(tensor).unwrap().shape().to_vec()
}

#[test]
fn a_new_adapter_starts_as_the_base_model_and_trains_only_its_factors() {
    let device = device().autodiff();
    let (base, _) = load_pretrained(fixture("qwen2_untied_mha"), &device, DType::F32).unwrap();
    let spec = LoraConfig {
        rank: 4,
        alpha: 8.0,
        layers: Some(vec![1]),
        ..LoraConfig::default()
    };
    let adapted = lora::attach_new(base.clone(), &spec, 3).unwrap();
    let diff = max_diff(
        &sequence_logprobs(&base, &device),
        &sequence_logprobs(&adapted, &device),
    );
    assert!(diff < 1e-6, "B = 0 leaves the model as it was: {diff}");
    let tensors = lora::adapter_tensors(&adapted);
    assert_eq!(
        tensors.len(),
        2 * 7,
        "seven modules of layer 1, two factors each"
    );
    assert!(
        tensors
            .keys()
            .all(|n| n.starts_with("base_model.model.model.layers.1."))
    );
    // The same seed draws the same A (a resumed or repeated run starts identically).
    let again = lora::adapter_tensors(&lora::attach_new(base.clone(), &spec, 3).unwrap());
    assert!(
        tensors
            .iter()
            .zip(&again)
            .all(|((_, a), (_, b))| a.as_bytes() == b.as_bytes())
    );
    // Only the factors would receive gradients.
    let trainable = {
        use burn::module::{Module, ModuleVisitor, Param};
        struct Count(usize, usize);
        impl ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if param.is_require_grad() {
                    self.0 += param.shape().num_elements();
                } else {
                    self.1 += param.shape().num_elements();
                }
            }
        }
        let mut count = Count(0, 0);
        adapted.visit(&mut count);
        count.0
    };
    let factor_elements: usize = tensors.values().map(|t| t.num_elements()).sum();
    assert_eq!(trainable, factor_elements);
}

#[test]
fn bad_adapters_and_settings_are_errors_naming_what_is_wrong() {
    let device = device();
    let (base, _) = load_pretrained(fixture("qwen2_untied_mha"), &device, DType::F32).unwrap();
    let dir = std::env::temp_dir().join(format!("o1p-lora-bad-{}", std::process::id()));
    let copy = |config: &str| {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            lora_fixture("q_v_last_layer").join(lora::ADAPTER_WEIGHTS_FILE),
            dir.join(lora::ADAPTER_WEIGHTS_FILE),
        )
        .unwrap();
        let text =
            std::fs::read_to_string(lora_fixture("q_v_last_layer").join(lora::ADAPTER_CONFIG_FILE))
                .unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        let patch: Value = serde_json::from_str(config).unwrap();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        std::fs::write(dir.join(lora::ADAPTER_CONFIG_FILE), v.to_string()).unwrap();
    };
    for (patch, needle) in [
        (
            r#"{"target_modules": ["q_proj", "k_proj", "v_proj"]}"#,
            "k_proj.lora_A.weight",
        ),
        (r#"{"r": 3}"#, "expected [3, 48]"),
        (
            r#"{"layers_to_transform": [0]}"#,
            "layers.0.self_attn.q_proj.lora_A.weight",
        ),
        (r#"{"layers_to_transform": [2]}"#, "index 2 is out of range"),
        (r#"{"use_dora": true}"#, "use_dora"),
        (
            r#"{"target_modules": ["q_proj", "lm_head"]}"#,
            "unknown module `lm_head`",
        ),
        (r#"{"peft_type": "IA3"}"#, "peft_type"),
    ] {
        copy(patch);
        let err = lora::load_adapter(base.clone(), &dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{patch}: {err}");
    }
    let err = lora::attach_new(
        base,
        &LoraConfig {
            dropout: 1.0,
            ..LoraConfig::default()
        },
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dropout must be in [0, 1)"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
