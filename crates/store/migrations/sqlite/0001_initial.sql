-- The first schema of hyalto's SQLite store.
--
-- Conventions used by every table:
-- * Tables are STRICT, so SQLite refuses a value of the wrong type instead of storing it.
-- * Instants are TEXT in RFC 3339 UTC with exactly six fractional digits and a `Z`
--   (`2026-12-03T13:14:13.000000Z`). The fixed width makes text order equal time order, which the
--   lease and the "stale snapshot" checks rely on.
-- * Calendar dates are TEXT `YYYY-MM-DD`.
-- * Quantities and money are TEXT holding an exact decimal (`12.50`), never REAL, so no value is
--   ever rounded by the database.
-- * ConnectWise record ids are INTEGER; hyalto's own inventory ids are TEXT.
-- * Booleans are INTEGER 0 or 1, checked.
-- * Optional tiers (a storage policy name and the like) are NULL when absent. Unique indexes that
--   include a tier use `ifnull(tier, '')` because SQLite treats NULLs as distinct in UNIQUE.

-- The ConnectWise site hyalto talks to. There is exactly one; the row has id 1.
CREATE TABLE cw_connection (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The site as the user typed it, such as `https://na.myconnectwise.net`.
    site_url TEXT NOT NULL,
    -- The login company id (what users type into "Company" on the login screen).
    company_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    -- The private key sealed with XChaCha20-Poly1305 under the key-encryption key
    -- (HYALTO_SECRET_KEY or secret.key in the data dir): the 24-byte random nonce followed by the
    -- ciphertext and its 16-byte tag. A fresh nonce is drawn on every write.
    private_key_sealed BLOB NOT NULL,
    -- The integration's client id, sent as the `clientId` header.
    client_id TEXT NOT NULL,
    -- The API model version pinned in the `Accept` header, such as `2025.1`.
    api_version TEXT NOT NULL,
    -- A PEM file of extra trusted certificate authorities, or NULL.
    ca_file TEXT,
    -- 1 when any server certificate is accepted (lab servers only).
    insecure INTEGER NOT NULL CHECK (insecure IN (0, 1)),
    updated_at TEXT NOT NULL
) STRICT;

-- A cache of ConnectWise records hyalto reads often (companies, contacts, agreements, agreement
-- types, catalog items, billing cycles), refreshed by `hyalto connectwise refresh`.
CREATE TABLE cw_records (
    -- One of company, contact, agreement, agreement_type, catalog_item, billing_cycle.
    kind TEXT NOT NULL CHECK (kind IN (
        'company', 'contact', 'agreement', 'agreement_type', 'catalog_item', 'billing_cycle'
    )),
    -- ConnectWise's id of the record, unique within its kind.
    id INTEGER NOT NULL,
    -- The record as ConnectWise returned it, as JSON text.
    body TEXT NOT NULL,
    -- When hyalto fetched this copy; the record may have changed in ConnectWise since.
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;

-- Each inventory source (a vCenter, a VCD, an import file's `source`) and its latest snapshot.
CREATE TABLE inventory_sources (
    id TEXT PRIMARY KEY,
    -- taken_at of the newest snapshot applied from this source. An older snapshot is refused, so
    -- a late file can never resurrect or bury services.
    last_taken_at TEXT NOT NULL,
    -- taken_at of the newest complete snapshot, or NULL if there never was one.
    last_complete_at TEXT,
    -- NULL when the newest snapshot was complete; otherwise a JSON array of the reasons the
    -- source gave for it being incomplete. The sync skips customers of incomplete sources.
    incomplete_reasons TEXT
) STRICT;

-- Customers of the cloud, as the inventory names them. Customers are never deleted: mappings,
-- links and audit entries refer to them.
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- The source whose snapshot last reported this customer.
    source_id TEXT NOT NULL REFERENCES inventory_sources (id),
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
) STRICT;

-- Billable things: virtual machines, virtual data centres, edge gateways and other kinds.
-- A service id is unique across sources; the row belongs to the source that last reported it.
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    -- The source whose snapshot last reported this service. Only that source's complete
    -- snapshots can mark it gone.
    source_id TEXT NOT NULL REFERENCES inventory_sources (id),
    -- NULL when the service is unassigned (billed to nobody).
    customer_id TEXT REFERENCES customers (id),
    -- virtual_machine, virtual_data_center, edge_gateway, or another snake_case word.
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- on, off, suspended, or NULL where power does not apply.
    power_state TEXT,
    -- taken_at of the snapshot that first reported the service. A service that comes back after
    -- being gone starts a new life: first_seen moves to the snapshot that reported it again.
    first_seen TEXT NOT NULL,
    -- taken_at of the newest snapshot that reported the service.
    last_seen TEXT NOT NULL,
    -- taken_at of the complete snapshot that no longer reported it; NULL while it exists.
    gone_at TEXT
) STRICT;

CREATE INDEX services_by_customer ON services (customer_id);
CREATE INDEX services_present_by_source ON services (source_id) WHERE gone_at IS NULL;

-- The resources of each service as last reported. A gone service keeps its last resources.
CREATE TABLE service_resources (
    service_id TEXT NOT NULL REFERENCES services (id),
    -- cpu, ram, storage, public_ip, or another snake_case word.
    kind TEXT NOT NULL,
    -- An optional sub-kind, such as a storage policy name.
    tier TEXT,
    -- Exact decimal text in `unit`.
    quantity TEXT NOT NULL,
    -- count, MHz, GHz, MB, GB, TB, MiB, GiB or TiB.
    unit TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX service_resources_identity
    ON service_resources (service_id, kind, ifnull(tier, ''));

-- Usage history: one row each time a resource of a service is first seen or its quantity (or
-- unit) changes, so the table grows with changes, not with snapshots. A resource that
-- disappears from a service that is still present gets a row with quantity 0.
CREATE TABLE usage_history (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services (id),
    -- The source whose snapshot made the observation.
    source_id TEXT NOT NULL REFERENCES inventory_sources (id),
    kind TEXT NOT NULL,
    tier TEXT,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    -- taken_at of the snapshot that made the observation.
    observed_at TEXT NOT NULL
) STRICT;

CREATE INDEX usage_history_by_service ON usage_history (service_id, observed_at);

-- Which ConnectWise company and master agreement a customer is billed under.
CREATE TABLE company_mappings (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id),
    -- ConnectWise company record id.
    company_id INTEGER NOT NULL,
    -- ConnectWise id of the master agreement that child agreements hang under.
    agreement_id INTEGER NOT NULL,
    -- How a quantity change is written: PATCH the addition, or cancel it and add a new one.
    quantity_change_mode TEXT NOT NULL
        CHECK (quantity_change_mode IN ('in_place', 'cancel_and_replace')),
    -- What to do when ConnectWise holds a quantity hyalto did not write: overwrite or report.
    drift_policy TEXT NOT NULL CHECK (drift_policy IN ('overwrite', 'report')),
    -- 1 when a record hyalto wrote and someone deleted or cancelled by hand is written again.
    recreate_deleted INTEGER NOT NULL CHECK (recreate_deleted IN (0, 1)),
    -- Agreement type for child agreements; NULL means the master agreement's type.
    child_agreement_type_id INTEGER,
    updated_at TEXT NOT NULL
) STRICT;

-- Which catalog item bills a meter (service kind x resource kind x optional tier).
CREATE TABLE product_mappings (
    service_kind TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    tier TEXT,
    -- ConnectWise catalog item (product) id.
    catalog_item_id INTEGER NOT NULL,
    -- Exact decimal overrides; NULL means the catalog item's own price or cost.
    unit_price TEXT,
    unit_cost TEXT,
    updated_at TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX product_mappings_key
    ON product_mappings (service_kind, resource_kind, ifnull(tier, ''));

-- Child agreements hyalto wrote (or adopted), one per service life.
CREATE TABLE agreement_links (
    -- ConnectWise id of the child agreement.
    agreement_id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services (id),
    -- The customer the agreement was written for; kept because a service can change customer.
    customer_id TEXT NOT NULL REFERENCES customers (id),
    -- The master agreement it hangs under.
    parent_agreement_id INTEGER NOT NULL,
    -- hyalto's own key written into the agreement, to recognise it in ConnectWise.
    ownership_key TEXT NOT NULL,
    -- The date hyalto ended the agreement; NULL while it is active.
    ended_on TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- At most one active child agreement per service.
CREATE UNIQUE INDEX agreement_links_one_active ON agreement_links (service_id)
    WHERE ended_on IS NULL;
CREATE INDEX agreement_links_by_customer ON agreement_links (customer_id);
CREATE INDEX agreement_links_by_ownership_key ON agreement_links (ownership_key);

-- Additions hyalto wrote (or adopted) on child agreements, with what it last wrote.
CREATE TABLE addition_links (
    -- ConnectWise id of the addition.
    addition_id INTEGER PRIMARY KEY,
    -- The child agreement the addition is on.
    agreement_id INTEGER NOT NULL REFERENCES agreement_links (agreement_id),
    service_id TEXT NOT NULL REFERENCES services (id),
    -- The meter (service kind x resource kind x tier) the addition bills.
    service_kind TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    tier TEXT,
    -- The catalog item the addition was written with.
    catalog_item_id INTEGER NOT NULL,
    ownership_key TEXT NOT NULL,
    -- The quantity hyalto last wrote; a different value in ConnectWise is drift.
    quantity TEXT NOT NULL,
    -- The unit price hyalto last wrote, or NULL when it left the catalog price.
    unit_price TEXT,
    effective_date TEXT NOT NULL,
    -- active or cancelled; cancelled_date is set exactly when cancelled.
    state TEXT NOT NULL CHECK (state IN ('active', 'cancelled')),
    cancelled_date TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((state = 'cancelled') = (cancelled_date IS NOT NULL))
) STRICT;

-- At most one active addition per service and meter; cancel-and-replace leaves the cancelled
-- ones beside the new one.
CREATE UNIQUE INDEX addition_links_one_active
    ON addition_links (service_id, service_kind, resource_kind, ifnull(tier, ''))
    WHERE state = 'active';
CREATE INDEX addition_links_by_agreement ON addition_links (agreement_id);
CREATE INDEX addition_links_by_ownership_key ON addition_links (ownership_key);

-- One row per `hyalto sync` (or dry run). AUTOINCREMENT so an id is never reused: audit entries
-- refer to runs.
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    -- NULL while the run is going, or if the process died before finishing it.
    finished_at TEXT,
    -- succeeded, partially_failed or failed; NULL exactly when finished_at is NULL.
    outcome TEXT CHECK (outcome IN ('succeeded', 'partially_failed', 'failed')),
    -- 1 for `--dry-run`, which writes nothing to ConnectWise.
    dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    -- The `--customer` the run was limited to, or NULL for all mapped customers.
    customer_filter TEXT,
    -- JSON object of counters (additions created, updated, ...).
    counts TEXT NOT NULL DEFAULT '{}',
    -- JSON of the per-customer results, or NULL until the run finishes.
    results TEXT,
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
) STRICT;

-- Every write hyalto made (or tried to make) to ConnectWise. Append-only: the triggers below
-- abort any UPDATE or DELETE, so history cannot be rewritten even by a bug.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- When the write finished (or failed).
    at TEXT NOT NULL,
    run_id INTEGER REFERENCES sync_runs (id),
    -- The inventory customer the write was for; no foreign key, so the log accepts any entry.
    customer_id TEXT,
    -- What was done: create_child_agreement, create_addition, update_addition, ...
    operation TEXT NOT NULL,
    -- The kind of ConnectWise record written (agreement, addition, catalog_item, ...).
    target_kind TEXT NOT NULL,
    -- ConnectWise id of the record, when known (a failed create has none).
    target_id INTEGER,
    -- Why hyalto made the write, in words.
    reason TEXT NOT NULL,
    -- The record before and after the write, as JSON; NULL when there is none.
    before_json TEXT,
    after_json TEXT,
    -- succeeded, failed, or unknown (the connection dropped before the answer arrived).
    status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'unknown')),
    -- ConnectWise's request id, when it gave one.
    request_id TEXT,
    error_message TEXT
) STRICT;

CREATE INDEX audit_log_by_customer ON audit_log (customer_id, id);
CREATE INDEX audit_log_by_run ON audit_log (run_id, id);

CREATE TRIGGER audit_log_refuses_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_refuses_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The sync lease: who may run a sync against the connection right now. One row at most (id 1);
-- a lease past expires_at may be taken over by anyone, so a crashed holder blocks nobody for long.
CREATE TABLE sync_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Opaque id of the holding process and task.
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
