//! Site discovery (`/login/companyinfo`), `/system/info`, counts and custom field values.

use serde::{Deserialize, Deserializer, Serialize};

use super::enums::{CustomFieldEntryMethod, CustomFieldType};

/// The answer of `GET /login/companyinfo/{companyId}`, which names the API host and codebase.
///
/// Unlike every other ConnectWise body its keys are PascalCase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    /// The company's display name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// The path segment of the current release, with its trailing slash (`v2025_1/`).
    #[serde(default)]
    pub codebase: Option<String>,
    /// The release, such as `v2025.1`.
    #[serde(default)]
    pub version_code: Option<String>,
    /// The build, such as `v4.6.77997`.
    #[serde(default)]
    pub version_number: Option<String>,
    /// The login company id.
    #[serde(default, rename = "CompanyID")]
    pub company_id: Option<String>,
    /// Whether the site is hosted by ConnectWise.
    #[serde(default, deserialize_with = "loose_bool")]
    pub is_cloud: Option<bool>,
    /// The host (maybe with a port) to send API calls to.
    #[serde(default)]
    pub site_url: Option<String>,
    /// The CORS origins the site allows.
    #[serde(default)]
    pub allowed_origins: Option<String>,
}

/// Reads a boolean that some servers send as the text `True`/`False`.
fn loose_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::Bool(flag)) => Some(flag),
        Some(serde_json::Value::String(text)) => match text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

cw_model! {
    /// The answer of `GET /system/info`: server version and time zone.
    pub struct SystemInfo {
        /// The server version, `v`-prefixed.
        version: String,
        /// Whether the site is hosted by ConnectWise.
        is_cloud: bool,
        /// The server's time zone name.
        server_time_zone: String,
        /// Licensed features.
        license_bits: Vec<LicenseBit>,
        /// The cloud region.
        cloud_region: String,
        /// The workflow record limit.
        max_work_flow_records_allowed: i64,
    }
}

cw_model! {
    /// One licensed feature in [`SystemInfo`].
    pub struct LicenseBit {
        /// The feature's name.
        name: String,
        /// Whether it is active.
        active_flag: bool,
    }
}

/// The answer of a `…/count` endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// How many records match.
    pub count: u64,
}

cw_model! {
    /// The value of one custom field on a record (reference §5.7).
    pub struct CustomFieldValue {
        /// The custom field definition's id.
        id: i64,
        /// The field's caption.
        caption: String,
        /// The field's data type.
        #[serde(rename = "type")]
        field_type: CustomFieldType,
        /// How the field is filled in.
        entry_method: CustomFieldEntryMethod,
        /// Decimals shown for numbers.
        number_of_decimals: i64,
        /// The value: text, a boolean or a number.
        value: serde_json::Value,
        /// ConnectWise's own id for the field.
        #[serde(rename = "connectWiseId")]
        connect_wise_id: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_info_reads_pascal_case_and_text_booleans() {
        let info: CompanyInfo = serde_json::from_str(
            r#"{"CompanyName":"ConnectWise","Codebase":"v2020_4/","VersionCode":"v2020.4",
                "VersionNumber":"v4.6.77997","CompanyID":"CW","IsCloud":"True",
                "SiteUrl":"api-na.myconnectwise.net","AllowedOrigins":"*"}"#,
        )
        .unwrap();

        assert_eq!(info.codebase.as_deref(), Some("v2020_4/"));
        assert_eq!(info.company_id.as_deref(), Some("CW"));
        assert_eq!(info.is_cloud, Some(true));
        assert_eq!(info.site_url.as_deref(), Some("api-na.myconnectwise.net"));
    }

    #[test]
    fn system_info_tolerates_missing_and_extra_fields() {
        let info: SystemInfo =
            serde_json::from_str(r#"{"version":"v2025.1.12345","isCloud":false,"extra":1}"#)
                .unwrap();

        assert_eq!(info.version.as_deref(), Some("v2025.1.12345"));
        assert_eq!(info.server_time_zone, None);
    }
}
