//! How the REST API says what went wrong: one JSON shape for every error.
//!
//! ```json
//! {"error": {"code": "invalid_input", "message": "…what to fix…",
//!            "fields": {"url": "…what to enter…"}}}
//! ```
//!
//! `fields` is present only for bad input (400), with one message per field at fault.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyalto_store::StoreError;
use serde_json::{Map, Value, json};

/// An error answer of the REST API.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, such as `invalid_input`.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// Per-field messages, for bad input.
    pub fields: Vec<(String, String)>,
}

impl ApiError {
    /// An error with no field messages.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 400 with one message per field at fault.
    pub fn invalid(fields: Vec<(String, String)>) -> ApiError {
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_input",
            message: format!("Fix these fields and send again: {}.", names.join(", ")),
            fields,
        }
    }

    /// 401: no login or token.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Log in, or send an API token as `Authorization: Bearer TOKEN` (create one with \
             `hyalto user token create USERNAME --name NAME`).",
        )
    }

    /// 403: the user may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 for a record that does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with something running.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 502: ConnectWise failed or refused.
    pub fn connectwise(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, "connectwise_error", message)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if !self.fields.is_empty() {
            let fields: Map<String, Value> = self
                .fields
                .iter()
                .map(|(name, message)| (name.clone(), Value::String(message.clone())))
                .collect();
            error["fields"] = Value::Object(fields);
        }
        json!({ "error": error })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        // The store's message is meant for an operator; log it whole, and tell the client
        // where to look.
        tracing::error!(error = %error, "a store operation failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("hyalto could not read or write its data ({error}); see the server log."),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
