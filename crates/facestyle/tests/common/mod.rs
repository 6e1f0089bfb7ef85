//! Shared by the binary's integration tests: running `facestyle` and the committed photos.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn facestyle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facestyle")).args(args).output().expect("run facestyle")
}

/// A photo from the face crate's fixtures.
pub fn photo(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../facestyle-face/tests/fixtures/photos")
        .join(name)
        .display()
        .to_string()
}
