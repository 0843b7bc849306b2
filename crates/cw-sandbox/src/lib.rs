//! A local server that behaves like the parts of ConnectWise Manage (REST API 3.0) that hyalto
//! uses.
//!
//! The sandbox is part of the product: MSPs use it for demos and dry runs, hyalto's tests and
//! benchmarks run against it, and `hyalto demo` embeds it. Start it with [`start`]; the
//! returned [`RunningSandbox`] tells where it listens and stops it when asked.
//!
//! Modules, in reading order:

#![warn(missing_docs)]

/// The ConnectWise error body (`{code, message, errors[]}`) shared by every layer.
pub mod error_body;

/// The `conditions`, `orderBy` and `fields` query languages: parser and evaluator.
pub mod query;

/// Records, validation rules, seeds and the on-disk state file.
pub mod store;

/// The HTTP surface: auth, routes, paging, faults, statistics and TLS.
pub mod http;

pub use http::{FaultConfig, RunningSandbox, SandboxConfig, Seed, start};
