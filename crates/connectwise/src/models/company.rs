//! Companies (`/company/companies`) and contacts (`/company/contacts`).
//!
//! Only the fields hyalto uses or shows are modelled; the rest of ConnectWise's long field
//! lists is ignored on reading.

use chrono::{DateTime, Utc};

use super::info::Info;
use super::reference::{
    CompanyReference, CompanyStatusReference, ContactReference, CountryReference,
    LocationReference, Reference, SiteReference,
};
use super::system::CustomFieldValue;

cw_model! {
    /// A customer company (reference §8.5).
    pub struct Company {
        @required {
            /// The company's id.
            id: i64,
        }
        /// The short identifier (at most 30 characters), such as `ACME`.
        identifier: String,
        /// The name (at most 50 characters).
        name: String,
        /// The company status.
        status: CompanyStatusReference,
        /// Address line 1.
        address_line1: String,
        /// Address line 2.
        address_line2: String,
        /// City.
        city: String,
        /// State.
        state: String,
        /// Postal code.
        zip: String,
        /// Country.
        country: CountryReference,
        /// Phone number.
        phone_number: String,
        /// Fax number.
        fax_number: String,
        /// Web site.
        website: String,
        /// Territory.
        territory: LocationReference,
        /// Account number.
        account_number: String,
        /// The default contact, a good choice for an agreement's contact.
        default_contact: ContactReference,
        /// When the company became a customer.
        #[serde(with = "super::option_datetime")]
        date_acquired: DateTime<Utc>,
        /// The parent company.
        parent_company: CompanyReference,
        /// Whether the company is a lead.
        lead_flag: bool,
        /// The company invoiced instead.
        bill_to_company: CompanyReference,
        /// The billing site.
        billing_site: SiteReference,
        /// The billing contact.
        billing_contact: ContactReference,
        /// Whether the company is deleted.
        deleted_flag: bool,
        /// Whether the company is a vendor.
        is_vendor_flag: bool,
        /// Company types.
        types: Vec<Reference>,
        /// The main site.
        site: SiteReference,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

cw_model! {
    /// A contact person (reference §8.6).
    pub struct Contact {
        @required {
            /// The contact's id.
            id: i64,
        }
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// The contact's company.
        company: CompanyReference,
        /// The contact's site.
        site: SiteReference,
        /// Job title.
        title: String,
        /// Whether the contact is switched off.
        inactive_flag: bool,
        /// Whether this is the company's default contact.
        default_flag: bool,
        /// Whether this is the company's default billing contact.
        default_billing_flag: bool,
        /// Phone, e-mail and other communication items.
        communication_items: Vec<ContactCommunicationItem>,
        /// Custom field values.
        custom_fields: Vec<CustomFieldValue>,
        /// Audit data.
        #[serde(rename = "_info")]
        info: Info,
    }
}

impl Contact {
    /// "First Last", leaving out whichever part is missing.
    pub fn display_name(&self) -> String {
        let parts = [self.first_name.as_deref(), self.last_name.as_deref()];
        parts
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

cw_model! {
    /// One phone number, e-mail address or similar of a contact.
    pub struct ContactCommunicationItem {
        /// The item's id.
        id: i64,
        /// The communication type.
        #[serde(rename = "type")]
        item_type: Reference,
        /// The value (at most 250 characters).
        value: String,
        /// A phone extension.
        extension: String,
        /// Whether this is the default of its type.
        default_flag: bool,
        /// `Email`, `Phone` or `Fax`.
        communication_type: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_with_non_ascii_and_nulls_reads() {
        let company: Company = serde_json::from_str(
            r#"{"id": 7, "identifier": "SOCGEN", "name": "Société Générale d'Électricité",
                "defaultContact": {"id": 3, "name": "Zoë"}, "dateAcquired": "2020-05-01T12:00:00Z",
                "status": null, "types": [{"id": 1, "name": "Customer"}]}"#,
        )
        .unwrap();

        assert_eq!(
            company.name.as_deref(),
            Some("Société Générale d'Électricité")
        );
        assert_eq!(company.default_contact.unwrap().id, Some(3));
        assert_eq!(
            company.date_acquired.unwrap().to_rfc3339(),
            "2020-05-01T12:00:00+00:00"
        );
        assert_eq!(company.status, None);
    }

    #[test]
    fn a_contact_name_skips_missing_parts() {
        let contact = Contact {
            id: 1,
            first_name: Some("Ada".to_owned()),
            ..Contact::default()
        };

        assert_eq!(contact.display_name(), "Ada");
    }
}
