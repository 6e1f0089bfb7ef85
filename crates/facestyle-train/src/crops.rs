//! Faces detected and aligned once, so that training epochs never run the detector: one cache
//! file of 112x112 RGB crops with an index.
//!
//! Layout: `FSCROPS1`, a little-endian u64 length, that many bytes of JSON (the index: for each
//! crop its image path relative to the dataset root and how its face was found), then the
//! crops' pixels, 112 x 112 x 3 bytes each (rows of RGB), in index order. Written to a
//! temporary file and renamed, so an interrupted run leaves the previous cache intact.
//!
//! Each image's face is chosen as in the LFW evaluation ([`eval_crop`]): the detected face
//! covering the image centre, with the documented fallbacks (low score, centre crop), counted.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use facestyle_face::engine::FaceEngine;
use facestyle_face::evaluate::{FaceSource, eval_crop};
use facestyle_face::photo::load_rgb;
use facestyle_face::sface::INPUT;
use facestyle_face::{FaceError, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"FSCROPS1";
/// Bytes of one crop.
pub const PLANE: usize = INPUT * INPUT * 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CropEntry {
    pub path: String,
    pub source: FaceSource,
}

/// Aligned crops by image path.
#[derive(Debug, Default, Clone)]
pub struct Crops {
    pub entries: Vec<CropEntry>,
    pub pixels: Vec<u8>,
    index: HashMap<String, usize>,
}

/// An image that could not be used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub problem: String,
}

impl Crops {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The crop of image `path` (relative to the dataset root), if cached.
    pub fn get(&self, path: &str) -> Option<usize> {
        self.index.get(path).copied()
    }

    /// Pixels of crop `i` (HWC RGB).
    pub fn pixels(&self, i: usize) -> &[u8] {
        &self.pixels[i * PLANE..(i + 1) * PLANE]
    }

    /// Adds a crop (`pixels`: 112 x 112 RGB rows).
    pub fn push_crop(&mut self, entry: CropEntry, pixels: &[u8]) {
        assert_eq!(pixels.len(), PLANE, "a crop is 112 x 112 x 3 bytes");
        self.index.insert(entry.path.clone(), self.entries.len());
        self.entries.push(entry);
        self.pixels.extend_from_slice(pixels);
    }

    /// How many crops came from each face source.
    pub fn sources(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for e in &self.entries {
            *m.entry(format!("{:?}", e.source)).or_default() += 1;
        }
        m
    }

    pub fn read(path: &Path) -> Result<Crops> {
        let bad = |why: String| FaceError::dataset(path, format!("crop cache: {why}"));
        let mut f = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let mut head = [0u8; 16];
        f.read_exact(&mut head).map_err(|e| bad(format!("cannot read the header: {e}")))?;
        if &head[..8] != MAGIC {
            return Err(bad("not a facestyle crop cache".into()));
        }
        let n = u64::from_le_bytes(head[8..].try_into().expect("8 bytes")) as usize;
        let mut json = vec![0u8; n];
        f.read_exact(&mut json).map_err(|e| bad(format!("index cut short: {e}")))?;
        let entries: Vec<CropEntry> =
            serde_json::from_slice(&json).map_err(|e| bad(format!("bad index: {e}")))?;
        let mut pixels = Vec::with_capacity(entries.len() * PLANE);
        f.read_to_end(&mut pixels).map_err(|e| bad(format!("cannot read the crops: {e}")))?;
        if pixels.len() != entries.len() * PLANE {
            return Err(bad(format!("holds {} bytes of crops for {} entries", pixels.len(), entries.len())));
        }
        let index = entries.iter().enumerate().map(|(i, e)| (e.path.clone(), i)).collect();
        Ok(Crops { entries, pixels, index })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let bad = |e: std::io::Error| FaceError::dataset(path, format!("cannot write the crop cache: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(bad)?;
        }
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec(&self.entries).expect("serialisable");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(bad)?);
        f.write_all(MAGIC).map_err(bad)?;
        f.write_all(&(json.len() as u64).to_le_bytes()).map_err(bad)?;
        f.write_all(&json).map_err(bad)?;
        f.write_all(&self.pixels).map_err(bad)?;
        f.into_inner().map_err(|e| bad(e.into_error()))?.sync_all().map_err(bad)?;
        std::fs::rename(&tmp, path).map_err(bad)
    }
}

impl Crops {
    /// The cache file's crops, or none when it does not exist yet.
    pub fn open(cache: &Path) -> Result<Crops> {
        if cache.exists() { Crops::read(cache) } else { Ok(Crops::default()) }
    }

    /// The paths of `wanted` that have no crop yet, in order.
    pub fn missing(&self, wanted: &[String]) -> Vec<String> {
        wanted.iter().filter(|p| self.get(p).is_none()).cloned().collect()
    }

    /// Detects and aligns the images `paths` (relative to `root`; `on_image(done, total)` after
    /// each) and adds their crops. Images that cannot be decoded are skipped and returned.
    pub fn add_images(
        &mut self,
        engine: &FaceEngine,
        root: &Path,
        paths: &[String],
        on_image: &mut dyn FnMut(usize, usize),
    ) -> Vec<Skipped> {
        let mut skipped = Vec::new();
        let mut done = 0;
        for chunk in paths.chunks(64) {
            let imgs: Vec<_> = chunk.par_iter().map(|p| load_rgb(&root.join(p))).collect();
            for (p, img) in chunk.iter().zip(imgs) {
                match img {
                    Ok(img) => {
                        let (crop, source) = eval_crop(engine, &img);
                        self.push_crop(CropEntry { path: p.clone(), source }, crop.as_raw());
                    }
                    Err(e) => skipped.push(Skipped { path: p.clone(), problem: e.to_string() }),
                }
                done += 1;
                on_image(done, paths.len());
            }
        }
        skipped
    }
}

/// Default cache file for a dataset root: under the facestyle cache, named by the root's
/// absolute path (so two datasets never share one).
pub fn default_cache(root: &Path) -> PathBuf {
    use sha2::Digest;
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let key = hex::encode(sha2::Sha256::digest(abs.to_string_lossy().as_bytes()));
    facestyle_models::cache::cache_root().join("crops").join(format!("{}.crops", &key[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_file_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.crops");
        let mut c = Crops::default();
        c.push_crop(
            CropEntry { path: "A/A_0001.jpg".into(), source: FaceSource::Detected },
            &vec![7u8; PLANE],
        );
        c.push_crop(
            CropEntry { path: "B/B_0001.jpg".into(), source: FaceSource::CentreCrop },
            &vec![9u8; PLANE],
        );
        c.write(&path).unwrap();
        let back = Crops::read(&path).unwrap();
        assert_eq!(back.get("B/B_0001.jpg"), Some(1));
        assert_eq!(back.pixels(1)[0], 9);
        assert_eq!(back.sources()["CentreCrop"], 1);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let e = Crops::read(&path).unwrap_err().to_string();
        assert!(e.contains("c.crops") && e.contains("bytes of crops"), "{e}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(Crops::read(&path).is_err());
    }
}
