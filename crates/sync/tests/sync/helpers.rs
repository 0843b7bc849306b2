//! Shared set-up: a demo sandbox, a client and a fresh store, inventory builders, and the
//! sandbox's control endpoints.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use hyalto_connectwise::models::{Addition, Agreement};
use hyalto_connectwise::{
    Client, ConnectionSettings, Field, Limits, ListQuery, RetryPolicy, SiteUrl,
};
use hyalto_cw_sandbox::store::Denial;
use hyalto_cw_sandbox::{RunningSandbox, SandboxConfig};
use hyalto_domain::{
    Completeness, Customer, CustomerId, MeterKey, PowerState, Resource, ResourceKind, Service,
    ServiceId, ServiceKind, Snapshot, SourceId, Unit,
};
use hyalto_store::{
    CompanyMapping, KEY_FILE_NAME, KeyEncryptionKey, MappingOptions, ProductMapping, SqliteStore,
    Store as _,
};
use hyalto_sync::{RunReport, SyncConfig, SyncEngine, SyncOptions};
use rust_decimal::Decimal;
use serde_json::Value;
use tempfile::TempDir;

pub const COMPANY_ID: &str = "hyaltosync";
pub const PUBLIC_KEY: &str = "PUBLICkey-sync-41c2";
pub const PRIVATE_KEY: &str = "PRIVATEkey-sync-9e7d-secret";
pub const CLIENT_ID: &str = "CLIENTid-sync-77ab";

/// The demo seed's master agreements: (customer id, company id, master agreement id).
pub const OBRIEN: (&str, i64, i64) = ("obrien", 1, 1);
pub const MULLER: (&str, i64, i64) = ("muller", 3, 3);
pub const TOKYO: (&str, i64, i64) = ("tokyo", 4, 4);
pub const SMITH: (&str, i64, i64) = ("smith", 5, 5);

/// The demo seed's catalog items.
pub const VCPU: i64 = 1;
pub const RAM: i64 = 2;
pub const STORAGE_STANDARD: i64 = 3;
pub const PUBLIC_IP: i64 = 6;

/// A sandbox, a client, a store and an engine over them.
pub struct World {
    pub sandbox: RunningSandbox,
    pub client: Client,
    pub store: SqliteStore,
    pub engine: SyncEngine<SqliteStore>,
    _dir: TempDir,
    control: reqwest::Client,
}

pub fn settings_for(sandbox: &RunningSandbox) -> ConnectionSettings {
    let site = SiteUrl::parse(&sandbox.site_url()).expect("the sandbox URL parses");
    let mut settings = ConnectionSettings::new(
        site,
        COMPANY_ID,
        PUBLIC_KEY,
        PRIVATE_KEY.to_owned().into(),
        CLIENT_ID,
    );
    settings.retry = RetryPolicy {
        max_retries: 6,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    };
    settings.limits = Limits {
        max_concurrent: 4,
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        burst: NonZeroU32::new(1000).unwrap(),
    };
    settings.request_timeout = Duration::from_secs(10);
    settings
}

/// Starts a demo sandbox and an empty store with the default config.
pub async fn world() -> World {
    world_with(SyncConfig::default()).await
}

/// Starts a demo sandbox and an empty store with `config`.
pub async fn world_with(config: SyncConfig) -> World {
    world_denying(config, Vec::new()).await
}

/// Starts a demo sandbox whose API member may not use the `deny` routes (`("POST",
/// "/finance/agreements")`), and an empty store with `config`.
pub async fn world_denying(config: SyncConfig, deny: Vec<(&str, &str)>) -> World {
    let sandbox = hyalto_cw_sandbox::start(SandboxConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        company_id: COMPANY_ID.to_owned(),
        public_key: PUBLIC_KEY.to_owned(),
        private_key: PRIVATE_KEY.to_owned(),
        client_id: Some(CLIENT_ID.to_owned()),
        deny: deny
            .into_iter()
            .map(|(method, path)| Denial {
                method: method.to_owned(),
                path: path.to_owned(),
            })
            .collect(),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let client = Client::connect(settings_for(&sandbox))
        .await
        .expect("the client connects");

    let dir = tempfile::tempdir().unwrap();
    let key = KeyEncryptionKey::load_or_create_file(&dir.path().join(KEY_FILE_NAME)).unwrap();
    let store = SqliteStore::open_with_key(dir.path(), key).await.unwrap();
    let engine = SyncEngine::new(store.clone(), client.clone(), config);

    World {
        sandbox,
        client,
        store,
        engine,
        _dir: dir,
        control: reqwest::Client::new(),
    }
}

/// An instant on a day of December 2026.
pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
}

pub fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn customer(id: &str, name: &str) -> Customer {
    Customer {
        id: CustomerId::new(id).unwrap(),
        name: name.to_owned(),
    }
}

/// A powered-on VM of `customer` with `cpus` vCPUs, `ram` GiB RAM and `disk` GiB of standard
/// storage.
pub fn vm(id: &str, customer: &str, cpus: u32, ram: u32, disk: u32) -> Service {
    Service {
        id: ServiceId::new(id).unwrap(),
        customer: Some(CustomerId::new(customer).unwrap()),
        kind: ServiceKind::VirtualMachine,
        name: format!("{id}.example"),
        power_state: Some(PowerState::On),
        resources: vec![
            resource(ResourceKind::Cpu, None, cpus, Unit::Count),
            resource(ResourceKind::Ram, None, ram, Unit::Gib),
            resource(ResourceKind::Storage, Some("standard"), disk, Unit::Gib),
        ],
    }
}

/// An edge gateway of `customer` with `ips` public addresses.
pub fn edge(id: &str, customer: &str, ips: u32) -> Service {
    Service {
        id: ServiceId::new(id).unwrap(),
        customer: Some(CustomerId::new(customer).unwrap()),
        kind: ServiceKind::EdgeGateway,
        name: format!("{id} gateway"),
        power_state: None,
        resources: vec![resource(ResourceKind::PublicIp, None, ips, Unit::Count)],
    }
}

fn resource(kind: ResourceKind, tier: Option<&str>, quantity: u32, unit: Unit) -> Resource {
    Resource {
        kind,
        tier: tier.map(str::to_owned),
        quantity: Decimal::from(quantity),
        unit,
    }
}

/// A complete snapshot of source `vc` at `taken_at`.
pub fn snapshot(
    taken_at: DateTime<Utc>,
    customers: Vec<Customer>,
    services: Vec<Service>,
) -> Snapshot {
    Snapshot {
        source: SourceId::new("vc").unwrap(),
        taken_at,
        completeness: Completeness::Complete,
        customers,
        services,
    }
}

/// The customers of the demo: O'Brien, Müller, 東京 and Smith & Jones.
pub fn demo_customers() -> Vec<Customer> {
    vec![
        customer(OBRIEN.0, "O'Brien & Sons"),
        customer(MULLER.0, "Müller GmbH"),
        customer(TOKYO.0, "東京 Cloud KK"),
        customer(SMITH.0, "Smith & Jones \"The Builders\""),
    ]
}

pub fn meter_key(text: &str) -> MeterKey {
    text.parse().unwrap()
}

impl World {
    /// Maps the products every test uses.
    pub async fn map_products(&self) {
        for (key, item) in [
            ("virtual_machine/cpu", VCPU),
            ("virtual_machine/ram", RAM),
            ("virtual_machine/storage/standard", STORAGE_STANDARD),
            ("edge_gateway/public_ip", PUBLIC_IP),
        ] {
            self.store
                .set_product_mapping(&ProductMapping {
                    key: meter_key(key),
                    catalog_item_id: item,
                    unit_price: None,
                    unit_cost: None,
                })
                .await
                .unwrap();
        }
    }

    /// Maps a customer to its demo company and master agreement.
    pub async fn map(
        &self,
        (customer, company, agreement): (&str, i64, i64),
        options: MappingOptions,
    ) {
        self.store
            .set_company_mapping(&CompanyMapping {
                customer: CustomerId::new(customer).unwrap(),
                company_id: company,
                agreement_id: agreement,
                options,
            })
            .await
            .unwrap();
    }

    pub async fn import(&self, snapshot: &Snapshot) {
        self.store.apply_snapshot(snapshot).await.unwrap();
    }

    /// Runs a real sync at `now`.
    pub async fn sync(&self, now: DateTime<Utc>) -> RunReport {
        self.sync_with(SyncOptions::at(now)).await
    }

    pub async fn sync_with(&self, options: SyncOptions) -> RunReport {
        self.engine
            .run(&options, &|_| {})
            .await
            .expect("the sync runs")
    }

    /// The child agreements of a master.
    pub async fn children(&self, master: i64) -> Vec<Agreement> {
        self.client
            .agreements(&ListQuery::filter(
                Field::new("parentAgreement/id").eq(master),
            ))
            .await
            .unwrap()
    }

    /// The additions of an agreement.
    pub async fn additions(&self, agreement: i64) -> Vec<Addition> {
        self.client
            .additions(agreement, &ListQuery::default())
            .await
            .unwrap()
    }

    /// The child of `master` whose name contains `text`.
    pub async fn child_named(&self, master: i64, text: &str) -> Agreement {
        let children = self.children(master).await;
        let matching: Vec<Agreement> = children
            .into_iter()
            .filter(|child| {
                child
                    .name
                    .as_deref()
                    .is_some_and(|name| name.contains(text))
            })
            .collect();
        assert_eq!(matching.len(), 1, "exactly one child named like {text}");
        matching.into_iter().next().unwrap()
    }

    fn control_url(&self, path: &str) -> String {
        format!("{}/_sandbox{path}", self.sandbox.site_url())
    }

    /// Appends a one-shot fault rule.
    pub async fn add_fault(&self, rule: Value) {
        let response = self
            .control
            .post(self.control_url("/faults/rules"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    /// Replaces the fault configuration.
    pub async fn set_faults(&self, config: Value) {
        let response = self
            .control
            .put(self.control_url("/faults"))
            .json(&config)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    /// Request counts since the last reset, then resets them.
    pub async fn take_stats(&self) -> Value {
        self.control
            .get(self.control_url("/stats?reset=true"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A second hyalto installation (its own data dir and store) syncing into the same sandbox.
pub struct OtherInstallation {
    pub store: SqliteStore,
    pub engine: SyncEngine<SqliteStore>,
    _dir: TempDir,
}

impl World {
    /// Opens another data dir against the same ConnectWise, with the products mapped.
    pub async fn other_installation(&self) -> OtherInstallation {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyEncryptionKey::load_or_create_file(&dir.path().join(KEY_FILE_NAME)).unwrap();
        let store = SqliteStore::open_with_key(dir.path(), key).await.unwrap();
        let engine = SyncEngine::new(store.clone(), self.client.clone(), SyncConfig::default());
        OtherInstallation {
            store,
            engine,
            _dir: dir,
        }
    }
}

/// The active line of `product` on an agreement.
pub fn active_line(additions: &[Addition], product: i64) -> &Addition {
    let lines: Vec<&Addition> = additions
        .iter()
        .filter(|a| a.product.as_ref().unwrap().id == Some(product) && a.cancelled_date.is_none())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one active line of product {product}"
    );
    lines[0]
}

/// How many requests with `method` the stats counted.
pub fn method_count(stats: &Value, method: &str) -> u64 {
    stats["byMethod"][method].as_u64().unwrap_or(0)
}

/// POST, PATCH, PUT and DELETE requests in the stats.
pub fn writes(stats: &Value) -> u64 {
    ["POST", "PATCH", "PUT", "DELETE"]
        .iter()
        .map(|method| method_count(stats, method))
        .sum()
}
