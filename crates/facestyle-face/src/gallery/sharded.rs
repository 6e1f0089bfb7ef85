//! A gallery spread over several PostgreSQL databases (shards), each with optional streaming
//! replicas for reading when its primary is down.
//!
//! A person lives on one shard: the stable id of their stored name
//! ([`person_id`](crate::gallery::postgres::person_id)) modulo the number of shards, so every
//! process finds them on the same one. An enrolment goes to that shard in one transaction; a
//! search asks every shard at once (one thread each) and merges their exact top lists; listing
//! and exporting merge the shards' sorted lists. A shard is written as
//! `postgres://user@primary:port,replica:port/db`: the first host is the primary, the others
//! its replicas. When the primary cannot be reached, reads go to a replica and writes fail,
//! naming the shard, with nothing written anywhere.

use crate::error::{FaceError, Result};
use crate::gallery::postgres::{PgGallery, person_id};
use crate::gallery::store::{Exported, Store, redact};
use crate::gallery::{Enrolled, NewEmbedding, Person, check_name, normalize_name};
use crate::metric::Verifier;
use crate::search::{Candidate, Identified, UNKNOWN};

/// One shard: its primary and its replicas, each connected when first needed.
struct Shard {
    primary: String,
    replicas: Vec<String>,
    writer: Option<PgGallery>,
    reader: Option<PgGallery>,
}

/// `postgres://u@h1:1,h2:2/db?x` as `[postgres://u@h1:1/db?x, postgres://u@h2:2/db?x]`.
pub fn split_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else { return vec![url.to_string()] };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (format!("{a}@"), r),
        None => (String::new(), rest),
    };
    let (hosts, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    hosts.split(',').map(|h| format!("{scheme}://{auth}{h}{tail}")).collect()
}

pub struct ShardedGallery {
    shards: Vec<Shard>,
    shown: String,
    model_id: String,
    model_version: String,
}

impl Shard {
    fn shown(&self) -> String {
        redact(&self.primary)
    }

    /// The primary, connected (and the schema made) when first needed.
    fn writer(&mut self, model: (&str, &str)) -> Result<&mut PgGallery> {
        if self.writer.is_none() {
            self.writer = Some(PgGallery::connect(&self.primary, model.0, model.1, true)?);
        }
        Ok(self.writer.as_mut().expect("connected"))
    }

    /// Runs a read on the primary, or on a replica when the primary cannot be reached.
    fn read<T>(&mut self, model: (&str, &str), f: impl Fn(&mut PgGallery) -> Result<T>) -> Result<T> {
        let on_primary = match self.writer(model) {
            Ok(g) => match f(g) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            },
            Err(e) => e,
        };
        // The primary failed: forget its connection (it is tried again next time).
        self.writer = None;
        if self.replicas.is_empty() {
            return Err(on_primary);
        }
        if let Some(r) = self.reader.as_mut()
            && let Ok(v) = f(r)
        {
            return Ok(v);
        }
        self.reader = None;
        let mut last = on_primary;
        for url in &self.replicas {
            match PgGallery::connect(url, model.0, model.1, false).and_then(|mut g| f(&mut g).map(|v| (g, v)))
            {
                Ok((g, v)) => {
                    self.reader = Some(g);
                    return Ok(v);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl ShardedGallery {
    /// The gallery over `shards` (each a URL whose first host is the primary); with `create`,
    /// each primary's tables are made on first use.
    pub fn connect(shards: &[String], model_id: &str, model_version: &str, create: bool) -> Result<Self> {
        let shown = shards.iter().map(|s| redact(s)).collect::<Vec<_>>().join(" ");
        if shards.len() < 2 {
            return Err(FaceError::gallery(
                std::path::Path::new(&shown),
                "a sharded gallery needs two shards or more",
            ));
        }
        let shards: Vec<Shard> = shards
            .iter()
            .map(|url| {
                let mut hosts = split_hosts(url).into_iter();
                let primary = hosts.next().expect("one host at least");
                Shard { primary, replicas: hosts.collect(), writer: None, reader: None }
            })
            .collect();
        let mut g =
            ShardedGallery { shards, shown, model_id: model_id.into(), model_version: model_version.into() };
        // Every shard must be readable now (from a replica if need be), and hold a gallery
        // unless one is to be created.
        let model = (g.model_id.clone(), g.model_version.clone());
        for s in &mut g.shards {
            if create {
                // Creating needs the primary only when it is up; a shard read from a replica
                // already holds its tables.
                let _ = s.writer((&model.0, &model.1));
            }
            s.read((&model.0, &model.1), |p| p.embeddings())?;
        }
        Ok(g)
    }

    fn model(&self) -> (String, String) {
        (self.model_id.clone(), self.model_version.clone())
    }

    /// The shard of a stored name.
    fn shard_of(&self, stored: &str) -> usize {
        (person_id(stored) as u64 % self.shards.len() as u64) as usize
    }

    /// `f` on every shard at once (a thread each), reading from replicas where needed.
    fn fan_out<T: Send>(&mut self, f: impl Fn(&mut PgGallery) -> Result<T> + Sync) -> Result<Vec<T>> {
        let (id, version) = self.model();
        std::thread::scope(|scope| {
            let running: Vec<_> = self
                .shards
                .iter_mut()
                .map(|s| {
                    let (f, id, version) = (&f, &id, &version);
                    scope.spawn(move || s.read((id, version), f))
                })
                .collect();
            running.into_iter().map(|t| t.join().expect("a shard's thread")).collect()
        })
    }
}

impl Store for ShardedGallery {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn enroll(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<Enrolled> {
        let stored = check_name(name)?;
        let (id, version) = self.model();
        let i = self.shard_of(&stored);
        let shard = &mut self.shards[i];
        let shown = shard.shown();
        let result = shard.writer((&id, &version)).and_then(|g| g.enroll(&stored, faces));
        if result.is_err() {
            shard.writer = None;
        }
        result.map_err(|e| match e {
            FaceError::Gallery { problem, .. } => FaceError::gallery(
                std::path::Path::new(&shown),
                format!(
                    "shard {} of {} cannot take the enrolment ({problem}); nothing was written",
                    i + 1,
                    self.shards.len()
                ),
            ),
            other => other,
        })
    }

    fn people(&mut self) -> Result<Vec<Person>> {
        let mut all: Vec<Person> = self.fan_out(|g| g.people())?.into_iter().flatten().collect();
        all.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(all)
    }

    fn forget(&mut self, name: &str) -> Result<bool> {
        let (id, version) = self.model();
        let mut shards: Vec<usize> = vec![self.shard_of(&normalize_name(name)), self.shard_of(name.trim())];
        shards.dedup();
        let mut any = false;
        for i in shards {
            any |= self.shards[i].writer((&id, &version)).and_then(|g| g.forget(name))?;
        }
        Ok(any)
    }

    fn embeddings(&mut self) -> Result<usize> {
        Ok(self.fan_out(|g| g.embeddings())?.into_iter().sum())
    }

    fn identify(&mut self, queries: &[&[f32]], top: usize, verifier: &Verifier) -> Result<Vec<Identified>> {
        let per_shard = self.fan_out(|g| g.identify(queries, top, verifier))?;
        Ok((0..queries.len())
            .map(|q| {
                let mut candidates: Vec<Candidate> =
                    per_shard.iter().flat_map(|answers| answers[q].candidates.iter().cloned()).collect();
                candidates.sort_by(|a, b| a.distance.total_cmp(&b.distance));
                candidates.truncate(top);
                let best = candidates.first();
                Identified {
                    name: match best {
                        Some(c) if verifier.same(c.distance) => c.name.clone(),
                        _ => UNKNOWN.to_string(),
                    },
                    distance: best.map(|c| c.distance),
                    candidates,
                }
            })
            .collect())
    }

    fn export(&mut self, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Exported>> {
        let mut all: Vec<Exported> =
            self.fan_out(|g| g.export(after, limit))?.into_iter().flatten().collect();
        all.sort_by(|a, b| {
            (a.name.as_bytes(), a.face.image_sha256.as_bytes())
                .cmp(&(b.name.as_bytes(), b.face.image_sha256.as_bytes()))
        });
        all.truncate(limit);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_one_url_each() {
        assert_eq!(
            split_hosts("postgres://u:p@a:1,b:2/db?x=1"),
            ["postgres://u:p@a:1/db?x=1", "postgres://u:p@b:2/db?x=1"]
        );
        assert_eq!(split_hosts("postgres://a/db"), ["postgres://a/db"]);
        assert_eq!(split_hosts("postgresql://a:5,b:6"), ["postgresql://a:5", "postgresql://b:6"]);
    }
}
