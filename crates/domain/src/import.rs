//! The JSON inventory import format, `hyalto.inventory/v1`.
//!
//! The format is documented in `docs/inventory-format.md`, with a JSON Schema in
//! `docs/inventory.schema.json` and a commented example in `docs/inventory.example.jsonc`.
//! Parsing happens in two steps. serde reads the text into a `serde_json::Value`, which catches
//! syntax errors with their line and column. A hand-written validator then walks that tree and
//! collects **every** problem with its JSON path, instead of stopping at the first one as typed
//! serde structs would: a person fixing an export wants the whole list at once.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::ids::{
    CustomerId, IdError, MAX_ID_CHARS, ServiceId, SourceId, check_id, disguising_character,
};
use crate::inventory::{
    Completeness, Customer, Dimension, ParseError, PowerState, Resource, ResourceKind, Service,
    ServiceKind, Snapshot, Unit, unit_list,
};
use crate::metering::convert;

/// The value of `format` this version reads and writes.
pub const FORMAT: &str = "hyalto.inventory/v1";

/// The largest quantity accepted in any unit. Anything larger is surely a mistake in the
/// export, and the bound keeps every unit conversion exact and in range.
pub const MAX_QUANTITY: u64 = 1_000_000_000_000_000;

/// One thing wrong with an import file: where, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The JSON path of the offending value, such as `$.services[3].resources[0].unit`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Why an import file was refused. Nothing from a refused file is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is not JSON at all.
    #[error("{}:{line}:{column}: the file is not valid JSON: {message}", .file.display())]
    Syntax {
        /// The file that was read.
        file: PathBuf,
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1 (0 when the file ended early).
        column: usize,
        /// What the JSON reader expected.
        message: String,
    },

    /// The file is JSON but not a valid inventory; every problem found is listed.
    #[error("{}", describe_invalid(.file, .problems))]
    Invalid {
        /// The file that was read.
        file: PathBuf,
        /// Every problem, in document order.
        problems: Vec<Problem>,
    },
}

impl ImportError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            Self::Syntax { file, .. } | Self::Invalid { file, .. } => file,
        }
    }

    /// The validation problems; empty for a syntax error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Syntax { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }
}

/// Writes the file name and one problem per line.
fn describe_invalid(file: &Path, problems: &[Problem]) -> String {
    let count = match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    let mut text = format!(
        "{} is not a valid hyalto inventory ({count}):",
        file.display()
    );
    for problem in problems {
        // Writing to a String cannot fail.
        let _ = write!(text, "\n  {problem}");
    }
    text
}

/// Parses and validates an inventory snapshot in the import format. `file` is only used in
/// error messages.
///
/// Resources of one kind and tier on a service come back merged into one, so each service
/// lists each kind and tier once. An incomplete snapshot parses fine: deciding what to do with
/// it is the caller's job (`hyalto inventory import` refuses it unless `--accept-incomplete`,
/// and nothing is ever retired from it).
pub fn parse_snapshot(text: &str, file: &Path) -> Result<Snapshot, ImportError> {
    // Some Windows tools start JSON files with a byte order mark, which JSON itself forbids.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let value: Value =
        serde_json::from_str(text).map_err(|error| syntax_error(&error, text, file))?;

    let mut checker = Checker::default();
    let snapshot = checker.snapshot(&value);
    match snapshot {
        Some(snapshot) if checker.problems.is_empty() => Ok(snapshot),
        _ => Err(ImportError::Invalid {
            file: file.to_owned(),
            problems: checker.problems,
        }),
    }
}

/// How far ahead of the importing machine's clock a snapshot's `takenAt` may be. A few minutes
/// absorb clocks that drift apart; more than that means a wrong clock or a hand-edited file.
pub const MAX_CLOCK_AHEAD: TimeDelta = TimeDelta::minutes(10);

/// Refuses a snapshot taken more than [`MAX_CLOCK_AHEAD`] after `now`.
///
/// A future `takenAt` would date the cancellations of vanished services in the future, and,
/// because older snapshots of a source are refused, it would lock the source out until that
/// date passed. `file` is only used in the error message.
pub fn check_taken_at(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    file: &Path,
) -> Result<(), ImportError> {
    let ahead = snapshot.taken_at - now;
    if ahead <= MAX_CLOCK_AHEAD {
        return Ok(());
    }

    let reason = format!(
        "{} is {} ahead of this machine's clock ({}); a snapshot cannot be taken in the \
         future. Fix the clock of the machine that collected the inventory (or the takenAt \
         written in the file), or this machine's clock if it is the one that is wrong; at \
         most {} ahead is accepted",
        snapshot
            .taken_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        describe_span(ahead),
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        describe_span(MAX_CLOCK_AHEAD),
    );
    Err(ImportError::Invalid {
        file: file.to_owned(),
        problems: vec![Problem {
            path: "$.takenAt".to_owned(),
            reason,
        }],
    })
}

/// A span in the largest whole unit that reads naturally: days, hours or minutes.
fn describe_span(span: TimeDelta) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if span.num_days() >= 2 {
        plural(span.num_days(), "day")
    } else if span.num_hours() >= 2 {
        plural(span.num_hours(), "hour")
    } else {
        plural(span.num_minutes(), "minute")
    }
}

/// Turns `serde_json`'s error into [`ImportError::Syntax`], adding a hint when the file holds
/// comments, which is the usual result of copying the commented example.
fn syntax_error(error: &serde_json::Error, text: &str, file: &Path) -> ImportError {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let mut message = full
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&full)
        .to_owned();

    let offending = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|text| text.chars().nth(column.saturating_sub(1)));
    if offending == Some('/') {
        message.push_str("; JSON allows no comments, so remove the `//` and `/* */` comments");
    }

    ImportError::Syntax {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// Renders a snapshot in the import format, pretty-printed. Parsing the result gives the same
/// snapshot back.
pub fn write_snapshot(snapshot: &Snapshot) -> String {
    let mut root = Map::new();
    root.insert("format".to_owned(), Value::from(FORMAT));
    root.insert("source".to_owned(), Value::from(snapshot.source.as_str()));
    root.insert(
        "takenAt".to_owned(),
        Value::from(
            snapshot
                .taken_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
    );
    match &snapshot.completeness {
        Completeness::Complete => {
            root.insert("complete".to_owned(), Value::Bool(true));
        }
        Completeness::Incomplete { reasons } => {
            root.insert("complete".to_owned(), Value::Bool(false));
            root.insert("incompleteReasons".to_owned(), Value::from(reasons.clone()));
        }
    }

    // The domain types serialize with the import format's field names, so they are reused.
    // Serializing them cannot fail: they hold only strings, numbers and string-keyed objects.
    let customers = serde_json::to_value(&snapshot.customers).expect("customers serialize");
    let services = serde_json::to_value(&snapshot.services).expect("services serialize");
    root.insert("customers".to_owned(), customers);
    root.insert("services".to_owned(), services);

    let mut text = serde_json::to_string_pretty(&Value::Object(root)).expect("a Value prints");
    text.push('\n');
    text
}

const TOP_FIELDS: &[&str] = &[
    "$schema",
    "format",
    "source",
    "takenAt",
    "complete",
    "incompleteReasons",
    "customers",
    "services",
];
const CUSTOMER_FIELDS: &[&str] = &["id", "name"];
const SERVICE_FIELDS: &[&str] = &["id", "customer", "kind", "name", "powerState", "resources"];
const RESOURCE_FIELDS: &[&str] = &["kind", "tier", "quantity", "unit"];

/// The fields the format knows, per object, for the tests that keep the schema in step.
#[cfg(test)]
pub(crate) const KNOWN_FIELDS: [(&str, &[&str]); 4] = [
    ("snapshot", TOP_FIELDS),
    ("customer", CUSTOMER_FIELDS),
    ("service", SERVICE_FIELDS),
    ("resource", RESOURCE_FIELDS),
];

/// Collects problems while walking the JSON tree. Each method returns what it could read,
/// or `None` after recording why it could not.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

/// Names a JSON value's type the way a person would.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The path of a field: `$.services` for plain names, `$["odd key"]` otherwise.
fn field_path(path: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}

/// A field name without case, underscores or dashes, to spot `taken_at` meaning `takenAt`.
fn loose(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Explains what is wrong with a tier name; tiers follow the same rules as ids.
fn tier_reason(error: &IdError) -> String {
    match error {
        IdError::Empty => "the tier is blank; write its name or leave the field out".to_owned(),
        IdError::TooLong { chars } => {
            format!("the tier is {chars} characters long; use at most {MAX_ID_CHARS}")
        }
        IdError::ControlCharacter { code, position } => format!(
            "the tier contains an invisible control or format character (U+{code:04X}) at \
             character {position}; remove it"
        ),
        IdError::SurroundingWhitespace => {
            "the tier starts or ends with whitespace; remove the spaces at either end".to_owned()
        }
    }
}

/// Explains an id problem for a given field.
fn id_reason(error: &IdError, what: &str) -> String {
    format!("{error} (this is the {what})")
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// Reads an object, recording a problem if `value` is something else.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        what: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.problem(
                    path,
                    format!(
                        "expected an object {{…}} describing {what}, found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// Records every field of `map` the format does not know, naming a near miss.
    fn unknown_fields(&mut self, map: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in map.keys().filter(|key| !known.contains(&key.as_str())) {
            let near = known.iter().find(|name| loose(name) == loose(key));
            let reason = match near {
                Some(name) => format!("unknown field; field names are exact: write {name:?}"),
                None => format!(
                    "unknown field; the fields allowed here are {}",
                    known.join(", ")
                ),
            };
            self.problem(field_path(path, key), reason);
        }
    }

    /// Reads a required field, recording a problem if it is absent.
    fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
        hint: &str,
    ) -> Option<&'v Value> {
        let value = map.get(key);
        if value.is_none() {
            self.problem(
                field_path(path, key),
                format!("this field is missing; {hint}"),
            );
        }
        value
    }

    /// Reads a string, recording a problem if `value` is another type.
    fn string<'v>(&mut self, value: &'v Value, path: &str, hint: &str) -> Option<&'v str> {
        match value {
            Value::String(text) => Some(text),
            other => {
                self.problem(
                    path,
                    format!("expected a string, found {}; {hint}", type_name(other)),
                );
                None
            }
        }
    }

    /// Reads a readable name: a string that is not blank and holds no control or format
    /// characters (bidi overrides, zero-width spaces), since names reach printed invoices.
    fn name(&mut self, value: &Value, path: &str, what: &str) -> Option<String> {
        let hint = format!("write {what} as a string");
        let text = self.string(value, path, &hint)?;
        if text.trim().is_empty() {
            self.problem(path, format!("the name is blank; write {what}"));
            return None;
        }
        if let Some((position, c)) = disguising_character(text) {
            self.problem(
                path,
                format!(
                    "the name contains an invisible control or format character (U+{:04X}, \
                     such as a newline, tab, bidi override or zero-width space) at character \
                     {position}; remove it",
                    u32::from(c)
                ),
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// Reads an array, recording a problem if `value` is another type.
    fn array<'v>(&mut self, value: &'v Value, path: &str, hint: &str) -> Option<&'v [Value]> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.problem(
                    path,
                    format!("expected an array […], found {}; {hint}", type_name(other)),
                );
                None
            }
        }
    }

    /// Validates the whole document.
    fn snapshot(&mut self, value: &Value) -> Option<Snapshot> {
        let Value::Object(root) = value else {
            self.problem(
                "$",
                format!(
                    "expected one JSON object {{\"format\": \"{FORMAT}\", …}} for the whole file, \
                     found {}",
                    type_name(value)
                ),
            );
            return None;
        };

        // An unknown format version would make every other message misleading, so it is the
        // only problem reported.
        let format_hint = format!("add \"format\": \"{FORMAT}\"");
        if let Some(format) = self.required(root, "$", "format", &format_hint) {
            match format {
                Value::String(text) if text == FORMAT => {}
                Value::String(text) => {
                    self.problem(
                        "$.format",
                        format!(
                            "{text:?} is not a format this version of hyalto reads; it reads \
                             \"{FORMAT}\""
                        ),
                    );
                    return None;
                }
                other => self.problem(
                    "$.format",
                    format!(
                        "expected the string \"{FORMAT}\", found {}",
                        type_name(other)
                    ),
                ),
            }
        }
        self.unknown_fields(root, "$", TOP_FIELDS);

        if let Some(schema) = root.get("$schema") {
            let hint = "write the schema's location, or leave the field out";
            self.string(schema, &field_path("$", "$schema"), hint);
        }
        let source = self.source(root);
        let taken_at = self.taken_at(root);
        let completeness = self.completeness(root);
        let (customers, customer_ids) = self.customers(root);
        let services = self.services(root, customer_ids.as_ref());

        Some(Snapshot {
            source: source?,
            taken_at: taken_at?,
            completeness: completeness?,
            customers: customers?,
            services: services?,
        })
    }

    fn source(&mut self, root: &Map<String, Value>) -> Option<SourceId> {
        let hint = "name the inventory source, for example \"source\": \"vcloud-ams1\"";
        let value = self.required(root, "$", "source", hint)?;
        let text = self.string(value, "$.source", hint)?;
        SourceId::new(text)
            .map_err(|error| self.problem("$.source", id_reason(&error, "source's name")))
            .ok()
    }

    fn taken_at(&mut self, root: &Map<String, Value>) -> Option<DateTime<Utc>> {
        let hint = "write when the source was read, in RFC 3339 with a time zone, for example \
                    \"takenAt\": \"2026-12-03T13:00:00Z\"";
        let value = self.required(root, "$", "takenAt", hint)?;
        let text = self.string(value, "$.takenAt", hint)?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(error) => {
                self.problem(
                    "$.takenAt",
                    format!("{text:?} is not an RFC 3339 date and time ({error}); {hint}"),
                );
                None
            }
        }
    }

    fn completeness(&mut self, root: &Map<String, Value>) -> Option<Completeness> {
        let hint = "write \"complete\": true when the source was read in full, or false with \
                    \"incompleteReasons\" when part of it failed";
        let complete = match self.required(root, "$", "complete", hint)? {
            Value::Bool(complete) => Some(*complete),
            other => {
                let found = type_name(other);
                self.problem(
                    "$.complete",
                    format!("expected true or false, found {found}; {hint}"),
                );
                None
            }
        };

        let reasons = match root.get("incompleteReasons") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(value) => self.reasons(value),
        };

        match (complete?, reasons?) {
            (true, reasons) if reasons.is_empty() => Some(Completeness::Complete),
            (true, _) => {
                self.problem(
                    "$.incompleteReasons",
                    "a complete snapshot has no reasons to be incomplete; remove \
                     \"incompleteReasons\" or set \"complete\": false",
                );
                None
            }
            (false, reasons) if reasons.is_empty() => {
                self.problem(
                    "$.incompleteReasons",
                    "an incomplete snapshot must say why; add \"incompleteReasons\": [\"…\"] \
                     naming what could not be read",
                );
                None
            }
            (false, reasons) => Some(Completeness::Incomplete { reasons }),
        }
    }

    fn reasons(&mut self, value: &Value) -> Option<Vec<String>> {
        let hint = "write a list of strings saying what could not be read";
        let items = self.array(value, "$.incompleteReasons", hint)?;
        let mut reasons = Vec::with_capacity(items.len());
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let path = format!("$.incompleteReasons[{index}]");
            match self.string(item, &path, hint) {
                Some(text) if !text.trim().is_empty() => reasons.push(text.to_owned()),
                Some(_) => {
                    self.problem(path, "the reason is blank; say what could not be read");
                    valid = false;
                }
                None => valid = false,
            }
        }
        valid.then_some(reasons)
    }

    /// Reads the customers, and separately the set of ids as written. The set includes ids
    /// that failed validation, so services naming them are not also reported as unknown; it
    /// is `None` when some customer's id could not be read at all, because then no service's
    /// customer can be called unknown with confidence.
    fn customers(
        &mut self,
        root: &Map<String, Value>,
    ) -> (Option<Vec<Customer>>, Option<HashSet<String>>) {
        let hint = "list the source's customers, for example \"customers\": [{\"id\": \"acme\", \
                    \"name\": \"Acme Ltd\"}], or [] if it has none";
        let Some(items) = self
            .required(root, "$", "customers", hint)
            .and_then(|value| self.array(value, "$.customers", hint))
        else {
            return (None, None);
        };

        let mut customers = Vec::with_capacity(items.len());
        let mut ids: Option<HashSet<String>> = Some(HashSet::new());
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let path = format!("$.customers[{index}]");
            let Some(map) = self.object(item, &path, "a customer") else {
                valid = false;
                ids = None;
                continue;
            };
            self.unknown_fields(map, &path, CUSTOMER_FIELDS);

            let id = self.customer_id(map, &path, index, &mut first_seen);
            match (map.get("id"), ids.as_mut()) {
                (Some(Value::String(raw)), Some(ids)) => {
                    ids.insert(raw.clone());
                }
                _ => ids = None,
            }
            let name = self
                .required(map, &path, "name", "add the customer's name")
                .and_then(|value| {
                    self.name(value, &field_path(&path, "name"), "the customer's name")
                });

            match (id, name) {
                (Some(id), Some(name)) => customers.push(Customer { id, name }),
                _ => valid = false,
            }
        }
        (valid.then_some(customers), ids)
    }

    fn customer_id(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        index: usize,
        first_seen: &mut HashMap<String, usize>,
    ) -> Option<CustomerId> {
        let hint = "add the customer's stable id in the source";
        let id_path = field_path(path, "id");
        let value = self.required(map, path, "id", hint)?;
        let text = self.string(value, &id_path, hint)?;
        let id = CustomerId::new(text)
            .map_err(|error| self.problem(&id_path, id_reason(&error, "customer's id")))
            .ok()?;

        let before = self.problems.len();
        if let Some(first) = first_seen.get(text) {
            self.problem(
                &id_path,
                format!(
                    "the customer id {text:?} is already used by $.customers[{first}]; list each \
                     customer once"
                ),
            );
        } else {
            first_seen.insert(text.to_owned(), index);
        }
        (self.problems.len() == before).then_some(id)
    }

    fn services(
        &mut self,
        root: &Map<String, Value>,
        customer_ids: Option<&HashSet<String>>,
    ) -> Option<Vec<Service>> {
        let hint = "list the source's services, or [] if it has none";
        let value = self.required(root, "$", "services", hint)?;
        let items = self.array(value, "$.services", hint)?;

        let mut services = Vec::with_capacity(items.len());
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let path = format!("$.services[{index}]");

            // Duplicates are checked on the raw text so they are found even when the rest of
            // the service has problems.
            if let Some(Value::String(id)) = item.get("id") {
                if let Some(first) = first_seen.get(id.as_str()) {
                    self.problem(
                        format!("{path}.id"),
                        format!(
                            "the service id {id:?} is already used by $.services[{first}]; list \
                             each service once"
                        ),
                    );
                    valid = false;
                } else {
                    first_seen.insert(id, index);
                }
            }

            match self.service(item, &path, customer_ids) {
                Some(service) => services.push(service),
                None => valid = false,
            }
        }
        valid.then_some(services)
    }

    fn service(
        &mut self,
        value: &Value,
        path: &str,
        customer_ids: Option<&HashSet<String>>,
    ) -> Option<Service> {
        let map = self.object(value, path, "a service")?;
        self.unknown_fields(map, path, SERVICE_FIELDS);
        let before = self.problems.len();

        let id = self.service_id(map, path);
        let customer = self.service_customer(map, path, customer_ids);
        let kind = self.kind::<ServiceKind>(
            map,
            path,
            "add the service's kind, such as \"virtual_machine\"",
        );
        let name = self
            .required(map, path, "name", "add the service's name")
            .and_then(|value| self.name(value, &field_path(path, "name"), "the service's name"));
        let power_state = match map.get("powerState") {
            None | Some(Value::Null) => None,
            Some(value) => {
                let state_path = field_path(path, "powerState");
                let hint = "write \"on\", \"off\" or \"suspended\", or leave the field out";
                self.string(value, &state_path, hint).and_then(|text| {
                    text.parse::<PowerState>()
                        .map_err(|error| self.problem(&state_path, error.to_string()))
                        .ok()
                })
            }
        };
        let resources = self.resources(map, path);

        // The check reads the kinds as written, so a VM that lacks RAM is told so even when
        // another of its resources has a problem of its own. It is skipped when a kind is
        // unreadable (such as "CPU"), which was reported already and may be the missing one.
        if kind == Some(ServiceKind::VirtualMachine)
            && let Some(Value::Array(items)) = map.get("resources")
        {
            let kinds: Vec<&str> = items
                .iter()
                .filter_map(|item| item.get("kind").and_then(Value::as_str))
                .filter(|kind| kind.parse::<ResourceKind>().is_ok())
                .collect();
            if kinds.len() == items.len() {
                self.vm_has_cpu_and_ram(&kinds, path);
            }
        }

        if self.problems.len() > before {
            return None;
        }
        Some(Service {
            id: id?,
            customer: customer?,
            kind: kind?,
            name: name?,
            power_state,
            resources: resources?,
        })
    }

    fn service_id(&mut self, map: &Map<String, Value>, path: &str) -> Option<ServiceId> {
        let hint = "add the service's stable id in the source, such as a VM's instance UUID";
        let id_path = field_path(path, "id");
        let value = self.required(map, path, "id", hint)?;
        let text = self.string(value, &id_path, hint)?;
        ServiceId::new(text)
            .map_err(|error| self.problem(&id_path, id_reason(&error, "service's id")))
            .ok()
    }

    /// Reads the owning customer: `Some(None)` for an unassigned service.
    fn service_customer(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        customer_ids: Option<&HashSet<String>>,
    ) -> Option<Option<CustomerId>> {
        let customer_path = field_path(path, "customer");
        let text = match map.get("customer") {
            None | Some(Value::Null) => return Some(None),
            Some(value) => {
                let hint = "write the id of a customer listed in \"customers\", or null for an \
                            unassigned service";
                self.string(value, &customer_path, hint)?
            }
        };

        if customer_ids.is_some_and(|ids| !ids.contains(text)) {
            self.problem(
                &customer_path,
                format!(
                    "no customer has the id {text:?}; add it to \"customers\", correct the id, or \
                     write null to leave the service unassigned"
                ),
            );
            return None;
        }
        CustomerId::new(text)
            .map_err(|error| self.problem(&customer_path, id_reason(&error, "customer's id")))
            .ok()
            .map(Some)
    }

    /// Reads a required `kind` field as a service or resource kind.
    fn kind<K>(&mut self, map: &Map<String, Value>, path: &str, hint: &str) -> Option<K>
    where
        K: std::str::FromStr<Err = ParseError>,
    {
        let kind_path = field_path(path, "kind");
        let value = self.required(map, path, "kind", hint)?;
        let text = self.string(value, &kind_path, hint)?;
        text.parse::<K>()
            .map_err(|error| self.problem(&kind_path, error.to_string()))
            .ok()
    }

    /// Reads a service's resources and merges those of one kind and tier into one resource.
    ///
    /// A VM with three disks on one storage policy is normal, and metering sums them anyway;
    /// merging here means the rest of hyalto (the store above all) sees each kind and tier once.
    /// The merged resource keeps the place and the unit of the first of them, and the others
    /// are converted into that unit exactly or refused.
    fn resources(&mut self, map: &Map<String, Value>, path: &str) -> Option<Vec<Resource>> {
        let hint = "list what the service uses, for example \"resources\": [{\"kind\": \"cpu\", \
                    \"quantity\": 2, \"unit\": \"count\"}], or [] if nothing is billed";
        let list_path = field_path(path, "resources");
        let value = self.required(map, path, "resources", hint)?;
        let items = self.array(value, &list_path, hint)?;

        let mut resources: Vec<Resource> = Vec::with_capacity(items.len());
        let mut positions: HashMap<(ResourceKind, Option<String>), usize> = HashMap::new();
        let mut valid = true;
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{list_path}[{index}]");
            let Some(resource) = self.resource(item, &item_path) else {
                valid = false;
                continue;
            };

            let key = (resource.kind.clone(), resource.tier.clone());
            match positions.get(&key) {
                Some(&position) => {
                    if !self.merge(&mut resources[position], &resource, &item_path) {
                        valid = false;
                    }
                }
                None => {
                    positions.insert(key, resources.len());
                    resources.push(resource);
                }
            }
        }
        valid.then_some(resources)
    }

    /// Adds `extra` into `total`, an earlier resource of the same kind and tier, in `total`'s
    /// unit. Records a problem and returns false when that cannot be done exactly.
    fn merge(&mut self, total: &mut Resource, extra: &Resource, path: &str) -> bool {
        // Amounts of one kind and tier are summed, so they must be in units that convert into
        // each other.
        if total.unit.dimension() != extra.unit.dimension() {
            self.problem(
                field_path(path, "unit"),
                format!(
                    "an earlier {} resource of this service with the same tier is in {:?}, which \
                     {:?} cannot be converted to or from; report both in units of one kind (a \
                     count, a frequency or a size)",
                    extra.kind,
                    total.unit.as_str(),
                    extra.unit.as_str(),
                ),
            );
            return false;
        }

        let Some(converted) = convert_exactly(extra.quantity, extra.unit, total.unit) else {
            self.problem(
                field_path(path, "quantity"),
                format!(
                    "{} {} cannot be converted exactly into {:?}, the unit of an earlier {} \
                     resource of this service with the same tier; report both in the same unit",
                    extra.quantity,
                    extra.unit.as_str(),
                    total.unit.as_str(),
                    extra.kind,
                ),
            );
            return false;
        };

        let Some(sum) = add_exactly(total.quantity, converted)
            .filter(|sum| within_limit(*sum, Some(total.unit)))
        else {
            self.problem(
                field_path(path, "quantity"),
                format!(
                    "the {} resources of this service with the same tier add up to more than \
                     {MAX_QUANTITY} {} or to more digits than can be held exactly; check the \
                     export's units",
                    extra.kind,
                    total.unit.as_str(),
                ),
            );
            return false;
        };
        total.quantity = sum;
        true
    }

    fn resource(&mut self, value: &Value, path: &str) -> Option<Resource> {
        let map = self.object(value, path, "a resource")?;
        self.unknown_fields(map, path, RESOURCE_FIELDS);

        let kind = self.kind::<ResourceKind>(map, path, "add the resource's kind, such as \"ram\"");
        let tier = match map.get("tier") {
            None | Some(Value::Null) => Some(None),
            Some(value) => {
                let tier_path = field_path(path, "tier");
                let hint =
                    "write the tier's name, such as a storage policy, or leave the field out";
                self.string(value, &tier_path, hint).and_then(|text| {
                    check_id(text)
                        .map_err(|error| self.problem(&tier_path, tier_reason(&error)))
                        .ok()
                        .map(|()| Some(text.to_owned()))
                })
            }
        };
        let unit = self.unit(map, path, kind.as_ref());
        let quantity = self.quantity(map, path, unit);

        Some(Resource {
            kind: kind?,
            tier: tier?,
            quantity: quantity?,
            unit: unit?,
        })
    }

    /// Reads a unit and checks that it suits the resource's kind.
    fn unit(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        kind: Option<&ResourceKind>,
    ) -> Option<Unit> {
        let suggested = kind
            .and_then(ResourceKind::allowed_units)
            .unwrap_or(&Unit::ALL);
        let hint = format!("add the unit: {}", unit_list(suggested));
        let unit_path = field_path(path, "unit");
        let value = self.required(map, path, "unit", &hint)?;
        let text = self.string(value, &unit_path, &hint)?;
        let unit = text
            .parse::<Unit>()
            .map_err(|error| self.problem(&unit_path, error.to_string()))
            .ok()?;

        if let Some(kind) = kind
            && !kind.accepts(unit)
        {
            self.problem(
                &unit_path,
                format!(
                    "{text:?} does not suit a {kind} resource; write {}",
                    unit_list(suggested)
                ),
            );
            return None;
        }
        Some(unit)
    }

    /// Reads a quantity: a JSON number, not negative, at most [`MAX_QUANTITY`], and whole when
    /// it is a count.
    fn quantity(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        unit: Option<Unit>,
    ) -> Option<Decimal> {
        let quantity_path = field_path(path, "quantity");
        let hint = "write the amount as a JSON number, for example \"quantity\": 4";
        let value = self.required(map, path, "quantity", hint)?;

        let number = match value {
            Value::Number(number) => number,
            Value::String(text) if parse_decimal(text.trim()).is_some() => {
                self.problem(
                    &quantity_path,
                    format!(
                        "the quantity is a string; write it as a JSON number without quotes: {}",
                        text.trim()
                    ),
                );
                return None;
            }
            other => {
                let found = type_name(other);
                self.problem(
                    &quantity_path,
                    format!("expected a number, found {found}; {hint}"),
                );
                return None;
            }
        };

        // With serde_json's arbitrary_precision the number keeps its exact text, so nothing is
        // lost to binary floating point on the way to Decimal.
        let text = number.to_string();
        let Some(quantity) = parse_decimal(&text) else {
            self.problem(
                &quantity_path,
                format!(
                    "{text} cannot be held exactly: hyalto keeps at most 28 digits after the \
                     point and 28 significant digits in all; round it, or write it in a larger \
                     unit"
                ),
            );
            return None;
        };

        if quantity < Decimal::ZERO {
            self.problem(
                &quantity_path,
                format!("{text} is negative; quantities are 0 or more"),
            );
            return None;
        }
        if !within_limit(quantity, unit) {
            let billed = unit.map(limit_unit).unwrap_or(Unit::Count);
            let given = unit
                .map(|unit| format!(" {}", unit.as_str()))
                .unwrap_or_default();
            self.problem(
                &quantity_path,
                format!(
                    "{text}{given} is more than {MAX_QUANTITY} {} once converted to the unit it \
                     is billed in, which no real service uses; check the export's units",
                    billed.as_str()
                ),
            );
            return None;
        }
        if unit == Some(Unit::Count) && !quantity.fract().is_zero() {
            self.problem(
                &quantity_path,
                format!("{text} is not a whole number, but \"count\" counts whole things"),
            );
            return None;
        }
        Some(quantity)
    }

    /// Records a problem if a virtual machine lacks CPU or RAM, which every VM has.
    fn vm_has_cpu_and_ram(&mut self, kinds: &[&str], path: &str) {
        let missing: Vec<&str> = [
            (
                "cpu",
                "{\"kind\": \"cpu\", \"quantity\": 2, \"unit\": \"count\"}",
            ),
            (
                "ram",
                "{\"kind\": \"ram\", \"quantity\": 8, \"unit\": \"GiB\"}",
            ),
        ]
        .into_iter()
        .filter(|(kind, _)| !kinds.contains(kind))
        .map(|(_, example)| example)
        .collect();

        if !missing.is_empty() {
            self.problem(
                field_path(path, "resources"),
                format!(
                    "a virtual_machine must report its cpu and ram; add {}",
                    missing.join(" and ")
                ),
            );
        }
    }
}

/// Converts `quantity` from one unit into another of the same dimension, or `None` when the
/// result cannot be held exactly in a [`Decimal`] (such as 1.23456789 GB in GiB, which needs
/// 30 decimal places).
///
/// The arithmetic is done on integers: the quantity is `mantissa / 10^scale`, so the result is
/// the fraction `mantissa × from / (10^scale × to)` of the units' integer base factors, and it
/// has a finite decimal form only when the reduced denominator has no prime factors but 2 and
/// 5. Decimal division would round silently instead.
fn convert_exactly(quantity: Decimal, from: Unit, to: Unit) -> Option<Decimal> {
    if from == to {
        return Some(quantity);
    }
    if from.dimension() != to.dimension() {
        return None;
    }

    let from_factor = u128::try_from(from.base_factor().mantissa()).ok()?;
    let to_factor = u128::try_from(to.base_factor().mantissa()).ok()?;
    let common = gcd(from_factor, to_factor);
    let mantissa = u128::try_from(quantity.mantissa()).ok()?;
    let numerator = mantissa.checked_mul(from_factor / common)?;
    let denominator = 10_u128
        .checked_pow(quantity.scale())?
        .checked_mul(to_factor / common)?;

    let common = gcd(numerator, denominator);
    let (numerator, denominator) = (numerator / common, denominator / common);

    // Write the denominator as 2^twos × 5^fives; anything else has no finite decimal form.
    let mut rest = denominator;
    let (mut twos, mut fives) = (0_u32, 0_u32);
    while rest % 2 == 0 {
        rest /= 2;
        twos += 1;
    }
    while rest % 5 == 0 {
        rest /= 5;
        fives += 1;
    }
    if rest != 1 {
        return None;
    }

    // Scaling the fraction to the denominator 10^scale gives the result's mantissa.
    let scale = twos.max(fives);
    let widen = 2_u128
        .checked_pow(scale - twos)?
        .checked_mul(5_u128.checked_pow(scale - fives)?)?;
    let mantissa = i128::try_from(numerator.checked_mul(widen)?).ok()?;
    Decimal::try_from_i128_with_scale(mantissa, scale)
        .ok()
        .map(|result| result.normalize())
}

/// Adds two quantities, or `None` when the sum would need more digits than a [`Decimal`]
/// holds. Decimal addition rounds such a sum silently, which shows as a smaller scale.
fn add_exactly(left: Decimal, right: Decimal) -> Option<Decimal> {
    let sum = left.checked_add(right)?;
    (sum.scale() >= left.scale().max(right.scale())).then_some(sum)
}

/// The greatest common divisor, by Euclid's algorithm.
fn gcd(mut left: u128, mut right: u128) -> u128 {
    while right != 0 {
        (left, right) = (right, left % right);
    }
    left
}

/// Parses a JSON number's text as a Decimal without rounding, or `None` if it does not fit.
/// The unit [`MAX_QUANTITY`] is checked in for a quantity in `unit`: the finest unit a
/// quantity of its dimension can be billed in (GB for data, GHz for a frequency), so that the
/// limit holds whatever unit the export used and whatever billing unit is configured.
fn limit_unit(unit: Unit) -> Unit {
    match unit.dimension() {
        Dimension::Data => Unit::Gb,
        Dimension::Frequency => Unit::Ghz,
        Dimension::Count => unit,
    }
}

/// Whether `quantity` in `unit` is at most [`MAX_QUANTITY`] in the unit it is billed in.
fn within_limit(quantity: Decimal, unit: Option<Unit>) -> bool {
    let billed = match unit {
        Some(unit) => convert(quantity, unit, limit_unit(unit)),
        None => Some(quantity),
    };
    billed.is_some_and(|billed| billed <= Decimal::from(MAX_QUANTITY))
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str_exact(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A small valid document that each test bends out of shape.
    fn valid() -> Value {
        json!({
            "format": FORMAT,
            "source": "vcloud-ams1",
            "takenAt": "2026-12-03T06:00:00Z",
            "complete": true,
            "customers": [
                {"id": "acme", "name": "Acme Ltd"},
                {"id": "globex", "name": "Globex"}
            ],
            "services": [
                {
                    "id": "vm-1",
                    "customer": "acme",
                    "kind": "virtual_machine",
                    "name": "web-01",
                    "powerState": "on",
                    "resources": [
                        {"kind": "cpu", "quantity": 2, "unit": "count"},
                        {"kind": "ram", "quantity": 8, "unit": "GiB"},
                        {"kind": "storage", "tier": "gold", "quantity": 100.5, "unit": "GiB"}
                    ]
                },
                {
                    "id": "edge-1",
                    "customer": "globex",
                    "kind": "edge_gateway",
                    "name": "edge",
                    "resources": [{"kind": "public_ip", "quantity": 2, "unit": "count"}]
                }
            ]
        })
    }

    /// Returns `document` with the value at the JSON pointer `pointer` replaced.
    fn with(mut document: Value, pointer: &str, value: Value) -> Value {
        *document
            .pointer_mut(pointer)
            .expect("the pointer names a value") = value;
        document
    }

    /// Returns `document` without the field at `pointer` (parent object, then key).
    fn without(mut document: Value, parent: &str, key: &str) -> Value {
        let object = document.pointer_mut(parent).and_then(Value::as_object_mut);
        object.expect("the parent is an object").remove(key);
        document
    }

    fn parse(document: &Value) -> Result<Snapshot, ImportError> {
        parse_snapshot(&document.to_string(), Path::new("inventory.json"))
    }

    fn problems(document: &Value) -> Vec<Problem> {
        match parse(document) {
            Err(ImportError::Invalid { problems, .. }) => problems,
            other => panic!("expected validation problems, got {other:?}"),
        }
    }

    /// The single problem reported, checked to be at `path`; returns its reason.
    fn only_problem_at(document: &Value, path: &str) -> String {
        let problems = problems(document);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].path, path, "{problems:#?}");
        problems[0].reason.clone()
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_valid_complete_snapshot_parses_into_the_model() {
        let snapshot = parse(&valid()).unwrap();

        assert_eq!(snapshot.source.as_str(), "vcloud-ams1");
        assert_eq!(snapshot.taken_at.to_rfc3339(), "2026-12-03T06:00:00+00:00");
        assert!(snapshot.completeness.is_complete());
        assert_eq!(snapshot.customers.len(), 2);
        assert_eq!(snapshot.customers[1].name, "Globex");

        let vm = &snapshot.services[0];
        assert_eq!(vm.customer.as_ref().map(CustomerId::as_str), Some("acme"));
        assert_eq!(vm.kind, ServiceKind::VirtualMachine);
        assert_eq!(vm.power_state, Some(PowerState::On));
        assert_eq!(vm.resources[2].tier.as_deref(), Some("gold"));
        assert_eq!(vm.resources[2].quantity, dec("100.5"));
        assert_eq!(snapshot.services[1].power_state, None);
    }

    #[test]
    fn a_taken_at_far_in_the_future_is_refused_naming_the_clock_to_fix() {
        let snapshot = parse(&valid()).unwrap();
        let now = snapshot.taken_at - TimeDelta::days(90);

        let error = check_taken_at(&snapshot, now, Path::new("inv.json")).unwrap_err();

        assert_eq!(error.problems().len(), 1);
        assert_eq!(error.problems()[0].path, "$.takenAt");
        let reason = &error.problems()[0].reason;
        assert!(reason.contains("90 days ahead"), "{reason}");
        assert!(reason.contains("clock"), "{reason}");
    }

    #[test]
    fn a_taken_at_a_few_minutes_ahead_is_accepted_as_clock_drift() {
        let snapshot = parse(&valid()).unwrap();

        let slightly_behind = snapshot.taken_at - TimeDelta::minutes(9);
        let too_far_behind = snapshot.taken_at - TimeDelta::minutes(11);

        assert!(check_taken_at(&snapshot, slightly_behind, Path::new("a.json")).is_ok());
        assert!(check_taken_at(&snapshot, too_far_behind, Path::new("a.json")).is_err());
    }

    #[test]
    fn a_decimal_quantity_is_read_exactly_without_floating_point() {
        let document = with(valid(), "/services/0/resources/2/quantity", json!(0.1));

        let snapshot = parse(&document).unwrap();

        assert_eq!(
            snapshot.services[0].resources[2].quantity.to_string(),
            "0.1"
        );
    }

    #[test]
    fn a_quantity_in_exponent_notation_is_read_exactly() {
        let number: Value = serde_json::from_str("1.5e3").unwrap();
        let document = with(valid(), "/services/0/resources/2/quantity", number);

        let snapshot = parse(&document).unwrap();

        assert_eq!(snapshot.services[0].resources[2].quantity, dec("1500"));
    }

    #[test]
    fn a_taken_at_with_an_offset_is_converted_to_utc() {
        let document = with(valid(), "/takenAt", json!("2026-12-03T08:00:00+02:00"));

        let snapshot = parse(&document).unwrap();

        assert_eq!(snapshot.taken_at.to_rfc3339(), "2026-12-03T06:00:00+00:00");
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_ignored() {
        let text = format!("\u{feff}{}", valid());

        assert!(parse_snapshot(&text, Path::new("bom.json")).is_ok());
    }

    #[test]
    fn a_service_with_a_null_or_missing_customer_is_unassigned() {
        let null = with(valid(), "/services/0/customer", Value::Null);
        let missing = without(valid(), "/services/0", "customer");

        assert_eq!(parse(&null).unwrap().services[0].customer, None);
        assert_eq!(parse(&missing).unwrap().services[0].customer, None);
    }

    #[test]
    fn an_incomplete_snapshot_with_reasons_parses_and_keeps_them() {
        let document = with(valid(), "/complete", json!(false));
        let document = without(document, "", "incompleteReasons");
        let document = {
            let mut document = document;
            document["incompleteReasons"] = json!(["org globex timed out"]);
            document
        };

        let snapshot = parse(&document).unwrap();

        assert_eq!(
            snapshot.completeness,
            Completeness::Incomplete {
                reasons: vec!["org globex timed out".to_owned()]
            }
        );
    }

    #[test]
    fn an_incomplete_snapshot_without_a_reason_is_refused() {
        let document = with(valid(), "/complete", json!(false));

        let reason = only_problem_at(&document, "$.incompleteReasons");

        assert!(reason.contains("must say why"), "{reason}");
    }

    #[test]
    fn an_incomplete_snapshot_with_a_blank_reason_is_refused() {
        let mut document = with(valid(), "/complete", json!(false));
        document["incompleteReasons"] = json!(["vdc timed out", "  "]);

        only_problem_at(&document, "$.incompleteReasons[1]");
    }

    #[test]
    fn a_complete_snapshot_that_gives_reasons_to_be_incomplete_is_refused() {
        let mut document = valid();
        document["incompleteReasons"] = json!(["oops"]);

        let reason = only_problem_at(&document, "$.incompleteReasons");

        assert!(reason.contains("\"complete\": false"), "{reason}");
    }

    #[test]
    fn complete_must_be_true_or_false() {
        let document = with(valid(), "/complete", json!("yes"));

        let reason = only_problem_at(&document, "$.complete");

        assert!(reason.contains("found a string"), "{reason}");
    }

    #[test]
    fn text_that_is_not_json_reports_its_line_and_column() {
        let text = "{\n  \"format\": \"hyalto.inventory/v1\",\n  \"source\": ,\n}";

        let error = parse_snapshot(text, Path::new("broken.json")).unwrap_err();

        let ImportError::Syntax { line, column, .. } = &error else {
            panic!("expected a syntax error, got {error:?}");
        };
        assert_eq!((*line, *column), (3, 13));
        assert!(
            error.to_string().starts_with("broken.json:3:13: "),
            "{error}"
        );
    }

    #[test]
    fn a_file_with_comments_gets_a_hint_to_remove_them() {
        let text = "{\n  // the source\n  \"source\": \"x\"\n}";

        let error = parse_snapshot(text, Path::new("commented.json")).unwrap_err();

        assert!(
            error.to_string().contains("JSON allows no comments"),
            "{error}"
        );
    }

    #[test]
    fn nan_is_not_a_json_number_and_fails_as_syntax() {
        let text = valid().to_string().replace("100.5", "NaN");

        let error = parse_snapshot(&text, Path::new("nan.json")).unwrap_err();

        assert!(matches!(error, ImportError::Syntax { .. }), "{error:?}");
    }

    #[test]
    fn the_whole_file_must_be_one_object() {
        let reason = only_problem_at(&json!([1, 2]), "$");

        assert!(reason.contains("found an array"), "{reason}");
    }

    #[test]
    fn an_unknown_format_is_the_only_problem_reported() {
        let document = with(valid(), "/format", json!("hyalto.inventory/v2"));
        let document = with(document, "/source", json!(""));

        let reason = only_problem_at(&document, "$.format");

        assert!(reason.contains("\"hyalto.inventory/v1\""), "{reason}");
    }

    #[test]
    fn a_missing_format_is_reported_alongside_the_other_problems() {
        let document = without(valid(), "", "format");
        let document = with(document, "/source", json!(""));

        let paths: Vec<String> = problems(&document).into_iter().map(|p| p.path).collect();

        assert_eq!(paths, ["$.format", "$.source"]);
    }

    #[test]
    fn every_problem_in_the_file_is_reported_with_its_path_in_document_order() {
        let document = with(valid(), "/source", json!(42));
        let document = with(document, "/services/0/resources/1/unit", json!("GHz"));
        let document = with(document, "/services/0/resources/2/quantity", json!(-1));
        let document = with(document, "/services/1/kind", json!("Edge Gateway"));

        let paths: Vec<String> = problems(&document).into_iter().map(|p| p.path).collect();

        assert_eq!(
            paths,
            [
                "$.source",
                "$.services[0].resources[1].unit",
                "$.services[0].resources[2].quantity",
                "$.services[1].kind",
            ]
        );
    }

    #[test]
    fn the_error_names_the_file_and_puts_each_problem_on_its_own_line() {
        let document = with(valid(), "/source", json!(""));
        let document = with(document, "/services/1/name", json!(""));

        let error = parse_snapshot(&document.to_string(), Path::new("/tmp/inv.json")).unwrap_err();
        let message = error.to_string();
        let lines: Vec<&str> = message.lines().collect();

        assert_eq!(error.file(), Path::new("/tmp/inv.json"));
        assert_eq!(lines.len(), 3, "{message}");
        assert_eq!(
            lines[0],
            "/tmp/inv.json is not a valid hyalto inventory (2 problems):"
        );
        assert!(
            lines[1].starts_with("  $.source: the id is empty"),
            "{message}"
        );
        assert!(
            lines[2].starts_with("  $.services[1].name: the name is blank"),
            "{message}"
        );
    }

    #[test]
    fn missing_required_fields_are_each_reported_with_what_to_add() {
        let document = without(valid(), "", "takenAt");
        let document = without(document, "", "customers");
        let document = without(document, "/services/1", "name");
        let document = without(document, "/services/0/resources/0", "unit");

        let problems = problems(&document);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();

        assert_eq!(
            paths,
            [
                "$.takenAt",
                "$.customers",
                "$.services[0].resources[0].unit",
                "$.services[1].name",
            ]
        );
        assert!(
            problems
                .iter()
                .all(|p| p.reason.starts_with("this field is missing; "))
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused_naming_the_type_found() {
        let document = with(valid(), "/services", json!({"id": "vm-1"}));

        let reason = only_problem_at(&document, "$.services");

        assert!(
            reason.starts_with("expected an array […], found an object"),
            "{reason}"
        );
    }

    #[test]
    fn a_taken_at_that_is_not_rfc_3339_is_refused_with_an_example() {
        for text in ["2026-12-03 06:00", "2026-12-03T06:00:00", "yesterday"] {
            let document = with(valid(), "/takenAt", json!(text));

            let reason = only_problem_at(&document, "$.takenAt");

            assert!(reason.contains("2026-12-03T13:00:00Z"), "{reason}");
        }
    }

    #[test]
    fn an_unknown_field_is_refused_and_a_near_miss_is_named() {
        let mut document = valid();
        document["services"][0]["power_state"] = json!("on");
        document["services"][0]["resources"][0]["size"] = json!(1);

        let problems = problems(&document);

        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(problems[0].path, "$.services[0].power_state");
        assert!(
            problems[0].reason.contains("write \"powerState\""),
            "{problems:#?}"
        );
        assert_eq!(problems[1].path, "$.services[0].resources[0].size");
        assert!(
            problems[1].reason.contains("kind, tier, quantity, unit"),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_schema_reference_at_the_top_is_allowed() {
        let mut document = valid();
        document["$schema"] = json!("./inventory.schema.json");

        assert!(parse(&document).is_ok());
    }

    #[test]
    fn an_odd_field_name_is_quoted_in_the_path() {
        let mut document = valid();
        document["power state"] = json!("on");

        only_problem_at(&document, "$[\"power state\"]");
    }

    #[test]
    fn a_duplicate_customer_id_is_refused_naming_the_first() {
        let document = with(valid(), "/customers/1/id", json!("acme"));
        let document = with(document, "/services/1/customer", json!("acme"));

        let reason = only_problem_at(&document, "$.customers[1].id");

        assert!(
            reason.contains("already used by $.customers[0]"),
            "{reason}"
        );
    }

    #[test]
    fn a_duplicate_service_id_is_refused_naming_the_first() {
        let document = with(valid(), "/services/1/id", json!("vm-1"));

        let reason = only_problem_at(&document, "$.services[1].id");

        assert!(reason.contains("already used by $.services[0]"), "{reason}");
    }

    #[test]
    fn a_service_naming_an_unknown_customer_is_refused() {
        let document = with(valid(), "/services/1/customer", json!("initech"));

        let reason = only_problem_at(&document, "$.services[1].customer");

        assert!(
            reason.contains("no customer has the id \"initech\""),
            "{reason}"
        );
        assert!(reason.contains("null"), "{reason}");
    }

    #[test]
    fn a_customer_with_an_invalid_name_does_not_make_its_services_unknown() {
        let document = with(valid(), "/customers/1/name", json!(" "));
        let document = with(document, "/services/0/customer", json!("initech"));

        let paths: Vec<String> = problems(&document).into_iter().map(|p| p.path).collect();

        assert_eq!(paths, ["$.customers[1].name", "$.services[0].customer"]);
    }

    #[test]
    fn ids_that_break_the_id_rules_are_refused() {
        let blank = with(valid(), "/services/0/id", json!(" "));
        let control = with(valid(), "/customers/0/id", json!("ac\nme"));
        let spaced = with(valid(), "/source", json!("ams1 "));
        let long = with(valid(), "/services/1/id", json!("x".repeat(201)));

        assert!(only_problem_at(&blank, "$.services[0].id").contains("empty"));
        // The service naming "acme" is then also unknown, which is reported too.
        assert_eq!(problems(&control)[0].path, "$.customers[0].id");
        assert!(only_problem_at(&spaced, "$.source").contains("whitespace"));
        assert!(only_problem_at(&long, "$.services[1].id").contains("201 characters"));
    }

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        let document = with(valid(), "/services/0/name", json!("web\t01"));

        let reason = only_problem_at(&document, "$.services[0].name");

        assert!(
            reason.contains("control or format character (U+0009"),
            "{reason}"
        );
    }

    #[test]
    fn a_name_with_a_bidi_override_is_refused_naming_its_code_point() {
        let customer = with(valid(), "/customers/0/name", json!("Acme \u{202E}dtL"));
        let service = with(valid(), "/services/0/name", json!("web\u{2060}01"));

        let customer_reason = only_problem_at(&customer, "$.customers[0].name");
        let service_reason = only_problem_at(&service, "$.services[0].name");

        assert!(customer_reason.contains("U+202E"), "{customer_reason}");
        assert!(customer_reason.contains("character 6"), "{customer_reason}");
        assert!(service_reason.contains("U+2060"), "{service_reason}");
    }

    #[test]
    fn names_spelled_with_joiners_and_variation_selectors_are_accepted() {
        // A Persian word needs its zero-width non-joiner; a family emoji is people joined by
        // zero-width joiners; a text-style heart carries a variation selector.
        let persian = "کار\u{200C}خانه";
        let family = "Team \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let heart = "Care \u{2764}\u{FE0E}";
        let document = with(valid(), "/customers/0/name", json!(persian));
        let document = with(document, "/services/0/name", json!(family));
        let document = with(document, "/services/1/name", json!(heart));

        let snapshot = parse(&document).expect("the names are ordinary spelling");

        assert_eq!(snapshot.customers[0].name, persian);
        assert_eq!(snapshot.services[0].name, family);
        assert_eq!(snapshot.services[1].name, heart);
    }

    #[test]
    fn a_joiner_that_joins_nothing_is_refused() {
        let trailing = with(valid(), "/customers/0/name", json!("Acme\u{200D}"));
        let spaced = with(valid(), "/services/0/name", json!("web \u{200C}01"));

        let trailing_reason = only_problem_at(&trailing, "$.customers[0].name");
        let spaced_reason = only_problem_at(&spaced, "$.services[0].name");

        assert!(trailing_reason.contains("U+200D"), "{trailing_reason}");
        assert!(spaced_reason.contains("U+200C"), "{spaced_reason}");
    }

    #[test]
    fn an_id_with_a_zero_width_space_is_refused_at_its_path() {
        let document = with(valid(), "/services/1/id", json!("edge\u{200B}1"));

        let reason = only_problem_at(&document, "$.services[1].id");

        assert!(reason.contains("U+200B"), "{reason}");
    }

    #[test]
    fn a_kind_that_is_not_a_snake_case_word_is_refused() {
        let document = with(valid(), "/services/0/resources/0/kind", json!("CPU"));

        let reason = only_problem_at(&document, "$.services[0].resources[0].kind");

        assert!(reason.contains("snake_case"), "{reason}");
    }

    #[test]
    fn an_unknown_service_kind_in_snake_case_is_kept_as_other() {
        let document = with(valid(), "/services/1/kind", json!("load_balancer"));

        let snapshot = parse(&document).unwrap();

        assert_eq!(
            snapshot.services[1].kind,
            ServiceKind::Other("load_balancer".to_owned())
        );
    }

    #[test]
    fn an_unknown_power_state_is_refused() {
        let document = with(valid(), "/services/0/powerState", json!("running"));

        let reason = only_problem_at(&document, "$.services[0].powerState");

        assert!(
            reason.contains("\"on\", \"off\" or \"suspended\""),
            "{reason}"
        );
    }

    #[test]
    fn a_blank_tier_is_refused_but_a_null_tier_means_none() {
        let blank = with(valid(), "/services/0/resources/2/tier", json!(""));
        let null = with(valid(), "/services/0/resources/2/tier", Value::Null);

        assert!(only_problem_at(&blank, "$.services[0].resources[2].tier").contains("blank"));
        assert_eq!(parse(&null).unwrap().services[0].resources[2].tier, None);
    }

    #[test]
    fn a_quantity_written_as_a_string_is_refused_with_the_number_to_write() {
        let document = with(valid(), "/services/0/resources/1/quantity", json!("8"));

        let reason = only_problem_at(&document, "$.services[0].resources[1].quantity");

        assert!(reason.contains("without quotes: 8"), "{reason}");
    }

    #[test]
    fn a_quantity_that_is_not_a_number_is_refused() {
        let document = with(valid(), "/services/0/resources/1/quantity", json!("eight"));

        let reason = only_problem_at(&document, "$.services[0].resources[1].quantity");

        assert!(
            reason.contains("expected a number, found a string"),
            "{reason}"
        );
    }

    #[test]
    fn a_negative_quantity_is_refused() {
        let document = with(valid(), "/services/0/resources/2/quantity", json!(-0.5));

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(reason.contains("negative"), "{reason}");
    }

    #[test]
    fn a_quantity_above_the_limit_is_refused() {
        let number: Value = serde_json::from_str("1e16").unwrap();
        let document = with(valid(), "/services/0/resources/2/quantity", number);

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(
            reason.contains("more than 1000000000000000 GB once converted"),
            "{reason}"
        );
    }

    #[test]
    fn a_quantity_above_the_limit_only_in_the_billing_unit_is_refused() {
        let document = with(
            valid(),
            "/services/0/resources/2",
            json!({"kind": "storage", "quantity": 999_999_999_999_999_u64, "unit": "TiB"}),
        );

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(
            reason.contains("999999999999999 TiB is more than 1000000000000000 GB"),
            "{reason}"
        );
    }

    #[test]
    fn a_tiny_number_says_how_many_decimals_are_kept() {
        let number: Value = serde_json::from_str("1e-30").unwrap();
        let document = with(valid(), "/services/0/resources/2/quantity", number);

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(reason.contains("28 digits after the point"), "{reason}");
    }

    #[test]
    fn a_quantity_with_more_digits_than_a_decimal_holds_is_refused() {
        let number: Value = serde_json::from_str("0.12345678901234567890123456789").unwrap();
        let document = with(valid(), "/services/0/resources/2/quantity", number);

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(reason.contains("28 significant digits in all"), "{reason}");
    }

    #[test]
    fn a_fractional_count_is_refused() {
        let document = with(valid(), "/services/0/resources/0/quantity", json!(1.5));

        let reason = only_problem_at(&document, "$.services[0].resources[0].quantity");

        assert!(reason.contains("whole number"), "{reason}");
    }

    #[test]
    fn a_unit_that_does_not_suit_the_kind_is_refused_with_the_units_that_do() {
        let cpu = with(valid(), "/services/0/resources/0/unit", json!("GB"));
        let storage = with(valid(), "/services/0/resources/2/unit", json!("MHz"));
        let ip = with(valid(), "/services/1/resources/0/unit", json!("GiB"));

        let cpu = only_problem_at(&cpu, "$.services[0].resources[0].unit");
        let storage = only_problem_at(&storage, "$.services[0].resources[2].unit");
        let ip = only_problem_at(&ip, "$.services[1].resources[0].unit");

        assert!(cpu.contains("\"count\", \"MHz\" or \"GHz\""), "{cpu}");
        assert!(storage.contains("\"MiB\", \"GiB\" or \"TiB\""), "{storage}");
        assert!(ip.ends_with("write \"count\""), "{ip}");
    }

    #[test]
    fn an_unknown_unit_is_refused() {
        let document = with(valid(), "/services/0/resources/1/unit", json!("gib"));

        let reason = only_problem_at(&document, "$.services[0].resources[1].unit");

        assert!(reason.contains("write \"GiB\""), "{reason}");
    }

    #[test]
    fn a_resource_kind_without_rules_accepts_any_unit() {
        let mut document = valid();
        document["services"][1]["resources"][0] =
            json!({"kind": "bandwidth", "quantity": 2.5, "unit": "GHz"});

        let snapshot = parse(&document).unwrap();

        assert_eq!(snapshot.services[1].resources[0].unit, Unit::Ghz);
    }

    #[test]
    fn one_kind_and_tier_in_units_that_do_not_convert_is_refused() {
        let mut document = valid();
        document["services"][1]["resources"] = json!([
            {"kind": "cpu", "quantity": 2, "unit": "count"},
            {"kind": "cpu", "quantity": 2000, "unit": "MHz"}
        ]);

        let reason = only_problem_at(&document, "$.services[1].resources[1].unit");

        assert!(reason.contains("\"count\""), "{reason}");
    }

    #[test]
    fn resources_of_one_kind_and_tier_are_merged_into_the_first_in_its_unit() {
        let mut document = valid();
        document["services"][0]["resources"] = json!([
            {"kind": "cpu", "quantity": 2, "unit": "count"},
            {"kind": "storage", "tier": "gold", "quantity": 40, "unit": "GiB"},
            {"kind": "ram", "quantity": 4, "unit": "GiB"},
            {"kind": "storage", "tier": "silver", "quantity": 7, "unit": "GiB"},
            {"kind": "storage", "tier": "gold", "quantity": 512, "unit": "MiB"},
            {"kind": "storage", "tier": "gold", "quantity": 60.5, "unit": "GiB"}
        ]);

        let snapshot = parse(&document).unwrap();

        let resources = &snapshot.services[0].resources;
        let summary: Vec<(&str, Option<&str>, Decimal, Unit)> = resources
            .iter()
            .map(|r| (r.kind.as_str(), r.tier.as_deref(), r.quantity, r.unit))
            .collect();
        assert_eq!(
            summary,
            [
                ("cpu", None, dec("2"), Unit::Count),
                ("storage", Some("gold"), dec("101"), Unit::Gib),
                ("ram", None, dec("4"), Unit::Gib),
                ("storage", Some("silver"), dec("7"), Unit::Gib),
            ]
        );
    }

    #[test]
    fn a_merged_resource_in_another_family_of_units_is_converted_exactly() {
        let mut document = valid();
        document["services"][0]["resources"] = json!([
            {"kind": "cpu", "quantity": 2, "unit": "count"},
            {"kind": "ram", "quantity": 1, "unit": "GB"},
            {"kind": "ram", "quantity": 1, "unit": "GiB"}
        ]);

        let snapshot = parse(&document).unwrap();

        let ram = &snapshot.services[0].resources[1];
        assert_eq!(ram.quantity, dec("2.073741824"));
        assert_eq!(ram.unit, Unit::Gb);
    }

    #[test]
    fn a_merged_resource_that_would_need_rounding_is_refused() {
        let mut document = valid();
        document["services"][0]["resources"] = json!([
            {"kind": "cpu", "quantity": 2, "unit": "count"},
            {"kind": "ram", "quantity": 1, "unit": "GiB"},
            {"kind": "ram", "quantity": 1.23456789, "unit": "GB"}
        ]);

        let reason = only_problem_at(&document, "$.services[0].resources[2].quantity");

        assert!(reason.contains("exactly"), "{reason}");
    }

    #[test]
    fn merged_resources_above_the_largest_quantity_are_refused() {
        let mut document = valid();
        document["services"][0]["resources"] = json!([
            {"kind": "cpu", "quantity": 2, "unit": "count"},
            {"kind": "ram", "quantity": 4, "unit": "GiB"},
            {"kind": "storage", "quantity": MAX_QUANTITY, "unit": "GB"},
            {"kind": "storage", "quantity": 1, "unit": "GB"}
        ]);

        let reason = only_problem_at(&document, "$.services[0].resources[3].quantity");

        assert!(reason.contains(&MAX_QUANTITY.to_string()), "{reason}");
    }

    #[test]
    fn exact_conversion_keeps_every_digit_or_gives_up() {
        assert_eq!(
            convert_exactly(dec("2"), Unit::Tb, Unit::Gib),
            Some(dec("1862.64514923095703125"))
        );
        assert_eq!(
            convert_exactly(dec("1536"), Unit::Mib, Unit::Gib),
            Some(dec("1.5"))
        );
        assert_eq!(
            convert_exactly(dec("2.5"), Unit::Ghz, Unit::Mhz),
            Some(dec("2500"))
        );
        assert_eq!(convert_exactly(dec("1"), Unit::Count, Unit::Mhz), None);
        assert_eq!(
            convert_exactly(dec("1.23456789"), Unit::Gb, Unit::Gib),
            None
        );
    }

    #[test]
    fn an_exact_sum_is_kept_and_a_rounded_one_refused() {
        assert_eq!(add_exactly(dec("40"), dec("60.5")), Some(dec("100.5")));
        assert_eq!(
            add_exactly(dec("1000000000000000"), dec("0.0000000000000000001")),
            None
        );
    }

    #[test]
    fn a_virtual_machine_without_cpu_or_ram_is_refused() {
        let mut document = valid();
        document["services"][0]["resources"] =
            json!([{"kind": "storage", "quantity": 10, "unit": "GiB"}]);

        let reason = only_problem_at(&document, "$.services[0].resources");

        assert!(reason.contains("\"kind\": \"cpu\""), "{reason}");
        assert!(reason.contains("\"kind\": \"ram\""), "{reason}");
    }

    #[test]
    fn a_virtual_machine_without_ram_is_told_so_even_when_another_resource_is_wrong() {
        let mut document = valid();
        document["services"][0]["resources"] =
            json!([{"kind": "cpu", "quantity": "1", "unit": "count"}]);

        let problems = problems(&document);

        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert_eq!(problems[0].path, "$.services[0].resources[0].quantity");
        assert_eq!(problems[1].path, "$.services[0].resources");
        assert!(
            !problems[1].reason.contains("\"kind\": \"cpu\""),
            "{problems:#?}"
        );
        assert!(
            problems[1].reason.contains("\"kind\": \"ram\""),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_snapshot_written_back_out_parses_to_the_same_snapshot() {
        let mut document = with(valid(), "/complete", json!(false));
        document["incompleteReasons"] = json!(["one org timed out"]);
        document["services"][1]["customer"] = Value::Null;
        let snapshot = parse(&document).unwrap();

        let written = write_snapshot(&snapshot);
        let again = parse_snapshot(&written, Path::new("written.json")).unwrap();

        assert_eq!(again, snapshot);
        assert!(written.contains("\"quantity\": 100.5"), "{written}");
        assert!(written.contains("\"customer\": null"), "{written}");
    }
}
