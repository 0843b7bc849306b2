//! Serde models of the ConnectWise records hyalto reads and writes.
//!
//! Conventions shared by every model: JSON keys are camelCase; every field except a record's
//! `id` is an `Option`, because ConnectWise may leave any of them out or send `null`; `None`
//! fields are left out when serialising, so a create body carries only what the caller set;
//! unknown fields are ignored; money and quantities are [`rust_decimal::Decimal`] written as
//! JSON numbers; agreement and addition dates are [`CwDate`] calendar dates.

/// Declares a model struct: listed fields become `Option`s that default to `None` and are
/// skipped when `None`; fields in the `@required` group are kept as written.
macro_rules! cw_model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(@required {
                $( $(#[$rmeta:meta])* $rfield:ident : $rty:ty ),* $(,)?
            })?
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $($( $(#[$rmeta])* pub $rfield: $rty, )*)?
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

mod addition;
mod agreement;
mod catalog;
mod company;
mod date;
mod enums;
mod error_body;
mod info;
mod lookup;
mod patch;
mod reference;
mod system;

pub use addition::{Addition, NewAddition};
pub use agreement::{Agreement, AgreementType, NewAgreement};
pub use catalog::{CatalogItem, NewCatalogItem};
pub use company::{Company, Contact, ContactCommunicationItem};
pub use date::{CwDate, format_datetime};
pub use enums::*;
pub use error_body::{ErrorResponse, ValidationError};
pub use info::Info;
pub use lookup::{BillingCycle, Department, Location, ProductType, Subcategory, UnitOfMeasure};
pub use patch::{PatchOp, PatchOperation, ToPatchValue};
pub use reference::*;
pub use system::{CompanyInfo, Count, CustomFieldValue, LicenseBit, SystemInfo};

pub(crate) use date::option_datetime;
