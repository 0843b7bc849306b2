//! String-valued ConnectWise enums.
//!
//! Each enum lists the values the reference documents and keeps any other value the server
//! sends in `Unrecognized`, so a newer ConnectWise release never breaks reading a record and
//! writing it back sends the value unchanged.

/// Declares a string-backed enum with hand-written serde impls and a catch-all variant.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this client does not know, kept exactly as the server sent it.
            Unrecognized(String),
        }

        impl $name {
            /// The value as ConnectWise spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unrecognized(raw) => raw,
                }
            }

            /// Reads a value, keeping unknown spellings in `Unrecognized`.
            pub fn from_wire(raw: &str) -> $name {
                match raw {
                    $( $wire => $name::$variant, )*
                    other => $name::Unrecognized(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> Result<$name, D::Error>
            where
                D: serde::Deserializer<'de>,
            {
                let raw: std::borrow::Cow<'de, str> =
                    serde::Deserialize::deserialize(deserializer)?;
                Ok($name::from_wire(&raw))
            }
        }
    };
}

string_enum! {
    /// How time, expenses or products on an agreement are billed (`billTime`, `billExpenses`,
    /// `billProducts`, catalog `billableOption`).
    pub enum BillingOption {
        /// Billed to the customer.
        Billable = "Billable",
        /// Not billed.
        DoNotBill = "DoNotBill",
        /// Shown on the invoice at no charge.
        NoCharge = "NoCharge",
        /// No default chosen.
        NoDefault = "NoDefault",
    }
}

string_enum! {
    /// How an agreement addition is billed (`billCustomer`).
    pub enum BillCustomer {
        /// Billed to the customer.
        Billable = "Billable",
        /// Not billed.
        DoNotBill = "DoNotBill",
        /// Shown on the invoice at no charge.
        NoCharge = "NoCharge",
    }
}

string_enum! {
    /// The computed state of an agreement (`agreementStatus`, read-only).
    pub enum AgreementStatus {
        /// Running.
        Active = "Active",
        /// Cancelled.
        Cancelled = "Cancelled",
        /// Past its end date.
        Expired = "Expired",
        /// Not yet started or switched off.
        Inactive = "Inactive",
    }
}

string_enum! {
    /// The year an agreement invoices against (`invoicingCycle`).
    pub enum InvoicingCycle {
        /// The contract's own year.
        ContractYear = "ContractYear",
        /// The calendar year.
        CalendarYear = "CalendarYear",
    }
}

string_enum! {
    /// The unit of a prepaid block (`applicationUnits`).
    pub enum ApplicationUnits {
        /// Money.
        Amount = "Amount",
        /// Hours.
        Hours = "Hours",
        /// Incidents.
        Incidents = "Incidents",
    }
}

string_enum! {
    /// How often a prepaid block renews (`applicationCycle`).
    pub enum ApplicationCycle {
        /// Every two weeks of the contract.
        Contract2Weeks = "Contract2Weeks",
        /// Every four weeks of the contract.
        Contract4Weeks = "Contract4Weeks",
        /// Every contract year.
        ContractYear = "ContractYear",
        /// Every calendar month.
        CalendarMonth = "CalendarMonth",
        /// Every calendar quarter.
        CalendarQuarter = "CalendarQuarter",
        /// Every calendar week.
        CalendarWeek = "CalendarWeek",
        /// Every contract quarter.
        ContractQuarter = "ContractQuarter",
        /// Every calendar year.
        CalendarYear = "CalendarYear",
    }
}

string_enum! {
    /// How employee compensation is computed on an agreement (`employeeCompRate`).
    pub enum EmployeeCompRate {
        /// Actual rate.
        Actual = "Actual",
        /// Hourly rate.
        Hourly = "Hourly",
    }
}

string_enum! {
    /// The cap on employee compensation (`employeeCompNotExceed`).
    pub enum EmployeeCompNotExceed {
        /// The billing amount.
        Billing = "Billing",
        /// A fixed amount.
        Amount = "Amount",
        /// A percentage.
        Percent = "Percent",
    }
}

string_enum! {
    /// Which period an agreement's prepaid block covers (`periodType`).
    pub enum PeriodType {
        /// The current period.
        Current = "Current",
        /// Future periods.
        Future = "Future",
        /// Both.
        Both = "Both",
        /// Not set.
        Undefined = "Undefined",
    }
}

string_enum! {
    /// How often a billing cycle invoices (`billingOptions`).
    pub enum BillingFrequency {
        /// Every two months.
        BiMonthly = "BiMonthly",
        /// Every two weeks.
        BiWeekly = "BiWeekly",
        /// Every month.
        Monthly = "Monthly",
        /// Once.
        NotRecurring = "NotRecurring",
        /// Every quarter.
        Quarterly = "Quarterly",
        /// Every six months.
        SemiAnnual = "SemiAnnual",
        /// Every week.
        Weekly = "Weekly",
        /// Every year.
        Yearly = "Yearly",
    }
}

string_enum! {
    /// The class of a catalog item (`productClass`). Bundles cannot be agreement additions.
    pub enum ProductClass {
        /// An agreement product.
        Agreement = "Agreement",
        /// A bundle of other items.
        Bundle = "Bundle",
        /// Stocked inventory.
        Inventory = "Inventory",
        /// A non-stocked item.
        NonInventory = "NonInventory",
        /// A service.
        Service = "Service",
    }
}

string_enum! {
    /// How a catalog item is priced (`priceAttribute`).
    pub enum PriceAttribute {
        /// A fixed fee.
        FixedFee = "FixedFee",
        /// Capped.
        NotToExceed = "NotToExceed",
        /// An overriding rate.
        OverrideRate = "OverrideRate",
        /// Time and materials.
        TimeAndMaterials = "TimeAndMaterials",
    }
}

string_enum! {
    /// Where an agreement type's invoice text goes (`prefixSuffixOption`).
    pub enum PrefixSuffixOption {
        /// Before the invoice number.
        Prefix = "Prefix",
        /// After the invoice number.
        Suffix = "Suffix",
    }
}

string_enum! {
    /// The accounting kind of a product type (`typeXref`).
    pub enum ProductTypeKind {
        /// An inventory part.
        InventoryPart = "InventoryPart",
        /// A non-inventory part.
        NonInventoryPart = "NonInventoryPart",
        /// Another charge.
        OtherCharge = "OtherCharge",
        /// A service.
        Service = "Service",
    }
}

string_enum! {
    /// The data type of a custom field.
    pub enum CustomFieldType {
        /// Multi-line text.
        TextArea = "TextArea",
        /// A button.
        Button = "Button",
        /// Money.
        Currency = "Currency",
        /// A date.
        Date = "Date",
        /// A link.
        Hyperlink = "Hyperlink",
        /// An IP address.
        IpAddress = "IPAddress",
        /// A check box.
        Checkbox = "Checkbox",
        /// A number.
        Number = "Number",
        /// A percentage.
        Percent = "Percent",
        /// Single-line text.
        Text = "Text",
        /// A hidden value.
        Password = "Password",
    }
}

string_enum! {
    /// How a custom field is filled in.
    pub enum CustomFieldEntryMethod {
        /// A date picker.
        Date = "Date",
        /// Free entry.
        EntryField = "EntryField",
        /// A list.
        List = "List",
        /// Options.
        Option = "Option",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip() {
        let value: BillCustomer = serde_json::from_str("\"DoNotBill\"").unwrap();

        assert_eq!(value, BillCustomer::DoNotBill);
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"DoNotBill\"");
    }

    #[test]
    fn unknown_values_are_kept_verbatim() {
        let value: AgreementStatus = serde_json::from_str("\"OnHold\"").unwrap();

        assert_eq!(value, AgreementStatus::Unrecognized("OnHold".to_owned()));
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"OnHold\"");
    }

    #[test]
    fn wire_spelling_differs_from_the_variant_name_where_needed() {
        assert_eq!(CustomFieldType::IpAddress.as_str(), "IPAddress");
        assert_eq!(
            CustomFieldType::from_wire("IPAddress"),
            CustomFieldType::IpAddress
        );
    }
}
