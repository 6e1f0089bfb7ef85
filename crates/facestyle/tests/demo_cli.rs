//! `facestyle demo`, the README's first command: the four bundled photos give the answers the
//! demo promises (one photo enrolls a person, strangers are `unknown`, pairs verified).

mod common;

use common::{face_models, facestyle};
use serde_json::Value;

#[test]
fn the_demo_enrolls_identifies_and_verifies() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = facestyle(&["--json", "demo", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["faces"]["Abdullah_Gul_0008.png"], 3, "{v}");
    assert_eq!(v["faces"]["Colin_Powell_0001.jpg"], 1, "{v}");
    let names = |image: &str| -> Vec<String> {
        v["identify"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["image"] == image)
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The second photo of Abdullah Gul: him once, the two other faces nobody enrolled.
    let gul = names("Abdullah_Gul_0008.png");
    assert_eq!(gul.iter().filter(|n| *n == "Abdullah Gul").count(), 1, "{gul:?}");
    assert_eq!(gul.iter().filter(|n| *n == "unknown").count(), 2, "{gul:?}");
    assert_eq!(names("Colin_Powell_0001.jpg"), ["Colin Powell"]);
    assert!(names("George_W_Bush_0001.jpg").iter().all(|n| n == "unknown"), "{v}");
    let same: Vec<bool> =
        v["verify"].as_array().unwrap().iter().map(|p| p["same"].as_bool().unwrap()).collect();
    assert_eq!(same, [true, false, false], "{v}");
    let threshold = v["threshold"].as_f64().unwrap();
    for p in v["verify"].as_array().unwrap() {
        assert_eq!(p["distance"].as_f64().unwrap() <= threshold, p["same"].as_bool().unwrap(), "{p}");
        assert_eq!(p["metric"], "sq-l2");
    }
    for name in ["Abdullah_Gul_0001", "Abdullah_Gul_0008", "Colin_Powell_0001", "George_W_Bush_0001"] {
        let overlay = out.join(format!("{name}.faces.png"));
        assert!(image::open(&overlay).is_ok(), "{}", overlay.display());
    }
    // The text version tells the same story step by step.
    let o = facestyle(&["demo", "--out", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    for step in ["1. detect", "2. enroll", "3. identify", "4. verify", "same person", "unknown"] {
        assert!(text.contains(step), "{step}: {text}");
    }
}
