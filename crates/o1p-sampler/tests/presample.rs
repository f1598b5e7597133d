//! Pre-sampling end to end on a tiny random model: an interrupted run (a generator that dies
//! midway, a torn last line, a store cut in the middle of a batch) resumes into files
//! byte-identical to an uninterrupted run; bad problems are reported and skipped.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use o1p_data::fingerprint::FINGERPRINT_FILE;
use o1p_data::{DataError, Problem, PromptRenderer, demo};
use o1p_model::{Backend, Precision};
use o1p_sampler::presample::{
    PresampleConfig, ProblemReference, SAMPLES_FILE, SETTINGS_FILE, STATS_FILE, presample,
    remove_outputs,
};
use o1p_sampler::{
    GenerateError, Generated, Generator, LengthLimits, NativeGenerator, PresampleError, Request,
    SamplingParams, prefill_bytes, testing,
};

fn model_dir(root: &Path) -> PathBuf {
    let dir = root.join("model");
    testing::write_tiny_model(&dir, demo::ALPHABET, 2, 32, 5).unwrap();
    dir
}

fn problems() -> Vec<Problem> {
    demo::generate_problems(5, 1, &demo::DemoConfig::default())
}

fn config() -> PresampleConfig {
    PresampleConfig {
        k: 3,
        params: SamplingParams {
            max_new_tokens: 20,
            temperature: 1.0,
            top_p: 0.95,
            ..Default::default()
        },
        seed: 42,
        batch_size: 4,
        template: demo::prompt_template(),
        progress: false,
        ..Default::default()
    }
}

fn run(dir: &Path, generator: &dyn Generator) -> Result<(), PresampleError> {
    presample(&problems(), &PromptRenderer::Raw, generator, &config(), dir).map(|_| ())
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    [SAMPLES_FILE, STATS_FILE, SETTINGS_FILE, FINGERPRINT_FILE]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

/// Fails every call after the first `calls` (a crash between batches).
struct DiesAfter<'a> {
    inner: &'a dyn Generator,
    calls: Cell<usize>,
}

impl Generator for DiesAfter<'_> {
    fn generate(
        &self,
        requests: &[Request],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError> {
        if self.calls.get() == 0 {
            return Err(GenerateError::InvalidParams("simulated crash".into()));
        }
        self.calls.set(self.calls.get() - 1);
        self.inner.generate(requests, params)
    }
    fn describe(&self) -> String {
        "dies".into()
    }
}

#[test]
fn interrupted_runs_resume_into_identical_files() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    let full = root.path().join("full");
    run(&full, &generator).unwrap();
    let expected = files(&full);
    let lines = String::from_utf8(expected[0].clone()).unwrap();
    assert_eq!(lines.lines().count(), 15);

    // The stats agree with the records.
    let stats: Vec<ProblemReference> = serde_json::from_slice(&expected[1]).unwrap();
    assert_eq!(stats.len(), 5);
    let records: Vec<o1p_data::SampleRecord> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first: Vec<_> = records
        .iter()
        .filter(|r| r.problem_id == stats[0].problem_id)
        .collect();
    assert_eq!(stats[0].stats.k, 3);
    let mean = first.iter().map(|r| r.num_tokens as f64).sum::<f64>() / 3.0;
    assert_eq!(stats[0].stats.mean_length, mean);
    // Samples of one problem differ (they have their own seeds).
    assert!(first.windows(2).any(|w| w[0].response != w[1].response));

    // Crash after two batches, plus a torn line from a write cut short.
    let crashed = root.path().join("crashed");
    let dies = DiesAfter {
        inner: &generator,
        calls: Cell::new(2),
    };
    assert!(matches!(
        run(&crashed, &dies),
        Err(PresampleError::Generate(_))
    ));
    let partial = std::fs::read_to_string(crashed.join(SAMPLES_FILE)).unwrap();
    assert_eq!(partial.lines().count(), 8);
    assert!(!crashed.join(STATS_FILE).exists());
    let mut torn = partial.into_bytes();
    torn.extend_from_slice(b"{\"problem_id\":\"demo-1-3\",\"sample_in");
    std::fs::write(crashed.join(SAMPLES_FILE), torn).unwrap();
    run(&crashed, &generator).unwrap();
    assert_eq!(files(&crashed), expected);

    // A kill in the middle of writing a batch's records: the batch is recomputed whole.
    let cut = root.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let prefix: String = lines.lines().take(6).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join(SAMPLES_FILE), prefix).unwrap();
    std::fs::copy(full.join(SETTINGS_FILE), cut.join(SETTINGS_FILE)).unwrap();
    std::fs::copy(full.join(FINGERPRINT_FILE), cut.join(FINGERPRINT_FILE)).unwrap();
    run(&cut, &generator).unwrap();
    assert_eq!(files(&cut), expected);

    // A finished run reruns as a no-op.
    run(&full, &generator).unwrap();
    assert_eq!(files(&full), expected);
}

/// The bugs of issue 16: changed questions under the same ids, a subset of the problems, and
/// a deleted presample.json used to reuse the old samples (and the subset rewrote
/// reference_stats.json for fewer problems than samples.jsonl holds).
#[test]
fn reruns_with_other_problems_or_without_a_fingerprint_are_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    let out = root.path().join("out");
    run(&out, &generator).unwrap();
    let before = files(&out);
    let refused = |problems: &[Problem], config: &PresampleConfig| -> String {
        let err = presample(problems, &PromptRenderer::Raw, &generator, config, &out)
            .unwrap_err()
            .to_string();
        assert_eq!(files(&out), before, "a refused rerun wrote: {err}");
        err
    };
    let mut changed = problems();
    changed[2].question.push_str(" and 1");
    let err = refused(&changed, &config());
    assert!(err.contains("problems: 5 problems, sha256:"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
    let err = refused(&problems()[..3], &config());
    assert!(err.contains("-> 3 problems"), "{err}");

    // presample.json deleted: the fingerprint still holds the settings.
    std::fs::remove_file(out.join(SETTINGS_FILE)).unwrap();
    let hotter = PresampleConfig {
        params: SamplingParams {
            temperature: 0.5,
            ..config().params
        },
        ..config()
    };
    let err = presample(&problems(), &PromptRenderer::Raw, &generator, &hotter, &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("temperature: 1.0 -> 0.5"), "{err}");
    // Both deleted: samples of unknown origin are an error, not a fresh start.
    std::fs::remove_file(out.join(FINGERPRINT_FILE)).unwrap();
    let err = presample(&problems(), &PromptRenderer::Raw, &generator, &hotter, &out).unwrap_err();
    assert!(
        matches!(
            err,
            PresampleError::Data(DataError::MissingFingerprint { .. })
        ),
        "{err}"
    );
    // --fresh: the run's own files go, and the run starts over.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let removed = remove_outputs(&out).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    presample(&problems(), &PromptRenderer::Raw, &generator, &hotter, &out).unwrap();
    assert!(out.join("notes.txt").is_file());
    assert!(out.join(FINGERPRINT_FILE).is_file());
}

#[test]
fn bad_problems_are_reported_and_skipped() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    let mut list = problems();
    list.truncate(2);
    let mut no_gold = list[0].clone();
    no_gold.id = "no-gold".into();
    no_gold.gold = " ".into();
    let mut empty = list[0].clone();
    empty.id = "empty".into();
    empty.question = String::new();
    let duplicate = list[1].clone();
    list.extend([no_gold, empty, duplicate]);
    let out = root.path().join("out");
    let summary = presample(&list, &PromptRenderer::Raw, &generator, &config(), &out).unwrap();
    assert_eq!(summary.problems, 2);
    let reasons: Vec<(&str, &str)> = summary
        .skipped
        .iter()
        .map(|s| (s.problem_id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("no-gold", "no gold answer"),
            ("empty", "empty question"),
            (list[1].id.as_str(), "duplicate problem id"),
        ]
    );
    assert_eq!(summary.written, 6);

    // Other settings into the same directory are refused, naming the field.
    let other = PresampleConfig { k: 4, ..config() };
    match presample(&list, &PromptRenderer::Raw, &generator, &other, &out) {
        Err(PresampleError::Data(DataError::FingerprintMismatch { changes, .. })) => {
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(fields, ["k"]);
        }
        r => panic!("{r:?}"),
    }
    let zero = PresampleConfig { k: 0, ..config() };
    assert!(matches!(
        presample(&list, &PromptRenderer::Raw, &generator, &zero, &out),
        Err(PresampleError::InvalidConfig(_))
    ));

    // A malformed record in the middle of the store is not a torn write: an error naming
    // the file and line, and nothing is overwritten.
    let store = out.join(SAMPLES_FILE);
    let text = std::fs::read_to_string(&store).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "{not json");
    std::fs::write(&store, lines.join("\n") + "\n").unwrap();
    let err = presample(&list, &PromptRenderer::Raw, &generator, &config(), &out).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("samples.jsonl") && message.contains("line 2"),
        "{message}"
    );
}

#[test]
fn a_generator_without_tokenizer_skips_text_prompts() {
    let root = tempfile::tempdir().unwrap();
    let dir = model_dir(root.path());
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let generator = NativeGenerator::from_dir(&dir, Backend::Flex, Precision::F32, 4).unwrap();
    let summary = presample(
        &problems(),
        &PromptRenderer::Raw,
        &generator,
        &config(),
        &root.path().join("out"),
    )
    .unwrap();
    assert_eq!(summary.problems, 0);
    assert_eq!(summary.skipped.len(), 5);
    assert!(summary.skipped[0].reason.contains("tokenizer"));
}

#[test]
fn records_keep_the_generated_ids_with_their_eos_by_default() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    // Make a token the random model writes early a stop token, so that samples end on it.
    let plain = root.path().join("plain");
    run(&plain, &generator).unwrap();
    let read = |dir: &Path| -> Vec<o1p_data::SampleRecord> {
        std::fs::read_to_string(dir.join(SAMPLES_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let stop = read(&plain)[0]
        .token_ids
        .as_ref()
        .expect("ids kept by default")[1];
    let stopping = generator.with_stop_ids(vec![stop]);
    let dir = root.path().join("eos");
    run(&dir, &stopping).unwrap();
    let records = read(&dir);
    let mut ended_on_eos = 0;
    for r in &records {
        let ids = r.token_ids.as_ref().expect("ids kept by default");
        assert_eq!(ids.len(), r.num_tokens);
        if r.finish_reason == o1p_data::FinishReason::Eos {
            assert_eq!(ids.last(), Some(&stop), "the EOS token is kept");
            ended_on_eos += 1;
        }
    }
    assert!(ended_on_eos > 0);

    // A run begun without ids (the former default) resumes with them: storing ids decides
    // no sample.
    let cut = root.path().join("cut");
    let without_ids = PresampleConfig {
        keep_token_ids: false,
        ..config()
    };
    let dies = DiesAfter {
        inner: &stopping,
        calls: Cell::new(1),
    };
    assert!(presample(&problems(), &PromptRenderer::Raw, &dies, &without_ids, &cut).is_err());
    run(&cut, &stopping).unwrap();
    let resumed = read(&cut);
    assert_eq!(resumed.len(), records.len());
    assert!(resumed[0].token_ids.is_none() && resumed.last().unwrap().token_ids.is_some());
}

/// A problem whose prompt plus `max_new_tokens` exceeds the model's context, or whose prefill
/// would exceed the memory bound, is skipped with the reason; the others are sampled. Invalid
/// sampling settings are refused before anything is written.
#[test]
fn over_long_prompts_are_skipped_and_bad_settings_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = model_dir(root.path());
    let mut problems = problems();
    let mut long = problems[0].clone();
    long.id = "long".into();
    long.question = "1+2".repeat(200);
    problems.insert(2, long);
    let native = NativeGenerator::from_dir(&dir, Backend::Flex, Precision::F32, 4).unwrap();
    let defaults = native.limits().clone();
    let cases = [
        (
            LengthLimits {
                context: Some(150),
                ..defaults.clone()
            },
            "context of 150 tokens (max_position_embeddings)",
        ),
        (
            LengthLimits {
                context: None,
                memory_limit: prefill_bytes(defaults.heads, 4, 120),
                ..defaults.clone()
            },
            "prefill attention",
        ),
    ];
    for (i, (limits, reason)) in cases.into_iter().enumerate() {
        let generator = NativeGenerator::from_dir(&dir, Backend::Flex, Precision::F32, 4)
            .unwrap()
            .with_limits(limits);
        let out = root.path().join(format!("out-{i}"));
        let summary =
            presample(&problems, &PromptRenderer::Raw, &generator, &config(), &out).unwrap();
        assert_eq!(summary.problems, 5);
        assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
        assert_eq!(summary.skipped[0].problem_id, "long");
        assert!(
            summary.skipped[0].reason.contains(reason),
            "{}",
            summary.skipped[0].reason
        );
        assert_eq!(summary.written, 15);
    }
    // The default limits of the tiny model (context 2048) take every problem.
    assert_eq!(defaults.context, Some(2048));

    let bad = [
        (
            SamplingParams {
                temperature: f32::NAN,
                ..config().params
            },
            "temperature",
        ),
        (
            SamplingParams {
                top_p: 1.5,
                ..config().params
            },
            "top_p",
        ),
        (
            SamplingParams {
                max_new_tokens: 0,
                ..config().params
            },
            "max_new_tokens",
        ),
        (
            SamplingParams {
                stop_strings: vec![String::new()],
                ..config().params
            },
            "stop",
        ),
    ];
    for (params, key) in bad {
        let out = root.path().join(format!("bad-{key}"));
        let cfg = PresampleConfig { params, ..config() };
        let err = presample(&problems, &PromptRenderer::Raw, &native, &cfg, &out).unwrap_err();
        assert!(matches!(err, PresampleError::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains(key), "{err}");
        assert!(!out.join(SETTINGS_FILE).exists(), "nothing written");
    }
}
