//! Agreement additions (`/finance/agreements/{id}/additions`): the usage lines hyalto writes.

use rust_decimal::Decimal;

use super::date::CwDate;
use super::enums::{AgreementStatus, BillCustomer};
use super::info::Info;
use super::reference::{CatalogItemReference, InvoiceGroupingReference, OpportunityReference};
use super::system::CustomFieldValue;

cw_model! {
    /// An agreement addition as ConnectWise returns it (reference §8.2).
    pub struct Addition {
        @required {
            /// The addition's id.
            id: i64,
        }
        /// The catalog item billed.
        product: CatalogItemReference,
        /// How many units are billed.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        quantity: Decimal,
        /// Units included in the agreement's base price and not charged.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        less_included: Decimal,
        /// Price per unit.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_price: Decimal,
        /// Cost per unit.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_cost: Decimal,
        /// How the line is billed.
        bill_customer: BillCustomer,
        /// The first day the line is billed.
        effective_date: CwDate,
        /// The last day the line is billed.
        cancelled_date: CwDate,
        /// Whether the line is taxed.
        taxable_flag: bool,
        /// A serial number (at most 50 characters).
        serial_number: String,
        /// Text printed on the invoice (at most 6000 characters).
        invoice_description: String,
        /// Whether the item is purchased.
        purchase_item_flag: bool,
        /// Whether the item is a special order.
        special_order_flag: bool,
        /// The owning agreement (read-only).
        agreement_id: i64,
        /// The product description.
        description: String,
        /// Units actually billed (computed).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        billed_quantity: Decimal,
        /// The unit of measure's name.
        uom: String,
        /// Quantity times unit price (computed).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        ext_price: Decimal,
        /// Quantity times unit cost (computed).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        ext_cost: Decimal,
        /// Order on the invoice.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        sequence_number: Decimal,
        /// Extended price minus extended cost (computed).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        margin: Decimal,
        /// Prorated cost.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        prorate_cost: Decimal,
        /// Prorated price.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        prorate_price: Decimal,
        /// Prorated cost times quantity.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        extended_prorate_cost: Decimal,
        /// Prorated price times quantity.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        extended_prorate_price: Decimal,
        /// Whether the current period is prorated.
        prorate_current_period_flag: bool,
        /// The opportunity the line came from.
        opportunity: OpportunityReference,
        /// The owning agreement's state (read-only).
        agreement_status: AgreementStatus,
        /// How the line is grouped on the invoice.
        invoice_grouping: InvoiceGroupingReference,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// The body of `POST /finance/agreements/{id}/additions`.
    pub struct NewAddition {
        @required {
            /// The catalog item billed (never a Bundle-class item).
            product: CatalogItemReference,
            /// How the line is billed.
            bill_customer: BillCustomer,
        }
        /// How many units are billed.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        quantity: Decimal,
        /// Units included in the base price and not charged.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        less_included: Decimal,
        /// Price per unit.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_price: Decimal,
        /// Cost per unit.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_cost: Decimal,
        /// The first day the line is billed.
        effective_date: CwDate,
        /// The last day the line is billed.
        cancelled_date: CwDate,
        /// Whether the line is taxed.
        taxable_flag: bool,
        /// A serial number (at most 50 characters); hyalto keeps its ownership key here.
        serial_number: String,
        /// Text printed on the invoice.
        invoice_description: String,
        /// The product description.
        description: String,
        /// The unit of measure's name.
        uom: String,
        /// Order on the invoice.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        sequence_number: Decimal,
        /// Whether the current period is prorated.
        prorate_current_period_flag: bool,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
    }
}

// The enum comes from a macro shared with enums that have no sensible default, so the
// default cannot be derived there.
#[expect(clippy::derivable_impls, reason = "the enum is declared by a macro")]
impl Default for BillCustomer {
    fn default() -> BillCustomer {
        BillCustomer::Billable
    }
}

impl NewAddition {
    /// A create body for a billable line of `product`.
    pub fn new(product: CatalogItemReference) -> NewAddition {
        NewAddition {
            product,
            bill_customer: BillCustomer::Billable,
            ..NewAddition::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_prices_are_exact_json_numbers() {
        let mut body = NewAddition::new(CatalogItemReference::by_id(3301));
        body.quantity = Some(Decimal::new(48, 0));
        body.unit_price = Some(Decimal::new(125, 1));
        body.unit_cost = Some("0.1".parse().unwrap());
        body.effective_date = CwDate::from_ymd(2025, 3, 1);

        let json = serde_json::to_string(&body).unwrap();

        assert_eq!(
            json,
            concat!(
                r#"{"product":{"id":3301},"billCustomer":"Billable","quantity":48,"#,
                r#""unitPrice":12.5,"unitCost":0.1,"effectiveDate":"2025-03-01T00:00:00Z"}"#
            )
        );
    }

    #[test]
    fn a_create_body_carries_the_serial_number() {
        let mut body = NewAddition::new(CatalogItemReference::by_id(3301));
        body.serial_number = Some("hy1-0123456789abcdef".to_owned());

        let json = serde_json::to_string(&body).unwrap();

        assert_eq!(
            json,
            r#"{"product":{"id":3301},"billCustomer":"Billable","serialNumber":"hy1-0123456789abcdef"}"#
        );
    }

    #[test]
    fn an_addition_reads_computed_fields_exactly() {
        let addition: Addition = serde_json::from_str(
            r#"{"id": 9, "product": {"id": 3301, "identifier": "VMW-VCPU"}, "quantity": 48,
                "unitPrice": 12.5, "extPrice": 600.00, "margin": 403.20000000000000001,
                "billCustomer": "Billable", "cancelledDate": null, "agreementId": 42,
                "effectiveDate": "2025-03-01T00:00:00Z"}"#,
        )
        .unwrap();

        assert_eq!(addition.quantity, Some(Decimal::new(48, 0)));
        assert_eq!(addition.ext_price, Some(Decimal::new(60000, 2)));
        assert_eq!(
            addition.margin.unwrap().to_string(),
            "403.20000000000000001"
        );
        assert_eq!(addition.cancelled_date, None);
        assert_eq!(addition.agreement_id, Some(42));
    }
}
