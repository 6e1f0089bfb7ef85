//! Per unit, the k strongest activations over an image collection, in bounded memory: a
//! min-heap of k hits per unit (the weakest on top, replaced when a stronger one arrives).
//!
//! Each image contributes at most one hit per unit: its strongest position (as Zeiler & Fergus,
//! so the k patches show k different images instead of k shifts of one spot).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use serde::Serialize;

/// One activation: its value, the image (index into the collection) and the unit's position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Hit {
    pub value: f32,
    pub image: usize,
    pub y: usize,
    pub x: usize,
}

impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Hit {
    /// By value; ties go to the earlier image, then position, so results do not depend on
    /// arrival order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.value
            .total_cmp(&other.value)
            .then_with(|| other.image.cmp(&self.image))
            .then_with(|| (other.y, other.x).cmp(&(self.y, self.x)))
    }
}

/// The k strongest hits of one unit.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Hit>>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    pub fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(Reverse(hit));
        } else if let Some(Reverse(weakest)) = self.heap.peek()
            && hit > *weakest
        {
            self.heap.pop();
            self.heap.push(Reverse(hit));
        }
    }

    /// The hits, strongest first.
    pub fn sorted(&self) -> Vec<Hit> {
        let mut v: Vec<Hit> = self.heap.iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }
}

/// Running statistics of one layer over the collection: the top-k hits and the mean activation
/// of every unit.
#[derive(Debug, Clone)]
pub struct LayerStats {
    pub units: Vec<TopK>,
    sums: Vec<f64>,
    images: usize,
}

impl LayerStats {
    pub fn new(channels: usize, k: usize) -> Self {
        LayerStats { units: vec![TopK::new(k); channels], sums: vec![0.0; channels], images: 0 }
    }

    /// One image's activations `[C, H, W]` (row-major, C = the layer's units).
    pub fn observe(&mut self, image: usize, h: usize, w: usize, data: &[f32]) {
        let plane = h * w;
        assert_eq!(data.len(), plane * self.units.len(), "activation size");
        if plane == 0 {
            return;
        }
        for (c, (unit, sum)) in self.units.iter_mut().zip(self.sums.iter_mut()).enumerate() {
            let map = &data[c * plane..(c + 1) * plane];
            let mut best = 0;
            let mut total = 0.0f64;
            for (i, &v) in map.iter().enumerate() {
                total += v as f64;
                if v > map[best] {
                    best = i;
                }
            }
            *sum += total / plane as f64;
            unit.push(Hit { value: map[best], image, y: best / w, x: best % w });
        }
        self.images += 1;
    }

    /// Mean activation of each unit (averaged over positions, then images).
    pub fn means(&self) -> Vec<f64> {
        self.sums.iter().map(|s| s / self.images.max(1) as f64).collect()
    }
}

/// Which units to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Units 0..n.
    First,
    /// n distinct units drawn with this seed.
    Random(u64),
    /// The n units with the highest mean activation over the collection.
    Active,
}

impl std::str::FromStr for Pick {
    type Err = crate::VizError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "first" => Ok(Pick::First),
            "active" => Ok(Pick::Active),
            "random" => Ok(Pick::Random(0)),
            _ => match s.strip_prefix("random:").map(str::parse::<u64>) {
                Some(Ok(seed)) => Ok(Pick::Random(seed)),
                _ => Err(crate::VizError::Pick(s.to_string())),
            },
        }
    }
}

/// The indices of `n` units (of `stats`' layer) chosen by `pick`.
pub fn pick_units(stats: &LayerStats, n: usize, pick: Pick) -> Vec<usize> {
    let c = stats.units.len();
    let n = n.min(c);
    match pick {
        Pick::First => (0..n).collect(),
        Pick::Random(seed) => {
            use rand::SeedableRng;
            use rand::seq::index::sample;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut v = sample(&mut rng, c, n).into_vec();
            v.sort_unstable();
            v
        }
        Pick::Active => {
            let means = stats.means();
            let mut order: Vec<usize> = (0..c).collect();
            order.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
            order.truncate(n);
            order
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_strongest_in_order_whatever_the_arrival_order() {
        let values = [3.0, 9.0, 1.0, 7.0, 5.0, 8.0, 2.0];
        let mut fwd = TopK::new(3);
        let mut rev = TopK::new(3);
        for (i, &v) in values.iter().enumerate() {
            fwd.push(Hit { value: v, image: i, y: 0, x: 0 });
        }
        for (i, &v) in values.iter().enumerate().rev() {
            rev.push(Hit { value: v, image: i, y: 0, x: 0 });
        }
        let got: Vec<f32> = fwd.sorted().iter().map(|h| h.value).collect();
        assert_eq!(got, vec![9.0, 8.0, 7.0]);
        assert_eq!(fwd.sorted(), rev.sorted());
    }

    #[test]
    fn one_hit_per_image_at_its_strongest_position_and_means() {
        let mut s = LayerStats::new(2, 2);
        // Image 0: unit 0 peaks at (1, 0); unit 1 is flat 1.
        s.observe(0, 2, 2, &[0.0, 1.0, 5.0, 2.0, 1.0, 1.0, 1.0, 1.0]);
        // Image 1: unit 0 peaks at (0, 1) with 4.
        s.observe(1, 2, 2, &[0.0, 4.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0]);
        let u0 = s.units[0].sorted();
        assert_eq!(u0[0], Hit { value: 5.0, image: 0, y: 1, x: 0 });
        assert_eq!(u0[1], Hit { value: 4.0, image: 1, y: 0, x: 1 });
        assert_eq!(s.means(), vec![(2.0 + 1.0) / 2.0, 2.0]);
        assert_eq!(pick_units(&s, 1, Pick::Active), vec![1]);
        assert_eq!(pick_units(&s, 5, Pick::First), vec![0, 1]);
        let r = pick_units(&s, 2, Pick::Random(3));
        assert_eq!(r, vec![0, 1]);
        assert_eq!("random:7".parse::<Pick>().unwrap(), Pick::Random(7));
        assert_eq!(
            "most".parse::<Pick>().unwrap_err().to_string(),
            "pick 'most': expected first, active, random or random:SEED"
        );
    }
}
