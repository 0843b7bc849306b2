//! The collections the sandbox serves and the in-memory table of their records.
//!
//! Records are JSON objects keyed by id in a `BTreeMap`, so listing them in id order costs
//! nothing. Additions also remember the agreement they belong to (`parent`).
//!
//! Two indexes keep the questions a sync asks on every customer cheap at ten thousand
//! agreements: the child agreements of each agreement (by the stored `parentAgreement` id) and
//! the additions of each agreement. Both are kept in step by [`Records::insert`] and
//! [`Records::remove`], which every seed, state-file load and write goes through.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::schema;

/// A kind of record the sandbox stores, one per ConnectWise endpoint family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// `company/companies`.
    Companies,
    /// `company/contacts`.
    Contacts,
    /// `finance/agreements`.
    Agreements,
    /// `finance/agreements/types`.
    AgreementTypes,
    /// `finance/agreements/{id}/additions`, each owned by one agreement.
    Additions,
    /// `procurement/catalog`.
    Catalog,
    /// `procurement/types`.
    ProductTypes,
    /// `procurement/subcategories`.
    Subcategories,
    /// `procurement/unitOfMeasures`.
    UnitsOfMeasure,
    /// `finance/billingCycles`.
    BillingCycles,
    /// `system/locations`.
    Locations,
    /// `system/departments`.
    Departments,
}

impl Collection {
    /// Every collection, in the order a seed is loaded: lookups first, then the records that
    /// point at them.
    pub(crate) const LOAD_ORDER: [Collection; 12] = [
        Collection::BillingCycles,
        Collection::Locations,
        Collection::Departments,
        Collection::ProductTypes,
        Collection::Subcategories,
        Collection::UnitsOfMeasure,
        Collection::AgreementTypes,
        Collection::Companies,
        Collection::Contacts,
        Collection::Catalog,
        Collection::Agreements,
        Collection::Additions,
    ];

    /// The resource name ConnectWise puts in error bodies (`"agreement object is invalid"`).
    pub fn resource_name(self) -> &'static str {
        match self {
            Collection::Companies => "company",
            Collection::Contacts => "contact",
            Collection::Agreements => "agreement",
            Collection::AgreementTypes => "agreementType",
            Collection::Additions => "addition",
            Collection::Catalog => "catalogItem",
            Collection::ProductTypes => "productType",
            Collection::Subcategories => "subcategory",
            Collection::UnitsOfMeasure => "unitOfMeasure",
            Collection::BillingCycles => "billingCycle",
            Collection::Locations => "location",
            Collection::Departments => "department",
        }
    }

    /// What the field at a path's `segments` holds, for checking the types in `conditions`.
    pub fn path_type(self, segments: &[String]) -> crate::query::FieldType {
        super::schema::path_type(self, segments)
    }

    /// Whether `path` (e.g. `company/id`, `_info/lastUpdated`) names a field of this
    /// collection's records; case-insensitive.
    pub fn knows_path(self, path: &str) -> bool {
        schema::knows_path(self, path.trim_start_matches('/'))
    }

    /// Whether POST, PATCH, PUT and DELETE are allowed on this collection at all. The lookup
    /// lists (product types, subcategories, units of measure, billing cycles, locations and
    /// departments) come from the seed only.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            Collection::Companies
                | Collection::Contacts
                | Collection::Agreements
                | Collection::AgreementTypes
                | Collection::Additions
                | Collection::Catalog
        )
    }

    /// The key of this collection in seed files and in the state file.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Collection::Companies => "companies",
            Collection::Contacts => "contacts",
            Collection::Agreements => "agreements",
            Collection::AgreementTypes => "agreementTypes",
            Collection::Additions => "additions",
            Collection::Catalog => "catalog",
            Collection::ProductTypes => "productTypes",
            Collection::Subcategories => "subcategories",
            Collection::UnitsOfMeasure => "unitsOfMeasure",
            Collection::BillingCycles => "billingCycles",
            Collection::Locations => "locations",
            Collection::Departments => "departments",
        }
    }

    /// The collection whose [`Collection::key`] is `key`.
    pub(crate) fn from_key(key: &str) -> Option<Collection> {
        Collection::LOAD_ORDER
            .into_iter()
            .find(|collection| collection.key() == key)
    }

    /// The relative URL of a record (reference §5.5 `_href` links; the http layer does not
    /// prefix them with the site URL).
    pub(crate) fn href(self, id: i64, parent: Option<i64>) -> String {
        match self {
            Collection::Companies => format!("/company/companies/{id}"),
            Collection::Contacts => format!("/company/contacts/{id}"),
            Collection::Agreements => format!("/finance/agreements/{id}"),
            Collection::AgreementTypes => format!("/finance/agreements/types/{id}"),
            Collection::Additions => {
                format!("/finance/agreements/{}/additions/{id}", parent.unwrap_or(0))
            }
            Collection::Catalog => format!("/procurement/catalog/{id}"),
            Collection::ProductTypes => format!("/procurement/types/{id}"),
            Collection::Subcategories => format!("/procurement/subcategories/{id}"),
            Collection::UnitsOfMeasure => format!("/procurement/unitOfMeasures/{id}"),
            Collection::BillingCycles => format!("/finance/billingCycles/{id}"),
            Collection::Locations => format!("/system/locations/{id}"),
            Collection::Departments => format!("/system/departments/{id}"),
        }
    }

    /// The `_info` key that carries the link in a reference to a record of this collection.
    fn href_key(self) -> &'static str {
        match self {
            Collection::Companies => "company_href",
            Collection::Contacts => "contact_href",
            Collection::Agreements => "agreement_href",
            Collection::AgreementTypes | Collection::ProductTypes => "type_href",
            Collection::Additions => "addition_href",
            Collection::Catalog => "product_href",
            Collection::Subcategories => "subcategory_href",
            Collection::UnitsOfMeasure => "unitOfMeasure_href",
            Collection::BillingCycles => "billingCycle_href",
            Collection::Locations => "location_href",
            Collection::Departments => "department_href",
        }
    }
}

/// One stored record: its JSON body (with `id` and `_info`) and, for additions, the agreement
/// it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub parent: Option<i64>,
    pub body: Value,
}

/// Every record the sandbox holds, plus the next id of each collection and the indexes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Records {
    tables: HashMap<Collection, BTreeMap<i64, Record>>,
    next_ids: HashMap<Collection, i64>,
    indexes: Indexes,
}

/// The indexes over the stored records, kept apart from the tables so that both can be
/// borrowed at once.
#[derive(Clone, Debug, Default, PartialEq)]
struct Indexes {
    /// Agreement ids by the integer id in their stored `parentAgreement` reference.
    children: HashMap<i64, BTreeSet<i64>>,
    /// Agreements whose `parentAgreement` is set but holds no integer id (never written by
    /// validation, but possible in a hand-edited state file); a filter on the parent cannot
    /// rule them out, so they are always candidates.
    odd_parents: BTreeSet<i64>,
    /// Addition ids by the agreement they belong to.
    additions: HashMap<i64, BTreeSet<i64>>,
}

impl Indexes {
    fn add(&mut self, collection: Collection, id: i64, record: &Record) {
        match collection {
            Collection::Agreements => match ParentSlot::of(&record.body) {
                ParentSlot::None => {}
                ParentSlot::Id(parent) => {
                    self.children.entry(parent).or_default().insert(id);
                }
                ParentSlot::Odd => {
                    self.odd_parents.insert(id);
                }
            },
            Collection::Additions => {
                if let Some(agreement) = record.parent {
                    self.additions.entry(agreement).or_default().insert(id);
                }
            }
            _ => {}
        }
    }

    fn remove(&mut self, collection: Collection, id: i64, record: &Record) {
        match collection {
            Collection::Agreements => match ParentSlot::of(&record.body) {
                ParentSlot::None => {}
                ParentSlot::Id(parent) => drop_from(&mut self.children, parent, id),
                ParentSlot::Odd => {
                    self.odd_parents.remove(&id);
                }
            },
            Collection::Additions => {
                if let Some(agreement) = record.parent {
                    drop_from(&mut self.additions, agreement, id);
                }
            }
            _ => {}
        }
    }
}

/// Where an agreement sits in the child index, read from its stored body.
enum ParentSlot {
    /// No parent: `parentAgreement` is missing or null.
    None,
    /// A reference with this integer id.
    Id(i64),
    /// Something else that a condition might still match.
    Odd,
}

impl ParentSlot {
    fn of(body: &Value) -> ParentSlot {
        match body.get("parentAgreement") {
            None | Some(Value::Null) => ParentSlot::None,
            value => match reference_id(value) {
                Some(id) => ParentSlot::Id(id),
                None => ParentSlot::Odd,
            },
        }
    }
}

impl Records {
    /// The records of `collection`, in id order.
    pub fn iter(&self, collection: Collection) -> impl Iterator<Item = (i64, &Record)> {
        self.tables
            .get(&collection)
            .into_iter()
            .flat_map(|table| table.iter().map(|(id, record)| (*id, record)))
    }

    pub fn get(&self, collection: Collection, id: i64) -> Option<&Record> {
        self.tables.get(&collection)?.get(&id)
    }

    /// The body of a record, if it exists.
    pub fn body(&self, collection: Collection, id: i64) -> Option<&Map<String, Value>> {
        self.get(collection, id)?.body.as_object()
    }

    /// Stores `record` (replacing any record with the same id), moves the id counter past
    /// `id` and updates the indexes.
    pub fn insert(&mut self, collection: Collection, id: i64, record: Record) {
        let table = self.tables.entry(collection).or_default();
        if let Some(old) = table.insert(id, record) {
            self.indexes.remove(collection, id, &old);
        }
        if let Some(new) = table.get(&id) {
            self.indexes.add(collection, id, new);
        }

        let next = self.next_ids.entry(collection).or_insert(1);
        *next = (*next).max(id + 1);
    }

    /// Removes a record and its index entries.
    pub fn remove(&mut self, collection: Collection, id: i64) -> Option<Record> {
        let old = self.tables.get_mut(&collection)?.remove(&id)?;
        self.indexes.remove(collection, id, &old);
        Some(old)
    }

    /// The ids of the agreements whose stored `parentAgreement` reference has the id `parent`,
    /// in id order.
    pub fn children_of(&self, parent: i64) -> impl Iterator<Item = i64> + '_ {
        self.indexes
            .children
            .get(&parent)
            .into_iter()
            .flatten()
            .copied()
    }

    /// The ids of the agreements that may have one of `parents` as their parent: the indexed
    /// children of each, plus every agreement whose parent reference is not a plain id.
    pub fn child_candidates(&self, parents: &BTreeSet<i64>) -> BTreeSet<i64> {
        let mut ids: BTreeSet<i64> = self.indexes.odd_parents.clone();
        for parent in parents {
            ids.extend(self.children_of(*parent));
        }
        ids
    }

    /// The ids of the additions that belong to agreement `agreement`, in id order.
    pub fn additions_of(&self, agreement: i64) -> impl Iterator<Item = i64> + '_ {
        self.indexes
            .additions
            .get(&agreement)
            .into_iter()
            .flatten()
            .copied()
    }

    /// Whether the indexes equal ones built afresh from the stored records; for tests.
    #[cfg(test)]
    pub fn indexes_are_consistent(&self) -> bool {
        let mut fresh = Indexes::default();
        for (collection, table) in &self.tables {
            for (id, record) in table {
                fresh.add(*collection, *id, record);
            }
        }
        fresh == self.indexes
    }

    /// The id the next created record of `collection` gets.
    pub fn next_id(&self, collection: Collection) -> i64 {
        self.next_ids.get(&collection).copied().unwrap_or(1)
    }

    /// Restores a counter read from the state file; it never moves below the stored ids.
    pub fn set_next_id(&mut self, collection: Collection, next: i64) {
        let entry = self.next_ids.entry(collection).or_insert(1);
        *entry = (*entry).max(next);
    }

    /// Every collection's next id, for the state file.
    pub fn next_ids(&self) -> impl Iterator<Item = (Collection, i64)> + '_ {
        self.next_ids
            .iter()
            .map(|(collection, next)| (*collection, *next))
    }

    /// The id of the record of `collection` whose `key` field equals `value`, ignoring case.
    pub fn find_by(&self, collection: Collection, key: &str, value: &str) -> Option<i64> {
        self.iter(collection)
            .find(|(_, record)| {
                record
                    .body
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|text| text.eq_ignore_ascii_case(value))
            })
            .map(|(id, _)| id)
    }

    /// The reference object ConnectWise returns for the record `id` of `target`:
    /// `{id, identifier/name…, _info: {<kind>_href}}`; `None` if the record does not exist.
    pub fn reference(&self, target: Collection, id: i64) -> Option<Value> {
        let body = self.body(target, id)?;
        let mut reference = Map::new();
        reference.insert("id".to_owned(), Value::from(id));

        for key in schema::reference_keys(target) {
            let value = match (target, *key) {
                (Collection::Contacts, "name") => Some(Value::from(contact_name(body))),
                // The agreement reference carries the agreement type's name as a plain string.
                (Collection::Agreements, "type") => body
                    .get("type")
                    .and_then(|reference| reference.get("name"))
                    .cloned(),
                _ => body.get(*key).cloned(),
            };
            if let Some(value) = value {
                reference.insert((*key).to_owned(), value);
            }
        }

        reference.insert(
            "_info".to_owned(),
            json!({ target.href_key(): target.href(id, None) }),
        );
        Some(Value::Object(reference))
    }
}

/// Removes `id` from the set under `key`, and the set itself once it is empty.
fn drop_from(index: &mut HashMap<i64, BTreeSet<i64>>, key: i64, id: i64) {
    if let Some(ids) = index.get_mut(&key) {
        ids.remove(&id);
        if ids.is_empty() {
            index.remove(&key);
        }
    }
}

/// A contact's display name as ConnectWise shows it in references: first and last name.
pub(crate) fn contact_name(body: &Map<String, Value>) -> String {
    let part = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").trim();
    format!("{} {}", part("firstName"), part("lastName"))
        .trim()
        .to_owned()
}

/// The id inside a stored reference object (`{"id": 3, …}`).
pub(crate) fn reference_id(value: Option<&Value>) -> Option<i64> {
    value?.get("id")?.as_i64()
}
