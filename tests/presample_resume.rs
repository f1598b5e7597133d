//! The `presample` example killed with SIGKILL midway and rerun ends with the same files,
//! byte for byte, as an uninterrupted run; bad inputs are reported, never a panic; a rerun
//! with other problems, other settings or without the fingerprint is refused untouched, and
//! `--fresh` starts over.
//!
//! The example binary is found next to this test's executable
//! (`target/release/examples/presample`); `cargo test --release` builds it.

mod support;
use support::example;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use o1_pruner::data::demo;
use o1_pruner::sampler::testing;

/// A tiny model and a problems file with 16 good problems and 3 bad records.
fn setup(root: &Path) -> (PathBuf, PathBuf) {
    let model = root.join("model");
    testing::write_tiny_model(&model, demo::ALPHABET, 4, 128, 3).unwrap();
    let data = root.join("problems.jsonl");
    let mut f = std::fs::File::create(&data).unwrap();
    for p in demo::generate_problems(16, 9, &demo::DemoConfig::default()) {
        let line = serde_json::json!({"id": p.id, "question": p.question, "answer": p.gold});
        writeln!(f, "{line}").unwrap();
    }
    writeln!(f, "{{\"id\": \"no-question\", \"answer\": \"3\"}}").unwrap();
    writeln!(
        f,
        "{{\"id\": \"no-gold\", \"question\": \"Q\", \"answer\": \"\"}}"
    )
    .unwrap();
    f.write_all(b"{\"id\": \"bad-utf8\", \"question\": \"\xff\xfe\", \"answer\": \"1\"}\n")
        .unwrap();
    (model, data)
}

fn command(model: &Path, data: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(example("presample"));
    cmd.args(["--model", &model.display().to_string()])
        .args(["--data", &data.display().to_string()])
        .args(["--format", "jsonl", "--out", &out.display().to_string()])
        .args(["--k", "4", "--temperature", "1.0", "--top-p", "0.95"])
        .args(["--max-new-tokens", "64", "--batch-size", "4", "--seed", "7"])
        .args([
            "--prompt-style",
            "raw",
            "--no-system",
            "--user",
            "Q: {question}\n",
        ])
        .arg("--no-progress")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn files(out: &Path) -> Vec<Vec<u8>> {
    [
        "samples.jsonl",
        "reference_stats.json",
        "presample.json",
        "fingerprint.json",
    ]
    .iter()
    .map(|f| std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
    .collect()
}

fn lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn killed_run_resumes_into_identical_files() {
    let root = tempfile::tempdir().unwrap();
    let (model, data) = setup(root.path());

    let full = root.path().join("full");
    let done = command(&model, &data, &full).output().unwrap();
    // Exit 2: every good problem was sampled, but bad records were skipped (and listed).
    assert_eq!(done.status.code(), Some(2), "{}", stderr(&done));
    let err = stderr(&done);
    assert!(err.contains("no gold answer"), "{err}");
    assert!(err.contains("loaded 16 of 19"), "{err}");
    let expected = files(&full);
    assert_eq!(lines(&full.join("samples.jsonl")), 16 * 4);

    // Kill -9 once a few batches are on disk, then rerun the same command.
    let killed = root.path().join("killed");
    let store = killed.join("samples.jsonl");
    let mut child = command(&model, &data, &killed)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while lines(&store) < 8 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let at_kill = lines(&store);
    eprintln!("killed at {at_kill} of 64 records");
    assert!(at_kill < 64, "killed too late ({at_kill} lines)");
    assert!(!killed.join("reference_stats.json").exists());
    // Make sure a torn last line is part of the test even when the kill fell between writes.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&store)
        .unwrap();
    f.write_all(b"{\"problem_id\":\"demo-9-").unwrap();
    drop(f);

    let resumed = command(&model, &data, &killed).output().unwrap();
    assert_eq!(resumed.status.code(), Some(2), "{}", stderr(&resumed));
    assert_eq!(
        files(&killed),
        expected,
        "resumed files differ (killed at {at_kill} lines)"
    );
}

/// Issue 16: changed questions under the same ids, a subset of the problems, or a deleted
/// presample.json used to reuse the old samples (and the subset rewrote reference_stats.json
/// for fewer problems than samples.jsonl holds).
#[test]
fn reruns_with_other_inputs_are_refused_untouched_and_fresh_starts_over() {
    let root = tempfile::tempdir().unwrap();
    let (model, data) = setup(root.path());
    let out = root.path().join("out");
    let first = command(&model, &data, &out).output().unwrap();
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    let expected = files(&out);
    let refused = |cmd: &mut Command, what: &str| {
        let o = cmd.output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(what) && err.contains("--fresh"), "{err}");
        assert_eq!(files(&out), expected, "a refused rerun wrote: {err}");
    };
    // The file ends with a line that is not UTF-8 (a bad record): work on bytes.
    let original = std::fs::read(&data).unwrap();
    let key = b"\"question\":\"";
    let at = original.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let changed = [&original[..at], b"1 + ", &original[at..]].concat();
    let other = root.path().join("changed.jsonl");
    std::fs::write(&other, changed).unwrap();
    refused(&mut command(&model, &other, &out), "problems (");
    let subset: Vec<u8> = original
        .split_inclusive(|&b| b == b'\n')
        .take(8)
        .flatten()
        .copied()
        .collect();
    std::fs::write(&other, subset).unwrap();
    refused(&mut command(&model, &other, &out), "-> 8 problems");

    // presample.json deleted: the fingerprint still knows the settings.
    let settings = std::fs::read(out.join("presample.json")).unwrap();
    std::fs::remove_file(out.join("presample.json")).unwrap();
    let o = command(&model, &data, &out)
        .args(["--top-k", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("top_k: 0 -> 5"), "{}", stderr(&o));
    assert!(!out.join("presample.json").exists());
    // Without the fingerprint too, the samples' origin is unknown: an error.
    std::fs::remove_file(out.join("fingerprint.json")).unwrap();
    let o = command(&model, &data, &out).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no "), "{}", stderr(&o));
    assert!(stderr(&o).contains("fingerprint.json"), "{}", stderr(&o));
    std::fs::write(out.join("presample.json"), settings).unwrap();

    // --fresh removes the step's files (and nothing else) and makes them again.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = command(&model, &data, &out)
        .arg("--fresh")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(files(&out), expected);
    assert!(out.join("notes.txt").is_file());
}

#[test]
fn bad_inputs_fail_with_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let (model, _) = setup(root.path());
    let empty = root.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let out = command(&model, &empty, &root.path().join("o1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));

    let missing = root.path().join("nope.jsonl");
    let out = command(&model, &missing, &root.path().join("o2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.jsonl"), "{}", stderr(&out));

    let data = root.path().join("one.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"a\",\"question\":\"Q: 1+1\",\"answer\":\"2\"}\n",
    )
    .unwrap();
    let out = command(
        &root.path().join("no-model"),
        &data,
        &root.path().join("o3"),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no-model"), "{}", stderr(&out));
}

/// A problem too long for the model's context is skipped with the reason (exit 2) while the
/// others are sampled; a sampling flag out of its range is a usage error naming the flag and
/// its range, before anything is written.
#[test]
fn over_long_problems_are_skipped_and_bad_flags_are_usage_errors() {
    let root = tempfile::tempdir().unwrap();
    let (model, _) = setup(root.path());
    let data = root.path().join("long.jsonl");
    let long = "1+".repeat(1500) + "1";
    let lines_in = [
        serde_json::json!({"id": "a", "question": "1+1", "answer": "2"}),
        serde_json::json!({"id": "long", "question": long, "answer": "1501"}),
        serde_json::json!({"id": "b", "question": "2+1", "answer": "3"}),
    ];
    let text: Vec<String> = lines_in.iter().map(|l| l.to_string()).collect();
    std::fs::write(&data, text.join("\n")).unwrap();
    let base = |out: &Path| {
        let mut cmd = Command::new(example("presample"));
        cmd.args(["--model", &model.display().to_string()])
            .args(["--data", &data.display().to_string()])
            .args(["--out", &out.display().to_string()])
            .args(["--k", "2", "--batch-size", "2", "--prompt-style", "raw"])
            .args(["--no-system", "--user", "Q: {question}\n", "--no-progress"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        cmd
    };
    let out = root.path().join("skip");
    let done = base(&out)
        .args(["--max-new-tokens", "16", "--temperature", "1"])
        .output()
        .unwrap();
    let err = stderr(&done);
    assert_eq!(done.status.code(), Some(2), "{err}");
    assert!(
        err.contains("skipped problem long") && err.contains("context of 2048 tokens"),
        "{err}"
    );
    assert_eq!(lines(&out.join("samples.jsonl")), 2 * 2);

    let bad = [
        ("--temperature=nan", "--temperature", ">= 0"),
        ("--temperature=-1", "--temperature", ">= 0"),
        ("--top-p=0", "--top-p", "(0, 1]"),
        ("--top-p=1.5", "--top-p", "(0, 1]"),
        ("--top-p=nan", "--top-p", "(0, 1]"),
        ("--max-new-tokens=0", "--max-new-tokens", "at least 1"),
        ("--stop=", "--stop", "must not be empty"),
    ];
    for (arg, flag, range) in bad {
        let out = root.path().join("usage");
        let run = base(&out).arg(arg).output().unwrap();
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains(flag) && err.contains(range), "{arg}: {err}");
        assert!(!out.exists(), "{arg}: nothing may be written");
    }
}

/// Issue 15: `--shard I/N` runs merged with `--merge` give the files of an unsharded run,
/// byte for byte; a missing shard is refused naming it; bad `--shard` values and `--merge`
/// with `--shard` are usage errors naming the flag.
#[test]
fn shards_merge_into_an_unsharded_run_and_bad_shard_flags_are_usage_errors() {
    let root = tempfile::tempdir().unwrap();
    let (model, data) = setup(root.path());
    // Six of the 16 problems: this test is about the files.
    // The file ends with a line that is not UTF-8 (a bad record): work on bytes.
    let six: Vec<u8> = std::fs::read(&data)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .take(6)
        .flatten()
        .copied()
        .collect();
    let data = root.path().join("six.jsonl");
    std::fs::write(&data, six).unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let o = command(&model, &data, out).args(extra).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", stderr(&o));
        o
    };
    let full = root.path().join("full");
    run(&full, &[]);
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| {
            let dir = root.path().join(format!("shard-{i}"));
            let o = run(&dir, &["--shard", &format!("{i}/3")]);
            assert!(
                stderr(&o).contains(&format!("shard {i}/3: 2 problems")),
                "{}",
                stderr(&o)
            );
            dir
        })
        .collect();
    let merge = |dirs: &[&PathBuf], out: &Path| {
        let mut cmd = Command::new(example("presample"));
        cmd.arg("--merge")
            .args(dirs)
            .args(["--out", &out.display().to_string()])
            .env("RUST_LOG", "warn");
        cmd.output().unwrap()
    };
    let pool = root.path().join("pool");
    let o = merge(&[&shards[1], &shards[0], &shards[2]], &pool);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("merged 3 shards: 6 problems, 24 records"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(&pool), files(&full));

    let o = merge(&[&shards[0], &shards[2]], &root.path().join("partial"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shard(s) 1 of 3 missing"),
        "{}",
        stderr(&o)
    );
    assert!(!root.path().join("partial").exists());
    // A merge into a shard's own directory is refused, with --fresh too, which must not
    // remove the shard's files.
    let before = files(&shards[0]);
    let o = Command::new(example("presample"))
        .arg("--merge")
        .args(&shards)
        .args(["--out", &shards[0].display().to_string(), "--fresh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is the shard directory"),
        "{}",
        stderr(&o)
    );
    let o = merge(&[&shards[0], &shards[1], &shards[2]], &shards[0]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shard: 0/3 -> (none)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(&shards[0]), before);
    // Another shard into a shard's directory is a changed setting.
    let o = command(&model, &data, &shards[0])
        .args(["--shard", "1/3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("shard: 0/3 -> 1/3"), "{}", stderr(&o));

    let usage = [
        (vec!["--shard", "3/3"], "--shard"),
        (vec!["--shard", "x"], "--shard"),
        (vec!["--shard", "0/0"], "--shard"),
        (vec!["--shard=1/-2"], "--shard"),
    ];
    let out = root.path().join("usage");
    for (args, flag) in usage {
        let o = command(&model, &data, &out).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
    }
    let o = Command::new(example("presample"))
        .args([
            "--merge",
            &shards[0].display().to_string(),
            "--shard",
            "0/3",
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("--shard") && err.contains("--merge") && err.contains("cannot be used with"),
        "{err}"
    );
    assert!(!out.exists(), "a usage error wrote");
}
