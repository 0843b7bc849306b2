//! Validation of a write as ConnectWise does it: each field is checked against its schema,
//! defaults are filled in, the cross-record rules run, and computed fields are derived.
//!
//! Every failure becomes one `errors[]` entry of an `InvalidObject` body; a field that fails
//! several checks is reported once, with the first failure found.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

use super::collection::{Collection, Records, reference_id};
use super::schema::{self, Field, Kind};
use crate::error_body::{ErrorBody, FieldError};

/// `errors[]` code for a required field that is absent, null, or an empty or blank string.
pub(crate) const MISSING_REQUIRED_FIELD: &str = "MissingRequiredField";
/// `errors[]` code for a value that breaks a rule: too long, not an allowed enum value, a
/// reference to nothing, the wrong JSON type, or a cross-record rule.
pub(crate) const INVALID_FIELD: &str = "InvalidField";
/// `errors[]` code for a date or number that cannot be parsed.
pub(crate) const UNSUPPORTED_FORMAT: &str = "UnsupportedFormat";
/// `errors[]` code for a duplicate identifier.
pub(crate) const OBJECT_EXISTS: &str = "ObjectExists";

/// Agreement-type fields copied onto a new agreement that leaves them out, as
/// `(type field, agreement field)`; the type's names often end in `Flag` where the
/// agreement's do not.
const AGREEMENT_TYPE_DEFAULTS: &[(&str, &str)] = &[
    ("billingCycle", "billingCycle"),
    ("prorateFlag", "prorateFlag"),
    ("billTime", "billTime"),
    ("billExpenses", "billExpenses"),
    ("billProducts", "billProducts"),
    ("invoicingCycle", "invoicingCycle"),
    ("employeeCompRate", "employeeCompRate"),
    ("employeeCompNotExceed", "employeeCompNotExceed"),
    ("location", "location"),
    ("department", "department"),
    ("restrictLocationFlag", "restrictLocationFlag"),
    ("restrictDepartmentFlag", "restrictDepartmentFlag"),
    ("sla", "sla"),
    ("applicationUnits", "applicationUnits"),
    ("applicationLimit", "applicationLimit"),
    ("applicationCycle", "applicationCycle"),
    ("applicationUnlimitedFlag", "applicationUnlimitedFlag"),
    ("oneTimeFlag", "oneTimeFlag"),
    ("coverAgreementTimeFlag", "coverAgreementTime"),
    ("coverAgreementProductFlag", "coverAgreementProduct"),
    ("coverAgreementExpenseFlag", "coverAgreementExpense"),
    ("coverSalesTaxFlag", "coverSalesTax"),
    ("carryOverUnusedFlag", "carryOverUnused"),
    ("allowOverrunsFlag", "allowOverruns"),
    ("expiredDays", "expiredDays"),
    ("limit", "limit"),
    ("expireWhenZero", "expireWhenZero"),
    ("chargeToFirmFlag", "chargeToFirm"),
    ("compHourlyRate", "compHourlyRate"),
    ("compLimitAmount", "compLimitAmount"),
    ("billOneTimeFlag", "billOneTimeFlag"),
    ("billingTerms", "billingTerms"),
    ("billAmount", "billAmount"),
    ("taxableFlag", "taxable"),
    ("restrictDownPaymentFlag", "restrictDownPayment"),
    ("invoiceDescription", "invoiceDescription"),
    ("topCommentFlag", "topComment"),
    ("bottomCommentFlag", "bottomComment"),
    ("workRole", "workRole"),
    ("workType", "workType"),
    ("projectType", "projectType"),
    ("invoiceTemplate", "invoiceTemplate"),
    ("billableTimeInvoiceFlag", "billableTimeInvoice"),
    ("billableExpenseInvoiceFlag", "billableExpenseInvoice"),
    ("billableProductInvoiceFlag", "billableProductInvoice"),
    ("autoInvoiceFlag", "autoInvoiceFlag"),
    (
        "invoiceProratedAdditionsFlag",
        "invoiceProratedAdditionsFlag",
    ),
];

/// How a write treats the fields it leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// POST: defaults are filled in.
    Create,
    /// PUT: every writable field is replaced, so defaults are filled in again.
    Replace,
    /// PATCH: the stored fields plus the operations; no type defaults.
    Patch,
}

/// Everything validation needs to know about the write besides the body.
pub(crate) struct Write<'a> {
    pub records: &'a Records,
    pub collection: Collection,
    /// The owning agreement, for additions.
    pub parent: Option<i64>,
    /// The record's id (allocated in advance on create).
    pub id: i64,
    pub mode: Mode,
    /// Canonical names of the fields this request set explicitly.
    pub touched: &'a HashSet<&'static str>,
    pub today: NaiveDate,
}

/// The errors of one write, at most one per field.
#[derive(Default)]
struct Errors {
    resource: &'static str,
    entries: Vec<FieldError>,
}

impl Errors {
    fn add(&mut self, code: &str, field: &str, message: impl Into<String>) {
        if !self.has(field) {
            self.entries
                .push(FieldError::new(code, self.resource, field, message));
        }
    }

    fn has(&self, field: &str) -> bool {
        self.entries.iter().any(|entry| entry.field == field)
    }
}

/// Checks `input` for a write to `write.collection` and returns the fields to store (without
/// `id` and `_info`), in schema order, with defaults and computed fields filled in.
pub(crate) fn validate(
    write: &Write<'_>,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ErrorBody> {
    let collection = write.collection;
    let mut errors = Errors {
        resource: collection.resource_name(),
        entries: Vec::new(),
    };

    // Unknown and computed fields are dropped silently, as ConnectWise ignores them too; null
    // means "not set".
    let mut fields = Map::new();
    for (key, value) in input {
        let Some(field) = schema::field(collection, key) else {
            if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("_info") {
                continue;
            }
            tracing::debug!(
                collection = collection.key(),
                field = %key,
                "ignored a field the sandbox does not know"
            );
            continue;
        };
        if field.read_only || value.is_null() {
            continue;
        }
        // ConnectWise trims text, so a required string of only spaces is as missing as an
        // absent one; reporting it here keeps it from being stored and counted as present.
        if field.required && is_blank_text(field, value) {
            errors.add(
                MISSING_REQUIRED_FIELD,
                field.name,
                format!("{} is required and cannot be empty.", field.name),
            );
            continue;
        }
        match coerce(write.records, field, value) {
            Ok(value) => {
                fields.insert(field.name.to_owned(), value);
            }
            Err((code, message)) => errors.add(code, field.name, message),
        }
    }

    apply_defaults(write, &mut fields);

    for field in schema::fields(collection) {
        if field.required && !fields.contains_key(field.name) {
            errors.add(
                MISSING_REQUIRED_FIELD,
                field.name,
                format!("{} is required.", field.name),
            );
        }
    }

    match collection {
        Collection::Agreements => check_agreement(write, &mut fields, &mut errors),
        Collection::Additions => check_addition(write, &mut fields, &mut errors),
        Collection::Companies | Collection::Catalog => {
            check_unique_identifier(write, &fields, &mut errors)
        }
        _ => {}
    }

    if !errors.entries.is_empty() {
        return Err(ErrorBody::invalid_object(
            collection.resource_name(),
            errors.entries,
        ));
    }

    let mut ordered = Map::new();
    for field in schema::fields(collection) {
        if let Some(value) = fields.remove(field.name) {
            ordered.insert(field.name.to_owned(), value);
        }
    }
    Ok(ordered)
}

/// Whether `value` is an empty or whitespace-only string given for a text field.
fn is_blank_text(field: &Field, value: &Value) -> bool {
    matches!(field.kind, Kind::Text(_)) && value.as_str().is_some_and(|text| text.trim().is_empty())
}

/// Checks one incoming value against its field and returns the value to store, or the
/// `errors[]` code and message.
fn coerce(
    records: &Records,
    field: &Field,
    value: &Value,
) -> Result<Value, (&'static str, String)> {
    let name = field.name;
    let unsupported = || {
        (
            UNSUPPORTED_FORMAT,
            format!("Unsupported format applied to {name}"),
        )
    };

    match field.kind {
        Kind::Text(max) => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => return Err((INVALID_FIELD, format!("{name} must be a string."))),
            };
            // SQL Server's nvarchar(n) holds n UTF-16 code units, so a character outside the
            // Basic Multilingual Plane (an emoji) takes two.
            match max {
                Some(max) if text.encode_utf16().count() > max => Err((
                    INVALID_FIELD,
                    format!("{name} cannot be longer than {max} characters."),
                )),
                _ => Ok(Value::String(text)),
            }
        }
        Kind::Integer => parse_integer(value)
            .map(Value::from)
            .ok_or_else(unsupported),
        Kind::Decimal => parse_decimal(value)
            .map(decimal_value)
            .ok_or_else(unsupported),
        Kind::Bool => match value {
            Value::Bool(flag) => Ok(Value::Bool(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(unsupported()),
        },
        Kind::DateTime => value
            .as_str()
            .and_then(parse_date_time)
            .map(|parsed| Value::String(format_date_time(parsed)))
            .ok_or_else(unsupported),
        Kind::Enum(allowed) => match value.as_str() {
            Some(text) if allowed.contains(&text) => Ok(Value::String(text.to_owned())),
            _ => Err((
                INVALID_FIELD,
                format!("{name} must be one of {}; got {value}.", allowed.join(", ")),
            )),
        },
        Kind::Ref(Some(target)) => resolve_reference(records, target, value)
            .and_then(|id| {
                records
                    .reference(target, id)
                    .ok_or_else(|| not_found(target, &id.to_string()))
            })
            .map_err(|message| (INVALID_FIELD, format!("{name}: {message}"))),
        // The sandbox cannot check these targets; it keeps the identifying keys only, so that
        // nothing unknown is stored.
        Kind::Ref(None) => match value {
            Value::Object(object) => {
                let mut reference = Map::new();
                for (key, value) in object {
                    if key.eq_ignore_ascii_case("id") {
                        let id = parse_integer(value).ok_or_else(|| {
                            (INVALID_FIELD, format!("{name}: id must be a whole number."))
                        })?;
                        reference.insert("id".to_owned(), Value::from(id));
                    } else if let Some(known) = ["identifier", "name"]
                        .into_iter()
                        .find(|known| key.eq_ignore_ascii_case(known))
                    {
                        reference.insert(known.to_owned(), value.clone());
                    }
                }
                Ok(Value::Object(reference))
            }
            _ => Err((
                INVALID_FIELD,
                format!("{name} must be a reference object such as {{\"id\": 1}}."),
            )),
        },
        Kind::Array => match value {
            Value::Array(_) => Ok(value.clone()),
            _ => Err((INVALID_FIELD, format!("{name} must be an array."))),
        },
    }
}

/// Finds the record a reference object points at: by `id`, else by `identifier` where the
/// target has one, else by `name` (first match, ignoring case).
pub(crate) fn resolve_reference(
    records: &Records,
    target: Collection,
    value: &Value,
) -> Result<i64, String> {
    let Value::Object(object) = value else {
        return Err("must be a reference object such as {\"id\": 1}.".to_owned());
    };
    let key = |wanted: &str| {
        object
            .iter()
            .find(|(key, value)| key.eq_ignore_ascii_case(wanted) && !value.is_null())
            .map(|(_, value)| value)
    };

    if let Some(id) = key("id") {
        let id = parse_integer(id).ok_or("id must be a whole number.")?;
        return match records.get(target, id) {
            Some(_) => Ok(id),
            None => Err(not_found(target, &id.to_string())),
        };
    }

    let by_text = |field: &str| -> Option<Result<i64, String>> {
        let text = key(field)?.as_str().unwrap_or_default();
        Some(
            records
                .find_by(target, field, text)
                .ok_or_else(|| not_found(target, &format!("{field} \"{text}\""))),
        )
    };
    if schema::has_identifier(target)
        && let Some(found) = by_text("identifier")
    {
        return found;
    }
    if schema::field(target, "name").is_some()
        && let Some(found) = by_text("name")
    {
        return found;
    }

    Err("the reference needs an id.".to_owned())
}

fn not_found(target: Collection, what: &str) -> String {
    format!("{} {what} was not found.", target.resource_name())
}

/// Fills in the fields a write leaves out: agreement-type settings on agreements, catalog
/// prices and descriptions on additions, `productClass` on catalog items.
fn apply_defaults(write: &Write<'_>, fields: &mut Map<String, Value>) {
    match write.collection {
        Collection::Agreements if write.mode != Mode::Patch => {
            let type_body = reference_id(fields.get("type"))
                .and_then(|id| write.records.body(Collection::AgreementTypes, id));
            if let Some(type_body) = type_body {
                for (from, to) in AGREEMENT_TYPE_DEFAULTS {
                    if !fields.contains_key(*to)
                        && let Some(value) = type_body.get(*from)
                    {
                        fields.insert((*to).to_owned(), value.clone());
                    }
                }
            }
        }
        Collection::Additions => {
            // ConnectWise's own screens copy these from the catalog item; the API behaviour is
            // undocumented (reference §12 question 6), so the sandbox copies them too.
            let item = reference_id(fields.get("product"))
                .and_then(|id| write.records.body(Collection::Catalog, id));
            if let Some(item) = item {
                let uom = item
                    .get("unitOfMeasure")
                    .and_then(|reference| reference.get("name"))
                    .cloned();
                let copies = [
                    ("unitPrice", item.get("price").cloned()),
                    ("unitCost", item.get("cost").cloned()),
                    ("description", item.get("description").cloned()),
                    ("uom", uom),
                    ("taxableFlag", item.get("taxableFlag").cloned()),
                ];
                for (to, value) in copies {
                    if !fields.contains_key(to)
                        && let Some(value) = value
                    {
                        fields.insert(to.to_owned(), value);
                    }
                }
            }
            for (to, value) in [("quantity", 1), ("lessIncluded", 0)] {
                fields
                    .entry(to.to_owned())
                    .or_insert_with(|| Value::from(value));
            }
        }
        Collection::Catalog => {
            fields
                .entry("productClass".to_owned())
                .or_insert_with(|| Value::from("NonInventory"));
        }
        _ => {}
    }
}

/// The agreement rules: the contact belongs to the company, the parent/child constraints of
/// reference §9.3, and the cancellation fields kept in step.
fn check_agreement(write: &Write<'_>, fields: &mut Map<String, Value>, errors: &mut Errors) {
    let records = write.records;
    let company = reference_id(fields.get("company"));
    let billing_cycle = reference_id(fields.get("billingCycle"));

    if let (Some(company), Some(contact)) = (company, reference_id(fields.get("contact"))) {
        let contact_company = records
            .body(Collection::Contacts, contact)
            .and_then(|body| reference_id(body.get("company")));
        if contact_company != Some(company) {
            errors.add(
                INVALID_FIELD,
                "contact",
                format!("contact {contact} does not belong to company {company}."),
            );
        }
    }

    // The child index holds exactly the agreements whose stored parent reference is this id,
    // so a write costs the same at ten agreements as at ten thousand.
    let children: Vec<(i64, &Map<String, Value>)> = records
        .children_of(write.id)
        .filter_map(|id| Some((id, records.body(Collection::Agreements, id)?)))
        .collect();

    if let Some(parent_id) = reference_id(fields.get("parentAgreement")) {
        let parent = records
            .body(Collection::Agreements, parent_id)
            .cloned()
            .unwrap_or_default();
        let grandparent = reference_id(parent.get("parentAgreement"));
        let parent_company = reference_id(parent.get("company"));
        let parent_cycle = reference_id(parent.get("billingCycle"));

        let problem = if parent_id == write.id {
            Some("an agreement cannot be its own parent.".to_owned())
        } else if let Some(grandparent) = grandparent {
            Some(format!(
                "agreement {parent_id} is itself a child of agreement {grandparent}; only one \
                 level of parent and child agreements is allowed."
            ))
        } else if !children.is_empty() {
            Some(format!(
                "agreement {} has child agreements, so it cannot become a child itself.",
                write.id
            ))
        } else if parent.get("cancelledFlag") == Some(&Value::Bool(true))
            && (write.mode == Mode::Create || write.touched.contains("parentAgreement"))
        {
            Some(format!(
                "agreement {parent_id} is cancelled and cannot take child agreements."
            ))
        } else if company.is_some() && parent_company != company {
            Some(format!(
                "agreement {parent_id} belongs to another company; a child agreement must \
                 belong to its parent's company."
            ))
        } else if parent_cycle != billing_cycle {
            Some(format!(
                "a child agreement must share its parent's billing cycle (agreement \
                 {parent_id} bills on {}, this agreement on {}).",
                describe_cycle(parent.get("billingCycle")),
                describe_cycle(fields.get("billingCycle")),
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.add(INVALID_FIELD, "parentAgreement", problem);
        }
    }

    // A master whose children would no longer match it is refused as well, so the rules above
    // stay true whichever side of the pair is edited. A new record has no children yet (while
    // seeding, its children are still unvalidated and check themselves against it).
    let existing_children = if write.mode == Mode::Create {
        &[][..]
    } else {
        &children[..]
    };
    for (child_id, child) in existing_children {
        if company.is_some() && reference_id(child.get("company")) != company {
            errors.add(
                INVALID_FIELD,
                "company",
                format!(
                    "child agreement {child_id} belongs to company {}, not company {}; a \
                     parent and its children share one company.",
                    describe_company(child.get("company")),
                    company.unwrap_or_default()
                ),
            );
        }
        if reference_id(child.get("billingCycle")) != billing_cycle {
            errors.add(
                INVALID_FIELD,
                "billingCycle",
                format!(
                    "child agreement {child_id} uses the current billing cycle; a parent and \
                     its children share one billing cycle."
                ),
            );
        }
    }

    check_date_order(fields, errors);

    sync_cancellation(write, fields);
    fields.insert(
        "agreementStatus".to_owned(),
        Value::from(agreement_status(fields, write.today)),
    );
}

/// An agreement cannot end before it starts. ConnectWise's screens refuse this too; whether its
/// API does is not documented, so this is a sandbox rule (docs/cw-sandbox.md).
fn check_date_order(fields: &Map<String, Value>, errors: &mut Errors) {
    let date = |key: &str| fields.get(key).and_then(Value::as_str).and_then(parse_date);

    if let (Some(start), Some(end)) = (date("startDate"), date("endDate"))
        && end < start
    {
        errors.add(
            INVALID_FIELD,
            "endDate",
            format!("endDate {end} is before startDate {start}; an agreement cannot end before it starts."),
        );
    }
}

fn describe_company(reference: Option<&Value>) -> String {
    match reference_id(reference) {
        Some(id) => id.to_string(),
        None => "none".to_owned(),
    }
}

fn describe_cycle(reference: Option<&Value>) -> String {
    match reference {
        Some(reference) => reference
            .get("name")
            .and_then(Value::as_str)
            .map(|name| format!("\"{name}\""))
            .unwrap_or_else(|| {
                format!(
                    "billing cycle {}",
                    reference_id(Some(reference)).unwrap_or(0)
                )
            }),
        None => "no billing cycle".to_owned(),
    }
}

/// Keeps `cancelledFlag` and `dateCancelled` consistent. A write that sets the flag decides:
/// true without a date cancels today, false clears the date. Otherwise a date implies the flag.
fn sync_cancellation(write: &Write<'_>, fields: &mut Map<String, Value>) {
    let flag = fields.get("cancelledFlag") == Some(&Value::Bool(true));

    if write.touched.contains("cancelledFlag") {
        if flag {
            fields
                .entry("dateCancelled".to_owned())
                .or_insert_with(|| Value::from(format_date_time(midnight(write.today))));
        } else {
            fields.remove("dateCancelled");
        }
    }

    let cancelled = fields.contains_key("dateCancelled");
    fields.insert("cancelledFlag".to_owned(), Value::Bool(cancelled));
}

/// The agreement status ConnectWise computes: Cancelled when cancelled, Expired once the end
/// date has passed, Inactive before the start date, Active otherwise.
pub(crate) fn agreement_status(body: &Map<String, Value>, today: NaiveDate) -> &'static str {
    let date = |key: &str| body.get(key).and_then(Value::as_str).and_then(parse_date);

    if body.get("cancelledFlag") == Some(&Value::Bool(true)) {
        "Cancelled"
    } else if date("endDate").is_some_and(|end| end < today) {
        "Expired"
    } else if date("startDate").is_some_and(|start| start > today) {
        "Inactive"
    } else {
        "Active"
    }
}

/// The addition rules: no Bundle-class products, and the computed amounts.
fn check_addition(write: &Write<'_>, fields: &mut Map<String, Value>, errors: &mut Errors) {
    if let Some(product) = reference_id(fields.get("product")) {
        let class = write
            .records
            .body(Collection::Catalog, product)
            .and_then(|item| item.get("productClass"))
            .and_then(Value::as_str);
        if class == Some("Bundle") {
            errors.add(
                INVALID_FIELD,
                "product",
                format!(
                    "catalog item {product} is a Bundle-class product and cannot be used as an \
                     agreement addition."
                ),
            );
        }
    }

    let number = |key: &str| {
        fields
            .get(key)
            .and_then(parse_decimal)
            .unwrap_or(Decimal::ZERO)
    };
    let quantity = number("quantity");
    check_included_quantity(quantity, number("lessIncluded"), errors);
    let ext_price = quantity * number("unitPrice");
    let ext_cost = quantity * number("unitCost");
    let billed = quantity - number("lessIncluded");

    if let Some(parent) = write.parent {
        fields.insert("agreementId".to_owned(), Value::from(parent));
        // Stored so the field keeps its place in the record; reads refresh it.
        if let Some(agreement) = write.records.body(Collection::Agreements, parent) {
            let status = agreement_status(agreement, write.today);
            fields.insert("agreementStatus".to_owned(), Value::from(status));
        }
    }
    fields.insert("billedQuantity".to_owned(), decimal_value(billed));
    fields.insert("extPrice".to_owned(), decimal_value(ext_price));
    fields.insert("extCost".to_owned(), decimal_value(ext_cost));
    fields.insert("margin".to_owned(), decimal_value(ext_price - ext_cost));
}

/// Keeps `billedQuantity` (quantity − lessIncluded) from going below zero on an ordinary line.
///
/// A negative `quantity` is accepted as a credit line, and its billed quantity is negative on
/// purpose; `lessIncluded` must then be 0. Otherwise `lessIncluded` lies between 0 and the
/// quantity. ConnectWise documents neither rule, so both are sandbox choices
/// (docs/cw-sandbox.md).
fn check_included_quantity(quantity: Decimal, less_included: Decimal, errors: &mut Errors) {
    // Unverified: whether a real ConnectWise accepts negative quantities, or lessIncluded
    // above the quantity, is unknown; this is a stated sandbox choice (known differences in
    // docs/cw-sandbox.md).
    let problem = if less_included < Decimal::ZERO {
        Some(format!(
            "lessIncluded cannot be negative (got {less_included})."
        ))
    } else if quantity < Decimal::ZERO && less_included > Decimal::ZERO {
        Some(format!(
            "a credit line (negative quantity {quantity}) cannot have an included quantity; set \
             lessIncluded to 0."
        ))
    } else if less_included > quantity && quantity >= Decimal::ZERO {
        Some(format!(
            "lessIncluded ({less_included}) cannot exceed quantity ({quantity}), or the billed \
             quantity would be negative."
        ))
    } else {
        None
    };

    if let Some(problem) = problem {
        errors.add(INVALID_FIELD, "lessIncluded", problem);
    }
}

/// Company and catalog identifiers are unique, ignoring case.
fn check_unique_identifier(write: &Write<'_>, fields: &Map<String, Value>, errors: &mut Errors) {
    let Some(identifier) = fields.get("identifier").and_then(Value::as_str) else {
        return;
    };
    let duplicate = write
        .records
        .iter(write.collection)
        .find(|(id, record)| {
            *id != write.id
                && record
                    .body
                    .get("identifier")
                    .and_then(Value::as_str)
                    .is_some_and(|other| other.eq_ignore_ascii_case(identifier))
        })
        .map(|(id, _)| id);
    if let Some(other) = duplicate {
        errors.add(
            OBJECT_EXISTS,
            "identifier",
            format!(
                "The identifier {identifier} is already used by {} {other}.",
                write.collection.resource_name()
            ),
        );
    }
}

/// A whole number from a JSON number or a numeric string.
pub(crate) fn parse_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// An exact decimal from a JSON number or a numeric string.
pub(crate) fn parse_decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// A JSON number holding exactly `decimal` (trailing zeros dropped).
pub(crate) fn decimal_value(decimal: Decimal) -> Value {
    Value::Number(Number::from_string_unchecked(
        decimal.normalize().to_string(),
    ))
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ`, optionally with fractional seconds; any other shape
/// (offsets, missing `Z`, one-digit months, a space for `T`) is refused.
pub(crate) fn parse_date_time(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() >= 20
        && bytes.last() == Some(&b'Z')
        && bytes
            .iter()
            .take(19)
            .enumerate()
            .all(|(index, byte)| match index {
                4 | 7 => *byte == b'-',
                10 => *byte == b'T',
                13 | 16 => *byte == b':',
                _ => byte.is_ascii_digit(),
            })
        && match &bytes[19..bytes.len() - 1] {
            [] => true,
            [b'.', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        };
    if !shape_ok {
        return None;
    }
    NaiveDateTime::parse_from_str(&text[..19], "%Y-%m-%dT%H:%M:%S").ok()
}

/// The calendar date of a stored date-time.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    parse_date_time(text).map(|parsed| parsed.date())
}

pub(crate) fn format_date_time(value: NaiveDateTime) -> String {
    value.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).unwrap_or_default()
}
