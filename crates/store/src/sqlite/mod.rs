//! The SQLite backend: one database file, `hyalto.db`, in the data dir.
//!
//! The database runs in WAL mode so readers never wait for the writer, with foreign keys on
//! and a busy timeout so a second process waits for a write lock instead of failing. Every
//! transaction that writes starts with `BEGIN IMMEDIATE`: taking the write lock up front means
//! two writers queue on the busy timeout rather than one failing when it upgrades a read lock.
//! Queries are checked at run time (no `query!` macros), so building needs no database.

mod codec;
mod connection;
mod inventory;
mod lease;
mod links;
mod log;
mod mapping;
mod refreshes;
mod snapshot;
mod sources;
mod users;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyalto_domain::{CustomerId, MeterKey, ServiceId, Snapshot, SourceId};
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::audit::{
    AuditEntry, AuditFilter, AuditId, AuditOperation, NewAuditEntry, OwnWrite, WriteIntent,
};
use crate::connection::StoredConnection;
use crate::cw_cache::{CachedRecord, CwRecordKind};
use crate::error::StoreError;
use crate::inventory::UsageObservation;
use crate::inventory::{CustomerSummary, Presence, ServiceRecord, SnapshotReport, SourceState};
use crate::lease::SyncLease;
use crate::links::{AdditionLink, AgreementLink, Links};
use crate::mapping::{CompanyMapping, ProductMapping};
use crate::runs::{NewRun, RunFinish, RunId, SyncRun};
use crate::secret::{KeyEncryptionKey, ResealReport, SealedSecret};
use crate::sources::{CollectionAttempt, SavedSource};
use crate::users::{
    ApiTokenInfo, NewApiToken, NewSession, NewUser, RecordRefresh, RefreshOutcome, Session, User,
    UserCredentials, UserId,
};
use crate::{Store, StoreResult};

/// The name of the database file in the data dir.
pub const DATABASE_FILE_NAME: &str = "hyalto.db";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool. SQLite has one writer at a time anyway; a few connections let reads
/// run beside a write.
const MAX_CONNECTIONS: u32 = 4;

/// The migrations of this backend, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`]. Cloning is cheap and shares the connection pool.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    key: Arc<KeyEncryptionKey>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`: the directory itself (mode 0700 when
    /// created), `hyalto.db` with the schema brought up to date, and the key-encryption key
    /// from `HYALTO_SECRET_KEY` or `secret.key` (see [`KeyEncryptionKey::load`]).
    pub async fn open(data_dir: &Path) -> StoreResult<SqliteStore> {
        create_data_dir(data_dir)?;
        let key = KeyEncryptionKey::load(data_dir)?;

        SqliteStore::open_with_key(data_dir, key).await
    }

    /// Opens the store in `data_dir` with a key-encryption key the caller loaded.
    pub async fn open_with_key(data_dir: &Path, key: KeyEncryptionKey) -> StoreResult<SqliteStore> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(DATABASE_FILE_NAME);
        let open_error = |source: sqlx::Error| StoreError::Open {
            path: data_dir.to_owned(),
            source: Box::new(source),
        };

        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(open_error)?;

        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        tracing::debug!(db.path = %path.display(), key.source = %key.source(), "opened the store");

        Ok(SqliteStore {
            pool,
            key: Arc::new(key),
            path,
        })
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, checkpointing the write-ahead log. Dropping the store without
    /// closing is safe too; closing just finishes the work now.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that holds the write lock from its first statement.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Creates the data dir if it is missing, readable by its owner only.
fn create_data_dir(data_dir: &Path) -> StoreResult<()> {
    if data_dir.is_dir() {
        return Ok(());
    }

    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }

    builder.create(data_dir).map_err(|source| StoreError::Open {
        path: data_dir.to_owned(),
        source: Box::new(source),
    })
}

impl Store for SqliteStore {
    async fn save_connection(&self, connection: &StoredConnection) -> StoreResult<()> {
        connection::save_connection(self, connection).await
    }

    async fn load_connection(&self) -> StoreResult<Option<StoredConnection>> {
        connection::load_connection(self).await
    }

    async fn sealed_secrets(&self) -> StoreResult<Vec<SealedSecret>> {
        connection::sealed_secrets(self).await
    }

    async fn reseal_secrets(&self, new_key: &KeyEncryptionKey) -> StoreResult<ResealReport> {
        connection::reseal_secrets(self, new_key).await
    }

    async fn replace_cw_records(
        &self,
        kind: CwRecordKind,
        records: &[(i64, serde_json::Value)],
        fetched_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        connection::replace_cw_records(self, kind, records, fetched_at).await
    }

    async fn put_cw_record(&self, record: &CachedRecord) -> StoreResult<()> {
        connection::put_cw_record(self, record).await
    }

    async fn get_cw_record(
        &self,
        kind: CwRecordKind,
        id: i64,
    ) -> StoreResult<Option<CachedRecord>> {
        connection::get_cw_record(self, kind, id).await
    }

    async fn list_cw_records(&self, kind: CwRecordKind) -> StoreResult<Vec<CachedRecord>> {
        connection::list_cw_records(self, kind).await
    }

    async fn apply_snapshot(&self, snapshot: &Snapshot) -> StoreResult<SnapshotReport> {
        snapshot::apply_snapshot(self, snapshot).await
    }

    async fn apply_snapshot_replacing_future(
        &self,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> StoreResult<SnapshotReport> {
        snapshot::apply_snapshot_replacing_future(self, snapshot, now).await
    }

    async fn list_sources(&self) -> StoreResult<Vec<SourceState>> {
        inventory::list_sources(self).await
    }

    async fn list_customers(&self) -> StoreResult<Vec<CustomerSummary>> {
        inventory::list_customers(self, None).await
    }

    async fn get_customer(&self, customer: &CustomerId) -> StoreResult<Option<CustomerSummary>> {
        Ok(inventory::list_customers(self, Some(customer)).await?.pop())
    }

    async fn services_of_customer(
        &self,
        customer: &CustomerId,
        presence: Presence,
    ) -> StoreResult<Vec<ServiceRecord>> {
        inventory::services_where(
            self,
            inventory::ServiceSelection::Customer(customer),
            presence,
        )
        .await
    }

    async fn unassigned_services(&self, presence: Presence) -> StoreResult<Vec<ServiceRecord>> {
        inventory::services_where(self, inventory::ServiceSelection::Unassigned, presence).await
    }

    async fn get_service(&self, service: &ServiceId) -> StoreResult<Option<ServiceRecord>> {
        let selection = inventory::ServiceSelection::One(service);
        Ok(
            inventory::services_where(self, selection, Presence::IncludingGone)
                .await?
                .pop(),
        )
    }

    async fn service_history(&self, service: &ServiceId) -> StoreResult<Vec<UsageObservation>> {
        inventory::service_history(self, service).await
    }

    async fn set_company_mapping(&self, mapping: &CompanyMapping) -> StoreResult<()> {
        mapping::set_company_mapping(self, mapping).await
    }

    async fn remove_company_mapping(&self, customer: &CustomerId) -> StoreResult<bool> {
        mapping::remove_company_mapping(self, customer).await
    }

    async fn get_company_mapping(
        &self,
        customer: &CustomerId,
    ) -> StoreResult<Option<CompanyMapping>> {
        Ok(mapping::company_mappings(self, Some(customer)).await?.pop())
    }

    async fn list_company_mappings(&self) -> StoreResult<Vec<CompanyMapping>> {
        mapping::company_mappings(self, None).await
    }

    async fn set_product_mapping(&self, mapping: &ProductMapping) -> StoreResult<()> {
        mapping::set_product_mapping(self, mapping).await
    }

    async fn remove_product_mapping(&self, key: &MeterKey) -> StoreResult<bool> {
        mapping::remove_product_mapping(self, key).await
    }

    async fn list_product_mappings(&self) -> StoreResult<Vec<ProductMapping>> {
        mapping::list_product_mappings(self).await
    }

    async fn record_agreement_link(&self, link: &AgreementLink) -> StoreResult<()> {
        links::record_agreement_link(self, link).await
    }

    async fn record_addition_link(&self, link: &AdditionLink) -> StoreResult<()> {
        links::record_addition_link(self, link).await
    }

    async fn links_for_customer(&self, customer: &CustomerId) -> StoreResult<Links> {
        links::links_where(self, links::LinkSelection::Customer(customer)).await
    }

    async fn links_for_service(&self, service: &ServiceId) -> StoreResult<Links> {
        links::links_where(self, links::LinkSelection::Service(service)).await
    }

    async fn start_run(&self, run: &NewRun) -> StoreResult<RunId> {
        log::start_run(self, run).await
    }

    async fn finish_run(&self, run: RunId, finish: &RunFinish) -> StoreResult<()> {
        log::finish_run(self, run, finish).await
    }

    async fn get_run(&self, run: RunId) -> StoreResult<Option<SyncRun>> {
        Ok(log::runs(self, Some(run), 1).await?.pop())
    }

    async fn list_runs(&self, limit: u32) -> StoreResult<Vec<SyncRun>> {
        log::runs(self, None, limit).await
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditId> {
        log::append_audit(self, entry).await
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        log::audit_entries(self, filter).await
    }

    async fn record_write_intent(&self, intent: &WriteIntent) -> StoreResult<()> {
        log::record_write_intent(self, intent).await
    }

    async fn own_writes(
        &self,
        operation: &AuditOperation,
        target_kind: &str,
        target_ids: &[i64],
    ) -> StoreResult<Vec<OwnWrite>> {
        log::own_writes(self, operation, target_kind, target_ids).await
    }

    async fn installation_id(&self) -> StoreResult<String> {
        links::installation_id(self).await
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        users::create_user(self, user).await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<Option<UserCredentials>> {
        users::user_credentials(self, username).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        users::list_users(self).await
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        users::create_session(self, session).await
    }

    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        users::session(self, token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        users::delete_session(self, token_hash).await
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        users::delete_expired_sessions(self, now).await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<ApiTokenInfo> {
        users::create_api_token(self, token).await
    }

    async fn user_by_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        users::user_by_api_token(self, token_hash, now).await
    }

    async fn api_tokens_of(&self, user: UserId) -> StoreResult<Vec<ApiTokenInfo>> {
        users::api_tokens_of(self, user).await
    }

    async fn start_record_refresh(&self, started_at: DateTime<Utc>) -> StoreResult<i64> {
        refreshes::start_record_refresh(self, started_at).await
    }

    async fn finish_record_refresh(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RefreshOutcome,
    ) -> StoreResult<()> {
        refreshes::finish_record_refresh(self, id, finished_at, outcome).await
    }

    async fn record_refreshes(&self, limit: u32) -> StoreResult<Vec<RecordRefresh>> {
        refreshes::record_refreshes(self, limit).await
    }

    async fn remove_connection(&self) -> StoreResult<bool> {
        refreshes::remove_connection(self).await
    }

    async fn save_source(
        &self,
        source: &SavedSource,
        password: &SecretString,
        replace: bool,
    ) -> StoreResult<()> {
        sources::save_source(self, source, password, replace).await
    }

    async fn saved_sources(&self) -> StoreResult<Vec<SavedSource>> {
        sources::saved_sources(self).await
    }

    async fn saved_source(&self, name: &SourceId) -> StoreResult<Option<SavedSource>> {
        sources::saved_source(self, name).await
    }

    async fn saved_source_password(&self, name: &SourceId) -> StoreResult<Option<SecretString>> {
        sources::saved_source_password(self, name).await
    }

    async fn remove_saved_source(&self, name: &SourceId) -> StoreResult<bool> {
        sources::remove_saved_source(self, name).await
    }

    async fn record_source_attempt(
        &self,
        name: &SourceId,
        attempt: &CollectionAttempt,
    ) -> StoreResult<()> {
        sources::record_source_attempt(self, name, attempt).await
    }

    async fn try_acquire_sync_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<SyncLease> {
        lease::try_acquire(self, holder, now, ttl).await
    }

    async fn renew_sync_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<SyncLease> {
        lease::renew(self, holder, now, ttl).await
    }

    async fn release_sync_lease(&self, holder: &str) -> StoreResult<bool> {
        lease::release(self, holder).await
    }

    async fn current_sync_lease(&self) -> StoreResult<Option<SyncLease>> {
        lease::current(self).await
    }
}
