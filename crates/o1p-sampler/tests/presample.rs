//! Pre-sampling end to end on a tiny random model: an interrupted run (a generator that dies
//! midway, a torn last line, a store cut in the middle of a batch) resumes into files
//! byte-identical to an uninterrupted run; bad problems are reported and skipped; shards
//! merge into the files of an unsharded run.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use o1p_data::fingerprint::{FINGERPRINT_FILE, RunFingerprint};
use o1p_data::{DataError, Problem, PromptRenderer, demo};
use o1p_model::{Backend, Precision};
use o1p_sampler::presample::{
    PresampleConfig, ProblemReference, SAMPLES_FILE, SETTINGS_FILE, STATS_FILE, presample,
    remove_outputs,
};
use o1p_sampler::shard::{MergeError, Shard, merge_shards};
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

/// Issue 15: `k` = 2 and batches of 4 make blocks of 2 problems, so with 7 problems and 3
/// shards shard 0 holds blocks 0 and 3 (problems 0, 1 and the short last block, 6).
fn shard_config(shard: Option<Shard>) -> PresampleConfig {
    PresampleConfig {
        k: 2,
        batch_size: 4,
        shard,
        ..config()
    }
}

fn seven_problems() -> Vec<Problem> {
    demo::generate_problems(7, 3, &demo::DemoConfig::default())
}

fn stats_ids(dir: &Path) -> Vec<String> {
    let stats: Vec<ProblemReference> =
        serde_json::from_slice(&std::fs::read(dir.join(STATS_FILE)).unwrap()).unwrap();
    stats.into_iter().map(|s| s.problem_id).collect()
}

#[test]
fn shards_merge_into_the_files_of_an_unsharded_run() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    let problems = seven_problems();
    let sample = |config: &PresampleConfig, dir: &Path| {
        presample(&problems, &PromptRenderer::Raw, &generator, config, dir)
    };
    let full = root.path().join("full");
    sample(&shard_config(None), &full).unwrap();
    let expected = files(&full);

    let shard_dirs: Vec<PathBuf> = (0..3)
        .map(|i| root.path().join(format!("shard-{i}")))
        .collect();
    for (i, dir) in shard_dirs.iter().enumerate() {
        let shard = Shard::new(i, 3).unwrap();
        let summary = sample(&shard_config(Some(shard)), dir).unwrap();
        assert_eq!(summary.written, summary.problems * 2);
    }
    // Each shard's files describe that shard alone.
    let ids: Vec<&str> = problems.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(stats_ids(&shard_dirs[0]), [ids[0], ids[1], ids[6]]);
    assert_eq!(stats_ids(&shard_dirs[1]), [ids[2], ids[3]]);
    assert_eq!(stats_ids(&shard_dirs[2]), [ids[4], ids[5]]);
    let fp = RunFingerprint::read(&shard_dirs[2].join(FINGERPRINT_FILE))
        .unwrap()
        .unwrap();
    assert_eq!(fp.fields["shard"], "2/3");
    assert_eq!(fp.fields["batch_size"], "4");

    // Given in any order, the shards merge into the unsharded run's files, byte for byte.
    let merged = root.path().join("merged");
    let order = [
        shard_dirs[2].clone(),
        shard_dirs[0].clone(),
        shard_dirs[1].clone(),
    ];
    let summary = merge_shards(&order, &merged).unwrap();
    assert_eq!(
        (summary.shards, summary.problems, summary.records),
        (3, 7, 14)
    );
    assert_eq!(files(&merged), expected);
    // A merge into a directory holding the same run rewrites the same files.
    merge_shards(&order, &full).unwrap();
    assert_eq!(files(&full), expected);
    // The pool resumes as an unsharded run: nothing left to do.
    let rerun = sample(&shard_config(None), &merged).unwrap();
    assert_eq!((rerun.written, rerun.reused), (0, 14));
    assert_eq!(files(&merged), expected);

    // A rerun of a shard directory with another shard, or unsharded, is refused untouched.
    let before = files(&shard_dirs[0]);
    for other in [Some(Shard::new(1, 3).unwrap()), None] {
        match sample(&shard_config(other), &shard_dirs[0]) {
            Err(PresampleError::Data(DataError::FingerprintMismatch { changes, .. })) => {
                let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
                assert!(fields.contains(&"shard"), "{fields:?}");
            }
            r => panic!("{other:?}: {r:?}"),
        }
        assert_eq!(files(&shard_dirs[0]), before);
    }
    // So is a shard's batch size, which its split depends on.
    let smaller = PresampleConfig {
        batch_size: 2,
        ..shard_config(Some(Shard::new(0, 3).unwrap()))
    };
    let err = sample(&smaller, &shard_dirs[0]).unwrap_err().to_string();
    assert!(err.contains("batch_size: 4 -> 2"), "{err}");
    let invalid = shard_config(Some(Shard { index: 3, count: 3 }));
    let err = sample(&invalid, &root.path().join("invalid")).unwrap_err();
    assert!(matches!(err, PresampleError::InvalidConfig(_)), "{err}");
}

#[test]
fn merges_of_mismatched_missing_duplicated_or_unfinished_shards_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let generator =
        NativeGenerator::from_dir(model_dir(root.path()), Backend::Flex, Precision::F32, 4)
            .unwrap();
    // Four problems in two shards of one block (2 problems) each.
    let problems = &seven_problems()[..4];
    let shard_run = |i: usize, seed: u64| {
        let dir = root.path().join(format!("shard-{i}-seed-{seed}"));
        let config = PresampleConfig {
            seed,
            ..shard_config(Some(Shard::new(i, 2).unwrap()))
        };
        presample(problems, &PromptRenderer::Raw, &generator, &config, &dir).unwrap();
        dir
    };
    let (s0, s1, s1_other_seed) = (shard_run(0, 42), shard_run(1, 42), shard_run(1, 7));
    let out = root.path().join("out");
    let merge = |dirs: &[&PathBuf]| {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| (*d).clone()).collect();
        let err = merge_shards(&dirs, &out).unwrap_err();
        assert!(!out.exists(), "a refused merge wrote: {err}");
        err
    };
    let copy = |from: &Path, name: &str| {
        let to = root.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in [SAMPLES_FILE, STATS_FILE, SETTINGS_FILE, FINGERPRINT_FILE] {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
        to
    };

    match merge(&[&s0, &s1_other_seed]) {
        MergeError::Mismatch {
            dir, changes, file, ..
        } => {
            assert_eq!(dir, s1_other_seed);
            assert_eq!(file, FINGERPRINT_FILE);
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].to_string(), "seed: 42 -> 7");
        }
        e => panic!("{e}"),
    }
    match merge(&[&s1]) {
        MergeError::Missing { count, missing, .. } => assert_eq!((count, missing), (2, vec![0])),
        e => panic!("{e}"),
    }
    let again = copy(&s1, "again");
    let err = merge(&[&s0, &s1, &again]);
    assert!(
        matches!(&err, MergeError::Duplicate { shard, second, .. } if shard.index == 1 && *second == again),
        "{err}"
    );
    assert!(err.to_string().contains("given twice"), "{err}");

    // presample.json holds what the fingerprint leaves out: whether token ids are stored.
    let without_ids = root.path().join("without-ids");
    let config = PresampleConfig {
        keep_token_ids: false,
        ..shard_config(Some(Shard::new(1, 2).unwrap()))
    };
    presample(
        problems,
        &PromptRenderer::Raw,
        &generator,
        &config,
        &without_ids,
    )
    .unwrap();
    match merge(&[&s0, &without_ids]) {
        MergeError::Mismatch {
            dir, file, changes, ..
        } => {
            assert_eq!((dir, file.as_str()), (without_ids, SETTINGS_FILE));
            assert_eq!(changes[0].to_string(), "keep_token_ids: true -> false");
        }
        e => panic!("{e}"),
    }

    // A shard of a split into 3 parts.
    let third = copy(&s1, "of-three");
    let fp_path = third.join(FINGERPRINT_FILE);
    let mut fp = RunFingerprint::read(&fp_path).unwrap().unwrap();
    fp.set("shard", "1/3");
    o1p_data::write_json_atomic(&fp_path, &fp).unwrap();
    let err = merge(&[&s0, &third]);
    assert!(
        matches!(err, MergeError::CountMismatch { ref dir, .. } if *dir == third),
        "{err}"
    );
    assert!(err.to_string().contains("field shard"), "{err}");

    // Unfinished: a shard run that died in its (only) batch; once resumed, it merges.
    let killed = root.path().join("killed");
    let shard_1 = shard_config(Some(Shard::new(1, 2).unwrap()));
    let dies = DiesAfter {
        inner: &generator,
        calls: Cell::new(0),
    };
    assert!(presample(problems, &PromptRenderer::Raw, &dies, &shard_1, &killed).is_err());
    let err = merge(&[&s0, &killed]);
    assert!(
        matches!(err, MergeError::Incomplete { ref dir, .. } if *dir == killed),
        "{err}"
    );
    assert!(err.to_string().contains(STATS_FILE), "{err}");
    presample(
        problems,
        &PromptRenderer::Raw,
        &generator,
        &shard_1,
        &killed,
    )
    .unwrap();
    assert_eq!(files(&killed), files(&s1));
    // Records missing behind a stats file (an edited store).
    let short = copy(&s1, "short");
    let text = std::fs::read_to_string(short.join(SAMPLES_FILE)).unwrap();
    let kept: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(short.join(SAMPLES_FILE), kept).unwrap();
    let err = merge(&[&s0, &short]);
    assert!(matches!(err, MergeError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string().contains("holds 3 of the 4 records"),
        "{err}"
    );

    // An unsharded run is not a shard; the shards themselves still merge.
    let full = root.path().join("full");
    presample(
        problems,
        &PromptRenderer::Raw,
        &generator,
        &shard_config(None),
        &full,
    )
    .unwrap();
    assert!(matches!(merge(&[&full, &s0]), MergeError::NotAShard { .. }));
    merge_shards(&[s0.clone(), s1.clone()], &out).unwrap();
    assert_eq!(files(&out), files(&full));
    // A merge into a shard's own directory is refused like a presample rerun.
    let before = files(&s0);
    let err = merge_shards(&[s0.clone(), s1.clone()], &s0).unwrap_err();
    assert!(err.to_string().contains("shard: 0/2 -> (none)"), "{err}");
    assert_eq!(files(&s0), before);
}

/// A generator whose every completion depends on all the seeds of its call, as a batched
/// native generator's may (through padding): the strictest case for shards.
struct BatchShaped;

impl Generator for BatchShaped {
    fn generate(
        &self,
        requests: &[Request],
        _params: &SamplingParams,
    ) -> Result<Vec<Vec<Generated>>, GenerateError> {
        let call = requests
            .iter()
            .flat_map(|r| &r.seeds)
            .fold(0u64, |h, s| h.wrapping_mul(31).wrapping_add(*s));
        let completion = |seed: u64| Generated {
            text: format!("{} {}", seed % 10, call % 1000),
            token_ids: None,
            num_tokens: (seed % 7 + call % 5) as usize + 1,
            finish_reason: o1p_data::FinishReason::Eos,
            logprobs: None,
        };
        Ok(requests
            .iter()
            .map(|r| r.seeds.iter().map(|&s| completion(s)).collect())
            .collect())
    }
    fn describe(&self) -> String {
        "batch-shaped".into()
    }
}

/// Each shard generates exactly the canonical batches of the unsharded run (a split of
/// single problems would not: with K = 3 and batches of 4 a batch spans two problems).
#[test]
fn shards_generate_the_batches_of_an_unsharded_run() {
    let root = tempfile::tempdir().unwrap();
    let problems = demo::generate_problems(9, 4, &demo::DemoConfig::default());
    for (k, batch_size, count) in [(3, 4, 2), (2, 4, 3), (4, 4, 4), (5, 3, 2)] {
        let config = |shard| PresampleConfig {
            k,
            batch_size,
            shard,
            ..config()
        };
        let case = root.path().join(format!("k{k}-b{batch_size}-n{count}"));
        let full = case.join("full");
        presample(
            &problems,
            &PromptRenderer::Raw,
            &BatchShaped,
            &config(None),
            &full,
        )
        .unwrap();
        let dirs: Vec<PathBuf> = (0..count)
            .map(|i| {
                let dir = case.join(format!("shard-{i}"));
                let shard = Some(Shard::new(i, count).unwrap());
                presample(
                    &problems,
                    &PromptRenderer::Raw,
                    &BatchShaped,
                    &config(shard),
                    &dir,
                )
                .unwrap();
                dir
            })
            .collect();
        let merged = case.join("merged");
        merge_shards(&dirs, &merged).unwrap();
        assert_eq!(
            files(&merged),
            files(&full),
            "K {k}, batch {batch_size}, {count} shards"
        );
    }
}
