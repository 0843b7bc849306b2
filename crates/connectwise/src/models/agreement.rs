//! Agreements (`/finance/agreements`) and agreement types (`/finance/agreements/types`).

use rust_decimal::Decimal;

use super::date::CwDate;
use super::enums::{
    AgreementStatus, ApplicationCycle, ApplicationUnits, BillingOption, EmployeeCompNotExceed,
    EmployeeCompRate, InvoicingCycle, PeriodType, PrefixSuffixOption,
};
use super::info::Info;
use super::reference::{
    AgreementReference, AgreementTypeReference, BillingCycleReference, BillingTermsReference,
    CompanyReference, ContactReference, CurrencyReference, DepartmentReference,
    InvoiceTemplateReference, LocationReference, OpportunityReference, ProjectTypeReference,
    SiteReference, SlaReference, TaxCodeReference, WorkRoleReference, WorkTypeReference,
};
use super::system::CustomFieldValue;

cw_model! {
    /// An agreement as ConnectWise returns it (reference §8.1).
    ///
    /// A child agreement points at its master through `parent_agreement`.
    pub struct Agreement {
        @required {
            /// The agreement's id.
            id: i64,
        }
        /// The name printed on invoices (at most 100 characters).
        name: String,
        /// The agreement type, whose settings the agreement inherits.
        #[serde(rename = "type")]
        agreement_type: AgreementTypeReference,
        /// The customer.
        company: CompanyReference,
        /// The customer contact.
        contact: ContactReference,
        /// The customer site.
        site: SiteReference,
        /// A subcontractor company.
        sub_contract_company: CompanyReference,
        /// A subcontractor contact.
        sub_contract_contact: ContactReference,
        /// The master agreement this one is a child of.
        parent_agreement: AgreementReference,
        /// The customer's purchase order number (at most 50 characters).
        #[serde(rename = "customerPO")]
        customer_po: String,
        /// The owning location.
        location: LocationReference,
        /// The owning department.
        department: DepartmentReference,
        /// Whether only the location may use the agreement.
        restrict_location_flag: bool,
        /// Whether only the department may use the agreement.
        restrict_department_flag: bool,
        /// The first day of the agreement.
        start_date: CwDate,
        /// The last day of the agreement.
        end_date: CwDate,
        /// Whether the agreement runs without an end date.
        no_ending_date_flag: bool,
        /// The opportunity the agreement came from.
        opportunity: OpportunityReference,
        /// Whether the agreement is cancelled.
        cancelled_flag: bool,
        /// When it was cancelled.
        date_cancelled: CwDate,
        /// Why it was cancelled (at most 100 characters).
        reason_cancelled: String,
        /// The service level agreement.
        sla: SlaReference,
        /// A work order number (at most 20 characters).
        work_order: String,
        /// Internal notes.
        internal_notes: String,
        /// The unit of a prepaid block.
        application_units: ApplicationUnits,
        /// The size of a prepaid block.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        application_limit: Decimal,
        /// How often a prepaid block renews.
        application_cycle: ApplicationCycle,
        /// Whether the prepaid block is unlimited.
        application_unlimited_flag: bool,
        /// Whether the prepaid block applies once.
        one_time_flag: bool,
        /// Whether agreement time is covered.
        cover_agreement_time: bool,
        /// Whether agreement products are covered.
        cover_agreement_product: bool,
        /// Whether agreement expenses are covered.
        cover_agreement_expense: bool,
        /// Whether sales tax is covered.
        cover_sales_tax: bool,
        /// Whether unused amounts carry over.
        carry_over_unused: bool,
        /// Whether overruns are allowed.
        allow_overruns: bool,
        /// Days until carried-over amounts expire.
        expired_days: i64,
        /// A limit on the block.
        limit: i64,
        /// Whether the agreement expires when the block reaches zero.
        expire_when_zero: bool,
        /// Whether work is charged to the firm.
        charge_to_firm: bool,
        /// How employee compensation is computed.
        employee_comp_rate: EmployeeCompRate,
        /// The cap on employee compensation.
        employee_comp_not_exceed: EmployeeCompNotExceed,
        /// The compensation hourly rate.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        comp_hourly_rate: Decimal,
        /// The compensation limit.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        comp_limit_amount: Decimal,
        /// How often the agreement invoices.
        billing_cycle: BillingCycleReference,
        /// Whether the agreement is billed once instead of every cycle.
        bill_one_time_flag: bool,
        /// Payment terms.
        billing_terms: BillingTermsReference,
        /// The year the agreement invoices against.
        invoicing_cycle: InvoicingCycle,
        /// The company invoiced.
        bill_to_company: CompanyReference,
        /// The contact invoiced.
        bill_to_contact: ContactReference,
        /// The site invoiced.
        bill_to_site: SiteReference,
        /// The fixed amount billed every cycle, before additions.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        bill_amount: Decimal,
        /// Whether the agreement is taxable.
        taxable: bool,
        /// The prorated amount of the first bill.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        prorate_first_bill: Decimal,
        /// The first day billing starts.
        bill_start_date: CwDate,
        /// The tax code.
        tax_code: TaxCodeReference,
        /// Whether down payments are restricted.
        restrict_down_payment: bool,
        /// Whether additions that start or end mid-period are prorated.
        prorate_flag: bool,
        /// Whether prorated addition charges are invoiced at once.
        invoice_prorated_additions_flag: bool,
        /// Text printed on the invoice.
        invoice_description: String,
        /// Whether the description prints above the lines.
        top_comment: bool,
        /// Whether the description prints below the lines.
        bottom_comment: bool,
        /// The default work role.
        work_role: WorkRoleReference,
        /// The default work type.
        work_type: WorkTypeReference,
        /// The project type.
        project_type: ProjectTypeReference,
        /// The invoice template.
        invoice_template: InvoiceTemplateReference,
        /// How time is billed.
        bill_time: BillingOption,
        /// How expenses are billed.
        bill_expenses: BillingOption,
        /// How products are billed.
        bill_products: BillingOption,
        /// Whether billable time is invoiced.
        billable_time_invoice: bool,
        /// Whether billable expenses are invoiced.
        billable_expense_invoice: bool,
        /// Whether billable products are invoiced.
        billable_product_invoice: bool,
        /// The currency.
        currency: CurrencyReference,
        /// Which period a prepaid block covers.
        period_type: PeriodType,
        /// Whether invoices are generated automatically.
        auto_invoice_flag: bool,
        /// The next invoice date as ConnectWise formats it (read-only).
        next_invoice_date: String,
        /// The company's location.
        company_location: LocationReference,
        /// The company shipped to.
        ship_to_company: CompanyReference,
        /// The contact shipped to.
        ship_to_contact: ContactReference,
        /// The site shipped to.
        ship_to_site: SiteReference,
        /// The computed state of the agreement (read-only).
        agreement_status: AgreementStatus,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// The body of `POST /finance/agreements`.
    ///
    /// Name, type and company are required by ConnectWise; the 2025.1 specification also marks
    /// `contact` required, so send the company's default contact. Everything left `None` is
    /// inherited from the agreement type.
    pub struct NewAgreement {
        @required {
            /// The name printed on invoices (at most 100 characters).
            name: String,
            /// The agreement type.
            #[serde(rename = "type")]
            agreement_type: AgreementTypeReference,
            /// The customer.
            company: CompanyReference,
        }
        /// The customer contact.
        contact: ContactReference,
        /// The master agreement, to create a child agreement.
        parent_agreement: AgreementReference,
        /// The customer's purchase order number.
        #[serde(rename = "customerPO")]
        customer_po: String,
        /// The owning location.
        location: LocationReference,
        /// The owning department.
        department: DepartmentReference,
        /// The first day of the agreement.
        start_date: CwDate,
        /// The last day of the agreement.
        end_date: CwDate,
        /// Whether the agreement runs without an end date.
        no_ending_date_flag: bool,
        /// How often the agreement invoices.
        billing_cycle: BillingCycleReference,
        /// The fixed amount billed every cycle.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        bill_amount: Decimal,
        /// Whether additions that start or end mid-period are prorated.
        prorate_flag: bool,
        /// The first day billing starts.
        bill_start_date: CwDate,
        /// Text printed on the invoice.
        invoice_description: String,
        /// Internal notes.
        internal_notes: String,
        /// A work order number.
        work_order: String,
        /// The year the agreement invoices against.
        invoicing_cycle: InvoicingCycle,
        /// How time is billed.
        bill_time: BillingOption,
        /// How expenses are billed.
        bill_expenses: BillingOption,
        /// How products are billed.
        bill_products: BillingOption,
        /// Whether the agreement is taxable.
        taxable: bool,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
    }
}

impl NewAgreement {
    /// A create body with the three fields ConnectWise always requires.
    pub fn new(
        name: impl Into<String>,
        agreement_type: AgreementTypeReference,
        company: CompanyReference,
    ) -> NewAgreement {
        NewAgreement {
            name: name.into(),
            agreement_type,
            company,
            ..NewAgreement::default()
        }
    }
}

cw_model! {
    /// An agreement type (reference §8.3); the sync only reads them.
    pub struct AgreementType {
        @required {
            /// The type's id.
            id: i64,
        }
        /// The type's name (at most 50 characters).
        name: String,
        /// Where the invoice prefix or suffix goes.
        prefix_suffix_option: PrefixSuffixOption,
        /// Whether this is the default type.
        default_flag: bool,
        /// Whether the type is switched off.
        inactive_flag: bool,
        /// Whether agreements of this type are prepaid.
        pre_payment_flag: bool,
        /// The invoice prefix or suffix (at most 5 characters).
        invoice_pre_suffix: String,
        /// The default location.
        location: LocationReference,
        /// The default department.
        department: DepartmentReference,
        /// The default SLA.
        sla: SlaReference,
        /// The default unit of a prepaid block.
        application_units: ApplicationUnits,
        /// The default size of a prepaid block.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        application_limit: Decimal,
        /// How often the block renews.
        application_cycle: ApplicationCycle,
        /// Whether the block is unlimited.
        application_unlimited_flag: bool,
        /// The default billing cycle.
        billing_cycle: BillingCycleReference,
        /// The default fixed amount per cycle.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        bill_amount: Decimal,
        /// The default year agreements invoice against.
        invoicing_cycle: InvoicingCycle,
        /// The default way time is billed.
        bill_time: BillingOption,
        /// The default way expenses are billed.
        bill_expenses: BillingOption,
        /// The default way products are billed.
        bill_products: BillingOption,
        /// How employee compensation is computed.
        employee_comp_rate: EmployeeCompRate,
        /// The cap on employee compensation.
        employee_comp_not_exceed: EmployeeCompNotExceed,
        /// Whether agreements of this type prorate.
        prorate_flag: bool,
        /// Whether prorated additions are invoiced at once.
        invoice_prorated_additions_flag: bool,
        /// Default invoice text (at most 4000 characters).
        invoice_description: String,
        /// Whether agreements are taxable.
        taxable_flag: bool,
        /// Whether invoices are generated automatically.
        auto_invoice_flag: bool,
        /// An integration cross-reference (at most 50 characters).
        #[serde(rename = "integrationXRef")]
        integration_xref: String,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::reference::Reference;

    #[test]
    fn a_full_agreement_reads_with_unknown_fields_nulls_and_decimals() {
        let agreement: Agreement = serde_json::from_str(
            r#"{
                "id": 42,
                "name": "ACME – Private Cloud",
                "type": {"id": 7, "name": "Private Cloud Services", "_info": {"type_href": "/x"}},
                "company": {"id": 3, "identifier": "ACME", "name": "Acme"},
                "contact": null,
                "parentAgreement": {"id": 40, "name": "Master", "type": "Private Cloud Services"},
                "customerPO": "PO-1",
                "startDate": "2025-01-01T00:00:00Z",
                "endDate": null,
                "billAmount": 1234.50,
                "billTime": "Billable",
                "agreementStatus": "Active",
                "someFutureField": {"nested": [1, 2, 3]},
                "customFields": [{"id": 1, "caption": "External Id", "type": "Text",
                                  "entryMethod": "EntryField", "value": "vc-01"}],
                "_info": {"lastUpdated": "2025-01-02T03:04:05Z", "updatedBy": "api"}
            }"#,
        )
        .unwrap();

        assert_eq!(agreement.id, 42);
        assert_eq!(agreement.agreement_type.as_ref().unwrap().id, Some(7));
        assert_eq!(agreement.parent_agreement.as_ref().unwrap().id, Some(40));
        assert_eq!(agreement.customer_po.as_deref(), Some("PO-1"));
        assert_eq!(agreement.contact, None);
        assert_eq!(agreement.start_date, CwDate::from_ymd(2025, 1, 1));
        assert_eq!(agreement.bill_amount, Some(Decimal::new(123450, 2)));
        assert_eq!(agreement.bill_time, Some(BillingOption::Billable));
        assert_eq!(agreement.agreement_status, Some(AgreementStatus::Active));
        assert_eq!(agreement.custom_fields.as_ref().unwrap().len(), 1);
        assert!(agreement.info.unwrap().last_updated.is_some());
    }

    #[test]
    fn a_create_body_carries_only_what_was_set_with_numbers_and_midnight_dates() {
        let mut body = NewAgreement::new(
            "ACME – Private Cloud",
            Reference::by_id(7),
            CompanyReference::by_id(3),
        );
        body.start_date = CwDate::from_ymd(2025, 3, 1);
        body.bill_amount = Some(Decimal::new(1250, 1));
        body.parent_agreement = Some(AgreementReference::by_id(40));

        let json = serde_json::to_string(&body).unwrap();

        assert_eq!(
            json,
            concat!(
                r#"{"name":"ACME – Private Cloud","type":{"id":7},"company":{"id":3},"#,
                r#""parentAgreement":{"id":40},"startDate":"2025-03-01T00:00:00Z","#,
                r#""billAmount":125.0}"#
            )
        );
    }
}
