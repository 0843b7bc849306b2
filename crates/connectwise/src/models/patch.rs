//! PATCH operations: ConnectWise's `[{op, path, value}]` bodies.
//!
//! This is not RFC 6902: `path` is the bare field name (`quantity`, `parentAgreement`) and
//! values are natural JSON (numbers as numbers, references as `{"id": n}`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::date::{CwDate, format_datetime};
use super::enums::{BillCustomer, BillingOption};
use super::reference::{AgreementReference, CatalogItemReference, IdentifiedReference, Reference};

/// The kind of a PATCH operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOp {
    /// Set a field that has no value.
    Add,
    /// Replace a field's value.
    Replace,
    /// Clear a field.
    Remove,
}

/// One operation of a PATCH body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOp,
    /// The field name, without a leading slash.
    pub path: String,
    /// The new value (`null` for `remove`).
    pub value: serde_json::Value,
}

impl PatchOperation {
    /// Replaces `path` with `value`.
    pub fn replace(path: impl Into<String>, value: impl ToPatchValue) -> PatchOperation {
        PatchOperation {
            op: PatchOp::Replace,
            path: path.into(),
            value: value.to_patch_value(),
        }
    }

    /// Clears `path`.
    pub fn remove(path: impl Into<String>) -> PatchOperation {
        PatchOperation {
            op: PatchOp::Remove,
            path: path.into(),
            value: serde_json::Value::Null,
        }
    }
}

/// A value that can go into a [`PatchOperation`] as natural JSON.
pub trait ToPatchValue {
    /// The JSON value to send.
    fn to_patch_value(&self) -> serde_json::Value;
}

impl ToPatchValue for Decimal {
    fn to_patch_value(&self) -> serde_json::Value {
        // A Decimal's text is always a valid JSON number, and with arbitrary precision numbers
        // the digits are sent exactly as written.
        let text = self.normalize().to_string();
        text.parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::String(text))
    }
}

impl ToPatchValue for CwDate {
    fn to_patch_value(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_wire())
    }
}

impl ToPatchValue for DateTime<Utc> {
    fn to_patch_value(&self) -> serde_json::Value {
        serde_json::Value::String(format_datetime(self))
    }
}

impl ToPatchValue for serde_json::Value {
    fn to_patch_value(&self) -> serde_json::Value {
        self.clone()
    }
}

impl<T: ToPatchValue> ToPatchValue for Option<T> {
    fn to_patch_value(&self) -> serde_json::Value {
        match self {
            Some(value) => value.to_patch_value(),
            None => serde_json::Value::Null,
        }
    }
}

impl<T: ToPatchValue + ?Sized> ToPatchValue for &T {
    fn to_patch_value(&self) -> serde_json::Value {
        (**self).to_patch_value()
    }
}

/// Implements [`ToPatchValue`] through `serde_json::to_value` for types whose serialisation
/// cannot fail (no maps with non-string keys, no decimals as strings).
macro_rules! patch_value_via_serde {
    ($($ty:ty),*) => {
        $(impl ToPatchValue for $ty {
            fn to_patch_value(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
            }
        })*
    };
}

patch_value_via_serde!(
    bool,
    i32,
    i64,
    u32,
    u64,
    str,
    String,
    Reference,
    IdentifiedReference,
    AgreementReference,
    CatalogItemReference,
    BillCustomer,
    BillingOption
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_patch_sends_a_number() {
        let operation = PatchOperation::replace("quantity", Decimal::new(5200, 2));

        assert_eq!(
            serde_json::to_string(&[operation]).unwrap(),
            r#"[{"op":"replace","path":"quantity","value":52}]"#
        );
    }

    #[test]
    fn dates_references_and_removal_have_natural_shapes() {
        let operations = [
            PatchOperation::replace("cancelledDate", CwDate::from_ymd(2025, 3, 14).unwrap()),
            PatchOperation::replace("parentAgreement", AgreementReference::by_id(456)),
            PatchOperation::replace("unitPrice", "12.345".parse::<Decimal>().unwrap()),
            PatchOperation::remove("endDate"),
        ];

        let json = serde_json::to_string(&operations).unwrap();

        assert_eq!(
            json,
            concat!(
                r#"[{"op":"replace","path":"cancelledDate","value":"2025-03-14T00:00:00Z"},"#,
                r#"{"op":"replace","path":"parentAgreement","value":{"id":456}},"#,
                r#"{"op":"replace","path":"unitPrice","value":12.345},"#,
                r#"{"op":"remove","path":"endDate","value":null}]"#
            )
        );
    }
}
