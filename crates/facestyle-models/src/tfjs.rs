//! TensorFlow.js weights: a JSON manifest (`*-weights_manifest.json`) naming binary shards.
//!
//! The manifest is a list of groups `{paths: [shard..], weights: [{name, shape, dtype,
//! quantization?}]}`; a group's shards are concatenated and its weights laid end to end.
//! Quantized weights store `uint8`/`uint16` codes `q` with `value = q * scale + min`, or
//! `float16`.
//!
//! A manifest is data, not trusted: shard paths must stay below the manifest's directory, and
//! every size is computed with checked arithmetic and bounded by the shard bytes present.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::{ModelError, Result};
use crate::onnx::f16_to_f32;
use crate::tensor::WeightTensor;

#[derive(Debug, Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    #[serde(default)]
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    #[serde(default)]
    scale: Option<f64>,
    #[serde(default)]
    min: Option<f64>,
}

/// Reads every weight of a tfjs manifest; shard paths are relative to the manifest's directory.
pub fn load_tfjs(manifest: &Path) -> Result<Vec<WeightTensor>> {
    let text = std::fs::read_to_string(manifest).map_err(|e| ModelError::io(manifest, e))?;
    let groups: Vec<Group> = serde_json::from_str(&text)
        .map_err(|e| ModelError::invalid(manifest, format!("not a tfjs weights manifest: {e}")))?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for group in &groups {
        let mut bytes = Vec::new();
        for shard in &group.paths {
            if !seen.insert(shard.as_str()) {
                return Err(ModelError::invalid(manifest, format!("shard {shard:?} is listed twice")));
            }
            let path = shard_path(dir, shard).map_err(|problem| ModelError::invalid(manifest, problem))?;
            bytes.extend(read_shard(&path)?);
        }
        let shard_name = group.paths.join(", ");
        let mut at = 0usize;
        for entry in &group.weights {
            let (data, used) = decode(entry, &bytes[at.min(bytes.len())..]).map_err(|problem| {
                ModelError::invalid(manifest, format!("weight {}: {problem}", entry.name))
            })?;
            at += used;
            out.push(WeightTensor::new(entry.name.clone(), entry.shape.clone(), data));
        }
        if at != bytes.len() {
            return Err(ModelError::invalid(
                manifest,
                format!("shards [{shard_name}] hold {} bytes but the manifest describes {at}", bytes.len()),
            ));
        }
    }
    Ok(out)
}

/// `dir/shard`, for a shard path made only of plain names (no root, no `.` or `..`), so that
/// a manifest cannot name a file outside its own directory.
fn shard_path(dir: &Path, shard: &str) -> std::result::Result<PathBuf, String> {
    let path = Path::new(shard);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if shard.is_empty() || !plain {
        return Err(format!(
            "shard path {shard:?} is not a plain relative path below the manifest's directory"
        ));
    }
    Ok(dir.join(path))
}

/// A shard's bytes; only a regular file (not a device or a pipe, which could be endless).
fn read_shard(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    if !meta.is_file() {
        return Err(ModelError::invalid(path, "a tfjs shard must be a regular file"));
    }
    std::fs::read(path).map_err(|e| ModelError::io(path, e))
}

/// Decodes one weight from the start of `bytes`; returns the values and the bytes consumed.
fn decode(entry: &Entry, bytes: &[u8]) -> std::result::Result<(Vec<f32>, usize), String> {
    let count = entry
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} overflows the number of values", entry.shape))?;
    let stored = entry.quantization.as_ref().map_or(entry.dtype.as_str(), |q| q.dtype.as_str());
    let width = match stored {
        "float32" | "int32" => 4,
        "uint16" | "float16" => 2,
        "uint8" => 1,
        other => return Err(format!("unsupported stored dtype {other:?}")),
    };
    let need = count
        .checked_mul(width)
        .ok_or_else(|| format!("shape {:?} of {stored} overflows the byte count", entry.shape))?;
    if bytes.len() < need {
        return Err(format!("needs {need} bytes, only {} left in the shards (truncated?)", bytes.len()));
    }
    let raw = &bytes[..need];
    let affine = |q: &Quantization| -> std::result::Result<(f64, f64), String> {
        match (q.scale, q.min) {
            (Some(s), Some(m)) => Ok((s, m)),
            _ => Err(format!("{} quantization without scale and min", q.dtype)),
        }
    };
    let data: Vec<f32> = match (stored, entry.quantization.as_ref()) {
        ("float32", _) => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        ("int32", _) => {
            raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32).collect()
        }
        ("float16", _) => raw.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        ("uint8", Some(q)) => {
            let (scale, min) = affine(q)?;
            raw.iter().map(|&v| (v as f64 * scale + min) as f32).collect()
        }
        ("uint16", Some(q)) => {
            let (scale, min) = affine(q)?;
            raw.chunks_exact(2)
                .map(|b| (u16::from_le_bytes([b[0], b[1]]) as f64 * scale + min) as f32)
                .collect()
        }
        (other, None) => return Err(format!("stored dtype {other:?} needs a quantization entry")),
        (other, Some(_)) => return Err(format!("unsupported quantized dtype {other:?}")),
    };
    Ok((data, need))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, manifest: &str, shard: &[u8]) -> std::path::PathBuf {
        std::fs::write(dir.join("m.bin"), shard).unwrap();
        let path = dir.join("m-weights_manifest.json");
        std::fs::write(&path, manifest).unwrap();
        path
    }

    #[test]
    fn reads_float32_and_uint8_quantized_weights() {
        let dir = tempfile::tempdir().unwrap();
        let mut shard: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        shard.extend([0u8, 10, 255]);
        let manifest = r#"[{"paths":["m.bin"],"weights":[
            {"name":"a","shape":[2],"dtype":"float32"},
            {"name":"q","shape":[1,3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}}]}]"#;
        let w = load_tfjs(&write(dir.path(), manifest, &shard)).unwrap();
        assert_eq!(w[0].data, vec![1.5, -2.0]);
        assert_eq!(w[1].shape, vec![1, 3]);
        assert_eq!(w[1].data, vec![-1.0, 4.0, 126.5]);
    }

    #[test]
    fn refuses_truncated_shards_extra_bytes_and_bad_json() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = r#"[{"paths":["m.bin"],"weights":[{"name":"a","shape":[4],"dtype":"float32"}]}]"#;
        let err = load_tfjs(&write(dir.path(), manifest, &[0u8; 12])).unwrap_err().to_string();
        assert!(
            err.contains("m-weights_manifest.json") && err.contains("weight a") && err.contains("truncated"),
            "{err}"
        );
        let err = load_tfjs(&write(dir.path(), manifest, &[0u8; 20])).unwrap_err().to_string();
        assert!(err.contains("hold 20 bytes"), "{err}");
        let err = load_tfjs(&write(dir.path(), "{not json", &[])).unwrap_err().to_string();
        assert!(err.contains("not a tfjs weights manifest"), "{err}");
        let missing = r#"[{"paths":["gone.bin"],"weights":[]}]"#;
        let err = load_tfjs(&write(dir.path(), missing, &[])).unwrap_err().to_string();
        assert!(err.contains("gone.bin"), "{err}");
    }
}
