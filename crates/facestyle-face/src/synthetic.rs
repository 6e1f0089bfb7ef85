//! Synthetic galleries with the identity structure of real face embeddings, for benchmarks and
//! tests of gallery search at sizes no photo collection here reaches: people of 2 to 10 photos
//! each, the photos of one person around their centre.
//!
//! Two shapes: [`Spread::Isotropic`], people in random directions of the unit sphere, photos of
//! one person about as far apart as SFace's LFW photos of one person (squared L2 about 0.8),
//! different people about 2 apart (every other person nearly equally far: the hardest case
//! for an approximate index); and [`Spread::Fitted`], people and photos drawn from Gaussians
//! fitted to real embeddings (the mean and covariance of people's centres, and the pooled
//! covariance of photos around their person's centre), so that people resemble each other as
//! real faces do.

use crate::metric::l2_normalize;

/// A deterministic source of uniform and normal numbers (splitmix64 + Box-Muller).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A number in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal number.
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// A random direction: a unit vector of `dim` values.
    pub fn unit(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| self.normal()).collect();
        l2_normalize(&mut v);
        v
    }
}

/// Noise per value of a photo around its person's centre: with 128 values, photos of one
/// person end up about 0.8 apart in squared L2.
pub const PHOTO_NOISE: f32 = 0.07;

/// A photo of the person at `centre`: the centre plus noise, on the unit sphere.
pub fn photo(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = centre.iter().map(|c| c + PHOTO_NOISE * rng.normal()).collect();
    l2_normalize(&mut v);
    v
}

/// Where people and their photos lie.
#[derive(Debug, Clone)]
pub enum Spread {
    Isotropic,
    Fitted(Box<Fitted>),
}

/// Gaussians fitted to real embeddings: centres ~ N(mean, B), photo = centre + N(0, W), then
/// made unit length. `between` and `within` are the lower Cholesky factors of B and W.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub dim: usize,
    pub mean: Vec<f32>,
    pub between: Vec<f64>,
    pub within: Vec<f64>,
    /// People and photos the fit used.
    pub people: usize,
    pub photos: usize,
}

impl Fitted {
    /// Fits the Gaussians to `photos` (unit embeddings) of people (`owners`: the person of
    /// each); only people with 2 or more photos count. `None` with fewer than `dim` such people.
    pub fn fit(photos: &[Vec<f32>], owners: &[usize]) -> Option<Self> {
        let dim = photos.first()?.len();
        let mut by_person: std::collections::BTreeMap<usize, Vec<&[f32]>> = Default::default();
        for (v, &o) in photos.iter().zip(owners) {
            by_person.entry(o).or_default().push(v);
        }
        by_person.retain(|_, v| v.len() >= 2);
        if by_person.len() < dim {
            return None;
        }
        let mut centres = Vec::new();
        let mut deviations = Vec::new();
        for shots in by_person.values() {
            let mut c = vec![0f64; dim];
            for v in shots {
                for (a, &x) in c.iter_mut().zip(*v) {
                    *a += x as f64 / shots.len() as f64;
                }
            }
            for v in shots {
                // Deviations from a mean of n photos are short by sqrt((n-1)/n).
                let scale = (shots.len() as f64 / (shots.len() - 1) as f64).sqrt();
                deviations.push(v.iter().zip(&c).map(|(&x, m)| (x as f64 - m) * scale).collect::<Vec<_>>());
            }
            centres.push(c);
        }
        let mean: Vec<f64> =
            (0..dim).map(|i| centres.iter().map(|c| c[i]).sum::<f64>() / centres.len() as f64).collect();
        let centred: Vec<Vec<f64>> =
            centres.iter().map(|c| c.iter().zip(&mean).map(|(x, m)| x - m).collect()).collect();
        Some(Fitted {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            between: cholesky(&covariance(&centred, dim), dim),
            within: cholesky(&covariance(&deviations, dim), dim),
            people: by_person.len(),
            photos: deviations.len(),
        })
    }

    /// `l * z` for standard normal `z`.
    fn draw(rng: &mut Rng, l: &[f64], dim: usize) -> Vec<f64> {
        let z: Vec<f64> = (0..dim).map(|_| rng.normal() as f64).collect();
        (0..dim).map(|i| (0..=i).map(|j| l[i * dim + j] * z[j]).sum()).collect()
    }

    fn centre(&self, rng: &mut Rng) -> Vec<f32> {
        let d = Self::draw(rng, &self.between, self.dim);
        self.mean.iter().zip(d).map(|(m, x)| m + x as f32).collect()
    }

    fn photo(&self, rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
        let d = Self::draw(rng, &self.within, self.dim);
        let mut v: Vec<f32> = centre.iter().zip(d).map(|(c, x)| c + x as f32).collect();
        l2_normalize(&mut v);
        v
    }
}

/// The covariance of `rows` (already centred), with a little ridge so it factors.
fn covariance(rows: &[Vec<f64>], dim: usize) -> Vec<f64> {
    let mut c = vec![0f64; dim * dim];
    for r in rows {
        for i in 0..dim {
            for j in 0..=i {
                c[i * dim + j] += r[i] * r[j];
            }
        }
    }
    let n = (rows.len().max(2) - 1) as f64;
    for i in 0..dim {
        for j in 0..=i {
            c[i * dim + j] /= n;
            c[j * dim + i] = c[i * dim + j];
        }
        c[i * dim + i] += 1e-9;
    }
    c
}

/// The lower Cholesky factor of a symmetric positive definite `dim x dim` matrix.
fn cholesky(a: &[f64], dim: usize) -> Vec<f64> {
    let mut l = vec![0f64; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                l[i * dim + i] = (a[i * dim + i] - s).max(1e-12).sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - s) / l[j * dim + j];
            }
        }
    }
    l
}

/// `faces` photos of people of 2 to 10 photos each (the last person may have fewer), in one
/// row-major matrix.
#[derive(Debug, Clone)]
pub struct People {
    pub dim: usize,
    /// `faces * dim` values, photo after photo.
    pub vectors: Vec<f32>,
    /// The person (index into `centres`) of each photo.
    pub owners: Vec<u32>,
    /// Each person's centre, `dim` values each.
    pub centres: Vec<f32>,
    pub spread: Spread,
}

impl People {
    /// The same `faces` isotropic photos for the same `seed`.
    pub fn new(faces: usize, dim: usize, seed: u64) -> Self {
        Self::with_spread(faces, dim, seed, Spread::Isotropic)
    }

    /// The same `faces` photos for the same `seed` and spread (a fitted spread sets `dim`).
    pub fn with_spread(faces: usize, dim: usize, seed: u64, spread: Spread) -> Self {
        let dim = match &spread {
            Spread::Fitted(f) => f.dim,
            Spread::Isotropic => dim,
        };
        let mut rng = Rng(seed);
        let mut p = People {
            dim,
            vectors: Vec::with_capacity(faces * dim),
            owners: Vec::with_capacity(faces),
            centres: Vec::new(),
            spread,
        };
        while p.owners.len() < faces {
            let centre = p.centre(&mut rng);
            let n = 2 + (rng.uniform() * 9.0) as usize;
            let who = p.people() as u32;
            for _ in 0..n.min(faces - p.owners.len()) {
                p.vectors.extend(p.photo(&mut rng, &centre));
                p.owners.push(who);
            }
            p.centres.extend(centre);
        }
        p
    }

    fn centre(&self, rng: &mut Rng) -> Vec<f32> {
        match &self.spread {
            Spread::Isotropic => rng.unit(self.dim),
            Spread::Fitted(f) => f.centre(rng),
        }
    }

    fn photo(&self, rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
        match &self.spread {
            Spread::Isotropic => photo(rng, centre),
            Spread::Fitted(f) => f.photo(rng, centre),
        }
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    pub fn people(&self) -> usize {
        self.centres.len() / self.dim
    }

    /// Photo `i`.
    pub fn face(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// `n` new photos of people picked at random (not in the gallery): queries whose answer
    /// is known.
    pub fn queries(&self, n: usize, seed: u64) -> Vec<(u32, Vec<f32>)> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|_| {
                let who = (rng.uniform() * self.people() as f64) as usize;
                let centre = &self.centres[who * self.dim..(who + 1) * self.dim];
                (who as u32, self.photo(&mut rng, centre))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Metric;

    #[test]
    fn photos_of_one_person_are_closer_than_photos_of_two() {
        let p = People::new(2000, 128, 3);
        assert_eq!(p.len(), 2000);
        assert!(p.people() >= 2000 / 10 && p.people() <= 2000 / 2 + 1);
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for i in 0..p.len() - 1 {
            let d = Metric::SqL2.distance(p.face(i), p.face(i + 1));
            if p.owners[i] == p.owners[i + 1] { same.push(d) } else { other.push(d) }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!((0.6..1.0).contains(&mean(&same)), "same person {}", mean(&same));
        assert!((1.8..2.2).contains(&mean(&other)), "two people {}", mean(&other));
        // Deterministic.
        assert_eq!(People::new(50, 8, 9).vectors, People::new(50, 8, 9).vectors);
    }

    #[test]
    fn a_fitted_spread_reproduces_the_distances_of_what_it_was_fitted_to() {
        // Real-like data: people near a few "looks" (so people resemble each other), photos
        // of one person close together; fit it, then draw a new gallery from the fit.
        let source = People::new(6000, 16, 5);
        let looks = People::new(40, 16, 6);
        let photos: Vec<Vec<f32>> = (0..source.len())
            .map(|i| {
                let look = looks.face(source.owners[i] as usize % 40);
                let mut v: Vec<f32> = source.face(i).iter().zip(look).map(|(a, b)| 0.6 * a + b).collect();
                l2_normalize(&mut v);
                v
            })
            .collect();
        let owners: Vec<usize> = source.owners.iter().map(|&o| o as usize).collect();
        let fit = Fitted::fit(&photos, &owners).expect("enough people");
        assert_eq!(fit.dim, 16);
        let drawn = People::with_spread(6000, 0, 1, Spread::Fitted(Box::new(fit)));
        let stats = |faces: &dyn Fn(usize) -> Vec<f32>, owners: &[u32]| {
            let (mut same, mut other) = (Vec::new(), Vec::new());
            // Next photos (often one person), and photos half the gallery apart (two people).
            for i in 0..owners.len() - 1 {
                if owners[i] == owners[i + 1] {
                    same.push(Metric::SqL2.distance(&faces(i), &faces(i + 1)));
                }
                let j = (i + owners.len() / 2) % owners.len();
                other.push(Metric::SqL2.distance(&faces(i), &faces(j)));
            }
            let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
            (mean(&same), mean(&other))
        };
        let (s0, o0) = stats(&|i| photos[i].clone(), &source.owners);
        let (s1, o1) = stats(&|i| drawn.face(i).to_vec(), &drawn.owners);
        assert!((s0 - s1).abs() < 0.15 * s0, "same person: source {s0}, drawn {s1}");
        assert!((o0 - o1).abs() < 0.15 * o0, "two people: source {o0}, drawn {o1}");
        assert!(Fitted::fit(&photos[..20], &owners[..20]).is_none(), "too few people to fit");
    }
}
