//! The `generate` example's contract: flags, greedy by default, exactly one JSON object on
//! stdout with prompt_ids, generated_ids, text (null without a tokenizer) and prompt_logprobs.

mod support;
use support::{example, run_ok};

use std::path::PathBuf;
use std::process::Command;

#[test]
fn prompt_ids_json_matches_the_transformers_fixture() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/o1p-model/tests/fixtures/llama_gqa");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("reference.json")).unwrap()).unwrap();
    let prompt: Vec<u64> = reference["prompts"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let ids = prompt
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let output = run_ok(Command::new(example("generate")).args([
        "--model",
        fixture.to_str().unwrap(),
        "--prompt-ids",
        &ids,
        "--max-new-tokens",
        "12",
        "--json",
    ]));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one JSON line: {stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(json["prompt_ids"], serde_json::json!(prompt));
    assert_eq!(json["generated_ids"], reference["greedy"][0]);
    assert!(json["text"].is_null());
    let lps = json["prompt_logprobs"].as_array().unwrap();
    assert!(lps[0].is_null());
    for (got, want) in lps
        .iter()
        .zip(reference["logprobs"][0].as_array().unwrap())
        .skip(1)
    {
        assert!((got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 1e-4);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/o1p-model/tests/fixtures/llama_gqa");
    let out = Command::new(example("generate"))
        .args([
            "--model",
            fixture.to_str().unwrap(),
            "--prompt-ids",
            "1,99999",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the vocabulary"));
    let out = Command::new(example("generate"))
        .args(["--model", fixture.to_str().unwrap(), "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenizer.json"));
}

/// `--dtype bf16|f16` loads the weights in 16 bits; on the peaked demo model greedy decoding
/// gives the same tokens as f32 and the prompt log-probs stay close. An unknown precision is
/// a usage error that lists the known ones.
#[test]
fn sixteen_bit_weights_decode_like_f32_on_the_demo_model() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-model");
    let run = |dtype: &str| -> serde_json::Value {
        let output = run_ok(Command::new(example("generate")).args([
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "Q: Sam has 3 coins, gains 4, loses 2. How many?\n",
            "--max-new-tokens",
            "48",
            "--dtype",
            dtype,
            "--json",
        ]));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let f32 = run("f32");
    assert!(
        f32["text"].as_str().unwrap().starts_with("3+4=7\n7-2=5\n"),
        "{f32}"
    );
    for dtype in ["bf16", "f16"] {
        let half = run(dtype);
        assert_eq!(half["generated_ids"], f32["generated_ids"], "{dtype}");
        let lps = |v: &serde_json::Value| -> Vec<f64> {
            v["prompt_logprobs"].as_array().unwrap()[1..]
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let worst = lps(&half)
            .iter()
            .zip(lps(&f32))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.1, "{dtype}: prompt log-prob off by {worst}");
        // Bit-identical log-probs would mean the flag was ignored.
        assert!(worst > 1e-6, "{dtype}: log-probs identical to f32");
    }
    let bad = Command::new(example("generate"))
        .args([
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "Q",
            "--dtype",
            "f64",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(stderr.contains("f32, bf16 or f16"), "{stderr}");
}

/// A prompt that, with `--max-new-tokens`, does not fit the model's context exits 1 naming
/// the limit; a sampling flag out of its range is a usage error naming the flag and range.
#[test]
fn over_long_prompts_and_bad_sampling_flags_are_refused() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/o1p-model/tests/fixtures/llama_gqa");
    // The fixture's context is 128 positions: 100 prompt tokens + 64 new ones do not fit.
    let ids = vec!["1"; 100].join(",");
    let out = Command::new(example("generate"))
        .args(["--model", fixture.to_str().unwrap(), "--prompt-ids", &ids])
        .args(["--max-new-tokens", "64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("context of 128 tokens (max_position_embeddings)"),
        "{stderr}"
    );
    for (arg, flag, range) in [
        ("--temperature=nan", "--temperature", ">= 0"),
        ("--temperature=-0.5", "--temperature", ">= 0"),
        ("--top-p=0", "--top-p", "(0, 1]"),
        ("--top-p=1.5", "--top-p", "(0, 1]"),
        ("--max-new-tokens=0", "--max-new-tokens", "at least 1"),
    ] {
        let out = Command::new(example("generate"))
            .args(["--model", fixture.to_str().unwrap(), "--prompt-ids", "1,2"])
            .arg(arg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arg}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(range),
            "{arg}: {stderr}"
        );
    }
}
