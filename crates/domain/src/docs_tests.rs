//! Tests that keep `docs/` true: the commented example imports and round-trips, it meters as
//! its comments say, the JSON Schema agrees with the example and with the code, and every page
//! tells the same story about incomplete snapshots and repeated resources.
//!
//! No JSON Schema crate is used (the domain crate stays small), so a minimal validator below
//! covers exactly the keywords `docs/inventory.schema.json` uses, except `pattern` and `format`,
//! whose rules the importer checks itself.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::import::{FORMAT, KNOWN_FIELDS, MAX_QUANTITY, parse_snapshot, write_snapshot};
use crate::inventory::{PowerState, ResourceKind, ServiceKind, Unit};
use crate::metering::{MeteringRules, meter};

fn docs_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name)
}

fn read_doc(name: &str) -> String {
    let path = docs_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Removes `//` line comments and `/* */` block comments, leaving strings untouched (a `//`
/// inside a string is text, and `\"` does not end a string).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;

    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }

        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                // The newline is kept so line numbers in errors still match the file.
                while chars.next_if(|&next| next != '\n').is_some() {}
            }
            ('/', Some('*')) => {
                chars.next();
                let mut previous = ' ';
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                    }
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn example_text() -> String {
    strip_comments(&read_doc("inventory.example.jsonc"))
}

fn schema() -> Value {
    serde_json::from_str(&read_doc("inventory.schema.json")).expect("the schema is JSON")
}

#[test]
fn the_comment_stripper_removes_comments_but_not_slashes_inside_strings() {
    let text = "{\"a\": \"x // y\", // gone\n \"b\": \"q\\\"//\" /* gone\n too */}";

    let stripped = strip_comments(text);

    assert_eq!(stripped, "{\"a\": \"x // y\", \n \"b\": \"q\\\"//\" \n}");
}

#[test]
fn the_example_file_imports_as_a_complete_snapshot_with_everything_it_promises() {
    let snapshot = parse_snapshot(&example_text(), &docs_path("inventory.example.jsonc"))
        .unwrap_or_else(|error| panic!("{error}"));

    assert!(snapshot.completeness.is_complete());
    assert_eq!(snapshot.customers.len(), 2);
    let kinds: Vec<&ServiceKind> = snapshot.services.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        [
            &ServiceKind::VirtualMachine,
            &ServiceKind::VirtualDataCenter,
            &ServiceKind::EdgeGateway,
            &ServiceKind::VirtualMachine,
        ]
    );

    let vdc_tiers: Vec<Option<&str>> = snapshot.services[1]
        .resources
        .iter()
        .filter(|r| r.kind == ResourceKind::Storage)
        .map(|r| r.tier.as_deref())
        .collect();
    assert_eq!(vdc_tiers, [Some("performance"), Some("capacity")]);
    assert!(
        snapshot.services[2]
            .resources
            .iter()
            .any(|r| r.kind == ResourceKind::PublicIp)
    );

    let unassigned = &snapshot.services[3];
    assert_eq!(unassigned.customer, None);
    assert_eq!(unassigned.power_state, Some(PowerState::Off));
    assert_eq!(unassigned.name, "template-build // scratch");
}

#[test]
fn the_example_file_round_trips_through_the_writer() {
    let snapshot = parse_snapshot(&example_text(), Path::new("example")).unwrap();

    let written = write_snapshot(&snapshot);
    let again = parse_snapshot(&written, Path::new("written")).unwrap();

    assert_eq!(again, snapshot);
}

#[test]
fn the_example_meters_as_its_comments_say_under_the_default_rules() {
    let snapshot = parse_snapshot(&example_text(), Path::new("example")).unwrap();
    let rules = MeteringRules::default();
    let summary = |index: usize| -> Vec<String> {
        meter(&snapshot.services[index], &rules)
            .iter()
            .map(|m| {
                let tier = m
                    .tier
                    .as_deref()
                    .map(|t| format!("/{t}"))
                    .unwrap_or_default();
                format!("{}{tier} {} {}", m.resource, m.quantity, m.unit)
            })
            .collect()
    };

    assert_eq!(
        summary(0),
        ["cpu 4 count", "ram 6 GiB", "storage/performance 101 GiB"]
    );
    assert_eq!(
        summary(1),
        [
            "cpu 12 GHz",
            "ram 64 GiB",
            "storage/performance 500 GiB",
            "storage/capacity 1863 GiB",
        ]
    );
    assert_eq!(summary(2), ["public_ip 3 count"]);
}

#[test]
fn the_example_validates_against_the_json_schema() {
    let schema = schema();
    let example: Value = serde_json::from_str(&example_text()).unwrap();

    let errors = validate(&schema, &schema, &example, "$");

    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_json_schema_refuses_what_the_importer_refuses() {
    let schema = schema();
    let mut broken: Value = serde_json::from_str(&example_text()).unwrap();
    broken["services"][0]["resources"][0]["unit"] = Value::from("GB");
    broken["services"][2]["resources"][0]["quantity"] = serde_json::from_str("1.5").unwrap();
    broken["services"][1]["resources"][1]["quantity"] = Value::from("64");
    broken["services"][3]["powerstate"] = Value::from("off");
    broken["complete"] = Value::Bool(false);

    let mut errors = validate(&schema, &schema, &broken, "$");
    errors.sort();

    let mut paths: Vec<&str> = errors.iter().map(|(path, _)| path.as_str()).collect();
    paths.dedup();
    assert_eq!(
        paths,
        [
            "$",
            "$.services[0].resources[0].unit",
            "$.services[1].resources[1].quantity",
            "$.services[2].resources[0].quantity",
            "$.services[3]",
        ],
        "{errors:#?}"
    );
}

#[test]
fn the_json_schema_declares_draft_2020_12_and_the_current_format() {
    let schema = schema();

    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["properties"]["format"]["const"], FORMAT);
    assert_eq!(
        schema["$defs"]["resource"]["properties"]["quantity"]["maximum"].to_string(),
        MAX_QUANTITY.to_string()
    );
}

#[test]
fn the_json_schema_names_exactly_the_fields_the_importer_knows() {
    let schema = schema();
    let objects = [
        ("snapshot", &schema["properties"]),
        ("customer", &schema["$defs"]["customer"]["properties"]),
        ("service", &schema["$defs"]["service"]["properties"]),
        ("resource", &schema["$defs"]["resource"]["properties"]),
    ];

    for ((name, properties), (known_name, known)) in objects.into_iter().zip(KNOWN_FIELDS) {
        let in_schema: Vec<&str> = properties
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(name, known_name);
        assert_eq!(in_schema, known, "the {name} fields differ");
    }
}

#[test]
fn the_json_schema_lists_the_same_units_kinds_and_power_states_as_the_code() {
    let schema = schema();
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let resource = &schema["$defs"]["resource"];
    let rules = &resource["allOf"];

    let all: Vec<String> = Unit::ALL.iter().map(|u| u.as_str().to_owned()).collect();
    assert_eq!(strings(&resource["properties"]["unit"]["enum"]), all);

    let units_of = |kind: ResourceKind| -> Vec<String> {
        let allowed = kind.allowed_units().expect("a known kind has rules");
        allowed.iter().map(|u| u.as_str().to_owned()).collect()
    };
    assert_eq!(
        strings(&rules[0]["then"]["properties"]["unit"]["enum"]),
        units_of(ResourceKind::Cpu)
    );
    assert_eq!(
        strings(&rules[1]["then"]["properties"]["unit"]["enum"]),
        units_of(ResourceKind::Ram)
    );
    assert_eq!(units_of(ResourceKind::Ram), units_of(ResourceKind::Storage));
    assert_eq!(rules[2]["then"]["properties"]["unit"]["const"], "count");
    assert_eq!(units_of(ResourceKind::PublicIp), ["count"]);

    for kind in strings(&resource["properties"]["kind"]["anyOf"][0]["enum"]) {
        let parsed: ResourceKind = kind.parse().unwrap();
        assert!(
            !matches!(parsed, ResourceKind::Other(_)),
            "{kind} has no variant"
        );
    }
    let service = &schema["$defs"]["service"]["properties"];
    for kind in strings(&service["kind"]["anyOf"][0]["enum"]) {
        let parsed: ServiceKind = kind.parse().unwrap();
        assert!(
            !matches!(parsed, ServiceKind::Other(_)),
            "{kind} has no variant"
        );
    }
    for state in strings(&service["powerState"]["enum"]) {
        assert!(
            state.parse::<PowerState>().is_ok(),
            "{state} is not a power state"
        );
    }
}

/// Validates `value` against `node` of `root`, returning (path, message) for each failure.
/// Covers the keywords the inventory schema uses; `pattern` and `format` are skipped.
fn validate(root: &Value, node: &Value, value: &Value, path: &str) -> Vec<(String, String)> {
    let Some(node) = node.as_object() else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut fail = |message: String| errors.push((path.to_owned(), message));

    if let Some(types) = node.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.iter().any(|&name| has_type(value, name)) {
            fail(format!("is not of type {allowed:?}"));
        }
    }
    if let Some(expected) = node.get("const")
        && !same(expected, value)
    {
        fail(format!("is not {expected}"));
    }
    if let Some(Value::Array(options)) = node.get("enum")
        && !options.iter().any(|option| same(option, value))
    {
        fail("is not one of the listed values".to_owned());
    }
    if value.is_number() {
        let number = decimal(value);
        if let Some(minimum) = node.get("minimum")
            && number < decimal(minimum)
        {
            fail(format!("is below {minimum}"));
        }
        if let Some(maximum) = node.get("maximum")
            && number > decimal(maximum)
        {
            fail(format!("is above {maximum}"));
        }
        if let Some(step) = node.get("multipleOf")
            && !(number % decimal(step)).is_zero()
        {
            fail(format!("is not a multiple of {step}"));
        }
    }
    if let Value::String(text) = value {
        let chars = text.chars().count() as u64;
        if node
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| chars < min)
        {
            fail("is too short".to_owned());
        }
        if node
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| chars > max)
        {
            fail("is too long".to_owned());
        }
    }
    if let Value::Array(items) = value {
        let count = items.len() as u64;
        if node
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|min| count < min)
        {
            fail("has too few items".to_owned());
        }
        if node
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|max| count > max)
        {
            fail("has too many items".to_owned());
        }
        if let Some(schema) = node.get("items") {
            for (index, item) in items.iter().enumerate() {
                errors.extend(validate(root, schema, item, &format!("{path}[{index}]")));
            }
        }
    }

    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .expect("only local references are used");
        let target = root.pointer(pointer).expect("the reference resolves");
        errors.extend(validate(root, target, value, path));
    }
    if let Value::Object(map) = value {
        errors.extend(validate_object(root, node, map, path));
    }
    errors.extend(validate_combinators(root, node, value, path));
    errors
}

fn validate_object(
    root: &Value,
    node: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let properties = node.get("properties").and_then(Value::as_object);

    for required in node
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = required.as_str().unwrap_or_default();
        if !map.contains_key(key) {
            errors.push((path.to_owned(), format!("lacks {key}")));
        }
    }
    for (key, item) in map {
        match properties.and_then(|properties| properties.get(key)) {
            Some(schema) => errors.extend(validate(root, schema, item, &format!("{path}.{key}"))),
            None if node.get("additionalProperties") == Some(&Value::Bool(false)) => {
                errors.push((path.to_owned(), format!("has unknown field {key}")));
            }
            None => {}
        }
    }
    errors
}

fn validate_combinators(
    root: &Value,
    node: &Map<String, Value>,
    value: &Value,
    path: &str,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let passes = |schema: &Value| validate(root, schema, value, path).is_empty();

    for schema in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        errors.extend(validate(root, schema, value, path));
    }
    if let Some(Value::Array(options)) = node.get("anyOf")
        && !options.iter().any(passes)
    {
        errors.push((path.to_owned(), "matches none of anyOf".to_owned()));
    }
    if let Some(Value::Array(options)) = node.get("oneOf")
        && options.iter().filter(|schema| passes(schema)).count() != 1
    {
        errors.push((
            path.to_owned(),
            "does not match exactly one of oneOf".to_owned(),
        ));
    }
    if let (Some(condition), Some(then)) = (node.get("if"), node.get("then"))
        && passes(condition)
    {
        errors.extend(validate(root, then, value, path));
    }
    errors
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_number() && decimal(value).fract().is_zero(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// JSON equality with numbers compared by value, as JSON Schema requires (2 equals 2.0).
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(_), Value::Number(_)) => decimal(left) == decimal(right),
        _ => left == right,
    }
}

fn decimal(value: &Value) -> Decimal {
    let text = value.as_number().expect("a number").to_string();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text).expect("a decimal number")
    } else {
        text.parse().expect("a decimal number")
    }
}

/// The text of a Markdown page from the heading `heading` to the next heading of its level.
fn section(page: &str, heading: &str) -> String {
    let text = read_doc(page);
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("{page} has no heading {heading:?}"));
    let level = heading.split(' ').next().unwrap_or_default();
    let rest = &text[start + heading.len()..];
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[test]
fn every_page_says_an_incomplete_snapshot_is_refused_unless_accepted() {
    let format = section("inventory-format.md", "## Completeness");
    let cli = section("cli.md", "### `hyalto inventory import");
    let example = read_doc("inventory.example.jsonc");
    let schema = schema();
    let complete = schema["properties"]["complete"]["description"]
        .as_str()
        .unwrap();

    for (name, text) in [
        ("inventory-format.md", format.as_str()),
        ("cli.md", cli.as_str()),
        ("inventory.example.jsonc", example.as_str()),
        ("inventory.schema.json", complete),
    ] {
        assert!(text.contains("--accept-incomplete"), "{name}: {text}");
        assert!(text.contains("refuse"), "{name}: {text}");
    }
    assert!(format.contains("changes nothing"), "{format}");
    assert!(cli.contains("changes nothing"), "{cli}");
}

#[test]
fn the_format_page_says_repeated_resources_are_merged_on_import() {
    let units = section("inventory-format.md", "### Units");

    assert!(units.contains("**merges**"), "{units}");
    assert!(units.contains("exactly"), "{units}");
}
