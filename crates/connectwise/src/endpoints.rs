//! Typed helpers for the endpoints the sync engine and the web UI use (reference §11).

use crate::client::Client;
use crate::conditions::{Conditions, Field};
use crate::error::Error;
use crate::models::{
    Addition, Agreement, AgreementType, BillingCycle, CatalogItem, Company, Contact, Department,
    Location, NewAddition, NewAgreement, NewCatalogItem, PatchOperation, ProductType, Subcategory,
    SystemInfo, UnitOfMeasure,
};
use crate::query::ListQuery;

impl Client {
    /// `GET /system/info`: server version and time zone; also proves the keys work.
    pub async fn system_info(&self) -> Result<SystemInfo, Error> {
        self.get("/system/info").await
    }

    /// Companies matching `query`, all pages.
    pub async fn companies(&self, query: &ListQuery) -> Result<Vec<Company>, Error> {
        self.list("/company/companies", query).await
    }

    /// One company by id.
    pub async fn company(&self, id: i64) -> Result<Company, Error> {
        self.get(&format!("/company/companies/{id}")).await
    }

    /// How many companies match `conditions`.
    pub async fn company_count(&self, conditions: Option<&Conditions>) -> Result<u64, Error> {
        self.count("/company/companies", conditions).await
    }

    /// Contacts matching `query`, all pages.
    pub async fn contacts(&self, query: &ListQuery) -> Result<Vec<Contact>, Error> {
        self.list("/company/contacts", query).await
    }

    /// Every contact of one company.
    pub async fn contacts_of_company(&self, company_id: i64) -> Result<Vec<Contact>, Error> {
        self.contacts(&ListQuery::filter(Field::new("company/id").eq(company_id)))
            .await
    }

    /// Agreements matching `query`, all pages.
    pub async fn agreements(&self, query: &ListQuery) -> Result<Vec<Agreement>, Error> {
        self.list("/finance/agreements", query).await
    }

    /// One agreement by id.
    pub async fn agreement(&self, id: i64) -> Result<Agreement, Error> {
        self.get(&format!("/finance/agreements/{id}")).await
    }

    /// Creates an agreement. On [`Error::OutcomeUnknown`], look it up before trying again.
    pub async fn create_agreement(&self, agreement: &NewAgreement) -> Result<Agreement, Error> {
        self.post("/finance/agreements", agreement).await
    }

    /// Applies `operations` to an agreement together and returns the result.
    pub async fn patch_agreement(
        &self,
        id: i64,
        operations: &[PatchOperation],
    ) -> Result<Agreement, Error> {
        self.patch(&format!("/finance/agreements/{id}"), operations)
            .await
    }

    /// How many agreements match `conditions`.
    pub async fn agreement_count(&self, conditions: Option<&Conditions>) -> Result<u64, Error> {
        self.count("/finance/agreements", conditions).await
    }

    /// Agreement types matching `query`, all pages.
    pub async fn agreement_types(&self, query: &ListQuery) -> Result<Vec<AgreementType>, Error> {
        self.list("/finance/agreements/types", query).await
    }

    /// The additions of one agreement matching `query`, all pages.
    pub async fn additions(
        &self,
        agreement_id: i64,
        query: &ListQuery,
    ) -> Result<Vec<Addition>, Error> {
        self.list(
            &format!("/finance/agreements/{agreement_id}/additions"),
            query,
        )
        .await
    }

    /// One addition of an agreement.
    pub async fn addition(&self, agreement_id: i64, id: i64) -> Result<Addition, Error> {
        self.get(&format!(
            "/finance/agreements/{agreement_id}/additions/{id}"
        ))
        .await
    }

    /// Adds a line to an agreement. On [`Error::OutcomeUnknown`], look it up before trying
    /// again.
    pub async fn create_addition(
        &self,
        agreement_id: i64,
        addition: &NewAddition,
    ) -> Result<Addition, Error> {
        self.post(
            &format!("/finance/agreements/{agreement_id}/additions"),
            addition,
        )
        .await
    }

    /// Applies `operations` to an addition together and returns the result.
    pub async fn patch_addition(
        &self,
        agreement_id: i64,
        id: i64,
        operations: &[PatchOperation],
    ) -> Result<Addition, Error> {
        self.patch(
            &format!("/finance/agreements/{agreement_id}/additions/{id}"),
            operations,
        )
        .await
    }

    /// Deletes an addition; prefer cancelling lines that were ever invoiced.
    pub async fn delete_addition(&self, agreement_id: i64, id: i64) -> Result<(), Error> {
        self.delete(&format!(
            "/finance/agreements/{agreement_id}/additions/{id}"
        ))
        .await
    }

    /// How many additions of an agreement match `conditions`.
    pub async fn addition_count(
        &self,
        agreement_id: i64,
        conditions: Option<&Conditions>,
    ) -> Result<u64, Error> {
        self.count(
            &format!("/finance/agreements/{agreement_id}/additions"),
            conditions,
        )
        .await
    }

    /// Catalog items matching `query`, all pages.
    pub async fn catalog_items(&self, query: &ListQuery) -> Result<Vec<CatalogItem>, Error> {
        self.list("/procurement/catalog", query).await
    }

    /// Creates a catalog item. On [`Error::OutcomeUnknown`], look it up by identifier before
    /// trying again.
    pub async fn create_catalog_item(&self, item: &NewCatalogItem) -> Result<CatalogItem, Error> {
        self.post("/procurement/catalog", item).await
    }

    /// How many catalog items match `conditions`.
    pub async fn catalog_count(&self, conditions: Option<&Conditions>) -> Result<u64, Error> {
        self.count("/procurement/catalog", conditions).await
    }

    /// Billing cycles matching `query`.
    pub async fn billing_cycles(&self, query: &ListQuery) -> Result<Vec<BillingCycle>, Error> {
        self.list("/finance/billingCycles", query).await
    }

    /// Locations matching `query`.
    pub async fn locations(&self, query: &ListQuery) -> Result<Vec<Location>, Error> {
        self.list("/system/locations", query).await
    }

    /// Departments matching `query`.
    pub async fn departments(&self, query: &ListQuery) -> Result<Vec<Department>, Error> {
        self.list("/system/departments", query).await
    }

    /// Product types matching `query`.
    pub async fn product_types(&self, query: &ListQuery) -> Result<Vec<ProductType>, Error> {
        self.list("/procurement/types", query).await
    }

    /// Product subcategories matching `query`.
    pub async fn subcategories(&self, query: &ListQuery) -> Result<Vec<Subcategory>, Error> {
        self.list("/procurement/subcategories", query).await
    }

    /// Units of measure matching `query`.
    pub async fn units_of_measure(&self, query: &ListQuery) -> Result<Vec<UnitOfMeasure>, Error> {
        self.list("/procurement/unitOfMeasures", query).await
    }
}
