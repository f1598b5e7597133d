//! One scored response ([`EvalRecord`]) and its JSONL file format.
//!
//! A generation driver appends one line per finished response with [`JsonlWriter`]; after a
//! crash, [`JsonlWriter::resume`] reads what survived, cuts off a torn last line and reopens the
//! file for appending, and [`RecordKey`]s tell the driver which samples it can skip. Re-scoring
//! needs only [`read_jsonl`].

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// `finish_reason` of a response that ended with the end-of-sequence token.
pub const FINISH_EOS: &str = "eos";
/// `finish_reason` of a response that ended on a stop string.
pub const FINISH_STOP: &str = "stop";
/// `finish_reason` of a response cut off by the token cap (counts as truncated).
pub const FINISH_LENGTH: &str = "length";

/// One generated response, graded. The unit every metric in this crate is computed from.
///
/// `level`, `difficulty` and `reference_accuracy` describe the *problem* (copied onto each of
/// its samples) and feed the per-difficulty breakdown; all three are optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The benchmark's id of the problem.
    pub problem_id: String,
    /// Which of the problem's samples this is (0 for greedy decoding).
    pub sample_index: usize,
    /// Whether the extracted answer matched the gold answer.
    pub correct: bool,
    /// The extracted final answer, `None` if the response had none.
    pub extracted: Option<String>,
    /// Length of the response in tokens of the model's tokenizer.
    pub num_tokens: usize,
    /// Why generation stopped: [`FINISH_EOS`], [`FINISH_STOP`] or [`FINISH_LENGTH`].
    pub finish_reason: String,
    /// The benchmark's difficulty label, e.g. MATH's `"Level 3"`.
    #[serde(default)]
    pub level: Option<String>,
    /// A numeric difficulty, e.g. the synthetic task's number of steps.
    #[serde(default)]
    pub difficulty: Option<f64>,
    /// The reference model's mean accuracy on this problem (pre-sampling), in `[0, 1]`.
    #[serde(default)]
    pub reference_accuracy: Option<f64>,
}

impl EvalRecord {
    /// Whether the response hit the token cap.
    pub fn is_truncated(&self) -> bool {
        self.finish_reason == FINISH_LENGTH
    }

    /// The (problem, sample) pair identifying this record in a run.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            problem_id: self.problem_id.clone(),
            sample_index: self.sample_index,
        }
    }
}

/// Identifies one sample of one problem; a resumed run skips keys it already has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The problem.
    pub problem_id: String,
    /// The sample.
    pub sample_index: usize,
}

/// The keys present in `records`, for skipping finished work on resume.
pub fn completed_keys(records: &[EvalRecord]) -> HashSet<RecordKey> {
    records.iter().map(EvalRecord::key).collect()
}

/// Writes all `records` to `path` as JSONL (one JSON object per line), replacing the file.
///
/// ```
/// # use o1p_eval::{EvalRecord, read_jsonl, write_jsonl};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("run.jsonl");
/// let r = EvalRecord { problem_id: "p1".into(), sample_index: 0, correct: true,
///     extracted: Some("42".into()), num_tokens: 120, finish_reason: "eos".into(),
///     level: None, difficulty: None, reference_accuracy: None };
/// write_jsonl(&path, std::slice::from_ref(&r)).unwrap();
/// assert_eq!(read_jsonl(&path).unwrap(), vec![r]);
/// ```
pub fn write_jsonl(path: impl AsRef<Path>, records: &[EvalRecord]) -> Result<()> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| EvalError::io(path, e))?;
    let mut out = BufWriter::new(file);
    for record in records {
        write_line(&mut out, record, path)?;
    }
    out.flush().map_err(|e| EvalError::io(path, e))
}

/// Reads a JSONL file of records. A torn last line (one without its trailing newline that does
/// not parse, as a crash mid-write leaves) is dropped with a warning; any other bad line is an
/// error naming the file and line. Blank lines are skipped.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<EvalRecord>> {
    Ok(read_jsonl_detailed(path.as_ref())?.records)
}

/// What [`read_jsonl_detailed`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonlContents {
    /// The records that parsed, in file order.
    pub records: Vec<EvalRecord>,
    /// Byte length of the file up to and including the last good line's newline; a resumed
    /// writer truncates the file here before appending.
    pub valid_len: u64,
    /// 1-based line number of a dropped torn last line, if there was one.
    pub torn_line: Option<usize>,
}

/// Like [`read_jsonl`], but also says where the good part of the file ends.
pub fn read_jsonl_detailed(path: &Path) -> Result<JsonlContents> {
    let file = File::open(path).map_err(|e| EvalError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut valid_len = 0u64;
    let mut torn_line = None;
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| EvalError::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let terminated = buf.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            if terminated {
                valid_len += n as u64;
            }
            continue;
        }
        match serde_json::from_str::<EvalRecord>(text.trim_end()) {
            Ok(record) => {
                records.push(record);
                // An unterminated but complete last line is kept; the writer adds the newline.
                valid_len += n as u64;
            }
            // Only an unterminated line can be the remains of an interrupted write: a
            // complete line is written with its newline in the same call.
            Err(_) if !terminated => {
                tracing::warn!(
                    file = %path.display(),
                    line = line_no,
                    "dropping torn last line of JSONL file (interrupted write)"
                );
                torn_line = Some(line_no);
            }
            Err(source) => {
                return Err(EvalError::Json {
                    path: path.to_path_buf(),
                    line: line_no,
                    error: source,
                });
            }
        }
    }
    Ok(JsonlContents {
        records,
        valid_len,
        torn_line,
    })
}

/// Appends records to a JSONL file one line at a time, flushing each, so an interrupted
/// evaluation loses at most the line being written.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonlWriter {
    /// Creates (or empties) `path` for a fresh run.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| EvalError::io(&path, e))?;
        Ok(JsonlWriter {
            out: BufWriter::new(file),
            path,
        })
    }

    /// Reopens `path` to continue an interrupted run and returns the records already there.
    /// A torn last line is cut off the file (with a warning) so the next record starts on a
    /// line of its own. A missing file is a fresh run with no records.
    ///
    /// ```
    /// # use o1p_eval::{EvalRecord, JsonlWriter, completed_keys};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("run.jsonl");
    /// let (mut w, done) = JsonlWriter::resume(&path).unwrap();
    /// assert!(done.is_empty());
    /// # let r = EvalRecord { problem_id: "p1".into(), sample_index: 0, correct: true,
    /// #     extracted: Some("42".into()), num_tokens: 120, finish_reason: "eos".into(),
    /// #     level: None, difficulty: None, reference_accuracy: None };
    /// w.append(&r).unwrap();
    /// drop(w);
    /// let (_w, done) = JsonlWriter::resume(&path).unwrap();
    /// assert!(completed_keys(&done).contains(&r.key()));
    /// ```
    pub fn resume(path: impl AsRef<Path>) -> Result<(Self, Vec<EvalRecord>)> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Ok((Self::create(&path)?, Vec::new()));
        }
        let contents = read_jsonl_detailed(&path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| EvalError::io(&path, e))?;
        file.set_len(contents.valid_len)
            .map_err(|e| EvalError::io(&path, e))?;
        // A last record without its newline would otherwise be glued to the next one.
        if contents.valid_len > 0 {
            file.seek(SeekFrom::Start(contents.valid_len - 1))
                .map_err(|e| EvalError::io(&path, e))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last)
                .map_err(|e| EvalError::io(&path, e))?;
            file.seek(SeekFrom::End(0))
                .map_err(|e| EvalError::io(&path, e))?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(|e| EvalError::io(&path, e))?;
            }
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| EvalError::io(&path, e))?;
        Ok((
            JsonlWriter {
                out: BufWriter::new(file),
                path,
            },
            contents.records,
        ))
    }

    /// Appends one record as a line and flushes it to the OS.
    pub fn append(&mut self, record: &EvalRecord) -> Result<()> {
        write_line(&mut self.out, record, &self.path)?;
        self.out.flush().map_err(|e| EvalError::io(&self.path, e))
    }

    /// Appends any serialisable value as one line (the driver's record-plus-response lines,
    /// which [`read_jsonl`] reads back as records).
    pub(crate) fn append_serialized<T: Serialize>(&mut self, value: &T) -> Result<()> {
        write_line(&mut self.out, value, &self.path)?;
        self.out.flush().map_err(|e| EvalError::io(&self.path, e))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_line<T: Serialize + ?Sized>(out: &mut impl Write, record: &T, path: &Path) -> Result<()> {
    // Serialise first, then write line + newline in one call: a crash leaves either the whole
    // line or an unterminated fragment, which the reader recognises as torn.
    let mut line = serde_json::to_vec(record).map_err(|source| EvalError::Serialize {
        what: "record",
        error: source,
    })?;
    line.push(b'\n');
    out.write_all(&line).map_err(|e| EvalError::io(path, e))
}
