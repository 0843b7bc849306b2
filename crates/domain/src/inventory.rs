//! The inventory model: customers, their services and the resources each service uses.
//!
//! A [`Snapshot`] is what one inventory source saw at one instant. The types here hold values
//! that already passed validation (see [`crate::import`]); they carry no storage or sync state
//! such as first-seen dates, which belong to the store.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{CustomerId, ServiceId, SourceId};

/// The longest kind name (service or resource) hyalto accepts, in characters.
pub const MAX_KIND_CHARS: usize = 64;

/// Why a text is not a valid service kind, resource kind, power state or unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A kind that is not a `snake_case` word.
    #[error(
        "{text:?} is not a kind hyalto can use; write a snake_case word of at most \
         {MAX_KIND_CHARS} characters (lower-case letters, digits and underscores, starting \
         with a letter), for example {example}"
    )]
    Kind {
        /// The text as given.
        text: String,
        /// A known kind to show as an example.
        example: &'static str,
    },

    /// A power state other than `on`, `off` or `suspended`.
    #[error("{text:?} is not a power state; write \"on\", \"off\" or \"suspended\"")]
    PowerState {
        /// The text as given.
        text: String,
    },

    /// A unit hyalto does not know.
    #[error("{text:?} is not a unit; {hint}")]
    Unit {
        /// The text as given.
        text: String,
        /// What to write instead.
        hint: String,
    },
}

/// Whether `text` is a `snake_case` word hyalto accepts as a kind name.
fn is_snake_case_word(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    starts_with_letter
        && text.len() <= MAX_KIND_CHARS
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Implements `Serialize` and `Deserialize` as the `Display` and `FromStr` text of a type, so
/// the JSON form and the command-line form are the same words.
macro_rules! serde_as_text {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// What kind of thing a service is. Sources may send kinds hyalto has no special rules for;
/// they are kept as [`ServiceKind::Other`] and billed through their own product mappings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    /// `virtual_machine`: one VM. It must report `cpu` and `ram`.
    VirtualMachine,
    /// `virtual_data_center`: an allocation of capacity (for example a vCloud organisation VDC).
    VirtualDataCenter,
    /// `edge_gateway`: a network edge, usually billed by public IP addresses.
    EdgeGateway,
    /// Any other `snake_case` word. Parsing never puts a known word here.
    Other(String),
}

impl ServiceKind {
    /// The kind's name as it appears in JSON, on the command line and in meter keys.
    pub fn as_str(&self) -> &str {
        match self {
            Self::VirtualMachine => "virtual_machine",
            Self::VirtualDataCenter => "virtual_data_center",
            Self::EdgeGateway => "edge_gateway",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceKind {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "virtual_machine" => Ok(Self::VirtualMachine),
            "virtual_data_center" => Ok(Self::VirtualDataCenter),
            "edge_gateway" => Ok(Self::EdgeGateway),
            other if is_snake_case_word(other) => Ok(Self::Other(other.to_owned())),
            other => Err(ParseError::Kind {
                text: other.to_owned(),
                example: "virtual_machine",
            }),
        }
    }
}

serde_as_text!(ServiceKind);

/// What a resource measures. Kinds hyalto has no rules for are kept as
/// [`ResourceKind::Other`], accept any unit and are billed in the unit they arrive in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// `cpu`: virtual CPUs (`count`) or a CPU allocation (`MHz`, `GHz`).
    Cpu,
    /// `ram`: memory, in a data unit.
    Ram,
    /// `storage`: provisioned disk space, in a data unit, usually with a tier.
    Storage,
    /// `public_ip`: public IP addresses (`count`).
    PublicIp,
    /// Any other `snake_case` word. Parsing never puts a known word here.
    Other(String),
}

/// The units each known resource kind accepts.
const CPU_UNITS: &[Unit] = &[Unit::Count, Unit::Mhz, Unit::Ghz];
const DATA_UNITS: &[Unit] = &[
    Unit::Mb,
    Unit::Gb,
    Unit::Tb,
    Unit::Mib,
    Unit::Gib,
    Unit::Tib,
];
const COUNT_UNITS: &[Unit] = &[Unit::Count];

impl ResourceKind {
    /// The kind's name as it appears in JSON, on the command line and in meter keys.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Cpu => "cpu",
            Self::Ram => "ram",
            Self::Storage => "storage",
            Self::PublicIp => "public_ip",
            Self::Other(name) => name,
        }
    }

    /// The units this kind may be reported in, or `None` when any unit is fine.
    pub fn allowed_units(&self) -> Option<&'static [Unit]> {
        match self {
            Self::Cpu => Some(CPU_UNITS),
            Self::Ram | Self::Storage => Some(DATA_UNITS),
            Self::PublicIp => Some(COUNT_UNITS),
            Self::Other(_) => None,
        }
    }

    /// Whether a resource of this kind may be reported in `unit`.
    pub fn accepts(&self, unit: Unit) -> bool {
        self.allowed_units()
            .is_none_or(|allowed| allowed.contains(&unit))
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceKind {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Self::Cpu),
            "ram" => Ok(Self::Ram),
            "storage" => Ok(Self::Storage),
            "public_ip" => Ok(Self::PublicIp),
            other if is_snake_case_word(other) => Ok(Self::Other(other.to_owned())),
            other => Err(ParseError::Kind {
                text: other.to_owned(),
                example: "storage",
            }),
        }
    }
}

serde_as_text!(ResourceKind);

/// Whether a virtual machine is running. Metering looks at it only for virtual machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// `on`: running.
    On,
    /// `off`: powered off.
    Off,
    /// `suspended`: its memory is saved to disk and it does not run.
    Suspended,
}

impl PowerState {
    /// The state's name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Suspended => "suspended",
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PowerState {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            "suspended" => Ok(Self::Suspended),
            other => Err(ParseError::PowerState {
                text: other.to_owned(),
            }),
        }
    }
}

serde_as_text!(PowerState);

/// What a quantity counts. Decimal units (`MB`, `GB`, `TB`) are powers of 1000 bytes and binary
/// units (`MiB`, `GiB`, `TiB`) powers of 1024 bytes; the two are never mixed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// `count`: a number of whole things (vCPUs, IP addresses).
    Count,
    /// `MHz`: 10^6 hertz of CPU allocation.
    Mhz,
    /// `GHz`: 10^9 hertz (1000 MHz).
    Ghz,
    /// `MB`: 10^6 bytes.
    Mb,
    /// `GB`: 10^9 bytes.
    Gb,
    /// `TB`: 10^12 bytes.
    Tb,
    /// `MiB`: 2^20 bytes.
    Mib,
    /// `GiB`: 2^30 bytes.
    Gib,
    /// `TiB`: 2^40 bytes.
    Tib,
}

/// Which units can be converted into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Whole things.
    Count,
    /// CPU frequency.
    Frequency,
    /// Bytes.
    Data,
}

impl Unit {
    /// Every unit, in the order the documentation lists them.
    pub const ALL: [Unit; 9] = [
        Unit::Count,
        Unit::Mhz,
        Unit::Ghz,
        Unit::Mb,
        Unit::Gb,
        Unit::Tb,
        Unit::Mib,
        Unit::Gib,
        Unit::Tib,
    ];

    /// The unit's symbol as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Mhz => "MHz",
            Self::Ghz => "GHz",
            Self::Mb => "MB",
            Self::Gb => "GB",
            Self::Tb => "TB",
            Self::Mib => "MiB",
            Self::Gib => "GiB",
            Self::Tib => "TiB",
        }
    }

    /// What the unit measures; only units of the same dimension convert into each other.
    pub fn dimension(self) -> Dimension {
        match self {
            Self::Count => Dimension::Count,
            Self::Mhz | Self::Ghz => Dimension::Frequency,
            Self::Mb | Self::Gb | Self::Tb | Self::Mib | Self::Gib | Self::Tib => Dimension::Data,
        }
    }

    /// How many base units (things, MHz or bytes) one of this unit is. Every factor is an
    /// integer, so conversions through it stay exact.
    pub fn base_factor(self) -> Decimal {
        match self {
            Self::Count | Self::Mhz => Decimal::ONE,
            Self::Ghz => Decimal::from(1_000_u64),
            Self::Mb => Decimal::from(1_000_000_u64),
            Self::Gb => Decimal::from(1_000_000_000_u64),
            Self::Tb => Decimal::from(1_000_000_000_000_u64),
            Self::Mib => Decimal::from(1_u64 << 20),
            Self::Gib => Decimal::from(1_u64 << 30),
            Self::Tib => Decimal::from(1_u64 << 40),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(unit) = Unit::ALL.into_iter().find(|unit| unit.as_str() == text) {
            return Ok(unit);
        }

        // Case matters ("Gb" would be gigabits), so a near miss is refused but named.
        let hint = match Unit::ALL
            .into_iter()
            .find(|unit| unit.as_str().eq_ignore_ascii_case(text))
        {
            Some(unit) => format!("units are case-sensitive: write {:?}", unit.as_str()),
            None => format!("write one of {}", unit_list(&Unit::ALL)),
        };
        Err(ParseError::Unit {
            text: text.to_owned(),
            hint,
        })
    }
}

serde_as_text!(Unit);

/// Lists units for an error message: `"count", "MHz" or "GHz"`.
pub(crate) fn unit_list(units: &[Unit]) -> String {
    let quoted: Vec<String> = units
        .iter()
        .map(|unit| format!("{:?}", unit.as_str()))
        .collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A customer as the inventory source names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    /// The source's stable id for the customer.
    pub id: CustomerId,
    /// A readable name; not used to match anything.
    pub name: String,
}

/// One measured resource of a service, such as its RAM or its storage on one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// What is measured.
    pub kind: ResourceKind,
    /// A sub-kind billed separately, such as a storage policy name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// How much, in `unit`; never negative.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub quantity: Decimal,
    /// The unit `quantity` is in; one the kind accepts.
    pub unit: Unit,
}

/// Something a customer is billed for: a VM, a virtual data centre, an edge gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The source's stable id for the service.
    pub id: ServiceId,
    /// The customer that owns it; `None` means unassigned, billed to nobody.
    pub customer: Option<CustomerId>,
    /// What kind of service it is.
    pub kind: ServiceKind,
    /// A readable name, used in agreement names and invoice descriptions.
    pub name: String,
    /// Whether it runs, where that applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_state: Option<PowerState>,
    /// What it uses. [`crate::parse_snapshot`] gives each kind and tier once, merging an
    /// import's several resources of one kind and tier (such as a VM's disks on one policy).
    pub resources: Vec<Resource>,
}

impl Service {
    /// Whether the service is a virtual machine that is not running (off or suspended).
    pub fn is_stopped_vm(&self) -> bool {
        self.kind == ServiceKind::VirtualMachine
            && matches!(
                self.power_state,
                Some(PowerState::Off | PowerState::Suspended)
            )
    }
}

/// Whether a snapshot lists everything its source has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Everything the source has is listed: services missing from it are gone.
    Complete,
    /// Part of the source could not be read; nothing may be retired from this snapshot.
    /// `hyalto inventory import` refuses it unless told `--accept-incomplete`, and the sync
    /// skips the customers of a source whose newest snapshot is incomplete.
    Incomplete {
        /// Why, in words for a person; never empty.
        reasons: Vec<String>,
    },
}

impl Completeness {
    /// Whether services missing from the snapshot may be taken as gone.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete)
    }
}

/// What one inventory source saw at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The source it came from.
    pub source: SourceId,
    /// When the source was read.
    pub taken_at: DateTime<Utc>,
    /// Whether it lists everything the source has.
    pub completeness: Completeness,
    /// The customers the source knows, each once.
    pub customers: Vec<Customer>,
    /// The services the source knows, each once.
    pub services: Vec<Service>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_service_kinds_parse_to_their_variant_and_print_back() {
        for (text, kind) in [
            ("virtual_machine", ServiceKind::VirtualMachine),
            ("virtual_data_center", ServiceKind::VirtualDataCenter),
            ("edge_gateway", ServiceKind::EdgeGateway),
        ] {
            assert_eq!(text.parse::<ServiceKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), text);
        }
    }

    #[test]
    fn an_unknown_snake_case_kind_is_kept_as_other() {
        assert_eq!(
            "load_balancer".parse::<ServiceKind>().unwrap(),
            ServiceKind::Other("load_balancer".to_owned())
        );
        assert_eq!(
            "gpu2".parse::<ResourceKind>().unwrap(),
            ResourceKind::Other("gpu2".to_owned())
        );
    }

    #[test]
    fn a_kind_that_is_not_snake_case_is_refused() {
        for text in ["VirtualMachine", "", "2cpu", "public-ip", "a/b", "cpu "] {
            assert!(
                text.parse::<ResourceKind>().is_err(),
                "{text:?} was accepted"
            );
        }
        assert!(
            "x".repeat(MAX_KIND_CHARS + 1)
                .parse::<ServiceKind>()
                .is_err()
        );
    }

    #[test]
    fn units_are_case_sensitive_and_a_near_miss_names_the_right_spelling() {
        let error = "gb".parse::<Unit>().unwrap_err();

        assert!(error.to_string().contains("write \"GB\""), "{error}");
        assert!(
            "liters"
                .parse::<Unit>()
                .unwrap_err()
                .to_string()
                .contains("\"TiB\"")
        );
    }

    #[test]
    fn every_unit_prints_the_symbol_it_parses_from() {
        for unit in Unit::ALL {
            assert_eq!(unit.as_str().parse::<Unit>().unwrap(), unit);
        }
    }

    #[test]
    fn each_resource_kind_accepts_only_units_that_suit_it() {
        assert!(ResourceKind::Cpu.accepts(Unit::Ghz));
        assert!(!ResourceKind::Cpu.accepts(Unit::Gb));
        assert!(ResourceKind::Ram.accepts(Unit::Gib));
        assert!(!ResourceKind::Ram.accepts(Unit::Count));
        assert!(ResourceKind::Storage.accepts(Unit::Tb));
        assert!(!ResourceKind::Storage.accepts(Unit::Mhz));
        assert!(ResourceKind::PublicIp.accepts(Unit::Count));
        assert!(!ResourceKind::PublicIp.accepts(Unit::Gb));
        assert!(ResourceKind::Other("backup".to_owned()).accepts(Unit::Mhz));
    }

    #[test]
    fn a_suspended_or_powered_off_vm_counts_as_stopped_but_other_kinds_never_do() {
        let mut service = Service {
            id: ServiceId::new("vm-1").unwrap(),
            customer: None,
            kind: ServiceKind::VirtualMachine,
            name: "web".to_owned(),
            power_state: Some(PowerState::Suspended),
            resources: Vec::new(),
        };
        assert!(service.is_stopped_vm());

        service.power_state = Some(PowerState::On);
        assert!(!service.is_stopped_vm());

        service.power_state = Some(PowerState::Off);
        service.kind = ServiceKind::EdgeGateway;
        assert!(!service.is_stopped_vm());
    }
}
