//! List parameters (`conditions`, `orderBy`, `fields`, `page`, `pageSize`, `pageId`) and the
//! `Link` header of both paging modes.
//!
//! Link URLs keep every other query parameter exactly as the client sent it (still
//! percent-encoded) and put the paging parameter last, because some clients read the page number
//! as the digits right before the closing `>`.

use serde_json::Value;

/// The page size when the client sends none.
pub const DEFAULT_PAGE_SIZE: usize = 25;

/// The largest page ConnectWise serves; larger requests are clamped silently.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The list parameters of one request, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `conditions`, when present and not empty.
    pub conditions: Option<String>,
    /// `childConditions`, when present and not empty (not supported by the sandbox).
    pub child_conditions: Option<String>,
    /// `customFieldConditions`, when present and not empty (not supported by the sandbox).
    pub custom_field_conditions: Option<String>,
    /// `orderBy`, when present and not empty.
    pub order_by: Option<String>,
    /// `fields`, when present and not empty.
    pub fields: Option<String>,
    /// The 1-based page number.
    pub page: usize,
    /// The page size after clamping.
    pub page_size: usize,
    /// `pageId` of forward-only paging: rows with a greater id follow.
    pub page_id: Option<i64>,
}

/// Decodes the list parameters of a raw query string. Parameter names are matched
/// case-insensitively; unknown parameters are ignored.
pub fn parse_params(raw_query: Option<&str>) -> Result<ListParams, String> {
    let mut params = ListParams {
        page: 1,
        page_size: DEFAULT_PAGE_SIZE,
        ..ListParams::default()
    };

    let pairs = url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes());
    for (name, value) in pairs {
        let value = value.trim();
        let text = (!value.is_empty()).then(|| value.to_owned());
        match name.to_ascii_lowercase().as_str() {
            "conditions" => params.conditions = text,
            "childconditions" => params.child_conditions = text,
            "customfieldconditions" => params.custom_field_conditions = text,
            "orderby" => params.order_by = text,
            "fields" => params.fields = text,
            "page" if text.is_some() => params.page = page_number(value)?,
            "pagesize" if text.is_some() => {
                params.page_size = positive(&name, value)?.min(MAX_PAGE_SIZE);
            }
            "pageid" if text.is_some() => {
                let page_id = value
                    .parse::<i64>()
                    .map_err(|_| format!("pageId must be a whole number, got {value:?}"))?;
                params.page_id = Some(page_id);
            }
            _ => {}
        }
    }

    Ok(params)
}

/// The largest page number: ConnectWise reads `page` as a 32-bit signed integer.
pub const MAX_PAGE: usize = i32::MAX as usize;

/// A page number from 1 to [`MAX_PAGE`]; unlike a page size, a page number too large to
/// represent is refused rather than clamped, since no clamped value means what was asked.
fn page_number(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(page) if (1..=MAX_PAGE).contains(&page) => Ok(page),
        _ => Err(format!(
            "page must be a whole number from 1 to {MAX_PAGE}, got {value:?}"
        )),
    }
}

fn positive(name: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(number) if number >= 1 => Ok(number),
        // A page size beyond what usize holds is still just "more than the maximum".
        Err(_) if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => Ok(usize::MAX),
        _ => Err(format!(
            "{name} must be a whole number of at least 1, got {value:?}"
        )),
    }
}

/// One page of a navigable (page-number) list.
#[derive(Debug)]
pub struct Page {
    /// The rows of the requested page.
    pub rows: Vec<Value>,
    /// The `Link` header, when there is more than one page.
    pub link: Option<String>,
}

/// Cuts page `page` out of `rows` and builds its `first`/`prev`/`next`/`last` links.
///
/// `base` is the absolute URL of the request without its query (`http://host/path`).
pub fn navigable_page(
    rows: Vec<Value>,
    page: usize,
    page_size: usize,
    base: &str,
    raw_query: Option<&str>,
) -> Page {
    let total = rows.len();
    let last = total.div_ceil(page_size).max(1);

    let start = page.saturating_sub(1).saturating_mul(page_size);
    let page_rows: Vec<Value> = rows.into_iter().skip(start).take(page_size).collect();

    let mut links = Vec::new();
    if page > 1 {
        links.push(link(base, raw_query, "page", 1, "first"));
        links.push(link(
            base,
            raw_query,
            "page",
            (page - 1).min(last) as i64,
            "prev",
        ));
    }
    if page < last {
        links.push(link(base, raw_query, "page", page as i64 + 1, "next"));
        links.push(link(base, raw_query, "page", last as i64, "last"));
    }

    Page {
        rows: page_rows,
        link: (!links.is_empty()).then(|| links.join(", ")),
    }
}

/// One page of a forward-only list: the first `page_size` rows whose id is greater than
/// `page_id`, in id order, with a `next` link only while more rows follow.
pub fn forward_only_page(
    mut rows: Vec<Value>,
    page_id: Option<i64>,
    page_size: usize,
    base: &str,
    raw_query: Option<&str>,
) -> Page {
    let after = page_id.unwrap_or(i64::MIN);
    rows.retain(|row| record_id(row).is_some_and(|id| id > after));
    rows.sort_by_key(|row| record_id(row).unwrap_or(i64::MIN));

    let more = rows.len() > page_size;
    rows.truncate(page_size);

    let link = match rows.last().and_then(record_id) {
        Some(last_id) if more => Some(link(base, raw_query, "pageId", last_id, "next")),
        _ => None,
    };

    Page { rows, link }
}

/// The `id` of a record, when it has a numeric one.
pub fn record_id(record: &Value) -> Option<i64> {
    record.get("id").and_then(Value::as_i64)
}

/// One `<url>; rel="..."` entry: the query as received without the parameter `name`, then
/// `name=value` last.
///
/// Only the parameter being set is replaced; every other one is kept, the other paging mode's
/// parameter included (the server ignores it), so a client that follows the link sends exactly
/// what it sent before.
fn link(base: &str, raw_query: Option<&str>, name: &str, value: i64, rel: &str) -> String {
    let mut parts: Vec<&str> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            !key.eq_ignore_ascii_case(name)
        })
        .collect();
    let paging = format!("{name}={value}");
    parts.push(&paging);

    format!("<{base}?{}>; rel=\"{rel}\"", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(count: i64) -> Vec<Value> {
        (1..=count).map(|id| json!({ "id": id })).collect()
    }

    #[test]
    fn defaults_apply_when_no_paging_parameters_are_sent() {
        let params = parse_params(None).unwrap();

        assert_eq!(params.page, 1);
        assert_eq!(params.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(params.conditions, None);
    }

    #[test]
    fn a_page_size_above_the_maximum_is_clamped() {
        let params = parse_params(Some("pageSize=5000")).unwrap();
        let huge = parse_params(Some("pagesize=99999999999999999999999")).unwrap();

        assert_eq!(params.page_size, MAX_PAGE_SIZE);
        assert_eq!(huge.page_size, MAX_PAGE_SIZE);
    }

    #[test]
    fn a_page_number_too_large_to_represent_is_refused() {
        let largest = parse_params(Some("page=2147483647")).unwrap();

        assert_eq!(largest.page, MAX_PAGE);
        assert!(parse_params(Some("page=2147483648")).is_err());
        assert!(parse_params(Some("page=18446744073709551616")).is_err());
    }

    #[test]
    fn page_zero_and_non_numbers_are_refused() {
        assert!(parse_params(Some("page=0")).is_err());
        assert!(parse_params(Some("pageSize=ten")).is_err());
        assert!(parse_params(Some("pageId=x")).is_err());
    }

    #[test]
    fn parameter_names_are_case_insensitive_and_values_decoded() {
        let params = parse_params(Some(
            "Conditions=name%20like%20%22A%25%22&ORDERBY=name+desc",
        ))
        .unwrap();

        assert_eq!(params.conditions.as_deref(), Some("name like \"A%\""));
        assert_eq!(params.order_by.as_deref(), Some("name desc"));
    }

    #[test]
    fn a_middle_page_links_every_direction_with_page_last() {
        let page = navigable_page(
            rows(10),
            2,
            3,
            "http://h/p",
            Some("page=2&conditions=a%3D1&pageSize=3"),
        );

        let link = page.link.unwrap();
        assert_eq!(
            page.rows,
            vec![json!({"id": 4}), json!({"id": 5}), json!({"id": 6})]
        );
        assert_eq!(
            link,
            "<http://h/p?conditions=a%3D1&pageSize=3&page=1>; rel=\"first\", \
             <http://h/p?conditions=a%3D1&pageSize=3&page=1>; rel=\"prev\", \
             <http://h/p?conditions=a%3D1&pageSize=3&page=3>; rel=\"next\", \
             <http://h/p?conditions=a%3D1&pageSize=3&page=4>; rel=\"last\""
        );
    }

    #[test]
    fn a_single_page_has_no_link_header() {
        let page = navigable_page(rows(3), 1, 25, "http://h/p", None);

        assert_eq!(page.rows.len(), 3);
        assert_eq!(page.link, None);
    }

    #[test]
    fn forward_only_links_to_the_next_page_id_while_rows_remain() {
        let first = forward_only_page(rows(5), None, 2, "http://h/p", Some("pageSize=2"));
        let last = forward_only_page(rows(5), Some(4), 2, "http://h/p", Some("pageSize=2"));

        assert_eq!(
            first.link.as_deref(),
            Some("<http://h/p?pageSize=2&pageId=2>; rel=\"next\"")
        );
        assert_eq!(last.rows, vec![json!({"id": 5})]);
        assert_eq!(last.link, None);
    }

    #[test]
    fn links_replace_only_their_own_paging_parameter() {
        let navigable = navigable_page(
            rows(4),
            1,
            2,
            "http://h/p",
            Some("pageId=9&PAGE=1&pageSize=2"),
        );
        let forward = forward_only_page(rows(4), Some(1), 2, "http://h/p", Some("page=3&pageid=1"));

        assert_eq!(
            navigable.link.as_deref(),
            Some(
                "<http://h/p?pageId=9&pageSize=2&page=2>; rel=\"next\", \
                 <http://h/p?pageId=9&pageSize=2&page=2>; rel=\"last\""
            )
        );
        assert_eq!(
            forward.link.as_deref(),
            Some("<http://h/p?page=3&pageId=3>; rel=\"next\"")
        );
    }

    #[test]
    fn forward_only_without_more_rows_after_a_full_page_has_no_next() {
        let page = forward_only_page(rows(4), Some(2), 2, "http://h/p", None);

        assert_eq!(page.rows.len(), 2);
        assert_eq!(page.link, None);
    }
}
