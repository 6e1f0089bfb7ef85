//! Batches of P identities x K images for triplet mining, plus a few images of identities that
//! have only one (usable as negatives only: they can never be an anchor or a positive).

use rand::Rng;
use rand::seq::SliceRandom;

/// One batch: crop indices and their identity labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub items: Vec<usize>,
    pub labels: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Sampler {
    /// Crop indices of each identity with at least two images.
    groups: Vec<Vec<usize>>,
    /// Crops of identities with a single image.
    singles: Vec<usize>,
    pub p: usize,
    pub k: usize,
    /// Single-image identities added to each batch as extra negatives.
    pub singles_per_batch: usize,
}

impl Sampler {
    /// `identities`: the crop indices of each identity.
    pub fn new(identities: Vec<Vec<usize>>, p: usize, k: usize, singles_per_batch: usize) -> Self {
        assert!(p >= 2 && k >= 2, "a batch needs at least 2 identities of at least 2 images");
        let (groups, ones): (Vec<_>, Vec<_>) =
            identities.into_iter().filter(|g| !g.is_empty()).partition(|g| g.len() >= 2);
        let singles = ones.into_iter().map(|g| g[0]).collect();
        Sampler { groups, singles, p, k, singles_per_batch }
    }

    /// Identities that can be anchors (two images or more).
    pub fn anchor_identities(&self) -> usize {
        self.groups.len()
    }

    pub fn single_identities(&self) -> usize {
        self.singles.len()
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.groups.len().div_ceil(self.p)
    }

    /// One epoch: every multi-image identity once, in random order, P to a batch (the last
    /// batch is topped up with random others), each with up to K of its images drawn at
    /// random without replacement; then `singles_per_batch` random single-image identities.
    pub fn epoch(&self, rng: &mut impl Rng) -> Vec<Batch> {
        let mut order: Vec<usize> = (0..self.groups.len()).collect();
        order.shuffle(rng);
        let mut out = Vec::with_capacity(self.batches_per_epoch());
        for chunk in order.chunks(self.p) {
            let mut ids = chunk.to_vec();
            while ids.len() < self.p.min(self.groups.len()) {
                let extra = rng.random_range(0..self.groups.len());
                if !ids.contains(&extra) {
                    ids.push(extra);
                }
            }
            let mut batch = Batch { items: vec![], labels: vec![] };
            for &g in &ids {
                let mut imgs = self.groups[g].clone();
                imgs.shuffle(rng);
                for &i in imgs.iter().take(self.k) {
                    batch.items.push(i);
                    batch.labels.push(g);
                }
            }
            let mut singles = self.singles.clone();
            let (picked, _) = singles.partial_shuffle(rng, self.singles_per_batch);
            for (j, &i) in picked.iter().enumerate() {
                batch.items.push(i);
                batch.labels.push(self.groups.len() + j);
            }
            out.push(batch);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn epochs_cover_every_identity_with_p_by_k_batches() {
        // 5 identities with 2..=6 images, 3 with one image.
        let mut next = 0;
        let mut ids = Vec::new();
        for n in [2, 3, 4, 5, 6, 1, 1, 1] {
            ids.push((next..next + n).collect::<Vec<_>>());
            next += n;
        }
        let s = Sampler::new(ids.clone(), 2, 4, 2);
        assert_eq!((s.anchor_identities(), s.single_identities(), s.batches_per_epoch()), (5, 3, 3));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let epoch = s.epoch(&mut rng);
        assert_eq!(epoch.len(), 3);
        let mut seen = std::collections::HashSet::new();
        for b in &epoch {
            let multi: std::collections::HashSet<usize> =
                b.labels.iter().copied().filter(|&l| l < 5).collect();
            assert_eq!(multi.len(), 2, "{b:?}");
            seen.extend(multi.iter().copied());
            for &l in &multi {
                let n = b.labels.iter().filter(|&&x| x == l).count();
                assert_eq!(n, ids[l].len().min(4));
            }
            // Two single-image identities, each its own label, never repeated.
            let singles: Vec<usize> = b.items.iter().copied().filter(|&i| i >= 20).collect();
            assert_eq!(singles.len(), 2);
            assert_ne!(singles[0], singles[1]);
            // Items belong to their label's identity; no image twice.
            for (&i, &l) in b.items.iter().zip(&b.labels) {
                if l < 5 {
                    assert!(ids[l].contains(&i));
                }
            }
            let uniq: std::collections::HashSet<_> = b.items.iter().collect();
            assert_eq!(uniq.len(), b.items.len());
        }
        assert_eq!(seen.len(), 5);
    }
}
