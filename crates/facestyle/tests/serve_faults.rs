//! `facestyle serve` when its storage fails: a read-only gallery and a full disk (a file size
//! limit on the server process) give a clear 503, the gallery keeps every acknowledged
//! enrolment whole and nothing else, and the server goes on answering.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{Killed, TOKEN, face_models, facestyle, photo, spawn_server};
use facestyle_serve::client::{Part, multipart, request};

/// Starts the server through `bash -c 'PREFIX exec facestyle serve ...'`.
fn start_with(prefix: &str, gallery: &std::path::Path) -> (Killed, SocketAddr) {
    let script = format!(
        "{prefix} exec '{}' serve --gallery '{}' --addr 127.0.0.1:0",
        env!("CARGO_BIN_EXE_facestyle"),
        gallery.display()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script]);
    spawn_server(cmd)
}

fn people(addr: SocketAddr) -> Vec<(String, u64)> {
    let v = request(addr, "GET", "/v1/people", Some(TOKEN), None).unwrap().json();
    v["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["embeddings"].as_u64().unwrap()))
        .collect()
}

fn enroll_body(name: &str, a: &[u8], b: &[u8]) -> (String, Vec<u8>) {
    multipart(&[
        ("name", Part::Text(name)),
        ("image", Part::File("a.jpg", a)),
        ("image", Part::File("b.jpg", b)),
    ])
}

#[test]
fn a_read_only_gallery_refuses_writes_clearly_and_keeps_serving() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let g = gallery.to_str().unwrap();
    let out =
        facestyle(&["face", "enroll", "--gallery", g, "--name", "Gul", &photo("Abdullah_Gul_0001.jpg")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut perms = std::fs::metadata(&gallery).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&gallery, perms).unwrap();
    let (_server, addr) = start_with("", &gallery);
    let a = std::fs::read(photo("Colin_Powell_0001.jpg")).unwrap();
    let r = request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&enroll_body("Powell", &a, &a))).unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"].as_str().unwrap().contains("read-only"), "{}", r.json());
    let r = request(addr, "DELETE", "/v1/people/Gul", Some(TOKEN), None).unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(people(addr), vec![("Gul".to_string(), 1)]);
    let q = multipart(&[(
        "image",
        Part::File("g8.png", &std::fs::read(photo("Abdullah_Gul_0008.png")).unwrap()),
    )]);
    let r = request(addr, "POST", "/v1/identify", Some(TOKEN), Some(&q)).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["faces"].as_array().unwrap().iter().any(|f| f["name"] == "Gul"), "{}", r.json());
}

#[test]
fn a_full_disk_fails_enrolments_whole_and_keeps_serving() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    // Files the server writes may grow to 256 KiB; past it a write fails (SIGXFSZ ignored).
    let (_server, addr) = start_with("trap '' XFSZ; ulimit -f 256;", &gallery);
    let a = std::fs::read(photo("Abdullah_Gul_0001.jpg")).unwrap();
    let b = std::fs::read(photo("Colin_Powell_0001.jpg")).unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..400 {
        let name = format!("person{i}");
        let r = request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&enroll_body(&name, &a, &b))).unwrap();
        match r.status {
            200 => acknowledged.push(name),
            _ => {
                refused = Some((name, r.status, String::from_utf8_lossy(&r.body).to_string()));
                break;
            }
        }
    }
    let (name, status, body) = refused.expect("the file size limit was never reached");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot be written"), "{body}");
    assert!(!acknowledged.is_empty());
    let present = people(addr);
    assert_eq!(present.len(), acknowledged.len(), "{present:?}");
    for (n, count) in &present {
        assert!(acknowledged.contains(n), "{n} was never acknowledged");
        assert_eq!(*count, 2, "{n}: every enrolment whole");
    }
    assert!(!present.iter().any(|(n, _)| *n == name));
    let r = request(addr, "GET", "/healthz", None, None).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
