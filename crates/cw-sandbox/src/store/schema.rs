//! The field lists of every collection, taken from reference §8, and the path lookups built on
//! them.
//!
//! A schema says which fields a record may hold, of which kind, and which are required on
//! create or computed by the server. Validation, `knows_path` and reference rendering all read
//! these tables, so a field added here is accepted, queryable and stored everywhere at once.

use super::Collection;
use crate::query::FieldType;

/// What a field holds and how an incoming value is checked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A string, with an optional maximum length in characters.
    Text(Option<usize>),
    /// A whole number; numeric strings are accepted.
    Integer,
    /// A decimal number (money, quantities); numeric strings are accepted.
    Decimal,
    /// A boolean.
    Bool,
    /// A `YYYY-MM-DDTHH:MM:SSZ` date-time.
    DateTime,
    /// One of a fixed list of case-sensitive strings.
    Enum(&'static [&'static str]),
    /// A reference object; `Some` names the collection whose record must exist, `None` marks a
    /// reference to something the sandbox does not model (stored as sent).
    Ref(Option<Collection>),
    /// A JSON array stored as sent.
    Array,
}

/// One field of a collection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Missing on create (or replace) gives `MissingRequiredField`.
    pub required: bool,
    /// Computed by the server; ignored in bodies and refused as a PATCH path.
    pub read_only: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        read_only: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
        read_only: false,
    }
}

const fn computed(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        read_only: true,
    }
}

use Collection as C;
use Kind::{Array, Bool, DateTime, Decimal, Enum, Integer, Ref, Text};

const STR: Kind = Text(None);
const S50: Kind = Text(Some(50));

/// `billTime`, `billExpenses`, `billProducts` on agreements and agreement types.
pub(crate) const BILL_OPTIONS: &[&str] = &["Billable", "DoNotBill", "NoCharge", "NoDefault"];
/// `billCustomer` on additions (no `NoDefault` there).
pub(crate) const BILL_CUSTOMER: &[&str] = &["Billable", "DoNotBill", "NoCharge"];
const APPLICATION_UNITS: &[&str] = &["Amount", "Hours", "Incidents"];
const APPLICATION_CYCLE: &[&str] = &[
    "Contract2Weeks",
    "Contract4Weeks",
    "ContractYear",
    "CalendarMonth",
    "CalendarQuarter",
    "CalendarWeek",
    "ContractQuarter",
    "CalendarYear",
];
const COMP_RATE: &[&str] = &["Actual", "Hourly"];
const COMP_NOT_EXCEED: &[&str] = &["Billing", "Amount", "Percent"];
const INVOICING_CYCLE: &[&str] = &["ContractYear", "CalendarYear"];
const PERIOD_TYPE: &[&str] = &["Current", "Future", "Both", "Undefined"];
const AGREEMENT_STATUS: &[&str] = &["Active", "Cancelled", "Expired", "Inactive"];
/// `productClass` on catalog items.
pub(crate) const PRODUCT_CLASS: &[&str] = &[
    "Agreement",
    "Bundle",
    "Inventory",
    "NonInventory",
    "Service",
];
const PRICE_ATTRIBUTE: &[&str] = &[
    "FixedFee",
    "NotToExceed",
    "OverrideRate",
    "TimeAndMaterials",
];
/// `billingOptions` on billing cycles.
pub(crate) const BILLING_OPTIONS: &[&str] = &[
    "BiMonthly",
    "BiWeekly",
    "Monthly",
    "NotRecurring",
    "Quarterly",
    "SemiAnnual",
    "Weekly",
    "Yearly",
];

const AGREEMENT: &[Field] = &[
    req("name", Text(Some(100))),
    req("type", Ref(Some(C::AgreementTypes))),
    req("company", Ref(Some(C::Companies))),
    req("contact", Ref(Some(C::Contacts))),
    opt("site", Ref(None)),
    opt("subContractCompany", Ref(Some(C::Companies))),
    opt("subContractContact", Ref(Some(C::Contacts))),
    opt("parentAgreement", Ref(Some(C::Agreements))),
    opt("customerPO", S50),
    opt("location", Ref(Some(C::Locations))),
    opt("department", Ref(Some(C::Departments))),
    opt("restrictLocationFlag", Bool),
    opt("restrictDepartmentFlag", Bool),
    opt("startDate", DateTime),
    opt("endDate", DateTime),
    opt("noEndingDateFlag", Bool),
    opt("opportunity", Ref(None)),
    opt("cancelledFlag", Bool),
    opt("dateCancelled", DateTime),
    opt("reasonCancelled", Text(Some(100))),
    opt("sla", Ref(None)),
    opt("workOrder", Text(Some(20))),
    opt("internalNotes", STR),
    opt("applicationUnits", Enum(APPLICATION_UNITS)),
    opt("applicationLimit", Decimal),
    opt("applicationCycle", Enum(APPLICATION_CYCLE)),
    opt("applicationUnlimitedFlag", Bool),
    opt("oneTimeFlag", Bool),
    opt("coverAgreementTime", Bool),
    opt("coverAgreementProduct", Bool),
    opt("coverAgreementExpense", Bool),
    opt("coverSalesTax", Bool),
    opt("carryOverUnused", Bool),
    opt("allowOverruns", Bool),
    opt("expiredDays", Integer),
    opt("limit", Integer),
    opt("expireWhenZero", Bool),
    opt("chargeToFirm", Bool),
    opt("employeeCompRate", Enum(COMP_RATE)),
    opt("employeeCompNotExceed", Enum(COMP_NOT_EXCEED)),
    opt("compHourlyRate", Decimal),
    opt("compLimitAmount", Decimal),
    opt("billingCycle", Ref(Some(C::BillingCycles))),
    opt("billOneTimeFlag", Bool),
    opt("billingTerms", Ref(None)),
    opt("invoicingCycle", Enum(INVOICING_CYCLE)),
    opt("billToCompany", Ref(Some(C::Companies))),
    opt("billToContact", Ref(Some(C::Contacts))),
    opt("billToSite", Ref(None)),
    opt("billAmount", Decimal),
    opt("taxable", Bool),
    opt("prorateFirstBill", Decimal),
    opt("billStartDate", DateTime),
    opt("taxCode", Ref(None)),
    opt("restrictDownPayment", Bool),
    opt("prorateFlag", Bool),
    opt("invoiceProratedAdditionsFlag", Bool),
    opt("invoiceDescription", STR),
    opt("topComment", Bool),
    opt("bottomComment", Bool),
    opt("workRole", Ref(None)),
    opt("workType", Ref(None)),
    opt("projectType", Ref(None)),
    opt("invoiceTemplate", Ref(None)),
    opt("billTime", Enum(BILL_OPTIONS)),
    opt("billExpenses", Enum(BILL_OPTIONS)),
    opt("billProducts", Enum(BILL_OPTIONS)),
    opt("billableTimeInvoice", Bool),
    opt("billableExpenseInvoice", Bool),
    opt("billableProductInvoice", Bool),
    opt("currency", Ref(None)),
    opt("periodType", Enum(PERIOD_TYPE)),
    opt("autoInvoiceFlag", Bool),
    computed("nextInvoiceDate", STR),
    opt("companyLocation", Ref(Some(C::Locations))),
    opt("shipToCompany", Ref(Some(C::Companies))),
    opt("shipToContact", Ref(Some(C::Contacts))),
    opt("shipToSite", Ref(None)),
    computed("agreementStatus", Enum(AGREEMENT_STATUS)),
    opt("customFields", Array),
];

const ADDITION: &[Field] = &[
    req("product", Ref(Some(C::Catalog))),
    opt("quantity", Decimal),
    opt("lessIncluded", Decimal),
    opt("unitPrice", Decimal),
    opt("unitCost", Decimal),
    req("billCustomer", Enum(BILL_CUSTOMER)),
    opt("effectiveDate", DateTime),
    opt("cancelledDate", DateTime),
    opt("taxableFlag", Bool),
    opt("serialNumber", S50),
    opt("invoiceDescription", Text(Some(6000))),
    opt("purchaseItemFlag", Bool),
    opt("specialOrderFlag", Bool),
    computed("agreementId", Integer),
    opt("description", STR),
    computed("billedQuantity", Decimal),
    opt("uom", STR),
    computed("extPrice", Decimal),
    computed("extCost", Decimal),
    opt("sequenceNumber", Decimal),
    computed("margin", Decimal),
    opt("prorateCost", Decimal),
    opt("proratePrice", Decimal),
    opt("extendedProrateCost", Decimal),
    opt("extendedProratePrice", Decimal),
    opt("prorateCurrentPeriodFlag", Bool),
    opt("opportunity", Ref(None)),
    computed("agreementStatus", Enum(AGREEMENT_STATUS)),
    opt("invoiceGrouping", Ref(None)),
    opt("customFields", Array),
];

const AGREEMENT_TYPE: &[Field] = &[
    req("name", S50),
    opt("prefixSuffixOption", Enum(&["Prefix", "Suffix"])),
    opt("defaultFlag", Bool),
    opt("inactiveFlag", Bool),
    opt("prePaymentFlag", Bool),
    opt("invoicePreSuffix", Text(Some(5))),
    opt("location", Ref(Some(C::Locations))),
    opt("department", Ref(Some(C::Departments))),
    opt("restrictLocationFlag", Bool),
    opt("restrictDepartmentFlag", Bool),
    opt("sla", Ref(None)),
    opt("applicationUnits", Enum(APPLICATION_UNITS)),
    opt("applicationLimit", Decimal),
    opt("applicationCycle", Enum(APPLICATION_CYCLE)),
    opt("applicationUnlimitedFlag", Bool),
    opt("oneTimeFlag", Bool),
    opt("coverAgreementTimeFlag", Bool),
    opt("coverAgreementProductFlag", Bool),
    opt("coverAgreementExpenseFlag", Bool),
    opt("coverSalesTaxFlag", Bool),
    opt("carryOverUnusedFlag", Bool),
    opt("allowOverrunsFlag", Bool),
    opt("expiredDays", Integer),
    opt("limit", Integer),
    opt("expireWhenZero", Bool),
    opt("chargeToFirmFlag", Bool),
    req("employeeCompRate", Enum(COMP_RATE)),
    req("employeeCompNotExceed", Enum(COMP_NOT_EXCEED)),
    opt("compHourlyRate", Decimal),
    opt("compLimitAmount", Decimal),
    opt("billingCycle", Ref(Some(C::BillingCycles))),
    opt("billOneTimeFlag", Bool),
    opt("billingTerms", Ref(None)),
    req("invoicingCycle", Enum(INVOICING_CYCLE)),
    opt("billAmount", Decimal),
    opt("taxableFlag", Bool),
    opt("restrictDownPaymentFlag", Bool),
    opt("invoiceDescription", Text(Some(4000))),
    opt("topCommentFlag", Bool),
    opt("bottomCommentFlag", Bool),
    opt("workRole", Ref(None)),
    opt("workType", Ref(None)),
    opt("projectType", Ref(None)),
    opt("invoiceTemplate", Ref(None)),
    req("billTime", Enum(BILL_OPTIONS)),
    req("billExpenses", Enum(BILL_OPTIONS)),
    req("billProducts", Enum(BILL_OPTIONS)),
    opt("billableTimeInvoiceFlag", Bool),
    opt("billableExpenseInvoiceFlag", Bool),
    opt("billableProductInvoiceFlag", Bool),
    opt("copyWorkRolesFlag", Bool),
    opt("copyWorkTypesFlag", Bool),
    opt("exclusionWorkRoleIds", Array),
    opt("addAllWorkRoleExclusions", Bool),
    opt("removeAllWorkRoleExclusions", Bool),
    opt("exclusionWorkTypeIds", Array),
    opt("addAllWorkTypeExclusions", Bool),
    opt("removeAllWorkTypeExclusions", Bool),
    opt("integrationXRef", S50),
    opt("prorateFlag", Bool),
    opt("emailTemplate", Ref(None)),
    opt("autoInvoiceFlag", Bool),
    opt("invoiceProratedAdditionsFlag", Bool),
];

const CATALOG_ITEM: &[Field] = &[
    req("identifier", Text(Some(75))),
    req("description", Text(Some(60))),
    opt("inactiveFlag", Bool),
    req("subcategory", Ref(Some(C::Subcategories))),
    req("type", Ref(Some(C::ProductTypes))),
    opt("productClass", Enum(PRODUCT_CLASS)),
    opt("serializedFlag", Bool),
    opt("serializedCostFlag", Bool),
    opt("phaseProductFlag", Bool),
    opt("unitOfMeasure", Ref(Some(C::UnitsOfMeasure))),
    opt("minStockLevel", Integer),
    opt("price", Decimal),
    opt("cost", Decimal),
    opt("priceAttribute", Enum(PRICE_ATTRIBUTE)),
    opt("taxableFlag", Bool),
    opt("dropShipFlag", Bool),
    opt("specialOrderFlag", Bool),
    req("customerDescription", Text(Some(6000))),
    opt("manufacturer", Ref(None)),
    opt("manufacturerPartNumber", S50),
    opt("vendor", Ref(Some(C::Companies))),
    opt("vendorSku", S50),
    opt("notes", STR),
    opt("integrationXRef", S50),
    opt("sla", Ref(None)),
    opt("entityType", Ref(None)),
    opt("recurringFlag", Bool),
    opt("recurringRevenue", Decimal),
    opt("recurringCost", Decimal),
    opt("recurringOneTimeFlag", Bool),
    opt("recurringBillCycle", Ref(Some(C::BillingCycles))),
    opt("recurringCycleType", Enum(INVOICING_CYCLE)),
    opt("calculatedPriceFlag", Bool),
    opt("calculatedCostFlag", Bool),
    opt("category", Ref(None)),
    opt("calculatedPrice", Decimal),
    opt("calculatedCost", Decimal),
    opt("billableOption", Enum(BILL_OPTIONS)),
    opt("connectWiseID", STR),
    opt("agreementType", Ref(Some(C::AgreementTypes))),
    opt("markupPercentage", Decimal),
    opt("markupFlag", Bool),
    opt("autoUpdateUnitCostFlag", Bool),
    opt("autoUpdateUnitPriceFlag", Bool),
    opt("customFields", Array),
];

const COMPANY: &[Field] = &[
    req("identifier", Text(Some(30))),
    req("name", S50),
    opt("status", Ref(None)),
    opt("addressLine1", S50),
    opt("addressLine2", S50),
    opt("city", S50),
    opt("state", S50),
    opt("zip", Text(Some(12))),
    opt("country", Ref(None)),
    opt("phoneNumber", Text(Some(30))),
    opt("faxNumber", Text(Some(30))),
    opt("website", Text(Some(255))),
    opt("territory", Ref(Some(C::Locations))),
    opt("market", Ref(None)),
    opt("accountNumber", STR),
    opt("defaultContact", Ref(Some(C::Contacts))),
    opt("dateAcquired", DateTime),
    opt("sicCode", Ref(None)),
    opt("parentCompany", Ref(Some(C::Companies))),
    opt("annualRevenue", Decimal),
    opt("numberOfEmployees", Integer),
    opt("yearEstablished", Integer),
    opt("revenueYear", Integer),
    opt("ownershipType", Ref(None)),
    opt("timeZoneSetup", Ref(None)),
    opt("leadSource", S50),
    opt("leadFlag", Bool),
    opt("unsubscribeFlag", Bool),
    opt("calendar", Ref(None)),
    opt("userDefinedField1", S50),
    opt("userDefinedField2", S50),
    opt("userDefinedField3", S50),
    opt("userDefinedField4", S50),
    opt("userDefinedField5", S50),
    opt("userDefinedField6", S50),
    opt("userDefinedField7", S50),
    opt("userDefinedField8", S50),
    opt("userDefinedField9", S50),
    opt("userDefinedField10", S50),
    opt("vendorIdentifier", STR),
    opt("taxIdentifier", STR),
    opt("taxCode", Ref(None)),
    opt("billingTerms", Ref(None)),
    opt("invoiceTemplate", Ref(None)),
    opt("pricingSchedule", Ref(None)),
    opt("companyEntityType", Ref(None)),
    opt("billToCompany", Ref(Some(C::Companies))),
    opt("billingSite", Ref(None)),
    opt("billingContact", Ref(Some(C::Contacts))),
    opt("invoiceDeliveryMethod", Ref(None)),
    opt("invoiceToEmailAddress", STR),
    opt("invoiceCCEmailAddress", STR),
    opt("deletedFlag", Bool),
    opt("dateDeleted", DateTime),
    opt("deletedBy", STR),
    opt("mobileGuid", STR),
    opt("facebookUrl", STR),
    opt("twitterUrl", STR),
    opt("linkedInUrl", STR),
    opt("currency", Ref(None)),
    opt("territoryManager", Ref(None)),
    opt("resellerIdentifier", STR),
    opt("isVendorFlag", Bool),
    opt("types", Array),
    opt("site", Ref(None)),
    opt("integratorTags", Array),
    opt("customFields", Array),
];

const CONTACT: &[Field] = &[
    opt("firstName", STR),
    opt("lastName", STR),
    opt("company", Ref(Some(C::Companies))),
    opt("site", Ref(None)),
    opt("addressLine1", STR),
    opt("addressLine2", STR),
    opt("city", STR),
    opt("state", STR),
    opt("zip", STR),
    opt("country", Ref(None)),
    opt("relationship", Ref(None)),
    opt("relationshipOverride", STR),
    opt("department", Ref(None)),
    opt("inactiveFlag", Bool),
    opt("defaultMergeContactId", Integer),
    opt("securityIdentifier", STR),
    opt("managerContact", Ref(Some(C::Contacts))),
    opt("assistantContact", Ref(Some(C::Contacts))),
    opt("title", STR),
    opt("school", STR),
    opt("nickName", STR),
    opt("marriedFlag", Bool),
    opt("childrenFlag", Bool),
    opt("children", STR),
    opt("significantOther", STR),
    opt("portalSecurityLevel", Integer),
    opt("disablePortalLoginFlag", Bool),
    opt("unsubscribeFlag", Bool),
    opt("gender", Enum(&["Female", "Male"])),
    opt("birthDay", STR),
    opt("anniversary", STR),
    opt(
        "presence",
        Enum(&["NoAgent", "Online", "DoNotDisturb", "Away", "Offline"]),
    ),
    opt("mobileGuid", STR),
    opt("facebookUrl", STR),
    opt("twitterUrl", STR),
    opt("linkedInUrl", STR),
    opt("defaultPhoneType", STR),
    opt("defaultPhoneNbr", STR),
    opt("defaultPhoneExtension", STR),
    opt("defaultBillingFlag", Bool),
    opt("defaultFlag", Bool),
    opt("userDefinedField1", S50),
    opt("userDefinedField2", S50),
    opt("userDefinedField3", S50),
    opt("userDefinedField4", S50),
    opt("userDefinedField5", S50),
    opt("userDefinedField6", S50),
    opt("userDefinedField7", S50),
    opt("userDefinedField8", S50),
    opt("userDefinedField9", S50),
    opt("userDefinedField10", S50),
    opt("companyLocation", Ref(Some(C::Locations))),
    opt("communicationItems", Array),
    opt("types", Array),
    opt("integratorTags", Array),
    opt("customFields", Array),
    opt("photo", Ref(None)),
    opt("ignoreDuplicates", Bool),
    opt("typeIds", Array),
];

const PRODUCT_TYPE: &[Field] = &[
    req("name", S50),
    opt(
        "typeXref",
        Enum(&[
            "InventoryPart",
            "NonInventoryPart",
            "OtherCharge",
            "Service",
        ]),
    ),
    opt("inactiveFlag", Bool),
];

const SUBCATEGORY: &[Field] = &[
    req("name", S50),
    opt("category", Ref(None)),
    opt("inactiveFlag", Bool),
];

const UNIT_OF_MEASURE: &[Field] = &[
    req("name", S50),
    opt("inactiveFlag", Bool),
    opt("defaultFlag", Bool),
    opt("uomScheduleXref", STR),
];

const BILLING_CYCLE: &[Field] = &[
    req("identifier", Text(Some(5))),
    req("name", S50),
    opt("defaultFlag", Bool),
    req("billingOptions", Enum(BILLING_OPTIONS)),
];

// The reference marks `structureLevel` as required on locations; the sandbox keeps it optional
// so that seed files need not invent corporate structure levels (a documented difference).
const LOCATION: &[Field] = &[
    opt("ownerLevelId", Integer),
    opt("structureLevel", Ref(None)),
    req("name", S50),
    opt("manager", Ref(None)),
    opt("reportsTo", Ref(Some(C::Locations))),
    opt("salesRep", S50),
    opt("timeZoneSetup", Ref(None)),
    opt("calendar", Ref(None)),
    opt("overrideAddressLine1", S50),
    opt("overrideAddressLine2", S50),
    opt("overrideCity", S50),
    opt("overrideState", S50),
    opt("overrideZip", Text(Some(12))),
    opt("overrideCountry", Ref(None)),
    opt("overridePhoneNumber", Text(Some(15))),
    opt("overrideFaxNumber", Text(Some(15))),
    opt("owaUrl", Text(Some(100))),
    opt("payrollXref", Text(Some(10))),
    opt("locationFlag", Bool),
    opt("clientFlag", Bool),
    opt("workRoleIds", Array),
    opt("departmentIds", Array),
];

const DEPARTMENT: &[Field] = &[req("identifier", Text(Some(15))), req("name", S50)];

/// The fields of `collection`, in the order records are written out (after `id`, before
/// `_info`).
pub(crate) fn fields(collection: Collection) -> &'static [Field] {
    match collection {
        Collection::Companies => COMPANY,
        Collection::Contacts => CONTACT,
        Collection::Agreements => AGREEMENT,
        Collection::AgreementTypes => AGREEMENT_TYPE,
        Collection::Additions => ADDITION,
        Collection::Catalog => CATALOG_ITEM,
        Collection::ProductTypes => PRODUCT_TYPE,
        Collection::Subcategories => SUBCATEGORY,
        Collection::UnitsOfMeasure => UNIT_OF_MEASURE,
        Collection::BillingCycles => BILLING_CYCLE,
        Collection::Locations => LOCATION,
        Collection::Departments => DEPARTMENT,
    }
}

/// The field of `collection` whose name matches `name` case-insensitively.
pub(crate) fn field(collection: Collection, name: &str) -> Option<&'static Field> {
    fields(collection)
        .iter()
        .find(|field| field.name.eq_ignore_ascii_case(name))
}

/// Whether records of `collection` have an `identifier` that references may use.
pub(crate) fn has_identifier(collection: Collection) -> bool {
    field(collection, "identifier").is_some()
}

/// The keys of the reference object that points at a record of `target`, besides `id` and
/// `_info` (reference §5.5).
pub(crate) fn reference_keys(target: Collection) -> &'static [&'static str] {
    match target {
        Collection::Companies | Collection::Departments => &["identifier", "name"],
        Collection::Agreements => &["name", "type", "chargeFirmFlag"],
        Collection::Catalog => &["identifier", "serializedFlag"],
        _ => &["name"],
    }
}

/// Whether `path` (segments separated by `/`) names a field of `collection`; matching is
/// case-insensitive. `id` and `_info/<anything>` exist everywhere; a reference field accepts its
/// reference keys (`company/name`), and arrays and unmodelled references accept one sub-key.
pub(crate) fn knows_path(collection: Collection, path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let Some((first, rest)) = segments.split_first() else {
        return false;
    };

    if first.eq_ignore_ascii_case("id") {
        return rest.is_empty();
    }
    if first.eq_ignore_ascii_case("_info") {
        return rest.len() <= 1;
    }

    let Some(field) = field(collection, first) else {
        return false;
    };
    match (field.kind, rest) {
        (_, []) => true,
        (Kind::Ref(target), [key, tail @ ..]) => knows_reference_path(target, key, tail),
        (Kind::Array, [_]) => true,
        _ => false,
    }
}

fn knows_reference_path(target: Option<Collection>, key: &str, tail: &[&str]) -> bool {
    if key.eq_ignore_ascii_case("_info") {
        return tail.len() <= 1;
    }
    if !tail.is_empty() {
        return false;
    }
    if key.eq_ignore_ascii_case("id") {
        return true;
    }
    match target {
        Some(target) => reference_keys(target)
            .iter()
            .any(|known| known.eq_ignore_ascii_case(key)),
        None => ["name", "identifier"]
            .iter()
            .any(|known| known.eq_ignore_ascii_case(key)),
    }
}

/// What the field at `segments` of a `collection` record holds, for type checks of
/// `conditions`; names match case-insensitively. Paths the schema does not describe (array
/// elements, unknown keys of unmodelled references) are [`FieldType::Any`].
pub(crate) fn path_type(collection: Collection, segments: &[String]) -> FieldType {
    let Some((first, rest)) = segments.split_first() else {
        return FieldType::Any;
    };

    if first.eq_ignore_ascii_case("id") {
        return FieldType::Number;
    }
    if first.eq_ignore_ascii_case("_info") {
        return info_type(rest);
    }

    let Some(field) = field(collection, first) else {
        return FieldType::Any;
    };
    match (field.kind, rest) {
        (Kind::Text(_) | Kind::Enum(_), []) if field.name.ends_with("Date") => FieldType::DateText,
        (Kind::Text(_) | Kind::Enum(_), []) => FieldType::Text,
        (Kind::Integer | Kind::Decimal, []) => FieldType::Number,
        (Kind::Bool, []) => FieldType::Bool,
        (Kind::DateTime, []) => FieldType::DateTime,
        (Kind::Ref(_), []) => FieldType::Reference,
        (Kind::Array, []) => FieldType::List,
        (Kind::Ref(_), [key, tail @ ..]) => reference_key_type(key, tail),
        _ => FieldType::Any,
    }
}

/// `_info` itself is an object; its entries are strings, some of which hold dates.
fn info_type(rest: &[String]) -> FieldType {
    match rest {
        [] => FieldType::Reference,
        [_] => FieldType::DateText,
        _ => FieldType::Any,
    }
}

fn reference_key_type(key: &str, tail: &[String]) -> FieldType {
    if key.eq_ignore_ascii_case("_info") {
        return info_type(tail);
    }
    if !tail.is_empty() {
        return FieldType::Any;
    }
    if key.eq_ignore_ascii_case("id") {
        FieldType::Number
    } else if key.eq_ignore_ascii_case("chargeFirmFlag")
        || key.eq_ignore_ascii_case("serializedFlag")
    {
        FieldType::Bool
    } else {
        FieldType::Text
    }
}
