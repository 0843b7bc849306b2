//! hyalto's storage: the [`Store`] interface and its SQLite implementation, [`SqliteStore`].
//!
//! # What is kept
//!
//! - The ConnectWise connection ([`StoredConnection`]), with the private key encrypted at rest
//!   (see [`secret`]).
//! - A cache of ConnectWise records ([`CachedRecord`]).
//! - Inventory per source: customers, services with their life span (first seen, last seen,
//!   gone at), current resources, and usage history. [`Store::apply_snapshot`] records one
//!   source's snapshot atomically.
//! - Company mappings and product mappings ([`CompanyMapping`], [`ProductMapping`]).
//! - Sync links ([`AgreementLink`], [`AdditionLink`]), sync runs ([`SyncRun`]), the
//!   append-only audit log ([`AuditEntry`]) and the sync lease ([`SyncLease`]).
//!
//! # One trait, one implementation per backend
//!
//! Callers (the sync engine, the CLI, later the web UI) are written against the [`Store`]
//! trait and take `S: Store` (or `&impl Store`). Each backend is a type implementing it with
//! its own SQL and its own migrations folder: today [`SqliteStore`], later a PostgreSQL store
//! next to it. The trait's signatures use only domain types, this crate's types, std and
//! chrono, never a type of one database, so adding a backend does not touch callers. The
//! backend is chosen once, where the program starts.
//!
//! The methods are `async` and their futures are `Send`, so a sync can run on a multi-threaded
//! runtime. They are declared as `fn … -> impl Future<Output = …> + Send` (Rust's own async
//! functions in traits, no `async_trait` boxing) and implemented with plain `async fn`. The
//! price is that the trait is not object-safe: code that needs to pick a backend at run time
//! wraps the implementations in an enum rather than using `dyn Store`.
//!
//! # Time
//!
//! Times that carry meaning (when a snapshot was taken, when a record was fetched, the current
//! time for the lease) are passed in by the caller; bookkeeping stamps such as `updated_at` use
//! the store's clock. Instants are kept with microsecond precision.
//!
//! # Errors
//!
//! Every method returns [`StoreError`], whose variants say what the caller can do (try later,
//! import first, fix the key) rather than which query failed.

pub mod audit;
pub mod connection;
pub mod cw_cache;
pub mod error;
pub mod inventory;
pub mod lease;
pub mod links;
pub mod mapping;
pub mod runs;
pub mod secret;
pub mod sources;
mod sqlite;
pub mod users;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyalto_domain::{CustomerId, MeterKey, ServiceId, Snapshot, SourceId};
use secrecy::SecretString;

pub use audit::{
    AuditEntry, AuditFilter, AuditId, AuditOperation, AuditStatus, NewAuditEntry, OwnWrite,
    WriteIntent,
};
pub use connection::StoredConnection;
pub use cw_cache::{CachedRecord, CwRecordKind, UnknownRecordKind};
pub use error::StoreError;
pub use inventory::{
    CustomerSummary, FutureSnapshotReplaced, Presence, ServiceRecord, SnapshotReport, SourceState,
    UsageObservation,
};
pub use lease::{HolderProcess, SyncLease, new_holder_id, this_host};
pub use links::{AdditionLink, AdditionState, AgreementLink, Links, Recorded};
pub use mapping::{
    CompanyMapping, DriftPolicy, MappingOptions, ProductMapping, QuantityChangeMode, UnknownOption,
};
pub use runs::{NewRun, RunCounts, RunFinish, RunId, RunOutcome, SyncRun};
pub use secret::{
    KEY_FILE_NAME, KeyEncryptionKey, KeySource, OLD_KEY_FILE_NAME, ResealReport, SECRET_KEY_ENV,
    SealState, SealedSecret, SecretError,
};
pub use sources::{CollectionAttempt, SavedSource, SourceKind};
pub use sqlite::{DATABASE_FILE_NAME, SqliteStore};
pub use users::{
    ApiTokenInfo, NewApiToken, NewSession, NewUser, RecordRefresh, RefreshOutcome, Session, User,
    UserCredentials, UserId,
};

/// The result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage interface: everything hyalto keeps, behind one narrow set of operations.
///
/// Every write is atomic: it happens completely or not at all.
pub trait Store: Send + Sync {
    // The ConnectWise connection.

    /// Stores the connection, replacing any previous one. The private key is encrypted with a
    /// fresh nonce on every call.
    fn save_connection(
        &self,
        connection: &StoredConnection,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The stored connection with its private key decrypted, or `None` if none is stored.
    /// Fails with [`SecretError::WrongKey`] when the key-encryption key is not the one that
    /// encrypted it.
    fn load_connection(&self)
    -> impl Future<Output = StoreResult<Option<StoredConnection>>> + Send;

    /// Every sealed value the store keeps (today the ConnectWise private key, when one is
    /// stored), with which key opens it; never the values themselves.
    fn sealed_secrets(&self) -> impl Future<Output = StoreResult<Vec<SealedSecret>>> + Send;

    /// Re-seals every sealed value under `new_key`, in one transaction: afterwards they all
    /// open under `new_key` and none under the key the store was opened with (unless both are
    /// the same). Values that already open under `new_key` are left as they are, so a rotation
    /// cut short can be run again. Fails, changing nothing, if a value opens under neither.
    fn reseal_secrets(
        &self,
        new_key: &KeyEncryptionKey,
    ) -> impl Future<Output = StoreResult<ResealReport>> + Send;

    // The ConnectWise record cache.

    /// Replaces every cached record of `kind` with `records` (id and body), all fetched at
    /// `fetched_at`. Records of that kind not in `records` are dropped from the cache.
    fn replace_cw_records(
        &self,
        kind: CwRecordKind,
        records: &[(i64, serde_json::Value)],
        fetched_at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Adds or replaces one cached record, for example right after hyalto created it.
    fn put_cw_record(&self, record: &CachedRecord) -> impl Future<Output = StoreResult<()>> + Send;

    /// One cached record.
    fn get_cw_record(
        &self,
        kind: CwRecordKind,
        id: i64,
    ) -> impl Future<Output = StoreResult<Option<CachedRecord>>> + Send;

    /// Every cached record of `kind`, by id.
    fn list_cw_records(
        &self,
        kind: CwRecordKind,
    ) -> impl Future<Output = StoreResult<Vec<CachedRecord>>> + Send;

    // Inventory.

    /// Records one source's snapshot atomically.
    ///
    /// - Customers are added or renamed; they are never removed.
    /// - Every listed service is added (first_seen = last_seen = taken_at) or updated
    ///   (last_seen = taken_at), and its current resources replaced by the listed ones.
    /// - A listed service that was gone is revived: gone_at is cleared and first_seen becomes
    ///   taken_at, because its earlier life was ended and billing must not reach back over the
    ///   time it was away.
    /// - Usage history gets a row only for a resource seen for the first time (in the
    ///   service's current life), a changed quantity or unit, or a resource that disappeared
    ///   from a present service (quantity 0), so history grows with changes, not with imports.
    /// - If the snapshot is complete, present services last reported by this source and not
    ///   listed are marked gone (gone_at = taken_at). An incomplete snapshot only updates what
    ///   it lists and marks nothing gone; the source is recorded as incomplete with its reasons.
    ///
    /// Refused, changing nothing: a snapshot older than the newest one applied from the same
    /// source ([`StoreError::StaleSnapshot`]; the same instant again is accepted, so a re-import
    /// is harmless), and one with duplicate services or customers, duplicate resources (kind and
    /// tier) in a service, an empty tier, or a service naming a customer it does not list
    /// ([`StoreError::InvalidSnapshot`]). `hyalto_domain::parse_snapshot` merges resources of
    /// one kind and tier, so an imported snapshot never has duplicates; the check guards
    /// snapshots built another way, since the tables keep one row per kind and tier.
    fn apply_snapshot(
        &self,
        snapshot: &Snapshot,
    ) -> impl Future<Output = StoreResult<SnapshotReport>> + Send;

    /// Applies a snapshot as [`Store::apply_snapshot`] does, and also accepts one older than
    /// the source's newest when that newest one is dated after `now`: a snapshot from a
    /// machine whose clock ran ahead, which would otherwise refuse every real snapshot of the
    /// source until that date.
    ///
    /// Before applying, every instant of the source later than the snapshot's `taken_at`
    /// (services' first seen, last seen, customer since and gone at, usage history, customers'
    /// first and last seen, the source's last snapshot) is brought back to `taken_at`, and
    /// services the future snapshot marked gone are present again, so the snapshot is applied
    /// over what the future one reported as if it had been taken at `taken_at`. The report's
    /// `replaced_future` says what was changed; it is `None` when the newest snapshot was not
    /// newer than this one. A snapshot older than a newest one that is not in the future is
    /// refused ([`StoreError::StaleSnapshot`]) as by `apply_snapshot`. It all happens in one
    /// transaction.
    fn apply_snapshot_replacing_future(
        &self,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<SnapshotReport>> + Send;

    /// The state of every source that has sent a snapshot, by source id.
    fn list_sources(&self) -> impl Future<Output = StoreResult<Vec<SourceState>>> + Send;

    /// Every known customer with its mapping (`None` = unmapped), by id.
    fn list_customers(&self) -> impl Future<Output = StoreResult<Vec<CustomerSummary>>> + Send;

    /// One customer with its mapping.
    fn get_customer(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<CustomerSummary>>> + Send;

    /// The services of a customer with their current resources, by service id.
    fn services_of_customer(
        &self,
        customer: &CustomerId,
        presence: Presence,
    ) -> impl Future<Output = StoreResult<Vec<ServiceRecord>>> + Send;

    /// Services assigned to no customer (billed to nobody), by service id.
    fn unassigned_services(
        &self,
        presence: Presence,
    ) -> impl Future<Output = StoreResult<Vec<ServiceRecord>>> + Send;

    /// One service with its current resources.
    fn get_service(
        &self,
        service: &ServiceId,
    ) -> impl Future<Output = StoreResult<Option<ServiceRecord>>> + Send;

    /// The usage history of a service, oldest first.
    fn service_history(
        &self,
        service: &ServiceId,
    ) -> impl Future<Output = StoreResult<Vec<UsageObservation>>> + Send;

    // Mappings.

    /// Maps a customer to a company and master agreement, replacing any mapping it had. The
    /// customer must be known ([`StoreError::NotFound`] otherwise).
    fn set_company_mapping(
        &self,
        mapping: &CompanyMapping,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes a customer's mapping; returns whether there was one.
    fn remove_company_mapping(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// A customer's mapping.
    fn get_company_mapping(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<CompanyMapping>>> + Send;

    /// Every company mapping, by customer id.
    fn list_company_mappings(
        &self,
    ) -> impl Future<Output = StoreResult<Vec<CompanyMapping>>> + Send;

    /// Sets the catalog item for a meter, replacing any mapping of the same meter.
    fn set_product_mapping(
        &self,
        mapping: &ProductMapping,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes the mapping of exactly this meter; returns whether there was one.
    fn remove_product_mapping(
        &self,
        key: &MeterKey,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every product mapping, ordered by the names of service kind, resource kind and tier.
    fn list_product_mappings(
        &self,
    ) -> impl Future<Output = StoreResult<Vec<ProductMapping>>> + Send;

    // Sync links.

    /// Records a child agreement link, replacing the one with the same agreement id. A
    /// service can have only one active (not ended) agreement.
    fn record_agreement_link(
        &self,
        link: &AgreementLink,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records an addition link, replacing the one with the same addition id. Its agreement
    /// link must exist, and a service can have only one active addition per meter.
    fn record_addition_link(
        &self,
        link: &AdditionLink,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every agreement written for a customer and every addition on them.
    fn links_for_customer(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Links>> + Send;

    /// Every agreement and addition written for one service.
    fn links_for_service(
        &self,
        service: &ServiceId,
    ) -> impl Future<Output = StoreResult<Links>> + Send;

    // Sync runs.

    /// Records the start of a run and returns its id.
    fn start_run(&self, run: &NewRun) -> impl Future<Output = StoreResult<RunId>> + Send;

    /// Records the end of a run. A run finishes once; finishing it again is refused.
    fn finish_run(
        &self,
        run: RunId,
        finish: &RunFinish,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// One run.
    fn get_run(&self, run: RunId) -> impl Future<Output = StoreResult<Option<SyncRun>>> + Send;

    /// The latest `limit` runs, newest first.
    fn list_runs(&self, limit: u32) -> impl Future<Output = StoreResult<Vec<SyncRun>>> + Send;

    // The audit log. There is deliberately no method to change or remove an entry.

    /// Appends an entry and returns its id.
    fn append_audit(
        &self,
        entry: &NewAuditEntry,
    ) -> impl Future<Output = StoreResult<AuditId>> + Send;

    /// Entries matching `filter`, newest first.
    fn audit_entries(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;

    // hyalto's own writes, looked up by record, and the installation that writes them.

    /// Records a cancellation or end hyalto is about to send, before it is sent.
    fn record_write_intent(
        &self,
        intent: &WriteIntent,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Everything hyalto sent or was about to send as `operation` to the `target_kind` records
    /// `target_ids`: audit entries of any outcome, and write intents. Looked up by record id
    /// through an index, however old the entries are.
    fn own_writes(
        &self,
        operation: &AuditOperation,
        target_kind: &str,
        target_ids: &[i64],
    ) -> impl Future<Output = StoreResult<Vec<OwnWrite>>> + Send;

    /// This data dir's installation id, created (random) on the first call and the same ever
    /// after. hyalto writes it next to the ownership key of every child agreement.
    fn installation_id(&self) -> impl Future<Output = StoreResult<String>> + Send;

    // Access to the server: users, sessions, API tokens; and the server's record refreshes.

    /// Adds a user. A username already taken (whatever the case) is refused with
    /// [`StoreError::InvalidInput`].
    fn create_user(&self, user: &NewUser) -> impl Future<Output = StoreResult<User>> + Send;

    /// The user with this username (whatever the case) and the password hash, for a login.
    fn user_credentials(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<UserCredentials>>> + Send;

    /// Every user, by username.
    fn list_users(&self) -> impl Future<Output = StoreResult<Vec<User>>> + Send;

    /// Records a browser session.
    fn create_session(&self, session: &NewSession) -> impl Future<Output = StoreResult<()>> + Send;

    /// The session whose token hashes to `token_hash`, unless it expired by `now`.
    fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Option<Session>>> + Send;

    /// Ends a session (a logout); returns whether there was one.
    fn delete_session(&self, token_hash: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Removes the sessions that expired by `now`; returns how many.
    fn delete_expired_sessions(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Records an API token. A name the user already gave a token is refused with
    /// [`StoreError::InvalidInput`].
    fn create_api_token(
        &self,
        token: &NewApiToken,
    ) -> impl Future<Output = StoreResult<ApiTokenInfo>> + Send;

    /// The user whose API token hashes to `token_hash`, stamping the token as used at `now`.
    fn user_by_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// A user's API tokens (never the tokens themselves), by name.
    fn api_tokens_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = StoreResult<Vec<ApiTokenInfo>>> + Send;

    /// Records the start of a record refresh and returns its id.
    fn start_record_refresh(
        &self,
        started_at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    /// Records how a record refresh ended.
    fn finish_record_refresh(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        outcome: &RefreshOutcome,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The latest `limit` record refreshes, newest first.
    fn record_refreshes(
        &self,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<RecordRefresh>>> + Send;

    /// Forgets the ConnectWise connection (a disconnect); returns whether there was one. The
    /// cache, the mappings and the history stay.
    fn remove_connection(&self) -> impl Future<Output = StoreResult<bool>> + Send;

    // Saved inventory sources: the systems hyalto collects from itself.

    /// Saves a source with its password, which is sealed with the key-encryption key. A
    /// source of the same name is replaced when `replace` is set (keeping its creation time and
    /// last attempt), and refused with [`StoreError::InvalidInput`] otherwise.
    fn save_source(
        &self,
        source: &SavedSource,
        password: &SecretString,
        replace: bool,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every saved source, by name, without passwords.
    fn saved_sources(&self) -> impl Future<Output = StoreResult<Vec<SavedSource>>> + Send;

    /// One saved source, without its password.
    fn saved_source(
        &self,
        name: &SourceId,
    ) -> impl Future<Output = StoreResult<Option<SavedSource>>> + Send;

    /// The opened password of a saved source. Fails with [`SecretError::WrongKey`] when the
    /// key-encryption key is not the one that sealed it.
    fn saved_source_password(
        &self,
        name: &SourceId,
    ) -> impl Future<Output = StoreResult<Option<SecretString>>> + Send;

    /// Forgets a saved source; returns whether there was one. The inventory it collected
    /// stays, as an imported source's does.
    fn remove_saved_source(
        &self,
        name: &SourceId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Records how a collection of a saved source ended ([`StoreError::NotFound`] if the
    /// source is not saved).
    fn record_source_attempt(
        &self,
        name: &SourceId,
        attempt: &CollectionAttempt,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // The sync lease.

    /// Takes the sync lease for `holder` until `now + ttl`. Succeeds when nobody holds it, when
    /// the current lease expired (a takeover), or when `holder` already holds it (a renewal);
    /// fails with [`StoreError::LeaseHeld`] while another holder's lease is unexpired.
    fn try_acquire_sync_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = StoreResult<SyncLease>> + Send;

    /// Extends `holder`'s lease to `now + ttl`. Fails with [`StoreError::LeaseLost`] if the
    /// lease is no longer `holder`'s (it expired and someone took it over).
    fn renew_sync_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = StoreResult<SyncLease>> + Send;

    /// Gives the lease up if `holder` has it; returns whether it did.
    fn release_sync_lease(&self, holder: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// The lease as it stands, expired or not, or `None` if nobody holds it.
    fn current_sync_lease(&self) -> impl Future<Output = StoreResult<Option<SyncLease>>> + Send;
}
