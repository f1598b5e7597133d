//! Atomic file replacement: readers see the old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::{DataError, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (so the rename
/// does not cross file systems), fsync, rename over `path`, then fsync of the directory so
/// the rename itself survives a crash.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("stats.json");
/// o1p_data::write_atomic(&p, b"{}").unwrap();
/// o1p_data::write_atomic(&p, b"[1]").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"[1]");
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes: for a file too large to hold in memory (a merged
/// sample store), streamed through a buffer into the temporary file. An error of `fill`
/// removes the temporary file and leaves `path` as it was.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("s.jsonl");
/// o1p_data::write_atomic_with(&p, |w| (0..3).try_for_each(|i| writeln!(w, "{i}"))).unwrap();
/// assert_eq!(std::fs::read_to_string(&p).unwrap(), "0\n1\n2\n");
/// let failed = o1p_data::write_atomic_with(&p, |_| Err(std::io::Error::other("no")));
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
/// ```
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        DataError::InvalidArgument(format!("not a file path: {}", path.display()))
    })?;
    // Unique per process and call, so concurrent writers never share a temporary file.
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::io(path, e));
    }
    sync_dir(&dir);
    Ok(())
}

/// Whether `name` is a temporary file name of [`write_atomic`] (`.NAME.tmp-PID-N`).
///
/// ```
/// assert!(o1p_data::is_atomic_temporary(".stats.json.tmp-4242-7"));
/// assert!(!o1p_data::is_atomic_temporary("stats.json"));
/// assert!(!o1p_data::is_atomic_temporary(".notes.tmp-draft"));
/// ```
pub fn is_atomic_temporary(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((stem, suffix)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    !stem.is_empty()
        && suffix
            .split_once('-')
            .is_some_and(|(pid, n)| digits(pid) && digits(n))
}

/// Removes the temporary files [`write_atomic`] left in `dir` when a process died (or the
/// disk filled up) between creating one and renaming it; returns the paths removed. Only
/// names of [`is_atomic_temporary`]'s form are touched. Call it only when no other process
/// writes into `dir` (at the start of a run that owns it). A missing `dir` is no error.
pub fn remove_stale_temporaries(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DataError::io(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && entry.file_name().to_str().is_some_and(is_atomic_temporary) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// [`write_atomic`] of `value` as pretty JSON with a trailing newline.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("x.json");
/// o1p_data::write_json_atomic(&p, &serde_json::json!({"a": 1})).unwrap();
/// assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\n  \"a\": 1\n}\n");
/// ```
pub fn write_json_atomic<T: Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| DataError::InvalidArgument(format!("cannot serialize: {e}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Makes a rename durable. Directories cannot be opened or synced on every platform (not on
/// Windows, not on some network file systems); the data itself is already synced, so a
/// failure here is only logged.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory fsync failed");
    }
    #[cfg(not(unix))]
    let _ = dir;
}
