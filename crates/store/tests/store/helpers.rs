//! Shared set-up: fresh stores in temporary data dirs and small inventory builders.

use std::path::Path;

use chrono::{DateTime, TimeZone as _, Utc};
use hyalto_domain::{
    Completeness, Customer, CustomerId, PowerState, Resource, ResourceKind, Service, ServiceId,
    ServiceKind, Snapshot, SourceId, Unit,
};
use hyalto_store::{KEY_FILE_NAME, KeyEncryptionKey, SqliteStore};
use rust_decimal::Decimal;
use tempfile::TempDir;

/// A store in a temporary data dir that lives as long as this value.
pub struct TestStore {
    pub dir: TempDir,
    pub store: SqliteStore,
}

/// Opens a new store with a key file in its own data dir. The environment variable is not
/// consulted, so tests do not depend on the machine's environment.
pub async fn open_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path()).await;

    TestStore { dir, store }
}

/// Opens another handle on the store in `data_dir`, as a second process would.
pub async fn open_in(data_dir: &Path) -> SqliteStore {
    let key = KeyEncryptionKey::load_or_create_file(&data_dir.join(KEY_FILE_NAME)).unwrap();
    SqliteStore::open_with_key(data_dir, key).await.unwrap()
}

/// Midnight UTC on the given day of December 2026, plus `hour` hours.
pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
}

pub fn customer_id(text: &str) -> CustomerId {
    CustomerId::new(text).unwrap()
}

pub fn service_id(text: &str) -> ServiceId {
    ServiceId::new(text).unwrap()
}

pub fn customer(id: &str, name: &str) -> Customer {
    Customer {
        id: customer_id(id),
        name: name.to_owned(),
    }
}

pub fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn resource(kind: ResourceKind, tier: Option<&str>, quantity: &str, unit: Unit) -> Resource {
    Resource {
        kind,
        tier: tier.map(str::to_owned),
        quantity: decimal(quantity),
        unit,
    }
}

/// A powered-on VM with `cpus` vCPUs, `ram_gib` GiB of RAM and 100 GiB of `gold` storage.
pub fn vm(id: &str, customer: Option<&str>, cpus: &str, ram_gib: &str) -> Service {
    Service {
        id: service_id(id),
        customer: customer.map(customer_id),
        kind: ServiceKind::VirtualMachine,
        name: format!("{id} name"),
        power_state: Some(PowerState::On),
        resources: vec![
            resource(ResourceKind::Cpu, None, cpus, Unit::Count),
            resource(ResourceKind::Ram, None, ram_gib, Unit::Gib),
            resource(ResourceKind::Storage, Some("gold"), "100", Unit::Gib),
        ],
    }
}

/// A complete snapshot of `source` at `taken_at`.
pub fn snapshot(
    source: &str,
    taken_at: DateTime<Utc>,
    customers: Vec<Customer>,
    services: Vec<Service>,
) -> Snapshot {
    Snapshot {
        source: SourceId::new(source).unwrap(),
        taken_at,
        completeness: Completeness::Complete,
        customers,
        services,
    }
}

/// The same snapshot marked incomplete for `reason`.
pub fn incomplete(mut snapshot: Snapshot, reason: &str) -> Snapshot {
    snapshot.completeness = Completeness::Incomplete {
        reasons: vec![reason.to_owned()],
    };
    snapshot
}

/// A plain connection to the database file, bypassing the store, to inspect or tamper with it.
pub async fn raw_connection(store: &SqliteStore) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;

    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(store.database_path());
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap()
}
