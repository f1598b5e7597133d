//! Tiny fixtures for tests, examples and benchmarks: a character-level tokenizer and a small
//! randomly initialised Qwen2 saved as a Hugging Face directory. Nothing here is needed to
//! pre-sample with a real model.

use std::path::Path;

use burn::tensor::DType;
use o1p_model::{ModelConfig, ModelError, weights};
use serde_json::{Map, Value, json};

/// The end-of-sequence token of [`char_tokenizer_json`] (id 0).
pub const EOS: &str = "<|endoftext|>";

/// A `tokenizer.json` with one token per character of `alphabet` (ids from 2 in alphabet
/// order; id 0 is [`EOS`], id 1 `<unk>`): a WordLevel model behind a pre-tokenizer that splits
/// every character off, and a decoder that joins the pieces back without spaces.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("tokenizer.json"), o1p_sampler::testing::char_tokenizer_json("ab\n")).unwrap();
/// let tok = o1p_model::Tokenizer::from_dir(dir.path()).unwrap();
/// assert_eq!(tok.encode("ba\n", false).unwrap(), vec![3, 2, 4]);
/// assert_eq!(tok.decode(&[3, 2, 0], true).unwrap(), "ba");
/// ```
pub fn char_tokenizer_json(alphabet: &str) -> String {
    let mut vocab = Map::new();
    vocab.insert(EOS.into(), json!(0));
    vocab.insert("<unk>".into(), json!(1));
    for c in alphabet.chars() {
        let next = vocab.len();
        vocab.entry(c.to_string()).or_insert(json!(next));
    }
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, EOS), special(1, "<unk>")],
        "normalizer": null,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?s)."},
                          "behavior": "Isolated", "invert": false},
        "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "WordLevel", "vocab": Value::Object(vocab), "unk_token": "<unk>"}
    })
    .to_string()
}

/// Writes a randomly initialised Qwen2 (`layers` layers of width `hidden`, 4 heads, 2 KV
/// heads) with the character tokenizer of `alphabet` into `dir`: config.json,
/// generation_config.json, model.safetensors, tokenizer.json and tokenizer_config.json (EOS
/// id 0, no chat template). Returns the config.
pub fn write_tiny_model(
    dir: &Path,
    alphabet: &str,
    layers: usize,
    hidden: usize,
    seed: u64,
) -> Result<ModelConfig, ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::Io {
        path: dir.to_path_buf(),
        error: e,
    })?;
    let tokenizer = char_tokenizer_json(alphabet);
    let vocab = tokenizer_vocab_len(&tokenizer);
    let config = ModelConfig::qwen2(vocab, hidden, 2 * hidden, layers, 4, 2).with_special_tokens(
        None,
        &[0],
        Some(0),
    );
    let device = o1p_model::Backend::Flex.device()?;
    // A wide init spreads the next-token distribution, so samples differ in length.
    let mut init = weights::RandomInit::new(seed, 0.5);
    let model = weights::build_model(&config, &mut init, &device, DType::F32)?;
    weights::save_pretrained(&model, &config, dir)?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| ModelError::Io {
            path: path.clone(),
            error: e,
        })
    };
    write("tokenizer.json", tokenizer)?;
    write(
        "tokenizer_config.json",
        json!({"eos_token": EOS, "pad_token": EOS, "add_bos_token": false}).to_string(),
    )?;
    Ok(config)
}

fn tokenizer_vocab_len(json: &str) -> usize {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| {
            v.pointer("/model/vocab")
                .and_then(Value::as_object)
                .map(Map::len)
        })
        .unwrap_or(2)
}
