//! The test harness: a sandbox, a data dir with two users, a running server, and an HTTP
//! client that keeps every answer so a test can check what was ever sent.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use hyalto_cw_sandbox::{RunningSandbox, SandboxConfig};
use hyalto_server::auth::{hash_password, new_token, token_hash};
use hyalto_server::{RunningServer, ServerConfig};
use hyalto_store::{KEY_FILE_NAME, KeyEncryptionKey, NewApiToken, NewUser, SqliteStore, Store};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The admin's and the viewer's password.
pub const PASSWORD: &str = "a long test passphrase";

/// A small inventory: two customers with one VM each.
pub const INVENTORY: &str = r#"{
  "format": "hyalto.inventory/v1",
  "source": "test-vcloud",
  "takenAt": "2026-11-30T23:30:00Z",
  "complete": true,
  "customers": [
    { "id": "acme", "name": "Acme & <Söhne>" },
    { "id": "initech", "name": "Initech" }
  ],
  "services": [
    {
      "id": "vm-acme-1", "customer": "acme", "kind": "virtual_machine", "name": "acme-web",
      "powerState": "on",
      "resources": [
        { "kind": "cpu", "quantity": 4, "unit": "count" },
        { "kind": "ram", "quantity": 8, "unit": "GiB" }
      ]
    },
    {
      "id": "vm-initech-1", "customer": "initech", "kind": "virtual_machine", "name": "tps",
      "resources": [
        { "kind": "cpu", "quantity": 2, "unit": "count" },
        { "kind": "ram", "quantity": 4, "unit": "GiB" }
      ]
    }
  ]
}"#;

/// One answer, with its body read.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics with the body when it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    /// The `Location` header.
    #[track_caller]
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .unwrap_or_else(|| panic!("no Location header; status {}", self.status))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value the answer sets for cookie `name`.
    #[track_caller]
    pub fn cookie(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.set_cookies()
            .iter()
            .find_map(|cookie| {
                cookie
                    .strip_prefix(&prefix)
                    .map(|rest| rest.split(';').next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.set_cookies()))
    }
}

/// A browser session: its cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// A running server with its sandbox, data dir, users and tokens.
pub struct TestApp {
    pub sandbox: RunningSandbox,
    /// Held so that the data dir lives as long as the server.
    _data_dir: TempDir,
    pub store: SqliteStore,
    pub server: RunningServer,
    /// An API token of the admin `alice`.
    pub admin_token: String,
    /// An API token of `victor`, who is not an admin.
    pub viewer_token: String,
    http: reqwest::Client,
    bodies: Mutex<Vec<String>>,
}

impl TestApp {
    /// A server with the demo sandbox, the admin `alice` and the user `victor`.
    pub async fn start() -> TestApp {
        TestApp::start_with(None, SandboxConfig::default()).await
    }

    /// The same, with a public URL for the server and a sandbox set up as `sandbox` says (its
    /// address is replaced by a free local port).
    pub async fn start_with(public_url: Option<&str>, sandbox: SandboxConfig) -> TestApp {
        TestApp::launch(public_url, sandbox, None).await
    }

    /// A server that syncs every mapped customer every `interval`.
    pub async fn start_scheduled(interval: Duration) -> TestApp {
        TestApp::launch(None, SandboxConfig::default(), Some(interval)).await
    }

    async fn launch(
        public_url: Option<&str>,
        sandbox: SandboxConfig,
        sync_interval: Option<Duration>,
    ) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sandbox = hyalto_cw_sandbox::start(SandboxConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..sandbox
        })
        .await
        .expect("the sandbox starts");

        let data_dir = tempfile::tempdir().unwrap();
        let store = open_store(data_dir.path()).await;
        let admin_token = add_user(&store, "alice", true).await;
        let viewer_token = add_user(&store, "victor", false).await;

        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        config.public_url = public_url.map(str::to_owned);
        config.sync_interval = sync_interval;
        let server = hyalto_server::start(store.clone(), &config, std::future::pending())
            .await
            .expect("the server starts");

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        TestApp {
            sandbox,
            _data_dir: data_dir,
            store,
            server,
            admin_token,
            viewer_token,
            http,
            bodies: Mutex::new(Vec::new()),
        }
    }

    /// Gets the server ready to bill `acme`: connection, records, inventory, a catalog item
    /// for each of its meters, and its mapping to company 1 and master agreement 1.
    pub async fn prepare_billing(&self) {
        self.configure().await;
        self.wait_for_refresh().await;
        self.import_inventory().await;
        let item = self
            .store
            .list_cw_records(hyalto_store::CwRecordKind::CatalogItem)
            .await
            .unwrap()[0]
            .id;
        for meter in ["virtual_machine/cpu", "virtual_machine/ram"] {
            self.store
                .set_product_mapping(&hyalto_store::ProductMapping {
                    key: meter.parse().unwrap(),
                    catalog_item_id: item,
                    unit_price: None,
                    unit_cost: None,
                })
                .await
                .unwrap();
        }
        let body = json!({ "customer": "acme", "companyId": 1, "agreementId": 1 });
        let answer = self
            .send(
                Method::POST,
                "/api/v1/mappings",
                Auth::Token(&self.admin_token),
                Body::Json(&body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }

    /// Waits until the latest sync job has ended, and returns it.
    pub async fn wait_for_sync(&self) -> Value {
        for _ in 0..600 {
            let job = self.get("/api/v1/sync").await.json();
            if job["job"]["running"] == json!(false) {
                return job["job"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sync did not end within 30 s");
    }

    /// Makes every ConnectWise answer of the sandbox take `ms` milliseconds longer.
    pub async fn sandbox_latency(&self, ms: u64) {
        let answer = self
            .http
            .put(format!("{}/_sandbox/faults", self.sandbox.site_url()))
            .json(&json!({ "latencyMs": ms }))
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
    }

    /// Whether no meter has a catalog item.
    pub async fn store_has_no_product_mappings(&self) -> bool {
        self.store.list_product_mappings().await.unwrap().is_empty()
    }

    /// Stops the server as Ctrl-C would, and returns the store.
    pub async fn shut_down(self) -> SqliteStore {
        self.server
            .shutdown()
            .await
            .expect("the server stops cleanly");
        self.store
    }

    /// Sends a request; `auth` is an API token or a session, `json` a JSON body.
    pub async fn send(&self, method: Method, path: &str, auth: Auth<'_>, body: Body<'_>) -> Answer {
        let url = format!("{}{path}", self.server.url());
        let mut request = self.http.request(method, url);
        match auth {
            Auth::None => {}
            Auth::Token(token) => request = request.bearer_auth(token),
            Auth::Session(session) => {
                request = request.header("cookie", format!("hyalto_session={}", session.cookie));
            }
            Auth::SessionWithCsrf(session) => {
                request = request
                    .header("cookie", format!("hyalto_session={}", session.cookie))
                    .header(
                        "x-csrf-token",
                        HeaderValue::from_str(&session.csrf).unwrap(),
                    );
            }
            Auth::Cookie(cookie) => request = request.header("cookie", cookie),
        }
        match body {
            Body::None => {}
            Body::Json(value) => request = request.json(value),
            Body::Form(pairs) => {
                let encoded = serde_urlencoded::to_string(pairs).unwrap();
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(encoded);
            }
        }

        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        Answer {
            status,
            headers,
            text,
        }
    }

    /// `GET path` with the admin's token.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(
            Method::GET,
            path,
            Auth::Token(&self.admin_token),
            Body::None,
        )
        .await
    }

    /// The body of a successful configure request against the sandbox.
    pub fn configure_body(&self) -> Value {
        let config = self.sandbox.config();
        json!({
            "url": self.sandbox.site_url(),
            "companyId": config.company_id,
            "publicKey": config.public_key,
            "privateKey": config.private_key,
            "clientId": "test-client",
        })
    }

    /// Configures the connection through the API and waits for the record refresh.
    pub async fn configure(&self) {
        let answer = self
            .send(
                Method::PUT,
                "/api/v1/connection",
                Auth::Token(&self.admin_token),
                Body::Json(&self.configure_body()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        self.wait_for_refresh().await;
    }

    /// Waits until the record refresh has ended, and returns its progress.
    pub async fn wait_for_refresh(&self) -> Value {
        for _ in 0..600 {
            let progress = self.get("/api/v1/connection/refresh").await.json();
            if progress["progress"]["running"] == json!(false) {
                return progress["progress"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the record refresh did not end within 30 s");
    }

    /// Imports [`INVENTORY`] into the store.
    pub async fn import_inventory(&self) {
        let snapshot =
            hyalto_domain::parse_snapshot(INVENTORY, Path::new("inventory.json")).unwrap();
        self.store.apply_snapshot(&snapshot).await.unwrap();
    }

    /// Logs `username` in through the login form and returns the session.
    pub async fn log_in(&self, username: &str) -> Session {
        let page = self
            .send(Method::GET, "/login", Auth::None, Body::None)
            .await;
        let login_csrf = page.cookie("hyalto_login_csrf");
        let answer = self
            .send(
                Method::POST,
                "/login",
                Auth::Cookie(&format!("hyalto_login_csrf={login_csrf}")),
                Body::Form(&[
                    ("username", username),
                    ("password", PASSWORD),
                    ("csrf_token", &login_csrf),
                    ("next", "/billing/integrations"),
                ]),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        let cookie = answer.cookie("hyalto_session");

        let page = self
            .send(
                Method::GET,
                "/billing/integrations",
                Auth::Cookie(&format!("hyalto_session={cookie}")),
                Body::None,
            )
            .await;
        let csrf = hidden_csrf(&page.text);
        Session { cookie, csrf }
    }

    /// Panics if any answer so far contained the sandbox's private key.
    #[track_caller]
    pub fn assert_private_key_never_sent(&self) {
        let key = &self.sandbox.config().private_key;
        let bodies = self.bodies.lock().unwrap();
        assert!(!bodies.is_empty());
        for body in bodies.iter() {
            assert!(
                !body.contains(key.as_str()),
                "the private key was sent: {body}"
            );
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Token(&'a str),
    /// The session cookie only.
    Session(&'a Session),
    /// The session cookie and the CSRF header.
    SessionWithCsrf(&'a Session),
    /// A raw Cookie header.
    Cookie(&'a str),
}

/// A request body.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    None,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// The CSRF token in a page's forms.
#[track_caller]
pub fn hidden_csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .expect("the page has a form with a CSRF token")
        + marker.len();
    html[start..start + 64].to_owned()
}

async fn open_store(data_dir: &Path) -> SqliteStore {
    let key = KeyEncryptionKey::load_or_create_file(&data_dir.join(KEY_FILE_NAME)).unwrap();
    SqliteStore::open_with_key(data_dir, key).await.unwrap()
}

/// Adds a user with [`PASSWORD`] and returns a new API token of theirs.
async fn add_user(store: &SqliteStore, username: &str, is_admin: bool) -> String {
    let user = store
        .create_user(&NewUser {
            username: username.to_owned(),
            password_hash: hash_password(PASSWORD).unwrap(),
            is_admin,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let token = new_token();
    store
        .create_api_token(&NewApiToken {
            user: user.id,
            name: "tests".to_owned(),
            token_hash: token_hash(&token),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    token
}
