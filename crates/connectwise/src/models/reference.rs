//! Reference objects: the small `{id, name, …}` objects records use to point at each other.
//!
//! On writes, send one identifying key (normally `id`); on reads ConnectWise fills in the rest
//! plus `_info` links (reference §5.5).

use super::info::Info;

cw_model! {
    /// A reference that carries an id and a name (billing cycle, SLA, site, tax code, work role,
    /// project type, invoice template, opportunity, unit of measure, product type, subcategory,
    /// category, manufacturer, company status, billing terms, contact, agreement type, location).
    pub struct Reference {
        /// The target's id.
        id: i64,
        /// The target's display name.
        name: String,
        /// Links to the target.
        #[serde(rename = "_info")]
        info: Info,
    }
}

impl Reference {
    /// A reference to the record with this id, as sent on writes.
    pub fn by_id(id: i64) -> Reference {
        Reference {
            id: Some(id),
            ..Reference::default()
        }
    }
}

/// A reference to a contact.
pub type ContactReference = Reference;
/// A reference to an agreement type.
pub type AgreementTypeReference = Reference;
/// A reference to a location (`SystemLocationReference`).
pub type LocationReference = Reference;
/// A reference to a billing cycle.
pub type BillingCycleReference = Reference;
/// A reference to billing terms.
pub type BillingTermsReference = Reference;
/// A reference to an SLA.
pub type SlaReference = Reference;
/// A reference to a company site.
pub type SiteReference = Reference;
/// A reference to a tax code.
pub type TaxCodeReference = Reference;
/// A reference to a work role.
pub type WorkRoleReference = Reference;
/// A reference to a project type.
pub type ProjectTypeReference = Reference;
/// A reference to an invoice template.
pub type InvoiceTemplateReference = Reference;
/// A reference to an opportunity.
pub type OpportunityReference = Reference;
/// A reference to a unit of measure.
pub type UnitOfMeasureReference = Reference;
/// A reference to a product type.
pub type ProductTypeReference = Reference;
/// A reference to a product subcategory.
pub type SubcategoryReference = Reference;
/// A reference to a product category.
pub type CategoryReference = Reference;
/// A reference to a manufacturer.
pub type ManufacturerReference = Reference;
/// A reference to a company status.
pub type CompanyStatusReference = Reference;
/// A reference to an entity type.
pub type EntityTypeReference = Reference;

cw_model! {
    /// A reference that also carries an identifier: companies, departments, members, countries.
    pub struct IdentifiedReference {
        /// The target's id.
        id: i64,
        /// The target's short identifier, such as a company's `ACME`.
        identifier: String,
        /// The target's display name.
        name: String,
        /// Links to the target.
        #[serde(rename = "_info")]
        info: Info,
    }
}

impl IdentifiedReference {
    /// A reference to the record with this id, as sent on writes.
    pub fn by_id(id: i64) -> IdentifiedReference {
        IdentifiedReference {
            id: Some(id),
            ..IdentifiedReference::default()
        }
    }

    /// A reference by identifier (accepted by ConnectWise for companies).
    pub fn by_identifier(identifier: impl Into<String>) -> IdentifiedReference {
        IdentifiedReference {
            identifier: Some(identifier.into()),
            ..IdentifiedReference::default()
        }
    }
}

/// A reference to a company.
pub type CompanyReference = IdentifiedReference;
/// A reference to a department (`SystemDepartmentReference`).
pub type DepartmentReference = IdentifiedReference;
/// A reference to a country.
pub type CountryReference = IdentifiedReference;

cw_model! {
    /// A reference to an agreement, as used by `parentAgreement`.
    pub struct AgreementReference {
        /// The agreement's id.
        id: i64,
        /// The agreement's name.
        name: String,
        /// The agreement type's name.
        #[serde(rename = "type")]
        agreement_type: String,
        /// An undocumented ConnectWise flag.
        charge_firm_flag: bool,
        /// Links to the agreement.
        #[serde(rename = "_info")]
        info: Info,
    }
}

impl AgreementReference {
    /// A reference to the agreement with this id, as sent on writes.
    pub fn by_id(id: i64) -> AgreementReference {
        AgreementReference {
            id: Some(id),
            ..AgreementReference::default()
        }
    }
}

cw_model! {
    /// A reference to a catalog item (`IvItemReference`), as used by an addition's `product`.
    pub struct CatalogItemReference {
        /// The item's id.
        id: i64,
        /// The item's identifier (its SKU).
        identifier: String,
        /// Whether the item is serialised.
        serialized_flag: bool,
        /// Links to the item.
        #[serde(rename = "_info")]
        info: Info,
    }
}

impl CatalogItemReference {
    /// A reference to the catalog item with this id, as sent on writes.
    pub fn by_id(id: i64) -> CatalogItemReference {
        CatalogItemReference {
            id: Some(id),
            ..CatalogItemReference::default()
        }
    }
}

cw_model! {
    /// A reference to a member (`MemberReference`).
    pub struct MemberReference {
        /// The member's id.
        id: i64,
        /// The member's login identifier.
        identifier: String,
        /// The member's name.
        name: String,
        /// Daily capacity in hours.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        daily_capacity: rust_decimal::Decimal,
        /// Links to the member.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A reference to a work type (`WorkTypeReference`).
    pub struct WorkTypeReference {
        /// The work type's id.
        id: i64,
        /// Its name.
        name: String,
        /// Whether it counts towards utilisation.
        utilization_flag: bool,
        /// Links.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A reference to a currency (`CurrencyReference`).
    pub struct CurrencyReference {
        /// The currency's id.
        id: i64,
        /// Its symbol, such as `$`.
        symbol: String,
        /// Its ISO code, such as `USD`.
        currency_code: String,
        /// The decimal separator.
        decimal_separator: String,
        /// How many decimals amounts are rounded to.
        number_of_decimals: i64,
        /// The thousands separator.
        thousands_separator: String,
        /// Whether negatives are shown in parentheses.
        negative_parentheses_flag: bool,
        /// Whether the symbol is shown.
        display_symbol_flag: bool,
        /// The currency identifier.
        currency_identifier: String,
        /// Whether the identifier is shown.
        display_id_flag: bool,
        /// Whether amounts are right aligned.
        right_align: bool,
        /// Its name.
        name: String,
        /// Links.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A reference to an invoice grouping (`InvoiceGroupingReference`).
    pub struct InvoiceGroupingReference {
        /// The grouping's id.
        id: i64,
        /// Its name.
        name: String,
        /// Its description.
        description: String,
        /// Whether prices are shown.
        show_price_flag: bool,
        /// Whether sub-items are shown.
        show_sub_items_flag: bool,
        /// Whether parent and child additions are grouped together.
        group_parent_child_additions_flag: bool,
        /// Links.
        #[serde(rename = "_info")]
        info: Info,
    }
}
