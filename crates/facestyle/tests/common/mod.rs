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

/// A child process killed when dropped (so a failing test leaves no server behind).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The token the test servers are started with.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// Starts `facestyle serve` (token [`TOKEN`]) on a free loopback port over `gallery`; returns the
/// child and its address once it listens.
pub fn start_server(gallery: &std::path::Path) -> (Killed, std::net::SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facestyle"));
    cmd.args(["serve", "--gallery", gallery.to_str().unwrap(), "--addr", "127.0.0.1:0"]);
    spawn_server(cmd)
}

/// Spawns `cmd` (a `facestyle serve` with token [`TOKEN`]) and waits until it listens.
pub fn spawn_server(mut cmd: Command) -> (Killed, std::net::SocketAddr) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.env("FACESTYLE_TOKEN", TOKEN).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), addr)
}

/// True when the face models (YuNet, SFace) are cached (panics in CI when they are not).
pub fn face_models() -> bool {
    use facestyle_models::testing::cached_model;
    cached_model("face_detection_yunet_2023mar_int8bq.onnx").is_some()
        && cached_model("face_recognition_sface_2021dec_int8bq.onnx").is_some()
}

/// Runs `facestyle args` and checks it is refused as bad input: exit 2 and `want` in stderr.
pub fn assert_refused(args: &[&str], want: &str) {
    let r = facestyle(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: expected '{want}' in: {err}");
}
