//! Seed files: the JSON that fills a new sandbox, and the bundled demo data.
//!
//! A seed is one JSON object with an array per collection (`companies`, `agreements`, …) and an
//! optional `security` section. Seed records carry their own ids and are validated exactly like
//! API writes, so a seed can never hold a record the API would refuse. The format is documented
//! in `docs/cw-sandbox.md`, section "Seed file format".

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::collection::{Collection, Record, Records};
use super::validate::{self, Mode, Write};
use super::{StoreError, schema};

/// The bundled demo seed (`crates/cw-sandbox/seed/demo.json`).
const DEMO: &str = include_str!("../../seed/demo.json");

/// The name used for the bundled seed in error messages.
const DEMO_SOURCE: &str = "<bundled demo seed>";

/// One rule of the seed's `security` section: requests with this method on this route answer
/// 403, as for an API member whose security role lacks the permission.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    /// An HTTP method (`GET`, `POST`, `PATCH`, `PUT`, `DELETE`).
    pub method: String,
    /// A route template, e.g. `/finance/agreements/{id}`.
    pub path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Security {
    #[serde(default)]
    deny: Vec<Denial>,
}

/// A parsed seed: the records of each collection as written in the file, plus the security
/// rules. Records are validated when a store is built from it.
#[derive(Clone, Debug)]
pub struct SeedData {
    /// Where the seed came from, for error messages.
    source: String,
    collections: HashMap<Collection, Vec<Value>>,
    security: Vec<Denial>,
}

impl SeedData {
    /// The bundled demo data: about ten companies with contacts, agreement types, master
    /// agreements, a private-cloud catalog and the lookup lists.
    pub fn demo() -> SeedData {
        // The demo seed is compiled in and covered by tests, so failing here is a build defect.
        SeedData::parse(DEMO_SOURCE, DEMO).expect("the bundled demo seed is valid")
    }

    /// A seed without any records.
    pub fn empty() -> SeedData {
        SeedData {
            source: "<empty seed>".to_owned(),
            collections: HashMap::new(),
            security: Vec::new(),
        }
    }

    /// Reads and checks a seed file: its JSON shape, and every record as an API write would be
    /// checked. Errors name the file, the JSON path (`$.agreements[2].company`) and the reason.
    pub fn from_file(path: &Path) -> Result<SeedData, StoreError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| StoreError::Seed {
            file: source.clone(),
            path: "$".to_owned(),
            reason: format!("cannot read the file: {error}"),
        })?;

        let seed = SeedData::parse(&source, &text)?;
        build_records(&seed, chrono::Utc::now().date_naive(), &info_now())?;
        Ok(seed)
    }

    /// The `security.deny` rules of the seed.
    pub fn security(&self) -> &[Denial] {
        &self.security
    }

    /// The records of `collection` as written in the seed.
    pub(crate) fn records(&self, collection: Collection) -> &[Value] {
        self.collections
            .get(&collection)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Parses the JSON shape of a seed; `source` names it in errors.
    pub(crate) fn parse(source: &str, text: &str) -> Result<SeedData, StoreError> {
        let error = |path: String, reason: String| StoreError::Seed {
            file: source.to_owned(),
            path,
            reason,
        };

        let root: Value = serde_json::from_str(text).map_err(|parse_error| {
            error(
                format!(
                    "line {} column {}",
                    parse_error.line(),
                    parse_error.column()
                ),
                format!("not valid JSON: {parse_error}"),
            )
        })?;
        let Value::Object(root) = root else {
            return Err(error(
                "$".to_owned(),
                "the seed must be a JSON object".to_owned(),
            ));
        };

        let mut seed = SeedData {
            source: source.to_owned(),
            ..SeedData::empty()
        };
        for (key, value) in root {
            // Keys starting with `_` or `$` are comments and schema links, not data.
            if key.starts_with('_') || key.starts_with('$') {
                continue;
            }
            if key == "security" {
                let security: Security = serde_json::from_value(value).map_err(|parse_error| {
                    error("$.security".to_owned(), parse_error.to_string())
                })?;
                seed.security = security.deny;
                continue;
            }
            let Some(collection) = Collection::from_key(&key) else {
                let known: Vec<&str> = Collection::LOAD_ORDER
                    .iter()
                    .map(|collection| collection.key())
                    .collect();
                return Err(error(
                    format!("$.{key}"),
                    format!(
                        "unknown key; expected security or one of {}",
                        known.join(", ")
                    ),
                ));
            };
            let Value::Array(records) = value else {
                return Err(error(
                    format!("$.{key}"),
                    "must be an array of records".to_owned(),
                ));
            };
            seed.collections.insert(collection, records);
        }
        Ok(seed)
    }

    fn error(&self, path: String, reason: String) -> StoreError {
        StoreError::Seed {
            file: self.source.clone(),
            path,
            reason,
        }
    }
}

/// The `_info` of records written now.
pub(crate) fn info_now() -> serde_json::Map<String, Value> {
    let now = validate::format_date_time(chrono::Utc::now().naive_utc());
    let mut info = serde_json::Map::new();
    info.insert("lastUpdated".to_owned(), Value::from(now.clone()));
    info.insert("updatedBy".to_owned(), Value::from(super::UPDATED_BY));
    info.insert("dateEntered".to_owned(), Value::from(now));
    info.insert("enteredBy".to_owned(), Value::from(super::UPDATED_BY));
    info
}

/// Turns a seed into validated records, checking each one as the API checks a POST.
pub(crate) fn build_records(
    seed: &SeedData,
    today: NaiveDate,
    info: &serde_json::Map<String, Value>,
) -> Result<Records, StoreError> {
    // First every record goes in as written, so that references between records resolve
    // whatever order the file lists them in.
    let mut records = Records::default();
    for collection in Collection::LOAD_ORDER {
        let key = collection.key();
        for (index, raw) in seed.records(collection).iter().enumerate() {
            let path = format!("$.{key}[{index}]");
            if !raw.is_object() {
                return Err(seed.error(path, "a record must be a JSON object".to_owned()));
            }

            let id = raw
                .get("id")
                .and_then(validate::parse_integer)
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    seed.error(
                        format!("{path}.id"),
                        "every seed record needs a positive whole-number id".to_owned(),
                    )
                })?;
            if records.get(collection, id).is_some() {
                return Err(seed.error(
                    format!("{path}.id"),
                    format!("id {id} is used by another {}", collection.resource_name()),
                ));
            }

            let parent = if collection == Collection::Additions {
                let agreement = raw
                    .get("agreementId")
                    .and_then(validate::parse_integer)
                    .filter(|agreement| seed_has(seed, Collection::Agreements, *agreement));
                let Some(agreement) = agreement else {
                    return Err(seed.error(
                        format!("{path}.agreementId"),
                        "an addition needs the id of an agreement of the seed".to_owned(),
                    ));
                };
                Some(agreement)
            } else {
                None
            };

            let record = Record {
                parent,
                body: raw.clone(),
            };
            records.insert(collection, id, record);
        }
    }

    // Then each record is validated in load order, replacing its raw form. Parent agreements go
    // before their children so that a child sees its parent's defaults.
    for collection in Collection::LOAD_ORDER {
        let key = collection.key();
        let raws = seed.records(collection);
        let mut order: Vec<usize> = (0..raws.len()).collect();
        if collection == Collection::Agreements {
            order.sort_by_key(|index| raws[*index].get("parentAgreement").is_some());
        }

        for index in order {
            let raw = &raws[index];
            let object = raw.as_object().cloned().unwrap_or_default();
            let id = object
                .get("id")
                .and_then(validate::parse_integer)
                .unwrap_or_default();
            let parent = records.get(collection, id).and_then(|record| record.parent);

            let touched: HashSet<&'static str> = object
                .keys()
                .filter_map(|key| schema::field(collection, key).map(|field| field.name))
                .collect();
            let write = Write {
                records: &records,
                collection,
                parent,
                id,
                mode: Mode::Create,
                touched: &touched,
                today,
            };
            let fields = validate::validate(&write, &object).map_err(|body| {
                let first = body.errors.first();
                let field = first
                    .map(|entry| format!(".{}", entry.field))
                    .unwrap_or_default();
                let reason = first
                    .map(|entry| format!("{}: {}", entry.code, entry.message))
                    .unwrap_or(body.message);
                seed.error(format!("$.{key}[{index}]{field}"), reason)
            })?;

            let body = super::assemble(id, fields, info.clone());
            records.insert(collection, id, Record { parent, body });
        }
    }

    Ok(records)
}

fn seed_has(seed: &SeedData, collection: Collection, id: i64) -> bool {
    seed.records(collection)
        .iter()
        .any(|raw| raw.get("id").and_then(validate::parse_integer) == Some(id))
}
