//! Where fetched models live, and whether a cached file can be trusted.
//!
//! `FACESTYLE_MODELS` names the directory; otherwise `$XDG_CACHE_HOME/facestyle/models`, then
//! `$HOME/.cache/facestyle/models`. A file is only ever used after its sha256 matches the pin.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{ModelError, Result};
use crate::registry::{ModelFile, ModelSpec};

/// The model cache directory (not created here).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FACESTYLE_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    cache_root().join("models")
}

/// facestyle's cache directory: `$XDG_CACHE_HOME/facestyle`, else `$HOME/.cache/facestyle`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("facestyle");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("facestyle")
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    hex_digest::<Sha256>(&mut file, path)
}

/// Hex digest (sha256, md5 ...) of everything `reader` yields; `path` names it in errors.
pub fn hex_digest<D: Digest>(reader: &mut impl Read, path: &Path) -> Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The state of one cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Missing,
    Verified,
    /// Present but not the pinned file (partial download, edited, wrong version ...).
    Corrupt(String),
}

impl FileStatus {
    pub fn label(&self) -> &'static str {
        match self {
            FileStatus::Missing => "missing",
            FileStatus::Verified => "verified",
            FileStatus::Corrupt(_) => "corrupt",
        }
    }
}

/// Checks size first (cheap), then sha256.
pub fn check_file(path: &Path, pin: &ModelFile) -> Result<FileStatus> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileStatus::Missing),
        Err(e) => return Err(ModelError::io(path, e)),
    };
    if meta.len() != pin.size {
        return Ok(FileStatus::Corrupt(format!("size {} bytes, expected {}", meta.len(), pin.size)));
    }
    let digest = sha256_file(path)?;
    if digest != pin.sha256 {
        return Ok(FileStatus::Corrupt(format!("sha256 {digest}, expected {}", pin.sha256)));
    }
    Ok(FileStatus::Verified)
}

/// Path and status of every file of a model in `dir`.
pub fn model_status(dir: &Path, spec: &ModelSpec) -> Result<Vec<(PathBuf, FileStatus)>> {
    spec.files
        .iter()
        .map(|f| {
            let path = dir.join(f.file);
            let status = check_file(&path, f)?;
            Ok((path, status))
        })
        .collect()
}
