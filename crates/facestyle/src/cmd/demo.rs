//! `facestyle demo`: the face pipeline end to end on four bundled LFW photos: detect, enroll one
//! person from ONE photo, identify every face (open set: `unknown`), verify pairs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use facestyle_face::detect::DetectConfig;
use facestyle_face::draw::draw_faces;
use facestyle_face::engine::{FaceEngine, MODEL_ID};
use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::metric::Metric;
use facestyle_face::photo::decode_rgb;
use facestyle_face::sface::DIM;
use serde_json::json;

const PHOTOS: [(&str, &[u8]); 4] = [
    (
        "Abdullah_Gul_0001.jpg",
        include_bytes!("../../../facestyle-face/tests/fixtures/photos/Abdullah_Gul_0001.jpg"),
    ),
    (
        "Abdullah_Gul_0008.png",
        include_bytes!("../../../facestyle-face/tests/fixtures/photos/Abdullah_Gul_0008.png"),
    ),
    (
        "Colin_Powell_0001.jpg",
        include_bytes!("../../../facestyle-face/tests/fixtures/photos/Colin_Powell_0001.jpg"),
    ),
    (
        "George_W_Bush_0001.jpg",
        include_bytes!("../../../facestyle-face/tests/fixtures/photos/George_W_Bush_0001.jpg"),
    ),
];

pub fn run(out: &Path, json_out: bool) -> anyhow::Result<()> {
    let say = |s: String| {
        if !json_out {
            println!("{s}");
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let engine = FaceEngine::load(DetectConfig::default(), facestyle_nn::device::default_device())?;
    let photos: Vec<_> = PHOTOS
        .iter()
        .map(|(n, b)| decode_rgb(b, Path::new(n)).map(|img| (*n, img)))
        .collect::<Result<_, _>>()?;
    say("1. detect (YuNet, native burn):".into());
    let mut report = json!({});
    for (name, img) in &photos {
        let faces = engine.detect(img);
        say(format!(
            "   {name}: {} face(s), best score {:.3}",
            faces.len(),
            faces.first().map_or(0.0, |f| f.score)
        ));
        let path = out.join(format!("{}.faces.png", name.rsplit_once('.').map_or(*name, |p| p.0)));
        draw_faces(img, &faces).save(&path).with_context(|| format!("{}: cannot write", path.display()))?;
        report["faces"][name] = json!(faces.len());
    }
    say(format!("   overlays with boxes and landmarks in {}/", out.display()));

    let gallery_path = out.join("demo-gallery.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(PathBuf::from(format!("{}{suffix}", gallery_path.display())));
    }
    let mut gallery = Gallery::open_or_create(&gallery_path, MODEL_ID, &engine.model_version)?;
    say("2. enroll ONE photo per person (no retraining):".into());
    // The largest face of each photo, embedded once for enrolment and verification.
    let largest = photos
        .iter()
        .map(|(name, img)| {
            engine.largest_face(img).map(|(f, _)| f).with_context(|| format!("{name}: no face"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (person, idx) in [("Abdullah Gul", 0), ("Colin Powell", 2)] {
        let (name, f) = (photos[idx].0, &largest[idx]);
        let row = NewEmbedding {
            image_sha256: String::new(),
            image_path: name.to_string(),
            bbox: f.face.bbox,
            vector: f.embedding.clone(),
        };
        gallery.enroll(person, &[row])?;
        say(format!("   {person} <- {name}"));
    }
    let (index, names) = gallery.load_index(DIM)?;
    let (metric, tau) = (Metric::SqL2, Metric::SqL2.default_threshold());
    say(format!("3. identify every face (sq-l2 distance, unknown when d > {tau:.2}):"));
    let mut ids = Vec::new();
    for (name, img) in &photos[1..] {
        for (i, f) in engine.analyze(img).iter().enumerate() {
            let hit = index.search(&f.embedding, 1, metric)[0];
            let who = facestyle_face::search::name_or_unknown(Some(&hit), &names, tau);
            say(format!(
                "   {name} face {}: {who} (nearest {} at d={:.3})",
                i + 1,
                names[hit.owner as usize],
                hit.distance
            ));
            ids.push(json!({"image": name, "face": i, "name": who, "distance": hit.distance}));
        }
    }
    report["identify"] = json!(ids);
    say("4. verify (1:1):".into());
    let mut verdicts = Vec::new();
    for (a, b) in [(0, 1), (0, 2), (2, 3)] {
        let d = metric.distance(&largest[a].embedding, &largest[b].embedding);
        let same = d <= tau;
        say(format!(
            "   {} vs {}: d={d:.3} -> {}",
            photos[a].0,
            photos[b].0,
            if same { "same person" } else { "different people" }
        ));
        verdicts.push(json!({"a": photos[a].0, "b": photos[b].0, "distance": d, "same": same}));
    }
    report["verify"] = json!(verdicts);
    report["threshold"] = json!(tau);
    if json_out {
        println!("{report}");
    }
    Ok(())
}
