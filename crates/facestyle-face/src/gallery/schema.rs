//! The gallery's tables and their versions. `PRAGMA user_version` holds the schema version;
//! opening a writable gallery brings an older one up to date in one transaction.
//!
//! - 0: the tables (files written before the schema was versioned, or new ones).
//! - 1: one embedding per person and image: a unique index on `(person_id, image_sha256)`
//!   (enrolment takes the largest face of each photo, so a photo gives a person one face).
//!   Duplicates already there are removed first, keeping the oldest row.
//! - 2: a change log for the approximate index (`gallery/ann.rs`): triggers append every
//!   embedding added or removed (by enrolment, forget's cascade, or any other writer) to
//!   `changes`, and `meta.gallery_id` names the gallery in its index files.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this build writes.
pub const VERSION: i64 = 2;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_path TEXT NOT NULL,
    bbox TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person_id);
";

const UNIQUE_PERSON_IMAGE: &str = "
DELETE FROM embeddings WHERE id NOT IN (
    SELECT MIN(id) FROM embeddings GROUP BY person_id, image_sha256
);
CREATE UNIQUE INDEX IF NOT EXISTS embeddings_person_image ON embeddings(person_id, image_sha256);
";

const CHANGE_LOG: &str = "
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    embedding_id INTEGER NOT NULL,
    added INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS embeddings_added AFTER INSERT ON embeddings
BEGIN INSERT INTO changes(embedding_id, added) VALUES (NEW.id, 1); END;
CREATE TRIGGER IF NOT EXISTS embeddings_removed AFTER DELETE ON embeddings
BEGIN INSERT INTO changes(embedding_id, added) VALUES (OLD.id, 0); END;
INSERT OR IGNORE INTO meta(key, value) VALUES ('gallery_id', lower(hex(randomblob(8))));
";

/// The schema version of an open gallery.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Creates the tables and applies the migrations the file lacks, all in one transaction
/// (taken before the version is read, so two processes opening one file migrate it once).
/// Returns the version found; a file of a newer schema is left as it is.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found < VERSION {
        tx.execute_batch(TABLES)?;
        if found < 1 {
            tx.execute_batch(UNIQUE_PERSON_IMAGE)?;
        }
        if found < 2 {
            tx.execute_batch(CHANGE_LOG)?;
        }
        tx.pragma_update(None, "user_version", VERSION)?;
    }
    tx.commit()?;
    Ok(found)
}

/// The message for a gallery written by a newer facestyle.
pub fn newer(found: i64) -> String {
    format!("has schema version {found}, newer than this facestyle's {VERSION}; update facestyle to use it")
}
