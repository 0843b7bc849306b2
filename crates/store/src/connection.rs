//! The ConnectWise connection as hyalto keeps it.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;

/// The settings of the one ConnectWise site hyalto talks to, as stored.
///
/// The private key is encrypted at rest and decrypted only when the connection is loaded.
/// `Debug` never prints the private key, the public key or the client id.
#[derive(Clone)]
pub struct StoredConnection {
    /// The site as the user typed it, such as `https://na.myconnectwise.net`.
    pub site_url: String,
    /// The login company id.
    pub company_id: String,
    /// The public half of the API member's key.
    pub public_key: String,
    /// The private half of the API member's key.
    pub private_key: SecretString,
    /// The integration's client id, sent as the `clientId` header.
    pub client_id: String,
    /// The API model version pinned in the `Accept` header, such as `2025.1`.
    pub api_version: String,
    /// A PEM file with extra trusted certificate authorities.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (lab servers only).
    pub insecure: bool,
}

impl fmt::Debug for StoredConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials show only whether they are set, so settings can be logged safely.
        f.debug_struct("StoredConnection")
            .field("site_url", &self.site_url)
            .field("company_id", &self.company_id)
            .field("public_key", &Redacted(self.public_key.is_empty()))
            .field("private_key", &Redacted(false))
            .field("client_id", &Redacted(self.client_id.is_empty()))
            .field("api_version", &self.api_version)
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Prints `""` for an empty credential and `[redacted]` otherwise.
struct Redacted(bool);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "\"\"" } else { "[redacted]" })
    }
}
