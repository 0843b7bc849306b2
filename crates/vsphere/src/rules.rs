//! Which customer owns a virtual machine.
//!
//! Rules are tried in the order written and the first that matches decides. A VM that no rule
//! matches is unassigned: it stays in the snapshot, billed to nobody, and is listed in the
//! collection's report. In TOML:
//!
//! ```toml
//! [[rules]]
//! folder = "/DC0/vm/Customers/Acme"   # the VM's folder is this one or below it
//! customer = "acme"
//! name = "Acme Corporation"           # optional; the customer's readable name
//!
//! [[rules]]
//! resource_pool = "initech"           # a pool name, or a full path starting with /
//! customer = "initech"
//!
//! [[rules]]
//! attribute = "Customer"              # the custom attribute's value is the customer id
//! ```

use std::collections::BTreeMap;

use hyalto_domain::{CustomerId, IdError};
use serde::Deserialize;

use crate::error::Error;

/// The ordered ownership rules of one vCenter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct OwnershipRules(pub Vec<Rule>);

/// One ownership rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawRule")]
pub enum Rule {
    /// VMs in this folder or below it belong to `customer`. The path is the inventory path
    /// from the datacenter down, such as `/DC0/vm/Customers/Acme`.
    Folder {
        /// The folder's inventory path, without a trailing `/`.
        path: String,
        /// The owner.
        customer: CustomerId,
        /// The owner's readable name, if given.
        name: Option<String>,
    },
    /// VMs in this resource pool (or vApp) belong to `customer`.
    ResourcePool {
        /// A pool name, or, when it starts with `/`, a full pool path such as
        /// `/DC0/host/Cluster1/Resources/acme`, which also matches pools below it.
        pool: String,
        /// The owner.
        customer: CustomerId,
        /// The owner's readable name, if given.
        name: Option<String>,
    },
    /// The value of this custom attribute is the id of the customer that owns the VM. A VM
    /// whose value is empty does not match.
    Attribute {
        /// The custom attribute's name, compared exactly.
        attribute: String,
    },
}

/// A rule as written in TOML, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    folder: Option<String>,
    resource_pool: Option<String>,
    attribute: Option<String>,
    customer: Option<String>,
    name: Option<String>,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Rule, String> {
        let customer = |customer: Option<String>, what: &str| match customer {
            None => Err(format!(
                "a {what} rule needs `customer = \"…\"`, the id of the customer who owns its VMs"
            )),
            Some(id) => CustomerId::new(id.clone())
                .map_err(|error| format!("the customer id {id:?} is not usable: {error}")),
        };
        let kinds = [&raw.folder, &raw.resource_pool, &raw.attribute]
            .iter()
            .filter(|kind| kind.is_some())
            .count();
        if kinds != 1 {
            return Err(
                "each rule needs exactly one of `folder`, `resource_pool` or \
                        `attribute`; write one rule per [[rules]] table"
                    .to_owned(),
            );
        }

        if let Some(folder) = raw.folder {
            let path = folder.trim_end_matches('/').to_owned();
            if !path.starts_with('/') {
                return Err(format!(
                    "the folder {folder:?} is not a full path; write it from the datacenter \
                     down, such as \"/DC0/vm/Customers/Acme\""
                ));
            }
            return Ok(Rule::Folder {
                path,
                customer: customer(raw.customer, "folder")?,
                name: raw.name,
            });
        }
        if let Some(pool) = raw.resource_pool {
            let pool = pool.trim_end_matches('/').to_owned();
            if pool.is_empty() {
                return Err("the resource pool is empty; write its name or full path".to_owned());
            }
            return Ok(Rule::ResourcePool {
                pool,
                customer: customer(raw.customer, "resource_pool")?,
                name: raw.name,
            });
        }

        let attribute = raw.attribute.unwrap_or_default();
        if raw.customer.is_some() || raw.name.is_some() {
            return Err(format!(
                "the attribute rule for {attribute:?} takes the customer from the attribute's \
                 value; remove `customer` and `name` from it"
            ));
        }
        if attribute.trim().is_empty() {
            return Err(
                "the attribute name is empty; write the custom attribute's name, such \
                        as \"Customer\""
                    .to_owned(),
            );
        }
        Ok(Rule::Attribute { attribute })
    }
}

/// A rules file: `[[rules]]` tables, in the order they are tried.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: OwnershipRules,
}

impl OwnershipRules {
    /// Reads rules written as TOML `[[rules]]` tables (see the module documentation). An empty
    /// text gives no rules, so every VM is unassigned. `origin` names the text in errors,
    /// such as the file it came from.
    pub fn from_toml(text: &str, origin: &str) -> Result<OwnershipRules, Error> {
        toml::from_str::<RulesFile>(text)
            .map(|file| file.rules)
            .map_err(|error| Error::Config {
                message: format!(
                    "the ownership rules in {origin} cannot be used: {}; write each rule as a \
                     [[rules]] table (docs/vsphere.md, \"Who owns a VM\")",
                    error.to_string().trim_end()
                ),
            })
    }
}

/// What the rules look at on one virtual machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement<'a> {
    pub(crate) folder_path: Option<&'a str>,
    pub(crate) pool_name: Option<&'a str>,
    pub(crate) pool_path: Option<&'a str>,
    pub(crate) attributes: &'a BTreeMap<String, String>,
}

/// The outcome of the rules for one virtual machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Rule number `rule` (from 0) matched.
    Owned {
        customer: CustomerId,
        name: Option<String>,
        rule: usize,
    },
    /// An attribute rule matched a value that is not a usable customer id; the VM stays
    /// unassigned and the problem is reported.
    BadAttribute {
        attribute: String,
        value: String,
        error: IdError,
    },
    /// No rule matched.
    Unassigned,
}

impl OwnershipRules {
    /// Applies the rules to one VM: the first rule that matches decides.
    pub(crate) fn owner(&self, placement: Placement<'_>) -> Ownership {
        for (index, rule) in self.0.iter().enumerate() {
            let owned = |customer: &CustomerId, name: &Option<String>| Ownership::Owned {
                customer: customer.clone(),
                name: name.clone(),
                rule: index,
            };
            match rule {
                Rule::Folder {
                    path,
                    customer,
                    name,
                } => {
                    if placement.folder_path.is_some_and(|f| is_within(f, path)) {
                        return owned(customer, name);
                    }
                }
                Rule::ResourcePool {
                    pool,
                    customer,
                    name,
                } => {
                    let matches = if pool.starts_with('/') {
                        placement.pool_path.is_some_and(|p| is_within(p, pool))
                    } else {
                        placement.pool_name == Some(pool.as_str())
                    };
                    if matches {
                        return owned(customer, name);
                    }
                }
                Rule::Attribute { attribute } => {
                    let Some(value) = placement.attributes.get(attribute) else {
                        continue;
                    };
                    if value.is_empty() {
                        continue;
                    }
                    return match CustomerId::new(value.clone()) {
                        Ok(customer) => Ownership::Owned {
                            customer,
                            name: None,
                            rule: index,
                        },
                        Err(error) => Ownership::BadAttribute {
                            attribute: attribute.clone(),
                            value: value.clone(),
                            error,
                        },
                    };
                }
            }
        }
        Ownership::Unassigned
    }
}

/// Whether `path` is `prefix` or lies below it, comparing whole path components, so that
/// `/DC0/vm/acme2` is not inside `/DC0/vm/acme`.
fn is_within(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        rules: OwnershipRules,
    }

    fn rules(text: &str) -> Result<OwnershipRules, String> {
        toml::from_str::<File>(text)
            .map(|file| file.rules)
            .map_err(|error| error.to_string())
    }

    fn placement<'a>(
        folder: Option<&'a str>,
        pool: Option<(&'a str, &'a str)>,
        attributes: &'a BTreeMap<String, String>,
    ) -> Placement<'a> {
        Placement {
            folder_path: folder,
            pool_name: pool.map(|(name, _)| name),
            pool_path: pool.map(|(_, path)| path),
            attributes,
        }
    }

    fn customer(ownership: Ownership) -> Option<String> {
        match ownership {
            Ownership::Owned { customer, .. } => Some(customer.as_str().to_owned()),
            _ => None,
        }
    }

    #[test]
    fn the_three_kinds_of_rule_read_from_toml_in_the_order_written() {
        let rules = rules(
            r#"
            [[rules]]
            folder = "/DC0/vm/Acme/"
            customer = "acme"
            name = "Acme Corporation"

            [[rules]]
            resource_pool = "initech"
            customer = "initech"

            [[rules]]
            attribute = "Customer"
            "#,
        )
        .unwrap();

        assert_eq!(
            rules.0,
            vec![
                Rule::Folder {
                    path: "/DC0/vm/Acme".to_owned(),
                    customer: CustomerId::new("acme").unwrap(),
                    name: Some("Acme Corporation".to_owned()),
                },
                Rule::ResourcePool {
                    pool: "initech".to_owned(),
                    customer: CustomerId::new("initech").unwrap(),
                    name: None,
                },
                Rule::Attribute {
                    attribute: "Customer".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn a_rule_with_two_kinds_none_or_a_missing_customer_is_refused_saying_what_to_write() {
        for (text, expected) in [
            (
                "[[rules]]\nfolder = \"/a\"\nresource_pool = \"p\"\ncustomer = \"c\"",
                "exactly one of",
            ),
            ("[[rules]]\ncustomer = \"c\"", "exactly one of"),
            ("[[rules]]\nfolder = \"/a\"", "needs `customer"),
            (
                "[[rules]]\nfolder = \"vm/a\"\ncustomer = \"c\"",
                "not a full path",
            ),
            (
                "[[rules]]\nattribute = \"C\"\ncustomer = \"c\"",
                "remove `customer`",
            ),
            (
                "[[rules]]\nfolder = \"/a\"\ncustomer = \" c\"",
                "whitespace",
            ),
            (
                "[[rules]]\nfoldr = \"/a\"\ncustomer = \"c\"",
                "unknown field",
            ),
        ] {
            let error = rules(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_folder_rule_matches_the_folder_and_below_but_not_a_sibling_with_a_longer_name() {
        let rules = rules("[[rules]]\nfolder = \"/DC0/vm/acme\"\ncustomer = \"acme\"").unwrap();
        let none = BTreeMap::new();

        for (folder, owner) in [
            ("/DC0/vm/acme", Some("acme")),
            ("/DC0/vm/acme/web", Some("acme")),
            ("/DC0/vm/acme2", None),
            ("/DC0/vm", None),
        ] {
            let found = customer(rules.owner(placement(Some(folder), None, &none)));
            assert_eq!(found.as_deref(), owner, "{folder}");
        }
    }

    #[test]
    fn a_pool_rule_matches_by_name_or_by_full_path() {
        let rules = rules(
            "[[rules]]\nresource_pool = \"gold\"\ncustomer = \"a\"\n\
             [[rules]]\nresource_pool = \"/DC0/host/C0/Resources/b\"\ncustomer = \"b\"",
        )
        .unwrap();
        let none = BTreeMap::new();

        let by_name = placement(None, Some(("gold", "/DC0/host/C0/Resources/x/gold")), &none);
        let by_path = placement(None, Some(("web", "/DC0/host/C0/Resources/b/web")), &none);
        let neither = placement(None, Some(("web", "/DC0/host/C0/Resources/bb/web")), &none);

        assert_eq!(customer(rules.owner(by_name)).as_deref(), Some("a"));
        assert_eq!(customer(rules.owner(by_path)).as_deref(), Some("b"));
        assert_eq!(customer(rules.owner(neither)), None);
    }

    #[test]
    fn the_first_matching_rule_wins_and_an_empty_attribute_falls_through() {
        let rules = rules(
            "[[rules]]\nattribute = \"Customer\"\n\
             [[rules]]\nfolder = \"/DC0/vm\"\ncustomer = \"house\"",
        )
        .unwrap();
        let tagged = BTreeMap::from([("Customer".to_owned(), "acme".to_owned())]);
        let empty = BTreeMap::from([("Customer".to_owned(), String::new())]);

        let first = rules.owner(placement(Some("/DC0/vm"), None, &tagged));
        let second = rules.owner(placement(Some("/DC0/vm"), None, &empty));

        assert_eq!(
            first,
            Ownership::Owned {
                customer: CustomerId::new("acme").unwrap(),
                name: None,
                rule: 0
            }
        );
        assert_eq!(customer(second).as_deref(), Some("house"));
    }

    #[test]
    fn an_attribute_value_that_is_not_a_usable_id_is_reported_not_billed() {
        let rules = rules("[[rules]]\nattribute = \"Customer\"").unwrap();
        let bad = BTreeMap::from([("Customer".to_owned(), " acme".to_owned())]);

        let ownership = rules.owner(placement(None, None, &bad));

        assert!(
            matches!(ownership, Ownership::BadAttribute { ref value, .. } if value == " acme"),
            "{ownership:?}"
        );
    }

    #[test]
    fn a_vm_matching_no_rule_is_unassigned() {
        let rules = rules("[[rules]]\nfolder = \"/DC0/vm/acme\"\ncustomer = \"acme\"").unwrap();
        let none = BTreeMap::new();

        assert_eq!(
            rules.owner(placement(None, None, &none)),
            Ownership::Unassigned
        );
    }

    #[test]
    fn a_rules_file_reads_in_order_and_a_bad_rule_names_the_file() {
        let rules = OwnershipRules::from_toml(
            "[[rules]]\nfolder = \"/DC0/vm/acme\"\ncustomer = \"acme\"\n\n\
             [[rules]]\nattribute = \"Customer\"\n",
            "rules.toml",
        )
        .unwrap();
        let bad = OwnershipRules::from_toml("[[rules]]\nfolder = \"acme\"\n", "rules.toml")
            .unwrap_err()
            .to_string();
        let empty = OwnershipRules::from_toml("", "rules.toml").unwrap();

        assert_eq!(rules.0.len(), 2);
        assert!(matches!(rules.0[0], Rule::Folder { .. }));
        assert!(matches!(rules.0[1], Rule::Attribute { .. }));
        assert!(
            bad.contains("rules.toml") && bad.contains("[[rules]]"),
            "{bad}"
        );
        assert!(empty.0.is_empty());
    }
}
