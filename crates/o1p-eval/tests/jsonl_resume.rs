//! An evaluation interrupted mid-write resumes without losing or duplicating samples, and a
//! corrupt line that is not the torn tail is an error naming the file and line.

use std::io::Write;

use o1p_eval::{
    EvalError, EvalRecord, JsonlWriter, MetricsOptions, completed_keys, compute_metrics,
    read_jsonl, read_jsonl_detailed, write_jsonl,
};

fn rec(p: usize, i: usize) -> EvalRecord {
    EvalRecord {
        problem_id: format!("p{p}"),
        sample_index: i,
        correct: (p + i).is_multiple_of(2),
        extracted: (i != 3).then(|| format!("{}", p * 10 + i)),
        num_tokens: 100 + 7 * p + i,
        finish_reason: if i == 3 { "length" } else { "eos" }.into(),
        level: Some(format!("Level {}", 1 + p % 5)),
        difficulty: Some(p as f64),
        reference_accuracy: Some(0.25 * (p % 5) as f64),
    }
}

/// The full job: 5 problems x 4 samples, in the order a driver would produce them.
fn job() -> Vec<EvalRecord> {
    (0..5)
        .flat_map(|p| (0..4).map(move |i| rec(p, i)))
        .collect()
}

#[test]
fn interrupted_evaluation_resumes_and_scores_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let all = job();

    // First attempt: 7 records written, then a crash halfway through the 8th line.
    {
        let mut w = JsonlWriter::create(&path).unwrap();
        for r in &all[..7] {
            w.append(r).unwrap();
        }
    }
    let torn = serde_json::to_string(&all[7]).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
    drop(f);

    let found = read_jsonl_detailed(&path).unwrap();
    assert_eq!(found.records.len(), 7);
    assert_eq!(found.torn_line, Some(8));

    // Second attempt: skip what is done, generate the rest.
    let (mut w, done) = JsonlWriter::resume(&path).unwrap();
    assert_eq!(done, all[..7]);
    let skip = completed_keys(&done);
    let mut generated = 0;
    for r in all.iter().filter(|r| !skip.contains(&r.key())) {
        w.append(r).unwrap();
        generated += 1;
    }
    drop(w);
    assert_eq!(generated, 13);

    let resumed = read_jsonl(&path).unwrap();
    assert_eq!(resumed, all);
    let opts = MetricsOptions::default();
    assert_eq!(
        compute_metrics(&resumed, &opts).unwrap(),
        compute_metrics(&all, &opts).unwrap()
    );

    // Resuming a complete file changes nothing.
    let (_w, again) = JsonlWriter::resume(&path).unwrap();
    assert_eq!(again, all);
    assert_eq!(read_jsonl(&path).unwrap(), all);
}

#[test]
fn complete_last_line_without_newline_is_kept_and_resume_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let line = serde_json::to_string(&rec(0, 0)).unwrap();
    std::fs::write(&path, &line).unwrap();
    let (mut w, done) = JsonlWriter::resume(&path).unwrap();
    assert_eq!(done, vec![rec(0, 0)]);
    w.append(&rec(0, 1)).unwrap();
    drop(w);
    assert_eq!(read_jsonl(&path).unwrap(), vec![rec(0, 0), rec(0, 1)]);
}

#[test]
fn corrupt_middle_line_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    write_jsonl(&path, &[rec(0, 0)]).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "{{\"problem_id\": 12}}").unwrap();
    writeln!(f).unwrap();
    writeln!(f, "{}", serde_json::to_string(&rec(0, 1)).unwrap()).unwrap();
    drop(f);
    let err = read_jsonl(&path).unwrap_err();
    assert!(matches!(err, EvalError::Json { line: 2, .. }));
    let msg = err.to_string();
    assert!(msg.contains("bad.jsonl:2"), "{msg}");
    // Resume refuses to truncate a file with a corrupt middle.
    assert!(JsonlWriter::resume(&path).is_err());
}

#[test]
fn missing_file_is_an_io_error_naming_it_and_resume_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.jsonl");
    let err = read_jsonl(&path).unwrap_err();
    assert!(err.to_string().contains("absent.jsonl"));
    let (_w, done) = JsonlWriter::resume(&path).unwrap();
    assert!(done.is_empty());
    assert!(path.exists());
}

#[test]
fn records_without_optional_fields_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("min.jsonl");
    std::fs::write(
        &path,
        "{\"problem_id\":\"a\",\"sample_index\":0,\"correct\":true,\"extracted\":null,\
         \"num_tokens\":5,\"finish_reason\":\"stop\"}\n",
    )
    .unwrap();
    let r = read_jsonl(&path).unwrap();
    assert_eq!(r[0].level, None);
    assert_eq!(r[0].extracted, None);
}
