//! The GGUF container reader on files written here byte by byte (v2 and v3, every metadata type,
//! nested arrays, alignment, truncation and corruption), and on the real files of
//! `scripts/fetch-assets.sh` when they are present.

#[path = "support/assets.rs"]
mod assets;
#[path = "support/gguf_writer.rs"]
mod gguf_writer;

use gguf_writer::{Writer, string, write};
use o1p_model::ModelError;
use o1p_model::gguf::{GgmlType, GgufFile, MetaValue};

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A file with one value of every metadata type, arrays (of numbers, strings and arrays) and
/// three tensors of different types and sizes.
fn sample(version: u32) -> Writer {
    let mut str_array = 8u32.to_le_bytes().to_vec();
    str_array.extend(3u64.to_le_bytes());
    for s in ["a", "ü", ""] {
        str_array.extend(string(s));
    }
    let mut i32_array = 5u32.to_le_bytes().to_vec();
    i32_array.extend(2u64.to_le_bytes());
    i32_array.extend((-7i32).to_le_bytes());
    i32_array.extend(9i32.to_le_bytes());
    let mut nested = 9u32.to_le_bytes().to_vec();
    nested.extend(2u64.to_le_bytes());
    for n in [1u8, 2] {
        nested.extend(0u32.to_le_bytes());
        nested.extend(1u64.to_le_bytes());
        nested.push(n);
    }
    let mut q8 = Vec::new();
    for block in 0..2u8 {
        q8.extend(half_one());
        q8.extend((0..32).map(|i| i + block));
    }
    Writer::new(version)
        .kv("t.u8", 0, vec![200])
        .kv("t.i8", 1, (-3i8).to_le_bytes().to_vec())
        .kv("t.u16", 2, 60000u16.to_le_bytes().to_vec())
        .kv("t.i16", 3, (-300i16).to_le_bytes().to_vec())
        .kv("t.u32", 4, 4_000_000_000u32.to_le_bytes().to_vec())
        .kv("t.i32", 5, (-70000i32).to_le_bytes().to_vec())
        .kv("t.f32", 6, 1.5f32.to_le_bytes().to_vec())
        .kv("t.bool", 7, vec![1])
        .kv("t.string", 8, string("llama"))
        .kv("t.u64", 10, u64::MAX.to_le_bytes().to_vec())
        .kv("t.i64", 11, (-5i64).to_le_bytes().to_vec())
        .kv("t.f64", 12, 0.25f64.to_le_bytes().to_vec())
        .kv("t.strings", 9, str_array)
        .kv("t.i32s", 9, i32_array)
        .kv("t.nested", 9, nested)
        .tensor("a", &[3, 2], 0, f32_bytes(&[1., 2., 3., 4., 5., 6.]))
        .tensor("b", &[5], 1, vec![7; 10])
        .tensor("q", &[64], 8, q8)
}

/// f16 1.0.
fn half_one() -> [u8; 2] {
    0x3c00u16.to_le_bytes()
}

#[test]
fn reads_every_metadata_type_in_v2_and_v3() {
    for version in [2, 3] {
        let path = write(&format!("all-v{version}.gguf"), &sample(version).bytes());
        let file = GgufFile::open(&path).unwrap();
        assert_eq!(file.version(), version);
        assert_eq!(file.path(), path);
        let get = |k: &str| file.get(k).unwrap().clone();
        assert_eq!(get("t.u8"), MetaValue::U8(200));
        assert_eq!(get("t.i8"), MetaValue::I8(-3));
        assert_eq!(get("t.u16"), MetaValue::U16(60000));
        assert_eq!(get("t.i16"), MetaValue::I16(-300));
        assert_eq!(get("t.u32"), MetaValue::U32(4_000_000_000));
        assert_eq!(get("t.i32"), MetaValue::I32(-70000));
        assert_eq!(get("t.f32"), MetaValue::F32(1.5));
        assert_eq!(get("t.bool"), MetaValue::Bool(true));
        assert_eq!(get("t.string").as_str(), Some("llama"));
        assert_eq!(get("t.u64").as_u64(), Some(u64::MAX));
        assert_eq!(get("t.i64"), MetaValue::I64(-5));
        assert_eq!(get("t.i64").as_u64(), None, "negative is not a u64");
        assert_eq!(get("t.i64").as_f64(), Some(-5.0));
        assert_eq!(get("t.f64").as_f64(), Some(0.25));
        assert_eq!(get("t.u16").as_u64(), Some(60000));
        assert_eq!(get("t.string").as_u64(), None);
        let strings: Vec<_> = get("t.strings")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(strings, ["a", "ü", ""]);
        assert_eq!(
            get("t.i32s"),
            MetaValue::Array(vec![MetaValue::I32(-7), MetaValue::I32(9)])
        );
        assert_eq!(
            get("t.nested"),
            MetaValue::Array(vec![
                MetaValue::Array(vec![MetaValue::U8(1)]),
                MetaValue::Array(vec![MetaValue::U8(2)]),
            ])
        );
        assert_eq!(file.metadata().len(), 15);

        let names: Vec<_> = file.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "q"]);
        let a = file.tensor("a").unwrap();
        assert_eq!(
            (a.dims.clone(), a.ggml_type, a.n_elements()),
            (vec![3, 2], GgmlType::F32, 6)
        );
        assert_eq!(
            file.tensor_bytes(a).unwrap(),
            f32_bytes(&[1., 2., 3., 4., 5., 6.])
        );
        let b = file.tensor("b").unwrap();
        assert_eq!((b.ggml_type, b.offset), (GgmlType::F16, 32));
        assert_eq!(file.tensor_bytes(b).unwrap(), [7; 10]);
        let q = file.tensor("q").unwrap();
        assert_eq!((q.ggml_type, q.offset), (GgmlType::Q8_0, 64));
        let qb = file.tensor_bytes(q).unwrap();
        assert_eq!(qb.len(), 68);
        assert_eq!(&qb[34..36], half_one());
        assert_eq!(qb[67], 32);
        assert!(file.tensor("missing").is_none());
        assert!(file.data_start().is_multiple_of(32));
    }
}

#[test]
fn honours_general_alignment() {
    let mut w = Writer::new(3)
        .tensor("x", &[1], 0, f32_bytes(&[42.0]))
        .tensor("y", &[2], 0, f32_bytes(&[-1.0, 2.0]));
    w.alignment = Some(256);
    let path = write("align.gguf", &w.bytes());
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.data_start(), 256);
    let y = file.tensor("y").unwrap();
    assert_eq!(y.offset, 256);
    assert_eq!(file.tensor_bytes(y).unwrap(), f32_bytes(&[-1.0, 2.0]));

    // An offset that is not a multiple of the alignment is rejected when opening.
    let mut bytes = w.bytes();
    let pos = find(&bytes, &string("y")) + 9 + 4 + 8 + 4;
    bytes[pos..pos + 8].copy_from_slice(&100u64.to_le_bytes());
    let err = GgufFile::open(write("misaligned.gguf", &bytes)).unwrap_err();
    assert!(err.to_string().contains("tensor `y`: offset 100"), "{err}");

    let mut bad = Writer::new(3);
    bad.alignment = Some(24);
    let err = GgufFile::open(write("bad-align.gguf", &bad.bytes())).unwrap_err();
    assert!(err.to_string().contains("general.alignment"), "{err}");
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

fn gguf_problem(result: Result<GgufFile, ModelError>) -> String {
    match result {
        Err(ModelError::Gguf { problem, .. }) => problem,
        Err(other) => panic!("expected a Gguf error, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn every_prefix_opens_or_fails_cleanly() {
    let bytes = sample(3).bytes();
    let header_end = {
        let file = GgufFile::open(write("full.gguf", &bytes)).unwrap();
        file.data_start() as usize
    };
    let mut opened = 0;
    for len in 0..bytes.len() {
        let path = write("prefix.gguf", &bytes[..len]);
        match GgufFile::open(&path) {
            Ok(file) => {
                opened += 1;
                // Only a complete header opens; tensor data past the end is an error that
                // names the tensor.
                assert!(len + 31 >= header_end, "opened at {len} < {header_end}");
                let q = file.tensor("q").unwrap();
                let err = file.tensor_bytes(q).unwrap_err().to_string();
                assert!(
                    err.contains("tensor `q`") && err.contains("truncated"),
                    "{err}"
                );
            }
            Err(ModelError::Gguf { .. }) => {}
            Err(other) => panic!("prefix {len}: unexpected error kind {other}"),
        }
    }
    assert!(opened > 0, "a file cut after its header must open");
}

#[test]
fn corrupt_bytes_never_panic() {
    // Flip every byte of the header to a few hostile values: counts become huge, types unknown,
    // lengths run past the end. Every outcome must be Ok or a typed error.
    let bytes = sample(2).bytes();
    let header_end = GgufFile::open(write("c.gguf", &bytes))
        .unwrap()
        .data_start() as usize;
    for pos in 0..header_end {
        for value in [0x00, 0x7f, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[pos] = value;
            let path = write("corrupt.gguf", &corrupt);
            if let Ok(file) = GgufFile::open(&path) {
                for info in file.tensors() {
                    let _ = file.tensor_bytes(info);
                }
            }
        }
    }
}

#[test]
fn rejects_bad_headers_with_messages() {
    assert!(gguf_problem(GgufFile::open(write("empty.gguf", b""))).contains("too short"));
    assert!(gguf_problem(GgufFile::open(write("magic.gguf", b"GGML\x03\0\0\0"))).contains("magic"));
    let mut v1 = Writer::new(3).bytes();
    v1[4] = 1;
    assert!(gguf_problem(GgufFile::open(write("v1.gguf", &v1))).contains("version 1"));
    let mut big_endian = Writer::new(3).bytes();
    big_endian[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(gguf_problem(GgufFile::open(write("be.gguf", &big_endian))).contains("big-endian"));

    // A count of 2^60 metadata entries must fail before allocating anything.
    let mut huge = Writer::new(3).bytes();
    huge[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(gguf_problem(GgufFile::open(write("huge.gguf", &huge))).contains("metadata count"));

    let dup = Writer::new(3)
        .kv("k", 0, vec![1])
        .kv("k", 0, vec![2])
        .bytes();
    assert!(
        gguf_problem(GgufFile::open(write("dup.gguf", &dup)))
            .contains("duplicate metadata key `k`")
    );

    let dup_t = Writer::new(3)
        .tensor("t", &[1], 0, f32_bytes(&[1.0]))
        .tensor("t", &[1], 0, f32_bytes(&[1.0]))
        .bytes();
    assert!(
        gguf_problem(GgufFile::open(write("dupt.gguf", &dup_t)))
            .contains("duplicate tensor name `t`")
    );

    let five = Writer::new(3)
        .tensor("t5", &[1, 1, 1, 1, 1], 0, f32_bytes(&[1.0]))
        .bytes();
    assert!(gguf_problem(GgufFile::open(write("dims.gguf", &five))).contains("5 dimensions"));

    let bad_utf8 = Writer::new(3).kv("s", 8, {
        let mut v = 2u64.to_le_bytes().to_vec();
        v.extend([0xc3, 0x28]);
        v
    });
    assert!(gguf_problem(GgufFile::open(write("utf8.gguf", &bad_utf8.bytes()))).contains("UTF-8"));

    // Arrays nested beyond any real file's depth are refused instead of recursing.
    let mut deep = Vec::new();
    for _ in 0..10 {
        deep.extend(9u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    deep.extend(0u32.to_le_bytes());
    deep.extend(0u64.to_le_bytes());
    let deep = Writer::new(3).kv("deep", 9, deep).bytes();
    assert!(gguf_problem(GgufFile::open(write("deep.gguf", &deep))).contains("nested"));
}

#[test]
fn tensor_bytes_names_the_tensor_on_unsupported_types() {
    // Type 10 is Q2_K, which this crate does not dequantise; 16 elements are not a whole
    // Q8_0 block.
    let w = Writer::new(3)
        .tensor("odd", &[256], 10, vec![0; 84])
        .tensor("partial", &[16], 8, vec![0; 34]);
    let file = GgufFile::open(write("types.gguf", &w.bytes())).unwrap();
    let err = file
        .tensor_bytes(file.tensor("odd").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tensor `odd`") && err.contains("unsupported type"),
        "{err}"
    );
    let err = file
        .tensor_bytes(file.tensor("partial").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tensor `partial`") && err.contains("whole number"),
        "{err}"
    );
}

#[test]
fn opens_the_real_smollm2_checkpoint() {
    let Some(path) = assets::asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(
        file.get("general.architecture").and_then(MetaValue::as_str),
        Some("llama")
    );
    assert_eq!(
        file.get("llama.block_count").and_then(MetaValue::as_u64),
        Some(30)
    );
    assert_eq!(
        file.get("llama.embedding_length")
            .and_then(MetaValue::as_u64),
        Some(576)
    );
    assert_eq!(file.tensors().len(), 272);
    let count = |ty| file.tensors().iter().filter(|t| t.ggml_type == ty).count();
    assert_eq!(
        (
            count(GgmlType::Q4_1),
            count(GgmlType::F32),
            count(GgmlType::Q8_0)
        ),
        (210, 61, 1)
    );
    let embd = file.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.dims, [576, 49152]);
    assert!(file.tensor("output.weight").is_none(), "tied embeddings");
    // Every tensor's data lies inside the file, and the last one ends at its end (give or take
    // padding).
    let mut end = 0;
    for info in file.tensors() {
        let bytes = file.tensor_bytes(info).unwrap();
        end = end.max(file.data_start() + info.offset + bytes.len() as u64);
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(
        end <= len && len - end < 32,
        "data ends at {end}, file has {len} bytes"
    );
}

#[test]
fn opens_the_header_only_r1_distill_blob() {
    let Some(path) = assets::asset("r1-distill-qwen-7b/header.gguf") else {
        return;
    };
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(
        file.get("general.architecture").and_then(MetaValue::as_str),
        Some("qwen2")
    );
    assert_eq!(
        file.get("qwen2.block_count").and_then(MetaValue::as_u64),
        Some(28)
    );
    let tokens = file
        .get("tokenizer.ggml.tokens")
        .and_then(MetaValue::as_array)
        .unwrap();
    assert!(tokens.len() > 150_000, "{} tokens", tokens.len());
    assert!(!file.tensors().is_empty());
    // The weights were cut off: reading any tensor's data is a typed error naming it.
    let last = file.tensors().last().unwrap();
    let err = file.tensor_bytes(last).unwrap_err().to_string();
    assert!(
        err.contains(&last.name) && err.contains("truncated"),
        "{err}"
    );
}
