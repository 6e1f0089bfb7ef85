//! `facestyle serve` as a process: it refuses an open address without a token; killed with
//! SIGKILL in the middle of concurrent enrolments, the restarted server's gallery holds every
//! acknowledged person, each complete (all-or-nothing transactions); SIGTERM shuts it down
//! cleanly.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{TOKEN, face_models, facestyle, photo, start_server as start};
use facestyle_serve::client::{Part, multipart, request};

#[test]
fn an_open_address_needs_a_token() {
    let r = facestyle(&["serve", "--gallery", "/tmp/never.db", "--addr", "0.0.0.0:0"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("FACESTYLE_TOKEN"));
}

#[test]
fn kill_9_during_enrolments_leaves_a_consistent_gallery() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let (mut child, addr) = start(&gallery);
    let a = std::fs::read(photo("Abdullah_Gul_0001.jpg")).unwrap();
    let b = std::fs::read(photo("Colin_Powell_0001.jpg")).unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let dead = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (a, b, acknowledged, dead) = (a.clone(), b.clone(), acknowledged.clone(), dead.clone());
            std::thread::spawn(move || {
                for j in 0.. {
                    let name = format!("p{i}_{j}");
                    let body = multipart(&[
                        ("name", Part::Text(&name)),
                        ("image", Part::File("a.jpg", &a)),
                        ("image", Part::File("b.jpg", &b)),
                    ]);
                    match request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&body)) {
                        Ok(r) if r.status == 200 => acknowledged.lock().unwrap().push(name),
                        Ok(r) => panic!("enroll {name}: {} {}", r.status, String::from_utf8_lossy(&r.body)),
                        Err(_) if dead.load(Ordering::SeqCst) => break,
                        Err(e) => panic!("enroll {name}: {e}"),
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 8 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    dead.store(true, Ordering::SeqCst);
    child.0.kill().unwrap(); // SIGKILL, mid-enrolment
    child.0.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let (mut child, addr) = start(&gallery);
    let people = request(addr, "GET", "/v1/people", Some(TOKEN), None).unwrap().json();
    let people = people["people"].as_array().unwrap().clone();
    for p in &people {
        assert_eq!(p["embeddings"], 2, "every enrolment complete: {p}");
    }
    let names: Vec<&str> = people.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in &acknowledged {
        assert!(names.contains(&n.as_str()), "{n} was acknowledged but is missing");
    }
    assert!(people.len() <= acknowledged.len() + 4, "at most one unacknowledged commit per client");
    // SIGTERM: a clean exit.
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGTERM);
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
