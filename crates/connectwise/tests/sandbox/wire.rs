//! Wire details checked against a scripted server: headers, page links taken exactly as
//! given, short and overlapping pages, hang-ups and odd discovery answers.

use hyalto_connectwise::models::Company;
use hyalto_connectwise::{Client, Error, ListQuery, SiteUrl};
use serde_json::json;

use crate::helpers::{CLIENT_ID, COMPANY_ID, PRIVATE_KEY, PUBLIC_KEY, settings_for_site};
use crate::mock::{MockServer, Reply, company_info};

async fn connect(server: &MockServer) -> Client {
    Client::connect(settings_for_site(SiteUrl::parse(&server.site()).unwrap()))
        .await
        .unwrap()
}

#[tokio::test]
async fn every_api_call_carries_auth_client_id_and_the_pinned_version() {
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            Reply::json(json!({"version": "v2025.1"})),
        ]
    })
    .await;
    let client = connect(&server).await;

    client.system_info().await.unwrap();

    let requests = server.requests();
    let discovery = &requests[0];
    let call = &requests[1];
    assert_eq!(discovery.target, format!("/login/companyinfo/{COMPANY_ID}"));
    assert_eq!(discovery.header("authorization"), None);
    assert_eq!(call.target, "/v2025_1/apis/3.0/system/info");
    let expected = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{COMPANY_ID}+{PUBLIC_KEY}:{PRIVATE_KEY}"))
    };
    assert_eq!(
        call.header("authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(call.header("clientid"), Some(CLIENT_ID));
    assert_eq!(
        call.header("accept"),
        Some("application/vnd.connectwise.com+json; version=2025.1")
    );
}

#[tokio::test]
async fn a_short_page_is_not_the_end_and_overlapping_pages_are_deduplicated() {
    let server = MockServer::start(|addr| {
        let base = format!("http://{addr}/v2025_1/apis/3.0/company/companies");
        vec![
            company_info(addr),
            Reply::json_with_link(
                json!([{"id": 1}, {"id": 2}]),
                format!(r#"<{base}?pageSize=3&custom=a%2Bb%26c&page=2>; rel="next""#),
            ),
            Reply::json_with_link(
                json!([{"id": 2}, {"id": 3}, {"id": 4}]),
                format!(
                    r#"<{base}?pageSize=3&custom=a%2Bb%26c&page=1>; rel="first", {}"#,
                    format_args!(r#"<{base}?pageSize=3&custom=a%2Bb%26c&page=3>; rel="next""#)
                ),
            ),
            Reply::json(json!([])),
        ]
    })
    .await;
    let client = connect(&server).await;
    let query = ListQuery {
        page_size: Some(3),
        ..ListQuery::default()
    };

    let companies: Vec<Company> = client.companies(&query).await.unwrap();

    let ids: Vec<i64> = companies.iter().map(|company| company.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets[1..],
        [
            "/v2025_1/apis/3.0/company/companies?pageSize=3&page=1".to_owned(),
            "/v2025_1/apis/3.0/company/companies?pageSize=3&custom=a%2Bb%26c&page=2".to_owned(),
            "/v2025_1/apis/3.0/company/companies?pageSize=3&custom=a%2Bb%26c&page=3".to_owned(),
        ]
    );
}

#[tokio::test]
async fn forward_only_paging_sends_its_header_and_follows_page_ids() {
    let server = MockServer::start(|addr| {
        let base = format!("http://{addr}/v2025_1/apis/3.0/company/companies");
        vec![
            company_info(addr),
            Reply::json_with_link(
                json!([{"id": 1}, {"id": 2}]),
                format!(r#"<{base}?pageSize=2&pageId=2>; rel="next""#),
            ),
            Reply::json(json!([{"id": 3}])),
        ]
    })
    .await;
    let client = connect(&server).await;
    let query = ListQuery {
        page_size: Some(2),
        ..ListQuery::default()
    };

    let companies: Vec<Company> = client
        .list_forward_only("/company/companies", &query)
        .await
        .unwrap();

    assert_eq!(companies.len(), 3);
    let requests = server.requests();
    assert_eq!(
        requests[1].target,
        "/v2025_1/apis/3.0/company/companies?pageSize=2"
    );
    assert_eq!(
        requests[2].target,
        "/v2025_1/apis/3.0/company/companies?pageSize=2&pageId=2"
    );
    for request in &requests[1..] {
        assert_eq!(request.header("pagination-type"), Some("forward-only"));
    }
}

#[tokio::test]
async fn a_next_link_that_loops_is_an_error_not_an_endless_read() {
    let server = MockServer::start(|addr| {
        let next =
            format!(r#"<http://{addr}/v2025_1/apis/3.0/company/companies?page=2>; rel="next""#);
        vec![
            company_info(addr),
            Reply::json_with_link(json!([{"id": 1}]), next.clone()),
            Reply::json_with_link(json!([{"id": 2}]), next.clone()),
            Reply::json_with_link(json!([{"id": 3}]), next),
        ]
    })
    .await;
    let client = connect(&server).await;

    let error = client.companies(&ListQuery::default()).await.unwrap_err();

    assert!(matches!(error, Error::Decode { .. }), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_read_whose_connection_drops_is_retried() {
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            Reply::HangUp,
            Reply::Http {
                status: 500,
                headers: Vec::new(),
                body: "<html><body>Gateway Timeout</body></html>".to_owned(),
            },
            Reply::json(json!({"version": "v2025.1"})),
        ]
    })
    .await;
    let client = connect(&server).await;

    let info = client.system_info().await.unwrap();

    assert_eq!(info.version.as_deref(), Some("v2025.1"));
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_delete_whose_first_response_was_lost_counts_a_404_as_done() {
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            Reply::HangUp,
            Reply::Http {
                status: 404,
                headers: Vec::new(),
                body: r#"{"code":"NotFound","message":"gone"}"#.to_owned(),
            },
        ]
    })
    .await;
    let client = connect(&server).await;

    let result = client.delete_addition(5, 9).await;

    assert!(result.is_ok(), "{result:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests[1..] {
        assert_eq!(request.method, "DELETE");
        assert_eq!(
            request.target,
            "/v2025_1/apis/3.0/finance/agreements/5/additions/9"
        );
    }
}

#[tokio::test]
async fn a_reported_site_without_a_port_keeps_the_typed_port() {
    let server = MockServer::start(|_| {
        vec![Reply::json(
            json!({"Codebase": "v4_6_release/", "SiteUrl": "127.0.0.1"}),
        )]
    })
    .await;

    let client = connect(&server).await;

    assert_eq!(
        client.base_url(),
        format!("http://{}/v4_6_release/apis/3.0", server.addr)
    );
}

#[tokio::test]
async fn a_discovery_answer_without_a_codebase_is_refused() {
    let server = MockServer::start(|_| vec![Reply::json(json!({"CompanyName": "Odd"}))]).await;

    let result = Client::connect(settings_for_site(SiteUrl::parse(&server.site()).unwrap())).await;

    let error = result.unwrap_err();
    assert!(matches!(error, Error::Discovery { .. }), "{error}");
    assert!(error.to_string().contains("Codebase"), "{error}");
}

#[tokio::test]
async fn an_unreachable_site_fails_discovery_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let result = Client::connect(settings_for_site(
        SiteUrl::parse(&format!("http://{addr}")).unwrap(),
    ))
    .await;

    let error = result.unwrap_err();
    assert!(matches!(error, Error::Discovery { .. }), "{error}");
    assert!(error.to_string().contains("reachable"), "{error}");
}

#[tokio::test]
async fn a_post_answered_with_any_500_is_not_repeated_and_its_outcome_is_unknown() {
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            Reply::Http {
                status: 500,
                headers: Vec::new(),
                body: r#"{"code":"Crash","message":"Object reference not set"}"#.to_owned(),
            },
        ]
    })
    .await;
    let client = connect(&server).await;

    let error = client
        .post::<_, serde_json::Value>("/finance/agreements", &json!({"name": "x"}))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::OutcomeUnknown { .. }), "{error}");
    assert!(
        error.to_string().contains("Object reference not set"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 2);
}
