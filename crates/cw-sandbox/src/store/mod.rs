//! Records, validation rules, seeds and the on-disk state file.
//!
//! The [`Store`](crate::store::Store) holds every record in memory as a JSON object, one
//! `BTreeMap` per [`Collection`](crate::store::Collection), behind one async lock. Each write is
//! validated the way ConnectWise validates it (`validate`), written to the optional SQLite state
//! file (`persist`) and only then applied in memory and acknowledged. Reads render records as the
//! API returns them: references carry the current name of what they point at, and agreement
//! statuses are computed for today.
//!
//! Submodules, in reading order: `collection` (the collections and the in-memory table),
//! `schema` (field lists from the reference), `validate`, `seed`, `persist` and `invoice`
//! (the next-invoice approximation).

mod collection;
mod invoice;
mod persist;
mod schema;
mod seed;
mod validate;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use collection::Collection;
pub use seed::{Denial, SeedData};

use crate::error_body::{ErrorBody, FieldError};
use crate::query::Conditions;
use collection::{Record, Records, reference_id};
use persist::StateFile;
use validate::{INVALID_FIELD, Mode, Write};

/// The `_info.updatedBy` and `enteredBy` of every record the sandbox writes.
pub(crate) const UPDATED_BY: &str = "hyalto-sandbox";

/// Why a store operation failed. Each variant maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record (or, for additions, the owning agreement) does not exist: 404.
    #[error("{resource} {id} was not found")]
    NotFound {
        /// The resource name, e.g. `agreement`.
        resource: &'static str,
        /// The id that was asked for.
        id: i64,
    },
    /// The request failed validation: 400 with the ConnectWise body.
    #[error("{}", describe(.0))]
    Invalid(ErrorBody),
    /// The request conflicts with other records, e.g. deleting an agreement that has
    /// additions: 409.
    #[error("{}", describe(.0))]
    Conflict(ErrorBody),
    /// The seed is unusable: the sandbox does not start.
    #[error("seed {file}: at {path}: {reason}")]
    Seed {
        /// The seed file, or `demo` for the bundled seed.
        file: String,
        /// Where in the seed the problem is, e.g. `agreements[2].company`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
    /// The state file could not be opened, read or written: 500, or no start.
    #[error("state file {path}: {reason}")]
    Persistence {
        /// The state file.
        path: String,
        /// What went wrong, with the database's own message.
        reason: String,
    },
}

fn describe(body: &ErrorBody) -> String {
    let mut text = body.message.clone();
    for entry in &body.errors {
        text.push_str(&format!(
            "; {} ({}): {}",
            entry.field, entry.code, entry.message
        ));
    }
    text
}

/// One operation of a PATCH body: `{"op": "replace", "path": "quantity", "value": 12}`.
/// `op` is `add`, `replace` or `remove` (any case); `path` is a top-level field name, with or
/// without a leading `/`.
#[derive(Clone, Debug, Deserialize)]
pub struct PatchOperation {
    /// `add`, `replace` or `remove`, in any case.
    pub op: String,
    /// The field to change, e.g. `quantity` or `/quantity`.
    pub path: String,
    /// The new value with its natural JSON type; ignored (and optional) for `remove`.
    #[serde(default)]
    pub value: Value,
}

/// The sandbox's records. Cheap to share as `Arc<Store>`; every method takes `&self`.
#[derive(Debug)]
pub struct Store {
    records: Arc<Mutex<Records>>,
    state: Option<Arc<StateFile>>,
    resumed: bool,
}

impl Store {
    /// Opens the store: with `state` = Some(file) it loads the file if it exists (else seeds and
    /// creates it); every later mutation is durable in the file before the call returns.
    pub async fn open(seed: &SeedData, state: Option<&Path>) -> Result<Store, StoreError> {
        let today = today();

        let mut resumed = false;
        let (records, state) = match state {
            None => (seed::build_records(seed, today, &seed::info_now())?, None),
            Some(path) => {
                let (file, loaded) = StateFile::open(path).await?;
                match loaded {
                    Some(records) => {
                        resumed = true;
                        tracing::info!(
                            state.path = %path.display(),
                            "loaded the sandbox state file; the seed was not applied"
                        );
                        (records, Some(Arc::new(file)))
                    }
                    None => {
                        let records = seed::build_records(seed, today, &seed::info_now())?;
                        file.seed(&records).await?;
                        tracing::info!(
                            state.path = %path.display(),
                            "created and seeded the sandbox state file"
                        );
                        (records, Some(Arc::new(file)))
                    }
                }
            }
        };

        Ok(Store {
            records: Arc::new(Mutex::new(records)),
            state,
            resumed,
        })
    }

    /// Whether the records came from an existing state file, in which case the seed given to
    /// [`Store::open`] was not applied.
    pub fn resumed_from_state(&self) -> bool {
        self.resumed
    }

    /// All records of a collection (for Additions: of one agreement; `parent` = agreement id),
    /// sorted by id, as full JSON objects with `_info`.
    pub async fn list(
        &self,
        collection: Collection,
        parent: Option<i64>,
    ) -> Result<Vec<Value>, StoreError> {
        self.list_matching(collection, parent, None).await
    }

    /// The records of [`Store::list`] that satisfy `conditions`, sorted by id.
    ///
    /// The conditions are tested on records as the API shows them (references renamed,
    /// statuses computed), exactly as a filter over [`Store::list`] would. Only the rendering
    /// of candidates happens under the lock: the additions of one agreement come from the
    /// additions index, and agreements filtered on `parentAgreement/id` from the child index,
    /// so a sync's per-customer queries do not render every record of the sandbox.
    pub async fn list_matching(
        &self,
        collection: Collection,
        parent: Option<i64>,
        conditions: Option<&Conditions>,
    ) -> Result<Vec<Value>, StoreError> {
        let rows: Vec<Value> = {
            let records = self.records.lock().await;
            let parent = owning_agreement(&records, collection, parent)?;
            let today = today();
            candidate_ids(&records, collection, parent, conditions)
                .into_iter()
                .filter_map(|id| records.get(collection, id))
                .map(|record| present(&records, collection, record, today))
                .collect()
        };

        // The exact test runs after the lock is released, so other requests need not wait
        // for it.
        Ok(match conditions {
            Some(conditions) => rows
                .into_iter()
                .filter(|row| conditions.matches(row))
                .collect(),
            None => rows,
        })
    }

    /// One record; for additions `parent` must be the agreement it belongs to.
    pub async fn get(
        &self,
        collection: Collection,
        parent: Option<i64>,
        id: i64,
    ) -> Result<Value, StoreError> {
        let records = self.records.lock().await;
        let parent = owning_agreement(&records, collection, parent)?;
        let record = find(&records, collection, parent, id)?;
        Ok(present(&records, collection, record, today()))
    }

    /// Creates a record from a POST body and returns it as the API would (201).
    pub async fn create(
        &self,
        collection: Collection,
        parent: Option<i64>,
        body: Value,
    ) -> Result<Value, StoreError> {
        let input = body_object(collection, body)?;
        let records = self.records.clone().lock_owned().await;
        ensure_writable(collection)?;
        let parent = owning_agreement(&records, collection, parent)?;
        if collection == Collection::Additions && parent.is_none() {
            return Err(StoreError::Invalid(ErrorBody::new(
                "InvalidObject",
                "an addition is created under an agreement: /finance/agreements/{id}/additions",
            )));
        }

        let id = records.next_id(collection);
        let touched = touched_fields(collection, input.keys());
        let write = Write {
            records: &records,
            collection,
            parent,
            id,
            mode: Mode::Create,
            touched: &touched,
            today: today(),
        };
        let fields = validate::validate(&write, &input).map_err(StoreError::Invalid)?;

        let record = Record {
            parent,
            body: assemble(id, fields, seed::info_now()),
        };
        let records = self
            .commit(records, Change::Put(collection, id, record))
            .await?;
        tracing::info!(
            collection = collection.key(),
            record.id = id,
            "created {} {id}",
            collection.resource_name()
        );
        self.render(&records, collection, id)
    }

    /// Applies PATCH operations; the result is validated as a whole, so several dependent
    /// fields can change in one request.
    pub async fn patch(
        &self,
        collection: Collection,
        parent: Option<i64>,
        id: i64,
        ops: Vec<PatchOperation>,
    ) -> Result<Value, StoreError> {
        let records = self.records.clone().lock_owned().await;
        ensure_writable(collection)?;
        let parent = owning_agreement(&records, collection, parent)?;
        let existing = find(&records, collection, parent, id)?.clone();

        let mut input = writable_fields(collection, &existing.body);
        let mut touched = HashSet::new();
        let mut errors: Vec<FieldError> = Vec::new();
        let resource = collection.resource_name();
        for operation in &ops {
            let path = operation.path.trim().trim_start_matches('/');
            let problem = match schema::field(collection, path) {
                _ if path.contains('/') => Err(format!(
                    "only top-level fields can be patched; replace the whole {} object instead.",
                    path.split('/').next().unwrap_or_default()
                )),
                None if path.eq_ignore_ascii_case("id") || path.eq_ignore_ascii_case("_info") => {
                    Err(format!(
                        "{path} is set by the server and cannot be changed; to use another id, \
                         create a new {resource}."
                    ))
                }
                None => Err(format!("{path} is not a field of {resource}.")),
                Some(field) if field.read_only => Err(format!(
                    "{} is computed by the server and cannot be changed.",
                    field.name
                )),
                Some(field) => match operation.op.to_ascii_lowercase().as_str() {
                    "add" | "replace" => {
                        input.insert(field.name.to_owned(), operation.value.clone());
                        touched.insert(field.name);
                        Ok(())
                    }
                    "remove" => {
                        input.remove(field.name);
                        touched.insert(field.name);
                        Ok(())
                    }
                    other => Err(format!(
                        "op {other:?} is not supported; use add, replace or remove."
                    )),
                },
            };
            if let Err(message) = problem
                && !errors.iter().any(|entry| entry.field == path)
            {
                errors.push(FieldError::new(INVALID_FIELD, resource, path, message));
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(ErrorBody::invalid_object(
                resource, errors,
            )));
        }

        let write = Write {
            records: &records,
            collection,
            parent: existing.parent,
            id,
            mode: Mode::Patch,
            touched: &touched,
            today: today(),
        };
        let record = revised(&write, &existing, &input)?;
        self.update(records, collection, id, record).await
    }

    /// Replaces every writable field with the PUT body (fields left out are cleared or reset
    /// to their defaults).
    pub async fn replace(
        &self,
        collection: Collection,
        parent: Option<i64>,
        id: i64,
        body: Value,
    ) -> Result<Value, StoreError> {
        let input = body_object(collection, body)?;
        let records = self.records.clone().lock_owned().await;
        ensure_writable(collection)?;
        let parent = owning_agreement(&records, collection, parent)?;
        let existing = find(&records, collection, parent, id)?.clone();

        let touched = touched_fields(collection, input.keys());
        let write = Write {
            records: &records,
            collection,
            parent: existing.parent,
            id,
            mode: Mode::Replace,
            touched: &touched,
            today: today(),
        };
        let record = revised(&write, &existing, &input)?;
        self.update(records, collection, id, record).await
    }

    /// Deletes a record. Agreements with additions or child agreements, and records other
    /// records point at, are refused with a conflict.
    pub async fn delete(
        &self,
        collection: Collection,
        parent: Option<i64>,
        id: i64,
    ) -> Result<(), StoreError> {
        let records = self.records.clone().lock_owned().await;
        ensure_writable(collection)?;
        let parent = owning_agreement(&records, collection, parent)?;
        find(&records, collection, parent, id)?;

        let users = users_of(&records, collection, id);
        if !users.is_empty() {
            let list: Vec<String> = users
                .iter()
                .map(|(what, count)| format!("{count} {what}"))
                .collect();
            return Err(StoreError::Conflict(ErrorBody::new(
                "Conflict",
                in_use_message(collection, id, &list.join(", ")),
            )));
        }

        self.commit(records, Change::Delete(collection, id)).await?;
        tracing::info!(
            collection = collection.key(),
            record.id = id,
            "deleted {} {id}",
            collection.resource_name()
        );
        Ok(())
    }

    /// The simplified next-invoice computation of reference §9.7 for a master agreement.
    pub async fn invoice_preview(
        &self,
        agreement_id: i64,
        period_start: Option<NaiveDate>,
    ) -> Result<Value, StoreError> {
        let records = self.records.lock().await;
        invoice::preview(&records, agreement_id, period_start, today())
    }

    /// Stores a new version of an existing record and returns it as the API shows it.
    async fn update(
        &self,
        records: OwnedMutexGuard<Records>,
        collection: Collection,
        id: i64,
        record: Record,
    ) -> Result<Value, StoreError> {
        let records = self
            .commit(records, Change::Put(collection, id, record))
            .await?;
        tracing::info!(
            collection = collection.key(),
            record.id = id,
            "updated {} {id}",
            collection.resource_name()
        );
        self.render(&records, collection, id)
    }

    /// Makes `change` durable in the state file (if any) and then applies it in memory.
    ///
    /// Both steps run in a task of their own that holds the lock: if the caller stops waiting
    /// (an HTTP client that hangs up), the change still completes, so memory never disagrees
    /// with the file and an id that reached the file is never handed out again.
    async fn commit(
        &self,
        mut records: OwnedMutexGuard<Records>,
        change: Change,
    ) -> Result<OwnedMutexGuard<Records>, StoreError> {
        let Some(state) = self.state.clone() else {
            change.apply(&mut records);
            return Ok(records);
        };
        let path = state.path().display().to_string();

        let task = tokio::spawn(async move {
            let written = match &change {
                Change::Put(collection, id, record) => {
                    let next = records.next_id(*collection).max(id + 1);
                    state.put(*collection, *id, record, next).await
                }
                Change::Delete(collection, id) => state.delete(*collection, *id).await,
            };
            written.map(|()| {
                change.apply(&mut records);
                records
            })
        });
        task.await.map_err(|error| StoreError::Persistence {
            path,
            reason: format!("the write did not finish: {error}"),
        })?
    }

    fn render(
        &self,
        records: &Records,
        collection: Collection,
        id: i64,
    ) -> Result<Value, StoreError> {
        let record = records.get(collection, id).ok_or(StoreError::NotFound {
            resource: collection.resource_name(),
            id,
        })?;
        Ok(present(records, collection, record, today()))
    }
}

/// One mutation, as written to the state file and applied in memory.
enum Change {
    Put(Collection, i64, Record),
    Delete(Collection, i64),
}

impl Change {
    fn apply(self, records: &mut Records) {
        match self {
            Change::Put(collection, id, record) => records.insert(collection, id, record),
            Change::Delete(collection, id) => {
                records.remove(collection, id);
            }
        }
    }
}

/// Validates a PATCH or PUT of `existing` and returns the new version of the record.
fn revised(
    write: &Write<'_>,
    existing: &Record,
    input: &Map<String, Value>,
) -> Result<Record, StoreError> {
    let fields = validate::validate(write, input).map_err(StoreError::Invalid)?;

    // The entry date survives updates; the last-updated stamp moves.
    let mut info = seed::info_now();
    if let Some(old) = existing.body.get("_info").and_then(Value::as_object) {
        for key in ["dateEntered", "enteredBy"] {
            if let Some(value) = old.get(key) {
                info.insert(key.to_owned(), value.clone());
            }
        }
    }
    Ok(Record {
        parent: existing.parent,
        body: assemble(write.id, fields, info),
    })
}

/// Today's date in UTC, which the sandbox uses as the server's date.
fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A stored record body: `id`, the fields, then `_info`.
pub(crate) fn assemble(id: i64, fields: Map<String, Value>, info: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("id".to_owned(), Value::from(id));
    body.extend(fields);
    body.insert("_info".to_owned(), Value::Object(info));
    Value::Object(body)
}

/// A record as the API returns it: references refreshed from the records they point at (so
/// a renamed company shows its new name everywhere) and statuses computed for `today`.
fn present(records: &Records, collection: Collection, record: &Record, today: NaiveDate) -> Value {
    let mut body = record.body.clone();
    let Some(object) = body.as_object_mut() else {
        return body;
    };

    for field in schema::fields(collection) {
        if let schema::Kind::Ref(Some(target)) = field.kind
            && let Some(id) = reference_id(object.get(field.name))
            && let Some(reference) = records.reference(target, id)
        {
            object.insert(field.name.to_owned(), reference);
        }
    }

    let status = match collection {
        Collection::Agreements => Some(validate::agreement_status(object, today)),
        Collection::Additions => record
            .parent
            .and_then(|agreement| records.body(Collection::Agreements, agreement))
            .map(|agreement| validate::agreement_status(agreement, today)),
        _ => None,
    };
    if let Some(status) = status {
        object.insert("agreementStatus".to_owned(), Value::from(status));
    }
    body
}

/// The ids, in id order, of the records of `collection` that can satisfy `conditions`; every
/// record that does is among them, so testing only these gives the same answer as testing all.
fn candidate_ids(
    records: &Records,
    collection: Collection,
    parent: Option<i64>,
    conditions: Option<&Conditions>,
) -> Vec<i64> {
    match (collection, parent) {
        (Collection::Additions, Some(agreement)) => {
            return records.additions_of(agreement).collect();
        }
        (Collection::Agreements, _) => {
            let parents = conditions.and_then(|c| c.required_integers(&["parentAgreement", "id"]));
            if let Some(parents) = parents {
                return records.child_candidates(&parents).into_iter().collect();
            }
        }
        _ => {}
    }

    records
        .iter(collection)
        .filter(|(_, record)| parent.is_none() || record.parent == parent)
        .map(|(id, _)| id)
        .collect()
}

fn ensure_writable(collection: Collection) -> Result<(), StoreError> {
    if collection.is_writable() {
        return Ok(());
    }
    Err(StoreError::Invalid(ErrorBody::new(
        "InvalidRequest",
        format!(
            "{} records are read-only in the sandbox; they come from the seed",
            collection.resource_name()
        ),
    )))
}

/// For additions, checks that the owning agreement exists (404 otherwise) and returns it;
/// other collections have no parent.
fn owning_agreement(
    records: &Records,
    collection: Collection,
    parent: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    if collection != Collection::Additions {
        return Ok(None);
    }
    match parent {
        Some(agreement) if records.get(Collection::Agreements, agreement).is_none() => {
            Err(StoreError::NotFound {
                resource: Collection::Agreements.resource_name(),
                id: agreement,
            })
        }
        parent => Ok(parent),
    }
}

fn find(
    records: &Records,
    collection: Collection,
    parent: Option<i64>,
    id: i64,
) -> Result<&Record, StoreError> {
    records
        .get(collection, id)
        .filter(|record| parent.is_none() || record.parent == parent)
        .ok_or(StoreError::NotFound {
            resource: collection.resource_name(),
            id,
        })
}

fn body_object(collection: Collection, body: Value) -> Result<Map<String, Value>, StoreError> {
    match body {
        Value::Object(object) => Ok(object),
        _ => Err(StoreError::Invalid(ErrorBody::new(
            "InvalidObject",
            format!(
                "{} object is invalid: the body must be a JSON object",
                collection.resource_name()
            ),
        ))),
    }
}

/// The canonical names of the schema fields among `keys`.
fn touched_fields<'a>(
    collection: Collection,
    keys: impl Iterator<Item = &'a String>,
) -> HashSet<&'static str> {
    keys.filter_map(|key| schema::field(collection, key).map(|field| field.name))
        .collect()
}

/// The stored fields a client may change: everything but `id`, `_info` and computed fields.
fn writable_fields(collection: Collection, body: &Value) -> Map<String, Value> {
    body.as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| schema::field(collection, key).is_some_and(|field| !field.read_only))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The message of a refused delete. It names only remedies that really unblock the delete:
/// cancelling an agreement, or its additions, leaves them in place, so the sandbox (like
/// ConnectWise) still refuses; cancelling is offered as the alternative to deleting.
fn in_use_message(collection: Collection, id: i64, users: &str) -> String {
    let resource = collection.resource_name();
    let remedy = match collection {
        Collection::Agreements => {
            "Delete those first, or cancel this agreement instead of deleting it (set \
             cancelledFlag to true); a cancelled agreement and its additions are kept"
        }
        _ => "Delete those records first, or change them to point at another record",
    };
    format!("{resource} {id} cannot be deleted because other records use it: {users}. {remedy}.")
}

/// Which records point at record `id` of `collection`, counted by kind (e.g.
/// `("additions", 3)`); additions count for their owning agreement.
fn users_of(records: &Records, collection: Collection, id: i64) -> Vec<(String, usize)> {
    let mut users = Vec::new();

    if collection == Collection::Agreements {
        let additions = records.additions_of(id).count();
        if additions > 0 {
            users.push(("additions".to_owned(), additions));
        }
    }

    for source in Collection::LOAD_ORDER {
        let ref_fields: Vec<&str> = schema::fields(source)
            .iter()
            .filter(|field| {
                matches!(field.kind, schema::Kind::Ref(Some(target)) if target == collection)
            })
            .map(|field| field.name)
            .collect();
        if ref_fields.is_empty() {
            continue;
        }
        let count = records
            .iter(source)
            .filter(|(other, _)| source != collection || *other != id)
            .filter(|(_, record)| {
                ref_fields
                    .iter()
                    .any(|name| reference_id(record.body.get(*name)) == Some(id))
            })
            .count();
        if count > 0 {
            let what = if source == Collection::Agreements && collection == Collection::Agreements {
                "child agreements".to_owned()
            } else {
                source.key().to_owned()
            };
            users.push((what, count));
        }
    }
    users
}

#[cfg(test)]
mod tests;
