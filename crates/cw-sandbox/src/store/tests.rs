//! Tests of the store: one per validation rule, persistence across reopening, seed errors and
//! the invoice preview arithmetic.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::*;

/// A small seed with round numbers, so expected amounts can be worked out by hand.
fn small_seed() -> SeedData {
    let seed = json!({
        "billingCycles": [
            {"id": 1, "identifier": "MON", "name": "Monthly", "billingOptions": "Monthly"},
            {"id": 2, "identifier": "QTR", "name": "Quarterly", "billingOptions": "Quarterly"}
        ],
        "locations": [{"id": 1, "name": "Head Office"}],
        "departments": [{"id": 1, "identifier": "CLOUD", "name": "Cloud Services"}],
        "productTypes": [{"id": 1, "name": "Cloud Service", "typeXref": "Service"}],
        "subcategories": [{"id": 1, "name": "Compute"}],
        "unitsOfMeasure": [{"id": 1, "name": "GB"}],
        "agreementTypes": [
            {"id": 1, "name": "Private Cloud Services", "billingCycle": {"id": 1},
             "prorateFlag": true, "invoicingCycle": "ContractYear", "employeeCompRate": "Actual",
             "employeeCompNotExceed": "Billing", "billTime": "DoNotBill",
             "billExpenses": "DoNotBill", "billProducts": "Billable", "location": {"id": 1}},
            {"id": 2, "name": "Quarterly Services", "billingCycle": {"id": 2},
             "prorateFlag": false, "invoicingCycle": "CalendarYear", "employeeCompRate": "Hourly",
             "employeeCompNotExceed": "Amount", "billTime": "Billable",
             "billExpenses": "Billable", "billProducts": "Billable"}
        ],
        "companies": [
            {"id": 1, "identifier": "ACME", "name": "Acme & Co"},
            {"id": 2, "identifier": "GLOBEX", "name": "Globex"}
        ],
        "contacts": [
            {"id": 1, "firstName": "Ada", "lastName": "Lovelace", "company": {"id": 1}},
            {"id": 2, "firstName": "Hank", "lastName": "Scorpio", "company": {"id": 2}}
        ],
        "catalog": [
            {"id": 1, "identifier": "VCPU", "description": "vCPU", "subcategory": {"id": 1},
             "type": {"id": 1}, "productClass": "Service", "unitOfMeasure": {"id": 1},
             "price": 10, "cost": 4, "customerDescription": "One vCPU"},
            {"id": 2, "identifier": "STARTER", "description": "Starter bundle",
             "subcategory": {"id": 1}, "type": {"id": 1}, "productClass": "Bundle",
             "price": 100, "customerDescription": "A bundle"}
        ],
        "agreements": [
            {"id": 1, "name": "Acme master", "type": {"id": 1}, "company": {"id": 1},
             "contact": {"id": 1}, "startDate": "2025-01-01T00:00:00Z"},
            {"id": 2, "name": "Globex master", "type": {"id": 1}, "company": {"id": 2},
             "contact": {"id": 2}, "startDate": "2025-01-01T00:00:00Z"}
        ],
        "security": {"deny": [{"method": "DELETE", "path": "/finance/agreements/{id}"}]}
    });
    SeedData::parse("small seed", &seed.to_string()).expect("the small seed parses")
}

async fn small_store() -> Store {
    Store::open(&small_seed(), None)
        .await
        .expect("the small seed loads")
}

/// The `(code, field)` pairs of a validation failure; panics on any other outcome.
fn field_errors(result: Result<Value, StoreError>) -> Vec<(String, String)> {
    match result {
        Err(StoreError::Invalid(body)) => {
            assert_eq!(body.code, "InvalidObject");
            body.errors
                .into_iter()
                .map(|entry| (entry.code, entry.field))
                .collect()
        }
        other => panic!("expected a validation failure, got {other:?}"),
    }
}

fn pair(code: &str, field: &str) -> (String, String) {
    (code.to_owned(), field.to_owned())
}

fn agreement(name: &str) -> Value {
    json!({"name": name, "type": {"id": 1}, "company": {"id": 1}, "contact": {"id": 1}})
}

fn addition(quantity: Value) -> Value {
    json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": quantity})
}

fn replace(path: &str, value: Value) -> PatchOperation {
    PatchOperation {
        op: "replace".to_owned(),
        path: path.to_owned(),
        value,
    }
}

fn number(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        other => panic!("expected a number, got {other}"),
    }
}

// Required fields, lengths, enums, formats.

#[tokio::test]
async fn an_agreement_without_a_name_is_missing_a_required_field() {
    let store = small_store().await;
    let mut body = agreement("x");
    body.as_object_mut().unwrap().remove("name");

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("MissingRequiredField", "name")]);
}

#[tokio::test]
async fn every_failing_field_gets_its_own_error_entry() {
    let store = small_store().await;

    let result = store
        .create(
            Collection::Agreements,
            None,
            json!({"billTime": "Sometimes"}),
        )
        .await;

    let mut errors = field_errors(result);
    errors.sort();
    assert_eq!(
        errors,
        vec![
            pair("InvalidField", "billTime"),
            pair("MissingRequiredField", "company"),
            pair("MissingRequiredField", "contact"),
            pair("MissingRequiredField", "name"),
            pair("MissingRequiredField", "type"),
        ]
    );
}

#[tokio::test]
async fn blank_required_strings_are_missing_one_entry_per_field() {
    let store = small_store().await;

    let company = field_errors(
        store
            .create(
                Collection::Companies,
                None,
                json!({"identifier": "", "name": ""}),
            )
            .await,
    );
    let agreement = field_errors(
        store
            .create(Collection::Agreements, None, agreement("   "))
            .await,
    );
    let item = field_errors(
        store
            .create(
                Collection::Catalog,
                None,
                json!({"identifier": " ", "description": "\t", "customerDescription": "",
                       "subcategory": {"id": 1}, "type": {"id": 1}}),
            )
            .await,
    );

    assert_eq!(
        company,
        vec![
            pair("MissingRequiredField", "identifier"),
            pair("MissingRequiredField", "name")
        ]
    );
    assert_eq!(agreement, vec![pair("MissingRequiredField", "name")]);
    assert_eq!(
        item,
        vec![
            pair("MissingRequiredField", "identifier"),
            pair("MissingRequiredField", "description"),
            pair("MissingRequiredField", "customerDescription")
        ]
    );
}

#[tokio::test]
async fn blanking_a_required_string_by_patch_or_put_is_refused() {
    let store = small_store().await;

    let patched = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("name", json!("  "))],
            )
            .await,
    );
    let replaced = field_errors(
        store
            .replace(
                Collection::Companies,
                None,
                2,
                json!({"identifier": "GLOBEX", "name": ""}),
            )
            .await,
    );

    assert_eq!(patched, vec![pair("MissingRequiredField", "name")]);
    assert_eq!(replaced, vec![pair("MissingRequiredField", "name")]);
    let stored = store.get(Collection::Agreements, None, 1).await.unwrap();
    assert_eq!(stored["name"], json!("Acme master"));
}

#[tokio::test]
async fn an_optional_string_may_be_blank() {
    let store = small_store().await;
    let mut body = agreement("Blank PO");
    body["customerPO"] = json!("");

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    assert_eq!(created["customerPO"], json!(""));
}

#[tokio::test]
async fn an_agreement_name_longer_than_100_characters_is_an_invalid_field() {
    let store = small_store().await;

    let result = store
        .create(Collection::Agreements, None, agreement(&"é".repeat(101)))
        .await;

    assert_eq!(field_errors(result), vec![pair("InvalidField", "name")]);
}

#[tokio::test]
async fn an_agreement_name_of_exactly_100_non_ascii_characters_is_accepted() {
    let store = small_store().await;

    let created = store
        .create(Collection::Agreements, None, agreement(&"東".repeat(100)))
        .await
        .expect("100 characters are allowed");

    assert_eq!(created["name"].as_str().unwrap().chars().count(), 100);
}

#[tokio::test]
async fn an_agreement_name_of_60_emoji_is_120_utf16_units_and_an_invalid_field() {
    let store = small_store().await;

    let too_long = store
        .create(Collection::Agreements, None, agreement(&"🚀".repeat(60)))
        .await;
    let fits = store
        .create(Collection::Agreements, None, agreement(&"🚀".repeat(50)))
        .await;

    assert_eq!(field_errors(too_long), vec![pair("InvalidField", "name")]);
    assert!(fits.is_ok(), "50 emoji are 100 UTF-16 units");
}

#[tokio::test]
async fn a_company_identifier_over_30_and_a_name_over_50_characters_are_both_reported() {
    let store = small_store().await;
    let body = json!({"identifier": "X".repeat(31), "name": "N".repeat(51)});

    let mut errors = field_errors(store.create(Collection::Companies, None, body).await);
    errors.sort();

    assert_eq!(
        errors,
        vec![
            pair("InvalidField", "identifier"),
            pair("InvalidField", "name")
        ]
    );
}

#[tokio::test]
async fn an_enum_value_outside_the_list_is_refused_and_matching_is_case_sensitive() {
    let store = small_store().await;
    let mut body = agreement("Enum check");
    body["billProducts"] = json!("billable");

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "billProducts")]);
}

#[tokio::test]
async fn a_badly_formatted_start_date_is_an_unsupported_format() {
    let store = small_store().await;
    let mut body = agreement("Date check");
    body["startDate"] = json!("03/01/2025 02:00 PM");

    let result = store.create(Collection::Agreements, None, body).await;

    let Err(StoreError::Invalid(error)) = result else {
        panic!("expected a validation failure");
    };
    assert_eq!(error.errors.len(), 1);
    assert_eq!(error.errors[0].code, "UnsupportedFormat");
    assert_eq!(error.errors[0].field, "startDate");
    assert_eq!(
        error.errors[0].message,
        "Unsupported format applied to startDate"
    );
    assert_eq!(error.errors[0].resource, "agreement");
}

#[tokio::test]
async fn date_times_other_than_utc_with_seconds_are_refused() {
    let store = small_store().await;

    for text in [
        "2025-03-01",
        "2025-03-01T00:00:00",
        "2025-03-01T00:00:00+10:00",
        "2025-03-01 00:00:00Z",
        "2025-3-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-03-01T00:00:00.Z",
    ] {
        let mut body = agreement("Date shapes");
        body["endDate"] = json!(text);
        let errors = field_errors(store.create(Collection::Agreements, None, body).await);
        assert_eq!(errors, vec![pair("UnsupportedFormat", "endDate")], "{text}");
    }
}

#[tokio::test]
async fn booleans_accept_their_string_spelling_and_refuse_anything_else() {
    let store = small_store().await;
    let mut spelled = agreement("Spelled flag");
    spelled["noEndingDateFlag"] = json!("true");
    let mut garbled = agreement("Garbled flag");
    garbled["noEndingDateFlag"] = json!("yes");

    let created = store
        .create(Collection::Agreements, None, spelled)
        .await
        .unwrap();
    let errors = field_errors(store.create(Collection::Agreements, None, garbled).await);

    assert_eq!(created["noEndingDateFlag"], json!(true));
    assert_eq!(errors, vec![pair("UnsupportedFormat", "noEndingDateFlag")]);
}

#[tokio::test]
async fn fractional_seconds_are_accepted_and_stored_without_them() {
    let store = small_store().await;
    let mut body = agreement("Fractions");
    body["startDate"] = json!("2025-03-01T00:00:00.123Z");

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .expect("fractional seconds are accepted");

    assert_eq!(created["startDate"], json!("2025-03-01T00:00:00Z"));
}

#[tokio::test]
async fn numeric_strings_are_stored_as_exact_json_numbers() {
    let store = small_store().await;
    let body = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": "3",
        "unitPrice": "0.1", "unitCost": 0.05});

    let created = store
        .create(Collection::Additions, Some(1), body)
        .await
        .expect("numeric strings are accepted");

    assert_eq!(number(&created["quantity"]), "3");
    assert_eq!(number(&created["unitPrice"]), "0.1");
    assert_eq!(number(&created["extPrice"]), "0.3");
    assert_eq!(number(&created["extCost"]), "0.15");
}

#[tokio::test]
async fn a_number_that_is_not_numeric_is_an_unsupported_format() {
    let store = small_store().await;

    let errors = field_errors(
        store
            .create(Collection::Additions, Some(1), addition(json!("twelve")))
            .await,
    );

    assert_eq!(errors, vec![pair("UnsupportedFormat", "quantity")]);
}

// References.

#[tokio::test]
async fn a_reference_to_a_company_that_does_not_exist_is_refused() {
    let store = small_store().await;
    let mut body = agreement("Dangling");
    body["company"] = json!({"id": 999});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "company")]);
}

#[tokio::test]
async fn a_reference_to_an_agreement_type_that_does_not_exist_is_refused() {
    let store = small_store().await;
    let mut body = agreement("No such type");
    body["type"] = json!({"id": 999});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "type")]);
}

#[tokio::test]
async fn a_reference_to_a_contact_that_does_not_exist_is_refused() {
    let store = small_store().await;
    let mut body = agreement("No such contact");
    body["contact"] = json!({"id": 999});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "contact")]);
}

#[tokio::test]
async fn an_addition_whose_product_does_not_exist_is_refused() {
    let store = small_store().await;
    let mut body = addition(json!(1));
    body["product"] = json!({"identifier": "NO-SUCH-SKU"});

    let errors = field_errors(store.create(Collection::Additions, Some(1), body).await);

    assert_eq!(errors, vec![pair("InvalidField", "product")]);
}

#[tokio::test]
async fn a_company_referenced_by_identifier_is_stored_as_a_full_reference() {
    let store = small_store().await;
    let mut body = agreement("By identifier");
    body["company"] = json!({"identifier": "acme"});

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .expect("identifier references resolve");

    assert_eq!(
        created["company"],
        json!({"id": 1, "identifier": "ACME", "name": "Acme & Co",
            "_info": {"company_href": "/company/companies/1"}})
    );
    assert_eq!(created["contact"]["name"], json!("Ada Lovelace"));
}

#[tokio::test]
async fn a_contact_of_another_company_is_refused() {
    let store = small_store().await;
    let mut body = agreement("Wrong contact");
    body["contact"] = json!({"id": 2});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "contact")]);
}

#[tokio::test]
async fn a_renamed_company_shows_its_new_name_in_the_references_to_it() {
    let store = small_store().await;

    store
        .patch(
            Collection::Companies,
            None,
            1,
            vec![replace("name", json!("Acme Holdings"))],
        )
        .await
        .expect("the rename is valid");
    let read = store.get(Collection::Agreements, None, 1).await.unwrap();

    assert_eq!(read["company"]["name"], json!("Acme Holdings"));
}

// Duplicates.

#[tokio::test]
async fn a_duplicate_company_identifier_is_an_object_exists_error_whatever_its_case() {
    let store = small_store().await;
    let body = json!({"identifier": "acme", "name": "Another Acme"});

    let errors = field_errors(store.create(Collection::Companies, None, body).await);

    assert_eq!(errors, vec![pair("ObjectExists", "identifier")]);
}

#[tokio::test]
async fn a_duplicate_catalog_identifier_is_an_object_exists_error() {
    let store = small_store().await;
    let body = json!({"identifier": "VCPU", "description": "Again", "subcategory": {"id": 1},
        "type": {"id": 1}, "customerDescription": "Again"});

    let errors = field_errors(store.create(Collection::Catalog, None, body).await);

    assert_eq!(errors, vec![pair("ObjectExists", "identifier")]);
}

// Catalog, companies, agreement types.

#[tokio::test]
async fn a_new_catalog_item_defaults_to_the_non_inventory_class() {
    let store = small_store().await;
    let body = json!({"identifier": "RAM-GB", "description": "RAM", "subcategory": {"id": 1},
        "type": {"name": "cloud service"}, "customerDescription": "One GB of RAM"});

    let created = store.create(Collection::Catalog, None, body).await.unwrap();

    assert_eq!(created["productClass"], json!("NonInventory"));
    assert_eq!(created["type"]["id"], json!(1));
}

#[tokio::test]
async fn a_catalog_item_without_its_required_fields_is_refused_field_by_field() {
    let store = small_store().await;
    let body = json!({"identifier": "X", "description": "D".repeat(61)});

    let mut errors = field_errors(store.create(Collection::Catalog, None, body).await);
    errors.sort();

    assert_eq!(
        errors,
        vec![
            pair("InvalidField", "description"),
            pair("MissingRequiredField", "customerDescription"),
            pair("MissingRequiredField", "subcategory"),
            pair("MissingRequiredField", "type"),
        ]
    );
}

#[tokio::test]
async fn a_company_without_an_identifier_and_a_name_is_refused_field_by_field() {
    let store = small_store().await;

    let mut errors = field_errors(
        store
            .create(Collection::Companies, None, json!({"city": "Dublin"}))
            .await,
    );
    errors.sort();

    assert_eq!(
        errors,
        vec![
            pair("MissingRequiredField", "identifier"),
            pair("MissingRequiredField", "name"),
        ]
    );
}

#[tokio::test]
async fn an_agreement_customer_po_longer_than_50_characters_is_an_invalid_field() {
    let store = small_store().await;
    let mut body = agreement("Long PO");
    body["customerPO"] = json!("P".repeat(51));

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "customerPO")]);
}

#[tokio::test]
async fn an_agreement_type_without_its_required_fields_is_refused() {
    let store = small_store().await;

    let mut errors = field_errors(
        store
            .create(Collection::AgreementTypes, None, json!({"name": "Bare"}))
            .await,
    );
    errors.sort();

    let fields: Vec<&str> = errors.iter().map(|(_, field)| field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "billExpenses",
            "billProducts",
            "billTime",
            "employeeCompNotExceed",
            "employeeCompRate",
            "invoicingCycle"
        ]
    );
}

#[tokio::test]
async fn an_agreement_type_prefix_longer_than_5_characters_is_an_invalid_field() {
    let store = small_store().await;
    let body = json!({"name": "Prefixed", "employeeCompRate": "Actual",
        "employeeCompNotExceed": "Billing", "invoicingCycle": "ContractYear",
        "billTime": "DoNotBill", "billExpenses": "DoNotBill", "billProducts": "Billable",
        "invoicePreSuffix": "TOOLONG"});

    let errors = field_errors(store.create(Collection::AgreementTypes, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "invoicePreSuffix")]);
}

#[tokio::test]
async fn a_contact_of_a_company_that_does_not_exist_is_refused() {
    let store = small_store().await;
    let body = json!({"firstName": "Nobody", "company": {"id": 999}});

    let errors = field_errors(store.create(Collection::Contacts, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "company")]);
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_never_stored() {
    let store = small_store().await;
    let mut body = agreement("Unknown fields");
    body["favouriteColour"] = json!("teal");
    body["agreementStatus"] = json!("Cancelled");
    body["sla"] = json!({"id": "4", "name": "Gold", "colour": "gold"});

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    assert!(created.get("favouriteColour").is_none());
    assert_eq!(created["sla"], json!({"id": 4, "name": "Gold"}));
    assert_eq!(created["agreementStatus"], json!("Active"));
}

#[tokio::test]
async fn field_names_in_a_body_match_whatever_their_case() {
    let store = small_store().await;
    let body = json!({"NAME": "Shouting", "Type": {"ID": 1}, "company": {"id": 1},
        "contact": {"id": 1}});

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    assert_eq!(created["name"], json!("Shouting"));
    assert!(created.get("NAME").is_none());
}

#[tokio::test]
async fn read_only_collections_refuse_writes() {
    let store = small_store().await;

    let result = store
        .create(Collection::BillingCycles, None, json!({"name": "Weekly"}))
        .await;

    assert!(!Collection::BillingCycles.is_writable());
    assert!(Collection::Catalog.is_writable());
    assert!(matches!(result, Err(StoreError::Invalid(_))));
}

// Agreement defaults, status and cancellation.

#[tokio::test]
async fn agreement_defaults_come_from_the_agreement_type() {
    let store = small_store().await;

    let created = store
        .create(Collection::Agreements, None, agreement("Defaults"))
        .await
        .unwrap();

    assert_eq!(created["billingCycle"]["id"], json!(1));
    assert_eq!(created["billingCycle"]["name"], json!("Monthly"));
    assert_eq!(created["prorateFlag"], json!(true));
    assert_eq!(created["billTime"], json!("DoNotBill"));
    assert_eq!(created["invoicingCycle"], json!("ContractYear"));
    assert_eq!(created["location"]["id"], json!(1));
}

#[tokio::test]
async fn values_in_the_body_win_over_agreement_type_defaults() {
    let store = small_store().await;
    let mut body = agreement("Overrides");
    body["prorateFlag"] = json!(false);
    body["billingCycle"] = json!({"id": 2});

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    assert_eq!(created["prorateFlag"], json!(false));
    assert_eq!(created["billingCycle"]["id"], json!(2));
}

#[tokio::test]
async fn agreement_status_follows_the_dates_and_the_cancellation() {
    let store = small_store().await;
    let cases = [
        (json!({"endDate": "2001-01-31T00:00:00Z"}), "Expired"),
        (json!({"startDate": "2999-01-01T00:00:00Z"}), "Inactive"),
        (json!({"startDate": "2001-01-01T00:00:00Z"}), "Active"),
        (json!({"cancelledFlag": true}), "Cancelled"),
    ];

    for (extra, status) in cases {
        let mut body = agreement("Status");
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let created = store
            .create(Collection::Agreements, None, body)
            .await
            .unwrap();
        assert_eq!(created["agreementStatus"], json!(status), "{extra}");
    }
}

#[tokio::test]
async fn cancelling_with_the_flag_sets_the_cancellation_date_to_today() {
    let store = small_store().await;

    let patched = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("cancelledFlag", json!(true))],
        )
        .await
        .unwrap();

    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    assert_eq!(patched["dateCancelled"], json!(today));
    assert_eq!(patched["agreementStatus"], json!("Cancelled"));
}

#[tokio::test]
async fn a_cancellation_date_sets_the_flag_and_clearing_the_flag_clears_the_date() {
    let store = small_store().await;

    let cancelled = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("dateCancelled", json!("2025-06-30T00:00:00Z"))],
        )
        .await
        .unwrap();
    let restored = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("cancelledFlag", json!(false))],
        )
        .await
        .unwrap();

    assert_eq!(cancelled["cancelledFlag"], json!(true));
    assert_eq!(restored["cancelledFlag"], json!(false));
    assert!(restored.get("dateCancelled").is_none());
}

// Parent and child agreements.

#[tokio::test]
async fn a_child_agreement_is_accepted_under_a_matching_parent() {
    let store = small_store().await;
    let mut body = agreement("Child");
    body["parentAgreement"] = json!({"id": 1});

    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    assert_eq!(created["parentAgreement"]["id"], json!(1));
    assert_eq!(created["parentAgreement"]["name"], json!("Acme master"));
    assert_eq!(
        created["parentAgreement"]["type"],
        json!("Private Cloud Services")
    );
}

#[tokio::test]
async fn a_child_agreement_needs_an_existing_parent() {
    let store = small_store().await;
    let mut body = agreement("Orphan");
    body["parentAgreement"] = json!({"id": 404});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

#[tokio::test]
async fn a_child_agreement_must_belong_to_its_parents_company() {
    let store = small_store().await;
    let mut body = agreement("Wrong company");
    body["parentAgreement"] = json!({"id": 2});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

#[tokio::test]
async fn a_child_agreement_must_share_its_parents_billing_cycle() {
    let store = small_store().await;
    let mut body = agreement("Quarterly child");
    body["parentAgreement"] = json!({"id": 1});
    body["type"] = json!({"id": 2});

    let result = store.create(Collection::Agreements, None, body).await;

    let Err(StoreError::Invalid(error)) = result else {
        panic!("expected a validation failure");
    };
    assert_eq!(error.errors[0].field, "parentAgreement");
    assert!(
        error.errors[0].message.contains("billing cycle"),
        "{}",
        error.errors[0].message
    );
}

#[tokio::test]
async fn a_child_of_a_child_agreement_is_refused() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    let child = store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();
    let mut grandchild = agreement("Grandchild");
    grandchild["parentAgreement"] = json!({"id": child["id"]});

    let errors = field_errors(store.create(Collection::Agreements, None, grandchild).await);

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

#[tokio::test]
async fn a_cancelled_parent_cannot_take_new_children() {
    let store = small_store().await;
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("cancelledFlag", json!(true))],
        )
        .await
        .unwrap();
    let mut body = agreement("Late child");
    body["parentAgreement"] = json!({"id": 1});

    let errors = field_errors(store.create(Collection::Agreements, None, body).await);

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

#[tokio::test]
async fn a_master_cannot_move_to_another_billing_cycle_than_its_children() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();

    let errors = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("billingCycle", json!({"id": 2}))],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "billingCycle")]);
}

#[tokio::test]
async fn a_master_cannot_move_to_another_company_than_its_children() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();

    let errors = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![
                    replace("company", json!({"id": 2})),
                    replace("contact", json!({"id": 2})),
                ],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "company")]);
}

#[tokio::test]
async fn an_agreement_cannot_be_its_own_parent() {
    let store = small_store().await;

    let errors = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("parentAgreement", json!({"id": 1}))],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

#[tokio::test]
async fn a_master_with_children_cannot_become_a_child() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();
    let other = store
        .create(Collection::Agreements, None, agreement("Other master"))
        .await
        .unwrap();

    let errors = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("parentAgreement", json!({"id": other["id"]}))],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "parentAgreement")]);
}

// Additions.

#[tokio::test]
async fn an_addition_needs_a_product_and_a_bill_customer() {
    let store = small_store().await;

    let mut errors = field_errors(
        store
            .create(Collection::Additions, Some(1), json!({"quantity": 1}))
            .await,
    );
    errors.sort();

    assert_eq!(
        errors,
        vec![
            pair("MissingRequiredField", "billCustomer"),
            pair("MissingRequiredField", "product"),
        ]
    );
}

#[tokio::test]
async fn a_bill_customer_of_no_default_is_refused_on_additions() {
    let store = small_store().await;
    let mut body = addition(json!(1));
    body["billCustomer"] = json!("NoDefault");

    let errors = field_errors(store.create(Collection::Additions, Some(1), body).await);

    assert_eq!(errors, vec![pair("InvalidField", "billCustomer")]);
}

#[tokio::test]
async fn a_bundle_class_catalog_item_cannot_be_an_addition() {
    let store = small_store().await;
    let mut body = addition(json!(1));
    body["product"] = json!({"identifier": "STARTER"});

    let errors = field_errors(store.create(Collection::Additions, Some(1), body).await);

    assert_eq!(errors, vec![pair("InvalidField", "product")]);
}

#[tokio::test]
async fn addition_prices_and_descriptions_default_from_the_catalog_item() {
    let store = small_store().await;

    let created = store
        .create(Collection::Additions, Some(1), addition(json!(2)))
        .await
        .unwrap();

    assert_eq!(number(&created["unitPrice"]), "10");
    assert_eq!(number(&created["unitCost"]), "4");
    assert_eq!(created["description"], json!("vCPU"));
    assert_eq!(created["uom"], json!("GB"));
    assert_eq!(created["product"]["identifier"], json!("VCPU"));
}

#[tokio::test]
async fn addition_amounts_are_computed_by_the_server() {
    let store = small_store().await;
    let body = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 12,
        "lessIncluded": 2, "unitPrice": 12.5, "unitCost": 4.1, "extPrice": 1});

    let created = store
        .create(Collection::Additions, Some(1), body)
        .await
        .unwrap();

    assert_eq!(created["agreementId"], json!(1));
    assert_eq!(number(&created["extPrice"]), "150");
    assert_eq!(number(&created["extCost"]), "49.2");
    assert_eq!(number(&created["margin"]), "100.8");
    assert_eq!(number(&created["billedQuantity"]), "10");
    assert_eq!(created["agreementStatus"], json!("Active"));
}

#[tokio::test]
async fn patching_the_quantity_recomputes_the_amounts_and_the_update_stamp() {
    let store = small_store().await;
    let created = store
        .create(Collection::Additions, Some(1), addition(json!(2)))
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    let patched = store
        .patch(
            Collection::Additions,
            Some(1),
            id,
            vec![replace("quantity", json!("5"))],
        )
        .await
        .unwrap();

    assert_eq!(number(&patched["extPrice"]), "50");
    assert_eq!(number(&patched["margin"]), "30");
    assert_eq!(patched["_info"]["updatedBy"], json!(UPDATED_BY));
    let stamp = patched["_info"]["lastUpdated"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").is_ok()
            && stamp.len() == "2025-01-01T00:00:00Z".len(),
        "{stamp}"
    );
    assert_eq!(
        store.get(Collection::Additions, Some(1), id).await.unwrap(),
        patched
    );
}

#[tokio::test]
async fn an_addition_under_a_missing_agreement_is_not_found() {
    let store = small_store().await;

    let result = store
        .create(Collection::Additions, Some(77), addition(json!(1)))
        .await;

    assert!(matches!(
        result,
        Err(StoreError::NotFound {
            resource: "agreement",
            id: 77
        })
    ));
}

#[tokio::test]
async fn an_addition_is_not_found_under_another_agreement() {
    let store = small_store().await;
    let created = store
        .create(Collection::Additions, Some(1), addition(json!(1)))
        .await
        .unwrap();

    let result = store
        .get(
            Collection::Additions,
            Some(2),
            created["id"].as_i64().unwrap(),
        )
        .await;

    assert!(matches!(
        result,
        Err(StoreError::NotFound {
            resource: "addition",
            ..
        })
    ));
    assert_eq!(
        store
            .list(Collection::Additions, Some(2))
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store
            .list(Collection::Additions, Some(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

// PATCH, PUT and DELETE.

#[tokio::test]
async fn a_patch_applies_dependent_fields_together() {
    let store = small_store().await;

    // Either change alone would leave the contact outside the agreement's company.
    let patched = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![
                replace("company", json!({"id": 2})),
                replace("contact", json!({"id": 2})),
            ],
        )
        .await
        .unwrap();

    assert_eq!(patched["company"]["identifier"], json!("GLOBEX"));
}

#[tokio::test]
async fn a_patch_with_an_unknown_or_nested_path_is_refused() {
    let store = small_store().await;

    let result = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![
                replace("colour", json!("teal")),
                replace("company/identifier", json!("GLOBEX")),
            ],
        )
        .await;

    assert_eq!(
        field_errors(result),
        vec![
            pair("InvalidField", "colour"),
            pair("InvalidField", "company/identifier")
        ]
    );
}

#[tokio::test]
async fn a_patch_of_the_id_says_the_server_sets_it() {
    let store = small_store().await;

    let result = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("id", json!(7))],
        )
        .await;

    let Err(StoreError::Invalid(body)) = result else {
        panic!("expected a validation failure, got {result:?}");
    };
    assert_eq!(body.errors[0].field, "id");
    assert!(
        body.errors[0].message.contains("set by the server"),
        "{}",
        body.errors[0].message
    );
}

#[tokio::test]
async fn an_agreement_cannot_end_before_it_starts() {
    let store = small_store().await;
    let mut body = agreement("Backwards");
    body["startDate"] = json!("2025-06-01T00:00:00Z");
    body["endDate"] = json!("2025-05-31T00:00:00Z");

    let created = field_errors(store.create(Collection::Agreements, None, body).await);
    let patched = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("endDate", json!("2024-12-31T00:00:00Z"))],
            )
            .await,
    );
    let same_day = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("endDate", json!("2025-01-01T00:00:00Z"))],
        )
        .await;

    assert_eq!(created, vec![pair("InvalidField", "endDate")]);
    assert_eq!(patched, vec![pair("InvalidField", "endDate")]);
    assert!(same_day.is_ok(), "{same_day:?}");
}

#[tokio::test]
async fn the_master_company_error_names_the_childs_company() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    let child = store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();

    let result = store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![
                replace("company", json!({"id": 2})),
                replace("contact", json!({"id": 2})),
            ],
        )
        .await;

    let Err(StoreError::Invalid(body)) = result else {
        panic!("expected a validation failure, got {result:?}");
    };
    let message = &body.errors[0].message;
    assert_eq!(body.errors[0].field, "company");
    assert!(
        message.contains(&format!(
            "child agreement {} belongs to company 1, not company 2",
            child["id"]
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_patch_accepts_a_leading_slash_and_any_case_of_op() {
    let store = small_store().await;
    let operation = PatchOperation {
        op: "Replace".to_owned(),
        path: "/CustomerPO".to_owned(),
        value: json!("PO-1"),
    };

    let patched = store
        .patch(Collection::Agreements, None, 1, vec![operation])
        .await
        .unwrap();

    assert_eq!(patched["customerPO"], json!("PO-1"));
}

#[tokio::test]
async fn a_patch_with_an_unknown_op_is_refused() {
    let store = small_store().await;
    let operation = PatchOperation {
        op: "move".to_owned(),
        path: "name".to_owned(),
        value: json!("Moved"),
    };

    let errors = field_errors(
        store
            .patch(Collection::Agreements, None, 1, vec![operation])
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "name")]);
}

#[tokio::test]
async fn removing_a_required_field_by_patch_is_refused() {
    let store = small_store().await;
    let operation = PatchOperation {
        op: "remove".to_owned(),
        path: "contact".to_owned(),
        value: Value::Null,
    };

    let errors = field_errors(
        store
            .patch(Collection::Agreements, None, 1, vec![operation])
            .await,
    );

    assert_eq!(errors, vec![pair("MissingRequiredField", "contact")]);
}

#[tokio::test]
async fn a_patch_of_a_computed_field_is_refused() {
    let store = small_store().await;

    let errors = field_errors(
        store
            .patch(
                Collection::Agreements,
                None,
                1,
                vec![replace("agreementStatus", json!("Expired"))],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "agreementStatus")]);
}

#[tokio::test]
async fn a_put_replaces_every_writable_field() {
    let store = small_store().await;
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("customerPO", json!("PO-9"))],
        )
        .await
        .unwrap();

    let replaced = store
        .replace(Collection::Agreements, None, 1, agreement("Replaced"))
        .await
        .unwrap();

    assert_eq!(replaced["name"], json!("Replaced"));
    assert!(replaced.get("customerPO").is_none());
    assert!(replaced.get("startDate").is_none());
    // Defaults are filled in again, as on create.
    assert_eq!(replaced["billingCycle"]["id"], json!(1));
}

#[tokio::test]
async fn deleting_an_agreement_with_additions_is_a_conflict() {
    let store = small_store().await;
    store
        .create(Collection::Additions, Some(1), addition(json!(1)))
        .await
        .unwrap();

    let result = store.delete(Collection::Agreements, None, 1).await;

    let Err(StoreError::Conflict(body)) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert!(body.message.contains("1 additions"), "{}", body.message);
}

#[tokio::test]
async fn deleting_an_agreement_with_children_is_a_conflict() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();

    let result = store.delete(Collection::Agreements, None, 1).await;

    let Err(StoreError::Conflict(body)) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert!(
        body.message.contains("child agreements"),
        "{}",
        body.message
    );
}

#[tokio::test]
async fn deleting_a_company_that_has_contacts_and_agreements_is_a_conflict() {
    let store = small_store().await;

    let result = store.delete(Collection::Companies, None, 1).await;

    let Err(StoreError::Conflict(body)) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert_eq!(body.code, "Conflict");
    assert!(store.get(Collection::Companies, None, 1).await.is_ok());
}

#[tokio::test]
async fn the_conflict_offers_cancelling_only_as_an_alternative_to_deleting() {
    let store = small_store().await;
    store
        .create(Collection::Additions, Some(1), addition(json!(1)))
        .await
        .unwrap();
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("cancelledFlag", json!(true))],
        )
        .await
        .unwrap();

    let result = store.delete(Collection::Agreements, None, 1).await;

    let Err(StoreError::Conflict(body)) = result else {
        panic!("a cancelled agreement with additions still cannot be deleted, got {result:?}");
    };
    assert!(
        !body.message.contains("Delete or cancel"),
        "{}",
        body.message
    );
    assert!(
        body.message.contains("Delete those first"),
        "{}",
        body.message
    );
    assert!(
        body.message
            .contains("cancel this agreement instead of deleting it"),
        "{}",
        body.message
    );
}

#[tokio::test]
async fn the_conflict_on_a_company_names_no_cancelling() {
    let store = small_store().await;

    let result = store.delete(Collection::Companies, None, 1).await;

    let Err(StoreError::Conflict(body)) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert!(!body.message.contains("cancel"), "{}", body.message);
    assert!(body.message.contains("1 agreements"), "{}", body.message);
}

#[tokio::test]
async fn an_addition_and_then_its_agreement_can_be_deleted() {
    let store = small_store().await;
    let created = store
        .create(Collection::Additions, Some(2), addition(json!(1)))
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    store
        .delete(Collection::Additions, Some(2), id)
        .await
        .unwrap();
    store.delete(Collection::Agreements, None, 2).await.unwrap();

    assert!(matches!(
        store.get(Collection::Agreements, None, 2).await,
        Err(StoreError::NotFound { .. })
    ));
}

// Paths.

#[test]
fn known_paths_are_matched_case_insensitively() {
    let agreements = Collection::Agreements;

    assert!(agreements.knows_path("company/id"));
    assert!(agreements.knows_path("COMPANY/Name"));
    assert!(agreements.knows_path("company/identifier"));
    assert!(agreements.knows_path("_info/lastUpdated"));
    assert!(agreements.knows_path("parentAgreement/id"));
    assert!(agreements.knows_path("agreementStatus"));
    assert!(agreements.knows_path("id"));
    assert!(agreements.knows_path("site/name"));
    assert!(!agreements.knows_path("colour"));
    assert!(!agreements.knows_path("company/colour"));
    assert!(!agreements.knows_path("contact/identifier"));
    assert!(!agreements.knows_path("name/first"));
    assert!(Collection::Additions.knows_path("product/identifier"));
    assert!(Collection::Catalog.knows_path("identifier"));
}

// Persistence.

async fn open_file(seed: &SeedData, path: &Path) -> Store {
    Store::open(seed, Some(path))
        .await
        .expect("the state file opens")
}

#[tokio::test]
async fn a_created_record_is_in_the_state_file_after_reopening() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");

    let store = open_file(&small_seed(), &path).await;
    let created = store
        .create(Collection::Additions, Some(1), addition(json!("7.25")))
        .await
        .unwrap();
    drop(store);
    let reopened = open_file(&small_seed(), &path).await;

    let id = created["id"].as_i64().unwrap();
    let read = reopened
        .get(Collection::Additions, Some(1), id)
        .await
        .unwrap();
    assert_eq!(read, created);
    assert_eq!(number(&read["quantity"]), "7.25");
}

#[tokio::test]
async fn ids_continue_after_reopening_and_deleted_ids_are_not_reused() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");

    let store = open_file(&small_seed(), &path).await;
    let first = store
        .create(
            Collection::Companies,
            None,
            json!({"identifier": "NEW1", "name": "New 1"}),
        )
        .await
        .unwrap();
    store
        .delete(Collection::Companies, None, first["id"].as_i64().unwrap())
        .await
        .unwrap();
    drop(store);
    let reopened = open_file(&small_seed(), &path).await;
    let second = reopened
        .create(
            Collection::Companies,
            None,
            json!({"identifier": "NEW2", "name": "New 2"}),
        )
        .await
        .unwrap();

    assert_eq!(first["id"], json!(3));
    assert_eq!(second["id"], json!(4));
    assert_eq!(
        reopened
            .list(Collection::Companies, None)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn patches_and_deletes_are_in_the_state_file_after_reopening() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");

    let store = open_file(&small_seed(), &path).await;
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("customerPO", json!("PO-42"))],
        )
        .await
        .unwrap();
    store.delete(Collection::Agreements, None, 2).await.unwrap();
    drop(store);
    let reopened = open_file(&small_seed(), &path).await;

    let master = reopened.get(Collection::Agreements, None, 1).await.unwrap();
    assert_eq!(master["customerPO"], json!("PO-42"));
    assert!(reopened.get(Collection::Agreements, None, 2).await.is_err());
}

#[tokio::test]
async fn an_acknowledged_write_survives_a_process_that_never_shuts_down_cleanly() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");

    let store = open_file(&small_seed(), &path).await;
    let created = store
        .create(Collection::Additions, Some(1), addition(json!(3)))
        .await
        .unwrap();
    // Forgetting the store skips every destructor, as a killed process would.
    std::mem::forget(store);
    let reopened = open_file(&small_seed(), &path).await;

    let id = created["id"].as_i64().unwrap();
    assert!(
        reopened
            .get(Collection::Additions, Some(1), id)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_state_file_that_is_not_a_database_is_a_persistence_error() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    std::fs::write(
        &path,
        "this is not SQLite, just text that is long enough to be a header",
    )
    .unwrap();

    let result = Store::open(&small_seed(), Some(&path)).await;

    assert!(
        matches!(result, Err(StoreError::Persistence { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_existing_state_file_is_loaded_and_the_seed_ignored() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");

    drop(open_file(&small_seed(), &path).await);
    let reopened = open_file(&SeedData::demo(), &path).await;

    let companies = reopened.list(Collection::Companies, None).await.unwrap();
    assert_eq!(companies.len(), 2);
}

#[tokio::test]
async fn a_write_whose_caller_stops_waiting_leaves_memory_and_file_in_agreement() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = open_file(&small_seed(), &path).await;

    // Give up on each create after a growing delay, so some are dropped mid-write.
    for attempt in 0..20_u64 {
        let body = json!({"identifier": format!("C{attempt}"), "name": "Impatient caller"});
        let create = store.create(Collection::Companies, None, body);
        let _ = tokio::time::timeout(std::time::Duration::from_micros(attempt * 100), create).await;
    }
    let in_memory = store.list(Collection::Companies, None).await.unwrap();
    let last = store
        .create(
            Collection::Companies,
            None,
            json!({"identifier": "LAST", "name": "Last"}),
        )
        .await
        .unwrap();
    drop(store);
    let reopened = open_file(&small_seed(), &path).await;

    let in_file = reopened.list(Collection::Companies, None).await.unwrap();
    assert_eq!(in_file.len(), in_memory.len() + 1);
    assert_eq!(in_file.last().unwrap()["id"], last["id"]);
}

#[test]
fn the_store_can_be_shared_between_tasks() {
    fn assert_shareable<T: Send + Sync + 'static>() {}

    assert_shareable::<Store>();
}

// Seeds.

#[tokio::test]
async fn the_demo_seed_has_the_promised_records() {
    let store = Store::open(&SeedData::demo(), None).await.unwrap();

    let companies = store.list(Collection::Companies, None).await.unwrap();
    let names: Vec<&str> = companies
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(companies.len() >= 10);
    assert!(names.contains(&"O'Brien & Sons"));
    assert!(names.contains(&"Société Générale Services"));
    assert!(names.contains(&"Müller GmbH"));
    assert!(names.contains(&"東京 Cloud KK"));
    assert!(names.iter().any(|name| name.contains('"')));

    let types = store.list(Collection::AgreementTypes, None).await.unwrap();
    let private_cloud = types
        .iter()
        .find(|t| t["name"] == json!("Private Cloud Services"))
        .expect("the Private Cloud Services type exists");
    assert_eq!(private_cloud["billingCycle"]["name"], json!("Monthly"));
    assert_eq!(private_cloud["prorateFlag"], json!(true));

    let agreements = store.list(Collection::Agreements, None).await.unwrap();
    let with_agreement = companies
        .iter()
        .filter(|company| {
            agreements
                .iter()
                .any(|a| a["company"]["id"] == company["id"])
        })
        .count();
    assert_eq!(companies.len() - with_agreement, 2);

    let catalog = store.list(Collection::Catalog, None).await.unwrap();
    assert!(
        catalog
            .iter()
            .any(|item| item["productClass"] == json!("Bundle"))
    );
    assert!(catalog.len() >= 6);
    for collection in [
        Collection::BillingCycles,
        Collection::Locations,
        Collection::Departments,
        Collection::ProductTypes,
        Collection::Subcategories,
        Collection::UnitsOfMeasure,
        Collection::Contacts,
        Collection::Additions,
    ] {
        assert!(
            !store.list(collection, None).await.unwrap().is_empty(),
            "{collection:?}"
        );
    }
}

#[test]
fn the_empty_seed_has_no_records_and_no_rules() {
    let seed = SeedData::empty();

    assert!(seed.security().is_empty());
    assert!(seed.records(Collection::Companies).is_empty());
}

#[test]
fn seed_security_rules_are_read() {
    let seed = small_seed();

    assert_eq!(
        seed.security(),
        &[Denial {
            method: "DELETE".to_owned(),
            path: "/finance/agreements/{id}".to_owned()
        }]
    );
}

fn seed_error(text: &str) -> (String, String, String) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("bad-seed.json");
    std::fs::write(&path, text).unwrap();

    match SeedData::from_file(&path) {
        Err(StoreError::Seed { file, path, reason }) => (file, path, reason),
        other => panic!("expected a seed error, got {other:?}"),
    }
}

#[test]
fn a_seed_that_is_not_json_names_the_file_and_the_line() {
    let (file, path, _) = seed_error("{\n  \"companies\": [\n    {\"id\": 1,}\n  ]\n}");

    assert!(file.ends_with("bad-seed.json"), "{file}");
    assert_eq!(path, "line 3 column 14");
}

#[test]
fn an_unknown_seed_key_is_refused() {
    let (_, path, reason) = seed_error(r#"{"compnies": []}"#);

    assert_eq!(path, "$.compnies");
    assert!(reason.contains("unknown key"), "{reason}");
}

#[test]
fn a_seed_record_without_an_id_is_refused_with_its_path() {
    let (_, path, _) = seed_error(
        r#"{"companies": [{"id": 1, "identifier": "A", "name": "A"},
        {"identifier": "B", "name": "B"}]}"#,
    );

    assert_eq!(path, "$.companies[1].id");
}

#[test]
fn a_seed_record_is_validated_like_an_api_write() {
    let (_, path, reason) = seed_error(
        r#"{"companies": [{"id": 1, "identifier": "A", "name": "A"}],
            "agreements": [{"id": 5, "name": "X", "type": {"id": 1},
                            "company": {"id": 9}, "contact": {"id": 1}}]}"#,
    );

    assert_eq!(path, "$.agreements[0].type");
    assert!(reason.starts_with("InvalidField"), "{reason}");
}

#[test]
fn a_seed_addition_needs_an_agreement_of_the_seed() {
    let (_, path, _) = seed_error(
        r#"{"additions": [{"id": 1, "agreementId": 3, "product": {"id": 1},
            "billCustomer": "Billable"}]}"#,
    );

    assert_eq!(path, "$.additions[0].agreementId");
}

#[test]
fn a_missing_seed_file_is_a_seed_error() {
    let result = SeedData::from_file(Path::new("/nonexistent/seed.json"));

    assert!(matches!(result, Err(StoreError::Seed { .. })));
}

// Invoice preview.

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_invoice_preview_sums_the_master_and_its_children() {
    let store = small_store().await;
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("billAmount", json!(100))],
        )
        .await
        .unwrap();
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    child["billAmount"] = json!("25.50");
    let child = store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();
    let child_id = child["id"].as_i64().unwrap();
    // Master: 3 x 12.5 = 37.5; child: (10 - 2) x 10 = 80 (price from the catalog).
    let master_line = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 3,
        "unitPrice": "12.5", "effectiveDate": "2025-01-01T00:00:00Z"});
    let child_line = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 10,
        "lessIncluded": 2});
    let not_billed = json!({"product": {"id": 1}, "billCustomer": "NoCharge", "quantity": 99});
    store
        .create(Collection::Additions, Some(1), master_line)
        .await
        .unwrap();
    store
        .create(Collection::Additions, Some(child_id), child_line)
        .await
        .unwrap();
    store
        .create(Collection::Additions, Some(child_id), not_billed)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(1, Some(day("2025-04-10")))
        .await
        .unwrap();

    assert_eq!(preview["approximation"], json!(true));
    assert!(preview["note"].as_str().unwrap().contains("Approximation"));
    assert_eq!(preview["periodStart"], json!("2025-04-01"));
    assert_eq!(preview["periodEnd"], json!("2025-04-30"));
    assert_eq!(preview["agreements"].as_array().unwrap().len(), 2);
    assert_eq!(number(&preview["agreements"][0]["additionsAmount"]), "37.5");
    assert_eq!(number(&preview["agreements"][1]["additionsAmount"]), "80");
    assert_eq!(number(&preview["totals"]["billAmounts"]), "125.5");
    assert_eq!(number(&preview["totals"]["additions"]), "117.5");
    assert_eq!(number(&preview["totals"]["total"]), "243");
}

#[tokio::test]
async fn the_invoice_preview_prorates_an_addition_that_starts_mid_period() {
    let store = small_store().await;
    // April has 30 days; from the 21st the addition is active for 10 of them.
    let body = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 3,
        "unitPrice": 10, "effectiveDate": "2025-04-21T00:00:00Z"});
    store
        .create(Collection::Additions, Some(1), body)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(1, Some(day("2025-04-01")))
        .await
        .unwrap();

    let line = &preview["agreements"][0]["lines"][0];
    assert_eq!(line["prorated"], json!(true));
    assert_eq!(line["daysActive"], json!(10));
    assert_eq!(number(&line["amount"]), "10");
    assert_eq!(number(&preview["totals"]["total"]), "10");
}

#[tokio::test]
async fn the_invoice_preview_rounds_prorated_amounts_to_cents() {
    let store = small_store().await;
    // 1 x 10 x 1/30 = 0.333… and cancelled on the first day of the period.
    let body = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 1,
        "effectiveDate": "2025-01-01T00:00:00Z", "cancelledDate": "2025-04-01T00:00:00Z"});
    store
        .create(Collection::Additions, Some(1), body)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(1, Some(day("2025-04-01")))
        .await
        .unwrap();

    assert_eq!(
        number(&preview["agreements"][0]["lines"][0]["amount"]),
        "0.33"
    );
}

#[tokio::test]
async fn without_the_prorate_flag_a_mid_period_addition_bills_in_full() {
    let store = small_store().await;
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("prorateFlag", json!(false))],
        )
        .await
        .unwrap();
    let body = json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 3,
        "effectiveDate": "2025-04-21T00:00:00Z"});
    store
        .create(Collection::Additions, Some(1), body)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(1, Some(day("2025-04-01")))
        .await
        .unwrap();

    assert_eq!(number(&preview["totals"]["total"]), "30");
}

#[tokio::test]
async fn additions_outside_the_period_are_left_out_of_the_preview() {
    let store = small_store().await;
    let before = json!({"product": {"id": 1}, "billCustomer": "Billable",
        "effectiveDate": "2025-01-01T00:00:00Z", "cancelledDate": "2025-03-31T00:00:00Z"});
    let after = json!({"product": {"id": 1}, "billCustomer": "Billable",
        "effectiveDate": "2025-05-01T00:00:00Z"});
    store
        .create(Collection::Additions, Some(1), before)
        .await
        .unwrap();
    store
        .create(Collection::Additions, Some(1), after)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(1, Some(day("2025-04-15")))
        .await
        .unwrap();

    assert!(
        preview["agreements"][0]["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(number(&preview["totals"]["total"]), "0");
}

#[tokio::test]
async fn a_quarterly_billing_cycle_previews_a_calendar_quarter() {
    let store = small_store().await;
    let mut body = agreement("Quarterly");
    body["type"] = json!({"id": 2});
    let created = store
        .create(Collection::Agreements, None, body)
        .await
        .unwrap();

    let preview = store
        .invoice_preview(created["id"].as_i64().unwrap(), Some(day("2025-05-20")))
        .await
        .unwrap();

    assert_eq!(preview["periodStart"], json!("2025-04-01"));
    assert_eq!(preview["periodEnd"], json!("2025-06-30"));
    assert_eq!(preview["daysInPeriod"], json!(91));
}

#[tokio::test]
async fn the_default_preview_period_is_next_month() {
    let store = small_store().await;

    let preview = store.invoice_preview(1, None).await.unwrap();

    let today = chrono::Utc::now().date_naive();
    let start = day(preview["periodStart"].as_str().unwrap());
    assert!(start > today);
    assert_eq!(chrono::Datelike::day(&start), 1);
    assert!((start - today).num_days() <= 31);
}

#[tokio::test]
async fn a_preview_of_a_child_or_a_missing_agreement_is_refused() {
    let store = small_store().await;
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    let child = store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap();

    let of_child = store
        .invoice_preview(child["id"].as_i64().unwrap(), None)
        .await;
    let of_missing = store.invoice_preview(999, None).await;

    assert!(matches!(of_child, Err(StoreError::Invalid(_))));
    assert!(matches!(
        of_missing,
        Err(StoreError::NotFound { id: 999, .. })
    ));
}

// Included quantities and credits.

#[tokio::test]
async fn an_included_quantity_above_the_quantity_is_refused() {
    let store = small_store().await;
    let mut body = addition(json!(3));
    body["lessIncluded"] = json!(5);

    let errors = field_errors(store.create(Collection::Additions, Some(1), body).await);

    assert_eq!(errors, vec![pair("InvalidField", "lessIncluded")]);
}

#[tokio::test]
async fn a_negative_included_quantity_is_refused() {
    let store = small_store().await;
    let mut body = addition(json!(3));
    body["lessIncluded"] = json!(-1);

    let errors = field_errors(store.create(Collection::Additions, Some(1), body).await);

    assert_eq!(errors, vec![pair("InvalidField", "lessIncluded")]);
}

#[tokio::test]
async fn a_negative_quantity_is_a_credit_line_with_a_negative_billed_quantity() {
    let store = small_store().await;

    let credit = store
        .create(Collection::Additions, Some(1), addition(json!(-2)))
        .await
        .unwrap();
    let mut with_included = addition(json!(-2));
    with_included["lessIncluded"] = json!(1);
    let refused = field_errors(
        store
            .create(Collection::Additions, Some(1), with_included)
            .await,
    );

    assert_eq!(number(&credit["billedQuantity"]), "-2");
    assert_eq!(number(&credit["extPrice"]), "-20");
    assert_eq!(refused, vec![pair("InvalidField", "lessIncluded")]);
}

#[tokio::test]
async fn patching_the_quantity_below_the_included_quantity_is_refused() {
    let store = small_store().await;
    let mut body = addition(json!(5));
    body["lessIncluded"] = json!(2);
    let created = store
        .create(Collection::Additions, Some(1), body)
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    let errors = field_errors(
        store
            .patch(
                Collection::Additions,
                Some(1),
                id,
                vec![replace("quantity", json!(1))],
            )
            .await,
    );

    assert_eq!(errors, vec![pair("InvalidField", "lessIncluded")]);
}

// The child and additions indexes behind filtered lists and validation.

/// The ids that `conditions` select from agreements, through the indexed path and through a
/// plain filter over every agreement; the two must agree.
async fn agreements_matching(store: &Store, conditions: &str) -> Vec<i64> {
    let parsed = Conditions::parse(conditions).unwrap();
    let ids = |rows: Vec<Value>| -> Vec<i64> {
        rows.iter().map(|row| row["id"].as_i64().unwrap()).collect()
    };

    let indexed = ids(store
        .list_matching(Collection::Agreements, None, Some(&parsed))
        .await
        .unwrap());
    let scanned = ids(store
        .list(Collection::Agreements, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| parsed.matches(row))
        .collect());
    assert_eq!(indexed, scanned, "{conditions}");
    indexed
}

async fn addition_ids(store: &Store, agreement: i64) -> Vec<i64> {
    store
        .list(Collection::Additions, Some(agreement))
        .await
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

async fn indexes_are_consistent(store: &Store) -> bool {
    store.records.lock().await.indexes_are_consistent()
}

#[tokio::test]
async fn the_indexes_follow_reparenting_deletes_and_a_reload_from_the_state_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.db");
    let store = open_file(&small_seed(), &path).await;
    let id_of = |value: Value| value["id"].as_i64().unwrap();

    let second_master = id_of(
        store
            .create(
                Collection::Agreements,
                None,
                agreement("Acme second master"),
            )
            .await
            .unwrap(),
    );
    let mut child = agreement("Child");
    child["parentAgreement"] = json!({"id": 1});
    let first_child = id_of(
        store
            .create(Collection::Agreements, None, child.clone())
            .await
            .unwrap(),
    );
    let moving_child = id_of(
        store
            .create(Collection::Agreements, None, child)
            .await
            .unwrap(),
    );
    let mut kept_additions = Vec::new();
    for quantity in [1, 2] {
        let created = store
            .create(
                Collection::Additions,
                Some(first_child),
                addition(json!(quantity)),
            )
            .await
            .unwrap();
        kept_additions.push(id_of(created));
    }
    let doomed_addition = id_of(
        store
            .create(
                Collection::Additions,
                Some(moving_child),
                addition(json!(3)),
            )
            .await
            .unwrap(),
    );

    assert_eq!(
        agreements_matching(&store, "parentAgreement/id = 1").await,
        vec![first_child, moving_child]
    );
    assert_eq!(addition_ids(&store, first_child).await, kept_additions);
    assert_eq!(
        addition_ids(&store, moving_child).await,
        vec![doomed_addition]
    );

    // Re-parenting by PATCH moves the child in the index, and validation of the new master
    // now sees it: the master cannot move to another company while its child stays behind.
    store
        .patch(
            Collection::Agreements,
            None,
            moving_child,
            vec![replace("parentAgreement", json!({"id": second_master}))],
        )
        .await
        .unwrap();
    assert_eq!(
        agreements_matching(&store, "parentAgreement/id = 1").await,
        vec![first_child]
    );
    let filter = format!("parentAgreement/id = {second_master} and name = \"Child\"");
    assert_eq!(
        agreements_matching(&store, &filter).await,
        vec![moving_child]
    );
    let refused = store
        .patch(
            Collection::Agreements,
            None,
            second_master,
            vec![
                replace("company", json!({"id": 2})),
                replace("contact", json!({"id": 2})),
            ],
        )
        .await;
    assert_eq!(field_errors(refused), vec![pair("InvalidField", "company")]);
    assert!(indexes_are_consistent(&store).await);

    // An agreement with additions cannot go; once they are deleted it can, and it leaves both
    // indexes.
    assert!(matches!(
        store
            .delete(Collection::Agreements, None, moving_child)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .delete(Collection::Additions, Some(moving_child), doomed_addition)
        .await
        .unwrap();
    store
        .delete(Collection::Agreements, None, moving_child)
        .await
        .unwrap();
    let filter = format!("parentAgreement/id in (1, {second_master})");
    assert_eq!(
        agreements_matching(&store, &filter).await,
        vec![first_child]
    );
    assert!(indexes_are_consistent(&store).await);

    // The state file rebuilds the same indexes.
    drop(store);
    let reopened = open_file(&small_seed(), &path).await;
    assert!(reopened.resumed_from_state());
    assert!(indexes_are_consistent(&reopened).await);
    assert_eq!(
        agreements_matching(&reopened, "parentAgreement/id = 1").await,
        vec![first_child]
    );
    let filter = format!("parentAgreement/id = {second_master}");
    assert_eq!(
        agreements_matching(&reopened, &filter).await,
        Vec::<i64>::new()
    );
    assert_eq!(addition_ids(&reopened, first_child).await, kept_additions);
    assert_eq!(
        reopened
            .list(Collection::Additions, Some(1))
            .await
            .unwrap()
            .len(),
        0
    );
    reopened
        .patch(
            Collection::Agreements,
            None,
            second_master,
            vec![
                replace("company", json!({"id": 2})),
                replace("contact", json!({"id": 2})),
            ],
        )
        .await
        .expect("a master without children may move to another company");
}

#[tokio::test]
async fn a_filter_on_the_parent_still_tests_computed_and_renamed_fields() {
    let store = small_store().await;
    let mut child = agreement("Renamed child");
    child["parentAgreement"] = json!({"id": 1});
    let child_id = store
        .create(Collection::Agreements, None, child)
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    store
        .patch(
            Collection::Agreements,
            None,
            1,
            vec![replace("name", json!("Acme renamed master"))],
        )
        .await
        .unwrap();

    let by_new_name = "parentAgreement/id = 1 and parentAgreement/name = \"Acme renamed master\"";
    assert_eq!(
        agreements_matching(&store, by_new_name).await,
        vec![child_id]
    );
    let by_old_name = "parentAgreement/id = 1 and parentAgreement/name = \"Acme master\"";
    assert_eq!(
        agreements_matching(&store, by_old_name).await,
        Vec::<i64>::new()
    );
    let by_status = "parentAgreement/id = 1 and agreementStatus = \"Active\"";
    assert_eq!(agreements_matching(&store, by_status).await, vec![child_id]);
}
