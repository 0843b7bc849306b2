//! Discovery, reading, paging, counting and conditions against the sandbox.

use std::collections::HashSet;

use futures::TryStreamExt;
use hyalto_connectwise::models::{Agreement, Company, CompanyReference, NewAgreement, Reference};
use hyalto_connectwise::{Field, LikePattern, ListQuery};
use proptest::prelude::*;

use crate::helpers::{route_count, spawn};

#[tokio::test]
async fn connecting_discovers_the_codebase_and_system_info_answers() {
    let site = spawn().await;

    let info = site.client.system_info().await.unwrap();

    assert_eq!(site.client.base_url(), site.sandbox.api_base());
    assert!(info.version.unwrap().starts_with('v'));
}

#[tokio::test]
async fn companies_are_read_across_several_pages_without_duplicates() {
    let site = spawn().await;
    site.take_stats().await;
    let query = ListQuery {
        page_size: Some(3),
        ..ListQuery::default()
    };

    let companies = site.client.companies(&query).await.unwrap();

    let ids: HashSet<i64> = companies.iter().map(|company| company.id).collect();
    assert_eq!(companies.len(), 10);
    assert_eq!(ids.len(), 10);
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /company/companies"), 4);
}

#[tokio::test]
async fn the_page_stream_reports_each_page_and_whether_more_follow() {
    let site = spawn().await;
    let query = ListQuery {
        page_size: Some(4),
        ..ListQuery::default()
    };

    let pages: Vec<_> = site
        .client
        .pages::<Company>("/company/companies", &query)
        .try_collect()
        .await
        .unwrap();

    let summary: Vec<(u32, usize, bool)> = pages
        .iter()
        .map(|page| (page.number, page.items.len(), page.has_more))
        .collect();
    assert_eq!(summary, vec![(1, 4, true), (2, 4, true), (3, 2, false)]);
}

#[tokio::test]
async fn forward_only_paging_reads_every_company_in_id_order() {
    let site = spawn().await;
    site.take_stats().await;
    let query = ListQuery {
        page_size: Some(3),
        ..ListQuery::default()
    };

    let companies: Vec<Company> = site
        .client
        .list_forward_only("/company/companies", &query)
        .await
        .unwrap();

    let ids: Vec<i64> = companies.iter().map(|company| company.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids, sorted);
    let stats = site.take_stats().await;
    assert!(route_count(&stats, "GET /company/companies") >= 4);
}

#[tokio::test]
async fn a_filtered_list_follows_next_links_with_the_filter_kept() {
    let site = spawn().await;
    let cloud_type = Field::new("type/name").eq("Private Cloud Services");
    let query = ListQuery {
        conditions: Some(cloud_type.clone()),
        page_size: Some(2),
        ..ListQuery::default()
    };

    let paged = site.client.agreements(&query).await.unwrap();
    let whole = site
        .client
        .agreements(&ListQuery::filter(cloud_type))
        .await
        .unwrap();

    assert!(paged.len() > 2, "the filter should span several pages");
    assert_eq!(paged, whole);
    for agreement in &paged {
        let type_name = agreement.agreement_type.as_ref().unwrap().name.as_deref();
        assert_eq!(type_name, Some("Private Cloud Services"));
    }
}

#[tokio::test]
async fn counts_agree_with_lists() {
    let site = spawn().await;
    let first_company = Field::new("company/id").eq(1);

    let all = site.client.company_count(None).await.unwrap();
    let counted = site
        .client
        .agreement_count(Some(&first_company))
        .await
        .unwrap();
    let listed = site
        .client
        .agreements(&ListQuery::filter(first_company))
        .await
        .unwrap();

    assert_eq!(all, 10);
    assert_eq!(counted, listed.len() as u64);
    assert!(counted >= 1);
}

#[tokio::test]
async fn hostile_company_names_find_exactly_their_company() {
    let site = spawn().await;
    let everyone = site.client.companies(&ListQuery::default()).await.unwrap();
    let hostile: Vec<&Company> = everyone
        .iter()
        .filter(|company| {
            let name = company.name.as_deref().unwrap_or("");
            name.contains(['\'', '&', '"']) || !name.is_ascii()
        })
        .collect();
    assert!(
        hostile.len() >= 4,
        "the demo seed should have hostile names"
    );

    for company in hostile {
        let name = company.name.as_deref().unwrap();

        let by_equality = site
            .client
            .companies(&ListQuery::filter(Field::new("name").eq(name)))
            .await
            .unwrap();
        let by_prefix = site
            .client
            .companies(&ListQuery::filter(
                Field::new("name").like(LikePattern::starts_with(name)),
            ))
            .await
            .unwrap();
        let by_contains = site
            .client
            .companies(&ListQuery::filter(Field::new("name").contains(name)))
            .await
            .unwrap();

        for found in [by_equality, by_prefix, by_contains] {
            let ids: Vec<i64> = found.iter().map(|c| c.id).collect();
            assert_eq!(ids, vec![company.id], "searching for {name:?}");
        }
    }
}

#[tokio::test]
async fn lookups_the_sync_needs_are_readable() {
    let site = spawn().await;
    let all = ListQuery::default();

    assert!(!site.client.agreement_types(&all).await.unwrap().is_empty());
    assert!(!site.client.billing_cycles(&all).await.unwrap().is_empty());
    assert!(!site.client.locations(&all).await.unwrap().is_empty());
    assert!(!site.client.departments(&all).await.unwrap().is_empty());
    assert!(!site.client.product_types(&all).await.unwrap().is_empty());
    assert!(!site.client.subcategories(&all).await.unwrap().is_empty());
    assert!(!site.client.units_of_measure(&all).await.unwrap().is_empty());
    let vcpu = site
        .client
        .catalog_items(&ListQuery::filter(Field::new("identifier").eq("VMW-VCPU")))
        .await
        .unwrap();
    assert_eq!(vcpu.len(), 1);
    let contacts = site.client.contacts_of_company(1).await.unwrap();
    assert!(!contacts.is_empty());
    assert!(
        contacts
            .iter()
            .all(|c| c.company.as_ref().unwrap().id == Some(1))
    );
    assert_eq!(site.client.company(1).await.unwrap().id, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever text an agreement name holds, searching for it finds exactly that agreement.
    #[test]
    fn any_name_is_found_by_equality_and_by_prefix(
        text in r#"[a-zA-Z0-9 '"&%+#=*\[\]\\_.,()éü東京-]{1,40}"#
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let site = spawn().await;
            let name = format!("{text}|probe");
            let mut body =
                NewAgreement::new(&name, Reference::by_id(1), CompanyReference::by_id(1));
            body.contact = Some(Reference::by_id(1));
            let created = site.client.create_agreement(&body).await.unwrap();

            let equal: Vec<Agreement> = site
                .client
                .agreements(&ListQuery::filter(Field::new("name").eq(name.as_str())))
                .await
                .unwrap();
            let prefix: Vec<Agreement> = site
                .client
                .agreements(&ListQuery::filter(
                    Field::new("name").like(LikePattern::starts_with(&name)),
                ))
                .await
                .unwrap();

            prop_assert_eq!(equal.iter().map(|a| a.id).collect::<Vec<_>>(), vec![created.id]);
            prop_assert_eq!(prefix.iter().map(|a| a.id).collect::<Vec<_>>(), vec![created.id]);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn typed_literals_filter_like_the_records_say() {
    let site = spawn().await;
    let all = site.client.agreements(&ListQuery::default()).await.unwrap();
    let since = chrono::NaiveDate::from_ymd_opt(2025, 2, 1).unwrap();

    let recent = site
        .client
        .agreements(&ListQuery::filter(Field::new("startDate").ge(since)))
        .await
        .unwrap();
    let masters = site
        .client
        .agreements(&ListQuery::filter(
            Field::new("parentAgreement/id").is_null(),
        ))
        .await
        .unwrap();
    let chosen = site
        .client
        .agreements(&ListQuery::filter(Field::new("id").is_in([1, 2, 3])))
        .await
        .unwrap();
    let not_chosen = site
        .client
        .agreement_count(Some(&Field::new("id").not_in([1, 2, 3])))
        .await
        .unwrap();

    let ids = |list: &[Agreement]| list.iter().map(|a| a.id).collect::<Vec<_>>();
    let expected_recent: Vec<i64> = all
        .iter()
        .filter(|a| a.start_date.is_some_and(|d| d.date() >= since))
        .map(|a| a.id)
        .collect();
    let expected_masters: Vec<i64> = all
        .iter()
        .filter(|a| a.parent_agreement.is_none())
        .map(|a| a.id)
        .collect();
    assert!(!expected_recent.is_empty() && expected_recent.len() < all.len());
    assert_eq!(ids(&recent), expected_recent);
    assert_eq!(ids(&masters), expected_masters);
    assert!(
        masters.len() < all.len(),
        "the demo seed has child agreements"
    );
    assert_eq!(ids(&chosen), vec![1, 2, 3]);
    assert_eq!(not_chosen, all.len() as u64 - 3);
}

#[tokio::test]
async fn decimal_literals_compare_quantities_exactly() {
    let site = spawn().await;
    let threshold: rust_decimal::Decimal = "1.5".parse().unwrap();
    let additions = site
        .client
        .additions(1, &ListQuery::default())
        .await
        .unwrap();

    let above = site
        .client
        .additions(1, &ListQuery::filter(Field::new("quantity").gt(threshold)))
        .await
        .unwrap();

    let expected: Vec<i64> = additions
        .iter()
        .filter(|a| a.quantity.is_some_and(|q| q > threshold))
        .map(|a| a.id)
        .collect();
    assert!(!expected.is_empty() && expected.len() < additions.len());
    assert_eq!(above.iter().map(|a| a.id).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn field_selection_and_ordering_are_sent() {
    let site = spawn().await;
    let query = ListQuery {
        fields: Some(vec!["name".to_owned()]),
        order_by: Some("name desc".to_owned()),
        page_size: Some(4),
        ..ListQuery::default()
    };

    let companies = site.client.companies(&query).await.unwrap();

    assert_eq!(companies.len(), 10);
    assert!(
        companies
            .iter()
            .all(|c| c.identifier.is_none() && c.name.is_some())
    );
    let names: Vec<&str> = companies
        .iter()
        .map(|c| c.name.as_deref().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable_by_key(|name| std::cmp::Reverse(name.to_lowercase()));
    assert_eq!(names, sorted);
}
