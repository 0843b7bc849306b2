//! What to grant in ConnectWise when the API member's security role refuses a call.
//!
//! A refusal names what is certain: the method and API path ConnectWise refused, the module of
//! the Security Roles screen that governs that path, and the access level the method needs
//! (Inquire for reads, Add for creates, Edit for changes, Delete for deletions). The name of the
//! setting inside the module is given only as a hint, because ConnectWise renames and regroups
//! those settings between releases while the modules stay put.

use std::fmt;

use hyalto_connectwise::Error;

/// A ConnectWise error in words that say what to do; a refused permission names the call, the
/// security module and the access level to grant.
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
                "the API member's security role refused {method} {path}{request}: {}, then try \
                 again",
                Right::for_call(method.as_str(), path)
            )
        }
        other => other.to_string(),
    }
}

/// Where a security role decides about one API call: a module of ConnectWise's Security Roles
/// screen, the records inside it, and the access level the method needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Right {
    /// The module of the Security Roles screen, such as `Finance`.
    pub module: Option<&'static str>,
    /// The records the call touches, as a hint to the setting inside the module.
    pub records: &'static str,
    /// The access level the method needs: Inquire, Add, Edit or Delete.
    pub level: &'static str,
}

impl Right {
    /// The right that governs the HTTP `method` (such as `POST`) on `path` (a path or a route
    /// template).
    pub fn for_call(method: &str, path: &str) -> Right {
        // The most specific prefix comes first: agreement types are set-up tables, not
        // agreements, although their path starts with the agreements' path.
        const MODULES: [(&str, &str, &str); 8] = [
            (
                "/finance/agreements/types",
                "System",
                "set-up tables (agreement types)",
            ),
            ("/additions", "Finance", "agreements (their additions)"),
            ("/finance/agreements", "Finance", "agreements"),
            (
                "/finance/billingCycles",
                "System",
                "set-up tables (billing cycles)",
            ),
            ("/company/contacts", "Companies", "contacts"),
            ("/company/companies", "Companies", "companies"),
            ("/procurement", "Procurement", "the product catalog"),
            ("/system", "System", "system information"),
        ];

        let level = match method.to_ascii_uppercase().as_str() {
            "POST" => "Add",
            "PATCH" | "PUT" => "Edit",
            "DELETE" => "Delete",
            _ => "Inquire",
        };
        let (module, records) = MODULES
            .iter()
            .find(|(prefix, _, _)| path.contains(prefix))
            .map_or(
                (None, "the records of this path"),
                |(_, module, records)| (Some(*module), *records),
            );

        Right {
            module,
            records,
            level,
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let module = self
            .module
            .map(|module| format!("its {module} module"))
            .unwrap_or_else(|| "the module that covers this path".to_owned());
        write!(
            f,
            "in ConnectWise open System › Security Roles, choose the API member's role, and in \
             {module} give {} the {} level (All)",
            self.records, self.level
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_are_governed_by_the_finance_module() {
        let right = Right::for_call("POST", "/finance/agreements/{id}/additions");

        assert_eq!(right.module, Some("Finance"));
        assert_eq!(right.level, "Add");
        assert!(right.records.contains("additions"));
    }

    #[test]
    fn agreement_types_are_set_up_tables_not_agreements() {
        let right = Right::for_call("GET", "/finance/agreements/types");

        assert_eq!(right.module, Some("System"));
        assert_eq!(right.level, "Inquire");
    }

    #[test]
    fn each_method_asks_for_its_own_level() {
        let levels: Vec<&str> = ["GET", "POST", "PATCH", "DELETE"]
            .iter()
            .map(|method| Right::for_call(method, "/finance/agreements/{id}").level)
            .collect();

        assert_eq!(levels, ["Inquire", "Add", "Edit", "Delete"]);
    }

    #[test]
    fn an_unknown_path_still_names_the_security_roles_screen() {
        let text = Right::for_call("GET", "/service/tickets").to_string();

        assert!(text.contains("System › Security Roles"), "{text}");
        assert!(text.contains("the module that covers this path"), "{text}");
        assert!(text.contains("Inquire"), "{text}");
    }
}
