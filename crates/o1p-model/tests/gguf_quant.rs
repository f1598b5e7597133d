//! Dequantisation against llama.cpp's own gguf-py (`gguf.quants.dequantize`) on the committed
//! fixtures of tests/fixtures/gguf_quant (made by xtask/python/make_gguf_quant_fixtures.py):
//! random blocks of every supported type and real Q4_1 / Q8_0 blocks of SmolLM2-135M.
//!
//! The comparison is bitwise (`f32::to_bits`): gguf-py computes in f32 with the same operation
//! order (product of scale and quant, then one add or subtract, no fused multiply-add), so any
//! difference at all is a bug, not rounding.

use std::path::{Path, PathBuf};

use o1p_model::gguf::{GgmlType, dequantize};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_quant")
}

fn ggml_type(name: &str) -> GgmlType {
    match name {
        "F32" => GgmlType::F32,
        "F16" => GgmlType::F16,
        "BF16" => GgmlType::BF16,
        "Q8_0" => GgmlType::Q8_0,
        "Q4_0" => GgmlType::Q4_0,
        "Q4_1" => GgmlType::Q4_1,
        "Q4_K" => GgmlType::Q4K,
        "Q6_K" => GgmlType::Q6K,
        other => panic!("fixture names unknown type {other}"),
    }
}

#[test]
fn every_case_is_bit_identical_to_gguf_py() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir().join("cases.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    let mut types_seen = std::collections::BTreeSet::new();
    let mut real = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ty = ggml_type(case["type"].as_str().unwrap());
        let n = case["n"].as_u64().unwrap() as usize;
        let raw = std::fs::read(dir().join(format!("{name}.bin"))).unwrap();
        let expected: Vec<u32> = std::fs::read(dir().join(format!("{name}.f32")))
            .unwrap()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(expected.len(), n, "{name}");
        let got = dequantize(ty, &raw, n).unwrap();
        let mismatches: Vec<(usize, f32, f32)> = got
            .iter()
            .zip(&expected)
            .enumerate()
            .filter(|(_, (g, e))| g.to_bits() != **e)
            .map(|(i, (g, e))| (i, *g, f32::from_bits(*e)))
            .take(5)
            .collect();
        assert!(
            mismatches.is_empty(),
            "{name}: first mismatches (index, ours, gguf-py): {mismatches:?}"
        );
        types_seen.insert(ty.name());
        real += usize::from(name.starts_with("smollm2"));
    }
    assert_eq!(types_seen.len(), 8, "every supported type: {types_seen:?}");
    assert!(real >= 2, "real SmolLM2 blocks are part of the fixture");
}

#[test]
fn a_truncated_buffer_is_an_error() {
    let raw = std::fs::read(dir().join("random_q4_k.bin")).unwrap();
    let err = dequantize(GgmlType::Q4K, &raw[..raw.len() - 1], 2048).unwrap_err();
    assert!(err.to_string().contains("Q4_K"), "{err}");
}
