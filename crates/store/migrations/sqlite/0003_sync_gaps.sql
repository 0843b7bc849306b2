-- What the sync needs to notice a changed product mapping, and to find its own writes in the
-- audit log by record rather than by age.
--
-- addition_links.unit_cost: the unit cost override hyalto last wrote on the addition, or NULL
-- when it left the catalog item's cost. With unit_price and catalog_item_id it tells the sync
-- that a product mapping now names another catalog item or another price or cost override, so
-- that the line is replaced. Rows written before this column existed did not record it; they
-- are filled with the cost override that the product mapping of the same meter and catalog
-- item holds now, the best that is known about what was written.
ALTER TABLE addition_links ADD COLUMN unit_cost TEXT;

UPDATE addition_links
SET unit_cost = (
    SELECT product_mappings.unit_cost FROM product_mappings
    WHERE product_mappings.service_kind = addition_links.service_kind
      AND product_mappings.resource_kind = addition_links.resource_kind
      AND ifnull(product_mappings.tier, '') = ifnull(addition_links.tier, '')
      AND product_mappings.catalog_item_id = addition_links.catalog_item_id
);

-- A line adopted before this release recorded the unit price ConnectWise showed (usually the
-- catalog item's), not an override hyalto wrote. An adopted line is accepted under the product
-- mapping of its meter, so it takes that mapping's price override, and is not replaced for a
-- price difference hyalto never made.
UPDATE addition_links
SET unit_price = (
    SELECT product_mappings.unit_price FROM product_mappings
    WHERE product_mappings.service_kind = addition_links.service_kind
      AND product_mappings.resource_kind = addition_links.resource_kind
      AND ifnull(product_mappings.tier, '') = ifnull(addition_links.tier, '')
      AND product_mappings.catalog_item_id = addition_links.catalog_item_id
)
WHERE addition_id IN (
    SELECT target_id FROM audit_log
    WHERE operation = 'adopt_record' AND target_kind = 'addition' AND target_id IS NOT NULL
);

-- The sync looks up the cancellations and ends it sent for exactly the records that disagree
-- with their links (by record id), however old the entry is.
CREATE INDEX audit_log_by_target ON audit_log (target_kind, target_id, operation);

-- What hyalto is about to send to a record, written before a cancellation or an end is sent to
-- ConnectWise. If hyalto stops between ConnectWise saving the write and the audit entry of its
-- outcome, this row still says which date hyalto chose, so the next sync recognises the record's
-- state as its own unfinished work rather than a hand edit. Not the audit log: an intent says
-- nothing about the outcome. Rows are only ever added.
CREATE TABLE write_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    run_id INTEGER REFERENCES sync_runs (id),
    customer_id TEXT,
    -- The operation about to be sent: cancel_addition, end_child_agreement.
    operation TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    -- The fields about to be sent, as JSON, under their ConnectWise names.
    sent_json TEXT NOT NULL
) STRICT;

CREATE INDEX write_intents_by_target ON write_intents (target_kind, target_id, operation);

-- This data dir's hyalto installation: a random id created once, written next to the ownership
-- key of every child agreement, so two installations syncing into one ConnectWise never take
-- each other's records for their own. One row at most.
CREATE TABLE installation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    installation_id TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
