//! The `generate` example on a real GGUF checkpoint (SmolLM2-135M-Instruct, Q4_1): `--model`
//! takes the `.gguf` file itself, the JSON contract is unchanged, and the greedy continuation of
//! the chat prompt equals transformers' (crates/o1p-model/tests/fixtures/smollm2_gguf, made by
//! `xtask/python/make_smollm2_parity.py`).
//!
//! The GGUF is fetched by `scripts/fetch-assets.sh` into `.assets/` (or `$O1P_ASSETS`); without
//! it the test says so and passes, except under `O1P_REQUIRE_ASSETS=1` (CI). Needs
//! `cargo build --release --example generate` when run alone.

mod support;
use support::{example, run_ok};

#[path = "../crates/o1p-model/tests/support/assets.rs"]
mod assets;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const SMOLLM2: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

fn reference() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/o1p-model/tests/fixtures/smollm2_gguf/reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn run_generate(args: &[&str]) -> Value {
    let output = run_ok(Command::new(example("generate")).args(args));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON line: {stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["generated_ids", "prompt_ids", "prompt_logprobs", "text"],
        "the JSON contract"
    );
    json
}

#[test]
fn greedy_tokens_of_the_gguf_match_transformers() {
    let Some(gguf) = assets::asset(SMOLLM2) else {
        return;
    };
    let r = reference();
    let chat = &r["prompts"][2];
    let expected = &chat["greedy_ids"];
    let n = expected.as_array().unwrap().len().to_string();

    // Token ids in, token ids out.
    let ids: Vec<String> = chat["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let json = run_generate(&[
        "--model",
        gguf.to_str().unwrap(),
        "--prompt-ids",
        &ids.join(","),
        "--max-new-tokens",
        &n,
        "--json",
    ]);
    assert_eq!(json["prompt_ids"], chat["ids"]);
    assert_eq!(&json["generated_ids"], expected);
    let lps = json["prompt_logprobs"].as_array().unwrap();
    assert_eq!(lps.len(), ids.len());
    assert!(lps[0].is_null());
    assert!(
        lps[1..]
            .iter()
            .all(|v| v.as_f64().is_some_and(|x| x <= 0.0))
    );

    // Text in: the tokenizer comes from the GGUF metadata and gives transformers' ids.
    let json = run_generate(&[
        "--model",
        gguf.to_str().unwrap(),
        "--prompt",
        chat["text"].as_str().unwrap(),
        "--max-new-tokens",
        &n,
        "--json",
    ]);
    assert_eq!(json["prompt_ids"], chat["ids"]);
    assert_eq!(&json["generated_ids"], expected);
    assert_eq!(json["text"], chat["greedy_text"]);
}
