//! The JSON error body ConnectWise answers with (`ErrorResponseMessage` in its spec).

use serde::{Deserialize, Serialize};

/// A ConnectWise error response: a top-level code and message, plus one entry per failing
/// field for validation failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable code, such as `InvalidObject` or `Unauthorized`.
    pub code: String,
    /// The human-readable explanation.
    pub message: String,
    /// One entry per failing field; omitted from the JSON when empty, as ConnectWise omits it
    /// for failures that are not about fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One entry of `errors[]`: which resource and field failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Why the field failed: `MissingRequiredField`, `InvalidField`, `UnsupportedFormat` or
    /// `ObjectExists`.
    pub code: String,
    /// The human-readable explanation, e.g. `Unsupported format applied to startDate`.
    pub message: String,
    /// The resource being written, in camelCase (`agreement`, `addition`, ...).
    pub resource: String,
    /// The failing field as the client named it in the model (`startDate`).
    pub field: String,
}

impl ErrorBody {
    /// An error without per-field details.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// The `InvalidObject` body ConnectWise sends when validation of `resource` fails.
    pub fn invalid_object(resource: &str, errors: Vec<FieldError>) -> Self {
        Self {
            code: "InvalidObject".to_owned(),
            message: format!("{resource} object is invalid"),
            errors,
        }
    }
}

impl FieldError {
    /// One `errors[]` entry for `field` of `resource`.
    pub fn new(code: &str, resource: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            resource: resource.to_owned(),
            field: field.to_owned(),
        }
    }
}
