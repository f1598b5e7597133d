//! Real tokenizers against independent references:
//!
//! - the `tokenizer.json` files of Qwen3 and Llama-3, and the tokenizers rebuilt from llama.cpp's
//!   vocab-only GGUFs, reproduce llama.cpp's reference tokenizations (`ggml-vocab-*.gguf.out`,
//!   made with the original Hugging Face tokenizers);
//! - the tokenizers in the SmolLM2 checkpoint and the header-only DeepSeek-R1-Distill-Qwen-7B
//!   file match committed golden ids (`fixtures/gguf_tokenizers`, see its README) and decode back;
//! - a tiny GGUF vocabulary written here pins down added tokens, merges and the typed errors, so
//!   that part runs without the fetched assets too.

#[path = "support/assets.rs"]
mod assets;
#[path = "support/gguf_writer.rs"]
mod gguf_writer;

use std::path::Path;

use gguf_writer::{Writer, bool_value, i32_array, str_array, str_value, u32_value, write};
use o1p_model::gguf::GgufFile;
use o1p_model::{ModelError, Tokenizer};
use serde_json::Value;

/// llama.cpp's test-tokenizer-0 data: the strings of `<vocab>.inp`, split on its separator
/// (the file ends with one), and the ids of `<vocab>.out`, one space-separated line per string.
fn llama_cpp_reference(vocab: &str) -> Option<Vec<(String, Vec<u32>)>> {
    let inp = assets::asset(&format!("llama.cpp/models/ggml-vocab-{vocab}.gguf.inp"))?;
    let out = assets::asset(&format!("llama.cpp/models/ggml-vocab-{vocab}.gguf.out"))?;
    let inp = std::fs::read_to_string(inp).unwrap();
    let out = std::fs::read_to_string(out).unwrap();
    let texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let (last, texts) = texts.split_last().unwrap();
    assert_eq!(*last, "", "the .inp file ends with a separator");
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{vocab}: .inp and .out disagree in length"
    );
    Some(texts.iter().map(|t| t.to_string()).zip(ids).collect())
}

/// Encodes every reference string (no bos) and returns the mismatches.
fn check_reference(tokenizer: &Tokenizer, cases: &[(String, Vec<u32>)]) {
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = tokenizer.encode(text, false).unwrap();
        if &got != want {
            failures.push(format!("{text:?}\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn qwen3_tokenizer_json_reproduces_llama_cpp_qwen2_reference() {
    let (Some(cases), Some(dir)) = (
        llama_cpp_reference("qwen2"),
        assets::asset("tokenizer-qwen3"),
    ) else {
        return;
    };
    assert_eq!(cases.len(), 46);
    check_reference(&Tokenizer::from_dir(dir).unwrap(), &cases);
}

#[test]
fn llama3_tokenizer_json_reproduces_llama_cpp_llama_bpe_reference() {
    let (Some(cases), Some(dir)) = (
        llama_cpp_reference("llama-bpe"),
        assets::asset("tokenizer-llama3"),
    ) else {
        return;
    };
    assert_eq!(cases.len(), 46);
    check_reference(&Tokenizer::from_dir(dir).unwrap(), &cases);
}

#[test]
fn qwen2_vocab_gguf_reproduces_its_llama_cpp_reference() {
    let (Some(cases), Some(path)) = (
        llama_cpp_reference("qwen2"),
        assets::asset("llama.cpp/models/ggml-vocab-qwen2.gguf"),
    ) else {
        return;
    };
    // Through `from_dir`, which takes a .gguf path as well.
    let tokenizer = Tokenizer::from_dir(&path).unwrap();
    check_reference(&tokenizer, &cases);
    assert_eq!(tokenizer.token_to_id("<|im_end|>"), Some(151645));
    assert!(!tokenizer.special().add_bos);
}

#[test]
fn llama_bpe_vocab_gguf_reproduces_its_llama_cpp_reference() {
    let (Some(cases), Some(path)) = (
        llama_cpp_reference("llama-bpe"),
        assets::asset("llama.cpp/models/ggml-vocab-llama-bpe.gguf"),
    ) else {
        return;
    };
    let tokenizer = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    check_reference(&tokenizer, &cases);
    let special = tokenizer.special();
    assert_eq!(special.bos, Some((128000, "<|begin_of_text|>".into())));
    assert_eq!(special.eos, Some((128001, "<|end_of_text|>".into())));
    // No add_bos_token key in this file: llama.cpp's default for the Llama-3 family is on.
    assert!(special.add_bos);
    assert_eq!(
        tokenizer
            .encode("<|start_header_id|>user<|end_header_id|>", true)
            .unwrap(),
        [128000, 128006, 882, 128007]
    );
}

/// Checks a GGUF tokenizer against `fixtures/gguf_tokenizers/goldens.json`.
fn check_goldens(key: &str) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_tokenizers/goldens.json");
    let goldens: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let golden = &goldens[key];
    let Some(path) = assets::asset(golden["file"].as_str().unwrap()) else {
        return;
    };
    let tokenizer = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let pair = |v: &Value| {
        Some((
            v[0].as_u64().unwrap() as u32,
            v[1].as_str().unwrap().to_string(),
        ))
    };
    let special = tokenizer.special();
    assert_eq!(special.bos, pair(&golden["bos"]), "bos");
    assert_eq!(special.eos, pair(&golden["eos"]), "eos");
    assert_eq!(special.pad, pair(&golden["pad"]), "pad");
    assert_eq!(
        tokenizer.vocab_size() as u64,
        golden["vocab_size"].as_u64().unwrap()
    );

    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let got = tokenizer.encode(text, false).unwrap();
        if got != want {
            failures.push(format!("encode {text:?}\n  got  {got:?}\n  want {want:?}"));
        }
        let decoded = tokenizer.decode(&want, false).unwrap();
        if decoded != case["decoded"].as_str().unwrap() || decoded != text {
            failures.push(format!("decode {want:?}: {decoded:?}, want {text:?}"));
        }
    }
    assert!(failures.is_empty(), "{key}:\n{}", failures.join("\n"));
}

#[test]
fn smollm2_gguf_tokenizer_matches_goldens() {
    check_goldens("smollm2");
    let Some(path) = assets::asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let tokenizer = Tokenizer::from_dir(&path).unwrap();
    assert!(!tokenizer.special().add_bos);
    assert_eq!(tokenizer.special().stop_ids, [2]);
    assert!(tokenizer.chat_template().unwrap().contains("<|im_start|>"));
    // Control tokens decode to nothing when special tokens are skipped.
    let ids = tokenizer
        .encode("<|im_start|>user\nHi<|im_end|>", false)
        .unwrap();
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), "user\nHi");
}

#[test]
fn r1_distill_header_tokenizer_matches_goldens() {
    check_goldens("r1_distill_qwen_7b");
    let Some(path) = assets::asset("r1-distill-qwen-7b/header.gguf") else {
        return;
    };
    let tokenizer = Tokenizer::from_dir(&path).unwrap();
    assert!(tokenizer.special().add_bos);
    assert_eq!(
        tokenizer
            .encode("<｜User｜>1+1?<｜Assistant｜>", true)
            .unwrap(),
        [151646, 151644, 16, 10, 16, 30, 151645]
    );
    let template = tokenizer.chat_template().unwrap();
    assert!(template.contains("<｜Assistant｜>") && template.contains("</think>"));
    // `<think>` is user-defined, not special: it survives skip_special, the role tokens do not.
    let ids = tokenizer
        .encode("<｜Assistant｜><think>\nok", false)
        .unwrap();
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), "<think>\nok");
}

/// A byte-level vocabulary of the 256 single-byte tokens (in GPT-2's byte alphabet), the merges
/// `a b` and `ab c`, a control token and a user-defined one.
fn tiny_vocab(pre: &str) -> Writer {
    let mut tokens: Vec<String> = Vec::new();
    let mut next = 256u32;
    for b in 0..=255u32 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        tokens.push(if printable {
            char::from_u32(b).unwrap().to_string()
        } else {
            next += 1;
            char::from_u32(next - 1).unwrap().to_string()
        });
    }
    tokens.extend(["ab", "abc", "<|end|>", "<think>"].map(String::from));
    let mut types = vec![1; 258];
    types.extend([3, 4]);
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    Writer::new(3)
        .with("general.architecture", str_value("qwen2"))
        .with("tokenizer.ggml.model", str_value("gpt2"))
        .with("tokenizer.ggml.pre", str_value(pre))
        .with("tokenizer.ggml.tokens", str_array(&tokens))
        .with("tokenizer.ggml.merges", str_array(&["a b", "ab c"]))
        .with("tokenizer.ggml.token_type", i32_array(&types))
        .with("tokenizer.ggml.eos_token_id", u32_value(258))
        .with("tokenizer.ggml.add_bos_token", bool_value(false))
        .with("tokenizer.chat_template", str_value("{{ messages }}"))
}

fn gguf_problem(result: Result<Tokenizer, ModelError>) -> String {
    match result {
        Err(ModelError::Gguf { problem, .. }) => problem,
        Err(other) => panic!("expected a Gguf error, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn tiny_gguf_vocab_merges_and_matches_added_tokens_whole() {
    let path = write("tiny-vocab.gguf", &tiny_vocab("qwen2").bytes());
    let tokenizer = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    assert_eq!(tokenizer.vocab_size(), 260);
    // Token ids are byte values, so the space of " ab" is id 32 (spelled `Ġ`): "abc" merges
    // twice into one token, " ab" into `Ġ` + `ab`, and `<think>` and `<|end|>` match whole.
    let ids = tokenizer.encode("<think>abc ab<|end|>", false).unwrap();
    assert_eq!(ids, [259, 257, 32, 256, 258]);
    assert_eq!(
        tokenizer.decode(&ids, false).unwrap(),
        "<think>abc ab<|end|>"
    );
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), "<think>abc ab");
    assert_eq!(tokenizer.special().eos, Some((258, "<|end|>".into())));
    assert_eq!(tokenizer.special().stop_ids, [258]);
    assert_eq!(tokenizer.chat_template(), Some("{{ messages }}"));
    // The qwen2 pre-tokenizer puts each digit in its own piece.
    assert_eq!(
        tokenizer.encode("12", false).unwrap(),
        [b'1' as u32, b'2' as u32]
    );
}

#[test]
fn gguf_tokenizer_errors_name_the_problem() {
    let problem = gguf_problem(Tokenizer::from_gguf(
        &GgufFile::open(write("pre.gguf", &tiny_vocab("tekken").bytes())).unwrap(),
    ));
    assert!(
        problem.contains("`tekken` is not supported") && problem.contains("deepseek-r1-qwen"),
        "{problem}"
    );

    let mut spm = tiny_vocab("qwen2");
    spm.kv.retain(|(k, _, _)| k != "tokenizer.ggml.model");
    let spm = spm.with("tokenizer.ggml.model", str_value("llama"));
    let problem = gguf_problem(Tokenizer::from_gguf(
        &GgufFile::open(write("spm.gguf", &spm.bytes())).unwrap(),
    ));
    assert!(problem.contains("only `gpt2`"), "{problem}");

    let bad_bos = tiny_vocab("qwen2").with("tokenizer.ggml.bos_token_id", u32_value(999));
    let problem = gguf_problem(Tokenizer::from_gguf(
        &GgufFile::open(write("bos.gguf", &bad_bos.bytes())).unwrap(),
    ));
    assert!(problem.contains("tokenizer.ggml.bos_token_id"), "{problem}");

    let mut no_merges = tiny_vocab("qwen2");
    no_merges
        .kv
        .retain(|(k, _, _)| k != "tokenizer.ggml.merges");
    let problem = gguf_problem(Tokenizer::from_gguf(
        &GgufFile::open(write("merges.gguf", &no_merges.bytes())).unwrap(),
    ));
    assert!(problem.contains("tokenizer.ggml.merges"), "{problem}");
}
