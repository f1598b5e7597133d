//! Run fingerprints: what made the files of a run directory, so a rerun can tell a resume
//! from a different run.
//!
//! Every resumable step (pre-sampling, training in both modes and its baselines, evaluation)
//! builds a [`RunFingerprint`] of everything that decides its result — its settings, the
//! content of its input files, the model — and calls [`RunFingerprint::check_or_record`]
//! before it writes anything:
//!
//! - no records yet: the fingerprint is written (a fresh run, or one that stopped before
//!   writing anything);
//! - the same fingerprint: the run resumes (or reuses what is done);
//! - another fingerprint: [`DataError::FingerprintMismatch`], naming each changed field
//!   `old -> new`; nothing is written;
//! - records but no fingerprint file: [`DataError::MissingFingerprint`] (the records' origin
//!   is unknown, so they are neither reused nor overwritten).
//!
//! The way out is the step's `--fresh` flag (which removes the step's own files with
//! [`remove_outputs`]) or another `--out`.
//!
//! # The file
//! `fingerprint.json` ([`FINGERPRINT_FILE`]; evaluation keeps one per results file,
//! `<label>/<benchmark>.fingerprint.json`), pretty JSON:
//!
//! ```json
//! {
//!   "version": 1,
//!   "fields": { "k": "4", "model": "sha256:…", "problems": "16 problems, sha256:…", "step": "presample" },
//!   "sources": { "model": "models/base", "problems": "data/train.jsonl" }
//! }
//! ```
//!
//! `fields` are compared; `sources` (the paths the hashed inputs were read from) are shown in
//! messages only, so a moved but unchanged model or data file still resumes. Settings are
//! flattened into dotted names (`optim.lr`) and rendered as compact JSON (strings bare, an f32
//! widened by serde as its shortest f32 digits: `0.8`, not `0.800000011920929`).
//!
//! # Hashes
//! - A file's content ([`file_hash`]): SHA-256 of every byte, `sha256:<64 hex>`.
//! - Problems ([`problems_hash`]): their count and the SHA-256 of their canonical JSON, one
//!   problem per line in the given order (id, question, gold, difficulty, level, subject,
//!   source), so a changed question or gold, or a subset, changes it.
//! - A model ([`model_hash`]) must stay cheap for a 7B checkpoint (15-30 GB). A `.gguf` (or any
//!   single) file, or, for a directory, every `*.json`, `*.jinja` and `*.safetensors` file at its
//!   top level (config, generation config, tokenizer files, weights, shard index), by name.
//!   A file of at most [`FULL_HASH_LIMIT`] bytes (16 MiB: configs, tokenizers) is hashed
//!   whole; a larger one by its size, its head (the first 1 MiB, or the whole safetensors
//!   header when that is longer) and [`SAMPLED_BLOCKS`] blocks of [`SAMPLED_BLOCK`] bytes
//!   (16 x 64 KiB) at evenly spread offsets, the first at 0 and the last ending at the end of
//!   the file: about 2 MiB read per weights file. A change of size, of the header (tensor
//!   names, shapes, dtypes, offsets, GGUF metadata) or of a byte inside a sampled block is
//!   detected; **a change elsewhere inside the tensor data of a large file is not** (a
//!   fine-tuned model exported under the same name changes nearly every block, so it is).
//!   Measured on the 2-core development machine, a directory with a 2 GiB safetensors file:
//!   36 ms with a cold page cache, 2-7 ms warm; a full SHA-256 of the same file took 5-7 s.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::problem::Problem;

/// The file name of a run directory's fingerprint.
pub const FINGERPRINT_FILE: &str = "fingerprint.json";
/// Version of the file format and of the hashing scheme; a change is reported as a change of
/// the field `version`.
pub const FINGERPRINT_VERSION: u32 = 1;
/// Files up to this size are hashed whole by [`model_hash`].
pub const FULL_HASH_LIMIT: u64 = 16 << 20;
/// Blocks sampled from a larger file by [`model_hash`].
pub const SAMPLED_BLOCKS: u64 = 16;
/// Size of a sampled block.
pub const SAMPLED_BLOCK: u64 = 64 << 10;
/// Head of a large file hashed whole (extended to a longer safetensors header).
const HEAD: u64 = 1 << 20;
/// Longest safetensors header read (the format allows 100 MB).
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Everything that decides the result of a run: named fields (compared) and where the hashed
/// inputs came from (shown only). See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFingerprint {
    /// [`FINGERPRINT_VERSION`] when written.
    pub version: u32,
    /// Field name -> canonical value.
    pub fields: BTreeMap<String, String>,
    /// Field name -> the path its value was hashed from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, String>,
}

impl Default for RunFingerprint {
    fn default() -> Self {
        RunFingerprint {
            version: FINGERPRINT_VERSION,
            fields: BTreeMap::new(),
            sources: BTreeMap::new(),
        }
    }
}

/// One field that differs between the recorded and the requested fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// The recorded value (`None`: the field was not recorded).
    pub old: Option<String>,
    /// The requested value (`None`: this run has no such field).
    pub new: Option<String>,
    /// Where the recorded value was hashed from, if known.
    pub old_source: Option<String>,
    /// Where the requested value was hashed from, if known.
    pub new_source: Option<String>,
}

impl fmt::Display for FieldChange {
    /// `field (source): old -> new`, long hashes shortened.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        match (&self.old_source, &self.new_source) {
            (Some(a), Some(b)) if a != b => write!(f, " ({a} -> {b})")?,
            (_, Some(s)) | (Some(s), None) => write!(f, " ({s})")?,
            (None, None) => {}
        }
        let show = |v: &Option<String>| v.as_deref().map_or("(none)".into(), short);
        write!(f, ": {} -> {}", show(&self.old), show(&self.new))
    }
}

/// A value for a message: hashes cut to 16 hex digits, long settings to 120 characters.
fn short(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("sha256:") {
        out.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..hex.min(16)]);
        if hex > 16 {
            out.push('…');
        }
        rest = &rest[hex..];
    }
    out.push_str(rest);
    if out.chars().count() > 120 {
        out = out.chars().take(119).collect::<String>() + "…";
    }
    out
}

impl RunFingerprint {
    /// An empty fingerprint of the step `step` (e.g. `"presample"`), kept as the field `step`.
    pub fn new(step: &str) -> Self {
        let mut fp = RunFingerprint::default();
        fp.set("step", step);
        fp
    }

    /// Sets a field.
    pub fn set(&mut self, field: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.fields.insert(field.into(), value.into());
        self
    }

    /// Sets a field whose value was hashed from `source` (shown in messages, not compared).
    pub fn set_from(
        &mut self,
        field: impl Into<String>,
        value: impl Into<String>,
        source: &Path,
    ) -> &mut Self {
        let field = field.into();
        self.sources
            .insert(field.clone(), source.display().to_string());
        self.set(field, value)
    }

    /// Removes a field (and its source).
    pub fn remove(&mut self, field: &str) -> &mut Self {
        self.fields.remove(field);
        self.sources.remove(field);
        self
    }

    /// Adds the fields and sources of `other` (its `step` aside), replacing same-named ones.
    pub fn extend(&mut self, other: &RunFingerprint) -> &mut Self {
        for (k, v) in &other.fields {
            if k != "step" {
                self.fields.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &other.sources {
            self.sources.insert(k.clone(), v.clone());
        }
        self
    }

    /// Adds `value`'s serialization as fields: objects are flattened into dotted names under
    /// `prefix` (none when empty), strings kept bare, anything else compact JSON.
    ///
    /// ```
    /// let mut fp = o1p_data::fingerprint::RunFingerprint::new("demo");
    /// fp.settings("", &serde_json::json!({"optim": {"lr": 1e-4}, "backend": "flex", "stop": ["a"]}))
    ///     .unwrap();
    /// assert_eq!(fp.fields["optim.lr"], "0.0001");
    /// assert_eq!(fp.fields["backend"], "flex");
    /// assert_eq!(fp.fields["stop"], r#"["a"]"#);
    /// fp.settings("", &serde_json::json!({"temperature": 0.8f32, "top_p": 1.0f32})).unwrap();
    /// assert_eq!((fp.fields["temperature"].as_str(), fp.fields["top_p"].as_str()), ("0.8", "1.0"));
    /// ```
    pub fn settings<T: Serialize + ?Sized>(
        &mut self,
        prefix: &str,
        value: &T,
    ) -> Result<&mut Self> {
        let value = serde_json::to_value(value)
            .map_err(|e| DataError::InvalidArgument(format!("cannot serialize settings: {e}")))?;
        flatten(prefix, &value, &mut self.fields);
        Ok(self)
    }

    /// The fields that differ from `old` (the recorded fingerprint), in name order; a field
    /// present on one side only counts. `version` counts as a field.
    pub fn changes(&self, old: &RunFingerprint) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        if old.version != self.version {
            changes.push(FieldChange {
                field: "version".into(),
                old: Some(old.version.to_string()),
                new: Some(self.version.to_string()),
                old_source: None,
                new_source: None,
            });
        }
        let names: std::collections::BTreeSet<&String> =
            old.fields.keys().chain(self.fields.keys()).collect();
        for name in names {
            let (a, b) = (old.fields.get(name), self.fields.get(name));
            if a != b {
                changes.push(FieldChange {
                    field: name.clone(),
                    old: a.cloned(),
                    new: b.cloned(),
                    old_source: old.sources.get(name).cloned(),
                    new_source: self.sources.get(name).cloned(),
                });
            }
        }
        changes
    }

    /// Reads the fingerprint file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<RunFingerprint>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| DataError::Json {
                    path: path.to_path_buf(),
                    line: e.line(),
                    message: format!("not a run fingerprint: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DataError::io(path, e)),
        }
    }

    /// Compares this fingerprint with the one recorded at `path`, before the run writes
    /// anything else. With `has_records` (the run's own files are there):
    /// - recorded and equal: `Ok` (the file is left as it is);
    /// - recorded and different: [`DataError::FingerprintMismatch`] listing every change;
    /// - not recorded: [`DataError::MissingFingerprint`].
    ///
    /// Without records it is written atomically (the parent directory created), replacing a
    /// different one: a run that stopped before writing anything has nothing to protect.
    ///
    /// ```
    /// use o1p_data::fingerprint::RunFingerprint;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("fingerprint.json");
    /// let mut fp = RunFingerprint::new("demo");
    /// fp.set("lr", "0.001");
    /// fp.check_or_record(&path, false).unwrap(); // recorded
    /// fp.check_or_record(&path, true).unwrap(); // same: resume
    /// fp.set("lr", "0.002");
    /// let err = fp.check_or_record(&path, true).unwrap_err().to_string();
    /// assert!(err.contains("lr: 0.001 -> 0.002") && err.contains("--fresh"), "{err}");
    /// ```
    pub fn check_or_record(&self, path: &Path, has_records: bool) -> Result<()> {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        if !has_records {
            // Even an unreadable file: nothing depends on it yet.
            if RunFingerprint::read(path).ok().flatten().as_ref() != Some(self) {
                std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
                crate::write_json_atomic(path, self)?;
            }
            return Ok(());
        }
        match RunFingerprint::read(path)? {
            Some(old) => {
                let changes = self.changes(&old);
                if changes.is_empty() {
                    Ok(())
                } else {
                    Err(DataError::FingerprintMismatch {
                        dir,
                        file: path.to_path_buf(),
                        changes,
                    })
                }
            }
            None => Err(DataError::MissingFingerprint {
                dir,
                file: path.to_path_buf(),
            }),
        }
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        // An f32 setting arrives widened to f64 (0.8 -> 0.800000011920929): shown as the f32
        // it was. An f64 that is not exactly an f32 (lr 1e-4) keeps its own digits.
        serde_json::Value::Number(n)
            if n.as_f64()
                .is_some_and(|x| !n.is_i64() && !n.is_u64() && f64::from(x as f32) == x) =>
        {
            let x = n.as_f64().unwrap_or_default() as f32;
            out.insert(prefix.to_string(), format!("{x:?}"));
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The message of [`DataError::FingerprintMismatch`].
pub(crate) fn mismatch_message(dir: &Path, file: &Path, changes: &[FieldChange]) -> String {
    let mut s = format!(
        "{}: this directory holds a run made with other inputs or settings (recorded in {}):",
        dir.display(),
        file.display()
    );
    for c in changes {
        s.push_str(&format!("\n  {c}"));
    }
    s.push_str(&format!(
        "\nrerun with --fresh to start over in {}, or choose another --out",
        dir.display()
    ));
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of every byte of the file at `path`, as `sha256:<64 hex>`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("a.txt");
/// std::fs::write(&p, b"abc").unwrap();
/// assert_eq!(o1p_data::fingerprint::file_hash(&p).unwrap(),
///     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn file_hash(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| DataError::io(path, e))?;
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}

/// The count and SHA-256 of `problems` in the given order (see the module docs), as
/// `<n> problems, sha256:<64 hex>`.
pub fn problems_hash(problems: &[Problem]) -> String {
    let mut hasher = Sha256::new();
    for p in problems {
        // Problem serializes infallibly (strings, numbers, options).
        hasher.update(serde_json::to_vec(p).unwrap_or_default());
        hasher.update(b"\n");
    }
    format!(
        "{} problems, sha256:{}",
        problems.len(),
        hex(&hasher.finalize())
    )
}

/// The cheap hash of a model: a `.gguf` (or any) file, or a Hugging Face directory's
/// `*.json`, `*.jinja` and `*.safetensors` files (see the module docs for what is read), as
/// `sha256:<64 hex>`. Errors on a missing path or a directory without such files.
pub fn model_hash(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    if path.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| DataError::io(path, e))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
            .filter(|name| {
                !name.starts_with('.')
                    && [".json", ".jinja", ".safetensors"]
                        .iter()
                        .any(|ext| name.ends_with(ext))
            })
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(DataError::InvalidArgument(format!(
                "{}: no model files (*.json, *.safetensors) to fingerprint",
                path.display()
            )));
        }
        for name in names {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update(sampled_file_digest(&path.join(&name))?);
        }
    } else {
        hasher.update(sampled_file_digest(path)?);
    }
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}

/// SHA-256 of a small file, or of size + head + sampled blocks of a large one.
fn sampled_file_digest(path: &Path) -> Result<[u8; 32]> {
    let io = |e| DataError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut hasher = Sha256::new();
    if size <= FULL_HASH_LIMIT {
        std::io::copy(&mut file, &mut hasher).map_err(io)?;
        return Ok(hasher.finalize().into());
    }
    hasher.update(b"sampled-v1");
    hasher.update(size.to_le_bytes());
    let mut head_len = HEAD;
    if path.extension().is_some_and(|e| e == "safetensors") {
        let mut len = [0u8; 8];
        file.read_exact(&mut len).map_err(io)?;
        let header = u64::from_le_bytes(len);
        if header <= MAX_SAFETENSORS_HEADER && header + 8 <= size {
            head_len = head_len.max(header + 8);
        }
    }
    let mut read_at = |offset: u64, len: u64, hasher: &mut Sha256| -> Result<()> {
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact(&mut buf).map_err(io)?;
        hasher.update(&buf);
        Ok(())
    };
    read_at(0, head_len.min(size), &mut hasher)?;
    // Block i starts at i/15 of the way to the last block start (exact: the last block ends
    // at the end of the file).
    let span = size - SAMPLED_BLOCK;
    for i in 0..SAMPLED_BLOCKS {
        let offset = (u128::from(span) * u128::from(i) / u128::from(SAMPLED_BLOCKS - 1)) as u64;
        read_at(offset, SAMPLED_BLOCK, &mut hasher)?;
    }
    Ok(hasher.finalize().into())
}

/// Removes the entries named `names` (files or directories) from `dir`, with the temporary
/// files [`crate::write_atomic`] may have left for them, and returns what was removed.
/// Nothing else in `dir` is touched: a run's `--fresh` removes its own files only.
pub fn remove_outputs(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut remove = |path: PathBuf| -> Result<()> {
        let result = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => Err(e),
        };
        result.map_err(|e| DataError::io(&path, e))?;
        removed.push(path);
        Ok(())
    };
    for name in names {
        remove(dir.join(name))?;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let ours = names
                .iter()
                .any(|n| file.starts_with(&format!(".{n}.tmp-")));
            if ours {
                remove(entry.path())?;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_hashes_only() {
        let h = format!("3 problems, sha256:{}", "ab".repeat(32));
        assert_eq!(short(&h), "3 problems, sha256:abababababababab…");
        assert_eq!(short("0.001"), "0.001");
    }

    #[test]
    fn sources_are_shown_not_compared() {
        let mut a = RunFingerprint::new("x");
        a.set_from("model", "sha256:00", Path::new("m1"));
        let mut b = RunFingerprint::new("x");
        b.set_from("model", "sha256:00", Path::new("m2"));
        assert!(b.changes(&a).is_empty());
        b.set_from("model", "sha256:11", Path::new("m2"));
        let c = b.changes(&a);
        assert_eq!(c[0].to_string(), "model (m1 -> m2): sha256:00 -> sha256:11");
    }

    #[test]
    fn changes_list_changed_added_and_removed_fields() {
        let mut old = RunFingerprint::new("train");
        old.set("optim.lr", "0.001")
            .set("seed", "1")
            .set("gone", "x");
        let mut new = RunFingerprint::new("train");
        new.set("optim.lr", "0.002")
            .set("seed", "1")
            .set("added", "y");
        let shown: Vec<String> = new.changes(&old).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "added: (none) -> y",
                "gone: x -> (none)",
                "optim.lr: 0.001 -> 0.002"
            ]
        );
        let mut other_version = old.clone();
        other_version.version = 0;
        assert_eq!(old.changes(&other_version)[0].field, "version");
    }

    #[test]
    fn check_or_record_refuses_without_writing_and_requires_the_file_next_to_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join(FINGERPRINT_FILE);
        let mut fp = RunFingerprint::new("presample");
        fp.set_from("problems", "2 problems, sha256:aa", Path::new("a.jsonl"));
        // Records but no fingerprint: an error, and nothing is written.
        let err = fp.check_or_record(&path, true).unwrap_err();
        assert!(matches!(err, DataError::MissingFingerprint { .. }), "{err}");
        assert!(err.to_string().contains("--fresh"), "{err}");
        assert!(!path.exists());
        // A fresh directory records it; the same fingerprint then passes.
        fp.check_or_record(&path, false).unwrap();
        let recorded = std::fs::read(&path).unwrap();
        fp.check_or_record(&path, true).unwrap();
        let mut changed = fp.clone();
        changed.set_from("problems", "1 problems, sha256:bb", Path::new("a.jsonl"));
        match changed.check_or_record(&path, true).unwrap_err() {
            DataError::FingerprintMismatch {
                changes, dir: d, ..
            } => {
                assert_eq!(d, path.parent().unwrap());
                assert_eq!(changes.len(), 1);
                assert_eq!(
                    changes[0].to_string(),
                    "problems (a.jsonl): 2 problems, sha256:aa -> 1 problems, sha256:bb"
                );
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            recorded,
            "a refused run wrote"
        );
        std::fs::write(&path, b"{").unwrap();
        let err = fp.check_or_record(&path, true).unwrap_err().to_string();
        assert!(err.contains(FINGERPRINT_FILE), "{err}");
        // Without records there is nothing to protect: the new fingerprint replaces it.
        changed.check_or_record(&path, false).unwrap();
        assert_eq!(RunFingerprint::read(&path).unwrap(), Some(changed));
    }

    /// A 20 MiB "safetensors" file: an 8-byte header length, a JSON header, then data.
    fn big_weights(path: &Path) -> Vec<u8> {
        let header = br#"{"w":{"dtype":"F32","shape":[5242000],"data_offsets":[0,20968000]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend((0..20 << 20).map(|i: u32| (i % 251) as u8));
        std::fs::write(path, &bytes).unwrap();
        bytes
    }

    #[test]
    fn model_hash_sees_sampled_blocks_size_header_and_config_but_not_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path();
        std::fs::write(model.join("config.json"), b"{\"hidden_size\": 8}").unwrap();
        std::fs::write(model.join("README.md"), b"notes").unwrap();
        let weights = model.join("model.safetensors");
        let bytes = big_weights(&weights);
        let size = bytes.len() as u64;
        let base = model_hash(model).unwrap();
        assert_eq!(model_hash(model).unwrap(), base, "not deterministic");
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bytes.clone();
            f(&mut b);
            std::fs::write(&weights, &b).unwrap();
            let h = model_hash(model).unwrap();
            std::fs::write(&weights, &bytes).unwrap();
            h
        };
        // One byte inside a sampled block (block 7 starts at 7/15 of the span).
        let block7 = ((size - SAMPLED_BLOCK) * 7 / 15 + 100) as usize;
        assert_ne!(with(&|b| b[block7] ^= 1), base, "sampled block");
        assert_ne!(with(&|b| b[size as usize - 1] ^= 1), base, "last byte");
        assert_ne!(with(&|b| b[20] ^= 1), base, "header");
        assert_ne!(with(&|b| b.push(0)), base, "size");
        // Documented blind spot: a byte between sampled blocks, past the 1 MiB head.
        let between = ((size - SAMPLED_BLOCK) * 7 / 15 - 1000) as usize;
        assert!(between as u64 > HEAD);
        assert_eq!(with(&|b| b[between] ^= 1), base, "outside the samples");
        // Small files are hashed whole; files that are not model files are ignored.
        std::fs::write(model.join("config.json"), b"{\"hidden_size\": 9}").unwrap();
        assert_ne!(model_hash(model).unwrap(), base, "config");
        std::fs::write(model.join("config.json"), b"{\"hidden_size\": 8}").unwrap();
        std::fs::write(model.join("README.md"), b"other notes").unwrap();
        assert_eq!(model_hash(model).unwrap(), base, "README");
        // A single file (GGUF) is hashed the same way.
        assert!(model_hash(&weights).unwrap().starts_with("sha256:"));
        assert!(model_hash(&model.join("missing.gguf")).is_err());
    }

    #[test]
    fn remove_outputs_removes_only_the_named_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["samples.jsonl", ".samples.jsonl.tmp-1-2", "notes.txt"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        std::fs::create_dir_all(d.join("checkpoint/model")).unwrap();
        let removed = remove_outputs(d, &["samples.jsonl", "checkpoint", "absent"]).unwrap();
        assert_eq!(removed.len(), 3);
        let left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["notes.txt"]);
    }
}
