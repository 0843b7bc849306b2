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
//! # Rotation
//!
//! The key-encryption key is replaced by re-sealing every sealed value under the new key in one
//! store transaction ([`Store::reseal_secrets`](crate::Store::reseal_secrets)). A new key
//! given in the environment is the caller's to keep. A new key file is put in place first,
//! with the old one kept beside it as `secret.key.old` ([`rotate_key_file`]); while that file
//! exists, a value that does not open under `secret.key` is opened under the old key, so a
//! rotation cut short at any point leaves every value readable. Once the re-seal is committed
//! the old file is removed ([`finish_key_file_rotation`]); a rotation cut short is finished by
//! re-sealing under `secret.key` and removing the old file.
//!
//! hyalto supports Unix only: the key file's privacy rests on Unix permission bits, and the
//! crate refuses to build elsewhere rather than keep a key file it cannot check.

#[cfg(not(unix))]
compile_error!(
    "hyalto supports Unix only: the key file's access rights are checked with Unix permission bits"
);

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

/// The name of the previous key file, kept while a key file rotation is under way.
pub const OLD_KEY_FILE_NAME: &str = "secret.key.old";

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
         environment variable or the key file in the data dir; after `hyalto secret rotate \
         --new-key-env VAR`, the key that was in VAR), or store it again with `hyalto \
         connectwise configure`",
        SECRET_KEY_ENV
    )]
    WrongKey {
        /// What the sealed value is, such as "ConnectWise private key".
        what: &'static str,
        /// Where the key in use came from.
        key_source: KeySource,
    },

    /// A key file rotation cannot start because the previous one was not finished.
    #[error(
        "a previous key rotation was cut short ({} is still there); run `hyalto secret rotate` \
         again, which finishes it first",
        path.display()
    )]
    RotationUnfinished {
        /// The old key file left behind.
        path: PathBuf,
    },

    /// The new key-encryption key is the one already in use.
    #[error("the new key-encryption key is the key already in use; give a different one")]
    SameKey,

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
/// While a key file rotation is unfinished it also holds the previous key, read from
/// `secret.key.old`, and opens with it what the current key does not open. `Debug` shows only
/// the sources.
pub struct KeyEncryptionKey {
    key: SecretBox<[u8; 32]>,
    source: KeySource,
    previous: Option<Box<KeyEncryptionKey>>,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("key", &"[redacted]")
            .field("source", &self.source)
            .field("previous", &self.previous)
            .finish()
    }
}

/// A value the store keeps sealed, and which key opens it. Never holds the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    /// What the value is, such as "ConnectWise private key".
    pub what: &'static str,
    /// Which key opens it.
    pub state: SealState,
}

/// Which key opens a sealed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealState {
    /// The key in use.
    OpensWithCurrentKey,
    /// Only the previous key of an unfinished key file rotation.
    OpensWithPreviousKey,
    /// Neither: it was sealed under another key (or altered).
    DoesNotOpen,
    /// It is too short to be a sealed value.
    Damaged,
}

/// What re-sealing under a new key-encryption key did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Values re-sealed under the new key.
    pub resealed: Vec<&'static str>,
    /// Values already sealed under the new key (by a rotation cut short), left as they were.
    pub already_sealed: Vec<&'static str>,
}

/// Which key opened a sealed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenedWith {
    /// The key in use.
    Current,
    /// The previous key of an unfinished key file rotation.
    Previous,
}

impl KeyEncryptionKey {
    /// Loads the key from `HYALTO_SECRET_KEY` if it is set, otherwise from `secret.key` in
    /// `data_dir`, creating that file (mode 0600) on first start.
    ///
    /// With the key file, a `secret.key.old` left by an unfinished rotation is loaded as the
    /// previous key.
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
            None => KeyEncryptionKey::load_key_files(data_dir),
        }
    }

    /// Loads the key from `secret.key` in `data_dir` (creating it on first start), with the
    /// previous key from `secret.key.old` when a key file rotation was cut short. The
    /// environment variable is not consulted.
    pub fn load_key_files(data_dir: &Path) -> Result<KeyEncryptionKey, SecretError> {
        let mut key = KeyEncryptionKey::load_or_create_file(&data_dir.join(KEY_FILE_NAME))?;

        let old_path = data_dir.join(OLD_KEY_FILE_NAME);
        if old_path.exists() {
            tracing::warn!(
                key_file = %old_path.display(),
                "a key rotation was cut short; run `hyalto secret rotate` to finish it"
            );
            key.previous = Some(Box::new(KeyEncryptionKey::read_file(&old_path)?));
        }
        Ok(key)
    }

    /// Parses the value of `HYALTO_SECRET_KEY` (base64 of 32 bytes; surrounding whitespace is
    /// ignored).
    pub fn from_env_value(value: &str) -> Result<KeyEncryptionKey, SecretError> {
        let key =
            decode_key(value).map_err(|reason| SecretError::InvalidEnvironmentKey { reason })?;

        Ok(KeyEncryptionKey {
            key,
            source: KeySource::Environment,
            previous: None,
        })
    }

    /// Parses the value of the environment variable `variable` as a new key-encryption key
    /// (base64 of 32 bytes), for a rotation.
    pub fn from_variable(variable: &str) -> Result<KeyEncryptionKey, SecretError> {
        let value = std::env::var(variable).map_err(|_| SecretError::InvalidEnvironmentKey {
            reason: format!("{variable} is not set or not UTF-8"),
        })?;

        KeyEncryptionKey::from_env_value(&value)
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

        KeyEncryptionKey::read_file(path)
    }

    /// Reads an existing key file, refusing one that group or others can read.
    fn read_file(path: &Path) -> Result<KeyEncryptionKey, SecretError> {
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
            previous: None,
        })
    }

    /// Where this key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Where the previous key of an unfinished key file rotation came from, if there is one.
    pub fn previous_source(&self) -> Option<&KeySource> {
        self.previous.as_deref().map(KeyEncryptionKey::source)
    }

    /// Whether `other` is the same 32 bytes as this key (sources and previous keys aside).
    pub fn same_key_as(&self, other: &KeyEncryptionKey) -> bool {
        self.key.expose_secret() == other.key.expose_secret()
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
    ///
    /// A value the key does not open is tried with the previous key of an unfinished rotation.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        purpose: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, SecretError> {
        self.open_telling(sealed, purpose, what)
            .map(|(opened, _)| opened)
    }

    /// Opens as [`KeyEncryptionKey::open`] does, and says which key opened the value.
    pub(crate) fn open_telling(
        &self,
        sealed: &[u8],
        purpose: &[u8],
        what: &'static str,
    ) -> Result<(Vec<u8>, OpenedWith), SecretError> {
        match self.open_with_this_key(sealed, purpose, what) {
            Ok(opened) => Ok((opened, OpenedWith::Current)),
            Err(error @ SecretError::WrongKey { .. }) => match &self.previous {
                Some(previous) => previous
                    .open_with_this_key(sealed, purpose, what)
                    .map(|opened| (opened, OpenedWith::Previous))
                    .map_err(|_| error),
                None => Err(error),
            },
            Err(other) => Err(other),
        }
    }

    /// Opens with this key only, not with a previous one.
    pub(crate) fn open_with_this_key(
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
            previous: None,
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

    // Other systems are refused at build time (see the module documentation), so every key
    // file hyalto reads has had its rights checked.
    Ok(())
}

/// Puts a new random key in `secret.key` in `data_dir`, keeping the key in use as
/// `secret.key.old`, and returns the new key.
///
/// Every step leaves a state [`KeyEncryptionKey::load`] reads: the new key is written to a
/// private temporary file first, the old key file is then linked to `secret.key.old` (so it
/// exists under that name before `secret.key` changes), and the new file finally replaces
/// `secret.key` in one rename. Re-seal the stored values under the returned key next, then call
/// [`finish_key_file_rotation`].
pub fn rotate_key_file(data_dir: &Path) -> Result<KeyEncryptionKey, SecretError> {
    let path = data_dir.join(KEY_FILE_NAME);
    let old_path = data_dir.join(OLD_KEY_FILE_NAME);
    if old_path.exists() {
        return Err(SecretError::RotationUnfinished { path: old_path });
    }
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| SecretError::KeyFileIo {
            action,
            path,
            source,
        }
    };

    // The new key, durable under a name nobody reads.
    let key_bytes: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
    let mut text = BASE64.encode(key_bytes);
    text.push('\n');
    let temporary = data_dir.join(format!(".{KEY_FILE_NAME}.new.tmp"));
    let _ = fs::remove_file(&temporary);
    write_private_file(&temporary, text.as_bytes()).map_err(io_error("create", &temporary))?;

    // The old key under its second name, then the new key under the first.
    fs::hard_link(&path, &old_path).map_err(io_error("keep a copy of", &path))?;
    sync_dir(data_dir).map_err(io_error("record the copy of", &old_path))?;
    fs::rename(&temporary, &path).map_err(io_error("replace", &path))?;
    sync_dir(data_dir).map_err(io_error("record the replacement of", &path))?;
    tracing::info!(key_file = %path.display(), "put a new key-encryption key in place");

    Ok(KeyEncryptionKey {
        key: SecretBox::new(Box::new(key_bytes)),
        source: KeySource::File(path),
        previous: None,
    })
}

/// Removes `secret.key.old` once every sealed value opens under `secret.key`; returns whether
/// there was one.
pub fn finish_key_file_rotation(data_dir: &Path) -> Result<bool, SecretError> {
    let old_path = data_dir.join(OLD_KEY_FILE_NAME);
    match fs::remove_file(&old_path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(SecretError::KeyFileIo {
                action: "remove",
                path: old_path,
                source,
            });
        }
    }

    sync_dir(data_dir).map_err(|source| SecretError::KeyFileIo {
        action: "record the removal of",
        path: old_path,
        source,
    })?;
    Ok(true)
}

/// Makes the directory's entries (created, linked, renamed or removed files) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
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
    fn a_rotated_key_file_is_private_and_the_old_key_stays_until_finished() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let old = key_from_file(dir.path());
        let sealed = old.seal(b"secret", PURPOSE);

        let new = rotate_key_file(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        let during = KeyEncryptionKey::load_key_files(dir.path()).unwrap();
        let finished = finish_key_file_rotation(dir.path()).unwrap();
        let after = KeyEncryptionKey::load_key_files(dir.path()).unwrap();

        assert_eq!(mode, 0o600);
        assert!(!new.same_key_as(&old));
        assert!(during.same_key_as(&new));
        assert_eq!(
            during.open_telling(&sealed, PURPOSE, "test value").unwrap(),
            (b"secret".to_vec(), OpenedWith::Previous)
        );
        assert!(finished);
        assert_eq!(after.previous_source(), None);
        assert!(after.open(&sealed, PURPOSE, "test value").is_err());
        assert!(
            !dir.path()
                .join(format!(".{KEY_FILE_NAME}.new.tmp"))
                .exists()
        );
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
