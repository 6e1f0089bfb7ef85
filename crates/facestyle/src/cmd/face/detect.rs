//! `facestyle face detect IMG... [--draw out.png]`

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use facestyle_face::detect::{Face, Fallback};
use facestyle_face::draw::draw_faces;
use serde::Serialize;

use super::{DetectorArgs, fallback_note, load_engine, read_photo};

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Photos to search for faces.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Write the photo with boxes and landmarks drawn (PNG). With several photos: a folder that
    /// receives one `<name>.png` per photo.
    #[arg(long)]
    pub draw: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// `--json` of one photo: its size and its faces (`fallback`: how the first was found).
#[derive(Serialize)]
struct Detected<'a> {
    image: &'a Path,
    width: u32,
    height: u32,
    fallback: Option<Fallback>,
    faces: Vec<Face>,
}

pub fn run(a: DetectArgs, json_out: bool) -> anyhow::Result<()> {
    let photos = a.images.iter().map(|p| read_photo(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let engine = load_engine(&a.detector)?;
    let mut results = Vec::new();
    for (path, photo) in a.images.iter().zip(photos) {
        let faces = engine.detect(&photo.image);
        if let Some(draw) = &a.draw {
            let out = if a.images.len() == 1 {
                draw.clone()
            } else {
                std::fs::create_dir_all(draw)
                    .with_context(|| format!("{}: cannot create folder", draw.display()))?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "image".into());
                draw.join(format!("{stem}.png"))
            };
            draw_faces(&photo.image, &faces)
                .save(&out)
                .with_context(|| format!("{}: cannot write the overlay", out.display()))?;
            tracing::info!("wrote {}", out.display());
        }
        let (w, h) = photo.image.dimensions();
        if json_out {
            let fallback = faces.first().and_then(|f| f.fallback);
            results.push(Detected { image: path, width: w, height: h, fallback, faces });
        } else {
            let note = fallback_note(faces.first().and_then(|f| f.fallback));
            println!("{}: {w}x{h}, {} face(s){note}", path.display(), faces.len());
            for (i, f) in faces.iter().enumerate() {
                let [x, y, bw, bh] = f.bbox;
                let pts: Vec<String> =
                    f.landmarks.iter().map(|p| format!("({:.1},{:.1})", p[0], p[1])).collect();
                println!(
                    "  #{} score {:.3} box x={x:.1} y={y:.1} w={bw:.1} h={bh:.1} landmarks {}",
                    i + 1,
                    f.score,
                    pts.join(" ")
                );
            }
        }
    }
    if json_out {
        println!("{}", serde_json::to_string(&results)?);
    }
    Ok(())
}
