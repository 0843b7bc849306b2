//! hyalto's use cases, written once for every front end: the command line (`hyalto
//! connectwise …`) and the server (`hyalto serve`) only gather input and present results.
//!
//! - [`connection`]: check the settings of a ConnectWise site field by field, then prove them
//!   against the site.
//! - [`records`]: pull the records hyalto caches (companies, agreements, …) with progress, and
//!   store them.
//! - [`browse`]: the cached companies and agreements, for choosing a mapping.
//! - [`mapping`]: map a customer to a company and master agreement, checked live.
//! - [`permissions`]: what to grant in ConnectWise when the security role refuses a call.
//! - [`write_check`]: check the rights a sync writes with, without writing.
//! - [`sync`]: run a sync under the lease, freeing one left by a killed process of this host.
//! - [`collect`]: collect saved vCenter sources and record what was read, as an import.
//! - [`import`]: record an inventory snapshot sent as text, checked as `hyalto inventory
//!   import` checks a file.
//!
//! Errors are typed and name the input field at fault, so each front end can say what to fix
//! in its own words (a command-line flag, a form field, a JSON member).

pub mod browse;
pub mod collect;
pub mod connection;
pub mod import;
pub mod mapping;
pub mod permissions;
pub mod records;
pub mod sync;
pub mod write_check;
