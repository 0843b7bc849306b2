//! Desired state: what ConnectWise should bill for a customer, computed from the inventory.
//!
//! Everything here is pure. The engine reads the customer, its services (present and gone), the
//! inventory sources and the product mappings from the store and hands them to
//! [`desired_customer`], which meters each service and attaches the catalog item of each meter.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use hyalto_domain::{
    CustomerId, MeterKey, MeteringRules, ResourceKind, ServiceId, ServiceKind, SourceId, Unit,
    meter,
};
use hyalto_store::{CompanyMapping, CustomerSummary, ProductMapping, ServiceRecord, SourceState};
use rust_decimal::Decimal;

/// The calendar date of `instant` in the billing time zone.
pub fn billing_date(instant: DateTime<Utc>, tz: Tz) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// One billed quantity of a service, with the catalog item that bills it (if mapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredMeter {
    /// What is billed.
    pub key: MeterKey,
    /// The metered, rounded quantity.
    pub quantity: Decimal,
    /// The billing unit of the quantity.
    pub unit: Unit,
    /// The product mapping, or `None` when the meter is not mapped (nothing is written).
    pub product: Option<ProductMapping>,
}

/// One service of a mapped customer as it should be billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    /// The service.
    pub id: ServiceId,
    /// Its kind.
    pub kind: ServiceKind,
    /// Its name, for agreement names and invoice descriptions.
    pub name: String,
    /// The first day it is billed to this customer, in the billing time zone: the child
    /// agreement's start date and the effective date of its first additions. It is the first
    /// day of the service's current life, or, for a service that moved here from another
    /// customer, the day of the snapshot that first showed it here, so this customer never
    /// pays for the time it belonged to the other one.
    pub start_date: NaiveDate,
    /// The day it was found gone in the billing time zone; `None` while present.
    pub gone_on: Option<NaiveDate>,
    /// Whether it runs: anything but a stopped (off or suspended) VM. A running service's CPU
    /// or RAM dropping to zero is held by the plausibility guard.
    pub running: bool,
    /// Whether it moved here from another customer during its current life (the snapshot
    /// that showed it with this customer came after the one that first reported it). Only
    /// such a service can still be billed on another customer's child agreement.
    pub moved_here: bool,
    /// What it bills, in metering order. A gone service keeps the meters it had when last
    /// seen: they bill nothing, but let the planner recognise its records in ConnectWise.
    pub meters: Vec<DesiredMeter>,
}

/// A mapped customer as it should be billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCustomer {
    /// The customer.
    pub id: CustomerId,
    /// Its name, for agreement names.
    pub name: String,
    /// Where and how it is billed.
    pub mapping: CompanyMapping,
    /// Why it must not be synced now (an incomplete or failed inventory), if so.
    pub skip: Option<String>,
    /// Its services, present and gone, by service id.
    pub services: Vec<DesiredService>,
    /// The billing time zone the dates above are in.
    pub billing_tz: Tz,
}

/// Builds the desired state of one mapped customer.
///
/// `services` are the customer's services including gone ones; `sources` the state of every
/// inventory source; `products` every product mapping. Services whose source's newest
/// snapshot was incomplete make the whole customer skipped, because a service missing from
/// such a snapshot may still exist and its billing must not be changed on partial knowledge.
pub fn desired_customer(
    customer: &CustomerSummary,
    mapping: &CompanyMapping,
    services: &[ServiceRecord],
    sources: &[SourceState],
    products: &HashMap<MeterKey, ProductMapping>,
    rules: &MeteringRules,
    tz: Tz,
) -> DesiredCustomer {
    // The customer's own source and the source of each of its services all have to be
    // complete: one of them being partial is enough to distrust what is missing.
    let mut used: HashSet<&SourceId> = services.iter().map(|record| &record.source).collect();
    used.insert(&customer.source);
    let mut reasons: Vec<String> = sources
        .iter()
        .filter(|state| used.contains(&state.source))
        .filter_map(|state| match &state.completeness {
            hyalto_domain::Completeness::Complete => None,
            hyalto_domain::Completeness::Incomplete { reasons } => Some(format!(
                "the newest snapshot of source {} is incomplete ({})",
                state.source,
                reasons.join("; ")
            )),
        })
        .collect();
    reasons.sort();

    let services = services
        .iter()
        .map(|record| desired_service(record, products, rules, tz))
        .collect();

    DesiredCustomer {
        id: customer.customer.id.clone(),
        name: customer.customer.name.clone(),
        mapping: mapping.clone(),
        skip: (!reasons.is_empty()).then(|| reasons.join("; ")),
        services,
        billing_tz: tz,
    }
}

/// Meters one service and attaches the product mapping of each meter.
fn desired_service(
    record: &ServiceRecord,
    products: &HashMap<MeterKey, ProductMapping>,
    rules: &MeteringRules,
    tz: Tz,
) -> DesiredService {
    let service = &record.service;
    let gone_on = record.gone_at.map(|gone| billing_date(gone, tz));

    let meters = meter(service, rules)
        .into_iter()
        .map(|metered| {
            let key = MeterKey::for_quantity(&service.kind, &metered);
            let product = products.get(&key).cloned();
            DesiredMeter {
                key,
                quantity: metered.quantity,
                unit: metered.unit,
                product,
            }
        })
        .collect();

    DesiredService {
        id: service.id.clone(),
        kind: service.kind.clone(),
        name: service.name.clone(),
        // `customer_since` is never before `first_seen`; the max only guards odd data.
        start_date: billing_date(record.customer_since.max(record.first_seen), tz),
        gone_on,
        running: !service.is_stopped_vm(),
        moved_here: record.customer_since > record.first_seen,
        meters,
    }
}

/// A short human label of a service kind, for agreement names.
pub fn kind_label(kind: &ServiceKind) -> String {
    match kind {
        ServiceKind::VirtualMachine => "Virtual machine".to_owned(),
        ServiceKind::VirtualDataCenter => "Virtual data centre".to_owned(),
        ServiceKind::EdgeGateway => "Edge gateway".to_owned(),
        ServiceKind::Other(name) => name.replace('_', " "),
    }
}

/// A short human label of a meter, for invoice descriptions: "vCPU", "Storage gold (GiB)".
pub fn meter_label(key: &MeterKey, unit: Unit) -> String {
    let resource = match &key.resource {
        ResourceKind::Cpu if unit == Unit::Count => "vCPU".to_owned(),
        ResourceKind::Cpu => "CPU".to_owned(),
        ResourceKind::Ram => "RAM".to_owned(),
        ResourceKind::Storage => "Storage".to_owned(),
        ResourceKind::PublicIp => "Public IP".to_owned(),
        ResourceKind::Other(name) => name.replace('_', " "),
    };
    let tier = key
        .tier
        .as_deref()
        .map(|tier| format!(" {tier}"))
        .unwrap_or_default();
    let unit = match unit {
        Unit::Count => String::new(),
        other => format!(" ({})", other.as_str()),
    };
    format!("{resource}{tier}{unit}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use hyalto_domain::{
        Completeness, Customer, PowerState, Resource, Service, ServiceKind, SourceId,
    };
    use hyalto_store::MappingOptions;

    use super::*;

    fn record(gone: bool) -> ServiceRecord {
        ServiceRecord {
            service: Service {
                id: ServiceId::new("vm-1").unwrap(),
                customer: Some(CustomerId::new("acme").unwrap()),
                kind: ServiceKind::VirtualMachine,
                name: "web".to_owned(),
                power_state: Some(PowerState::On),
                resources: vec![
                    Resource {
                        kind: ResourceKind::Cpu,
                        tier: None,
                        quantity: Decimal::new(4, 0),
                        unit: Unit::Count,
                    },
                    Resource {
                        kind: ResourceKind::Ram,
                        tier: None,
                        quantity: Decimal::new(75, 1),
                        unit: Unit::Gib,
                    },
                ],
            },
            source: SourceId::new("vc").unwrap(),
            // 23:30 UTC on 30 November is already 1 December in Auckland.
            first_seen: Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap(),
            last_seen: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            gone_at: gone.then(|| Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()),
            customer_since: Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap(),
        }
    }

    fn summary() -> CustomerSummary {
        CustomerSummary {
            customer: Customer {
                id: CustomerId::new("acme").unwrap(),
                name: "Acme".to_owned(),
            },
            source: SourceId::new("vc").unwrap(),
            first_seen: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            last_seen: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            mapping: None,
            present_services: 1,
        }
    }

    fn mapping() -> CompanyMapping {
        CompanyMapping {
            customer: CustomerId::new("acme").unwrap(),
            company_id: 1,
            agreement_id: 1,
            options: MappingOptions::default(),
        }
    }

    fn source(completeness: Completeness) -> SourceState {
        SourceState {
            source: SourceId::new("vc").unwrap(),
            last_taken_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            last_complete_at: None,
            completeness,
        }
    }

    #[test]
    fn meters_are_rounded_and_mapped_with_dates_in_the_billing_zone() {
        let cpu: MeterKey = "virtual_machine/cpu".parse().unwrap();
        let products = HashMap::from([(
            cpu.clone(),
            ProductMapping {
                key: cpu.clone(),
                catalog_item_id: 1,
                unit_price: None,
                unit_cost: None,
            },
        )]);

        let desired = desired_customer(
            &summary(),
            &mapping(),
            &[record(false)],
            &[source(Completeness::Complete)],
            &products,
            &MeteringRules::default(),
            chrono_tz::Pacific::Auckland,
        );

        let service = &desired.services[0];
        assert_eq!(desired.skip, None);
        assert_eq!(service.start_date, "2026-12-01".parse().unwrap());
        assert_eq!(service.meters.len(), 2);
        assert_eq!(service.meters[0].key, cpu);
        assert_eq!(
            service.meters[0].product.as_ref().unwrap().catalog_item_id,
            1
        );
        assert_eq!(service.meters[1].quantity, Decimal::new(8, 0));
        assert_eq!(service.meters[1].product, None);
    }

    #[test]
    fn a_service_moved_here_starts_on_the_day_the_move_was_seen_not_its_first_sight() {
        let mut moved = record(false);
        // Seen at the old customer from 30 November, shown here first on 4 December (UTC).
        moved.customer_since = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();

        let desired = desired_customer(
            &summary(),
            &mapping(),
            &[moved],
            &[source(Completeness::Complete)],
            &HashMap::new(),
            &MeteringRules::default(),
            chrono_tz::UTC,
        );

        assert_eq!(
            desired.services[0].start_date,
            "2026-12-04".parse::<NaiveDate>().unwrap()
        );
    }

    #[test]
    fn a_gone_service_keeps_its_gone_date_in_the_billing_zone() {
        let desired = desired_customer(
            &summary(),
            &mapping(),
            &[record(true)],
            &[source(Completeness::Complete)],
            &HashMap::new(),
            &MeteringRules::default(),
            chrono_tz::Pacific::Pago_Pago,
        );

        let service = &desired.services[0];
        assert_eq!(service.gone_on, Some("2026-12-02".parse().unwrap()));
        assert_eq!(service.start_date, "2026-11-30".parse().unwrap());
    }

    #[test]
    fn an_incomplete_source_skips_the_customer_with_its_reason() {
        let desired = desired_customer(
            &summary(),
            &mapping(),
            &[record(false)],
            &[source(Completeness::Incomplete {
                reasons: vec!["host esx-3 did not answer".to_owned()],
            })],
            &HashMap::new(),
            &MeteringRules::default(),
            chrono_tz::UTC,
        );

        assert!(desired.skip.unwrap().contains("host esx-3 did not answer"));
    }

    #[test]
    fn labels_read_naturally() {
        let storage: MeterKey = "virtual_machine/storage/gold".parse().unwrap();
        let cpu: MeterKey = "virtual_machine/cpu".parse().unwrap();

        assert_eq!(meter_label(&storage, Unit::Gib), "Storage gold (GiB)");
        assert_eq!(meter_label(&cpu, Unit::Count), "vCPU");
        assert_eq!(kind_label(&ServiceKind::EdgeGateway), "Edge gateway");
    }
}
