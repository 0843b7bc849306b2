//! Catalog items (`/procurement/catalog`): the SKUs usage is billed against.

use rust_decimal::Decimal;

use super::enums::{BillingOption, InvoicingCycle, PriceAttribute, ProductClass};
use super::info::Info;
use super::reference::{
    AgreementTypeReference, BillingCycleReference, CategoryReference, CompanyReference,
    EntityTypeReference, ManufacturerReference, ProductTypeReference, SlaReference,
    SubcategoryReference, UnitOfMeasureReference,
};
use super::system::CustomFieldValue;

cw_model! {
    /// A catalog item as ConnectWise returns it (reference §8.4).
    pub struct CatalogItem {
        @required {
            /// The item's id.
            id: i64,
        }
        /// The SKU (at most 75 characters); what integrations match on.
        identifier: String,
        /// A short description (at most 60 characters).
        description: String,
        /// Whether the item is switched off.
        inactive_flag: bool,
        /// The subcategory.
        subcategory: SubcategoryReference,
        /// The product type.
        #[serde(rename = "type")]
        product_type: ProductTypeReference,
        /// The product class; Bundle items cannot be additions.
        product_class: ProductClass,
        /// Whether the item is serialised.
        serialized_flag: bool,
        /// Whether cost is tracked per serial number.
        serialized_cost_flag: bool,
        /// Whether the item is a phase product.
        phase_product_flag: bool,
        /// The unit of measure.
        unit_of_measure: UnitOfMeasureReference,
        /// The minimum stock level.
        min_stock_level: i64,
        /// The list price.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        price: Decimal,
        /// The cost.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        cost: Decimal,
        /// How the item is priced.
        price_attribute: PriceAttribute,
        /// Whether the item is taxable.
        taxable_flag: bool,
        /// Whether the item is drop-shipped.
        drop_ship_flag: bool,
        /// Whether the item is a special order.
        special_order_flag: bool,
        /// The description customers see (at most 6000 characters).
        customer_description: String,
        /// The manufacturer.
        manufacturer: ManufacturerReference,
        /// The manufacturer's part number.
        manufacturer_part_number: String,
        /// The vendor.
        vendor: CompanyReference,
        /// The vendor's SKU.
        vendor_sku: String,
        /// Notes.
        notes: String,
        /// An integration cross-reference (at most 50 characters).
        #[serde(rename = "integrationXRef")]
        integration_xref: String,
        /// The SLA.
        sla: SlaReference,
        /// The entity type.
        entity_type: EntityTypeReference,
        /// Whether the item recurs.
        recurring_flag: bool,
        /// Recurring revenue.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        recurring_revenue: Decimal,
        /// Recurring cost.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        recurring_cost: Decimal,
        /// Whether the recurring charge happens once.
        recurring_one_time_flag: bool,
        /// The recurring billing cycle.
        recurring_bill_cycle: BillingCycleReference,
        /// The recurring cycle type.
        recurring_cycle_type: InvoicingCycle,
        /// Whether the price is calculated.
        calculated_price_flag: bool,
        /// Whether the cost is calculated.
        calculated_cost_flag: bool,
        /// The category.
        category: CategoryReference,
        /// The calculated price.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        calculated_price: Decimal,
        /// The calculated cost.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        calculated_cost: Decimal,
        /// How the item is billed.
        billable_option: BillingOption,
        /// ConnectWise's own id for the item.
        #[serde(rename = "connectWiseID")]
        connect_wise_id: String,
        /// The agreement type for agreement-class items.
        agreement_type: AgreementTypeReference,
        /// The markup percentage.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        markup_percentage: Decimal,
        /// Whether markup applies.
        markup_flag: bool,
        /// Whether the unit cost updates automatically.
        auto_update_unit_cost_flag: bool,
        /// Whether the unit price updates automatically.
        auto_update_unit_price_flag: bool,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// The body of `POST /procurement/catalog`.
    pub struct NewCatalogItem {
        @required {
            /// The SKU (at most 75 characters).
            identifier: String,
            /// A short description (at most 60 characters).
            description: String,
            /// The subcategory.
            subcategory: SubcategoryReference,
            /// The product type.
            #[serde(rename = "type")]
            product_type: ProductTypeReference,
            /// The description customers see (at most 6000 characters).
            customer_description: String,
        }
        /// The product class (ConnectWise defaults to NonInventory).
        product_class: ProductClass,
        /// The unit of measure.
        unit_of_measure: UnitOfMeasureReference,
        /// The list price.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        price: Decimal,
        /// The cost.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        cost: Decimal,
        /// Whether the item is taxable.
        taxable_flag: bool,
        /// Whether the item is switched off.
        inactive_flag: bool,
        /// An integration cross-reference (at most 50 characters).
        #[serde(rename = "integrationXRef")]
        integration_xref: String,
        /// Notes.
        notes: String,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::reference::Reference;

    #[test]
    fn a_catalog_create_body_names_type_and_keeps_the_sku() {
        let body = NewCatalogItem {
            identifier: "VMW-VCPU".to_owned(),
            description: "vCPU".to_owned(),
            subcategory: Reference::by_id(2),
            product_type: Reference::by_id(1),
            customer_description: "Virtual CPU, per month".to_owned(),
            product_class: Some(ProductClass::Service),
            price: Some(Decimal::new(1250, 2)),
            ..NewCatalogItem::default()
        };

        let value = serde_json::to_value(&body).unwrap();

        assert_eq!(value["type"]["id"], 1);
        assert_eq!(value["productClass"], "Service");
        assert_eq!(value["price"].to_string(), "12.50");
        assert!(value.get("cost").is_none());
    }

    #[test]
    fn a_catalog_item_reads_its_connectwise_id() {
        let item: CatalogItem = serde_json::from_str(
            r#"{"id": 5, "identifier": "VMW-RAM", "connectWiseID": "abc", "integrationXRef": "x",
                "productClass": "Bundle"}"#,
        )
        .unwrap();

        assert_eq!(item.connect_wise_id.as_deref(), Some("abc"));
        assert_eq!(item.integration_xref.as_deref(), Some("x"));
        assert_eq!(item.product_class, Some(ProductClass::Bundle));
    }
}
