//! Exact nearest-neighbour search over precomputed unit-length embeddings ("precompute the
//! database encodings"): one contiguous row-major matrix, scanned with a SIMD-friendly dot
//! product, in parallel for large galleries. On unit vectors `||a - b||^2 = 2 - 2 a.b`, so the
//! scan only needs dot products.

use rayon::prelude::*;

use serde::Serialize;

use crate::metric::{Metric, Verifier};

/// Rows of `dim` floats, each owned by a label index.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub owners: Vec<u32>,
}

/// A search hit: the label index and its best (smallest) distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub owner: u32,
    pub distance: f32,
}

/// The name given to a face nobody in the gallery is close enough to.
pub const UNKNOWN: &str = "unknown";

/// Open-set identification: the owner's name of the best hit when the verifier calls it the
/// same person, else [`UNKNOWN`].
pub fn name_or_unknown<'a>(best: Option<&Hit>, names: &'a [String], verifier: &Verifier) -> &'a str {
    match best {
        Some(h) if verifier.same(h.distance) => &names[h.owner as usize],
        _ => UNKNOWN,
    }
}

/// A face of a photo (box, score, how it was found) and who it is: one entry of an
/// identification, as the command line and the server report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedFace {
    /// `[x, y, width, height]` of the face.
    pub bbox: [f32; 4],
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// How the face was found when the detector's pass at its threshold found none.
    pub fallback: Option<crate::detect::Fallback>,
    #[serde(flatten)]
    pub who: Identified,
}

impl NamedFace {
    pub fn new(face: &crate::detect::Face, who: Identified) -> Self {
        NamedFace { bbox: face.bbox, score: face.score, fallback: face.fallback, who }
    }
}

/// A person near a face, at the distance of their closest embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub name: String,
    pub distance: f32,
}

/// Who a face is: the closest person when the verifier calls them the same, else
/// [`UNKNOWN`]; `distance` is the closest person's (absent for an empty gallery), and
/// `candidates` the closest people, closest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identified {
    pub name: String,
    pub distance: Option<f32>,
    pub candidates: Vec<Candidate>,
}

/// Dot product with 8 independent accumulators so the compiler emits vector code.
#[inline]
pub fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

impl Index {
    pub fn new(dim: usize) -> Self {
        Index { dim, vectors: Vec::new(), owners: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn push(&mut self, owner: u32, v: &[f32]) {
        assert_eq!(v.len(), self.dim, "embedding length differs from the index's");
        self.vectors.extend_from_slice(v);
        self.owners.push(owner);
    }

    /// Bytes held by the vectors and owners.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.len() * 4 + self.owners.len() * 4
    }

    /// Identifies `query` among the people `names` (indexed by owner): the `top` closest
    /// people as candidates, and the name or [`UNKNOWN`] by `verifier`.
    pub fn identify(&self, query: &[f32], top: usize, verifier: &Verifier, names: &[String]) -> Identified {
        let hits = self.search(query, top.max(1), verifier.metric);
        let best = hits.first();
        Identified {
            name: name_or_unknown(best, names, verifier).to_string(),
            distance: best.map(|h| h.distance),
            candidates: hits
                .iter()
                .take(top)
                .map(|h| Candidate { name: names[h.owner as usize].clone(), distance: h.distance })
                .collect(),
        }
    }

    /// The `k` owners closest to `query` (each owner once, at its closest row), closest first.
    /// `k = 0` asks for nothing and gets an empty list.
    pub fn search(&self, query: &[f32], k: usize, metric: Metric) -> Vec<Hit> {
        const PAR_ROWS: usize = 16_384;
        if k == 0 {
            return Vec::new();
        }
        let dim = self.dim;
        let best_in = |start: usize, rows: &[f32]| -> Vec<(u32, f32)> {
            // best dot per owner within this chunk, kept small: owners repeat rarely.
            let mut best: Vec<(u32, f32)> = Vec::new();
            for (i, row) in rows.chunks_exact(dim).enumerate() {
                let d = dot8(query, row);
                let owner = self.owners[start + i];
                push_top(&mut best, owner, d, k);
            }
            best
        };
        let merged: Vec<(u32, f32)> = if self.len() > PAR_ROWS {
            self.vectors
                .par_chunks(PAR_ROWS * dim)
                .enumerate()
                .map(|(c, rows)| best_in(c * PAR_ROWS, rows))
                .reduce(Vec::new, |mut a, b| {
                    for (o, d) in b {
                        push_top(&mut a, o, d, k);
                    }
                    a
                })
        } else {
            best_in(0, &self.vectors)
        };
        let mut hits: Vec<Hit> = merged
            .into_iter()
            .map(|(owner, dot)| {
                let sq = (2.0 - 2.0 * dot).max(0.0);
                let distance = match metric {
                    Metric::SqL2 => sq,
                    Metric::Cosine => sq / 2.0,
                };
                Hit { owner, distance }
            })
            .collect();
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        hits
    }
}

/// Keeps the `k` largest dots in `best`, at most one entry per owner.
fn push_top(best: &mut Vec<(u32, f32)>, owner: u32, dot: f32, k: usize) {
    if let Some(e) = best.iter_mut().find(|e| e.0 == owner) {
        if dot > e.1 {
            e.1 = dot;
        }
        return;
    }
    if best.len() < k {
        best.push((owner, dot));
        return;
    }
    let (wi, w) =
        best.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).map(|(i, e)| (i, e.1)).unwrap();
    if dot > w {
        best[wi] = (owner, dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::l2_normalize;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        l2_normalize(&mut v);
        v
    }

    #[test]
    fn dot8_matches_naive_for_odd_lengths() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..19).map(|i| (i as f32).sin()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot8(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn finds_nearest_owner_once_and_matches_brute_force() {
        let mut idx = Index::new(3);
        idx.push(0, &unit(&[1.0, 0.0, 0.0]));
        idx.push(1, &unit(&[0.0, 1.0, 0.0]));
        idx.push(0, &unit(&[0.9, 0.1, 0.0]));
        idx.push(2, &unit(&[0.0, 0.0, 1.0]));
        let q = unit(&[1.0, 0.05, 0.0]);
        let hits = idx.search(&q, 2, Metric::SqL2);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].owner, 0);
        let brute = Metric::SqL2
            .distance(&q, &unit(&[1.0, 0.0, 0.0]))
            .min(Metric::SqL2.distance(&q, &unit(&[0.9, 0.1, 0.0])));
        assert!((hits[0].distance - brute).abs() < 1e-5);
        assert_eq!(hits[1].owner, 1);
    }

    #[test]
    fn identify_names_within_the_threshold_and_lists_candidates() {
        let mut idx = Index::new(3);
        idx.push(0, &unit(&[1.0, 0.0, 0.0]));
        idx.push(1, &unit(&[0.0, 1.0, 0.0]));
        let names = vec!["ada".to_string(), "bo".to_string()];
        let q = unit(&[1.0, 0.2, 0.0]);
        let v = Verifier::new(Metric::SqL2, 0.1).unwrap();
        let found = idx.identify(&q, 2, &v, &names);
        assert_eq!(found.name, "ada");
        assert_eq!(found.candidates.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["ada", "bo"]);
        assert_eq!(found.distance, Some(found.candidates[0].distance));
        // Nobody close enough: unknown, with the same candidates; top 0 lists none but decides.
        let strict = Verifier::new(Metric::SqL2, 0.01).unwrap();
        assert_eq!(idx.identify(&q, 2, &strict, &names).name, UNKNOWN);
        let none = idx.identify(&q, 0, &v, &names);
        assert!(none.candidates.is_empty() && none.name == "ada");
        // An empty gallery: unknown, no distance.
        let empty = Index::new(3).identify(&q, 3, &v, &[]);
        assert_eq!((empty.name.as_str(), empty.distance), (UNKNOWN, None));
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["candidates"][1]["name"], "bo");
    }

    #[test]
    fn k_zero_finds_nothing_on_either_path() {
        for rows in [3, 20_000] {
            let mut idx = Index::new(2);
            for i in 0..rows {
                idx.push(i % 7, &unit(&[1.0, i as f32 / rows as f32]));
            }
            assert!(idx.search(&unit(&[1.0, 0.5]), 0, Metric::SqL2).is_empty(), "{rows} rows");
            assert_eq!(idx.search(&unit(&[1.0, 0.5]), 1, Metric::SqL2).len(), 1);
        }
        assert!(Index::new(2).search(&[1.0, 0.0], 0, Metric::Cosine).is_empty());
    }

    #[test]
    fn parallel_path_agrees_with_serial_scan() {
        let dim = 16;
        let mut idx = Index::new(dim);
        let mut rng = 12345u64;
        let mut next = || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for i in 0..40_000u32 {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            idx.push(i % 5000, &unit(&v));
        }
        let q = unit(&(0..dim).map(|_| next()).collect::<Vec<_>>());
        let hits = idx.search(&q, 3, Metric::Cosine);
        let mut brute: Vec<(u32, f32)> = Vec::new();
        for (i, row) in idx.vectors.chunks_exact(dim).enumerate() {
            brute.push((idx.owners[i], Metric::Cosine.distance(&q, row)));
        }
        brute.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(hits[0].owner, brute[0].0);
        assert!((hits[0].distance - brute[0].1).abs() < 1e-5);
    }
}
