//! An append-only JSONL store that survives crashes.
//!
//! Each record is serialized to one line and written with a single `write_all` on a file
//! opened in append mode, so a crash can only leave the *last* line incomplete. Opening the
//! store again drops that torn line (with a warning) and truncates the file back to the end
//! of the last complete record, so later appends start on a fresh line and no earlier record
//! is ever lost. A malformed line anywhere else cannot come from a crash of this writer, so
//! it is an error naming the file and line rather than something to paper over.
//!
//! One writer at a time: two processes appending to the same file are not coordinated.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DataError, ItemError, Location, Result};
use crate::sample::SampleRecord;

/// How hard [`JsonlStore::append`] pushes each record to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Hand each record to the operating system (survives a killed process).
    #[default]
    Flush,
    /// Also `fsync` each record (survives a power loss; much slower per record).
    Fsync,
}

/// The store of pre-sampled solutions.
pub type SampleStore = JsonlStore<SampleRecord>;

/// An append-only file of JSON records, one per line.
///
/// ```
/// use o1p_data::JsonlStore;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("s.jsonl");
/// let (mut store, old) = JsonlStore::<u32>::open(&path).unwrap();
/// assert!(old.is_empty());
/// store.append(&1).unwrap();
/// store.append(&2).unwrap();
/// drop(store);
/// // A crash mid-write leaves a torn last line; reopening drops it and keeps the rest.
/// std::fs::write(&path, b"1\n2\n{\"x").unwrap();
/// let (mut store, old) = JsonlStore::<u32>::open(&path).unwrap();
/// assert_eq!(old, vec![1, 2]);
/// store.append(&3).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n3\n");
/// ```
#[derive(Debug)]
pub struct JsonlStore<T> {
    path: PathBuf,
    file: File,
    durability: Durability,
    len: usize,
    dropped_bytes: u64,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize + DeserializeOwned> JsonlStore<T> {
    /// Opens (creating if needed) the store at `path` for appending, repairing a torn last
    /// line, and returns the records already in it. Each record is flushed on append.
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Vec<T>)> {
        Self::open_with(path, Durability::default())
    }

    /// [`JsonlStore::open`] with a chosen [`Durability`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<(Self, Vec<T>)> {
        let path = path.as_ref().to_path_buf();
        let io = |e| DataError::io(&path, e);
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let bytes = std::fs::read(&path).map_err(io)?;
        let parsed = parse(&bytes, &path)?;
        let dropped_bytes = (bytes.len() - parsed.keep_len) as u64;
        if dropped_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                line = parsed.torn_line,
                bytes = dropped_bytes,
                "dropping a torn last line (interrupted write)"
            );
            // A separate write handle: append-only handles may not truncate (Windows).
            let trunc = OpenOptions::new().write(true).open(&path).map_err(io)?;
            trunc.set_len(parsed.keep_len as u64).map_err(io)?;
            trunc.sync_all().map_err(io)?;
        }
        if parsed.needs_newline {
            // The last record is complete but its newline was never written.
            file.write_all(b"\n").map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let store = JsonlStore {
            path,
            file,
            durability,
            len: parsed.records.len(),
            dropped_bytes,
            _record: PhantomData,
        };
        Ok((store, parsed.records))
    }

    /// Reads the records of the file at `path` without opening it for writing; a torn last
    /// line is skipped (with a warning) but not removed.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<T>> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let parsed = parse(&bytes, path)?;
        if parsed.keep_len < bytes.len() {
            tracing::warn!(path = %path.display(), line = parsed.torn_line, "ignoring a torn last line");
        }
        Ok(parsed.records)
    }

    /// Appends one record as one line and pushes it to the OS (and disk, with
    /// [`Durability::Fsync`]) before returning.
    pub fn append(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| DataError::InvalidArgument(format!("cannot serialize record: {e}")))?;
        line.push(b'\n');
        // One write_all of the whole line: a crash can tear only this line.
        let io = |e| DataError::io(&self.path, e);
        self.file.write_all(&line).map_err(io)?;
        self.file.flush().map_err(io)?;
        if self.durability == Durability::Fsync {
            self.file.sync_data().map_err(io)?;
        }
        self.len += 1;
        Ok(())
    }

    /// Number of records in the file.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file holds no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a torn last line removed when the store was opened (0 if none).
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }
}

struct Parsed<T> {
    records: Vec<T>,
    /// Bytes to keep: everything up to the end of the last good record (and its newline).
    keep_len: usize,
    /// The last good record lacks its newline.
    needs_newline: bool,
    /// 1-based line of the dropped torn line, if any.
    torn_line: Option<usize>,
}

fn parse<T: DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<Parsed<T>> {
    let mut out = Parsed {
        records: Vec::new(),
        keep_len: 0,
        needs_newline: false,
        torn_line: None,
    };
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let (end, terminated) = match bytes[start..].iter().position(|b| *b == b'\n') {
            Some(i) => (start + i, true),
            None => (bytes.len(), false),
        };
        let next = if terminated { end + 1 } else { end };
        let line = &bytes[start..end];
        // The last line is the only one a crash of this writer can tear; a bad line with only
        // whitespace after it counts as last.
        let is_last = bytes[next..].iter().all(u8::is_ascii_whitespace);
        if line.iter().all(u8::is_ascii_whitespace) {
            if !is_last {
                start = next;
                continue;
            }
            break;
        }
        match decode::<T>(line) {
            Ok(record) => {
                out.records.push(record);
                out.keep_len = next;
                out.needs_newline = !terminated;
            }
            Err(_) if is_last => {
                out.torn_line = Some(line_no);
                break;
            }
            Err(source) => {
                return Err(DataError::Item {
                    path: path.to_path_buf(),
                    location: Location::Line(line_no),
                    error: source,
                });
            }
        }
        start = next;
    }
    Ok(out)
}

fn decode<T: DeserializeOwned>(line: &[u8]) -> std::result::Result<T, ItemError> {
    let text = std::str::from_utf8(line).map_err(|_| ItemError::InvalidUtf8)?;
    serde_json::from_str(text).map_err(|e| ItemError::MalformedJson(e.to_string()))
}
