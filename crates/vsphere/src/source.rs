//! Where a vCenter is and how to log in to it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hyalto_domain::SourceId;
use secrecy::SecretString;
use url::Url;

use crate::error::Error;
use crate::rules::OwnershipRules;

/// The most objects asked for per page unless the caller chooses otherwise. vCenter may send
/// fewer; 500 virtual machines with their devices are a few megabytes of XML.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// How to check the vCenter's TLS certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file with extra trusted certificate authorities, for a vCenter whose certificate
    /// comes from its own VMCA or a private CA.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Only for lab vCenters: it removes all protection against an
    /// impostor reading the password.
    pub insecure: bool,
}

/// One vCenter to collect from, and the rules that tell which customer owns each VM.
///
/// `Debug` never prints the password.
#[derive(Clone)]
pub struct VsphereSource {
    /// The inventory source id the snapshot is recorded under.
    pub source: SourceId,
    /// The vCenter's address, such as `https://vc.example.com/sdk`; `https://vc.example.com`
    /// means the same.
    pub url: String,
    /// The vCenter user, such as `hyalto@vsphere.local`.
    pub username: String,
    /// The user's password.
    pub password: SecretString,
    /// How to check the vCenter's certificate.
    pub tls: TlsOptions,
    /// Which customer owns each virtual machine.
    pub rules: OwnershipRules,
    /// The most objects asked for per page (`maxObjects`).
    pub page_size: u32,
    /// How long one call may take, from connecting to the last byte of its answer.
    pub request_timeout: Duration,
    /// How long establishing a TCP/TLS connection may take.
    pub connect_timeout: Duration,
}

impl VsphereSource {
    /// A source with the given address and credentials, no ownership rules (every VM is
    /// unassigned), certificate checks on and default limits.
    pub fn new(
        source: SourceId,
        url: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
    ) -> VsphereSource {
        VsphereSource {
            source,
            url: url.into(),
            username: username.into(),
            password,
            tls: TlsOptions::default(),
            rules: OwnershipRules::default(),
            page_size: DEFAULT_PAGE_SIZE,
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The SOAP endpoint: the address with its path set to `/sdk`.
    pub fn sdk_url(&self) -> Result<Url, Error> {
        sdk_url(&self.url)
    }
}

impl fmt::Debug for VsphereSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsphereSource")
            .field("source", &self.source)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("tls", &self.tls)
            .field("rules", &self.rules)
            .field("page_size", &self.page_size)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Turns what a user typed into the SOAP endpoint: `vc.example.com`, `https://vc.example.com`
/// and `https://vc.example.com/sdk` all give `https://vc.example.com/sdk`.
fn sdk_url(text: &str) -> Result<Url, Error> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let invalid = |reason: &str| Error::Config {
        message: format!(
            "the vCenter address {text:?} is not usable: {reason}; write it as \
             https://vc.example.com/sdk"
        ),
    };

    let mut url = Url::parse(&with_scheme).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("only https (or http for a simulator) is supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // A password inside the address would end up in logs and error messages, so the
        // address is not repeated here.
        return Err(Error::Config {
            message: "the vCenter address holds a user name or password; give those \
                      separately and write the address as https://vc.example.com/sdk"
                .to_owned(),
        });
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path == "/sdk") {
        return Err(invalid("its path must be /sdk or nothing"));
    }
    url.set_path("/sdk");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_alone_or_with_sdk_gives_the_https_sdk_endpoint() {
        for text in [
            "vc.example.com",
            "https://vc.example.com",
            "https://vc.example.com/",
            "https://vc.example.com/sdk",
            " https://vc.example.com/sdk/ ",
        ] {
            assert_eq!(
                sdk_url(text).unwrap().as_str(),
                "https://vc.example.com/sdk",
                "{text:?}"
            );
        }
        assert_eq!(
            sdk_url("http://127.0.0.1:8989/sdk").unwrap().as_str(),
            "http://127.0.0.1:8989/sdk"
        );
    }

    #[test]
    fn an_address_with_credentials_or_another_path_is_refused_saying_how_to_write_it() {
        for text in [
            "https://user:pass@vc.example.com/sdk",
            "https://vc.example.com/ui",
            "ftp://vc.example.com",
        ] {
            let message = sdk_url(text).unwrap_err().to_string();
            assert!(message.contains("https://vc.example.com/sdk"), "{message}");
            assert!(!message.contains("pass@"), "the password leaked: {message}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let source = VsphereSource::new(
            SourceId::new("vc1").unwrap(),
            "vc.example.com",
            "reader",
            SecretString::from("hunter2-very-secret"),
        );

        let text = format!("{source:?}");

        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
