//! The quickstart's whole path (pre-sample, reward, train, evaluate, report) on the committed
//! demo model, in a reduced setting: the files and keys exist and the numbers are finite.

mod support;
use support::{example, run_ok};

use std::path::PathBuf;
use std::process::Command;

#[test]
fn quickstart_runs_end_to_end_on_a_reduced_setting() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("assets/demo-model");
    assert!(
        model.join("model.safetensors").is_file(),
        "the demo model must be committed under assets/demo-model"
    );
    let out = std::env::temp_dir().join(format!("o1p-quickstart-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(example("quickstart"))
        .args([
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--train-problems", "8", "--k", "2", "--test-problems", "8"])
        .args([
            "--max-new-tokens",
            "96",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--with-baselines",
        ])
        .status()
        .expect("run the quickstart example");
    assert!(status.success());

    for file in [
        "report.json",
        "report.md",
        "lengths_demo-test.png",
        "lengths_demo-test.svg",
        "metrics.jsonl",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(
            out.join("model").join(file).is_file(),
            "missing model/{file}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for side in ["baseline", "pruned"] {
        let acc = report[side]["accuracy"].as_f64().expect("accuracy");
        let len = report[side]["mean_tokens"].as_f64().expect("mean_tokens");
        assert!(
            (0.0..=1.0).contains(&acc) && len.is_finite() && len > 0.0,
            "{side}: {acc} {len}"
        );
    }
    assert!(
        report["length_reduction"]
            .as_f64()
            .expect("length_reduction")
            .is_finite()
    );
    // AES is defined whenever the base model solves something; the demo model does.
    assert!(report["aes"].is_null() || report["aes"].as_f64().unwrap().is_finite());
    // The pruned model loads with the generate example.
    let output = run_ok(
        Command::new(example("generate"))
            .args([
                "--model",
                out.join("model").to_str().unwrap(),
                "--prompt",
                "Q: Sam has 3 coins, gains 4. How many?\n",
            ])
            .args(["--max-new-tokens", "8", "--json"]),
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        json["generated_ids"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    std::fs::remove_dir_all(&out).ok();
}
