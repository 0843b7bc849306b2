//! The optional state file: a SQLite database that holds every record so that the sandbox
//! keeps its data across restarts.
//!
//! The file has one table of records (collection, id, parent, JSON body), one of id counters
//! and one of metadata with the schema version. It runs in WAL mode with `synchronous=FULL`,
//! and every mutation is committed in its own transaction before the store answers, so an
//! acknowledged write survives a crash or a power cut.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::StoreError;
use super::collection::{Collection, Record, Records};

/// The layout version written into new files; a file with another version is refused rather
/// than misread.
const SCHEMA_VERSION: &str = "1";

const CREATE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records (
        collection TEXT NOT NULL,
        id INTEGER NOT NULL,
        parent INTEGER,
        body TEXT NOT NULL,
        PRIMARY KEY (collection, id)
    )",
    "CREATE TABLE IF NOT EXISTS counters (collection TEXT PRIMARY KEY, next_id INTEGER NOT NULL)",
];

/// An open state file.
#[derive(Debug)]
pub(crate) struct StateFile {
    pool: SqlitePool,
    path: PathBuf,
}

impl StateFile {
    /// Opens (or creates) the file at `path`. Returns the records it holds, or `None` when the
    /// file is new and still needs seeding with [`StateFile::seed`].
    pub async fn open(path: &Path) -> Result<(StateFile, Option<Records>), StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        // One connection is enough: the store serialises writes behind its own lock anyway.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| persistence(path, "open", source))?;
        let file = StateFile {
            pool,
            path: path.to_owned(),
        };

        for statement in CREATE_TABLES {
            sqlx::query(statement)
                .execute(&file.pool)
                .await
                .map_err(|source| file.error("create tables in", source))?;
        }

        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema_version'")
                .fetch_optional(&file.pool)
                .await
                .map_err(|source| file.error("read", source))?;
        match version.as_deref() {
            None => Ok((file, None)),
            Some(SCHEMA_VERSION) => {
                let records = file.load().await?;
                Ok((file, Some(records)))
            }
            Some(other) => Err(StoreError::Persistence {
                path: path.display().to_string(),
                reason: format!(
                    "the state file has layout version {other}; this sandbox reads version \
                     {SCHEMA_VERSION}"
                ),
            }),
        }
    }

    async fn load(&self) -> Result<Records, StoreError> {
        let mut records = Records::default();

        let rows = sqlx::query("SELECT collection, id, parent, body FROM records")
            .fetch_all(&self.pool)
            .await
            .map_err(|source| self.error("read", source))?;
        for row in rows {
            let key: String = row.get("collection");
            let collection = self.collection(&key)?;
            let id: i64 = row.get("id");
            let body_text: String = row.get("body");
            let body: Value = serde_json::from_str(&body_text).map_err(|error| {
                self.corrupt(format!("record {key}/{id} is not valid JSON: {error}"))
            })?;
            let record = Record {
                parent: row.get("parent"),
                body,
            };
            records.insert(collection, id, record);
        }

        let rows = sqlx::query("SELECT collection, next_id FROM counters")
            .fetch_all(&self.pool)
            .await
            .map_err(|source| self.error("read", source))?;
        for row in rows {
            let key: String = row.get("collection");
            records.set_next_id(self.collection(&key)?, row.get("next_id"));
        }

        Ok(records)
    }

    /// Writes the seeded records into a new file in one transaction; the schema version row
    /// goes in last, so a file whose seeding was interrupted is seeded again on the next start.
    pub async fn seed(&self, records: &Records) -> Result<(), StoreError> {
        let fail = |source| self.error("seed", source);
        let mut transaction = self.pool.begin().await.map_err(fail)?;

        sqlx::query("DELETE FROM records")
            .execute(&mut *transaction)
            .await
            .map_err(fail)?;
        sqlx::query("DELETE FROM counters")
            .execute(&mut *transaction)
            .await
            .map_err(fail)?;
        for collection in Collection::LOAD_ORDER {
            for (id, record) in records.iter(collection) {
                sqlx::query(
                    "INSERT INTO records (collection, id, parent, body) VALUES (?, ?, ?, ?)",
                )
                .bind(collection.key())
                .bind(id)
                .bind(record.parent)
                .bind(record.body.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(fail)?;
            }
        }
        for (collection, next) in records.next_ids() {
            sqlx::query("INSERT INTO counters (collection, next_id) VALUES (?, ?)")
                .bind(collection.key())
                .bind(next)
                .execute(&mut *transaction)
                .await
                .map_err(fail)?;
        }
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)")
            .bind(SCHEMA_VERSION)
            .execute(&mut *transaction)
            .await
            .map_err(fail)?;

        transaction.commit().await.map_err(fail)
    }

    /// Inserts or replaces one record and moves its collection's counter to `next_id`, in one
    /// committed transaction.
    pub async fn put(
        &self,
        collection: Collection,
        id: i64,
        record: &Record,
        next_id: i64,
    ) -> Result<(), StoreError> {
        let fail = |source| self.error("write", source);
        let mut transaction = self.pool.begin().await.map_err(fail)?;

        sqlx::query(
            "INSERT OR REPLACE INTO records (collection, id, parent, body) VALUES (?, ?, ?, ?)",
        )
        .bind(collection.key())
        .bind(id)
        .bind(record.parent)
        .bind(record.body.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(fail)?;
        sqlx::query(
            "INSERT INTO counters (collection, next_id) VALUES (?, ?)
             ON CONFLICT (collection) DO UPDATE SET next_id = max(next_id, excluded.next_id)",
        )
        .bind(collection.key())
        .bind(next_id)
        .execute(&mut *transaction)
        .await
        .map_err(fail)?;

        transaction.commit().await.map_err(fail)
    }

    /// Deletes one record in a committed transaction. The counter stays, so a deleted id is
    /// never handed out again.
    pub async fn delete(&self, collection: Collection, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM records WHERE collection = ? AND id = ?")
            .bind(collection.key())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|source| self.error("write", source))?;
        Ok(())
    }

    /// Where the file is, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn collection(&self, key: &str) -> Result<Collection, StoreError> {
        Collection::from_key(key)
            .ok_or_else(|| self.corrupt(format!("unknown collection {key:?} in the records")))
    }

    fn error(&self, action: &str, source: sqlx::Error) -> StoreError {
        persistence(&self.path, action, source)
    }

    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Persistence {
            path: self.path.display().to_string(),
            reason,
        }
    }
}

fn persistence(path: &Path, action: &str, source: sqlx::Error) -> StoreError {
    StoreError::Persistence {
        path: path.display().to_string(),
        reason: format!("could not {action} the state file: {source}"),
    }
}
