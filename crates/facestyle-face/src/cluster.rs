//! Grouping faces by identity without labels: Chinese whispers (Biemann 2006, as in dlib) on
//! the graph that links two faces when their distance is at most the verification threshold.
//! Deterministic: nodes are visited in a fixed pseudo-random order from `seed`.

use crate::metric::{Metric, Verifier};
use crate::search::dot8;

/// Cluster label per embedding (0 = largest cluster, then by size, ties by first member).
pub fn chinese_whispers(
    embeddings: &[Vec<f32>],
    verifier: &Verifier,
    iterations: usize,
    seed: u64,
) -> Vec<usize> {
    let n = embeddings.len();
    // Edges weighted by similarity (1 - d / max_d), only where the verifier says "same".
    let metric = verifier.metric;
    let max_d = match metric {
        Metric::SqL2 => 4.0,
        Metric::Cosine => 2.0,
    };
    let mut adj: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in i + 1..n {
            let dot = dot8(&embeddings[i], &embeddings[j]);
            let sq = (2.0 - 2.0 * dot).max(0.0);
            let d = if metric == Metric::Cosine { sq / 2.0 } else { sq };
            if verifier.same(d) {
                let w = 1.0 - d / max_d;
                adj[i].push((j, w));
                adj[j].push((i, w));
            }
        }
    }
    let mut label: Vec<usize> = (0..n).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    for _ in 0..iterations {
        // Fisher-Yates with a 64-bit LCG.
        for i in (1..n).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let mut changed = false;
        for &v in &order {
            if adj[v].is_empty() {
                continue;
            }
            let mut votes: Vec<(usize, f32)> = Vec::new();
            for &(u, w) in &adj[v] {
                match votes.iter_mut().find(|e| e.0 == label[u]) {
                    Some(e) => e.1 += w,
                    None => votes.push((label[u], w)),
                }
            }
            let best =
                votes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))).map(|e| e.0).unwrap();
            if best != label[v] {
                label[v] = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    relabel_by_size(&label)
}

/// Renumbers labels 0.. by cluster size (largest first), ties by first member.
pub fn relabel_by_size(label: &[usize]) -> Vec<usize> {
    let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // (label, size, first)
    for (i, &l) in label.iter().enumerate() {
        match groups.iter_mut().find(|g| g.0 == l) {
            Some(g) => g.1 += 1,
            None => groups.push((l, 1, i)),
        }
    }
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    label.iter().map(|l| groups.iter().position(|g| g.0 == *l).unwrap()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::l2_normalize;

    #[test]
    fn separates_three_tight_groups_and_a_loner() {
        let centres = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
        let mut embs = Vec::new();
        let sizes = [4, 3, 2];
        for (c, &k) in centres.iter().zip(&sizes) {
            for j in 0..k {
                let mut v: Vec<f32> = c.iter().map(|x| x + 0.05 * j as f32).collect();
                l2_normalize(&mut v);
                embs.push(v);
            }
        }
        embs.push(vec![0.0, 0.0, 0.0, 1.0]);
        let labels = chinese_whispers(&embs, &Verifier::new(Metric::SqL2, 0.5).unwrap(), 20, 7);
        assert_eq!(labels, vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 3]);
    }
}
