//! The demo tokenizer: one token per character, exact round trips of demo text through the
//! files `o1p_model::Tokenizer::from_dir` loads, and the committed files match the builder.

use std::path::{Path, PathBuf};

use o1p_data::demo::{self, DemoConfig, ReflectionRates};
use o1p_model::Tokenizer;
use xtask::demo_tokenizer::{self, BOS, EOS, PAD, UNK};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn written() -> (PathBuf, Tokenizer) {
    // One directory per call: tests run in parallel, and one removing the directory while
    // another reads it made this flaky.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = temp_dir(&format!("demo-tokenizer-{n}"));
    demo_tokenizer::write(&dir).unwrap();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    (dir, tok)
}

#[test]
fn byte_level_spelling_matches_gpt2() {
    assert_eq!(demo_tokenizer::byte_level_char(b' '), 'Ġ');
    assert_eq!(demo_tokenizer::byte_level_char(b'\n'), 'Ċ');
    assert_eq!(demo_tokenizer::byte_level_char(b'\\'), '\\');
    assert_eq!(demo_tokenizer::byte_level_char(0xAD), 'Ń');
}

#[test]
fn special_tokens_and_vocabulary() {
    let (_, tok) = written();
    let s = tok.special();
    assert_eq!(s.pad, Some((0, PAD.to_string())));
    assert_eq!(s.bos, Some((1, BOS.to_string())));
    assert_eq!(s.eos, Some((2, EOS.to_string())));
    assert_eq!(tok.token_to_id(UNK), Some(3));
    assert!(s.add_bos);
    assert_eq!(s.stop_ids, vec![2]);
    assert_eq!(tok.vocab_size(), 4 + demo::ALPHABET.chars().count());
    assert!(tok.chat_template().is_some());
}

#[test]
fn every_demo_prompt_and_response_round_trips_one_token_per_character() {
    let (_, tok) = written();
    let unk = tok.token_to_id(UNK).unwrap();
    let examples = training_examples();
    for e in &examples {
        let prompt = demo::prompt_template()
            .render_raw(&e.problem.question)
            .unwrap();
        let prompt_ids = tok.encode(&prompt, true).unwrap();
        let response_ids = tok.encode(&e.response, false).unwrap();
        assert_eq!(prompt_ids[0], 1, "bos first");
        assert_eq!(prompt_ids.len(), 1 + prompt.chars().count(), "{prompt:?}");
        assert_eq!(
            response_ids.len(),
            e.response.chars().count(),
            "{:?}",
            e.response
        );
        assert!(!prompt_ids.contains(&unk) && !response_ids.contains(&unk));
        // Encoding the parts separately equals encoding the whole (what training relies on).
        let whole = tok
            .encode(&format!("{prompt}{}", e.response), true)
            .unwrap();
        assert_eq!(whole, [prompt_ids.clone(), response_ids.clone()].concat());
        // With eos appended, as the model writes it, and specials skipped when decoding.
        let mut ids = whole;
        ids.push(2);
        assert_eq!(
            tok.decode(&ids, true).unwrap(),
            format!("{prompt}{}", e.response)
        );
    }
}

#[test]
fn the_whole_alphabet_and_the_fast_solving_suffix_are_single_tokens() {
    let (_, tok) = written();
    let ids = tok.encode(demo::ALPHABET, false).unwrap();
    let expected: Vec<u32> = (4..4 + demo::ALPHABET.chars().count() as u32).collect();
    assert_eq!(ids, expected);
    assert_eq!(tok.decode(&ids, false).unwrap(), demo::ALPHABET);
    let suffix = o1p_data::FAST_SOLVING_SUFFIX;
    let ids = tok.encode(suffix, false).unwrap();
    assert_eq!(ids.len(), suffix.chars().count());
    assert_eq!(tok.decode(&ids, false).unwrap(), suffix);
}

#[test]
fn unknown_characters_become_unk() {
    let (_, tok) = written();
    let ids = tok.encode("3×4", false).unwrap();
    assert!(ids.contains(&3), "{ids:?}");
}

#[test]
fn committed_tokenizer_files_match_the_builder() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-model");
    if !committed.join("tokenizer.json").exists() {
        return; // before the first `cargo xtask train-demo`
    }
    let (dir, _) = written();
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        let read = |d: &Path| std::fs::read_to_string(d.join(file)).unwrap();
        assert_eq!(
            read(&committed),
            read(&dir),
            "{file} differs from demo_tokenizer::build(); rerun `cargo xtask train-demo`"
        );
    }
}

fn training_examples() -> Vec<demo::DemoExample> {
    demo::training_examples(500, 3, &DemoConfig::default(), &ReflectionRates::default())
}
