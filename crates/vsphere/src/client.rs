//! The SOAP client: one logged-in session with a vCenter.
//!
//! Every call is a POST of a SOAP envelope to `/sdk` with `SOAPAction: "urn:vim25/VERSION"`,
//! the version read once from `/sdk/vimServiceVersions.xml`. The session lives in the
//! `vmware_soap_session` cookie, which is kept here by hand (it is the only cookie vCenter
//! sets) and never logged. Large answers are parsed while they arrive: the body's chunks go
//! through a small channel to a blocking task that runs the streaming XML reader.

use std::io::{self, BufRead, Read};
use std::time::Instant;

use quick_xml::escape::escape;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;
use url::Url;

use crate::error::{Error, fault_hint};
use crate::source::VsphereSource;
use crate::xml::{self, Answer, Fault, Leaf, MoRef, ObjectContent};

/// How many body chunks may wait for the XML reader; bounds the memory of a page in flight.
/// A chunk can keep the whole of hyper's read buffer it was cut from alive, so a few are
/// enough to keep the reader busy, and more only hold memory.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The morefs of `ServiceContent` that hyalto uses, and who the vCenter is.
#[derive(Debug, Clone)]
pub(crate) struct ServiceContent {
    pub(crate) root_folder: MoRef,
    pub(crate) property_collector: MoRef,
    pub(crate) view_manager: MoRef,
    pub(crate) session_manager: MoRef,
    /// Absent on a standalone ESXi host.
    pub(crate) custom_fields_manager: Option<MoRef>,
    pub(crate) api_version: String,
    pub(crate) instance_uuid: String,
}

/// A session with one vCenter.
pub(crate) struct Client {
    http: reqwest::Client,
    endpoint: Url,
    soap_action: HeaderValue,
    cookie: Option<HeaderValue>,
    username: String,
    password: secrecy::SecretString,
    pub(crate) content: Option<ServiceContent>,
}

impl Client {
    /// Builds the HTTP client and reads the API version. Nothing is logged in yet.
    pub(crate) async fn connect(source: &VsphereSource) -> Result<Client, Error> {
        let endpoint = source.sdk_url()?;
        let http = build_http_client(source).await?;
        let mut client = Client {
            http,
            endpoint,
            soap_action: HeaderValue::from_static("\"urn:vim25\""),
            cookie: None,
            username: source.username.clone(),
            password: source.password.clone(),
            content: None,
        };

        let version = client.service_version().await?;
        client.soap_action = HeaderValue::from_str(&format!("\"urn:vim25/{version}\""))
            .map_err(|_| client.answer_error("vimServiceVersions.xml", "a bad version"))?;
        Ok(client)
    }

    /// The SDK address, for messages.
    pub(crate) fn url(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Reads the newest `urn:vim25` version the server offers.
    async fn service_version(&self) -> Result<String, Error> {
        const CALL: &str = "vimServiceVersions.xml";
        let url = self
            .endpoint
            .join("sdk/vimServiceVersions.xml")
            .map_err(|_| self.answer_error(CALL, "the address cannot be joined"))?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| self.send_error(CALL, &error))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(Error::Status {
                url: self.url().to_owned(),
                call: CALL,
                status: status.as_u16(),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| self.send_error(CALL, &error))?;
        xml::parse_service_version(&body)
            .map_err(|error| self.answer_error(CALL, &error.0))?
            .ok_or_else(|| self.answer_error(CALL, "it lists no urn:vim25 version"))
    }

    /// `RetrieveServiceContent`: where the managers are.
    pub(crate) async fn retrieve_service_content(&mut self) -> Result<ServiceContent, Error> {
        const CALL: &str = "RetrieveServiceContent";
        let leaves = self
            .call_leaves(
                CALL,
                "<RetrieveServiceContent><_this type=\"ServiceInstance\">ServiceInstance</_this>\
                 </RetrieveServiceContent>",
            )
            .await?;
        let moref = |name: &str| {
            leaves
                .iter()
                .find(|leaf| leaf.path == name)
                .map(|leaf| MoRef {
                    kind: leaf.type_attr.clone().unwrap_or_default(),
                    value: leaf.text.clone(),
                })
        };
        let text = |name: &str| {
            leaves
                .iter()
                .find(|leaf| leaf.path == name)
                .map(|leaf| leaf.text.clone())
        };
        let required = |name: &'static str| {
            moref(name).ok_or_else(|| self.answer_error(CALL, &format!("it has no {name}")))
        };
        let content = ServiceContent {
            root_folder: required("rootFolder")?,
            property_collector: required("propertyCollector")?,
            view_manager: required("viewManager")?,
            session_manager: required("sessionManager")?,
            custom_fields_manager: moref("customFieldsManager"),
            api_version: text("about/apiVersion").unwrap_or_default(),
            instance_uuid: text("about/instanceUuid").unwrap_or_default(),
        };
        self.content = Some(content.clone());
        Ok(content)
    }

    /// `Login`; a refused password becomes [`Error::Login`].
    pub(crate) async fn login(&mut self) -> Result<(), Error> {
        let manager = self.service_content()?.session_manager.clone();
        // A cookie of a dead session would make vCenter refuse the new login.
        self.cookie = None;
        let body = format!(
            "<Login>{}<userName>{}</userName><password>{}</password></Login>",
            this(&manager),
            escape(self.username.as_str()),
            escape(self.password.expose_secret()),
        );
        match self.call_leaves("Login", &body).await {
            Ok(_) => Ok(()),
            Err(Error::Fault { fault, .. }) if fault == "InvalidLogin" => Err(Error::Login {
                url: self.url().to_owned(),
                username: self.username.clone(),
            }),
            Err(error) => Err(error),
        }
    }

    /// `Logout`, ending the session on the vCenter so it does not linger until it expires.
    pub(crate) async fn logout(&mut self) -> Result<(), Error> {
        let manager = self.service_content()?.session_manager.clone();
        let body = format!("<Logout>{}</Logout>", this(&manager));
        self.call_leaves("Logout", &body).await?;
        self.cookie = None;
        Ok(())
    }

    /// `CreateContainerView`: a view of every object of these types below the root folder.
    pub(crate) async fn create_container_view(&mut self, types: &[&str]) -> Result<MoRef, Error> {
        const CALL: &str = "CreateContainerView";
        let content = self.service_content()?.clone();
        let mut body = format!(
            "<CreateContainerView>{}<container type=\"{}\">{}</container>",
            this(&content.view_manager),
            escape(content.root_folder.kind.as_str()),
            escape(content.root_folder.value.as_str()),
        );
        for kind in types {
            body.push_str(&format!("<type>{kind}</type>"));
        }
        body.push_str("<recursive>true</recursive></CreateContainerView>");

        let leaves = self.call_leaves(CALL, &body).await?;
        leaves
            .into_iter()
            .find(|leaf| leaf.path.is_empty())
            .map(|leaf| MoRef {
                kind: leaf.type_attr.unwrap_or_else(|| "ContainerView".to_owned()),
                value: leaf.text,
            })
            .ok_or_else(|| self.answer_error(CALL, "it names no view"))
    }

    /// `DestroyView`.
    pub(crate) async fn destroy_view(&mut self, view: &MoRef) -> Result<(), Error> {
        let body = format!("<DestroyView>{}</DestroyView>", this(view));
        self.call_leaves("DestroyView", &body).await.map(drop)
    }

    /// `RetrievePropertiesEx` with a prepared `specSet`; returns the first page's objects,
    /// converted one by one as they are read, and the token for the next page.
    pub(crate) async fn retrieve_properties<T: Send + 'static>(
        &mut self,
        spec_set: &str,
        max_objects: u32,
        convert: fn(ObjectContent) -> T,
    ) -> Result<(Vec<T>, Option<String>), Error> {
        let collector = self.service_content()?.property_collector.clone();
        let body = format!(
            "<RetrievePropertiesEx>{}{spec_set}<options><maxObjects>{max_objects}</maxObjects>\
             </options></RetrievePropertiesEx>",
            this(&collector),
        );
        self.call_objects("RetrievePropertiesEx", body, convert)
            .await
    }

    /// `ContinueRetrievePropertiesEx`: the next page of a listing.
    pub(crate) async fn continue_retrieve<T: Send + 'static>(
        &mut self,
        token: &str,
        convert: fn(ObjectContent) -> T,
    ) -> Result<(Vec<T>, Option<String>), Error> {
        let collector = self.service_content()?.property_collector.clone();
        let body = format!(
            "<ContinueRetrievePropertiesEx>{}<token>{}</token></ContinueRetrievePropertiesEx>",
            this(&collector),
            escape(token),
        );
        self.call_objects("ContinueRetrievePropertiesEx", body, convert)
            .await
    }

    /// `CancelRetrievePropertiesEx`: frees the server's copy of a listing abandoned midway.
    pub(crate) async fn cancel_retrieve(&mut self, token: &str) -> Result<(), Error> {
        let collector = self.service_content()?.property_collector.clone();
        let body = format!(
            "<CancelRetrievePropertiesEx>{}<token>{}</token></CancelRetrievePropertiesEx>",
            this(&collector),
            escape(token),
        );
        self.call_leaves("CancelRetrievePropertiesEx", &body)
            .await
            .map(drop)
    }

    fn service_content(&self) -> Result<&ServiceContent, Error> {
        self.content.as_ref().ok_or_else(|| Error::Config {
            message: "the service content was not read before the first call".to_owned(),
        })
    }

    /// Sends a call whose answer is small and returns its leaves.
    async fn call_leaves(&mut self, call: &'static str, body: &str) -> Result<Vec<Leaf>, Error> {
        let started = Instant::now();
        let response = self.send(call, body.to_owned()).await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.send_error(call, &error))?;
        tracing::debug!(
            vsphere.call = call,
            http.status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "vCenter call answered"
        );

        match (status == StatusCode::OK, xml::parse_leaves(&bytes)) {
            (_, Ok(Answer::Fault(fault))) => Err(self.fault_error(call, fault)),
            (true, Ok(Answer::Result(leaves))) => Ok(leaves),
            (true, Err(error)) => Err(self.answer_error(call, &error.0)),
            (false, _) => Err(Error::Status {
                url: self.url().to_owned(),
                call,
                status: status.as_u16(),
            }),
        }
    }

    /// Sends a property collector call and reads its answer as a stream, converting each
    /// object in the reading task so that only the converted values are kept.
    async fn call_objects<T: Send + 'static>(
        &mut self,
        call: &'static str,
        body: String,
        convert: fn(ObjectContent) -> T,
    ) -> Result<(Vec<T>, Option<String>), Error> {
        let started = Instant::now();
        let mut response = self.send(call, body).await?;
        let status = response.status();
        if status != StatusCode::OK && status != StatusCode::INTERNAL_SERVER_ERROR {
            return Err(Error::Status {
                url: self.url().to_owned(),
                call,
                status: status.as_u16(),
            });
        }

        let (sender, receiver) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let reader = tokio::task::spawn_blocking(move || {
            let mut objects = Vec::new();
            let answer = xml::parse_retrieve(ChunkReader::new(receiver), |object| {
                objects.push(convert(object));
            });
            answer.map(|answer| (answer, objects))
        });

        // A transport error is remembered and reported in preference to the parse error it
        // causes (the reader sees the document end early).
        let mut transport = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if sender.send(Chunk::from(chunk)).await.is_err() {
                        // The reader stopped early on an error it will report.
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    transport = Some(self.send_error(call, &error));
                    break;
                }
            }
        }
        drop(sender);

        let parsed = reader.await.map_err(|error| Error::Answer {
            url: self.url().to_owned(),
            call,
            reason: format!("the XML reader stopped unexpectedly ({error})"),
        })?;
        if let Some(error) = transport {
            return Err(error);
        }
        tracing::debug!(
            vsphere.call = call,
            http.status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "vCenter call answered"
        );

        match (status == StatusCode::OK, parsed) {
            (_, Ok((Answer::Fault(fault), _))) => Err(self.fault_error(call, fault)),
            (true, Ok((Answer::Result(token), objects))) => Ok((objects, token)),
            (true, Err(error)) => Err(self.answer_error(call, &error.0)),
            (false, _) => Err(Error::Status {
                url: self.url().to_owned(),
                call,
                status: status.as_u16(),
            }),
        }
    }

    /// POSTs one envelope and keeps the session cookie the answer sets.
    async fn send(&mut self, call: &'static str, body: String) -> Result<reqwest::Response, Error> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"urn:vim25\">\
             <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", self.soap_action.clone())
            .body(envelope);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }

        let response = request
            .send()
            .await
            .map_err(|error| self.send_error(call, &error))?;
        if let Some(cookie) = session_cookie(response.headers()) {
            self.cookie = Some(cookie);
        }
        Ok(response)
    }

    fn fault_error(&self, call: &'static str, fault: Fault) -> Error {
        Error::Fault {
            url: self.url().to_owned(),
            call,
            hint: fault_hint(&fault.kind),
            fault: fault.kind,
            message: fault.message,
        }
    }

    fn answer_error(&self, call: &'static str, reason: &str) -> Error {
        Error::Answer {
            url: self.url().to_owned(),
            call,
            reason: reason.to_owned(),
        }
    }

    /// Sorts a reqwest failure: certificate problems, unreachable servers, and failures
    /// during a call.
    fn send_error(&self, call: &'static str, error: &reqwest::Error) -> Error {
        let reason = error_chain(error);
        let url = self.url().to_owned();
        let lower = reason.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            Error::Certificate { url, reason }
        } else if error.is_connect() {
            Error::Unreachable { url, reason }
        } else {
            Error::Transport { url, call, reason }
        }
    }
}

/// `<_this type="T">id</_this>`.
fn this(moref: &MoRef) -> String {
    format!(
        "<_this type=\"{}\">{}</_this>",
        escape(moref.kind.as_str()),
        escape(moref.value.as_str())
    )
}

/// The `vmware_soap_session` cookie of an answer, ready to send back, marked sensitive so
/// that no HTTP log prints it.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<HeaderValue> {
    headers.get_all(SET_COOKIE).iter().find_map(|value| {
        let text = value.to_str().ok()?;
        let pair = text.split(';').next()?.trim();
        let (name, _) = pair.split_once('=')?;
        if name.trim() != "vmware_soap_session" {
            return None;
        }
        let mut header = HeaderValue::from_str(pair).ok()?;
        header.set_sensitive(true);
        Some(header)
    })
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn build_http_client(source: &VsphereSource) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(source.request_timeout)
        .connect_timeout(source.connect_timeout)
        .user_agent(concat!("hyalto-vsphere/", env!("CARGO_PKG_VERSION")))
        // A redirected POST would turn into a GET and lose the envelope.
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(source.tls.insecure);

    if let Some(path) = &source.tls.ca_file {
        let pem = tokio::fs::read(path).await.map_err(|error| Error::Config {
            message: format!(
                "the CA file {} cannot be read ({error}); check the path and permissions",
                path.display()
            ),
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| Error::Config {
                message: format!(
                    "the CA file {} is not PEM ({error}); export the CA certificate in PEM form",
                    path.display()
                ),
            })?;
        if certificates.is_empty() {
            return Err(Error::Config {
                message: format!(
                    "the CA file {} holds no certificate; export the CA certificate in PEM form \
                     (vCenter offers it at https://VCENTER/certs/download.zip)",
                    path.display()
                ),
            });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }

    builder.build().map_err(|error| Error::Config {
        message: format!("the HTTP client cannot be built: {error}"),
    })
}

/// One chunk of an answer's body as reqwest hands it over (a `bytes::Bytes`), boxed so that
/// hyalto need not name the `bytes` crate.
struct Chunk(Box<dyn AsRef<[u8]> + Send>);

impl Chunk {
    fn bytes(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl<T: AsRef<[u8]> + Send + 'static> From<T> for Chunk {
    fn from(bytes: T) -> Chunk {
        Chunk(Box::new(bytes))
    }
}

/// A [`BufRead`] over the chunks of a body, for the blocking XML reader.
struct ChunkReader {
    receiver: mpsc::Receiver<Chunk>,
    current: Option<Chunk>,
    position: usize,
}

impl ChunkReader {
    fn new(receiver: mpsc::Receiver<Chunk>) -> ChunkReader {
        ChunkReader {
            receiver,
            current: None,
            position: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(out.len());
        out[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            let exhausted = match &self.current {
                Some(chunk) => self.position >= chunk.bytes().len(),
                None => true,
            };
            if !exhausted {
                break;
            }
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.current = Some(chunk);
                    self.position = 0;
                }
                None => return Ok(&[]),
            }
        }
        let chunk = self.current.as_ref().map(Chunk::bytes);
        Ok(&chunk.unwrap_or_default()[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position += amount;
    }
}
