//! What to grant in ConnectWise when the API member's security role refuses a call.

use hyalto_connectwise::Error;

/// A ConnectWise error in words that say what to do; a refused permission names the security
/// role setting to grant.
pub fn describe(error: &Error) -> String {
    match error {
        Error::PermissionDenied {
            method,
            path,
            request_id,
            ..
        } => {
            let request = request_id
                .as_deref()
                .map(|id| format!(" [request id {id}]"))
                .unwrap_or_default();
            format!(
                "the API member's security role does not allow {method} {path}{request}: grant \
                 {} to its role in ConnectWise (System › Security Roles), then try again",
                right_for(path)
            )
        }
        other => other.to_string(),
    }
}

/// The security role setting that allows `path`, in the words of ConnectWise's Security Roles
/// screen.
///
/// FIXME(#3): the module and setting names follow ConnectWise's documentation of security
/// roles; they have not been checked against every release's screen.
pub fn right_for(path: &str) -> &'static str {
    let rights: [(&str, &str); 8] = [
        (
            "/finance/agreements/types",
            "System › Table Setup: Inquire Level All (agreement types)",
        ),
        (
            "/additions",
            "Finance › Agreements: Inquire, Add and Edit Level All (agreement additions)",
        ),
        (
            "/finance/agreements",
            "Finance › Agreements: Inquire, Add and Edit Level All",
        ),
        (
            "/finance/billingCycles",
            "System › Table Setup: Inquire Level All (billing cycles)",
        ),
        (
            "/company/contacts",
            "Companies › Contacts: Inquire Level All",
        ),
        (
            "/company/companies",
            "Companies › Company Maintenance: Inquire Level All",
        ),
        (
            "/procurement",
            "Procurement › Product Catalog: Inquire Level All (and Add for --create-missing)",
        ),
        ("/system", "System › System: Inquire Level All"),
    ];
    rights
        .iter()
        .find(|(prefix, _)| path.contains(prefix))
        .map(|(_, right)| *right)
        .unwrap_or("the access to this endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_route_names_the_right() {
        assert!(right_for("/finance/agreements/types").contains("agreement types"));
        assert!(right_for("/finance/agreements/{id}/additions").contains("additions"));
        assert!(right_for("/finance/agreements").starts_with("Finance › Agreements"));
        assert!(right_for("/procurement/catalog").contains("Product Catalog"));
    }
}
