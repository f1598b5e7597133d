//! The `presample` example takes a llama.cpp `.gguf` file as `--model`: the tokenizer and chat
//! template come from its metadata, and the samples are exactly those of the same checkpoint
//! converted to a Hugging Face directory (`o1p_model::gguf::convert_to_hf`, f32).
//!
//! Uses SmolLM2-135M-Instruct (Q4_1 GGUF) from `scripts/fetch-assets.sh` (`.assets/`, or
//! `$O1P_ASSETS`); without it the test says so and passes, except under
//! `O1P_REQUIRE_ASSETS=1` (CI). Needs `cargo build --release --example presample` when run
//! alone.

mod support;
use support::{example, run_ok};

#[path = "../crates/o1p-model/tests/support/assets.rs"]
mod assets;

use std::path::Path;
use std::process::Command;

use burn::tensor::DType;
use o1_pruner::model::{Backend, Tokenizer, gguf};
use serde_json::Value;

const SMOLLM2: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const MAX_NEW_TOKENS: usize = 12;

/// Pre-samples 2 problems x K = 1 from `model` into `out` with the model's chat template.
fn presample(model: &Path, data: &Path, out: &Path) {
    run_ok(
        Command::new(example("presample"))
            .args(["--model", model.to_str().unwrap()])
            .args(["--data", data.to_str().unwrap(), "--format", "gsm8k"])
            .args(["--out", out.to_str().unwrap()])
            .args(["--k", "1", "--temperature", "0.5", "--top-p", "0.8"])
            .args(["--max-new-tokens", &MAX_NEW_TOKENS.to_string()])
            .args(["--batch-size", "2", "--seed", "5", "--keep-token-ids"])
            // `chat` fails outright when the model has no chat template, so a run that silently
            // fell back to raw text cannot pass.
            .args(["--prompt-style", "chat", "--no-progress"])
            .env("RUST_LOG", "warn"),
    );
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn presample_from_a_gguf_file_equals_presample_from_its_hf_conversion() {
    let Some(gguf_path) = assets::asset(SMOLLM2) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/o1p-data/tests/fixtures/gsm8k_sample.jsonl");
    let text = std::fs::read_to_string(fixture).unwrap();
    let data = tmp.path().join("gsm8k.jsonl");
    std::fs::write(
        &data,
        text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();

    let from_gguf = tmp.path().join("from_gguf");
    presample(&gguf_path, &data, &from_gguf);

    let settings: Value = serde_json::from_slice(&read(&from_gguf.join("presample.json"))).unwrap();
    assert_eq!(settings["prompt_style"], "chat", "{settings}");
    let tokenizer = Tokenizer::from_dir(&gguf_path).unwrap();
    let samples = String::from_utf8(read(&from_gguf.join("samples.jsonl"))).unwrap();
    let records: Vec<Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "2 problems x K = 1: {samples}");
    for r in &records {
        // SmolLM2's template (ChatML) from the GGUF metadata, not the raw prompt.
        let prompt = r["prompt"].as_str().unwrap();
        assert!(prompt.starts_with("<|im_start|>"), "{prompt:?}");
        assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
        // Text responses need the tokenizer: the response is the decoded token ids (minus a
        // final EOS), which an untokenized run could not produce.
        let ids: Vec<u32> = r["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(r["num_tokens"].as_u64().unwrap() as usize, ids.len());
        assert!((1..=MAX_NEW_TOKENS).contains(&ids.len()), "{r}");
        let body = match r["finish_reason"].as_str().unwrap() {
            "eos" => &ids[..ids.len() - 1],
            _ => &ids[..],
        };
        assert!(!body.is_empty(), "{r}");
        assert_eq!(
            r["response"].as_str().unwrap(),
            tokenizer.decode(body, true).unwrap(),
            "{r}"
        );
    }

    // The same checkpoint as a Hugging Face directory gives byte-identical files.
    let base = tmp.path().join("base");
    let device = Backend::Flex.device().unwrap();
    gguf::convert_to_hf(&gguf_path, &base, Some(&tokenizer), &device, DType::F32).unwrap();
    let from_dir = tmp.path().join("from_dir");
    presample(&base, &data, &from_dir);
    for file in ["samples.jsonl", "reference_stats.json", "presample.json"] {
        assert!(
            read(&from_gguf.join(file)) == read(&from_dir.join(file)),
            "{file} differs between the .gguf run and the converted directory's run"
        );
    }
}
