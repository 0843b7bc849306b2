//! Basic authentication (`companyId+publicKey:privateKey`) and the `clientId` header.
//!
//! Failures never echo what the caller sent: the message says what was wrong, not with which
//! value, so a key can never end up in a response or a log line.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The credentials the sandbox accepts.
#[derive(Clone)]
pub struct Credentials {
    /// The login company id, compared case-insensitively.
    pub company_id: String,
    /// The public half of the API key.
    pub public_key: String,
    /// The private half of the API key.
    pub private_key: String,
    /// The accepted `clientId`; `None` accepts any non-empty value.
    pub client_id: Option<String>,
}

/// Why a request was refused; the `Display` text is the message of the 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or not a Basic one.
    #[error(
        "Authorization is required: send Basic credentials of the form \
         companyId+publicKey:privateKey"
    )]
    Missing,
    /// The Basic credential could not be decoded or has no `+` or `:`.
    #[error(
        "The Authorization header is malformed: expected Basic base64(companyId+publicKey:privateKey)"
    )]
    Malformed,
    /// Company, public key or private key do not match.
    #[error("The supplied credentials are not valid for this company")]
    Invalid,
    /// No `clientId` header, or an empty one.
    #[error(
        "The clientId header is missing: every API request must send the clientId issued \
         for the integration"
    )]
    MissingClientId,
    /// A `clientId` other than the configured one.
    #[error("The clientId header does not name an integration known to this server")]
    UnknownClientId,
}

impl Credentials {
    /// Checks the `Authorization` and `clientId` headers of a request.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        self.check_basic(headers)?;
        self.check_client_id(headers)
    }

    fn check_basic(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let value = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(AuthError::Missing)?;
        let (scheme, encoded) = value.trim().split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError::Missing);
        }

        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(AuthError::Malformed)?;
        let (user, private_key) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
        let (company_id, public_key) = user.split_once('+').ok_or(AuthError::Malformed)?;

        let valid = company_id.eq_ignore_ascii_case(&self.company_id)
            && public_key == self.public_key
            && private_key == self.private_key;
        if valid {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }

    fn check_client_id(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        // Header names are case-insensitive in HTTP, so `ClientID` (as some clients send it)
        // is found too.
        let sent = headers
            .get("clientid")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or(AuthError::MissingClientId)?;

        match &self.client_id {
            Some(expected) if !expected.eq_ignore_ascii_case(sent) => {
                Err(AuthError::UnknownClientId)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            company_id: "Sandbox".to_owned(),
            public_key: "pub".to_owned(),
            private_key: "priv".to_owned(),
            client_id: Some("client-1".to_owned()),
        }
    }

    fn headers(user_pass: &str, client_id: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(user_pass));
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        if let Some(client_id) = client_id {
            headers.insert("clientId", HeaderValue::from_str(client_id).unwrap());
        }
        headers
    }

    #[test]
    fn the_company_id_is_compared_case_insensitively() {
        let result = credentials().check(&headers("sandbox+pub:priv", Some("client-1")));

        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_wrong_private_key_is_refused_without_echoing_it() {
        let error = credentials()
            .check(&headers("sandbox+pub:guessed-key", Some("client-1")))
            .unwrap_err();

        assert_eq!(error, AuthError::Invalid);
        assert!(!error.to_string().contains("guessed-key"));
    }

    #[test]
    fn a_missing_client_id_is_named_in_the_message() {
        let error = credentials()
            .check(&headers("sandbox+pub:priv", None))
            .unwrap_err();

        assert_eq!(error, AuthError::MissingClientId);
        assert!(error.to_string().contains("clientId"));
    }

    #[test]
    fn any_client_id_is_accepted_when_none_is_configured() {
        let open = Credentials {
            client_id: None,
            ..credentials()
        };

        assert_eq!(
            open.check(&headers("sandbox+pub:priv", Some("anything"))),
            Ok(())
        );
        assert_eq!(
            credentials().check(&headers("sandbox+pub:priv", Some("other"))),
            Err(AuthError::UnknownClientId)
        );
    }

    #[test]
    fn a_credential_without_a_plus_is_malformed() {
        let result = credentials().check(&headers("sandboxpub:priv", Some("client-1")));

        assert_eq!(result, Err(AuthError::Malformed));
    }
}
