//! The gallery in PostgreSQL with pgvector: the scale-out store behind a `postgres://` URL.
//!
//! Tables (prefixed `facestyle_`, so a gallery can live in an existing database):
//! `facestyle_meta` (schema version, model id and version, embedding size),
//! `facestyle_people` and `facestyle_embeddings` (`vector` column, an HNSW index on inner
//! product over unit vectors). A person's id is a stable hash of their stored name, so the
//! same person has the same id on every node: it is the shard key when people are spread over
//! several databases, and the distribution column if the tables become Citus distributed
//! tables (`facestyle_embeddings` is keyed `(person_id, id)` for that reason). The schema is
//! created and migrated by the program, under an advisory lock, in one transaction.
//!
//! Search asks the HNSW index for the nearest embeddings, then re-ranks them exactly with the
//! same code as the SQLite gallery's exact scan. The index holds the vectors in single
//! precision (`vector`) or, set with [`PgGallery::set_index_precision`], in half precision
//! (`halfvec`: half the index's size); the table always keeps them in single precision.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pgvector::Vector;
use postgres::{Client, NoTls, Statement};
use sha2::{Digest, Sha256};

use crate::error::{FaceError, Result};
use crate::gallery::ann::{EF_BUILD, LINKS};
use crate::gallery::store::{Exported, Store, check_faces, redact};
use crate::gallery::{Enrolled, NewEmbedding, Person, check_name, normalize_name, people_to_rerank};
use crate::metric::Verifier;
use crate::search::{Identified, Index};

/// The schema version this build writes.
pub const VERSION: i64 = 1;

/// Key of the advisory lock held while the schema changes or the first enrolment sets the
/// embedding size ("facestyl" in ASCII).
const LOCK: i64 = 0x6661_6365_7374_796c;

const TABLES: &str = "
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS facestyle_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS facestyle_people (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS facestyle_embeddings (
    id bigint GENERATED ALWAYS AS IDENTITY,
    person_id bigint NOT NULL REFERENCES facestyle_people(id) ON DELETE CASCADE,
    model_id text NOT NULL,
    model_version text NOT NULL,
    image_sha256 text NOT NULL,
    image_path text NOT NULL,
    bbox real[] NOT NULL,
    embedding vector NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, id),
    UNIQUE (person_id, image_sha256)
);
";

/// Nearest embeddings asked of the HNSW index per query before exact re-ranking: at least
/// this many, and 20 per candidate person asked for.
const CANDIDATES: usize = 100;

/// The stable id of a stored name: the first 8 bytes of its SHA-256, as a non-negative i64.
pub fn person_id(stored_name: &str) -> i64 {
    let d = Sha256::digest(stored_name.as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes")) & i64::MAX
}

pub struct PgGallery {
    client: Client,
    /// The URL without its password, for messages.
    shown: PathBuf,
    model_id: String,
    model_version: String,
    /// Values per embedding, once the first enrolment has set it.
    dim: Option<usize>,
    nearest: Option<Statement>,
    photos_of: Option<Statement>,
    /// The `hnsw.ef_search` set on this connection.
    ef_search: Option<i64>,
}

/// A PostgreSQL error with its cause, for messages.
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// What the HNSW index stores of each vector (`facestyle_meta.index_precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// pgvector's `vector`: 4 bytes a value.
    #[default]
    Single,
    /// pgvector's `halfvec`: 2 bytes a value.
    Half,
}

impl Precision {
    pub const NAMES: [&str; 2] = ["single", "half"];

    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "single" => Some(Precision::Single),
            "half" => Some(Precision::Half),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Single => "single",
            Precision::Half => "half",
        }
    }

    /// The pgvector type and operator class of the index.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Precision::Single => ("vector", "vector_ip_ops"),
            Precision::Half => ("halfvec", "halfvec_ip_ops"),
        }
    }
}

/// The statement creating the HNSW index for `dim`-value embeddings at `precision`, with the
/// SQLite gallery's graph settings (links per node and build width, `gallery/ann.rs`) rather
/// than pgvector's defaults (`m` 16, `ef_construction` 64), which over a million faces whose
/// strangers are nearly equally far found 0.52 of the exact top 10 people at `ef_search` 200.
pub fn create_index(dim: usize, precision: Precision) -> String {
    let (ty, ops) = precision.sql();
    format!(
        "CREATE INDEX IF NOT EXISTS facestyle_embeddings_hnsw ON facestyle_embeddings
         USING hnsw ((embedding::{ty}({dim})) {ops}) WITH (m = {LINKS}, ef_construction = {EF_BUILD})"
    )
}

impl PgGallery {
    /// Connects to the database at `url`; with `create`, creates or migrates the tables.
    pub fn connect(url: &str, model_id: &str, model_version: &str, create: bool) -> Result<Self> {
        let shown = PathBuf::from(redact(url));
        let fail = |problem: String| FaceError::gallery(&shown, problem);
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| fail(format!("not a PostgreSQL URL: {}", describe(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let client = config.connect(NoTls).map_err(|e| fail(format!("cannot connect: {}", describe(&e))))?;
        let mut g = PgGallery {
            client,
            shown,
            model_id: model_id.into(),
            model_version: model_version.into(),
            dim: None,
            nearest: None,
            photos_of: None,
            ef_search: None,
        };
        let found = if create { g.migrate()? } else { g.version()? };
        match found {
            None => return Err(g.fail("holds no facestyle gallery (the first enrolment creates it)")),
            Some(v) if v > VERSION => {
                return Err(g.fail(format!(
                    "has schema version {v}, newer than this facestyle's {VERSION}; update facestyle to use it"
                )));
            }
            Some(_) => {}
        }
        g.check_model()?;
        Ok(g)
    }

    fn fail(&self, problem: impl std::fmt::Display) -> FaceError {
        FaceError::gallery(&self.shown, problem)
    }

    fn err(&self, e: postgres::Error) -> FaceError {
        self.fail(describe(&e))
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        let row = self
            .client
            .query_opt("SELECT value FROM facestyle_meta WHERE key = $1", &[&key])
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The schema version, `None` when the database holds no gallery.
    fn version(&mut self) -> Result<Option<i64>> {
        let exists: Option<String> = self
            .client
            .query_one("SELECT to_regclass('facestyle_meta')::text", &[])
            .map_err(|e| self.err(e))?
            .get(0);
        if exists.is_none() {
            return Ok(None);
        }
        Ok(Some(self.meta("schema_version")?.and_then(|v| v.parse().ok()).unwrap_or(0)))
    }

    /// Creates the tables or brings them up to date, in one transaction under the advisory
    /// lock (two processes opening one database migrate it once). Returns the version found
    /// (a newer one is left as it is).
    fn migrate(&mut self) -> Result<Option<i64>> {
        let shown = self.shown.clone();
        let err = |e: postgres::Error| FaceError::gallery(&shown, describe(&e));
        let mut tx = self.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).map_err(err)?;
        let exists: Option<String> =
            tx.query_one("SELECT to_regclass('facestyle_meta')::text", &[]).map_err(err)?.get(0);
        let found: i64 = if exists.is_some() {
            tx.query_opt("SELECT value FROM facestyle_meta WHERE key = 'schema_version'", &[])
                .map_err(err)?
                .and_then(|r| r.get::<_, String>(0).parse().ok())
                .unwrap_or(0)
        } else {
            0
        };
        if found < VERSION {
            tx.batch_execute(TABLES).map_err(err)?;
            tx.execute(
                "INSERT INTO facestyle_meta(key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&VERSION.to_string()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        // A new database is at this version now; an existing one reports what it held.
        Ok(Some(if exists.is_some() { found } else { VERSION }))
    }

    /// Refuses galleries of another embedding model; reads the embedding size.
    fn check_model(&mut self) -> Result<()> {
        let (id, version) = (self.meta("model_id")?, self.meta("model_version")?);
        if let Some(m) = id
            && m != self.model_id
        {
            return Err(self.fail(format!(
                "holds embeddings of model '{m}', not '{}'; embeddings of different models cannot be compared",
                self.model_id
            )));
        }
        if let Some(v) = version
            && v != self.model_version
        {
            return Err(self.fail(format!(
                "holds embeddings of model {} {v}, this is {} {}; refusing to mix them",
                self.model_id, self.model_id, self.model_version
            )));
        }
        self.dim = self.meta("dimension")?.and_then(|d| d.parse().ok());
        Ok(())
    }

    /// What the gallery's HNSW index stores of each vector.
    pub fn index_precision(&mut self) -> Result<Precision> {
        let stored = self.meta("index_precision")?;
        Ok(stored.as_deref().and_then(Precision::parse).unwrap_or_default())
    }

    /// Rebuilds the HNSW index at `precision` (in one transaction, under the advisory lock:
    /// searches wait for it) and records it; a gallery nobody is enrolled in yet gets it at its
    /// first enrolment. Returns the index's size in bytes (0 before the first enrolment).
    pub fn set_index_precision(&mut self, precision: Precision) -> Result<i64> {
        let shown: &Path = &self.shown;
        let err = |e: postgres::Error| FaceError::gallery(shown, describe(&e));
        let mut tx = self.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).map_err(err)?;
        tx.execute(
            "INSERT INTO facestyle_meta(key, value) VALUES ('index_precision', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&precision.name()],
        )
        .map_err(err)?;
        if let Some(dim) = self.dim {
            tx.batch_execute("DROP INDEX IF EXISTS facestyle_embeddings_hnsw").map_err(err)?;
            tx.batch_execute(&create_index(dim, precision)).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.nearest = None;
        let bytes: Option<i64> = self
            .client
            .query_one("SELECT pg_relation_size(to_regclass('facestyle_embeddings_hnsw'))", &[])
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(bytes.unwrap_or(0))
    }

    /// The prepared nearest-neighbour query for the gallery's embedding size.
    fn nearest(&mut self, dim: usize) -> Result<Statement> {
        if let Some(s) = &self.nearest {
            return Ok(s.clone());
        }
        // The people's names and photos come from a second query by person: joining here let
        // the planner scan the whole people table (12.3 vs 10.6 ms a search at 100,000 faces).
        let (ty, _) = self.index_precision()?.sql();
        let sql = format!(
            "SELECT person_id FROM facestyle_embeddings
             ORDER BY embedding::{ty}({dim}) <#> $1::vector({dim})::{ty}({dim}) LIMIT $2"
        );
        let s = self.client.prepare(&sql).map_err(|e| self.err(e))?;
        self.nearest = Some(s.clone());
        Ok(s)
    }

    /// The prepared query for every photo of some people, with their names.
    fn photos_of(&mut self) -> Result<Statement> {
        if let Some(s) = &self.photos_of {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(
                "SELECT e.person_id, p.name, e.embedding
                 FROM facestyle_embeddings e JOIN facestyle_people p ON p.id = e.person_id
                 WHERE e.person_id = ANY($1) AND p.id = ANY($1)",
            )
            .map_err(|e| self.err(e))?;
        self.photos_of = Some(s.clone());
        Ok(s)
    }
}

/// Sets the gallery's model and embedding size on its first enrolment and creates the HNSW
/// index for that size (under the advisory lock); checks them on later ones.
fn first_enrolment(
    tx: &mut postgres::Transaction<'_>,
    model_id: &str,
    model_version: &str,
    dim: usize,
) -> std::result::Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])?;
    for (key, value) in
        [("model_id", model_id), ("model_version", model_version), ("dimension", &dim.to_string())]
    {
        tx.execute(
            "INSERT INTO facestyle_meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )?;
    }
    let precision: Option<String> = tx
        .query_opt("SELECT value FROM facestyle_meta WHERE key = 'index_precision'", &[])?
        .map(|r| r.get(0));
    let precision = precision.as_deref().and_then(Precision::parse).unwrap_or_default();
    tx.batch_execute(&create_index(dim, precision))
}

impl Store for PgGallery {
    fn location(&self) -> String {
        self.shown.display().to_string()
    }

    fn enroll(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<Enrolled> {
        let name = check_name(name)?;
        let dim = check_faces(&self.shown, self.dim, faces)?;
        let pid = person_id(&name);
        let shown: &Path = &self.shown;
        let err = |e: postgres::Error| FaceError::gallery(shown, describe(&e));
        let mut tx = self.client.transaction().map_err(err)?;
        if self.dim.is_none() {
            first_enrolment(&mut tx, &self.model_id, &self.model_version, dim).map_err(err)?;
            let stored: String = tx
                .query_one("SELECT value FROM facestyle_meta WHERE key = 'dimension'", &[])
                .map_err(err)?
                .get(0);
            if stored != dim.to_string() {
                return Err(FaceError::gallery(
                    shown,
                    format!("holds {stored}-value embeddings, these have {dim} values"),
                ));
            }
        }
        tx.execute(
            "INSERT INTO facestyle_people(id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&pid, &name],
        )
        .map_err(err)?;
        let holder: String =
            tx.query_one("SELECT name FROM facestyle_people WHERE id = $1", &[&pid]).map_err(err)?.get(0);
        if holder != name {
            return Err(FaceError::gallery(
                shown,
                format!("the id of '{name}' is taken by '{holder}' (a hash collision); nothing was changed"),
            ));
        }
        let insert = tx
            .prepare(
                "INSERT INTO facestyle_embeddings
                     (person_id, model_id, model_version, image_sha256, image_path, bbox, embedding)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (person_id, image_sha256) DO NOTHING",
            )
            .map_err(err)?;
        let mut added = 0;
        for f in faces {
            let bbox: Vec<f32> = f.bbox.to_vec();
            let v = Vector::from(f.vector.clone());
            added += tx
                .execute(
                    &insert,
                    &[&pid, &self.model_id, &self.model_version, &f.image_sha256, &f.image_path, &bbox, &v],
                )
                .map_err(err)? as usize;
        }
        let total: i64 = tx
            .query_one("SELECT count(*) FROM facestyle_embeddings WHERE person_id = $1", &[&pid])
            .map_err(err)?
            .get(0);
        tx.commit().map_err(err)?;
        self.dim = Some(dim);
        Ok(Enrolled { name, added, already_present: faces.len() - added, total: total as usize })
    }

    fn people(&mut self) -> Result<Vec<Person>> {
        let rows = self
            .client
            .query(
                "SELECT p.name, count(e.person_id),
                        to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                 FROM facestyle_people p LEFT JOIN facestyle_embeddings e ON e.person_id = p.id
                 GROUP BY p.id, p.name, p.created_at ORDER BY p.name COLLATE \"C\"",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Person { name: r.get(0), embeddings: r.get::<_, i64>(1) as usize, created_at: r.get(2) })
            .collect())
    }

    fn forget(&mut self, name: &str) -> Result<bool> {
        let n = self
            .client
            .execute(
                "DELETE FROM facestyle_people WHERE name = $1 OR name = $2",
                &[&normalize_name(name), &name.trim()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn embeddings(&mut self) -> Result<usize> {
        let n: i64 = self
            .client
            .query_one("SELECT count(*) FROM facestyle_embeddings", &[])
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(n as usize)
    }

    fn identify(&mut self, queries: &[&[f32]], top: usize, verifier: &Verifier) -> Result<Vec<Identified>> {
        let Some(dim) = self.dim else {
            // Nobody enrolled yet: every face is unknown.
            let empty = Index::new(queries.first().map_or(1, |q| q.len()));
            return Ok(queries.iter().map(|q| empty.identify(q, top, verifier, &[])).collect());
        };
        let statement = self.nearest(dim)?;
        let photos_of = self.photos_of()?;
        let limit = CANDIDATES.max(20 * top) as i64;
        // The index's search list holds at least the candidates asked for; a larger
        // `hnsw.ef_search` given for the connection (URL `options=-c hnsw.ef_search=N`) is kept.
        let wanted = limit.min(1000);
        if self.ef_search.is_none_or(|ef| ef < wanted) {
            let given: Option<i64> = self
                .client
                .query_one("SELECT current_setting('hnsw.ef_search', true)", &[])
                .map_err(|e| self.err(e))?
                .get::<_, Option<String>>(0)
                .and_then(|v| v.parse().ok());
            let ef = given.unwrap_or(0).max(wanted);
            self.client.batch_execute(&format!("SET hnsw.ef_search = {ef}")).map_err(|e| self.err(e))?;
            self.ef_search = Some(ef);
        }
        let mut out = Vec::with_capacity(queries.len());
        for q in queries {
            if q.len() != dim {
                return Err(self.fail(format!(
                    "a query has {} values, the gallery holds {dim}-value embeddings",
                    q.len()
                )));
            }
            let rows = self
                .client
                .query(&statement, &[&Vector::from(q.to_vec()), &limit])
                .map_err(|e| self.err(e))?;
            // Exact re-ranking over every photo of the nearest people, so a person's distance is
            // the one to their nearest photo even where the index missed it; a person forgotten
            // between the two queries is left out.
            let people = people_to_rerank(rows.iter().map(|r| r.get::<_, i64>(0)), top);
            let photos = self.client.query(&photos_of, &[&people]).map_err(|e| self.err(e))?;
            let mut index = Index::new(dim);
            let mut names: Vec<String> = Vec::new();
            let mut owners: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
            for r in &photos {
                let pid: i64 = r.get(0);
                let v: Vector = r.get(2);
                let owner = *owners.entry(pid).or_insert_with(|| {
                    names.push(r.get(1));
                    (names.len() - 1) as u32
                });
                index.push(owner, v.as_slice());
            }
            out.push(index.identify(q, top, verifier, &names));
        }
        Ok(out)
    }

    fn export(&mut self, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Exported>> {
        let (name, sha) = after.unwrap_or(("", ""));
        let rows = self
            .client
            .query(
                "SELECT p.name, e.image_sha256, e.image_path, e.bbox, e.embedding
                 FROM facestyle_embeddings e JOIN facestyle_people p ON p.id = e.person_id
                 WHERE NOT $1 OR p.name COLLATE \"C\" > $2
                       OR (p.name = $2 AND e.image_sha256 COLLATE \"C\" > $3)
                 ORDER BY p.name COLLATE \"C\", e.image_sha256 COLLATE \"C\" LIMIT $4",
                &[&after.is_some(), &name, &sha, &(limit as i64)],
            )
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let bbox: Vec<f32> = r.get(3);
                let name: String = r.get(0);
                let bbox: [f32; 4] = bbox
                    .try_into()
                    .map_err(|_| self.fail(format!("a face box of '{name}' is not 4 numbers")))?;
                let v: Vector = r.get(4);
                Ok(Exported {
                    name,
                    face: NewEmbedding {
                        image_sha256: r.get(1),
                        image_path: r.get(2),
                        bbox,
                        vector: v.to_vec(),
                    },
                })
            })
            .collect()
    }
}
