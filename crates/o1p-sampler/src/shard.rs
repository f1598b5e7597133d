//! Pre-sampling on several machines: a run split into N disjoint shards, each sampled into
//! its own directory ([`PresampleConfig::shard`](crate::presample::PresampleConfig::shard)),
//! then merged ([`merge_shards`]) into one pool byte-identical to an unsharded run.
//!
//! # The split
//! The problems that pass the checks, in input order, are cut into *blocks* of
//! [`block_problems`]`(k, batch_size)` problems, the fewest whole problems whose `k` samples
//! fill whole canonical batches (`batch_size / gcd(k, batch_size)`: 1 when the batch size
//! divides K, 4 for K = 3 and batches of 4); block `b` goes to shard `b mod N`. Round robin
//! spreads easy and hard problems (datasets are often sorted by level) over the shards, and
//! whole blocks mean every shard generates exactly the canonical batches an unsharded run
//! generates, so even a generator whose samples depend on their batch (the native one:
//! padding changes the arithmetic) gives each sample the same bits. Each sample's seed is
//! [`sample_seed`](crate::presample::sample_seed) of the problem id and sample index, as
//! unsharded.
//!
//! The split depends on the problem list, the model's limits (a problem skipped as too long
//! is skipped by every shard), K and the batch size; so a shard's fingerprint records
//! `shard = "I/N"` and `batch_size` (which an unsharded run may change on resume, a shard
//! may not), and every shard of one run must be made with the same flags but `--shard`.
//!
//! # The merge
//! [`merge_shards`] checks that the directories are the N shards of one run (same
//! fingerprint but the `shard` field, each index once, none missing, each finished: its
//! `reference_stats.json`, written last, is there and `samples.jsonl` holds exactly the K
//! samples of each problem it lists, in order), then writes, each atomically:
//! `fingerprint.json` (the shards' without `shard` and `batch_size`: an unsharded run's),
//! `presample.json` (the shards' own, which must agree), `samples.jsonl` (the shards'
//! record lines, copied byte for byte, blocks back in round-robin order: problems in input
//! order, samples 0..K) and `reference_stats.json` (recomputed from the records, as the
//! driver does), last, as the mark of a finished pool. The result equals, byte for byte, an
//! unsharded run with the same settings and batch size (`fingerprint.json` too when the
//! shards were given the same `--model`/`--data` paths as that run: the paths are recorded
//! for messages, not compared). A rerun of the merge into the same directory rewrites the
//! same files; a directory holding another run is refused like a presample rerun.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use o1p_data::fingerprint::{FINGERPRINT_FILE, FieldChange, RunFingerprint};
use o1p_data::{DataError, SampleRecord, write_atomic, write_atomic_with, write_json_atomic};
use o1p_reward::{ReferenceStats, SampleOutcome};

use crate::presample::{
    ProblemReference, SAMPLES_FILE, SETTINGS_FILE, STATS_FILE, Settings, outcome,
};

/// The fingerprint field naming a shard (`"I/N"`).
pub const SHARD_FIELD: &str = "shard";
/// The fingerprint field of a shard's batch size (the split depends on it).
pub const BATCH_SIZE_FIELD: &str = "batch_size";

/// Shard `index` of `count` (`I/N` on the command line, `I` from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Which part, `0..count`.
    pub index: usize,
    /// Into how many parts the problems are split (at least 1).
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count`; `Err` says what is wrong (`count` 0, `index >= count`).
    ///
    /// ```
    /// use o1p_sampler::shard::Shard;
    /// assert_eq!(Shard::new(1, 3).unwrap().to_string(), "1/3");
    /// assert!(Shard::new(3, 3).is_err());
    /// assert!(Shard::new(0, 0).is_err());
    /// assert_eq!("2/4".parse::<Shard>().unwrap(), Shard::new(2, 4).unwrap());
    /// assert!("x".parse::<Shard>().is_err());
    /// ```
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 {
            return Err("the shard count N must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "the shard index {index} must be below the count {count} (shards are numbered from 0)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether block `block` of the split (see the module docs) belongs to this shard.
    pub fn owns_block(&self, block: usize) -> bool {
        block % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, two decimal integers.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected I/N (shard I of N, I from 0, e.g. 0/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<usize>().map_err(|_| bad())
        };
        Shard::new(number(i)?, number(n)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Problems per block of the split: the fewest whole problems whose `k` samples each fill
/// whole canonical batches of `batch_size` (`batch_size / gcd(k, batch_size)`; 0s count as 1).
///
/// ```
/// use o1p_sampler::shard::block_problems;
/// assert_eq!(block_problems(16, 16), 1);
/// assert_eq!(block_problems(16, 4), 1);
/// assert_eq!(block_problems(3, 4), 4);
/// assert_eq!(block_problems(12, 16), 4);
/// ```
pub fn block_problems(k: usize, batch_size: usize) -> usize {
    let (k, b) = (k.max(1), batch_size.max(1));
    let (mut x, mut y) = (k, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    b / x
}

/// Why shard directories cannot be merged. Each names the directory concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// No directory was given.
    #[error("no shard directories to merge")]
    NoShards,
    /// The directory's fingerprint records no shard: an unsharded run or another step.
    #[error(
        "{dir}: not a pre-sampling shard ({FINGERPRINT_FILE} has no `{SHARD_FIELD}` field); only directories written by presample --shard I/N can be merged"
    )]
    NotAShard {
        /// The directory.
        dir: PathBuf,
    },
    /// The shard's run has not finished (or the directory holds no run at all).
    #[error(
        "{dir}: shard not finished: {reason}; rerun its presample command (same flags) to complete it, then merge"
    )]
    Incomplete {
        /// The directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Two directories hold the same shard.
    #[error("{second}: shard {shard} is given twice (also {first})")]
    Duplicate {
        /// The shard.
        shard: Shard,
        /// The directory that holds it first.
        first: PathBuf,
        /// The directory that holds it again.
        second: PathBuf,
    },
    /// Shards of splits into different numbers of parts.
    #[error(
        "{dir}: field {SHARD_FIELD}: shard {shard} is of a split into {} parts, but {reference} is shard {reference_shard} of {}",
        shard.count, reference_shard.count
    )]
    CountMismatch {
        /// The directory.
        dir: PathBuf,
        /// Its shard.
        shard: Shard,
        /// The directory compared with (the first given).
        reference: PathBuf,
        /// The shard there.
        reference_shard: Shard,
    },
    /// Shards of a split are missing.
    #[error(
        "shard(s) {} of {count} missing (given: {}); merge all {count} shards of the run",
        list(missing),
        list(given)
    )]
    Missing {
        /// The number of shards of the split.
        count: usize,
        /// The indices not given.
        missing: Vec<usize>,
        /// The indices given.
        given: Vec<usize>,
    },
    /// A shard made with other settings, other data or another model than the first.
    #[error(
        "{dir}: made with other settings or data than {reference} ({file}): {}",
        changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Mismatch {
        /// The directory.
        dir: PathBuf,
        /// The directory compared with (the first given).
        reference: PathBuf,
        /// The file compared.
        file: String,
        /// Every field that differs, reference -> this one.
        changes: Vec<FieldChange>,
    },
    /// A shard's files do not fit the split (edited, or from another split).
    #[error("{path}: {problem}")]
    Inconsistent {
        /// The file concerned.
        path: PathBuf,
        /// What does not fit.
        problem: String,
    },
    /// Reading a shard or writing the pool failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

fn list(indices: &[usize]) -> String {
    let parts: Vec<String> = indices.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

/// What [`merge_shards`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeSummary {
    /// Shards merged.
    pub shards: usize,
    /// Problems in the pool.
    pub problems: usize,
    /// Sample records in the pool.
    pub records: usize,
    /// The merged sample store.
    pub samples_path: PathBuf,
    /// The merged reference statistics.
    pub stats_path: PathBuf,
}

/// A checked, finished shard directory.
struct ShardDir {
    dir: PathBuf,
    shard: Shard,
    fingerprint: RunFingerprint,
    /// Its problems, in its (canonical) order.
    problems: Vec<String>,
    /// Each problem's gold answer and difficulty, as its `reference_stats.json` records them.
    facts: Vec<(Option<String>, Option<f64>)>,
    /// The outcomes of each problem's samples 0..K, in the same order.
    outcomes: Vec<Vec<SampleOutcome>>,
}

/// Merges the shard directories `dirs` (any order) into one pool in `out_dir`; see the
/// module docs for what is checked and written. Nothing is written unless every check
/// passes.
pub fn merge_shards(dirs: &[PathBuf], out_dir: &Path) -> Result<MergeSummary, MergeError> {
    let Some(first) = dirs.first() else {
        return Err(MergeError::NoShards);
    };
    let reference = read_fingerprint(first)?;
    let mut by_index: HashMap<usize, (PathBuf, RunFingerprint)> = HashMap::new();
    for dir in dirs {
        let fp = read_fingerprint(dir)?;
        if fp.1.count != reference.1.count {
            return Err(MergeError::CountMismatch {
                dir: dir.clone(),
                shard: fp.1,
                reference: first.clone(),
                reference_shard: reference.1,
            });
        }
        let changes = without_shard(&fp.0).changes(&without_shard(&reference.0));
        if !changes.is_empty() {
            return Err(MergeError::Mismatch {
                dir: dir.clone(),
                reference: first.clone(),
                file: FINGERPRINT_FILE.into(),
                changes,
            });
        }
        if let Some((earlier, _)) = by_index.get(&fp.1.index) {
            return Err(MergeError::Duplicate {
                shard: fp.1,
                first: earlier.clone(),
                second: dir.clone(),
            });
        }
        by_index.insert(fp.1.index, (dir.clone(), fp.0));
    }
    let count = reference.1.count;
    let missing: Vec<usize> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        let mut given: Vec<usize> = by_index.keys().copied().collect();
        given.sort_unstable();
        return Err(MergeError::Missing {
            count,
            missing,
            given,
        });
    }

    let (settings_bytes, settings) = read_settings(first)?;
    for dir in dirs {
        let (_, other) = read_settings(dir)?;
        let changes = value_changes(&settings, &other);
        if !changes.is_empty() {
            return Err(MergeError::Mismatch {
                dir: dir.clone(),
                reference: first.clone(),
                file: SETTINGS_FILE.into(),
                changes,
            });
        }
    }
    let k: usize = serde_json::from_value::<Settings>(settings.clone())
        .map_err(|e| DataError::Json {
            path: first.join(SETTINGS_FILE),
            line: e.line(),
            message: format!("not pre-sampling settings: {e}"),
        })?
        .k;
    if k == 0 {
        return Err(MergeError::Inconsistent {
            path: first.join(SETTINGS_FILE),
            problem: "k is 0".into(),
        });
    }
    let batch_size: usize = reference
        .0
        .fields
        .get(BATCH_SIZE_FIELD)
        .and_then(|b| b.parse().ok())
        .filter(|&b| b > 0)
        .ok_or_else(|| MergeError::Inconsistent {
            path: first.join(FINGERPRINT_FILE),
            problem: format!("no valid `{BATCH_SIZE_FIELD}` field beside `{SHARD_FIELD}`"),
        })?;

    let mut shards = Vec::with_capacity(count);
    for index in 0..count {
        let (dir, fingerprint) = by_index.remove(&index).expect("every index checked");
        shards.push(read_shard(dir, Shard { index, count }, fingerprint, k)?);
    }
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for s in &shards {
        for p in &s.problems {
            if let Some(other) = seen.insert(p, &s.dir) {
                return Err(MergeError::Inconsistent {
                    path: s.dir.join(STATS_FILE),
                    problem: format!(
                        "problem {p:?} is also in {}: the shards do not come from one split",
                        other.display()
                    ),
                });
            }
        }
    }
    let blocks = interleave(&shards, block_problems(k, batch_size))?;

    let mut merged = reference.0.clone();
    merged.remove(SHARD_FIELD).remove(BATCH_SIZE_FIELD);
    merged.sources = shards[0].fingerprint.sources.clone();
    let has_records = [SAMPLES_FILE, STATS_FILE, SETTINGS_FILE]
        .iter()
        .any(|f| out_dir.join(f).exists());
    merged.check_or_record(&out_dir.join(FINGERPRINT_FILE), has_records)?;
    std::fs::create_dir_all(out_dir).map_err(|error| DataError::Io {
        path: out_dir.to_path_buf(),
        error,
    })?;
    write_atomic(out_dir.join(SETTINGS_FILE), &settings_bytes)?;
    let samples_path = out_dir.join(SAMPLES_FILE);
    let records = copy_records(&shards, &blocks, k, &samples_path)?;
    let mut stats = Vec::new();
    for &(s, start, len) in &blocks {
        let shard = &shards[s];
        for p in start..start + len {
            if let Some(stats_of) = ReferenceStats::from_samples(&shard.outcomes[p]) {
                let (gold, difficulty) = shard.facts[p].clone();
                stats.push(ProblemReference {
                    problem_id: shard.problems[p].clone(),
                    gold,
                    difficulty,
                    stats: stats_of,
                });
            }
        }
    }
    let stats_path = out_dir.join(STATS_FILE);
    write_json_atomic(&stats_path, &stats)?;
    Ok(MergeSummary {
        shards: count,
        problems: stats.len(),
        records,
        samples_path,
        stats_path,
    })
}

/// The fingerprint of `dir` and its shard.
fn read_fingerprint(dir: &Path) -> Result<(RunFingerprint, Shard), MergeError> {
    if !dir.is_dir() {
        return Err(MergeError::Incomplete {
            dir: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    let path = dir.join(FINGERPRINT_FILE);
    let fp = RunFingerprint::read(&path)?.ok_or_else(|| MergeError::Incomplete {
        dir: dir.to_path_buf(),
        reason: format!("no {FINGERPRINT_FILE} (no pre-sampling run was started there)"),
    })?;
    let shard = fp
        .fields
        .get(SHARD_FIELD)
        .ok_or_else(|| MergeError::NotAShard {
            dir: dir.to_path_buf(),
        })?
        .parse::<Shard>()
        .map_err(|problem| MergeError::Inconsistent {
            path: path.clone(),
            problem: format!("field {SHARD_FIELD}: {problem}"),
        })?;
    Ok((fp, shard))
}

fn without_shard(fp: &RunFingerprint) -> RunFingerprint {
    let mut fp = fp.clone();
    fp.remove(SHARD_FIELD);
    fp
}

/// The bytes and JSON of `dir/presample.json`.
fn read_settings(dir: &Path) -> Result<(Vec<u8>, serde_json::Value), MergeError> {
    let path = dir.join(SETTINGS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MergeError::Incomplete {
                dir: dir.to_path_buf(),
                reason: format!("no {SETTINGS_FILE}"),
            });
        }
        Err(error) => return Err(DataError::Io { path, error }.into()),
    };
    let value = serde_json::from_slice(&bytes).map_err(|e| DataError::Json {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    Ok((bytes, value))
}

/// The top-level fields of two settings objects that differ, `a -> b`.
fn value_changes(a: &serde_json::Value, b: &serde_json::Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| FieldChange {
            field: n.clone(),
            old: a.get(n).map(ToString::to_string),
            new: b.get(n).map(ToString::to_string),
            old_source: None,
            new_source: None,
        })
        .collect()
}

/// Reads and checks a finished shard: its stats list the problems; its store holds exactly
/// samples 0..K of each, in that order, and nothing else.
fn read_shard(
    dir: PathBuf,
    shard: Shard,
    fingerprint: RunFingerprint,
    k: usize,
) -> Result<ShardDir, MergeError> {
    let stats_path = dir.join(STATS_FILE);
    let stats_bytes = match std::fs::read(&stats_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MergeError::Incomplete {
                dir,
                reason: format!("no {STATS_FILE} (written when every sample is on disk)"),
            });
        }
        Err(error) => {
            return Err(DataError::Io {
                path: stats_path,
                error,
            }
            .into());
        }
    };
    let stats: Vec<ProblemReference> =
        serde_json::from_slice(&stats_bytes).map_err(|e| DataError::Json {
            path: stats_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
    let facts: Vec<(Option<String>, Option<f64>)> = stats
        .iter()
        .map(|s| (s.gold.clone(), s.difficulty))
        .collect();
    let problems: Vec<String> = stats.into_iter().map(|s| s.problem_id).collect();
    let samples_path = dir.join(SAMPLES_FILE);
    let file = std::fs::File::open(&samples_path).map_err(|error| DataError::Io {
        path: samples_path.clone(),
        error,
    })?;
    let mut reader = BufReader::new(file);
    let expected = problems.len() * k;
    let mut outcomes: Vec<Vec<SampleOutcome>> = vec![Vec::with_capacity(k); problems.len()];
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|error| DataError::Io {
                path: samples_path.clone(),
                error,
            })?;
        if read == 0 {
            break;
        }
        let at = n + 1;
        if line.last() != Some(&b'\n') {
            return Err(MergeError::Incomplete {
                dir,
                reason: format!("{SAMPLES_FILE} ends in a torn line (line {at})"),
            });
        }
        if n >= expected {
            return Err(MergeError::Inconsistent {
                path: samples_path,
                problem: format!(
                    "line {at}: more records than the {expected} ({} problems x {k} samples) of {STATS_FILE}",
                    problems.len()
                ),
            });
        }
        let record: SampleRecord = serde_json::from_slice(&line).map_err(|e| DataError::Json {
            path: samples_path.clone(),
            line: at,
            message: e.to_string(),
        })?;
        let (p, j) = (n / k, n % k);
        if record.problem_id != problems[p] || record.sample_index != j {
            return Err(MergeError::Inconsistent {
                path: samples_path,
                problem: format!(
                    "line {at}: expected sample {j} of problem {:?} (the order of {STATS_FILE}), found sample {} of {:?}",
                    problems[p], record.sample_index, record.problem_id
                ),
            });
        }
        outcomes[p].push(outcome(
            record.num_tokens,
            record.correct,
            record.finish_reason,
        ));
        n += 1;
    }
    if n < expected {
        return Err(MergeError::Incomplete {
            dir,
            reason: format!(
                "{SAMPLES_FILE} holds {n} of the {expected} records ({} problems x {k} samples) that {STATS_FILE} lists",
                problems.len()
            ),
        });
    }
    Ok(ShardDir {
        dir,
        shard,
        fingerprint,
        problems,
        facts,
        outcomes,
    })
}

/// The blocks of the unsharded order: `(shard, first problem, problems)`, block `b` from
/// shard `b mod N`. Only the very last block may be short.
fn interleave(shards: &[ShardDir], block: usize) -> Result<Vec<(usize, usize, usize)>, MergeError> {
    let total: usize = shards
        .iter()
        .map(|s| s.problems.len().div_ceil(block))
        .sum();
    let mut next = vec![0usize; shards.len()];
    let mut blocks = Vec::with_capacity(total);
    for b in 0..total {
        let s = b % shards.len();
        let shard = &shards[s];
        let start = next[s];
        let len = shard.problems.len().saturating_sub(start).min(block);
        if len == 0 || (len < block && b + 1 != total) {
            return Err(MergeError::Inconsistent {
                path: shard.dir.join(STATS_FILE),
                problem: format!(
                    "shard {} holds {} problems, which does not fit a round-robin split into blocks of {block} with the other shards (a shard of another run or an edited file)",
                    shard.shard,
                    shard.problems.len()
                ),
            });
        }
        blocks.push((s, start, len));
        next[s] += len;
    }
    Ok(blocks)
}

/// Streams the record lines of `blocks` from the shards' stores into `path` (atomically);
/// returns the number of records.
fn copy_records(
    shards: &[ShardDir],
    blocks: &[(usize, usize, usize)],
    k: usize,
    path: &Path,
) -> Result<usize, MergeError> {
    let mut readers = Vec::with_capacity(shards.len());
    for s in shards {
        let p = s.dir.join(SAMPLES_FILE);
        let f = std::fs::File::open(&p).map_err(|error| DataError::Io { path: p, error })?;
        readers.push(BufReader::new(f));
    }
    let mut records = 0usize;
    write_atomic_with(path, |w: &mut dyn Write| {
        let mut line = Vec::new();
        for &(s, _, len) in blocks {
            for _ in 0..len * k {
                line.clear();
                if readers[s].read_until(b'\n', &mut line)? == 0 {
                    return Err(std::io::Error::other(
                        "a shard's samples.jsonl shrank during the merge",
                    ));
                }
                w.write_all(&line)?;
                records += 1;
            }
        }
        Ok(())
    })?;
    Ok(records)
}
