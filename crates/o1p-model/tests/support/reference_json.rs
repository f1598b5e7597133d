//! Reading the reference fixtures (`reference.json`) that the Python scripts write.

use serde_json::Value;

/// A JSON array of integers (token ids).
#[allow(dead_code)]
pub fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// The numbers of a JSON value, nested arrays flattened and nulls (a first log-prob) skipped.
#[allow(dead_code)]
pub fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        _ => Vec::new(),
    }
}
