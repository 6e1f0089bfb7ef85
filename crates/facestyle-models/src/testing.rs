//! Helpers for tests that need the real model files.

use std::path::PathBuf;

use crate::cache::models_dir;

/// The cached model file `file_name`, or `None` (with a notice) when it is not there.
///
/// With `FACESTYLE_REQUIRE_MODELS=1` (as CI sets it) a missing file panics instead: tests that
/// need models must fail, not skip, where the models are supposed to be present.
pub fn cached_model(file_name: &str) -> Option<PathBuf> {
    let path = models_dir().join(file_name);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("FACESTYLE_REQUIRE_MODELS").as_deref() == Ok("1") {
        panic!(
            "{} not found and FACESTYLE_REQUIRE_MODELS=1: run `facestyle models fetch --all` first",
            path.display()
        );
    }
    eprintln!("skipping: {} not in the model cache (run `facestyle models fetch --all`)", path.display());
    None
}
