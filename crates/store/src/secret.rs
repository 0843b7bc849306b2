//! Encryption at rest for the ConnectWise private key.
//!
//! The private key is sealed with XChaCha20-Poly1305 under a 32-byte key-encryption key. That key
//! comes from the `HYALTO_SECRET_KEY` environment variable (base64 of 32 bytes) when it is set,
//! and otherwise from `secret.key` in the data dir, which is created on first start with mode
//! 0600 and holds the same base64 text (so it can be moved into the variable as it is).
//!
//! Sealed bytes are the 24-byte random nonce followed by the ciphertext and its tag. The nonce is
//! drawn afresh on every write; with 192-bit nonces random choice is safe. The purpose of the
//! value is bound in as associated data, so a sealed value cannot be replayed as another one.
//!
//! FIXME(#3): there is no way yet to rotate the key-encryption key (re-seal the stored private
//! key under a new one); today the user runs `hyalto connectwise configure` again after
//! replacing the key.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox};

/// The environment variable that holds the key-encryption key, as base64 of 32 bytes.
pub const SECRET_KEY_ENV: &str = "HYALTO_SECRET_KEY";

/// The name of the key file in the data dir, used when [`SECRET_KEY_ENV`] is not set.
pub const KEY_FILE_NAME: &str = "secret.key";

/// Length of the XChaCha20 nonce at the front of every sealed value.
const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag at the end of every sealed value.
const TAG_LEN: usize = 16;

/// Where the key-encryption key in use came from; error messages name it so the user knows
/// which key to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The `HYALTO_SECRET_KEY` environment variable.
    Environment,
    /// A key file, normally `secret.key` in the data dir.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Environment => write!(f, "the {SECRET_KEY_ENV} environment variable"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// Why the key-encryption key could not be loaded, or a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `HYALTO_SECRET_KEY` is set but does not hold base64 of 32 bytes.
    #[error(
        "{SECRET_KEY_ENV} is set but is not the base64 of 32 bytes ({reason}); set it to the \
         output of `head -c 32 /dev/urandom | base64`, or unset it to use the key file in the \
         data dir"
    )]
    InvalidEnvironmentKey {
        /// What is wrong with the value (never the value itself).
        reason: String,
    },

    /// The key file exists but does not hold base64 of 32 bytes.
    #[error(
        "the key file {} does not hold the base64 of 32 bytes ({reason}); restore it from a \
         backup, or move it away to have a new one created (the stored ConnectWise private key \
         must then be configured again)",
        path.display()
    )]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content (never the content itself).
        reason: String,
    },

    /// The key file can be read by users other than its owner.
    #[error(
        "the key file {} can be read by group or others (mode {mode:03o}); run `chmod 600 {}` \
         and start again",
        path.display(),
        path.display()
    )]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// Reading or creating the key file failed.
    #[error("cannot {action} the key file {}: {source}", path.display())]
    KeyFileIo {
        /// What was being done: "read", "create", ...
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// The sealed value does not open under the key in use: it was sealed with another key, or
    /// it was altered.
    #[error(
        "the stored {what} cannot be decrypted with the key from {key_source}: it was encrypted \
         with a different key. Restore the key that was in use when it was stored (the {} \
         environment variable or the key file in the data dir), or store it again with \
         `hyalto connectwise configure`",
        SECRET_KEY_ENV
    )]
    WrongKey {
        /// What the sealed value is, such as "ConnectWise private key".
        what: &'static str,
        /// Where the key in use came from.
        key_source: KeySource,
    },

    /// The sealed value is too short to hold a nonce and a tag.
    #[error("the stored {what} is damaged ({len} bytes); store it again")]
    Damaged {
        /// What the sealed value is.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// The 32-byte key that seals secrets at rest, and where it came from.
///
/// `Debug` shows only the source.
pub struct KeyEncryptionKey {
    key: SecretBox<[u8; 32]>,
    source: KeySource,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("key", &"[redacted]")
            .field("source", &self.source)
            .finish()
    }
}

impl KeyEncryptionKey {
    /// Loads the key from `HYALTO_SECRET_KEY` if it is set, otherwise from `secret.key` in
    /// `data_dir`, creating that file (mode 0600) on first start.
    pub fn load(data_dir: &Path) -> Result<KeyEncryptionKey, SecretError> {
        match std::env::var_os(SECRET_KEY_ENV) {
            Some(value) => {
                let value =
                    value
                        .into_string()
                        .map_err(|_| SecretError::InvalidEnvironmentKey {
                            reason: "not UTF-8".to_owned(),
                        })?;
                KeyEncryptionKey::from_env_value(&value)
            }
            None => KeyEncryptionKey::load_or_create_file(&data_dir.join(KEY_FILE_NAME)),
        }
    }

    /// Parses the value of `HYALTO_SECRET_KEY` (base64 of 32 bytes; surrounding whitespace is
    /// ignored).
    pub fn from_env_value(value: &str) -> Result<KeyEncryptionKey, SecretError> {
        let key =
            decode_key(value).map_err(|reason| SecretError::InvalidEnvironmentKey { reason })?;

        Ok(KeyEncryptionKey {
            key,
            source: KeySource::Environment,
        })
    }

    /// Reads the key file at `path`, or creates it with a new random key and mode 0600 if it
    /// does not exist. An existing file that group or others can read is refused.
    pub fn load_or_create_file(path: &Path) -> Result<KeyEncryptionKey, SecretError> {
        // Two processes may start for the first time together; the loser of the creation race
        // reads the winner's file, so both end up with the same key.
        if let Some(key) = create_key_file(path)? {
            tracing::info!(key_file = %path.display(), "created a new key-encryption key file");
            return Ok(key);
        }

        check_key_file_mode(path)?;
        let text = fs::read_to_string(path).map_err(|source| SecretError::KeyFileIo {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let key = decode_key(&text).map_err(|reason| SecretError::InvalidKeyFile {
            path: path.to_owned(),
            reason,
        })?;

        Ok(KeyEncryptionKey {
            key,
            source: KeySource::File(path.to_owned()),
        })
    }

    /// Where this key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Seals `plaintext`, binding `purpose` in as associated data. The result is the nonce
    /// followed by the ciphertext and tag.
    pub(crate) fn seal(&self, plaintext: &[u8], purpose: &[u8]) -> Vec<u8> {
        let cipher = self.cipher();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);

        // Encryption with a valid key and nonce only fails for inputs beyond the cipher's limit
        // of 256 GiB, which a private key cannot reach.
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: purpose,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of a short secret cannot fail");

        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a value made by [`KeyEncryptionKey::seal`] with the same `purpose`. `what` names the
    /// value in errors.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        purpose: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Damaged {
                what,
                len: sealed.len(),
            });
        }

        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose,
                },
            )
            .map_err(|_| SecretError::WrongKey {
                what,
                key_source: self.source.clone(),
            })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.key.expose_secret()))
    }
}

/// Decodes base64 text into a 32-byte key; the error says what is wrong without echoing it.
fn decode_key(text: &str) -> Result<SecretBox<[u8; 32]>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }

    let bytes = BASE64
        .decode(text)
        .map_err(|_| "it is not valid base64".to_owned())?;
    let len = bytes.len();
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("it decodes to {len} bytes, not 32"))?;

    Ok(SecretBox::new(Box::new(array)))
}

/// Creates the key file with a fresh key unless it already exists. Returns `None` when the file
/// was already there (possibly just created by another process).
fn create_key_file(path: &Path) -> Result<Option<KeyEncryptionKey>, SecretError> {
    if path.exists() {
        return Ok(None);
    }

    // The key is written to a private temporary file and then hard-linked into place. Linking
    // fails if the name exists, so a concurrent first start can never see a half-written file
    // nor overwrite a key that is already in use.
    let key_bytes: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
    let mut text = BASE64.encode(key_bytes);
    text.push('\n');

    let file_name = format!(".{KEY_FILE_NAME}.{}.tmp", std::process::id());
    let temporary = path.with_file_name(file_name);
    let _ = fs::remove_file(&temporary);
    let write_result = write_private_file(&temporary, text.as_bytes());
    if let Err(source) = write_result {
        let _ = fs::remove_file(&temporary);
        return Err(SecretError::KeyFileIo {
            action: "create",
            path: temporary,
            source,
        });
    }

    let link_result = fs::hard_link(&temporary, path);
    let _ = fs::remove_file(&temporary);
    match link_result {
        Ok(()) => Ok(Some(KeyEncryptionKey {
            key: SecretBox::new(Box::new(key_bytes)),
            source: KeySource::File(path.to_owned()),
        })),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(source) => Err(SecretError::KeyFileIo {
            action: "create",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `content` to a new file readable and writable by its owner only.
fn write_private_file(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }

    let mut file = options.open(path)?;

    // The mode given at creation is reduced by the umask; setting it again makes it exact.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }

    file.write_all(content)?;
    file.sync_all()
}

/// Refuses a key file that group or others may read or write.
fn check_key_file_mode(path: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;

        let metadata = fs::metadata(path).map_err(|source| SecretError::KeyFileIo {
            action: "inspect",
            path: path.to_owned(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::InsecureKeyFile {
                path: path.to_owned(),
                mode,
            });
        }
    }

    // FIXME(#3): on non-Unix systems the key file's access rights are not checked; hyalto is
    // only built and tested on Linux for now.
    #[cfg(not(unix))]
    let _ = path;

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PURPOSE: &[u8] = b"test purpose";

    fn key_from_file(dir: &Path) -> KeyEncryptionKey {
        KeyEncryptionKey::load_or_create_file(&dir.join(KEY_FILE_NAME)).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_from_file(dir.path());

        let sealed = key.seal(b"private key text", PURPOSE);
        let opened = key.open(&sealed, PURPOSE, "test value").unwrap();

        assert_eq!(opened, b"private key text");
    }

    #[test]
    fn sealing_twice_uses_different_nonces() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_from_file(dir.path());

        let first = key.seal(b"same", PURPOSE);
        let second = key.seal(b"same", PURPOSE);

        assert_ne!(first[..NONCE_LEN], second[..NONCE_LEN]);
    }

    #[test]
    fn a_value_sealed_for_another_purpose_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_from_file(dir.path());

        let sealed = key.seal(b"secret", b"purpose one");
        let error = key.open(&sealed, b"purpose two", "test value").unwrap_err();

        assert!(matches!(error, SecretError::WrongKey { .. }), "{error:?}");
    }

    #[test]
    fn a_wrong_key_names_its_source_and_what_to_do() {
        let first_dir = tempfile::tempdir().unwrap();
        let second_dir = tempfile::tempdir().unwrap();
        let sealing_key = key_from_file(first_dir.path());
        let other_key = key_from_file(second_dir.path());

        let sealed = sealing_key.seal(b"secret", PURPOSE);
        let error = other_key
            .open(&sealed, PURPOSE, "ConnectWise private key")
            .unwrap_err();

        let message = error.to_string();
        assert!(message.contains("ConnectWise private key"), "{message}");
        assert!(
            message.contains(&second_dir.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("hyalto connectwise configure"),
            "{message}"
        );
    }

    #[test]
    fn a_new_key_file_has_mode_0600_and_is_reused() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);

        let first = KeyEncryptionKey::load_or_create_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let second = KeyEncryptionKey::load_or_create_file(&path).unwrap();

        assert_eq!(mode, 0o600);
        assert_eq!(first.key.expose_secret(), second.key.expose_secret());
        assert_eq!(second.source(), &KeySource::File(path));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused_with_a_chmod_hint() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        KeyEncryptionKey::load_or_create_file(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        let error = KeyEncryptionKey::load_or_create_file(&path).unwrap_err();

        assert!(
            matches!(error, SecretError::InsecureKeyFile { mode: 0o644, .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("chmod 600 {}", path.display()))
        );
    }

    #[test]
    fn a_damaged_key_file_is_refused_without_echoing_it() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::write(&path, "c2hvcnQ=\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        let error = KeyEncryptionKey::load_or_create_file(&path).unwrap_err();

        assert!(
            matches!(error, SecretError::InvalidKeyFile { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("5 bytes, not 32"), "{error}");
        assert!(!error.to_string().contains("c2hvcnQ"), "{error}");
    }

    #[test]
    fn an_environment_key_must_be_32_bytes_of_base64() {
        let good = BASE64.encode([7u8; 32]);

        let parsed = KeyEncryptionKey::from_env_value(&format!(" {good}\n")).unwrap();
        let not_base64 = KeyEncryptionKey::from_env_value("not base64!").unwrap_err();
        let too_short = KeyEncryptionKey::from_env_value(&BASE64.encode([7u8; 16])).unwrap_err();

        assert_eq!(parsed.source(), &KeySource::Environment);
        assert!(
            not_base64.to_string().contains("not valid base64"),
            "{not_base64}"
        );
        assert!(
            too_short.to_string().contains("16 bytes, not 32"),
            "{too_short}"
        );
    }

    #[test]
    fn debug_of_a_key_shows_only_its_source() {
        let key = KeyEncryptionKey::from_env_value(&BASE64.encode([0xabu8; 32])).unwrap();

        let debug = format!("{key:?}");

        assert!(debug.contains("Environment"), "{debug}");
        assert!(!debug.contains("171"), "{debug}");
        assert!(!debug.contains(&BASE64.encode([0xabu8; 32])), "{debug}");
    }

    #[test]
    fn a_truncated_sealed_value_is_reported_as_damaged() {
        let key = KeyEncryptionKey::from_env_value(&BASE64.encode([1u8; 32])).unwrap();

        let error = key.open(&[0u8; 10], PURPOSE, "test value").unwrap_err();

        assert!(
            matches!(error, SecretError::Damaged { len: 10, .. }),
            "{error:?}"
        );
    }
}
