//! Person names as the gallery takes them: NFC-normalised, no control or format characters,
//! not the `unknown` label of identification, at most 200 bytes; lookups normalise too.

use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::metric::l2_normalize;

fn row(seed: u32) -> NewEmbedding {
    let mut v: Vec<f32> = (0..128).map(|i| ((i as f32 + 1.0) * (seed as f32 + 0.5)).sin()).collect();
    l2_normalize(&mut v);
    NewEmbedding {
        image_sha256: format!("{seed:064}"),
        image_path: format!("p{seed}.jpg"),
        bbox: [1.0, 2.0, 3.0, 4.0],
        vector: v,
    }
}

fn gallery() -> (tempfile::TempDir, Gallery) {
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open_or_create(&dir.path().join("g.db"), "m", "v1").unwrap();
    (dir, g)
}

fn names(g: &Gallery) -> Vec<String> {
    g.people().unwrap().into_iter().map(|p| p.name).collect()
}

#[test]
fn bad_names_are_refused_and_nothing_is_written() {
    let (_dir, mut g) = gallery();
    for (name, why) in [
        ("unknown", "unknown"),
        ("  Unknown ", "unknown"),
        ("UNKNOWN", "unknown"),
        ("ann\nbob", "control"),
        ("ann\u{7}", "control"),
        ("tab\tname", "control"),
        ("evil\u{202E}gnp.exe", "format"),
        ("zero\u{200B}width", "format"),
        ("\u{FEFF}bom", "format"),
        ("", "empty"),
        ("   ", "empty"),
    ] {
        let err = g.enroll(name, &[row(1)]).expect_err(name).to_string();
        assert!(err.contains(why), "{name:?}: {err}");
    }
    assert!(names(&g).is_empty());
}

#[test]
fn names_are_limited_to_200_bytes() {
    let (_dir, mut g) = gallery();
    let fits = "é".repeat(100);
    assert_eq!(fits.len(), 200);
    g.enroll(&fits, &[row(1)]).unwrap();
    let over = "é".repeat(100) + "x";
    let err = g.enroll(&over, &[row(2)]).unwrap_err().to_string();
    assert!(err.contains("201 bytes") && err.contains("200 bytes"), "{err}");
    // NFD "é" is 3 bytes: the limit applies to the stored (NFC) form.
    let nfd = "e\u{301}".repeat(100);
    assert_eq!(nfd.len(), 300);
    assert_eq!(g.enroll(&nfd, &[row(3)]).unwrap(), 2, "same person as the NFC spelling");
}

#[test]
fn names_are_stored_and_looked_up_in_nfc() {
    let (_dir, mut g) = gallery();
    let nfd = "Rene\u{301}e Zoe\u{308}";
    let nfc = "Ren\u{e9}e Zo\u{eb}";
    g.enroll(nfd, &[row(1)]).unwrap();
    assert_eq!(names(&g), vec![nfc.to_string()]);
    assert_eq!(g.enroll(&format!(" {nfc} "), &[row(2)]).unwrap(), 2, "one person, both spellings");
    assert!(g.forget(nfc).unwrap(), "enrolled in NFD, forgotten in NFC");
    g.enroll(nfc, &[row(3)]).unwrap();
    assert!(g.forget(&format!("{nfd} ")).unwrap(), "enrolled in NFC, forgotten in NFD");
    assert!(names(&g).is_empty());
    assert!(!g.forget("unknown").unwrap(), "a name that cannot exist is simply not there");
}
