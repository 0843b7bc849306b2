//! The sandbox's HTTP surface, tested through a real server on `127.0.0.1:0` with reqwest.

use std::path::Path;
use std::time::{Duration, Instant};

use hyalto_cw_sandbox::store::Denial;
use hyalto_cw_sandbox::{FaultConfig, RunningSandbox, SandboxConfig, Seed, start};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

const CLIENT_ID: &str = "test-client-id";

/// A sandbox started for one test, with a client that knows its credentials.
struct TestSandbox {
    running: RunningSandbox,
    client: reqwest::Client,
}

fn test_config() -> SandboxConfig {
    SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        client_id: Some(CLIENT_ID.to_owned()),
        ..SandboxConfig::default()
    }
}

async fn spawn() -> TestSandbox {
    spawn_with(test_config()).await
}

async fn spawn_with(config: SandboxConfig) -> TestSandbox {
    let running = start(config).await.expect("the sandbox starts");
    TestSandbox {
        running,
        client: reqwest::Client::new(),
    }
}

impl TestSandbox {
    /// An authenticated request to `path` below the API base (e.g. `/system/info?x=1`).
    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.authed(method, &format!("{}{path}", self.running.api_base()))
    }

    /// An authenticated request to an absolute URL, such as one from a `Link` header.
    fn authed(&self, method: Method, url: &str) -> RequestBuilder {
        let config = self.running.config();
        self.client
            .request(method, url)
            .basic_auth(
                format!("{}+{}", config.company_id, config.public_key),
                Some(&config.private_key),
            )
            .header("clientId", CLIENT_ID)
            .header(
                "Accept",
                "application/vnd.connectwise.com+json; version=2025.1",
            )
    }

    async fn get(&self, path: &str) -> Response {
        self.api(Method::GET, path).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.api(method, path).json(body).send().await.unwrap()
    }

    /// A request to a control endpoint under `/_sandbox/`.
    fn control(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(
            method,
            format!("{}/_sandbox{path}", self.running.site_url()),
        )
    }

    async fn add_rule(&self, rule: Value) {
        let response = self
            .control(Method::POST, "/faults/rules")
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn stats(&self) -> Value {
        self.control(Method::GET, "/stats")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn new_agreement(name: &str) -> Value {
    json!({
        "name": name,
        "type": { "id": 1 },
        "company": { "id": 1 },
        "contact": { "id": 1 },
        "startDate": "2025-01-01T00:00:00Z",
        "noEndingDateFlag": true,
        "billAmount": 0
    })
}

/// The URL of every `<url>; rel="..."` entry of a Link header, by rel.
fn links(response: &Response) -> Vec<(String, String)> {
    let Some(header) = response.headers().get("link") else {
        return Vec::new();
    };
    header
        .to_str()
        .unwrap()
        .split(", <")
        .map(|entry| {
            let entry = entry.trim_start_matches('<');
            let (url, rel) = entry.split_once(">; rel=\"").unwrap();
            (rel.trim_end_matches('"').to_owned(), url.to_owned())
        })
        .collect()
}

fn link(response: &Response, rel: &str) -> Option<String> {
    links(response)
        .into_iter()
        .find(|(r, _)| r == rel)
        .map(|(_, url)| url)
}

fn ids(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

async fn error_body(response: Response) -> Value {
    let body: Value = response.json().await.unwrap();
    assert!(body["code"].is_string(), "a ConnectWise error body: {body}");
    assert!(
        body["message"].is_string(),
        "a ConnectWise error body: {body}"
    );
    body
}

// --- Authentication and discovery -------------------------------------------------------------

#[tokio::test]
async fn companyinfo_answers_without_auth_with_the_codebase_and_the_host_used() {
    let sandbox = spawn().await;
    let url = format!("{}/login/companyinfo/SANDBOX", sandbox.running.site_url());

    let response = sandbox.client.get(url).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-cw-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Codebase"], "v2025_1/");
    assert_eq!(body["CompanyID"], "sandbox");
    assert_eq!(body["IsCloud"], false);
    assert_eq!(
        body["SiteUrl"],
        sandbox.running.local_addr().to_string().as_str()
    );
    assert_eq!(body["VersionCode"], "v2025.1");
}

#[tokio::test]
async fn companyinfo_for_an_unknown_company_is_a_404_error_body() {
    let sandbox = spawn().await;
    let url = format!("{}/login/companyinfo/nobody", sandbox.running.site_url());

    let response = sandbox.client.get(url).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(response).await["code"], "NotFound");
}

#[tokio::test]
async fn a_request_without_credentials_is_401_with_the_cw_headers() {
    let sandbox = spawn().await;
    let url = format!("{}/system/info", sandbox.running.api_base());

    let response = sandbox
        .client
        .get(url)
        .header("clientId", CLIENT_ID)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("x-cw-request-id"));
    assert_eq!(response.headers()["api-current-version"], "2025.1");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(error_body(response).await["code"], "Unauthorized");
}

#[tokio::test]
async fn a_request_without_client_id_is_401_and_says_so() {
    let sandbox = spawn().await;
    let config = sandbox.running.config();
    let url = format!("{}/system/info", sandbox.running.api_base());

    let response = sandbox
        .client
        .get(url)
        .basic_auth(
            format!("{}+{}", config.company_id, config.public_key),
            Some(&config.private_key),
        )
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = error_body(response).await;
    assert_eq!(body["code"], "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("clientId"));
}

#[tokio::test]
async fn a_wrong_private_key_is_401_and_never_echoed() {
    let sandbox = spawn().await;
    let config = sandbox.running.config();
    let url = format!("{}/system/info", sandbox.running.api_base());

    let response = sandbox
        .client
        .get(url)
        .basic_auth(
            format!("{}+{}", config.company_id, config.public_key),
            Some("not-the-key-0451"),
        )
        .header("clientId", CLIENT_ID)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = response.text().await.unwrap();
    assert!(!text.contains("not-the-key-0451"));
}

#[tokio::test]
async fn the_company_id_is_case_insensitive_and_the_legacy_codebase_works() {
    let sandbox = spawn().await;
    let config = sandbox.running.config();
    let url = format!(
        "{}/v4_6_release/apis/3.0/system/info",
        sandbox.running.site_url()
    );

    let response = sandbox
        .client
        .get(url)
        .basic_auth(
            format!("{}+{}", config.company_id.to_uppercase(), config.public_key),
            Some(&config.private_key),
        )
        .header("clientId", CLIENT_ID)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["isCloud"], false);
}

#[tokio::test]
async fn every_response_has_its_own_request_id() {
    let sandbox = spawn().await;

    let first = sandbox.get("/system/info").await;
    let second = sandbox.get("/system/info").await;

    assert_ne!(
        first.headers()["x-cw-request-id"],
        second.headers()["x-cw-request-id"]
    );
}

// --- Lists, paging and queries ----------------------------------------------------------------

#[tokio::test]
async fn walking_next_links_visits_every_record_once_and_keeps_parameters() {
    let sandbox = spawn().await;
    let total = sandbox.get_json("/company/contacts/count").await["count"]
        .as_i64()
        .unwrap();
    assert!(total > 3, "the demo seed has several pages of contacts");

    let mut url = format!(
        "{}/company/contacts?conditions=id%20%3E%200&pageSize=3&fields=id",
        sandbox.running.api_base()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = sandbox.authed(Method::GET, &url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        for (_, link_url) in links(&response) {
            assert!(link_url.contains("conditions=id%20%3E%200&pageSize=3&fields=id&page="));
            let tail = link_url.rsplit_once("&page=").unwrap().1;
            assert!(
                tail.chars().all(|c| c.is_ascii_digit()),
                "page is last: {link_url}"
            );
        }
        let next = link(&response, "next");
        let rows: Value = response.json().await.unwrap();
        assert!(rows.as_array().unwrap().len() <= 3);
        seen.extend(ids(&rows));
        pages += 1;
        match next {
            Some(next) => url = next,
            None => break,
        }
    }

    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(seen.len() as i64, total);
    assert_eq!(unique.len(), seen.len());
    assert_eq!(pages as i64, (total + 2) / 3);
}

#[tokio::test]
async fn a_middle_page_links_first_prev_next_and_last() {
    let sandbox = spawn().await;

    let response = sandbox.get("/company/contacts?pageSize=2&page=2").await;

    let rels: Vec<String> = links(&response).into_iter().map(|(rel, _)| rel).collect();
    assert_eq!(rels, vec!["first", "prev", "next", "last"]);
    assert!(
        link(&response, "first")
            .unwrap()
            .ends_with("pageSize=2&page=1")
    );
    assert!(
        link(&response, "next")
            .unwrap()
            .ends_with("pageSize=2&page=3")
    );
}

#[tokio::test]
async fn a_page_size_above_1000_is_clamped_to_1000() {
    let companies: Vec<Value> = (1..=1003)
        .map(
            |id| json!({"id": id, "identifier": format!("C{id}"), "name": format!("Company {id}")}),
        )
        .collect();
    let (sandbox, _dir) = spawn_with_seed(&json!({ "companies": companies })).await;

    let first = sandbox.get("/company/companies?pageSize=5000").await;
    let next = link(&first, "next").expect("a second page follows");
    let last = link(&first, "last").expect("a last page is linked");
    let rows: Value = first.json().await.unwrap();
    let second: Value = sandbox
        .authed(Method::GET, &next)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(rows.as_array().unwrap().len(), 1000);
    assert!(next.ends_with("pageSize=5000&page=2"), "{next}");
    assert!(last.ends_with("pageSize=5000&page=2"), "{last}");
    assert_eq!(ids(&second), vec![1001, 1002, 1003]);
}

#[tokio::test]
async fn forward_only_paging_walks_by_id_until_no_next_link() {
    let sandbox = spawn().await;
    let total = sandbox.get_json("/company/contacts/count").await["count"]
        .as_i64()
        .unwrap();

    let mut path = "/company/contacts?pageSize=4".to_owned();
    let mut seen = Vec::new();
    loop {
        let response = sandbox
            .api(Method::GET, &path)
            .header("pagination-type", "forward-only")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let next = link(&response, "next");
        let rows: Value = response.json().await.unwrap();
        seen.extend(ids(&rows));
        match next {
            Some(next) => {
                assert!(next.contains("pageSize=4&pageId="));
                path = next
                    .strip_prefix(&sandbox.running.api_base())
                    .unwrap()
                    .to_owned();
            }
            None => break,
        }
    }

    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn forward_only_paging_refuses_order_by() {
    let sandbox = spawn().await;

    let response = sandbox
        .api(Method::GET, "/company/contacts?orderBy=id%20desc")
        .header("pagination-type", "forward-only")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_body(response).await["message"]
            .as_str()
            .unwrap()
            .contains("forward-only")
    );
}

#[tokio::test]
async fn count_honours_conditions() {
    let sandbox = spawn().await;
    let all = sandbox.get_json("/company/contacts/count").await["count"]
        .as_i64()
        .unwrap();

    let filtered = sandbox
        .get_json("/company/contacts/count?conditions=company%2Fid%3D1")
        .await["count"]
        .as_i64()
        .unwrap();
    let rows = sandbox
        .get_json("/company/contacts?conditions=company%2Fid%3D1&pageSize=1000")
        .await;

    assert!(filtered >= 1);
    assert!(filtered < all);
    assert_eq!(rows.as_array().unwrap().len() as i64, filtered);
}

#[tokio::test]
async fn fields_and_order_by_shape_the_rows() {
    let sandbox = spawn().await;

    let descending = sandbox
        .get_json("/company/companies?fields=id,name&orderBy=name%20desc&pageSize=1000")
        .await;
    let ascending = sandbox
        .get_json("/company/companies?fields=id,name&orderBy=name%20asc&pageSize=1000")
        .await;

    for row in descending.as_array().unwrap() {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["id", "name"]);
    }
    let mut reversed = ids(&ascending);
    reversed.reverse();
    assert_eq!(ids(&descending), reversed);
    assert_ne!(ids(&ascending), {
        let mut sorted = ids(&ascending);
        sorted.sort_unstable();
        sorted
    });
}

#[tokio::test]
async fn like_treats_underscore_as_one_character_and_bracketed_underscore_as_itself() {
    let sandbox = spawn().await;
    let search = |pattern: &str| {
        let conditions = format!("identifier like \"{pattern}\"");
        let encoded: String = url::form_urlencoded::byte_serialize(conditions.as_bytes()).collect();
        format!("/procurement/catalog?conditions={encoded}")
    };

    let wildcard = sandbox.get_json(&search("VMW_VCPU")).await;
    let literal = sandbox.get_json(&search("VMW[_]VCPU")).await;
    let created = sandbox
        .send_json(
            Method::POST,
            "/procurement/catalog",
            &json!({"identifier": "VMW_VCPU", "description": "Underscored",
                "subcategory": {"id": 1}, "type": {"id": 1},
                "customerDescription": "An identifier with an underscore"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let literal_after = sandbox.get_json(&search("VMW[_]VCPU")).await;

    let identifiers = |rows: &Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row["identifier"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(identifiers(&wildcard), vec!["VMW-VCPU"]);
    assert!(identifiers(&literal).is_empty());
    assert_eq!(identifiers(&literal_after), vec!["VMW_VCPU"]);
}

#[tokio::test]
async fn put_replaces_an_agreement_and_answers_200_with_it() {
    let sandbox = spawn().await;
    let created: Value = sandbox
        .send_json(Method::POST, "/finance/agreements", &{
            let mut body = new_agreement("Before PUT");
            body["customerPO"] = json!("PO-OLD");
            body
        })
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    let replaced = sandbox
        .send_json(
            Method::PUT,
            &format!("/finance/agreements/{id}"),
            &new_agreement("After PUT"),
        )
        .await;

    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["name"], "After PUT");
    assert!(replaced.get("customerPO").is_none(), "{replaced}");
    assert_eq!(
        sandbox.get_json(&format!("/finance/agreements/{id}")).await,
        replaced
    );
}

#[tokio::test]
async fn a_malformed_condition_is_a_400_error_body() {
    let sandbox = spawn().await;

    let response = sandbox.get("/company/companies?conditions=(((").await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_body(response).await["code"], "BadRequest");
}

#[tokio::test]
async fn an_unknown_field_in_conditions_is_a_400_naming_it() {
    let sandbox = spawn().await;

    let response = sandbox
        .get("/company/companies?conditions=bogusField%3D1")
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_body(response).await;
    assert!(body["message"].as_str().unwrap().contains("bogusField"));
}

#[tokio::test]
async fn additions_are_listed_and_counted_per_agreement() {
    let sandbox = spawn().await;

    let rows = sandbox
        .get_json("/finance/agreements/1/additions?pageSize=1000")
        .await;
    let count = sandbox
        .get_json("/finance/agreements/1/additions/count")
        .await;
    let unknown = sandbox.get("/finance/agreements/987654/additions").await;

    assert!(!rows.as_array().unwrap().is_empty());
    assert_eq!(count["count"], rows.as_array().unwrap().len());
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

// --- Writes and errors --------------------------------------------------------------------------

#[tokio::test]
async fn post_patch_and_delete_answer_201_200_and_204() {
    let sandbox = spawn().await;

    let created = sandbox
        .send_json(
            Method::POST,
            "/finance/agreements",
            &new_agreement("Shape test"),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "Shape test");

    let patched = sandbox
        .send_json(
            Method::PATCH,
            &format!("/finance/agreements/{id}"),
            &json!([{ "op": "replace", "path": "name", "value": "Renamed" }]),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["name"], "Renamed");

    let deleted = sandbox
        .api(Method::DELETE, &format!("/finance/agreements/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());

    let gone = sandbox.get(&format!("/finance/agreements/{id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(gone).await["code"], "NotFound");
}

#[tokio::test]
async fn an_addition_is_created_patched_and_deleted_under_its_agreement() {
    let sandbox = spawn().await;

    let created = sandbox
        .send_json(
            Method::POST,
            "/finance/agreements/1/additions",
            &json!({
                "product": { "id": 1 },
                "quantity": 4,
                "billCustomer": "Billable",
                "effectiveDate": "2025-03-01T00:00:00Z"
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let patched = sandbox
        .send_json(
            Method::PATCH,
            &format!("/finance/agreements/1/additions/{id}"),
            &json!([{ "op": "replace", "path": "quantity", "value": 6 }]),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let reread = sandbox
        .get_json(&format!("/finance/agreements/1/additions/{id}"))
        .await;
    assert_eq!(reread["quantity"].to_string(), "6");

    let deleted = sandbox
        .api(
            Method::DELETE,
            &format!("/finance/agreements/1/additions/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_validation_failure_is_400_invalid_object() {
    let sandbox = spawn().await;

    let response = sandbox
        .send_json(Method::POST, "/finance/agreements", &json!({}))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_body(response).await;
    assert_eq!(body["code"], "InvalidObject");
    assert_eq!(body["message"], "agreement object is invalid");
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|entry| {
            assert_eq!(entry["code"], "MissingRequiredField");
            assert_eq!(entry["resource"], "agreement");
        })
        .map(|entry| entry["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["company", "contact", "name", "type"]);
}

#[tokio::test]
async fn a_malformed_json_body_is_a_400_error_body() {
    let sandbox = spawn().await;

    let response = sandbox
        .api(Method::POST, "/finance/agreements")
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_body(response).await;
    assert!(body["message"].as_str().unwrap().contains("JSON"));
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405() {
    let sandbox = spawn().await;

    let response = sandbox
        .api(Method::DELETE, "/finance/agreements")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"));
    assert_eq!(error_body(response).await["code"], "MethodNotAllowed");
}

#[tokio::test]
async fn a_denied_verb_is_403_naming_verb_and_path() {
    let sandbox = spawn_with(SandboxConfig {
        deny: vec![Denial {
            method: "DELETE".to_owned(),
            path: "/finance/agreements/{agreementId}".to_owned(),
        }],
        ..test_config()
    })
    .await;

    let denied = sandbox
        .api(Method::DELETE, "/finance/agreements/1")
        .send()
        .await
        .unwrap();
    let allowed = sandbox.get("/finance/agreements/1").await;

    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let message = error_body(denied).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("DELETE"));
    assert!(message.contains("/finance/agreements/{id}"));
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_denied_write_is_403_before_its_body_is_validated() {
    let denials = [
        ("POST", "/finance/agreements"),
        ("POST", "/finance/agreements/{id}/additions"),
        ("PATCH", "/finance/agreements/{id}"),
        ("PATCH", "/finance/agreements/{id}/additions/{additionId}"),
    ];
    let denied = spawn_with(SandboxConfig {
        deny: denials
            .iter()
            .map(|(method, path)| Denial {
                method: (*method).to_owned(),
                path: (*path).to_owned(),
            })
            .collect(),
        ..test_config()
    })
    .await;
    let allowed = spawn().await;
    let requests = [
        (
            Method::POST,
            "/finance/agreements",
            json!({"company": {"id": 0}}),
        ),
        (
            Method::POST,
            "/finance/agreements/0/additions",
            json!({"product": {"id": 0}}),
        ),
        (
            Method::PATCH,
            "/finance/agreements/0",
            json!([{"op": "replace", "path": "name", "value": ""}]),
        ),
        (
            Method::PATCH,
            "/finance/agreements/0/additions/0",
            json!([]),
        ),
    ];

    let agreements_before = denied.get_json("/finance/agreements/count").await;

    for (method, path, body) in &requests {
        let refused = denied.send_json(method.clone(), path, body).await;
        let not_json = denied
            .api(method.clone(), path)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let checked = allowed.send_json(method.clone(), path, body).await;

        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(not_json.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            [StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&checked.status()),
            "{method} {path} answered {} without the denial",
            checked.status()
        );
    }
    assert_eq!(
        denied.get_json("/finance/agreements/count").await,
        agreements_before
    );
}

/// Writes `seed` to a temporary seed file and starts a sandbox on it.
async fn spawn_with_seed(seed: &Value) -> (TestSandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    let sandbox = spawn_with(SandboxConfig {
        seed: Seed::File(path),
        ..test_config()
    })
    .await;
    (sandbox, dir)
}

#[tokio::test]
async fn a_security_rule_in_the_seed_denies_its_verb_with_403() {
    let seed = json!({
        "companies": [{"id": 1, "identifier": "ACME", "name": "Acme"}],
        "security": {"deny": [{"method": "POST", "path": "/company/companies"}]}
    });
    let (sandbox, _dir) = spawn_with_seed(&seed).await;

    let denied = sandbox
        .send_json(
            Method::POST,
            "/company/companies",
            &json!({"identifier": "NEW", "name": "New"}),
        )
        .await;
    let listed = sandbox.get("/company/companies").await;

    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let body = error_body(denied).await;
    assert_eq!(body["code"], "Forbidden");
    assert!(body["message"].as_str().unwrap().contains("POST"));
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        sandbox.get_json("/company/companies/count").await["count"],
        1
    );
}

#[tokio::test]
async fn an_unknown_record_is_404() {
    let sandbox = spawn().await;

    let response = sandbox.get("/company/companies/987654").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(response).await["code"], "NotFound");
}

// --- Faults --------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rate_limit_rule_answers_429_with_retry_after_then_stops() {
    let sandbox = spawn().await;
    sandbox
        .add_rule(json!({"kind": "rate_limit", "count": 2, "retryAfterSecs": 7}))
        .await;

    let first = sandbox.get("/system/info").await;
    let second = sandbox.get("/system/info").await;
    let third = sandbox.get("/system/info").await;

    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.headers()["retry-after"], "7");
    assert_eq!(error_body(first).await["code"], "TooManyRequests");
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_html_rate_limit_looks_like_a_cdn_page() {
    let sandbox = spawn().await;
    sandbox
        .add_rule(json!({"kind": "rate_limit", "html": true}))
        .await;

    let response = sandbox.get("/company/companies").await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn a_rate_limit_share_of_one_limits_every_request_with_the_configured_wait() {
    let sandbox = spawn_with(SandboxConfig {
        faults: FaultConfig {
            rate_limit_share: 1.0,
            html_share: 1.0,
            retry_after_secs: 3,
            ..FaultConfig::default()
        },
        ..test_config()
    })
    .await;

    let first = sandbox.get("/system/info").await;
    let second = sandbox.get("/company/companies").await;

    for response in [first, second] {
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "3");
        assert!(response.text().await.unwrap().contains("<html>"));
    }
}

#[tokio::test]
async fn latency_delays_every_api_answer() {
    let sandbox = spawn_with(SandboxConfig {
        faults: FaultConfig {
            latency_ms: 200,
            ..FaultConfig::default()
        },
        ..test_config()
    })
    .await;

    let started = Instant::now();
    let response = sandbox.get("/system/info").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn jittered_latency_set_at_run_time_spreads_the_answer_times() {
    let sandbox = spawn().await;
    let put = sandbox
        .control(Method::PUT, "/faults")
        .json(&json!({"latencyMs": 50, "jitterMs": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let mut elapsed = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let response = sandbox.get("/system/info").await;
        assert_eq!(response.status(), StatusCode::OK);
        elapsed.push(started.elapsed());
    }

    // Every answer waits at least the fixed latency. With a uniform jitter of up to 200 ms, eight
    // answers all within 20 ms of each other would happen about once in 10^7 runs, and a slow
    // machine only widens the spread.
    assert!(
        elapsed
            .iter()
            .all(|time| *time >= Duration::from_millis(50))
    );
    let spread = *elapsed.iter().max().unwrap() - *elapsed.iter().min().unwrap();
    assert!(spread >= Duration::from_millis(20), "{elapsed:?}");
}

#[tokio::test]
async fn a_drop_share_of_one_saves_every_write_and_drops_its_answer() {
    let sandbox = spawn().await;
    let put = sandbox
        .control(Method::PUT, "/faults")
        .json(&json!({"dropShare": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let posted = sandbox
        .api(Method::POST, "/finance/agreements")
        .json(&new_agreement("Randomly dropped"))
        .send()
        .await;
    let patched = sandbox
        .api(Method::PATCH, "/finance/agreements/1")
        .json(&json!([{"op": "replace", "path": "customerPO", "value": "PO-DROP"}]))
        .send()
        .await;
    let read = sandbox
        .get_json("/finance/agreements?conditions=name%3D%22Randomly%20dropped%22")
        .await;
    let patched_record = sandbox.get_json("/finance/agreements/1").await;

    assert!(posted.is_err(), "the POST never gets an answer");
    assert!(patched.is_err(), "the PATCH never gets an answer");
    assert_eq!(read.as_array().unwrap().len(), 1);
    assert_eq!(patched_record["customerPO"], "PO-DROP");
    let stats = sandbox.stats().await;
    assert_eq!(stats["byOutcome"]["dropped"], 2);
    assert_eq!(stats["byOutcome"]["200"], 2);
}

#[tokio::test]
async fn a_rule_only_hits_its_method_and_route() {
    let sandbox = spawn().await;
    sandbox
        .add_rule(json!({
            "method": "GET",
            "pathTemplate": "/company/companies/{companyId}",
            "kind": "server_error",
            "status": 500
        }))
        .await;

    let other_route = sandbox.get("/company/companies").await;
    let hit = sandbox.get("/company/companies/1").await;

    assert_eq!(other_route.status(), StatusCode::OK);
    assert_eq!(hit.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let message = error_body(hit).await["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(message.contains("timeout"));
}

#[tokio::test]
async fn a_rule_can_fault_the_discovery_call() {
    let sandbox = spawn().await;
    sandbox
        .add_rule(json!({
            "method": "GET",
            "pathTemplate": "/login/companyinfo/{id}",
            "kind": "server_error",
            "status": 502
        }))
        .await;
    let url = format!("{}/login/companyinfo/sandbox", sandbox.running.site_url());

    let faulted = sandbox.client.get(&url).send().await.unwrap();
    let healthy = sandbox.client.get(&url).send().await.unwrap();

    assert_eq!(faulted.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error_body(faulted).await["code"], "ServerError");
    assert_eq!(healthy.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_server_error_share_can_be_set_and_cleared_at_run_time() {
    let sandbox = spawn().await;

    let put = sandbox
        .control(Method::PUT, "/faults")
        .json(&json!({"serverErrorShare": 1.0, "serverErrorStatuses": [502]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let faulted = sandbox.get("/system/info").await;
    let cleared = sandbox
        .control(Method::DELETE, "/faults")
        .send()
        .await
        .unwrap();
    let healthy = sandbox.get("/system/info").await;

    assert_eq!(faulted.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(healthy.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_invalid_fault_config_is_refused() {
    let sandbox = spawn().await;

    let response = sandbox
        .control(Method::PUT, "/faults")
        .json(&json!({"rateLimitShare": 2.0}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn commit_then_drop_loses_the_response_but_keeps_the_record() {
    let sandbox = spawn().await;
    sandbox
        .add_rule(json!({
            "method": "POST",
            "pathTemplate": "/finance/agreements",
            "kind": "commit_then_drop"
        }))
        .await;

    let result = sandbox
        .api(Method::POST, "/finance/agreements")
        .json(&new_agreement("Dropped but saved"))
        .send()
        .await;

    assert!(result.is_err(), "the client never sees a response");
    let found = sandbox
        .get_json("/finance/agreements?conditions=name%3D%22Dropped%20but%20saved%22")
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let stats = sandbox.stats().await;
    assert_eq!(
        stats["outcomesByRoute"]["POST /finance/agreements"]["dropped"],
        1
    );
}

#[tokio::test]
async fn a_codebase_change_makes_the_old_path_404() {
    let sandbox = spawn().await;
    let old_base = sandbox.running.api_base();

    let changed = sandbox
        .control(Method::POST, "/codebase")
        .json(&json!({"codebase": "v2026_1/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    let old = sandbox
        .client
        .get(format!("{old_base}/system/info"))
        .send()
        .await
        .unwrap();
    let new = sandbox.get("/system/info").await;
    let info: Value = sandbox
        .client
        .get(format!(
            "{}/login/companyinfo/sandbox",
            sandbox.running.site_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    assert!(sandbox.running.api_base().contains("/v2026_1/apis/3.0"));
    assert_eq!(new.status(), StatusCode::OK);
    assert_eq!(new.headers()["api-current-version"], "2026.1");
    assert_eq!(info["Codebase"], "v2026_1/");
}

#[tokio::test]
async fn an_invalid_codebase_is_refused() {
    let sandbox = spawn().await;

    let response = sandbox
        .control(Method::POST, "/codebase")
        .json(&json!({"codebase": "no-slash"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

// --- Statistics, invoices, TLS, state -----------------------------------------------------------

#[tokio::test]
async fn stats_count_requests_by_route_and_reset_on_request() {
    let sandbox = spawn().await;
    sandbox.add_rule(json!({"kind": "rate_limit"})).await;

    sandbox.get("/company/companies/1").await;
    sandbox.get("/company/companies/2").await;
    sandbox.get("/company/companies").await;
    let stats = sandbox.stats().await;

    assert_eq!(stats["total"], 3);
    assert_eq!(stats["byRoute"]["GET /company/companies/{id}"], 2);
    assert_eq!(stats["byRoute"]["GET /company/companies"], 1);
    assert_eq!(stats["byOutcome"]["429"], 1);

    let reset: Value = sandbox
        .control(Method::GET, "/stats?reset=true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["total"], 3);
    assert_eq!(sandbox.stats().await["total"], 0);

    sandbox.get("/system/info").await;
    let deleted = sandbox
        .control(Method::DELETE, "/stats")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(sandbox.stats().await["total"], 0);
}

#[tokio::test]
async fn the_invoice_preview_answers_for_an_agreement_and_refuses_bad_input() {
    let sandbox = spawn().await;
    let preview = |query: &'static str| {
        sandbox
            .control(Method::GET, &format!("/invoices/preview{query}"))
            .send()
    };

    let known = preview("?agreementId=1&periodStart=2025-03-01")
        .await
        .unwrap();
    let missing = preview("").await.unwrap();
    let bad_date = preview("?agreementId=1&periodStart=March").await.unwrap();
    let unknown = preview("?agreementId=987654").await.unwrap();

    assert_eq!(known.status(), StatusCode::OK);
    let known: Value = known.json().await.unwrap();
    assert_eq!(known["approximation"], true);
    assert!(known["note"].as_str().unwrap().contains("Approximation"));
    assert_eq!(known["agreementId"], 1);
    assert_eq!(known["periodStart"], "2025-03-01");
    assert!(known["totals"]["total"].is_number());
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad_date.status(), StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tls_mode_serves_https_with_the_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = spawn_with(SandboxConfig {
        tls: true,
        tls_dir: Some(dir.path().to_path_buf()),
        ..test_config()
    })
    .await;
    let cert_path = sandbox.running.cert_path().unwrap().to_path_buf();
    let pem = std::fs::read(&cert_path).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = format!("{}/login/companyinfo/sandbox", sandbox.running.site_url());

    let trusted = trusting.get(&url).send().await.unwrap();
    let untrusted = reqwest::Client::new().get(&url).send().await;

    assert!(sandbox.running.site_url().starts_with("https://127.0.0.1:"));
    assert!(cert_path.starts_with(dir.path()));
    assert_eq!(trusted.status(), StatusCode::OK);
    assert!(untrusted.is_err());
}

#[tokio::test]
async fn records_survive_a_restart_with_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = SandboxConfig {
        state: Some(state.clone()),
        ..test_config()
    };

    let first = spawn_with(config.clone()).await;
    let created: Value = first
        .send_json(
            Method::POST,
            "/finance/agreements",
            &new_agreement("Survives restarts"),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    first.running.shutdown().await;

    let second = spawn_with(config).await;
    let reread = second.get_json(&format!("/finance/agreements/{id}")).await;

    assert!(Path::new(&state).exists());
    assert_eq!(reread["name"], "Survives restarts");
}

/// Set in the child process of the crash test: the state file it writes to.
const CRASH_CHILD_STATE: &str = "HYALTO_SANDBOX_CRASH_TEST_STATE";

#[tokio::test]
async fn a_write_acknowledged_before_the_process_is_killed_is_in_the_state_file() {
    // In the child process this test serves the sandbox, makes one write, reports its id once
    // the answer has arrived and then waits to be killed.
    if let Some(state) = std::env::var_os(CRASH_CHILD_STATE) {
        let child = spawn_with(SandboxConfig {
            state: Some(state.into()),
            ..test_config()
        })
        .await;
        let created: Value = child
            .send_json(
                Method::POST,
                "/finance/agreements",
                &new_agreement("Survives a crash"),
            )
            .await
            .json()
            .await
            .unwrap();
        println!("CREATED {}", created["id"]);
        std::future::pending::<()>().await;
    }

    // The parent runs this very test again in a child process, kills it without warning (SIGKILL
    // on Unix) as soon as the write is acknowledged, and then reads the state file.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_write_acknowledged_before_the_process_is_killed_is_in_the_state_file",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_STATE, &state)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The test harness prints "test <name> ... " without a line break before the test runs, so
    // the marker may follow it on the same line.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let id: i64 = std::io::BufRead::lines(stdout)
        .map(Result::unwrap)
        .find_map(|line| line.split_once("CREATED ")?.1.trim().parse().ok())
        .expect("the child reports the id of its write");
    child.kill().unwrap();
    child.wait().unwrap();

    let after = spawn_with(SandboxConfig {
        state: Some(state),
        seed: Seed::Empty,
        ..test_config()
    })
    .await;
    let reread = after.get_json(&format!("/finance/agreements/{id}")).await;

    assert_eq!(reread["name"], "Survives a crash");
}

#[tokio::test]
async fn an_empty_seed_has_no_companies() {
    let sandbox = spawn_with(SandboxConfig {
        seed: Seed::Empty,
        ..test_config()
    })
    .await;

    let count = sandbox.get_json("/company/companies/count").await;

    assert_eq!(count["count"], 0);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_then_refuses_connections() {
    let sandbox = spawn_with(SandboxConfig {
        faults: FaultConfig {
            latency_ms: 1000,
            ..FaultConfig::default()
        },
        ..test_config()
    })
    .await;
    let url = format!("{}/system/info", sandbox.running.api_base());
    // The latency keeps the request in flight; the statistics say when the server holds it, so
    // the shutdown cannot start before the request has arrived, however slow the machine is.
    let in_flight = tokio::spawn(sandbox.api(Method::GET, "/system/info").send());
    wait_until_in_flight(&sandbox, 1).await;

    sandbox.running.shutdown().await;
    let finished = in_flight.await.unwrap().unwrap();
    let after = reqwest::Client::new().get(url).send().await;

    assert_eq!(finished.status(), StatusCode::OK);
    assert!(after.is_err());
}

/// Polls the statistics until `count` API requests are being served (for at most ten seconds).
async fn wait_until_in_flight(sandbox: &TestSandbox, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.stats().await["inFlight"] != count {
        assert!(
            Instant::now() < deadline,
            "the request never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// --- Review fixes: Host header, control bodies, type checks, paging, start-up ----------------

#[tokio::test]
async fn a_host_header_that_would_forge_link_entries_is_a_400_error_body() {
    let sandbox = spawn().await;

    let forged = sandbox
        .api(Method::GET, "/company/companies?pageSize=1")
        .header("Host", "evil.example>; rel=\"last\", <http://x")
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(forged.headers().get("link").is_none());
    let body = error_body(forged).await;
    assert!(body["message"].as_str().unwrap().contains("Host"), "{body}");
}

#[tokio::test]
async fn companyinfo_refuses_a_host_with_a_space_and_echoes_a_valid_one() {
    let sandbox = spawn().await;
    let url = format!("{}/login/companyinfo/sandbox", sandbox.running.site_url());

    let spaced = sandbox
        .client
        .get(&url)
        .header("Host", "a b")
        .send()
        .await
        .unwrap();
    let named = sandbox
        .client
        .get(&url)
        .header("Host", "cw.example.com:8443")
        .send()
        .await
        .unwrap();

    assert_eq!(spaced.status(), StatusCode::BAD_REQUEST);
    error_body(spaced).await;
    let body: Value = named.json().await.unwrap();
    assert_eq!(body["SiteUrl"], "cw.example.com:8443");
}

#[tokio::test]
async fn fault_rules_with_an_unknown_verb_or_route_are_refused_and_name_the_problem() {
    let sandbox = spawn().await;

    let verb = sandbox
        .control(Method::POST, "/faults/rules")
        .json(&json!({"method": "FETCH", "kind": "server_error"}))
        .send()
        .await
        .unwrap();
    let route = sandbox
        .control(Method::POST, "/faults/rules")
        .json(&json!({"pathTemplate": "/no/such/route", "kind": "server_error"}))
        .send()
        .await
        .unwrap();
    let pending: Value = sandbox
        .control(Method::GET, "/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(verb.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_body(verb).await["message"]
            .as_str()
            .unwrap()
            .contains("FETCH")
    );
    assert_eq!(route.status(), StatusCode::BAD_REQUEST);
    let message = error_body(route).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("/no/such/route"), "{message}");
    assert!(message.contains("/company/companies"), "{message}");
    assert_eq!(pending["rules"], json!([]));
}

#[tokio::test]
async fn a_fault_configuration_sent_as_an_array_is_refused() {
    let sandbox = spawn().await;

    let response = sandbox
        .control(Method::PUT, "/faults")
        .header("content-type", "application/json")
        .body("[5,0,0.5]")
        .send()
        .await
        .unwrap();
    let current: Value = sandbox
        .control(Method::GET, "/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(current["latencyMs"], 0);
}

#[tokio::test]
async fn a_codebase_that_collides_with_the_sandbox_paths_is_refused() {
    let sandbox = spawn().await;

    for codebase in ["_sandbox/", "LOGIN/", "apis/"] {
        let response = sandbox
            .control(Method::POST, "/codebase")
            .json(&json!({ "codebase": codebase }))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{codebase}");
    }
    assert!(sandbox.running.api_base().ends_with("/v2025_1/apis/3.0"));
}

#[tokio::test]
async fn conditions_with_mismatched_types_are_400_with_advice() {
    let sandbox = spawn().await;

    let cases = [
        ("id = true", "id is a number"),
        ("name = 5", "name is a string"),
        ("id = [2025-01-01T00:00:00Z]", "id is a number"),
    ];
    for (conditions, expected) in cases {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("conditions", conditions)
            .finish();
        let response = sandbox.get(&format!("/company/companies?{query}")).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{conditions}");
        let body = error_body(response).await;
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{conditions}: {body}"
        );
    }
}

#[tokio::test]
async fn comparing_a_reference_itself_says_to_compare_its_id() {
    let sandbox = spawn().await;

    let response = sandbox
        .get("/finance/agreements?conditions=company%20%3D%201")
        .await;
    let by_id = sandbox
        .get("/finance/agreements?conditions=company%2Fid%20%3D%201")
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = error_body(response).await;
    assert!(
        body["message"].as_str().unwrap().contains("company/id"),
        "{body}"
    );
    assert_eq!(by_id.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_page_number_too_large_to_represent_is_400_and_a_page_past_the_end_is_empty() {
    let sandbox = spawn().await;

    let huge = sandbox
        .get("/company/companies?page=99999999999999999999999")
        .await;
    let past_end = sandbox.get_json("/company/companies?page=500").await;

    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
    error_body(huge).await;
    assert_eq!(past_end, json!([]));
}

#[tokio::test]
async fn a_port_clash_names_the_os_error_once_and_suggests_a_free_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = SandboxConfig {
        listen: taken.local_addr().unwrap(),
        ..test_config()
    };

    let Err(error) = start(config).await else {
        panic!("binding a taken port must fail");
    };

    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
    assert!(chain.contains("--listen 127.0.0.1:0"), "{chain}");
}

#[tokio::test]
async fn a_sandbox_resumed_from_a_state_file_says_the_seed_was_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        state: Some(dir.path().join("state.db")),
        ..test_config()
    };

    let first = spawn_with(config.clone()).await;
    let created_fresh = first.running.resumed_from_state();
    let seeded = first.get_json("/company/companies/count").await["count"].clone();
    first.running.shutdown().await;
    let second = spawn_with(SandboxConfig {
        seed: Seed::Empty,
        ..config
    })
    .await;

    assert!(!created_fresh);
    assert!(second.running.resumed_from_state());
    assert_ne!(seeded, json!(0));
    assert_eq!(
        second.get_json("/company/companies/count").await["count"],
        seeded
    );
}
