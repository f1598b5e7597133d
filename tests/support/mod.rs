//! Helpers shared by the root integration tests.

use std::path::{Path, PathBuf};

/// An example binary that cargo built next to the running test
/// (`target/<profile>/deps/<test>` -> `target/<profile>/examples/<name>`). `cargo test`
/// builds examples before it runs tests; a single `--test` run may need
/// `cargo build --release --example <name>` first.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| {
            profile
                .join("examples")
                .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
        })
        .expect("a target directory");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release --example {name}`",
        path.display()
    );
    path
}

/// Runs `cmd` to its end and returns its output; fails the test with the command and its stderr
/// when it exits non-zero.
#[allow(dead_code)]
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let output = cmd.output().expect("start an example binary");
    assert!(
        output.status.success(),
        "{cmd:?} exited with {}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
