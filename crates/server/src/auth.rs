//! Passwords, tokens, sessions, CSRF and the login rate limit.
//!
//! - Passwords are hashed with argon2id (the RustCrypto `argon2` crate, its default
//!   parameters) and kept as PHC strings.
//! - Session tokens, API tokens and CSRF tokens are 256 random bits, written as 64 hex digits.
//!   Only the SHA-256 of a session or API token is stored; the token itself lives in the
//!   browser's cookie or the API client's configuration.
//! - A failed login counts against the username; after [`MAX_FAILURES`] failures within
//!   [`FAILURE_WINDOW`] the username is refused until the window has passed, whatever the
//!   password.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hyalto_store::User;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// How many failed logins a username gets within [`FAILURE_WINDOW`] before it is locked.
pub const MAX_FAILURES: u32 = 5;

/// How long failed logins count, and how long a locked username stays locked.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The shortest password `hyalto user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes a password with argon2id and a fresh random salt. Slow on purpose: call it off the
/// async threads (`spawn_blocking`) in a server.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`. A hash that does not parse matches
/// nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks the password rules of `hyalto user add`; the error says what to choose instead.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password has {chars} characters; choose one of at least {MIN_PASSWORD_CHARS} \
             (a few random words are easy to type and hard to guess)"
        ));
    }
    Ok(())
}

/// Spends as long as a real password check, for a username that does not exist: a login that
/// answers faster for unknown users would tell an attacker which usernames exist.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("no user has this password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// A new random token: 256 bits as 64 lowercase hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The SHA-256 of a token as 64 lowercase hex digits: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Compares two strings in time that depends on their lengths only, for tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// Who is making a request, and how they proved it.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// How the request was authenticated.
    pub via: AuthMethod,
}

/// How a request was authenticated.
#[derive(Clone, Debug)]
pub enum AuthMethod {
    /// A browser session; forms and API writes must send back its CSRF token.
    Session {
        /// The session's CSRF token.
        csrf_token: String,
    },
    /// An API token in `Authorization: Bearer`; no CSRF token is needed, since a browser never
    /// sends one on its own.
    ApiToken,
}

impl Principal {
    /// The session's CSRF token, for rendering forms; empty for an API token.
    pub fn csrf_token(&self) -> &str {
        match &self.via {
            AuthMethod::Session { csrf_token } => csrf_token,
            AuthMethod::ApiToken => "",
        }
    }
}

/// Failed logins per username, in memory.
///
/// The limit lives in the process: a restart forgets it, which costs an attacker a restart
/// they cannot cause. Usernames are compared without case, as logins are.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    first_at: Instant,
}

impl LoginLimiter {
    /// `Some(wait)` when `username` is locked for `wait` more.
    pub fn locked_for(&self, username: &str, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.get(&username.to_lowercase())?;
        let elapsed = now.saturating_duration_since(entry.first_at);
        (entry.count >= MAX_FAILURES && elapsed < FAILURE_WINDOW).then(|| FAILURE_WINDOW - elapsed)
    }

    /// Counts a failed login of `username`.
    pub fn record_failure(&self, username: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());

        // Old entries go once the map grows, so guessing many usernames cannot fill memory.
        if failures.len() >= 10_000 {
            failures
                .retain(|_, entry| now.saturating_duration_since(entry.first_at) < FAILURE_WINDOW);
        }

        let entry = failures.entry(username.to_lowercase()).or_insert(Failures {
            count: 0,
            first_at: now,
        });
        if now.saturating_duration_since(entry.first_at) >= FAILURE_WINDOW {
            *entry = Failures {
                count: 0,
                first_at: now,
            };
        }
        entry.count += 1;
    }

    /// Forgets the failures of `username` after a successful login.
    pub fn record_success(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&username.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let hash = hash_password("correct horse battery").unwrap();

        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
    }

    #[test]
    fn a_token_hash_is_stable_and_differs_from_the_token() {
        let token = new_token();

        assert_eq!(token.len(), 64);
        assert_eq!(token_hash(&token), token_hash(&token));
        assert_ne!(token_hash(&token), token);
        assert_ne!(new_token(), token);
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }

    #[test]
    fn a_username_is_locked_after_the_failures_allowed_and_unlocked_after_the_window() {
        let limiter = LoginLimiter::default();
        let start = Instant::now();

        for _ in 0..MAX_FAILURES - 1 {
            limiter.record_failure("Alice", start);
        }
        assert_eq!(limiter.locked_for("alice", start), None);
        limiter.record_failure("alice", start);

        assert!(limiter.locked_for("ALICE", start).is_some());
        assert_eq!(limiter.locked_for("bob", start), None);
        assert_eq!(limiter.locked_for("alice", start + FAILURE_WINDOW), None);
    }

    #[test]
    fn a_short_password_is_refused_with_the_minimum() {
        let error = check_new_password("short").unwrap_err();

        assert!(error.contains("at least 12"), "{error}");
        assert!(check_new_password("a long enough passphrase").is_ok());
    }
}
