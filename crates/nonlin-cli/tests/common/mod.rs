//! Helpers shared by the end-to-end tests of the `nonlin` binary (each test file is its own
//! crate and takes what it uses with `mod common;`).
#![allow(dead_code)]

use std::process::{Command, Output};

/// The binary under test, with no data folder from the environment and the plain (CI) progress
/// output.
pub fn nonlin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nonlin"));
    cmd.env_remove("NONLIN_DATA").env("CI", "1");
    cmd
}

/// Runs `cmd` and fails the test, showing both streams, unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("nonlin runs");
    assert!(
        out.status.success(),
        "nonlin failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
