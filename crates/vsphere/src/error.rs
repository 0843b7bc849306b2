//! The errors of a vCenter collection, each saying what to check or do next.

/// Why a vCenter could not be read at all.
///
/// Failures after the listing has started do not end up here: they make the snapshot
/// incomplete and are listed in the collection's report instead (see [`crate::collect()`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The settings cannot be used as they are.
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The vCenter could not be reached.
    #[error(
        "cannot reach the vCenter at {url} ({reason}); check the address, that the vCenter is \
         running and that this machine may connect to it"
    )]
    Unreachable {
        /// The vCenter's SDK address.
        url: String,
        /// What failed, as the HTTP library put it.
        reason: String,
    },

    /// The vCenter's TLS certificate is not trusted.
    #[error(
        "the vCenter at {url} presented a certificate this machine does not trust ({reason}); \
         give the certificate authority that signed it as a CA file (PEM), or, for a lab \
         vCenter only, turn certificate checks off"
    )]
    Certificate {
        /// The vCenter's SDK address.
        url: String,
        /// What the TLS library reported.
        reason: String,
    },

    /// The vCenter refused the user name or password.
    #[error(
        "the vCenter at {url} refused the user name or password for {username:?}; check both \
         (a vCenter SSO user is usually written user@vsphere.local) and that the account is \
         not locked"
    )]
    Login {
        /// The vCenter's SDK address.
        url: String,
        /// The user name that was refused.
        username: String,
    },

    /// A call failed with a SOAP fault.
    #[error("the vCenter at {url} answered {call} with the fault {fault}: {message}; {hint}")]
    Fault {
        /// The vCenter's SDK address.
        url: String,
        /// The SOAP method that failed.
        call: &'static str,
        /// The vSphere fault type, such as `NoPermission`.
        fault: String,
        /// The fault's message.
        message: String,
        /// What to do about it.
        hint: &'static str,
    },

    /// A call was answered with an HTTP status other than 200 and without a SOAP fault.
    #[error(
        "the vCenter at {url} answered {call} with HTTP status {status}; {}",
        status_hint(*status)
    )]
    Status {
        /// The vCenter's SDK address.
        url: String,
        /// The SOAP method that failed.
        call: &'static str,
        /// The HTTP status.
        status: u16,
    },

    /// The connection failed or timed out during a call.
    #[error(
        "the connection to the vCenter at {url} failed during {call} ({reason}); check the \
         network and the vCenter's health, then collect again"
    )]
    Transport {
        /// The vCenter's SDK address.
        url: String,
        /// The SOAP method that was running.
        call: &'static str,
        /// What failed.
        reason: String,
    },

    /// An answer could not be read.
    #[error(
        "the vCenter at {url} sent an answer to {call} that hyalto cannot read ({reason}); \
         check that the address points at a vCenter's /sdk endpoint"
    )]
    Answer {
        /// The vCenter's SDK address.
        url: String,
        /// The SOAP method whose answer was unreadable.
        call: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl Error {
    /// Whether the error is the vCenter saying the session is gone (expired, ended by an
    /// administrator, or lost in a vCenter restart).
    pub fn is_not_authenticated(&self) -> bool {
        matches!(self, Error::Fault { fault, .. } if fault == "NotAuthenticated")
    }
}

/// What to do about a fault, by its vSphere type.
pub(crate) fn fault_hint(fault: &str) -> &'static str {
    match fault {
        "NoPermission" | "NotAuthenticated" => {
            "give the account at least the read-only role on the vCenter's root, propagated \
             to children, then collect again"
        }
        "InvalidLogin" => "check the user name and password",
        "MethodNotFound" | "InvalidRequest" | "InvalidType" => {
            "the vCenter does not support this call; check that the address points at a \
             vCenter (6.5 or newer) and not at another service"
        }
        "ManagedObjectNotFound" => "the inventory changed during the collection; collect again",
        _ => "check the vCenter's health and its logs, then collect again",
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "check that the account may use the vSphere API",
        404 | 405 => "check that the address points at a vCenter's /sdk endpoint",
        500..=599 => "the vCenter is failing or overloaded; collect again later",
        _ => "check the address and the vCenter's health",
    }
}
