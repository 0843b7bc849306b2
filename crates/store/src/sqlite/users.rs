//! Users, browser sessions and API tokens in SQLite.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{get_bool, get_i64, get_instant, get_opt_instant, get_text, instant};
use crate::StoreResult;
use crate::error::StoreError;
use crate::users::{
    ApiTokenInfo, NewApiToken, NewSession, NewUser, Session, User, UserCredentials, UserId,
};

/// The columns of `users` every query reads, prefixed with `u.`.
const USER_COLUMNS: &str = "u.id, u.username, u.is_admin, u.created_at";

pub(super) async fn create_user(store: &SqliteStore, user: &NewUser) -> StoreResult<User> {
    let username = user.username.trim();
    if username.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "user",
            reason: "the username is empty".to_owned(),
        });
    }

    let result = sqlx::query(
        "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(username)
    .bind(&user.password_hash)
    .bind(user.is_admin)
    .bind(instant(user.created_at))
    .fetch_one(&store.pool)
    .await;

    let row = match result {
        Ok(row) => row,
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(StoreError::InvalidInput {
                what: "user",
                reason: format!("a user named {username:?} exists already (names ignore case)"),
            });
        }
        Err(error) => return Err(error.into()),
    };

    tracing::info!(
        user.name = username,
        user.admin = user.is_admin,
        "added a user"
    );
    Ok(User {
        id: UserId(get_i64(&row, "id")?),
        username: username.to_owned(),
        is_admin: user.is_admin,
        created_at: user.created_at,
    })
}

pub(super) async fn user_credentials(
    store: &SqliteStore,
    username: &str,
) -> StoreResult<Option<UserCredentials>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = ?"
    ))
    .bind(username.trim())
    .fetch_optional(&store.pool)
    .await?;

    row.map(|row| {
        Ok(UserCredentials {
            user: user_from_row(&row)?,
            password_hash: get_text(&row, "password_hash")?,
        })
    })
    .transpose()
}

pub(super) async fn list_users(store: &SqliteStore) -> StoreResult<Vec<User>> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username COLLATE NOCASE"
    ))
    .fetch_all(&store.pool)
    .await?;

    rows.iter().map(user_from_row).collect()
}

pub(super) async fn create_session(store: &SqliteStore, session: &NewSession) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&session.token_hash)
    .bind(session.user.0)
    .bind(&session.csrf_token)
    .bind(instant(session.created_at))
    .bind(instant(session.expires_at))
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn session(
    store: &SqliteStore,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<Session>> {
    // Expired rows are ignored here and removed by `delete_expired_sessions`, so a read never
    // has to take the write lock.
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = ? AND s.expires_at > ?"
    ))
    .bind(token_hash)
    .bind(instant(now))
    .fetch_optional(&store.pool)
    .await?;

    row.map(|row| {
        Ok(Session {
            user: user_from_row(&row)?,
            csrf_token: get_text(&row, "csrf_token")?,
            expires_at: get_instant(&row, "expires_at")?,
        })
    })
    .transpose()
}

pub(super) async fn delete_session(store: &SqliteStore, token_hash: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(&store.pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub(super) async fn delete_expired_sessions(
    store: &SqliteStore,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
        .bind(instant(now))
        .execute(&store.pool)
        .await?;
    Ok(result.rows_affected())
}

pub(super) async fn create_api_token(
    store: &SqliteStore,
    token: &NewApiToken,
) -> StoreResult<ApiTokenInfo> {
    let name = token.name.trim();
    if name.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "API token",
            reason: "the token's name is empty".to_owned(),
        });
    }

    let result = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(token.user.0)
    .bind(name)
    .bind(&token.token_hash)
    .bind(instant(token.created_at))
    .fetch_one(&store.pool)
    .await;

    let row = match result {
        Ok(row) => row,
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(StoreError::InvalidInput {
                what: "API token",
                reason: format!("the user has a token named {name:?} already; choose another name"),
            });
        }
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
            return Err(StoreError::NotFound {
                what: "user",
                id: token.user.to_string(),
            });
        }
        Err(error) => return Err(error.into()),
    };

    tracing::info!(user.id = %token.user, token.name = name, "created an API token");
    Ok(ApiTokenInfo {
        id: get_i64(&row, "id")?,
        user: token.user,
        name: name.to_owned(),
        created_at: token.created_at,
        last_used_at: None,
    })
}

pub(super) async fn user_by_api_token(
    store: &SqliteStore,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<User>> {
    // One statement both finds the token and stamps its use, so the stamp never needs a
    // second round trip.
    let row = sqlx::query(
        "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? RETURNING user_id",
    )
    .bind(instant(now))
    .bind(token_hash)
    .fetch_optional(&store.pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };

    let user_id = get_i64(&row, "user_id")?;
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"
    ))
    .bind(user_id)
    .fetch_optional(&store.pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(super) async fn api_tokens_of(
    store: &SqliteStore,
    user: UserId,
) -> StoreResult<Vec<ApiTokenInfo>> {
    let rows = sqlx::query(
        "SELECT id, user_id, name, created_at, last_used_at FROM api_tokens WHERE user_id = ? \
         ORDER BY name",
    )
    .bind(user.0)
    .fetch_all(&store.pool)
    .await?;

    rows.iter()
        .map(|row| {
            Ok(ApiTokenInfo {
                id: get_i64(row, "id")?,
                user: UserId(get_i64(row, "user_id")?),
                name: get_text(row, "name")?,
                created_at: get_instant(row, "created_at")?,
                last_used_at: get_opt_instant(row, "last_used_at")?,
            })
        })
        .collect()
}

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: UserId(get_i64(row, "id")?),
        username: get_text(row, "username")?,
        is_admin: get_bool(row, "is_admin")?,
        created_at: get_instant(row, "created_at")?,
    })
}
