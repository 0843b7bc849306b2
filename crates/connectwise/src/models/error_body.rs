//! The JSON body ConnectWise sends with an error status.

use serde::{Deserialize, Serialize};

/// An error body: `{code, message, errors: [...]}` (reference §6.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// A machine-readable code such as `InvalidObject` or `Unauthorized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per failing field, on validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ValidationError>>,
}

/// One failing field of a validation error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationError {
    /// Why it failed, such as `MissingRequiredField` or `UnsupportedFormat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The kind of record, such as `agreement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The field, such as `startDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra detail (2025 releases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}
