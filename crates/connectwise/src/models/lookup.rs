//! Small lookup lists: billing cycles, locations, departments, product types, subcategories and
//! units of measure.

use super::enums::{BillingFrequency, ProductTypeKind};
use super::info::Info;
use super::reference::Reference;

cw_model! {
    /// A billing cycle (`/finance/billingCycles`).
    pub struct BillingCycle {
        @required {
            /// The cycle's id.
            id: i64,
        }
        /// A short identifier (at most 5 characters).
        identifier: String,
        /// The name (at most 50 characters).
        name: String,
        /// Whether this is the default cycle.
        default_flag: bool,
        /// How often it invoices.
        billing_options: BillingFrequency,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A location (`/system/locations`).
    pub struct Location {
        @required {
            /// The location's id.
            id: i64,
        }
        /// The name (at most 50 characters).
        name: String,
        /// The corporate structure level.
        structure_level: Reference,
        /// The location this one reports to.
        reports_to: Reference,
        /// Whether it is a location (rather than a structure level).
        location_flag: bool,
        /// Whether it is a client location.
        client_flag: bool,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A department (`/system/departments`), once called a business unit.
    pub struct Department {
        @required {
            /// The department's id.
            id: i64,
        }
        /// A short identifier (at most 15 characters).
        identifier: String,
        /// The name (at most 50 characters).
        name: String,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A product type (`/procurement/types`).
    pub struct ProductType {
        @required {
            /// The type's id.
            id: i64,
        }
        /// The name.
        name: String,
        /// The accounting kind.
        type_xref: ProductTypeKind,
        /// Whether this is the default type.
        default_flag: bool,
        /// Whether the type is switched off.
        inactive_flag: bool,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A product subcategory (`/procurement/subcategories`).
    pub struct Subcategory {
        @required {
            /// The subcategory's id.
            id: i64,
        }
        /// The name.
        name: String,
        /// The parent category.
        category: Reference,
        /// Whether it is switched off.
        inactive_flag: bool,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A unit of measure (`/procurement/unitOfMeasures`).
    pub struct UnitOfMeasure {
        @required {
            /// The unit's id.
            id: i64,
        }
        /// The name, which is what an addition's `uom` holds.
        name: String,
        /// Whether it is switched off.
        inactive_flag: bool,
        /// Whether this is the default unit.
        default_flag: bool,
        /// A schedule cross-reference.
        uom_schedule_xref: String,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}
