//! The sample store across crashes: torn last lines, missing newlines, corrupt middles.

use std::io::Write;

use o1p_data::{
    DataError, Durability, FinishReason, ItemError, Location, SampleRecord, SampleStore,
};

fn record(problem: &str, i: usize) -> SampleRecord {
    SampleRecord {
        problem_id: problem.to_string(),
        sample_index: i,
        prompt: "Q: Sam has 3 coins, gains 4. How many?\n".into(),
        response: "3+4=7\nWait, check 3+4=7. Yes.\n\\boxed{7}".into(),
        token_ids: i.is_multiple_of(2).then(|| vec![1, 2, 3]),
        num_tokens: 30 + i,
        finish_reason: [FinishReason::Eos, FinishReason::Stop, FinishReason::Length][i % 3],
        extracted: (i % 3 != 2).then(|| "7".to_string()),
        correct: i % 3 != 2,
    }
}

fn line(r: &SampleRecord) -> String {
    serde_json::to_string(r).unwrap() + "\n"
}

#[test]
fn append_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    let (mut store, old) = SampleStore::open_with(&path, Durability::Fsync).unwrap();
    assert!(old.is_empty() && store.is_empty());
    let written: Vec<_> = (0..5).map(|i| record("p", i)).collect();
    for r in &written {
        store.append(r).unwrap();
    }
    assert_eq!(store.len(), 5);
    // Readable while the writer is open: every record is flushed.
    assert_eq!(SampleStore::read(&path).unwrap(), written);
    drop(store);
    let (store, old) = SampleStore::open(&path).unwrap();
    assert_eq!((old, store.len(), store.dropped_bytes()), (written, 5, 0));
}

#[test]
fn torn_last_line_is_dropped_and_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let good: Vec<_> = (0..3).map(|i| record("p", i)).collect();
    let full = line(&record("p", 3));
    // Every possible cut of the fourth record's line, as a crash mid-write would leave it.
    for cut in 1..full.len() - 1 {
        let mut bytes: Vec<u8> = good.iter().flat_map(|r| line(r).into_bytes()).collect();
        let good_len = bytes.len();
        bytes.extend_from_slice(&full.as_bytes()[..cut]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut store, old) = SampleStore::open(&path).unwrap();
        assert_eq!(old, good, "cut {cut}");
        assert_eq!(store.dropped_bytes(), cut as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len as u64);
        store.append(&record("p", 3)).unwrap();
        drop(store);
        let mut all = good.clone();
        all.push(record("p", 3));
        assert_eq!(SampleStore::read(&path).unwrap(), all, "cut {cut}");
    }
}

#[test]
fn complete_last_record_without_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let a = line(&record("a", 0));
    let b = line(&record("b", 1));
    std::fs::write(&path, format!("{a}{}", b.trim_end())).unwrap();
    let (mut store, old) = SampleStore::open(&path).unwrap();
    assert_eq!(old, vec![record("a", 0), record("b", 1)]);
    store.append(&record("c", 2)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{a}{b}{}", line(&record("c", 2))));
}

#[test]
fn garbage_tail_after_crash() {
    // Delayed allocation can leave NUL bytes or half a UTF-8 sequence at the end.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    for tail in [
        &b"\0\0\0\0"[..],
        b"{\"problem_id\": \"caf\xc3",
        b"not json\n",
        b"\n\n  \n",
    ] {
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(line(&record("a", 0)).as_bytes()).unwrap();
        f.write_all(tail).unwrap();
        drop(f);
        let (_, old) = SampleStore::open(&path).unwrap();
        assert_eq!(old, vec![record("a", 0)]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            line(&record("a", 0))
        );
    }
}

#[test]
fn malformed_middle_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let text = format!(
        "{}{{\"oops\n{}",
        line(&record("a", 0)),
        line(&record("b", 1))
    );
    std::fs::write(&path, &text).unwrap();
    let err = SampleStore::open(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::Item {
                location: Location::Line(2),
                error: ItemError::MalformedJson(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("s.jsonl: line 2: malformed JSON"),
        "{err}"
    );
    // Nothing was touched.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn blank_lines_in_the_middle_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    std::fs::write(
        &path,
        format!("{}\n\n{}", line(&record("a", 0)), line(&record("b", 1))),
    )
    .unwrap();
    let (_, old) = SampleStore::open(&path).unwrap();
    assert_eq!(old.len(), 2);
}

#[test]
fn record_json_shape() {
    let v: serde_json::Value = serde_json::to_value(record("p", 2)).unwrap();
    assert_eq!(v["finish_reason"], "length");
    assert_eq!(v["extracted"], serde_json::Value::Null);
    assert_eq!(v["num_tokens"], 32);
    assert!(v.get("token_ids").is_some());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 9, "{keys:?}");
}
