//! The route table of `/{codebase}apis/3.0`: which templates exist, which collection each one
//! serves and which methods it allows.
//!
//! Routing is done here rather than by axum's router because the codebase prefix changes at
//! run time, and because statistics, security roles and fault rules all work on the route
//! template, which must be known before a handler runs.

use std::sync::LazyLock;

use axum::http::Method;

use crate::store::Collection;

/// The template of the unauthenticated company lookup, as statistics name it.
pub const COMPANY_INFO_TEMPLATE: &str = "/login/companyinfo/{companyId}";

/// The template statistics use for a path that matches no route.
pub const UNMATCHED_TEMPLATE: &str = "(unmatched)";

/// What a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /system/info`.
    SystemInfo,
    /// A collection: GET lists, POST creates.
    List(Collection),
    /// `{collection}/count`.
    Count(Collection),
    /// One record: GET, PATCH, PUT, DELETE.
    Item(Collection),
}

/// A path matched against the route table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    /// The route template, e.g. `/finance/agreements/{id}/additions/{additionId}`.
    pub template: &'static str,
    /// What the route serves.
    pub endpoint: Endpoint,
    /// The agreement id of an additions route.
    pub parent: Option<i64>,
    /// The record id of an item route.
    pub id: Option<i64>,
}

impl Matched {
    /// Whether `method` is served on this route; any other known method answers 405.
    pub fn allows(&self, method: &Method) -> bool {
        allowed_methods(self.endpoint).contains(method)
    }
}

/// The methods a route answers, for the `Allow` header of a 405.
pub fn allowed_methods(endpoint: Endpoint) -> Vec<Method> {
    match endpoint {
        Endpoint::SystemInfo | Endpoint::Count(_) => vec![Method::GET],
        Endpoint::List(collection) if collection.is_writable() => {
            vec![Method::GET, Method::POST]
        }
        Endpoint::Item(collection) if collection.is_writable() => {
            vec![Method::GET, Method::PATCH, Method::PUT, Method::DELETE]
        }
        Endpoint::List(_) | Endpoint::Item(_) => vec![Method::GET],
    }
}

struct Route {
    template: &'static str,
    segments: Vec<&'static str>,
    endpoint: Endpoint,
}

/// Every collection, by the template of its list route.
const COLLECTIONS: [(&str, &str, &str, Collection); 12] = [
    (
        "/company/companies",
        "/company/companies/count",
        "/company/companies/{id}",
        Collection::Companies,
    ),
    (
        "/company/contacts",
        "/company/contacts/count",
        "/company/contacts/{id}",
        Collection::Contacts,
    ),
    (
        "/finance/agreements/types",
        "/finance/agreements/types/count",
        "/finance/agreements/types/{id}",
        Collection::AgreementTypes,
    ),
    (
        "/finance/agreements/{id}/additions",
        "/finance/agreements/{id}/additions/count",
        "/finance/agreements/{id}/additions/{additionId}",
        Collection::Additions,
    ),
    (
        "/finance/agreements",
        "/finance/agreements/count",
        "/finance/agreements/{id}",
        Collection::Agreements,
    ),
    (
        "/finance/billingCycles",
        "/finance/billingCycles/count",
        "/finance/billingCycles/{id}",
        Collection::BillingCycles,
    ),
    (
        "/procurement/catalog",
        "/procurement/catalog/count",
        "/procurement/catalog/{id}",
        Collection::Catalog,
    ),
    (
        "/procurement/types",
        "/procurement/types/count",
        "/procurement/types/{id}",
        Collection::ProductTypes,
    ),
    (
        "/procurement/subcategories",
        "/procurement/subcategories/count",
        "/procurement/subcategories/{id}",
        Collection::Subcategories,
    ),
    (
        "/procurement/unitOfMeasures",
        "/procurement/unitOfMeasures/count",
        "/procurement/unitOfMeasures/{id}",
        Collection::UnitsOfMeasure,
    ),
    (
        "/system/locations",
        "/system/locations/count",
        "/system/locations/{id}",
        Collection::Locations,
    ),
    (
        "/system/departments",
        "/system/departments/count",
        "/system/departments/{id}",
        Collection::Departments,
    ),
];

static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let mut routes = vec![route("/system/info", Endpoint::SystemInfo)];
    for (list, count, item, collection) in COLLECTIONS {
        routes.push(route(list, Endpoint::List(collection)));
        routes.push(route(count, Endpoint::Count(collection)));
        routes.push(route(item, Endpoint::Item(collection)));
    }
    routes
});

fn route(template: &'static str, endpoint: Endpoint) -> Route {
    Route {
        template,
        segments: template.split('/').filter(|s| !s.is_empty()).collect(),
        endpoint,
    }
}

fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Matches a path below `apis/3.0` (e.g. `/finance/agreements/12`) against the route table.
///
/// Literal segments compare case-insensitively, as on ConnectWise's IIS servers; a
/// placeholder matches a whole number only.
pub fn match_path(path: &str) -> Option<Matched> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    ROUTES.iter().find_map(|route| {
        if route.segments.len() != segments.len() {
            return None;
        }

        let mut numbers = Vec::new();
        for (wanted, actual) in route.segments.iter().zip(&segments) {
            if is_placeholder(wanted) {
                numbers.push(actual.parse::<i64>().ok()?);
            } else if !wanted.eq_ignore_ascii_case(actual) {
                return None;
            }
        }

        let (parent, id) = match (route.endpoint, numbers.as_slice()) {
            (Endpoint::List(Collection::Additions) | Endpoint::Count(_), [parent]) => {
                (Some(*parent), None)
            }
            (Endpoint::Item(Collection::Additions), [parent, id]) => (Some(*parent), Some(*id)),
            (_, [id]) => (None, Some(*id)),
            _ => (None, None),
        };

        Some(Matched {
            template: route.template,
            endpoint: route.endpoint,
            parent,
            id,
        })
    })
}

/// The methods served on the route that `template` names (whatever its placeholder names),
/// including the unauthenticated company lookup; `None` when no route has this template.
pub fn methods_of_template(template: &str) -> Option<Vec<Method>> {
    if same_template(template, COMPANY_INFO_TEMPLATE) {
        return Some(vec![Method::GET]);
    }
    ROUTES
        .iter()
        .find(|route| same_template(route.template, template))
        .map(|route| allowed_methods(route.endpoint))
}

/// Every route template the sandbox serves: the company lookup, then the routes below
/// `apis/3.0`, for error messages that list them.
pub fn templates() -> Vec<&'static str> {
    let mut templates = vec![COMPANY_INFO_TEMPLATE];
    templates.extend(ROUTES.iter().map(|route| route.template));
    templates
}

/// Whether `template` names one of the routes below `apis/3.0`, whatever its placeholder names.
pub fn is_known_template(template: &str) -> bool {
    ROUTES
        .iter()
        .any(|route| same_template(route.template, template))
}

/// Whether two route templates name the same route: literal segments compare
/// case-insensitively, placeholders match whatever their names, and leading or trailing
/// slashes do not matter.
pub fn same_template(a: &str, b: &str) -> bool {
    let left: Vec<&str> = a.trim().split('/').filter(|s| !s.is_empty()).collect();
    let right: Vec<&str> = b.trim().split('/').filter(|s| !s.is_empty()).collect();

    left.len() == right.len()
        && left
            .iter()
            .zip(&right)
            .all(|(l, r)| (is_placeholder(l) && is_placeholder(r)) || l.eq_ignore_ascii_case(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_templates_are_recognised_whatever_their_placeholder_names() {
        assert!(is_known_template(
            "/finance/agreements/{agreementId}/additions"
        ));
        assert!(is_known_template("/Company/Companies/{x}"));
        assert!(!is_known_template("/finance/agreement/{id}"));
        assert!(!is_known_template("/system/bundles"));
    }

    #[test]
    fn an_addition_item_carries_its_agreement_and_its_own_id() {
        let matched = match_path("/finance/agreements/12/additions/7").unwrap();

        assert_eq!(
            matched.template,
            "/finance/agreements/{id}/additions/{additionId}"
        );
        assert_eq!(matched.endpoint, Endpoint::Item(Collection::Additions));
        assert_eq!(matched.parent, Some(12));
        assert_eq!(matched.id, Some(7));
    }

    #[test]
    fn agreement_types_are_not_mistaken_for_an_agreement_id() {
        let types = match_path("/finance/agreements/types").unwrap();
        let count = match_path("/finance/agreements/count").unwrap();
        let item = match_path("/finance/agreements/42").unwrap();

        assert_eq!(types.endpoint, Endpoint::List(Collection::AgreementTypes));
        assert_eq!(count.endpoint, Endpoint::Count(Collection::Agreements));
        assert_eq!(item.id, Some(42));
    }

    #[test]
    fn additions_count_keeps_the_agreement_id() {
        let matched = match_path("/finance/agreements/5/additions/count").unwrap();

        assert_eq!(matched.endpoint, Endpoint::Count(Collection::Additions));
        assert_eq!(matched.parent, Some(5));
    }

    #[test]
    fn literal_segments_match_case_insensitively() {
        let matched = match_path("/Procurement/UnitOfMeasures").unwrap();

        assert_eq!(matched.endpoint, Endpoint::List(Collection::UnitsOfMeasure));
    }

    #[test]
    fn a_non_numeric_id_or_unknown_path_matches_nothing() {
        assert_eq!(match_path("/company/companies/abc"), None);
        assert_eq!(match_path("/service/tickets"), None);
    }

    #[test]
    fn templates_compare_whatever_their_placeholder_names() {
        assert!(same_template(
            "/finance/agreements/{agreementId}/additions/",
            "/finance/agreements/{id}/additions"
        ));
        assert!(!same_template(
            "/finance/agreements/{id}",
            "/finance/agreements"
        ));
        assert!(!same_template(
            "/finance/agreements/{id}",
            "/finance/agreements/types"
        ));
    }
}
