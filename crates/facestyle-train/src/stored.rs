//! Embeddings computed once and stored, one JSON line per image:
//! `{"path": .., "model": .., "model_version": .., "embedding": [..]}`. Verification heads
//! train and run on these stored vectors. A file holds one model's vectors: lines of another
//! model make it refused rather than mixed.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use facestyle_face::{FaceError, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    path: String,
    model: String,
    model_version: String,
    embedding: Vec<f32>,
}

/// Reads the vectors stored in `file` for the model `(id, version)` (empty when the file does
/// not exist yet).
pub fn read(file: &Path, id: &str, version: &str) -> Result<HashMap<String, Vec<f32>>> {
    let mut out = HashMap::new();
    if !file.exists() {
        return Ok(out);
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| FaceError::dataset(file, format!("cannot read: {e}")))?;
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line: Line = serde_json::from_str(l)
            .map_err(|e| FaceError::dataset(file, format!("line {}: not a stored embedding: {e}", i + 1)))?;
        if line.model != id || line.model_version != version {
            return Err(FaceError::dataset(
                file,
                format!("holds {} {} embeddings, not {id} {version}", line.model, line.model_version),
            ));
        }
        out.insert(line.path, line.embedding);
    }
    Ok(out)
}

/// Computes the embeddings of the given image paths, in order.
pub type Compute<'a> = dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>> + 'a;

/// The vectors of every path in `wanted`: those stored in `file` are read, the others computed
/// by `compute` (given the missing paths, in order) and appended to the file.
pub fn ensure(
    file: &Path,
    id: &str,
    version: &str,
    wanted: &[String],
    compute: &mut Compute,
) -> Result<HashMap<String, Vec<f32>>> {
    let mut have = read(file, id, version)?;
    let missing: Vec<String> = wanted.iter().filter(|p| !have.contains_key(*p)).cloned().collect();
    if missing.is_empty() {
        return Ok(have);
    }
    let vectors = compute(&missing)?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| FaceError::dataset(file, format!("cannot create its folder: {e}")))?;
    }
    let mut text = String::new();
    for (p, v) in missing.iter().zip(&vectors) {
        let line =
            Line { path: p.clone(), model: id.into(), model_version: version.into(), embedding: v.clone() };
        text += &serde_json::to_string(&line).expect("serialisable");
        text.push('\n');
    }
    // One append of whole lines: an interrupted run loses at most the new lines.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| FaceError::dataset(file, format!("cannot write: {e}")))?;
    have.extend(missing.into_iter().zip(vectors));
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_only_what_is_missing_and_refuses_other_models() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("e.jsonl");
        let mut calls = Vec::new();
        let mut compute = |p: &[String]| -> Result<Vec<Vec<f32>>> {
            calls.push(p.to_vec());
            Ok(p.iter().map(|s| vec![s.len() as f32]).collect())
        };
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = ensure(&f, "m", "1", &want(&["a", "bb"]), &mut compute).unwrap();
        assert_eq!(a["bb"], vec![2.0]);
        let b = ensure(&f, "m", "1", &want(&["a", "ccc"]), &mut compute).unwrap();
        assert_eq!((b.len(), b["ccc"].clone()), (3, vec![3.0]));
        assert_eq!(calls, vec![want(&["a", "bb"]), want(&["ccc"])]);
        let e = read(&f, "other", "2").unwrap_err().to_string();
        assert!(e.contains("e.jsonl") && e.contains("holds m 1"), "{e}");
    }
}
