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
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
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
