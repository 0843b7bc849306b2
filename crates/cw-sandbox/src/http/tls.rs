//! HTTPS mode: a self-signed certificate for `localhost` and `127.0.0.1`, written as PEM so
//! that clients can trust it.
//!
//! With a configured directory an existing `cert.pem` and `key.pem` pair is reused, so a user
//! who trusted the certificate once keeps trusting it across restarts. Without one, the files
//! live in a temporary directory removed when the server stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;
use tokio_rustls::TlsAcceptor;

/// The certificate file name inside the TLS directory.
pub const CERT_FILE: &str = "cert.pem";

/// The private key file name inside the TLS directory.
pub const KEY_FILE: &str = "key.pem";

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The directory or a PEM file could not be created, read or written.
    ///
    /// The causes here are part of the messages and deliberately not `source`s: error chains
    /// print every source after the message, which would say them twice.
    #[error("TLS file {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system answered.
        error: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("could not generate the self-signed certificate: {0}")]
    Generate(rcgen::Error),
    /// The PEM files exist but do not hold a certificate and key rustls accepts.
    #[error("TLS files in {dir}: {reason}")]
    Invalid {
        /// The directory holding the PEM files.
        dir: PathBuf,
        /// What is wrong with them.
        reason: String,
    },
}

/// What the server needs to speak HTTPS.
pub struct TlsSetup {
    /// Accepts TLS connections with the certificate.
    pub acceptor: TlsAcceptor,
    /// The PEM certificate clients should trust.
    pub cert_path: PathBuf,
    /// Keeps a temporary directory alive as long as the server.
    pub temp_dir: Option<TempDir>,
}

/// Prepares the certificate in `dir` (or a temporary directory) and a TLS acceptor for it.
pub fn prepare(dir: Option<&Path>) -> Result<TlsSetup, TlsError> {
    let (dir, temp_dir) = match dir {
        Some(dir) => (dir.to_path_buf(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("cw-sandbox-tls-")
                .tempdir()
                .map_err(|error| TlsError::Io {
                    path: std::env::temp_dir(),
                    error,
                })?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|error| TlsError::Io {
        path: dir.clone(),
        error,
    })?;

    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    if !(cert_path.exists() && key_path.exists()) {
        generate(&cert_path, &key_path)?;
    }

    let acceptor = acceptor(&dir, &cert_path, &key_path)?;
    Ok(TlsSetup {
        acceptor,
        cert_path,
        temp_dir,
    })
}

fn generate(cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;

    write(cert_path, certified.cert.pem().as_bytes(), false)?;
    write(
        key_path,
        certified.signing_key.serialize_pem().as_bytes(),
        true,
    )?;
    Ok(())
}

fn write(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write as _;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;

        // The key only protects a local test server, but there is no reason to let other
        // users read it.
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;

    options
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|error| TlsError::Io {
            path: path.to_path_buf(),
            error,
        })
}

fn acceptor(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let invalid = |reason: String| TlsError::Invalid {
        dir: dir.to_path_buf(),
        reason,
    };

    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| invalid(format!("{CERT_FILE}: {error}")))?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|error| invalid(format!("{KEY_FILE}: {error}")))?;

    // The ring provider is named explicitly so that the server never depends on which
    // provider the process installed as its default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| invalid(error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_certificate_is_reused() {
        let dir = tempfile::tempdir().unwrap();

        let first = prepare(Some(dir.path())).unwrap();
        let first_pem = std::fs::read(&first.cert_path).unwrap();
        let second = prepare(Some(dir.path())).unwrap();
        let second_pem = std::fs::read(&second.cert_path).unwrap();

        assert_eq!(first_pem, second_pem);
        assert!(
            String::from_utf8(first_pem)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
    }

    #[test]
    fn without_a_directory_the_certificate_lives_in_a_temporary_one() {
        let setup = prepare(None).unwrap();

        assert!(setup.cert_path.exists());
        assert!(setup.temp_dir.is_some());
    }

    #[test]
    fn garbage_pem_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CERT_FILE), "not a certificate").unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();

        let result = prepare(Some(dir.path()));

        assert!(matches!(result, Err(TlsError::Invalid { .. })));
    }
}
