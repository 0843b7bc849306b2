//! The one place where failures become HTTP statuses and ConnectWise error bodies.
//!
//! | failure | status | `code` |
//! | --- | --- | --- |
//! | bad query parameter, malformed JSON body | 400 | `BadRequest` |
//! | validation ([`StoreError::Invalid`]) | 400 | `InvalidObject` (from the store) |
//! | credentials or `clientId` | 401 | `Unauthorized` |
//! | security role | 403 | `Forbidden` |
//! | unknown record, path or company | 404 | `NotFound` |
//! | method not served on a known path | 405 | `MethodNotAllowed` |
//! | conflict ([`StoreError::Conflict`]) | 409 | from the store |
//! | store failure | 500 | `InternalServerError` |

use axum::Json;
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error_body::ErrorBody;
use crate::query::QueryError;
use crate::store::StoreError;

/// An error answer: a status and a ConnectWise error body.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
    allow: Option<String>,
}

impl ApiError {
    /// Any status with a body.
    pub fn new(status: StatusCode, body: ErrorBody) -> Self {
        Self {
            status,
            body,
            allow: None,
        }
    }

    /// 400 for a request the sandbox cannot read (query parameters, JSON body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorBody::new("BadRequest", message),
        )
    }

    /// 401 with ConnectWise's `Unauthorized` code.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorBody::new("Unauthorized", message),
        )
    }

    /// 403 naming the verb and route the API member's security role lacks.
    pub fn forbidden(method: &Method, template: &str) -> Self {
        let message = format!(
            "The API member's security role does not allow {method} on {template}; ask an \
             administrator to grant this permission in the role's settings"
        );
        Self::new(StatusCode::FORBIDDEN, ErrorBody::new("Forbidden", message))
    }

    /// 404 for a path or record that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorBody::new("NotFound", message))
    }

    /// 405 with an `Allow` header listing what the route serves.
    pub fn method_not_allowed(method: &Method, template: &str, allowed: &[Method]) -> Self {
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("{method} is not supported on {template}; allowed: {allow}");
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorBody::new("MethodNotAllowed", message),
            )
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { resource, id } => {
                Self::not_found(format!("The {resource} with id {id} was not found"))
            }
            StoreError::Invalid(body) => Self::new(StatusCode::BAD_REQUEST, body),
            StoreError::Conflict(body) => Self::new(StatusCode::CONFLICT, body),
            other => {
                tracing::error!(error = %other, "store failure while serving a request");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody::new("InternalServerError", other.to_string()),
                )
            }
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        Self::bad_request(error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(allow) = self
            .allow
            .and_then(|allow| HeaderValue::from_str(&allow).ok())
        {
            response.headers_mut().insert(ALLOW, allow);
        }
        response
    }
}
