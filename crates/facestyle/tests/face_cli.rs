//! `facestyle face ...` as a user runs it, on the committed photos and the real models; and
//! every kind of bad input: a clear message naming the file, exit 2, gallery untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{face_models, facestyle, photo};
use serde_json::Value;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", err(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn detect_reports_every_face_and_draws_an_overlay() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("o.png");
    let out =
        facestyle(&["--json", "face", "detect", &photo("Abdullah_Gul_0008.png"), "--draw", s(&overlay)]);
    let v = json(&out);
    let faces = v[0]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    assert_eq!(faces[0]["landmarks"].as_array().unwrap().len(), 5);
    let img = image::open(&overlay).unwrap();
    assert_eq!((img.width(), img.height()), (250, 250));
}

#[test]
fn verify_says_same_for_one_person_and_different_for_two() {
    if !face_models() {
        return;
    }
    let gul = [photo("Abdullah_Gul_0001.jpg"), photo("Abdullah_Gul_0008.png")];
    let v = json(&facestyle(&["--json", "face", "verify", &gul[0], &gul[1]]));
    assert_eq!(v["same"], true, "{v}");
    assert_eq!(v["faces_b"], 3);
    let v = json(&facestyle(&["--json", "face", "verify", &gul[0], &photo("Colin_Powell_0001.jpg")]));
    assert_eq!(v["same"], false, "{v}");
    let d = v["distance"].as_f64().unwrap();
    let v = json(&facestyle(&[
        "--json",
        "face",
        "verify",
        "--metric",
        "cosine",
        &gul[0],
        &photo("Colin_Powell_0001.jpg"),
    ]));
    assert!(
        (v["distance"].as_f64().unwrap() - d / 2.0).abs() < 1e-4,
        "cosine distance is half the sq-l2 one"
    );
    // The verdict on stdout, the note on stderr (through the log, RUST_LOG filters it).
    let out = facestyle(&["face", "verify", &gul[0], &gul[1]]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("same person") && !text.contains("faces;"), "{text}");
    assert!(err(&out).contains("has 3 faces; using the largest"), "{}", err(&out));
}

#[test]
fn one_shot_enrollment_then_open_set_identification() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    enrol_identify_forget(&dir.path().join("g.db").display().to_string());
}

#[test]
fn the_approximate_index_is_built_on_request_and_answers_as_the_exact_scan() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.db").display().to_string();
    for (name, file) in [("Abdullah Gul", "Abdullah_Gul_0001.jpg"), ("Colin Powell", "Colin_Powell_0001.jpg")]
    {
        json(&facestyle(&["--json", "face", "enroll", "--gallery", &g, "--name", name, &photo(file)]));
    }
    let v = json(&facestyle(&["--json", "face", "gallery", "index", "--gallery", &g]));
    assert_eq!((v["embeddings"].as_u64(), v["used_by_default"].as_bool()), (Some(2), Some(false)), "{v}");
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("g.db.") && n.ends_with(".hnsw"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let answer = |search: &str| {
        let v = json(&facestyle(&[
            "--json",
            "face",
            "identify",
            "--gallery",
            &g,
            "--search",
            search,
            "--top",
            "2",
            &photo("Abdullah_Gul_0008.png"),
        ]));
        v["results"][0]["faces"].clone()
    };
    let exact = answer("exact");
    assert_eq!(answer("approximate"), exact);
    assert!(exact.as_array().unwrap().iter().any(|f| f["name"] == "Abdullah Gul"), "{exact}");
    let out = facestyle(&[
        "face",
        "identify",
        "--gallery",
        &g,
        "--search",
        "fast",
        &photo("Abdullah_Gul_0008.png"),
    ]);
    assert_eq!(out.status.code(), Some(1), "a usage error");
    assert!(
        err(&out).contains("--search") && err(&out).contains("auto, exact, approximate"),
        "{}",
        err(&out)
    );
    let out = facestyle(&["face", "gallery", "index", "--gallery", &g, "--precision", "half"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("--precision is for PostgreSQL"), "{}", err(&out));
}

#[test]
fn the_same_on_a_postgresql_gallery() {
    if !face_models() {
        return;
    }
    let Some(pg) = facestyle_face::pgtest::Cluster::start() else { return };
    let g = pg.database("faces");
    enrol_identify_forget(&g);
    // The HNSW index rebuilt in half precision; the same answer after it.
    let before =
        json(&facestyle(&["--json", "face", "identify", "--gallery", &g, &photo("Abdullah_Gul_0008.png")]));
    let v = json(&facestyle(&["--json", "face", "gallery", "index", "--gallery", &g, "--precision", "half"]));
    assert_eq!(v["precision"], "half", "{v}");
    assert!(v["index_bytes"].as_i64().unwrap() > 0, "{v}");
    let after =
        json(&facestyle(&["--json", "face", "identify", "--gallery", &g, &photo("Abdullah_Gul_0008.png")]));
    assert_eq!(before["results"], after["results"]);
    common::assert_refused(&["face", "gallery", "index", "--gallery", &g], "--precision single|half");
    // A database that is not there: a clear message, the URL shown without its password.
    let url = pg.url("nothing_here").replace("facestyle@", "facestyle:hunter2@");
    let out = facestyle(&["face", "people", "--gallery", &url]);
    assert_eq!(out.status.code(), Some(2));
    let e = err(&out);
    assert!(e.contains("cannot connect") && e.contains("nothing_here") && !e.contains("hunter2"), "{e}");
}

/// Enrolment from one photo, open-set identification, listing and forgetting on `g` (a file or
/// a URL), through the CLI.
fn enrol_identify_forget(g: &str) {
    let v = json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        g,
        "--name",
        "Abdullah Gul",
        &photo("Abdullah_Gul_0001.jpg"),
    ]));
    assert_eq!(v["embeddings"], 1);
    // The same photo again adds nothing; a name that is no name is refused before any work.
    let again = json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        g,
        "--name",
        " Abdullah Gul ",
        &photo("Abdullah_Gul_0001.jpg"),
    ]));
    assert_eq!((again["added"].as_u64(), again["already_present"].as_u64()), (Some(0), Some(1)), "{again}");
    for bad in ["unknown", "a\u{7}b"] {
        common::assert_refused(
            &["face", "enroll", "--gallery", g, "--name", bad, &photo("Colin_Powell_0001.jpg")],
            "--name",
        );
    }
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        g,
        "--name",
        "Colin Powell",
        &photo("Colin_Powell_0001.jpg"),
    ]));
    let v = json(&facestyle(&["--json", "face", "people", "--gallery", g]));
    let names: Vec<&str> =
        v["people"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Abdullah Gul", "Colin Powell"]);

    let v = json(&facestyle(&[
        "--json",
        "face",
        "identify",
        "--gallery",
        g,
        "--top",
        "2",
        &photo("Abdullah_Gul_0008.png"),
        &photo("George_W_Bush_0001.jpg"),
    ]));
    let r = v["results"].as_array().unwrap();
    let gul_faces: Vec<&str> =
        r[0]["faces"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(gul_faces.iter().filter(|n| **n == "Abdullah Gul").count(), 1, "{gul_faces:?}");
    assert!(gul_faces.iter().all(|n| *n == "Abdullah Gul" || *n == "unknown"), "{gul_faces:?}");
    assert_eq!(r[1]["faces"][0]["name"], "unknown", "Bush is not enrolled: {}", r[1]);
    assert_eq!(r[1]["faces"][0]["candidates"].as_array().unwrap().len(), 2);

    json(&facestyle(&["--json", "face", "forget", "--gallery", g, "Colin Powell"]));
    let v = json(&facestyle(&["--json", "face", "people", "--gallery", g]));
    assert_eq!(v["people"].as_array().unwrap().len(), 1);
    let out = facestyle(&["face", "forget", "--gallery", g, "Nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("no person named 'Nobody'"), "{}", err(&out));
}

/// A small PNG whose header claims 30000x30000 pixels (2.7 GB decoded).
fn huge_png_header() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(30000u32.to_be_bytes());
    ihdr.extend(30000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // IHDR, the start of a pixel-data chunk (a few bytes of zlib), IEND.
    for chunk in [ihdr, b"IDAT\x78\x9c\x63\x60\x00\x00".to_vec(), b"IEND".to_vec()] {
        png.extend((chunk.len() as u32 - 4).to_be_bytes());
        png.extend(&chunk);
        png.extend(crc32(&chunk).to_be_bytes());
    }
    png
}

#[test]
fn bad_images_fail_with_exit_2_naming_the_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let jpeg = std::fs::read(photo("Colin_Powell_0001.jpg")).unwrap();
    let cases = [
        (write("empty.jpg", b""), "empty file"),
        (write("truncated.jpg", &jpeg[..jpeg.len() / 3]), "truncated"),
        (write("notes.jpg", b"this is a text file, not a photo\n"), "not an image"),
        (write("huge.png", &huge_png_header()), "above the limit"),
        (dir.path().join("missing.jpg"), "cannot read"),
    ];
    for (path, problem) in &cases {
        for args in [
            vec!["face", "detect", s(path)],
            vec!["face", "verify", s(path), &photo("Colin_Powell_0001.jpg")],
        ] {
            let out = facestyle(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", err(&out));
            let e = err(&out);
            assert!(e.contains(s(path)) && e.contains(problem), "{args:?}: expected '{problem}' in: {e}");
            assert!(!e.contains("panicked"), "{e}");
        }
    }
}

#[test]
fn no_face_missing_and_read_only_galleries_leave_everything_unchanged() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_fn(200, 160, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]))
        .save(&blank)
        .unwrap();
    let g = dir.path().join("g.db");

    // No face: error, and the gallery is not even created.
    let out = facestyle(&["face", "enroll", "--gallery", s(&g), "--name", "X", s(&blank)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("no face found") && err(&out).contains("blank.png"), "{}", err(&out));
    assert!(!g.exists());

    // One good photo and one without a face: all or nothing.
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        s(&g),
        "--name",
        "Colin",
        &photo("Colin_Powell_0001.jpg"),
    ]));
    let out = facestyle(&[
        "face",
        "enroll",
        "--gallery",
        s(&g),
        "--name",
        "Gul",
        &photo("Abdullah_Gul_0001.jpg"),
        s(&blank),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&facestyle(&["--json", "face", "people", "--gallery", s(&g)]));
    assert_eq!(v["people"].as_array().unwrap().len(), 1, "{v}");

    // Missing gallery.
    let missing = dir.path().join("nope.db");
    let out = facestyle(&["face", "identify", "--gallery", s(&missing), &photo("Colin_Powell_0001.jpg")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("nope.db") && err(&out).contains("does not exist"), "{}", err(&out));
    assert!(!missing.exists(), "identify must not create a gallery");

    // Read-only gallery: identify works, enroll and forget fail cleanly, contents unchanged.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let rg = ro.join("g.db");
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        s(&rg),
        "--name",
        "Colin",
        &photo("Colin_Powell_0001.jpg"),
    ]));
    set_read_only(&ro, &rg, true);
    let before = std::fs::read(&rg).unwrap();
    let v = json(&facestyle(&[
        "--json",
        "face",
        "identify",
        "--gallery",
        s(&rg),
        &photo("Colin_Powell_0001.jpg"),
    ]));
    assert_eq!(v["results"][0]["faces"][0]["name"], "Colin");
    let out =
        facestyle(&["face", "enroll", "--gallery", s(&rg), "--name", "Gul", &photo("Abdullah_Gul_0001.jpg")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("read-only"), "{}", err(&out));
    let out = facestyle(&["face", "forget", "--gallery", s(&rg), "Colin"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&rg).unwrap(), before);
    set_read_only(&ro, &rg, false);
}

fn set_read_only(dir: &Path, file: &Path, ro: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if ro { 0o444 } else { 0o644 };
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
    let dmode = if ro { 0o555 } else { 0o755 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dmode)).unwrap();
}

#[test]
fn embed_and_cluster_a_folder() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let photos = PathBuf::from(photo("x")).parent().unwrap().to_path_buf();
    let jsonl = dir.path().join("e.jsonl");
    let v = json(&facestyle(&["--json", "face", "embed", s(&photos), "--out", s(&jsonl)]));
    assert_eq!((v["images"].as_u64(), v["faces"].as_u64()), (Some(4), Some(6)), "{v}");
    let lines: Vec<Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 128);
    assert_eq!(lines[0]["model"], "sface-2021dec-int8bq");

    let out = dir.path().join("c.json");
    json(&facestyle(&["--json", "face", "cluster", s(&photos), "--out", s(&out)]));
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let clusters = c["clusters"].as_array().unwrap();
    let total: u64 = clusters.iter().map(|c| c["size"].as_u64().unwrap()).sum();
    assert_eq!(total, 6);
    // Abdullah Gul's two photos form the largest cluster; everyone else stands alone.
    assert_eq!(clusters[0]["size"], 2, "{c}");
    let imgs: Vec<&str> =
        clusters[0]["members"].as_array().unwrap().iter().map(|m| m["image"].as_str().unwrap()).collect();
    assert!(imgs.iter().all(|i| i.contains("Abdullah_Gul")), "{imgs:?}");
    assert_eq!(clusters.len(), 5);

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = facestyle(&["face", "embed", s(&empty), "--out", s(&jsonl)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no images"), "{}", err(&o));
}

#[test]
fn galleries_copy_between_sqlite_and_postgresql_and_compare_equal() {
    if !face_models() {
        return;
    }
    let Some(pg) = facestyle_face::pgtest::Cluster::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (file, back) = (dir.path().join("g.db"), dir.path().join("back.db"));
    for (name, p) in [("Abdullah Gul", "Abdullah_Gul_0001.jpg"), ("Colin Powell", "Colin_Powell_0001.jpg")] {
        json(&facestyle(&["--json", "face", "enroll", "--gallery", s(&file), "--name", name, &photo(p)]));
    }
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        s(&file),
        "--name",
        "Abdullah Gul",
        &photo("Abdullah_Gul_0008.png"),
    ]));
    let url = pg.database("faces");
    let there = json(&facestyle(&["--json", "face", "gallery", "copy", "--from", s(&file), "--to", &url]));
    assert_eq!(
        (there["people"].as_u64(), there["added"].as_u64(), there["embeddings"].as_u64()),
        (Some(2), Some(3), Some(3)),
        "{there}"
    );
    // Run again (as after an interruption): nothing to add, still equal.
    let again = json(&facestyle(&["--json", "face", "gallery", "copy", "--from", s(&file), "--to", &url]));
    assert_eq!((again["added"].as_u64(), again["already_present"].as_u64()), (Some(0), Some(3)), "{again}");
    let home = json(&facestyle(&["--json", "face", "gallery", "copy", "--from", &url, "--to", s(&back)]));
    let sums: Vec<Value> = [s(&file), &url, s(&back)]
        .iter()
        .map(|g| json(&facestyle(&["--json", "face", "gallery", "checksum", "--gallery", g])))
        .collect();
    assert_eq!(sums[0]["checksum"], sums[1]["checksum"]);
    assert_eq!(sums[0]["checksum"], sums[2]["checksum"]);
    assert_eq!(sums[0]["checksum"], home["checksum"]);
    // The same person seen by the PostgreSQL gallery as by the file.
    let who =
        json(&facestyle(&["--json", "face", "identify", "--gallery", &url, &photo("Abdullah_Gul_0008.png")]));
    assert_eq!(who["results"][0]["faces"][0]["name"], "Abdullah Gul");
    // A target that already holds someone else is not an equal copy: said, exit 2.
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        s(&back),
        "--name",
        "George W Bush",
        &photo("George_W_Bush_0001.jpg"),
    ]));
    let out = facestyle(&["face", "gallery", "copy", "--from", s(&file), "--to", s(&back)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("not equal"), "{}", err(&out));
    let out = facestyle(&["face", "gallery", "copy", "--from", s(&file), "--to", s(&file)]);
    assert!(err(&out).contains("same gallery"), "{}", err(&out));
}

/// `facestyle ARGS` with `FACESTYLE_ISA=isa`.
fn facestyle_on(isa: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_facestyle"))
        .args(args)
        .env("FACESTYLE_ISA", isa)
        .output()
        .unwrap()
}

/// `face embed` on the four bundled photos with `FACESTYLE_ISA` naming a path.
fn embeddings_on(isa: &str, dir: &Path) -> Vec<Vec<f64>> {
    let photos = PathBuf::from(photo("x")).parent().unwrap().to_path_buf();
    let jsonl = dir.join(format!("{isa}.jsonl"));
    let o = facestyle_on(isa, &["face", "embed", s(&photos), "--out", s(&jsonl)]);
    assert!(o.status.success(), "{isa}: {}", err(&o));
    std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        })
        .collect()
}

#[test]
fn every_kernel_path_the_cpu_runs_gives_the_same_embeddings_and_others_are_refused() {
    use facestyle_nn::isa::Isa;
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scalar = embeddings_on("scalar", dir.path());
    assert_eq!(scalar.len(), 6);
    for isa in Isa::supported_paths().into_iter().skip(1) {
        let other = embeddings_on(isa.name(), dir.path());
        assert_eq!(other.len(), scalar.len(), "{isa}");
        for (a, b) in scalar.iter().zip(&other) {
            let cos: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cos > 0.9999, "{isa}: cosine {cos} to the scalar path's embedding");
        }
    }
    for bad in ["avx3", "sse9"] {
        let o = facestyle_on(bad, &["face", "embed", "x.jpg"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(err(&o).contains(&format!("FACESTYLE_ISA={bad}: not a path")), "{}", err(&o));
    }
    if let Some(missing) = Isa::ALL.into_iter().find(|i| !i.supported()) {
        let o = facestyle_on(missing.name(), &["face", "embed", "x.jpg"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(err(&o).contains("this CPU cannot run it"), "{}", err(&o));
    }
}
