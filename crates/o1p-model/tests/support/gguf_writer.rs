//! A minimal GGUF writer for tests, independent of the reader under test: it lays out the bytes
//! by hand from the format description, so a reader bug cannot cancel out a writer bug.

#![allow(dead_code)]

use std::path::PathBuf;

/// A minimal GGUF writer, independent of the reader under test.
pub struct Writer {
    pub version: u32,
    pub alignment: Option<u64>,
    pub kv: Vec<(String, u32, Vec<u8>)>,
    pub tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

pub fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

impl Writer {
    pub fn new(version: u32) -> Self {
        Writer {
            version,
            alignment: None,
            kv: Vec::new(),
            tensors: Vec::new(),
        }
    }

    pub fn kv(mut self, key: &str, ty: u32, value: Vec<u8>) -> Self {
        self.kv.push((key.into(), ty, value));
        self
    }

    pub fn tensor(mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) -> Self {
        self.tensors.push((name.into(), dims.to_vec(), ty, data));
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let align = self.alignment.unwrap_or(32);
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        let n_kv = self.kv.len() + usize::from(self.alignment.is_some());
        out.extend((n_kv as u64).to_le_bytes());
        if let Some(a) = self.alignment {
            out.extend(string("general.alignment"));
            out.extend(4u32.to_le_bytes());
            out.extend((a as u32).to_le_bytes());
        }
        for (key, ty, value) in &self.kv {
            out.extend(string(key));
            out.extend(ty.to_le_bytes());
            out.extend(value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, dims, ty, data) in &self.tensors {
            out.extend(string(name));
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).div_ceil(align) * align;
        }
        while !(out.len() as u64).is_multiple_of(align) {
            out.push(0);
        }
        let data_start = out.len() as u64;
        for ((_, _, _, data), off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend(data);
        }
        out
    }
}

pub fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("o1p-gguf-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A string value (type 8).
pub fn str_value(s: &str) -> (u32, Vec<u8>) {
    (8, string(s))
}

/// An array of strings (type 9 of type 8).
pub fn str_array(items: &[&str]) -> (u32, Vec<u8>) {
    let mut out = 8u32.to_le_bytes().to_vec();
    out.extend((items.len() as u64).to_le_bytes());
    for s in items {
        out.extend(string(s));
    }
    (9, out)
}

/// An array of i32 (type 9 of type 5).
pub fn i32_array(items: &[i32]) -> (u32, Vec<u8>) {
    let mut out = 5u32.to_le_bytes().to_vec();
    out.extend((items.len() as u64).to_le_bytes());
    for v in items {
        out.extend(v.to_le_bytes());
    }
    (9, out)
}

/// A u32 value (type 4).
pub fn u32_value(v: u32) -> (u32, Vec<u8>) {
    (4, v.to_le_bytes().to_vec())
}

/// A bool value (type 7).
pub fn bool_value(v: bool) -> (u32, Vec<u8>) {
    (7, vec![u8::from(v)])
}

impl Writer {
    /// Adds a key with a `(type, bytes)` value from the helpers above.
    pub fn with(self, key: &str, (ty, value): (u32, Vec<u8>)) -> Self {
        self.kv(key, ty, value)
    }
}
