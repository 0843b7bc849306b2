//! hyalto's vCenter collector: every virtual machine of a vCenter, read through the vSphere
//! SOAP API, as an inventory snapshot.
//!
//! Describe the vCenter with a [`VsphereSource`] (address, credentials, TLS options and the
//! [`OwnershipRules`] that say which customer owns each VM) and call [`collect()`]. The result
//! is a [`Collection`]: a validated-shape [`hyalto_domain::Snapshot`], every VM as read, and a
//! [`Report`] of unassigned VMs, skipped templates and failures.
//!
//! - [`source`]: where the vCenter is and how to log in.
//! - [`rules`]: folder, resource pool and custom attribute ownership rules.
//! - [`collect`](mod@collect): the collection itself.
//! - `client` and `xml` (private): the SOAP session and the streaming XML readers.
//! - `test_support` (feature `test-support`): the vCenter simulator and an administrator's
//!   SOAP client, for tests only.
//!
//! The user guide is `docs/vsphere.md`.

mod client;
pub mod collect;
mod error;
pub mod rules;
pub mod source;
#[cfg(feature = "test-support")]
pub mod test_support;
mod xml;

pub use collect::{Collection, Report, Unassigned, VirtualMachine, VmRef, collect};
pub use error::Error;
pub use rules::{OwnershipRules, Rule};
pub use source::{DEFAULT_PAGE_SIZE, TlsOptions, VsphereSource};
pub use xml::MoRef;
