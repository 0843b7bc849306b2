//! The sandbox's start-up configuration and its documented defaults.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::store::Denial;

use super::faults::FaultConfig;

/// The address the sandbox listens on when none is given.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8088);

/// The login company id accepted when none is given.
pub const DEFAULT_COMPANY_ID: &str = "sandbox";

/// The public half of the API key accepted when none is given.
pub const DEFAULT_PUBLIC_KEY: &str = "sandbox-public";

/// The private half of the API key accepted when none is given.
pub const DEFAULT_PRIVATE_KEY: &str = "sandbox-private";

/// The codebase `/login/companyinfo` reports when none is given (a cloud-style release name).
pub const DEFAULT_CODEBASE: &str = "v2025_1/";

/// The codebase of on-premise servers, which the sandbox always accepts as well.
pub const LEGACY_CODEBASE: &str = "v4_6_release/";

/// Where the sandbox's records come from on first start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seed {
    /// The bundled demo data set (about ten companies, agreements, catalog items).
    Demo,
    /// No records at all.
    Empty,
    /// A seed file in the documented JSON format.
    File(PathBuf),
}

/// Everything [`start`](super::start) needs to know.
///
/// `Debug` never shows the private key.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The socket address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the records come from when there is no state file yet.
    pub seed: Seed,
    /// The login company id (compared case-insensitively, as ConnectWise does).
    pub company_id: String,
    /// The public half of the API key.
    pub public_key: String,
    /// The private half of the API key.
    pub private_key: String,
    /// The accepted `clientId`; `None` accepts any non-empty value. The header is always
    /// required.
    pub client_id: Option<String>,
    /// The codebase reported by `/login/companyinfo`, with its trailing slash (`v2025_1/`).
    pub codebase: String,
    /// Serve HTTPS with a generated self-signed certificate.
    pub tls: bool,
    /// Where the certificate is written in TLS mode; `None` uses a temporary directory that
    /// lives as long as the server.
    pub tls_dir: Option<PathBuf>,
    /// A state file that keeps the records across restarts; `None` keeps them in memory.
    pub state: Option<PathBuf>,
    /// Faults injected from the first request on; they can be changed at run time.
    pub faults: FaultConfig,
    /// Verbs and route templates the API member's security role may not use (added to the
    /// seed's own `security.deny`).
    pub deny: Vec<Denial>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            seed: Seed::Demo,
            company_id: DEFAULT_COMPANY_ID.to_owned(),
            public_key: DEFAULT_PUBLIC_KEY.to_owned(),
            private_key: DEFAULT_PRIVATE_KEY.to_owned(),
            client_id: None,
            codebase: DEFAULT_CODEBASE.to_owned(),
            tls: false,
            tls_dir: None,
            state: None,
            faults: FaultConfig::default(),
            deny: Vec::new(),
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("listen", &self.listen)
            .field("seed", &self.seed)
            .field("company_id", &self.company_id)
            .field("public_key", &self.public_key)
            .field("private_key", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("codebase", &self.codebase)
            .field("tls", &self.tls)
            .field("tls_dir", &self.tls_dir)
            .field("state", &self.state)
            .field("faults", &self.faults)
            .field("deny", &self.deny)
            .finish()
    }
}

/// First path segments the sandbox serves itself, so no codebase may take them (compared
/// ignoring case).
const RESERVED_SEGMENTS: [&str; 3] = ["_sandbox", "login", "apis"];

/// Checks that `codebase` looks like a ConnectWise codebase: one path segment of letters,
/// digits, `_` or `.`, followed by a single `/`.
pub fn validate_codebase(codebase: &str) -> Result<(), String> {
    let Some(segment) = codebase.strip_suffix('/') else {
        return Err(format!(
            "codebase {codebase:?} must end with '/' (like \"v2025_1/\")"
        ));
    };

    let well_formed = !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !well_formed {
        return Err(format!(
            "codebase {codebase:?} must be one path segment of letters, digits, '_' or '.' \
             followed by '/'"
        ));
    }

    // These first segments already mean something on the sandbox's server; a codebase named
    // after one would shadow the control endpoints or the company lookup.
    if let Some(reserved) = RESERVED_SEGMENTS
        .iter()
        .find(|reserved| segment.eq_ignore_ascii_case(reserved))
    {
        return Err(format!(
            "codebase {codebase:?} collides with the sandbox's own /{reserved}/ paths; choose \
             another name, like \"v2025_1/\""
        ));
    }

    Ok(())
}

/// The API model version the sandbox reports in `api-current-version`, derived from a
/// `vYYYY_N/` codebase; other codebases report the release the sandbox's models follow.
pub fn api_version(codebase: &str) -> String {
    let segment = codebase.trim_end_matches('/');
    let parsed = segment
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('_'))
        .filter(|(year, minor)| {
            year.len() == 4
                && year.chars().all(|c| c.is_ascii_digit())
                && !minor.is_empty()
                && minor.chars().all(|c| c.is_ascii_digit())
        });

    match parsed {
        Some((year, minor)) => format!("{year}.{minor}"),
        None => "2025.1".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codebase_without_its_trailing_slash_is_rejected() {
        assert!(validate_codebase("v2025_1").is_err());
        assert!(validate_codebase("v2025_1/").is_ok());
        assert!(validate_codebase("v4_6_release/").is_ok());
    }

    #[test]
    fn a_codebase_with_two_segments_is_rejected() {
        assert!(validate_codebase("a/b/").is_err());
        assert!(validate_codebase("/").is_err());
        assert!(validate_codebase("apis/").is_err());
    }

    #[test]
    fn a_codebase_that_collides_with_the_sandbox_paths_is_rejected_whatever_its_case() {
        for reserved in ["_sandbox/", "_SANDBOX/", "Login/", "APIS/"] {
            let error = validate_codebase(reserved).unwrap_err();

            assert!(error.contains("collides"), "{reserved}: {error}");
        }
        assert!(validate_codebase("sandbox/").is_ok());
    }

    #[test]
    fn the_api_version_follows_a_release_codebase() {
        assert_eq!(api_version("v2026_1/"), "2026.1");
        assert_eq!(api_version("v4_6_release/"), "2025.1");
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let config = SandboxConfig {
            private_key: "very-secret-value".to_owned(),
            ..SandboxConfig::default()
        };

        let printed = format!("{config:?}");

        assert!(!printed.contains("very-secret-value"));
        assert!(printed.contains("sandbox-public"));
    }
}
