//! The GGUF container: header, metadata key/values and the tensor-info table, over a
//! memory-mapped file.
//!
//! Layout (little-endian, v2 and v3; v1 used 32-bit counts and is rejected):
//!
//! ```text
//! "GGUF" | version u32 | n_tensors u64 | n_kv u64
//! n_kv × (key: string, value_type u32, value)
//! n_tensors × (name: string, n_dims u32, dims u64 × n_dims, ggml_type u32, offset u64)
//! padding to `general.alignment` (default 32) | tensor data
//! ```
//!
//! A string is a u64 byte length followed by UTF-8 bytes; an array is an element type u32, a u64
//! length and the elements. Every count in the file is checked against the bytes left before
//! anything is allocated, so a corrupt or truncated header gives [`ModelError::Gguf`], never a
//! panic or a huge allocation. Tensor data is only looked at by [`GgufFile::tensor_bytes`], which
//! is why a file cut off after its header (a tokenizer-only blob) still opens.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::GgmlType;
use crate::error::{ModelError, Result};

/// The file's first four bytes.
const MAGIC: &[u8; 4] = b"GGUF";
/// Tensor data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// GGML tensors have at most four dimensions (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are rejected (no real file nests at all; this bounds the
/// parser's recursion on hostile input).
const MAX_ARRAY_DEPTH: usize = 4;

/// One metadata value. The variant is the GGUF value type, so that a value can be written back
/// or reported exactly as stored.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 6.
    F32(f32),
    /// Type 12.
    F64(f64),
    /// Type 7 (one byte, 0 or 1).
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: elements of one type.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value of any integer kind that is non-negative, as u64 (writers differ in the integer
    /// type they use for the same key, e.g. `u32` or `i32` for token ids).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value of any numeric kind, as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v.into()),
            MetaValue::F64(v) => Some(v),
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            MetaValue::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    /// The string, for [`MetaValue::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value, for [`MetaValue::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, for [`MetaValue::Array`].
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// One entry of the tensor-info table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// llama.cpp's tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` is the innermost (contiguous) one, so a PyTorch
    /// `[out, in]` matrix is stored as `[in, out]`.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Byte offset of the data, relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (the product of `dims`; checked for overflow when the file is opened).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// An open GGUF file: its parsed header, with tensor data read lazily from the memory map.
///
/// ```no_run
/// let file = o1p_model::gguf::GgufFile::open("model.gguf")?;
/// let arch = file.get("general.architecture").and_then(|v| v.as_str());
/// for info in file.tensors() {
///     let bytes = file.tensor_bytes(info)?;
///     println!("{} {:?} {} bytes ({arch:?})", info.name, info.dims, bytes.len());
/// }
/// # Ok::<(), o1p_model::ModelError>(())
/// ```
pub struct GgufFile {
    path: PathBuf,
    mmap: Mmap,
    version: u32,
    metadata: BTreeMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens and parses the header of `path`.
    ///
    /// Fails with [`ModelError::Io`] when the file cannot be read and [`ModelError::Gguf`] when
    /// the header is not valid GGUF v2 / v3 (bad magic, truncated, duplicate key or tensor name,
    /// bad alignment or offset, too many dimensions).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let handle = File::open(&path).map_err(|e| ModelError::io(&path, e))?;
        let len = handle
            .metadata()
            .map_err(|e| ModelError::io(&path, e))?
            .len();
        if len < 4 {
            return Err(gguf_error(
                &path,
                format!("file is {len} bytes, too short for GGUF"),
            ));
        }
        // SAFETY: the map is read-only and private to this value. As with every mmap reader
        // (the safetensors loader does the same), a file truncated by another process while it
        // is mapped is outside what we can guard against.
        let mmap = unsafe { Mmap::map(&handle) }.map_err(|e| ModelError::io(&path, e))?;
        let header = parse_header(&mmap).map_err(|problem| gguf_error(&path, problem))?;
        Ok(GgufFile {
            path,
            mmap,
            version: header.version,
            metadata: header.metadata,
            by_name: header
                .tensors
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.clone(), i))
                .collect(),
            tensors: header.tensors,
            data_start: header.data_start,
        })
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every metadata key/value, sorted by key.
    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        &self.metadata
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// The tensor-info table, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// Byte offset of the data section in the file (the end of the header, aligned).
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The raw bytes of a tensor: exactly `ggml_type.bytes_for(n_elements)` bytes.
    ///
    /// Fails with [`ModelError::Gguf`] naming the tensor when its type cannot be read, its
    /// element count is not a whole number of blocks, or the file ends before its data does.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8]> {
        let problem =
            |msg: String| gguf_error(&self.path, format!("tensor `{}`: {msg}", info.name));
        let n = usize::try_from(info.n_elements()).map_err(|_| {
            problem(format!(
                "{} elements do not fit in memory",
                info.n_elements()
            ))
        })?;
        let (block, _) = info
            .ggml_type
            .block_geometry()
            .ok_or_else(|| problem(format!("unsupported type {}", info.ggml_type.name())))?;
        let size = info.ggml_type.bytes_for(n).ok_or_else(|| {
            problem(format!(
                "{n} elements is not a whole number of {}-element {} blocks",
                block,
                info.ggml_type.name()
            ))
        })?;
        let start = self.data_start.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(size as u64));
        match (start, end) {
            (Some(start), Some(end)) if end <= self.mmap.len() as u64 => {
                Ok(&self.mmap[start as usize..end as usize])
            }
            _ => Err(problem(format!(
                "data needs bytes {}..{} (data section at {} + offset {}), but the file has {} \
                 bytes (truncated?)",
                self.data_start.saturating_add(info.offset),
                self.data_start
                    .saturating_add(info.offset)
                    .saturating_add(size as u64),
                self.data_start,
                info.offset,
                self.mmap.len()
            ))),
        }
    }
}

fn gguf_error(path: &Path, problem: impl Into<String>) -> ModelError {
    ModelError::Gguf {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// What [`parse_header`] reads.
struct Header {
    version: u32,
    metadata: BTreeMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
    data_start: u64,
}

/// Parses everything up to the data section. Errors are messages; the caller adds the path.
fn parse_header(bytes: &[u8]) -> std::result::Result<Header, String> {
    let mut r = Reader { bytes, pos: 0 };
    let magic = r.take(4, || "magic".into())?;
    if magic != MAGIC {
        return Err(format!("bad magic {magic:02x?}, expected \"GGUF\""));
    }
    let version = r.u32(|| "version".into())?;
    match version {
        2 | 3 => {}
        1 => return Err("version 1 is not supported (32-bit counts); convert to v3".into()),
        // A big-endian file reads its small version number byte-swapped.
        v if v != 0 && v.swap_bytes() <= 3 => {
            return Err(format!(
                "version {v:#x} looks like a big-endian GGUF, which is not supported"
            ));
        }
        v => return Err(format!("unsupported version {v} (supported: 2, 3)")),
    }
    let n_tensors = r.u64(|| "tensor count".into())?;
    let n_kv = r.u64(|| "metadata count".into())?;

    // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes.
    r.check_count(n_kv, 13, || "metadata count".into())?;
    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = r.string(|| format!("metadata key #{i}"))?;
        let ty = r.u32(|| format!("type of `{key}`"))?;
        let value = r.value(ty, &key, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(format!("duplicate metadata key `{key}`"));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a.is_power_of_two() => a,
            _ => return Err(format!("general.alignment is {v:?}, not a power of two")),
        },
    };

    // Each tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
    r.check_count(n_tensors, 24, || "tensor count".into())?;
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut names = std::collections::HashSet::new();
    for i in 0..n_tensors {
        let name = r.string(|| format!("name of tensor #{i}"))?;
        let what = || format!("tensor `{name}`");
        let n_dims = r.u32(what)?;
        if n_dims > MAX_DIMS {
            return Err(format!(
                "{}: {n_dims} dimensions (at most {MAX_DIMS})",
                what()
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(what)?);
        }
        if dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(format!("{}: element count of {dims:?} overflows", what()));
        }
        let ggml_type = GgmlType::from_id(r.u32(what)?);
        let offset = r.u64(what)?;
        if !offset.is_multiple_of(alignment) {
            return Err(format!(
                "{}: offset {offset} is not a multiple of the alignment {alignment}",
                what()
            ));
        }
        if !names.insert(name.clone()) {
            return Err(format!("duplicate tensor name `{name}`"));
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }

    let end = r.pos as u64;
    let data_start = end.div_ceil(alignment) * alignment;
    Ok(Header {
        version,
        metadata,
        tensors,
        data_start,
    })
}

/// A cursor over the header bytes whose reads fail with a message naming what was being read.
///
/// `what` is a closure so that the message is only formatted on failure (a vocabulary array has
/// 150k strings).
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(
        &mut self,
        n: usize,
        what: impl Fn() -> String,
    ) -> std::result::Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "truncated header: {} needs {n} bytes at offset {}, file has {}",
                what(),
                self.pos,
                self.bytes.len()
            ));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(
        &mut self,
        what: impl Fn() -> String,
    ) -> std::result::Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: impl Fn() -> String) -> std::result::Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl Fn() -> String) -> std::result::Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Fails unless `count` items of at least `min_size` bytes each can fit in what is left, so
    /// a corrupt count cannot make us allocate (or loop) beyond the file's size.
    fn check_count(
        &self,
        count: u64,
        min_size: u64,
        what: impl Fn() -> String,
    ) -> std::result::Result<(), String> {
        if count.saturating_mul(min_size) > self.remaining() as u64 {
            return Err(format!(
                "{} {count} cannot fit in the {} bytes left at offset {} (corrupt or truncated)",
                what(),
                self.remaining(),
                self.pos
            ));
        }
        Ok(())
    }

    fn string(&mut self, what: impl Fn() -> String) -> std::result::Result<String, String> {
        let len = self.u64(&what)?;
        self.check_count(len, 1, || format!("{}: string length", what()))?;
        let bytes = self.take(len as usize, &what)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("{}: invalid UTF-8: {e}", what()))
    }

    /// Reads one value of GGUF type `ty` for metadata key `key`.
    fn value(
        &mut self,
        ty: u32,
        key: &str,
        depth: usize,
    ) -> std::result::Result<MetaValue, String> {
        let what = || format!("value of `{key}`");
        Ok(match ty {
            0 => MetaValue::U8(self.array::<1>(what)?[0]),
            1 => MetaValue::I8(i8::from_le_bytes(self.array(what)?)),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(what)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(what)?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.array(what)?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(what)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(what)?)),
            7 => match self.array::<1>(what)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                b => return Err(format!("{}: bool byte {b} is neither 0 nor 1", what())),
            },
            8 => MetaValue::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "{}: arrays nested deeper than {MAX_ARRAY_DEPTH}",
                        what()
                    ));
                }
                let item_ty = self.u32(what)?;
                let len = self.u64(what)?;
                let min_size = match item_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => return Err(format!("{}: unknown array element type {other}", what())),
                };
                self.check_count(len, min_size, || format!("{}: array length", what()))?;
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(item_ty, key, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(u64::from_le_bytes(self.array(what)?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(what)?)),
            other => return Err(format!("{}: unknown value type {other}", what())),
        })
    }
}
