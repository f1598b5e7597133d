//! A tiny randomly initialised Qwen2 with a character-level tokenizer, saved in Hugging Face
//! layout, and a few demo problems: enough to drive the evaluation end to end in seconds.
//!
//! Shared by o1p-eval's tests and the root package's `tests/evaluate_*.rs` (through `#[path]`).
#![allow(dead_code)] // each test file uses a different part

use std::path::Path;

use o1p_data::Problem;
use o1p_data::demo::{ALPHABET, DemoConfig, generate_problems};
use o1p_model::ModelConfig;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// End-of-sequence token; id 0.
pub const EOS: &str = "<eos>";
/// Unknown character; id 1.
pub const UNK: &str = "<unk>";

/// Writes a tiny random model (seeded) and its tokenizer into `dir`.
pub fn write_tiny_model(dir: &Path, seed: u64) {
    let vocab: Vec<String> = [EOS, UNK]
        .iter()
        .map(|s| s.to_string())
        .chain(ALPHABET.chars().map(String::from))
        .collect();
    let model = WordLevel::builder()
        .vocab(
            vocab
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i as u32))
                .collect(),
        )
        .unk_token(UNK.to_string())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    // One token per character ([\s\S]: newline included), joined back without spaces.
    let split = Split::new(
        SplitPattern::Regex(r"[\s\S]".into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .unwrap();
    tokenizer.with_pre_tokenizer(Some(split));
    tokenizer.with_decoder(Some(Fuse::new()));
    tokenizer
        .add_special_tokens([EOS, UNK].iter().map(|s| AddedToken::from(*s, true)))
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    tokenizer
        .save(dir.join("tokenizer.json").to_str().unwrap(), false)
        .unwrap();
    let config = serde_json::json!({
        "eos_token": EOS,
        "unk_token": UNK,
        "add_bos_token": false,
        // One user turn renders as the demo's raw prompt, so chat and raw runs can be compared.
        "chat_template": "{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}",
    });
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();

    let device = o1p_model::Backend::Flex.device().unwrap();
    let cfg =
        ModelConfig::qwen2(vocab.len(), 16, 32, 1, 2, 1).with_special_tokens(None, &[0], None);
    let model = o1p_model::CausalLm::random(&cfg, seed, &device);
    o1p_model::weights::save_pretrained(&model, &cfg, dir).unwrap();
}

/// `n` demo problems of two and three steps (two prompt lengths, so batches need padding).
pub fn demo_problems(n: usize) -> Vec<Problem> {
    let config = DemoConfig {
        min_steps: 2,
        max_steps: 3,
        ..DemoConfig::default()
    };
    generate_problems(n, 11, &config)
}

/// Writes `problems` as a JSONL file of serialised [`Problem`]s (the `demo` format).
pub fn write_problems(path: &Path, problems: &[Problem]) {
    let text: String = problems
        .iter()
        .map(|p| serde_json::to_string(p).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}
