//! `facestyle demo`: the face pipeline end to end on four bundled LFW photos: detect, enroll one
//! person from ONE photo, identify every face (open set: `unknown`), verify pairs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use facestyle_face::detect::DetectConfig;
use facestyle_face::draw::draw_faces;
use facestyle_face::engine::{FaceEngine, MODEL_ID};
use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::metric::{Metric, Verdict, Verifier};
use facestyle_face::photo::decode_rgb;
use facestyle_face::search::Identified;
use facestyle_face::sface::DIM;
use serde::Serialize;

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

/// `--json` of the demo: faces per photo, who each face is, the verified pairs.
#[derive(Serialize, Default)]
struct Report {
    faces: BTreeMap<&'static str, usize>,
    identify: Vec<DemoFace>,
    verify: Vec<DemoPair>,
    threshold: f32,
}

#[derive(Serialize)]
struct DemoFace {
    image: &'static str,
    face: usize,
    #[serde(flatten)]
    who: Identified,
}

#[derive(Serialize)]
struct DemoPair {
    a: &'static str,
    b: &'static str,
    #[serde(flatten)]
    verdict: Verdict,
}

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
    let mut report = Report::default();
    for (name, img) in &photos {
        let faces = engine.detect(img);
        say(format!(
            "   {name}: {} face(s), best score {:.3}",
            faces.len(),
            faces.first().map_or(0.0, |f| f.score)
        ));
        let path = out.join(format!("{}.faces.png", name.rsplit_once('.').map_or(*name, |p| p.0)));
        draw_faces(img, &faces).save(&path).with_context(|| format!("{}: cannot write", path.display()))?;
        report.faces.insert(*name, faces.len());
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
    let verifier = Verifier::standard(Metric::SqL2);
    report.threshold = verifier.threshold;
    say(format!("3. identify every face (sq-l2 distance, unknown when d > {:.2}):", verifier.threshold));
    for (name, img) in &photos[1..] {
        for (i, f) in engine.analyze(img).iter().enumerate() {
            let who = index.identify(&f.embedding, 1, &verifier, &names);
            let nearest = &who.candidates[0];
            say(format!(
                "   {name} face {}: {} (nearest {} at d={:.3})",
                i + 1,
                who.name,
                nearest.name,
                nearest.distance
            ));
            report.identify.push(DemoFace { image: name, face: i, who });
        }
    }
    say("4. verify (1:1):".into());
    for (a, b) in [(0, 1), (0, 2), (2, 3)] {
        let verdict = verifier.verdict(&largest[a].embedding, &largest[b].embedding);
        say(format!(
            "   {} vs {}: d={:.3} -> {}",
            photos[a].0,
            photos[b].0,
            verdict.distance,
            if verdict.same { "same person" } else { "different people" }
        ));
        report.verify.push(DemoPair { a: photos[a].0, b: photos[b].0, verdict });
    }
    if json_out {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
