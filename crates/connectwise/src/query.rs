//! List queries (`conditions`, `orderBy`, `fields`, `pageSize`), their encoding into a URL, and
//! the `Link` header that carries the next page.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::conditions::Conditions;

/// The largest page ConnectWise serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Everything except the RFC 3986 unreserved characters is encoded, so `+`, `&`, `=`, `#`,
/// `%`, quotes, apostrophes, spaces and every non-ASCII byte reach the server as data.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one query value exactly once.
pub(crate) fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Filters, ordering, field selection and page size for a list call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    /// The `conditions` filter.
    pub conditions: Option<Conditions>,
    /// The `orderBy` clause, such as `name asc` (written in code, not user text).
    pub order_by: Option<String>,
    /// Fields to return, such as `["id", "name", "company/name"]`; `id` is always added because
    /// paging de-duplicates by it.
    pub fields: Option<Vec<String>>,
    /// Records per page, at most 1000 (the default).
    pub page_size: Option<u32>,
    /// The `childConditions` filter, on array members such as a contact's
    /// `communicationItems`.
    pub child_conditions: Option<Conditions>,
    /// The `customFieldConditions` filter, such as `caption = "External Id" and value = "x"`.
    pub custom_field_conditions: Option<Conditions>,
}

impl ListQuery {
    /// A query with only a filter.
    pub fn filter(conditions: Conditions) -> ListQuery {
        ListQuery {
            conditions: Some(conditions),
            ..ListQuery::default()
        }
    }

    /// The page size actually requested: the caller's choice clamped to 1..=1000.
    pub fn effective_page_size(&self) -> u32 {
        self.page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE)
    }

    /// The query parameters, unencoded, in the order they are sent.
    pub(crate) fn parameters(&self, include_order: bool) -> Vec<(&'static str, String)> {
        let mut parameters = Vec::new();
        if let Some(conditions) = &self.conditions {
            parameters.push(("conditions", conditions.to_string()));
        }
        if let Some(conditions) = &self.child_conditions {
            parameters.push(("childConditions", conditions.to_string()));
        }
        if let Some(conditions) = &self.custom_field_conditions {
            parameters.push(("customFieldConditions", conditions.to_string()));
        }
        if let (true, Some(order_by)) = (include_order, &self.order_by) {
            parameters.push(("orderBy", order_by.clone()));
        }
        if let Some(fields) = &self.fields {
            let mut fields = fields.clone();
            if !fields.iter().any(|field| field == "id") {
                fields.insert(0, "id".to_owned());
            }
            parameters.push(("fields", fields.join(",")));
        }
        parameters.push(("pageSize", self.effective_page_size().to_string()));
        parameters
    }
}

/// Joins parameters into a query string, each value percent-encoded once.
pub(crate) fn query_string(parameters: &[(&str, String)]) -> String {
    parameters
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_query_value(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Finds the `rel="next"` target in a `Link` header, resolved against the URL that was
/// requested. The target is otherwise taken exactly as given.
pub(crate) fn next_link(header: &str, requested: &Url) -> Option<Url> {
    for part in split_link_values(header) {
        let part = part.trim();
        let Some(end) = part.find('>') else {
            continue;
        };
        let Some(target) = part[..end].trim().strip_prefix('<') else {
            continue;
        };
        let is_next = part[end + 1..].split(';').any(|parameter| {
            let Some((name, value)) = parameter.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return requested.join(target).ok();
        }
    }
    None
}

/// Splits a `Link` header into its comma-separated values, ignoring commas inside `<…>` and
/// quoted strings (a URL's query may contain commas, as in `fields=id,name`).
fn split_link_values(header: &str) -> Vec<&str> {
    let mut values = Vec::new();
    let mut depth_angle = false;
    let mut in_quotes = false;
    let mut start = 0;
    for (index, c) in header.char_indices() {
        match c {
            '<' if !in_quotes => depth_angle = true,
            '>' if !in_quotes => depth_angle = false,
            '"' if !depth_angle => in_quotes = !in_quotes,
            ',' if !depth_angle && !in_quotes => {
                values.push(&header[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    values.push(&header[start..]);
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Field;

    fn base() -> Url {
        Url::parse("https://cw.example.com/v2025_1/apis/3.0/company/companies?pageSize=3").unwrap()
    }

    #[test]
    fn hostile_values_survive_a_round_trip_through_url_parsing() {
        let hostile = r#"Bob's "Best" & Sons + 100% #1 = Société 東京 a\b"#;
        let conditions = Field::new("name").eq(hostile);
        let query = ListQuery::filter(conditions.clone());

        let mut url = base();
        url.set_query(Some(&query_string(&query.parameters(true))));
        let reparsed = Url::parse(url.as_str()).unwrap();
        let decoded: Vec<(String, String)> = reparsed.query_pairs().into_owned().collect();

        assert_eq!(
            decoded[0],
            ("conditions".to_owned(), conditions.to_string())
        );
        assert_eq!(decoded[1], ("pageSize".to_owned(), "1000".to_owned()));
        let raw = reparsed.query().unwrap();
        for forbidden in ['+', '"', '\'', '#', ' '] {
            assert!(!raw.contains(forbidden), "{forbidden:?} left raw in {raw}");
        }
        assert_eq!(raw.matches('&').count(), 1, "{raw}");
        assert_eq!(raw.matches('=').count(), 2, "{raw}");
    }

    #[test]
    fn encoding_happens_exactly_once() {
        assert_eq!(encode_query_value("100%"), "100%25");
        assert_eq!(encode_query_value("a+b c"), "a%2Bb%20c");
        assert_eq!(encode_query_value("é"), "%C3%A9");
        assert_eq!(encode_query_value("%25"), "%2525");
    }

    #[test]
    fn parameters_keep_order_add_id_to_fields_and_clamp_page_size() {
        let query = ListQuery {
            order_by: Some("name asc".to_owned()),
            fields: Some(vec!["name".to_owned()]),
            page_size: Some(5000),
            custom_field_conditions: Some(
                Field::new("caption")
                    .eq("External Id")
                    .and(Field::new("value").eq("vc-01")),
            ),
            ..ListQuery::default()
        };

        assert_eq!(
            query.parameters(true),
            vec![
                (
                    "customFieldConditions",
                    r#"caption = "External Id" and value = "vc-01""#.to_owned()
                ),
                ("orderBy", "name asc".to_owned()),
                ("fields", "id,name".to_owned()),
                ("pageSize", "1000".to_owned()),
            ]
        );
        assert_eq!(query.parameters(false).len(), 3);
        assert_eq!(
            ListQuery {
                page_size: Some(0),
                ..ListQuery::default()
            }
            .effective_page_size(),
            1
        );
    }

    #[test]
    fn the_next_link_is_taken_exactly_as_given() {
        let page = |n: u32| {
            format!(
                "https://cw.example.com/v2025_1/apis/3.0/company/companies\
                 ?conditions=name%20like%20%22A%25%22&fields=id,name&pageSize=3&page={n}"
            )
        };
        let header = format!(
            r#"<{}>; rel="first", <{}>; rel="next", <https://cw.example.com/x?page=9>; rel="last""#,
            page(1),
            page(3)
        );

        let next = next_link(&header, &base()).unwrap();

        assert_eq!(next.as_str(), page(3));
    }

    #[test]
    fn a_header_without_next_ends_paging() {
        let header = concat!(
            r#"<https://cw.example.com/x?page=1>; rel="first", "#,
            r#"<https://cw.example.com/x?page=2>; rel="prev""#
        );

        assert_eq!(next_link(header, &base()), None);
        assert_eq!(next_link("", &base()), None);
        assert_eq!(next_link("garbage", &base()), None);
    }

    #[test]
    fn relative_and_unquoted_next_links_resolve_against_the_request() {
        let next = next_link(
            "</v2025_1/apis/3.0/company/companies?pageId=42>; rel=next",
            &base(),
        )
        .unwrap();

        assert_eq!(
            next.as_str(),
            "https://cw.example.com/v2025_1/apis/3.0/company/companies?pageId=42"
        );
    }
}
