//! Finds the real checkpoints, tokenizers and reference files that `scripts/fetch-assets.sh`
//! downloads, so tests can use them without committing 100 MB of binaries.
//!
//! Include from any test crate with
//! `#[path = "<relative path to>/crates/o1p-model/tests/support/assets.rs"] mod assets;`.

use std::path::PathBuf;

/// The assets directory: `$O1P_ASSETS`, else `<workspace root>/.assets`.
#[allow(dead_code)]
pub fn assets_dir() -> PathBuf {
    match std::env::var_os("O1P_ASSETS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        // CARGO_MANIFEST_DIR is the package that includes this file: a crate two levels below
        // the workspace root, or the root package itself. The root is the one with Cargo.lock.
        _ => {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let root = manifest
                .ancestors()
                .find(|dir| dir.join("Cargo.lock").exists())
                .unwrap_or(&manifest);
            root.join(".assets")
        }
    }
}

/// The asset at `rel` (relative to [`assets_dir`]), or `None` when it is missing and the test
/// should be skipped. With `O1P_REQUIRE_ASSETS=1` (CI, after fetching) a missing asset panics
/// instead, so a broken fetch cannot turn into silently skipped tests.
#[allow(dead_code)]
pub fn asset(rel: &str) -> Option<PathBuf> {
    let path = assets_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("O1P_REQUIRE_ASSETS").as_deref() == Ok("1") {
        panic!(
            "asset {} is missing but O1P_REQUIRE_ASSETS=1; run scripts/fetch-assets.sh",
            path.display()
        );
    }
    eprintln!("skipping: {rel} not found; run scripts/fetch-assets.sh");
    None
}
