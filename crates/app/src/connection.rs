//! The settings of a ConnectWise site: checked field by field, then proved against the site.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hyalto_connectwise::{
    Client, ConnectionSettings, DEFAULT_API_VERSION, Error, RetryPolicy, SiteUrl,
};
use hyalto_store::StoredConnection;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

/// A field of the connection settings, as forms and JSON bodies name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// The site address.
    Url,
    /// The login company id.
    CompanyId,
    /// The public half of the API key.
    PublicKey,
    /// The private half of the API key.
    PrivateKey,
    /// The integration's client id.
    ClientId,
    /// The certificate authority file, or the insecure switch.
    CaFile,
}

impl Field {
    /// The camelCase name used in forms and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Url => "url",
            Field::CompanyId => "companyId",
            Field::PublicKey => "publicKey",
            Field::PrivateKey => "privateKey",
            Field::ClientId => "clientId",
            Field::CaFile => "caFile",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field's problem, in words that say what to enter instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field at fault.
    pub field: Field,
    /// What is wrong and what to enter.
    pub message: String,
}

/// The connection settings as a user entered them, before any check.
#[derive(Clone)]
pub struct ConnectionInput {
    /// The site address, such as `na.myconnectwise.net` or `https://cw.example.com`.
    pub url: String,
    /// The login company id.
    pub company_id: String,
    /// The public half of the API key.
    pub public_key: String,
    /// The private half of the API key.
    pub private_key: SecretString,
    /// The integration's client id.
    pub client_id: String,
    /// A PEM file with the certificate authority of an on-premise server.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (lab servers only).
    pub insecure: bool,
    /// The API model version pinned in every request; `None` for the default.
    pub api_version: Option<String>,
}

impl fmt::Debug for ConnectionInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInput")
            .field("url", &self.url)
            .field("company_id", &self.company_id)
            .field("private_key", &"[redacted]")
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// Settings that passed [`ConnectionInput::validate`]: trimmed, with the site parsed.
#[derive(Clone, Debug)]
pub struct ValidConnection {
    site: SiteUrl,
    stored: StoredConnection,
}

impl ValidConnection {
    /// The settings as the store keeps them.
    pub fn stored(&self) -> &StoredConnection {
        &self.stored
    }

    /// Client settings with the default (patient) retry policy of a sync.
    pub fn settings(&self) -> ConnectionSettings {
        settings_for(self.site.clone(), &self.stored)
    }
}

/// Client settings for a stored connection whose site address is already parsed, with the
/// default (patient) retry policy of a sync. Every caller that talks to the stored site builds
/// its client from here, so a new stored setting reaches them all.
pub fn settings_for(site: SiteUrl, stored: &StoredConnection) -> ConnectionSettings {
    let mut settings = ConnectionSettings::new(
        site,
        stored.company_id.clone(),
        stored.public_key.clone(),
        stored.private_key.clone(),
        stored.client_id.clone(),
    );
    settings.api_version = stored.api_version.clone();
    settings.ca_file = stored.ca_file.clone();
    settings.insecure = stored.insecure;
    settings
}

impl ConnectionInput {
    /// Checks every field without a network call, and reports all problems at once.
    pub fn validate(&self) -> Result<ValidConnection, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut problem = |field, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };

        let site = match SiteUrl::parse(self.url.trim()) {
            Ok(site) => Some(site),
            Err(_) if self.url.trim().is_empty() => {
                problem(
                    Field::Url,
                    "Enter the address you open ConnectWise at, such as na.myconnectwise.net.",
                );
                None
            }
            Err(error) => {
                problem(
                    Field::Url,
                    &format!(
                        "This is not a site address ({error}). Enter the address you open \
                         ConnectWise at, such as na.myconnectwise.net or https://cw.example.com."
                    ),
                );
                None
            }
        };
        if self.company_id.trim().is_empty() {
            problem(
                Field::CompanyId,
                "Enter the company ID: what you type into \"Company\" on the ConnectWise login \
                 screen.",
            );
        }
        if self.public_key.trim().is_empty() {
            problem(
                Field::PublicKey,
                "Enter the public key of the API member (System › Members › API Members › API \
                 Keys).",
            );
        }
        if self.private_key.expose_secret().trim().is_empty() {
            problem(
                Field::PrivateKey,
                "Enter the private key that belongs to the public key; ConnectWise shows it once, \
                 when the key is made.",
            );
        }
        if self.client_id.trim().is_empty() {
            problem(
                Field::ClientId,
                "Enter the client ID of the integration registered at developer.connectwise.com \
                 (ClientID page); ConnectWise requires it on every call.",
            );
        }
        if self.insecure && self.ca_file.is_some() {
            problem(
                Field::CaFile,
                "Choose either a CA file or accepting any certificate, not both.",
            );
        }
        if let Some(path) = &self.ca_file
            && !path.is_file()
        {
            problem(
                Field::CaFile,
                &format!(
                    "There is no file {} on the hyalto server. Enter the path of a PEM file \
                         with the certificate authority, on the machine hyalto runs on.",
                    path.display()
                ),
            );
        }

        match site {
            Some(site) if errors.is_empty() => Ok(ValidConnection {
                site,
                stored: StoredConnection {
                    site_url: self.url.trim().to_owned(),
                    company_id: self.company_id.trim().to_owned(),
                    public_key: self.public_key.trim().to_owned(),
                    private_key: SecretString::from(
                        self.private_key.expose_secret().trim().to_owned(),
                    ),
                    client_id: self.client_id.trim().to_owned(),
                    api_version: self
                        .api_version
                        .clone()
                        .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned()),
                    ca_file: self.ca_file.clone(),
                    insecure: self.insecure,
                },
            }),
            _ => Err(errors),
        }
    }
}

/// A site that answered and accepted the keys.
pub struct Connected {
    /// A client for the site, with the quick retry policy of a check.
    pub client: Client,
    /// The version the site reports, such as `v2025.1.10431`.
    pub version: Option<String>,
}

/// Why a connection check failed, with the field most likely at fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Rejected {
    /// The field to change, when one is at fault.
    pub field: Option<Field>,
    /// What went wrong and what to do, without naming a front end's controls.
    pub message: String,
    /// ConnectWise's error.
    #[source]
    pub source: Error,
}

/// Discovers the site and proves the keys with one read (`/system/info`).
///
/// The check answers in seconds rather than after the patient retries of a sync: a wrong
/// address must not keep the user waiting.
pub async fn check(valid: &ValidConnection) -> Result<Connected, Rejected> {
    let mut settings = valid.settings();
    settings.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };

    let stored = valid.stored();
    let client = Client::connect(settings)
        .await
        .map_err(|error| explain(error, stored))?;
    let info = client
        .system_info()
        .await
        .map_err(|error| explain(error, stored))?;

    Ok(Connected {
        client,
        version: info.version,
    })
}

/// Sorts a failed check into the field to change and a message that says how.
pub fn explain(error: Error, stored: &StoredConnection) -> Rejected {
    let (field, message) = match &error {
        Error::Discovery { reason, .. } if reason.contains("does not know this company id") => (
            Some(Field::CompanyId),
            format!(
                "The ConnectWise site at {} does not know the company ID {:?}. Enter what you \
                 type into \"Company\" on the ConnectWise login screen.",
                stored.site_url, stored.company_id
            ),
        ),
        Error::Discovery { reason, .. } => (
            Some(Field::Url),
            format!(
                "Could not find ConnectWise at {}: {reason}. Enter the address you open \
                 ConnectWise at (such as na.myconnectwise.net, or your own server's name).",
                stored.site_url
            ),
        ),
        Error::Certificate { site, reason } => (
            Some(Field::CaFile),
            format!(
                "The TLS certificate of {site} is not trusted ({reason}). Give the PEM file of the \
                 authority that signed it, or accept any certificate for a lab server."
            ),
        ),
        Error::BadCredentials { message, .. }
            if message
                .as_deref()
                .is_some_and(|text| text.to_ascii_lowercase().contains("clientid")) =>
        {
            (
                Some(Field::ClientId),
                format!(
                    "ConnectWise refused the client ID ({}). Enter the client ID registered for \
                     this integration at developer.connectwise.com.",
                    message.as_deref().unwrap_or_default()
                ),
            )
        }
        Error::BadCredentials { message, .. } => (
            Some(Field::PrivateKey),
            format!(
                "ConnectWise refused the API keys for company {:?}{}. Check the public and \
                 private key: both halves must come from one key of an active API member \
                 (System › Members › API Members).",
                stored.company_id,
                message
                    .as_deref()
                    .map(|text| format!(" ({text})"))
                    .unwrap_or_default()
            ),
        ),
        Error::PlainHttp { site, plain_site } => (
            Some(Field::Url),
            format!(
                "The server at {site} answered in plain HTTP, not HTTPS. Enter {plain_site} if \
                 it really serves ConnectWise without TLS (a sandbox does); otherwise check the \
                 address."
            ),
        ),
        Error::Config { message } => (
            None,
            format!("These connection settings cannot work: {message}."),
        ),
        other => (None, other.to_string()),
    };
    Rejected {
        field,
        message,
        source: error,
    }
}
