//! The evaluation driver on a tiny random model: an interrupted run resumes from its JSONL
//! file (a torn last line included) and ends with exactly the records and report of an
//! uninterrupted one; stored responses re-score without generating; changed settings are
//! refused; chat-template prompts and the length-disharmony runner work.

mod common;

use std::path::Path;

use o1p_eval::run::{
    Benchmark, BenchmarkFormat, Decoding, EvalConfig, LoadedModel, ModelRun, ReportOptions,
    build_report, difficulty_before_after, evaluate, length_disharmony, load_run, records_path,
    rescore,
};
use o1p_eval::{EvalError, read_jsonl};

fn config() -> EvalConfig {
    EvalConfig {
        prompt: o1p_data::demo::prompt_template(),
        // Two samples per problem at temperature 1: seeds per (problem, sample) are exercised,
        // and some responses end on eos while others hit the cap.
        decoding: Decoding::sample(2, 1.0),
        max_new_tokens: 12,
        batch_size: 3,
        progress: false,
        ..EvalConfig::default()
    }
}

fn setup(dir: &Path) -> (LoadedModel, Benchmark) {
    let model_dir = dir.join("model");
    common::write_tiny_model(&model_dir, 5);
    let data = dir.join("demo.jsonl");
    common::write_problems(&data, &common::demo_problems(6));
    let device = o1p_model::Backend::Flex.device().unwrap();
    let model = LoadedModel::from_dir(&model_dir, &device, o1p_model::Precision::F32).unwrap();
    let bench = Benchmark::load(&data, BenchmarkFormat::Problems).unwrap();
    (model, bench)
}

/// Timing is wall-clock and differs between any two runs; everything else must not.
fn without_timing(mut run: ModelRun) -> ModelRun {
    for b in &mut run.benchmarks {
        b.timing = None;
        b.reused = 0;
        b.generated = 0;
        b.path = Default::default();
    }
    run
}

#[test]
fn interrupted_evaluation_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let (loaded, bench) = setup(tmp.path());
    assert_eq!(bench.name, "demo");
    assert_eq!(bench.problems.len(), 6);
    let model = loaded.as_eval("tiny");
    assert_eq!(model.stop_ids(), &[0]);
    let cfg = config();
    let benches = std::slice::from_ref(&bench);

    let full_dir = tmp.path().join("full");
    let full = evaluate(&model, benches, &cfg, &full_dir).unwrap();
    let fb = &full.benchmarks[0];
    assert_eq!((fb.records.len(), fb.reused, fb.generated), (12, 0, 12));
    let t = fb.timing.unwrap();
    assert!(t.wall_time_s > 0.0 && t.tokens_per_s > 0.0);
    assert!(fb.records.iter().all(|r| r.difficulty.is_some()));

    // A second session over a finished file generates nothing.
    let again = evaluate(&model, benches, &cfg, &full_dir).unwrap();
    assert_eq!(
        (again.benchmarks[0].reused, again.benchmarks[0].generated),
        (12, 0)
    );
    assert_eq!(again.benchmarks[0].records, fb.records);

    // The interrupted run: the process died while writing the 6th line.
    let part_dir = tmp.path().join("part");
    evaluate(&model, benches, &cfg, &part_dir).unwrap();
    let path = records_path(&part_dir, "tiny", "demo");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let torn = format!(
        "{}\n{}",
        lines[..5].join("\n"),
        &lines[5][..lines[5].len() / 2]
    );
    std::fs::write(&path, torn).unwrap();

    let resumed = evaluate(&model, benches, &cfg, &part_dir).unwrap();
    let rb = &resumed.benchmarks[0];
    assert_eq!((rb.reused, rb.generated), (5, 7));
    assert_eq!(rb.records, fb.records);
    // Work is appended in canonical order, so the resumed file is the uninterrupted one.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(records_path(&full_dir, "tiny", "demo")).unwrap()
    );
    let on_disk = read_jsonl(&path).unwrap();
    assert_eq!(on_disk, fb.records);
    // Wall time accumulates over both sessions.
    assert!(rb.timing.unwrap().wall_time_s > 0.0);

    let options = ReportOptions::new("tiny");
    let a = build_report(&[without_timing(full.clone())], &options).unwrap();
    let b = build_report(&[without_timing(resumed)], &options).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_markdown(), b.to_markdown());

    // Re-scoring from the stored responses, without the model, gives the same records.
    let rescored = rescore(records_path(&full_dir, "tiny", "demo"), &bench, &cfg.grade).unwrap();
    assert_eq!(rescored.len(), 12);
    for r in &rescored {
        let orig = fb.records.iter().find(|x| x.key() == r.key()).unwrap();
        assert_eq!(r, orig);
    }
    // And so does loading the run from its files.
    let loaded_run = load_run(&full_dir, "tiny", &["demo"]).unwrap();
    assert_eq!(loaded_run.benchmarks[0].records, fb.records);
    assert_eq!(loaded_run.benchmarks[0].timing, fb.timing);
}

#[test]
fn other_settings_are_refused_and_chat_prompts_match_raw_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (loaded, bench) = setup(tmp.path());
    let model = loaded.as_eval("tiny");
    let benches = std::slice::from_ref(&bench);
    let out = tmp.path().join("out");
    let cfg = EvalConfig {
        decoding: Decoding::Greedy,
        ..config()
    };
    let raw = evaluate(&model, benches, &cfg, &out).unwrap();

    let longer = EvalConfig {
        max_new_tokens: 20,
        ..cfg.clone()
    };
    let err = evaluate(&model, benches, &longer, &out).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::Data(o1p_data::DataError::FingerprintMismatch { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("max_new_tokens: 12 -> 20"),
        "{err}"
    );
    assert!(err.to_string().contains("another --out"), "{err}");

    // The fixture's chat template renders a user turn as the demo's raw prompt.
    let chat = EvalConfig {
        chat_template: true,
        ..cfg.clone()
    };
    let chat_run = evaluate(&model, benches, &chat, tmp.path().join("chat")).unwrap();
    assert_eq!(chat_run.benchmarks[0].records, raw.benchmarks[0].records);

    let bad = EvalConfig {
        batch_size: 0,
        ..cfg.clone()
    };
    assert!(matches!(
        evaluate(&model, benches, &bad, tmp.path().join("bad")),
        Err(EvalError::InvalidConfig(_))
    ));
}

/// Sampled evaluations draw with pre-sampling's seed rule; a sampled run recorded before (its
/// settings name no `seed_rule`) is refused instead of resumed with other draws mixed in.
#[test]
fn sampled_runs_of_the_earlier_seed_rule_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (loaded, bench) = setup(tmp.path());
    let model = loaded.as_eval("tiny");
    let benches = std::slice::from_ref(&bench);
    let out = tmp.path().join("out");
    evaluate(&model, benches, &config(), &out).unwrap();
    // Rewrite the run's files as the earlier version wrote them: without the key.
    fn strip(v: &mut serde_json::Value) {
        if let Some(map) = v.as_object_mut() {
            map.retain(|k, _| !k.contains("seed_rule"));
            map.values_mut().for_each(strip);
        }
    }
    let mut stripped = 0;
    for entry in walk(&out) {
        let text = std::fs::read_to_string(&entry).unwrap();
        if text.contains("seed_rule") {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            strip(&mut v);
            std::fs::write(&entry, v.to_string()).unwrap();
            stripped += 1;
        }
    }
    assert!(stripped > 0, "no file recorded the seed rule");
    let err = evaluate(&model, benches, &config(), &out).unwrap_err();
    assert!(err.to_string().contains("seed_rule"), "{err}");
    // Greedy runs draw nothing and name no rule.
    let greedy = EvalConfig {
        decoding: Decoding::Greedy,
        ..config()
    };
    let greedy_out = tmp.path().join("greedy");
    evaluate(&model, benches, &greedy, &greedy_out).unwrap();
    assert!(
        walk(&greedy_out)
            .iter()
            .all(|f| !std::fs::read_to_string(f).unwrap().contains("seed_rule"))
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn length_disharmony_samples_and_splits_into_quartiles() {
    let tmp = tempfile::tempdir().unwrap();
    let (loaded, bench) = setup(tmp.path());
    let model = loaded.as_eval("tiny-t1");
    let small = Benchmark::new("demo", bench.problems[..3].to_vec()).unwrap();
    let out = tmp.path().join("dis");
    let run = length_disharmony(&model, &small, 4, 1.0, &config(), &out).unwrap();
    assert_eq!(run.run.records.len(), 12);
    assert_eq!(run.quartiles.problems_used, 3);
    assert_eq!(run.quartiles.counts, [3, 3, 3, 3]);
    assert!(run.by_difficulty.is_some());
    let (_, rows) = difficulty_before_after(&run.run, &run.run, None).unwrap();
    assert!(rows.iter().all(|r| r.length_reduction == Some(0.0)));
    assert!(length_disharmony(&model, &small, 3, 1.0, &config(), &out).is_err());
}
