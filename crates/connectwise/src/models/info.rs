//! The `_info` metadata object that ConnectWise attaches to records and references.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::date::{format_datetime, parse_datetime};

/// Audit data and links from a record's `_info`.
///
/// `lastUpdated` is the only change token ConnectWise offers, so it is typed; every other key
/// (`updatedBy`, `dateEntered`, `…_href` links) is kept as sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    /// When the record last changed (`lastUpdated`).
    pub last_updated: Option<DateTime<Utc>>,
    /// Who changed it last (`updatedBy`).
    pub updated_by: Option<String>,
    /// All other keys, such as `company_href`.
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Serialize for Info {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = self.other.clone();
        if let Some(instant) = &self.last_updated {
            map.insert(
                "lastUpdated".to_owned(),
                serde_json::Value::String(format_datetime(instant)),
            );
        }
        if let Some(who) = &self.updated_by {
            map.insert(
                "updatedBy".to_owned(),
                serde_json::Value::String(who.clone()),
            );
        }
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Info {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Info, D::Error> {
        let mut other = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;

        let last_updated = match other.remove("lastUpdated") {
            Some(serde_json::Value::String(text)) => {
                Some(parse_datetime(&text).map_err(serde::de::Error::custom)?)
            }
            _ => None,
        };
        let updated_by = match other.remove("updatedBy") {
            Some(serde_json::Value::String(who)) => Some(who),
            _ => None,
        };
        Ok(Info {
            last_updated,
            updated_by,
            other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_updated_is_an_instant_and_links_are_kept() {
        let info: Info = serde_json::from_str(concat!(
            r#"{"lastUpdated":"2019-09-09T17:37:19Z","updatedBy":"User1","#,
            r#""type_href":"/x/7","odd":null}"#
        ))
        .unwrap();

        assert_eq!(
            info.last_updated.unwrap().to_rfc3339(),
            "2019-09-09T17:37:19+00:00"
        );
        assert_eq!(info.updated_by.as_deref(), Some("User1"));
        assert_eq!(info.other["type_href"], "/x/7");

        let back = serde_json::to_value(&info).unwrap();
        assert_eq!(back["lastUpdated"], "2019-09-09T17:37:19Z");
    }
}
