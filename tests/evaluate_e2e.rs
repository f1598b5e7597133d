//! End to end: the `evaluate` example binary on two tiny random models and a few demo
//! problems writes report.json (with the summary keys and finite numbers), report.md and the
//! plots, prints the Markdown table, and a second invocation resumes instead of regenerating;
//! a rerun with another model under the same label or with changed problems is refused
//! without touching the results, and `--fresh` starts those results over.
//!
//! The binary is the one cargo built next to this test (`target/<profile>/examples/evaluate`):
//! `cargo test --release` builds examples before running tests; with `--test evaluate_e2e`
//! alone, build it first with `cargo build --release --example evaluate`.

mod support;
use support::example;

#[path = "../crates/o1p-eval/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A scratch directory removed on drop (even when an assertion fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("o1p-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn finite(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite(), "{what} = {x}");
    x
}

#[test]
fn evaluate_binary_writes_the_report_and_resumes() {
    let bin = example("evaluate");
    let scratch = Scratch::new("evaluate-e2e");
    let dir = &scratch.0;
    common::write_tiny_model(&dir.join("base"), 1);
    common::write_tiny_model(&dir.join("other"), 2);
    let data = dir.join("demo_test.jsonl");
    common::write_problems(&data, &common::demo_problems(5));
    let out = dir.join("out");

    let invoke_with = |pruned: &str, extra: &[&str]| {
        Command::new(&bin)
            .arg("--model")
            .arg(dir.join("base"))
            .arg("--model")
            .arg(format!("pruned={}", dir.join(pruned).display()))
            .arg("--data")
            .arg(&data)
            .args(["--format", "demo", "--baseline", "base"])
            .args(["--max-new-tokens", "16", "--batch-size", "2"])
            .args(["--samples", "4", "--temperature", "1.0"])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let invoke = || invoke_with("other", &[]);
    let first = invoke();
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        first.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("### demo_test"), "{stdout}");
    assert!(stdout.contains("| base |") && stdout.contains("| pruned |"));
    assert!(stdout.contains("Accuracy per length quartile"), "{stdout}");

    for f in [
        "report.json",
        "report.md",
        "lengths_demo_test.svg",
        "lengths_demo_test.png",
        "quartiles_demo_test.svg",
        "quartiles_demo_test.png",
        "difficulty_demo_test.svg",
        "difficulty_demo_test.png",
        "base/demo_test.jsonl",
        "pruned/demo_test.jsonl",
    ] {
        let path = out.join(f);
        assert!(
            path.is_file() && std::fs::metadata(&path).unwrap().len() > 0,
            "missing {f}"
        );
    }
    let png = std::fs::read(out.join("lengths_demo_test.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for key in ["baseline", "pruned"] {
        let acc = finite(&report[key]["accuracy"], "accuracy");
        assert!((0.0..=1.0).contains(&acc));
        assert!(finite(&report[key]["mean_tokens"], "mean_tokens") > 0.0);
    }
    assert_eq!(report["pruned"]["label"], "pruned");
    finite(&report["length_reduction"], "length_reduction");
    // AES is undefined (null) when the baseline solves nothing, which random models may do.
    assert!(report["aes"].is_null() || report["aes"].as_f64().is_some_and(f64::is_finite));
    assert_eq!(report["baseline_label"], "base");
    assert_eq!(report["benchmarks"], serde_json::json!(["demo_test"]));
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let m = &run["per_benchmark"][0]["metrics"];
        assert_eq!(m["num_problems"], 5);
        assert_eq!(m["num_responses"], 20);
        for k in ["accuracy", "maj_at_k", "mean_tokens", "truncation_rate"] {
            finite(&m[k], k);
        }
        assert!(finite(&m["timing"]["wall_time_s"], "wall time") > 0.0);
        finite(&m["timing"]["tokens_per_s"], "tokens/s");
        finite(&m["accuracy_ci"]["lower"], "ci");
    }
    let analysis = &report["analysis"];
    assert_eq!(analysis["length_quartiles"].as_array().unwrap().len(), 2);
    assert_eq!(analysis["difficulty"][0]["label"], "pruned");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Results against `base`"));

    // Same command again: every response is reused, and the report is unchanged but for time.
    let second = invoke();
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("20 responses (20 reused)"), "{stderr}");
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(again["pruned"], report["pruned"]);
    assert_eq!(again["analysis"], report["analysis"]);

    // Issue 16: another model under the same label, or changed questions and golds under the
    // same ids, used to reuse the old records and report the old model's numbers (exit 0).
    // Now the rerun is refused naming the field, and nothing is written.
    let results = |label: &str| {
        ["jsonl", "meta.json", "fingerprint.json"]
            .map(|ext| std::fs::read(out.join(label).join(format!("demo_test.{ext}"))).unwrap())
    };
    let (base_files, pruned_files) = (results("base"), results("pruned"));
    let report_bytes = std::fs::read(out.join("report.json")).unwrap();
    let refused = |o: std::process::Output, field: &str| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "accepted:\n{err}");
        assert!(err.contains(field) && err.contains("--fresh"), "{err}");
        assert_eq!(results("base"), base_files, "{err}");
        assert_eq!(results("pruned"), pruned_files, "{err}");
        assert_eq!(
            std::fs::read(out.join("report.json")).unwrap(),
            report_bytes
        );
    };
    refused(invoke_with("base", &[]), "model (");
    let problems = common::demo_problems(5);
    let mut changed = problems.clone();
    changed[1].question.push_str(" + 1");
    changed[1].gold = "0".into();
    common::write_problems(&data, &changed);
    refused(invoke(), "problems (");
    // --fresh: the results of these labels on this benchmark are made again.
    let fresh = invoke_with("base", &["--fresh"]);
    let stderr = String::from_utf8_lossy(&fresh.stderr);
    assert!(fresh.status.success(), "{stderr}");
    assert!(
        stderr.contains("pruned / demo_test: 20 responses (0 reused)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("base / demo_test: 20 responses (0 reused)"),
        "{stderr}"
    );
    common::write_problems(&data, &problems);

    // A bad flag combination fails with a message, not a panic.
    let bad = Command::new(&bin)
        .arg("--model")
        .arg(dir.join("base"))
        .arg("--data")
        .arg(&data)
        .args(["--format", "demo", "--samples", "4"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs --temperature"));
}

/// Malformed records and problems too long for the model's context are skipped and listed;
/// the rest is evaluated and reported, and the exit status is 2, as presample's.
#[test]
fn skipped_records_and_over_long_problems_exit_2() {
    let bin = example("evaluate");
    let scratch = Scratch::new("evaluate-skips");
    let dir = &scratch.0;
    common::write_tiny_model(&dir.join("base"), 1);
    let mut problems = common::demo_problems(3);
    let mut long = problems[0].clone();
    long.id = "long".into();
    long.question = "1+".repeat(1500) + "1";
    problems.push(long);
    let data = dir.join("demo_test.jsonl");
    common::write_problems(&data, &problems);
    let text = std::fs::read_to_string(&data).unwrap() + "{\"id\": \"broken\"\n";
    std::fs::write(&data, text).unwrap();
    let run = |data: &std::path::Path, out: &str| {
        Command::new(&bin)
            .arg("--model")
            .arg(dir.join("base"))
            .arg("--data")
            .arg(data)
            .args(["--format", "demo", "--max-new-tokens", "8"])
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let out = run(&data, "out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("skipped line 5: malformed JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped problem long") && stderr.contains("context of 2048 tokens"),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["runs"][0]["per_benchmark"][0]["metrics"]["num_problems"],
        3
    );
    // Clean input: exit 0.
    let clean = dir.join("clean.jsonl");
    common::write_problems(&clean, &problems[..3]);
    let out = run(&clean, "out-clean");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
