//! Company mappings (customer → ConnectWise company and master agreement) and product mappings
//! (meter → catalog item).

use std::fmt;
use std::str::FromStr;

use hyalto_domain::{CustomerId, MeterKey};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How a changed quantity is written to ConnectWise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityChangeMode {
    /// PATCH the quantity of the existing addition.
    #[default]
    InPlace,
    /// Cancel the current addition the day before the change and add a new one effective on
    /// the change date.
    CancelAndReplace,
}

/// What a sync does when ConnectWise holds a quantity hyalto did not write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftPolicy {
    /// Write hyalto's quantity back.
    #[default]
    Overwrite,
    /// Leave ConnectWise as it is and report the difference.
    Report,
}

/// The error for a name that is not one of a fixed set of options.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a {what} (expected one of: {expected})")]
pub struct UnknownOption {
    /// What was being parsed.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The accepted names.
    pub expected: &'static str,
}

macro_rules! named_options {
    ($type:ident, $what:literal, $($variant:ident => $name:literal),+ $(,)?) => {
        impl $type {
            /// The snake_case name used in the database, the CLI and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownOption;

            fn from_str(text: &str) -> Result<$type, UnknownOption> {
                match text {
                    $($name => Ok($type::$variant),)+
                    _ => Err(UnknownOption {
                        what: $what,
                        value: text.to_owned(),
                        expected: concat!($($name, " "),+),
                    }),
                }
            }
        }
    };
}

named_options!(QuantityChangeMode, "quantity change mode",
    InPlace => "in_place", CancelAndReplace => "cancel_and_replace");
named_options!(DriftPolicy, "drift policy", Overwrite => "overwrite", Report => "report");

/// Per-customer choices about how the sync writes to ConnectWise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingOptions {
    /// How quantity changes are written; default in place.
    pub quantity_change: QuantityChangeMode,
    /// What to do about quantities edited in ConnectWise; default overwrite.
    pub drift: DriftPolicy,
    /// Whether records hyalto wrote and someone deleted or cancelled by hand are written again;
    /// default no (they are reported).
    pub recreate_deleted: bool,
    /// Agreement type for child agreements; `None` uses the master agreement's type.
    pub child_agreement_type_id: Option<i64>,
}

/// Which ConnectWise company and master agreement a customer is billed under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyMapping {
    /// The inventory customer.
    pub customer: CustomerId,
    /// ConnectWise company record id.
    pub company_id: i64,
    /// ConnectWise id of the master agreement.
    pub agreement_id: i64,
    /// How the sync writes for this customer.
    pub options: MappingOptions,
}

/// Which catalog item bills a meter, with optional price overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductMapping {
    /// What is billed: service kind × resource kind × optional tier.
    pub key: MeterKey,
    /// ConnectWise catalog item (product) id.
    pub catalog_item_id: i64,
    /// Unit price written on additions instead of the catalog item's price.
    pub unit_price: Option<Decimal>,
    /// Unit cost written on additions instead of the catalog item's cost.
    pub unit_cost: Option<Decimal>,
}
