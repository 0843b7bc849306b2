//! Retries, pacing and lost responses, driven by the sandbox's fault rules.

use std::time::{Duration, Instant};

use hyalto_connectwise::{Error, Field, ListQuery};
use serde_json::json;

use crate::helpers::{assert_no_secrets, route_count, spawn};
use crate::writes::new_agreement;

#[tokio::test]
async fn a_429_waits_for_retry_after_even_with_an_html_body() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/system/info", "kind": "rate_limit",
        "retryAfterSecs": 1, "html": true
    }))
    .await;

    let started = Instant::now();
    let info = site.client.system_info().await;

    assert!(info.is_ok(), "{info:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /system/info"), 2);
}

#[tokio::test]
async fn a_429_on_post_is_retried_and_creates_one_record() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements", "kind": "rate_limit",
        "retryAfterSecs": 0
    }))
    .await;

    let created = site
        .client
        .create_agreement(&new_agreement("Rate limited once", 1))
        .await
        .unwrap();

    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "POST /finance/agreements"), 2);
    let same_name = Field::new("name").eq("Rate limited once");
    assert_eq!(
        site.client.agreement_count(Some(&same_name)).await.unwrap(),
        1
    );
    assert!(created.id > 0);
}

#[tokio::test]
async fn a_503_on_get_is_retried_until_it_succeeds() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/company/companies", "kind": "server_error",
        "status": 503, "count": 2
    }))
    .await;

    let companies = site.client.companies(&ListQuery::default()).await.unwrap();

    assert_eq!(companies.len(), 10);
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /company/companies"), 3);
}

#[tokio::test]
async fn a_get_that_keeps_failing_becomes_transient_after_the_retries() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/system/info", "kind": "server_error",
        "status": 502, "count": 10
    }))
    .await;

    let error = site.client.system_info().await.unwrap_err();

    let Error::Transient {
        attempts, status, ..
    } = &error
    else {
        panic!("expected a transient error, got {error}");
    };
    assert_eq!(*attempts, 4);
    assert_eq!(*status, Some(502));
    assert!(error.is_retryable());
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /system/info"), 4);
}

#[tokio::test]
async fn a_post_is_never_repeated_after_a_server_error() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements", "kind": "server_error",
        "status": 503
    }))
    .await;

    let error = site
        .client
        .create_agreement(&new_agreement("Refused once", 1))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Transient { .. }), "{error}");
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "POST /finance/agreements"), 1);
}

#[tokio::test]
async fn a_post_whose_response_is_lost_is_outcome_unknown_and_exists_once() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements", "kind": "commit_then_drop"
    }))
    .await;

    let error = site
        .client
        .create_agreement(&new_agreement("Committed then dropped", 1))
        .await
        .unwrap_err();

    let Error::OutcomeUnknown { method, path, .. } = &error else {
        panic!("expected an unknown outcome, got {error}");
    };
    assert_eq!(method.as_str(), "POST");
    assert_eq!(path, "/finance/agreements");
    assert!(!error.is_retryable());
    assert_no_secrets(&error.to_string());
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "POST /finance/agreements"), 1);
    let same_name = Field::new("name").eq("Committed then dropped");
    let found = site
        .client
        .agreements(&ListQuery::filter(same_name))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_patch_whose_response_is_lost_is_retried_safely() {
    let site = spawn().await;
    let agreement = site
        .client
        .create_agreement(&new_agreement("Patched through a drop", 1))
        .await
        .unwrap();
    site.take_stats().await;
    site.add_fault(json!({
        "method": "PATCH", "pathTemplate": "/finance/agreements/{id}", "kind": "commit_then_drop"
    }))
    .await;

    let patched = site
        .client
        .patch_agreement(
            agreement.id,
            &[hyalto_connectwise::models::PatchOperation::replace(
                "workOrder",
                "WO-7",
            )],
        )
        .await
        .unwrap();

    assert_eq!(patched.work_order.as_deref(), Some("WO-7"));
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "PATCH /finance/agreements/{id}"), 2);
}

#[tokio::test]
async fn a_codebase_change_is_followed_after_one_404() {
    let site = spawn().await;
    let old_base = site.client.base_url();
    site.change_codebase("v2026_1/").await;

    let info = site.client.system_info().await;
    let companies = site.client.companies(&ListQuery::default()).await;

    assert!(info.is_ok(), "{info:?}");
    assert_eq!(companies.unwrap().len(), 10);
    assert_ne!(site.client.base_url(), old_base);
    assert!(site.client.base_url().ends_with("/v2026_1/apis/3.0"));
}

#[tokio::test]
async fn a_500_that_mentions_a_timeout_is_retried_on_get() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/finance/agreements/{id}", "kind": "server_error",
        "status": 500
    }))
    .await;

    let agreement = site.client.agreement(1).await.unwrap();

    assert_eq!(agreement.id, 1);
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /finance/agreements/{id}"), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_returned_at_once() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/system/info", "kind": "rate_limit",
        "retryAfterSecs": 60
    }))
    .await;

    let started = Instant::now();
    let error = site.client.system_info().await.unwrap_err();

    let Error::RateLimited { retry_after, .. } = &error else {
        panic!("expected a rate limit, got {error}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(60)));
    assert!(error.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "GET /system/info"), 1);
}

#[tokio::test]
async fn an_addition_post_whose_response_is_lost_exists_once() {
    let site = spawn().await;
    let before = site.client.addition_count(1, None).await.unwrap();
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements/{id}/additions",
        "kind": "commit_then_drop"
    }))
    .await;
    let line = hyalto_connectwise::models::NewAddition::new(
        hyalto_connectwise::models::CatalogItemReference::by_id(1),
    );

    let error = site.client.create_addition(1, &line).await.unwrap_err();

    assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error}");
    assert_eq!(
        site.client.addition_count(1, None).await.unwrap(),
        before + 1
    );
}

#[tokio::test]
async fn a_post_answered_with_a_500_may_or_may_not_have_saved_the_record() {
    let site = spawn().await;
    site.take_stats().await;
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements", "kind": "server_error",
        "status": 500
    }))
    .await;

    let error = site
        .client
        .create_agreement(&new_agreement("Answered with a 500", 1))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("ConnectWise answered 500 to POST /finance/agreements"),
        "{text}"
    );
    assert!(
        text.contains("it may or may not have saved the record; look it up before trying again"),
        "{text}"
    );
    assert!(!text.contains("never arrived"), "{text}");
    assert!(text.contains("request id"), "{text}");
    let stats = site.take_stats().await;
    assert_eq!(route_count(&stats, "POST /finance/agreements"), 1);
}
