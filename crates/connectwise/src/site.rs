//! The ConnectWise site address as users type it, and the mapping of cloud hosts to API hosts.

use std::fmt;

use url::Url;

/// The URL scheme used to reach a ConnectWise site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP: only sensible for a local sandbox or a lab server.
    Http,
    /// HTTPS, the default when the user types no scheme.
    Https,
}

impl Scheme {
    /// The scheme as it appears in a URL (`http` or `https`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Why a site address could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiteUrlError {
    /// Nothing was typed.
    #[error(
        "the ConnectWise site address is empty: enter a host name such as na.myconnectwise.net"
    )]
    Empty,
    /// A scheme other than `http` or `https` was given.
    #[error(
        "the ConnectWise site address uses the scheme `{0}`: use https:// (or http:// for a local \
         sandbox), or type only the host name"
    )]
    UnsupportedScheme(String),
    /// The text is not a host name, an IP address or a URL.
    #[error(
        "`{input}` is not a valid ConnectWise site address ({reason}): enter a host name such as \
         na.myconnectwise.net or a URL such as https://cw.example.com"
    )]
    Invalid {
        /// What the user typed.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address carries a path, query or fragment, which a site address never needs.
    #[error(
        "the ConnectWise site address must not contain a path or query (`{0}`): enter only the \
         host name, for example na.myconnectwise.net"
    )]
    HasPath(String),
    /// The address carries a user name or password, which must go in the key fields instead.
    #[error(
        "the ConnectWise site address must not contain a user name or password: enter the API keys \
         in their own fields"
    )]
    HasCredentials,
}

/// A ConnectWise site: scheme, host and optional port, with nothing else.
///
/// Parse it from what a user types with [`SiteUrl::parse`]. `Display` gives the origin
/// (`https://na.myconnectwise.net`, `http://127.0.0.1:8088`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SiteUrl {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
}

/// The ConnectWise cloud regions whose web host differs from the API host by an `api-` prefix.
const CLOUD_DOMAINS: [&str; 2] = ["myconnectwise.net", "connectwisedev.com"];

impl SiteUrl {
    /// Parses a site address as a user types it.
    ///
    /// Accepts a bare host (`na.myconnectwise.net`, which means HTTPS), a host with a port
    /// (`cw.example.com:8443`), or a URL with scheme `http` or `https` and an optional port and
    /// trailing slash. The scheme and port given are kept. Paths, queries, fragments and embedded
    /// credentials are refused with an error that says what to type instead.
    pub fn parse(input: &str) -> Result<SiteUrl, SiteUrlError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(SiteUrlError::Empty);
        }

        // A bare host gets the default scheme so that the URL parser can validate it.
        let with_scheme = match trimmed.find("://") {
            Some(position) => {
                let scheme = &trimmed[..position];
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    return Err(SiteUrlError::UnsupportedScheme(scheme.to_owned()));
                }
                trimmed.to_owned()
            }
            None => format!("https://{trimmed}"),
        };
        let url = Url::parse(&with_scheme).map_err(|error| SiteUrlError::Invalid {
            input: trimmed.to_owned(),
            reason: error.to_string(),
        })?;

        if !url.username().is_empty() || url.password().is_some() {
            return Err(SiteUrlError::HasCredentials);
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            let mut extra = url.path().to_owned();
            if let Some(query) = url.query() {
                extra.push('?');
                extra.push_str(query);
            }
            return Err(SiteUrlError::HasPath(extra));
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => {
                return Err(SiteUrlError::Invalid {
                    input: trimmed.to_owned(),
                    reason: "there is no host name".to_owned(),
                });
            }
        };
        if !host.contains('.') && !host.contains(':') && host != "localhost" {
            return Err(SiteUrlError::Invalid {
                input: trimmed.to_owned(),
                reason: "the host name has no domain".to_owned(),
            });
        }

        let scheme = if url.scheme() == "http" {
            Scheme::Http
        } else {
            Scheme::Https
        };
        Ok(SiteUrl {
            scheme,
            host,
            port: url.port(),
        })
    }

    /// The scheme (`https` unless the user typed `http://`).
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IP address (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, when one was given and differs from the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host` or `host:port`, the form ConnectWise uses for `SiteUrl`.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether the host belongs to a ConnectWise cloud region.
    pub fn is_cloud(&self) -> bool {
        CLOUD_DOMAINS
            .iter()
            .any(|domain| self.host.ends_with(&format!(".{domain}")))
    }

    /// The host to use for API calls: cloud web hosts (`na.myconnectwise.net`) map to their
    /// `api-` twin (`api-na.myconnectwise.net`); every other host is returned unchanged.
    pub fn api_site(&self) -> SiteUrl {
        let already_api = self.host.starts_with("api-");
        if !self.is_cloud() || already_api {
            return self.clone();
        }

        SiteUrl {
            scheme: self.scheme,
            host: format!("api-{}", self.host),
            port: self.port,
        }
    }

    /// Builds the site ConnectWise names in `companyinfo`'s `SiteUrl` (a host, maybe with a port
    /// or even a scheme), keeping the scheme of `self`, which is what the user chose.
    ///
    /// When the reported host is the same as ours but carries no port, our port is kept: an
    /// on-premise server behind a port-forward does not know the port users reach it on.
    pub(crate) fn with_reported_site(&self, reported: &str) -> Result<SiteUrl, SiteUrlError> {
        let parsed = SiteUrl::parse(reported)?;
        let port = if parsed.port.is_none() && parsed.host.eq_ignore_ascii_case(&self.host) {
            self.port
        } else {
            parsed.port
        };

        Ok(SiteUrl {
            scheme: self.scheme,
            host: parsed.host,
            port,
        }
        .api_site())
    }
}

impl fmt::Display for SiteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.authority())
    }
}

// Configuration files hold the site as the text a user would type.
impl serde::Serialize for SiteUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SiteUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SiteUrl, D::Error> {
        let text = String::deserialize(deserializer)?;
        SiteUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for SiteUrl {
    type Err = SiteUrlError;

    fn from_str(input: &str) -> Result<SiteUrl, SiteUrlError> {
        SiteUrl::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_cloud_host_means_https() {
        let site = SiteUrl::parse("na.myconnectwise.net").unwrap();

        assert_eq!(site.scheme(), Scheme::Https);
        assert_eq!(site.host(), "na.myconnectwise.net");
        assert_eq!(site.port(), None);
        assert_eq!(site.to_string(), "https://na.myconnectwise.net");
    }

    #[test]
    fn an_http_url_keeps_its_scheme_and_port() {
        let site = SiteUrl::parse("http://127.0.0.1:8088/").unwrap();

        assert_eq!(site.scheme(), Scheme::Http);
        assert_eq!(site.authority(), "127.0.0.1:8088");
        assert_eq!(site.to_string(), "http://127.0.0.1:8088");
    }

    #[test]
    fn whitespace_and_upper_case_are_forgiven() {
        let site = SiteUrl::parse("  HTTPS://CW.Example.com  ").unwrap();

        assert_eq!(site.to_string(), "https://cw.example.com");
    }

    #[test]
    fn a_host_with_a_port_but_no_scheme_is_https() {
        let site = SiteUrl::parse("cw.example.com:8443").unwrap();

        assert_eq!(site.to_string(), "https://cw.example.com:8443");
    }

    #[test]
    fn the_default_port_is_dropped() {
        let site = SiteUrl::parse("https://cw.example.com:443").unwrap();

        assert_eq!(site.port(), None);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(SiteUrl::parse("   "), Err(SiteUrlError::Empty));
        assert!(matches!(
            SiteUrl::parse("ftp://cw.example.com"),
            Err(SiteUrlError::UnsupportedScheme(scheme)) if scheme == "ftp"
        ));
        assert!(matches!(
            SiteUrl::parse("not a host"),
            Err(SiteUrlError::Invalid { .. })
        ));
        assert!(matches!(
            SiteUrl::parse("https://na.myconnectwise.net/v4_6_release/apis/3.0"),
            Err(SiteUrlError::HasPath(_))
        ));
        assert_eq!(
            SiteUrl::parse("https://user:pw@cw.example.com"),
            Err(SiteUrlError::HasCredentials)
        );
        assert!(matches!(
            SiteUrl::parse("connectwise"),
            Err(SiteUrlError::Invalid { .. })
        ));
    }

    #[test]
    fn errors_say_what_to_type() {
        let message = SiteUrl::parse("https://x.example.com/path")
            .unwrap_err()
            .to_string();

        assert!(message.contains("enter only the host name"), "{message}");
    }

    #[test]
    fn cloud_web_hosts_map_to_api_hosts() {
        for (typed, api) in [
            ("na.myconnectwise.net", "api-na.myconnectwise.net"),
            ("eu.myconnectwise.net", "api-eu.myconnectwise.net"),
            ("au.myconnectwise.net", "api-au.myconnectwise.net"),
            ("aus.myconnectwise.net", "api-aus.myconnectwise.net"),
            ("za.myconnectwise.net", "api-za.myconnectwise.net"),
            (
                "staging.connectwisedev.com",
                "api-staging.connectwisedev.com",
            ),
            ("api-na.myconnectwise.net", "api-na.myconnectwise.net"),
        ] {
            let site = SiteUrl::parse(typed).unwrap();
            assert!(site.is_cloud(), "{typed}");
            assert_eq!(site.api_site().host(), api);
        }
    }

    #[test]
    fn a_site_round_trips_through_configuration_text() {
        let site: SiteUrl = serde_json::from_str("\"http://127.0.0.1:8088\"").unwrap();

        assert_eq!(
            serde_json::to_string(&site).unwrap(),
            "\"http://127.0.0.1:8088\""
        );
        assert!(serde_json::from_str::<SiteUrl>("\"ftp://x.example.com\"").is_err());
    }

    #[test]
    fn on_premise_hosts_are_not_mapped() {
        let site = SiteUrl::parse("cw.example.com").unwrap();

        assert!(!site.is_cloud());
        assert_eq!(site.api_site(), site);
    }

    #[test]
    fn a_reported_site_keeps_the_users_scheme_and_maps_cloud_hosts() {
        let typed = SiteUrl::parse("http://127.0.0.1:8088").unwrap();
        assert_eq!(
            typed
                .with_reported_site("127.0.0.1:8088")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8088"
        );
        assert_eq!(
            typed.with_reported_site("127.0.0.1").unwrap().to_string(),
            "http://127.0.0.1:8088"
        );

        let cloud = SiteUrl::parse("na.myconnectwise.net").unwrap();
        assert_eq!(
            cloud
                .with_reported_site("na.myconnectwise.net")
                .unwrap()
                .to_string(),
            "https://api-na.myconnectwise.net"
        );
        assert_eq!(
            cloud
                .with_reported_site("https://api-na.myconnectwise.net")
                .unwrap()
                .to_string(),
            "https://api-na.myconnectwise.net"
        );
    }
}
