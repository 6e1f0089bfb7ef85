//! Every face command on a photo that is only a face (a grey close crop with no face at the
//! default score threshold): the detector's retry finds it, `--json` reports the fallback per
//! face and image, and `--no-fallback` gives the plain detector's answer.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{face_models, facestyle, photo};
use serde_json::Value;

/// A crop from the face crate's close-crop fixtures.
fn crop(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../facestyle-face/tests/fixtures/closecrops")
        .join(name)
        .display()
        .to_string()
}

fn json(o: &Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

const POWELL: &str = "Colin_Powell_0001_56x56_grey.png";

#[test]
fn detect_and_verify_report_the_fallback() {
    if !face_models() {
        return;
    }
    let v = json(&facestyle(&["--json", "face", "detect", &crop(POWELL), &photo("Colin_Powell_0001.jpg")]));
    assert_eq!(
        (v[0]["fallback"].as_str(), v[0]["faces"][0]["fallback"].as_str()),
        (Some("low_score"), Some("low_score"))
    );
    assert!(v[1]["fallback"].is_null() && v[1]["faces"][0]["fallback"].is_null(), "{v}");
    let v = json(&facestyle(&["--json", "face", "detect", "--no-fallback", &crop(POWELL)]));
    assert_eq!(v[0]["faces"].as_array().map(Vec::len), Some(0), "{v}");
    let text = facestyle(&["face", "detect", &crop(POWELL)]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("1 face(s) (fallback: below the score threshold)"), "{text}");

    let v = json(&facestyle(&["--json", "face", "verify", &crop(POWELL), &photo("Colin_Powell_0001.jpg")]));
    assert_eq!((v["same"].as_bool(), v["fallback_a"].as_str()), (Some(true), Some("low_score")), "{v}");
    assert!(v["fallback_b"].is_null());
    let v = json(&facestyle(&["--json", "face", "verify", &crop(POWELL), &photo("George_W_Bush_0001.jpg")]));
    assert_eq!(v["same"].as_bool(), Some(false), "{v}");
    let out = facestyle(&["face", "verify", "--no-fallback", &crop(POWELL), &photo("Colin_Powell_0001.jpg")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains(POWELL) && err.contains("no face"), "{err}");
}

#[test]
fn enroll_identify_embed_and_cluster_report_the_fallback() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.db");
    let g = g.to_str().unwrap();
    let v =
        json(&facestyle(&["--json", "face", "enroll", "--gallery", g, "--name", "Powell", &crop(POWELL)]));
    assert_eq!(v["photos"][0]["fallback"].as_str(), Some("low_score"), "{v}");
    let v = json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        g,
        "--name",
        "Bush",
        &photo("George_W_Bush_0001.jpg"),
    ]));
    assert!(v["photos"][0]["fallback"].is_null(), "{v}");
    // The enrolled crop identifies the person's photo, and the crop is identified as them.
    let v = json(&facestyle(&[
        "--json",
        "face",
        "identify",
        "--gallery",
        g,
        &photo("Colin_Powell_0001.jpg"),
        &crop(POWELL),
    ]));
    let faces: Vec<&Value> = v["results"].as_array().unwrap().iter().map(|r| &r["faces"][0]).collect();
    assert_eq!(
        faces.iter().map(|f| f["name"].as_str()).collect::<Vec<_>>(),
        [Some("Powell"), Some("Powell")],
        "{v}"
    );
    assert_eq!(faces.iter().map(|f| f["fallback"].as_str()).collect::<Vec<_>>(), [None, Some("low_score")]);

    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for name in [POWELL, "Abdullah_Gul_0008_face1_92x112_grey.png", "Abdullah_Gul_0001_92x112_grey.png"] {
        std::fs::copy(crop(name), photos.join(name)).unwrap();
    }
    // Embedding and clustering the folder count the same faces and fallbacks.
    for (command, file) in [("embed", "e.jsonl"), ("cluster", "c.json")] {
        let out = dir.path().join(file);
        let v = json(&facestyle(&[
            "--json",
            "face",
            command,
            photos.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        assert_eq!(
            (v["faces"].as_u64(), v["images_by_fallback"]["low_score"].as_u64()),
            (Some(3), Some(2)),
            "{command}: {v}"
        );
    }
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("e.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let low = lines.iter().filter(|l| l["fallback"] == "low_score").count();
    assert_eq!((lines.len(), low), (3, 2));
}
