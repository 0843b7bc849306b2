//! Metering: turning a service's resources into the quantities hyalto bills.
//!
//! The rules are configurable and documented in `docs/inventory-format.md`. In short: units are
//! converted exactly with [`Decimal`] (decimal `GB` are 10^9 bytes, binary `GiB` 2^30 bytes),
//! resources of the same kind and tier on one service are summed, and only then is the total
//! rounded, up to a whole billing unit by default. Nothing is ever truncated: a rounding rule
//! rounds up or to the nearest increment, never down as a matter of course.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{IdError, check_id};
use crate::inventory::{Dimension, ParseError, ResourceKind, Service, ServiceKind, Unit};

/// The data unit RAM or storage is billed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BillingUnit {
    /// Decimal gigabytes: 10^9 bytes.
    #[serde(rename = "GB")]
    Gb,
    /// Binary gibibytes: 2^30 bytes (1.073741824 GB).
    #[serde(rename = "GiB")]
    Gib,
}

impl BillingUnit {
    /// The inventory unit quantities are converted into.
    pub fn unit(self) -> Unit {
        match self {
            Self::Gb => Unit::Gb,
            Self::Gib => Unit::Gib,
        }
    }
}

/// How a metered total becomes a billed quantity. The increment is in the billing unit of
/// the quantity (vCPUs, GHz, GB or GiB, addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round up to the next multiple of `increment`: 4.2 GiB bills as 5 GiB with an
    /// increment of 1. The default, with an increment of 1.
    Up {
        /// The step quantities are billed in; greater than zero.
        increment: Decimal,
    },
    /// Round to the nearest multiple of `increment`, halves away from zero: 4.5 GiB bills as
    /// 5 GiB and 4.49 GiB as 4 GiB with an increment of 1.
    Nearest {
        /// The step quantities are billed in; greater than zero.
        increment: Decimal,
    },
}

impl Default for Rounding {
    fn default() -> Self {
        Self::Up {
            increment: Decimal::ONE,
        }
    }
}

impl Rounding {
    /// The step of this rule.
    pub fn increment(self) -> Decimal {
        match self {
            Self::Up { increment } | Self::Nearest { increment } => increment,
        }
    }

    /// Rounds `quantity` by this rule. An increment that is not greater than zero (which
    /// [`MeteringRules::validate`] refuses) leaves the quantity exact rather than guessing.
    ///
    /// A quantity within [`SNAP_TOLERANCE`] (relative) of a whole number of increments counts
    /// as exactly that number before it is rounded, so 20.0000001 GiB bills as 20 GiB, not 21.
    /// Sources that compute sizes in floating point produce such noise; a real started unit is
    /// never that small a share of the total. A quantity is never snapped down to zero.
    pub fn apply(self, quantity: Decimal) -> Decimal {
        let increment = self.increment();
        if increment <= Decimal::ZERO {
            return quantity;
        }

        let strategy = match self {
            Self::Up { .. } => RoundingStrategy::AwayFromZero,
            Self::Nearest { .. } => RoundingStrategy::MidpointAwayFromZero,
        };
        let steps = quantity
            .checked_div(increment)
            .map(snap_to_whole)
            .map(|steps| steps.round_dp_with_strategy(0, strategy));

        // Only totals near Decimal::MAX can overflow here; they are returned unrounded, which
        // still never bills less than was used.
        steps
            .and_then(|steps| steps.checked_mul(increment))
            .unwrap_or(quantity)
            .normalize()
    }
}

/// How close, relative to its size, a number of increments must be to a whole number to be
/// taken as that whole number before rounding: one millionth. 20.0000001 is within it of 20
/// (and bills 20); 20.001 is not (and bills 21 when rounding up).
pub const SNAP_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// The most the snap may move a quantity, in increments: a thousandth of one. It keeps the
/// relative tolerance from swallowing a real part of a unit on very large totals (a millionth
/// of 600,000 GiB would be 0.6 GiB).
pub const SNAP_MAX: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// The whole number nearest to `steps` when `steps` is within the snap tolerance of it
/// ([`SNAP_TOLERANCE`] of that whole number, at most [`SNAP_MAX`]), else `steps` unchanged.
/// Zero is never a snap target, so a tiny positive quantity still bills a started unit.
fn snap_to_whole(steps: Decimal) -> Decimal {
    let whole = steps.round();
    if whole.is_zero() {
        return steps;
    }
    let tolerance = whole
        .abs()
        .checked_mul(SNAP_TOLERANCE)
        .map_or(SNAP_MAX, |tolerance| tolerance.min(SNAP_MAX));
    if (steps - whole).abs() <= tolerance {
        whole
    } else {
        steps
    }
}

/// What storage quantities measure. Only provisioned space exists today; the enum leaves room
/// for a used-space basis once sources report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBasis {
    /// Bill the space allocated to the service, whether or not it is written.
    #[default]
    Provisioned,
}

/// The metering rules; [`MeteringRules::default`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeteringRules {
    /// The unit RAM is billed in. Default: GiB, the unit hypervisors allocate memory in.
    pub memory_unit: BillingUnit,
    /// The unit storage is billed in. Default: GiB, the unit vSphere and vCloud show disk
    /// sizes in (they label it "GB", but mean 2^30 bytes).
    pub storage_unit: BillingUnit,
    /// How totals become billed quantities. Default: up to a whole unit.
    pub rounding: Rounding,
    /// Whether powered-off (or suspended) VMs bill CPU and RAM. Default: true, billed as
    /// allocated. Storage bills either way.
    pub bill_powered_off: bool,
    /// What storage quantities measure. Default: provisioned.
    pub storage_basis: StorageBasis,
}

impl Default for MeteringRules {
    fn default() -> Self {
        Self {
            memory_unit: BillingUnit::Gib,
            storage_unit: BillingUnit::Gib,
            rounding: Rounding::default(),
            bill_powered_off: true,
            storage_basis: StorageBasis::Provisioned,
        }
    }
}

/// Why a set of metering rules cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The rounding increment is zero or negative.
    #[error(
        "the rounding increment is {increment}; use a number greater than zero, such as 1 \
         (whole units) or 0.5"
    )]
    Increment {
        /// The increment as configured.
        increment: Decimal,
    },
}

impl MeteringRules {
    /// Checks the rules; configuration loaders call it so a bad increment is refused at start.
    pub fn validate(&self) -> Result<(), RulesError> {
        let increment = self.rounding.increment();
        if increment <= Decimal::ZERO {
            return Err(RulesError::Increment { increment });
        }
        Ok(())
    }
}

/// One billed quantity of a service: the total of one resource kind and tier, converted and
/// rounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeteredQuantity {
    /// What was measured.
    pub resource: ResourceKind,
    /// The tier, such as a storage policy name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The quantity to bill, in `unit`.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub quantity: Decimal,
    /// The billing unit.
    pub unit: Unit,
}

/// Converts `quantity` from one unit to another of the same dimension, exactly: the quantity
/// is first multiplied into base units (things, MHz or bytes, all integers factors) and then
/// divided once. Returns `None` for units of different dimensions or a result out of range.
pub fn convert(quantity: Decimal, from: Unit, to: Unit) -> Option<Decimal> {
    if from == to {
        return Some(quantity);
    }
    if from.dimension() != to.dimension() {
        return None;
    }

    match quantity.checked_mul(from.base_factor()) {
        Some(base) => base.checked_div(to.base_factor()),

        // A quantity too large to express in bytes is converted through the ratio instead,
        // which can only lose digits far below anything billed.
        None => from
            .base_factor()
            .checked_div(to.base_factor())
            .and_then(|ratio| quantity.checked_mul(ratio)),
    }
}

/// The unit a resource is billed in under `rules`.
fn billing_unit(kind: &ResourceKind, unit: Unit, rules: &MeteringRules) -> Unit {
    match (kind, unit.dimension()) {
        // A VDC's CPU allocation is a frequency; it bills in GHz so that prices per GHz read
        // naturally. A VM's vCPUs are a count and bill as a count.
        (ResourceKind::Cpu, Dimension::Frequency) => Unit::Ghz,
        (ResourceKind::Ram, Dimension::Data) => rules.memory_unit.unit(),
        (ResourceKind::Storage, Dimension::Data) => rules.storage_unit.unit(),
        _ => unit,
    }
}

/// Meters one service: one [`MeteredQuantity`] per resource kind and tier, in the order they
/// first appear. Resources of the same kind and tier are converted to the billing unit, summed,
/// and the total rounded once, so two 0.5 GiB disks on one tier bill 1 GiB rather than 2.
///
/// A stopped VM (off or suspended) meters zero CPU and RAM when `rules.bill_powered_off` is
/// false; its storage still bills. Resources of a kind hyalto has no rules for keep the unit
/// they first arrive in. A hand-built service that mixes units of different dimensions for one
/// kind and tier (which [`crate::import`] refuses) gets one quantity per dimension.
pub fn meter(service: &Service, rules: &MeteringRules) -> Vec<MeteredQuantity> {
    let mut totals: Vec<MeteredQuantity> = Vec::new();

    for resource in &service.resources {
        let target = billing_unit(&resource.kind, resource.unit, rules);
        let existing = totals.iter_mut().find(|total| {
            total.resource == resource.kind
                && total.tier == resource.tier
                && total.unit.dimension() == target.dimension()
        });

        match existing {
            Some(total) => {
                let converted = convert(resource.quantity, resource.unit, total.unit);
                total.quantity = converted
                    .and_then(|quantity| total.quantity.checked_add(quantity))
                    .unwrap_or(Decimal::MAX);
            }
            None => totals.push(MeteredQuantity {
                resource: resource.kind.clone(),
                tier: resource.tier.clone(),
                quantity: convert(resource.quantity, resource.unit, target).unwrap_or(Decimal::MAX),
                unit: target,
            }),
        }
    }

    let idle = service.is_stopped_vm() && !rules.bill_powered_off;
    for total in &mut totals {
        if idle && matches!(total.resource, ResourceKind::Cpu | ResourceKind::Ram) {
            total.quantity = Decimal::ZERO;
        }
        total.quantity = rules.rounding.apply(total.quantity);
    }
    totals
}

/// What is billed: a service kind, a resource kind and optionally a tier. Product mappings key
/// on it. Its text form is `service_kind/resource_kind[/tier]`, for example
/// `virtual_machine/storage/performance`; the tier is everything after the second slash, so a
/// tier may itself contain slashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeterKey {
    /// The kind of service.
    pub service_kind: ServiceKind,
    /// The kind of resource.
    pub resource: ResourceKind,
    /// The tier, if the resource has one.
    pub tier: Option<String>,
}

impl MeterKey {
    /// The key a metered quantity of a service of `service_kind` bills under.
    pub fn for_quantity(service_kind: &ServiceKind, metered: &MeteredQuantity) -> Self {
        Self {
            service_kind: service_kind.clone(),
            resource: metered.resource.clone(),
            tier: metered.tier.clone(),
        }
    }
}

/// Why a text is not a meter key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterKeyError {
    /// The text has no slash between the service kind and the resource kind.
    #[error(
        "{text:?} is not a meter key; write SERVICE_KIND/RESOURCE_KIND or \
         SERVICE_KIND/RESOURCE_KIND/TIER, for example virtual_machine/storage/performance"
    )]
    Shape {
        /// The text as given.
        text: String,
    },

    /// One of the two kinds is not a valid kind.
    #[error("in meter key {text:?}: {source}")]
    Kind {
        /// The text as given.
        text: String,
        /// What is wrong with the kind.
        source: ParseError,
    },

    /// The tier is empty or otherwise unusable.
    #[error("in meter key {text:?}, the tier is not usable: {source}")]
    Tier {
        /// The text as given.
        text: String,
        /// What is wrong with the tier.
        source: IdError,
    },
}

impl fmt::Display for MeterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service_kind, self.resource)?;
        if let Some(tier) = &self.tier {
            write!(f, "/{tier}")?;
        }
        Ok(())
    }
}

impl FromStr for MeterKey {
    type Err = MeterKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.splitn(3, '/');
        let (Some(service_kind), Some(resource)) = (parts.next(), parts.next()) else {
            return Err(MeterKeyError::Shape {
                text: text.to_owned(),
            });
        };
        let kind_error = |source| MeterKeyError::Kind {
            text: text.to_owned(),
            source,
        };

        let service_kind = service_kind.parse().map_err(kind_error)?;
        let resource = resource.parse().map_err(kind_error)?;
        let tier = parts.next().map(str::to_owned);
        if let Some(tier) = &tier {
            check_id(tier).map_err(|source| MeterKeyError::Tier {
                text: text.to_owned(),
                source,
            })?;
        }

        Ok(Self {
            service_kind,
            resource,
            tier,
        })
    }
}

impl Serialize for MeterKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MeterKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ServiceId;
    use crate::inventory::{PowerState, Resource};

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn resource(kind: ResourceKind, tier: Option<&str>, quantity: &str, unit: Unit) -> Resource {
        Resource {
            kind,
            tier: tier.map(str::to_owned),
            quantity: dec(quantity),
            unit,
        }
    }

    fn service(kind: ServiceKind, power: Option<PowerState>, resources: Vec<Resource>) -> Service {
        Service {
            id: ServiceId::new("svc-1").unwrap(),
            customer: None,
            kind,
            name: "test".to_owned(),
            power_state: power,
            resources,
        }
    }

    fn vm(power: Option<PowerState>) -> Service {
        service(
            ServiceKind::VirtualMachine,
            power,
            vec![
                resource(ResourceKind::Cpu, None, "4", Unit::Count),
                resource(ResourceKind::Ram, None, "8", Unit::Gib),
                resource(ResourceKind::Storage, Some("gold"), "100", Unit::Gib),
            ],
        )
    }

    fn quantity_of(metered: &[MeteredQuantity], kind: ResourceKind) -> (Decimal, Unit) {
        let found = metered.iter().find(|m| m.resource == kind).unwrap();
        (found.quantity, found.unit)
    }

    #[test]
    fn decimal_and_binary_data_units_convert_exactly() {
        assert_eq!(
            convert(dec("1"), Unit::Gib, Unit::Gb),
            Some(dec("1.073741824"))
        );
        assert_eq!(convert(dec("1"), Unit::Tb, Unit::Gb), Some(dec("1000")));
        assert_eq!(convert(dec("1"), Unit::Tib, Unit::Gib), Some(dec("1024")));
        assert_eq!(convert(dec("512"), Unit::Mib, Unit::Gib), Some(dec("0.5")));
        assert_eq!(
            convert(dec("1000"), Unit::Mb, Unit::Gib),
            Some(dec("0.931322574615478515625"))
        );
    }

    #[test]
    fn megahertz_and_gigahertz_convert_by_a_thousand() {
        assert_eq!(convert(dec("2600"), Unit::Mhz, Unit::Ghz), Some(dec("2.6")));
        assert_eq!(convert(dec("1.5"), Unit::Ghz, Unit::Mhz), Some(dec("1500")));
    }

    #[test]
    fn units_of_different_dimensions_do_not_convert() {
        assert_eq!(convert(dec("1"), Unit::Gb, Unit::Ghz), None);
        assert_eq!(convert(dec("1"), Unit::Count, Unit::Gib), None);
    }

    #[test]
    fn a_quantity_too_large_for_bytes_still_converts_through_the_ratio() {
        let huge = dec("100000000000000000");

        assert_eq!(
            convert(huge, Unit::Tb, Unit::Gb),
            Some(dec("100000000000000000000"))
        );
    }

    #[test]
    fn rounding_goes_up_to_a_whole_unit_by_default() {
        let rounding = Rounding::default();

        assert_eq!(rounding.apply(dec("4.01")), dec("5"));
        assert_eq!(rounding.apply(dec("4")), dec("4"));
        assert_eq!(rounding.apply(dec("0")), dec("0"));
    }

    #[test]
    fn floating_point_noise_next_to_a_whole_unit_does_not_bill_another_unit() {
        let up = Rounding::default();
        let nearest = Rounding::Nearest {
            increment: Decimal::ONE,
        };
        let halves = Rounding::Up {
            increment: dec("0.5"),
        };

        assert_eq!(up.apply(dec("20.0000001")), dec("20"));
        assert_eq!(up.apply(dec("19.9999999")), dec("20"));
        assert_eq!(nearest.apply(dec("20.0000001")), dec("20"));
        assert_eq!(halves.apply(dec("4.50000001")), dec("4.5"));
        assert_eq!(up.apply(dec("20.001")), dec("21"));
        assert_eq!(up.apply(dec("0.0000001")), dec("1"));
    }

    proptest::proptest! {
        #[test]
        fn noise_within_the_tolerance_never_changes_the_billed_quantity(
            whole in 1u32..1_000_000,
            noise_thousandths in -999i64..=999,
            increment_tenths in 1u32..=20,
        ) {
            let increment = Decimal::new(i64::from(increment_tenths), 1);
            let rounding = Rounding::Up { increment };
            let exact = Decimal::from(whole) * increment;
            // A noise of up to 0.999 of the tolerance, above or below the exact quantity.
            let tolerance = (Decimal::from(whole) * SNAP_TOLERANCE).min(SNAP_MAX) * increment;
            let noise = tolerance * Decimal::new(noise_thousandths, 3);

            let billed = rounding.apply(exact + noise);

            proptest::prop_assert_eq!(billed, exact.normalize());
        }

        #[test]
        fn rounding_up_never_bills_less_than_a_quantity_beyond_the_tolerance(
            cents in 1i64..100_000_000,
        ) {
            let quantity = Decimal::new(cents, 2);
            let billed = Rounding::default().apply(quantity);
            let whole = quantity.round();
            let within = snap_to_whole(quantity) == whole;

            if within {
                proptest::prop_assert_eq!(billed, whole);
            } else {
                proptest::prop_assert!(billed >= quantity);
                proptest::prop_assert!(billed - quantity < Decimal::ONE);
            }
        }
    }

    #[test]
    fn rounding_up_uses_the_configured_increment() {
        let rounding = Rounding::Up {
            increment: dec("0.5"),
        };

        assert_eq!(rounding.apply(dec("4.01")), dec("4.5"));
        assert_eq!(rounding.apply(dec("4.5")), dec("4.5"));
    }

    #[test]
    fn rounding_to_nearest_sends_halves_up_and_less_than_half_down() {
        let rounding = Rounding::Nearest {
            increment: Decimal::ONE,
        };

        assert_eq!(rounding.apply(dec("4.5")), dec("5"));
        assert_eq!(rounding.apply(dec("4.49")), dec("4"));
    }

    #[test]
    fn a_non_positive_increment_is_refused_by_validate_and_leaves_quantities_exact() {
        let rules = MeteringRules {
            rounding: Rounding::Up {
                increment: Decimal::ZERO,
            },
            ..MeteringRules::default()
        };

        assert_eq!(
            rules.validate(),
            Err(RulesError::Increment {
                increment: Decimal::ZERO
            })
        );
        assert_eq!(rules.rounding.apply(dec("4.2")), dec("4.2"));
        assert_eq!(MeteringRules::default().validate(), Ok(()));
    }

    #[test]
    fn the_default_rules_bill_gib_round_up_and_bill_powered_off_vms() {
        let rules = MeteringRules::default();

        assert_eq!(rules.memory_unit, BillingUnit::Gib);
        assert_eq!(rules.storage_unit, BillingUnit::Gib);
        assert_eq!(
            rules.rounding,
            Rounding::Up {
                increment: Decimal::ONE
            }
        );
        assert!(rules.bill_powered_off);
        assert_eq!(rules.storage_basis, StorageBasis::Provisioned);
    }

    #[test]
    fn a_running_vm_meters_each_resource_in_its_billing_unit() {
        let metered = meter(&vm(Some(PowerState::On)), &MeteringRules::default());

        assert_eq!(metered.len(), 3);
        assert_eq!(
            quantity_of(&metered, ResourceKind::Cpu),
            (dec("4"), Unit::Count)
        );
        assert_eq!(
            quantity_of(&metered, ResourceKind::Ram),
            (dec("8"), Unit::Gib)
        );
        assert_eq!(
            quantity_of(&metered, ResourceKind::Storage),
            (dec("100"), Unit::Gib)
        );
        assert_eq!(metered[2].tier.as_deref(), Some("gold"));
    }

    #[test]
    fn a_powered_off_vm_bills_cpu_and_ram_by_default() {
        let metered = meter(&vm(Some(PowerState::Off)), &MeteringRules::default());

        assert_eq!(quantity_of(&metered, ResourceKind::Cpu).0, dec("4"));
        assert_eq!(quantity_of(&metered, ResourceKind::Ram).0, dec("8"));
    }

    #[test]
    fn a_stopped_vm_meters_zero_cpu_and_ram_but_still_bills_storage_when_told_not_to_bill() {
        let rules = MeteringRules {
            bill_powered_off: false,
            ..MeteringRules::default()
        };

        for state in [PowerState::Off, PowerState::Suspended] {
            let metered = meter(&vm(Some(state)), &rules);

            assert_eq!(quantity_of(&metered, ResourceKind::Cpu).0, Decimal::ZERO);
            assert_eq!(quantity_of(&metered, ResourceKind::Ram).0, Decimal::ZERO);
            assert_eq!(quantity_of(&metered, ResourceKind::Storage).0, dec("100"));
        }
    }

    #[test]
    fn a_vm_without_a_power_state_is_billed_as_running() {
        let rules = MeteringRules {
            bill_powered_off: false,
            ..MeteringRules::default()
        };

        let metered = meter(&vm(None), &rules);

        assert_eq!(quantity_of(&metered, ResourceKind::Cpu).0, dec("4"));
    }

    #[test]
    fn memory_in_megabytes_bills_in_gb_when_the_rules_say_gb() {
        let rules = MeteringRules {
            memory_unit: BillingUnit::Gb,
            ..MeteringRules::default()
        };
        let vm = service(
            ServiceKind::VirtualMachine,
            None,
            vec![resource(ResourceKind::Ram, None, "4096", Unit::Mib)],
        );

        let metered = meter(&vm, &rules);

        // 4096 MiB is 4.294967296 GB, which rounds up to 5 GB.
        assert_eq!(metered[0].quantity, dec("5"));
        assert_eq!(metered[0].unit, Unit::Gb);
    }

    #[test]
    fn resources_of_the_same_kind_and_tier_are_summed_before_rounding() {
        let vm = service(
            ServiceKind::VirtualMachine,
            None,
            vec![
                resource(ResourceKind::Storage, Some("gold"), "512", Unit::Mib),
                resource(ResourceKind::Storage, Some("gold"), "0.5", Unit::Gib),
                resource(ResourceKind::Storage, Some("silver"), "0.25", Unit::Gib),
                resource(ResourceKind::Storage, None, "1", Unit::Tb),
            ],
        );

        let metered = meter(&vm, &MeteringRules::default());

        // Rounded one disk at a time, gold would bill 2 GiB; summed first it bills 1 GiB.
        let tiers: Vec<_> = metered
            .iter()
            .map(|m| (m.tier.as_deref(), m.quantity))
            .collect();
        assert_eq!(
            tiers,
            vec![
                (Some("gold"), dec("1")),
                (Some("silver"), dec("1")),
                (None, dec("932")),
            ]
        );
    }

    #[test]
    fn a_vdc_cpu_allocation_in_mhz_bills_in_ghz() {
        let vdc = service(
            ServiceKind::VirtualDataCenter,
            None,
            vec![
                resource(ResourceKind::Cpu, None, "20000", Unit::Mhz),
                resource(ResourceKind::Cpu, None, "2.5", Unit::Ghz),
            ],
        );

        let metered = meter(&vdc, &MeteringRules::default());

        assert_eq!(metered.len(), 1);
        assert_eq!(
            quantity_of(&metered, ResourceKind::Cpu),
            (dec("23"), Unit::Ghz)
        );
    }

    #[test]
    fn other_resource_kinds_keep_their_first_unit_and_convert_the_rest_into_it() {
        let backup = ResourceKind::Other("backup".to_owned());
        let service = service(
            ServiceKind::Other("backup_job".to_owned()),
            None,
            vec![
                resource(backup.clone(), None, "1", Unit::Tb),
                resource(backup.clone(), None, "500", Unit::Gb),
            ],
        );

        let rules = MeteringRules {
            rounding: Rounding::Up {
                increment: dec("0.1"),
            },
            ..MeteringRules::default()
        };

        let metered = meter(&service, &rules);

        assert_eq!(quantity_of(&metered, backup), (dec("1.5"), Unit::Tb));
    }

    #[test]
    fn public_ips_bill_as_a_count() {
        let edge = service(
            ServiceKind::EdgeGateway,
            None,
            vec![resource(ResourceKind::PublicIp, None, "3", Unit::Count)],
        );

        let metered = meter(&edge, &MeteringRules::default());

        assert_eq!(
            quantity_of(&metered, ResourceKind::PublicIp),
            (dec("3"), Unit::Count)
        );
    }

    #[test]
    fn a_meter_key_prints_and_parses_with_and_without_a_tier() {
        let key = MeterKey {
            service_kind: ServiceKind::VirtualMachine,
            resource: ResourceKind::Storage,
            tier: Some("performance".to_owned()),
        };
        assert_eq!(key.to_string(), "virtual_machine/storage/performance");
        assert_eq!(
            "virtual_machine/storage/performance"
                .parse::<MeterKey>()
                .unwrap(),
            key
        );

        let untiered: MeterKey = "edge_gateway/public_ip".parse().unwrap();
        assert_eq!(untiered.tier, None);
        assert_eq!(untiered.to_string(), "edge_gateway/public_ip");
    }

    #[test]
    fn a_meter_key_tier_may_contain_slashes() {
        let key: MeterKey = "virtual_data_center/storage/Gold/SSD".parse().unwrap();

        assert_eq!(key.tier.as_deref(), Some("Gold/SSD"));
        assert_eq!(key.to_string(), "virtual_data_center/storage/Gold/SSD");
    }

    #[test]
    fn a_malformed_meter_key_says_what_to_write() {
        let shape = "virtual_machine".parse::<MeterKey>().unwrap_err();
        assert!(
            shape.to_string().contains("SERVICE_KIND/RESOURCE_KIND"),
            "{shape}"
        );

        assert!(matches!(
            "Virtual Machine/cpu".parse::<MeterKey>(),
            Err(MeterKeyError::Kind { .. })
        ));
        assert!(matches!(
            "virtual_machine/storage/".parse::<MeterKey>(),
            Err(MeterKeyError::Tier { .. })
        ));
    }

    #[test]
    fn a_meter_key_travels_through_serde_as_its_text() {
        let key = MeterKey::for_quantity(
            &ServiceKind::VirtualMachine,
            &MeteredQuantity {
                resource: ResourceKind::Ram,
                tier: None,
                quantity: Decimal::ONE,
                unit: Unit::Gib,
            },
        );

        let json = serde_json::to_string(&key).unwrap();

        assert_eq!(json, "\"virtual_machine/ram\"");
        assert_eq!(serde_json::from_str::<MeterKey>(&json).unwrap(), key);
    }
}
