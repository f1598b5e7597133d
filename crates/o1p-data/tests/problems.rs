//! Loading the shipped fixtures: the real schemas, and every kind of bad input.

use std::path::{Path, PathBuf};

use o1p_data::{
    DataError, FieldMapping, Format, GoldRule, ItemError, Location, OnBadItem, load_problems,
    parse_problems, train_test_split,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn gsm8k_fixture() {
    let loaded = load_problems(
        fixture("gsm8k_sample.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Fail,
    )
    .unwrap();
    let golds: Vec<&str> = loaded.problems.iter().map(|p| p.gold.as_str()).collect();
    assert_eq!(golds, ["21", "270", "1200", "31", "36", "6", "6", "77"]);
    assert_eq!(loaded.problems[2].id, "gsm8k-2");
    assert!(
        loaded.problems[0]
            .question
            .starts_with("Mia bakes 24 cookies")
    );
    assert_eq!(loaded.report.total, 8);
    assert!(loaded.report.skipped.is_empty());
}

#[test]
fn math500_fixture() {
    let loaded = load_problems(
        fixture("math500_sample.jsonl"),
        &Format::Math.mapping(),
        OnBadItem::Fail,
    )
    .unwrap();
    let p = &loaded.problems;
    assert_eq!(p.len(), 8);
    assert_eq!(p[1].gold, "\\frac{3}{4}");
    assert_eq!(p[1].id, "test/prealgebra/0002.json");
    assert_eq!(p[4].gold, "(2,5)");
    // No "answer" field: gold from the last \boxed{} of the solution.
    assert_eq!(p[6].gold, "25\\pi");
    assert_eq!(
        (p[6].subject.as_deref(), p[6].difficulty),
        (Some("Geometry"), Some(2.0))
    );
    assert_eq!(p[0].source.as_deref(), Some("math"));
}

#[test]
fn math_json_array() {
    let loaded = load_problems(
        fixture("math_array.json"),
        &Format::Math.mapping(),
        OnBadItem::Fail,
    )
    .unwrap();
    let p = &loaded.problems;
    assert_eq!((p[0].gold.as_str(), p[0].id.as_str()), ("32", "math-0"));
    assert_eq!(
        (p[1].gold.as_str(), p[1].level.as_deref(), p[1].difficulty),
        ("\\frac{5}{6}", Some("Level 2"), Some(2.0))
    );
}

#[test]
fn bad_records_are_reported_and_skipped() {
    let loaded = load_problems(
        fixture("bad_gsm8k.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Skip,
    )
    .unwrap();
    let ids: Vec<&str> = loaded.problems.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["gsm8k-0", "gsm8k-6", "x"]);
    let skipped: Vec<(Location, ItemError)> = loaded
        .report
        .skipped
        .iter()
        .map(|s| (s.location, s.error.clone()))
        .collect();
    let kinds: Vec<(usize, &str)> = skipped
        .iter()
        .map(|(l, e)| {
            let Location::Line(n) = l else { panic!("{l}") };
            let kind = match e {
                ItemError::MissingField(_) => "missing",
                ItemError::NoGold => "no_gold",
                ItemError::MalformedJson(_) => "json",
                ItemError::NotAnObject => "not_object",
                ItemError::WrongType { .. } => "type",
                ItemError::DuplicateId(_) => "dup",
                _ => "other",
            };
            (*n, kind)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (2, "missing"),
            (3, "no_gold"),
            (4, "json"),
            (5, "missing"),
            (6, "not_object"),
            (8, "type"),
            (10, "dup"),
            (12, "no_gold")
        ]
    );
    assert_eq!(skipped[0].1, ItemError::MissingField("question".into()));
    assert_eq!(skipped[3].1, ItemError::MissingField("answer".into()));
    assert_eq!((loaded.report.total, loaded.report.loaded), (11, 3));
    let text = loaded.report.to_string();
    assert!(
        text.contains("bad_gsm8k.jsonl: loaded 3 of 11 records"),
        "{text}"
    );
    assert!(text.contains("skipped line 3: no gold answer"), "{text}");
}

#[test]
fn strict_loading_names_file_and_line() {
    let err = load_problems(
        fixture("bad_gsm8k.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Fail,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::Item {
                location: Location::Line(2),
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad_gsm8k.jsonl: line 2: missing field `question`"),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_line() {
    let loaded = load_problems(
        fixture("bad_utf8.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Skip,
    )
    .unwrap();
    assert_eq!(loaded.problems.len(), 2);
    assert_eq!(loaded.report.skipped[0].location, Location::Line(2));
    assert_eq!(loaded.report.skipped[0].error, ItemError::InvalidUtf8);
    let err = load_problems(
        fixture("bad_utf8.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Fail,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("bad_utf8.jsonl: line 2: invalid UTF-8"),
        "{err}"
    );
    // In a JSON array the whole file must be UTF-8.
    let err = parse_problems(
        b"[\n{\"question\": \"\xff\"}]",
        Path::new("a.json"),
        &FieldMapping::default(),
        OnBadItem::Skip,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "a.json: line 2: invalid UTF-8");
}

#[test]
fn whole_file_errors() {
    let err = load_problems(
        fixture("empty.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Skip,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("empty.jsonl: the file is empty"));
    let err = load_problems(
        fixture("bad_array.json"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Skip,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Json { line: 3, .. }), "{err}");
    let err = load_problems(
        fixture("no_such_file.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Skip,
    )
    .unwrap_err();
    assert!(
        matches!(err, DataError::Io { .. }) && err.to_string().contains("no_such_file.jsonl"),
        "{err}"
    );
    // The OS error is said once: in the message, not again as the source that anyhow's
    // `{:#}` appends ("No such file or directory (os error 2): No such file or directory").
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain = format!("{chain}: {cause}");
        source = cause.source();
    }
    assert_eq!(chain.matches("(os error").count(), 1, "{chain}");
    let err = parse_problems(
        b"[]",
        Path::new("e.json"),
        &FieldMapping::default(),
        OnBadItem::Skip,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }));
}

#[test]
fn custom_mapping_and_bom() {
    let mapping = FieldMapping {
        id: None,
        id_prefix: "mine".into(),
        question: "prompt".into(),
        gold: vec![
            GoldRule::Field("target".into()),
            GoldRule::LastBoxed("reasoning".into()),
        ],
        difficulty: Some("hardness".into()),
        ..FieldMapping::default()
    };
    let text = "\u{feff}{\"prompt\": \"p1\", \"target\": 3, \"hardness\": \"0.5\"}\r\n{\"prompt\": \"p2\", \"reasoning\": \"so \\\\boxed{x}\"}\r\n";
    let loaded = parse_problems(
        text.as_bytes(),
        Path::new("m.jsonl"),
        &mapping,
        OnBadItem::Fail,
    )
    .unwrap();
    assert_eq!(loaded.problems[0].gold, "3");
    assert_eq!(loaded.problems[0].difficulty, Some(0.5));
    assert_eq!(
        (
            loaded.problems[1].id.as_str(),
            loaded.problems[1].gold.as_str()
        ),
        ("mine-1", "x")
    );
}

#[test]
fn split_of_loaded_problems_is_reproducible() {
    let loaded = load_problems(
        fixture("gsm8k_sample.jsonl"),
        &Format::Gsm8k.mapping(),
        OnBadItem::Fail,
    )
    .unwrap();
    let a = train_test_split(loaded.problems.clone(), 0.25, 11).unwrap();
    let b = train_test_split(loaded.problems, 0.25, 11).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.train.len(), a.test.len()), (6, 2));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Integration tests have no lib.rs beside them to persist failures next to.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for format in [Format::Gsm8k, Format::Math, Format::Jsonl] {
                let _ = parse_problems(&bytes, Path::new("fuzz"), &format.mapping(), OnBadItem::Skip);
            }
        }

        #[test]
        fn arbitrary_json_lines(lines in proptest::collection::vec("[{}\\[\\]\",:a-z0-9#\\\\ ]{0,40}", 0..8)) {
            let text = lines.join("\n");
            let _ = parse_problems(text.as_bytes(), Path::new("fuzz"), &Format::Math.mapping(), OnBadItem::Skip);
        }
    }
}
