//! The test harness: the simulator and the administrator's client come from the crate's
//! `test-support` feature; the helpers below read collected snapshots.

pub use hyalto_vsphere::test_support::*;

use hyalto_domain::Service;

/// The service of the snapshot with this name.
pub fn service<'a>(services: &'a [Service], name: &str) -> &'a Service {
    services
        .iter()
        .find(|service| service.name == name)
        .unwrap_or_else(|| panic!("no service named {name}"))
}

/// The quantity of one resource kind of a service, as text (`"1"`, `"2048"`, `"0.5"`).
pub fn quantity(service: &Service, kind: &str) -> String {
    service
        .resources
        .iter()
        .find(|resource| resource.kind.as_str() == kind)
        .unwrap_or_else(|| panic!("{} has no {kind}", service.name))
        .quantity
        .normalize()
        .to_string()
}
